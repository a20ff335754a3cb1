/* SPDX-License-Identifier: MIT */
/*
 * imap-session.c: the connection state machine; the contract is in
 * imap-session.h.
 *
 * Commands are kept in one FIFO from submission to tagged reply.  A command's
 * wire bytes go to the output buffer up to its next sync point (a
 * synchronising literal); the rest waits for the server's "+".  Nothing after
 * a command that waits for "+" (literal, AUTHENTICATE, IDLE) is written before
 * it is answered: RFC 3501 §5.5 lets a client pipeline, but a continuation
 * must be unambiguous (isync's one-predicate rule, cmd_sendable()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap-caps.h"
#include "imap-session.h"

#define STORE_DEFAULT_MAX ((size_t) 1 << 20)
/* A tag: up to 8 letters of prefix and a 32-bit number. */
#define PENDING_TAG_MAX 24

/* ---- the command table (docs/ENGINE.md) --------------------------------------------------- */

#define S_NONAUTH (1u << IMAP_STATE_NONAUTH)
#define S_AUTH (1u << IMAP_STATE_AUTH)
#define S_SELECTED (1u << IMAP_STATE_SELECTED)
#define S_LOGOUT (1u << IMAP_STATE_LOGOUT)
#define S_ANY (S_NONAUTH | S_AUTH | S_SELECTED | S_LOGOUT)
#define S_AS (S_AUTH | S_SELECTED)

typedef enum CmdEffect {
        EFFECT_NONE,
        EFFECT_LOGIN,           /* OK -> AUTH (LOGIN, AUTHENTICATE) */
        EFFECT_SELECT,          /* clear the store at submit; OK -> SELECTED, else AUTH */
        EFFECT_UNSELECT,        /* -> AUTH whatever the reply (CLOSE, UNSELECT) */
        EFFECT_LOGOUT,          /* -> LOGOUT at submit */
        EFFECT_STARTTLS,        /* OK -> switch to TLS */
        EFFECT_ENABLE,          /* OK with UTF8=ACCEPT asked -> UTF-8 mode */
        EFFECT_IDLE,
        EFFECT_UID,             /* check the sub-command */
} CmdEffect;

typedef struct CmdEntry {
        const char *name;
        unsigned states;
        CmdEffect effect;
        const char *capability; /* must be announced, else -EOPNOTSUPP */
} CmdEntry;

static const CmdEntry cmd_table[] = {
        { "APPEND",        S_AS,                  EFFECT_NONE,     NULL },
        { "AUTHENTICATE",  S_NONAUTH,             EFFECT_LOGIN,    NULL },
        { "CAPABILITY",    S_ANY,                 EFFECT_NONE,     NULL },
        { "CHECK",         S_SELECTED,            EFFECT_NONE,     NULL },
        { "CLOSE",         S_SELECTED,            EFFECT_UNSELECT, NULL },
        { "COPY",          S_SELECTED,            EFFECT_NONE,     NULL },
        { "CREATE",        S_AS,                  EFFECT_NONE,     NULL },
        { "DELETE",        S_AS,                  EFFECT_NONE,     NULL },
        { "DELETEACL",     S_AS,                  EFFECT_NONE,     NULL },
        { "ENABLE",        S_AUTH,                EFFECT_ENABLE,   "ENABLE" },
        { "EXAMINE",       S_AS,                  EFFECT_SELECT,   NULL },
        { "EXPUNGE",       S_SELECTED,            EFFECT_NONE,     NULL },
        { "FETCH",         S_SELECTED,            EFFECT_NONE,     NULL },
        { "GETACL",        S_AS,                  EFFECT_NONE,     NULL },
        { "GETANNOTATION", S_AS,                  EFFECT_NONE,     NULL },
        { "GETQUOTA",      S_AS,                  EFFECT_NONE,     NULL },
        { "GETQUOTAROOT",  S_AS,                  EFFECT_NONE,     NULL },
        { "ID",            S_NONAUTH | S_AS,      EFFECT_NONE,     NULL },   /* RFC 2971 §3.1: any state */
        { "IDLE",          S_AS,                  EFFECT_IDLE,     "IDLE" },
        { "MYRIGHTS",      S_AS,                  EFFECT_NONE,     NULL },
        { "LIST",          S_AS,                  EFFECT_NONE,     NULL },
        { "LOGIN",         S_NONAUTH,             EFFECT_LOGIN,    NULL },
        { "LOGOUT",        S_ANY,                 EFFECT_LOGOUT,   NULL },
        { "LSUB",          S_AS,                  EFFECT_NONE,     NULL },
        { "MOVE",          S_SELECTED,            EFFECT_NONE,     NULL },
        { "NAMESPACE",     S_AS,                  EFFECT_NONE,     NULL },
        { "NOOP",          S_ANY,                 EFFECT_NONE,     NULL },
        { "NOTIFY",        S_AS,                  EFFECT_NONE,     "NOTIFY" },    /* RFC 5465 §3 */
        { "PARTIAL",       S_SELECTED,            EFFECT_NONE,     NULL },
        { "PROXYAUTH",     S_AUTH,                EFFECT_NONE,     NULL },
        { "RENAME",        S_AS,                  EFFECT_NONE,     NULL },
        { "SEARCH",        S_SELECTED,            EFFECT_NONE,     NULL },
        { "SELECT",        S_AS,                  EFFECT_SELECT,   NULL },
        { "SETACL",        S_AS,                  EFFECT_NONE,     NULL },
        { "SETANNOTATION", S_AS,                  EFFECT_NONE,     NULL },
        { "SETQUOTA",      S_AS,                  EFFECT_NONE,     NULL },
        { "SORT",          S_SELECTED,            EFFECT_NONE,     NULL },
        { "STARTTLS",      S_NONAUTH,             EFFECT_STARTTLS, "STARTTLS" },
        { "STATUS",        S_AS,                  EFFECT_NONE,     NULL },
        { "STORE",         S_SELECTED,            EFFECT_NONE,     NULL },
        { "SUBSCRIBE",     S_AS,                  EFFECT_NONE,     NULL },
        { "THREAD",        S_SELECTED,            EFFECT_NONE,     NULL },
        { "UID",           S_SELECTED,            EFFECT_UID,      NULL },
        { "UNSUBSCRIBE",   S_AS,                  EFFECT_NONE,     NULL },
        { "UNSELECT",      S_SELECTED,            EFFECT_UNSELECT, NULL },
};

/* imaplib's uid(): the sub-commands it knows. */
static const char *const uid_commands[] = {
        "COPY", "FETCH", "SEARCH", "STORE", "MOVE", "EXPUNGE", "SORT", "THREAD",
};

static const char *const state_table[_IMAP_STATE_MAX] = {
        [IMAP_STATE_LOGOUT] = "LOGOUT",
        [IMAP_STATE_NONAUTH] = "NONAUTH",
        [IMAP_STATE_AUTH] = "AUTH",
        [IMAP_STATE_SELECTED] = "SELECTED",
        [IMAP_STATE_IDLING] = "IDLING",
};

const char *imap_state_to_string(ImapState s) {
        return (unsigned) s < ELEMENTSOF(state_table) ? state_table[s] : NULL;
}

static const CmdEntry *cmd_lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(cmd_table); i++)
                if (strcmp(cmd_table[i].name, name) == 0)
                        return &cmd_table[i];
        return NULL;
}

/* ---- the session --------------------------------------------------------------------------- */

/* A submitted command until its tagged reply.  While a mailbox idles, its IDLE is one of
 * these, so what a Pending keeps after it was written is only what the reply needs: the name
 * is the table's (the ImapCmd, with its arguments, is freed once serialized, except for an
 * extension command, whose name it holds) and the wire bytes are freed once all of them went
 * to the output. */
typedef struct Pending Pending;
struct Pending {
        uint32_t id;                    /* the tag is tag_prefix and id (pending_tag()) */
        ImapState saved_state;          /* IDLE: the state to return to */
        ImapCmd *cmd;                   /* extension commands (xatom) only, for the name */
        const CmdEntry *entry;          /* NULL for commands outside the table (xatom) */
        Buf wire;                       /* the serialized command, until all of it is sent */
        size_t sent;                    /* bytes of wire moved to the output; > 0: queued */
        /* Positions in the output stream (out_end()): the end of the command's
         * first line, after which the server may answer it, and the end of what it last put
         * out, after which the server may ask for more with "+".  Until the caller has taken
         * the output up to there, the server cannot have seen it (out_taken). */
        uint64_t line_end, cont_end;
        size_t *syncs;                  /* offsets in wire where "+" must be awaited */
        size_t n_syncs, next_sync;
        ImapSasl *sasl;                 /* AUTHENTICATE in progress */
        Pending *next;
        bool wait_cont;                 /* stopped at a sync point */
        bool utf8_asked;                /* ENABLE UTF8=ACCEPT */
        bool idle_active;               /* IDLE: "+" received */
        bool idle_done_sent;
};

typedef struct DatumNode DatumNode;
struct DatumNode {
        ImapDatum *d;
        DatumNode *next;
};

typedef struct DatumList {
        DatumNode *head, *tail;
        size_t bytes;
} DatumList;

/* imaplib's response store and IDLE queue, only with keep_untagged: the daemon takes events
 * instead, and its sessions do without. */
typedef struct Store {
        size_t max;                     /* byte cap of data and idle together */
        DatumList data, idle;
        uint64_t dropped;
} Store;

/* One response makes at most two events (DONE and STARTTLS); callers pull them after every
 * feed, and a few responses' worth is kept for one that does not.  Past this, events are
 * dropped. */
#define EVENT_QUEUE_MAX 4

/* An event as queued; imap_session_next_event() makes the ImapEvent.  The command name is the
 * table's, or for an extension command the ImapCmd that holds it, which the event owns. */
typedef struct Event {
        const ImapResponse *resp;
        union {
                const char *cmd;        /* !owns_cmd: a static name, or NULL */
                ImapCmd *owned_cmd;     /* owns_cmd */
        };
        uint32_t id;
        uint8_t type;                   /* ImapEventType */
        bool owns_cmd;
} Event;

struct ImapSession {
        ImapParser *parser;
        ImapState state;
        uint32_t next_id;
        char tag_prefix[9];
        bool greeted, dead, tls_pending, utf8;
        bool capturing;                 /* IDLE sent: untagged responses go to store->idle */
        bool error_oom;                 /* the error text could not be allocated: "out of memory" */
        uint8_t ev_head, ev_len;

        Buf out;                        /* freed (wiped) whenever it is drained */
        uint64_t out_taken;             /* bytes of output the caller took for writing, ever */
        Pending *cmds, *cmds_tail;      /* submitted, not yet answered, in order */
        size_t n_cmds;

        ImapCaps caps;
        const char **caps_view;         /* imap_session_capabilities()'s array, until the next feed */

        Store *store;                   /* NULL without keep_untagged */

        Event events[EVENT_QUEUE_MAX];

        usec_t cmd_timeout, deadline_greeting, last_progress;

        /* Allocated when something goes wrong, which a healthy connection never needs. */
        char *error;
        const char *sasl_error;         /* imap_sasl_error()'s, static storage */
};

/* ---- errors ------------------------------------------------------------------------------------ */

/* The text is allocated: a healthy connection has none.  Its length is bounded by the
 * formats, command names (imap-cmd.h) and quote_for_error(). */
_printf_(2, 0) static void set_error(ImapSession *s, const char *fmt, va_list ap) {
        s->error = mfree(s->error);
        s->error_oom = vasprintf(&s->error, fmt, ap) < 0;
        if (s->error_oom)
                s->error = NULL;
}

_printf_(3, 4) static int fail(ImapSession *s, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        set_error(s, fmt, ap);
        va_end(ap);
        s->dead = true;
        return r;
}

_printf_(3, 4) static int refuse(ImapSession *s, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        set_error(s, fmt, ap);
        va_end(ap);
        return r;
}

/* The first line of server text for an error message: printable ASCII only
 * (docs/SECURITY.md INV-11: logs escape untrusted text), cut to fit. */
static void quote_for_error(const char *p, size_t n, char *buf, size_t size) {
        size_t j = 0;

        for (size_t i = 0; i < n && j + 1 < size; i++) {
                unsigned char c = (unsigned char) p[i];

                if (c == '\r' || c == '\n')
                        break;
                buf[j++] = c >= 0x20 && c < 0x7f ? (char) c : '?';
        }
        buf[j] = 0;
}

/* ---- state ------------------------------------------------------------------------------------ */

/* The one writer of s->state. */
static void session_set_state(ImapSession *s, ImapState st) {
        s->state = st;
}

/* ---- stored data ------------------------------------------------------------------------------ */

static void list_push(DatumList *l, DatumNode *n) {
        n->next = NULL;
        if (l->tail)
                l->tail->next = n;
        else
                l->head = n;
        l->tail = n;
        l->bytes += n->d->bytes;
}

static DatumNode *list_shift(DatumList *l) {
        DatumNode *n = l->head;

        if (!n)
                return NULL;
        l->head = n->next;
        if (!l->head)
                l->tail = NULL;
        l->bytes -= n->d->bytes;
        return n;
}

static void list_clear(DatumList *l) {
        DatumNode *n;

        while ((n = list_shift(l))) {
                free(n->d);
                free(n);
        }
}

/* Build a datum from pieces: texts[i] followed by literal lits[i] (NULL for
 * none); the first text gets 'prefix' in front. */
typedef struct Piece {
        const char *text;
        size_t text_len;
        const char *lit;
        size_t lit_len;
} Piece;

static int datum_build(const char *type, size_t type_len, const char *prefix, const Piece *pieces, size_t n,
                       ImapDatum **ret) {
        size_t plen = prefix ? strlen(prefix) : 0, bytes, off;
        ImapDatum *d;
        char *p;

        bytes = sizeof(ImapDatum) + n * sizeof(ImapFrag) + type_len + 1 + plen;
        for (size_t i = 0; i < n; i++)
                bytes += pieces[i].text_len + 1 + pieces[i].lit_len;
        d = malloc(bytes);
        if (!d)
                return -ENOMEM;
        d->bytes = bytes;
        d->n_frags = n;
        p = (char *) &d->frags[n];
        memcpy(p, type, type_len);
        p[type_len] = 0;
        d->type = p;
        off = type_len + 1;
        for (size_t i = 0; i < n; i++) {
                char *t = p + off;
                size_t tl = 0;

                if (i == 0 && plen > 0) {
                        memcpy(t, prefix, plen);
                        tl = plen;
                }
                if (pieces[i].text_len > 0)
                        memcpy(t + tl, pieces[i].text, pieces[i].text_len);
                tl += pieces[i].text_len;
                t[tl] = 0;
                d->frags[i].text = t;
                d->frags[i].text_len = tl;
                off += tl + 1;
                if (pieces[i].lit) {
                        char *l = p + off;
                        if (pieces[i].lit_len > 0)
                                memcpy(l, pieces[i].lit, pieces[i].lit_len);
                        d->frags[i].literal = l;
                        d->frags[i].literal_len = pieces[i].lit_len;
                        off += pieces[i].lit_len;
                } else {
                        d->frags[i].literal = NULL;
                        d->frags[i].literal_len = 0;
                }
        }
        *ret = d;
        return 0;
}

/* imaplib's data of an untagged response: the text after the name (with
 * "n " in front for numbered ones), split at each literal. */
static int datum_from_response(const ImapResponse *r, ImapDatum **ret) {
        _cleanup_free_ Piece *pieces = NULL;
        const char *raw = r->raw.ptr;
        size_t n = 0, cur = r->data_off;
        char prefix[16] = "";
        const ImapArg *a = r->args;
        size_t n_all = 0;

        /* All values, in document order, follow r->args (imap-arg.h layout). */
        for (size_t i = 0; i < r->n_args; i++)
                n_all += 1 + (a[n_all].type == IMAP_ARG_LIST ? a[n_all].size : 0);

        pieces = calloc(r->n_literals + 1, sizeof(Piece));
        if (!pieces)
                return -ENOMEM;
        for (size_t i = 0; i < n_all && n < r->n_literals; i++) {
                size_t lo;

                if (a[i].type != IMAP_ARG_LITERAL && a[i].type != IMAP_ARG_LITERAL8)
                        continue;
                lo = (size_t) (a[i].str - raw);
                /* Header: up to the CRLF that ends the marker line. */
                pieces[n] = (Piece) { raw + cur, lo - 2 - cur, a[i].str, a[i].len };
                cur = lo + a[i].len;
                n++;
        }
        pieces[n] = (Piece) { raw + cur, r->raw.len - 2 - cur, NULL, 0 };
        n++;
        if (r->has_number)
                (void) snprintf(prefix, sizeof(prefix), r->data_off < r->raw.len - 2 || n > 1 ? "%u " : "%u",
                                r->number);
        return datum_build(r->name.ptr, r->name.len, prefix, pieces, n, ret);
}

static int store_datum(ImapSession *s, DatumList *l, ImapDatum *d) {
        DatumNode *n = malloc(sizeof(*n));

        if (!n) {
                free(d);
                return -ENOMEM;
        }
        n->d = d;
        list_push(l, n);
        /* The cap bounds what a server can make us hold (docs/SECURITY.md H08). */
        while (s->store->data.bytes + s->store->idle.bytes > s->store->max) {
                DatumNode *old = list_shift(s->store->data.head ? &s->store->data : &s->store->idle);

                if (!old)
                        break;
                free(old->d);
                free(old);
                s->store->dropped++;
        }
        return 0;
}

/* Store an untagged response, imaplib's _append_untagged(): the response
 * under its name, and a response code under the code's name. */
static int store_response(ImapSession *s, const ImapResponse *r) {
        DatumList *l;
        ImapDatum *d;
        int k;

        if (!s->store)
                return 0;
        l = s->capturing ? &s->store->idle : &s->store->data;
        if (r->kind == IMAP_RESPONSE_UNTAGGED) {
                k = datum_from_response(r, &d);
                if (k < 0)
                        return k;
                k = store_datum(s, l, d);
                if (k < 0)
                        return k;
        }
        if (r->code.type != IMAP_CODE_NONE && r->status != IMAP_STATUS_NONE &&
            IN_SET(r->status, IMAP_STATUS_OK, IMAP_STATUS_NO, IMAP_STATUS_BAD)) {
                Piece p = { r->code.raw.ptr, r->code.raw.len, NULL, 0 };

                k = datum_build(r->code.name.ptr, r->code.name.len, NULL, &p, 1, &d);
                if (k < 0)
                        return k;
                k = store_datum(s, l, d);
                if (k < 0)
                        return k;
        }
        return 0;
}

static void store_remove_type(Store *st, const char *type) {
        DatumNode **pp = &st->data.head, *prev = NULL;

        while (*pp) {
                DatumNode *n = *pp;
                if (strcasecmp(n->d->type, type) == 0) {
                        *pp = n->next;
                        if (st->data.tail == n)
                                st->data.tail = prev;
                        st->data.bytes -= n->d->bytes;
                        free(n->d);
                        free(n);
                } else {
                        prev = n;
                        pp = &n->next;
                }
        }
}

/* End of capture: leftovers go to the store in arrival order (docs/ENGINE.md). */
static int capture_end(ImapSession *s) {
        DatumNode *n;

        s->capturing = false;
        while (s->store && (n = list_shift(&s->store->idle))) {
                n->next = NULL;
                list_push(&s->store->data, n);
        }
        return 0;
}

/* ---- capabilities ------------------------------------------------------------------------------ */

static void caps_clear(ImapSession *s) {
        imap_caps_clear(&s->caps);
        s->caps_view = mfree(s->caps_view);
}

static int caps_set(ImapSession *s, const ImapArg *a, size_t n) {
        s->caps_view = mfree(s->caps_view);
        return imap_caps_set(&s->caps, a, n);
}

bool imap_session_has_capability(const ImapSession *s, const char *cap) {
        return s && cap && imap_caps_has(&s->caps, cap);
}

size_t imap_session_n_capabilities(const ImapSession *s) {
        return s ? s->caps.n : 0;
}

const char *imap_session_capability(const ImapSession *s, size_t i) {
        return s ? imap_caps_get(&s->caps, i) : NULL;
}

size_t imap_session_capabilities(ImapSession *s, const char *const **ret) {
        size_t n = s->caps.n;

        s->caps_view = mfree(s->caps_view);
        if (n > 0)
                s->caps_view = calloc(n, sizeof(const char *));
        for (size_t i = 0; s->caps_view && i < n; i++)
                s->caps_view[i] = imap_caps_get(&s->caps, i);
        *ret = s->caps_view;
        return n;
}

/* ---- output ------------------------------------------------------------------------------------ */

static int out_put(ImapSession *s, const void *p, size_t n) {
        int r = buf_append(&s->out, p, n, 0);
        return r < 0 ? fail(s, r, "out of memory") : 0;
}

/* The position in the output stream after everything put out so far. */
static uint64_t out_end(const ImapSession *s) {
        return s->out_taken + s->out.len;
}

static bool cmd_blocks_followers(const Pending *p) {
        /* Until answered, nothing may follow a command that waits or may wait
         * for "+": the continuation would be ambiguous. */
        return p->sent < p->wire.len || p->sasl || (p->entry && p->entry->effect == EFFECT_IDLE) ||
               (p->entry && p->entry->effect == EFFECT_STARTTLS);
}

/* Move as much command text to the output as the protocol allows. */
static int flush_commands(ImapSession *s) {
        /* Between the STARTTLS OK and the handshake not one byte goes out. */
        if (s->tls_pending)
                return 0;
        for (Pending *p = s->cmds; p; p = p->next) {
                if (p->sent < p->wire.len && !p->wait_cont) {
                        size_t upto = p->next_sync < p->n_syncs ? p->syncs[p->next_sync] : p->wire.len;
                        uint64_t start = out_end(s);
                        int r = out_put(s, p->wire.data + p->sent, upto - p->sent);
                        if (r < 0)
                                return r;
                        if (p->sent == 0) {
                                /* The tag line ends at the first CRLF: only literals hold
                                 * CR or LF (imap-cmd.h), and a literal's "{n}" ends a line. */
                                const char *crlf = memmem(p->wire.data, upto, "\r\n", 2);

                                p->line_end = crlf ? start + (uint64_t) (crlf - p->wire.data) + 2 : out_end(s);
                        }
                        p->cont_end = out_end(s);
                        p->sent = upto;
                        if (p->next_sync < p->n_syncs) {
                                p->next_sync++;
                                p->wait_cont = true;
                        } else {
                                /* All of it is in the output: the command waits for its reply
                                 * holding nothing but its state ('sent' stays > 0). */
                                buf_done_secure(&p->wire);
                                p->syncs = mfree(p->syncs);
                                p->n_syncs = p->next_sync = 0;
                        }
                }
                if (cmd_blocks_followers(p))
                        break;
        }
        return 0;
}

void imap_session_output(const ImapSession *s, const void **ret_buf, size_t *ret_len) {
        *ret_buf = s->out.data;
        *ret_len = s->out.len;
}

void imap_session_consume_output(ImapSession *s, size_t n) {
        s->out_taken += MIN(n, s->out.len);
        if (n >= s->out.len) {
                /* Drained: nothing is kept for an idle connection, and no copy of a LOGIN
                 * line lingers in freed memory. */
                buf_done_secure(&s->out);
                return;
        }
        memmove(s->out.data, s->out.data + n, s->out.len - n);
        s->out.len -= n;
}

/* ---- events ------------------------------------------------------------------------------------ */

/* The command's name: the table's, or the extension command's own. */
static const char *pending_name(const Pending *p) {
        return p->entry ? p->entry->name : imap_cmd_name(p->cmd);
}

/* The command's tag, "<prefix><id>". */
static void pending_tag(const ImapSession *s, const Pending *p, char buf[static PENDING_TAG_MAX]) {
        (void) snprintf(buf, PENDING_TAG_MAX, "%s%" PRIu32, s->tag_prefix, p->id);
}

static void event_done(Event *e) {
        if (e->owns_cmd)
                imap_cmd_free(e->owned_cmd);
        *e = (Event) {};
}

/* Queue an event for response r; for DONE and STARTTLS, of command p, whose name an extension
 * command's event takes with it when 'take' (p is freed next). */
static void push_event(ImapSession *s, ImapEventType type, const ImapResponse *r, Pending *p, bool take) {
        Event *e;

        if (s->ev_len == EVENT_QUEUE_MAX)
                return;
        e = &s->events[(s->ev_head + s->ev_len++) % EVENT_QUEUE_MAX];
        *e = (Event) {
                .type = (uint8_t) type,
                .resp = r,
                .id = p ? p->id : 0,
        };
        if (!p)
                return;
        if (p->entry)
                e->cmd = p->entry->name;
        else if (take) {
                e->owned_cmd = TAKE_PTR(p->cmd);
                e->owns_cmd = true;
        }
}

int imap_session_next_event(ImapSession *s, ImapEvent *ret) {
        const char *name;
        Event *e;

        if (s->ev_len == 0)
                return 0;
        e = &s->events[s->ev_head];
        *ret = (ImapEvent) {
                .type = (ImapEventType) e->type,
                .resp = e->resp,
                .id = e->id,
        };
        /* By value: the command is freed as soon as it is answered.  Names fit (imap-cmd.h);
         * no snprintf(), which would cost more than parsing the response did. */
        name = e->owns_cmd ? imap_cmd_name(e->owned_cmd) : e->cmd;
        if (name) {
                size_t n = strnlen(name, sizeof(ret->cmd) - 1);

                memcpy(ret->cmd, name, n);
                ret->cmd[n] = 0;
        }
        event_done(e);
        s->ev_head = (uint8_t) ((s->ev_head + 1) % EVENT_QUEUE_MAX);
        s->ev_len--;
        return 1;
}

/* ---- commands ---------------------------------------------------------------------------------- */

static Pending *pending_free(Pending *p) {
        if (!p)
                return NULL;
        imap_cmd_free(p->cmd);
        buf_done_secure(&p->wire); /* may hold a password */
        free(p->syncs);
        imap_sasl_free(p->sasl);
        free(p);
        return NULL;
}

static void pending_unlink(ImapSession *s, Pending *p) {
        Pending **pp = &s->cmds, *prev = NULL;

        for (; *pp; prev = *pp, pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        if (s->cmds_tail == p)
                                s->cmds_tail = prev;
                        s->n_cmds--;
                        return;
                }
}

static void states_string(unsigned states, char *buf, size_t size) {
        static const ImapState order[] = { IMAP_STATE_NONAUTH, IMAP_STATE_AUTH, IMAP_STATE_SELECTED,
                                           IMAP_STATE_LOGOUT };
        size_t j = 0;

        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (states & (1u << order[i]))
                        j += (size_t) snprintf(buf + j, size - j, "%s%s", j ? ", " : "",
                                               imap_state_to_string(order[i]));
}

static Pending *idle_pending(ImapSession *s) {
        for (Pending *p = s->cmds; p; p = p->next)
                if (p->entry && p->entry->effect == EFFECT_IDLE)
                        return p;
        return NULL;
}

/* imaplib's state check (docs/ENGINE.md), before anything is sent. */
static int check_allowed(ImapSession *s, const char *name, const CmdEntry *e) {
        char states[64];

        if (!e) /* xatom: an extension command, allowed in any non-IDLE state (imaplib adds it) */
                return s->state == IMAP_STATE_IDLING ?
                               refuse(s, -EPERM, "command %s illegal in state IDLING", name) : 0;
        if (e->states & (1u << s->state))
                return 0;
        states_string(e->states, states, sizeof(states));
        return refuse(s, -EPERM, "command %s illegal in state %s, only allowed in states %s", name,
                      imap_state_to_string(s->state), states);
}

static int queue_command(ImapSession *s, ImapCmd *cmd, ImapSasl *sasl, usec_t now, uint32_t *ret_id) {
        _cleanup_(imap_cmd_freep) ImapCmd *c = cmd;
        _cleanup_(imap_sasl_freep) ImapSasl *sl = sasl;
        const char *name = imap_cmd_name(c);
        const CmdEntry *e = cmd_lookup(name);
        char tag[PENDING_TAG_MAX];
        ImapCmdWireOpts wo;
        Pending *p;
        int r;

        if (s->dead)
                return refuse(s, -ESHUTDOWN, "connection is closed");
        if (s->tls_pending)
                return refuse(s, -EPERM, "STARTTLS in progress");
        /* From IDLE until its reply nothing else may be sent (RFC 2177), and
         * imaplib refuses it as "illegal in state IDLING". */
        if (idle_pending(s)) {
                char states[64] = "";

                if (e)
                        states_string(e->states, states, sizeof(states));
                return refuse(s, e && e->effect == EFFECT_IDLE ? -EBUSY : -EPERM,
                              "command %s illegal in state IDLING%s%s", name,
                              e ? ", only allowed in states " : "", states);
        }
        if (e && e->capability && !imap_session_has_capability(s, e->capability)) {
                /* imaplib checks ENABLE's capability before its state (S-18). */
                if (e->effect == EFFECT_ENABLE)
                        return refuse(s, -EOPNOTSUPP, "Server does not support ENABLE");
        }
        if (e && e->effect == EFFECT_UID) {
                /* imaplib uid(): an unknown sub-command first, then the
                 * sub-command's own row of the table. */
                const char *sub = imap_cmd_arg(c, 0, NULL);
                const CmdEntry *se = NULL;
                char up[32] = "";

                for (size_t i = 0; sub && sub[i] && i + 1 < sizeof(up); i++)
                        up[i] = (char) (sub[i] >= 'a' && sub[i] <= 'z' ? sub[i] - 'a' + 'A' : sub[i]);
                for (size_t i = 0; i < ELEMENTSOF(uid_commands); i++)
                        if (strcmp(up, uid_commands[i]) == 0)
                                se = cmd_lookup(up);
                if (!se)
                        return refuse(s, -EINVAL, "Unknown IMAP4 UID command: %s", up);
                r = check_allowed(s, up, se ? se : e);
        } else
                r = check_allowed(s, name, e);
        if (r < 0)
                return r;
        if (e && e->capability && !imap_session_has_capability(s, e->capability)) {
                if (e->effect == EFFECT_IDLE)
                        return refuse(s, -EOPNOTSUPP, "Server does not support IMAP4 IDLE");
                return refuse(s, -EOPNOTSUPP, "%s not supported by server", e->capability);
        }
        if (s->n_cmds > 0 && s->cmds_tail->entry && s->cmds_tail->entry->effect == EFFECT_LOGOUT)
                return refuse(s, -ESHUTDOWN, "LOGOUT already sent");

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->id = s->next_id++;
        pending_tag(s, p, tag);
        p->entry = e;
        wo = (ImapCmdWireOpts) {
                .utf8 = s->utf8,
                .literal_plus = imap_session_has_capability(s, "LITERAL+"),
                .literal_minus = imap_session_has_capability(s, "LITERAL-"),
        };
        r = imap_cmd_serialize(c, tag, &wo, &p->wire, &p->syncs, &p->n_syncs);
        if (r < 0) {
                pending_free(p);
                s->next_id--;
                return refuse(s, r, r == -EINVAL ? "non-ASCII text outside UTF-8 mode" : "out of memory");
        }
        p->sasl = TAKE_PTR(sl);
        if (e && e->effect == EFFECT_ENABLE)
                for (size_t i = 0; i < imap_cmd_n_args(c); i++) {
                        const char *a = imap_cmd_arg(c, i, NULL);
                        if (strcasestr(a, "UTF8=ACCEPT"))
                                p->utf8_asked = true;
                }
        /* The wire bytes are all that is sent; a command of the table is named by the table,
         * so its arguments (a LOGIN password among them) go now. */
        if (!e)
                p->cmd = TAKE_PTR(c);

        /* Effects at submit time (docs/ENGINE.md). */
        if (s->store) {
                store_remove_type(s->store, "OK");
                store_remove_type(s->store, "NO");
                store_remove_type(s->store, "BAD");
                if (e && e->effect == EFFECT_SELECT)
                        list_clear(&s->store->data);
        }
        if (e && e->effect == EFFECT_LOGOUT)
                session_set_state(s, IMAP_STATE_LOGOUT);
        if (e && e->effect == EFFECT_IDLE) {
                p->saved_state = s->state;
                /* Capture starts before IDLE goes out: responses that come
                 * before the "+" belong to the idler (docs/ENGINE.md, IDLE). */
                s->capturing = s->store != NULL;
        }

        if (s->cmds_tail)
                s->cmds_tail->next = p;
        else
                s->cmds = p;
        s->cmds_tail = p;
        s->n_cmds++;
        if (s->n_cmds == 1)
                s->last_progress = now;
        if (ret_id)
                *ret_id = p->id;
        return flush_commands(s);
}

int imap_session_submit(ImapSession *s, ImapCmd *cmd, usec_t now, uint32_t *ret_id) {
        assert_return(s && cmd, -EINVAL);
        if (strcmp(imap_cmd_name(cmd), "AUTHENTICATE") == 0) {
                imap_cmd_free(cmd);
                return refuse(s, -EINVAL, "use imap_session_authenticate()");
        }
        return queue_command(s, cmd, NULL, now, ret_id);
}

int imap_session_authenticate(ImapSession *s, ImapSasl *sasl, usec_t now, uint32_t *ret_id) {
        _cleanup_(imap_sasl_freep) ImapSasl *sl = sasl;
        _cleanup_(imap_cmd_freep) ImapCmd *c = NULL;
        int r;

        assert_return(s && sasl, -EINVAL);
        s->sasl_error = NULL;
        r = imap_cmd_new("AUTHENTICATE", &c);
        if (r < 0)
                return r;
        r = imap_cmd_add_str(c, IMAP_CMD_ARG_ATOM, imap_sasl_mechanism(sl));
        if (r < 0)
                return refuse(s, -EINVAL, "invalid SASL mechanism name");
        /* RFC 4959: with SASL-IR, a client-first mechanism's first response
         * rides on the command line ("=" for an empty one). */
        if (imap_sasl_has_initial_response(sl) && imap_session_has_capability(s, "SASL-IR")) {
                Buf ir = BUF_INIT;

                r = imap_sasl_initial_response(sl, &ir);
                if (r >= 0)
                        r = imap_cmd_add(c, IMAP_CMD_ARG_ATOM, ir.len ? ir.data : "=", ir.len ? ir.len : 1);
                buf_done_secure(&ir);
                if (r < 0)
                        return refuse(s, r, "SASL initial response failed");
        }
        return queue_command(s, TAKE_PTR(c), TAKE_PTR(sl), now, ret_id);
}

int imap_session_idle_done(ImapSession *s, usec_t now) {
        Pending *p;
        int r;

        assert_return(s, -EINVAL);
        /* A dead session writes nothing more. */
        if (s->dead)
                return -ESHUTDOWN;
        p = idle_pending(s);
        if (!p) {
                /* The server ended IDLE on its own (Q3): the reply is already delivered. */
                if (!s->capturing)
                        return -ENOENT;
                capture_end(s);
                return 1;
        }
        if (p->idle_done_sent)
                return 0;
        /* RFC 2177: DONE only after the "+"; before it, it would be taken as a command. */
        if (!p->idle_active)
                return refuse(s, -EAGAIN, "IDLE not yet accepted");
        r = out_put(s, "DONE\r\n", 6);
        if (r < 0)
                return r;
        p->idle_done_sent = true;
        session_set_state(s, p->saved_state);
        capture_end(s);
        s->last_progress = now;
        return 0;
}

/* ---- responses --------------------------------------------------------------------------------- */

static Pending *find_tag(ImapSession *s, const ImapResponse *r) {
        size_t pl = strlen(s->tag_prefix);
        uint32_t id;

        if (r->tag.len <= pl || memcmp(r->tag.ptr, s->tag_prefix, pl) != 0)
                return NULL;
        if (imap_parse_u32(r->tag.ptr + pl, r->tag.len - pl, &id) < 0)
                return NULL;
        /* "A01" is not "A1". */
        for (Pending *p = s->cmds; p; p = p->next)
                if (p->id == id) {
                        char tag[PENDING_TAG_MAX];

                        pending_tag(s, p, tag);
                        return strlen(tag) == r->tag.len ? p : NULL;
                }
        return NULL;
}

/* Whether the server can have read the command's first line: the caller took it from the
 * output (imap_session_consume_output()).  Bytes still in the output buffer, or still queued
 * behind a command that holds back its followers, have not left this process. */
static bool pending_line_taken(const ImapSession *s, const Pending *p) {
        return p->sent > 0 && s->out_taken >= p->line_end;
}

static int handle_tagged(ImapSession *s, const ImapResponse *r) {
        char what[96];
        Pending *p = find_tag(s, r);
        CmdEffect eff;
        int k;

        if (!p) {
                size_t pl = strlen(s->tag_prefix);
                quote_for_error(r->raw.ptr, r->raw.len, what, sizeof(what));
                /* a foreign tag, or ours with a number never sent
                 * (H01, H03): never complete a command with someone else's tag. */
                if (r->tag.len > pl && memcmp(r->tag.ptr, s->tag_prefix, pl) == 0)
                        return fail(s, -EPROTO, "unexpected tagged response: '%s'", what);
                return fail(s, -EPROTO, "unexpected response: '%s'", what);
        }
        /* A reply to a command the server cannot have read yet (catalogue case A05): its
         * bytes are queued or still in our output buffer, so the reply was written before
         * the command existed, by a guess at the tag, e.g. "A0 OK" in the greeting's segment
         * taken for the reply to STARTTLS.  No command is completed by it. */
        if (!pending_line_taken(s, p)) {
                quote_for_error(r->raw.ptr, r->raw.len, what, sizeof(what));
                return fail(s, -EPROTO, "reply to %s before the command was sent: '%s'", pending_name(p), what);
        }

        if (r->code.type == IMAP_CODE_CAPABILITY && r->status == IMAP_STATUS_OK) {
                k = caps_set(s, r->code.args, r->code.n_args);
                if (k < 0)
                        return fail(s, k, "out of memory");
        }
        k = store_response(s, r);
        if (k < 0)
                return fail(s, k, "out of memory");

        eff = p->entry ? p->entry->effect : EFFECT_NONE;
        switch (eff) {
        case EFFECT_LOGIN:
                if (r->status == IMAP_STATUS_OK)
                        session_set_state(s, IMAP_STATE_AUTH);
                break;
        case EFFECT_SELECT:
                session_set_state(s, r->status == IMAP_STATUS_OK ? IMAP_STATE_SELECTED : IMAP_STATE_AUTH);
                break;
        case EFFECT_UNSELECT:
                session_set_state(s, IMAP_STATE_AUTH);
                break;
        case EFFECT_STARTTLS:
                /* The STARTTLS event follows the DONE event below. */
                if (r->status == IMAP_STATUS_OK)
                        s->tls_pending = true;
                break;
        case EFFECT_ENABLE:
                if (r->status == IMAP_STATUS_OK && p->utf8_asked)
                        s->utf8 = true;
                break;
        case EFFECT_IDLE:
                /* Refused before "+", or ended by the server (Q3), or answered
                 * after DONE: leave IDLING, flush the capture (Q1). */
                if (!p->idle_done_sent) {
                        session_set_state(s, p->saved_state);
                        if (s->capturing && !p->idle_active)
                                capture_end(s);
                }
                break;
        case EFFECT_LOGOUT:
        case EFFECT_UID:
        case EFFECT_NONE:
                break;
        }

        push_event(s, IMAP_EVENT_DONE, r, p, /* take= */ true);
        if (eff == EFFECT_STARTTLS && r->status == IMAP_STATUS_OK)
                push_event(s, IMAP_EVENT_STARTTLS, r, p, /* take= */ true);
        pending_unlink(s, p);
        pending_free(p);
        return flush_commands(s);
}

static int handle_continuation(ImapSession *s, const ImapResponse *r) {
        Pending *p;
        int k;

        /* The first command that can be waiting for "+" is the only candidate:
         * nothing is written after such a command (flush_commands()).  The
         * search stops at the first command that holds back its followers
         * (STARTTLS, say): those behind it were never sent, and a "+" for one
         * would, for AUTHENTICATE, put credentials on the wire unasked. */
        for (p = s->cmds; p; p = p->next) {
                if (p->sent > 0 && (p->wait_cont || p->sasl || (p->entry && p->entry->effect == EFFECT_IDLE)))
                        break;
                if (p->sent == 0 || cmd_blocks_followers(p)) {
                        p = NULL;
                        break;
                }
        }
        if (!p)
                return fail(s, -EPROTO, "unexpected continuation request"); /* F13, H02 */
        /* The same for "+": the server asks for more only after what we sent last, the
         * literal's "{n}" line, the SASL response or IDLE, has reached it. */
        if (s->out_taken < p->cont_end)
                return fail(s, -EPROTO, "continuation request for %s before the command was sent",
                            pending_name(p));

        if (p->wait_cont) {
                p->wait_cont = false;
                return flush_commands(s);
        }
        if (p->sasl) {
                Buf resp = BUF_INIT;

                /* The server's challenge, decoded, goes to the mechanism; its
                 * answer goes out base64-encoded; "*" cancels (RFC 3501 §6.2.2). */
                k = imap_sasl_step(p->sasl, r->text.ptr, r->text.len, &resp);
                if (k < 0) {
                        /* Q8: our side failed (e.g. no HMAC-MD5): cancel the
                         * exchange so the server is not left waiting. */
                        s->sasl_error = imap_sasl_error(p->sasl) ?: "SASL mechanism failed";
                        buf_done_secure(&resp);
                        k = out_put(s, "*\r\n", 3);
                        return k < 0 ? k : 0;
                }
                if (k == 1)
                        k = out_put(s, "*", 1);
                else
                        k = out_put(s, resp.data ? resp.data : "", resp.len);
                buf_done_secure(&resp);
                if (k >= 0)
                        k = out_put(s, "\r\n", 2);
                p->cont_end = out_end(s);
                return k;
        }
        /* IDLE.  A second "+" while idling (some servers repeat it) is harmless (Q3). */
        if (!p->idle_active && !p->idle_done_sent) {
                p->idle_active = true;
                session_set_state(s, IMAP_STATE_IDLING);
                push_event(s, IMAP_EVENT_IDLING, r, p, /* take= */ false);
        }
        return 0;
}

static int handle_greeting(ImapSession *s, const ImapResponse *r) {
        char what[96];
        int k;

        s->greeted = true;
        if (r->kind == IMAP_RESPONSE_UNTAGGED &&
            IN_SET(r->status, IMAP_STATUS_OK, IMAP_STATUS_PREAUTH)) {
                session_set_state(s, r->status == IMAP_STATUS_OK ? IMAP_STATE_NONAUTH : IMAP_STATE_AUTH);
                if (r->code.type == IMAP_CODE_CAPABILITY) {
                        k = caps_set(s, r->code.args, r->code.n_args);
                        if (k < 0)
                                return fail(s, k, "out of memory");
                }
                k = store_response(s, r);
                if (k < 0)
                        return fail(s, k, "out of memory");
                push_event(s, IMAP_EVENT_GREETING, r, NULL, false);
                return 0;
        }
        quote_for_error(r->raw.ptr, r->raw.len, what, sizeof(what));
        return fail(s, -EPROTO, "invalid greeting: %s", what);
}

static int handle_untagged(ImapSession *s, const ImapResponse *r) {
        int k;

        if (r->data_type == IMAP_DATA_CAPABILITY) {
                k = caps_set(s, r->args, r->n_args);
                if (k < 0)
                        return fail(s, k, "out of memory");
        }
        if (r->code.type == IMAP_CODE_CAPABILITY) {
                k = caps_set(s, r->code.args, r->code.n_args);
                if (k < 0)
                        return fail(s, k, "out of memory");
        }
        k = store_response(s, r);
        if (k < 0)
                return fail(s, k, "out of memory");
        push_event(s, IMAP_EVENT_UNTAGGED, r, NULL, false);
        return 0;
}

int imap_session_feed(ImapSession *s, const void *buf, size_t n, usec_t now, size_t *ret_consumed) {
        const ImapResponse *r;
        size_t used = 0;
        int k;

        assert_return(s && ret_consumed, -EINVAL);
        *ret_consumed = 0;
        if (s->dead)
                return -ESHUTDOWN;
        if (n == 0)
                return 0;
        /* Nothing may come between the tagged OK to STARTTLS and the TLS
         * handshake (RFC 3501 §6.2.1; docs/SECURITY.md B01, CVE-2021-23993 class). */
        if (s->tls_pending)
                return fail(s, -EPROTO, "data after STARTTLS response: possible injection, closing");

        s->caps_view = mfree(s->caps_view);
        k = imap_parser_feed(s->parser, buf, n, &used);
        *ret_consumed = used;
        if (k < 0)
                return fail(s, k, "malformed response from server: %s", imap_parser_error(s->parser));
        if (s->n_cmds > 0 && used > 0)
                s->last_progress = now;
        if (k == 0)
                return 0;

        r = imap_parser_response(s->parser);
        if (!s->greeted)
                k = handle_greeting(s, r);
        else if (r->kind == IMAP_RESPONSE_TAGGED)
                k = handle_tagged(s, r);
        else if (r->kind == IMAP_RESPONSE_CONTINUATION)
                k = handle_continuation(s, r);
        else
                k = handle_untagged(s, r);
        if (k < 0)
                return k;
        return 1;
}

int imap_session_eof(ImapSession *s) {
        if (imap_parser_in_response(s->parser))
                return fail(s, -ECONNRESET, "socket error: EOF in the middle of a response");
        return fail(s, -ECONNRESET, "socket error: EOF");
}

int imap_session_starttls_done(ImapSession *s) {
        assert_return(s, -EINVAL);
        if (s->dead)
                return -ESHUTDOWN;
        if (!s->tls_pending)
                return -ENOENT;
        s->tls_pending = false;
        /* RFC 3501 §6.2.1: discard what the plaintext phase taught us. */
        caps_clear(s);
        if (s->store)
                list_clear(&s->store->data);
        /* The parser holds nothing: no byte was accepted after the OK.  It is
         * not reset here, so the OK's response stays valid until the next feed. */
        return flush_commands(s);
}

/* ---- time -------------------------------------------------------------------------------------- */

usec_t imap_session_deadline(const ImapSession *s) {
        usec_t d = USEC_INFINITY;

        if (s->dead)
                return USEC_INFINITY;
        if (!s->greeted)
                d = s->deadline_greeting;
        /* A command is overdue when nothing arrived for cmd_timeout.  IDLE
         * waits for the server by design: no deadline while active. */
        if (s->cmd_timeout > 0 && s->cmds && s->state != IMAP_STATE_IDLING)
                d = MIN(d, usec_add(s->last_progress, s->cmd_timeout));
        return d;
}

int imap_session_tick(ImapSession *s, usec_t now) {
        if (s->dead)
                return -ESHUTDOWN;
        if (now < imap_session_deadline(s))
                return 0;
        if (!s->greeted)
                return fail(s, -ETIMEDOUT, "timed out waiting for the greeting");
        return fail(s, -ETIMEDOUT, "timed out waiting for the reply to %s", pending_name(s->cmds));
}

/* ---- accessors and lifecycle ------------------------------------------------------------------- */

ImapState imap_session_state(const ImapSession *s) {
        return s->state;
}

bool imap_session_is_dead(const ImapSession *s) {
        return s->dead;
}

bool imap_session_in_response(const ImapSession *s) {
        return imap_parser_in_response(s->parser);
}

bool imap_session_utf8(const ImapSession *s) {
        return s->utf8;
}

bool imap_session_tls_pending(const ImapSession *s) {
        return s->tls_pending;
}

size_t imap_session_pending(const ImapSession *s) {
        return s->n_cmds;
}

static size_t list_allocated(const DatumList *l) {
        size_t n = 0;

        for (const DatumNode *d = l->head; d; d = d->next)
                n += sizeof(DatumNode) + d->d->bytes;
        return n;
}

size_t imap_session_allocated(const ImapSession *s) {
        size_t n;

        if (!s)
                return 0;
        n = sizeof(*s) + imap_parser_allocated(s->parser) + s->out.cap + imap_caps_allocated(&s->caps) +
            (s->store ? sizeof(Store) + list_allocated(&s->store->data) + list_allocated(&s->store->idle) : 0);
        if (s->caps_view)
                n += s->caps.n * sizeof(const char *);
        if (s->error)
                n += strlen(s->error) + 1;
        for (const Pending *p = s->cmds; p; p = p->next)
                n += sizeof(*p) + p->wire.cap + p->n_syncs * sizeof(size_t) + imap_cmd_allocated(p->cmd) +
                     imap_sasl_allocated(p->sasl);
        for (unsigned i = 0; i < s->ev_len; i++) {
                const Event *e = &s->events[(s->ev_head + i) % EVENT_QUEUE_MAX];

                if (e->owns_cmd)
                        n += imap_cmd_allocated(e->owned_cmd);
        }
        return n;
}

const char *imap_session_error(const ImapSession *s) {
        return s->error_oom ? "out of memory" : s->error;
}

const char *imap_session_tag_prefix(const ImapSession *s) {
        return s->tag_prefix;
}

int imap_session_response_pop(ImapSession *s, const char *type, ImapDatum ***ret, size_t *ret_n) {
        DatumNode **pp, *prev = NULL;
        ImapDatum **v = NULL;
        size_t n = 0;

        assert_return(s && type && ret && ret_n, -EINVAL);
        pp = s->store ? &s->store->data.head : NULL;
        while (pp && *pp) {
                DatumNode *node = *pp;

                if (strcasecmp(node->d->type, type) != 0) {
                        prev = node;
                        pp = &node->next;
                        continue;
                }
                ImapDatum **nv = reallocarray(v, n + 1, sizeof(ImapDatum *));
                if (!nv) {
                        for (size_t i = 0; i < n; i++)
                                free(v[i]);
                        free(v);
                        return -ENOMEM;
                }
                v = nv;
                v[n++] = node->d;
                *pp = node->next;
                if (s->store->data.tail == node)
                        s->store->data.tail = prev;
                s->store->data.bytes -= node->d->bytes;
                free(node);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

bool imap_session_response_has(const ImapSession *s, const char *type) {
        for (DatumNode *n = s->store ? s->store->data.head : NULL; n; n = n->next)
                if (strcasecmp(n->d->type, type) == 0)
                        return true;
        return false;
}

void imap_session_response_clear(ImapSession *s) {
        if (s->store)
                list_clear(&s->store->data);
}

uint64_t imap_session_response_dropped(const ImapSession *s) {
        return s->store ? s->store->dropped : 0;
}

int imap_session_idle_pop(ImapSession *s, ImapDatum **ret) {
        DatumNode *n = s->store ? list_shift(&s->store->idle) : NULL;

        if (!n)
                return 0;
        *ret = n->d;
        free(n);
        return 1;
}

const char *imap_session_sasl_error(const ImapSession *s) {
        return s->sasl_error;
}

int imap_datum_new_text(const char *type, const char *text, size_t len, ImapDatum **ret) {
        Piece p = { text, len, NULL, 0 };

        return datum_build(type, strlen(type), NULL, &p, 1, ret);
}

ImapDatum *imap_datum_dup(const ImapDatum *d) {
        ImapDatum *n = malloc(d->bytes);
        ptrdiff_t delta;

        if (!n)
                return NULL;
        memcpy(n, d, d->bytes);
        /* Every pointer points inside the same allocation: move them along. */
        delta = (const char *) n - (const char *) d;
        n->type += delta;
        for (size_t i = 0; i < n->n_frags; i++) {
                n->frags[i].text += delta;
                if (n->frags[i].literal)
                        n->frags[i].literal += delta;
        }
        return n;
}

int imap_session_response_peek(const ImapSession *s, const char *type, ImapDatum ***ret, size_t *ret_n) {
        ImapDatum **v = NULL;
        size_t n = 0;

        for (DatumNode *node = s->store ? s->store->data.head : NULL; node; node = node->next) {
                ImapDatum **nv;

                if (strcasecmp(node->d->type, type) != 0)
                        continue;
                nv = reallocarray(v, n + 1, sizeof(ImapDatum *));
                if (!nv || !(nv[n] = imap_datum_dup(node->d))) {
                        v = nv ? nv : v;
                        for (size_t i = 0; i < n; i++)
                                free(v[i]);
                        free(v);
                        return -ENOMEM;
                }
                v = nv;
                n++;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

bool imap_session_idle_capturing(const ImapSession *s) {
        return s->capturing;
}

char *imap_tag_prefix_random(uint64_t random_bits, char ret[static IMAP_TAG_PREFIX_RANDOM_LEN + 1]) {
        /* 26^6 < 2^29: six base-26 digits of 64 bits; the bias is below 2^-35. */
        for (size_t i = 0; i < IMAP_TAG_PREFIX_RANDOM_LEN; i++, random_bits /= 26)
                ret[i] = (char) ('A' + random_bits % 26);
        ret[IMAP_TAG_PREFIX_RANDOM_LEN] = 0;
        return ret;
}

int imap_session_new(const ImapSessionParams *p, ImapSession **ret) {
        _cleanup_(imap_session_freep) ImapSession *s = NULL;
        static const ImapSessionParams defaults = {};
        const char *prefix;
        int r;

        assert_return(ret, -EINVAL);
        if (!p)
                p = &defaults;
        prefix = p->tag_prefix ? p->tag_prefix : "A";
        if (strlen(prefix) == 0 || strlen(prefix) >= sizeof(s->tag_prefix))
                return -EINVAL;
        for (const char *c = prefix; *c; c++)
                if (*c < 'A' || *c > 'Z')
                        return -EINVAL;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = imap_parser_new(&p->limits, &s->parser);
        if (r < 0)
                return r;
        imap_parser_set_soft_list(s->parser, p->soft_list);
        memcpy(s->tag_prefix, prefix, strlen(prefix) + 1);
        session_set_state(s, IMAP_STATE_LOGOUT);
        if (p->keep_untagged) {
                s->store = calloc(1, sizeof(Store));
                if (!s->store)
                        return -ENOMEM;
                s->store->max = p->max_stored ? p->max_stored : STORE_DEFAULT_MAX;
        }
        s->cmd_timeout = p->cmd_timeout;
        s->deadline_greeting = p->greeting_timeout ? usec_add(p->now, p->greeting_timeout) : USEC_INFINITY;
        s->last_progress = p->now;
        *ret = TAKE_PTR(s);
        return 0;
}

ImapSession *imap_session_free(ImapSession *s) {
        if (!s)
                return NULL;
        while (s->cmds) {
                Pending *p = s->cmds;
                s->cmds = p->next;
                pending_free(p);
        }
        if (s->store) {
                list_clear(&s->store->data);
                list_clear(&s->store->idle);
                free(s->store);
        }
        caps_clear(s);
        while (s->ev_len > 0) {
                event_done(&s->events[s->ev_head]);
                s->ev_head = (uint8_t) ((s->ev_head + 1) % EVENT_QUEUE_MAX);
                s->ev_len--;
        }
        buf_done_secure(&s->out);
        imap_parser_free(s->parser);
        free(s->error);
        free(s);
        return NULL;
}

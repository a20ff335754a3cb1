/* SPDX-License-Identifier: MIT */
/*
 * fuzz-imap-session.c: libFuzzer target for the connection state machine
 * (docs/SECURITY.md, Fuzzing): the input is a small program that plays both
 * the server (bytes fed to the session) and the caller (commands, IDLE DONE,
 * the STARTTLS switch, time, writing output, popping stored responses), and
 * after every step the session is checked against its contract.  TLS is
 * stubbed the sans-I/O way: imap_session_starttls_done() is the handshake.
 *
 * Input: one header byte, then ops.  An op byte's low nibble is the op, its
 * high nibble 'a' an argument:
 *   0x0  nothing
 *   0x1  FEED: server bytes up to "\0" + any byte but "\0" (which ends the op
 *        and is not consumed) or the end; "\0\0" is one NUL.  Fed in pieces
 *        of chunk_sizes[a] bytes (0: all at once)
 *   0x2  SUBMIT k: the next byte picks a command from cmd_table
 *   0x3  imap_session_idle_done()
 *   0x4  imap_session_starttls_done()
 *   0x5  TICK t: the clock advances t seconds (t = 0: to the deadline), tick()
 *   0x6  CONSUME n: n output bytes were written (n = 0: all)
 *   0x7  POP k: imap_session_response_pop() of pop_types[k]
 *   0x8  pop a IDLE queue items (a = 0: all)
 *   0x9  imap_session_response_clear()
 *   0xa  imap_session_eof()
 *   0xb  SUBMIT a (one byte)
 *   else nothing
 * Header bits: 0-1 max_stored (stored_caps[]), 2 small parser limits,
 * 3 no command timeout.
 *
 * Checked after every step (any failure aborts):
 *   - every event's response is dumped (every byte it points to is read);
 *     events come in a legal order for ids we got from submit;
 *   - a dead session stays dead: feed < 0 consuming nothing, submit and
 *     authenticate -ESHUTDOWN, tick -ESHUTDOWN, no deadline, and its output
 *     never grows again;
 *   - the state is an ImapState; pending() == commands submitted - DONE events;
 *   - the unwritten output never changes under us, only grows at the end;
 *   - command lines in the output carry strictly increasing tags of
 *     submitted commands, with the submitted command's name;
 *   - a command completes (DONE event) or gets "+" (IDLING event) only after
 *     its command line was output and taken up to its CRLF by a CONSUME
 *     (catalogue case A05: the server cannot answer what it has not read);
 *   - after a STARTTLS command line nothing is output until its tagged reply,
 *     and after a tagged OK nothing until starttls_done() (docs/SECURITY.md B01);
 *   - "DONE" goes out only after an IDLE line, once; the first idle_done()
 *     that returns 0 appends exactly "DONE\r\n", a later one nothing;
 *   - stored data never holds more than max_stored bytes: the store alone at
 *     every step, store plus IDLE queue whenever the queue is emptied (the
 *     session drops oldest data until the sum is at most the cap, so a datum
 *     larger than the cap is dropped too; no "one datum over" slack);
 *   - deadlines: tick() before the deadline is 0, at or after it -ETIMEDOUT.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "fuzz.h"
#include "imap-dump.h"
#include "imap-session.h"

#define TAG_PREFIX "FZ"
/* Says which invariant broke: a crash report alone would only show abort(). */
#define CHECK(x)                                                                        \
        do {                                                                            \
                if (!(x)) {                                                             \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x); \
                        abort();                                                        \
                }                                                                       \
        } while (0)

/* FUZZ_TRACE=1 in the environment: print each op and event (for reading a crash). */
static int trace = -1;

/* ---- what the caller can do ------------------------------------------------------------------- */

typedef struct CmdArgSpec {
        ImapCmdArgType type;
        const char *value;
} CmdArgSpec;

typedef struct CmdSpec {
        const char *name;               /* as sent (AUTHENTICATE for SASL) */
        const char *mech;               /* SASL mechanism for imap_session_authenticate() */
        CmdArgSpec args[4];
} CmdSpec;

#define A(t, v) { IMAP_CMD_ARG_##t, v }
/* Literal contents and SASL answers never start a line with "FZ<digits> " or
 * are "DONE", so the output scanner can find command lines. */
static const CmdSpec cmd_table[] = {
        { "NOOP", NULL, {} },
        { "CAPABILITY", NULL, {} },
        { "LOGIN", NULL, { A(ASTRING, "fuzzuser"), A(STRING, "p\xc3\xa4sswort") } }, /* 8-bit: a literal */
        { "LOGIN", NULL, { A(ASTRING, "fuzz user"), A(STRING, "secret\"\\") } },
        { "AUTHENTICATE", "PLAIN", {} },
        { "AUTHENTICATE", "LOGIN", {} },
        { "AUTHENTICATE", "CRAM-MD5", {} },
        { "AUTHENTICATE", "XOAUTH2", {} },
        { "STARTTLS", NULL, {} },
        { "SELECT", NULL, { A(ASTRING, "INBOX") } },
        { "EXAMINE", NULL, { A(ASTRING, "Entw\xc3\xbcrfe") } },
        { "IDLE", NULL, {} },
        { "APPEND", NULL, { A(ASTRING, "INBOX"), A(FLAGS, "\\Seen"),
                            A(LITERAL, "Subject: hi\r\n\r\nbody\r\n") } },
        { "APPEND", NULL, { A(ASTRING, "INBOX"),
                            A(UTF8_LITERAL, "Subject: h\xc3\xa9\r\n\r\n\xc3\xa9\r\n") } },
        { "FETCH", NULL, { A(ATOM, "1:*"), A(RAW, "(FLAGS UID BODY.PEEK[HEADER])") } },
        { "UID", NULL, { A(ATOM, "FETCH"), A(ATOM, "1:*"), A(RAW, "(UID FLAGS)") } },
        { "UID", NULL, { A(ATOM, "SEARCH"), A(RAW, "UNSEEN") } },
        { "UID", NULL, { A(ATOM, "BOGUS"), A(ATOM, "1") } },
        { "LIST", NULL, { A(ASTRING, ""), A(LIST_MAILBOX, "*") } },
        { "STATUS", NULL, { A(ASTRING, "INBOX"), A(RAW, "(MESSAGES UIDNEXT UIDVALIDITY)") } },
        { "ENABLE", NULL, { A(ATOM, "UTF8=ACCEPT") } },
        { "LOGOUT", NULL, {} },
        { "XFUZZ", NULL, { A(ASTRING, "x") } },
        { "CLOSE", NULL, {} },
        { "ID", NULL, { A(RAW, "NIL") } },
        { "STORE", NULL, { A(ATOM, "1"), A(ATOM, "+FLAGS.SILENT"), A(FLAGS, "\\Deleted") } },
        { "EXPUNGE", NULL, {} },
};
#undef A

/* Types POP asks for; the last entries are never stored by a sane server. */
static const char *const pop_types[] = {
        "OK", "NO", "BAD", "BYE", "PREAUTH", "CAPABILITY", "EXISTS", "RECENT", "EXPUNGE", "FETCH",
        "FLAGS", "LIST", "STATUS", "SEARCH", "ENABLED", "ID", "UIDVALIDITY", "UIDNEXT",
        "PERMANENTFLAGS", "READ-WRITE", "ALERT", "VANISHED", "XFUZZ", "",
};

static const size_t chunk_sizes[16] = { 0, 1, 2, 3, 5, 7, 11, 16, 23, 32, 50, 64, 100, 128, 200, 256 };
static const size_t stored_caps[4] = { 160, 512, 2048, 65536 };

/* ---- the model ---------------------------------------------------------------------------------- */

enum {
        ID_SUBMITTED = 1 << 0,
        ID_OUTPUT = 1 << 1,     /* its command line went out */
        ID_DONE = 1 << 2,       /* its DONE event came */
        ID_IDLING = 1 << 3,     /* its IDLING event came */
        ID_DONE_SENT = 1 << 4,  /* idle_done() returned 0 for it */
};

typedef struct IdInfo {
        unsigned flags;
        unsigned cmd;           /* index in cmd_table */
        uint64_t line_end;      /* ID_OUTPUT: output stream position after its line's LF; 0 unknown */
} IdInfo;

typedef struct Fz {
        ImapSession *s;
        usec_t now;
        size_t max_stored;

        IdInfo *ids;
        size_t n_ids;           /* ids handed out are < n_ids */
        size_t n_submitted, n_done;
        bool greeted;

        /* Output: a copy of what is unwritten, and a scanner over all of it. */
        Buf shadow;
        uint64_t consumed;
        bool dead;
        char line[40];
        size_t line_len;
        int64_t last_tag;
        int64_t line_id;                /* id of the tag line being scanned, until its LF; -1 */
        int64_t last_idle_line;         /* id of the IDLE on the last command line, -1 */
        bool done_line_seen;
        bool tls_block;                 /* a STARTTLS line is out, not cleared */
        int64_t starttls_id;

        /* Stored types we saw names of, for measuring the store. */
        char **types;
        size_t n_types;
        uint64_t dropped;
} Fz;

static uint64_t produced(const Fz *f) {
        const void *b;
        size_t len;

        imap_session_output(f->s, &b, &len);
        return f->consumed + len;
}

/* ---- the output scanner ------------------------------------------------------------------------- */

static bool parse_tag_line(const char *l, size_t n, uint32_t *ret_id, const char **ret_name,
                           size_t *ret_name_len) {
        size_t pl = strlen(TAG_PREFIX), i;
        uint64_t id = 0;

        if (n <= pl || memcmp(l, TAG_PREFIX, pl) != 0)
                return false;
        for (i = pl; i < n && l[i] >= '0' && l[i] <= '9' && i < pl + 10; i++)
                id = id * 10 + (uint64_t) (l[i] - '0');
        if (i == pl || i >= n || l[i] != ' ' || id > UINT32_MAX)
                return false;
        *ret_id = (uint32_t) id;
        *ret_name = l + i + 1;
        *ret_name_len = strcspn(l + i + 1, " \r");
        return true;
}

static void scan_line(Fz *f) {
        const char *name;
        size_t name_len;
        uint32_t id;

        f->line[f->line_len] = 0;
        if (parse_tag_line(f->line, f->line_len, &id, &name, &name_len)) {
                const CmdSpec *c;

                CHECK((int64_t) id > f->last_tag);              /* strictly increasing */
                CHECK(id < f->n_ids && (f->ids[id].flags & ID_SUBMITTED));
                CHECK(!(f->ids[id].flags & (ID_OUTPUT | ID_DONE)));
                c = &cmd_table[f->ids[id].cmd];
                CHECK(strlen(c->name) == name_len && memcmp(c->name, name, name_len) == 0);
                f->ids[id].flags |= ID_OUTPUT;
                f->line_id = id;
                f->last_tag = id;
                f->last_idle_line = strcmp(c->name, "IDLE") == 0 ? (int64_t) id : -1;
                f->done_line_seen = false;
                if (strcmp(c->name, "STARTTLS") == 0) {
                        f->tls_block = true;
                        f->starttls_id = id;
                }
        } else if (strcmp(f->line, "DONE\r\n") == 0) {
                /* RFC 2177: DONE ends an IDLE we sent, once. */
                CHECK(f->last_idle_line >= 0 && !f->done_line_seen);
                f->done_line_seen = true;
        }
}

/* p[0] is at position 'pos' of the output stream (bytes produced since the start). */
static void scan_output(Fz *f, const char *p, size_t n, uint64_t pos) {
        for (size_t i = 0; i < n; i++) {
                /* After a STARTTLS line, not one byte more until allowed. */
                CHECK(!f->tls_block);
                if (f->line_len + 1 < sizeof(f->line)) {
                        f->line[f->line_len++] = p[i];
                        /* A long line is judged by its start: tag and name fit. */
                        if (p[i] == '\n' || f->line_len + 1 == sizeof(f->line))
                                scan_line(f);
                }
                if (p[i] == '\n') {
                        f->line_len = 0;
                        if (f->line_id >= 0)
                                f->ids[f->line_id].line_end = pos + i + 1;
                        f->line_id = -1;
                }
        }
}

/* The unwritten output may only grow at its end; scan what is new. */
static void check_output(Fz *f) {
        const void *b;
        size_t len;

        imap_session_output(f->s, &b, &len);
        CHECK(len >= f->shadow.len);
        CHECK(f->shadow.len == 0 || memcmp(b, f->shadow.data, f->shadow.len) == 0);
        if (len == f->shadow.len)
                return;
        CHECK(!f->dead);        /* a dead session writes nothing */
        scan_output(f, (const char *) b + f->shadow.len, len - f->shadow.len, f->consumed + f->shadow.len);
        CHECK(buf_append(&f->shadow, (const char *) b + f->shadow.len, len - f->shadow.len, 0) >= 0);
}

/* ---- stored data -------------------------------------------------------------------------------- */

static void note_type(Fz *f, const char *p, size_t n) {
        char **v;

        if (n == 0 || f->n_types >= 256)
                return;
        for (size_t i = 0; i < f->n_types; i++)
                if (strlen(f->types[i]) == n && strncasecmp(f->types[i], p, n) == 0)
                        return;
        v = reallocarray(f->types, f->n_types + 1, sizeof(char *));
        CHECK(v);
        f->types = v;
        CHECK((f->types[f->n_types] = strndup(p, n)));
        f->n_types++;
}

/* Read every byte of a datum; returns its accounted size. */
static size_t touch_datum(const ImapDatum *d) {
        size_t sum = strlen(d->type) + 1, min;
        volatile unsigned char x = 0;

        for (size_t i = 0; i < d->n_frags; i++) {
                const ImapFrag *fr = &d->frags[i];

                for (size_t j = 0; j < fr->text_len; j++)
                        x ^= (unsigned char) fr->text[j];
                CHECK(fr->text[fr->text_len] == 0);
                sum += fr->text_len + 1;
                CHECK(fr->literal || fr->literal_len == 0);
                for (size_t j = 0; j < fr->literal_len; j++)
                        x ^= (unsigned char) fr->literal[j];
                sum += fr->literal_len;
                /* Only the last fragment has no literal. */
                CHECK(!fr->literal == (i + 1 == d->n_frags));
        }
        (void) x;
        min = sizeof(ImapDatum) + d->n_frags * sizeof(ImapFrag) + sum;
        CHECK(d->n_frags >= 1 && d->bytes >= min);
        return d->bytes;
}

static size_t free_data(ImapDatum **v, size_t n) {
        size_t sum = 0;

        for (size_t i = 0; i < n; i++) {
                sum += touch_datum(v[i]);
                free(v[i]);
        }
        free(v);
        return sum;
}

/* A lower bound of the store's size: every type the session could have
 * stored came by as a response name or a code name. */
static size_t store_bytes(Fz *f) {
        size_t sum = 0;

        for (size_t i = 0; i < f->n_types; i++) {
                ImapDatum **v = NULL;
                size_t n = 0;

                CHECK(imap_session_response_peek(f->s, f->types[i], &v, &n) >= 0);
                CHECK(n == 0 || imap_session_response_has(f->s, f->types[i]));
                sum += free_data(v, n);
        }
        return sum;
}

/* ---- events ------------------------------------------------------------------------------------- */

static void drain_events(Fz *f) {
        ImapEvent e;

        while (imap_session_next_event(f->s, &e) > 0) {
                _cleanup_free_ char *d = NULL;
                const ImapResponse *r = e.resp;

                CHECK((unsigned) e.type < _IMAP_EVENT_TYPE_MAX && r);
                CHECK((d = imap_response_dump(r)));
                if (trace)
                        fprintf(stderr, "  event %d id %u %s: %s\n", e.type, e.id, e.cmd, d);
                note_type(f, r->name.ptr, r->name.len);
                if (r->code.type != IMAP_CODE_NONE)
                        note_type(f, r->code.name.ptr, r->code.name.len);

                switch (e.type) {
                case IMAP_EVENT_GREETING:
                        CHECK(!f->greeted && r->kind == IMAP_RESPONSE_UNTAGGED);
                        f->greeted = true;
                        break;
                case IMAP_EVENT_UNTAGGED:
                        CHECK(f->greeted && r->kind == IMAP_RESPONSE_UNTAGGED);
                        break;
                case IMAP_EVENT_DONE:
                        CHECK(r->kind == IMAP_RESPONSE_TAGGED);
                        CHECK(e.id < f->n_ids && (f->ids[e.id].flags & ID_SUBMITTED));
                        CHECK(!(f->ids[e.id].flags & ID_DONE));
                        /* Only a command that went out can be answered (H01, H03), and only
                         * once its line was taken (A05). */
                        CHECK(f->ids[e.id].flags & ID_OUTPUT);
                        CHECK(f->ids[e.id].line_end > 0 && f->consumed >= f->ids[e.id].line_end);
                        CHECK(strcmp(e.cmd, cmd_table[f->ids[e.id].cmd].name) == 0);
                        f->ids[e.id].flags |= ID_DONE;
                        f->n_done++;
                        if (f->tls_block && f->starttls_id == e.id && r->status != IMAP_STATUS_OK)
                                f->tls_block = false;
                        break;
                case IMAP_EVENT_IDLING:
                        CHECK(r->kind == IMAP_RESPONSE_CONTINUATION);
                        CHECK(e.id < f->n_ids && strcmp(cmd_table[f->ids[e.id].cmd].name, "IDLE") == 0);
                        CHECK((f->ids[e.id].flags & (ID_OUTPUT | ID_DONE | ID_IDLING)) == ID_OUTPUT);
                        CHECK(f->ids[e.id].line_end > 0 && f->consumed >= f->ids[e.id].line_end);
                        f->ids[e.id].flags |= ID_IDLING;
                        break;
                case IMAP_EVENT_STARTTLS:
                        CHECK(r->kind == IMAP_RESPONSE_TAGGED && r->status == IMAP_STATUS_OK);
                        CHECK(e.id < f->n_ids && strcmp(cmd_table[f->ids[e.id].cmd].name, "STARTTLS") == 0);
                        CHECK(f->tls_block && f->starttls_id == e.id);
                        CHECK(imap_session_tls_pending(f->s));
                        break;
                default:
                        abort();
                }
        }
}

/* ---- invariants --------------------------------------------------------------------------------- */

static void check_dead(Fz *f) {
        const uint8_t probe[] = "* OK hi\r\n";
        ImapCmd *c = NULL;
        ImapSasl *sasl = NULL;
        ImapSaslCreds cr = { .user = "u", .secret = "p" };
        size_t used = 1;
        uint32_t id;

        CHECK(imap_session_feed(f->s, probe, sizeof(probe) - 1, f->now, &used) < 0 && used == 0);
        CHECK(imap_cmd_new("NOOP", &c) >= 0);
        CHECK(imap_session_submit(f->s, c, f->now, &id) == -ESHUTDOWN);
        CHECK(imap_sasl_new("PLAIN", &cr, &sasl) >= 0);
        CHECK(imap_session_authenticate(f->s, sasl, f->now, &id) == -ESHUTDOWN);
        CHECK(imap_session_tick(f->s, f->now) == -ESHUTDOWN);
        CHECK(imap_session_deadline(f->s) == USEC_INFINITY);
        CHECK(imap_session_error(f->s));
}

static void check(Fz *f) {
        ImapState st = imap_session_state(f->s);
        bool dead = imap_session_is_dead(f->s);
        const char *const *caps;
        size_t n_caps, stored;

        drain_events(f);
        CHECK(!f->dead || dead);        /* once dead, always dead */
        check_output(f);        /* what a fatal step wrote (an error reply) is allowed */
        f->dead = dead;
        if (dead) {
                check_dead(f);
                check_output(f);
                drain_events(f);
        }
        CHECK((unsigned) st < _IMAP_STATE_MAX && imap_state_to_string(st));
        CHECK(imap_session_pending(f->s) == f->n_submitted - f->n_done);
        CHECK(imap_session_pending(f->s) <= f->n_ids);
        if (st == IMAP_STATE_IDLING) {
                /* IDLING means: an IDLE got its "+" and no DONE was sent. */
                bool found = false;
                for (size_t i = 0; i < f->n_ids; i++)
                        if ((f->ids[i].flags & (ID_IDLING | ID_DONE | ID_DONE_SENT)) == ID_IDLING)
                                found = true;
                CHECK(found);
        }
        n_caps = imap_session_capabilities(f->s, &caps);
        CHECK(n_caps == imap_session_n_capabilities(f->s));
        for (size_t i = 0; i < n_caps; i++)
                CHECK(caps[i] && imap_session_has_capability(f->s, caps[i]) &&
                      strcmp(caps[i], imap_session_capability(f->s, i)) == 0);
        CHECK(!imap_session_capability(f->s, n_caps));
        stored = store_bytes(f);
        CHECK(stored <= f->max_stored);
        /* What the session says it holds includes what it stores. */
        CHECK(imap_session_allocated(f->s) >= stored);
        CHECK(imap_session_response_dropped(f->s) >= f->dropped);      /* a counter */
        f->dropped = imap_session_response_dropped(f->s);
        if (imap_session_sasl_error(f->s))
                CHECK(strlen(imap_session_sasl_error(f->s)) > 0);
        (void) imap_session_error(f->s);
        (void) imap_session_in_response(f->s);
        (void) imap_session_idle_capturing(f->s);
}

/* ---- ops ---------------------------------------------------------------------------------------- */

static void op_feed(Fz *f, const uint8_t *data, size_t size, size_t *pos, size_t chunk) {
        _cleanup_free_ uint8_t *in = malloc(size - *pos + 1);
        size_t n = 0, off = 0;

        CHECK(in);
        /* Unescape up to "\0" + non-NUL. */
        while (*pos < size) {
                if (data[*pos] == 0) {
                        if (*pos + 1 < size && data[*pos + 1] == 0) {
                                in[n++] = 0;
                                *pos += 2;
                                continue;
                        }
                        (*pos)++;
                        break;
                }
                in[n++] = data[(*pos)++];
        }

        while (off < n) {
                size_t len = chunk == 0 ? n - off : MIN(chunk, n - off);

                while (len > 0) {
                        size_t used = SIZE_MAX;
                        int r = imap_session_feed(f->s, in + off, len, f->now, &used);

                        CHECK(used <= len);
                        if (f->dead)
                                CHECK(r < 0 && used == 0);
                        if (r < 0) {
                                CHECK(imap_session_is_dead(f->s));
                                check(f);
                                return; /* the rest is never read */
                        }
                        CHECK(r == 1 || used == len);
                        off += used;
                        len -= used;
                        check(f); /* the response is valid until the next feed */
                }
        }
}

static ImapCmd *build_cmd(const CmdSpec *spec) {
        ImapCmd *c = NULL;

        CHECK(imap_cmd_new(spec->name, &c) >= 0);
        for (size_t i = 0; i < ELEMENTSOF(spec->args) && spec->args[i].value; i++)
                CHECK(imap_cmd_add_str(c, spec->args[i].type, spec->args[i].value) >= 0);
        return c;
}

static void op_submit(Fz *f, unsigned k) {
        const CmdSpec *spec = &cmd_table[k % ELEMENTSOF(cmd_table)];
        uint32_t id = UINT32_MAX;
        IdInfo *v;
        int r;

        if (spec->mech) {
                ImapSaslCreds cr = {
                        .user = "fuzzuser",
                        .secret = "p\xc3\xa4sswort",
                        .authzid = "admin",
                };
                ImapSasl *sasl = NULL;

                CHECK(imap_sasl_new(spec->mech, &cr, &sasl) >= 0);
                r = imap_session_authenticate(f->s, sasl, f->now, &id);
        } else
                r = imap_session_submit(f->s, build_cmd(spec), f->now, &id);
        if (f->dead)
                CHECK(r == -ESHUTDOWN);
        if (r < 0) {
                CHECK(IN_SET(r, -EPERM, -EOPNOTSUPP, -EINVAL, -ESHUTDOWN, -EBUSY));
                CHECK(imap_session_error(f->s));
                return;
        }
        /* Ids are tag numbers, handed out in order. */
        CHECK(id == f->n_ids);
        v = reallocarray(f->ids, f->n_ids + 1, sizeof(IdInfo));
        CHECK(v);
        f->ids = v;
        f->ids[f->n_ids++] = (IdInfo) { .flags = ID_SUBMITTED, .cmd = (unsigned) (spec - cmd_table) };
        f->n_submitted++;
}

static void op_idle_done(Fz *f) {
        uint64_t before = produced(f);
        int64_t idle = -1;
        const void *b;
        size_t len;
        int r;

        for (size_t i = 0; i < f->n_ids; i++)
                if (strcmp(cmd_table[f->ids[i].cmd].name, "IDLE") == 0 && !(f->ids[i].flags & ID_DONE))
                        idle = (int64_t) i;
        r = imap_session_idle_done(f->s, f->now);
        imap_session_output(f->s, &b, &len);
        if (f->dead)
                CHECK(r == -ESHUTDOWN);
        if (r == 0) {
                CHECK(idle >= 0 && (f->ids[idle].flags & ID_IDLING));
                if (f->ids[idle].flags & ID_DONE_SENT)
                        CHECK(produced(f) == before);
                else {
                        CHECK(produced(f) == before + 6);
                        CHECK(len >= 6 && memcmp((const char *) b + len - 6, "DONE\r\n", 6) == 0);
                        f->ids[idle].flags |= ID_DONE_SENT;
                }
        } else
                CHECK(produced(f) == before);
}

static void op_tick(Fz *f, unsigned t) {
        usec_t deadline = imap_session_deadline(f->s);
        int r;

        if (t == 0 && deadline != USEC_INFINITY && deadline > f->now)
                f->now = deadline;
        else
                f->now += (usec_t) t * USEC_PER_SEC;
        r = imap_session_tick(f->s, f->now);
        if (f->dead)
                CHECK(r == -ESHUTDOWN);
        else if (f->now < deadline)
                CHECK(r == 0 && !imap_session_is_dead(f->s));
        else
                CHECK(r == -ETIMEDOUT && imap_session_is_dead(f->s));
}

static void op_consume(Fz *f, size_t n) {
        const void *b;
        size_t len;

        imap_session_output(f->s, &b, &len);
        CHECK(len == f->shadow.len);
        if (n == 0 || n > len)
                n = len;
        imap_session_consume_output(f->s, n);
        imap_session_output(f->s, &b, &len);
        CHECK(len == f->shadow.len - n);
        CHECK(len == 0 || memcmp(b, f->shadow.data + n, len) == 0);
        if (len > 0)
                memmove(f->shadow.data, f->shadow.data + n, len);
        f->shadow.len = len;
        f->consumed += n;
}

static void op_pop(Fz *f, unsigned k) {
        const char *type = pop_types[k % ELEMENTSOF(pop_types)];
        ImapDatum **v = NULL;
        size_t n = SIZE_MAX;

        CHECK(imap_session_response_pop(f->s, type, &v, &n) >= 0);
        CHECK(n != SIZE_MAX && (n == 0) == !v);
        for (size_t i = 0; i < n; i++)
                CHECK(strcasecmp(v[i]->type, type) == 0);
        (void) free_data(v, n);
        CHECK(!imap_session_response_has(f->s, type));
}

static void op_idle_pop(Fz *f, unsigned count) {
        size_t store = store_bytes(f), sum = 0;
        unsigned i;

        for (i = 0; count == 0 || i < count; i++) {
                ImapDatum *d = NULL;

                if (imap_session_idle_pop(f->s, &d) == 0)
                        break;
                CHECK(d);
                sum += touch_datum(d);
                free(d);
        }
        /* The queue was emptied: store and queue together were within the cap. */
        if (count == 0 || i < count)
                CHECK(store + sum <= f->max_stored);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ImapLimits small = { .max_line = 512, .max_literal = 256, .max_response = 2048, .max_depth = 4,
                             .max_args = 64 };
        ImapSessionParams p = {};
        Fz f = { .last_tag = -1, .line_id = -1, .last_idle_line = -1, .starttls_id = -1,
                 .now = 1000 * USEC_PER_SEC };
        size_t pos = 1;

        if (size < 1)
                return 0;
        if (trace < 0)
                trace = !!getenv("FUZZ_TRACE");
        f.max_stored = stored_caps[data[0] & 3];
        p = (ImapSessionParams) {
                .limits = (data[0] & 4) ? small : (ImapLimits) {},
                .tag_prefix = TAG_PREFIX,
                .keep_untagged = true,
                .max_stored = f.max_stored,
                .cmd_timeout = (data[0] & 8) ? 0 : 60 * USEC_PER_SEC,
                .greeting_timeout = 30 * USEC_PER_SEC,
                .now = f.now,
        };
        CHECK(imap_session_new(&p, &f.s) >= 0);
        check(&f);

        while (pos < size) {
                uint8_t b = data[pos++];
                unsigned a = b >> 4, arg = pos < size ? data[pos] : 0;
                int r;

                if (trace)
                        fprintf(stderr, "op %02x arg %02x, state %s, pending %zu%s\n", b, arg,
                                imap_state_to_string(imap_session_state(f.s)), imap_session_pending(f.s),
                                imap_session_is_dead(f.s) ? ", dead" : "");
                switch (b & 0x0f) {
                case 0x1:
                        op_feed(&f, data, size, &pos, chunk_sizes[a]);
                        break;
                case 0x2:
                        pos++;
                        op_submit(&f, arg);
                        break;
                case 0x3:
                        op_idle_done(&f);
                        break;
                case 0x4: {
                        uint64_t before = produced(&f);
                        bool pending = imap_session_tls_pending(f.s);

                        r = imap_session_starttls_done(f.s);
                        if (f.dead)
                                CHECK(r == -ESHUTDOWN);
                        else {
                                CHECK(pending ? r == 0 : r == -ENOENT);
                                CHECK(!imap_session_tls_pending(f.s));
                        }
                        if (r == 0)
                                f.tls_block = false;
                        else
                                CHECK(produced(&f) == before);
                        break;
                }
                case 0x5:
                        pos++;
                        op_tick(&f, arg);
                        break;
                case 0x6:
                        pos++;
                        op_consume(&f, arg);
                        break;
                case 0x7:
                        pos++;
                        op_pop(&f, arg);
                        break;
                case 0x8:
                        op_idle_pop(&f, a);
                        break;
                case 0x9:
                        imap_session_response_clear(f.s);
                        CHECK(store_bytes(&f) == 0);
                        break;
                case 0xa:
                        CHECK(imap_session_eof(f.s) == -ECONNRESET && imap_session_is_dead(f.s));
                        break;
                case 0xb:
                        op_submit(&f, a);
                        break;
                default:
                        break;
                }
                check(&f);
        }

        if (trace) {
                const char *e = imap_session_error(f.s);
                const void *b;
                size_t len;

                imap_session_output(f.s, &b, &len);
                fprintf(stderr, "end: %s, error: %s, unwritten output: %.*s\n",
                        imap_state_to_string(imap_session_state(f.s)), e ? e : "none",
                        (int) len, len ? (const char *) b : "");
        }
        imap_session_free(f.s);
        for (size_t i = 0; i < f.n_types; i++)
                free(f.types[i]);
        free(f.types);
        free(f.ids);
        buf_done(&f.shadow);
        return 0;
}

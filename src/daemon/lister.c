/* SPDX-License-Identifier: MIT */
/*
 * lister.c: the connection's LIST step, for an account with mailbox
 * patterns (cfg.h: a name with '*' or '%'); see connection.h
 * (connection_set_lister()) and connection-private.h (connection_list()).
 *
 * One LIST "" <pattern> per pattern, one after the other (RFC 3501 §6.3.8);
 * the selectable mailboxes they return (not \Noselect, not \NonExistent:
 * RFC 3501 §7.2.2, RFC 5258 §3) are handed to the owner in one call once
 * the last one is answered.  A LIST that fails hands nothing over: a partial
 * answer would look like deleted mailboxes.  A LIST response outside our
 * own LIST is the server telling us that mailboxes changed (NOTIFY's
 * MailboxName event, RFC 5465 §5.4): the mode lists again at its next rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connection-private.h"
#include "imap-utf7.h"
#include "log.h"

/* Mailboxes one listing may return (as many as an account's state file
 * keeps, state.h): a server that sends more is cut off
 * there (logged once per listing), so that it cannot make us hold or watch
 * without bound (docs/EVENTS.md: Mailbox patterns). */
#define LISTER_MAX_MAILBOXES 1000
/* Renames remembered between two listings; beyond, a rename is taken as a
 * delete and a create (its mail is reported as new once). */
#define LISTER_MAX_RENAMES 32

struct ConnectionLister {
        ConnectionListFn fn;
        ConnectionListed *got;
        size_t n, cap;
        size_t next;                    /* the pattern whose LIST is in flight (index in the account's mailboxes) */
        bool failed, truncated;
        bool relist;                    /* the server said the list changed */
        ConnectionRenamed renamed[LISTER_MAX_RENAMES];
        size_t n_renamed;
        ConnectionDoneFn then;
};

static void renamed_done(ConnectionLister *l) {
        for (size_t i = 0; i < l->n_renamed; i++) {
                free(l->renamed[i].from);
                free(l->renamed[i].to);
        }
        l->n_renamed = 0;
}

static void listed_done(ConnectionLister *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->got[i].name);
        l->got = mfree(l->got);
        l->n = l->cap = 0;
        l->failed = l->truncated = false;
}

void connection_lister_reset(Connection *c) {
        if (!c->lister)
                return;
        listed_done(c->lister);
        renamed_done(c->lister);
        c->lister->then = NULL;
        c->lister->relist = false;
}

void connection_lister_free(Connection *c) {
        if (!c->lister)
                return;
        listed_done(c->lister);
        renamed_done(c->lister);
        c->lister = mfree(c->lister);
}

int connection_set_lister(Connection *c, ConnectionListFn fn) {
        if (!c->lister) {
                c->lister = calloc(1, sizeof(*c->lister));
                if (!c->lister)
                        return -ENOMEM;
        }
        c->lister->fn = fn;
        return 0;
}

bool connection_relist_wanted(const Connection *c) {
        return c->lister && c->lister->relist;
}

void connection_want_relist(Connection *c) {
        if (c->lister)
                c->lister->relist = true;
}

static int on_list_done(Connection *c, const ImapResponse *r, bool ok, const char *text);

/* The LIST for the next pattern, or hand the result over. */
static int list_next(Connection *c) {
        ConnectionLister *l = c->lister;
        const CfgAccount *a = c->account;
        _cleanup_free_ char *wire = NULL;
        ConnectionDoneFn then;
        ImapCmd *cmd = NULL;
        int r;

        while (l->next < a->n_mailboxes && !a->mailboxes[l->next].pattern)
                l->next++;
        if (l->next < a->n_mailboxes) {
                r = imap_utf7_encode(a->mailboxes[l->next].name, strlen(a->mailboxes[l->next].name), &wire);
                if (r >= 0)
                        r = imap_cmd_new("LIST", &cmd);
                if (r >= 0)
                        r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ASTRING, "");
                if (r >= 0)
                        r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_LIST_MAILBOX, wire);
                if (r < 0) {
                        imap_cmd_free(cmd);
                        return connection_fail(c, r, "cannot build LIST");
                }
                r = connection_send(c, cmd, on_list_done);
                if (r < 0)
                        return connection_fail_session(c, r);
                connection_set_state(c, CONNECTION_LISTING);
                return 0;
        }
        then = l->then;
        l->then = NULL;
        if (l->truncated)
                log_warning("%s: the server listed more than %u mailboxes for the patterns; watching the first %u",
                            connection_name(c), LISTER_MAX_MAILBOXES, LISTER_MAX_MAILBOXES);
        if (!l->failed && l->fn) {
                r = l->fn(c, l->got, l->n, l->renamed, l->n_renamed, c->userdata);
                listed_done(l);
                renamed_done(l);
                if (r > 0) {
                        /* The owner replaces this connection (its mailboxes changed): nothing more. */
                        connection_rest(c, USEC_INFINITY);
                        return 0;
                }
        } else
                listed_done(l);
        return then(c, NULL, true, "");
}

static int on_list_done(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        ConnectionLister *l = c->lister;

        (void) r;
        if (!ok) {
                /* The mailboxes watched stay as they are until a listing succeeds. */
                log_warning("%s: LIST %s refused: %s", connection_name(c), c->account->mailboxes[l->next].name,
                            text);
                l->failed = true;
        }
        l->next++;
        return list_next(c);
}

int connection_list(Connection *c, ConnectionDoneFn then) {
        if (!c->lister || c->account->n_patterns == 0)
                return then(c, NULL, true, "");
        listed_done(c->lister);
        c->lister->relist = false;
        c->lister->next = 0;
        c->lister->then = then;
        return list_next(c);
}

/* The OLDNAME extended data item of a LIST (RFC 5465 §5.4, in RFC 5258's
 * mbox-list-extended): the name before a rename, or NULL. */
static const ImapArg *list_oldname(const ImapResponse *resp) {
        const ImapArg *ext, *a;

        if (resp->n_args != 4 || !resp->list.mailbox)
                return NULL;
        ext = imap_arg_next(resp->list.mailbox);
        if (!ext || ext->type != IMAP_ARG_LIST)
                return NULL;
        a = imap_arg_list_first(ext);
        for (uint32_t i = 0; a && i + 1 < ext->n; i += 2) {
                const ImapArg *v = imap_arg_next(a);
                const ImapArg *o = v && v->type == IMAP_ARG_LIST && v->n == 1 ? imap_arg_list_first(v) : NULL;

                if (!v)
                        break;
                if (o && imap_arg_is_string(o) && imap_arg_is_string(a) && a->len == 7 &&
                    strncasecmp(a->str, "OLDNAME", 7) == 0)
                        return o;
                a = imap_arg_next(v);
        }
        return NULL;
}

/* Remember a rename the server pushed, for the next listing's owner call. */
static void note_rename(ConnectionLister *l, const ImapResponse *resp) {
        const ImapArg *old = list_oldname(resp), *mb = resp->list.mailbox;
        char *from = NULL, *to = NULL;

        if (!old || !mb || l->n_renamed >= LISTER_MAX_RENAMES || memchr(old->str, 0, old->len) ||
            memchr(mb->str, 0, mb->len))
                return;
        if (imap_utf7_decode(old->str, old->len, &from) < 0 || imap_utf7_decode(mb->str, mb->len, &to) < 0 ||
            /* The old name is logged ("renamed from"): the rule of connection_on_list(). */
            !log_text_printable(from, strlen(from)) || !log_text_printable(to, strlen(to))) {
                free(from);
                free(to);
                return;
        }
        l->renamed[l->n_renamed++] = (ConnectionRenamed) { from, to };
}

void connection_on_list(Connection *c, const ImapResponse *resp) {
        ConnectionLister *l = c->lister;
        const ImapArg *mb = resp->list.mailbox;
        char *name = NULL;

        /* Mailbox data before login is a protocol violation (docs/SECURITY.md C01):
         * not even a reason to list again. */
        if (!l || !c->s || !IN_SET(imap_session_state(c->s), IMAP_STATE_AUTH, IMAP_STATE_SELECTED, IMAP_STATE_IDLING))
                return;
        if (c->state != CONNECTION_LISTING) {
                /* Not an answer to our LIST: the list changed (RFC 5465 §5.4).  In
                 * IDLE, end it: the mode lists at its next rest (a flood of these
                 * costs one DONE and one listing, not one per response). */
                l->relist = true;
                note_rename(l, resp);
                if (c->state == CONNECTION_IDLING && c->s) {
                        int r = connection_idle_done(c, "the mailbox list changed");

                        if (r < 0)
                                (void) connection_fail_session(c, r);
                }
                return;
        }
        if (!mb || !imap_arg_is_string(mb) || !imap_response_list_selectable(resp))
                return;
        if (l->n >= LISTER_MAX_MAILBOXES) {
                l->truncated = true;
                return;
        }
        /* A name that is not canonical mUTF-7 (RFC 3501 §5.1.3) could not be
         * sent back as it came: skipped, at debug level (a server must not make
         * us log per response). */
        if (memchr(mb->str, 0, mb->len) || imap_utf7_decode(mb->str, mb->len, &name) < 0) {
                log_debug("%s: LIST returned a name that is not modified UTF-7, skipped", connection_name(c));
                return;
        }
        /* Canonical mUTF-7 can still encode CR, LF, ESC or a bidi override ("&AAo-" is
         * LF).  The name would reach log lines and STATUS= (watch_name(), not escaped:
         * configured names are trusted) and hooks (IMAPIDLED_MAILBOX, %m) as it is:
         * skipped like the above (docs/SECURITY.md M03, I05). */
        if (!log_text_printable(name, strlen(name))) {
                log_debug("%s: LIST returned a name with control or format characters, skipped",
                          connection_name(c));
                free(name);
                return;
        }
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                ConnectionListed *g = reallocarray(l->got, cap, sizeof(*g));

                if (!g) {
                        free(name);
                        l->failed = true;
                        return;
                }
                l->got = g;
                l->cap = cap;
        }
        l->got[l->n++] = (ConnectionListed) { .name = name, .delimiter = resp->list.delimiter };
}

/* SPDX-License-Identifier: MIT */
/*
 * mode-poll.c: the poll mode, for the mailboxes beyond an account's
 * max_connections (issue 6: the budget), no IDLE (connection.h,
 * connection-private.h):
 *
 *   start/wake: a STATUS round (POLLING, one mailbox after the other,
 *               RFC 3501 §6.3.10); each answer goes to watch_selected()
 *   then:       a fetch some mailbox asked for -> EXAMINE (SELECTING)
 *               -> UID FETCH (FETCHING) -> CLOSE (CLOSING) -> the next one;
 *               none -> RESTING until the next round (status_interval)
 *
 * The notify mode is the same machine with the server pushing the rounds
 * (RFC 5465, docs/NOTIFY.md): one connection for every mailbox of the account.
 *
 *   start:      NOTIFY SET STATUS (NOTIFY_SETTING): the server answers with a
 *               STATUS for each mailbox (§3.1, the catch-up), then OK
 *   then:       a fetch asked for -> EXAMINE -> UID FETCH -> CLOSE, as above;
 *               none -> IDLE (the core's, with re-IDLE and the liveness probe),
 *               during which the server pushes a STATUS for each change
 *   no NOTIFY, NOTIFY refused, NOTIFICATIONOVERFLOW: UNSUITED, and the
 *               manager falls back to IDLE per mailbox
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connection-private.h"
#include "log.h"

static int poll_work(Connection *c);
static int poll_resume(Connection *c);
static int notify_set(Connection *c);

static int on_status_done(Connection *c, const ImapResponse *r, bool ok, const char *text);
static int on_relisted(Connection *c, const ImapResponse *r, bool ok, const char *text);

/* The next STATUS of the round, or the round is over. */
static int poll_step(Connection *c) {
        ImapCmd *cmd = NULL;
        int r;

        if (c->m.poll.next >= c->m.poll.n) {
                if (c->m.poll.verifying) {
                        c->m.poll.verifying = false;
                        c->m.poll.verified_at = connection_now(c);
                        /* Twice: a push may be on its way when a round sees the change
                         * first (servers batch, Dovecot by half a second). */
                        if (c->m.poll.missed && !c->m.poll.pushed) {
                                if (c->m.poll.suspect)
                                        return connection_unsuited(c, "NOTIFY reported nothing of changes STATUS "
                                                                   "rounds found: falling back to IDLE per mailbox");
                                c->m.poll.suspect = true;
                        }
                        c->m.poll.missed = false;
                        return poll_work(c);
                }
                if (!c->m.poll.polled_once || c->backoff_usec)
                        log_info("%s: polling every %.0f s", connection_name(c),
                                 (double) c->account->status_interval_usec / USEC_PER_SEC);
                c->m.poll.polled_once = true;
                connection_settle(c);
                return poll_work(c);
        }
        r = imap_cmd_new("STATUS", &cmd);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ASTRING, watch_mailbox_wire(c->m.poll.watches[c->m.poll.next]));
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, imap_session_has_capability(c->s, "CONDSTORE") ?
                                     "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)" : "(MESSAGES UIDNEXT UIDVALIDITY)");
        if (r < 0) {
                imap_cmd_free(cmd);
                return connection_fail(c, r, "cannot build STATUS");
        }
        r = connection_send(c, cmd, on_status_done);
        if (r < 0)
                return connection_fail_session(c, r);
        connection_set_state(c, CONNECTION_POLLING);
        return 0;
}

static int on_status_done(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        PollRequest *q = &c->m.poll.req[c->m.poll.next];
        const Watch *w = c->m.poll.watches[c->m.poll.next];

        (void) r;
        /* Once per mailbox, not every round: it is a name the server does not have until the
         * user changes the configuration, and the other mailboxes are still polled. */
        if (!ok && !q->refused)
                log_error("%s: STATUS %s refused (%s); 'imapidled --list-mailboxes=%s' lists the mailboxes "
                          "the server has", connection_name(c), watch_name(w), text, c->account->name);
        else if (!ok)
                log_debug("%s: STATUS %s refused again: %s", connection_name(c), watch_name(w), text);
        q->refused = !ok;
        c->m.poll.next++;
        return poll_step(c);
}

static int on_examined(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        Watch *w = c->fetch.watch;

        (void) r;
        if (!ok) {
                /* This mailbox only: the others are still polled. */
                log_warning("%s: cannot open %s: %s", connection_name(c), watch_name(w), text);
                fetch_reset(&c->fetch);
                watch_fetch_done(w, -EIO, NULL);
                if (!c->s)
                        return 0;
                return poll_work(c);
        }
        return fetch_send(c);
}

/* The EXAMINE with QRESYNC of a catch-up is answered: the expunges while away
 * by UID (watch_selected_qresync()), or, refused, the count rule with the
 * STATUS numbers. */
static int on_qresync_examined(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        size_t i = c->m.poll.qresync_at;
        Watch *w;

        (void) r;
        if (i >= c->m.poll.n)
                return poll_work(c);
        w = c->m.poll.watches[i];
        if (ok && c->sel_qresync) {
                static const WatchUidSet none = {};
                _cleanup_free_ WatchUidSet *gone = TAKE_PTR(c->sel_vanished);

                watch_selected_qresync(w, c->sel_exists, c->sel_uidvalidity, c->sel_uidnext, c->sel_highestmodseq,
                                       gone ?: &none);
        } else {
                const PollRequest *q = &c->m.poll.req[i];

                if (!ok)
                        log_warning("%s: cannot open %s: %s", connection_name(c), watch_name(w), text);
                watch_selected(w, q->st_exists, q->st_uidvalidity, q->st_uidnext, q->st_modseq, false);
        }
        if (!c->s)
                return 0;
        return poll_resume(c);
}

/* A fetch some polled mailbox asked for: EXAMINE it (each fetch EXAMINEs
 * afresh), UID FETCH, CLOSE; else wait for the next round.  First the
 * catch-ups that want QRESYNC. */
static int poll_work(Connection *c) {
        for (size_t i = 0; i < c->m.poll.n; i++) {
                PollRequest *q = &c->m.poll.req[i];

                if (!q->qresync)
                        continue;
                q->qresync = false;
                c->m.poll.qresync_at = i;
                return connection_examine(c, c->m.poll.watches[i], true, on_qresync_examined);
        }
        for (size_t i = 0; i < c->m.poll.n; i++) {
                PollRequest *q = &c->m.poll.req[i];

                if (!q->wanted)
                        continue;
                q->wanted = false;
                fetch_want(&c->fetch, c->m.poll.watches[i], &(WatchFetchRequest) {
                        .floor = q->floor,
                        .details_max = q->details_max,
                });
                return connection_examine(c, c->m.poll.watches[i], false, on_examined);
        }
        if (c->m.poll.notify && connection_relist_wanted(c))
                /* The server said mailboxes were created, deleted or renamed. */
                return connection_list(c, on_relisted);
        if (c->m.poll.notify) {
                /* Some servers accept NOTIFY SET and then say nothing (Dovecot without
                 * mailbox_list_index, for the mailboxes not selected): once per
                 * idle_interval, ask each mailbox with STATUS.  A change found that
                 * way by a connection that never got a STATUS pushed means the
                 * server does not notify: fall back (docs/NOTIFY.md). */
                if (connection_now(c) - c->m.poll.verified_at >= c->account->idle_interval_usec) {
                        c->m.poll.verifying = true;
                        c->m.poll.next = 0;
                        return poll_step(c);
                }
                return connection_idle(c);
        }
        if (connection_caught_up(c))
                return 0;
        connection_rest(c, c->account->status_interval_usec);
        return 0;
}

static int on_closed(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        (void) r;
        (void) ok;
        (void) text;
        c->selected = NULL;
        return poll_work(c);
}

/* After the fetch: CLOSE, which on an EXAMINEd mailbox expunges nothing (RFC 3501 §6.4.2). */
static int poll_resume(Connection *c) {
        int r;

        if (!c->selected)
                return poll_work(c);
        r = connection_send_simple(c, "CLOSE", on_closed);
        if (r < 0)
                return connection_fail_session(c, r);
        connection_set_state(c, CONNECTION_CLOSING);
        return 0;
}

/* The account's patterns listed (lister.c; at once where there are none):
 * the STATUS round, or NOTIFY SET. */
static int on_listed(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        (void) r;
        (void) ok;
        (void) text;
        c->m.poll.next = 0;
        if (c->m.poll.notify)
                return notify_set(c);
        return poll_step(c);
}

static int poll_start(Connection *c) {
        if (c->m.poll.notify && !imap_session_has_capability(c->s, "NOTIFY"))
                return connection_unsuited(c, "server has no NOTIFY: falling back to IDLE per mailbox");
        for (size_t i = 0; i < c->m.poll.n; i++)
                connection_attach(c, c->m.poll.watches[i]);
        return connection_list(c, on_listed);
}

/* RESTING: the next STATUS round (after listing the patterns again: without
 * NOTIFY, that is how a new mailbox is found); in the notify mode, IDLE again
 * after IDLE ended too soon (the core's pause, docs/SECURITY.md H05). */
static int poll_wake(Connection *c) {
        if (c->m.poll.notify)
                return poll_work(c);
        return connection_list(c, on_listed);
}

static int on_relisted(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        (void) r;
        (void) ok;
        (void) text;
        return poll_work(c);
}

/* The index of the watch of the mailbox a server names, or -1.  A hash: a
 * STATUS per change must not walk every mailbox of the account. */
static ssize_t poll_lookup(const Connection *c, const ImapArg *name) {
        char key[1024];
        void *v;

        if (!name || !imap_arg_is_string(name) || name->len >= sizeof(key) || memchr(name->str, 0, name->len))
                return -1;
        /* RFC 3501 §5.1: INBOX in any case is INBOX. */
        if (name->len == 5 && strncasecmp(name->str, "INBOX", 5) == 0)
                memcpy(key, "INBOX", 6);
        else {
                memcpy(key, name->str, name->len);
                key[name->len] = 0;
        }
        v = hashmap_get(c->m.poll.by_name, key);
        return v ? (ssize_t) ((uintptr_t) v - 1) : -1;
}

/* A catch-up STATUS shows fewer messages than the known ones and the UIDs
 * handed out since could explain (RFC 3501 §2.3.1.1), the UIDVALIDITY is the
 * saved one, and the watch can say what a QRESYNC parameter needs. */
static bool catchup_lost(const Watch *w, const ImapResponse *resp, uint32_t uidvalidity) {
        uint32_t v, floor, known, messages, uidnext;
        uint64_t modseq;

        if (!watch_qresync(w, &v, &modseq, &floor) || v != uidvalidity ||
            !watch_known(w, &v, &floor, &known, &modseq))
                return false;
        messages = (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_MESSAGES];
        uidnext = (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_UIDNEXT];
        return (uint64_t) messages < (uint64_t) known + (uidnext > floor ? uidnext - floor : 0);
}

static void poll_status(Connection *c, const ImapResponse *resp) {
        const uint32_t need = 1u << IMAP_STATUS_ITEM_MESSAGES | 1u << IMAP_STATUS_ITEM_UIDNEXT;
        ssize_t i = poll_lookup(c, resp->mbstatus.mailbox);
        uint32_t uidvalidity = 0, known_next, known_exists;
        uint64_t known_modseq;
        Watch *w;

        if (i < 0)
                return;         /* not one of ours (docs/SECURITY.md: a server may send any STATUS) */
        w = c->m.poll.watches[i];
        if (resp->mbstatus.present & 1u << IMAP_STATUS_ITEM_UIDVALIDITY)
                uidvalidity = (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_UIDVALIDITY];
        else if (c->m.poll.notify && c->m.poll.polled_once)
                /* RFC 5465 (MessageNew, MessageExpunge): a pushed STATUS need not
                 * repeat UIDVALIDITY; the one NOTIFY SET STATUS gave still holds. */
                (void) watch_known(w, &uidvalidity, &known_next, &known_exists, &known_modseq);
        if ((resp->mbstatus.present & need) != need || uidvalidity == 0) {
                /* Debug only: a server must not be able to make us log per response. */
                log_debug("%s: STATUS for %s without MESSAGES, UIDNEXT or UIDVALIDITY, ignored", connection_name(c),
                          watch_name(w));
                return;
        }
        if (c->m.poll.notify && c->m.poll.polled_once) {
                if (c->state != CONNECTION_POLLING)
                        c->m.poll.pushed = true;
                else if (c->m.poll.verifying) {
                        uint32_t v, next, known;
                        uint64_t modseq;

                        if (watch_known(w, &v, &next, &known, &modseq) &&
                            (known != resp->mbstatus.value[IMAP_STATUS_ITEM_MESSAGES] ||
                             resp->mbstatus.value[IMAP_STATUS_ITEM_UIDNEXT] > next))
                                c->m.poll.missed = true;
                }
        }
        /* Messages gone while away, and the server can say which (RFC 7162 §3.2.5):
         * EXAMINE with QRESYNC before the catch-up is reported (poll_work()).  Only
         * at the catch-up: a live expunge is reported from the count, without a
         * round trip. */
        if (!c->m.poll.polled_once && c->qresync && catchup_lost(w, resp, uidvalidity)) {
                c->m.poll.req[i].qresync = true;
                c->m.poll.req[i].st_exists = (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_MESSAGES];
                c->m.poll.req[i].st_uidvalidity = uidvalidity;
                c->m.poll.req[i].st_uidnext = (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_UIDNEXT];
                c->m.poll.req[i].st_modseq = resp->mbstatus.present & 1u << IMAP_STATUS_ITEM_HIGHESTMODSEQ ?
                                             resp->mbstatus.value[IMAP_STATUS_ITEM_HIGHESTMODSEQ] : 0;
                return;
        }
        /* The first round of a connection compares with what we knew
         * (catch-up); later rounds see what happened since the last. */
        watch_selected(w, (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_MESSAGES], uidvalidity,
                       (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_UIDNEXT],
                       resp->mbstatus.present & 1u << IMAP_STATUS_ITEM_HIGHESTMODSEQ ?
                       resp->mbstatus.value[IMAP_STATUS_ITEM_HIGHESTMODSEQ] : 0, c->m.poll.polled_once);
}

/* ---- the notify mode ---- */

static int on_notify_set(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        (void) r;
        if (!ok) {
                log_warning("%s: NOTIFY SET refused: %s", connection_name(c), text);
                return connection_unsuited(c, "NOTIFY refused: falling back to IDLE per mailbox");
        }
        if (!c->m.poll.polled_once || c->backoff_usec)
                log_info("%s: watching with NOTIFY", connection_name(c));
        /* The STATUS of every mailbox came before the OK (RFC 5465 §3.1): that was
         * the catch-up; from now on a STATUS is a live change. */
        c->m.poll.polled_once = true;
        c->m.poll.pushed = c->m.poll.verifying = c->m.poll.missed = c->m.poll.suspect = false;
        c->m.poll.verified_at = connection_now(c);
        connection_settle(c);
        return poll_work(c);
}

/* One event group per mailbox, "(mailboxes NAME (MessageNew MessageExpunge
 * [FlagChange]))" (RFC 5465 §6 and §8: a one-or-more-mailbox may be a single
 * name, which lets the engine quote each name as an astring), with the
 * STATUS indicator (§3.1) for the catch-up.  FlagChange needs the other two
 * ("Event Types") and is asked for only where a mailbox has an on_flags hook. */
static int notify_set(Connection *c) {
        ImapCmd *cmd = NULL;
        int r;

        r = imap_cmd_new("NOTIFY", &cmd);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, "SET STATUS");
        for (size_t i = 0; r >= 0 && i < c->m.poll.n; i++) {
                Watch *w = c->m.poll.watches[i];

                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, "(mailboxes");
                if (r >= 0)
                        r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ASTRING, watch_mailbox_wire(w));
                if (r >= 0)
                        r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, watch_wants_flags(w) ?
                                             (c->lister ? "(MessageNew MessageExpunge FlagChange MailboxName))" :
                                              "(MessageNew MessageExpunge FlagChange))") :
                                             (c->lister ? "(MessageNew MessageExpunge MailboxName))" :
                                              "(MessageNew MessageExpunge))"));
        }
        /* With patterns: mailboxes created, deleted or renamed anywhere in the
         * personal namespace come as LIST responses (§5.4; "personal", §6), and
         * the lister lists the patterns again. */
        if (r >= 0 && c->lister)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, "(personal (MailboxName))");
        if (r < 0) {
                imap_cmd_free(cmd);
                return connection_fail(c, r, "cannot build NOTIFY SET");
        }
        r = connection_send(c, cmd, on_notify_set);
        if (r < 0)
                return connection_fail_session(c, r);
        connection_set_state(c, CONNECTION_NOTIFY_SETTING);
        return 0;
}

/* Untagged OK [NOTIFICATIONOVERFLOW] (RFC 5465, "Notification Overflow"): the server stopped
 * notifying (as after NOTIFY NONE); events may have been lost. */
static void poll_status_response(Connection *c, const ImapResponse *r) {
        if (!c->m.poll.notify || r->code.name.len != 20 || strncmp(r->code.name.ptr, "NOTIFICATIONOVERFLOW", 20) != 0)
                return;
        (void) connection_unsuited(c, "NOTIFICATIONOVERFLOW: falling back to IDLE per mailbox");
}

static int poll_fetch(Connection *c, Watch *w, const WatchFetchRequest *req) {
        size_t i;

        /* Each fetch EXAMINEs afresh: a sequence number from before means nothing. */
        if (req->max_seq > 0)
                return -EOPNOTSUPP;
        for (i = 0; i < c->m.poll.n && c->m.poll.watches[i] != w; i++)
                ;
        if (i >= c->m.poll.n)
                return -EINVAL;
        if (c->m.poll.req[i].wanted)
                return -EBUSY;
        c->m.poll.req[i].wanted = true;
        c->m.poll.req[i].floor = req->floor;
        c->m.poll.req[i].details_max = MIN(req->details_max, 1000u);
        if (c->state == CONNECTION_RESTING) {
                /* Waiting for the next round: now. */
                (void) poll_work(c);
                connection_flush(c);
        } else if (c->state == CONNECTION_IDLING) {
                /* The notify mode: DONE; resume() does the fetch after the OK. */
                int r = connection_idle_done(c, "fetch for a watch");
                if (r < 0) {
                        c->m.poll.req[i].wanted = false;
                        return r;
                }
                connection_flush(c);
        }
        /* IDLE_STARTING: DONE once "+" came (the core's on_idling() asks has_work()). */
        return 0;
}

/* The notify mode only: without IDLE the pushed STATUS responses would wait
 * for our next command; IDLE per mailbox does better. */
static int poll_idle_refused(Connection *c, const char *text) {
        (void) text;
        return connection_unsuited(c, "NOTIFY without IDLE: falling back to IDLE per mailbox");
}

static bool poll_has_work(const Connection *c) {
        for (size_t i = 0; i < c->m.poll.n; i++)
                if (c->m.poll.req[i].wanted || c->m.poll.req[i].qresync)
                        return true;
        return false;
}

static void poll_reset(Connection *c) {
        for (size_t i = 0; i < c->m.poll.n; i++) {
                c->m.poll.req[i].wanted = c->m.poll.req[i].qresync = false;
                watch_set_fetcher(c->m.poll.watches[i], NULL, NULL);
        }
}

static const char *poll_name(const Connection *c) {
        return c->m.poll.name;
}

static void poll_free(Connection *c) {
        hashmap_free(c->m.poll.by_name);
        free(c->m.poll.watches);
        free(c->m.poll.req);
        free(c->m.poll.name);
}

const ConnectionMode connection_mode_poll = {
        .kind = "poll",
        .qresync = true,
        .name = poll_name,
        .start = poll_start,
        .resume = poll_resume,
        .wake = poll_wake,
        .status = poll_status,
        .status_response = poll_status_response,
        .fetch = poll_fetch,
        .has_work = poll_has_work,
        .idle_refused = poll_idle_refused,
        .reset = poll_reset,
        .free = poll_free,
};

/* The same functions: c->m.poll.notify decides. */
const ConnectionMode connection_mode_notify = {
        .kind = "notify",
        .qresync = true,
        .name = poll_name,
        .start = poll_start,
        .resume = poll_resume,
        .wake = poll_wake,
        .status = poll_status,
        .status_response = poll_status_response,
        .fetch = poll_fetch,
        .has_work = poll_has_work,
        .idle_refused = poll_idle_refused,
        .reset = poll_reset,
        .free = poll_free,
};

static int new_multi(sd_event *e, const CfgAccount *account, ConnTlsCtx *tls, Ramp *ramp, Timers *timers,
                     Watch *const *watches, size_t n, bool notify, ConnectionStateFn on_state, void *userdata,
                     Connection **ret) {
        _cleanup_(connection_freep) Connection *c = NULL;
        int r;

        r = connection_new(e, account, tls, ramp, timers, NULL, on_state, userdata, &c);
        if (r < 0)
                return r;
        c->mode = notify ? &connection_mode_notify : &connection_mode_poll;
        c->m.poll = (typeof(c->m.poll)) { .notify = notify };
        c->m.poll.watches = calloc(MAX(n, 1u), sizeof(Watch *));
        c->m.poll.req = calloc(MAX(n, 1u), sizeof(PollRequest));
        if (!c->m.poll.watches || !c->m.poll.req)
                return -ENOMEM;
        r = hashmap_new(&c->m.poll.by_name);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(c->m.poll.watches, watches, n * sizeof(Watch *));
        c->m.poll.n = n;
        for (size_t i = 0; i < n; i++) {
                const char *wire = watch_mailbox_wire(watches[i]);

                r = hashmap_put(c->m.poll.by_name, strcasecmp(wire, "INBOX") == 0 ? "INBOX" : wire,
                                (void *) (uintptr_t) (i + 1));
                if (r < 0 && r != -EEXIST)
                        return r;
        }
        if (notify)
                r = asprintf(&c->m.poll.name, "%s (%zu mailbox%s, NOTIFY)", account->name, n, n == 1 ? "" : "es");
        else
                r = asprintf(&c->m.poll.name, "%s (%zu mailbox%s polled)", account->name, n, n == 1 ? "" : "es");
        if (r < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

int connection_new_poller(sd_event *e, const CfgAccount *account, ConnTlsCtx *tls, Ramp *ramp, Timers *timers,
                          Watch *const *watches, size_t n, ConnectionStateFn on_state, void *userdata,
                          Connection **ret) {
        return new_multi(e, account, tls, ramp, timers, watches, n, false, on_state, userdata, ret);
}

int connection_new_notifier(sd_event *e, const CfgAccount *account, ConnTlsCtx *tls, Ramp *ramp, Timers *timers,
                            Watch *const *watches, size_t n, ConnectionStateFn on_state, void *userdata,
                            Connection **ret) {
        return new_multi(e, account, tls, ramp, timers, watches, n, true, on_state, userdata, ret);
}

size_t connection_polled(const Connection *c) {
        return c->mode == &connection_mode_poll ? c->m.poll.n : 0;
}

size_t connection_mailboxes(const Connection *c) {
        return c->mode == &connection_mode_idle ? 1 : c->m.poll.n;
}

bool connection_notifies(const Connection *c) {
        return c->mode == &connection_mode_notify;
}

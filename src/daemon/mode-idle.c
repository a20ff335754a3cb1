/* SPDX-License-Identifier: MIT */
/*
 * mode-idle.c: the idle mode, one mailbox per connection (connection.h,
 * connection-private.h):
 *
 *   start:  [ENABLE QRESYNC, the core] EXAMINE (SELECTING), with the QRESYNC
 *           parameter where the watch has a saved state (RFC 7162 §3.2.5)
 *           -> watch_selected() or watch_selected_qresync() -> resume
 *   resume: a fetch asked for -> UID FETCH (FETCHING) -> resume
 *           else IDLE (IDLE_STARTING -> IDLING); the core ends it with DONE
 *           (IDLE_ENDING) for a fetch, a probe or idle_interval, and calls
 *           resume again after the OK
 *   no IDLE (not offered, or refused with NO, docs/SECURITY.md H06):
 *           RESTING, NOOP every minute (NOOPING) -> resume
 *   out of sync (a response contradicted the watch's numbers, watch.h,
 *           docs/SECURITY.md H07): end IDLE as for a fetch, then EXAMINE
 *           again (SELECTING) -> watch_selected(), the catch-up rules ->
 *           resume; more than REEXAMINE_MAX times on one session: the
 *           connection fails and is tried again after the backoff
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "connection-private.h"
#include "log.h"

#define NOOP_POLL_USEC (60 * USEC_PER_SEC)
/* EXAMINEs for being out of sync per session.  Each costs the server a round trip it chose
 * to cause, but one that contradicts itself after every EXAMINE would keep us in a loop. */
#define REEXAMINE_MAX 3U

static int on_examined(Connection *c, const ImapResponse *r, bool ok, const char *text);

/* Count the mailbox afresh: its numbers go through watch_selected() as on a reconnect. */
static int reexamine(Connection *c) {
        c->m.idle.reexamine = false;
        if (++c->m.idle.reexamined > REEXAMINE_MAX)
                return connection_fail(c, -EPROTO, "the server's responses keep contradicting each other");
        log_debug("%s: out of sync, EXAMINE again", connection_name(c));
        return connection_examine(c, c->m.idle.watch, true, on_examined);
}

static int idle_resume(Connection *c) {
        if (c->fetch.step == FETCH_STEP_WANTED)
                return fetch_send(c);
        if (c->m.idle.reexamine)
                return reexamine(c);
        if (c->m.idle.noop_only) {
                connection_rest(c, NOOP_POLL_USEC);
                return 0;
        }
        return connection_idle(c);
}

static int on_examined(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        Watch *w = c->m.idle.watch;

        (void) r;
        if (!ok) {
                /* Usually a name the server does not have (RFC 5530 NONEXISTENT): a
                 * configuration error, which trying again every few seconds does not fix. */
                log_error("%s: the server refused to open mailbox \"%s\" (%s); "
                          "'imapidled --list-mailboxes=%s' lists those it has", connection_name(c),
                          watch_mailbox(w), text, c->account->name);
                c->mailbox_missing = true;
                return connection_fail(c, -ENOENT, "EXAMINE refused");
        }
        c->mailbox_missing = false;
        connection_attach(c, w);
        if (c->sel_qresync) {
                /* No VANISHED (EARLIER) at all: nothing was expunged since (RFC 7162 §3.2.5). */
                static const WatchUidSet none = {};
                _cleanup_free_ WatchUidSet *gone = TAKE_PTR(c->sel_vanished);

                watch_selected_qresync(w, c->sel_exists, c->sel_uidvalidity, c->sel_uidnext,
                                       c->sel_highestmodseq, gone ?: &none);
        } else
                watch_selected(w, c->sel_exists, c->sel_uidvalidity, c->sel_uidnext, c->sel_highestmodseq,
                               false);
        if (!c->s)
                return 0;
        return idle_resume(c);
}

static int idle_start(Connection *c) {
        return connection_examine(c, c->m.idle.watch, true, on_examined);
}

static int on_noop_done(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        (void) r;
        (void) ok;
        (void) text;
        return idle_resume(c);
}

/* RESTING: after a NOOP poll interval, or the pause after IDLE ended too soon. */
static int idle_wake(Connection *c) {
        int r;

        if (!c->m.idle.noop_only)
                return idle_resume(c);
        r = connection_send_simple(c, "NOOP", on_noop_done);
        if (r < 0)
                return connection_fail_session(c, r);
        connection_set_state(c, CONNECTION_NOOPING);
        return 0;
}

static int idle_refused(Connection *c, const char *text) {
        if (text)
                log_notice("%s: IDLE refused (%s), polling every %" PRIu64 "s", connection_name(c), text,
                           (uint64_t) (NOOP_POLL_USEC / USEC_PER_SEC));
        else
                log_notice("%s: server has no IDLE, polling every %" PRIu64 "s", connection_name(c),
                           (uint64_t) (NOOP_POLL_USEC / USEC_PER_SEC));
        c->m.idle.noop_only = true;
        connection_settle(c);
        return idle_resume(c);
}

static void idle_status(Connection *c, const ImapResponse *r) {
        (void) c;
        (void) r;       /* not asked for */
}

static int idle_fetch(Connection *c, Watch *w, const WatchFetchRequest *req) {
        int r;

        if (fetch_busy(&c->fetch))
                return -EBUSY;
        fetch_want(&c->fetch, w, req);
        switch (c->state) {
        case CONNECTION_IDLING:
                /* RFC 2177: DONE, then the command; resume() sends it after the OK. */
                r = connection_idle_done(c, "fetch for the watch");
                if (r < 0) {
                        fetch_reset(&c->fetch);
                        return r;
                }
                connection_flush(c);
                return 0;
        case CONNECTION_RESTING:
                /* Waiting to poll (no IDLE) or to IDLE again (H05): now. */
                (void) fetch_send(c);
                connection_flush(c);
                return 0;
        case CONNECTION_SELECTING:      /* inside watch_selected(), or EXAMINE in flight */
        case CONNECTION_NOOPING:        /* resume() after the reply */
        case CONNECTION_FETCHING:       /* inside watch_fetch_done(): resume() follows */
        case CONNECTION_IDLE_STARTING:  /* DONE once "+" came (the core's on_idling()) */
        case CONNECTION_IDLE_ENDING:    /* resume() after the OK */
                return 0;
        default:
                fetch_reset(&c->fetch);
                return -ENOTCONN;
        }
}

static bool idle_has_work(const Connection *c) {
        return c->fetch.step == FETCH_STEP_WANTED || c->m.idle.reexamine;
}

static void idle_out_of_sync(Connection *c) {
        int r;

        c->m.idle.reexamine = true;
        switch (c->state) {
        case CONNECTION_IDLING:
                /* RFC 2177: DONE; resume() EXAMINEs after the OK. */
                r = connection_idle_done(c, "out of sync");
                if (r < 0)
                        log_debug("%s: cannot end IDLE: %s", connection_name(c), strerror(-r));
                connection_flush(c);
                break;
        case CONNECTION_RESTING:
                /* Waiting to poll (no IDLE) or to IDLE again (H05): now. */
                (void) idle_resume(c);
                connection_flush(c);
                break;
        default:
                /* IDLE_STARTING: DONE once "+" came (the core's on_idling() asks has_work());
                 * IDLE_ENDING, FETCHING, NOOPING: resume() follows the reply. */
                break;
        }
}

static void idle_status_response(Connection *c, const ImapResponse *r) {
        (void) c;
        (void) r;
}

static void idle_reset(Connection *c) {
        c->m.idle.reexamine = false;
        c->m.idle.reexamined = 0;
        watch_set_fetcher(c->m.idle.watch, NULL, NULL);
}

static const char *idle_name(const Connection *c) {
        return watch_name(c->m.idle.watch);
}

static void idle_free(Connection *c) {
        (void) c;
}

const ConnectionMode connection_mode_idle = {
        .kind = "idle",
        .qresync = true,
        .name = idle_name,
        .start = idle_start,
        .resume = idle_resume,
        .wake = idle_wake,
        .status = idle_status,
        .status_response = idle_status_response,
        .fetch = idle_fetch,
        .has_work = idle_has_work,
        .out_of_sync = idle_out_of_sync,
        .idle_refused = idle_refused,
        .reset = idle_reset,
        .free = idle_free,
};

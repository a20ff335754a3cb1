/* SPDX-License-Identifier: MIT */
/*
 * connection-private.h: what the connection's core (connection.c) shares
 * with its modes (mode-idle.c, mode-poll.c) and its fetch step (fetch.c).
 * Nothing outside those files includes it.
 *
 * The core owns everything up to a logged-in session: the secret, the ramp
 * slot, the name lookup, connect, TLS or STARTTLS, the greeting, CAPABILITY,
 * the login, the backoff, reading and writing, the deadlines, IDLE itself
 * (RFC 2177) and LOGOUT.  Once logged in it hands over to the connection's
 * mode (ConnectionMode below), which decides what the connection watches and
 * sends.  Commands are sent with connection_send(): the reply goes to the function
 * given with the command (a table of commands in flight, no id/pending
 * pairs).  docs/HACKING.md describes the modes and states for maintainers.
 */
#pragma once

#include "buf.h"
#include "connection.h"
#include "hashmap.h"
#include "hook.h"
#include "imap-session.h"
#include "imap-trace.h"
#include "resolve.h"
#include "secret.h"

/* The completion of a command sent with connection_send(): r is the tagged reply,
 * ok whether it said OK, text its text (escaped for logs).  Returns what an
 * sd-event handler returns (0: handled, the connection may be gone). */
typedef int (*ConnectionDoneFn)(Connection *c, const ImapResponse *r, bool ok, const char *text);

/* What a connection does once logged in.  Every function is called with a
 * live session (c->s != NULL). */
typedef struct ConnectionMode {
        const char *kind;               /* "idle", "poll" */
        /* ENABLE QRESYNC after login where offered (RFC 7162 §3.2.3), so that the
         * EXAMINE of a mailbox with a saved state gets the expunges while away by
         * UID (VANISHED (EARLIER)), and expunges come as VANISHED from then on. */
        bool qresync;
        /* Logged in, capabilities known: begin. */
        int (*start)(Connection *c);
        /* Nothing of the mode's is in flight any more (a fetch ended, IDLE
         * ended on its own or for a fetch): decide what comes next. */
        int (*resume)(Connection *c);
        /* The mode's timer (c->wake_at) is due while RESTING. */
        int (*wake)(Connection *c);
        /* An untagged STATUS response (RFC 3501 §7.2.4). */
        void (*status)(Connection *c, const ImapResponse *r);
        /* An untagged OK, NO or BAD (RFC 3501 §7.1) other than BYE. */
        void (*status_response)(Connection *c, const ImapResponse *r);
        /* A watch asks for a fetch (WatchFetchFn's contract, watch.h). */
        int (*fetch)(Connection *c, Watch *w, const WatchFetchRequest *req);
        /* A fetch was asked for and not sent yet: IDLE must end (the core asks
         * when IDLE starts or ends). */
        bool (*has_work)(const Connection *c);
        /* The selected mailbox's watch is out of sync (watch.h, docs/SECURITY.md H07): a
         * response contradicted what it knows.  NULL: nothing to do (the selection ends as
         * planned, and the next one counts afresh). */
        void (*out_of_sync)(Connection *c);
        /* The server refused IDLE with NO (docs/SECURITY.md H06). */
        int (*idle_refused)(Connection *c, const char *text);
        /* The transport is gone: forget what was in flight.  Detach the
         * watches (watch_set_fetcher(w, NULL, NULL)). */
        void (*reset)(Connection *c);
        /* "account/mailbox", or a poller's name. */
        const char *(*name)(const Connection *c);
        void (*free)(Connection *c);
} ConnectionMode;

extern const ConnectionMode connection_mode_idle;
extern const ConnectionMode connection_mode_poll;
extern const ConnectionMode connection_mode_notify;

/* The UID FETCH step (fetch.c): UID FETCH floor:* (UID), then the details of
 * the newest, for the watch that asked (watch.h, WatchFetchFn). */
typedef enum FetchStep {
        FETCH_STEP_NONE,
        FETCH_STEP_WANTED,              /* asked for, not sent yet */
        FETCH_STEP_SCAN,                /* UID FETCH floor:* (UID) in flight */
        FETCH_STEP_DETAILS,             /* UID FETCH <newest> (... ENVELOPE) in flight */
} FetchStep;

typedef struct Fetch {
        FetchStep step;
        bool stale;                     /* an expunge moved sequence numbers while it was sent */
        Watch *watch;
        uint32_t floor, max_seq;
        unsigned details_max;
        uint32_t *ring;                 /* the newest UIDs seen, details_max of them */
        WatchFetchResult res;
} Fetch;

/* Record a fetch to send (the step must be NONE). */
void fetch_want(Fetch *f, Watch *w, const WatchFetchRequest *req);
/* Send what fetch_want() recorded; on completion the watch gets
 * watch_fetch_done() and the mode's resume() runs. */
int fetch_send(Connection *c);
/* A FETCH response while selected: true if it belongs to the fetch in flight. */
bool fetch_on_fetch(Connection *c, uint32_t seq, const ImapArg *list);
/* Messages left (seq 0: positions unknown), RFC 3501 §7.4.1. */
void fetch_expunged(Fetch *f, uint32_t count, uint32_t seq);
/* Forget it (the watch is told by watch_set_fetcher(w, NULL, NULL)). */
void fetch_reset(Fetch *f);
static inline bool fetch_busy(const Fetch *f) {
        return f->step != FETCH_STEP_NONE;
}

/* At most this many commands in flight: one of the mode's, IDLE's DONE
 * answered by the IDLE command's tag, and LOGOUT sent behind them. */
#define CONNECTION_MAX_IN_FLIGHT 4

typedef struct PendingCmd {
        uint32_t id;
        ConnectionDoneFn done;
} PendingCmd;

typedef struct PollRequest {
        bool wanted;
        uint32_t floor;
        unsigned details_max;
        /* The catch-up STATUS showed messages gone and QRESYNC is on: EXAMINE with
         * the QRESYNC parameter to learn which (RFC 7162 §3.2.5); the STATUS
         * numbers are kept for when that EXAMINE fails (the count rule then). */
        bool qresync;
        uint32_t st_exists, st_uidvalidity, st_uidnext;
        uint64_t st_modseq;
        bool refused;           /* its STATUS was refused and that was logged: not again every round */
} PollRequest;

struct Connection {
        sd_event *event;
        const CfgAccount *account;
        ConnTlsCtx *tls;
        Ramp *ramp;
        RampEntry ramp_entry;           /* a slot while connecting and logging in */
        const ConnectionMode *mode;
        ConnectionStateFn on_state;
        void *userdata;

        ConnectionState state;
        Conn *conn;
        ImapSession *s;
        ImapTrace *trace;               /* --trace of this account (trace.h), else NULL */
        sd_event_source *io, *retry, *more;
        /* One timer entry for every deadline of the connection, in the daemon's shared
         * queue (timers.h: an sd-event source costs ~300 bytes, an entry 32), at the
         * earliest of: */
        Timers *timers;
        TimerEntry timer;
        uint64_t phase_at;              /* the current state's deadline (phase_timeouts[]) */
        uint64_t session_at;            /* the engine's (imap_session_deadline()) */
        uint64_t response_at;           /* a response the server began must be whole by then (K01) */
        uint64_t wake_at;               /* IDLING: re-IDLE or liveness probe; RESTING: the mode's wake() */
        ConnResolve *resolve;           /* the host name lookup, on a thread (docs/SECURITY.md J09) */
        sd_event_source *resolve_io;
        Buf in;
        /* password_command's or oauth2_token_command's secret comes from the account's cache
         * (secret.h; connection_set_secret_cache()), or from one of the connection's own when
         * the owner gave none; secret_gen is the generation of the secret in use, which a refused
         * login invalidates. */
        SecretCache *secrets, *own_secrets;
        SecretWaiter secret_wait;
        uint64_t secret_gen;
        char *secret;

        PendingCmd pending[CONNECTION_MAX_IN_FLIGHT];
        unsigned n_pending;

        bool settled, stopping, auth_failed, starttls_done, starttls_ready;
        bool mailbox_missing;   /* EXAMINE refused: retried at the login backoff's pace */
        /* [ALERT]s logged on this transport: a server must not make us log per response. */
        unsigned alerts;
        /* ENABLE QRESYNC was sent on this session / the server said ENABLED QRESYNC. */
        bool qresync_asked, qresync;
        /* An EXAMINE with the QRESYNC parameter was refused: never again on this connection. */
        bool qresync_off;
        const char *unsuited_why;       /* a static string (connection_unsuited()) */
        /* --once (connection_set_once()): no IDLE, no retry; once_failed: it failed. */
        bool once, once_failed;
        /* A fresh secret is fetched at once, a single time, after a refused login or a BYE
         * that says the token expired; then the long backoff (issue 6: Credentials). */
        bool refetch_now, refetched;
        /* The backoff of the current run of failures; 0 once the connection is set up
         * (the modes log "idling", "polling" again when it is not). */
        uint64_t backoff_usec, retry_at;
        /* The last failure as logged, and when (CLOCK_MONOTONIC), for `imapidled status`
         * (connection_last_error()); NULL: none since the connection was made. */
        char *last_error;
        uint64_t last_error_at;
        /* When this transport was set up (connection_settle(), IDLE reached), CLOCK_MONOTONIC,
         * 0: not yet; and the backoff that setting up put aside.  A failure within
         * CONNECTION_HEALTHY_USEC of it goes on from that backoff instead of starting
         * afresh (catalogue J10: a server that fails every connection right after IDLE must
         * not get a login a second).  Decided at the failure: no timer of its own. */
        uint64_t healthy_since, backoff_kept;
        uint64_t idle_started;
        uint64_t last_rx;               /* CLOCK_MONOTONIC of the last byte read */
        unsigned quick_idle_ends;

        /* The selected mailbox's watch: untagged EXISTS, EXPUNGE, FETCH and VANISHED
         * go to it (NULL: none selected).  While SELECTING, what EXAMINE reports is
         * collected in sel_* instead (RFC 3501 §6.3.1). */
        Watch *selected;
        ConnectionDoneFn select_done;
        uint32_t sel_exists, sel_uidvalidity, sel_uidnext;
        uint64_t sel_highestmodseq;
        /* The EXAMINE had the QRESYNC parameter (RFC 7162 §3.2.5) with known UIDs
         * 1:sel_known_max: the UIDs of its VANISHED (EARLIER), clipped to those, are
         * collected in sel_vanished (allocated at the first one; NULL: none came). */
        bool sel_qresync;
        uint32_t sel_known_max;
        WatchUidSet *sel_vanished;

        Fetch fetch;
        struct ConnectionLister *lister;        /* the account's lister (lister.c), or NULL */

        /* The mode's own data. */
        union {
                struct {
                        Watch *watch;
                        bool noop_only;         /* no IDLE (absent or refused): NOOP polling */
                        /* The watch is out of sync: EXAMINE again once nothing is in flight;
                         * how many times on this session (mode-idle.c). */
                        bool reexamine;
                        unsigned reexamined;
                } idle;
                struct {
                        Watch **watches;
                        PollRequest *req;       /* per watch: a fetch it asked for */
                        size_t n, next;
                        size_t qresync_at;      /* the watch whose EXAMINE with QRESYNC is in flight */
                        bool polled_once;       /* a whole STATUS round done on this connection */
                        bool notify;            /* the notify mode: NOTIFY SET STATUS, then IDLE */
                        /* The notify mode's check that the server notifies at all: a
                         * STATUS round every idle_interval (mode-poll.c). */
                        bool pushed;            /* a STATUS came unasked since NOTIFY SET */
                        bool verifying, missed, suspect;
                        uint64_t verified_at;
                        Hashmap *by_name;       /* wire name ("INBOX" upper-cased) -> index + 1 */
                        char *name;
                } poll;
        } m;
};

/* ---- the core's services to the modes (connection.c) ---- */

void connection_set_state(Connection *c, ConnectionState st);
/* Close this connection and try again later (backoff; the login's slow pace after a refused
 * login or EXAMINE).  Logs one warning: what, strerror(-r) unless what ends with it already, a
 * hint when the tls setting looks wrong for the port, and the delay.  Returns 0. */
int connection_fail(Connection *c, int r, const char *what);
/* connection_fail() with the session's own error text. */
int connection_fail_session(Connection *c, int r);
/* Submit cmd (taken over, also on failure); its reply goes to done. */
int connection_send(Connection *c, ImapCmd *cmd, ConnectionDoneFn done);
int connection_send_simple(Connection *c, const char *name, ConnectionDoneFn done);
/* EXAMINE w's mailbox (RFC 3501 §6.3.2: we only watch); state SELECTING.  On
 * the reply done runs with c->sel_* filled; on OK c->selected = w. */
int connection_examine(Connection *c, Watch *w, bool qresync, ConnectionDoneFn done);
/* IDLE (RFC 2177), or the mode's idle_refused() when the server has none. */
int connection_idle(Connection *c);
/* The mode's work is done and it would now wait (IDLE, or rest until the next round): with
 * --once, LOGOUT instead (connection_set_once()) and return 1; else 0, and the mode waits. */
int connection_caught_up(Connection *c);
/* End IDLE now (DONE); the mode's resume() follows the tagged OK. */
int connection_idle_done(Connection *c, const char *why);
/* RESTING: nothing in flight; the mode's wake() in usec (USEC_INFINITY: not by time). */
void connection_rest(Connection *c, uint64_t usec);
/* The connection is set up and doing its work (READY=1 counts it); resets the backoff. */
void connection_settle(Connection *c);
/* After an event handler of a mode changed things outside an I/O callback:
 * write what the session has to send and update the poll events. */
void connection_flush(Connection *c);
/* The mode cannot work with this server: close, state UNSUITED, no retry
 * (connection.h).  why: a static string.  Returns 0. */
int connection_unsuited(Connection *c, const char *why);
/* Make w ask this connection for its fetches (watch_set_fetcher()). */
void connection_attach(Connection *c, Watch *w);
/* The attribute 'name' of a FETCH response's list (RFC 3501 §7.4.2), or NULL. */
const ImapArg *fetch_attr(const ImapArg *list, const char *name);

uint64_t connection_now(const Connection *c);

/* ---- the LIST step (lister.c) ---- */

typedef struct ConnectionLister ConnectionLister;
/* LIST each of the account's patterns (state LISTING), hand what they found to
 * the owner (ConnectionListFn), then 'then' (r NULL, ok true); at once if
 * the connection is not a lister.  If the owner replaces the connection,
 * 'then' is not called: RESTING until freed. */
int connection_list(Connection *c, ConnectionDoneFn then);
/* An untagged LIST (the core passes every one). */
void connection_on_list(Connection *c, const ImapResponse *resp);
/* The server said the list changed since the last listing (or the mode asked). */
bool connection_relist_wanted(const Connection *c);
void connection_want_relist(Connection *c);
/* The transport is gone: forget a listing in flight (the next login lists anew). */
void connection_lister_reset(Connection *c);
void connection_lister_free(Connection *c);

/* SPDX-License-Identifier: MIT */
/*
 * connection.c: one IMAP connection driven from sd-event; see connection.h.
 *
 * The protocol steps are a chain: each tagged reply decides the next command
 * (greeting -> [CAPABILITY] -> [STARTTLS -> CAPABILITY] -> LOGIN/AUTHENTICATE
 * -> [CAPABILITY] -> EXAMINE -> IDLE <-> DONE).  connection_set_state() is the
 * only writer of the state and logs every transition at debug level.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "connection.h"
#include "details.h"
#include "hook.h"
#include "imap-seqset.h"
#include "imap-session.h"
#include "log.h"
#include "resolve.h"

#define SECRET_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define SECRET_MAX_BYTES 16384
#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (300 * USEC_PER_SEC)
#define AUTH_BACKOFF_MIN_USEC (60 * USEC_PER_SEC)
#define AUTH_BACKOFF_MAX_USEC (1800 * USEC_PER_SEC)
#define NOOP_POLL_USEC (60 * USEC_PER_SEC)
/* Read at most this much per wake-up, so one busy connection cannot starve
 * the others (security.md INV-12); the rest is read on the next loop turn. */
#define READ_BUDGET (64 * 1024)
#define READ_CHUNK 16384

typedef struct PollRequest {
        bool wanted;
        uint32_t floor;
        unsigned details_max;
} PollRequest;

struct Connection {
        sd_event *event;
        const CfgAccount *account;
        ConnTlsCtx *tls;
        Ramp *ramp;
        RampEntry ramp_entry;           /* a slot while connecting and logging in */
        Watch *watch;
        ConnectionStateFn on_state;
        void *userdata;

        ConnectionState state;
        Conn *conn;
        ImapSession *s;
        sd_event_source *io, *retry, *more;
        /* One timer entry for every deadline of the connection, in the daemon's shared
         * queue (timers.h: an sd-event source costs ~300 bytes, an entry 32), at the
         * earliest of: */
        Timers *timers;
        TimerEntry timer;
        uint64_t phase_at;              /* the current phase's deadline (phase_timeouts[]) */
        uint64_t session_at;            /* the engine's (imap_session_deadline()) */
        uint64_t idle_at;               /* re-IDLE, liveness probe, NOOP or STATUS poll */
        ConnResolve *resolve;           /* the host name lookup, on a thread (security.md J09) */
        sd_event_source *resolve_io;
        Buf in;
        Hook *secret_cmd;
        char *secret;

        bool settled, stopping, auth_failed, greeted_preauth, starttls_done, starttls_ready;
        /* A fresh secret is fetched at once, a single time, after a refused login or a BYE
         * that says the token expired; then the long backoff (issue 6: Credentials). */
        bool refetch_now, refetched;
        uint64_t backoff_usec, retry_at;
        uint64_t idle_started;
        uint64_t last_rx;               /* CLOCK_MONOTONIC of the last byte read */
        unsigned quick_idle_ends;

        uint32_t cap_id, starttls_id, auth_id, select_id, idle_id, noop_id, logout_id;
        bool cap_pending, starttls_pending, auth_pending, select_pending, idle_pending, noop_pending,
                logout_pending;
        uint32_t sel_exists, sel_uidvalidity, sel_uidnext;
        uint64_t sel_highestmodseq;

        /* A fetch for the watch (WatchFetchFn): wanted, then the scan
         * (UID FETCH floor:* (UID)), then the details of the newest. */
        bool fetch_wanted, fetch_pending, fetch_details_stage;
        bool fetch_stale;               /* an expunge moved sequence numbers while it was sent */
        uint32_t fetch_id, fetch_floor, fetch_max_seq;
        unsigned fetch_details_max;
        uint32_t *fetch_ring;           /* the newest UIDs seen, fetch_details_max of them */
        WatchFetchResult fetch_res;

        /* Poll mode (connection_new_poller()): no IDLE; a STATUS for each of
         * these mailboxes every status_interval, and EXAMINE + UID FETCH +
         * CLOSE when one of them asks for a fetch (issue 6: the budget). */
        Watch **polled;
        PollRequest *poll_req;          /* per polled watch: a fetch it asked for */
        size_t n_polled, poll_next;
        bool polled_once;               /* a whole STATUS round done on this connection */
        Watch *fetch_watch;             /* the polled watch the current fetch is for */
        uint32_t status_id, close_id;
        bool status_pending, close_pending;
        char *poll_name;
};

static const char *const state_table[_CONNECTION_STATE_MAX] = {
        [CONNECTION_WAITING] = "waiting",
        [CONNECTION_SECRET] = "secret",
        [CONNECTION_QUEUED] = "queued",
        [CONNECTION_CONNECTING] = "connecting",
        [CONNECTION_GREETING] = "greeting",
        [CONNECTION_CAPABILITY] = "capability",
        [CONNECTION_STARTTLS] = "starttls",
        [CONNECTION_AUTHENTICATING] = "authenticating",
        [CONNECTION_SELECTING] = "selecting",
        [CONNECTION_IDLE_STARTING] = "idle-starting",
        [CONNECTION_IDLING] = "idling",
        [CONNECTION_IDLE_ENDING] = "idle-ending",
        [CONNECTION_FETCHING] = "fetching",
        [CONNECTION_POLLING] = "polling",
        [CONNECTION_LOGGING_OUT] = "logging-out",
        [CONNECTION_STOPPED] = "stopped",
};

const char *connection_state_to_string(ConnectionState s) {
        return (unsigned) s < ELEMENTSOF(state_table) ? state_table[s] : NULL;
}

static const char *cname(const Connection *c) {
        return c->polled ? c->poll_name : watch_name(c->watch);
}

/* The watch that responses about the selected mailbox belong to. */
static Watch *cur_watch(const Connection *c) {
        return c->polled ? c->fetch_watch : c->watch;
}

#define NO_DEADLINE SIZE_MAX
#define LIVE(field) offsetof(CfgLiveness, field)

/* Every phase but waiting and IDLE itself has a deadline (issue 6, security.md
 * J-group: a server that stops answering in any phase must not hold the
 * connection): the CfgLiveness field that gives it.  SELECTING is also the
 * state of a selected connection that polls without IDLE; its deadline then
 * applies only while EXAMINE is pending (see arm_phase()). */
static const size_t phase_timeouts[_CONNECTION_STATE_MAX] = {
        [CONNECTION_WAITING] = NO_DEADLINE,
        [CONNECTION_SECRET] = NO_DEADLINE,              /* the secret command has its own timeout */
        [CONNECTION_QUEUED] = NO_DEADLINE,              /* others are ahead, not this server */
        [CONNECTION_CONNECTING] = LIVE(connect_timeout_usec),
        [CONNECTION_GREETING] = LIVE(greeting_timeout_usec),
        [CONNECTION_CAPABILITY] = LIVE(command_timeout_usec),
        [CONNECTION_STARTTLS] = LIVE(tls_timeout_usec),
        [CONNECTION_AUTHENTICATING] = LIVE(auth_timeout_usec),
        [CONNECTION_SELECTING] = LIVE(select_timeout_usec),
        [CONNECTION_IDLE_STARTING] = LIVE(command_timeout_usec),
        [CONNECTION_IDLING] = NO_DEADLINE,              /* liveness_interval instead */
        [CONNECTION_IDLE_ENDING] = LIVE(done_timeout_usec),
        [CONNECTION_FETCHING] = LIVE(command_timeout_usec),
        [CONNECTION_POLLING] = LIVE(command_timeout_usec),
        [CONNECTION_LOGGING_OUT] = LIVE(command_timeout_usec),
        [CONNECTION_STOPPED] = NO_DEADLINE,
};

static uint64_t phase_timeout(const Connection *c, ConnectionState st) {
        uint64_t t;

        if (phase_timeouts[st] == NO_DEADLINE)
                return USEC_INFINITY;
        t = *(const uint64_t *) ((const char *) &c->account->live + phase_timeouts[st]);
        /* Implicit TLS: the transport connects and shakes hands in one phase. */
        if (st == CONNECTION_CONNECTING && !c->account->tunnel && c->account->tls == CFG_TLS_IMPLICIT)
                t = usec_add(t, c->account->live.tls_timeout_usec);
        return t > 0 ? t : USEC_INFINITY;
}

static void on_timer(TimerEntry *e, uint64_t now);

/* The clock itself, not the loop's time of this turn: for the hot path's measurement. */
static uint64_t clock_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t now_mono(const Connection *c) {
        uint64_t t = 0;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* Set the one timer entry to the earliest deadline; nothing to do if it is there already. */
static void arm_timer(Connection *c) {
        uint64_t soonest = MIN(c->session_at, c->idle_at);
        uint64_t at = MIN(c->phase_at, soonest);
        int r;

        if (at == timers_due(&c->timer))
                return;
        r = timers_set(c->timers, &c->timer, at);
        if (r < 0)
                log_error_errno(r, "%s: cannot arm a deadline: %m", cname(c));
}

static void arm_phase(Connection *c, ConnectionState st) {
        uint64_t t = phase_timeout(c, st);

        if ((st == CONNECTION_SELECTING && !c->select_pending) ||
            (st == CONNECTION_POLLING && !c->status_pending && !c->close_pending))
                t = USEC_INFINITY;      /* waiting for the next poll */
        c->phase_at = usec_add(now_mono(c), t);
        arm_timer(c);
}

static void connection_set_state(Connection *c, ConnectionState st) {
        ConnectionState old = c->state;

        /* Entering a phase again (STARTTLS command, then its handshake) restarts its deadline. */
        arm_phase(c, st);
        if (old == st)
                return;
        c->state = st;
        log_debug("%s: %s -> %s", cname(c), state_table[old], state_table[st]);
        if (c->on_state)
                c->on_state(c, old, st, c->userdata);
}

static void erase_secret(Connection *c) {
        if (c->secret) {
                explicit_bzero(c->secret, strlen(c->secret));
                c->secret = mfree(c->secret);
        }
}

static void fetch_reset(Connection *c) {
        c->fetch_wanted = c->fetch_pending = c->fetch_details_stage = c->fetch_stale = false;
        c->fetch_ring = mfree(c->fetch_ring);
        watch_fetch_result_done(&c->fetch_res);
}

/* The expensive part of setting up is over (or failed): the next connection may start. */
static void ramp_done(Connection *c) {
        if (c->ramp)
                ramp_release(c->ramp, &c->ramp_entry);
}

/* Drop the transport and the session; keep the watch and the backoff. */
static void close_transport(Connection *c) {
        ramp_done(c);
        timers_clear(c->timers, &c->timer);
        c->phase_at = c->session_at = c->idle_at = USEC_INFINITY;
        /* A lookup still running is abandoned: its thread finishes on its own. */
        c->resolve_io = sd_event_source_disable_unref(c->resolve_io);
        c->resolve = conn_resolve_free(c->resolve);
        /* A fetch in flight is answered (with an error) by the watch itself. */
        fetch_reset(c);
        c->status_pending = c->close_pending = false;
        c->fetch_watch = NULL;
        if (c->polled)
                for (size_t i = 0; i < c->n_polled; i++) {
                        c->poll_req[i].wanted = false;
                        watch_set_fetcher(c->polled[i], NULL, NULL);
                }
        else
                watch_set_fetcher(c->watch, NULL, NULL);
        c->io = sd_event_source_disable_unref(c->io);
        c->more = sd_event_source_disable_unref(c->more);
        c->secret_cmd = hook_free(c->secret_cmd);
        c->conn = conn_free(c->conn);
        c->s = imap_session_free(c->s);
        buf_done_secure(&c->in);
        erase_secret(c);
        c->cap_pending = c->starttls_pending = c->auth_pending = c->select_pending = false;
        c->starttls_done = c->starttls_ready = false;
        c->idle_pending = c->noop_pending = c->logout_pending = false;
}

static int attempt(Connection *c);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;

        (void) s;
        (void) usec;
        c->retry = sd_event_source_disable_unref(c->retry);
        (void) attempt(c);
        return 0;
}

/* Exponential backoff with jitter: the delay is drawn from [b/2, b] so that
 * accounts that failed together do not come back together (security.md J10). */
static uint64_t next_delay(Connection *c) {
        uint64_t lo = c->auth_failed ? AUTH_BACKOFF_MIN_USEC : BACKOFF_MIN_USEC;
        uint64_t hi = c->auth_failed ? AUTH_BACKOFF_MAX_USEC : BACKOFF_MAX_USEC;
        uint64_t b, r = 0;

        b = c->backoff_usec == 0 ? lo : MAX(c->backoff_usec * 2, lo);
        b = MIN(b, hi);
        c->backoff_usec = b;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (uint64_t) now_mono(c) * 2654435761u;
        return b / 2 + r % (b / 2 + 1);
}

/* The secret comes from somewhere that may hold a newer one next time. */
static bool secret_is_fetched(const CfgAccount *a) {
        return a->password_command || a->oauth2_token_command || a->password_file;
}

/* Close this connection and try again later.  Returns 0: the failure is
 * handled here, the caller's event handler must not fail the loop. */
static int fail(Connection *c, int r, const char *what) {
        uint64_t delay, now = 0;
        char why[300];
        int k;

        /* 'what' may be conn_error() of the transport closed just below. */
        (void) snprintf(why, sizeof(why), "%s", what);
        what = why;
        close_transport(c);
        if (c->stopping) {
                connection_set_state(c, CONNECTION_STOPPED);
                return 0;
        }
        if (c->refetch_now) {
                c->refetch_now = false;
                delay = 0;
        } else
                delay = next_delay(c);
        (void) sd_event_now(c->event, CLOCK_BOOTTIME, &now);
        c->retry_at = now + delay;
        log_warning("%s: %s%s%s, retrying in %" PRIu64 "s", cname(c), what, r < 0 ? ": " : "",
                    r < 0 ? strerror(-r) : "", (delay + USEC_PER_SEC / 2) / USEC_PER_SEC);
        c->settled = true;
        connection_set_state(c, CONNECTION_WAITING);
        c->retry = sd_event_source_disable_unref(c->retry);
        k = sd_event_add_time(c->event, &c->retry, CLOCK_BOOTTIME, c->retry_at, USEC_PER_SEC / 10, on_retry, c);
        if (k < 0)
                log_error_errno(k, "%s: cannot arm the retry timer: %m", cname(c));
        return 0;
}

static int fail_session(Connection *c, int r) {
        const char *why = c->s ? imap_session_error(c->s) : NULL;

        return fail(c, r, why ? why : "connection failed");
}

/* ---- I/O --------------------------------------------------------------------------------------- */

static int update_io(Connection *c) {
        const void *buf;
        size_t len = 0;
        uint32_t ev = EPOLLIN;
        int r;

        if (!c->conn)
                return 0;
        if (c->s)
                imap_session_output(c->s, &buf, &len);
        if (len > 0 || (conn_events(c->conn) & POLLOUT))
                ev |= EPOLLOUT;
        r = sd_event_source_set_io_events(c->io, ev);
        if (r < 0)
                return r;
        /* The session's deadline (greeting, command replies). */
        c->session_at = c->s ? imap_session_deadline(c->s) : USEC_INFINITY;
        arm_timer(c);
        return 0;
}

static int write_out(Connection *c) {
        for (;;) {
                const void *buf;
                size_t len;
                ssize_t n;

                imap_session_output(c->s, &buf, &len);
                if (len == 0)
                        return 0;
                n = conn_write(c->conn, buf, len);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int) n;
                imap_session_consume_output(c->s, (size_t) n);
        }
}

static int submit(Connection *c, ImapCmd *cmd, uint32_t *ret_id) {
        int r = imap_session_submit(c->s, cmd, now_mono(c), ret_id);

        if (r < 0)
                return r;
        return 0;
}

static int simple(Connection *c, const char *name, uint32_t *ret_id) {
        ImapCmd *cmd = NULL;
        int r = imap_cmd_new(name, &cmd);

        if (r < 0)
                return r;
        return submit(c, cmd, ret_id);
}

/* ---- protocol steps ------------------------------------------------------------------------------ */

static int start_idle(Connection *c);
static int do_logout(Connection *c);
static int poll_step(Connection *c);
static int connection_fetch(void *userdata, Watch *w, const WatchFetchRequest *req);

static int do_select(Connection *c) {
        ImapCmd *cmd = NULL;
        int r;

        /* EXAMINE: we only watch, and must not change \Recent or flags (RFC 3501 §6.3.2). */
        r = imap_cmd_new("EXAMINE", &cmd);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ASTRING, watch_mailbox_wire(cur_watch(c)));
        /* RFC 7162 §3.1.8: ask for HIGHESTMODSEQ, kept in the state file. */
        if (r >= 0 && imap_session_has_capability(c->s, "CONDSTORE"))
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, "(CONDSTORE)");
        if (r < 0) {
                imap_cmd_free(cmd);
                return r;
        }
        c->sel_exists = c->sel_uidvalidity = c->sel_uidnext = 0;
        c->sel_highestmodseq = 0;
        r = submit(c, cmd, &c->select_id);
        if (r < 0)
                return r;
        c->select_pending = true;
        connection_set_state(c, CONNECTION_SELECTING);
        return 0;
}

static bool has_auth(const Connection *c, const char *mech) {
        char cap[64];

        (void) snprintf(cap, sizeof(cap), "AUTH=%s", mech);
        return imap_session_has_capability(c->s, cap);
}

/* Which way to log in (RFC 3501 §6.2): the configured preference first; by
 * default AUTHENTICATE PLAIN when offered, else LOGIN unless the server
 * says LOGINDISABLED, else SASL LOGIN.  Tokens use XOAUTH2 or OAUTHBEARER. */
static const char *choose_mechanism(const Connection *c) {
        const CfgAccount *a = c->account;

        if (a->auth) {
                for (char **m = a->auth; *m; m++)
                        if (has_auth(c, *m))
                                return *m;
                return NULL;
        }
        if (a->oauth2_token_command) {
                if (has_auth(c, "XOAUTH2"))
                        return "XOAUTH2";
                if (has_auth(c, "OAUTHBEARER"))
                        return "OAUTHBEARER";
                return NULL;
        }
        if (has_auth(c, "PLAIN"))
                return "PLAIN";
        if (!imap_session_has_capability(c->s, "LOGINDISABLED"))
                return "";
        if (has_auth(c, "LOGIN"))
                return "LOGIN";
        return NULL;
}

static int do_auth(Connection *c) {
        const char *mech;
        int r;

        mech = choose_mechanism(c);
        if (!mech)
                return fail(c, -EOPNOTSUPP, "no usable authentication mechanism offered by the server");
        if (!c->secret)
                return fail(c, -ENOKEY, "no password or token configured");
        if (mech[0] == 0) {
                ImapCmd *cmd = NULL;

                r = imap_cmd_new("LOGIN", &cmd);
                if (r >= 0)
                        r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ASTRING, c->account->username);
                if (r >= 0)
                        r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_STRING, c->secret);
                if (r < 0) {
                        imap_cmd_free(cmd);
                        return fail(c, r, "cannot build LOGIN (bad characters in user name or password?)");
                }
                r = submit(c, cmd, &c->auth_id);
        } else {
                ImapSaslCreds cr = {
                        .user = c->account->username,
                        .secret = c->secret,
                        .host = c->account->host,
                };
                ImapSasl *sasl = NULL;

                r = imap_sasl_new(mech, &cr, &sasl);
                if (r < 0)
                        return fail(c, r, "cannot set up SASL");
                r = imap_session_authenticate(c->s, sasl, now_mono(c), &c->auth_id);
        }
        /* The session holds its own copy now (and erases it). */
        erase_secret(c);
        if (r < 0)
                return fail_session(c, r);
        c->auth_pending = true;
        connection_set_state(c, CONNECTION_AUTHENTICATING);
        return 0;
}

static int ask_capability(Connection *c) {
        int r = simple(c, "CAPABILITY", &c->cap_id);

        if (r < 0)
                return fail_session(c, r);
        c->cap_pending = true;
        connection_set_state(c, CONNECTION_CAPABILITY);
        return 0;
}

/* After the greeting, or after any CAPABILITY: the next step. */
static int next_step(Connection *c) {
        size_t n;
        const char *const *caps;

        n = imap_session_capabilities(c->s, &caps);
        if (imap_session_state(c->s) == IMAP_STATE_NONAUTH) {
                if (n == 0)
                        return ask_capability(c);
                if (c->account->tls == CFG_TLS_STARTTLS && c->account->tunnel == NULL && !c->starttls_done) {
                        int r;

                        /* Configured STARTTLS is never optional (security.md INV-1). */
                        if (!imap_session_has_capability(c->s, "STARTTLS"))
                                return fail(c, -EPROTO, "server does not offer STARTTLS; refusing to go on in plaintext");
                        r = simple(c, "STARTTLS", &c->starttls_id);
                        if (r < 0)
                                return fail_session(c, r);
                        c->starttls_pending = true;
                        connection_set_state(c, CONNECTION_STARTTLS);
                        return 0;
                }
                return do_auth(c);
        }
        if (imap_session_state(c->s) == IMAP_STATE_AUTH) {
                if (n == 0)
                        return ask_capability(c);
                if (c->polled) {
                        for (size_t i = 0; i < c->n_polled; i++)
                                watch_set_fetcher(c->polled[i], connection_fetch, c);
                        c->poll_next = 0;
                        return poll_step(c);
                }
                return do_select(c);
        }
        return fail(c, -EPROTO, "unexpected state");
}

static int arm_idle_timer(Connection *c, uint64_t usec);

/* While IDLING: when to act next.  RFC 2177 §3: re-issue IDLE every
 * idle_interval (at most 29 min).  Issue 6: when nothing at all came for
 * liveness_interval (a server's own "* OK Still here" counts), end IDLE as a
 * probe: the tagged OK must come within done_timeout, or the connection is
 * dead and replaced.  Returns the earlier of the two, CLOCK_MONOTONIC. */
static uint64_t idle_next(const Connection *c) {
        uint64_t at = usec_add(c->idle_started, c->account->idle_interval_usec);

        if (c->account->live.liveness_interval_usec > 0)
                at = MIN(at, usec_add(MAX(c->last_rx, c->idle_started), c->account->live.liveness_interval_usec));
        return at;
}

/* End IDLE now (re-IDLE, a liveness probe, or a fetch): DONE, RFC 2177 §3. */
static int idle_done(Connection *c, const char *why) {
        int r;

        log_debug("%s: DONE (%s)", cname(c), why);
        r = imap_session_idle_done(c->s, now_mono(c));
        if (r < 0)
                return r;
        if (r == 0)
                connection_set_state(c, CONNECTION_IDLE_ENDING);
        return 0;
}

int connection_probe(Connection *c, const char *why) {
        int r;

        if (c->state != CONNECTION_IDLING || !c->s)
                return 0;
        r = idle_done(c, why);
        if (r < 0)
                return fail_session(c, r);
        r = write_out(c);
        if (r < 0)
                return fail(c, r, "write failed");
        (void) update_io(c);
        return 1;
}

static int on_idle_timer(Connection *c) {
        int r;

        if (c->state == CONNECTION_POLLING && !c->status_pending && !c->close_pending) {
                c->poll_next = 0;
                r = poll_step(c);
                if (r < 0 || !c->s)
                        return 0;
        } else if (c->state == CONNECTION_IDLING) {
                uint64_t now = now_mono(c), next = idle_next(c);

                if (now < next)
                        /* Bytes came since the timer was armed: the connection is alive. */
                        return arm_idle_timer(c, next - now);
                r = idle_done(c, now >= usec_add(c->idle_started, c->account->idle_interval_usec) ?
                              "idle_interval" : "liveness probe: nothing received for liveness_interval");
                if (r < 0)
                        return fail_session(c, r);
        } else if (c->state == CONNECTION_SELECTING && !c->noop_pending && !c->select_pending) {
                /* No IDLE: poll. */
                r = simple(c, "NOOP", &c->noop_id);
                if (r < 0)
                        return fail_session(c, r);
                c->noop_pending = true;
        }
        r = write_out(c);
        if (r < 0)
                return fail(c, r, "write failed");
        (void) update_io(c);
        return 0;
}

static int arm_idle_timer(Connection *c, uint64_t usec) {
        c->idle_at = usec_add(now_mono(c), usec);
        arm_timer(c);
        return 0;
}

static void disarm_idle_timer(Connection *c) {
        c->idle_at = USEC_INFINITY;
        arm_timer(c);
}

static int start_idle(Connection *c) {
        int r;

        if (c->stopping)
                return 0;
        if (!imap_session_has_capability(c->s, "IDLE")) {
                /* RFC 2177 §3: no IDLE without the capability. Poll instead. */
                log_notice("%s: server has no IDLE, polling every %" PRIu64 "s", cname(c),
                           (uint64_t) (NOOP_POLL_USEC / USEC_PER_SEC));
                c->settled = true;
                connection_set_state(c, CONNECTION_SELECTING);
                c->backoff_usec = 0;
                return arm_idle_timer(c, NOOP_POLL_USEC);
        }
        r = simple(c, "IDLE", &c->idle_id);
        if (r < 0)
                return fail_session(c, r);
        c->idle_pending = true;
        c->idle_started = now_mono(c);
        connection_set_state(c, CONNECTION_IDLE_STARTING);
        return 0;
}

/* ---- fetching for the watch ---------------------------------------------------------------------- */

/* The attribute 'name' of a FETCH response (RFC 3501 §7.4.2), or NULL. */
static const ImapArg *fetch_attr(const ImapArg *list, const char *name) {
        const ImapArg *a = list ? imap_arg_list_first(list) : NULL;

        for (uint32_t i = 0; a && i + 1 < list->n; i += 2) {
                const ImapArg *v = imap_arg_next(a);

                if (imap_arg_atom_equal(a, name))
                        return v;
                a = imap_arg_next(v);
        }
        return NULL;
}

/* A FETCH response while selected (seq: its message sequence number): ours
 * (the scan or the details), or a flag change made elsewhere (RFC 3501
 * §7.4.2: unsolicited FETCH FLAGS). */
static void on_fetch(Connection *c, uint32_t seq, const ImapArg *list) {
        const ImapArg *uid_arg = fetch_attr(list, "UID");
        bool has_flags = fetch_attr(list, "FLAGS") != NULL;
        uint32_t uid = 0;

        if (uid_arg && imap_arg_get_nz32(uid_arg, &uid) < 0)
                uid = 0;
        if (c->fetch_pending && !c->fetch_details_stage && uid >= c->fetch_floor && uid > 0) {
                WatchFetchResult *res = &c->fetch_res;

                if (c->fetch_max_seq > 0 && seq > c->fetch_max_seq)
                        return; /* came after the run that asked (watch.h) */
                /* "floor:*" also names the last message when the floor is above
                 * every UID (RFC 3501 §6.4.8): hence the comparison. */
                res->count++;
                res->min_uid = res->min_uid == 0 ? uid : MIN(res->min_uid, uid);
                res->max_uid = MAX(res->max_uid, uid);
                if (c->fetch_ring)
                        c->fetch_ring[(res->count - 1) % c->fetch_details_max] = uid;
                return;
        }
        if (c->fetch_pending && c->fetch_details_stage && fetch_attr(list, "ENVELOPE")) {
                WatchFetchResult *res = &c->fetch_res;
                MessageDetails d = {};
                int r;

                if (res->n_details >= c->fetch_details_max)
                        return;
                r = message_details_from_fetch(list, NULL, &d);
                if (r < 0) {
                        log_warning("%s: unusable message details for UID %" PRIu32 ": %s", cname(c), uid,
                                    strerror(-r));
                        return;
                }
                if (!res->details) {
                        res->details = calloc(c->fetch_details_max, sizeof(MessageDetails));
                        if (!res->details) {
                                message_details_done(&d);
                                return;
                        }
                }
                res->details[res->n_details++] = d;
                return;
        }
        if (has_flags)
                watch_on_flags(cur_watch(c), 1);
}

static int cmp_details(const void *a, const void *b) {
        const MessageDetails *x = a, *y = b;

        return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The newest UIDs seen by the scan as a sequence-set, ascending. */
static int ring_set(Connection *c, Buf *out) {
        uint64_t n = MIN(c->fetch_res.count, (uint64_t) c->fetch_details_max);
        uint64_t first = c->fetch_res.count - n;
        int r = 0;

        for (uint64_t i = 0; i < n && r >= 0; i++) {
                char t[16];
                int k = snprintf(t, sizeof(t), "%s%" PRIu32, i ? "," : "",
                                 c->fetch_ring[(first + i) % c->fetch_details_max]);

                r = buf_append(out, t, (size_t) k, 0);
        }
        if (r >= 0)
                r = buf_append(out, "", 1, 0);
        return r;
}

static int send_fetch(Connection *c) {
        _cleanup_(buf_done) Buf set = {};
        ImapCmd *cmd = NULL;
        char floor[24];
        const char *items;
        int r;

        if (!c->fetch_details_stage) {
                (void) snprintf(floor, sizeof(floor), "%" PRIu32 ":*", MAX(c->fetch_floor, 1u));
                items = "(UID)";
        } else {
                r = ring_set(c, &set);
                if (r < 0)
                        return r;
                /* RFC 8970 PREVIEW where offered: a notification can show the text. */
                items = imap_session_has_capability(c->s, "PREVIEW") ?
                        "(UID FLAGS RFC822.SIZE ENVELOPE PREVIEW)" : "(UID FLAGS RFC822.SIZE ENVELOPE)";
        }
        r = imap_cmd_new("UID", &cmd);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ATOM, "FETCH");
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ATOM, c->fetch_details_stage ? set.data : floor);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, items);
        if (r < 0) {
                imap_cmd_free(cmd);
                return r;
        }
        r = submit(c, cmd, &c->fetch_id);
        if (r < 0)
                return r;
        c->fetch_pending = true;
        connection_set_state(c, CONNECTION_FETCHING);
        return 0;
}

static int do_fetch(Connection *c) {
        int r;

        fetch_reset(c);
        if (c->fetch_details_max > 0) {
                c->fetch_ring = calloc(c->fetch_details_max, sizeof(uint32_t));
                if (!c->fetch_ring)
                        return fail(c, -ENOMEM, "out of memory");
        }
        r = send_fetch(c);
        if (r < 0)
                return fail_session(c, r);
        return 0;
}

/* What comes after a command while selected: the fetch the watch asked
 * for, else IDLE. */
static int poll_close(Connection *c);

static int resume(Connection *c) {
        if (c->polled)
                return poll_close(c);
        if (c->fetch_wanted && !c->stopping)
                return do_fetch(c);
        return start_idle(c);
}

/* ---- poll mode: mailboxes beyond max_connections ------------------------------------------------ */

static int poll_work(Connection *c);

/* The next STATUS of the round (RFC 3501 §6.3.10), or the round is over. */
static int poll_step(Connection *c) {
        ImapCmd *cmd = NULL;
        int r;

        if (c->poll_next >= c->n_polled) {
                if (!c->polled_once || c->backoff_usec)
                        log_info("%s: polling every %.0f s", cname(c),
                                 (double) c->account->status_interval_usec / USEC_PER_SEC);
                c->polled_once = true;
                c->backoff_usec = 0;
                if (!c->settled) {
                        /* The state may not change (POLLING before and after): tell the
                         * manager anyway, READY=1 waits for this. */
                        c->settled = true;
                        if (c->on_state)
                                c->on_state(c, c->state, c->state, c->userdata);
                }
                return poll_work(c);
        }
        r = imap_cmd_new("STATUS", &cmd);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ASTRING, watch_mailbox_wire(c->polled[c->poll_next]));
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, imap_session_has_capability(c->s, "CONDSTORE") ?
                                     "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)" : "(MESSAGES UIDNEXT UIDVALIDITY)");
        if (r < 0) {
                imap_cmd_free(cmd);
                return fail(c, r, "cannot build STATUS");
        }
        r = submit(c, cmd, &c->status_id);
        if (r < 0)
                return fail_session(c, r);
        c->status_pending = true;
        connection_set_state(c, CONNECTION_POLLING);
        return 0;
}

/* A fetch some polled mailbox asked for: EXAMINE it, UID FETCH, CLOSE; else
 * wait for the next round. */
static int poll_work(Connection *c) {
        if (c->stopping)
                return do_logout(c);
        for (size_t i = 0; i < c->n_polled; i++)
                if (c->poll_req[i].wanted) {
                        c->poll_req[i].wanted = false;
                        c->fetch_watch = c->polled[i];
                        c->fetch_floor = c->poll_req[i].floor;
                        c->fetch_max_seq = 0;
                        c->fetch_details_max = c->poll_req[i].details_max;
                        c->fetch_wanted = true;
                        return do_select(c);
                }
        c->fetch_watch = NULL;
        connection_set_state(c, CONNECTION_POLLING);
        return arm_idle_timer(c, c->account->status_interval_usec);
}

/* CLOSE after the fetch: on an EXAMINEd mailbox it expunges nothing (RFC 3501 §6.4.2). */
static int poll_close(Connection *c) {
        int r = simple(c, "CLOSE", &c->close_id);

        if (r < 0)
                return fail_session(c, r);
        c->close_pending = true;
        connection_set_state(c, CONNECTION_POLLING);
        return 0;
}

static void on_status(Connection *c, const ImapResponse *resp) {
        const uint32_t need = 1u << IMAP_STATUS_ITEM_MESSAGES | 1u << IMAP_STATUS_ITEM_UIDNEXT |
                              1u << IMAP_STATUS_ITEM_UIDVALIDITY;
        const ImapArg *name = resp->mbstatus.mailbox;

        if (!c->polled || !name || !imap_arg_is_string(name))
                return;
        for (size_t i = 0; i < c->n_polled; i++) {
                const char *wire = watch_mailbox_wire(c->polled[i]);
                bool inbox = strcasecmp(wire, "INBOX") == 0 && name->len == 5 &&
                             strncasecmp(name->str, "INBOX", 5) == 0;

                if (!inbox && (strlen(wire) != name->len || memcmp(wire, name->str, name->len) != 0))
                        continue;
                if ((resp->mbstatus.present & need) != need || resp->mbstatus.value[IMAP_STATUS_ITEM_UIDVALIDITY] == 0) {
                        log_warning("%s: STATUS without MESSAGES, UIDNEXT or UIDVALIDITY, ignored", cname(c));
                        return;
                }
                /* The first round of a connection compares with what we knew
                 * (catch-up); later rounds see what happened since the last. */
                watch_selected(c->polled[i], (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_MESSAGES],
                               (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_UIDVALIDITY],
                               (uint32_t) resp->mbstatus.value[IMAP_STATUS_ITEM_UIDNEXT],
                               resp->mbstatus.present & 1u << IMAP_STATUS_ITEM_HIGHESTMODSEQ ?
                               resp->mbstatus.value[IMAP_STATUS_ITEM_HIGHESTMODSEQ] : 0, c->polled_once);
                return;
        }
}

static int on_fetch_done(Connection *c, bool ok, const char *text) {
        WatchFetchResult res;
        int r;

        c->fetch_pending = false;
        if (ok && !c->fetch_details_stage && c->fetch_details_max > 0 && c->fetch_res.count > 0) {
                c->fetch_details_stage = true;
                r = send_fetch(c);
                if (r < 0)
                        return fail_session(c, r);
                return 0;
        }
        if (!ok)
                log_warning("%s: UID FETCH refused: %s", cname(c), text);
        res = c->fetch_res;
        c->fetch_res = (WatchFetchResult) {};
        r = !ok ? -EIO : c->fetch_stale ? -ESTALE : 0;
        fetch_reset(c);
        if (res.n_details > 1)
                qsort(res.details, res.n_details, sizeof(MessageDetails), cmp_details);
        /* The watch may ask for the next fetch from here: resume() sees it. */
        watch_fetch_done(cur_watch(c), r, &res);
        watch_fetch_result_done(&res);
        if (!c->s)
                return 0;
        return resume(c);
}

/* WatchFetchFn. */
static int connection_fetch(void *userdata, Watch *w, const WatchFetchRequest *req) {
        Connection *c = userdata;
        int r;

        if (!c->s || c->stopping)
                return -ENOTCONN;
        if (c->polled) {
                size_t i;

                /* Each fetch EXAMINEs afresh: a sequence number from before means nothing. */
                if (req->max_seq > 0)
                        return -EOPNOTSUPP;
                for (i = 0; i < c->n_polled && c->polled[i] != w; i++)
                        ;
                if (i >= c->n_polled)
                        return -EINVAL;
                if (c->poll_req[i].wanted)
                        return -EBUSY;
                c->poll_req[i] = (PollRequest) { true, req->floor, MIN(req->details_max, 1000u) };
                if (c->state == CONNECTION_POLLING && !c->status_pending && !c->close_pending) {
                        /* Waiting for the next round: now. */
                        disarm_idle_timer(c);
                        r = poll_work(c);
                        if (r >= 0 && c->s && write_out(c) >= 0)
                                (void) update_io(c);
                }
                return 0;
        }
        if (c->fetch_wanted || c->fetch_pending)
                return -EBUSY;
        c->fetch_wanted = true;
        c->fetch_floor = req->floor;
        c->fetch_max_seq = req->max_seq;
        c->fetch_details_max = MIN(req->details_max, 1000u);
        switch (c->state) {
        case CONNECTION_IDLING:
                /* RFC 2177: DONE, then the command; resume() runs it after the OK. */
                r = idle_done(c, "fetch for the watch");
                if (r < 0) {
                        c->fetch_wanted = false;
                        return r;
                }
                if (write_out(c) >= 0)
                        (void) update_io(c);
                return 0;
        case CONNECTION_SELECTING:
                /* Right after EXAMINE, or a NOOP in flight: resume() follows. */
                if (c->select_pending || c->noop_pending || c->idle_at == USEC_INFINITY)
                        return 0;
                /* Waiting to poll (no IDLE) or to IDLE again (H05): now. */
                disarm_idle_timer(c);
                r = do_fetch(c);
                if (r >= 0 && c->s && write_out(c) >= 0)
                        (void) update_io(c);
                return 0;
        case CONNECTION_FETCHING:       /* resume() after the current one */
        case CONNECTION_IDLE_STARTING:  /* DONE once "+" came (IMAP_EVENT_IDLING) */
        case CONNECTION_IDLE_ENDING:    /* resume() after the OK */
                return 0;
        default:
                c->fetch_wanted = false;
                return -ENOTCONN;
        }
}

/* Messages left (seq 0: positions unknown): a fetch bounded by sequence
 * number is adjusted while it waits, and void once it is on the wire
 * (RFC 3501 §7.4.1: the numbers of later responses shift). */
static void fetch_expunged(Connection *c, uint32_t count, uint32_t seq) {
        if (c->fetch_max_seq == 0)
                return;
        if (c->fetch_pending)
                c->fetch_stale = true;
        else if (c->fetch_wanted && (seq == 0 || seq <= c->fetch_max_seq))
                c->fetch_max_seq -= MIN(count, c->fetch_max_seq);
}

static void on_untagged(Connection *c, const ImapResponse *resp) {
        bool selected = imap_session_state(c->s) == IMAP_STATE_SELECTED ||
                        imap_session_state(c->s) == IMAP_STATE_IDLING;

        if (resp->status == IMAP_STATUS_BYE) {
                char t[200];
                log_info("%s: server says BYE: %s", cname(c), log_escape(resp->text.ptr, resp->text.len, t, sizeof(t)));
                /* "BYE ... AccessTokenExpired" (Microsoft), "session expired": get a new token
                 * at once instead of backing off (goimapnotify #25). */
                if (strcasestr(t, "expired") && secret_is_fetched(c->account) && !c->refetched)
                        c->refetched = c->refetch_now = true;
                return;
        }
        if (c->select_pending) {
                /* Collect what SELECT/EXAMINE says (RFC 3501 §6.3.1). */
                if (resp->data_type == IMAP_DATA_EXISTS)
                        c->sel_exists = resp->number;
                else if (resp->code.type == IMAP_CODE_UIDVALIDITY)
                        c->sel_uidvalidity = resp->code.number;
                else if (resp->code.type == IMAP_CODE_UIDNEXT)
                        c->sel_uidnext = resp->code.number;
                else if (resp->code.type == IMAP_CODE_HIGHESTMODSEQ)
                        c->sel_highestmodseq = resp->code.modseq;       /* RFC 7162 §3.1.2.1 */
                return;
        }
        if (resp->data_type == IMAP_DATA_STATUS) {
                on_status(c, resp);
                return;
        }
        if (!selected)
                return; /* security.md H10: EXISTS before SELECT means nothing */
        switch (resp->data_type) {
        case IMAP_DATA_EXISTS:
                watch_on_exists(cur_watch(c), resp->number);
                break;
        case IMAP_DATA_EXPUNGE:
                fetch_expunged(c, 1, resp->number);
                watch_on_expunge(cur_watch(c), resp->number);
                break;
        case IMAP_DATA_FETCH:
                on_fetch(c, resp->number, resp->fetch);
                break;

        case IMAP_DATA_VANISHED:
                if (!resp->vanished.earlier) {
                        ImapSeqsetIter it = imap_seqset_iter(resp->vanished.uids.ptr, resp->vanished.uids.len);
                        uint32_t lo, hi;
                        uint64_t n = 0;

                        while (imap_seqset_next(&it, &lo, &hi) > 0)
                                n += (uint64_t) hi - lo + 1;
                        fetch_expunged(c, (uint32_t) MIN(n, (uint64_t) UINT32_MAX), 0);
                        watch_on_vanished(cur_watch(c), (uint32_t) MIN(n, (uint64_t) UINT32_MAX));
                }
                break;
        default:
                break;
        }
}

static int on_done(Connection *c, const ImapEvent *e) {
        const ImapResponse *r = e->resp;
        bool ok = r->status == IMAP_STATUS_OK;
        char text[200];

        log_escape(r->text.ptr, r->text.len, text, sizeof(text));
        if (c->cap_pending && e->id == c->cap_id) {
                c->cap_pending = false;
                if (!ok)
                        return fail(c, -EPROTO, "CAPABILITY refused");
                return next_step(c);
        }
        if (c->starttls_pending && e->id == c->starttls_id) {
                c->starttls_pending = false;
                if (!ok)
                        return fail(c, -EPROTO, "STARTTLS refused; refusing to go on in plaintext");
                return 0; /* the STARTTLS event follows */
        }
        if (c->auth_pending && e->id == c->auth_id) {
                c->auth_pending = false;
                if (!ok) {
                        /* The secret may have changed or expired (tokens last about an hour):
                         * fetch it again and retry at once, a single time; then a long
                         * backoff, never disabled (anchors.md §3 rows 6 and 19). */
                        log_warning("%s: authentication failed: %s", cname(c), text);
                        if (secret_is_fetched(c->account) && !c->refetched) {
                                c->refetched = c->refetch_now = true;
                                return fail(c, -EACCES, "login refused; fetching the secret again");
                        }
                        c->auth_failed = true;
                        return fail(c, -EACCES, "login refused");
                }
                c->auth_failed = c->refetched = false;
                ramp_done(c);
                return next_step(c);
        }
        if (c->select_pending && e->id == c->select_id && c->polled) {
                c->select_pending = false;
                if (!ok) {
                        /* This mailbox only: the others are still polled. */
                        log_warning("%s: cannot open %s: %s", cname(c), watch_name(c->fetch_watch), text);
                        c->fetch_wanted = false;
                        watch_fetch_done(c->fetch_watch, -EIO, NULL);
                        return poll_work(c);
                }
                return do_fetch(c);
        }
        if (c->status_pending && e->id == c->status_id) {
                c->status_pending = false;
                if (!ok)
                        log_warning("%s: STATUS %s refused: %s", cname(c), watch_name(c->polled[c->poll_next]), text);
                c->poll_next++;
                return poll_step(c);
        }
        if (c->close_pending && e->id == c->close_id) {
                c->close_pending = false;
                c->fetch_watch = NULL;
                return poll_work(c);
        }
        if (c->select_pending && e->id == c->select_id) {
                c->select_pending = false;
                if (!ok) {
                        log_warning("%s: cannot open the mailbox: %s", cname(c), text);
                        return fail(c, -ENOENT, "EXAMINE refused");
                }
                watch_set_fetcher(c->watch, connection_fetch, c);
                watch_selected(c->watch, c->sel_exists, c->sel_uidvalidity, c->sel_uidnext, c->sel_highestmodseq,
                               false);
                if (!c->s)
                        return 0;
                return resume(c);
        }
        if (c->idle_pending && e->id == c->idle_id) {
                uint64_t ran = now_mono(c) - c->idle_started;

                c->idle_pending = false;
                disarm_idle_timer(c);
                if (r->status == IMAP_STATUS_BAD)
                        return fail(c, -EPROTO, "IDLE refused");
                if (c->state == CONNECTION_IDLE_STARTING) {
                        /* security.md H06: IDLE refused with NO: poll instead. */
                        log_notice("%s: IDLE refused (%s), polling", cname(c), text);
                        connection_set_state(c, CONNECTION_SELECTING);
                        return arm_idle_timer(c, NOOP_POLL_USEC);
                }
                if (c->stopping)
                        return do_logout(c);
                if (c->fetch_wanted)
                        return resume(c);
                /* H05: the server ended IDLE itself; come back at once the
                 * first time, then back off so a loop cannot spin. */
                if (c->state == CONNECTION_IDLING && ran < USEC_PER_SEC) {
                        unsigned shift = MIN(c->quick_idle_ends, 6u);
                        uint64_t delay = MIN((uint64_t) USEC_PER_SEC << shift, 60 * USEC_PER_SEC);
                        c->quick_idle_ends++;
                        connection_set_state(c, CONNECTION_SELECTING);
                        return arm_idle_timer(c, delay);
                }
                return start_idle(c);
        }
        if (c->noop_pending && e->id == c->noop_id) {
                c->noop_pending = false;
                return resume(c);
        }
        if (c->fetch_pending && e->id == c->fetch_id)
                return on_fetch_done(c, ok, text);
        if (c->logout_pending && e->id == c->logout_id) {
                c->logout_pending = false;
                close_transport(c);
                connection_set_state(c, CONNECTION_STOPPED);
                return 0;
        }
        return 0;
}

static int on_starttls(Connection *c) {
        /* The handshake starts once the feeding stopped, when we know whether
         * anything came after the OK (begin_tls()). */
        c->starttls_ready = true;
        return 0;
}

static int handle_events(Connection *c) {
        ImapEvent e;
        int r = 0;

        while (r >= 0 && c->s && imap_session_next_event(c->s, &e) > 0) {
                switch (e.type) {
                case IMAP_EVENT_GREETING:
                        c->greeted_preauth = e.resp->status == IMAP_STATUS_PREAUTH;
                        if (c->greeted_preauth && c->account->tls == CFG_TLS_STARTTLS && !c->account->tunnel)
                                /* PREAUTH before STARTTLS would skip TLS (CVE-2020-14093 class). */
                                r = fail(c, -EPROTO, "PREAUTH greeting where STARTTLS was required");
                        else
                                r = next_step(c);
                        break;
                case IMAP_EVENT_UNTAGGED:
                        on_untagged(c, e.resp);
                        break;
                case IMAP_EVENT_DONE:
                        r = on_done(c, &e);
                        break;
                case IMAP_EVENT_IDLING:
                        if (!c->settled || c->backoff_usec)
                                log_info("%s: idling", cname(c));
                        /* Before the state change: the manager counts settled connections from it. */
                        c->settled = true;
                        connection_set_state(c, CONNECTION_IDLING);
                        c->backoff_usec = 0;
                        if (c->quick_idle_ends && now_mono(c) - c->idle_started > USEC_PER_SEC)
                                c->quick_idle_ends = 0;
                        r = arm_idle_timer(c, idle_next(c) - MIN(idle_next(c), now_mono(c)));
                        if (r >= 0 && c->fetch_wanted) {
                                /* A fetch was asked for while IDLE was starting. */
                                r = idle_done(c, "fetch for the watch");
                                r = r < 0 ? fail_session(c, r) : 0;
                        }
                        break;
                case IMAP_EVENT_STARTTLS:
                        r = on_starttls(c);
                        break;
                case _IMAP_EVENT_TYPE_MAX:
                        break;
                }
        }
        return r;
}

/* One read buffer for every connection: the loop has one thread, and the
 * session's parser keeps what it needs of a partial response, so between
 * reads a connection holds no read buffer of its own.  Only bytes left
 * unfed (after the STARTTLS OK) are copied to c->in. */
static char read_buf[READ_CHUNK];

/* Feed p[0, n) one response at a time.  *ret_used: bytes the session took.
 * Returns false when the connection was closed on the way. */
static bool feed(Connection *c, const char *p, size_t n, size_t *ret_used) {
        size_t off = 0;
        int r;

        while (c->s && off < n && !imap_session_tls_pending(c->s)) {
                size_t used = 0;

                r = imap_session_feed(c->s, p + off, n - off, now_mono(c), &used);
                off += used;
                if (r < 0) {
                        (void) fail_session(c, r);
                        break;
                }
                if (r == 0)
                        break;
                if (handle_events(c) < 0)
                        break;
        }
        *ret_used = off;
        return c->s != NULL;
}

/* After the STARTTLS OK was processed: start the handshake, unless bytes
 * came after the OK (security.md B01: never trust them). */
static int begin_tls(Connection *c, size_t unfed) {
        int r;

        c->starttls_ready = false;
        if (unfed > 0 || c->in.len > 0)
                return fail(c, -EPROTO, "data after STARTTLS response: possible injection");
        r = conn_start_tls(c->conn, c->account->host, c->tls);
        if (r < 0)
                return fail(c, r, conn_error(c->conn) ? conn_error(c->conn) : "STARTTLS failed");
        /* Entering the phase again starts the handshake's own deadline (tls_timeout). */
        connection_set_state(c, CONNECTION_STARTTLS);
        return 0;
}

/* Read what is there (within the budget) and run it through the session. */
static int read_and_feed(Connection *c) {
        size_t budget = READ_BUDGET, used;
        bool ok;

        /* Bytes left from before go first. */
        if (c->in.len > 0) {
                if (!feed(c, c->in.data, c->in.len, &used))
                        return 0;
                memmove(c->in.data, c->in.data + used, c->in.len - used);
                c->in.len -= used;
                if (c->starttls_ready)
                        return begin_tls(c, c->in.len);
                if (c->in.len > 0)
                        return 0;
                buf_done_secure(&c->in);
        }
        while (c->s && budget > 0) {
                ssize_t n = conn_read(c->conn, read_buf, sizeof(read_buf));

                if (n == -EAGAIN)
                        break;
                if (n < 0)
                        return fail(c, (int) n, conn_error(c->conn) ? conn_error(c->conn) : "read failed");
                if (n == 0) {
                        if (c->state == CONNECTION_LOGGING_OUT || c->stopping) {
                                close_transport(c);
                                connection_set_state(c, CONNECTION_STOPPED);
                                return 0;
                        }
                        return fail_session(c, imap_session_eof(c->s));
                }
                budget = (size_t) n >= budget ? 0 : budget - (size_t) n;
                c->last_rx = now_mono(c);
                if (log_get_max_level() >= LOG_DEBUG)
                        hook_note_input(clock_usec());
                /* Anything from the server proves it alive: the probe moves back
                 * (docs/LIVENESS.md), with no wake-up of its own. */
                if (c->state == CONNECTION_IDLING)
                        c->idle_at = idle_next(c);
                ok = feed(c, read_buf, (size_t) n, &used);
                hook_note_input(0);
                if (!ok)
                        return 0;
                if (c->starttls_ready)
                        return begin_tls(c, (size_t) n - used);
                if (used < (size_t) n) {
                        int r = buf_append(&c->in, read_buf + used, (size_t) n - used, 0);
                        if (r < 0)
                                return fail(c, r, "out of memory");
                        return 0;
                }
        }
        return 0;
}

static int on_more(sd_event_source *s, void *userdata);

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;
        int r;

        (void) s;
        (void) fd;
        (void) revents;
        if (c->state == CONNECTION_CONNECTING || (c->state == CONNECTION_STARTTLS && c->s &&
                                                  imap_session_tls_pending(c->s))) {
                r = conn_process(c->conn);
                if (r < 0)
                        return fail(c, r, conn_error(c->conn) ? conn_error(c->conn) : "connect failed");
                if (r == 0)
                        return update_io(c);
                if (c->state == CONNECTION_CONNECTING) {
                        ImapSessionParams p = {
                                .tag_prefix = "A",
                                .cmd_timeout = c->account->live.command_timeout_usec,
                                .greeting_timeout = c->account->live.greeting_timeout_usec,
                                .now = now_mono(c),
                        };

                        r = imap_session_new(&p, &c->s);
                        if (r < 0)
                                return fail(c, r, "cannot create session");
                        log_debug("%s: connected to %s", cname(c), conn_peer(c->conn));
                        connection_set_state(c, CONNECTION_GREETING);
                } else {
                        r = imap_session_starttls_done(c->s);
                        if (r < 0)
                                return fail_session(c, r);
                        c->starttls_done = true;
                        r = ask_capability(c);
                        if (r < 0 || !c->s)
                                return 0;
                }
        }
        if (c->s) {
                r = read_and_feed(c);
                if (r < 0 || !c->conn)
                        return 0;
                r = write_out(c);
                if (r < 0)
                        return fail(c, r, conn_error(c->conn) ? conn_error(c->conn) : "write failed");
        }
        if (!c->conn)
                return 0;
        /* TLS may hold decrypted bytes that poll() cannot see; and the budget
         * may have left bytes unread: come back on the next loop turn. */
        if (c->s && (conn_has_pending(c->conn) || c->in.len > 0) && !imap_session_tls_pending(c->s) && !c->more) {
                r = sd_event_add_defer(c->event, &c->more, on_more, c);
                if (r < 0)
                        return fail(c, r, "cannot schedule reading");
        }
        return update_io(c);
}

static int on_more(sd_event_source *s, void *userdata) {
        Connection *c = userdata;

        (void) s;
        c->more = sd_event_source_disable_unref(c->more);
        if (!c->conn)
                return 0;
        return on_io(c->io, conn_fd(c->conn), EPOLLIN, c);
}

static int on_phase_timeout(Connection *c) {
        char why[128];

        if (c->state == CONNECTION_LOGGING_OUT) {
                close_transport(c);
                connection_set_state(c, CONNECTION_STOPPED);
                return 0;
        }
        (void) snprintf(why, sizeof(why), "no progress in state %s within %.1f s%s", state_table[c->state],
                        (double) phase_timeout(c, c->state) / USEC_PER_SEC,
                        c->state == CONNECTION_IDLE_ENDING ? " (no reply to DONE: dead connection?)" : "");
        return fail(c, -ETIMEDOUT, why);
}

static void on_timer(TimerEntry *e, uint64_t now) {
        Connection *c = (Connection *) (void *) ((char *) e - offsetof(Connection, timer));

        if (c->phase_at <= now) {
                c->phase_at = USEC_INFINITY;
                (void) on_phase_timeout(c);
                return;
        }
        if (c->session_at <= now) {
                c->session_at = USEC_INFINITY;
                if (c->s && imap_session_tick(c->s, now) < 0)
                        (void) fail_session(c, -ETIMEDOUT);
                else
                        (void) update_io(c);
                return;
        }
        if (c->idle_at <= now) {
                c->idle_at = USEC_INFINITY;
                (void) on_idle_timer(c);
                return;
        }
        arm_timer(c);
}

/* The transport exists: watch it, and set TCP keepalive. */
static int watch_conn(Connection *c) {
        const CfgAccount *a = c->account;
        int r;

        if (!a->tunnel) {
                /* Dead peers that never answer: TCP notices within idle + interval × count
                 * (TCP_USER_TIMEOUT the same, for unacknowledged writes), docs/LIVENESS.md. */
                ConnTcpOptions o = {
                        .keepalive_idle_sec = (unsigned) (a->live.keepalive_idle_usec / USEC_PER_SEC),
                        .keepalive_interval_sec = (unsigned) (a->live.keepalive_interval_usec / USEC_PER_SEC),
                        .keepalive_count = a->live.keepalive_count,
                };

                r = conn_set_tcp_options(c->conn, &o);
                if (r < 0)
                        log_warning("%s: cannot set TCP keepalive: %s", cname(c), strerror(-r));
        }
        r = sd_event_add_io(c->event, &c->io, conn_fd(c->conn), EPOLLIN | EPOLLOUT, on_io, c);
        if (r < 0)
                return fail(c, r, "cannot watch the socket");
        connection_set_state(c, CONNECTION_CONNECTING);
        return 0;
}

static int on_resolved(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;
        const CfgAccount *a = c->account;
        const struct addrinfo *list = NULL;
        const char *why = NULL;
        char msg[300];
        int r;

        (void) s;
        (void) fd;
        (void) revents;
        r = conn_resolve_result(c->resolve, &list, &why);
        if (r == -EAGAIN)
                return 0;
        c->resolve_io = sd_event_source_disable_unref(c->resolve_io);
        if (r < 0) {
                (void) snprintf(msg, sizeof(msg), "%s", why ? why : "cannot resolve the host name");
                return fail(c, r, msg);
        }
        if (a->tls == CFG_TLS_IMPLICIT)
                r = conn_tls_new_resolved(a->host, a->port, list, c->tls, &c->conn);
        else
                r = conn_tcp_new_resolved(a->host, a->port, list, &c->conn);
        c->resolve = conn_resolve_free(c->resolve);
        if (r < 0)
                return fail(c, r, "cannot connect");
        return watch_conn(c);
}

/* DNS is resolved again on every attempt (addresses change), on a thread:
 * a resolver that hangs (no network after a resume) must not stall the other
 * accounts.  connect_timeout bounds the lookup and the connect together. */
static int do_connect(Connection *c) {
        const CfgAccount *a = c->account;
        int r;

        if (a->tunnel) {
                r = conn_tunnel_new(a->tunnel, &c->conn);
                if (r < 0)
                        return fail(c, r, "cannot start the tunnel");
                return watch_conn(c);
        }
        r = conn_resolve_start(a->host, a->port, &c->resolve);
        if (r < 0)
                return fail(c, r, "cannot start resolving the host name");
        r = sd_event_add_io(c->event, &c->resolve_io, conn_resolve_fd(c->resolve), EPOLLIN, on_resolved, c);
        if (r < 0)
                return fail(c, r, "cannot watch the name lookup");
        connection_set_state(c, CONNECTION_CONNECTING);
        return 0;
}

static void on_secret(int r, const char *secret, size_t len, void *userdata) {
        Connection *c = userdata;

        c->secret_cmd = hook_free(c->secret_cmd); /* allowed from the callback (hook.h) */
        if (r < 0) {
                (void) fail(c, r, "the password or token command failed");
                return;
        }
        c->secret = strndup(secret, len);
        if (!c->secret) {
                (void) fail(c, -ENOMEM, "out of memory");
                return;
        }
        (void) do_connect(c);
}

/* With a slot of the ramp: the secret, then the connect. */
static int begin(Connection *c) {
        const CfgAccount *a = c->account;
        char *const *cmd = a->password_command ? a->password_command : a->oauth2_token_command;
        int r;

        if (cmd) {
                char log_name[256];

                /* Runs again on every connect: tokens expire (issue 6). */
                (void) snprintf(log_name, sizeof(log_name), "%s %s", a->name,
                                a->password_command ? "password_command" : "oauth2_token_command");
                connection_set_state(c, CONNECTION_SECRET);
                r = secret_command_run(c->event, cmd, SECRET_TIMEOUT_USEC, SECRET_MAX_BYTES, log_name, on_secret, c,
                                       &c->secret_cmd);
                if (r < 0)
                        return fail(c, r, "cannot run the password or token command");
                return 0;
        }
        if (a->password_file) {
                r = secret_file_read(a->password_file, &c->secret);
                if (r < 0)
                        return fail(c, r, "cannot read password_file");
        } else if (a->password) {
                c->secret = strdup(a->password);
                if (!c->secret)
                        return fail(c, -ENOMEM, "out of memory");
        }
        return do_connect(c);
}

static void on_ramp_go(RampEntry *e) {
        Connection *c = (Connection *) (void *) ((char *) e - offsetof(Connection, ramp_entry));

        if (c->state != CONNECTION_QUEUED) {
                ramp_done(c);
                return;
        }
        (void) begin(c);
}

/* Everything from the secret command to the login holds a slot of the ramp
 * (ramp.h): that bounds the processes, threads and handshakes of a restart
 * with thousands of connections, and the descriptors cfg_descriptors_needed()
 * counts for them. */
static int attempt(Connection *c) {
        if (c->stopping)
                return 0;
        close_transport(c);
        if (c->ramp && ramp_acquire(c->ramp, &c->ramp_entry) == 0) {
                connection_set_state(c, CONNECTION_QUEUED);
                return 0;
        }
        return begin(c);
}

/* ---- lifecycle ------------------------------------------------------------------------------------ */

int connection_start(Connection *c) {
        return attempt(c);
}

static int do_logout(Connection *c) {
        int r;

        r = simple(c, "LOGOUT", &c->logout_id);
        if (r < 0) {
                close_transport(c);
                connection_set_state(c, CONNECTION_STOPPED);
                return 0;
        }
        c->logout_pending = true;
        connection_set_state(c, CONNECTION_LOGGING_OUT);
        return 0;
}

void connection_stop(Connection *c) {
        int r;

        c->stopping = true;
        c->retry = sd_event_source_disable_unref(c->retry);
        if (!c->s || imap_session_is_dead(c->s) || imap_session_state(c->s) == IMAP_STATE_LOGOUT ||
            c->state == CONNECTION_IDLE_STARTING || c->state == CONNECTION_STARTTLS) {
                close_transport(c);
                connection_set_state(c, CONNECTION_STOPPED);
                return;
        }
        /* Best effort: DONE if idling (LOGOUT follows its reply), else LOGOUT now. */
        if (c->state == CONNECTION_IDLING) {
                r = imap_session_idle_done(c->s, now_mono(c));
                if (r != 0) {
                        close_transport(c);
                        connection_set_state(c, CONNECTION_STOPPED);
                        return;
                }
                connection_set_state(c, CONNECTION_IDLE_ENDING);
        } else if (c->state != CONNECTION_IDLE_ENDING)
                (void) do_logout(c);
        if (c->conn && write_out(c) < 0) {
                close_transport(c);
                connection_set_state(c, CONNECTION_STOPPED);
                return;
        }
        (void) update_io(c);
}

void connection_reconnect(Connection *c, uint64_t delay_usec, const char *why) {
        uint64_t now = 0;
        int r;

        if (c->stopping || c->state == CONNECTION_STOPPED)
                return;
        if (c->state != CONNECTION_WAITING) {
                log_info("%s: reconnecting: %s", cname(c), why);
                close_transport(c);
                connection_set_state(c, CONNECTION_WAITING);
        }
        /* The cause is gone (resume, new network): start the backoff afresh. */
        c->backoff_usec = 0;
        (void) sd_event_now(c->event, CLOCK_BOOTTIME, &now);
        c->retry_at = now + delay_usec;
        c->retry = sd_event_source_disable_unref(c->retry);
        r = sd_event_add_time(c->event, &c->retry, CLOCK_BOOTTIME, c->retry_at, USEC_PER_SEC / 100, on_retry, c);
        if (r < 0)
                log_error_errno(r, "%s: cannot arm the retry timer: %m", cname(c));
}

void connection_set_config(Connection *c, const CfgAccount *account) {
        c->account = account;
}

ConnectionState connection_state(const Connection *c) {
        return c->state;
}

bool connection_settled(const Connection *c) {
        return c->settled;
}

uint64_t connection_retry_at(const Connection *c) {
        return c->state == CONNECTION_WAITING ? c->retry_at : 0;
}

Watch *connection_watch(const Connection *c) {
        return c->watch;
}

const char *connection_name(const Connection *c) {
        return cname(c);
}

int connection_new(sd_event *e, const CfgAccount *account, ConnTlsCtx *tls, Ramp *ramp, Timers *timers,
                   Watch *watch, ConnectionStateFn on_state, void *userdata, Connection **ret) {
        Connection *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(e);
        c->account = account;
        c->tls = tls;
        c->ramp = ramp;
        c->timers = timers;
        c->timer = TIMER_ENTRY_INIT(on_timer);
        c->phase_at = c->session_at = c->idle_at = USEC_INFINITY;
        c->ramp_entry = RAMP_ENTRY_INIT(on_ramp_go);
        c->watch = watch;
        c->on_state = on_state;
        c->userdata = userdata;
        c->state = CONNECTION_WAITING;
        *ret = c;
        return 0;
}

int connection_new_poller(sd_event *e, const CfgAccount *account, ConnTlsCtx *tls, Ramp *ramp, Timers *timers,
                          Watch *const *watches, size_t n, ConnectionStateFn on_state, void *userdata,
                          Connection **ret) {
        _cleanup_(connection_freep) Connection *c = NULL;
        int r;

        assert_return(n > 0, -EINVAL);
        r = connection_new(e, account, tls, ramp, timers, watches[0], on_state, userdata, &c);
        if (r < 0)
                return r;
        c->polled = calloc(n, sizeof(Watch *));
        c->poll_req = calloc(n, sizeof(PollRequest));
        if (!c->polled || !c->poll_req)
                return -ENOMEM;
        memcpy(c->polled, watches, n * sizeof(Watch *));
        c->n_polled = n;
        if (asprintf(&c->poll_name, "%s (%zu mailbox%s polled)", account->name, n, n == 1 ? "" : "es") < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

size_t connection_polled(const Connection *c) {
        return c->n_polled;
}

Connection *connection_free(Connection *c) {
        if (!c)
                return NULL;
        close_transport(c);
        free(c->polled);
        free(c->poll_req);
        free(c->poll_name);
        sd_event_source_disable_unref(c->retry);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

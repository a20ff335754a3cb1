/* SPDX-License-Identifier: MIT */
/*
 * connection.c: the connection's core; see connection.h and
 * connection-private.h.
 *
 * Setting up is a chain: each tagged reply decides the next command
 * (greeting -> [CAPABILITY] -> [STARTTLS -> CAPABILITY] -> LOGIN/AUTHENTICATE
 * -> [CAPABILITY]), then the mode's start().  connection_set_state() is the only
 * writer of the state and logs every transition at debug level; the table
 * phase_timeouts[] is the only source of a state's deadline.
 */
#include <assert.h>
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
#include "connection-private.h"
#include "hook.h"
#include "imap-seqset.h"
#include "log.h"
#include "resolve.h"
#include "trace.h"

#define SECRET_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define SECRET_MAX_BYTES 16384
#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (300 * USEC_PER_SEC)
#define AUTH_BACKOFF_MIN_USEC (60 * USEC_PER_SEC)
#define AUTH_BACKOFF_MAX_USEC (1800 * USEC_PER_SEC)
/* A connection must have been set up this long before its failure starts the backoff
 * afresh; a failure sooner counts as one more of the run (catalogue J10).  Longer than a
 * liveness probe round with the defaults (125 s + 10 s, docs/LIVENESS.md), so a
 * connection that gets that far has shown more than a login and an IDLE. */
#define CONNECTION_HEALTHY_USEC (180 * USEC_PER_SEC)
/* Read at most this much per wake-up, so one busy connection cannot starve
 * the others (docs/SECURITY.md INV-12); the rest is read on the next loop turn. */
#define READ_BUDGET (64 * 1024)
#define READ_CHUNK 16384
/* [ALERT] texts logged per connection (RFC 3501 §7.1: shown to the user); the rest at
 * debug level, so that a server cannot flood the log with them. */
#define ALERTS_LOGGED_MAX 4
/* Appended to log lines that carry text a STARTTLS account received before its
 * handshake: anyone on the path may have written it (docs/SECURITY.md D01, INV-11). */
#define UNVERIFIED_MARK " [sent before TLS: unverified]"

static const char *const state_table[_CONNECTION_STATE_MAX] = {
        [CONNECTION_WAITING] = "waiting",
        [CONNECTION_SECRET] = "secret",
        [CONNECTION_QUEUED] = "queued",
        [CONNECTION_CONNECTING] = "connecting",
        [CONNECTION_GREETING] = "greeting",
        [CONNECTION_CAPABILITY] = "capability",
        [CONNECTION_STARTTLS] = "starttls",
        [CONNECTION_AUTHENTICATING] = "authenticating",
        [CONNECTION_ENABLING] = "enabling",
        [CONNECTION_SELECTING] = "selecting",
        [CONNECTION_RESTING] = "resting",
        [CONNECTION_IDLE_STARTING] = "idle-starting",
        [CONNECTION_IDLING] = "idling",
        [CONNECTION_IDLE_ENDING] = "idle-ending",
        [CONNECTION_FETCHING] = "fetching",
        [CONNECTION_NOOPING] = "nooping",
        [CONNECTION_POLLING] = "polling",
        [CONNECTION_CLOSING] = "closing",
        [CONNECTION_NOTIFY_SETTING] = "notify-setting",
        [CONNECTION_LISTING] = "listing",
        [CONNECTION_LOGGING_OUT] = "logging-out",
        [CONNECTION_STOPPED] = "stopped",
        [CONNECTION_UNSUITED] = "unsuited",
};

const char *connection_state_to_string(ConnectionState s) {
        return (unsigned) s < ELEMENTSOF(state_table) ? state_table[s] : NULL;
}


#define NO_DEADLINE SIZE_MAX
#define LIVE(field) offsetof(CfgLiveness, field)

/* Every state but those that wait for time or for others has a deadline
 * (issue 6, docs/SECURITY.md J-group: a server that stops answering in any phase
 * must not hold the connection): the CfgLiveness field that gives it. */
static const size_t phase_timeouts[_CONNECTION_STATE_MAX] = {
        [CONNECTION_WAITING] = NO_DEADLINE,
        [CONNECTION_SECRET] = NO_DEADLINE,              /* the secret command has its own timeout */
        [CONNECTION_QUEUED] = NO_DEADLINE,              /* others are ahead, not this server */
        [CONNECTION_CONNECTING] = LIVE(connect_timeout_usec),
        [CONNECTION_GREETING] = LIVE(greeting_timeout_usec),
        [CONNECTION_CAPABILITY] = LIVE(command_timeout_usec),
        [CONNECTION_STARTTLS] = LIVE(tls_timeout_usec),
        [CONNECTION_AUTHENTICATING] = LIVE(auth_timeout_usec),
        [CONNECTION_ENABLING] = LIVE(command_timeout_usec),
        [CONNECTION_SELECTING] = LIVE(select_timeout_usec),
        [CONNECTION_RESTING] = NO_DEADLINE,             /* nothing asked of the server */
        [CONNECTION_IDLE_STARTING] = LIVE(command_timeout_usec),
        [CONNECTION_IDLING] = NO_DEADLINE,              /* liveness_interval instead */
        [CONNECTION_IDLE_ENDING] = LIVE(done_timeout_usec),
        [CONNECTION_FETCHING] = LIVE(command_timeout_usec),
        [CONNECTION_NOOPING] = LIVE(command_timeout_usec),
        [CONNECTION_POLLING] = LIVE(command_timeout_usec),
        [CONNECTION_CLOSING] = LIVE(command_timeout_usec),
        [CONNECTION_NOTIFY_SETTING] = LIVE(command_timeout_usec),
        [CONNECTION_LISTING] = LIVE(command_timeout_usec),
        [CONNECTION_LOGGING_OUT] = LIVE(command_timeout_usec),
        [CONNECTION_STOPPED] = NO_DEADLINE,
        [CONNECTION_UNSUITED] = NO_DEADLINE,
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

uint64_t connection_now(const Connection *c) {
        uint64_t t = 0;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* Set the one timer entry to the earliest deadline; nothing to do if it is there already. */
static void arm_timer(Connection *c) {
        uint64_t engine = MIN(c->session_at, c->response_at);
        uint64_t soonest = MIN(engine, c->wake_at);
        uint64_t at = MIN(c->phase_at, soonest);
        int r;

        if (at == timers_due(&c->timer))
                return;
        r = timers_set(c->timers, &c->timer, at);
        if (r < 0)
                log_error_errno(r, "%s: cannot arm a deadline: %m", connection_name(c));
}

void connection_set_state(Connection *c, ConnectionState st) {
        ConnectionState old = c->state;

        /* Entering a phase again (STARTTLS command, then its handshake) restarts its deadline. */
        c->phase_at = usec_add(connection_now(c), phase_timeout(c, st));
        /* The wake-up belongs to RESTING and IDLING only. */
        if (st != CONNECTION_RESTING && st != CONNECTION_IDLING)
                c->wake_at = USEC_INFINITY;
        arm_timer(c);
        if (old == st)
                return;
        c->state = st;
        log_debug("%s: %s -> %s", connection_name(c), state_table[old], state_table[st]);
        if (c->on_state)
                c->on_state(c, old, st, c->userdata);
}

static void set_wake(Connection *c, uint64_t usec) {
        c->wake_at = usec_add(connection_now(c), usec);
        arm_timer(c);
}

void connection_rest(Connection *c, uint64_t usec) {
        connection_set_state(c, CONNECTION_RESTING);
        set_wake(c, usec);
}

/* Set up: the backoff is put aside, not forgotten, until the connection has lasted
 * (connection_fail()). */
static void mark_healthy(Connection *c) {
        if (c->healthy_since == 0) {
                c->healthy_since = MAX(connection_now(c), 1u);
                c->backoff_kept = c->backoff_usec;
        }
        c->backoff_usec = 0;
}

void connection_settle(Connection *c) {
        bool was = c->settled;

        c->settled = true;
        mark_healthy(c);
        /* The state may not change here: tell the manager anyway, READY=1 waits for this. */
        if (!was && c->on_state)
                c->on_state(c, c->state, c->state, c->userdata);
}

static void erase_secret(Connection *c) {
        if (c->secret) {
                explicit_bzero(c->secret, strlen(c->secret));
                c->secret = mfree(c->secret);
        }
}

/* The expensive part of setting up is over (or failed): the next connection may start. */
static void ramp_done(Connection *c) {
        if (c->ramp)
                ramp_release(c->ramp, &c->ramp_entry);
}

/* Drop the transport and the session; keep the watches and the backoff. */
static void close_transport(Connection *c) {
        ramp_done(c);
        timers_clear(c->timers, &c->timer);
        c->phase_at = c->session_at = c->response_at = c->wake_at = USEC_INFINITY;
        /* A lookup still running is abandoned: its thread finishes on its own. */
        c->resolve_io = sd_event_source_disable_unref(c->resolve_io);
        c->resolve = conn_resolve_free(c->resolve);
        /* A fetch in flight is answered (with an error) by the watch itself,
         * when the mode's reset() detaches it. */
        fetch_reset(&c->fetch);
        c->mode->reset(c);
        connection_lister_reset(c);
        c->selected = NULL;
        c->select_done = NULL;
        c->n_pending = 0;
        c->io = sd_event_source_disable_unref(c->io);
        c->more = sd_event_source_disable_unref(c->more);
        secret_cache_cancel(&c->secret_wait);
        c->conn = conn_free(c->conn);
        c->s = imap_session_free(c->s);
        c->trace = imap_trace_free(c->trace);
        buf_done_secure(&c->in);
        erase_secret(c);
        c->starttls_done = c->starttls_ready = false;
        c->alerts = 0;
        /* QRESYNC is enabled per session (RFC 5161 §3.1). */
        c->qresync_asked = c->qresync = false;
        c->sel_qresync = false;
        c->sel_vanished = mfree(c->sel_vanished);
        c->healthy_since = 0;
}

static void stopped(Connection *c) {
        close_transport(c);
        connection_set_state(c, CONNECTION_STOPPED);
}

int connection_unsuited(Connection *c, const char *why) {
        log_notice("%s: %s", connection_name(c), why);
        c->unsuited_why = why;
        close_transport(c);
        connection_set_state(c, CONNECTION_UNSUITED);
        return 0;
}

const char *connection_unsuited_why(const Connection *c) {
        return c->state == CONNECTION_UNSUITED ? c->unsuited_why : NULL;
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
 * accounts that failed together do not come back together (docs/SECURITY.md J10). */
static uint64_t next_delay(Connection *c) {
        /* A refused login or a mailbox the server does not have is not fixed by trying again
         * soon: only the user fixes it, so the slow pace, without a warning every few seconds. */
        bool slow = c->auth_failed || c->mailbox_missing;
        uint64_t lo = slow ? AUTH_BACKOFF_MIN_USEC : BACKOFF_MIN_USEC;
        uint64_t hi = slow ? AUTH_BACKOFF_MAX_USEC : BACKOFF_MAX_USEC;
        uint64_t b, r = 0;

        b = c->backoff_usec == 0 ? lo : MAX(c->backoff_usec * 2, lo);
        b = MIN(b, hi);
        c->backoff_usec = b;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (uint64_t) connection_now(c) * 2654435761u;
        return b / 2 + r % (b / 2 + 1);
}

/* The secret comes from somewhere that may hold a newer one next time. */
static bool secret_is_fetched(const CfgAccount *a) {
        return a->password_command || a->oauth2_token_command || a->password_file;
}

/* One allocation per failure, which the backoff spaces out; on ENOMEM the old text stays. */
static void connection_set_last_error(Connection *c, const char *what) {
        char *e = strdup(what);

        if (!e)
                return;
        free(c->last_error);
        c->last_error = e;
        c->last_error_at = connection_now(c);
}

/* What the account's tls setting may have to do with a failure: implicit TLS towards a port
 * that speaks plain IMAP fails the handshake on the greeting's bytes, which OpenSSL reads as a
 * record header ("wrong version number"); STARTTLS or plain text towards a port that speaks TLS
 * from the first byte waits for a greeting that never comes (that server waits for our
 * ClientHello).  "" when there is nothing to suggest. */
static const char *tls_hint(const Connection *c, int r, const char *what) {
        if (c->account->tunnel)
                return "";
        if (c->account->tls == CFG_TLS_IMPLICIT && strstr(what, "TLS handshake:") &&
            (strstr(what, "wrong version number") || strstr(what, "packet length too long")))
                return "; the server does not speak TLS at once on this port: for STARTTLS (usually port "
                       "143) set tls = \"starttls\"";
        if (c->account->tls != CFG_TLS_IMPLICIT && c->state == CONNECTION_GREETING && r == -ETIMEDOUT)
                return "; a server that speaks TLS from the first byte (usually port 993) sends no greeting "
                       "before it: for that set tls = \"implicit\"";
        return "";
}

/* The secret this connection used was refused (a login, an expired token): the account's other
 * connections must not be handed it again, and the next attempt runs the command (secret.h). */
static void secret_refused(Connection *c) {
        if (c->account->password_command || c->account->oauth2_token_command)
                secret_cache_invalidate(c->secrets ?: c->own_secrets, c->secret_gen);
}

/* Close this connection and try again later.  Returns 0: the failure is
 * handled here, the caller's event handler must not fail the loop. */
int connection_fail(Connection *c, int r, const char *what) {
        uint64_t delay, now = 0;
        const char *err = r < 0 ? strerror(-r) : "";
        char why[512];
        size_t lw, le = strlen(err);
        int k;

        /* 'what' may be conn_error() of the transport closed just below; it often ends with
         * the same strerror() already ("connect to 127.0.0.1:143: Connection refused"), which
         * needs no second copy. */
        (void) snprintf(why, sizeof(why), "%s", what);
        what = why;
        lw = strlen(what);
        if (r < 0 && lw >= le && strcmp(what + lw - le, err) == 0)
                err = "";
        (void) snprintf(why + lw, sizeof(why) - lw, "%s%s%s", *err ? ": " : "", err, tls_hint(c, r, what));
        /* J10: a connection that fails soon after it was set up is one more failure of
         * the run, not the first of a new one. */
        if (c->healthy_since > 0) {
                if (connection_now(c) - c->healthy_since < CONNECTION_HEALTHY_USEC)
                        c->backoff_usec = MAX(c->backoff_usec, c->backoff_kept);
                c->backoff_kept = 0;
        }
        close_transport(c);
        if (c->stopping) {
                connection_set_state(c, CONNECTION_STOPPED);
                return 0;
        }
        if (c->once) {
                /* --once: one attempt, no backoff; the manager names the account. */
                log_warning("%s: %s", connection_name(c), what);
                c->once_failed = c->settled = c->stopping = true;
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
        connection_set_last_error(c, what);
        log_warning("%s: %s, retrying in %" PRIu64 "s", connection_name(c), what,
                    (delay + USEC_PER_SEC / 2) / USEC_PER_SEC);
        c->settled = true;
        connection_set_state(c, CONNECTION_WAITING);
        c->retry = sd_event_source_disable_unref(c->retry);
        k = sd_event_add_time(c->event, &c->retry, CLOCK_BOOTTIME, c->retry_at, USEC_PER_SEC / 10, on_retry, c);
        if (k < 0)
                log_error_errno(k, "%s: cannot arm the retry timer: %m", connection_name(c));
        return 0;
}

/* Whether what the server sends now is from before a verified handshake on a STARTTLS
 * account: an on-path attacker may have written it (docs/SECURITY.md, threat model).
 * Accounts with tls = "none" chose no protection (out of scope) and a tunnel is a
 * trusted command: neither is marked. */
static bool before_tls(const Connection *c) {
        return c->account->tls == CFG_TLS_STARTTLS && !c->account->tunnel && !c->starttls_done;
}

int connection_fail_session(Connection *c, int r) {
        const char *why = c->s ? imap_session_error(c->s) : NULL;
        char marked[300];

        /* The engine's reason may quote the server (an invalid greeting, an unexpected
         * response): say when that came before TLS (catalogue D01). */
        if (why && before_tls(c)) {
                (void) snprintf(marked, sizeof(marked), "%s" UNVERIFIED_MARK, why);
                why = marked;
        }
        return connection_fail(c, r, why ? why : "connection failed");
}

/* RFC 3501 §7.1: an [ALERT]'s text must be shown to the user: logged, escaped.  Before
 * the handshake of a STARTTLS account it is dropped instead: an attacker on the path
 * could make the daemon tell the user anything (catalogue B02; INV-2). */
static void log_alert(Connection *c, const ImapResponse *resp) {
        char t[200];

        if (resp->code.type != IMAP_CODE_ALERT || before_tls(c))
                return;
        log_escape(resp->text.ptr, resp->text.len, t, sizeof(t));
        if (c->alerts < ALERTS_LOGGED_MAX)
                log_warning("%s: server alert: %s", connection_name(c), t);
        else
                log_debug("%s: server alert: %s", connection_name(c), t);
        c->alerts++;
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
                if (c->trace)
                        trace_bytes(c->trace, connection_name(c), IMAP_TRACE_CLIENT, buf, (size_t) n);
                imap_session_consume_output(c->s, (size_t) n);
        }
}

/* The command in flight with tag id, taken off the table; NULL if none. */
static ConnectionDoneFn take_pending(Connection *c, uint32_t id) {
        for (unsigned i = 0; i < c->n_pending; i++)
                if (c->pending[i].id == id) {
                        ConnectionDoneFn fn = c->pending[i].done;

                        c->pending[i] = c->pending[--c->n_pending];
                        return fn;
                }
        return NULL;
}

int connection_send(Connection *c, ImapCmd *cmd, ConnectionDoneFn done) {
        uint32_t id;
        int r;

        if (c->n_pending >= ELEMENTSOF(c->pending)) {
                imap_cmd_free(cmd);
                return -EBUSY;
        }
        r = imap_session_submit(c->s, cmd, connection_now(c), &id);
        if (r < 0)
                return r;
        c->pending[c->n_pending++] = (PendingCmd) { id, done };
        return 0;
}

int connection_send_simple(Connection *c, const char *name, ConnectionDoneFn done) {
        ImapCmd *cmd = NULL;
        int r = imap_cmd_new(name, &cmd);

        if (r < 0)
                return r;
        return connection_send(c, cmd, done);
}

void connection_flush(Connection *c) {
        int r;

        if (!c->s)
                return;
        r = write_out(c);
        if (r < 0) {
                (void) connection_fail(c, r, "write failed");
                return;
        }
        (void) update_io(c);
}

/* ---- setting up ---------------------------------------------------------------------------------- */

static int do_logout(Connection *c);
static int next_step(Connection *c);
static int ask_capability(Connection *c);

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

static int on_auth_done(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        if (!ok) {
                /* The secret may have changed or expired (tokens last about an hour):
                 * fetch it again and retry at once, a single time; then a long
                 * backoff, never disabled (docs/LIVENESS.md). */
                log_warning("%s: authentication failed: %s", connection_name(c), text);
                secret_refused(c);
                if (secret_is_fetched(c->account) && !c->refetched) {
                        c->refetched = c->refetch_now = true;
                        return connection_fail(c, -EACCES, "login refused; fetching the secret again");
                }
                c->auth_failed = true;
                return connection_fail(c, -EACCES, "login refused");
        }
        c->auth_failed = c->refetched = false;
        ramp_done(c);
        /* A server may offer more once logged in (RFC 3501 §6.2.3: it MAY list them in the
         * tagged OK; iCloud announces IDLE only then, docs/RECIPES.md).  Without the list in the
         * OK or an untagged CAPABILITY during the login, what we knew before it may lack IDLE,
         * which decides between IDLE and polling: ask again, once, only then. */
        if (r && r->code.type != IMAP_CODE_CAPABILITY && !imap_session_has_capability(c->s, "IDLE"))
                return ask_capability(c);
        return next_step(c);
}

static int do_auth(Connection *c) {
        const char *mech;
        uint32_t id;
        int r;

        mech = choose_mechanism(c);
        if (!mech)
                return connection_fail(c, -EOPNOTSUPP, "no usable authentication mechanism offered by the server");
        if (!c->secret)
                return connection_fail(c, -ENOKEY, "no password or token configured");
        if (c->n_pending >= ELEMENTSOF(c->pending))
                return connection_fail(c, -EBUSY, "too many commands in flight");
        if (mech[0] == 0) {
                ImapCmd *cmd = NULL;

                r = imap_cmd_new("LOGIN", &cmd);
                if (r >= 0)
                        r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ASTRING, c->account->username);
                if (r >= 0)
                        r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_STRING, c->secret);
                if (r < 0) {
                        imap_cmd_free(cmd);
                        erase_secret(c);
                        return connection_fail(c, r, "cannot build LOGIN (bad characters in user name or password?)");
                }
                r = connection_send(c, cmd, on_auth_done);
        } else {
                ImapSaslCreds cr = {
                        .user = c->account->username,
                        .secret = c->secret,
                        .host = c->account->host,
                };
                ImapSasl *sasl = NULL;

                r = imap_sasl_new(mech, &cr, &sasl);
                if (r < 0) {
                        erase_secret(c);
                        return connection_fail(c, r, "cannot set up SASL");
                }
                r = imap_session_authenticate(c->s, sasl, connection_now(c), &id);
                if (r >= 0)
                        c->pending[c->n_pending++] = (PendingCmd) { id, on_auth_done };
        }
        /* The session holds its own copy now (and erases it). */
        erase_secret(c);
        if (r < 0)
                return connection_fail_session(c, r);
        connection_set_state(c, CONNECTION_AUTHENTICATING);
        return 0;
}

static int on_capability_done(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        (void) r;
        (void) text;
        if (!ok)
                return connection_fail(c, -EPROTO, "CAPABILITY refused");
        return next_step(c);
}

static int ask_capability(Connection *c) {
        int r = connection_send_simple(c, "CAPABILITY", on_capability_done);

        if (r < 0)
                return connection_fail_session(c, r);
        connection_set_state(c, CONNECTION_CAPABILITY);
        return 0;
}

static int on_enable_done(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        (void) r;
        /* Refused: the count rule does (docs/EVENTS.md); c->qresync stays false. */
        if (!ok)
                log_info("%s: ENABLE QRESYNC refused: %s", connection_name(c), text);
        else if (!c->qresync)
                log_debug("%s: ENABLE QRESYNC: not enabled", connection_name(c));
        return next_step(c);
}

/* RFC 7162 §3.2.3: QRESYNC must be enabled before it is used, once per
 * session; ENABLE itself needs its capability (RFC 5161 §3).  Returns 1 if
 * sent (the mode starts after the reply), 0 if not wanted. */
static int enable_qresync(Connection *c) {
        ImapCmd *cmd = NULL;
        int r;

        if (!c->mode->qresync || c->qresync_off || c->qresync_asked ||
            !imap_session_has_capability(c->s, "QRESYNC") || !imap_session_has_capability(c->s, "ENABLE"))
                return 0;
        c->qresync_asked = true;
        r = imap_cmd_new("ENABLE", &cmd);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ATOM, "QRESYNC");
        if (r < 0) {
                imap_cmd_free(cmd);
                return connection_fail(c, r, "cannot build ENABLE");
        }
        r = connection_send(c, cmd, on_enable_done);
        if (r < 0)
                return connection_fail_session(c, r);
        connection_set_state(c, CONNECTION_ENABLING);
        return 1;
}

static int on_starttls_done(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        char why[300];

        (void) r;
        if (!ok) {
                /* The refusal came in clear text: logged (escaped by on_done()) as such. */
                (void) snprintf(why, sizeof(why), "STARTTLS refused; refusing to go on in plaintext (server: %s)"
                                UNVERIFIED_MARK, text);
                return connection_fail(c, -EPROTO, why);
        }
        return 0; /* the STARTTLS event follows */
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

                        /* Configured STARTTLS is never optional (docs/SECURITY.md INV-1). */
                        if (!imap_session_has_capability(c->s, "STARTTLS"))
                                return connection_fail(c, -EPROTO, "server does not offer STARTTLS; refusing to go on in plaintext");
                        r = connection_send_simple(c, "STARTTLS", on_starttls_done);
                        if (r < 0)
                                return connection_fail_session(c, r);
                        connection_set_state(c, CONNECTION_STARTTLS);
                        return 0;
                }
                return do_auth(c);
        }
        if (imap_session_state(c->s) == IMAP_STATE_AUTH) {
                int r;

                if (n == 0)
                        return ask_capability(c);
                r = enable_qresync(c);
                if (r != 0 || !c->s)
                        return r < 0 ? r : 0;
                return c->mode->start(c);
        }
        return connection_fail(c, -EPROTO, "unexpected state");
}

/* ---- EXAMINE, for the modes ---------------------------------------------------------------------- */

static int on_examine_done(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        ConnectionDoneFn done = c->select_done;

        c->select_done = NULL;
        if (!ok)
                c->selected = NULL;
        if (!ok && c->sel_qresync && !c->qresync_off) {
                /* A server that cannot take the parameter must not keep us out for good: the
                 * next sessions go without QRESYNC (the count rule). */
                log_notice("%s: EXAMINE with QRESYNC refused; not using QRESYNC from now on", connection_name(c));
                c->qresync_off = true;
        }
        return done(c, r, ok, text);
}

int connection_examine(Connection *c, Watch *w, bool qresync_wanted, ConnectionDoneFn done) {
        ImapCmd *cmd = NULL;
        uint32_t uidvalidity = 0, floor = 0;
        uint64_t modseq = 0;
        bool qresync;
        char param[96];
        int r;

        /* RFC 7162 §3.2.5: with QRESYNC enabled and a saved state, the reply names
         * the UIDs expunged since (VANISHED (EARLIER)), among the known UIDs
         * 1:floor-1 only (the messages a catch-up can have lost). */
        qresync = qresync_wanted && c->qresync && watch_qresync(w, &uidvalidity, &modseq, &floor);
        /* EXAMINE: we only watch, and must not change \Recent or flags (RFC 3501 §6.3.2). */
        r = imap_cmd_new("EXAMINE", &cmd);
        if (r >= 0)
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_ASTRING, watch_mailbox_wire(w));
        if (r >= 0 && qresync) {
                if (floor > 2)
                        (void) snprintf(param, sizeof(param), "(QRESYNC (%" PRIu32 " %" PRIu64 " 1:%" PRIu32 "))",
                                        uidvalidity, modseq, floor - 1);
                else
                        (void) snprintf(param, sizeof(param), "(QRESYNC (%" PRIu32 " %" PRIu64 " 1))", uidvalidity,
                                        modseq);
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, param);
        } else if (r >= 0 && imap_session_has_capability(c->s, "CONDSTORE"))
                /* RFC 7162 §3.1.8: ask for HIGHESTMODSEQ, kept in the state file. */
                r = imap_cmd_add_str(cmd, IMAP_CMD_ARG_RAW, "(CONDSTORE)");
        if (r < 0) {
                imap_cmd_free(cmd);
                return connection_fail(c, r, "cannot build EXAMINE");
        }
        c->sel_exists = c->sel_uidvalidity = c->sel_uidnext = 0;
        c->sel_highestmodseq = 0;
        c->sel_qresync = qresync;
        c->sel_known_max = qresync ? floor - 1 : 0;
        c->sel_vanished = mfree(c->sel_vanished);
        r = connection_send(c, cmd, on_examine_done);
        if (r < 0)
                return connection_fail_session(c, r);
        /* Responses about the mailbox belong to it from the EXAMINE's OK on; until
         * then they are the EXAMINE's report (sel_*), not changes. */
        c->selected = w;
        c->select_done = done;
        connection_set_state(c, CONNECTION_SELECTING);
        return 0;
}

/* ---- IDLE, for the modes (RFC 2177) -------------------------------------------------------------- */

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

int connection_idle_done(Connection *c, const char *why) {
        int r;

        log_debug("%s: DONE (%s)", connection_name(c), why);
        r = imap_session_idle_done(c->s, connection_now(c));
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
        r = connection_idle_done(c, why);
        if (r < 0)
                return connection_fail_session(c, r);
        connection_flush(c);
        return 1;
}

/* The wake-up while IDLING: re-IDLE or the liveness probe. */
static int idle_wake(Connection *c) {
        uint64_t now = connection_now(c), next = idle_next(c);
        int r;

        if (now < next) {
                /* Bytes came since the timer was armed: the connection is alive. */
                set_wake(c, next - now);
                return 0;
        }
        r = connection_idle_done(c, now >= usec_add(c->idle_started, c->account->idle_interval_usec) ?
                           "idle_interval" : "liveness probe: nothing received for liveness_interval");
        if (r < 0)
                return connection_fail_session(c, r);
        return 0;
}

/* The tagged reply to IDLE: refused, or IDLE ended (after our DONE, or the
 * server's own doing). */
static int on_idle_end(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        uint64_t ran = connection_now(c) - c->idle_started;

        (void) ok;
        if (c->state == CONNECTION_IDLE_STARTING)
                /* docs/SECURITY.md H06: IDLE refused before "+", with NO or with BAD (RFC 2177
                 * §3: "command unknown or arguments invalid").  Polling, on this connection:
                 * failing instead would reconnect only to be refused again, forever. */
                return c->mode->idle_refused(c, text);
        if (r->status == IMAP_STATUS_BAD)
                return connection_fail(c, -EPROTO, "IDLE ended with BAD");
        if (c->mode->has_work(c))
                return c->mode->resume(c);
        /* H05: the server ended IDLE itself; come back at once the first time,
         * then after 1, 2, 4 ... 60 s, so a loop cannot spin. */
        if (c->state == CONNECTION_IDLING && ran < USEC_PER_SEC) {
                unsigned shift = c->quick_idle_ends == 0 ? 0 : MIN(c->quick_idle_ends - 1, 6u);
                uint64_t delay = c->quick_idle_ends == 0 ? 0 :
                        MIN((uint64_t) USEC_PER_SEC << shift, 60 * USEC_PER_SEC);

                c->quick_idle_ends++;
                log_debug("%s: the server ended IDLE after %" PRIu64 " ms (%u time%s in a row); IDLE again in %" PRIu64
                          " s", connection_name(c), ran / 1000, c->quick_idle_ends, c->quick_idle_ends == 1 ? "" : "s",
                          delay / USEC_PER_SEC);
                connection_rest(c, delay);
                return 0;
        }
        return c->mode->resume(c);
}

int connection_caught_up(Connection *c) {
        if (!c->once)
                return 0;
        log_info("%s: caught up, logging out", connection_name(c));
        c->settled = c->stopping = true;
        /* LOGOUT (RFC 3501 §6.1.3) goes out with whatever else the caller flushes. */
        (void) do_logout(c);
        return 1;
}

int connection_idle(Connection *c) {
        int r;

        if (connection_caught_up(c))
                return 0;
        if (!imap_session_has_capability(c->s, "IDLE"))
                /* RFC 2177 §3: no IDLE without the capability. */
                return c->mode->idle_refused(c, NULL);
        r = connection_send_simple(c, "IDLE", on_idle_end);
        if (r < 0)
                return connection_fail_session(c, r);
        c->idle_started = connection_now(c);
        connection_set_state(c, CONNECTION_IDLE_STARTING);
        return 0;
}

static int on_idling(Connection *c) {
        if (!c->settled || c->backoff_usec)
                log_info("%s: idling", connection_name(c));
        /* Before the state change: the manager counts settled connections from it. */
        c->settled = true;
        mark_healthy(c);
        connection_set_state(c, CONNECTION_IDLING);
        if (c->quick_idle_ends && connection_now(c) - c->idle_started > USEC_PER_SEC)
                c->quick_idle_ends = 0;
        c->wake_at = idle_next(c);
        arm_timer(c);
        if (c->mode->has_work(c)) {
                /* A fetch was asked for while IDLE was starting. */
                int r = connection_idle_done(c, "fetch for the watch");
                if (r < 0)
                        return connection_fail_session(c, r);
        }
        return 0;
}

/* WatchFetchFn for every mode. */
static int watch_fetch(void *userdata, Watch *w, const WatchFetchRequest *req) {
        Connection *c = userdata;

        if (!c->s || c->stopping)
                return -ENOTCONN;
        return c->mode->fetch(c, w, req);
}

void connection_attach(Connection *c, Watch *w) {
        watch_set_fetcher(w, watch_fetch, c);
}

/* ---- responses ------------------------------------------------------------------------------------ */

/* The attribute 'name' of a FETCH response (RFC 3501 §7.4.2), or NULL. */
const ImapArg *fetch_attr(const ImapArg *list, const char *name) {
        const ImapArg *a = list ? imap_arg_list_first(list) : NULL;

        for (uint32_t i = 0; a && i + 1 < list->n; i += 2) {
                const ImapArg *v = imap_arg_next(a);

                if (imap_arg_atom_equal(a, name))
                        return v;
                a = imap_arg_next(v);
        }
        return NULL;
}

/* A VANISHED (EARLIER) in the reply to a QRESYNC EXAMINE (RFC 7162 §3.2.5):
 * its UIDs among the known ones (1:sel_known_max; the server may name others,
 * and a hostile one 1:4294967295), range by range, never per UID. */
static void sel_vanished(Connection *c, const ImapResponse *resp) {
        ImapSeqsetIter it = imap_seqset_iter(resp->vanished.uids.ptr, resp->vanished.uids.len);
        uint32_t lo, hi;

        if (!c->sel_vanished) {
                c->sel_vanished = calloc(1, sizeof(WatchUidSet));
                if (!c->sel_vanished) {
                        /* Without the UIDs the count rule must do: as if QRESYNC was not used. */
                        log_warning("%s: out of memory for VANISHED (EARLIER)", connection_name(c));
                        c->sel_qresync = false;
                        return;
                }
        }
        while (imap_seqset_next(&it, &lo, &hi) > 0)
                if (lo <= c->sel_known_max)
                        watch_uid_set_add(c->sel_vanished, lo, MIN(hi, c->sel_known_max));
}

static void on_untagged(Connection *c, const ImapResponse *resp) {
        bool selected = imap_session_state(c->s) == IMAP_STATE_SELECTED ||
                        imap_session_state(c->s) == IMAP_STATE_IDLING;
        Watch *w = c->selected;
        int r = 0;

        log_alert(c, resp);
        if (resp->status == IMAP_STATUS_BYE) {
                char t[200], why[300];

                log_escape(resp->text.ptr, resp->text.len, t, sizeof(t));
                /* LOGOUT's BYE comes before its tagged OK (RFC 3501 §6.1.3). */
                if (c->state == CONNECTION_LOGGING_OUT) {
                        log_debug("%s: server says BYE: %s", connection_name(c), t);
                        return;
                }
                /* "BYE ... AccessTokenExpired" (Microsoft), "session expired": get a new token
                 * at once instead of backing off (goimapnotify #25). */
                if (strcasestr(t, "expired") && secret_is_fetched(c->account) && !c->refetched) {
                        secret_refused(c);
                        c->refetched = c->refetch_now = true;
                }
                /* Any other BYE: the server is about to close (RFC 3501 §7.1.5) and nothing
                 * more of this session counts.  Close now and retry with backoff: a server
                 * that says BYE and leaves the socket open must not keep us cycling IDLE
                 * on it (catalogue J04).  The caller's loop stops: c->s is gone. */
                (void) snprintf(why, sizeof(why), "server said BYE (%s)%s", t, before_tls(c) ? UNVERIFIED_MARK : "");
                (void) connection_fail(c, 0, why);
                return;
        }
        if (resp->data_type == IMAP_DATA_LIST) {
                connection_on_list(c, resp);
                return;
        }
        if (c->state == CONNECTION_SELECTING) {
                /* Collect what SELECT/EXAMINE says (RFC 3501 §6.3.1). */
                if (resp->data_type == IMAP_DATA_EXISTS)
                        c->sel_exists = resp->number;
                else if (resp->code.type == IMAP_CODE_UIDVALIDITY)
                        c->sel_uidvalidity = resp->code.number;
                else if (resp->code.type == IMAP_CODE_UIDNEXT)
                        c->sel_uidnext = resp->code.number;
                else if (resp->code.type == IMAP_CODE_HIGHESTMODSEQ)
                        c->sel_highestmodseq = resp->code.modseq;       /* RFC 7162 §3.1.2.1 */
                else if (resp->data_type == IMAP_DATA_VANISHED && resp->vanished.earlier && c->sel_qresync)
                        sel_vanished(c, resp);
                return;
        }
        if (resp->data_type == IMAP_DATA_ENABLED) {
                /* RFC 5161 §3.2: what the server did enable. */
                const ImapArg *a = resp->args;

                for (size_t i = 0; a && i < resp->n_args; i++, a = imap_arg_next(a))
                        if (imap_arg_atom_equal(a, "QRESYNC"))
                                c->qresync = c->qresync_asked;
                return;
        }
        if (resp->kind == IMAP_RESPONSE_UNTAGGED && resp->status == IMAP_STATUS_OK &&
            resp->code.type == IMAP_CODE_HIGHESTMODSEQ && selected && w)
                /* RFC 7162 §3.2: every change up to it was sent: the saved value is exact again. */
                watch_on_highestmodseq(w, resp->code.modseq);
        if (resp->data_type == IMAP_DATA_STATUS) {
                c->mode->status(c, resp);
                return;
        }
        if (resp->kind == IMAP_RESPONSE_UNTAGGED && resp->data_type == IMAP_DATA_NONE) {
                c->mode->status_response(c, resp);
                return;
        }
        if (!selected || !w)
                return; /* docs/SECURITY.md H10: EXISTS before SELECT means nothing */
        switch (resp->data_type) {
        case IMAP_DATA_EXISTS:
                r = watch_on_exists(w, resp->number);
                break;
        case IMAP_DATA_EXPUNGE:
                fetch_expunged(&c->fetch, 1, resp->number);
                r = watch_on_expunge(w, resp->number);
                break;
        case IMAP_DATA_FETCH:
                if (!fetch_on_fetch(c, resp->number, resp->fetch) && fetch_attr(resp->fetch, "FLAGS"))
                        /* RFC 3501 §7.4.2: a flag change made elsewhere. */
                        r = watch_on_flags(w, resp->number);
                break;
        case IMAP_DATA_VANISHED:
                if (!resp->vanished.earlier) {
                        /* RFC 7162 §3.2.10: instead of EXPUNGE once QRESYNC is enabled.  Counted
                         * range by range into a bounded set (watch.h), never per UID. */
                        ImapSeqsetIter it = imap_seqset_iter(resp->vanished.uids.ptr, resp->vanished.uids.len);
                        WatchUidSet uids = {};
                        uint32_t lo, hi;

                        while (imap_seqset_next(&it, &lo, &hi) > 0)
                                watch_uid_set_add(&uids, lo, hi);
                        fetch_expunged(&c->fetch, (uint32_t) MIN(uids.count, (uint64_t) UINT32_MAX), 0);
                        r = watch_on_vanished_uids(w, &uids);
                }
                break;
        default:
                break;
        }
        if (r == -ESTALE && c->mode->out_of_sync)
                /* docs/SECURITY.md H07: the watch trusts nothing more until it is counted again. */
                c->mode->out_of_sync(c);
}

static int on_logout_done(Connection *c, const ImapResponse *r, bool ok, const char *text) {
        (void) r;
        (void) ok;
        (void) text;
        stopped(c);
        return 0;
}

/* A tagged reply: to the function its command was sent with. */
static int on_done(Connection *c, const ImapEvent *e) {
        const ImapResponse *r = e->resp;
        ConnectionDoneFn done = take_pending(c, e->id);
        char text[200];

        log_alert(c, r);
        if (!done)
                return 0;
        if (c->stopping && done != on_logout_done) {
                /* Going away: nothing new starts; LOGOUT once nothing else is in flight. */
                if (c->state != CONNECTION_LOGGING_OUT && c->n_pending == 0)
                        return do_logout(c);
                return 0;
        }
        log_escape(r->text.ptr, r->text.len, text, sizeof(text));
        return done(c, r, r->status == IMAP_STATUS_OK, text);
}

static int handle_events(Connection *c) {
        ImapEvent e;
        int r = 0;

        while (r >= 0 && c->s && imap_session_next_event(c->s, &e) > 0) {
                switch (e.type) {
                case IMAP_EVENT_GREETING:
                        log_alert(c, e.resp);
                        if (e.resp->status == IMAP_STATUS_PREAUTH && c->account->tls == CFG_TLS_STARTTLS &&
                            !c->account->tunnel)
                                /* PREAUTH before STARTTLS would skip TLS (CVE-2020-14093 class). */
                                r = connection_fail(c, -EPROTO, "PREAUTH greeting where STARTTLS was required");
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
                        r = on_idling(c);
                        break;
                case IMAP_EVENT_STARTTLS:
                        /* The handshake starts once the feeding stopped, when we know
                         * whether anything came after the OK (begin_tls()). */
                        c->starttls_ready = true;
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

/* Catalogue K01: every byte proves the peer alive (the liveness probe moves back), and
 * IDLE has no deadline, so a server that drips a response a byte at a time would hold the
 * connection until idle_interval.  A response that has begun must be whole within
 * command_timeout of its first byte (read granularity), in every state: elsewhere the
 * phase's deadline is never later.  The deadline goes into the one timer entry. */
static void response_deadline(Connection *c) {
        uint64_t t = c->account->live.command_timeout_usec;

        if (!c->s || !imap_session_in_response(c->s) || t == 0)
                c->response_at = USEC_INFINITY;
        else if (c->response_at == USEC_INFINITY)
                c->response_at = usec_add(connection_now(c), t);
}

/* Feed p[0, n) one response at a time.  *ret_used: bytes the session took.
 * Returns false when the connection was closed on the way. */
static bool feed(Connection *c, const char *p, size_t n, size_t *ret_used) {
        size_t off = 0;
        int r;

        while (c->s && off < n && !imap_session_tls_pending(c->s)) {
                size_t used = 0;

                r = imap_session_feed(c->s, p + off, n - off, connection_now(c), &used);
                off += used;
                if (r < 0) {
                        (void) connection_fail_session(c, r);
                        break;
                }
                if (r == 0)
                        break;
                /* A response was whole: the next one has its own deadline. */
                c->response_at = USEC_INFINITY;
                if (handle_events(c) < 0)
                        break;
        }
        response_deadline(c);
        *ret_used = off;
        return c->s != NULL;
}

/* After the STARTTLS OK was processed: start the handshake, unless bytes
 * came after the OK (docs/SECURITY.md B01: never trust them). */
static int begin_tls(Connection *c, size_t unfed) {
        int r;

        c->starttls_ready = false;
        if (unfed > 0 || c->in.len > 0)
                return connection_fail(c, -EPROTO, "data after STARTTLS response: possible injection");
        r = conn_start_tls(c->conn, c->account->host, c->tls);
        if (r < 0)
                return connection_fail(c, r, conn_error(c->conn) ? conn_error(c->conn) : "STARTTLS failed");
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
                        return connection_fail(c, (int) n, conn_error(c->conn) ? conn_error(c->conn) : "read failed");
                if (n == 0) {
                        if (c->state == CONNECTION_LOGGING_OUT || c->stopping) {
                                stopped(c);
                                return 0;
                        }
                        return connection_fail_session(c, imap_session_eof(c->s));
                }
                budget = (size_t) n >= budget ? 0 : budget - (size_t) n;
                if (c->trace)
                        trace_bytes(c->trace, connection_name(c), IMAP_TRACE_SERVER, read_buf, (size_t) n);
                c->last_rx = connection_now(c);
                if (log_get_max_level() >= LOG_DEBUG)
                        hook_note_input(clock_usec());
                /* Anything from the server proves it alive: the probe moves back
                 * (docs/LIVENESS.md), with no wake-up of its own. */
                if (c->state == CONNECTION_IDLING)
                        c->wake_at = idle_next(c);
                ok = feed(c, read_buf, (size_t) n, &used);
                hook_note_input(0);
                if (!ok)
                        return 0;
                if (c->starttls_ready)
                        return begin_tls(c, (size_t) n - used);
                if (used < (size_t) n) {
                        int r = buf_append(&c->in, read_buf + used, (size_t) n - used, 0);
                        if (r < 0)
                                return connection_fail(c, r, "out of memory");
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
                        return connection_fail(c, r, conn_error(c->conn) ? conn_error(c->conn) : "connect failed");
                if (r == 0)
                        return update_io(c);
                if (c->state == CONNECTION_CONNECTING) {
                        char prefix[IMAP_TAG_PREFIX_RANDOM_LEN + 1];
                        uint64_t rnd = 0;

                        /* Tags nobody can predict, per connection (catalogue case A05). */
                        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                                rnd = (uint64_t) connection_now(c) * 2654435761u ^ (uint64_t) (uintptr_t) c;
                        ImapSessionParams p = {
                                .tag_prefix = imap_tag_prefix_random(rnd, prefix),
                                .cmd_timeout = c->account->live.command_timeout_usec,
                                .greeting_timeout = c->account->live.greeting_timeout_usec,
                                .now = connection_now(c),
                        };

                        r = imap_session_new(&p, &c->s);
                        if (r < 0)
                                return connection_fail(c, r, "cannot create session");
                        log_debug("%s: connected to %s", connection_name(c), conn_peer(c->conn));
                        trace_attach(&c->trace, c->account->name);
                        connection_set_state(c, CONNECTION_GREETING);
                } else {
                        r = imap_session_starttls_done(c->s);
                        if (r < 0)
                                return connection_fail_session(c, r);
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
                        return connection_fail(c, r, conn_error(c->conn) ? conn_error(c->conn) : "write failed");
        }
        if (!c->conn)
                return 0;
        /* TLS may hold decrypted bytes that poll() cannot see; and the budget
         * may have left bytes unread: come back on the next loop turn. */
        if (c->s && (conn_has_pending(c->conn) || c->in.len > 0) && !imap_session_tls_pending(c->s) && !c->more) {
                r = sd_event_add_defer(c->event, &c->more, on_more, c);
                if (r < 0)
                        return connection_fail(c, r, "cannot schedule reading");
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
                stopped(c);
                return 0;
        }
        (void) snprintf(why, sizeof(why), "no progress in state %s within %.1f s%s", state_table[c->state],
                        (double) phase_timeout(c, c->state) / USEC_PER_SEC,
                        c->state == CONNECTION_IDLE_ENDING ? " (no reply to DONE: dead connection?)" : "");
        return connection_fail(c, -ETIMEDOUT, why);
}

static int on_response_timeout(Connection *c) {
        char why[160];

        (void) snprintf(why, sizeof(why),
                        "response not finished within %.1f s of its first byte (command_timeout, state %s): "
                        "server dripping or stalled?",
                        (double) c->account->live.command_timeout_usec / USEC_PER_SEC, state_table[c->state]);
        return connection_fail(c, -ETIMEDOUT, why);
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
                        (void) connection_fail_session(c, -ETIMEDOUT);
                else
                        (void) update_io(c);
                return;
        }
        if (c->response_at <= now) {
                c->response_at = USEC_INFINITY;
                (void) on_response_timeout(c);
                return;
        }
        if (c->wake_at <= now) {
                c->wake_at = USEC_INFINITY;
                if (c->state == CONNECTION_IDLING)
                        (void) idle_wake(c);
                else if (c->state == CONNECTION_RESTING)
                        (void) c->mode->wake(c);
                connection_flush(c);
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
                        log_warning("%s: cannot set TCP keepalive: %s", connection_name(c), strerror(-r));
        }
        r = sd_event_add_io(c->event, &c->io, conn_fd(c->conn), EPOLLIN | EPOLLOUT, on_io, c);
        if (r < 0)
                return connection_fail(c, r, "cannot watch the socket");
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
                return connection_fail(c, r, msg);
        }
        if (a->tls == CFG_TLS_IMPLICIT)
                r = conn_tls_new_resolved(a->host, a->port, list, c->tls, &c->conn);
        else
                r = conn_tcp_new_resolved(a->host, a->port, list, &c->conn);
        c->resolve = conn_resolve_free(c->resolve);
        if (r < 0)
                return connection_fail(c, r, "cannot connect");
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
                        return connection_fail(c, r, "cannot start the tunnel");
                return watch_conn(c);
        }
        r = conn_resolve_start(a->host, a->port, &c->resolve);
        if (r < 0)
                return connection_fail(c, r, "cannot start resolving the host name");
        r = sd_event_add_io(c->event, &c->resolve_io, conn_resolve_fd(c->resolve), EPOLLIN, on_resolved, c);
        if (r < 0)
                return connection_fail(c, r, "cannot watch the name lookup");
        connection_set_state(c, CONNECTION_CONNECTING);
        return 0;
}

static int secret_take(Connection *c, const char *secret, size_t len, uint64_t generation) {
        c->secret = strndup(secret, len);
        if (!c->secret)
                return connection_fail(c, -ENOMEM, "out of memory");
        c->secret_gen = generation;
        return do_connect(c);
}

static void on_secret(SecretWaiter *w, int r, const char *secret, size_t len, uint64_t generation) {
        Connection *c = (Connection *) (void *) ((char *) w - offsetof(Connection, secret_wait));

        if (r < 0) {
                (void) connection_fail(c, r, "the password or token command failed");
                return;
        }
        (void) secret_take(c, secret, len, generation);
}

/* With a slot of the ramp: the secret, then the connect. */
static int begin(Connection *c) {
        const CfgAccount *a = c->account;
        char *const *cmd = a->password_command ? a->password_command : a->oauth2_token_command;
        int r;

        if (cmd) {
                char log_name[256];
                const char *secret = NULL;
                size_t len = 0;
                uint64_t now = 0, generation = 0;

                /* One run for the account's connections that connect together, kept for
                 * secret_cache; tokens expire, so a refusal asks again (secret.h, issue 13). */
                (void) snprintf(log_name, sizeof(log_name), "%s %s", a->name,
                                a->password_command ? "password_command" : "oauth2_token_command");
                if (!c->secrets && !c->own_secrets) {
                        r = secret_cache_new(c->event, &c->own_secrets);
                        if (r < 0)
                                return connection_fail(c, r, "out of memory");
                }
                c->secret_wait.ready = on_secret;
                (void) sd_event_now(c->event, CLOCK_BOOTTIME, &now);
                r = secret_cache_get(c->secrets ?: c->own_secrets,
                                     &(const SecretSource) {
                                             .argv = cmd,
                                             .pass_env = a->pass_env,
                                             .lifetime_usec = a->secret_cache_usec,
                                             .timeout_usec = SECRET_TIMEOUT_USEC,
                                             .max_bytes = SECRET_MAX_BYTES,
                                             .log_name = log_name,
                                     },
                                     now, &c->secret_wait, &secret, &len, &generation);
                if (r < 0)
                        return connection_fail(c, r, "cannot run the password or token command");
                if (r > 0)
                        return secret_take(c, secret, len, generation);
                connection_set_state(c, CONNECTION_SECRET);
                return 0;
        }
        if (a->password_file) {
                r = secret_file_read(a->password_file, &c->secret);
                if (r < 0) {
                        char why[480];

                        (void) snprintf(why, sizeof(why), "cannot read password_file %s", a->password_file);
                        return connection_fail(c, r, why);
                }
        } else if (a->password) {
                c->secret = strdup(a->password);
                if (!c->secret)
                        return connection_fail(c, -ENOMEM, "out of memory");
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

        r = connection_send_simple(c, "LOGOUT", on_logout_done);
        if (r < 0) {
                stopped(c);
                return 0;
        }
        connection_set_state(c, CONNECTION_LOGGING_OUT);
        return 0;
}

void connection_stop(Connection *c) {
        int r;

        c->stopping = true;
        c->retry = sd_event_source_disable_unref(c->retry);
        if (!c->s || imap_session_is_dead(c->s) || imap_session_state(c->s) == IMAP_STATE_LOGOUT ||
            c->state == CONNECTION_IDLE_STARTING || c->state == CONNECTION_STARTTLS) {
                stopped(c);
                return;
        }
        /* Best effort: DONE if idling (LOGOUT follows its reply), else LOGOUT now. */
        if (c->state == CONNECTION_IDLING) {
                r = imap_session_idle_done(c->s, connection_now(c));
                if (r != 0) {
                        stopped(c);
                        return;
                }
                connection_set_state(c, CONNECTION_IDLE_ENDING);
        } else if (c->state != CONNECTION_IDLE_ENDING && c->state != CONNECTION_LOGGING_OUT)
                (void) do_logout(c);
        if (c->conn && write_out(c) < 0) {
                stopped(c);
                return;
        }
        (void) update_io(c);
}

void connection_reconnect(Connection *c, uint64_t delay_usec, const char *why) {
        uint64_t now = 0;
        int r;

        if (c->stopping || c->state == CONNECTION_STOPPED || c->state == CONNECTION_UNSUITED)
                return;
        if (c->state != CONNECTION_WAITING) {
                log_info("%s: reconnecting: %s", connection_name(c), why);
                close_transport(c);
                connection_set_state(c, CONNECTION_WAITING);
        }
        /* The cause is gone (resume, new network): start the backoff afresh. */
        c->backoff_usec = c->backoff_kept = 0;
        (void) sd_event_now(c->event, CLOCK_BOOTTIME, &now);
        c->retry_at = now + delay_usec;
        c->retry = sd_event_source_disable_unref(c->retry);
        r = sd_event_add_time(c->event, &c->retry, CLOCK_BOOTTIME, c->retry_at, USEC_PER_SEC / 100, on_retry, c);
        if (r < 0)
                log_error_errno(r, "%s: cannot arm the retry timer: %m", connection_name(c));
}

void connection_set_config(Connection *c, const CfgAccount *account) {
        c->account = account;
}

void connection_set_secret_cache(Connection *c, SecretCache *sc) {
        /* Not while waiting for a run of the old one (connection.h). */
        assert(c->state != CONNECTION_SECRET);
        c->secrets = sc;
}

ConnectionState connection_state(const Connection *c) {
        return c->state;
}

void connection_set_once(Connection *c) {
        c->once = true;
}

bool connection_failed(const Connection *c) {
        return c->once_failed;
}

bool connection_settled(const Connection *c) {
        return c->settled;
}

uint64_t connection_retry_at(const Connection *c) {
        return c->state == CONNECTION_WAITING ? c->retry_at : 0;
}

const char *connection_name(const Connection *c) {
        return c->mode->name(c);
}

const char *connection_kind(const Connection *c) {
        return c->mode->kind;
}

const char *connection_last_error(const Connection *c, uint64_t *ret_at) {
        if (ret_at)
                *ret_at = c->last_error_at;
        return c->last_error;
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
        c->phase_at = c->session_at = c->response_at = c->wake_at = USEC_INFINITY;
        c->ramp_entry = RAMP_ENTRY_INIT(on_ramp_go);
        c->mode = &connection_mode_idle;
        c->m.idle.watch = watch;
        c->on_state = on_state;
        c->userdata = userdata;
        c->state = CONNECTION_WAITING;
        *ret = c;
        return 0;
}

Connection *connection_free(Connection *c) {
        if (!c)
                return NULL;
        close_transport(c);
        c->own_secrets = secret_cache_free(c->own_secrets);
        c->mode->free(c);
        connection_lister_free(c);
        sd_event_source_disable_unref(c->retry);
        sd_event_unref(c->event);
        free(c->last_error);
        free(c);
        return NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * connection.h: one IMAP connection driven from sd-event: connect, TLS or
 * STARTTLS, authenticate, SELECT, IDLE, and IDLE again every idle_interval
 * (RFC 2177: at most 29 minutes).  Any failure closes this connection only
 * and retries with exponential backoff and jitter; nothing here can stall
 * another connection.
 *
 * The bytes go through the sans-I/O session (imap-session.h) and the
 * transport (conn.h); the connection only moves them and decides what to
 * send next.
 *
 * Each state below means one thing: a command in flight, a phase of setting
 * up, or RESTING (nothing in flight).  Every state but WAITING, SECRET,
 * QUEUED, RESTING, IDLING and STOPPED has a deadline from the account's
 * liveness settings (one table in connection.c); IDLING has the re-IDLE and
 * liveness timer instead (docs/LIVENESS.md).  In every state a response the
 * server began must be whole within command_timeout (catalogue case K01).
 *
 * What a logged-in connection does is its mode (connection-private.h):
 *   idle  one mailbox: EXAMINE, then IDLE, DONE for a fetch or a probe, IDLE
 *         again; NOOP every minute where the server has no IDLE
 *         (connection_new(), mode-idle.c);
 *   poll  the mailboxes beyond max_connections: a STATUS round every
 *         status_interval, EXAMINE + UID FETCH + CLOSE when one asks
 *         (connection_new_poller(), mode-poll.c);
 *   notify every mailbox of the account: NOTIFY SET, then IDLE, the server
 *         pushing a STATUS per change (connection_new_notifier(), mode-poll.c).
 * A notify or poll connection may also be the account's lister (LIST for the
 * mailbox patterns, lister.c).
 * The UID FETCH step both use is fetch.c.  docs/HACKING.md has the picture.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "cfg.h"
#include "conn.h"
#include "ramp.h"
#include "secret.h"
#include "timers.h"
#include "watch.h"

typedef struct Connection Connection;

typedef enum ConnectionState {
        /* Setting up (the core, connection.c). */
        CONNECTION_WAITING,             /* backoff before the next attempt */
        CONNECTION_SECRET,              /* waiting for password_command / oauth2_token_command, run
                                         * for the account's connections together (secret.h) */
        CONNECTION_QUEUED,              /* waiting for a slot of max_connecting (ramp.h) */
        CONNECTION_CONNECTING,          /* name lookup, TCP connect, implicit TLS handshake */
        CONNECTION_GREETING,
        CONNECTION_CAPABILITY,          /* CAPABILITY sent */
        CONNECTION_STARTTLS,            /* STARTTLS sent, or its handshake in progress */
        CONNECTION_AUTHENTICATING,      /* LOGIN or AUTHENTICATE sent */
        CONNECTION_ENABLING,            /* ENABLE QRESYNC sent (RFC 7162 §3.2.3; the idle mode) */
        /* Logged in: the mode's work. */
        CONNECTION_SELECTING,           /* EXAMINE sent */
        CONNECTION_RESTING,             /* nothing in flight; the mode wakes by time or by a watch */
        CONNECTION_IDLE_STARTING,       /* IDLE sent, "+" not yet seen */
        CONNECTION_IDLING,
        CONNECTION_IDLE_ENDING,         /* DONE sent */
        CONNECTION_FETCHING,            /* UID FETCH sent (fetch.c) */
        CONNECTION_NOOPING,             /* NOOP sent (a server without IDLE) */
        CONNECTION_POLLING,             /* STATUS sent (the poll mode) */
        CONNECTION_CLOSING,             /* CLOSE sent (the poll mode, after a fetch) */
        CONNECTION_NOTIFY_SETTING,      /* NOTIFY SET sent (the notify mode) */
        CONNECTION_LISTING,             /* LIST sent for the account's mailbox patterns (lister.c) */
        /* Ending. */
        CONNECTION_LOGGING_OUT,         /* LOGOUT sent */
        CONNECTION_STOPPED,
        /* The mode cannot work with this server (no NOTIFY, NOTIFY refused or
         * overflowed): closed, not retried; the owner replaces the connection. */
        CONNECTION_UNSUITED,
        _CONNECTION_STATE_MAX,
} ConnectionState;

/* Called on every state change (the manager keeps STATUS= and READY=1 from it). */
typedef void (*ConnectionStateFn)(Connection *c, ConnectionState old, ConnectionState state, void *userdata);

/* ramp: the bound on connections being set up (may be NULL: none); it holds
 * a slot from its secret command until the login succeeded or failed.
 * timers: the shared queue every deadline of the connection goes into (not
 * NULL). */
int connection_new(sd_event *e, const CfgAccount *account, ConnTlsCtx *tls, Ramp *ramp, Timers *timers,
                   Watch *watch, ConnectionStateFn on_state, void *userdata, Connection **ret);
/* A connection for mailboxes beyond the account's max_connections (issue 6):
 * after login it sends STATUS for each watch every status_interval and
 * compares (watch_selected()); when a watch asks for a fetch it EXAMINEs that
 * mailbox, fetches and CLOSEs it.  No IDLE.  The array is copied; the watches
 * stay the caller's. */
int connection_new_poller(sd_event *e, const CfgAccount *account, ConnTlsCtx *tls, Ramp *ramp, Timers *timers,
                          Watch *const *watches, size_t n, ConnectionStateFn on_state, void *userdata,
                          Connection **ret);
/* One connection for all of an account's watches, where the server offers
 * NOTIFY (RFC 5465): NOTIFY SET STATUS for every mailbox, then IDLE; a STATUS
 * the server pushes goes to watch_selected() as a poll's would; a fetch
 * EXAMINEs the mailbox, fetches and CLOSEs it, then IDLE again.  Where the
 * server has no NOTIFY or refuses it, or reports NOTIFICATIONOVERFLOW, the
 * connection goes to UNSUITED and the caller falls back to IDLE per mailbox
 * (docs/EVENTS.md). */
int connection_new_notifier(sd_event *e, const CfgAccount *account, ConnTlsCtx *tls, Ramp *ramp, Timers *timers,
                            Watch *const *watches, size_t n, ConnectionStateFn on_state, void *userdata,
                            Connection **ret);
/* A mailbox a LIST found (RFC 3501 §7.2.2): selectable (neither \Noselect nor
 * \NonExistent), its name decoded from modified UTF-7. */
typedef struct ConnectionListed {
        char *name;
        char delimiter;                 /* the hierarchy delimiter; 0: none */
} ConnectionListed;
/* A mailbox renamed, as the server said (RFC 5465 §5.4: LIST with OLDNAME). */
typedef struct ConnectionRenamed {
        char *from, *to;                /* decoded from modified UTF-7 */
} ConnectionRenamed;
/* What the account's mailbox patterns (cfg.h) match now, every time the
 * connection listed them, and the renames the server reported since the
 * last listing (so that a renamed mailbox keeps what was known of it).
 * Returns > 0 when the owner will replace the connection (the mailboxes it
 * watches changed): it then waits and sends nothing more.  0: go on. */
typedef int (*ConnectionListFn)(Connection *c, const ConnectionListed *l, size_t n, const ConnectionRenamed *renamed,
                                size_t n_renamed, void *userdata);
/* Make a NOTIFY or poll connection (not an IDLE one) the account's lister:
 * it lists the patterns after each login, then again when the server says
 * the list changed (NOTIFY: the MailboxName event, RFC 5465 §5.4, asked for
 * with NOTIFY SET) or, polling, at each STATUS round.  fn gets the result
 * (userdata is the connection's). */
int connection_set_lister(Connection *c, ConnectionListFn fn);
/* Why a connection became UNSUITED (for logs and STATUS=), or NULL. */
const char *connection_unsuited_why(const Connection *c);
/* How many mailboxes the connection watches: 1 in the idle mode. */
size_t connection_mailboxes(const Connection *c);
/* True for a NOTIFY connection (connection_new_notifier()). */
bool connection_notifies(const Connection *c);
/* How many watches a poller polls; 0 for an IDLE or NOTIFY connection. */
size_t connection_polled(const Connection *c);

/* Close at once (no LOGOUT); the watch is not freed (it is the caller's). */
Connection *connection_free(Connection *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Connection *, connection_free);

int connection_start(Connection *c);
/* Best-effort goodbye: DONE if idling, then LOGOUT; state STOPPED once the
 * server answered or closed.  The caller bounds the wait. */
void connection_stop(Connection *c);
void connection_set_config(Connection *c, const CfgAccount *account);
/* The account's shared secret cache (secret.h) for password_command and oauth2_token_command:
 * connections of an account that connect together run the command once.  Not set (NULL): the
 * connection keeps a cache of its own.  Set it while the connection is not in the SECRET state
 * (before connection_start()); sc must outlive the connection. */
void connection_set_secret_cache(Connection *c, SecretCache *sc);
/* Check now that an idling connection is alive: DONE, and IDLE's tagged OK
 * must come within done_timeout (else the connection is replaced).  For
 * network changes.  Returns 1 if a probe was sent, 0 if not idling. */
int connection_probe(Connection *c, const char *why);
/* Drop the connection (if any) and connect again after delay_usec, with the
 * backoff reset: after a resume from suspend, or when the network changed
 * while we were waiting to retry. */
void connection_reconnect(Connection *c, uint64_t delay_usec, const char *why);

/* --once (docs/imapidled.8): once the mode caught up (the EXAMINE or STATUS round compared
 * with what was known, the fetches it asked for done) the connection logs out instead of
 * waiting in IDLE or for the next round, and a failure closes it for good instead of retrying
 * after the backoff.  Either way it ends in STOPPED; connection_failed() says which.  Set before
 * connection_start(). */
void connection_set_once(Connection *c);
bool connection_failed(const Connection *c);

ConnectionState connection_state(const Connection *c);
/* True once the connection reached IDLE at least once or failed its first attempt. */
bool connection_settled(const Connection *c);
/* When the next attempt is due (CLOCK_BOOTTIME), if waiting. */
uint64_t connection_retry_at(const Connection *c);
/* "account/mailbox", or "account (n mailboxes polled)" for a poller: for logs and STATUS=. */
const char *connection_name(const Connection *c);
const char *connection_state_to_string(ConnectionState s) __attribute__((const));
/* The mode: "idle", "poll" or "notify" (connection.h's top comment). */
const char *connection_kind(const Connection *c);
/* The last failure, as logged ("... retrying in"), and when (CLOCK_MONOTONIC, into *ret_at
 * if not NULL); NULL if the connection has not failed.  For `imapidled status`. */
const char *connection_last_error(const Connection *c, uint64_t *ret_at);

/* SPDX-License-Identifier: MIT */
/*
 * connection.h: one IMAP connection driven from sd-event: connect, TLS or
 * STARTTLS, authenticate, SELECT, IDLE, and IDLE again every idle_interval
 * (RFC 2177: at most 29 minutes).  Any failure closes this connection only
 * and retries with exponential backoff and jitter; nothing here can stall
 * another connection.
 *
 * The bytes go through the sans-I/O session (imap-session.h) and the
 * transport (conn.h); this file only moves them and decides what to send
 * next.  It serves one Watch today; the watch list is the seam for NOTIFY.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "cfg.h"
#include "conn.h"
#include "ramp.h"
#include "timers.h"
#include "watch.h"

typedef struct Connection Connection;

typedef enum ConnectionState {
        CONNECTION_WAITING,             /* backoff before the next attempt */
        CONNECTION_SECRET,              /* running password_command / oauth2_token_command */
        CONNECTION_QUEUED,              /* waiting for a slot of max_connecting (ramp.h) */
        CONNECTION_CONNECTING,          /* TCP connect and implicit TLS handshake */
        CONNECTION_GREETING,
        CONNECTION_CAPABILITY,
        CONNECTION_STARTTLS,            /* STARTTLS sent, or handshake in progress */
        CONNECTION_AUTHENTICATING,
        CONNECTION_SELECTING,
        CONNECTION_IDLE_STARTING,       /* IDLE sent, "+" not yet seen */
        CONNECTION_IDLING,
        CONNECTION_IDLE_ENDING,         /* DONE sent */
        CONNECTION_FETCHING,            /* UID FETCH for the watch (catch-up scan, hook details) */
        CONNECTION_POLLING,             /* poll mode: STATUS round, CLOSE, or waiting for the next round */
        CONNECTION_LOGGING_OUT,
        CONNECTION_STOPPED,
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
/* How many watches a poller polls; 0 for an IDLE connection. */
size_t connection_polled(const Connection *c);

/* Close at once (no LOGOUT); the watch is not freed (it is the caller's). */
Connection *connection_free(Connection *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Connection *, connection_free);

int connection_start(Connection *c);
/* Best-effort goodbye: DONE if idling, then LOGOUT; state STOPPED once the
 * server answered or closed.  The caller bounds the wait. */
void connection_stop(Connection *c);
void connection_set_config(Connection *c, const CfgAccount *account);
/* Check now that an idling connection is alive: DONE, and IDLE's tagged OK
 * must come within done_timeout (else the connection is replaced).  For
 * network changes.  Returns 1 if a probe was sent, 0 if not idling. */
int connection_probe(Connection *c, const char *why);
/* Drop the connection (if any) and connect again after delay_usec, with the
 * backoff reset: after a resume from suspend, or when the network changed
 * while we were waiting to retry. */
void connection_reconnect(Connection *c, uint64_t delay_usec, const char *why);

ConnectionState connection_state(const Connection *c);
/* True once the connection reached IDLE at least once or failed its first attempt. */
bool connection_settled(const Connection *c);
/* When the next attempt is due (CLOCK_BOOTTIME), if waiting. */
uint64_t connection_retry_at(const Connection *c);
Watch *connection_watch(const Connection *c);
/* "account/mailbox", or "account (n mailboxes polled)" for a poller: for logs and STATUS=. */
const char *connection_name(const Connection *c);
const char *connection_state_to_string(ConnectionState s) __attribute__((const));

/* SPDX-License-Identifier: MIT */
/*
 * status.h: what `imapidled status` prints and SIGUSR1 logs (issue 13): each account, its
 * connections, and each mailbox with its mode, connection state, last event, last hook and
 * its exit status, next retry and last error.
 *
 * Nothing here is kept up to date per event: the report reads what the watches
 * (watch_status()) and connections (connection_last_error(), connection_retry_at()) already
 * hold, once per request (docs/SCALING.md).  The manager hands over its accounts as
 * StatusAccount records; this file only formats them.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "connection.h"
#include "watch.h"

/* One account as the manager holds it.  Watch i's connection is
 * conns[MIN(i, n_conns - 1)]: the manager gives the first mailboxes an IDLE connection
 * each and the last connection, a poller, the rest; or one NOTIFY connection all of them
 * (account_build_conns() in manager.c).  n_conns may be 0 (being set up again). */
typedef struct StatusAccount {
        const char *name;
        Watch *const *watches;
        size_t n;
        Connection *const *conns;
        size_t n_conns;
} StatusAccount;

typedef enum StatusFormat {
        STATUS_TEXT,            /* one block per account, one line per mailbox */
        STATUS_JSON,            /* one JSON object (RFC 8259) and a newline */
} StatusFormat;

/* The clocks the report's "ago" and "in" are measured against. */
typedef struct StatusClock {
        uint64_t monotonic;     /* events, hooks, errors */
        uint64_t boottime;      /* retries (connection_retry_at()) */
} StatusClock;

/* The report's beginning, one account, its end.  Return 0 or -ENOMEM. */
int status_begin(Buf *out, StatusFormat f);
int status_account(Buf *out, StatusFormat f, const StatusClock *now, const StatusAccount *a, bool first);
int status_end(Buf *out, StatusFormat f);

/* The report in the log: one line per mailbox at info level, behind one notice line
 * (SIGUSR1). */
void status_log_account(const StatusClock *now, const StatusAccount *a);

/* SPDX-License-Identifier: MIT */
/*
 * resolve.h: name resolution that never blocks the caller.  getaddrinfo() has
 * no timeout of its own and, with the network gone (after a resume, say),
 * waits for the resolver's timeouts times its attempts; on the daemon's single
 * event loop that would stall every account (docs/SECURITY.md J09).  So the lookup
 * runs on a detached thread and the caller polls an fd, as it does for a Conn;
 * the deadline is the caller's: it gives up by calling conn_resolve_free().
 * Like the rest of src/net this knows nothing of sd-event, never logs and
 * reads no clock.  The list it yields feeds conn_tcp_new_resolved() or
 * conn_tls_new_resolved() (conn.h).
 */
#pragma once

#include <netdb.h>

#include "macro.h"

typedef struct ConnResolve ConnResolve;

/* Start resolving host:port (port a number or a service name) with the same getaddrinfo() hints
 * as conn_tcp_new(): AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, no AI_ADDRCONFIG.  Never blocks:
 *  - a numeric host with a numeric port (AI_NUMERICHOST | AI_NUMERICSERV succeeds; this touches
 *    neither NSS nor the network) is resolved here and now: conn_resolve_fd() is readable and
 *    conn_resolve_result() final as soon as this returns;
 *  - anything else is handed to a new detached thread, created with every signal blocked (the
 *    mask is set before pthread_create(), so no signal the daemon handles can ever land there).
 * Returns 0 and a new ConnResolve owned by the caller, also when the name will turn out not to
 * resolve (conn_resolve_result() reports that); -EINVAL (host or port NULL or empty, ret NULL),
 * -ENOMEM, -EMFILE/-ENFILE (no fd for the notification), or pthread_create()'s error as -errno
 * (-EAGAIN: thread limit). */
int conn_resolve_start(const char *host, const char *port, ConnResolve **ret);

/* An fd (an eventfd, O_CLOEXEC | O_NONBLOCK) that polls readable (POLLIN) once the lookup is done
 * and stays readable: level-triggered, do not read it.  Owned by r: do not close it.  It stays
 * the same, open, for r's lifetime. */
int conn_resolve_fd(const ConnResolve *r);

/* The outcome, never blocking.  -EAGAIN while the lookup still runs (poll conn_resolve_fd()).
 * Once done, always the same answer:
 *  - 0: *ret_list is getaddrinfo()'s list, owned by r and valid until conn_resolve_free(r);
 *    *ret_error is NULL;
 *  - < 0: -EHOSTUNREACH for a name that does not resolve (also a temporary resolver failure,
 *    EAI_AGAIN: the caller retries later like any unreachable host), -EINVAL for an unknown
 *    service, -ENOMEM, or the errno behind EAI_SYSTEM; *ret_list is NULL and *ret_error a
 *    reason to log, "resolve HOST port PORT: WHY", owned by r like the list.
 * ret_list and ret_error may each be NULL. */
int conn_resolve_result(ConnResolve *r, const struct addrinfo **ret_list, const char **ret_error);

/* Give up on r or release its result; NULL-safe, returns NULL, never blocks.  May be called at
 * any time, also while the lookup runs: the thread then finishes its getaddrinfo() call (which
 * cannot be interrupted) on its own and frees what is left, including the fd, which therefore
 * stays open until then.  Only the caller's use of r ends here.  A thread still blocked in
 * getaddrinfo() when the process exits is simply ended with the process; what it holds is
 * reachable from its stack, so leak checkers do not report it. */
ConnResolve *conn_resolve_free(ConnResolve *r);

DEFINE_TRIVIAL_CLEANUP_FUNC(ConnResolve *, conn_resolve_free);

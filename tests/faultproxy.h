/* SPDX-License-Identifier: MIT */
/*
 * faultproxy.h: a fault-injecting TCP proxy for tests of dead-peer detection.
 * th_proxy_start() forks a child that listens on 127.0.0.1 (ephemeral port)
 * and forwards every accepted connection to 127.0.0.1:<upstream port>; the
 * test switches the child's mode at run time over a control socket, and each
 * call returns only after the child has applied the change.  The child is a
 * separate process, so neither the test's own event loop nor the daemon under
 * test (another process) shares anything with it.
 *
 * Modes (a mode applies to every open connection and to every later one):
 *   pass                 forward both ways (the initial mode);
 *   blackhole            keep every socket open, read and discard both ways,
 *                        send nothing; connections accepted meanwhile get no
 *                        upstream connection (a NAT that lost its state);
 *   rst [all]            reset (SO_LINGER 0 + close) both sides of every open
 *                        connection, then pass; with "all" every later
 *                        connection is reset right after accept, too;
 *   stall-after PAT      once the server→client stream holds PAT, forward up to
 *                        the end of the line holding it, then nothing more
 *                        either way (sockets stay open);
 *   drop-after-client PAT once the client→server stream holds PAT, forward it
 *                        (and later client bytes) but nothing more to the client;
 *   half-line            the next server→client line (the one starting at the
 *                        next line boundary) is forwarded up to half its length,
 *                        CRLF included (rounded down), then nothing more either way;
 *   drip MS              server→client bytes are sent one per MS milliseconds.
 * Patterns are matched across reads; they are searched only in bytes read
 * after the switch.  A connection that has been faulted (blackhole,
 * stall-after, drop-after-client, half-line) stays so until either peer
 * closes it: a later mode only affects connections that are not faulted, so
 * "blackhole" then "pass" gives a dead old connection and live new ones.
 * With "once" (the armed modes stall-after, drop-after-client, half-line)
 * the first connection that triggers it puts the proxy back into pass at once,
 * so the daemon's reconnection is not faulted again.
 *
 * Closing: a FIN or RST from one peer is passed on to the other, except that
 * a faulted connection never sends anything to the client: if the server
 * closes it, only the server side is closed; if the client closes it, both
 * sides are.  If the upstream connect() fails, the accepted connection is
 * closed (FIN).  At most TH_PROXY_CONN_MAX connections are open; further
 * clients wait in the listen backlog.
 *
 * The text protocol of the control socket (one line each way) is the one
 * tests/faultproxy (faultproxy-main.c) exposes on stdin/stdout; see
 * docs/TESTING.md.  th_proxy_command() sends such a line as it is.
 *
 * Cleanup: the child exits when the control socket's other end is closed
 * (the process that started it exited, or th_proxy_stop()), gets SIGKILL
 * when its parent dies (PR_SET_PDEATHSIG, for a test killed by a signal), and
 * every proxy still running at exit() of the process that started it is
 * stopped by an atexit handler.  Nothing here is thread-safe; every call
 * blocks until the child has answered (bounded by TH_PROXY_REPLY_TIMEOUT_MS).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

#define TH_PROXY_CONN_MAX 128U                  /* open connections in the child */
#define TH_PROXY_PATTERN_MAX 255U               /* bytes in a pattern, after unescaping */
#define TH_PROXY_LINE_MAX 1024U                 /* bytes in a control line, LF included */
#define TH_PROXY_HALF_LINE_MAX (64U * 1024U)    /* half-line: a longer "line" is cut here */
#define TH_PROXY_DRIP_MAX_MS 600000             /* drip interval, at most */
#define TH_PROXY_REPLY_TIMEOUT_MS 10000U        /* for the child's answer to a command */

typedef struct ThProxy ThProxy;

/* Listen on 127.0.0.1 (ephemeral port; already listening on return) and fork
 * the child, which forwards to 127.0.0.1:upstream_port in mode pass.  Returns
 * 0 or -errno. */
int th_proxy_start(uint16_t upstream_port, ThProxy **ret);

/* The port clients connect to; 0 for NULL. */
uint16_t th_proxy_port(const ThProxy *p);
/* The child's pid; -1 for NULL or after th_proxy_stop(). */
pid_t th_proxy_pid(const ThProxy *p);

/* Send one control line (without its LF; see docs/TESTING.md) and copy the
 * answer ("ok", a number or "error <why>", without LF) to reply (NUL-
 * terminated, truncated to reply_size; reply may be NULL).  Returns 0 for an
 * answer that is not an error, -EINVAL for "error ...", -ETIMEDOUT if the
 * child did not answer in time, -EPIPE if it is gone, or -errno. */
int th_proxy_command(ThProxy *p, const char *line, char *reply, size_t reply_size);

/* The modes.  Patterns are NUL-terminated, 1..TH_PROXY_PATTERN_MAX bytes,
 * escaped for the control line by these calls.  Each returns once the child
 * has applied the mode: 0, or -errno as th_proxy_command() (-EINVAL for a bad
 * argument). */
int th_proxy_pass(ThProxy *p);
int th_proxy_blackhole(ThProxy *p);
int th_proxy_rst(ThProxy *p, bool later_too);
int th_proxy_stall_after(ThProxy *p, const char *pattern, bool once);
int th_proxy_drop_after_client(ThProxy *p, const char *pattern, bool once);
int th_proxy_half_line(ThProxy *p, bool once);
int th_proxy_drip(ThProxy *p, unsigned interval_ms);

/* Connections accepted so far (also those reset, blackholed or closed for an
 * unreachable upstream); and connections faulted by a stall-after,
 * drop-after-client or half-line trigger.  Return 0 or -errno. */
int th_proxy_count(ThProxy *p, unsigned *ret_accepted);
int th_proxy_triggered(ThProxy *p, unsigned *ret_triggered);
/* Bytes the drip mode has sent to the first connection accepted (one at a time), so a test
 * can tell that a connection saw progress before its deadline.  Returns 0 or -errno. */
int th_proxy_dripped(ThProxy *p, unsigned *ret_bytes);

/* Wait until th_proxy_count() (th_proxy_triggered()) is at least n, asking
 * every 5 ms; timeout_ms is a safety bound.  Returns 0, -ETIMEDOUT or -errno. */
int th_proxy_wait_count(ThProxy *p, unsigned n, unsigned timeout_ms);
int th_proxy_wait_triggered(ThProxy *p, unsigned n, unsigned timeout_ms);

/* Kill the child (SIGKILL), reap it (if it is ours), close everything and
 * free p.  Every open proxied connection dies with the child (the kernel
 * closes its sockets).  Accepts NULL, returns NULL. */
ThProxy *th_proxy_stop(ThProxy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(ThProxy *, th_proxy_stop);

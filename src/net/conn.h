/* SPDX-License-Identifier: MIT */
/*
 * conn.h: the transport layer, a non-blocking byte stream to an IMAP server
 * over plain TCP, implicit TLS, TCP upgraded with STARTTLS, or a tunnel
 * command on a socketpair.  It knows nothing about IMAP, never logs and never
 * reads a clock (except conn_wait_ready(), the blocking helper for tools and
 * tests): the caller polls conn_fd() for conn_events() and calls back in.
 *
 * Name resolution: conn_tcp_new() and conn_tls_new() resolve the host
 * themselves and so BLOCK in getaddrinfo(); that is for tools and tests.  An
 * event loop resolves with conn_resolve_start() (resolve.h), which never
 * blocks, and hands the list to conn_tcp_new_resolved() or
 * conn_tls_new_resolved().
 *
 * Errors follow the house rule (-errno, docs/HACKING.md); every failure also
 * leaves a human-readable reason in the object (conn_error()), which never
 * contains secrets, for the caller to log.
 *
 * Failures that happen while the connection is being set up (name
 * resolution, every address refusing, the tunnel program missing, the TLS
 * handshake or certificate verification) are not reported by the
 * constructors: those return < 0 only for bad arguments and -ENOMEM.  They
 * hand back a Conn whose conn_process() reports the failure, so the caller
 * has one place to handle it and a reason to log.  docs/TRANSPORT.md has the
 * full contract and the verification policy.
 */
#pragma once

#include <netdb.h>
#include <stdbool.h>
#include <sys/types.h>

#include "macro.h"

typedef struct Conn Conn;
typedef struct ConnTlsCtx ConnTlsCtx;

typedef struct ConnTlsParams {
        const char *ca_file;    /* NULL: system trust store (SSL_CTX_set_default_verify_paths) */
        const char *cert_file;  /* optional client certificate chain (PEM) */
        const char *key_file;   /* its key (PEM); NULL = same file as cert_file */
} ConnTlsParams;

/* One TLS context per account, shared by its connections: TLS_client_method, SSL_VERIFY_PEER,
 * minimum TLS 1.2, SSL_MODE_RELEASE_BUFFERS, no legacy or unsafe options.  Files are read now.
 * Returns 0, -EINVAL (p NULL, unusable PEM, key not matching the certificate), -ENOENT/-EACCES
 * (a file cannot be opened), -ENOMEM.
 *
 * Lifetime: each connection keeps what it needs of the context alive itself (OpenSSL's own
 * reference count on the SSL_CTX), so conn_tls_ctx_free() may be called while connections
 * created from it still exist; it only drops the caller's reference. */
int conn_tls_ctx_new(const ConnTlsParams *p, ConnTlsCtx **ret);
/* Same, and on failure, if reterr_msg is not NULL, *reterr_msg is set to a malloc()ed reason
 * (or NULL when out of memory); the caller frees it. */
int conn_tls_ctx_new_full(const ConnTlsParams *p, ConnTlsCtx **ret, char **reterr_msg);
ConnTlsCtx *conn_tls_ctx_free(ConnTlsCtx *c);   /* NULL-safe, returns NULL */

/* Start a non-blocking TCP connect to host:port (port a number or a service name).
 * BLOCKS in getaddrinfo() (AF_UNSPEC, no AI_ADDRCONFIG, so "localhost" may yield ::1 and
 * 127.0.0.1), for as long as the resolver takes, which without a network can be the resolver's
 * timeout times its attempts.  For tools and tests; an event loop must not call it but resolve
 * with conn_resolve_start() (resolve.h, never blocks) and then call conn_tcp_new_resolved().
 * Every address is tried in the order getaddrinfo() returned them until one connects.  Returns
 * 0 and a new Conn (owned by the caller) also when resolution or every address fails:
 * conn_process() then reports it (-EHOSTUNREACH for an unknown name, -EINVAL for an unknown
 * service, the connect() errno of the last address tried, e.g. -ECONNREFUSED). */
int conn_tcp_new(const char *host, const char *port, Conn **ret);

/* The same without resolving: tries the IPv4 and IPv6 addresses of list (e.g. from
 * conn_resolve_result(); not retained, the caller may free it as soon as this returns) in order.
 * host is the name that was resolved, used in messages; port the port it was resolved with,
 * only checked for being given (the addresses carry it).  Never blocks.  A list with no IPv4 or
 * IPv6 address gives a conn that fails with -EHOSTUNREACH.  Returns as conn_tcp_new(), and
 * -EINVAL for a NULL list. */
int conn_tcp_new_resolved(const char *host, const char *port, const struct addrinfo *list, Conn **ret);

/* Implicit TLS: TCP as above, then the TLS handshake.  Verifies the chain and the host name:
 * SSL_set1_host() with X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS and SNI for a DNS name; the IP
 * check (X509_VERIFY_PARAM_set1_ip_asc) and no SNI (RFC 6066 §3) for an IPv4 or IPv6 literal.
 * ctx is not retained (see conn_tls_ctx_new()).  Same return convention as conn_tcp_new(). */
int conn_tls_new(const char *host, const char *port, ConnTlsCtx *ctx, Conn **ret);

/* Implicit TLS over the addresses of list, as conn_tcp_new_resolved(); host is still the name
 * that is verified and sent as SNI, exactly as with conn_tls_new().  Never blocks. */
int conn_tls_new_resolved(const char *host, const char *port, const struct addrinfo *list, ConnTlsCtx *ctx,
                          Conn **ret);

/* Tunnel: run argv (argv[0] looked up in PATH, no shell, environment inherited) with its
 * stdin and stdout on one end of a socketpair; stderr inherited; every other fd closed in
 * the child, signal mask emptied and dispositions reset to default.  argv is not retained.
 * A program that cannot be started (e.g. -ENOENT) is reported by conn_process(). */
int conn_tunnel_new(char *const argv[], Conn **ret);

/* STARTTLS: switch an established plain TCP conn to TLS in place, with the same verification
 * as conn_tls_new(); afterwards drive conn_process() until it returns 1, as for a new conn.
 * Refuses with -EPROTO if the socket already holds unread bytes (ioctl FIONREAD > 0): bytes
 * the server sent before the handshake are unauthenticated and must never be read as if they
 * came through TLS (docs/SECURITY.md B01).  The caller must have consumed exactly the tagged OK and
 * nothing more, and must not have buffered anything beyond it.  Other errors: -ENOTCONN (not
 * ready), -EALREADY (already TLS), -EOPNOTSUPP (a tunnel), -ENOMEM; none of them changes the
 * conn, which stays a usable plain TCP conn. */
int conn_start_tls(Conn *c, const char *host, ConnTlsCtx *ctx);

/* TCP keepalive and TCP_USER_TIMEOUT (RFC 5482, Linux tcp(7)) for one conn, so that a peer that
 * vanished (suspend, network change, a NAT that dropped the mapping) is noticed within a bound
 * even while IMAP IDLE sends nothing for half an hour.  A zero field takes the default below.
 *
 * Why these defaults: 60 s of silence before the first probe also refreshes NAT and firewall
 * state, many of which forget an idle TCP flow after a few minutes (far below RFC 5382's two
 * hours); one probe a minute per conn costs nothing.  4 probes 15 s apart ride out a short
 * loss burst.  So an idle dead peer is noticed after 60 + 4 × 15 = 120 s.  The user timeout is
 * derived from the keepalive values rather than fixed, because once it is set Linux ignores
 * the probe count: it aborts as soon as user_timeout has passed since the last segment was
 * received and one probe is unanswered.  A shorter user timeout would cut the probe count
 * short, a longer one would stretch it.  Derived, the same 120 s bound holds both when the
 * conn is idle (keepalive) and when written data goes unacknowledged (retransmissions, which
 * otherwise go on for about 15 minutes with the default tcp_retries2). */
#define CONN_TCP_KEEPALIVE_IDLE_DEFAULT_SEC 60U
#define CONN_TCP_KEEPALIVE_INTERVAL_DEFAULT_SEC 15U
#define CONN_TCP_KEEPALIVE_COUNT_DEFAULT 4U
/* Linux's limits (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT). */
#define CONN_TCP_KEEPALIVE_IDLE_MAX_SEC 32767U
#define CONN_TCP_KEEPALIVE_INTERVAL_MAX_SEC 32767U
#define CONN_TCP_KEEPALIVE_COUNT_MAX 127U
#define CONN_TCP_USER_TIMEOUT_MAX_MS 2147483647U

typedef struct ConnTcpOptions {
        unsigned keepalive_idle_sec;     /* TCP_KEEPIDLE; 0: 60; at most 32767 */
        unsigned keepalive_interval_sec; /* TCP_KEEPINTVL; 0: 15; at most 32767 */
        unsigned keepalive_count;        /* TCP_KEEPCNT; 0: 4; at most 127 */
        unsigned user_timeout_ms;        /* TCP_USER_TIMEOUT; 0: (idle + interval × count) × 1000
                                          * of the effective values (120000 by default); at most
                                          * INT_MAX */
} ConnTcpOptions;

/* Turn on SO_KEEPALIVE and set TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT and TCP_USER_TIMEOUT from
 * o (NULL: all defaults) for this conn.  Applied at once to the current socket if there is one
 * (also while connecting), and remembered: every further socket the connect loop creates for the
 * next address gets them before its connect(); a later conn_start_tls() keeps the socket and so
 * the options.  Without this call a conn uses the system defaults (no keepalive).  Calling it
 * again replaces the options.  A tunnel is not TCP: the call does nothing there and returns 0.
 * Never blocks.  Returns 0; -EINVAL for a value above its limit (nothing is changed then); or
 * the setsockopt() errno for the current socket (the options stay remembered for later
 * sockets).  A failure to apply them to a later socket makes the connect loop skip that address
 * like one that cannot be connected, with the reason in conn_error(). */
int conn_set_tcp_options(Conn *c, const ConnTcpOptions *o);

/* The socket to poll; valid for the conn's lifetime (-EBADF if setup failed before a socket
 * existed).  Owned by the conn: do not close it. */
int conn_fd(const Conn *c);

/* POLLIN and/or POLLOUT the conn waits for right now.  While setting up: what the connect or
 * handshake waits for.  Once ready: always POLLIN (data may arrive at any time), plus POLLOUT
 * after a conn_write() returned -EAGAIN (until a write succeeds) or a TLS read needs to write
 * (renegotiation, key update).  0 once failed. */
short conn_events(const Conn *c);

/* Advance connect/handshake; call after poll reports conn_fd() ready (calling it early is
 * harmless).  Returns 1 once established (TCP connected, TLS handshake done and verified,
 * tunnel started), 0 still in progress, < 0 failure: the connect() errno of the last address
 * after every address failed (e.g. -ECONNREFUSED), -EPROTO for a TLS or verification failure,
 * or another -errno; conn_error() says why (e.g. "certificate verify failed: hostname
 * mismatch").  After a failure it keeps returning the same error. */
int conn_process(Conn *c);
bool conn_is_ready(const Conn *c);

/* Read application bytes, only once ready (-ENOTCONN before).  Returns > 0 bytes read, 0 end of
 * stream (orderly close, TLS close_notify, connection reset, EPIPE and a TLS stream cut
 * without close_notify all count as end of stream; conn_error() notes a reset or a
 * truncation), -EAGAIN (poll for conn_events()), -EPROTO for a TLS protocol error, other
 * -errno.  Never blocks. */
ssize_t conn_read(Conn *c, void *buf, size_t n);

/* Write application bytes, only once ready.  Returns the number of bytes written (may be fewer
 * than n), -EAGAIN (poll for conn_events()), -EPIPE/-ECONNRESET when the peer is gone, -EPROTO,
 * other -errno.  Never raises SIGPIPE.  After -EAGAIN on a TLS conn the caller must call again
 * with the same bytes (at least as many, the buffer may move).  Never blocks. */
ssize_t conn_write(Conn *c, const void *buf, size_t n);

/* True if TLS holds decrypted application bytes that poll() cannot see: read until -EAGAIN
 * or until this is false before polling again (docs/SECURITY.md E11). */
bool conn_has_pending(const Conn *c);

/* The last failure reason, or NULL if none.  Valid until the next call on c.  A conn that
 * became ready has none at that point, also when addresses before the one that connected
 * failed (their reasons are dropped: an idle conn keeps no text). */
const char *conn_error(const Conn *c);

/* "addr:port" ("[addr]:port" for IPv6) being connected or connected to, or "tunnel pid N";
 * "" before any address was tried.  Valid until the next call on c. */
const char *conn_peer(const Conn *c);

/* The tunnel child's pid; 0 if not a tunnel, if the program could not be started, or after
 * conn_tunnel_detach(). */
pid_t conn_tunnel_pid(const Conn *c);

/* Hand the tunnel child to the caller: conn_free() will then not reap it (the daemon reaps
 * through sd-event).  Returns its pid, or 0 as conn_tunnel_pid(). */
pid_t conn_tunnel_detach(Conn *c);

/* Blocking convenience for tools and tests only (the daemon never calls it): poll until
 * conn_process() returns 1, an error, or timeout_ms passes.  Uses CLOCK_MONOTONIC for an
 * absolute deadline, so EINTR does not extend it.  Returns 0 when ready, -ETIMEDOUT (the conn
 * is left as it was, conn_error() says so), or conn_process()'s error. */
int conn_wait_ready(Conn *c, int timeout_ms);

/* Close and free; NULL-safe, returns NULL.  TLS: one non-blocking close_notify attempt if the
 * session is healthy.  Tunnel: close the socket, then reap the child unless detached: wait up
 * to about 200 ms for it to exit, then SIGTERM and wait as long again, then SIGKILL and wait.
 * So it may block briefly for a tunnel; the daemon detaches instead. */
Conn *conn_free(Conn *c);

DEFINE_TRIVIAL_CLEANUP_FUNC(Conn *, conn_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ConnTlsCtx *, conn_tls_ctx_free);

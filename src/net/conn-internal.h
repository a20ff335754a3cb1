/* SPDX-License-Identifier: MIT */
/*
 * conn-internal.h: what the transport implementations (conn-tcp.c, conn-tls.c,
 * conn-tunnel.c) share with the common part (conn.c): the Conn object, its
 * vtable, and the socket and error helpers.  Not for users of the transport;
 * tests include it only to reach the entry points listed at the end.
 */
#pragma once

#include <netdb.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <sys/socket.h>

#include "conn.h"
#include "resolve.h"

typedef enum ConnPhase {
        CONN_PHASE_CONNECTING,  /* TCP connect in progress */
        CONN_PHASE_HANDSHAKE,   /* TLS handshake in progress */
        CONN_PHASE_READY,
        CONN_PHASE_FAILED,
} ConnPhase;

/* One per kind of connection.  STARTTLS swaps a conn's vtable from TCP to TLS. */
typedef struct ConnVtable {
        const char *name;
        /* Advance setup: 1 done, 0 in progress (c->setup_events says what to wait for), < 0 fail
         * with a reason already set. */
        int (*process)(Conn *c);
        ssize_t (*read)(Conn *c, void *buf, size_t n);
        ssize_t (*write)(Conn *c, const void *buf, size_t n);
        bool (*has_pending)(const Conn *c);
        /* Release kind-specific state; the common part then frees the rest. */
        void (*done)(Conn *c);
} ConnVtable;

typedef struct ConnAddr {
        socklen_t len;
        struct sockaddr_storage sa;
} ConnAddr;

/* "[ffff:...]:65535" and "tunnel pid 2147483647" both fit. */
#define CONN_PEER_MAX (INET6_ADDRSTRLEN + 2 + 1 + 5 + 1)

struct Conn {
        const ConnVtable *vt;
        int fd;
        ConnPhase phase;
        int failure;            /* -errno once phase is FAILED */
        short setup_events;     /* what connect/handshake waits for */
        short read_events;      /* what a blocked TLS read waits for beyond POLLIN */
        short write_events;     /* what a blocked write waits for */
        char *error;            /* last failure reason, NULL if none */
        bool error_oom;         /* a reason was due but could not be allocated */
        char peer[CONN_PEER_MAX];

        /* TCP: the addresses to try, freed once connected */
        ConnAddr *addrs;
        size_t n_addrs;
        size_t next_addr;

        /* TCP options (effective values, no zeros) to apply to every socket, if tcp_opts_set */
        ConnTcpOptions tcp_opts;
        bool tcp_opts_set;

        /* TLS */
        SSL *ssl;
        bool ssl_fatal;         /* no close_notify on free after a fatal error */

        /* tunnel */
        pid_t pid;
};

extern const ConnVtable conn_tcp_vtable;
extern const ConnVtable conn_tls_vtable;
extern const ConnVtable conn_tunnel_vtable;

/* A new conn of the given kind, with no socket yet. */
int conn_alloc(const ConnVtable *vt, Conn **ret);

/* Replace the failure reason.  Never pass secrets. */
_printf_(2, 3) void conn_set_error(Conn *c, const char *fmt, ...);
/* Put the conn into the failed state with error r (< 0); keeps a reason already set, else
 * uses strerror(-r).  Returns r. */
int conn_fail(Conn *c, int r);

/* recv()/send() on c->fd with MSG_NOSIGNAL, mapping errors as conn_read()/conn_write() do. */
ssize_t conn_socket_read(Conn *c, void *buf, size_t n);
ssize_t conn_socket_write(Conn *c, const void *buf, size_t n);

/* Apply c->tcp_opts to fd (a TCP socket).  Returns 0 or -errno with a reason set. */
int conn_tcp_apply_options(Conn *c, int fd);

/* TCP part shared with implicit TLS: conn_tcp_start() resolves (blocking) and calls
 * conn_tcp_start_resolved(), which takes the usable addresses of list (not retained) and starts
 * the first connect; 'what' (the host) names the target in messages.  Both return 0 also when
 * the conn failed (with a reason), < 0 only for -ENOMEM. */
int conn_tcp_start(Conn *c, const char *host, const char *port);
int conn_tcp_start_resolved(Conn *c, const char *what, const struct addrinfo *list);
int conn_tcp_connect_step(Conn *c);

/* TLS part shared by implicit TLS and STARTTLS: a new SSL for host with the verification
 * policy set, not yet attached to a socket. */
int conn_tls_setup(Conn *c, const char *host, ConnTlsCtx *ctx, SSL **ret);
/* Attach ssl to c->fd through the MSG_NOSIGNAL BIO and make c a TLS conn in handshake phase. */
int conn_tls_attach(Conn *c, SSL *ssl);

/* resolve.c: the transport's getaddrinfo(): AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP and flags.
 * Blocks; safe on any thread.  Returns 0 with *ret_list (freeaddrinfo() it), or the EAI_* code
 * with *ret_list NULL; *ret_errno is errno for EAI_SYSTEM, else 0. */
int conn_getaddrinfo(const char *host, const char *port, int flags, struct addrinfo **ret_list,
                     int *ret_errno);
/* EAI_* to -errno: -ENOMEM, -EINVAL (unknown service, bad hints), saved_errno for EAI_SYSTEM,
 * -EHOSTUNREACH for everything else (unknown name, temporary failure). */
int conn_gai_to_errno(int e, int saved_errno);
/* The reason for an EAI_* code, a static string. */
const char *conn_gai_strerror(int e, int saved_errno);

/* Entry points for tests. */
/* Like conn_tcp_new() but tries a caller-built address list (not retained) instead of
 * resolving, so the fallback order can be tested without depending on /etc/hosts. */
int conn_tcp_new_addrinfo(const struct addrinfo *list, const char *what, Conn **ret);
/* The same with conn_set_tcp_options(o) called before the first socket exists, so a test sees the
 * options reach sockets made by the connect loop after an address failed synchronously. */
int conn_tcp_new_addrinfo_opts(const struct addrinfo *list, const char *what, const ConnTcpOptions *o,
                               Conn **ret);
SSL_CTX *conn_tls_ctx_get_ssl_ctx(ConnTlsCtx *c);
/* conn_resolve_start() whose thread (always a thread, even for a literal) first sends one byte
 * on hold_fd, one end of a socketpair (duplicated, so the caller may close its copy), then waits
 * until it reads EOF there, i.e. until the test closes the other end: makes "still running"
 * deterministic, and the byte tells the test that the thread runs our code. */
int conn_resolve_start_held(const char *host, const char *port, int hold_fd, ConnResolve **ret);
/* ConnResolve objects allocated and not yet destroyed in this process, by the caller or a thread. */
unsigned conn_resolve_n_live(void);

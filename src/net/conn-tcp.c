/* SPDX-License-Identifier: MIT */
/*
 * conn-tcp.c: plain TCP connections: an address list, resolved here (blocking)
 * or beforehand without blocking (resolve.h), then a non-blocking connect to
 * each address in turn until one succeeds.  Implicit
 * TLS (conn-tls.c) reuses the connect part before its handshake.  Keepalive
 * and TCP_USER_TIMEOUT (conn_set_tcp_options()) are applied here too, to
 * every socket the connect loop creates.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conn-internal.h"

static void format_peer(Conn *c, const struct sockaddr *sa) {
        char a[INET6_ADDRSTRLEN];

        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

                if (!inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a)))
                        a[0] = 0;
                (void) snprintf(c->peer, sizeof(c->peer), "[%s]:%u", a, ntohs(in6->sin6_port));
        } else if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in4 = (const struct sockaddr_in *) sa;

                if (!inet_ntop(AF_INET, &in4->sin_addr, a, sizeof(a)))
                        a[0] = 0;
                (void) snprintf(c->peer, sizeof(c->peer), "%s:%u", a, ntohs(in4->sin_port));
        } else
                (void) snprintf(c->peer, sizeof(c->peer), "(family %d)", sa->sa_family);
}

int conn_tcp_apply_options(Conn *c, int fd) {
        const struct {
                int level, name;
                const char *what;
                int value;
        } opts[] = {
                { SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", 1 },
                { IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", (int) c->tcp_opts.keepalive_idle_sec },
                { IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", (int) c->tcp_opts.keepalive_interval_sec },
                { IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", (int) c->tcp_opts.keepalive_count },
                { IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", (int) c->tcp_opts.user_timeout_ms },
        };

        for (size_t i = 0; i < ELEMENTSOF(opts); i++)
                if (setsockopt(fd, opts[i].level, opts[i].name, &opts[i].value, sizeof(int)) < 0) {
                        int r = -errno;

                        conn_set_error(c, "setsockopt %s on %s: %s", opts[i].what, c->peer, strerror(-r));
                        return r;
                }
        return 0;
}

int conn_set_tcp_options(Conn *c, const ConnTcpOptions *o) {
        ConnTcpOptions t = o ? *o : (ConnTcpOptions) {};
        uint64_t total;

        assert_return(c, -EINVAL);
        assert_return(t.keepalive_idle_sec <= CONN_TCP_KEEPALIVE_IDLE_MAX_SEC, -EINVAL);
        assert_return(t.keepalive_interval_sec <= CONN_TCP_KEEPALIVE_INTERVAL_MAX_SEC, -EINVAL);
        assert_return(t.keepalive_count <= CONN_TCP_KEEPALIVE_COUNT_MAX, -EINVAL);
        assert_return(t.user_timeout_ms <= CONN_TCP_USER_TIMEOUT_MAX_MS, -EINVAL);

        /* A socketpair to a tunnel program: no TCP underneath, nothing to set. */
        if (c->vt == &conn_tunnel_vtable)
                return 0;

        if (t.keepalive_idle_sec == 0)
                t.keepalive_idle_sec = CONN_TCP_KEEPALIVE_IDLE_DEFAULT_SEC;
        if (t.keepalive_interval_sec == 0)
                t.keepalive_interval_sec = CONN_TCP_KEEPALIVE_INTERVAL_DEFAULT_SEC;
        if (t.keepalive_count == 0)
                t.keepalive_count = CONN_TCP_KEEPALIVE_COUNT_DEFAULT;
        if (t.user_timeout_ms == 0) {
                /* At most (32767 + 32767 × 127) s: fits in uint64_t, maybe not in an int of ms. */
                total = ((uint64_t) t.keepalive_idle_sec +
                         (uint64_t) t.keepalive_interval_sec * t.keepalive_count) * 1000;
                t.user_timeout_ms = (unsigned) MIN(total, (uint64_t) CONN_TCP_USER_TIMEOUT_MAX_MS);
        }

        c->tcp_opts = t;
        c->tcp_opts_set = true;
        if (c->fd < 0)
                return 0;
        return conn_tcp_apply_options(c, c->fd);
}

/* Start connecting to the next address.  Returns 1 connected at once, 0 in progress, < 0
 * every address failed (with the last one's error). */
static int try_next(Conn *c, int last_error) {
        while (c->next_addr < c->n_addrs) {
                const ConnAddr *a = &c->addrs[c->next_addr++];
                int fd;

                if (c->fd >= 0)
                        (void) close(c->fd);
                format_peer(c, (const struct sockaddr *) &a->sa);

                fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                c->fd = fd < 0 ? -EBADF : fd;
                if (fd < 0) {
                        last_error = -errno;
                        conn_set_error(c, "socket for %s: %s", c->peer, strerror(errno));
                        continue;
                }
                if (c->tcp_opts_set) {
                        int r = conn_tcp_apply_options(c, fd);

                        if (r < 0) {
                                last_error = r;
                                continue;
                        }
                }
                if (connect(fd, (const struct sockaddr *) &a->sa, a->len) == 0)
                        return 1;
                if (errno == EINPROGRESS || errno == EINTR) {
                        /* EINTR: the connect goes on asynchronously, like EINPROGRESS. */
                        c->setup_events = POLLOUT;
                        return 0;
                }
                last_error = -errno;
                conn_set_error(c, "connect to %s: %s", c->peer, strerror(errno));
        }
        return last_error < 0 ? last_error : -EHOSTUNREACH;
}

int conn_tcp_connect_step(Conn *c) {
        struct pollfd pfd;
        socklen_t len;
        int err, r;

        if (c->fd < 0) /* nothing in progress: resolution left no address */
                return try_next(c, -EHOSTUNREACH);

        /* A spurious call must not be taken for completion: SO_ERROR is 0 while the connect
         * is still in progress too. */
        pfd = (struct pollfd) { .fd = c->fd, .events = POLLOUT };
        r = poll(&pfd, 1, 0);
        if (r < 0)
                return errno == EINTR ? 0 : -errno;
        if (r == 0)
                return 0;

        len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        if (err == 0)
                return 1;
        if (err == EINPROGRESS)
                return 0;

        conn_set_error(c, "connect to %s: %s", c->peer, strerror(err));
        return try_next(c, -err);
}

static bool usable(const struct addrinfo *ai) {
        return IN_SET(ai->ai_family, AF_INET, AF_INET6) && ai->ai_addrlen <= sizeof(struct sockaddr_storage);
}

static int set_addrs(Conn *c, const struct addrinfo *list) {
        size_t n = 0;

        for (const struct addrinfo *ai = list; ai; ai = ai->ai_next)
                if (usable(ai))
                        n++;

        c->addrs = calloc(n ?: 1, sizeof(ConnAddr));
        if (!c->addrs)
                return -ENOMEM;
        for (const struct addrinfo *ai = list; ai; ai = ai->ai_next)
                if (usable(ai)) {
                        ConnAddr *a = &c->addrs[c->n_addrs++];

                        memcpy(&a->sa, ai->ai_addr, ai->ai_addrlen);
                        a->len = ai->ai_addrlen;
                }
        return 0;
}

/* Start the first attempt; errors other than -ENOMEM leave c failed with a reason. */
static int start(Conn *c, const char *what) {
        int r;

        if (c->n_addrs == 0) {
                conn_set_error(c, "%s: no IPv4 or IPv6 address", what);
                (void) conn_fail(c, -EHOSTUNREACH);
                return 0;
        }
        r = try_next(c, 0);
        if (r < 0)
                (void) conn_fail(c, r);
        else if (r > 0)
                c->setup_events = POLLOUT; /* connected at once: conn_process() finishes */
        return 0;
}

int conn_tcp_start_resolved(Conn *c, const char *what, const struct addrinfo *list) {
        int r;

        r = set_addrs(c, list);
        if (r < 0)
                return r;
        return start(c, what);
}

int conn_tcp_start(Conn *c, const char *host, const char *port) {
        struct addrinfo *list;
        int e, saved_errno, r;

        e = conn_getaddrinfo(host, port, 0, &list, &saved_errno);
        if (e != 0) {
                r = conn_gai_to_errno(e, saved_errno);
                if (r == -ENOMEM)
                        return r;
                conn_set_error(c, "resolve %s port %s: %s", host, port, conn_gai_strerror(e, saved_errno));
                (void) conn_fail(c, r);
                return 0;
        }
        r = conn_tcp_start_resolved(c, host, list);
        freeaddrinfo(list);
        return r;
}

/* list NULL: resolve host:port here (blocking). */
static int tcp_new(const char *host, const char *port, const struct addrinfo *list, Conn **ret) {
        _cleanup_(conn_freep) Conn *c = NULL;
        int r;

        r = conn_alloc(&conn_tcp_vtable, &c);
        if (r < 0)
                return r;
        r = list ? conn_tcp_start_resolved(c, host, list) : conn_tcp_start(c, host, port);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int conn_tcp_new(const char *host, const char *port, Conn **ret) {
        assert_return(host && *host, -EINVAL);
        assert_return(port && *port, -EINVAL);
        assert_return(ret, -EINVAL);

        return tcp_new(host, port, NULL, ret);
}

int conn_tcp_new_resolved(const char *host, const char *port, const struct addrinfo *list, Conn **ret) {
        assert_return(host && *host, -EINVAL);
        assert_return(port && *port, -EINVAL);
        assert_return(list, -EINVAL);
        assert_return(ret, -EINVAL);

        return tcp_new(host, port, list, ret);
}

int conn_tcp_new_addrinfo_opts(const struct addrinfo *list, const char *what, const ConnTcpOptions *o,
                               Conn **ret) {
        _cleanup_(conn_freep) Conn *c = NULL;
        int r;

        assert_return(what, -EINVAL);
        assert_return(ret, -EINVAL);

        r = conn_alloc(&conn_tcp_vtable, &c);
        if (r < 0)
                return r;
        if (o) {
                r = conn_set_tcp_options(c, o);
                if (r < 0)
                        return r;
        }
        r = conn_tcp_start_resolved(c, what, list);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int conn_tcp_new_addrinfo(const struct addrinfo *list, const char *what, Conn **ret) {
        return conn_tcp_new_addrinfo_opts(list, what, NULL, ret);
}

static int tcp_process(Conn *c) {
        return conn_tcp_connect_step(c);
}

const ConnVtable conn_tcp_vtable = {
        .name = "tcp",
        .process = tcp_process,
        .read = conn_socket_read,
        .write = conn_socket_write,
};

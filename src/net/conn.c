/* SPDX-License-Identifier: MIT */
/*
 * conn.c: the common part of the transport: the Conn object, dispatch through
 * its vtable, failure reasons, the plain socket read/write used by TCP and
 * tunnels, and the one blocking helper, conn_wait_ready().  See conn.h for
 * the contract.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conn-internal.h"

int conn_alloc(const ConnVtable *vt, Conn **ret) {
        Conn *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->vt = vt;
        c->fd = -EBADF;
        c->phase = CONN_PHASE_CONNECTING;
        *ret = c;
        return 0;
}

void conn_set_error(Conn *c, const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);

        free(c->error);
        c->error = r < 0 ? NULL : s;
        c->error_oom = r < 0;
}

int conn_fail(Conn *c, int r) {
        if (!c->error && !c->error_oom)
                conn_set_error(c, "%s", strerror(-r));
        c->phase = CONN_PHASE_FAILED;
        c->failure = r;
        c->setup_events = 0;
        return r;
}

ssize_t conn_socket_read(Conn *c, void *buf, size_t n) {
        ssize_t k;

        for (;;) {
                k = recv(c->fd, buf, n, 0);
                if (k >= 0)
                        return k;
                if (errno != EINTR)
                        break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
                return -EAGAIN;
        /* A reset or a broken pipe ends the stream like an orderly close: the caller cannot
         * do anything different, and the IMAP engine detects a truncated response itself. */
        if (IN_SET(errno, ECONNRESET, EPIPE)) {
                conn_set_error(c, "read: %s", strerror(errno));
                return 0;
        }
        conn_set_error(c, "read: %s", strerror(errno));
        return -errno;
}

ssize_t conn_socket_write(Conn *c, const void *buf, size_t n) {
        ssize_t k;

        for (;;) {
                /* MSG_NOSIGNAL: a peer that went away is an error return, never SIGPIPE, so no
                 * signal disposition has to be changed in the process. */
                k = send(c->fd, buf, n, MSG_NOSIGNAL);
                if (k >= 0) {
                        c->write_events = 0;
                        return k;
                }
                if (errno != EINTR)
                        break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->write_events = POLLOUT;
                return -EAGAIN;
        }
        conn_set_error(c, "write: %s", strerror(errno));
        return -errno;
}

int conn_fd(const Conn *c) {
        assert_return(c, -EINVAL);
        return c->fd;
}

short conn_events(const Conn *c) {
        assert_return(c, 0);

        switch (c->phase) {
        case CONN_PHASE_CONNECTING:
        case CONN_PHASE_HANDSHAKE:
                return c->setup_events;
        case CONN_PHASE_READY:
                return (short) (POLLIN | c->read_events | c->write_events);
        default:
                return 0;
        }
}

int conn_process(Conn *c) {
        int r;

        assert_return(c, -EINVAL);

        if (c->phase == CONN_PHASE_READY)
                return 1;
        if (c->phase == CONN_PHASE_FAILED)
                return c->failure;

        r = c->vt->process(c);
        if (r < 0)
                return conn_fail(c, r);
        if (r > 0) {
                c->phase = CONN_PHASE_READY;
                c->setup_events = 0;
                /* The address list served its purpose; thousands of idle conns should not
                 * keep it.  Nor the reason an earlier address failed: it says nothing about
                 * this conn, and would be taken for the reason of a later failure that sets
                 * none of its own. */
                c->addrs = mfree(c->addrs);
                c->n_addrs = c->next_addr = 0;
                c->error = mfree(c->error);
                c->error_oom = false;
                return 1;
        }
        return 0;
}

bool conn_is_ready(const Conn *c) {
        return c && c->phase == CONN_PHASE_READY;
}

ssize_t conn_read(Conn *c, void *buf, size_t n) {
        assert_return(c, -EINVAL);
        assert_return(buf || n == 0, -EINVAL);

        if (c->phase != CONN_PHASE_READY)
                return -ENOTCONN;
        if (n == 0)
                return 0;
        return c->vt->read(c, buf, n);
}

ssize_t conn_write(Conn *c, const void *buf, size_t n) {
        assert_return(c, -EINVAL);
        assert_return(buf || n == 0, -EINVAL);

        if (c->phase != CONN_PHASE_READY)
                return -ENOTCONN;
        if (n == 0)
                return 0;
        return c->vt->write(c, buf, n);
}

bool conn_has_pending(const Conn *c) {
        if (!c || c->phase != CONN_PHASE_READY || !c->vt->has_pending)
                return false;
        return c->vt->has_pending(c);
}

const char *conn_error(const Conn *c) {
        if (!c)
                return NULL;
        if (c->error_oom)
                return "out of memory while recording the error";
        return c->error;
}

const char *conn_peer(const Conn *c) {
        return c ? c->peer : "";
}

pid_t conn_tunnel_pid(const Conn *c) {
        return c ? c->pid : 0;
}

pid_t conn_tunnel_detach(Conn *c) {
        pid_t pid;

        if (!c)
                return 0;
        pid = c->pid;
        c->pid = 0;
        return pid;
}

static int64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int conn_wait_ready(Conn *c, int timeout_ms) {
        int64_t deadline;
        int r;

        assert_return(c, -EINVAL);
        assert_return(timeout_ms >= 0, -EINVAL);

        deadline = now_ms() + timeout_ms;
        for (;;) {
                struct pollfd pfd;
                int64_t left;

                r = conn_process(c);
                if (r != 0)
                        return r < 0 ? r : 0;

                left = deadline - now_ms();
                if (left <= 0) {
                        conn_set_error(c, "timed out after %d ms while %s", timeout_ms,
                                       c->phase == CONN_PHASE_HANDSHAKE ? "in the TLS handshake"
                                                                        : "connecting");
                        return -ETIMEDOUT;
                }

                pfd = (struct pollfd) { .fd = c->fd, .events = conn_events(c) };
                r = poll(&pfd, 1, (int) MIN(left, (int64_t) INT_MAX));
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

Conn *conn_free(Conn *c) {
        if (!c)
                return NULL;

        if (c->vt->done)
                c->vt->done(c);
        if (c->fd >= 0)
                (void) close(c->fd);
        /* A tunnel reaps its child in done(), after the socket is closed, so the order is:
         * done() may close the fd itself and set it to -EBADF. */
        free(c->addrs);
        free(c->error);
        return mfree(c);
}

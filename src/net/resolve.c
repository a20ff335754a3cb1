/* SPDX-License-Identifier: MIT */
/*
 * resolve.c: the transport's one getaddrinfo() call, used synchronously by
 * conn_tcp_new()/conn_tls_new() and on a detached thread by ConnResolve
 * (resolve.h), so that a lookup that hangs never blocks the event loop.
 *
 * Lifetime: a ConnResolve has two owners, the caller and the thread, counted
 * in an atomic reference count; whichever lets go last frees the object,
 * closes the eventfd and frees the list.  The thread publishes its result
 * with a release store of 'done' before it signals the eventfd, and the caller
 * reads the result only after an acquire load of 'done' saw it set, so no lock
 * is needed.  The eventfd is closed only by the last owner, never while the
 * thread may still write to it: closing it early could let the fd number be
 * reused and the thread's write land in a stranger's file.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn-internal.h"
#include "resolve.h"

struct ConnResolve {
        atomic_uint n_ref;      /* the caller and, while it runs, the thread */
        atomic_bool done;       /* set (release) by whoever resolved, after the fields below */
        int fd;                 /* eventfd, readable once done */
        int hold_fd;            /* tests only (conn_resolve_start_held()); -EBADF otherwise */
        char *host;
        char *port;

        /* Written once before 'done' is set, read only after it was seen set. */
        struct addrinfo *list;
        int gai_error;          /* 0 or EAI_* */
        int sys_errno;          /* errno for EAI_SYSTEM */

        /* Caller's side only. */
        char *error;            /* formatted on the first conn_resolve_result() that needs it */
};

static atomic_uint n_live;      /* ConnResolve objects not yet destroyed, for the tests */

int conn_gai_to_errno(int e, int saved_errno) {
        switch (e) {
        case EAI_MEMORY:
                return -ENOMEM;
        case EAI_SERVICE:
        case EAI_BADFLAGS:
        case EAI_SOCKTYPE:
        case EAI_FAMILY:
                return -EINVAL;
        case EAI_SYSTEM:
                return saved_errno > 0 ? -saved_errno : -EIO;
        default: /* EAI_NONAME, EAI_NODATA, EAI_AGAIN, EAI_FAIL, ... */
                return -EHOSTUNREACH;
        }
}

const char *conn_gai_strerror(int e, int saved_errno) {
        return e == EAI_SYSTEM ? strerror(saved_errno > 0 ? saved_errno : EIO) : gai_strerror(e);
}

int conn_getaddrinfo(const char *host, const char *port, int flags, struct addrinfo **ret_list,
                     int *ret_errno) {
        const struct addrinfo hints = {
                .ai_flags = flags,
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_protocol = IPPROTO_TCP,
        };
        int e;

        *ret_list = NULL;
        errno = 0;
        e = getaddrinfo(host, port, &hints, ret_list);
        *ret_errno = e == EAI_SYSTEM ? errno : 0;
        if (e != 0)
                *ret_list = NULL;
        return e;
}

static void resolve_destroy(ConnResolve *r) {
        if (r->list)
                freeaddrinfo(r->list);
        if (r->fd >= 0)
                (void) close(r->fd);
        if (r->hold_fd >= 0)
                (void) close(r->hold_fd);
        free(r->host);
        free(r->port);
        free(r->error);
        free(r);
        atomic_fetch_sub(&n_live, 1);
}

static void resolve_unref(ConnResolve *r) {
        /* acq_rel: the last owner must see every write the other one made before letting go. */
        if (atomic_fetch_sub_explicit(&r->n_ref, 1, memory_order_acq_rel) == 1)
                resolve_destroy(r);
}

/* Publish the outcome and wake the poller. */
static void resolve_finish(ConnResolve *r, struct addrinfo *list, int e, int saved_errno) {
        r->list = list;
        r->gai_error = e;
        r->sys_errno = saved_errno;
        atomic_store_explicit(&r->done, true, memory_order_release);
        /* Cannot fail short of a counter overflow, which one write cannot cause. */
        (void) eventfd_write(r->fd, 1);
}

/* Tests only: say "here" (so a test knows the thread runs our code, past pthread_create()'s own
 * setup), then wait until the test closes its end of the socketpair. */
static void wait_hold(int fd) {
        (void) send(fd, "h", 1, MSG_NOSIGNAL);
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                char b[16];
                ssize_t k;

                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                        return;
                k = read(fd, b, sizeof(b));
                if (k == 0 || (k < 0 && !IN_SET(errno, EAGAIN, EINTR)))
                        return;
        }
}

static void *resolve_thread(void *userdata) {
        ConnResolve *r = userdata;
        struct addrinfo *list;
        int e, saved_errno;

        if (r->hold_fd >= 0)
                wait_hold(r->hold_fd);
        e = conn_getaddrinfo(r->host, r->port, 0, &list, &saved_errno);
        resolve_finish(r, list, e, saved_errno);
        resolve_unref(r);
        return NULL;
}

static int spawn_thread(ConnResolve *r) {
        sigset_t all, saved;
        pthread_attr_t attr;
        pthread_t t;
        int k;

        k = pthread_attr_init(&attr);
        if (k != 0)
                return -k;
        k = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (k != 0) {
                (void) pthread_attr_destroy(&attr);
                return -k;
        }

        /* A new thread inherits its creator's mask: blocking everything around pthread_create()
         * leaves no moment at which the thread could take a signal meant for the event loop. */
        (void) sigfillset(&all);
        (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
        atomic_fetch_add(&r->n_ref, 1); /* the thread's reference */
        k = pthread_create(&t, &attr, resolve_thread, r);
        if (k != 0)
                atomic_fetch_sub(&r->n_ref, 1);
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        (void) pthread_attr_destroy(&attr);
        return -k;
}

int conn_resolve_start_held(const char *host, const char *port, int hold_fd, ConnResolve **ret) {
        ConnResolve *r;
        struct addrinfo *list;
        int saved_errno, k;

        assert_return(host && *host, -EINVAL);
        assert_return(port && *port, -EINVAL);
        assert_return(ret, -EINVAL);

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        atomic_fetch_add(&n_live, 1);
        atomic_init(&r->n_ref, 1);
        atomic_init(&r->done, false);
        r->hold_fd = -EBADF;
        r->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->fd < 0) {
                k = -errno;
                r->fd = -EBADF;
                resolve_unref(r);
                return k;
        }
        r->host = strdup(host);
        r->port = strdup(port);
        if (!r->host || !r->port) {
                resolve_unref(r);
                return -ENOMEM;
        }

        /* An address literal with a port number needs neither NSS nor the network.  The test
         * hook always takes the thread, so that it can hold it. */
        if (hold_fd < 0 &&
            conn_getaddrinfo(host, port, AI_NUMERICHOST | AI_NUMERICSERV, &list, &saved_errno) == 0) {
                resolve_finish(r, list, 0, 0);
                *ret = r;
                return 0;
        }

        if (hold_fd >= 0) {
                r->hold_fd = fcntl(hold_fd, F_DUPFD_CLOEXEC, 3);
                if (r->hold_fd < 0) {
                        k = -errno;
                        r->hold_fd = -EBADF;
                        resolve_unref(r);
                        return k;
                }
        }

        k = spawn_thread(r);
        if (k < 0) {
                resolve_unref(r);
                return k;
        }
        *ret = r;
        return 0;
}

int conn_resolve_start(const char *host, const char *port, ConnResolve **ret) {
        return conn_resolve_start_held(host, port, -EBADF, ret);
}

int conn_resolve_fd(const ConnResolve *r) {
        assert_return(r, -EINVAL);
        return r->fd;
}

int conn_resolve_result(ConnResolve *r, const struct addrinfo **ret_list, const char **ret_error) {
        const char *why;
        int k;

        if (ret_list)
                *ret_list = NULL;
        if (ret_error)
                *ret_error = NULL;
        assert_return(r, -EINVAL);

        if (!atomic_load_explicit(&r->done, memory_order_acquire))
                return -EAGAIN;

        if (r->gai_error == 0) {
                if (ret_list)
                        *ret_list = r->list;
                return 0;
        }

        k = conn_gai_to_errno(r->gai_error, r->sys_errno);
        why = conn_gai_strerror(r->gai_error, r->sys_errno);
        if (!r->error && asprintf(&r->error, "resolve %s port %s: %s", r->host, r->port, why) < 0)
                r->error = NULL;
        if (ret_error)
                *ret_error = r->error ?: why; /* out of memory: at least the reason itself */
        return k;
}

ConnResolve *conn_resolve_free(ConnResolve *r) {
        if (r)
                resolve_unref(r);
        return NULL;
}

unsigned conn_resolve_n_live(void) {
        return atomic_load(&n_live);
}

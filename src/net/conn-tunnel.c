/* SPDX-License-Identifier: MIT */
/*
 * conn-tunnel.c: a connection to a command's stdin and stdout (e.g.
 * "ssh host imapd"), over a socketpair so that the same recv()/send() code
 * and poll() semantics apply as for TCP.  The child is started with
 * posix_spawnp() (no shell, no fork of a large daemon's address space), with
 * every fd above stderr closed, an empty signal mask and default signal
 * dispositions, whatever the daemon has blocked or ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "conn-internal.h"
#include "spawn-util.h"

/* conn_free() waits this long, in steps, for the child before each escalation. */
#define TUNNEL_GRACE_STEPS 20
#define TUNNEL_GRACE_STEP_NS (10 * 1000 * 1000)

static int tunnel_process(Conn *c) {
        (void) c;
        return 1;
}

/* Wait up to the grace period for pid; true once reaped (or gone). */
static bool reap_within_grace(pid_t pid) {
        for (unsigned i = 0; i <= TUNNEL_GRACE_STEPS; i++) {
                const struct timespec step = { .tv_nsec = TUNNEL_GRACE_STEP_NS };
                pid_t k;

                k = waitpid(pid, NULL, WNOHANG);
                if (k == pid || (k < 0 && errno != EINTR))
                        return true;
                if (i < TUNNEL_GRACE_STEPS)
                        (void) nanosleep(&step, NULL);
        }
        return false;
}

static void tunnel_done(Conn *c) {
        pid_t pid = c->pid;

        /* Close first: EOF on its stdin is what tells a well-behaved tunnel to exit. */
        if (c->fd >= 0)
                (void) close(c->fd);
        c->fd = -EBADF;
        if (pid <= 0)
                return;
        c->pid = 0;

        if (reap_within_grace(pid))
                return;
        (void) kill(pid, SIGTERM);
        if (reap_within_grace(pid))
                return;
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

const ConnVtable conn_tunnel_vtable = {
        .name = "tunnel",
        .process = tunnel_process,
        .read = conn_socket_read,
        .write = conn_socket_write,
        .done = tunnel_done,
};

int conn_tunnel_new(char *const argv[], Conn **ret) {
        _cleanup_(conn_freep) Conn *c = NULL;
        _cleanup_close_ int child_fd = -EBADF;
        int pair[2], flags, r;
        pid_t pid = 0;

        assert_return(argv && argv[0] && *argv[0], -EINVAL);
        assert_return(ret, -EINVAL);

        r = conn_alloc(&conn_tunnel_vtable, &c);
        if (r < 0)
                return r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
                r = -errno;
                conn_set_error(c, "tunnel socketpair: %s", strerror(-r));
                goto fail;
        }
        c->fd = pair[0];
        child_fd = pair[1];

        /* Only our end is non-blocking: the two ends are separate open files, and the child
         * expects ordinary blocking stdin and stdout. */
        flags = fcntl(c->fd, F_GETFL);
        if (flags < 0 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                r = -errno;
                conn_set_error(c, "tunnel O_NONBLOCK: %s", strerror(-r));
                goto fail;
        }

        r = spawn_clean(argv, environ, (const int[3]) { child_fd, child_fd, -1 }, false, &pid);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                conn_set_error(c, "tunnel: cannot run '%s': %s", argv[0], strerror(-r));
                goto fail;
        }

        c->pid = pid;
        (void) snprintf(c->peer, sizeof(c->peer), "tunnel pid %d", (int) pid);
        c->setup_events = POLLOUT; /* ready at once; conn_process() says so */
        *ret = TAKE_PTR(c);
        return 0;

fail:
        (void) conn_fail(c, r);
        *ret = TAKE_PTR(c);
        return 0;
}

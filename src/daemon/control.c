/* SPDX-License-Identifier: MIT */
/* control.c: the control socket of `imapidled status`, both ends; see control.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"

typedef struct ControlClient {
        Control *control;
        int fd;
        sd_event_source *io, *timer;
        char req[CONTROL_REQUEST_MAX];
        size_t req_len;
        Buf out;                        /* the reply, built once the request is in */
        size_t sent;
        bool replying;
} ControlClient;

struct Control {
        sd_event *event;
        char *path;
        int fd;
        sd_event_source *io;
        ControlReportFn report;
        void *userdata;
        ControlClient *clients[CONTROL_MAX_CLIENTS];
        unsigned n_clients;
};

/* ---- where ------------------------------------------------------------------------------------ */

int control_default_path(char **ret) {
        const char *d = getenv("RUNTIME_DIRECTORY"), *x = getenv("XDG_RUNTIME_DIR");
        char *p = NULL;

        if (d && *d == '/') {
                /* A colon-separated list (systemd.exec(5)); the first is ours. */
                size_t n = strcspn(d, ":");
                return asprintf(&p, "%.*s/control", (int) n, d) < 0 ? -ENOMEM : (*ret = p, 0);
        }
        if (x && *x == '/')
                return asprintf(&p, "%s/imapidled/control", x) < 0 ? -ENOMEM : (*ret = p, 0);
        if (geteuid() == 0)
                return (*ret = strdup(CONTROL_SYSTEM_PATH)) ? 0 : -ENOMEM;
        return -ENXIO;
}

static int sockaddr_fill(const char *path, struct sockaddr_un *sa) {
        *sa = (struct sockaddr_un) { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        memcpy(sa->sun_path, path, strlen(path) + 1);
        return 0;
}

/* ---- the daemon's end: clients ------------------------------------------------------------------ */

static ControlClient *client_free(ControlClient *cl) {
        Control *c;

        if (!cl)
                return NULL;
        c = cl->control;
        for (unsigned i = 0; i < c->n_clients; i++)
                if (c->clients[i] == cl) {
                        c->clients[i] = c->clients[--c->n_clients];
                        break;
                }
        sd_event_source_disable_unref(cl->io);
        sd_event_source_disable_unref(cl->timer);
        if (cl->fd >= 0)
                (void) close(cl->fd);
        buf_done(&cl->out);
        free(cl);
        return NULL;
}

/* Progress was made: the client has CONTROL_CLIENT_TIMEOUT_USEC again. */
static void client_touch(ControlClient *cl) {
        uint64_t now = 0;

        (void) sd_event_now(cl->control->event, CLOCK_MONOTONIC, &now);
        (void) sd_event_source_set_time(cl->timer, usec_add(now, CONTROL_CLIENT_TIMEOUT_USEC));
}

static int client_write(ControlClient *cl) {
        while (cl->sent < cl->out.len) {
                ssize_t n = send(cl->fd, cl->out.data + cl->sent, cl->out.len - cl->sent, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;       /* EPOLLOUT says when the client read some */
                        log_debug_errno(-errno, "Control socket: client gone: %m");
                        client_free(cl);
                        return 0;
                }
                cl->sent += (size_t) n;
                client_touch(cl);
        }
        client_free(cl);        /* all sent: closing is the end of the reply */
        return 0;
}

/* The request, without its newline: the reply into cl->out. */
static void client_answer(ControlClient *cl, const char *req) {
        static const struct {
                const char *req;
                StatusFormat format;
        } requests[] = {
                { "status",      STATUS_TEXT },
                { "status json", STATUS_JSON },
        };
        Control *c = cl->control;
        int r = -EBADMSG;

        for (size_t i = 0; i < ELEMENTSOF(requests); i++)
                if (strcmp(req, requests[i].req) == 0) {
                        r = c->report(requests[i].format, &cl->out, c->userdata);
                        break;
                }
        if (r < 0) {
                const char *why = r == -EBADMSG ? "unknown request" : strerror(-r);

                /* A refusal is a line the command shows on stderr (control.h). */
                buf_clear(&cl->out);
                (void) buf_append(&cl->out, "error: ", 7, 0);
                (void) buf_append(&cl->out, why, strlen(why), 0);
                (void) buf_append(&cl->out, "\n", 1, 0);
        }
        cl->replying = true;
        (void) sd_event_source_set_io_events(cl->io, EPOLLOUT);
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ControlClient *cl = userdata;
        char *nl;
        ssize_t n;

        (void) s;
        (void) revents;
        if (cl->replying)
                return client_write(cl);

        n = recv(fd, cl->req + cl->req_len, sizeof(cl->req) - cl->req_len, 0);
        if (n < 0 && IN_SET(errno, EAGAIN, EINTR))
                return 0;
        if (n <= 0) {
                log_debug("Control socket: a client left without a request");
                client_free(cl);
                return 0;
        }
        cl->req_len += (size_t) n;
        client_touch(cl);
        nl = memchr(cl->req, '\n', cl->req_len);
        if (!nl) {
                if (cl->req_len < sizeof(cl->req))
                        return 0;       /* the rest of the line is still on its way */
                client_answer(cl, "");  /* longer than any request: refused */
                return client_write(cl);
        }
        *nl = '\0';
        client_answer(cl, cl->req);
        return client_write(cl);
}

static int on_client_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ControlClient *cl = userdata;

        (void) s;
        (void) usec;
        log_debug("Control socket: a client idle for %llu s closed",
                  (unsigned long long) (CONTROL_CLIENT_TIMEOUT_USEC / USEC_PER_SEC));
        client_free(cl);
        return 0;
}

/* Only the daemon's own user, or root (control.h). */
static bool peer_allowed(int fd) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
                return false;
        return cred.uid == 0 || cred.uid == geteuid();
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Control *c = userdata;
        ControlClient *cl;
        uint64_t now = 0;
        int cfd, r;

        (void) s;
        (void) revents;
        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (!IN_SET(errno, EAGAIN, EINTR, ECONNABORTED))
                        log_warning_errno(-errno, "Control socket: accept: %m");
                return 0;
        }
        if (c->n_clients >= CONTROL_MAX_CLIENTS) {
                log_debug("Control socket: %u clients already, one more closed", c->n_clients);
                (void) close(cfd);
                return 0;
        }
        if (!peer_allowed(cfd)) {
                log_notice("Control socket: a client of another user refused");
                (void) close(cfd);
                return 0;
        }
        cl = calloc(1, sizeof(*cl));
        if (!cl) {
                (void) close(cfd);
                return 0;
        }
        cl->control = c;
        cl->fd = cfd;
        c->clients[c->n_clients++] = cl;
        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_io(c->event, &cl->io, cfd, EPOLLIN, on_client_io, cl);
        if (r >= 0)
                r = sd_event_add_time(c->event, &cl->timer, CLOCK_MONOTONIC,
                                      usec_add(now, CONTROL_CLIENT_TIMEOUT_USEC), USEC_PER_SEC / 10,
                                      on_client_timeout, cl);
        if (r < 0) {
                log_warning_errno(r, "Control socket: cannot serve a client: %m");
                client_free(cl);
        }
        return 0;
}

/* ---- the daemon's end: the socket --------------------------------------------------------------- */

/* bind() found a file at the path: replace a socket nobody listens on (a crashed run's). */
static int replace_stale(const char *path, const struct sockaddr_un *sa) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) >= 0)
                return -EADDRINUSE;
        if (errno != ECONNREFUSED)
                return -errno;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        log_info("Control socket: replaced the stale socket %s", path);
        return 0;
}

static int control_listen(Control *c, bool create_dir) {
        struct sockaddr_un sa;
        mode_t old;
        int r;

        r = sockaddr_fill(c->path, &sa);
        if (r < 0)
                return r;
        if (create_dir) {
                _cleanup_free_ char *dir = strdup(c->path);
                char *slash = dir ? strrchr(dir, '/') : NULL;

                if (!dir)
                        return -ENOMEM;
                if (slash && slash != dir) {
                        *slash = '\0';
                        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                                return -errno;
                }
        }
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        /* The file is made 0600 by bind() itself: no moment where another user could connect. */
        old = umask(0177);
        r = bind(c->fd, (const struct sockaddr *) &sa, sizeof(sa));
        if (r < 0 && errno == EADDRINUSE) {
                r = replace_stale(c->path, &sa);
                if (r >= 0)
                        r = bind(c->fd, (const struct sockaddr *) &sa, sizeof(sa));
                else
                        errno = -r;
        }
        (void) umask(old);
        if (r < 0)
                return -errno;
        if (listen(c->fd, SOMAXCONN) < 0) {
                r = -errno;
                (void) unlink(c->path);
                return r;
        }
        return 0;
}

int control_new(sd_event *e, const char *path, bool create_dir, ControlReportFn fn, void *userdata, Control **ret) {
        _cleanup_(control_freep) Control *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = -EBADF;
        c->event = sd_event_ref(e);
        c->report = fn;
        c->userdata = userdata;
        c->path = strdup(path);
        if (!c->path)
                return -ENOMEM;
        r = control_listen(c, create_dir);
        if (r < 0) {
                free(c->path);
                c->path = NULL;         /* not ours: control_free() must not remove it */
                return r;
        }
        r = sd_event_add_io(e, &c->io, c->fd, EPOLLIN, on_accept, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

Control *control_free(Control *c) {
        if (!c)
                return NULL;
        while (c->n_clients > 0)
                client_free(c->clients[0]);
        sd_event_source_disable_unref(c->io);
        if (c->fd >= 0)
                (void) close(c->fd);
        if (c->path)
                (void) unlink(c->path);
        free(c->path);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

/* ---- the command's end -------------------------------------------------------------------------- */

/* Wait for fd to be ready (poll events), CONTROL_CLIENT_TIMEOUT_USEC at most: the daemon
 * answers from its loop, so a loop that does not turn for that long is a hung daemon. */
static int wait_fd(int fd, short events) {
        struct pollfd p = { .fd = fd, .events = events };
        int n;

        do
                n = poll(&p, 1, (int) (CONTROL_CLIENT_TIMEOUT_USEC / USEC_PER_MSEC));
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n == 0 ? -ETIMEDOUT : 0;
}

int control_client(const char *path, bool json) {
        const char *req = json ? "status json\n" : "status\n";
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        char buf[65536];
        bool first = true, error = false;
        int r;

        r = sockaddr_fill(path, &sa);
        if (r < 0) {
                log_error_errno(r, "Control socket path %s: %m", path);
                return EXIT_FAILURE;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                log_error_errno(-errno, "socket: %m");
                return EXIT_FAILURE;
        }
        if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (IN_SET(errno, ENOENT, ECONNREFUSED))
                        return CONTROL_EXIT_NOT_RUNNING;
                log_error_errno(-errno, "Cannot connect to %s: %m", path);
                return EXIT_FAILURE;
        }
        /* One short line: it fits the socket's buffer, a blocking send does not wait. */
        if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
                log_error_errno(-errno, "Cannot send to %s: %m", path);
                return EXIT_FAILURE;
        }
        for (;;) {
                ssize_t n;

                r = wait_fd(fd, POLLIN);
                if (r < 0) {
                        log_error_errno(r, "No answer from %s: %m", path);
                        return EXIT_FAILURE;
                }
                n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        log_error_errno(-errno, "Cannot read from %s: %m", path);
                        return EXIT_FAILURE;
                }
                if (n == 0)
                        break;
                if (first && (size_t) n >= 7 && memcmp(buf, "error: ", 7) == 0)
                        error = true;
                first = false;
                if (fwrite(buf, 1, (size_t) n, error ? stderr : stdout) != (size_t) n) {
                        log_error("Cannot write the status: %s", strerror(errno));
                        return EXIT_FAILURE;
                }
        }
        if (first) {
                /* Closed without a word: too many clients at once, or not our user. */
                log_error("%s closed the connection without an answer (busy, or another user's daemon)", path);
                return EXIT_FAILURE;
        }
        if (fflush(stdout) != 0 || ferror(stdout))
                return EXIT_FAILURE;
        return error ? EXIT_FAILURE : EXIT_SUCCESS;
}

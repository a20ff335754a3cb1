/* SPDX-License-Identifier: MIT */
/*
 * hook.c: hook programs and secret commands as sd-event children; see hook.h
 * for the contract and docs/HOOKS.md for what a hook receives.
 *
 * One Hook is one child: posix_spawn() into its own process group, pipes for
 * stdout and stderr read by io sources, an optional stdin pipe written by an
 * io source, a child source that reaps it, and one timer that first sends
 * SIGTERM to the group and then, re-armed, SIGKILL.  The run is finished when
 * the child is reaped and both output pipes reached EOF; only after SIGKILL do
 * we stop waiting for EOF, because a process that left the group (setsid) may
 * hold the pipes forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env-util.h"
#include "hook.h"
#include "spawn-util.h"
#include "log.h"

/* hook_note_input(): when the bytes being handled were read, 0 if none. */
static uint64_t input_read_at;

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* Accuracy of the timeout timers: sd-event's default (250 ms) would blur short timeouts. */
#define HOOK_TIMER_ACCURACY_USEC USEC_PER_MSEC
/* Reads per output pipe once SIGKILL was sent and the child is reaped: bounded, because a process
 * that escaped the group could keep writing. */
#define HOOK_DRAIN_READS 64

enum {
        HOOK_STDOUT,
        HOOK_STDERR,
        _HOOK_STREAM_MAX,
};

typedef struct HookStream {
        Hook *hook;
        int fd;                 /* our non-blocking read end; -EBADF once at EOF */
        sd_event_source *source;
        bool capture;           /* a secret command's stdout: into hook->secret, never logged */
        bool truncating;        /* dropping the rest of a line longer than HOOK_LINE_MAX */
        size_t len;
        char line[HOOK_LINE_MAX];
} HookStream;

struct Hook {
        sd_event *event;
        char *name;             /* log_name, escaped once */
        pid_t pid;              /* also the process group id */
        int status;             /* wait status, or -errno if the child never started */
        bool reaped;            /* or never started */
        bool timed_out;         /* SIGTERM was sent to the group */
        bool kill_sent;         /* SIGKILL was sent to the group */
        bool floating;          /* no owner: free after the callback */
        usec_t timeout_usec;
        usec_t kill_grace_usec;

        sd_event_source *child_source;
        sd_event_source *timer_source;
        sd_event_source *defer_source;

        sd_event_source *stdin_source;
        int stdin_fd;
        char *stdin_data;
        size_t stdin_len;
        size_t stdin_off;

        HookStream streams[_HOOK_STREAM_MAX];

        HookDoneFn done;
        SecretDoneFn secret_done;
        void *userdata;

        /* Secret commands only: secret_max + 1 bytes, erased before free. */
        char *secret;
        size_t secret_len;
        size_t secret_max;
        bool secret_overflow;
};

#define ENV_PREFIX "IMAPIDLED_"

char **hook_strv_free(char **l) {
        if (l)
                for (char **p = l; *p; p++)
                        free(*p);
        free(l);
        return NULL;
}

static int strv_dup(const char *const *l, char ***ret) {
        _cleanup_(hook_strv_freep) char **copy = NULL;
        size_t n = 0;

        while (l[n])
                n++;
        copy = calloc(n + 1, sizeof(char *));
        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                copy[i] = strdup(l[i]);
                if (!copy[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(copy);
        return 0;
}

/* --- argv expansion ------------------------------------------------------- */

/* The %-sequences, one row each. */
typedef struct HookSpecifier {
        char c;
        int which;      /* 0: account, 1: mailbox, 2: a literal '%' */
} HookSpecifier;

static const HookSpecifier specifiers[] = {
        { 'a', 0 },
        { 'm', 1 },
        { '%', 2 },
};

static int specifier_value(char c, const char *account, const char *mailbox, const char **ret) {
        const char *values[] = { account, mailbox, "%" };

        for (size_t i = 0; i < ELEMENTSOF(specifiers); i++)
                if (specifiers[i].c == c) {
                        if (!values[specifiers[i].which])
                                return -EINVAL;
                        *ret = values[specifiers[i].which];
                        return 0;
                }
        return -EINVAL;
}

static int expand_one(const char *arg, const char *account, const char *mailbox, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;
        int r;

        /* Two passes: measure, then fill.  The value is copied as bytes; nothing in it is special. */
        for (int pass = 0; pass < 2; pass++) {
                size_t j = 0;

                for (const char *p = arg; *p; p++) {
                        const char *v;
                        size_t k;

                        if (*p != '%') {
                                if (out)
                                        out[j] = *p;
                                j++;
                                continue;
                        }
                        r = specifier_value(p[1], account, mailbox, &v);
                        if (r < 0)
                                return r;
                        k = strlen(v);
                        if (out)
                                memcpy(out + j, v, k);
                        j += k;
                        p++;
                }
                if (!out) {
                        n = j;
                        out = malloc(n + 1);
                        if (!out)
                                return -ENOMEM;
                } else
                        out[j] = 0;
        }

        *ret = TAKE_PTR(out);
        return 0;
}

int hook_expand_argv(char *const *argv, const char *account, const char *mailbox, char ***ret) {
        _cleanup_(hook_strv_freep) char **l = NULL;
        size_t n = 0;
        int r;

        assert_return(argv, -EINVAL);
        assert_return(ret, -EINVAL);

        while (argv[n])
                n++;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = expand_one(argv[i], account, mailbox, &l[i]);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(l);
        return 0;
}

/* --- environment ---------------------------------------------------------- */

/* Length of the name of a "NAME=value" entry, 0 if it has no '=' or an empty name. */
static size_t env_name_len(const char *entry) {
        const char *eq = strchr(entry, '=');

        return eq ? (size_t) (eq - entry) : 0;
}

/* An allowlist, not a denylist: whatever else the daemon was started with (LD_PRELOAD,
 * STATE_DIRECTORY, a secret a wrapper exported) stays with the daemon (docs/HOOKS.md).  pass_env
 * was checked by hook_build_env() already. */
static bool env_passed(const char *entry, size_t name_len, char *const *pass_env) {
        if (env_name_passed_by_default(entry, name_len))
                return true;
        for (char *const *p = pass_env; p && *p; p++)
                if (strlen(*p) == name_len && strncmp(entry, *p, name_len) == 0)
                        return true;
        return false;
}

/* Append entry (taking ownership), replacing an earlier one of the same name. */
static void env_put(char **l, size_t *n, char *entry) {
        size_t k = env_name_len(entry);

        for (size_t i = 0; i < *n; i++)
                if (env_name_len(l[i]) == k && strncmp(l[i], entry, k + 1) == 0) {
                        free(l[i]);
                        l[i] = entry;
                        return;
                }
        l[(*n)++] = entry;
}

static int env_put_var(char **l, size_t *n, const char *name, const char *value) {
        char *entry;

        if (!value)
                return 0;
        if (asprintf(&entry, "%s%s=%s", ENV_PREFIX, name, value) < 0)
                return -ENOMEM;
        env_put(l, n, entry);
        return 0;
}

int hook_build_env(char *const *environ_in, const HookSpec *spec, char ***ret) {
        _cleanup_(hook_strv_freep) char **l = NULL;
        size_t n_in = 0, n_extra = 0, n = 0;
        int r;

        assert_return(spec, -EINVAL);
        assert_return(ret, -EINVAL);

        while (environ_in && environ_in[n_in])
                n_in++;
        /* cfg.c refuses these names already; a caller that did not ask cfg gets the same rule. */
        for (char *const *p = spec->pass_env; p && *p; p++)
                if (env_name_check(*p))
                        return -EINVAL;
        while (spec->extra_env && spec->extra_env[n_extra]) {
                if (env_name_len(spec->extra_env[n_extra]) == 0)
                        return -EINVAL;
                n_extra++;
        }

        l = calloc(n_in + 3 + n_extra + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        for (size_t i = 0; i < n_in; i++) {
                size_t k = env_name_len(environ_in[i]);
                char *copy;

                if (k == 0 || !env_passed(environ_in[i], k, spec->pass_env))
                        continue;
                copy = strdup(environ_in[i]);
                if (!copy)
                        return -ENOMEM;
                env_put(l, &n, copy);
        }

        if ((r = env_put_var(l, &n, "ACCOUNT", spec->account)) < 0 ||
            (r = env_put_var(l, &n, "MAILBOX", spec->mailbox)) < 0 ||
            (r = env_put_var(l, &n, "EVENT", spec->event)) < 0)
                return r;

        for (size_t i = 0; i < n_extra; i++) {
                char *copy = strdup(spec->extra_env[i]);

                if (!copy)
                        return -ENOMEM;
                env_put(l, &n, copy);
        }

        *ret = TAKE_PTR(l);
        return 0;
}

/* --- logging helpers ------------------------------------------------------ */

static const char *format_seconds(usec_t u, char *buf, size_t size) {
        (void) snprintf(buf, size, "%gs", (double) u / (double) USEC_PER_SEC);
        return buf;
}

static const char *signal_name(int sig) {
        const char *s = sigabbrev_np(sig);

        return s ?: "?";
}

static void hook_log_exit(Hook *h) {
        char t[32], prefix[64] = "";
        int st = h->status;

        if (h->timed_out)
                (void) snprintf(prefix, sizeof(prefix), "timed out after %s, ",
                                format_seconds(h->timeout_usec, t, sizeof(t)));

        /* A secret command runs on every connect: its success is routine, a debug line; a hook's
         * run is an event the user asked for. */
        if (WIFEXITED(st))
                log_full(WEXITSTATUS(st) != 0 || h->timed_out ? LOG_WARNING :
                         h->streams[HOOK_STDOUT].capture ? LOG_DEBUG : LOG_INFO,
                         "%s[%d]: %sexited with status %d", h->name, (int) h->pid, prefix, WEXITSTATUS(st));
        else if (WIFSIGNALED(st))
                log_warning("%s[%d]: %skilled by signal %d (SIG%s)", h->name, (int) h->pid, prefix,
                            WTERMSIG(st), signal_name(WTERMSIG(st)));
        else
                log_warning("%s[%d]: ended with wait status 0x%x", h->name, (int) h->pid, (unsigned) st);
}

/* --- lifecycle ------------------------------------------------------------ */

static void stream_close(HookStream *s);

Hook *hook_free(Hook *h) {
        if (!h)
                return NULL;

        h->child_source = sd_event_source_disable_unref(h->child_source);
        if (h->pid > 0 && !h->reaped) {
                /* The group: a shell's children die with it.  Then reap the leader ourselves; the
                 * child source is gone, and SIGKILL leaves nothing to wait for but the kernel. */
                (void) kill(-h->pid, SIGKILL);
                while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                h->reaped = true;
        }

        for (size_t i = 0; i < _HOOK_STREAM_MAX; i++) {
                h->streams[i].len = 0;  /* no partial-line flush from a destructor */
                stream_close(&h->streams[i]);
        }
        h->stdin_source = sd_event_source_disable_unref(h->stdin_source);
        if (h->stdin_fd >= 0)
                (void) close(h->stdin_fd);
        h->timer_source = sd_event_source_disable_unref(h->timer_source);
        h->defer_source = sd_event_source_disable_unref(h->defer_source);

        if (h->secret) {
                explicit_bzero(h->secret, h->secret_max + 1);
                free(h->secret);
        }
        free(h->stdin_data);
        free(h->name);
        sd_event_unref(h->event);
        return mfree(h);
}

pid_t hook_pid(const Hook *h) {
        return h ? h->pid : 0;
}

static int hook_new(sd_event *e, const char *log_name, Hook **ret) {
        _cleanup_(hook_freep) Hook *h = NULL;
        size_t len;

        h = calloc(1, sizeof(Hook));
        if (!h)
                return -ENOMEM;
        h->stdin_fd = -EBADF;
        for (size_t i = 0; i < _HOOK_STREAM_MAX; i++) {
                h->streams[i].hook = h;
                h->streams[i].fd = -EBADF;
        }
        h->event = sd_event_ref(e);

        /* The name may hold a mailbox name: escape it once, like anything else we log. */
        log_name = log_name ?: "hook";
        len = strlen(log_name);
        h->name = malloc(len * 4 + 1);
        if (!h->name)
                return -ENOMEM;
        (void) log_escape(log_name, len, h->name, len * 4 + 1);

        *ret = TAKE_PTR(h);
        return 0;
}

static void secret_finish(Hook *h) {
        SecretDoneFn done = h->secret_done;
        void *userdata = h->userdata;
        bool floating = h->floating;
        char *secret = TAKE_PTR(h->secret);
        size_t size = h->secret_max + 1, len = h->secret_len;
        int r = 0;

        /* The first failure that explains the others wins: a command we killed for its output
         * also died of a signal. */
        if (h->status < 0)
                r = h->status;
        else if (h->secret_overflow)
                r = log_warning_errno(-EMSGSIZE, "%s[%d]: printed more than %zu bytes, killed",
                                      h->name, (int) h->pid, h->secret_max);
        else if (h->timed_out)
                r = -ETIMEDOUT;
        else if (!WIFEXITED(h->status) || WEXITSTATUS(h->status) != 0)
                r = -EIO;
        else {
                if (len > 0 && secret[len - 1] == '\n')
                        len--;
                if (len == 0)
                        r = log_warning_errno(-ENODATA, "%s[%d]: printed nothing", h->name, (int) h->pid);
                else if (memchr(secret, 0, len))
                        r = log_warning_errno(-EBADMSG, "%s[%d]: output contains a NUL byte",
                                              h->name, (int) h->pid);
                else
                        secret[len] = 0;
        }

        done(r, r == 0 ? secret : NULL, r == 0 ? len : 0, userdata);

        /* h may be gone now (the callback may free it); only locals from here. */
        explicit_bzero(secret, size);
        free(secret);
        if (floating)
                (void) hook_free(h);
}

/* The child is reaped (or never started) and the output is drained: tell the owner. */
static void hook_finish(Hook *h) {
        HookDoneFn done = h->done;
        void *userdata = h->userdata;
        bool floating = h->floating;

        h->timer_source = sd_event_source_disable_unref(h->timer_source);
        h->defer_source = sd_event_source_disable_unref(h->defer_source);
        h->stdin_source = sd_event_source_disable_unref(h->stdin_source);
        if (h->stdin_fd >= 0)
                (void) close(h->stdin_fd);
        h->stdin_fd = -EBADF;
        h->stdin_data = mfree(h->stdin_data);

        /* Logged last, so that it follows the child's own output. */
        if (h->pid > 0)
                hook_log_exit(h);

        if (h->secret_done) {
                secret_finish(h);
                return;
        }

        done(h, h->status, h->timed_out, userdata);
        if (floating)
                (void) hook_free(h);
}

/* --- output --------------------------------------------------------------- */

static void stream_flush(HookStream *s, bool truncated) {
        Hook *h = s->hook;
        char esc[HOOK_LINE_MAX * 4 + 1];

        (void) log_escape(s->line, s->len, esc, sizeof(esc));
        log_info("%s[%d]: %s%s", h->name, (int) h->pid, esc, truncated ? " [truncated]" : "");
        s->len = 0;
}

static void stream_feed(HookStream *s, const char *p, size_t n) {
        while (n > 0) {
                const char *nl = memchr(p, '\n', n);
                size_t k = nl ? (size_t) (nl - p) : n;

                if (!s->truncating) {
                        size_t room = sizeof(s->line) - s->len, c = MIN(k, room);

                        memcpy(s->line + s->len, p, c);
                        s->len += c;
                        if (k > room) {
                                stream_flush(s, /* truncated= */ true);
                                s->truncating = true;
                        }
                }
                if (!nl)
                        return;
                if (s->truncating)
                        s->truncating = false;
                else
                        stream_flush(s, /* truncated= */ false);
                p += k + 1;
                n -= k + 1;
        }
}

static void stream_close(HookStream *s) {
        if (s->len > 0 && !s->capture)
                stream_flush(s, /* truncated= */ false);        /* the partial last line */
        s->len = 0;
        s->source = sd_event_source_disable_unref(s->source);
        if (s->fd >= 0)
                (void) close(s->fd);
        s->fd = -EBADF;
}

/* One read. Returns 1 if the pipe may have more, 0 at EOF (or when we stop reading), -EAGAIN. */
static int stream_read(HookStream *s) {
        Hook *h = s->hook;
        char buf[4096];
        ssize_t n;

        if (s->capture) {
                /* Room for exactly one byte more than allowed: that byte proves the overflow. */
                n = read(s->fd, h->secret + h->secret_len, h->secret_max + 1 - h->secret_len);
                if (n > 0) {
                        h->secret_len += (size_t) n;
                        if (h->secret_len > h->secret_max) {
                                h->secret_overflow = true;
                                h->kill_sent = true;
                                (void) kill(-h->pid, SIGKILL);
                                return 0;
                        }
                }
        } else {
                n = read(s->fd, buf, sizeof(buf));
                if (n > 0)
                        stream_feed(s, buf, (size_t) n);
        }

        if (n > 0)
                return 1;
        if (n == 0)
                return 0;
        if (errno == EAGAIN || errno == EINTR)
                return -EAGAIN;
        log_debug_errno(-errno, "%s[%d]: reading output failed, ignoring the rest: %m", h->name, (int) h->pid);
        return 0;
}

static void hook_maybe_finish(Hook *h) {
        if (!h->reaped)
                return;

        for (size_t i = 0; i < _HOOK_STREAM_MAX; i++) {
                HookStream *s = &h->streams[i];

                if (s->fd < 0)
                        continue;
                if (!h->kill_sent)
                        return;         /* wait for EOF: grandchildren may still write */
                /* After SIGKILL, whatever still holds the pipe escaped the group: take what is
                 * there and stop waiting. */
                for (unsigned k = 0; k < HOOK_DRAIN_READS && stream_read(s) > 0; k++)
                        ;
                stream_close(s);
        }
        hook_finish(h);
}

static int on_stream(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        HookStream *s = userdata;

        (void) source;
        (void) fd;
        (void) revents;

        if (stream_read(s) != 0)
                return 0;
        stream_close(s);
        hook_maybe_finish(s->hook);
        return 0;
}

/* --- stdin ---------------------------------------------------------------- */

static void stdin_close(Hook *h) {
        h->stdin_source = sd_event_source_disable_unref(h->stdin_source);
        if (h->stdin_fd >= 0)
                (void) close(h->stdin_fd);
        h->stdin_fd = -EBADF;
        h->stdin_data = mfree(h->stdin_data);
}

static int on_stdin(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Hook *h = userdata;
        ssize_t n;

        (void) source;
        (void) revents;

        n = write(fd, h->stdin_data + h->stdin_off, h->stdin_len - h->stdin_off);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                /* EPIPE: the hook does not want the rest; that is its business. */
                log_debug_errno(-errno, "%s[%d]: stdin closed after %zu of %zu bytes: %m",
                                h->name, (int) h->pid, h->stdin_off, h->stdin_len);
                stdin_close(h);
                return 0;
        }
        h->stdin_off += (size_t) n;
        if (h->stdin_off == h->stdin_len)
                stdin_close(h);         /* EOF for the reader */
        return 0;
}

/* --- the child ------------------------------------------------------------ */

/* A wait status from the siginfo sd-event saw, should waitpid() not deliver one. */
static int status_from_siginfo(const siginfo_t *si) {
        switch (si->si_code) {
        case CLD_EXITED:
                return (si->si_status & 0xff) << 8;
        case CLD_DUMPED:
                return (si->si_status & 0x7f) | 0x80;
        default:
                return si->si_status & 0x7f;
        }
}

static int on_child(sd_event_source *source, const siginfo_t *si, void *userdata) {
        Hook *h = userdata;
        pid_t k;
        int st;

        (void) source;

        /* sd-event peeked with WNOWAIT and would reap after we return; reaping here gives the
         * exact wait status and means no zombie exists when the owner's callback runs. */
        do
                k = waitpid(h->pid, &st, WNOHANG);
        while (k < 0 && errno == EINTR);
        h->status = k == h->pid ? st : status_from_siginfo(si);
        h->reaped = true;
        h->child_source = sd_event_source_disable_unref(h->child_source);
        hook_maybe_finish(h);
        return 0;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Hook *h = userdata;
        char t[32];
        int r;

        (void) usec;

        if (!h->timed_out) {
                h->timed_out = true;
                if (h->reaped)
                        log_warning("%s[%d]: exited, but its output is still open after %s; "
                                    "sending SIGTERM to its process group",
                                    h->name, (int) h->pid, format_seconds(h->timeout_usec, t, sizeof(t)));
                else
                        log_warning("%s[%d]: timed out after %s, sending SIGTERM to its process group",
                                    h->name, (int) h->pid, format_seconds(h->timeout_usec, t, sizeof(t)));
                (void) kill(-h->pid, SIGTERM);

                r = sd_event_source_set_time_relative(source, h->kill_grace_usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
                if (r >= 0)
                        return 0;
                log_warning_errno(r, "%s[%d]: cannot arm the kill timer, killing at once: %m",
                                  h->name, (int) h->pid);
        } else
                log_warning("%s[%d]: still running %s after SIGTERM, sending SIGKILL to its process group",
                            h->name, (int) h->pid, format_seconds(h->kill_grace_usec, t, sizeof(t)));

        h->kill_sent = true;
        (void) kill(-h->pid, SIGKILL);
        h->timer_source = sd_event_source_disable_unref(h->timer_source);
        hook_maybe_finish(h);
        return 0;
}

static int on_spawn_failed(sd_event_source *source, void *userdata) {
        Hook *h = userdata;

        (void) source;
        h->defer_source = sd_event_source_disable_unref(h->defer_source);
        hook_finish(h);
        return 0;
}

/* Keep the child's ends of the pipes off 0..2, so the dup2() actions cannot clobber each other
 * even if the daemon was started with a standard fd closed. */
static int fd_move_above_stdio(int fd) {
        int nfd;

        if (fd > STDERR_FILENO)
                return fd;
        nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (nfd < 0)
                nfd = -errno;
        (void) close(fd);
        return nfd;
}

/* A pipe with both ends O_CLOEXEC, ours (fds[our_end]) non-blocking, the child's above stderr. */
static int pipe_cloexec(int fds[2], int our_end) {
        int child_end = 1 - our_end, flags, r;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        r = fd_move_above_stdio(fds[child_end]);
        if (r < 0) {
                (void) close(fds[our_end]);
                return r;
        }
        fds[child_end] = r;

        /* Only our end is non-blocking: the two ends are separate open files, and the child
         * expects ordinary blocking stdio. */
        flags = fcntl(fds[our_end], F_GETFL);
        if (flags < 0 || fcntl(fds[our_end], F_SETFL, flags | O_NONBLOCK) < 0) {
                r = -errno;
                (void) close(fds[0]);
                (void) close(fds[1]);
                return r;
        }
        return 0;
}

static int check_signals(bool with_stdin) {
        struct sigaction sa;
        sigset_t cur;

        if (sigprocmask(SIG_BLOCK, NULL, &cur) < 0)
                return -errno;
        /* sd_event_add_child(3): SIGCHLD must be blocked, or the kernel may reap for us. */
        if (sigismember(&cur, SIGCHLD) != 1)
                return -EBUSY;
        /* A hook that exits without reading its stdin must not kill the daemon with SIGPIPE. */
        if (with_stdin && sigismember(&cur, SIGPIPE) != 1 &&
            (sigaction(SIGPIPE, NULL, &sa) < 0 || sa.sa_handler != SIG_IGN))
                return -EINVAL;
        return 0;
}

/* Start argv in h with envp.  Failures before the spawn are returned; a failed spawn is logged
 * and reported through the callback, from a defer source. */
static int hook_start(Hook *h, char *const *argv, char *const *envp, bool with_stdin) {
        uint64_t exec_at;
        _cleanup_close_ int in_child = -EBADF, out_child = -EBADF, err_child = -EBADF;
        int fds[2], r;

        if (with_stdin) {
                r = pipe_cloexec(fds, 1);
                if (r < 0)
                        return r;
                in_child = fds[0];
                h->stdin_fd = fds[1];
        } else {
                in_child = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (in_child < 0)
                        return -errno;
                in_child = fd_move_above_stdio(in_child);
                if (in_child < 0)
                        return in_child;
        }

        r = pipe_cloexec(fds, 0);
        if (r < 0)
                return r;
        h->streams[HOOK_STDOUT].fd = fds[0];
        out_child = fds[1];

        r = pipe_cloexec(fds, 0);
        if (r < 0)
                return r;
        h->streams[HOOK_STDERR].fd = fds[0];
        err_child = fds[1];

        r = spawn_clean(argv, envp, (const int[3]) { in_child, out_child, err_child }, true, &h->pid);
        /* posix_spawn() returns once the child exec'd (CLONE_VFORK): the end of the hot path. */
        exec_at = input_read_at > 0 ? now_usec() : 0;
        if (r < 0) {
                char esc[256];

                h->pid = 0;
                h->status = r;
                h->reaped = true;
                log_warning_errno(r, "%s: cannot run '%s': %m", h->name,
                                  log_escape(argv[0], strlen(argv[0]), esc, sizeof(esc)));
                for (size_t i = 0; i < _HOOK_STREAM_MAX; i++)
                        stream_close(&h->streams[i]);
                stdin_close(h);
                return sd_event_add_defer(h->event, &h->defer_source, on_spawn_failed, h);
        }

        /* From here on a failure leaves a running child: the caller's hook_free() kills and
         * reaps it. */
        r = sd_event_add_child(h->event, &h->child_source, h->pid, WEXITED, on_child, h);
        if (r < 0)
                return r;

        for (size_t i = 0; i < _HOOK_STREAM_MAX; i++) {
                r = sd_event_add_io(h->event, &h->streams[i].source, h->streams[i].fd, EPOLLIN,
                                    on_stream, &h->streams[i]);
                if (r < 0)
                        return r;
        }

        if (h->stdin_fd >= 0) {
                r = sd_event_add_io(h->event, &h->stdin_source, h->stdin_fd, EPOLLOUT, on_stdin, h);
                if (r < 0)
                        return r;
        }

        if (h->timeout_usec != USEC_INFINITY) {
                r = sd_event_add_time_relative(h->event, &h->timer_source, CLOCK_MONOTONIC,
                                               h->timeout_usec, HOOK_TIMER_ACCURACY_USEC, on_timer, h);
                if (r < 0)
                        return r;
        }

        if (log_get_max_level() >= LOG_DEBUG) {
                char esc[256];

                if (exec_at > 0)
                        log_debug("%s[%d]: started '%s', exec'd %" PRIu64 " us after its input was read", h->name,
                                  (int) h->pid, log_escape(argv[0], strlen(argv[0]), esc, sizeof(esc)),
                                  exec_at - input_read_at);
                else
                        log_debug("%s[%d]: started '%s'", h->name, (int) h->pid,
                                  log_escape(argv[0], strlen(argv[0]), esc, sizeof(esc)));
        }
        return 0;
}

void hook_note_input(uint64_t read_at) {
        input_read_at = read_at;
}

int hook_run(sd_event *e, const HookSpec *spec, HookDoneFn done, void *userdata, Hook **ret) {
        _cleanup_(hook_strv_freep) char **argv = NULL, **envp = NULL;
        _cleanup_(hook_freep) Hook *h = NULL;
        bool with_stdin;
        int r;

        assert_return(e, -EINVAL);
        assert_return(spec, -EINVAL);
        assert_return(done, -EINVAL);
        assert_return((spec->argv && spec->argv[0] && spec->argv[0][0]) || (!spec->argv && spec->shell),
                      -EINVAL);

        with_stdin = spec->stdin_data != NULL;
        r = check_signals(with_stdin);
        if (r < 0)
                return r;

        if (spec->argv)
                r = hook_expand_argv(spec->argv, spec->account, spec->mailbox, &argv);
        else
                /* M09: nothing is substituted into shell text; the values are in the environment. */
                r = strv_dup((const char *const[]) { "/bin/sh", "-c", spec->shell, NULL }, &argv);
        if (r < 0)
                return r;

        r = hook_build_env(environ, spec, &envp);
        if (r < 0)
                return r;

        r = hook_new(e, spec->log_name, &h);
        if (r < 0)
                return r;
        h->done = done;
        h->userdata = userdata;
        h->floating = !ret;
        h->timeout_usec = spec->timeout_usec ?: HOOK_TIMEOUT_DEFAULT_USEC;
        h->kill_grace_usec = spec->kill_grace_usec ?: HOOK_KILL_GRACE_DEFAULT_USEC;
        if (with_stdin) {
                h->stdin_data = malloc(MAX(spec->stdin_len, (size_t) 1));
                if (!h->stdin_data)
                        return -ENOMEM;
                memcpy(h->stdin_data, spec->stdin_data, spec->stdin_len);
                h->stdin_len = spec->stdin_len;
        }

        r = hook_start(h, argv, envp, with_stdin);
        if (r < 0)
                return r;
        if (with_stdin && spec->stdin_len == 0 && h->stdin_fd >= 0)
                stdin_close(h);

        if (ret)
                *ret = h;
        TAKE_PTR(h);
        return 0;
}

int secret_command_run(sd_event *e, char *const *argv, char *const *pass_env, uint64_t timeout_usec,
                       size_t max_bytes, const char *log_name, SecretDoneFn done, void *userdata, Hook **ret) {
        _cleanup_(hook_strv_freep) char **envp = NULL;
        _cleanup_(hook_freep) Hook *h = NULL;
        int r;

        assert_return(e, -EINVAL);
        assert_return(argv && argv[0] && argv[0][0], -EINVAL);
        assert_return(done, -EINVAL);
        assert_return(max_bytes < SIZE_MAX, -EINVAL);

        r = check_signals(false);
        if (r < 0)
                return r;

        r = hook_build_env(environ, &(const HookSpec) { .pass_env = pass_env }, &envp);
        if (r < 0)
                return r;

        r = hook_new(e, log_name, &h);
        if (r < 0)
                return r;
        h->secret_done = done;
        h->userdata = userdata;
        h->floating = !ret;
        h->timeout_usec = timeout_usec ?: HOOK_TIMEOUT_DEFAULT_USEC;
        h->kill_grace_usec = HOOK_KILL_GRACE_DEFAULT_USEC;
        h->secret_max = max_bytes ?: HOOK_SECRET_MAX_DEFAULT;
        /* Allocated once at its cap: growing would leave copies of the secret in freed memory. */
        h->secret = malloc(h->secret_max + 1);
        if (!h->secret)
                return -ENOMEM;
        h->streams[HOOK_STDOUT].capture = true;

        r = hook_start(h, argv, envp, /* with_stdin= */ false);
        if (r < 0)
                return r;

        if (ret)
                *ret = h;
        TAKE_PTR(h);
        return 0;
}

int secret_file_read(const char *path, char **ret) {
        char buf[4096];
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                return -errno;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        if (n == 0)
                return -ENODATA;
        *ret = strndup(buf, (size_t) n);
        explicit_bzero(buf, sizeof(buf));
        return *ret ? 0 : -ENOMEM;
}

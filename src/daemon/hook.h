/* SPDX-License-Identifier: MIT */
/*
 * hook.h: running hook programs and secret commands (password_command,
 * oauth2_token_command) as children of the sd-event loop, without ever
 * blocking it.  A child is started with posix_spawn(): no shell unless the
 * configuration asked for one, every fd above stderr closed, an empty signal
 * mask and default signal dispositions, its own process group, an environment
 * of only the allowed variables of the daemon's (src/shared/env-util.h) and its
 * own IMAPIDLED_* ones.  Its stdout and stderr are read
 * through sd-event and logged line by line (escaped); a secret command's
 * stdout is captured instead and never logged.  A timeout sends SIGTERM to the
 * whole process group, then SIGKILL after a grace period (docs/SECURITY.md M07).
 * docs/HOOKS.md says what a hook receives.
 *
 * Requirements on the caller (the daemon's main() does both, the tests too):
 *   - SIGCHLD is blocked in every thread (sd_event_add_child(3)); otherwise
 *     hook_run() and secret_command_run() fail with -EBUSY;
 *   - SIGPIPE is ignored or blocked when stdin_data is used, so a hook that
 *     exits without reading its input cannot kill the daemon; otherwise
 *     hook_run() fails with -EINVAL.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "time-util.h"

/* Defaults for a zero timeout_usec / kill_grace_usec / max_bytes (docs/HOOKS.md). */
#define HOOK_TIMEOUT_DEFAULT_USEC (60 * USEC_PER_SEC)
#define HOOK_KILL_GRACE_DEFAULT_USEC (5 * USEC_PER_SEC)
#define HOOK_SECRET_MAX_DEFAULT ((size_t) 64 * 1024)
/* Longest stdout/stderr line logged; the rest of a longer line is dropped. */
#define HOOK_LINE_MAX ((size_t) 4096)

typedef struct Hook Hook;

typedef struct HookSpec {
        char *const *argv;        /* exec'ed directly (PATH search, no shell), after hook_expand_argv(); or */
        const char *shell;        /* when argv is NULL: "/bin/sh -c <shell>", never expanded (M09) */
        const char *account;      /* for %a in argv and IMAPIDLED_ACCOUNT; NULL: neither */
        const char *mailbox;      /* for %m in argv and IMAPIDLED_MAILBOX; NULL: neither */
        const char *event;        /* IMAPIDLED_EVENT, e.g. "new", "expunge"; NULL: not set */
        char *const *extra_env;   /* more "KEY=value" entries (IMAPIDLED_COUNT=3 ...), may be NULL */
        char *const *pass_env;    /* names of the daemon's variables to pass besides the default ones
                                   * (the configuration's pass_env), may be NULL */
        const void *stdin_data;   /* NULL: stdin is /dev/null; else these bytes (copied) go to a pipe, then EOF */
        size_t stdin_len;
        uint64_t timeout_usec;    /* then SIGTERM to the group; 0: HOOK_TIMEOUT_DEFAULT_USEC; USEC_INFINITY: none */
        uint64_t kill_grace_usec; /* SIGKILL this long after SIGTERM; 0: HOOK_KILL_GRACE_DEFAULT_USEC */
        const char *log_name;     /* e.g. "work/INBOX on_new": prefixes every log line about this run */
} HookSpec;

/* Called exactly once per successful hook_run(), from the event loop (never from hook_run() itself),
 * after the child is reaped AND its stdout/stderr reached EOF (or were abandoned after SIGKILL).
 * status: the wait status (WIFEXITED()...) of the child, or -errno if it could not be started
 * (-ENOENT, -EACCES, -E2BIG ...; already logged).  timed_out: the timeout fired and the group was
 * signalled; status then says how the child ended.  The callback may call hook_free(h). */
typedef void (*HookDoneFn)(Hook *h, int status, bool timed_out, void *userdata);

/* Start a hook.  Never blocks.  On success returns 0 and the callback will run exactly once; if
 * ret is NULL the hook is floating and frees itself after the callback, otherwise *ret is owned by
 * the caller, who must hook_free() it (possibly from the callback).  A hook holds a reference on e
 * until it is freed; a floating hook is freed only by its own completion, so the loop must keep
 * running until its callback has run.  Returns < 0 and calls nothing
 * on bad arguments (-EINVAL: no argv[0] and no shell, a bad %-sequence, a bad extra_env entry, a
 * pass_env name that env_name_check() refuses),
 * -EBUSY (SIGCHLD not blocked), -EINVAL (stdin_data with SIGPIPE neither ignored nor blocked),
 * -ENOMEM, or a failure to create pipes or event sources. */
int hook_run(sd_event *e, const HookSpec *spec, HookDoneFn done, void *userdata, Hook **ret);

/* The hot path's measurement (docs/SCALING.md): the caller says when the bytes it is handling
 * were read (CLOCK_MONOTONIC µs, as clock_gettime() gives it), 0 when it is done with them; a
 * hook started meanwhile logs at debug level how long after that it was exec'd
 * ("exec'd N us after its input was read"; bench/hotpath.sh collects them). */
void hook_note_input(uint64_t read_at);

/* If the child is still running: SIGKILL to its process group and reap it (blocking only for the
 * moment the kernel needs to kill it; never leaves a zombie).  Never calls the callback.  Erases a
 * captured secret.  Accepts NULL, returns NULL. */
Hook *hook_free(Hook *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Hook *, hook_free);

/* The child's pid (also its process group), 0 if it never started. */
pid_t hook_pid(const Hook *h);

/* Substitute %a (account), %m (mailbox) and %% inside each argument; an argument always stays
 * one argument, whatever the values contain (M01, M09).  Returns -EINVAL on any other
 * %-sequence, a trailing '%', or %a/%m when that value is NULL.  *ret is a new NULL-terminated
 * vector (free with hook_strv_free()). */
int hook_expand_argv(char *const *argv, const char *account, const char *mailbox, char ***ret);

/* The environment a hook gets: the entries of environ_in whose name env_name_passed_by_default()
 * allows or spec->pass_env lists (an allowlist: nothing else, no IMAPIDLED_*, no entry without
 * '='), then IMAPIDLED_ACCOUNT, IMAPIDLED_MAILBOX and IMAPIDLED_EVENT for those of
 * spec->account/mailbox/event that are set, then spec->extra_env.  A later entry replaces an
 * earlier one of the same name.  Returns -EINVAL on an extra_env entry without "NAME=" and on a
 * pass_env name that env_name_check() refuses.  *ret is a new NULL-terminated vector (free with
 * hook_strv_free()). */
int hook_build_env(char *const *environ_in, const HookSpec *spec, char ***ret);

/* Free a NULL-terminated string vector and its strings; accepts NULL, returns NULL. */
char **hook_strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, hook_strv_free);

/* Secret commands: run argv (no expansion, no shell, stdin /dev/null, the environment of
 * hook_build_env() with pass_env, which may be NULL, and without any IMAPIDLED_* variable),
 * capture stdout up to max_bytes (0:
 * HOOK_SECRET_MAX_DEFAULT).  stderr is logged like a hook's; stdout is NEVER logged.  The
 * callback gets, after the child is reaped:
 *   0 and the secret with one trailing "\n" stripped (valid only during the callback, erased
 *     right after it returns),
 *   -EMSGSIZE: more than max_bytes (the group is killed at once),
 *   -ETIMEDOUT: timeout_usec passed (0: HOOK_TIMEOUT_DEFAULT_USEC; SIGTERM, then SIGKILL),
 *   -EIO: the command exited non-zero or died of a signal (the status is logged),
 *   -ENODATA: empty output,  -EBADMSG: a NUL byte in the output,
 *   -errno: it could not be started (-ENOENT ...).
 * Ownership of *ret and the callback rules are those of hook_run(); the HookDoneFn rules apply. */
typedef void (*SecretDoneFn)(int r, const char *secret, size_t len, void *userdata);
int secret_command_run(sd_event *e, char *const *argv, char *const *pass_env, uint64_t timeout_usec,
                       size_t max_bytes, const char *log_name, SecretDoneFn done, void *userdata, Hook **ret);

/* Read a password file (password_file): the first 4 KiB, trailing CR/LF
 * stripped.  Read on every connect, so a rotated file is picked up.
 * Returns 0 and a malloc'ed string (erase and free it), -ENODATA when empty,
 * or -errno. */
int secret_file_read(const char *path, char **ret);

/* SPDX-License-Identifier: MIT */
/*
 * th-daemon.h: run the imapidled binary in a Check test: a scratch directory for its
 * config, log and state, the daemon spawned with -v and NOTIFY_SOCKET pointing at a socket
 * the test reads (as systemd would), and waiting on its log and notifications instead of
 * sleeping.  The program that links th-daemon.c defines DAEMON_PATH.
 *
 *   Daemon d;
 *   daemon_init(&d);
 *   write_config(&d, "accounts = ( ... );\n");
 *   daemon_start(&d);
 *   ck_assert_msg(wait_log(&d, "-> idling", 1, 10000), "log:\n%s", tail_of(d.log));
 *   daemon_stop(&d);           (SIGTERM: exit 0 within 5 s)
 *   daemon_done(&d);           (kills a daemon still running, removes the directory)
 *
 * Hooks in the tests' configs write their environment to a temporary name in d->dir and
 * rename(2) it to "<prefix>-<pid>" (daemon_hook_cmd()); rename is atomic, so a file that is
 * there is complete, and the daemon_*hook* helpers count and read those files.
 *
 * Every wait here polls for a positive condition (a log line, a notification, a file, the
 * daemon's exit) with a short interval and gives up after its timeout: none sleeps and hopes.
 * A test that asserts that something did NOT happen first waits for a marker that proves the
 * daemon got past the point where it would have happened (a later event's hook, the next
 * IDLE), then counts.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "macro.h"

typedef struct Daemon {
        char dir[64];           /* scratch: config, log, hook output, notify socket */
        char conf[96], log[96], notify[96];
        pid_t pid;
        int notify_fd;
        Buf notes;              /* every notification so far: drained on every wait, as systemd would */
} Daemon;

uint64_t mono_ms(void);
void sleep_ms(unsigned ms);

/* A scratch directory /tmp/imapidled-td-XXXXXX and the notify socket in it. */
void daemon_init(Daemon *d);
_printf_(2, 3) void write_config(Daemon *d, const char *fmt, ...);
/* imapidled -v -c <conf>, stderr appended to d->log, STATE_DIRECTORY=<dir>/state. */
void daemon_start(Daemon *d);
/* The same with more arguments after those (NULL-terminated, at most 11; NULL: none). */
void daemon_start_args(Daemon *d, const char *const *args);
/* SIGTERM: the daemon must exit 0 within 5 s. */
void daemon_stop(Daemon *d);
void daemon_done(Daemon *d);

/* A whole file, NUL-terminated ("" if it cannot be opened); the caller frees it. */
char *read_file(const char *path);
/* The end of a file, short enough for a Check message (static storage). */
const char *tail_of(const char *path);
/* Occurrences of needle in the daemon's log. */
unsigned log_count(Daemon *d, const char *needle);
/* Until needle occurs count times in the log; false after timeout_ms. */
bool wait_log(Daemon *d, const char *needle, unsigned count, unsigned timeout_ms);
/* Every notification received so far, appended to out, one per line. */
void read_notify(Daemon *d, Buf *out);
bool wait_notify(Daemon *d, Buf *all, const char *needle, unsigned timeout_ms);
/* Until needle occurs count times in all notifications so far (d->notes): STATUS= is sent
 * only when it changed, so the n-th time it says the same is a new state. */
bool daemon_wait_notify_count(Daemon *d, const char *needle, unsigned count, unsigned timeout_ms);
/* Occurrences of needle in hay (NULL: 0). */
unsigned th_count_of(const char *hay, const char *needle);
/* The sum of the numbers right after each occurrence of needle in hay, e.g. of
 * "IMAPIDLED_COUNT=" over daemon_hook_outputs(). */
uint64_t th_sum_of(const char *hay, const char *needle);
/* Lines of the log that contain a and, after it on the same line, b: e.g. the runs of one
 * hook the daemon started, a = "acc/INBOX on_new[", b = "]: started" (hook.c logs every start
 * with -v, in the loop turn that spawns it, so the log is the complete record of the runs
 * started up to any later line). */
unsigned daemon_log_lines(Daemon *d, const char *a, const char *b);
/* Until the log holds the n-th occurrence of 'first' and, after it, an occurrence of 'then':
 * "the next 'then' after that 'first'" (e.g. the next "-> idling" after a liveness probe);
 * false after timeout_ms. */
bool daemon_wait_log_after(Daemon *d, const char *first, unsigned n, const char *then, unsigned timeout_ms);
/* The sum of the numbers right after each occurrence of needle in the log, e.g. the messages
 * of the event lines "acc/INBOX: new, " (watch.c logs "<watch>: new, <n> messages"). */
uint64_t daemon_log_sum(Daemon *d, const char *needle);
/* Until daemon_log_sum(d, needle) >= sum; false after timeout_ms. */
bool daemon_wait_log_sum(Daemon *d, const char *needle, uint64_t sum, unsigned timeout_ms);

/* The argv of a hook (libconfig list) that writes its environment to "<dir>/<prefix>-<pid>"
 * through a temporary name: '["/bin/sh", "-c", "..."]', in static storage (one call's result
 * per format argument: copy it or pass it to write_config() at once). */
const char *daemon_hook_cmd(Daemon *d, const char *prefix);
/* Hook output files named prefix* in d->dir; *ret_first (if not NULL) gets the content of one
 * of them (the caller frees it; untouched when there is none). */
unsigned daemon_hook_files(Daemon *d, const char *prefix, char **ret_first);
/* Until count files named prefix* exist; false after timeout_ms. */
bool daemon_wait_hook(Daemon *d, const char *prefix, unsigned count, unsigned timeout_ms, char **ret_first);
/* Every hook output file named prefix*, concatenated (order unspecified), each followed by
 * "\x1e\n"; *ret_n (if not NULL) gets their number.  The caller frees the result. */
char *daemon_hook_outputs(Daemon *d, const char *prefix, unsigned *ret_n);
/* Until the IMAPIDLED_COUNT= of the hook output files named prefix* add up to at least sum;
 * *ret_n (if not NULL) gets the number of files then.  False after timeout_ms. */
bool daemon_wait_hook_sum(Daemon *d, const char *prefix, uint64_t sum, unsigned timeout_ms, unsigned *ret_n);
/* Remove the hook output files named prefix* (a test's next phase counts afresh). */
void daemon_hook_clear(Daemon *d, const char *prefix);
/* The value of NAME= in an env(1) dump, or "" (static storage, overwritten by the next call). */
const char *th_env_value(const char *env, const char *name);

/* A state file for account 'name' in <dir>/state (created), as a previous run would have left
 * it (docs/STATE.md). */
void daemon_write_state(Daemon *d, const char *name, const char *content);
/* The path of account 'name''s state file, in static storage. */
const char *daemon_state_path(Daemon *d, const char *name);

/* Run imapidled -c <conf> with 'args' (NULL-terminated, e.g. "--list-mailboxes", "acc") to
 * its end: stdout to out_path (truncated), stderr appended to d->log.  Returns its wait
 * status. */
int daemon_run_tool(Daemon *d, const char *const *args, const char *out_path);

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
 * These are the helpers of tests/test-daemon.c without its Dovecot: that file keeps its own
 * copies for now (it was being edited when these were taken out); it can include this
 * header instead and drop them.
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

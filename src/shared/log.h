/* SPDX-License-Identifier: MIT */
/*
 * log.h: the daemon's logging: one line per message to stderr, with the
 * sd-daemon priority prefix ("<3>") that journald turns into a priority
 * (sd-daemon(3)).  Prefixes are written when stderr goes to the journal or is
 * not a terminal; on a terminal the line is plain.
 *
 * Only src/daemon logs (architecture.md B4): the engine and the transport
 * return errors and reasons, the daemon decides and logs once.  Nothing
 * logged may contain a secret; server text goes through log_escape().
 */
#pragma once

#include <stddef.h>
#include <syslog.h>

#include "macro.h"

/* LOG_ERR .. LOG_DEBUG (syslog.h). Messages above the level are dropped. */
void log_set_max_level(int level);
int log_get_max_level(void);
/* Parse "err", "warning", "notice", "info", "debug" or a number 0-7. */
int log_level_from_string(const char *s);
/* Force prefixes on (1), off (0), or decide from the environment (-1). */
void log_set_prefix(int on);

_printf_(2, 3) void log_full(int level, const char *fmt, ...);
/* Logs with %m meaning strerror(-error) and returns error (negative), for
 * "return log_error_errno(r, ...)". */
_printf_(3, 4) int log_full_errno(int level, int error, const char *fmt, ...);

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

/* Copy untrusted text (server responses, hook output) for a log line:
 * printable ASCII and valid UTF-8 stay, control bytes become \xHH, at most
 * size-1 bytes (cut at a character boundary), always NUL-terminated
 * (security.md INV-11). Returns buf. */
char *log_escape(const char *s, size_t len, char *buf, size_t size);

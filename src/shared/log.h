/* SPDX-License-Identifier: MIT */
/*
 * log.h: the daemon's logging: one line per message to stderr, with the
 * sd-daemon priority prefix ("<3>") that journald turns into a priority
 * (sd-daemon(3)).  Prefixes are written when stderr goes to the journal or is
 * not a terminal; on a terminal the line is plain.
 *
 * Only src/daemon logs (docs/HACKING.md): the engine and the transport
 * return errors and reasons, the daemon decides and logs once.  Nothing
 * logged may contain a secret; server text goes through log_escape().
 */
#pragma once

#include <stdbool.h>
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

/* Copy untrusted text (server responses, hook output) for a log line: printable
 * ASCII and printable characters in well-formed UTF-8 (RFC 3629 §4) stay as they
 * are; everything else becomes \xHH, one escape per byte: ASCII controls, the
 * backslash, C1 controls (U+0085 NEL, U+009B CSI), U+2028/U+2029, bidi controls
 * (U+061C, U+200E/F, U+202A..E, U+2066..9) and the other invisible format
 * characters (log.c lists them), noncharacters, and every byte that is not part
 * of a well-formed sequence (overlong forms, surrogates, above U+10FFFF, F5..FF,
 * truncated sequences).  At most size-1 bytes are written, cut at a character
 * or escape boundary, always NUL-terminated; the output is at most 4 bytes per
 * input byte (catalogue case G13).  Returns buf. */
char *log_escape(const char *s, size_t len, char *buf, size_t size);

/* Whether log_escape() would keep every character of s as it is, backslashes aside: well-formed
 * UTF-8 of printable characters only (no control, line separator, bidi or other format
 * character).  Such text can go into a log line, an environment value or a status line and
 * still read as one line, in order. */
bool log_text_printable(const char *s, size_t len);

/* SPDX-License-Identifier: MIT */
/* log.c: stderr logging with sd-daemon prefixes; see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_INFO;
static int prefix = -1;

void log_set_max_level(int level) {
        max_level = level < LOG_EMERG ? LOG_EMERG : level > LOG_DEBUG ? LOG_DEBUG : level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_prefix(int on) {
        prefix = on;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
                [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };

        if (!s)
                return -EINVAL;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0)
                        return (int) i;
        if (strcmp(s, "error") == 0)
                return LOG_ERR;
        if (strcmp(s, "warn") == 0)
                return LOG_WARNING;
        return -EINVAL;
}

static bool want_prefix(void) {
        if (prefix >= 0)
                return prefix;
        /* journald's stdout/stderr stream (systemd.exec(5) JOURNAL_STREAM), or
         * any non-terminal: a reader that understands "<N>" is likely. */
        return getenv("JOURNAL_STREAM") || !isatty(STDERR_FILENO);
}

_printf_(3, 0) static void log_va(int level, int error, const char *fmt, va_list ap) {
        char msg[8192];
        int saved = errno;

        if (level > max_level)
                return;
        /* %m in our messages means the error passed in, not errno. */
        errno = error < 0 ? -error : error;
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        if (want_prefix())
                (void) fprintf(stderr, "<%d>%s\n", level, msg);
        else
                (void) fprintf(stderr, "%s\n", msg);
        errno = saved;
}

void log_full(int level, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_va(level, errno, fmt, ap);
        va_end(ap);
}

int log_full_errno(int level, int error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_va(level, error, fmt, ap);
        va_end(ap);
        return error < 0 ? error : -error;
}

char *log_escape(const char *s, size_t len, char *buf, size_t size) {
        size_t j = 0;

        if (size == 0)
                return buf;
        for (size_t i = 0; i < len; ) {
                unsigned char c = (unsigned char) s[i];
                size_t n = 1;

                if (c >= 0x80) {
                        /* Keep a well-formed UTF-8 sequence whole. */
                        n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
                        for (size_t k = 1; n && k < n; k++)
                                if (i + k >= len || ((unsigned char) s[i + k] & 0xc0) != 0x80)
                                        n = 0;
                }
                if (c >= 0x20 && c < 0x7f && c != '\\') {
                        if (j + 2 > size)
                                break;
                        buf[j++] = (char) c;
                } else if (c >= 0x80 && n > 0) {
                        if (j + n + 1 > size)
                                break;
                        memcpy(buf + j, s + i, n);
                        j += n;
                        i += n;
                        continue;
                } else {
                        if (j + 5 > size)
                                break;
                        (void) snprintf(buf + j, 5, "\\x%02x", c);
                        j += 4;
                }
                i++;
        }
        buf[j] = 0;
        return buf;
}

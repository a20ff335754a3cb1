/* SPDX-License-Identifier: MIT */
/* log.c: stderr logging with sd-daemon prefixes; see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
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

/* RFC 3629 §4: the length of the well-formed UTF-8 sequence at s, and its code point, or 0.
 * The grammar's second-byte ranges are what exclude overlong forms (C0, C1, E0 80..9F,
 * F0 80..8F), UTF-16 surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..BF,
 * F5..FF): each of those is no sequence at all, and its bytes get escaped one by one. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *ret) {
        unsigned char c = s[0], lo = 0x80, hi = 0xbf;
        uint32_t cp;
        size_t n;

        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                cp = c & 0x0f;
                if (c == 0xe0)
                        lo = 0xa0;
                else if (c == 0xed)
                        hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                cp = c & 0x07;
                if (c == 0xf0)
                        lo = 0x90;
                else if (c == 0xf4)
                        hi = 0x8f;
        } else
                return 0;
        if (len < n || s[1] < lo || s[1] > hi)
                return 0;
        for (size_t k = 1; k < n; k++) {
                if ((s[k] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[k] & 0x3f);
        }
        *ret = cp;
        return n;
}

/* Code points that are valid but must not reach a log reader's terminal as they are: they
 * move the cursor, break the line, reorder or hide text (Unicode general categories Cc, Zl,
 * Zp and Cf, and noncharacters).  Kept: U+200C/U+200D, the joiners that Persian text and
 * emoji sequences need, and printable text in any script ("é", "日本"). */
static const struct {
        uint32_t lo, hi;
} unprintable[] = {
        { 0x0000, 0x001f },     /* C0 controls */
        { 0x007f, 0x009f },     /* DEL and C1 controls: U+0085 NEL, U+009B CSI */
        { 0x00ad, 0x00ad },     /* soft hyphen */
        { 0x0600, 0x0605 },     /* Arabic prepended marks */
        { 0x061c, 0x061c },     /* ARABIC LETTER MARK, a bidi control */
        { 0x06dd, 0x06dd },
        { 0x070f, 0x070f },
        { 0x0890, 0x0891 },
        { 0x08e2, 0x08e2 },
        { 0x180e, 0x180e },     /* MONGOLIAN VOWEL SEPARATOR */
        { 0x200b, 0x200b },     /* ZERO WIDTH SPACE */
        { 0x200e, 0x200f },     /* LRM, RLM */
        { 0x2028, 0x202e },     /* LINE and PARAGRAPH SEPARATOR; LRE, RLE, PDF, LRO, RLO */
        { 0x2060, 0x206f },     /* WORD JOINER, invisible operators, LRI, RLI, FSI, PDI, deprecated */
        { 0xfdd0, 0xfdef },     /* noncharacters */
        { 0xfeff, 0xfeff },     /* ZERO WIDTH NO-BREAK SPACE (BOM) */
        { 0xfff9, 0xfffb },     /* interlinear annotation */
        { 0x110bd, 0x110bd },
        { 0x110cd, 0x110cd },
        { 0x13430, 0x1343f },
        { 0x1bca0, 0x1bca3 },
        { 0x1d173, 0x1d17a },
        { 0xe0000, 0xe007f },   /* tag characters: invisible text */
};

static bool codepoint_printable(uint32_t cp) {
        /* U+xxFFFE and U+xxFFFF are noncharacters in every plane. */
        if ((cp & 0xfffe) == 0xfffe)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(unprintable); i++)
                if (cp >= unprintable[i].lo && cp <= unprintable[i].hi)
                        return false;
        return true;
}

bool log_text_printable(const char *s, size_t len) {
        const unsigned char *u = (const unsigned char *) s;

        for (size_t i = 0; i < len; ) {
                uint32_t cp = u[i];
                size_t n = 1;

                if (u[i] >= 0x80)
                        n = utf8_decode(u + i, len - i, &cp);
                if (n == 0 || !codepoint_printable(cp))
                        return false;
                i += n;
        }
        return true;
}

char *log_escape(const char *s, size_t len, char *buf, size_t size) {
        const unsigned char *u = (const unsigned char *) s;
        size_t j = 0;

        if (size == 0)
                return buf;
        for (size_t i = 0; i < len; ) {
                uint32_t cp = u[i];
                size_t n = 1;

                if (u[i] >= 0x80)
                        n = utf8_decode(u + i, len - i, &cp);
                if (n > 0 && cp != '\\' && codepoint_printable(cp)) {
                        /* Printable ASCII, or a printable character kept whole. */
                        if (j + n + 1 > size)
                                break;
                        memcpy(buf + j, s + i, n);
                        j += n;
                        i += n;
                        continue;
                }
                /* Not printable: every byte of the character as \xHH (one byte when it is no
                 * well-formed sequence, so the next byte is looked at afresh). */
                n = MAX(n, (size_t) 1);
                if (j + 4 * n + 1 > size)
                        break;
                for (size_t k = 0; k < n; k++, j += 4)
                        (void) snprintf(buf + j, 5, "\\x%02x", u[i + k]);
                i += n;
        }
        buf[j] = 0;
        return buf;
}

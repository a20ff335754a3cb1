/* SPDX-License-Identifier: MIT */
/* imap-util.c: Int2AP, ParseFlags and MapCRLF after imaplib; see imap-util.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-util.h"
#include "macro.h"

size_t imap_int2ap(unsigned num, char *buf, size_t size) {
        char tmp[IMAP_INT2AP_BUFSZ];
        size_t n = 0;

        /* Least significant letter first into tmp, then reversed into buf. */
        for (; num > 0; num >>= 4)
                tmp[n++] = (char) ('A' + (num & 0xf));
        if (size > 0) {
                size_t w = MIN(n, size - 1);

                for (size_t i = 0; i < w; i++)
                        buf[i] = tmp[n - 1 - i];
                buf[w] = 0;
        }
        return n;
}

/* Python's bytes.split() separators. */
static bool is_ascii_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The next white-space separated word in [*p, end), or NULL; advances *p. */
static const char *next_word(const char **p, const char *end, size_t *ret_len) {
        const char *s = *p, *w;

        if (!s)
                return NULL;
        while (s < end && is_ascii_space(*s))
                s++;
        if (s == end)
                return NULL;
        for (w = s; s < end && !is_ascii_space(*s); s++)
                ;
        *p = s;
        *ret_len = (size_t) (s - w);
        return w;
}

int imap_parse_flags(const char *resp, size_t len, char ***ret_flags, size_t *ret_n) {
        static const char key[] = "FLAGS (";
        const size_t klen = sizeof(key) - 1;
        const char *body = NULL, *body_end = NULL, *nl, *p, *w;
        size_t first_line, n = 0, bytes = 0;
        char **flags, *store;

        assert_return(resp || len == 0, -EINVAL);
        assert_return(ret_flags && ret_n, -EINVAL);

        /* '.*FLAGS \(([^)]*)\)' matched at the start: '.' stops at a newline,
         * so 'FLAGS (' lies in the first line; greedy '.*' prefers the last
         * one that still has a ')' after it; '[^)]*' may cross lines. */
        nl = memchr(resp, '\n', len);
        first_line = nl ? (size_t) (nl - resp) : len;
        for (size_t i = first_line >= klen ? first_line - klen + 1 : 0; i-- > 0;) {
                const char *close;

                if (memcmp(resp + i, key, klen) != 0)
                        continue;
                close = memchr(resp + i + klen, ')', len - i - klen);
                if (!close)
                        continue;
                body = resp + i + klen;
                body_end = close;
                break;
        }

        /* Count words and their bytes, then build everything in one block. */
        p = body;
        for (size_t wlen; next_word(&p, body_end, &wlen);) {
                n++;
                bytes += wlen + 1;
        }

        flags = malloc((n + 1) * sizeof(char *) + bytes);
        if (!flags)
                return -ENOMEM;
        store = (char *) (flags + n + 1);
        n = 0;
        p = body;
        for (size_t wlen; (w = next_word(&p, body_end, &wlen));) {
                flags[n++] = store;
                memcpy(store, w, wlen);
                store += wlen;
                *store++ = 0;
        }
        flags[n] = NULL;

        *ret_flags = flags;
        *ret_n = n;
        return 0;
}

int imap_map_crlf(const char *in, size_t len, Buf *out) {
        char *w;
        int r;

        assert_return(in || len == 0, -EINVAL);
        assert_return(out, -EINVAL);

        /* Worst case every byte is a bare line end and doubles. */
        if (len > SIZE_MAX / 2)
                return -EMSGSIZE;
        r = buf_reserve(out, len * 2, 0);
        if (r < 0)
                return r;

        w = out->data + out->len;
        for (size_t i = 0; i < len; i++) {
                if (in[i] == '\r' || in[i] == '\n') {
                        if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
                                i++;
                        *w++ = '\r';
                        *w++ = '\n';
                } else
                        *w++ = in[i];
        }
        out->len = (size_t) (w - out->data);
        out->data[out->len] = 0;
        return 0;
}

bool imap_list_is_pattern(const char *name) {
        return name && strpbrk(name, "*%") != NULL;
}

/* Length of a leading "INBOX" component (in any case), or 0. */
static size_t inbox_prefix(const char *s, char delim) {
        if (strncasecmp(s, "INBOX", 5) != 0 || (s[5] != 0 && (delim == 0 || s[5] != delim)))
                return 0;
        return 5;
}

bool imap_list_match(const char *pattern, const char *name, char delim) {
        size_t m, ip, in;
        bool *cur, *next, ok;

        if (!pattern || !name)
                return false;
        /* RFC 3501 §5.1: INBOX is case-insensitive; the rest is compared as is. */
        ip = inbox_prefix(pattern, delim);
        in = inbox_prefix(name, delim);
        if (ip > 0 && in > 0) {
                pattern += ip;
                name += in;
        }
        /* A set of positions in the pattern (an NFA run): O(len(pattern) * len(name)),
         * no backtracking a hostile name could make exponential. */
        m = strlen(pattern);
        cur = calloc(2 * (m + 1), sizeof(bool));
        if (!cur)
                return false;
        next = cur + m + 1;
        cur[0] = true;
        for (const char *n = name;; n++) {
                /* Wildcards match the empty string: close over them. */
                for (size_t i = 0; i < m; i++)
                        if (cur[i] && (pattern[i] == '*' || pattern[i] == '%'))
                                cur[i + 1] = true;
                if (!*n)
                        break;
                memset(next, 0, (m + 1) * sizeof(bool));
                for (size_t i = 0; i < m; i++) {
                        if (!cur[i])
                                continue;
                        if (pattern[i] == '*' || (pattern[i] == '%' && (delim == 0 || *n != delim)))
                                next[i] = true;
                        else if (pattern[i] == *n)
                                next[i + 1] = true;
                }
                memcpy(cur, next, (m + 1) * sizeof(bool));
        }
        ok = cur[m];
        free(cur);
        return ok;
}

/* SPDX-License-Identifier: MIT */
/*
 * fuzz-log-escape.c: libFuzzer target for log_escape() (catalogue case G13), the one door
 * server text and hook output pass on their way to a log line.
 *
 * The first input byte picks the output buffer: 0 for one that always fits (4 bytes per
 * input byte, and the NUL), else that many bytes; the rest is the text.  Checked, with a
 * decoder of its own rather than log.c's:
 *   - the output is NUL-terminated within the buffer, has no byte below 0x20 and no 0x7f;
 *   - what is not an escape is well-formed UTF-8 (RFC 3629 §4) without the code points a
 *     log line must not carry: C1 controls, U+2028/U+2029, bidi controls;
 *   - reading the escapes back gives the input: all of it when the buffer fits, else a
 *     prefix of it (the output is cut between characters, never inside one or an escape).
 * Any failure aborts.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"

/* RFC 3629 §4, written out: the length of the sequence at s and its code point, or 0. */
static size_t ref_decode(const unsigned char *s, size_t n, uint32_t *cp) {
        static const struct {
                unsigned char lo, hi, lo2, hi2;
                size_t len;
        } g[] = {
                { 0xc2, 0xdf, 0x80, 0xbf, 2 }, { 0xe0, 0xe0, 0xa0, 0xbf, 3 }, { 0xe1, 0xec, 0x80, 0xbf, 3 },
                { 0xed, 0xed, 0x80, 0x9f, 3 }, { 0xee, 0xef, 0x80, 0xbf, 3 }, { 0xf0, 0xf0, 0x90, 0xbf, 4 },
                { 0xf1, 0xf3, 0x80, 0xbf, 4 }, { 0xf4, 0xf4, 0x80, 0x8f, 4 },
        };

        for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
                if (s[0] < g[i].lo || s[0] > g[i].hi)
                        continue;
                if (n < g[i].len || s[1] < g[i].lo2 || s[1] > g[i].hi2)
                        return 0;
                *cp = s[0] & (0xff >> (g[i].len + 1));
                for (size_t k = 1; k < g[i].len; k++) {
                        if ((s[k] & 0xc0) != 0x80)
                                return 0;
                        *cp = *cp << 6 | (s[k] & 0x3f);
                }
                return g[i].len;
        }
        return 0;
}

static bool forbidden(uint32_t cp) {
        return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
               (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

static int hex(unsigned char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const unsigned char *in = data + 1;
        size_t n, cap, len, j = 0;
        unsigned char *out, *back;

        if (size < 1)
                return 0;
        n = size - 1;
        cap = data[0] == 0 ? 4 * n + 1 : data[0];
        out = malloc(cap);
        back = malloc(n + 1);
        if (!out || !back)
                abort();
        memset(out, 0xaa, cap);
        if (log_escape((const char *) in, n, (char *) out, cap) != (char *) out)
                abort();
        len = strnlen((const char *) out, cap);
        if (len >= cap)
                abort();
        for (size_t i = 0; i < len; ) {
                uint32_t cp;
                size_t k;

                if (out[i] < 0x20 || out[i] == 0x7f)
                        abort();
                if (out[i] == '\\') {
                        int a = i + 3 < len && out[i + 1] == 'x' ? hex(out[i + 2]) : -1;
                        int b = a >= 0 ? hex(out[i + 3]) : -1;

                        if (b < 0)
                                abort();
                        back[j++] = (unsigned char) (a << 4 | b);
                        i += 4;
                        continue;
                }
                if (out[i] < 0x80) {
                        back[j++] = out[i++];
                        continue;
                }
                k = ref_decode(out + i, len - i, &cp);
                if (k == 0 || forbidden(cp))
                        abort();
                memcpy(back + j, out + i, k);
                j += k;
                i += k;
        }
        if (j > n || memcmp(back, in, j) != 0)
                abort();
        if (data[0] == 0 && j != n)
                abort();
        free(out);
        free(back);
        return 0;
}

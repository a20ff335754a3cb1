/* SPDX-License-Identifier: MIT */
/* imap-utf7.c: modified UTF-7 mailbox names (RFC 3501 §5.1.3); see imap-utf7.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "imap-utf7.h"
#include "macro.h"

/* RFC 3501 §5.1.3: RFC 2045 base64 with "," in place of "/". */
static const char b64_alphabet[64] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == ',')
                return 63;
        return -EINVAL;
}

static bool is_printable_ascii(uint32_t c) {
        return c >= 0x20 && c <= 0x7e;
}

/* Read one code point of strict UTF-8 (RFC 3629 §4) at *pos: no overlong
 * forms, no surrogates, nothing above U+10FFFF, no truncated sequence. */
static int utf8_next(const uint8_t *s, size_t len, size_t *pos, uint32_t *ret) {
        /* Per lead byte: sequence length and the smallest code point it may encode. */
        static const struct {
                uint8_t lo, hi;
                unsigned n;
                uint32_t min;
        } leads[] = {
                { 0x00, 0x7f, 1, 0x0 },
                { 0xc2, 0xdf, 2, 0x80 },
                { 0xe0, 0xef, 3, 0x800 },
                { 0xf0, 0xf4, 4, 0x10000 },
        };
        uint8_t b = s[*pos];
        uint32_t cp;
        unsigned n = 0;

        for (size_t k = 0; k < ELEMENTSOF(leads); k++)
                if (b >= leads[k].lo && b <= leads[k].hi) {
                        n = leads[k].n;
                        break;
                }
        if (n == 0 || len - *pos < n)
                return -EINVAL;

        cp = n == 1 ? b : (uint32_t) (b & (0x7f >> n));
        for (unsigned k = 1; k < n; k++) {
                uint8_t c = s[*pos + k];

                if ((c & 0xc0) != 0x80)
                        return -EINVAL;
                cp = (cp << 6) | (c & 0x3f);
        }
        for (size_t k = 0; k < ELEMENTSOF(leads); k++)
                if (leads[k].n == n && cp < leads[k].min)
                        return -EINVAL; /* overlong */
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return -EINVAL;

        *pos += n;
        *ret = cp;
        return 0;
}

static int utf8_put(Buf *out, uint32_t cp) {
        uint8_t b[4];
        size_t n;

        if (cp < 0x80) {
                b[0] = (uint8_t) cp;
                n = 1;
        } else if (cp < 0x800) {
                b[0] = (uint8_t) (0xc0 | (cp >> 6));
                b[1] = (uint8_t) (0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                b[0] = (uint8_t) (0xe0 | (cp >> 12));
                b[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
                b[2] = (uint8_t) (0x80 | (cp & 0x3f));
                n = 3;
        } else {
                b[0] = (uint8_t) (0xf0 | (cp >> 18));
                b[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3f));
                b[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
                b[3] = (uint8_t) (0x80 | (cp & 0x3f));
                n = 4;
        }
        return buf_append(out, b, n, 0);
}

/* Hand the buffer's content over as a C string ("" when nothing was stored). */
static int buf_to_string(Buf *b, char **ret) {
        char *s = b->data ? b->data : strdup("");

        if (!s)
                return -ENOMEM;
        *b = BUF_INIT;
        *ret = s;
        return 0;
}

/* The base64 bit accumulator of one encoded run. */
typedef struct B64Acc {
        uint32_t bits;
        unsigned n;
} B64Acc;

static int b64_push_unit(Buf *out, B64Acc *acc, uint16_t unit) {
        acc->bits = (acc->bits << 16) | unit;
        acc->n += 16;
        while (acc->n >= 6) {
                int r = buf_append(out, &b64_alphabet[(acc->bits >> (acc->n - 6)) & 0x3f], 1, 0);
                if (r < 0)
                        return r;
                acc->n -= 6;
        }
        acc->bits &= (UINT32_C(1) << acc->n) - 1;
        return 0;
}

/* Close a run: the last partial character is padded with zero bits. */
static int b64_end_run(Buf *out, B64Acc *acc) {
        int r;

        if (acc->n > 0) {
                r = buf_append(out, &b64_alphabet[(acc->bits << (6 - acc->n)) & 0x3f], 1, 0);
                if (r < 0)
                        return r;
        }
        *acc = (B64Acc) {};
        return buf_append(out, "-", 1, 0);
}

int imap_utf7_encode(const char *utf8, size_t len, char **ret) {
        _cleanup_(buf_done) Buf out = BUF_INIT;
        const uint8_t *s = (const uint8_t *) utf8;
        B64Acc acc = {};
        bool in_run = false;
        size_t pos = 0;
        int r;

        assert_return(utf8 || len == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        while (pos < len) {
                uint32_t cp;

                r = utf8_next(s, len, &pos, &cp);
                if (r < 0)
                        return r;
                if (cp == 0)
                        return -EINVAL;

                if (is_printable_ascii(cp)) {
                        char c = (char) cp;

                        if (in_run) {
                                r = b64_end_run(&out, &acc);
                                if (r < 0)
                                        return r;
                                in_run = false;
                        }
                        r = buf_append(&out, c == '&' ? "&-" : &c, c == '&' ? 2 : 1, 0);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (!in_run) {
                        r = buf_append(&out, "&", 1, 0);
                        if (r < 0)
                                return r;
                        in_run = true;
                }
                if (cp >= 0x10000) { /* UTF-16 surrogate pair, RFC 2781 §2.1 */
                        cp -= 0x10000;
                        r = b64_push_unit(&out, &acc, (uint16_t) (0xd800 | (cp >> 10)));
                        if (r >= 0)
                                r = b64_push_unit(&out, &acc, (uint16_t) (0xdc00 | (cp & 0x3ff)));
                } else
                        r = b64_push_unit(&out, &acc, (uint16_t) cp);
                if (r < 0)
                        return r;
        }
        if (in_run) {
                r = b64_end_run(&out, &acc);
                if (r < 0)
                        return r;
        }
        return buf_to_string(&out, ret);
}

/* Decode one run, from just after "&" to its "-"; *pos ends after the "-". */
static int decode_run(const char *s, size_t len, size_t *pos, Buf *out) {
        uint32_t bits = 0, high = 0;
        unsigned n = 0;
        size_t i = *pos;
        int r;

        for (;;) {
                int v;

                if (i >= len)
                        return -EINVAL; /* unterminated shift */
                if (s[i] == '-')
                        break;
                v = b64_value(s[i++]);
                if (v < 0)
                        return v;
                bits = (bits << 6) | (uint32_t) v;
                n += 6;
                if (n < 16)
                        continue;

                n -= 16;
                uint32_t unit = (bits >> n) & 0xffff;
                bits &= (UINT32_C(1) << n) - 1;

                if (high != 0) {
                        if (unit < 0xdc00 || unit > 0xdfff)
                                return -EINVAL; /* high surrogate without its low half */
                        r = utf8_put(out, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
                        if (r < 0)
                                return r;
                        high = 0;
                } else if (unit >= 0xd800 && unit <= 0xdbff)
                        high = unit;
                else if (unit >= 0xdc00 && unit <= 0xdfff)
                        return -EINVAL; /* lone low surrogate */
                else if (unit == 0 || is_printable_ascii(unit))
                        return -EINVAL; /* must have been written literally */
                else {
                        r = utf8_put(out, unit);
                        if (r < 0)
                                return r;
                }
        }
        /* The encoder pads the last character with fewer than 6 zero bits; any
         * more bits, or set ones, mean a non-canonical or truncated run. */
        if (high != 0 || n >= 6 || bits != 0)
                return -EINVAL;
        *pos = i + 1;
        return 0;
}

int imap_utf7_decode(const char *mutf7, size_t len, char **ret) {
        _cleanup_(buf_done) Buf out = BUF_INIT;
        bool after_run = false;
        size_t i = 0;
        int r;

        assert_return(mutf7 || len == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        while (i < len) {
                char c = mutf7[i];

                if (!is_printable_ascii((uint8_t) c))
                        return -EINVAL;
                if (c != '&') {
                        r = buf_append(&out, &c, 1, 0);
                        if (r < 0)
                                return r;
                        i++;
                        after_run = false;
                        continue;
                }
                i++;
                if (i < len && mutf7[i] == '-') {
                        r = buf_append(&out, "&", 1, 0);
                        if (r < 0)
                                return r;
                        i++;
                        after_run = false;
                        continue;
                }
                /* Two runs in a row must have been written as one. */
                if (after_run)
                        return -EINVAL;
                r = decode_run(mutf7, len, &i, &out);
                if (r < 0)
                        return r;
                after_run = true;
        }
        return buf_to_string(&out, ret);
}

/* SPDX-License-Identifier: MIT */
/* buf.c: growable byte buffer; see buf.h for the contract. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "macro.h"

/* Smallest allocation: most IMAP lines are well under this. */
#define BUF_MIN_ALLOC 64

int buf_reserve(Buf *b, size_t extra, size_t max) {
        size_t need, ncap;
        char *n;

        if (max == 0)
                max = SIZE_MAX - 1;
        if (extra > max || b->len > max - extra)
                return -EMSGSIZE;
        need = b->len + extra + 1; /* + spare NUL byte */
        if (need <= b->cap)
                return 0;

        ncap = b->cap < BUF_MIN_ALLOC ? BUF_MIN_ALLOC : b->cap;
        while (ncap < need) {
                if (ncap > SIZE_MAX / 2) {
                        ncap = need;
                        break;
                }
                ncap *= 2;
        }
        /* Never allocate more than the cap allows; growth stays bounded by what
         * was actually asked for plus the doubling slack, itself capped. */
        if (ncap > max + 1)
                ncap = need > max + 1 ? need : max + 1;

        n = realloc(b->data, ncap);
        if (!n)
                return -ENOMEM;
        b->data = n;
        b->cap = ncap;
        return 0;
}

int buf_append(Buf *b, const void *p, size_t n, size_t max) {
        int r;

        if (n == 0)
                return 0;
        r = buf_reserve(b, n, max);
        if (r < 0)
                return r;
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
}

void buf_shrink(Buf *b, size_t keep) {
        b->len = 0;
        if (b->cap > keep)
                buf_done(b);
}

void buf_done(Buf *b) {
        free(b->data);
        *b = BUF_INIT;
}

void buf_done_secure(Buf *b) {
        explicit_bzero_safe(b->data, b->cap);
        buf_done(b);
}

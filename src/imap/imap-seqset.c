/* SPDX-License-Identifier: MIT */
/* imap-seqset.c: sequence-set / uid-set syntax and iteration; see imap-seqset.h. */
#include <errno.h>

#include "imap-arg.h"
#include "imap-seqset.h"

/* Parse one seq-number at *p: nz-number or "*" (when allowed). */
static int seq_number(const char **p, const char *end, bool allow_star, uint32_t *ret) {
        const char *s = *p;
        int r;

        if (s < end && *s == '*') {
                if (!allow_star)
                        return -EBADMSG;
                *ret = IMAP_SEQ_STAR;
                *p = s + 1;
                return 0;
        }
        while (s < end && *s >= '0' && *s <= '9')
                s++;
        r = imap_parse_nz32(*p, (size_t) (s - *p), ret);
        if (r < 0)
                return -EBADMSG;
        *p = s;
        return 0;
}

static int next_range(const char **p, const char *end, bool allow_star, uint32_t *lo, uint32_t *hi) {
        uint32_t a, b;
        int r;

        r = seq_number(p, end, allow_star, &a);
        if (r < 0)
                return r;
        b = a;
        if (*p < end && **p == ':') {
                (*p)++;
                r = seq_number(p, end, allow_star, &b);
                if (r < 0)
                        return r;
        }
        if (*p < end) {
                if (**p != ',')
                        return -EBADMSG;
                (*p)++;
                if (*p == end) /* trailing comma: mutt CVE-2021-32055 */
                        return -EBADMSG;
        }
        *lo = a < b ? a : b;
        *hi = a < b ? b : a;
        return 0;
}

int imap_seqset_validate(const char *s, size_t len, bool allow_star) {
        const char *p = s, *end = s + len;
        uint32_t lo, hi;
        int n = 0, r;

        if (len == 0)
                return -EBADMSG;
        while (p < end) {
                r = next_range(&p, end, allow_star, &lo, &hi);
                if (r < 0)
                        return r;
                if (n < INT32_MAX)
                        n++;
        }
        return n;
}

int imap_seqset_next(ImapSeqsetIter *it, uint32_t *ret_lo, uint32_t *ret_hi) {
        if (it->p >= it->end)
                return 0;
        if (next_range(&it->p, it->end, true, ret_lo, ret_hi) < 0) {
                it->p = it->end;
                return -EBADMSG;
        }
        return 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * imap-seqset.h: validate and walk RFC 3501 §9 sequence-sets and RFC 4315
 * uid-sets without ever expanding them into arrays (docs/SECURITY.md G08: a set
 * like 1:4294967295 is one range, not four billion numbers).
 *
 *   sequence-set = (seq-number / seq-range) *("," sequence-set)
 *   seq-range    = seq-number ":" seq-number
 *   seq-number   = nz-number / "*"
 *
 * uid-set (APPENDUID, COPYUID, VANISHED) is the same without "*".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_SEQ_STAR UINT32_MAX        /* "*" as reported by the iterator */

/* Check the syntax.  Returns the number of ranges (>= 1), or -EBADMSG: empty,
 * a trailing or doubled comma, 0, a number over 32 bits, a non-digit, or "*"
 * when !allow_star. */
int imap_seqset_validate(const char *s, size_t len, bool allow_star);

typedef struct ImapSeqsetIter {
        const char *p, *end;
} ImapSeqsetIter;

static inline ImapSeqsetIter imap_seqset_iter(const char *s, size_t len) {
        return (ImapSeqsetIter) { s, s + len };
}

/* Next range of a set that passed imap_seqset_validate().  Stores the bounds
 * with lo <= hi (a descending "5:1" is reported as 1..5, RFC 3501 §9 allows
 * either order) and returns 1, or 0 at the end, or -EBADMSG. */
int imap_seqset_next(ImapSeqsetIter *it, uint32_t *ret_lo, uint32_t *ret_hi);

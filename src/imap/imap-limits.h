/* SPDX-License-Identifier: MIT */
/*
 * imap-limits.h: every bound the engine puts on what a server may send.
 *
 * A server controls lengths, counts and depths; each is checked against these
 * limits before anything is allocated for it (docs/SECURITY.md INV-5), so a hostile
 * peer costs at most these many bytes per connection.  The caller may lower or
 * raise any of them; the defaults suit a daemon holding thousands of IDLE
 * connections that fetches headers, not whole messages.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct ImapLimits {
        /* Longest line outside literals, CRLF included.  imaplib's _MAXLINE;
         * 10 000 broke real SEARCH results, Dovecot's command limit is 64 KiB. */
        size_t max_line;
        /* Largest single literal ({n} or ~{n}). */
        uint64_t max_literal;
        /* Largest whole response: every line and literal, CRLFs included. */
        size_t max_response;
        /* Deepest parenthesis nesting (BODYSTRUCTURE needs about 8). */
        unsigned max_depth;
        /* Most parsed values (atoms, strings, literals, NILs, lists) in one
         * response; bounds the argument array independently of byte size. */
        size_t max_args;
} ImapLimits;

#define IMAP_DEFAULT_MAX_LINE     ((size_t) 1000000)
#define IMAP_DEFAULT_MAX_LITERAL  ((uint64_t) 8 * 1024 * 1024)
#define IMAP_DEFAULT_MAX_RESPONSE ((size_t) 16 * 1024 * 1024)
#define IMAP_DEFAULT_MAX_DEPTH    16u
#define IMAP_DEFAULT_MAX_ARGS     ((size_t) 250000)

#define IMAP_LIMITS_DEFAULT                                     \
        ((ImapLimits) {                                         \
                .max_line = IMAP_DEFAULT_MAX_LINE,              \
                .max_literal = IMAP_DEFAULT_MAX_LITERAL,        \
                .max_response = IMAP_DEFAULT_MAX_RESPONSE,      \
                .max_depth = IMAP_DEFAULT_MAX_DEPTH,            \
                .max_args = IMAP_DEFAULT_MAX_ARGS,              \
        })

/* Hard ceilings no caller can exceed: the parser's index types are 32-bit
 * and its nesting stack is allocated up front. */
#define IMAP_LIMIT_MAX_DEPTH 256u
#define IMAP_LIMIT_MAX_ARGS  ((size_t) UINT32_MAX / 2)

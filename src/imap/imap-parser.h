/* SPDX-License-Identifier: MIT */
/*
 * imap-parser.h: incremental, sans-I/O parser of IMAP server responses.
 *
 * Bytes go in, in any chunking; complete responses come out.  The parser
 * never reads a socket, reads no clock and logs nothing: the caller feeds it
 * whatever arrived and asks for the response once one is complete.
 *
 * Grammar: RFC 3501 §7 and §9 (IMAP4rev1), with RFC 9051 (IMAP4rev2), RFC 3516
 * (literal8), RFC 4315 (APPENDUID/COPYUID), RFC 4731 (ESEARCH), RFC 5161
 * (ENABLED), RFC 2342 (NAMESPACE), RFC 2971 (ID) and RFC 7162 (HIGHESTMODSEQ,
 * NOMODSEQ, VANISHED, CLOSED).  Literals are framed only by their byte count,
 * never by scanning for a tag or a parenthesis (docs/SECURITY.md INV-6), and only
 * where a value may stand: a "{5}" inside a quoted string or in response text
 * is text.
 *
 * Policies (docs/PARSER.md explains each):
 *   - Lines end in CRLF; a bare LF or a stray CR is -EBADMSG (imaplib aborts on
 *     an LF-only line too).  NUL is refused everywhere except inside literals,
 *     which are binary and always handled by length.
 *   - Empty lines between responses, and an empty line after a literal inside
 *     an open list (gh-88574), are skipped.
 *   - Runs of spaces between values are tolerated; a value glued to the next
 *     one ("a"b, "a""b") is not.
 *   - Response names and status words are case-insensitive (RFC 3501 §9 note
 *     on case) and reported upper-cased.
 *   - Every number the grammar types is parsed strictly: 32-bit for sequence
 *     numbers, UIDs and counts, 63-bit (RFC 9051 number64) for sizes and
 *     mod-sequences; overflow is -EBADMSG, an oversized literal -EMSGSIZE.
 *   - Response codes with a grammar we use are parsed and typed; a malformed
 *     one is -EBADMSG.  Unknown codes are kept as raw text.  The one imaplib
 *     tolerance kept: a PERMANENTFLAGS code whose flags are not parenthesised
 *     runs to the last ']' on the line (CPython's test_bracket_flags).
 *
 * Limits (imap-limits.h) are checked before memory is reserved for the thing
 * they limit: a declared literal over the cap fails the moment its "{n}" is
 * seen, without waiting for its bytes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap-arg.h"
#include "imap-limits.h"
#include "macro.h"

typedef struct ImapParser ImapParser;

/* A byte string inside a response.  Not NUL-terminated in general. */
typedef struct ImapStr {
        const char *ptr;
        size_t len;
} ImapStr;

typedef enum ImapResponseKind {
        IMAP_RESPONSE_TAGGED,           /* tag SP (OK|NO|BAD) SP resp-text */
        IMAP_RESPONSE_UNTAGGED,         /* "*" SP ... */
        IMAP_RESPONSE_CONTINUATION,     /* "+" [SP text] */
        _IMAP_RESPONSE_KIND_MAX,
} ImapResponseKind;

typedef enum ImapStatus {
        IMAP_STATUS_NONE,               /* a data response or a continuation */
        IMAP_STATUS_OK,
        IMAP_STATUS_NO,
        IMAP_STATUS_BAD,
        IMAP_STATUS_BYE,                /* untagged only */
        IMAP_STATUS_PREAUTH,            /* untagged only (greeting) */
        _IMAP_STATUS_MAX,
} ImapStatus;

typedef enum ImapDataType {
        IMAP_DATA_NONE,                 /* status response or continuation */
        IMAP_DATA_EXISTS,               /* "* n EXISTS" */
        IMAP_DATA_RECENT,
        IMAP_DATA_EXPUNGE,
        IMAP_DATA_FETCH,
        IMAP_DATA_VANISHED,
        IMAP_DATA_STATUS,
        IMAP_DATA_LIST,
        IMAP_DATA_LSUB,
        IMAP_DATA_SEARCH,
        IMAP_DATA_ESEARCH,
        IMAP_DATA_FLAGS,
        IMAP_DATA_CAPABILITY,
        IMAP_DATA_ENABLED,
        IMAP_DATA_NAMESPACE,
        IMAP_DATA_ID,
        IMAP_DATA_OTHER,                /* anything else, as a generic value list */
        _IMAP_DATA_TYPE_MAX,
} ImapDataType;

typedef enum ImapCodeType {
        IMAP_CODE_NONE,                 /* no "[...]" */
        IMAP_CODE_ALERT,
        IMAP_CODE_APPENDUID,
        IMAP_CODE_CAPABILITY,
        IMAP_CODE_CLOSED,
        IMAP_CODE_COPYUID,
        IMAP_CODE_HIGHESTMODSEQ,
        IMAP_CODE_NOMODSEQ,
        IMAP_CODE_PERMANENTFLAGS,
        IMAP_CODE_READ_ONLY,
        IMAP_CODE_READ_WRITE,
        IMAP_CODE_TRYCREATE,
        IMAP_CODE_UIDNEXT,
        IMAP_CODE_UIDVALIDITY,
        IMAP_CODE_UNSEEN,
        IMAP_CODE_OTHER,                /* unknown: name and raw text only */
        _IMAP_CODE_TYPE_MAX,
} ImapCodeType;

/* RFC 3501 §7.2.4 / RFC 9051 §7.5.2 STATUS items we type. */
typedef enum ImapStatusItem {
        IMAP_STATUS_ITEM_MESSAGES,
        IMAP_STATUS_ITEM_RECENT,
        IMAP_STATUS_ITEM_UIDNEXT,
        IMAP_STATUS_ITEM_UIDVALIDITY,
        IMAP_STATUS_ITEM_UNSEEN,
        IMAP_STATUS_ITEM_DELETED,
        IMAP_STATUS_ITEM_SIZE,          /* number64 */
        IMAP_STATUS_ITEM_HIGHESTMODSEQ, /* number64, RFC 7162 */
        _IMAP_STATUS_ITEM_MAX,
} ImapStatusItem;

typedef struct ImapCode {
        ImapCodeType type;
        ImapStr name;                   /* upper-cased, e.g. "UIDNEXT" */
        ImapStr raw;                    /* bytes between the name's SP and ']', may be empty */
        const ImapArg *args;            /* parsed arguments for typed codes, else NULL */
        size_t n_args;                  /* top-level count */
        union {
                uint32_t number;        /* UIDNEXT, UIDVALIDITY, UNSEEN */
                uint64_t modseq;        /* HIGHESTMODSEQ */
                struct {
                        uint32_t uidvalidity;
                        ImapStr uids;   /* uid-set, validated */
                } appenduid;
                struct {
                        uint32_t uidvalidity;
                        ImapStr src, dst; /* uid-sets, validated */
                } copyuid;
                const ImapArg *list;    /* PERMANENTFLAGS: the flag list, when parenthesised */
        };
} ImapCode;

typedef struct ImapResponse {
        ImapResponseKind kind;
        ImapStr tag;                    /* TAGGED only */
        ImapStatus status;              /* status responses */
        ImapDataType data_type;         /* untagged data */
        ImapStr name;                   /* upper-cased: "OK", "EXISTS", "XFOO"; "+" for continuations */
        bool has_number;
        uint32_t number;                /* "* n NAME": the n */

        /* Status responses and continuations: resp-text. */
        ImapCode code;
        ImapStr text;

        /* Data responses: the values after the name, top level. */
        const ImapArg *args;
        size_t n_args;

        /* Only with imap_parser_set_soft_list(): why a LIST or LSUB response that is well
         * framed failed its validation; the response then has IMAP_DATA_OTHER and no typed
         * view.  NULL otherwise.  A static string. */
        const char *invalid;

        /* Typed views of data responses (set for the matching data_type). */
        union {
                struct {                /* STATUS */
                        const ImapArg *mailbox;
                        uint32_t present;       /* bit (1 << ImapStatusItem) */
                        uint64_t value[_IMAP_STATUS_ITEM_MAX];
                } mbstatus;
                struct {                /* LIST, LSUB */
                        const ImapArg *flags;   /* a list */
                        char delimiter;         /* 0 for NIL */
                        const ImapArg *mailbox;
                } list;
                struct {                /* VANISHED */
                        bool earlier;
                        ImapStr uids;
                } vanished;
                struct {                /* ESEARCH (RFC 4731) */
                        ImapStr tag;            /* correlator, empty if none */
                        bool uid;
                        bool has_min, has_max, has_count, has_modseq;
                        uint32_t min, max, count;
                        uint64_t modseq;
                        ImapStr all;            /* sequence-set, empty if none */
                } esearch;
                struct {                /* SEARCH */
                        bool has_modseq;
                        uint64_t modseq;        /* RFC 7162 (MODSEQ n) */
                        size_t n;               /* numbers = the first n args */
                } search;
                const ImapArg *fetch;   /* FETCH: the attribute list */
                const ImapArg *flags;   /* FLAGS: the flag list */
                const ImapArg *namespaces[3]; /* NAMESPACE: personal, other, shared (NIL or list) */
                const ImapArg *id;      /* ID: NIL or a list of name/value pairs */
        };

        /* All bytes of the response as received: lines with their CRLF and
         * literal contents.  For imaplib-style raw views and logging. */
        ImapStr raw;
        size_t n_literals;
        /* Offset in raw of what follows the response name and its space on the
         * first line: "* NAME rest", "* n NAME rest", "tag OK rest" (the code
         * is part of rest), "+ rest".  imaplib's data is rest, prefixed with
         * "n " for numbered responses. */
        size_t data_off;
} ImapResponse;

/* Create a parser.  'limits' may be NULL for IMAP_LIMITS_DEFAULT; zero fields
 * also mean the default.  Returns 0, -EINVAL (limit above its hard ceiling) or
 * -ENOMEM.  Nothing is allocated for input until input arrives. */
int imap_parser_new(const ImapLimits *limits, ImapParser **ret);

/* Free the parser and everything it returned.  NULL is fine; returns NULL. */
ImapParser *imap_parser_free(ImapParser *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImapParser *, imap_parser_free);

/* Feed up to n bytes.  The parser takes bytes until one response is complete
 * or the input runs out, and stores the number taken in *ret_consumed (which
 * may be less than n only when it returns 1).
 * Returns:
 *   1          a response is complete: see imap_parser_response(); feed the
 *              remaining n - *ret_consumed bytes in the next call;
 *   0          (IMAP_PARSE_MORE) all bytes were taken, a response is not complete yet;
 *   -EBADMSG   malformed input (imap_parser_error() says why);
 *   -EMSGSIZE  a limit was hit;
 *   -ENOMEM.
 * Errors are sticky: every later call returns the same error until
 * imap_parser_reset().  The stream cannot be resynchronised after an error;
 * the connection has to go.  Calling with n == 0 is allowed. */
#define IMAP_PARSE_MORE 0
int imap_parser_feed(ImapParser *p, const void *buf, size_t n, size_t *ret_consumed);

/* The response completed by the last feed that returned 1, else NULL.  It,
 * and everything it points to, stays valid until the next feed, reset or free. */
const ImapResponse *imap_parser_response(const ImapParser *p);

/* True while part of a response has been taken but not completed.  At EOF
 * this tells a clean end from a truncated response; at the STARTTLS boundary
 * it must be false. */
bool imap_parser_in_response(const ImapParser *p);

/* Why the last error happened: a static string, or NULL if none. */
const char *imap_parser_error(const ImapParser *p);

/* Memory between responses.  A connection spends most of its life waiting, and the response
 * last returned stays valid while it waits, so what that response does not need is given
 * back and what it needs is kept small.  When a response begins, the buffers of the one
 * before it (the line buffer, the buffer of unescaped strings and names, the value arrays)
 * are kept if they are no larger than IMAP_PARSER_KEEP_BYTES (values: IMAP_PARSER_KEEP_ARGS),
 * and otherwise released if that response fitted in that size, or if they are over 16 KiB
 * (512 values): a run of large responses reuses one buffer, and the small response that ends
 * it (a tagged OK, "+ idling") gives it back.  A response without values releases the value
 * arrays as soon as it is complete; names that are already upper case (as servers send them)
 * are not copied, so the second buffer stays empty, and released, for most responses; and the
 * state of the response being built shares memory with the finished response.  So a parser
 * that has seen two small responses in a row holds itself and one line buffer of at most
 * IMAP_PARSER_KEEP_BYTES, and responses that fit those sizes parse without an allocation. */
#define IMAP_PARSER_KEEP_BYTES 128u
#define IMAP_PARSER_KEEP_ARGS 16u

/* Bytes the parser holds allocated right now (itself, buffers and value arrays; not malloc's
 * own overhead), for per-connection memory accounting. */
size_t imap_parser_allocated(const ImapParser *p);

/* The work the parser has done since imap_parser_new(), in bytes looked at: each byte of
 * input once where the end of its line is searched or a literal is copied, each line's bytes
 * once per pass over that line (three), and one per value of each complete response.  Linear
 * parsing keeps it within a small multiple of the bytes fed, however they are chunked; a
 * parser that rescanned the response so far at each line or literal would make it grow with
 * the square (net-imap CVE-2026-42245).  For tests (docs/SECURITY.md F08): a work bound
 * that timing cannot blur.  Not reset by imap_parser_reset(). */
uint64_t imap_parser_work(const ImapParser *p);

/* Drop any partial response and error; keep the limits.  Every buffer is released. */
void imap_parser_reset(ImapParser *p);

/* A LIST or LSUB response that is complete but does not follow its grammar (RFC 3501 §7.2.2:
 * a flag that is not an atom, a delimiter of two characters) is returned as IMAP_DATA_OTHER
 * with 'invalid' saying why, instead of failing with -EBADMSG.  Such a response was framed
 * like any other, so the stream stays in step; a tool listing mailboxes can skip one bad
 * entry instead of losing the whole listing (docs/SECURITY.md I08).  Off by default: the
 * daemon's lister keeps the strict rule.  Framing errors and limits stay fatal. */
void imap_parser_set_soft_list(ImapParser *p, bool b);

/* A LIST or LSUB response names a mailbox that can be selected: neither
 * \Noselect (RFC 3501 §7.2.2) nor \NonExistent (RFC 5258 §3) among its
 * attributes.  False for any other response. */
bool imap_response_list_selectable(const ImapResponse *r);

const char *imap_response_kind_to_string(ImapResponseKind k) __attribute__((const));
const char *imap_status_to_string(ImapStatus s) __attribute__((const));
const char *imap_data_type_to_string(ImapDataType t) __attribute__((const));
const char *imap_code_type_to_string(ImapCodeType t) __attribute__((const));
const char *imap_status_item_to_string(ImapStatusItem i) __attribute__((const));

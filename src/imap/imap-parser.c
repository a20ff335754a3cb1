/* SPDX-License-Identifier: MIT */
/*
 * imap-parser.c: incremental IMAP response parser; the contract and the
 * policies are in imap-parser.h.
 *
 * How it works.  Bytes are collected line by line into one buffer ('raw') that
 * holds the whole current response.  Only when a line is complete (CRLF seen)
 * is it parsed, so every byte is looked at once or twice, never rescanned (a
 * quadratic rescan per literal was net-imap CVE-2026-42245).  A line that ends
 * in a literal marker "{n}" switches to counting n bytes into the same buffer;
 * after them the next line continues the same value list.  What survives from
 * one line to the next is only the chain of open lists and whether a value
 * has just ended.  While a response is being built, values refer to their
 * bytes by offset, because 'raw' may move when it grows; pointers are filled
 * in once the response is complete, and then the typed views are validated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-parser.h"
#include "imap-seqset.h"
#include "macro.h"

/* What stays allocated between responses (the contract is in imap-parser.h).  A mailbox in
 * IDLE gets a "* OK Still here", a "* n EXISTS" or a FETCH of flags now and then: a line
 * buffer of IMAP_PARSER_KEEP_BYTES and value arrays of IMAP_PARSER_KEEP_ARGS hold any of
 * them, so they parse without a malloc().  Bigger buffers (for a greeting listing
 * capabilities, ENVELOPEs, a message) serve a run of large responses and are released once a
 * small one ends the run, so ten thousand idle connections do not each keep the largest
 * response they ever saw; over PARSER_HUGE_* they are released after any response.
 * docs/PARSER.md has the numbers. */
#define PARSER_HUGE_BYTES 16384u
#define PARSER_HUGE_ARGS 512u

typedef enum Phase {
        PHASE_LINE,             /* collecting a line up to LF */
        PHASE_LITERAL,          /* collecting literal_left more literal bytes */
} Phase;

typedef enum Ctx {
        CTX_START,              /* nothing of the response parsed yet */
        CTX_DATA,               /* inside the values of a data response */
} Ctx;

/* A byte range of the response being built: in 'raw', or in 'strs' (unescaped
 * quoted strings, and names that were not already upper case). */
typedef struct Span {
        size_t off, len;
        bool in_strs;
} Span;

typedef enum CodeArgs {
        CODE_ARGS_RAW,          /* RFC 3501 generic: text up to ']', not parsed */
        CODE_ARGS_VALUES,       /* parsed as values */
} CodeArgs;

/* The response being built.  Needed only until the response is complete, so it shares its
 * memory with the finished ImapResponse (see struct ImapParser). */
typedef struct Build {
        Phase phase;
        Ctx ctx;
        size_t line_start;      /* offset in raw of the current line */
        uint64_t literal_left;
        bool need_sep;          /* a value just ended: only SP, ')' or the end may follow */
        bool after_literal;     /* the current line follows a literal */
        size_t top_count;       /* top-level values of the segment being parsed */
        /* Open lists: the innermost one's index + 1 (0: none).  Each open list keeps its
         * parent's index + 1 in its 'size' field until its ')' sets the real size, so the
         * nesting needs no stack of its own. */
        uint32_t open_list;
        unsigned depth;

        ImapResponseKind kind;
        ImapStatus status;
        ImapDataType data_type;
        ImapCodeType code_type;
        Span tag, name, text, code_name, code_raw;
        bool has_number;
        uint32_t number;
        bool has_code_args;
        size_t code_first, code_count;
        size_t data_first;
        size_t data_off;
        size_t n_literals;
} Build;

struct ImapParser {
        ImapLimits lim;
        int error;
        const char *reason;
        /* imap_parser_work(): where soft_list used to stand, so the parser is no larger. */
        uint64_t work;

        Buf raw;                /* every byte of the current response */
        Buf strs;               /* unescaped strings and upper-cased names */
        ImapArg *args;          /* values, flat (see imap-arg.h) */
        size_t *arg_off;        /* offset of each value's bytes while building */
        size_t n_args, cap_args;

        /* While a response is being built, 'b' describes it; once it is complete,
         * finish_response() reads 'b' one last time and fills in 'resp', which the caller
         * may use until the next feed, and the next feed starts a new 'b'.  The two are
         * never needed at once, so they share memory: a parser in IDLE does not carry both. */
        bool have_resp;
        bool soft_list;         /* imap_parser_set_soft_list() */
        union {
                Build b;
                ImapResponse resp;
        };
};

/* ---- names ----------------------------------------------------------------------------------- */

static const char *const response_kind_table[_IMAP_RESPONSE_KIND_MAX] = {
        [IMAP_RESPONSE_TAGGED] = "tagged",
        [IMAP_RESPONSE_UNTAGGED] = "untagged",
        [IMAP_RESPONSE_CONTINUATION] = "continuation",
};

static const char *const status_table[_IMAP_STATUS_MAX] = {
        [IMAP_STATUS_NONE] = "",
        [IMAP_STATUS_OK] = "OK",
        [IMAP_STATUS_NO] = "NO",
        [IMAP_STATUS_BAD] = "BAD",
        [IMAP_STATUS_BYE] = "BYE",
        [IMAP_STATUS_PREAUTH] = "PREAUTH",
};

static const char *const status_item_table[_IMAP_STATUS_ITEM_MAX] = {
        [IMAP_STATUS_ITEM_MESSAGES] = "MESSAGES",
        [IMAP_STATUS_ITEM_RECENT] = "RECENT",
        [IMAP_STATUS_ITEM_UIDNEXT] = "UIDNEXT",
        [IMAP_STATUS_ITEM_UIDVALIDITY] = "UIDVALIDITY",
        [IMAP_STATUS_ITEM_UNSEEN] = "UNSEEN",
        [IMAP_STATUS_ITEM_DELETED] = "DELETED",
        [IMAP_STATUS_ITEM_SIZE] = "SIZE",
        [IMAP_STATUS_ITEM_HIGHESTMODSEQ] = "HIGHESTMODSEQ",
};

const char *imap_response_kind_to_string(ImapResponseKind k) {
        return (unsigned) k < ELEMENTSOF(response_kind_table) ? response_kind_table[k] : NULL;
}

const char *imap_status_to_string(ImapStatus s) {
        return (unsigned) s < ELEMENTSOF(status_table) ? status_table[s] : NULL;
}

const char *imap_status_item_to_string(ImapStatusItem i) {
        return (unsigned) i < ELEMENTSOF(status_item_table) ? status_item_table[i] : NULL;
}

/* ---- typed responses: the tables that drive validation --------------------------------------- */

typedef int (*DataValidator)(ImapParser *p, ImapResponse *r);
typedef int (*CodeValidator)(ImapParser *p, ImapCode *c);

static int validate_count(ImapParser *p, ImapResponse *r);
static int validate_expunge(ImapParser *p, ImapResponse *r);
static int validate_fetch(ImapParser *p, ImapResponse *r);
static int validate_vanished(ImapParser *p, ImapResponse *r);
static int validate_status(ImapParser *p, ImapResponse *r);
static int validate_list(ImapParser *p, ImapResponse *r);
static int validate_search(ImapParser *p, ImapResponse *r);
static int validate_esearch(ImapParser *p, ImapResponse *r);
static int validate_flags(ImapParser *p, ImapResponse *r);
static int validate_atoms(ImapParser *p, ImapResponse *r);
static int validate_namespace(ImapParser *p, ImapResponse *r);
static int validate_id(ImapParser *p, ImapResponse *r);

typedef struct DataEntry {
        const char *name;
        ImapDataType type;
        bool numbered;          /* "* n NAME" (RFC 3501 message-data) */
        bool nz;                /* n is an nz-number: no zero, no leading zero */
        DataValidator validate;
} DataEntry;

/* RFC 3501 §9 (and RFC 9051 §9): mailbox-data = ... / number SP "EXISTS" / number SP "RECENT",
 * where number = 1*DIGIT ("* 00 EXISTS" is legal, and means 0); message-data = nz-number SP
 * ("EXPUNGE" / ("FETCH" SP msg-att)), where nz-number = digit-nz *DIGIT ("* 01 EXPUNGE" is not). */
static const DataEntry data_table[] = {
        { "EXISTS",     IMAP_DATA_EXISTS,     true,  false, validate_count },     /* RFC 3501 §7.3.1 */
        { "RECENT",     IMAP_DATA_RECENT,     true,  false, validate_count },     /* §7.3.2 */
        { "EXPUNGE",    IMAP_DATA_EXPUNGE,    true,  true,  validate_expunge },   /* §7.4.1 */
        { "FETCH",      IMAP_DATA_FETCH,      true,  true,  validate_fetch },     /* §7.4.2 */
        { "VANISHED",   IMAP_DATA_VANISHED,   false, false, validate_vanished },  /* RFC 7162 §3.2.10 */
        { "STATUS",     IMAP_DATA_STATUS,     false, false, validate_status },    /* §7.2.4 */
        { "LIST",       IMAP_DATA_LIST,       false, false, validate_list },      /* §7.2.2 */
        { "LSUB",       IMAP_DATA_LSUB,       false, false, validate_list },      /* §7.2.3 */
        { "SEARCH",     IMAP_DATA_SEARCH,     false, false, validate_search },    /* §7.2.5 */
        { "ESEARCH",    IMAP_DATA_ESEARCH,    false, false, validate_esearch },   /* RFC 4731 §3.1 */
        { "FLAGS",      IMAP_DATA_FLAGS,      false, false, validate_flags },     /* §7.2.6 */
        { "CAPABILITY", IMAP_DATA_CAPABILITY, false, false, validate_atoms },     /* §7.2.1 */
        { "ENABLED",    IMAP_DATA_ENABLED,    false, false, validate_atoms },     /* RFC 5161 §3.2 */
        { "NAMESPACE",  IMAP_DATA_NAMESPACE,  false, false, validate_namespace }, /* RFC 2342 §5 */
        { "ID",         IMAP_DATA_ID,         false, false, validate_id },        /* RFC 2971 §3.2 */
};

static const char *const status_names[] = {
        [IMAP_STATUS_OK] = "OK",
        [IMAP_STATUS_NO] = "NO",
        [IMAP_STATUS_BAD] = "BAD",
        [IMAP_STATUS_BYE] = "BYE",
        [IMAP_STATUS_PREAUTH] = "PREAUTH",
};

static int code_number(ImapParser *p, ImapCode *c);
static int code_modseq(ImapParser *p, ImapCode *c);
static int code_capability(ImapParser *p, ImapCode *c);
static int code_permanentflags(ImapParser *p, ImapCode *c);
static int code_appenduid(ImapParser *p, ImapCode *c);
static int code_copyuid(ImapParser *p, ImapCode *c);

typedef struct CodeEntry {
        const char *name;
        ImapCodeType type;
        CodeArgs args;
        CodeValidator validate; /* NULL: anything (or nothing) goes */
} CodeEntry;

static const CodeEntry code_table[] = {
        { "ALERT",          IMAP_CODE_ALERT,          CODE_ARGS_RAW,    NULL },                /* RFC 3501 §7.1 */
        { "APPENDUID",      IMAP_CODE_APPENDUID,      CODE_ARGS_VALUES, code_appenduid },      /* RFC 4315 §3 */
        { "CAPABILITY",     IMAP_CODE_CAPABILITY,     CODE_ARGS_VALUES, code_capability },
        { "CLOSED",         IMAP_CODE_CLOSED,         CODE_ARGS_RAW,    NULL },                /* RFC 7162 §3.2.11 */
        { "COPYUID",        IMAP_CODE_COPYUID,        CODE_ARGS_VALUES, code_copyuid },        /* RFC 4315 §3 */
        { "HIGHESTMODSEQ",  IMAP_CODE_HIGHESTMODSEQ,  CODE_ARGS_VALUES, code_modseq },         /* RFC 7162 §3.1.2.1 */
        { "NOMODSEQ",       IMAP_CODE_NOMODSEQ,       CODE_ARGS_RAW,    NULL },
        { "PERMANENTFLAGS", IMAP_CODE_PERMANENTFLAGS, CODE_ARGS_VALUES, code_permanentflags },
        { "READ-ONLY",      IMAP_CODE_READ_ONLY,      CODE_ARGS_RAW,    NULL },
        { "READ-WRITE",     IMAP_CODE_READ_WRITE,     CODE_ARGS_RAW,    NULL },
        { "TRYCREATE",      IMAP_CODE_TRYCREATE,      CODE_ARGS_RAW,    NULL },
        { "UIDNEXT",        IMAP_CODE_UIDNEXT,        CODE_ARGS_VALUES, code_number },
        { "UIDVALIDITY",    IMAP_CODE_UIDVALIDITY,    CODE_ARGS_VALUES, code_number },
        { "UNSEEN",         IMAP_CODE_UNSEEN,         CODE_ARGS_VALUES, code_number },
};

const char *imap_data_type_to_string(ImapDataType t) {
        if (t == IMAP_DATA_NONE)
                return "";
        if (t == IMAP_DATA_OTHER)
                return "OTHER";
        for (size_t i = 0; i < ELEMENTSOF(data_table); i++)
                if (data_table[i].type == t)
                        return data_table[i].name;
        return NULL;
}

const char *imap_code_type_to_string(ImapCodeType t) {
        if (t == IMAP_CODE_NONE)
                return "";
        if (t == IMAP_CODE_OTHER)
                return "OTHER";
        for (size_t i = 0; i < ELEMENTSOF(code_table); i++)
                if (code_table[i].type == t)
                        return code_table[i].name;
        return NULL;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static int fail(ImapParser *p, int r, const char *reason) {
        p->error = r;
        p->reason = reason;
        return r;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* RFC 3501 §9 ATOM-CHAR, widened the way real servers need: '\' (flags),
 * '%' and '*' (\*, wildcards in names), 8-bit bytes (UTF-8 names).  Refused:
 * SP, CTL, DEL, '(' ')' '{' '"'.  ']' is decided by the caller (it ends a
 * response code). */
static bool is_atom_char(char c) {
        unsigned char u = (unsigned char) c;

        if (u <= 0x20 || u == 0x7f)
                return false;
        return c != '(' && c != ')' && c != '{' && c != '"';
}

/* Response names, status words and code names: letters, digits, '-', '.', '_'. */
static bool is_name_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
               c == '-' || c == '.' || c == '_';
}

/* RFC 3501 §9 tag: 1*<any ASTRING-CHAR except "+">. */
static bool is_tag_char(char c) {
        return is_atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\';
}

static bool span_equal_word(const ImapParser *p, Span s, const char *word) {
        const char *d = s.in_strs ? p->strs.data : p->raw.data;

        return strlen(word) == s.len && memcmp(d + s.off, word, s.len) == 0;
}

/* The upper-cased name at raw[off, off+len): the bytes themselves when they are upper case
 * already, as servers nearly always send them, else an upper-cased copy in strs. */
static int store_upper(ImapParser *p, size_t off, size_t len, Span *ret) {
        size_t at = p->strs.len, k;
        int r;

        for (k = 0; k < len; k++)
                if (p->raw.data[off + k] >= 'a' && p->raw.data[off + k] <= 'z')
                        break;
        if (k == len) {
                *ret = (Span) { off, len, false };
                return 0;
        }
        r = buf_reserve(&p->strs, len, p->lim.max_response);
        if (r < 0)
                return fail(p, r, r == -EMSGSIZE ? "response too large" : "out of memory");
        for (size_t i = 0; i < len; i++) {
                char c = p->raw.data[off + i];
                p->strs.data[at + i] = c >= 'a' && c <= 'z' ? (char) (c - 'a' + 'A') : c;
        }
        p->strs.len += len;
        p->strs.data[p->strs.len] = 0;
        *ret = (Span) { at, len, true };
        return 0;
}

static ImapStr span_str(const ImapParser *p, Span s) {
        const char *d = s.in_strs ? p->strs.data : p->raw.data;

        if (s.len == 0)
                return (ImapStr) { "", 0 };
        return (ImapStr) { d + s.off, s.len };
}

/* ---- values ---------------------------------------------------------------------------------- */

static int add_arg(ImapParser *p, ImapArgType type, size_t off, size_t len, size_t *ret_index) {
        size_t i;

        if (p->n_args >= p->lim.max_args)
                return fail(p, -EMSGSIZE, "too many values in one response");
        if (p->n_args == p->cap_args) {
                size_t ncap = p->cap_args ? p->cap_args * 2 : IMAP_PARSER_KEEP_ARGS;
                ImapArg *a;
                size_t *o;

                if (ncap > p->lim.max_args)
                        ncap = p->lim.max_args;
                a = reallocarray(p->args, ncap, sizeof(ImapArg));
                if (!a)
                        return fail(p, -ENOMEM, "out of memory");
                p->args = a;
                o = reallocarray(p->arg_off, ncap, sizeof(size_t));
                if (!o)
                        return fail(p, -ENOMEM, "out of memory");
                p->arg_off = o;
                p->cap_args = ncap;
        }
        i = p->n_args++;
        p->args[i] = (ImapArg) { .type = type, .len = len };
        p->arg_off[i] = off;
        if (p->b.open_list > 0)
                p->args[p->b.open_list - 1].n++;
        else
                p->b.top_count++;
        if (ret_index)
                *ret_index = i;
        return 0;
}

typedef enum TokResult {
        TOK_EOL,                /* the line is used up */
        TOK_LITERAL,            /* the line ended in a literal marker */
        TOK_CODE_END,           /* ']' closed the response code */
} TokResult;

/* Quoted string at raw[pos] == '"'; RFC 3501 §9 quoted = DQUOTE *QUOTED-CHAR DQUOTE,
 * with only \" and \\ as escapes.  CR, LF and NUL never reach here (the line
 * was checked).  8-bit bytes are accepted (UTF8=ACCEPT, and servers that send
 * UTF-8 regardless). */
static int parse_quoted(ImapParser *p, size_t pos, size_t end, size_t *ret_pos) {
        const char *b = p->raw.data;
        size_t i, n = 0, at;
        int r;

        /* First pass: find the end and the unescaped length. */
        for (i = pos + 1; i < end && b[i] != '"'; i++, n++)
                if (b[i] == '\\') {
                        if (i + 1 >= end || (b[i + 1] != '\\' && b[i + 1] != '"'))
                                return fail(p, -EBADMSG, "bad escape in quoted string");
                        i++;
                }
        if (i >= end)
                return fail(p, -EBADMSG, "unterminated quoted string");

        r = buf_reserve(&p->strs, n, p->lim.max_response);
        if (r < 0)
                return fail(p, r, r == -EMSGSIZE ? "response too large" : "out of memory");
        at = p->strs.len;
        for (size_t j = pos + 1; j < i; j++) {
                if (b[j] == '\\')
                        j++;
                p->strs.data[p->strs.len++] = b[j];
        }
        p->strs.data[p->strs.len] = 0;

        r = add_arg(p, IMAP_ARG_STRING, at, n, NULL);
        if (r < 0)
                return r;
        *ret_pos = i + 1;
        return 0;
}

/* Literal marker at raw[pos] ('{' or '~'), which must end the line. */
static int parse_literal_marker(ImapParser *p, size_t pos, size_t end) {
        const char *b = p->raw.data;
        bool is8 = b[pos] == '~';
        size_t d0, d1;
        uint64_t n;
        int r;

        if (is8) {
                if (pos + 1 >= end || b[pos + 1] != '{')
                        return fail(p, -EBADMSG, "bad literal8 marker");
                pos++;
        }
        d0 = d1 = pos + 1;
        while (d1 < end && is_digit(b[d1]))
                d1++;
        if (d1 >= end || b[d1] != '}')
                return fail(p, -EBADMSG, "malformed literal count");
        if (d1 + 1 != end)
                return fail(p, -EBADMSG, "literal marker not at end of line");
        if (d1 == d0)
                return fail(p, -EBADMSG, "empty literal count");
        /* Leading zeros are legal in RFC 3501 numbers, but no server pads a
         * count, and "{000...0005}" is a classic length-confusion probe (F03). */
        if (d1 - d0 > 1 && b[d0] == '0')
                return fail(p, -EBADMSG, "literal count with leading zero");
        r = imap_parse_u63(b + d0, d1 - d0, &n);
        if (r == -ERANGE || (r >= 0 && n > p->lim.max_literal))
                return fail(p, -EMSGSIZE, "literal larger than the limit");
        if (r < 0)
                return fail(p, -EBADMSG, "malformed literal count");
        /* The literal, and at least a CRLF after it, must fit the response cap. */
        if (n + 2 > p->lim.max_response - p->raw.len)
                return fail(p, -EMSGSIZE, "response too large");

        /* The bytes will start right after this line's CRLF, which is already
         * in raw. */
        r = add_arg(p, is8 ? IMAP_ARG_LITERAL8 : IMAP_ARG_LITERAL, p->raw.len, (size_t) n, NULL);
        if (r < 0)
                return r;
        p->b.literal_left = n;
        p->b.n_literals++;
        return 0;
}

/* Parse values in raw[pos, end).  In a response code ('code'), a ']' at depth
 * 0 ends the code and literals are refused (RFC 3501 resp-text-code is TEXT-CHAR
 * only).  Returns a TokResult (with *ret_pos after the ']' for TOK_CODE_END) or
 * a negative errno. */
static int tokenize(ImapParser *p, size_t pos, size_t end, bool code, size_t *ret_pos) {
        const char *b = p->raw.data;
        int r;

        while (pos < end) {
                char c = b[pos];

                if (c == ' ') {
                        p->b.need_sep = false;
                        pos++;
                        continue;
                }
                if (c == ')') {
                        uint32_t l;

                        if (p->b.depth == 0)
                                return fail(p, -EBADMSG, "unbalanced ')'");
                        p->b.depth--;
                        l = p->b.open_list - 1;
                        p->b.open_list = p->args[l].size; /* the parent, see Build */
                        p->args[l].size = (uint32_t) (p->n_args - l - 1);
                        p->b.need_sep = true;
                        pos++;
                        continue;
                }
                if (code && c == ']' && p->b.depth == 0) {
                        *ret_pos = pos + 1;
                        return TOK_CODE_END;
                }
                /* Lists may follow each other without a space: RFC 3501
                 * body-type-mpart is "1*body SP media-subtype". */
                if (p->b.need_sep && !(c == '(' && pos > 0 && b[pos - 1] == ')'))
                        return fail(p, -EBADMSG, "values not separated by a space");

                if (c == '(') {
                        size_t i;

                        if (p->b.depth >= p->lim.max_depth)
                                return fail(p, -EMSGSIZE, "lists nested too deeply");
                        r = add_arg(p, IMAP_ARG_LIST, 0, 0, &i);
                        if (r < 0)
                                return r;
                        /* i < max_args <= IMAP_LIMIT_MAX_ARGS, so i + 1 fits. */
                        p->args[i].size = p->b.open_list;
                        p->b.open_list = (uint32_t) i + 1;
                        p->b.depth++;
                        p->b.need_sep = false;
                        pos++;
                        continue;
                }
                if (c == '"') {
                        r = parse_quoted(p, pos, end, &pos);
                        if (r < 0)
                                return r;
                        p->b.need_sep = true;
                        continue;
                }
                if (c == '{' || (c == '~' && pos + 1 < end && b[pos + 1] == '{')) {
                        if (code)
                                return fail(p, -EBADMSG, "literal inside a response code");
                        r = parse_literal_marker(p, pos, end);
                        if (r < 0)
                                return r;
                        p->b.need_sep = true;
                        return TOK_LITERAL;
                }

                /* An atom.  A '[' opens a section that runs to the next ']' and
                 * may hold spaces and parentheses: BODY[HEADER.FIELDS (FROM)]<0>
                 * (RFC 3501 §7.4.2), also flags like [test] that imaplib's tests
                 * use.  Not at the top of a response code, where ']' ends the code. */
                {
                        size_t start = pos;
                        bool section_ok = !(code && p->b.depth == 0);

                        while (pos < end) {
                                c = b[pos];
                                if (c == '[' && section_ok) {
                                        const char *close = memchr(b + pos, ']', end - pos);
                                        if (!close)
                                                return fail(p, -EBADMSG, "unterminated '[' in atom");
                                        pos = (size_t) (close - b) + 1;
                                        continue;
                                }
                                if (c == ']' && code && p->b.depth == 0)
                                        break;
                                if (!is_atom_char(c))
                                        break;
                                pos++;
                        }
                        if (pos == start)
                                return fail(p, -EBADMSG, "unexpected character");
                        if (pos - start == 3 && strncasecmp(b + start, "NIL", 3) == 0)
                                r = add_arg(p, IMAP_ARG_NIL, 0, 0, NULL);
                        else
                                r = add_arg(p, IMAP_ARG_ATOM, start, pos - start, NULL);
                        if (r < 0)
                                return r;
                        p->b.need_sep = true;
                }
        }
        return TOK_EOL;
}

/* ---- response text and codes ---------------------------------------------------------------- */

static const CodeEntry *code_lookup(const ImapParser *p, Span name) {
        for (size_t i = 0; i < ELEMENTSOF(code_table); i++)
                if (span_equal_word(p, name, code_table[i].name))
                        return &code_table[i];
        return NULL;
}

/* resp-text = ["[" resp-text-code "]" SP] text, from raw[pos, end). */
static int parse_resp_text(ImapParser *p, size_t pos, size_t end) {
        const char *b = p->raw.data;
        int r;

        if (pos < end && b[pos] == '[') {
                const CodeEntry *ce;
                size_t n0 = ++pos, args_at;

                while (pos < end && is_name_char(b[pos]))
                        pos++;
                if (pos == n0)
                        return fail(p, -EBADMSG, "empty response code");
                r = store_upper(p, n0, pos - n0, &p->b.code_name);
                if (r < 0)
                        return r;
                ce = code_lookup(p, p->b.code_name);
                p->b.code_type = ce ? ce->type : IMAP_CODE_OTHER;

                if (pos >= end)
                        return fail(p, -EBADMSG, "unterminated response code");
                if (b[pos] == ']') {
                        p->b.code_raw = (Span) { pos, 0, false };
                        pos++;
                } else if (b[pos] == ' ') {
                        args_at = ++pos;
                        if (ce && ce->args == CODE_ARGS_VALUES &&
                            !(ce->type == IMAP_CODE_PERMANENTFLAGS && (pos >= end || b[pos] != '('))) {
                                p->b.code_first = p->n_args;
                                p->b.top_count = 0;
                                p->b.need_sep = false;
                                r = tokenize(p, pos, end, /* code= */ true, &pos);
                                if (r < 0)
                                        return r;
                                if (r != TOK_CODE_END)
                                        return fail(p, -EBADMSG, "unterminated response code");
                                if (p->b.depth > 0)
                                        return fail(p, -EBADMSG, "unbalanced '(' in response code");
                                p->b.has_code_args = true;
                                p->b.code_count = p->b.top_count;
                                p->b.code_raw = (Span) { args_at, pos - 1 - args_at, false };
                        } else {
                                const char *close;

                                if (ce && ce->type == IMAP_CODE_PERMANENTFLAGS)
                                        /* imaplib's rule: data up to the last ']' on the line. */
                                        close = memrchr(b + pos, ']', end - pos);
                                else
                                        close = memchr(b + pos, ']', end - pos);
                                if (!close)
                                        return fail(p, -EBADMSG, "unterminated response code");
                                p->b.code_raw = (Span) { args_at, (size_t) (close - b) - args_at, false };
                                pos = (size_t) (close - b) + 1;
                        }
                } else
                        return fail(p, -EBADMSG, "bad character in response code name");

                /* RFC 3501 wants SP before the text; "[ALERT]" alone at the end
                 * of a line is common (G09), and harmless. */
                if (pos < end && b[pos] == ' ')
                        pos++;
        }
        p->b.text = (Span) { pos, end - pos, false };
        return 0;
}

/* ---- the first line -------------------------------------------------------------------------- */

static ImapStatus status_lookup(const ImapParser *p, Span name) {
        for (size_t i = 1; i < ELEMENTSOF(status_names); i++)
                if (span_equal_word(p, name, status_names[i]))
                        return (ImapStatus) i;
        return IMAP_STATUS_NONE;
}

static const DataEntry *data_lookup(const ImapParser *p, Span name) {
        for (size_t i = 0; i < ELEMENTSOF(data_table); i++)
                if (span_equal_word(p, name, data_table[i].name))
                        return &data_table[i];
        return NULL;
}

/* Read a name at raw[*pos] that must be followed by SP or the end of the line. */
static int parse_name(ImapParser *p, size_t *pos, size_t end, Span *ret) {
        const char *b = p->raw.data;
        size_t s = *pos, i = s;

        if (i < end && !((b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= 'a' && b[i] <= 'z')))
                return fail(p, -EBADMSG, "response name does not start with a letter");
        while (i < end && is_name_char(b[i]))
                i++;
        if (i == s || (i < end && b[i] != ' '))
                return fail(p, -EBADMSG, "malformed response name");
        *pos = i;
        return store_upper(p, s, i - s, ret);
}

/* Parse the start of a response in raw[*pos, end).  Returns 1 when the
 * response is complete after this line, 0 when values follow from *pos. */
static int parse_first_line(ImapParser *p, size_t *ppos, size_t end) {
        const char *b = p->raw.data;
        size_t pos = *ppos;
        int r;

        if (b[pos] == '+') {
                /* RFC 3501 §7.5: continue-req = "+" SP (resp-text / base64).  A
                 * bare "+" is accepted too (imaplib does). */
                p->b.kind = IMAP_RESPONSE_CONTINUATION;
                r = store_upper(p, pos, 1, &p->b.name);
                if (r < 0)
                        return r;
                pos++;
                if (pos < end && b[pos] != ' ')
                        return fail(p, -EBADMSG, "malformed continuation");
                if (pos < end)
                        pos++;
                p->b.data_off = pos;
                p->b.text = (Span) { pos, end - pos, false };
                return 1;
        }

        if (b[pos] == '*') {
                const DataEntry *de;
                bool leading_zero = false;

                p->b.kind = IMAP_RESPONSE_UNTAGGED;
                if (pos + 1 >= end || b[pos + 1] != ' ')
                        return fail(p, -EBADMSG, "'*' not followed by a space");
                pos += 2;
                if (pos < end && is_digit(b[pos])) {
                        size_t s = pos;

                        while (pos < end && is_digit(b[pos]))
                                pos++;
                        if (pos >= end || b[pos] != ' ')
                                return fail(p, -EBADMSG, "malformed message number");
                        if (imap_parse_u32(b + s, pos - s, &p->b.number) < 0)
                                return fail(p, -EBADMSG, "message number out of range");
                        p->b.has_number = true;
                        leading_zero = pos - s > 1 && b[s] == '0';
                        pos++;
                }
                r = parse_name(p, &pos, end, &p->b.name);
                if (r < 0)
                        return r;
                p->b.data_off = pos < end ? pos + 1 : pos;

                p->b.status = status_lookup(p, p->b.name);
                if (p->b.status != IMAP_STATUS_NONE) {
                        if (p->b.has_number)
                                return fail(p, -EBADMSG, "numbered status response");
                        if (pos < end)
                                pos++; /* the SP */
                        r = parse_resp_text(p, pos, end);
                        return r < 0 ? r : 1;
                }

                de = data_lookup(p, p->b.name);
                p->b.data_type = de ? de->type : IMAP_DATA_OTHER;
                if (de && de->numbered != p->b.has_number)
                        return fail(p, -EBADMSG, de->numbered ? "message number missing" :
                                                                "unexpected message number");
                /* Like the literal count "{007}": a padded number is refused where the
                 * grammar has no room for one (data_table). */
                if (de && de->nz && leading_zero)
                        return fail(p, -EBADMSG, "message number with leading zero");
                p->b.ctx = CTX_DATA;
                p->b.data_first = p->n_args;
                p->b.top_count = 0;
                p->b.need_sep = false;
                *ppos = pos;
                return 0; /* values follow from pos; the caller tokenizes */
        }

        /* Tagged: tag SP ("OK" / "NO" / "BAD") SP resp-text. */
        {
                size_t s = pos;

                p->b.kind = IMAP_RESPONSE_TAGGED;
                while (pos < end && is_tag_char(b[pos]))
                        pos++;
                if (pos == s || pos >= end || b[pos] != ' ')
                        return fail(p, -EBADMSG, "malformed tag");
                p->b.tag = (Span) { s, pos - s, false };
                pos++;
                r = parse_name(p, &pos, end, &p->b.name);
                if (r < 0)
                        return r;
                p->b.status = status_lookup(p, p->b.name);
                if (!IN_SET(p->b.status, IMAP_STATUS_OK, IMAP_STATUS_NO, IMAP_STATUS_BAD))
                        return fail(p, -EBADMSG, "tagged response without OK, NO or BAD");
                if (pos < end)
                        pos++;
                p->b.data_off = pos;
                r = parse_resp_text(p, pos, end);
                return r < 0 ? r : 1;
        }
}

/* ---- typed validation, run on the finished response ------------------------------------------ */

static int bad(ImapParser *p, const char *reason) {
        return fail(p, -EBADMSG, reason);
}

static bool list_of_atoms(const ImapArg *l) {
        const ImapArg *a = imap_arg_list_first(l);

        if (l->type != IMAP_ARG_LIST)
                return false;
        for (uint32_t i = 0; i < l->n; i++, a = imap_arg_next(a))
                if (a->type != IMAP_ARG_ATOM)
                        return false;
        return true;
}

static bool is_nstring(const ImapArg *a) {
        return a->type == IMAP_ARG_NIL || imap_arg_is_string(a);
}

static int validate_count(ImapParser *p, ImapResponse *r) {
        /* RFC 3501 §7.3.1: "* 0 EXISTS" is legal for an empty mailbox. */
        return r->n_args == 0 ? 0 : bad(p, "unexpected values after EXISTS/RECENT");
}

static int validate_expunge(ImapParser *p, ImapResponse *r) {
        if (r->number == 0)
                return bad(p, "EXPUNGE of message 0");
        return r->n_args == 0 ? 0 : bad(p, "unexpected values after EXPUNGE");
}

static int validate_fetch(ImapParser *p, ImapResponse *r) {
        const ImapArg *a;

        if (r->number == 0)
                return bad(p, "FETCH of message 0");
        if (r->n_args != 1 || r->args[0].type != IMAP_ARG_LIST)
                return bad(p, "FETCH without an attribute list");
        /* msg-att: pairs of an item name and its value. */
        if (r->args[0].n % 2 != 0)
                return bad(p, "FETCH attribute without a value");
        a = imap_arg_list_first(&r->args[0]);
        for (uint32_t i = 0; i < r->args[0].n; i += 2) {
                if (a->type != IMAP_ARG_ATOM)
                        return bad(p, "FETCH attribute name is not an atom");
                a = imap_arg_next(imap_arg_next(a));
        }
        r->fetch = &r->args[0];
        return 0;
}

static int validate_vanished(ImapParser *p, ImapResponse *r) {
        const ImapArg *a = r->args;

        /* RFC 7162 §3.2.10: "VANISHED" [SP "(EARLIER)"] SP known-uids */
        if (r->n_args == 2) {
                if (a->type != IMAP_ARG_LIST || a->n != 1 || !imap_arg_atom_equal(a + 1, "EARLIER"))
                        return bad(p, "malformed VANISHED tag");
                r->vanished.earlier = true;
                a = imap_arg_next(a);
        } else if (r->n_args != 1)
                return bad(p, "malformed VANISHED");
        if (a->type != IMAP_ARG_ATOM || imap_seqset_validate(a->str, a->len, false) < 0)
                return bad(p, "malformed VANISHED uid set");
        r->vanished.uids = (ImapStr) { a->str, a->len };
        return 0;
}

static int status_item_lookup(const ImapArg *a) {
        for (size_t i = 0; i < ELEMENTSOF(status_item_table); i++)
                if (imap_arg_atom_equal(a, status_item_table[i]))
                        return (int) i;
        return -1;
}

static int validate_status(ImapParser *p, ImapResponse *r) {
        const ImapArg *l, *a;

        /* RFC 3501 §7.2.4: "STATUS" SP mailbox SP "(" [status-att-list] ")" */
        if (r->n_args != 2 || !imap_arg_is_string(&r->args[0]))
                return bad(p, "malformed STATUS");
        l = imap_arg_next(&r->args[0]);
        if (l->type != IMAP_ARG_LIST || l->n % 2 != 0)
                return bad(p, "malformed STATUS item list");
        r->mbstatus.mailbox = &r->args[0];
        a = imap_arg_list_first(l);
        for (uint32_t i = 0; i < l->n; i += 2) {
                const ImapArg *v = imap_arg_next(a);
                int item = status_item_lookup(a);
                uint64_t val;

                if (a->type != IMAP_ARG_ATOM)
                        return bad(p, "STATUS item name is not an atom");
                if (item >= 0) {
                        int k;

                        if (IN_SET(item, IMAP_STATUS_ITEM_SIZE, IMAP_STATUS_ITEM_HIGHESTMODSEQ))
                                k = imap_arg_get_u63(v, &val);
                        else {
                                uint32_t v32;
                                k = imap_arg_get_u32(v, &v32);
                                val = v32;
                        }
                        if (k < 0)
                                return bad(p, "STATUS value is not a number in range");
                        r->mbstatus.present |= 1u << item;
                        r->mbstatus.value[item] = val;
                }
                a = imap_arg_next(v);
        }
        return 0;
}

static int validate_list(ImapParser *p, ImapResponse *r) {
        const ImapArg *d;

        /* RFC 3501 §7.2.2: mailbox-list = "(" [mbx-list-flags] ")" SP
         * (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox [SP mbox-list-extended] */
        if (r->n_args < 3 || r->n_args > 4 || !list_of_atoms(&r->args[0]))
                return bad(p, "malformed LIST");
        d = imap_arg_next(&r->args[0]);
        if (d->type == IMAP_ARG_NIL)
                r->list.delimiter = 0;
        else if (d->type == IMAP_ARG_STRING && d->len == 1 && d->str[0] != 0)
                r->list.delimiter = d->str[0];
        else
                return bad(p, "malformed LIST hierarchy delimiter");
        r->list.mailbox = imap_arg_next(d);
        if (!imap_arg_is_string(r->list.mailbox))
                return bad(p, "malformed LIST mailbox name");
        if (r->n_args == 4 && imap_arg_next(r->list.mailbox)->type != IMAP_ARG_LIST)
                return bad(p, "malformed LIST extended data");
        r->list.flags = &r->args[0];
        return 0;
}

static int validate_search(ImapParser *p, ImapResponse *r) {
        const ImapArg *a = r->args;
        uint32_t v;

        /* RFC 3501 §7.2.5: "SEARCH" *(SP nz-number); RFC 7162 §3.1.5 adds
         * SP "(" "MODSEQ" SP mod-sequence-value ")" at the end. */
        for (size_t i = 0; i < r->n_args; i++, a = imap_arg_next(a)) {
                if (a->type == IMAP_ARG_LIST && i == r->n_args - 1) {
                        if (a->n != 2 || !imap_arg_atom_equal(a + 1, "MODSEQ") ||
                            imap_arg_get_u63(a + 2, &r->search.modseq) < 0)
                                return bad(p, "malformed SEARCH MODSEQ");
                        r->search.has_modseq = true;
                        break;
                }
                if (imap_arg_get_nz32(a, &v) < 0)
                        return bad(p, "SEARCH result is not a message number");
                r->search.n++;
        }
        return 0;
}

static int validate_esearch(ImapParser *p, ImapResponse *r) {
        const ImapArg *a = r->args, *end = r->args;
        size_t i = 0;

        for (size_t k = 0; k < r->n_args; k++)
                end = imap_arg_next(end);

        /* RFC 4731 §3.1: "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data) */
        if (a < end && a->type == IMAP_ARG_LIST) {
                if (a->n != 2 || !imap_arg_atom_equal(a + 1, "TAG") || !imap_arg_is_string(a + 2))
                        return bad(p, "malformed ESEARCH correlator");
                r->esearch.tag = (ImapStr) { a[2].str, a[2].len };
                a = imap_arg_next(a);
                i++;
        }
        if (a < end && imap_arg_atom_equal(a, "UID")) {
                r->esearch.uid = true;
                a++;
                i++;
        }
        if ((r->n_args - i) % 2 != 0)
                return bad(p, "ESEARCH item without a value");
        while (a < end) {
                const ImapArg *v = imap_arg_next(a);
                int k = 0;

                if (a->type != IMAP_ARG_ATOM)
                        return bad(p, "ESEARCH item name is not an atom");
                if (imap_arg_atom_equal(a, "MIN")) {
                        k = imap_arg_get_nz32(v, &r->esearch.min);
                        r->esearch.has_min = true;
                } else if (imap_arg_atom_equal(a, "MAX")) {
                        k = imap_arg_get_nz32(v, &r->esearch.max);
                        r->esearch.has_max = true;
                } else if (imap_arg_atom_equal(a, "COUNT")) {
                        k = imap_arg_get_u32(v, &r->esearch.count);
                        r->esearch.has_count = true;
                } else if (imap_arg_atom_equal(a, "MODSEQ")) {
                        k = imap_arg_get_u63(v, &r->esearch.modseq);
                        r->esearch.has_modseq = true;
                } else if (imap_arg_atom_equal(a, "ALL")) {
                        if (v->type != IMAP_ARG_ATOM || imap_seqset_validate(v->str, v->len, false) < 0)
                                k = -EBADMSG;
                        else
                                r->esearch.all = (ImapStr) { v->str, v->len };
                }
                if (k < 0)
                        return bad(p, "malformed ESEARCH value");
                a = imap_arg_next(v);
        }
        return 0;
}

static int validate_flags(ImapParser *p, ImapResponse *r) {
        if (r->n_args != 1 || !list_of_atoms(&r->args[0]))
                return bad(p, "malformed FLAGS");
        r->flags = &r->args[0];
        return 0;
}

static int validate_atoms(ImapParser *p, ImapResponse *r) {
        const ImapArg *a = r->args;

        for (size_t i = 0; i < r->n_args; i++, a = imap_arg_next(a))
                if (a->type != IMAP_ARG_ATOM)
                        return bad(p, "capability is not an atom");
        return 0;
}

static int validate_namespace(ImapParser *p, ImapResponse *r) {
        const ImapArg *a = r->args;

        /* RFC 2342 §5: Namespace = nil / "(" 1*( "(" string SP (<"> QUOTED_CHAR <"> / nil)
         * *(Namespace_Response_Extension) ")" ) ")", three times. */
        if (r->n_args != 3)
                return bad(p, "NAMESPACE needs three namespace lists");
        for (size_t i = 0; i < 3; i++, a = imap_arg_next(a)) {
                const ImapArg *d;

                r->namespaces[i] = a;
                if (a->type == IMAP_ARG_NIL)
                        continue;
                if (a->type != IMAP_ARG_LIST || a->n == 0)
                        return bad(p, "malformed NAMESPACE");
                for (d = imap_arg_list_first(a); d < imap_arg_next(a); d = imap_arg_next(d))
                        if (d->type != IMAP_ARG_LIST || d->n < 2 || !imap_arg_is_string(d + 1) ||
                            !is_nstring(imap_arg_next(d + 1)))
                                return bad(p, "malformed NAMESPACE description");
        }
        return 0;
}

static int validate_id(ImapParser *p, ImapResponse *r) {
        const ImapArg *a;

        /* RFC 2971 §4: id-params-list = "(" *(string SP nstring) ")" / nil */
        if (r->n_args != 1)
                return bad(p, "malformed ID");
        r->id = &r->args[0];
        if (r->id->type == IMAP_ARG_NIL)
                return 0;
        if (r->id->type != IMAP_ARG_LIST || r->id->n % 2 != 0)
                return bad(p, "malformed ID parameter list");
        a = imap_arg_list_first(r->id);
        for (uint32_t i = 0; i < r->id->n; i += 2) {
                if (!imap_arg_is_string(a) || !is_nstring(a + 1))
                        return bad(p, "ID parameter is not a string pair");
                a = imap_arg_next(imap_arg_next(a));
        }
        return 0;
}

static int code_number(ImapParser *p, ImapCode *c) {
        /* RFC 3501 §7.1: UIDNEXT, UIDVALIDITY and UNSEEN carry an nz-number. */
        if (c->n_args != 1 || imap_arg_get_nz32(&c->args[0], &c->number) < 0)
                return bad(p, "response code needs a message or UID number");
        return 0;
}

static int code_modseq(ImapParser *p, ImapCode *c) {
        if (c->n_args != 1 || imap_arg_get_u63(&c->args[0], &c->modseq) < 0)
                return bad(p, "HIGHESTMODSEQ needs a 63-bit number");
        return 0;
}

static int code_capability(ImapParser *p, ImapCode *c) {
        const ImapArg *a = c->args;

        if (c->n_args == 0)
                return bad(p, "empty CAPABILITY code");
        for (size_t i = 0; i < c->n_args; i++, a = imap_arg_next(a))
                if (a->type != IMAP_ARG_ATOM)
                        return bad(p, "capability is not an atom");
        return 0;
}

static int code_permanentflags(ImapParser *p, ImapCode *c) {
        if (c->n_args != 1 || !list_of_atoms(&c->args[0]))
                return bad(p, "malformed PERMANENTFLAGS");
        c->list = &c->args[0];
        return 0;
}

static bool is_uidset(const ImapArg *a) {
        return a->type == IMAP_ARG_ATOM && imap_seqset_validate(a->str, a->len, false) > 0;
}

static int code_appenduid(ImapParser *p, ImapCode *c) {
        /* RFC 4315 §3: "APPENDUID" SP nz-number SP append-uid (uid-set with MULTIAPPEND) */
        if (c->n_args != 2 || imap_arg_get_nz32(&c->args[0], &c->appenduid.uidvalidity) < 0 ||
            !is_uidset(&c->args[1]))
                return bad(p, "malformed APPENDUID");
        c->appenduid.uids = (ImapStr) { c->args[1].str, c->args[1].len };
        return 0;
}

static int code_copyuid(ImapParser *p, ImapCode *c) {
        /* RFC 4315 §3: "COPYUID" SP nz-number SP uid-set SP uid-set */
        if (c->n_args != 3 || imap_arg_get_nz32(&c->args[0], &c->copyuid.uidvalidity) < 0 ||
            !is_uidset(&c->args[1]) || !is_uidset(&c->args[2]))
                return bad(p, "malformed COPYUID");
        c->copyuid.src = (ImapStr) { c->args[1].str, c->args[1].len };
        c->copyuid.dst = (ImapStr) { c->args[2].str, c->args[2].len };
        return 0;
}

/* ---- completing a response ------------------------------------------------------------------- */

static void release_args(ImapParser *p) {
        p->args = mfree(p->args);
        p->arg_off = mfree(p->arg_off);
        p->cap_args = 0;
}

static int finish_response(ImapParser *p) {
        /* 'b' and 'resp' share memory: read what was built before writing the response. */
        const Build b = p->b;
        ImapResponse *r = &p->resp;
        int k;

        /* What this response does not use is not kept while the caller holds it, which for a
         * mailbox in IDLE is until the server next says something. */
        if (p->n_args == 0 && p->args)
                release_args(p);
        if (p->strs.len == 0 && p->strs.data)
                buf_done(&p->strs);

        /* Offsets become pointers: raw and strs no longer move. */
        p->work += p->n_args;
        for (size_t i = 0; i < p->n_args; i++) {
                ImapArg *a = &p->args[i];

                switch (a->type) {
                case IMAP_ARG_STRING:
                        /* "" stores no byte, and strs may then have been released above. */
                        a->str = a->len > 0 ? p->strs.data + p->arg_off[i] : "";
                        break;
                case IMAP_ARG_ATOM:
                case IMAP_ARG_LITERAL:
                case IMAP_ARG_LITERAL8:
                        a->str = p->raw.data + p->arg_off[i];
                        break;
                case IMAP_ARG_NIL:
                case IMAP_ARG_LIST:
                case _IMAP_ARG_TYPE_MAX:
                        a->str = NULL;
                        break;
                }
        }

        *r = (ImapResponse) {
                .kind = b.kind,
                .tag = span_str(p, b.tag),
                .status = b.status,
                .data_type = b.data_type,
                .name = span_str(p, b.name),
                .has_number = b.has_number,
                .number = b.number,
                .text = span_str(p, b.text),
                .raw = { p->raw.data, p->raw.len },
                .data_off = b.data_off,
                .n_literals = b.n_literals,
        };

        if (b.code_type != IMAP_CODE_NONE) {
                const CodeEntry *ce = code_lookup(p, b.code_name);

                r->code.type = b.code_type;
                r->code.name = span_str(p, b.code_name);
                r->code.raw = span_str(p, b.code_raw);
                if (b.has_code_args) {
                        /* p->args may still be NULL for "[CODE ]" (no values). */
                        r->code.args = p->args ? p->args + b.code_first : NULL;
                        r->code.n_args = b.code_count;
                }
                /* A code that should have parsed values but came in raw form
                 * (PERMANENTFLAGS without parentheses) is left untyped. */
                if (ce && ce->validate && (b.has_code_args || ce->args == CODE_ARGS_RAW)) {
                        k = ce->validate(p, &r->code);
                        if (k < 0)
                                return k;
                } else if (ce && ce->args == CODE_ARGS_VALUES && !b.has_code_args &&
                           ce->type != IMAP_CODE_PERMANENTFLAGS)
                        return bad(p, "response code without its arguments");
        }

        if (b.ctx == CTX_DATA) {
                const DataEntry *de = data_lookup(p, b.name);

                r->args = p->args ? p->args + b.data_first : NULL;
                r->n_args = b.top_count;
                if (de) {
                        k = de->validate(p, r);
                        if (k == -EBADMSG && p->soft_list && IN_SET(de->type, IMAP_DATA_LIST, IMAP_DATA_LSUB)) {
                                /* The response was framed completely, so the stream is still in
                                 * step: hand it on untyped (imap_parser_set_soft_list()). */
                                r->invalid = p->reason;
                                r->data_type = IMAP_DATA_OTHER;
                                r->list = (typeof(r->list)) {};
                                p->error = 0;
                                p->reason = NULL;
                        } else if (k < 0)
                                return k;
                }
        }

        p->have_resp = true;
        return 1;
}

/* A complete line is in raw[line_start, raw.len).  Returns 1 when the
 * response is complete, 0 to go on, or an error. */
static int process_line(ImapParser *p) {
        size_t start = p->b.line_start, end = p->raw.len, pos;
        const char *b = p->raw.data;
        int r;

        /* RFC 3501 §2.2: lines end in CRLF.  A bare LF, a stray CR or a NUL is
         * a framing error (docs/SECURITY.md G03, F11). */
        if (end - start < 2 || b[end - 2] != '\r')
                return fail(p, -EBADMSG, "line not terminated by CRLF");
        end -= 2;
        /* Three passes over the line and nothing before it: the CR and NUL checks, then
         * the parse (docs/SECURITY.md F08; imap_parser_work()). */
        p->work += 3 * (uint64_t) (end - start);
        if (memchr(b + start, '\r', end - start))
                return fail(p, -EBADMSG, "CR inside a line");
        if (memchr(b + start, 0, end - start))
                return fail(p, -EBADMSG, "NUL inside a line");

        pos = start;
        if (p->b.ctx == CTX_START) {
                if (pos == end) {
                        /* Empty line between responses: skip (imaplib G2). */
                        p->raw.len = p->b.line_start;
                        return 0;
                }
                r = parse_first_line(p, &pos, end);
                if (r != 0)
                        return r < 0 ? r : finish_response(p);
        } else if (pos == end && p->b.after_literal && p->b.depth > 0) {
                /* gh-88574: an empty line after a literal inside a list. */
                p->b.line_start = p->raw.len;
                return 0;
        }

        r = tokenize(p, pos, end, /* code= */ false, &pos);
        if (r < 0)
                return r;
        if (r == TOK_LITERAL) {
                p->b.phase = PHASE_LITERAL;
                p->b.line_start = p->raw.len;
                return 0;
        }
        if (p->b.depth > 0)
                return fail(p, -EBADMSG, "unterminated list");
        return finish_response(p);
}

/* Start a new response: the previous one, and 'resp' with it, is no longer the caller's. */
/* Whether a buffer of 'cap' (bytes or values) goes after a response that 'fitted' in 'keep':
 * never when it is no larger than that; always when it is huge; otherwise when the response
 * was small, which is what ends a run of large responses (FETCHes of ENVELOPEs, say) and what
 * comes before a connection goes quiet ("A4 OK Fetch completed", "+ idling").  A run of large
 * responses reuses one buffer instead of growing and freeing one for each. */
static bool release_after(size_t cap, bool fitted, size_t keep, size_t huge) {
        return cap > keep && (cap > huge || fitted);
}

static void begin_response(ImapParser *p) {
        /* A buffer holds len bytes and one spare: len < keep is what fits in keep. */
        if (release_after(p->raw.cap, p->raw.len < IMAP_PARSER_KEEP_BYTES, IMAP_PARSER_KEEP_BYTES,
                          PARSER_HUGE_BYTES))
                buf_done(&p->raw);
        if (release_after(p->strs.cap, p->strs.len < IMAP_PARSER_KEEP_BYTES, IMAP_PARSER_KEEP_BYTES,
                          PARSER_HUGE_BYTES))
                buf_done(&p->strs);
        if (release_after(p->cap_args, p->n_args <= IMAP_PARSER_KEEP_ARGS, IMAP_PARSER_KEEP_ARGS,
                          PARSER_HUGE_ARGS))
                release_args(p);
        p->raw.len = p->strs.len = 0;
        p->n_args = 0;
        p->b = (Build) {
                .phase = PHASE_LINE,
                .ctx = CTX_START,
                .kind = IMAP_RESPONSE_UNTAGGED,
                .status = IMAP_STATUS_NONE,
                .data_type = IMAP_DATA_NONE,
                .code_type = IMAP_CODE_NONE,
        };
        p->have_resp = false;
}

int imap_parser_feed(ImapParser *p, const void *buf, size_t n, size_t *ret_consumed) {
        const char *in = buf;
        size_t used = 0;
        int r;

        assert_return(p, -EINVAL);
        assert_return(buf || n == 0, -EINVAL);
        assert_return(ret_consumed, -EINVAL);

        *ret_consumed = 0;
        if (p->error)
                return p->error;
        if (p->have_resp)
                begin_response(p);

        for (;;) {
                if (p->b.phase == PHASE_LITERAL) {
                        size_t k;

                        if (p->b.literal_left == 0) {
                                /* A "{0}" needs no bytes (curl CVE-2017-1000257:
                                 * never special-case zero). */
                                p->b.phase = PHASE_LINE;
                                p->b.after_literal = true;
                                p->b.line_start = p->raw.len;
                                continue;
                        }
                        if (used == n)
                                break;
                        k = n - used < p->b.literal_left ? n - used : (size_t) p->b.literal_left;
                        /* Grows with the bytes that actually arrived (F07). */
                        r = buf_append(&p->raw, in + used, k, p->lim.max_response);
                        if (r < 0)
                                return fail(p, r, r == -EMSGSIZE ? "response too large" : "out of memory");
                        used += k;
                        p->work += k;
                        p->b.literal_left -= k;
                        continue;
                }

                if (used == n)
                        break;
                {
                        const char *lf = memchr(in + used, '\n', n - used);
                        size_t chunk = lf ? (size_t) (lf - (in + used)) + 1 : n - used;

                        if (chunk > p->lim.max_line - (p->raw.len - p->b.line_start))
                                return fail(p, -EMSGSIZE, "line longer than the limit");
                        r = buf_append(&p->raw, in + used, chunk, p->lim.max_response);
                        if (r < 0)
                                return fail(p, r, r == -EMSGSIZE ? "response too large" : "out of memory");
                        used += chunk;
                        /* memchr() looked at the new bytes only, never at the line's start. */
                        p->work += chunk;
                        if (!lf)
                                break;
                        r = process_line(p);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                *ret_consumed = used;
                                return 1;
                        }
                }
        }

        *ret_consumed = used;
        return IMAP_PARSE_MORE;
}

const ImapResponse *imap_parser_response(const ImapParser *p) {
        return p && p->have_resp ? &p->resp : NULL;
}

bool imap_parser_in_response(const ImapParser *p) {
        return p && !p->have_resp && p->raw.len > 0;
}

const char *imap_parser_error(const ImapParser *p) {
        return p && p->error ? p->reason : NULL;
}

size_t imap_parser_allocated(const ImapParser *p) {
        if (!p)
                return 0;
        return sizeof(*p) + p->raw.cap + p->strs.cap + p->cap_args * (sizeof(ImapArg) + sizeof(size_t));
}

uint64_t imap_parser_work(const ImapParser *p) {
        return p ? p->work : 0;
}

void imap_parser_set_soft_list(ImapParser *p, bool b) {
        if (p)
                p->soft_list = b;
}

void imap_parser_reset(ImapParser *p) {
        if (!p)
                return;
        begin_response(p);
        buf_done(&p->raw);
        buf_done(&p->strs);
        release_args(p);
        p->error = 0;
        p->reason = NULL;
}

int imap_parser_new(const ImapLimits *limits, ImapParser **ret) {
        _cleanup_free_ ImapParser *p = NULL;
        ImapLimits lim = IMAP_LIMITS_DEFAULT;

        assert_return(ret, -EINVAL);

        if (limits) {
                if (limits->max_line)
                        lim.max_line = limits->max_line;
                if (limits->max_literal)
                        lim.max_literal = limits->max_literal;
                if (limits->max_response)
                        lim.max_response = limits->max_response;
                if (limits->max_depth)
                        lim.max_depth = limits->max_depth;
                if (limits->max_args)
                        lim.max_args = limits->max_args;
        }
        if (lim.max_depth > IMAP_LIMIT_MAX_DEPTH || lim.max_args > IMAP_LIMIT_MAX_ARGS ||
            lim.max_line < 3 || lim.max_response >= SIZE_MAX / 2)
                return -EINVAL;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->lim = lim;
        begin_response(p);
        *ret = TAKE_PTR(p);
        return 0;
}

ImapParser *imap_parser_free(ImapParser *p) {
        if (!p)
                return NULL;
        buf_done(&p->raw);
        buf_done(&p->strs);
        free(p->args);
        free(p->arg_off);
        free(p);
        return NULL;
}

bool imap_response_list_selectable(const ImapResponse *r) {
        const ImapArg *flags;

        if (!r || (r->data_type != IMAP_DATA_LIST && r->data_type != IMAP_DATA_LSUB) || !r->list.flags)
                return false;
        flags = r->list.flags;
        for (const ImapArg *f = imap_arg_list_first(flags); f && f < imap_arg_next(flags); f = imap_arg_next(f))
                if (imap_arg_atom_equal(f, "\\Noselect") || imap_arg_atom_equal(f, "\\NonExistent"))
                        return false;
        return true;
}

/* SPDX-License-Identifier: MIT */
/*
 * imap-trace.c: the redacted protocol trace (imap-trace.h).  Each direction is read a byte at a
 * time by a small tokenizer that knows quoted strings (RFC 3501 §4.3), literals announced at
 * the end of a line, and the first three words of a line (tag, command or "*", and the word
 * after a message number): enough to know a LOGIN, an AUTHENTICATE and a FETCH response.  The
 * redacted text is written as it is read, so a secret is never held, and literal bytes are
 * only counted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-trace.h"

#define REDACTED "<redacted>"
#define WORD_MAX 24

/* What the line being read is: decides which tokens are hidden. */
typedef enum TraceCtx {
        CTX_PLAIN,
        CTX_LOGIN,              /* client: "tag LOGIN user password": token 3 hidden */
        CTX_AUTHENTICATE,       /* client: "tag AUTHENTICATE mech [initial-response]": token 3 hidden */
        CTX_SASL,               /* client: a line within AUTHENTICATE: all of it hidden, "*" aside */
        CTX_FETCH,              /* server: "* n FETCH (...)": every quoted string hidden */
} TraceCtx;

/* The "{N}" literal announcement (RFC 3501 §4.3, "{N+}" RFC 7888) read so far. */
typedef enum LitState {
        LIT_NONE,
        LIT_OPEN,               /* "{" */
        LIT_DIGITS,             /* "{12" */
        LIT_PLUS,               /* "{12+" */
        LIT_CLOSED,             /* "{12}": a literal if the line ends here */
} LitState;

typedef struct TraceSide {
        char out[IMAP_TRACE_LINE_MAX + 64];     /* room past the cap for "<N more bytes>" */
        size_t len;
        uint64_t dropped;       /* bytes past IMAP_TRACE_LINE_MAX */
        bool complete;          /* out holds a line already handed out: start afresh */

        uint64_t literal_left;  /* literal bytes still to count, not show */
        uint64_t literal_len;
        LitState lit;
        uint64_t lit_n;
        bool cr;                /* a CR was read and not yet shown: CRLF ends the line */

        TraceCtx ctx;
        unsigned token;         /* index of the current token, counting from 0 */
        bool in_token, hiding;  /* hiding: the current token is not shown */
        bool in_quote, escape, quote_hidden;
        char word[3][WORD_MAX]; /* tokens 0..2, cut at WORD_MAX - 1 bytes */
        size_t word_len[3];
        uint64_t raw;           /* CTX_SASL: bytes of the line */
        bool raw_star;          /* CTX_SASL: the line so far is "*" */
} TraceSide;

struct ImapTrace {
        TraceSide side[_IMAP_TRACE_DIR_MAX];
        ImapTraceDir last;
        /* An AUTHENTICATE went out and its tagged reply has not come back: the client's lines
         * are SASL responses (RFC 3501 §6.2.2). */
        bool auth_open;
        char auth_tag[WORD_MAX];
};

static void put(TraceSide *s, char c) {
        if (s->len < IMAP_TRACE_LINE_MAX)
                s->out[s->len++] = c;
        else
                s->dropped++;
}

static void put_str(TraceSide *s, const char *p) {
        for (; *p; p++)
                put(s, *p);
}

static void line_begin(ImapTrace *t, ImapTraceDir dir) {
        TraceSide *s = &t->side[dir];

        s->len = 0;
        s->dropped = 0;
        s->complete = false;
        s->lit = LIT_NONE;
        s->cr = false;
        s->ctx = dir == IMAP_TRACE_CLIENT && t->auth_open ? CTX_SASL : CTX_PLAIN;
        s->token = 0;
        s->in_token = s->hiding = false;
        s->in_quote = s->escape = s->quote_hidden = false;
        memset(s->word_len, 0, sizeof(s->word_len));
        s->raw = 0;
        s->raw_star = false;
}

static bool word_is(const TraceSide *s, unsigned i, const char *w) {
        return s->word_len[i] == strlen(w) && strncasecmp(s->word[i], w, s->word_len[i]) == 0;
}

/* A token ended (a space outside a quoted string, or the end of the line): what the first
 * words say about the line. */
static void token_end(ImapTrace *t, ImapTraceDir dir) {
        TraceSide *s = &t->side[dir];

        s->in_token = s->hiding = false;
        if (dir == IMAP_TRACE_CLIENT && s->token == 1 && s->ctx == CTX_PLAIN) {
                if (word_is(s, 1, "LOGIN"))
                        s->ctx = CTX_LOGIN;
                else if (word_is(s, 1, "AUTHENTICATE"))
                        s->ctx = CTX_AUTHENTICATE;
        } else if (dir == IMAP_TRACE_SERVER && s->token == 0 && t->auth_open &&
                   s->word_len[0] == strlen(t->auth_tag) && memcmp(s->word[0], t->auth_tag, s->word_len[0]) == 0)
                /* The tagged reply to AUTHENTICATE: the exchange is over. */
                t->auth_open = false;
        else if (dir == IMAP_TRACE_SERVER && s->token == 2 && word_is(s, 0, "*") && word_is(s, 2, "FETCH"))
                s->ctx = CTX_FETCH;
        s->token++;
}

static void token_begin(TraceSide *s, char c) {
        s->in_token = true;
        /* A literal announced in place of a password stays visible: its bytes are hidden anyway. */
        if ((s->ctx == CTX_LOGIN && s->token == 3 && c != '{') || (s->ctx == CTX_AUTHENTICATE && s->token == 3)) {
                s->hiding = true;
                put_str(s, REDACTED);
        }
}

static void lit_track(TraceSide *s, char c) {
        if (s->in_quote)
                s->lit = LIT_NONE;
        else if (c == '{') {
                s->lit = LIT_OPEN;
                s->lit_n = 0;
        } else if (c >= '0' && c <= '9' && IN_SET(s->lit, LIT_OPEN, LIT_DIGITS)) {
                uint64_t d = (uint64_t) (c - '0');

                s->lit = LIT_DIGITS;
                s->lit_n = s->lit_n > (UINT64_MAX - d) / 10 ? UINT64_MAX : s->lit_n * 10 + d;
        } else if (c == '+' && s->lit == LIT_DIGITS)
                s->lit = LIT_PLUS;
        else if (c == '}' && IN_SET(s->lit, LIT_DIGITS, LIT_PLUS))
                s->lit = LIT_CLOSED;
        else
                s->lit = LIT_NONE;
}

/* One byte of a line (not its CRLF, not literal data). */
static void side_char(ImapTrace *t, ImapTraceDir dir, char c) {
        TraceSide *s = &t->side[dir];
        bool show = true, hidden_quote = s->quote_hidden;

        lit_track(s, c);
        if (s->ctx == CTX_SASL) {
                s->raw_star = s->raw == 0 && c == '*';
                s->raw++;
                return;
        }
        if (!s->in_quote && c == ' ') {
                if (s->in_token)
                        token_end(t, dir);
                put(s, ' ');
                return;
        }
        if (!s->in_token)
                token_begin(s, c);
        if (s->token < 3 && s->word_len[s->token] < WORD_MAX - 1)
                s->word[s->token][s->word_len[s->token]++] = c;

        if (s->in_quote) {
                if (s->escape)
                        s->escape = false;
                else if (c == '\\')
                        s->escape = true;
                else if (c == '"') {
                        s->in_quote = s->quote_hidden = false;
                        hidden_quote = false;   /* the closing quote is shown */
                }
                if (hidden_quote)
                        show = false;
        } else if (c == '"') {
                s->in_quote = true;
                if (s->ctx == CTX_FETCH && !s->hiding) {
                        /* Message data (RFC 3501 §7.4.2): the quotes stay, the text goes. */
                        put(s, '"');
                        put_str(s, REDACTED);
                        s->quote_hidden = true;
                        show = false;
                }
        }
        if (show && !s->hiding)
                put(s, c);
}

/* The end of a physical line: a literal follows (returns false), or the line is whole. */
static bool side_eol(ImapTrace *t, ImapTraceDir dir) {
        TraceSide *s = &t->side[dir];

        s->in_quote = s->escape = s->quote_hidden = false;
        if (s->lit == LIT_CLOSED && s->ctx != CTX_SASL) {
                s->lit = LIT_NONE;
                s->literal_len = s->literal_left = s->lit_n;
                /* The literal is part of the token that announced it. */
                return false;
        }
        if (s->ctx == CTX_SASL) {
                if (s->raw_star && s->raw == 1)
                        put(s, '*');
                else if (s->raw > 0)
                        put_str(s, REDACTED);
        }
        if (s->in_token)
                token_end(t, dir);
        if (dir == IMAP_TRACE_CLIENT && s->ctx == CTX_AUTHENTICATE && s->word_len[0] > 0) {
                memcpy(t->auth_tag, s->word[0], s->word_len[0]);
                t->auth_tag[s->word_len[0]] = 0;
                t->auth_open = true;
        }
        if (s->dropped > 0) {
                int k = snprintf(s->out + s->len, sizeof(s->out) - s->len, " <%" PRIu64 " more bytes>", s->dropped);

                if (k > 0)
                        s->len += MIN((size_t) k, sizeof(s->out) - s->len - 1);
        }
        s->complete = true;
        t->last = dir;
        return true;
}

int imap_trace_feed(ImapTrace *t, ImapTraceDir dir, const void *buf, size_t n, size_t *ret_used) {
        const char *p = buf;
        TraceSide *s;

        assert_return(t && (buf || n == 0) && ret_used, -EINVAL);
        assert_return(dir >= 0 && dir < _IMAP_TRACE_DIR_MAX, -EINVAL);
        s = &t->side[dir];
        if (s->complete)
                line_begin(t, dir);
        for (size_t i = 0; i < n; i++) {
                if (s->literal_left > 0) {
                        uint64_t take = MIN(s->literal_left, (uint64_t) (n - i));

                        s->literal_left -= take;
                        i += (size_t) take - 1;
                        if (s->literal_left == 0) {
                                char note[48];

                                (void) snprintf(note, sizeof(note), "<%" PRIu64 " bytes redacted>", s->literal_len);
                                put_str(s, note);
                        }
                        continue;
                }
                if (p[i] == '\n') {
                        s->cr = false;
                        if (side_eol(t, dir)) {
                                *ret_used = i + 1;
                                return 1;
                        }
                        continue;
                }
                if (s->cr) {
                        /* A CR inside a line: shown (escaped by the caller). */
                        s->cr = false;
                        side_char(t, dir, '\r');
                }
                if (p[i] == '\r')
                        s->cr = true;
                else
                        side_char(t, dir, p[i]);
        }
        *ret_used = n;
        return 0;
}

const char *imap_trace_line(const ImapTrace *t, size_t *ret_len) {
        const TraceSide *s = &t->side[t->last];

        *ret_len = s->complete ? s->len : 0;
        return s->out;
}

void imap_trace_reset(ImapTrace *t) {
        if (!t)
                return;
        t->auth_open = false;
        t->auth_tag[0] = 0;
        for (ImapTraceDir d = 0; d < _IMAP_TRACE_DIR_MAX; d++) {
                line_begin(t, d);
                t->side[d].literal_left = 0;
        }
}

int imap_trace_new(ImapTrace **ret) {
        ImapTrace *t;

        assert_return(ret, -EINVAL);
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        imap_trace_reset(t);
        *ret = t;
        return 0;
}

ImapTrace *imap_trace_free(ImapTrace *t) {
        free(t);
        return NULL;
}

const char *imap_trace_dir_to_string(ImapTraceDir d) {
        static const char *const table[_IMAP_TRACE_DIR_MAX] = {
                [IMAP_TRACE_CLIENT] = "C",
                [IMAP_TRACE_SERVER] = "S",
        };

        return d >= 0 && d < _IMAP_TRACE_DIR_MAX ? table[d] : NULL;
}

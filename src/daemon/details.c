/* SPDX-License-Identifier: MIT */
/*
 * details.c: message details for hooks; see details.h for the contract.
 *
 * Structure: a UTF-8 decoder (utf8_next), a sanitizing sink that every
 * output string is written through (Sink), the RFC 2047 scanner that feeds
 * the sink, the ENVELOPE walker, and the JSON and environment writers.
 */
#include <assert.h>
#include <errno.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "details.h"

/* ---- UTF-8 ------------------------------------------------------------------ */

#define UNICODE_REPLACEMENT 0xFFFDu

/* Decode one code point from s[0, n) (n > 0).  Stores the number of bytes
 * taken in *ret_len (>= 1) and returns the code point, or -1 for an invalid
 * sequence, in which case *ret_len is its maximal subpart (WHATWG "UTF-8
 * decode": overlongs, surrogates and values above U+10FFFF are invalid). */
static int32_t utf8_next(const uint8_t *s, size_t n, size_t *ret_len) {
        uint8_t lo = 0x80, hi = 0xBF;
        size_t need;
        uint32_t cp;

        if (s[0] < 0x80) {
                *ret_len = 1;
                return s[0];
        }
        if (s[0] >= 0xC2 && s[0] <= 0xDF) {
                need = 1;
                cp = s[0] & 0x1F;
        } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
                need = 2;
                cp = s[0] & 0x0F;
                if (s[0] == 0xE0)
                        lo = 0xA0;
                else if (s[0] == 0xED)
                        hi = 0x9F;      /* no UTF-16 surrogates */
        } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
                need = 3;
                cp = s[0] & 0x07;
                if (s[0] == 0xF0)
                        lo = 0x90;
                else if (s[0] == 0xF4)
                        hi = 0x8F;      /* nothing above U+10FFFF */
        } else {
                *ret_len = 1;
                return -1;
        }
        for (size_t i = 1; i <= need; i++) {
                if (i >= n || s[i] < lo || s[i] > hi) {
                        *ret_len = i;
                        return -1;
                }
                cp = (cp << 6) | (s[i] & 0x3F);
                lo = 0x80;
                hi = 0xBF;
        }
        *ret_len = need + 1;
        return (int32_t) cp;
}

static size_t utf8_encode(uint32_t cp, char out[static 4]) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xC0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xE0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
                out[2] = (char) (0x80 | (cp & 0x3F));
                return 3;
        }
        out[0] = (char) (0xF0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char) (0x80 | (cp & 0x3F));
        return 4;
}

/* Code points the sanitizer drops (details.h): C0 except TAB/CR/LF (handled
 * before), DEL, C1, and the bidi controls that reorder text (Trojan Source,
 * CVE-2021-42574): LRE RLE PDF LRO RLO, LRI RLI FSI PDI. */
static bool cp_is_dropped(uint32_t cp) {
        return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
               (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* ---- the sanitizing sink ---------------------------------------------------- */

typedef struct Sink {
        Buf out;
        size_t max;             /* cap in bytes */
        bool full;              /* a character did not fit: ignore everything after it */
        bool pending_break;     /* saw CR/LF; decide on the next character */
        int error;              /* first -ENOMEM */
} Sink;

static void sink_emit(Sink *s, uint32_t cp) {
        char u[4];
        size_t n;
        int r;

        if (s->full || s->error < 0)
                return;
        n = utf8_encode(cp, u);
        if (n > s->max - s->out.len) {
                s->full = true;
                return;
        }
        r = buf_append(&s->out, u, n, 0);
        if (r < 0)
                s->error = r;
}

static void sink_put_cp(Sink *s, uint32_t cp) {
        if (cp == '\r' || cp == '\n') {
                s->pending_break = true;
                return;
        }
        if (s->pending_break) {
                s->pending_break = false;
                /* RFC 5322 §2.2.3 unfolding: a break before WSP simply goes. */
                if (cp != ' ' && cp != '\t')
                        sink_emit(s, ' ');
        }
        if (cp == '\t')
                cp = ' ';
        if (cp_is_dropped(cp))
                return;
        sink_emit(s, cp);
}

/* Bytes that should be UTF-8.  Called per complete segment (a text span, one
 * converted run): a sequence cut at the end is invalid, not continued. */
static void sink_put_bytes(Sink *s, const char *p, size_t n) {
        const uint8_t *u = (const uint8_t *) p;

        while (n > 0 && !s->full && s->error >= 0) {
                size_t l;
                int32_t cp = utf8_next(u, n, &l);

                sink_put_cp(s, cp < 0 ? UNICODE_REPLACEMENT : (uint32_t) cp);
                u += l;
                n -= l;
        }
}

static bool sink_done(Sink *s) {
        return s->full || s->error < 0;
}

/* Finish: a trailing line break is dropped.  Returns 0 and the string (never
 * NULL, "" for no output) or -ENOMEM. */
static int sink_finish(Sink *s, char **ret) {
        if (s->error < 0) {
                buf_done(&s->out);
                return s->error;
        }
        if (!s->out.data) {
                s->out.data = strdup("");
                if (!s->out.data)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(s->out.data);
        s->out = BUF_INIT;
        return 0;
}

int details_sanitize_text(const char *in, size_t len, size_t max_bytes, char **ret) {
        Sink s = { .max = max_bytes };

        assert_return(in || len == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        sink_put_bytes(&s, in, len);
        return sink_finish(&s, ret);
}

/* ---- RFC 2047 --------------------------------------------------------------- */

/* RFC 2047 §2: charset names are tokens; this bounds the iconv lookup and
 * keeps '/' (iconv's "//TRANSLIT" suffixes) and everything else odd out. */
#define RFC2047_CHARSET_MAX 40

static bool is_especial_or_ctl(char c) {
        return (unsigned char) c <= 0x20 || (unsigned char) c >= 0x7F || strchr("()<>@,;:\"/[]?.=", c);
}

static bool is_lwsp(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

static int b64val(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/* RFC 2047 §4.2: "_" is a space, "=XX" a byte (lower-case hex tolerated). */
static int q_decode(const char *t, size_t n, Buf *out) {
        for (size_t i = 0; i < n; i++) {
                char c = t[i];
                int r;

                if (c == '_')
                        c = ' ';
                else if (c == '=') {
                        int h, l;

                        if (n - i < 3 || (h = hexval(t[i + 1])) < 0 || (l = hexval(t[i + 2])) < 0)
                                return -EBADMSG;
                        c = (char) (h << 4 | l);
                        i += 2;
                }
                r = buf_append(out, &c, 1, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* RFC 2047 §4.1 (RFC 4648 alphabet).  Missing padding is tolerated, as mail
 * readers do; a character outside the alphabet, data after '=' or a lone
 * trailing sextet is not. */
static int b_decode(const char *t, size_t n, Buf *out) {
        uint32_t acc = 0;
        size_t bits = 0, data = 0;
        bool pad = false;

        for (size_t i = 0; i < n; i++) {
                int v;

                if (t[i] == '=') {
                        pad = true;
                        continue;
                }
                v = b64val(t[i]);
                if (v < 0 || pad)
                        return -EBADMSG;
                data++;
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        char c = (char) (acc >> (bits - 8));
                        int r;

                        bits -= 8;
                        acc &= (1u << bits) - 1;
                        r = buf_append(out, &c, 1, 0);
                        if (r < 0)
                                return r;
                }
        }
        return data % 4 == 1 ? -EBADMSG : 0;
}

static bool charset_is_utf8(const char *cs) {
        return strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "UTF8") == 0;
}

/* The current run: decoded bytes of adjacent encoded-words in one charset,
 * converted together when the run ends. */
typedef struct Rfc2047 {
        Sink sink;
        char charset[RFC2047_CHARSET_MAX + 1];  /* of the run; "" when none */
        iconv_t cd;                             /* (iconv_t) -1 for UTF-8 */
        Buf run;
        Buf word;                               /* scratch: one word's bytes */
} Rfc2047;

static void run_convert(Rfc2047 *d) {
        char *in = d->run.data;
        size_t left = d->run.len;

        if (d->cd == (iconv_t) -1) {
                sink_put_bytes(&d->sink, in, left);
                return;
        }
        (void) iconv(d->cd, NULL, NULL, NULL, NULL);   /* initial shift state */
        for (;;) {
                char chunk[256], *o = chunk;
                size_t ol = sizeof(chunk), k;
                bool flush = left == 0;

                /* The last round (left == 0) writes any closing shift sequence. */
                k = flush ? iconv(d->cd, NULL, NULL, &o, &ol) : iconv(d->cd, &in, &left, &o, &ol);
                sink_put_bytes(&d->sink, chunk, sizeof(chunk) - ol);
                if (sink_done(&d->sink))
                        return;
                if (k != (size_t) -1) {
                        if (flush)
                                return;
                        continue;
                }
                if (errno == E2BIG)
                        continue;
                /* EILSEQ, or EINVAL (cut short): one U+FFFD, skip a byte, go on.
                 * Skipping guarantees progress whatever the converter does. */
                sink_put_cp(&d->sink, UNICODE_REPLACEMENT);
                if (left == 0)
                        return;
                in++;
                left--;
                (void) iconv(d->cd, NULL, NULL, NULL, NULL);
        }
}

static void run_flush(Rfc2047 *d) {
        if (d->charset[0] && d->run.len > 0)
                run_convert(d);
        buf_clear(&d->run);
}

static void run_close(Rfc2047 *d) {
        run_flush(d);
        if (d->cd != (iconv_t) -1)
                (void) iconv_close(d->cd);
        d->cd = (iconv_t) -1;
        d->charset[0] = 0;
}

/* Try to parse an encoded-word at s[0, n) (s starts with "=?").  On success
 * returns its length and leaves its decoded bytes in d->word, its charset in
 * cs, and in *ret_cd a converter for it when that charset differs from the
 * run's (*ret_same false; (iconv_t) -1 for UTF-8).  Returns 0 when this is
 * not a usable encoded-word (it stays text), or -ENOMEM. */
static ssize_t word_parse(Rfc2047 *d, const char *s, size_t n, char cs[static RFC2047_CHARSET_MAX + 1],
                          bool *ret_same, iconv_t *ret_cd) {
        size_t i = 2, cs_len, text, end;
        char enc;
        int r;

        /* "=?" charset ["*" language] "?" ("B"/"Q") "?" encoded-text "?=" */
        while (i < n && s[i] != '?') {
                if (is_especial_or_ctl(s[i]) || i - 2 >= RFC2047_CHARSET_MAX)
                        return 0;
                i++;
        }
        cs_len = i - 2;
        if (cs_len == 0 || i + 2 >= n || s[i + 2] != '?')
                return 0;
        enc = s[i + 1];
        if (!IN_SET(enc, 'B', 'b', 'Q', 'q'))
                return 0;
        /* encoded-text: printable ASCII without '?' or space (§2); it ends at "?=". */
        text = i + 3;
        for (end = text; end < n && s[end] != '?'; end++)
                if ((unsigned char) s[end] <= 0x20 || (unsigned char) s[end] >= 0x7F)
                        return 0;
        if (end == text || end + 1 >= n || s[end + 1] != '=')
                return 0;

        memcpy(cs, s + 2, cs_len);
        cs[cs_len] = 0;
        cs[strcspn(cs, "*")] = 0;       /* RFC 2231 §5: charset*language */
        if (!cs[0])
                return 0;

        buf_clear(&d->word);
        r = IN_SET(enc, 'B', 'b') ? b_decode(s + text, end - text, &d->word)
                                  : q_decode(s + text, end - text, &d->word);
        if (r == -EBADMSG)
                return 0;
        if (r < 0)
                return r;

        *ret_cd = (iconv_t) -1;
        *ret_same = d->charset[0] && strcasecmp(cs, d->charset) == 0;
        if (!*ret_same && !charset_is_utf8(cs)) {
                *ret_cd = iconv_open("UTF-8", cs);
                if (*ret_cd == (iconv_t) -1)
                        return errno == ENOMEM ? -ENOMEM : 0;   /* unknown charset: stays text */
        }
        return (ssize_t) (end + 2);
}

static bool all_lwsp(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!is_lwsp(s[i]))
                        return false;
        return true;
}

static int rfc2047_scan(Rfc2047 *d, const char *in, size_t len) {
        size_t i = 0, text_start = 0;
        bool after_word = false;
        int r;

        while (i < len && !sink_done(&d->sink)) {
                char cs[RFC2047_CHARSET_MAX + 1];
                bool same = false;
                iconv_t cd = (iconv_t) -1;
                ssize_t k;

                if (in[i] != '=' || i + 1 >= len || in[i + 1] != '?') {
                        i++;
                        continue;
                }
                k = word_parse(d, in + i, len - i, cs, &same, &cd);
                if (k < 0)
                        return (int) k;
                if (k == 0) {
                        i++;
                        continue;
                }
                /* RFC 2047 §6.2: white space between adjacent encoded-words goes;
                 * any other text in between ends the run and stays. */
                if (!(after_word && all_lwsp(in + text_start, i - text_start))) {
                        run_flush(d);
                        sink_put_bytes(&d->sink, in + text_start, i - text_start);
                }
                if (!same) {
                        run_close(d);
                        d->cd = cd;
                        memcpy(d->charset, cs, strlen(cs) + 1);
                }
                r = buf_append(&d->run, d->word.data, d->word.len, 0);
                if (r < 0)
                        return r;
                i += (size_t) k;
                text_start = i;
                after_word = true;
        }
        run_flush(d);
        sink_put_bytes(&d->sink, in + text_start, len - text_start);
        return 0;
}

int rfc2047_decode(const char *in, size_t len, size_t max_bytes, char **ret) {
        Rfc2047 d = { .sink.max = max_bytes, .cd = (iconv_t) -1 };
        int r;

        assert_return(in || len == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        r = len > 0 ? rfc2047_scan(&d, in, len) : 0;
        run_close(&d);
        buf_done(&d.run);
        buf_done(&d.word);
        if (r < 0) {
                buf_done(&d.sink.out);
                return r;
        }
        return sink_finish(&d.sink, ret);
}

/* ---- FETCH and ENVELOPE ----------------------------------------------------- */

/* RFC 3501 §9: nstring = string / nil, string = quoted / literal. */
static bool arg_is_nstring(const ImapArg *a) {
        return IN_SET(a->type, IMAP_ARG_NIL, IMAP_ARG_STRING, IMAP_ARG_LITERAL);
}

/* An nstring through 'conv' (rfc2047_decode or details_sanitize_text), or NULL for NIL. */
static int nstring_conv(const ImapArg *a, size_t max,
                        int (*conv)(const char *, size_t, size_t, char **), char **ret) {
        if (!arg_is_nstring(a))
                return -EBADMSG;
        if (a->type == IMAP_ARG_NIL) {
                *ret = NULL;
                return 0;
        }
        return conv(a->str, a->len, max, ret);
}

/* RFC 3501 §9: address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")";
 * env-from etc. = "(" 1*address ")" / nil. */
static int address_list_validate(const ImapArg *l) {
        const ImapArg *a;

        if (l->type == IMAP_ARG_NIL)
                return 0;
        if (l->type != IMAP_ARG_LIST || l->n == 0)
                return -EBADMSG;
        a = imap_arg_list_first(l);
        for (uint32_t i = 0; i < l->n; i++, a = imap_arg_next(a)) {
                const ImapArg *f;

                if (a->type != IMAP_ARG_LIST || a->n != 4)
                        return -EBADMSG;
                f = imap_arg_list_first(a);
                for (unsigned j = 0; j < 4; j++, f = imap_arg_next(f))
                        if (!arg_is_nstring(f))
                                return -EBADMSG;
        }
        return 0;
}

/* "Name <mailbox@host>" or "mailbox@host" for the first real address of a
 * validated address list; *ret NULL when there is none (NIL, only groups). */
static int address_format(const ImapArg *l, size_t max, char **ret) {
        const ImapArg *a;

        *ret = NULL;
        if (l->type == IMAP_ARG_NIL)
                return 0;
        a = imap_arg_list_first(l);
        for (uint32_t i = 0; i < l->n; i++, a = imap_arg_next(a)) {
                const ImapArg *name = a + 1, *adl = imap_arg_next(name), *mbox = imap_arg_next(adl),
                              *host = imap_arg_next(mbox);
                _cleanup_free_ char *m = NULL, *h = NULL, *n = NULL, *addr = NULL;
                size_t addr_len;
                Buf b = BUF_INIT;
                int r;

                /* RFC 3501 §7.4.2: a NIL host marks a group start (mailbox = group
                 * name) or, with a NIL mailbox, a group end: not an address. */
                if (mbox->type == IMAP_ARG_NIL || host->type == IMAP_ARG_NIL)
                        continue;
                r = details_sanitize_text(mbox->str, mbox->len, max, &m);
                if (r < 0)
                        return r;
                r = details_sanitize_text(host->str, host->len, max, &h);
                if (r < 0)
                        return r;
                if (buf_append(&b, m, strlen(m), 0) < 0 || buf_append(&b, "@", 1, 0) < 0 ||
                    buf_append(&b, h, strlen(h), 0) < 0) {
                        buf_done(&b);
                        return -ENOMEM;
                }
                /* Cap the address on its own; the name gets what is left. */
                r = details_sanitize_text(b.data, b.len, max, &addr);
                buf_done(&b);
                if (r < 0)
                        return r;
                addr_len = strlen(addr);
                if (name->type != IMAP_ARG_NIL && max > addr_len + 3) {
                        r = rfc2047_decode(name->str, name->len, max - addr_len - 3, &n);
                        if (r < 0)
                                return r;
                }
                if (n && n[0]) {
                        size_t sz = strlen(n) + addr_len + 4;
                        char *s = malloc(sz);

                        if (!s)
                                return -ENOMEM;
                        (void) snprintf(s, sz, "%s <%s>", n, addr);
                        *ret = s;
                } else
                        *ret = TAKE_PTR(addr);
                return 0;
        }
        return 0;
}

enum {
        ENV_DATE, ENV_SUBJECT, ENV_FROM, ENV_SENDER, ENV_REPLY_TO,
        ENV_TO, ENV_CC, ENV_BCC, ENV_IN_REPLY_TO, ENV_MESSAGE_ID,
        _ENV_MAX,
};

/* RFC 3501 §7.4.2 / §9 envelope. */
static int attr_envelope(const ImapArg *v, const DetailsLimits *lim, MessageDetails *d) {
        const ImapArg *item[_ENV_MAX], *a;
        int r;

        if (v->type != IMAP_ARG_LIST || v->n != _ENV_MAX)
                return -EBADMSG;
        a = imap_arg_list_first(v);
        for (size_t i = 0; i < _ENV_MAX; i++, a = imap_arg_next(a))
                item[i] = a;
        for (size_t i = ENV_FROM; i <= ENV_BCC; i++) {
                r = address_list_validate(item[i]);
                if (r < 0)
                        return r;
        }
        if (!arg_is_nstring(item[ENV_IN_REPLY_TO]))
                return -EBADMSG;

        r = nstring_conv(item[ENV_DATE], lim->max_field, details_sanitize_text, &d->date);
        if (r < 0)
                return r;
        r = nstring_conv(item[ENV_SUBJECT], lim->max_field, rfc2047_decode, &d->subject);
        if (r < 0)
                return r;
        r = nstring_conv(item[ENV_MESSAGE_ID], lim->max_field, details_sanitize_text, &d->message_id);
        if (r < 0)
                return r;
        return address_format(item[ENV_FROM], lim->max_field, &d->from);
}

static int attr_uid(const ImapArg *v, const DetailsLimits *lim, MessageDetails *d) {
        (void) lim;
        return imap_arg_get_nz32(v, &d->uid) < 0 ? -EBADMSG : 0;
}

static int attr_size(const ImapArg *v, const DetailsLimits *lim, MessageDetails *d) {
        (void) lim;
        return imap_arg_get_u63(v, &d->size) < 0 ? -EBADMSG : 0;
}

/* RFC 3501 §9: "FLAGS" SP "(" [flag-fetch *(SP flag-fetch)] ")"; flags are atoms. */
static int attr_flags(const ImapArg *v, const DetailsLimits *lim, MessageDetails *d) {
        const ImapArg *a;
        char **l;

        if (v->type != IMAP_ARG_LIST)
                return -EBADMSG;
        l = calloc((size_t) v->n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        d->flags = l;   /* freed by the caller's cleanup on error */
        a = imap_arg_list_first(v);
        for (uint32_t i = 0; i < v->n; i++, a = imap_arg_next(a)) {
                int r;

                if (a->type != IMAP_ARG_ATOM)
                        return -EBADMSG;
                r = details_sanitize_text(a->str, a->len, lim->max_field, &l[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* RFC 8970 §7: "PREVIEW" SP nstring; the text is UTF-8 already (§3). */
static int attr_preview(const ImapArg *v, const DetailsLimits *lim, MessageDetails *d) {
        return nstring_conv(v, lim->max_preview, details_sanitize_text, &d->preview);
}

typedef struct FetchAttr {
        const char *name;
        int (*parse)(const ImapArg *v, const DetailsLimits *lim, MessageDetails *d);
} FetchAttr;

static const FetchAttr fetch_attrs[] = {
        { "UID",         attr_uid      },
        { "FLAGS",       attr_flags    },
        { "RFC822.SIZE", attr_size     },
        { "ENVELOPE",    attr_envelope },
        { "PREVIEW",     attr_preview  },
};

int message_details_from_fetch(const ImapArg *fetch_list, const DetailsLimits *lim, MessageDetails *ret) {
        _cleanup_(message_details_done) MessageDetails d = {};
        DetailsLimits l = lim ? *lim : DETAILS_LIMITS_DEFAULT;
        bool seen[ELEMENTSOF(fetch_attrs)] = {};
        const ImapArg *a;

        assert_return(fetch_list, -EINVAL);
        assert_return(ret, -EINVAL);

        if (l.max_field == 0)
                l.max_field = DETAILS_MAX_FIELD_DEFAULT;
        if (l.max_preview == 0)
                l.max_preview = DETAILS_MAX_PREVIEW_DEFAULT;

        /* RFC 3501 §9 msg-att: "(" name SP value *(SP name SP value) ")". */
        if (fetch_list->type != IMAP_ARG_LIST || fetch_list->n % 2 != 0)
                return -EBADMSG;
        a = imap_arg_list_first(fetch_list);
        for (uint32_t i = 0; i < fetch_list->n; i += 2) {
                const ImapArg *v = imap_arg_next(a);

                if (a->type != IMAP_ARG_ATOM)
                        return -EBADMSG;
                for (size_t j = 0; j < ELEMENTSOF(fetch_attrs); j++) {
                        int r;

                        if (!imap_arg_atom_equal(a, fetch_attrs[j].name))
                                continue;
                        if (seen[j])
                                return -EBADMSG;
                        seen[j] = true;
                        r = fetch_attrs[j].parse(v, &l, &d);
                        if (r < 0)
                                return r;
                        break;
                }
                a = imap_arg_next(v);
        }
        if (!seen[0])   /* UID */
                return -EBADMSG;
        if (!d.flags) {
                d.flags = calloc(1, sizeof(char *));
                if (!d.flags)
                        return -ENOMEM;
        }
        *ret = d;
        d = (MessageDetails) {};
        return 0;
}

void message_details_done(MessageDetails *d) {
        if (!d)
                return;
        d->flags = details_strv_free(d->flags);
        free(d->from);
        free(d->subject);
        free(d->message_id);
        free(d->date);
        free(d->preview);
        *d = (MessageDetails) {};
}

char **details_strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **p = l; *p; p++)
                free(*p);
        free(l);
        return NULL;
}

/* ---- JSON and environment --------------------------------------------------- */

/* RFC 8259 §7 string, with the extra escapes details.h lists. */
int details_json_string(Buf *out, const char *s) {
        const uint8_t *u = (const uint8_t *) s;
        size_t n = strlen(s);
        int r;

        if (buf_append(out, "\"", 1, 0) < 0)
                return -ENOMEM;
        while (n > 0) {
                size_t l;
                int32_t cp = utf8_next(u, n, &l);

                if (cp == '"' || cp == '\\') {
                        char e[2] = { '\\', (char) cp };
                        r = buf_append(out, e, 2, 0);
                } else if (cp >= 0 && (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029)) {
                        static const char hex[] = "0123456789abcdef";
                        char e[6] = { '\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15],
                                      hex[(cp >> 4) & 15], hex[cp & 15] };
                        r = buf_append(out, e, sizeof(e), 0);
                } else if (cp < 0)
                        r = buf_append(out, "\xEF\xBF\xBD", 3, 0);
                else
                        r = buf_append(out, u, l, 0);
                if (r < 0)
                        return r;
                u += l;
                n -= l;
        }
        return buf_append(out, "\"", 1, 0);
}

static int json_field(Buf *out, const char *key, const char *value) {
        int r;

        r = buf_append(out, ",\"", 2, 0);
        if (r >= 0)
                r = buf_append(out, key, strlen(key), 0);
        if (r >= 0)
                r = buf_append(out, "\":", 2, 0);
        if (r >= 0)
                r = value ? details_json_string(out, value) : buf_append(out, "null", 4, 0);
        return r;
}

static int json_object(const MessageDetails *d, Buf *out) {
        char num[64];
        int n, r;

        n = snprintf(num, sizeof(num), "{\"uid\":%" PRIu32 ",\"size\":%" PRIu64 ",\"flags\":[",
                     d->uid, d->size);
        r = buf_append(out, num, (size_t) n, 0);
        for (size_t i = 0; r >= 0 && d->flags && d->flags[i]; i++) {
                if (i > 0)
                        r = buf_append(out, ",", 1, 0);
                if (r >= 0)
                        r = details_json_string(out, d->flags[i]);
        }
        if (r >= 0)
                r = buf_append(out, "]", 1, 0);
        if (r >= 0)
                r = json_field(out, "from", d->from);
        if (r >= 0)
                r = json_field(out, "subject", d->subject);
        if (r >= 0)
                r = json_field(out, "message_id", d->message_id);
        if (r >= 0)
                r = json_field(out, "date", d->date);
        if (r >= 0)
                r = json_field(out, "preview", d->preview);
        if (r >= 0)
                r = buf_append(out, "}\n", 2, 0);
        return r;
}

int message_details_to_json(const MessageDetails *d, Buf *out) {
        size_t old;
        int r;

        assert_return(d, -EINVAL);
        assert_return(out, -EINVAL);

        old = out->len;
        r = json_object(d, out);
        if (r < 0) {
                out->len = old;
                if (out->data)
                        out->data[old] = 0;
        }
        return r;
}

static int env_entry(const char *name, const char *value, char **ret) {
        _cleanup_free_ char *v = NULL;
        size_t sz;

        if (details_sanitize_text(value ?: "", value ? strlen(value) : 0, SIZE_MAX, &v) < 0)
                return -ENOMEM;
        assert(v);   /* set on success (for scan-build, which loses sink_finish()'s sign here) */
        sz = strlen(name) + 1 + strlen(v) + 1;
        *ret = malloc(sz);
        if (!*ret)
                return -ENOMEM;
        (void) snprintf(*ret, sz, "%s=%s", name, v);
        return 0;
}

int message_details_env(const MessageDetails *d, char ***ret) {
        _cleanup_(details_strv_freep) char **l = NULL;
        char uid[16];
        int r;

        assert_return(d, -EINVAL);
        assert_return(ret, -EINVAL);

        l = calloc(5, sizeof(char *));
        if (!l)
                return -ENOMEM;
        (void) snprintf(uid, sizeof(uid), "%" PRIu32, d->uid);
        r = env_entry("IMAPIDLED_FROM", d->from, &l[0]);
        if (r >= 0)
                r = env_entry("IMAPIDLED_SUBJECT", d->subject, &l[1]);
        if (r >= 0)
                r = env_entry("IMAPIDLED_MESSAGE_ID", d->message_id, &l[2]);
        if (r >= 0)
                r = env_entry("IMAPIDLED_UID", uid, &l[3]);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * test-details.c: message details for hooks (details.[ch]): RFC 2047 decoding
 * and the sanitizer against tables (RFC 2047 §8's examples, malformed words,
 * control and bidi characters, caps), ENVELOPE from real FETCH responses run
 * through imap_parser, malformed ENVELOPEs, and the JSON line and environment
 * a hook gets, checked with a small JSON reader written here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "details.h"
#include "imap-parser.h"
#include "macro.h"
#include "th.h"

/* ---- helpers ---------------------------------------------------------------- */

/* True if s[0, n) is valid UTF-8 with no C0, DEL, C1 or bidi control: written
 * independently of details.c's decoder, as a second opinion. */
static bool clean_utf8(const char *s, size_t n) {
        const unsigned char *u = (const unsigned char *) s;

        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t len;

                if (u[i] < 0x80) {
                        cp = u[i];
                        len = 1;
                } else if ((u[i] & 0xE0) == 0xC0) {
                        cp = u[i] & 0x1F;
                        len = 2;
                } else if ((u[i] & 0xF0) == 0xE0) {
                        cp = u[i] & 0x0F;
                        len = 3;
                } else if ((u[i] & 0xF8) == 0xF0) {
                        cp = u[i] & 0x07;
                        len = 4;
                } else
                        return false;
                if (n - i < len)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((u[i + k] & 0xC0) != 0x80)
                                return false;
                        cp = cp << 6 | (u[i + k] & 0x3F);
                }
                if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        return false;
                if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
                    (cp >= 0x2066 && cp <= 0x2069))
                        return false;
                i += len;
        }
        return true;
}

/* Parse one complete response and return details from its FETCH list. */
static int fetch_details(const char *in, size_t len, const DetailsLimits *lim, MessageDetails *ret) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        const ImapResponse *resp;
        size_t used = 0;

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        ck_assert_int_eq(imap_parser_feed(p, in, len, &used), 1);
        ck_assert_uint_eq(used, len);
        resp = imap_parser_response(p);
        ck_assert_int_eq(resp->data_type, IMAP_DATA_FETCH);
        return message_details_from_fetch(resp->fetch, lim, ret);
}
#define FETCH(s, lim, ret) fetch_details(s, sizeof(s) - 1, lim, ret)

/* ---- a tiny JSON reader (RFC 8259) --------------------------------------- */

typedef struct Json {
        const char *s;
        size_t n, i;
} Json;

static void json_ws(Json *j) {
        while (j->i < j->n && strchr(" \t\r\n", j->s[j->i]) && j->s[j->i])
                j->i++;
}

static bool json_lit(Json *j, const char *w) {
        size_t l = strlen(w);

        if (j->n - j->i < l || memcmp(j->s + j->i, w, l) != 0)
                return false;
        j->i += l;
        return true;
}

/* A string; its unescaped bytes are appended to out (may be NULL). */
static bool json_str(Json *j, Buf *out) {
        if (j->i >= j->n || j->s[j->i] != '"')
                return false;
        j->i++;
        while (j->i < j->n) {
                unsigned char c = (unsigned char) j->s[j->i++];

                if (c == '"')
                        return true;
                if (c < 0x20)
                        return false;   /* RFC 8259 §7: must be escaped */
                if (c == '\\') {
                        char e, u[4];
                        unsigned v = 0;
                        size_t ul;

                        if (j->i >= j->n)
                                return false;
                        e = j->s[j->i++];
                        if (strchr("\"\\/", e))
                                c = (unsigned char) e;
                        else if (e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't')
                                c = (unsigned char) (e == 'b' ? 8 : e == 'f' ? 12 : e == 'n' ? 10 : e == 'r' ? 13 : 9);
                        else if (e == 'u') {
                                if (j->n - j->i < 4)
                                        return false;
                                for (int k = 0; k < 4; k++) {
                                        char h = j->s[j->i++];
                                        int d = h >= '0' && h <= '9' ? h - '0' :
                                                h >= 'a' && h <= 'f' ? h - 'a' + 10 :
                                                h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                                        if (d < 0)
                                                return false;
                                        v = v << 4 | (unsigned) d;
                                }
                                if (v >= 0xD800 && v <= 0xDFFF)
                                        return false;   /* we never write surrogates */
                                if (v < 0x80) {
                                        u[0] = (char) v;
                                        ul = 1;
                                } else if (v < 0x800) {
                                        u[0] = (char) (0xC0 | v >> 6);
                                        u[1] = (char) (0x80 | (v & 0x3F));
                                        ul = 2;
                                } else {
                                        u[0] = (char) (0xE0 | v >> 12);
                                        u[1] = (char) (0x80 | ((v >> 6) & 0x3F));
                                        u[2] = (char) (0x80 | (v & 0x3F));
                                        ul = 3;
                                }
                                if (out)
                                        ck_assert_int_eq(buf_append(out, u, ul, 0), 0);
                                continue;
                        } else
                                return false;
                }
                if (out)
                        ck_assert_int_eq(buf_append(out, &c, 1, 0), 0);
        }
        return false;
}

static bool json_value(Json *j, unsigned depth);

static bool json_number(Json *j) {
        size_t start = j->i;

        if (j->i < j->n && j->s[j->i] == '-')
                j->i++;
        if (j->i < j->n && j->s[j->i] == '0')
                j->i++;
        else if (j->i < j->n && j->s[j->i] >= '1' && j->s[j->i] <= '9')
                while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
                        j->i++;
        else
                return false;
        return j->i > start;    /* integers are all we write */
}

static bool json_value(Json *j, unsigned depth) {
        json_ws(j);
        if (j->i >= j->n || depth > 8)
                return false;
        switch (j->s[j->i]) {
        case '"':
                return json_str(j, NULL);
        case '{':
        case '[': {
                char close = j->s[j->i] == '{' ? '}' : ']';
                bool obj = close == '}';

                j->i++;
                json_ws(j);
                if (j->i < j->n && j->s[j->i] == close) {
                        j->i++;
                        return true;
                }
                for (;;) {
                        if (obj) {
                                json_ws(j);
                                if (!json_str(j, NULL))
                                        return false;
                                json_ws(j);
                                if (!json_lit(j, ":"))
                                        return false;
                        }
                        if (!json_value(j, depth + 1))
                                return false;
                        json_ws(j);
                        if (json_lit(j, ","))
                                continue;
                        if (j->i < j->n && j->s[j->i] == close) {
                                j->i++;
                                return true;
                        }
                        return false;
                }
        }
        case 'n':
                return json_lit(j, "null");
        case 't':
                return json_lit(j, "true");
        case 'f':
                return json_lit(j, "false");
        default:
                return json_number(j);
        }
}

/* One JSON object, then exactly one "\n", and nothing after it. */
static bool json_line_valid(const char *s, size_t n) {
        Json j = { s, n, 0 };

        if (n == 0 || s[0] != '{' || !json_value(&j, 0))
                return false;
        return j.i + 1 == n && s[j.i] == '\n';
}

/* The unescaped value of top-level string member 'key'; NULL if it is null or missing. */
static char *json_get(const char *s, size_t n, const char *key) {
        Json j = { s, n, 1 };

        for (;;) {
                Buf k = BUF_INIT, v = BUF_INIT;
                bool match;

                json_ws(&j);
                ck_assert(json_str(&j, &k));
                ck_assert(json_lit(&j, ":"));
                match = k.data && strcmp(k.data, key) == 0;
                buf_done(&k);
                json_ws(&j);
                if (match) {
                        if (json_lit(&j, "null"))
                                return NULL;
                        ck_assert(json_str(&j, &v));
                        return v.data ? v.data : strdup("");
                }
                ck_assert(json_value(&j, 1));
                json_ws(&j);
                if (!json_lit(&j, ","))
                        return NULL;
        }
}

/* ---- RFC 2047 and the sanitizer ---------------------------------------------- */

typedef struct DecodeCase {
        const char *in;
        size_t len;
        size_t max;
        const char *want;
} DecodeCase;

#define D(i, w) { i, sizeof(i) - 1, SIZE_MAX, w }
#define DM(i, m, w) { i, sizeof(i) - 1, m, w }

static const DecodeCase decode_cases[] = {
        /* RFC 2047 §8, the examples with their displayed results. */
        D("=?US-ASCII?Q?Keith_Moore?=", "Keith Moore"),
        D("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld J\xc3\xb8rn Simonsen"),
        D("=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xc3\xa9 Pirard"),
        D("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n"
          " =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
          "If you can read this you understand the example."),
        D("=?ISO-8859-1?Q?Olle_J=E4rnefors?=", "Olle J\xc3\xa4rnefors"),
        D("(=?ISO-8859-1?Q?a?=)", "(a)"),
        D("(=?ISO-8859-1?Q?a?= b)", "(a b)"),
        D("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"),
        D("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"),
        D("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)"),
        D("(=?ISO-8859-1?Q?a_b?=)", "(a b)"),
        D("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"),
        /* UTF-8 in B and Q, either case; RFC 2231 language suffix. */
        D("=?UTF-8?B?R3LDvMOfZQ==?=", "Gr\xc3\xbc\xc3\x9f" "e"),
        D("=?utf-8?b?R3LDvMOfZQ?=", "Gr\xc3\xbc\xc3\x9f" "e"),       /* no padding */
        D("=?utf-8?q?Gr=c3=bc=C3=9Fe?=", "Gr\xc3\xbc\xc3\x9f" "e"),
        D("=?UTF-8*en?Q?hi?=", "hi"),
        D("=?ISO-8859-1?Q?Andr=E9?=", "Andr\xc3\xa9"),
        D("=?UTF-8?Q?a_b__c?=", "a b  c"),
        /* Adjacent words joined, also when a character is split between them,
         * in UTF-8 and through iconv. */
        D("=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"),
        D("=?UTF-8?Q?a?==?UTF-8?Q?b?=", "ab"),
        D("=?UTF-8?Q?=C3?= =?UTF-8?Q?=BC?=", "\xc3\xbc"),
        D("=?UTF-16BE?Q?=00?= =?UTF-16BE?Q?A?=", "A"),
        /* Words separated by text are not joined; text around words stays. */
        D("=?UTF-8?Q?a?= x =?UTF-8?Q?b?=", "a x b"),
        D("Re: =?UTF-8?Q?a?= end", "Re: a end"),
        D("=?UTF-8?Q?a?= - =?UTF-8?Q?b?=", "a - b"),
        D("  lead =?UTF-8?Q?a?=  ", "  lead a  "),
        /* Malformed words stay as they are. */
        D("=?UTF-8?Q?abc", "=?UTF-8?Q?abc"),
        D("=?UTF-8?Q?abc?", "=?UTF-8?Q?abc?"),
        D("=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="),
        D("=?UTF-8?B?#abc?=", "=?UTF-8?B?#abc?="),
        D("=?UTF-8?B?QUJDR?=", "=?UTF-8?B?QUJDR?="),                   /* lone sextet */
        D("=?UTF-8?B?QQ==QQ==?=", "=?UTF-8?B?QQ==QQ==?="),             /* data after padding */
        D("=?UTF-8?Q?=G1?=", "=?UTF-8?Q?=G1?="),
        D("=?UTF-8?Q?a=4?=", "=?UTF-8?Q?a=4?="),
        D("=?UTF-8?Q?" "?=", "=?UTF-8?Q?" "?="),
        D("=??Q?a?=", "=??Q?a?="),
        D("=?*en?Q?a?=", "=?*en?Q?a?="),
        D("=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?="),
        D("=?UTF-8//TRANSLIT?Q?a?=", "=?UTF-8//TRANSLIT?Q?a?="),
        D("=?=?UTF-8?Q?a?=", "=?a"),
        D("a=?b", "a=?b"),
        D("=?", "=?"),
        /* Unknown charsets stay raw, and so does the white space around them. */
        D("=?X-NO-SUCH-CHARSET?Q?abc?=", "=?X-NO-SUCH-CHARSET?Q?abc?="),
        D("=?UTF-8?Q?a?= =?X-NOPE?Q?b?= =?UTF-8?Q?c?=", "a =?X-NOPE?Q?b?= c"),
        D("=?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?Q?b?=", "=?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?Q?b?="),
        /* Bytes invalid in the declared charset become U+FFFD. */
        D("=?UTF-8?Q?a=FFb?=", "a\xef\xbf\xbd" "b"),
        D("=?US-ASCII?Q?=E9?=", "\xef\xbf\xbd"),
        D("=?UTF-16BE?Q?=00?=", "\xef\xbf\xbd"),                       /* cut short */
        /* Encoded NUL and controls are removed; DEL and C1 too. */
        D("=?UTF-8?Q?a=00b=07c=1Bd=7Fe?=", "abcde"),
        D("=?UTF-8?B?YQBi?=", "ab"),                                    /* "a\0b" */
        D("=?UTF-8?Q?a=C2=85b=C2=9Bc?=", "abc"),
        D("=?ISO-8859-1?Q?a=85b?=", "ab"),
        /* Encoded and raw line breaks: one space, or unfolded before WSP. */
        D("=?UTF-8?Q?line1=0D=0Aline2?=", "line1 line2"),
        D("=?UTF-8?Q?a=0A=0A=0Ab?=", "a b"),
        D("=?UTF-8?Q?a=0D=0A_b?=", "a b"),
        D("=?UTF-8?Q?a=09b?=", "a b"),
        D("Hello\r\n World", "Hello World"),
        D("Hello\r\n\tWorld", "Hello World"),
        D("a\rb\nc", "a b c"),
        D("trailing\r\n", "trailing"),
        D("\nlead", " lead"),
        /* Bidi embedding, override and isolate characters are removed. */
        D("=?UTF-8?Q?invoice=E2=80=AEfdp.exe?=", "invoicefdp.exe"),
        D("x\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xaey", "xy"),
        D("x\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9y", "xy"),
        D("x\xe2\x80\x8ey", "x\xe2\x80\x8ey"),                          /* LRM is not an override */
        /* Raw text: invalid UTF-8 becomes U+FFFD per maximal subpart. */
        D("a\xff" "b", "a\xef\xbf\xbd" "b"),
        D("\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd"),
        D("\xe2\x82", "\xef\xbf\xbd"),
        D("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),
        D("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"),
        D("a\0b", "ab"),
        D("", ""),
        /* Caps: the longest prefix that fits, on a character boundary. */
        DM("=?UTF-8?Q?=C3=A9=C3=A9?=", 3, "\xc3\xa9"),
        DM("=?UTF-8?Q?=C3=A9=C3=A9?=", 4, "\xc3\xa9\xc3\xa9"),
        DM("=?UTF-8?Q?=C3=A9=C3=A9?=", 1, ""),
        DM("\xe2\x82\xac", 2, ""),
        DM("abc", 0, ""),
        DM("abcdef", 3, "abc"),
        DM("ab\x01\x02\x03" "cd", 3, "abc"),
        DM("ab\r\ncd", 3, "ab "),
        DM("ab\r\n", 2, "ab"),
        DM("=?UTF-8?Q?a?= =?UTF-8?Q?bcd?=", 2, "ab"),
};

START_TEST(test_decode_table) {
        const DecodeCase *c = &decode_cases[_i];
        _cleanup_free_ char *out = NULL, *again = NULL;

        ck_assert_int_eq(rfc2047_decode(c->in, c->len, c->max, &out), 0);
        ck_assert_msg(strcmp(out, c->want) == 0, "case %d: \"%s\" -> \"%s\", want \"%s\"", _i, c->in, out,
                      c->want);
        ck_assert_uint_le(strlen(out), c->max);
        ck_assert(clean_utf8(out, strlen(out)));
        /* The sanitizer is idempotent on its own output. */
        ck_assert_int_eq(details_sanitize_text(out, strlen(out), c->max, &again), 0);
        ck_assert_str_eq(again, out);
}
END_TEST

/* The sanitizer alone leaves encoded-words alone. */
START_TEST(test_sanitize_only) {
        _cleanup_free_ char *out = NULL;

        ck_assert_int_eq(details_sanitize_text("=?UTF-8?Q?a?=\x01\n", 15, SIZE_MAX, &out), 0);
        ck_assert_str_eq(out, "=?UTF-8?Q?a?=");
        out = mfree(out);
        ck_assert_int_eq(details_sanitize_text(NULL, 0, 10, &out), 0);
        ck_assert_str_eq(out, "");
        ck_assert_int_eq(details_sanitize_text(NULL, 1, 10, &out), -EINVAL);
        ck_assert_int_eq(rfc2047_decode(NULL, 1, 10, &out), -EINVAL);
        ck_assert_int_eq(rfc2047_decode("a", 1, 10, NULL), -EINVAL);
}
END_TEST

/* docs/SECURITY.md M04: a 1 MiB subject, plain and encoded, is capped, on a
 * character boundary, and it takes one pass. */
START_TEST(test_decode_huge) {
        const size_t n = 1024 * 1024;
        _cleanup_free_ char *in = malloc(n), *out = NULL;
        Buf enc = BUF_INIT;

        ck_assert_ptr_nonnull(in);
        memset(in, 'a', n);
        ck_assert_int_eq(rfc2047_decode(in, n, 512, &out), 0);
        ck_assert_uint_eq(strlen(out), 512);
        out = mfree(out);

        /* 3-byte characters: 512 is not a multiple of 3, so 510 bytes. */
        for (size_t i = 0; i < 20000; i++) {
                const char *w = "=?UTF-8?Q?=E2=82=AC?= ";
                ck_assert_int_eq(buf_append(&enc, w, strlen(w), 0), 0);
        }
        ck_assert_int_eq(rfc2047_decode(enc.data, enc.len, 512, &out), 0);
        ck_assert_uint_eq(strlen(out), 510);
        for (size_t i = 0; i < 510; i += 3)
                ck_assert(memcmp(out + i, "\xe2\x82\xac", 3) == 0);
        out = mfree(out);

        /* Nothing but removed characters: empty, not an error. */
        memset(in, '\x01', n);
        ck_assert_int_eq(rfc2047_decode(in, n, 512, &out), 0);
        ck_assert_str_eq(out, "");
        buf_done(&enc);
}
END_TEST

/* ---- FETCH / ENVELOPE ----------------------------------------------------- */

#define ANNA "((\"Anna B\" NIL \"anna\" \"example.org\"))"

static const char dovecot_fetch[] =
        "* 1 FETCH (UID 5 FLAGS (\\Seen $Forwarded) RFC822.SIZE 1234 ENVELOPE ("
        "\"Wed, 25 Nov 2026 10:00:00 +0000\" \"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\" "
        ANNA " " ANNA " " ANNA " ((NIL NIL \"bob\" \"example.net\")) NIL NIL NIL \"<id@x>\"))\r\n";

START_TEST(test_fetch_dovecot) {
        _cleanup_(message_details_done) MessageDetails d = {};

        ck_assert_int_eq(FETCH(dovecot_fetch, NULL, &d), 0);
        ck_assert_uint_eq(d.uid, 5);
        ck_assert_uint_eq(d.size, 1234);
        ck_assert_ptr_nonnull(d.flags);
        ck_assert_str_eq(d.flags[0], "\\Seen");
        ck_assert_str_eq(d.flags[1], "$Forwarded");
        ck_assert_ptr_null(d.flags[2]);
        ck_assert_str_eq(d.from, "Anna B <anna@example.org>");
        ck_assert_str_eq(d.subject, "Gr\xc3\xbc\xc3\x9f" "e");
        ck_assert_str_eq(d.message_id, "<id@x>");
        ck_assert_str_eq(d.date, "Wed, 25 Nov 2026 10:00:00 +0000");
        ck_assert_ptr_null(d.preview);
}
END_TEST

START_TEST(test_fetch_nil_everywhere) {
        _cleanup_(message_details_done) MessageDetails d = {};

        ck_assert_int_eq(FETCH("* 2 FETCH (UID 7 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n",
                               NULL, &d), 0);
        ck_assert_uint_eq(d.uid, 7);
        ck_assert_uint_eq(d.size, 0);
        ck_assert_ptr_nonnull(d.flags);
        ck_assert_ptr_null(d.flags[0]);
        ck_assert_ptr_null(d.from);
        ck_assert_ptr_null(d.subject);
        ck_assert_ptr_null(d.message_id);
        ck_assert_ptr_null(d.date);
        ck_assert_ptr_null(d.preview);
        message_details_done(&d);

        /* No ENVELOPE at all, empty strings stay empty strings, NIL inside addresses. */
        ck_assert_int_eq(FETCH("* 2 FETCH (UID 8 FLAGS ())\r\n", NULL, &d), 0);
        ck_assert_ptr_nonnull(d.flags);
        ck_assert_ptr_null(d.flags[0]);
        ck_assert_ptr_null(d.subject);
        message_details_done(&d);
        ck_assert_int_eq(FETCH("* 2 FETCH (UID 8 ENVELOPE (\"\" \"\" ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL "
                               "NIL NIL \"\"))\r\n", NULL, &d), 0);
        ck_assert_str_eq(d.date, "");
        ck_assert_str_eq(d.subject, "");
        ck_assert_str_eq(d.message_id, "");
        ck_assert_str_eq(d.from, "a@b");
        message_details_done(&d);
        ck_assert_int_eq(FETCH("* 2 FETCH (UID 8 ENVELOPE (NIL NIL ((\"\" NIL \"a\" \"b\")) NIL NIL NIL NIL "
                               "NIL NIL NIL))\r\n", NULL, &d), 0);
        ck_assert_str_eq(d.from, "a@b");
}
END_TEST

/* A subject (and a name) sent as literals, one with a folded line and a NUL. */
START_TEST(test_fetch_literals) {
        _cleanup_(message_details_done) MessageDetails d = {};
        static const char in[] =
                "* 3 FETCH (UID 9 ENVELOPE (NIL {11}\r\nHello World (({6}\r\nA\0 B\r\n NIL \"a\" \"b\")) "
                "NIL NIL NIL NIL NIL NIL {12}\r\n<m\r\n\tid@x\r\n>))\r\n";

        ck_assert_int_eq(FETCH(in, NULL, &d), 0);
        ck_assert_str_eq(d.subject, "Hello World");
        ck_assert_str_eq(d.from, "A B <a@b>");
        ck_assert_str_eq(d.message_id, "<m id@x >");
}
END_TEST

START_TEST(test_fetch_from) {
        _cleanup_(message_details_done) MessageDetails d = {};

        /* No name; an encoded name; group markers skipped (RFC 3501 §7.4.2). */
        ck_assert_int_eq(FETCH("* 1 FETCH (UID 1 ENVELOPE (NIL NIL ((NIL NIL \"anna\" \"example.org\")) "
                               "NIL NIL NIL NIL NIL NIL NIL))\r\n", NULL, &d), 0);
        ck_assert_str_eq(d.from, "anna@example.org");
        message_details_done(&d);
        ck_assert_int_eq(FETCH("* 1 FETCH (UID 1 ENVELOPE (NIL NIL "
                               "((\"=?ISO-8859-1?Q?Andr=E9?= Pirard\" NIL \"andre\" \"x.org\")) "
                               "NIL NIL NIL NIL NIL NIL NIL))\r\n", NULL, &d), 0);
        ck_assert_str_eq(d.from, "Andr\xc3\xa9 Pirard <andre@x.org>");
        message_details_done(&d);
        ck_assert_int_eq(FETCH("* 1 FETCH (UID 1 ENVELOPE (NIL NIL ((NIL NIL \"undisclosed\" NIL) "
                               "(NIL NIL NIL NIL) (\"Real\" NIL \"r\" \"h\")) "
                               "NIL NIL NIL NIL NIL NIL NIL))\r\n", NULL, &d), 0);
        ck_assert_str_eq(d.from, "Real <r@h>");
        message_details_done(&d);
        ck_assert_int_eq(FETCH("* 1 FETCH (UID 1 ENVELOPE (NIL NIL ((NIL NIL \"group\" NIL) (NIL NIL NIL NIL)) "
                               "NIL NIL NIL NIL NIL NIL NIL))\r\n", NULL, &d), 0);
        ck_assert_ptr_null(d.from);
        message_details_done(&d);
        /* Control characters in address parts are removed there too. */
        ck_assert_int_eq(FETCH("* 1 FETCH (UID 1 ENVELOPE (NIL NIL ((\"N\" NIL {3}\r\na\nb \"h\x7f\")) "
                               "NIL NIL NIL NIL NIL NIL NIL))\r\n", NULL, &d), 0);
        ck_assert_str_eq(d.from, "N <a b@h>");
}
END_TEST

/* The cap applies to every field; From keeps its address and cuts the name. */
START_TEST(test_fetch_limits) {
        _cleanup_(message_details_done) MessageDetails d = {};
        const DetailsLimits small = { .max_field = 24, .max_preview = 8 };
        static const char in[] =
                "* 1 FETCH (UID 1 FLAGS (\\Seen $AVeryLongKeywordIndeed) "
                "PREVIEW \"Preview text that is long\" ENVELOPE ("
                "\"Wed, 25 Nov 2026 10:00:00 +0000\" \"A subject longer than the cap\" "
                "((\"A rather long display name\" NIL \"anna\" \"example.org\")) NIL NIL NIL NIL NIL NIL "
                "\"<0123456789012345678901234567@x>\"))\r\n";
        Buf big = BUF_INIT;
        char pad[4096];

        ck_assert_int_eq(FETCH(in, &small, &d), 0);
        ck_assert_str_eq(d.subject, "A subject longer than th");
        ck_assert_str_eq(d.date, "Wed, 25 Nov 2026 10:00:0");
        ck_assert_str_eq(d.message_id, "<01234567890123456789012");
        ck_assert_str_eq(d.preview, "Preview ");
        ck_assert_str_eq(d.flags[1], "$AVeryLongKeywordIndeed");
        /* "anna@example.org" is 16 bytes: "<>" and a space leave 5 for the name. */
        ck_assert_str_eq(d.from, "A rat <anna@example.org>");
        message_details_done(&d);

        /* An address longer than the cap: the name goes, the address is cut. */
        ck_assert_int_eq(FETCH("* 1 FETCH (UID 1 ENVELOPE (NIL NIL ((\"Name\" NIL "
                               "\"a-very-long-local-part\" \"example.org\")) NIL NIL NIL NIL NIL NIL NIL))\r\n",
                               &small, &d), 0);
        ck_assert_str_eq(d.from, "a-very-long-local-part@e");
        message_details_done(&d);

        /* Zero limits mean the defaults: 512 and 256.  64 KiB literals. */
#define APPEND(s) ck_assert_int_eq(buf_append(&big, s, strlen(s), 0), 0)
        APPEND("* 1 FETCH (UID 1 PREVIEW {65536}\r\n");
        memset(pad, 'p', sizeof(pad));
        for (int i = 0; i < 16; i++)
                ck_assert_int_eq(buf_append(&big, pad, sizeof(pad), 0), 0);
        APPEND(" ENVELOPE (NIL {65536}\r\n");
        memset(pad, 's', sizeof(pad));
        for (int i = 0; i < 16; i++)
                ck_assert_int_eq(buf_append(&big, pad, sizeof(pad), 0), 0);
        APPEND(" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n");
#undef APPEND
        ck_assert_int_eq(fetch_details(big.data, big.len, &(DetailsLimits) {}, &d), 0);
        ck_assert_uint_eq(strlen(d.subject), DETAILS_MAX_FIELD_DEFAULT);
        ck_assert_uint_eq(strlen(d.preview), DETAILS_MAX_PREVIEW_DEFAULT);
        buf_done(&big);
}
END_TEST

START_TEST(test_fetch_other_attrs) {
        _cleanup_(message_details_done) MessageDetails d = {};

        /* Unknown attributes (with literals, lists) are skipped; any order; PREVIEW NIL. */
        ck_assert_int_eq(FETCH("* 4 FETCH (INTERNALDATE \"25-Nov-2026 10:00:00 +0000\" "
                               "BODY[HEADER.FIELDS (SUBJECT)] {5}\r\nabcde MODSEQ (12) PREVIEW NIL "
                               "RFC822.SIZE 9223372036854775807 uid 4294967295)\r\n", NULL, &d), 0);
        ck_assert_uint_eq(d.uid, UINT32_MAX);
        ck_assert_uint_eq(d.size, UINT64_C(9223372036854775807));
        ck_assert_ptr_null(d.preview);
        ck_assert_ptr_null(d.subject);
        message_details_done(&d);

        /* PREVIEW as a literal with line breaks and a bidi override. */
        ck_assert_int_eq(FETCH("* 4 FETCH (UID 3 PREVIEW {17}\r\nHi\r\nthere\xe2\x80\xae" "abc\x01!)\r\n",
                               NULL, &d), 0);
        ck_assert_str_eq(d.preview, "Hi thereabc!");
}
END_TEST

/* Parse, then check that *ret is untouched. */
static void expect_bad(const char *in, size_t len) {
        static char sentinel[] = "sentinel";
        MessageDetails d = { .uid = 42, .subject = sentinel };

        ck_assert_msg(fetch_details(in, len, NULL, &d) == -EBADMSG, "accepted: %s", in);
        ck_assert_uint_eq(d.uid, 42);
        ck_assert_str_eq(d.subject, "sentinel");
        ck_assert_ptr_null(d.flags);
}

#define ENV_TAIL " NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
static const char *const bad_fetch[] = {
        /* UID missing, zero, not a number, too large, a string. */
        "* 1 FETCH (FLAGS (\\Seen))\r\n",
        "* 1 FETCH (UID 0)\r\n",
        "* 1 FETCH (UID abc)\r\n",
        "* 1 FETCH (UID 4294967296)\r\n",
        "* 1 FETCH (UID \"5\")\r\n",
        "* 1 FETCH (UID 5 UID 6)\r\n",
        /* FLAGS, RFC822.SIZE, PREVIEW of the wrong shape. */
        "* 1 FETCH (UID 5 FLAGS \\Seen)\r\n",
        "* 1 FETCH (UID 5 FLAGS (\"Seen\"))\r\n",
        "* 1 FETCH (UID 5 FLAGS ((\\Seen)))\r\n",
        "* 1 FETCH (UID 5 RFC822.SIZE -1)\r\n",
        "* 1 FETCH (UID 5 RFC822.SIZE 9223372036854775808)\r\n",
        "* 1 FETCH (UID 5 RFC822.SIZE NIL)\r\n",
        "* 1 FETCH (UID 5 PREVIEW (\"x\"))\r\n",
        "* 1 FETCH (UID 5 PREVIEW text)\r\n",
        /* ENVELOPE: not a list, wrong count. */
        "* 1 FETCH (UID 5 ENVELOPE NIL)\r\n",
        "* 1 FETCH (UID 5 ENVELOPE \"x\")\r\n",
        "* 1 FETCH (UID 5 ENVELOPE ())\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n",
        /* nstring fields: atoms, lists, literal8. */
        "* 1 FETCH (UID 5 ENVELOPE (Wed NIL" ENV_TAIL,
        "* 1 FETCH (UID 5 ENVELOPE (NIL Subject" ENV_TAIL,
        "* 1 FETCH (UID 5 ENVELOPE (NIL (\"s\")" ENV_TAIL,
        "* 1 FETCH (UID 5 ENVELOPE (NIL ~{3}\r\nabc" ENV_TAIL,
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL id NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL (\"id\")))\r\n",
        /* Address lists: a string, empty, flat, 3 or 5 items, a nested list, an atom. */
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL \"a@b\" NIL NIL NIL NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL () NIL NIL NIL NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL (\"n\" NIL \"a\" \"b\") NIL NIL NIL NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL ((NIL \"a\" \"b\")) NIL NIL NIL NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL ((NIL NIL \"a\" \"b\" NIL)) NIL NIL NIL NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL ((NIL (NIL) \"a\" \"b\")) NIL NIL NIL NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL ((NIL NIL a \"b\")) NIL NIL NIL NIL NIL NIL NIL))\r\n",
        /* ... in every address field, not only From. */
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL ((NIL NIL \"a\")) NIL NIL NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL ((NIL NIL \"a\")) NIL NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL NIL ((NIL NIL \"a\")) NIL NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL NIL NIL ((NIL NIL \"a\")) NIL NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL ((NIL NIL \"a\")) NIL NIL))\r\n",
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL (NIL) NIL))\r\n",
        /* A duplicate ENVELOPE. */
        "* 1 FETCH (UID 5 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
        "ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n",
};

START_TEST(test_fetch_malformed) {
        expect_bad(bad_fetch[_i], strlen(bad_fetch[_i]));
}
END_TEST

/* Lists the parser cannot produce for FETCH, built by hand; and NULL arguments. */
START_TEST(test_fetch_contract) {
        MessageDetails d = {};
        const ImapArg atom = { .type = IMAP_ARG_ATOM, .str = "UID", .len = 3 };
        const ImapArg odd[] = {
                { .type = IMAP_ARG_LIST, .n = 1, .size = 1 },
                { .type = IMAP_ARG_ATOM, .str = "UID", .len = 3 },
        };
        const ImapArg nonatom[] = {
                { .type = IMAP_ARG_LIST, .n = 2, .size = 2 },
                { .type = IMAP_ARG_STRING, .str = "UID", .len = 3 },
                { .type = IMAP_ARG_ATOM, .str = "5", .len = 1 },
        };
        const ImapArg good[] = {
                { .type = IMAP_ARG_LIST, .n = 2, .size = 2 },
                { .type = IMAP_ARG_ATOM, .str = "UID", .len = 3 },
                { .type = IMAP_ARG_ATOM, .str = "5", .len = 1 },
        };

        ck_assert_int_eq(message_details_from_fetch(&atom, NULL, &d), -EBADMSG);
        ck_assert_int_eq(message_details_from_fetch(odd, NULL, &d), -EBADMSG);
        ck_assert_int_eq(message_details_from_fetch(nonatom, NULL, &d), -EBADMSG);
        ck_assert_int_eq(message_details_from_fetch(NULL, NULL, &d), -EINVAL);
        ck_assert_int_eq(message_details_from_fetch(good, NULL, NULL), -EINVAL);
        ck_assert_int_eq(message_details_from_fetch(good, NULL, &d), 0);
        ck_assert_uint_eq(d.uid, 5);
        message_details_done(&d);
        ck_assert_ptr_null(d.flags);
        message_details_done(&d);       /* twice is fine */
        message_details_done(NULL);
        ck_assert_ptr_null(details_strv_free(NULL));
}
END_TEST

/* ---- JSON and environment ---------------------------------------------------- */

START_TEST(test_json_exact) {
        _cleanup_(message_details_done) MessageDetails d = {};
        Buf out = BUF_INIT;
        static const char want1[] =
                "{\"uid\":5,\"size\":1234,\"flags\":[\"\\\\Seen\",\"$Forwarded\"],"
                "\"from\":\"Anna B <anna@example.org>\",\"subject\":\"Gr\xc3\xbc\xc3\x9f" "e\","
                "\"message_id\":\"<id@x>\",\"date\":\"Wed, 25 Nov 2026 10:00:00 +0000\",\"preview\":null}\n";
        static const char want2[] =
                "{\"uid\":7,\"size\":0,\"flags\":[],\"from\":null,\"subject\":null,"
                "\"message_id\":null,\"date\":null,\"preview\":null}\n";

        ck_assert_int_eq(FETCH(dovecot_fetch, NULL, &d), 0);
        ck_assert_int_eq(message_details_to_json(&d, &out), 0);
        ck_assert_str_eq(out.data, want1);
        ck_assert(json_line_valid(out.data, out.len));
        message_details_done(&d);

        /* Appends: a second line after the first. */
        ck_assert_int_eq(FETCH("* 2 FETCH (UID 7 ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n",
                               NULL, &d), 0);
        ck_assert_int_eq(message_details_to_json(&d, &out), 0);
        ck_assert_uint_eq(out.len, strlen(want1) + strlen(want2));
        ck_assert_str_eq(out.data + strlen(want1), want2);
        ck_assert(json_line_valid(out.data + strlen(want1), strlen(want2)));
        /* A NULL flags vector (a struct filled by hand) is "[]" as well. */
        d.flags = details_strv_free(d.flags);
        buf_clear(&out);
        ck_assert_int_eq(message_details_to_json(&d, &out), 0);
        ck_assert_str_eq(out.data, want2);
        ck_assert_int_eq(message_details_to_json(NULL, &out), -EINVAL);
        ck_assert_int_eq(message_details_to_json(&d, NULL), -EINVAL);
        buf_done(&out);
}
END_TEST

/* Whatever a hand-filled struct holds, the line is valid JSON and UTF-8. */
START_TEST(test_json_escapes) {
        static char flag[] = "a\"b", from[] = "tab\there\x01\x1f\x7f",
                subject[] = "line\nbreak \"q\" \\ / \xe2\x80\xa8\xe2\x80\xa9 \xc2\x85",
                message_id[] = "bad\xff\xc3", date[] = "", preview[] = "\xf0\x9f\x93\xa7";
        char *flags[] = { flag, NULL };
        MessageDetails d = {
                .uid = UINT32_MAX,
                .size = UINT64_MAX,
                .flags = flags,
                .from = from,
                .subject = subject,
                .message_id = message_id,
                .date = date,
                .preview = preview,
        };
        Buf out = BUF_INIT;
        static const char want[] =
                "{\"uid\":4294967295,\"size\":18446744073709551615,\"flags\":[\"a\\\"b\"],"
                "\"from\":\"tab\\u0009here\\u0001\\u001f\\u007f\","
                "\"subject\":\"line\\u000abreak \\\"q\\\" \\\\ / \\u2028\\u2029 \\u0085\","
                "\"message_id\":\"bad\xef\xbf\xbd\xef\xbf\xbd\",\"date\":\"\","
                "\"preview\":\"\xf0\x9f\x93\xa7\"}\n";
        _cleanup_free_ char *got = NULL;

        ck_assert_int_eq(message_details_to_json(&d, &out), 0);
        ck_assert_str_eq(out.data, want);
        ck_assert(json_line_valid(out.data, out.len));
        got = json_get(out.data, out.len, "subject");
        ck_assert_str_eq(got, d.subject);
        buf_done(&out);
}
END_TEST

/* The checker itself must be able to fail. */
START_TEST(test_json_checker) {
        static const char *const bad[] = {
                "{\"a\":\"x\ny\"}\n", "{\"a\":1}", "{\"a\":1}\n\n", "{\"a\":\"\\x\"}\n", "{\"a\":}\n",
                "{\"a\":1,}\n", "{\"a\" 1}\n", "{\"a\":\"\\u12\"}\n", "[1]\n", "{\"a\":01x}\n",
        };
        static const char good[] = "{\"a\":[1,\"b\",null],\"c\":\"\\u00e9\"}\n";

        ck_assert(json_line_valid(good, strlen(good)));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(!json_line_valid(bad[i], strlen(bad[i])), "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_env) {
        _cleanup_(message_details_done) MessageDetails d = {};
        _cleanup_(details_strv_freep) char **env = NULL;

        ck_assert_int_eq(FETCH(dovecot_fetch, NULL, &d), 0);
        ck_assert_int_eq(message_details_env(&d, &env), 0);
        ck_assert_str_eq(env[0], "IMAPIDLED_FROM=Anna B <anna@example.org>");
        ck_assert_str_eq(env[1], "IMAPIDLED_SUBJECT=Gr\xc3\xbc\xc3\x9f" "e");
        ck_assert_str_eq(env[2], "IMAPIDLED_MESSAGE_ID=<id@x>");
        ck_assert_str_eq(env[3], "IMAPIDLED_UID=5");
        ck_assert_ptr_null(env[4]);
        env = details_strv_free(env);
        message_details_done(&d);

        /* Absent fields: present and empty. */
        d.uid = 12;
        ck_assert_int_eq(message_details_env(&d, &env), 0);
        ck_assert_str_eq(env[0], "IMAPIDLED_FROM=");
        ck_assert_str_eq(env[1], "IMAPIDLED_SUBJECT=");
        ck_assert_str_eq(env[2], "IMAPIDLED_MESSAGE_ID=");
        ck_assert_str_eq(env[3], "IMAPIDLED_UID=12");
        env = details_strv_free(env);

        /* A hand-filled struct with line breaks and controls: sanitized again. */
        static char subject[] = "two\nlines\r\n and\x1b[31m", from[] = "\xe2\x80\xae" "evil";

        d.subject = subject;
        d.from = from;
        ck_assert_int_eq(message_details_env(&d, &env), 0);
        d.subject = d.from = NULL;
        ck_assert_str_eq(env[0], "IMAPIDLED_FROM=evil");
        ck_assert_str_eq(env[1], "IMAPIDLED_SUBJECT=two lines and[31m");
        ck_assert_int_eq(message_details_env(NULL, &env), -EINVAL);
        ck_assert_int_eq(message_details_env(&d, NULL), -EINVAL);
}
END_TEST

/* docs/SECURITY.md M01/M02: shell metacharacters and leading dashes come through byte-exact, as
 * a quoted string (with IMAP escapes) and as a literal. */
#define SHELL_SUBJECT "$(rm -rf ~); `id`; \"quotes\" 'single' \\backslash"
START_TEST(test_shell_metachars) {
        static const char quoted[] =
                "* 1 FETCH (UID 77 ENVELOPE (NIL \"$(rm -rf ~); `id`; \\\"quotes\\\" 'single' \\\\backslash\" "
                "((\"--help\" NIL \"-rf\" \"x;touch pwned\")) NIL NIL NIL NIL NIL NIL \"<$(id)@x>\"))\r\n";
        static const char literal[] =
                "* 1 FETCH (UID 77 ENVELOPE (NIL {47}\r\n" SHELL_SUBJECT
                " ((\"--help\" NIL \"-rf\" \"x;touch pwned\")) NIL NIL NIL NIL NIL NIL \"<$(id)@x>\"))\r\n";
        const char *const inputs[] = { quoted, literal };
        const size_t lens[] = { sizeof(quoted) - 1, sizeof(literal) - 1 };

        ck_assert_uint_eq(strlen(SHELL_SUBJECT), 47);
        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                _cleanup_(message_details_done) MessageDetails d = {};
                _cleanup_(details_strv_freep) char **env = NULL;
                _cleanup_free_ char *js = NULL, *jf = NULL, *jm = NULL;
                Buf out = BUF_INIT;

                ck_assert_int_eq(fetch_details(inputs[i], lens[i], NULL, &d), 0);
                ck_assert_str_eq(d.subject, SHELL_SUBJECT);
                ck_assert_str_eq(d.from, "--help <-rf@x;touch pwned>");

                ck_assert_int_eq(message_details_to_json(&d, &out), 0);
                ck_assert(json_line_valid(out.data, out.len));
                js = json_get(out.data, out.len, "subject");
                jf = json_get(out.data, out.len, "from");
                jm = json_get(out.data, out.len, "message_id");
                ck_assert_str_eq(js, SHELL_SUBJECT);
                ck_assert_str_eq(jf, "--help <-rf@x;touch pwned>");
                ck_assert_str_eq(jm, "<$(id)@x>");
                buf_done(&out);

                ck_assert_int_eq(message_details_env(&d, &env), 0);
                ck_assert_str_eq(env[0], "IMAPIDLED_FROM=--help <-rf@x;touch pwned>");
                ck_assert_str_eq(env[1], "IMAPIDLED_SUBJECT=" SHELL_SUBJECT);
                ck_assert_str_eq(env[2], "IMAPIDLED_MESSAGE_ID=<$(id)@x>");
        }
}
END_TEST

/* Subjects with encoded control bytes and newlines end up clean in JSON and env. */
START_TEST(test_hostile_subject_end_to_end) {
        _cleanup_(message_details_done) MessageDetails d = {};
        _cleanup_(details_strv_freep) char **env = NULL;
        Buf out = BUF_INIT;

        ck_assert_int_eq(FETCH("* 1 FETCH (UID 3 ENVELOPE (NIL "
                               "\"=?UTF-8?Q?a=00b=0D=0AX-Injected:_1=1B[2J=E2=80=AE?=\" "
                               "NIL NIL NIL NIL NIL NIL NIL NIL))\r\n", NULL, &d), 0);
        ck_assert_str_eq(d.subject, "ab X-Injected: 1[2J");
        ck_assert_int_eq(message_details_to_json(&d, &out), 0);
        ck_assert(json_line_valid(out.data, out.len));
        ck_assert_ptr_null(memchr(out.data, '\n', out.len - 1));
        ck_assert_int_eq(message_details_env(&d, &env), 0);
        for (char **e = env; *e; e++)
                ck_assert(clean_utf8(*e, strlen(*e)));
        buf_done(&out);
}
END_TEST

static Suite *details_suite(void) {
        Suite *s = suite_create("details");
        TCase *tc;

        tc = tcase_create("rfc2047");
        tcase_add_loop_test(tc, test_decode_table, 0, (int) ELEMENTSOF(decode_cases));
        tcase_add_test(tc, test_sanitize_only);
        tcase_add_test(tc, test_decode_huge);
        suite_add_tcase(s, tc);

        tc = tcase_create("fetch");
        tcase_add_test(tc, test_fetch_dovecot);
        tcase_add_test(tc, test_fetch_nil_everywhere);
        tcase_add_test(tc, test_fetch_literals);
        tcase_add_test(tc, test_fetch_from);
        tcase_add_test(tc, test_fetch_limits);
        tcase_add_test(tc, test_fetch_other_attrs);
        tcase_add_loop_test(tc, test_fetch_malformed, 0, (int) ELEMENTSOF(bad_fetch));
        tcase_add_test(tc, test_fetch_contract);
        suite_add_tcase(s, tc);

        tc = tcase_create("output");
        tcase_add_test(tc, test_json_exact);
        tcase_add_test(tc, test_json_escapes);
        tcase_add_test(tc, test_json_checker);
        tcase_add_test(tc, test_env);
        tcase_add_test(tc, test_shell_metachars);
        tcase_add_test(tc, test_hostile_subject_end_to_end);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(details_suite());
}

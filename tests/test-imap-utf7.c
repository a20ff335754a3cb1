/* SPDX-License-Identifier: MIT */
/*
 * test-imap-utf7.c: modified UTF-7 (RFC 3501 §5.1.3): RFC and hand-checked
 * vectors both ways, every rejection rule (docs/SECURITY.md I03, I04), and
 * round-trip properties over pseudo-random names.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "imap-utf7.h"
#include "macro.h"
#include "th.h"

typedef struct Pair {
        const char *utf8;
        const char *mutf7;
} Pair;

static const Pair pairs[] = {
        { "", "" },
        { "INBOX", "INBOX" },
        { "&", "&-" },
        { "a&b", "a&-b" },
        { "&&", "&-&-" },
        { "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
          "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },                             /* RFC 3501 §5.1.3 */
        { "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
        { "\xc3\xbc\xc3\xbc", "&APwA,A-" },                               /* "/" is written "," */
        { "\xc3\xbc\xe2\x82\xac", "&APwgrA-" },                           /* one run, two characters */
        { "\xc3\xbc&", "&APw-&-" },
        { "&\xc3\xbc", "&-&APw-" },
        { "\xc3\xbc&\xc3\xbc", "&APw-&-&APw-" },                          /* "&-" between runs is fine */
        { "\xf0\x9f\x98\x80", "&2D3eAA-" },                               /* U+1F600: surrogate pair */
        { "\xf4\x8f\xbf\xbf", "&2,,f,w-" },                               /* U+10FFFF */
        { "a\x1f" "b", "a&AB8-b" },                                       /* controls are encoded */
        { "\x7f", "&AH8-" },
        { "\xce\x95\xce\xbb/x", "&A5UDuw-/x" },
};

START_TEST(test_encode) {
        const Pair *p = &pairs[_i];
        _cleanup_free_ char *got = NULL;

        ck_assert_int_eq(imap_utf7_encode(p->utf8, strlen(p->utf8), &got), 0);
        ck_assert_str_eq(got, p->mutf7);
}
END_TEST

START_TEST(test_decode) {
        const Pair *p = &pairs[_i];
        _cleanup_free_ char *got = NULL;

        ck_assert_int_eq(imap_utf7_decode(p->mutf7, strlen(p->mutf7), &got), 0);
        ck_assert_str_eq(got, p->utf8);
}
END_TEST

typedef struct Bad {
        const char *s;
        size_t len;     /* 0: strlen */
        const char *why;
} Bad;

static const Bad bad_mutf7[] = {
        { "&", 0, "unterminated shift" },
        { "&Jjo", 0, "unterminated shift" },
        { "a&APw", 0, "unterminated shift" },
        { "&Jjo!", 0, "'!' inside a shift" },
        { "&APw=-", 0, "'=' padding" },
        { "&APw/-", 0, "'/' instead of ','" },
        { "&APw -", 0, "space inside a shift" },
        { "&U,BTFw-&ZeVnLIqe-", 0, "two adjacent runs" },
        { "&APw-&APw-", 0, "two adjacent runs" },
        { "&AGE-", 0, "encodes printable 'a'" },
        { "&AGEAYg-", 0, "encodes printable 'ab'" },
        { "&ACY-", 0, "encodes '&' itself" },
        { "&AC0-", 0, "encodes '-'" },
        { "&ACA-", 0, "encodes a space" },
        { "&AH4-", 0, "encodes '~'" },
        { "&AAA-", 0, "encodes U+0000" },
        { "&APx-", 0, "non-zero leftover bits" },
        { "&APwA-", 0, "a whole extra base64 character" },
        { "&A-", 0, "six bits, no UTF-16 unit" },
        { "&AP-", 0, "twelve bits, no UTF-16 unit" },
        { "&2D0-", 0, "lone high surrogate" },
        { "&2D0AZQ-", 0, "high surrogate followed by a non-surrogate" },
        { "&2D3YPQ-", 0, "two high surrogates" },
        { "&3gA-", 0, "lone low surrogate" },
        { "&3gDYPQ-", 0, "surrogates in the wrong order" },
        { "p\xe4\xe4", 0, "raw 8-bit" },
        { "a\x01" "b", 0, "C0 control" },
        { "a\tb", 0, "tab" },
        { "\x7f", 0, "DEL" },
        { "a\0b", 3, "NUL" },
        { "\xc3\xbc", 0, "raw UTF-8" },
};

START_TEST(test_decode_invalid) {
        const Bad *b = &bad_mutf7[_i];
        char sentinel[] = "untouched", *got = sentinel;

        if (imap_utf7_decode(b->s, b->len ?: strlen(b->s), &got) != -EINVAL)
                ck_abort_msg("accepted %s (%s)", b->s, b->why);
        ck_assert_ptr_eq(got, sentinel);
}
END_TEST

static const Bad bad_utf8[] = {
        { "\xc0\xaf", 0, "overlong 2-byte '/'" },
        { "\xc1\xbf", 0, "overlong 2-byte" },
        { "\xe0\x80\xaf", 0, "overlong 3-byte" },
        { "\xe0\x9f\xbf", 0, "overlong 3-byte (U+07FF)" },
        { "\xf0\x80\x80\xaf", 0, "overlong 4-byte" },
        { "\xf0\x8f\xbf\xbf", 0, "overlong 4-byte (U+FFFF)" },
        { "\xed\xa0\x80", 0, "surrogate U+D800" },
        { "\xed\xbf\xbf", 0, "surrogate U+DFFF" },
        { "\xf4\x90\x80\x80", 0, "U+110000" },
        { "\xf5\x80\x80\x80", 0, "lead byte F5" },
        { "\xff", 0, "byte FF" },
        { "\x80", 0, "stray continuation byte" },
        { "a\xc3", 0, "truncated 2-byte at the end" },
        { "\xe4\xb8", 0, "truncated 3-byte" },
        { "\xf0\x9f\x98", 0, "truncated 4-byte" },
        { "\xc3\x28", 0, "bad continuation byte" },
        { "\xe2\x82\x28", 0, "bad third byte" },
        { "a\0b", 3, "NUL" },
};

START_TEST(test_encode_invalid) {
        const Bad *b = &bad_utf8[_i];
        char sentinel[] = "untouched", *got = sentinel;

        if (imap_utf7_encode(b->s, b->len ?: strlen(b->s), &got) != -EINVAL)
                ck_abort_msg("accepted %s", b->why);
        ck_assert_ptr_eq(got, sentinel);
}
END_TEST

START_TEST(test_length_bounded) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        /* Only 'len' bytes are read: the rest of the string is not part of it. */
        ck_assert_int_eq(imap_utf7_decode("&-junk", 2, &a), 0);
        ck_assert_str_eq(a, "&");
        ck_assert_int_eq(imap_utf7_encode("\xc3\xbc\xc3\xbc", 2, &b), 0);
        ck_assert_str_eq(b, "&APw-");
}
END_TEST

/* A random code point, weighted toward the interesting classes. */
static uint32_t random_code_point(uint64_t *st) {
        uint64_t r = th_rand(st);

        switch (r % 6) {
        case 0:
                return 0x20 + (uint32_t) (r >> 8) % 0x5f;           /* printable ASCII */
        case 1:
                return '&';
        case 2:
                return 1 + (uint32_t) (r >> 8) % 0x1f;              /* C0 control */
        case 3:
                return 0x80 + (uint32_t) (r >> 8) % 0x780;          /* 2-byte UTF-8 */
        case 4: {
                uint32_t c = 0x800 + (uint32_t) (r >> 8) % 0xf800;  /* BMP, no surrogates */
                return c >= 0xd800 && c <= 0xdfff ? c - 0x800 : c;
        }
        default:
                return 0x10000 + (uint32_t) (r >> 8) % 0x100000;    /* astral */
        }
}

static size_t put_utf8(char *p, uint32_t c) {
        if (c < 0x80) {
                p[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                p[0] = (char) (0xc0 | (c >> 6));
                p[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                p[0] = (char) (0xe0 | (c >> 12));
                p[1] = (char) (0x80 | ((c >> 6) & 0x3f));
                p[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        p[0] = (char) (0xf0 | (c >> 18));
        p[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        p[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        p[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

START_TEST(test_round_trip_utf8) {
        uint64_t st = 0x1234567;

        for (unsigned n = 0; n < 20000; n++) {
                _cleanup_free_ char *enc = NULL, *dec = NULL, *again = NULL;
                char name[200];
                size_t len = 0, chars = th_rand(&st) % 40;

                for (size_t i = 0; i < chars; i++)
                        len += put_utf8(name + len, random_code_point(&st));

                ck_assert_int_eq(imap_utf7_encode(name, len, &enc), 0);
                for (const char *p = enc; *p; p++)
                        ck_assert(*p >= 0x20 && *p <= 0x7e);
                ck_assert_int_eq(imap_utf7_decode(enc, strlen(enc), &dec), 0);
                ck_assert_uint_eq(strlen(dec), len);
                ck_assert(memcmp(dec, name, len) == 0);
                /* And the other way: the encoding is canonical. */
                ck_assert_int_eq(imap_utf7_encode(dec, len, &again), 0);
                ck_assert_str_eq(again, enc);
        }
}
END_TEST

START_TEST(test_round_trip_mutf7) {
        /* Random strings over the characters that matter to the decoder: any
         * that decodes must re-encode to the same bytes (docs/SECURITY.md I03). */
        static const char alphabet[] = "&-&-AAPwgrA2D3e,+/=xyz09 ~";
        uint64_t st = 0xfeedbeef;
        unsigned accepted = 0, with_runs = 0;

        for (unsigned n = 0; n < 100000; n++) {
                _cleanup_free_ char *dec = NULL, *enc = NULL;
                char s[16];
                size_t len = th_rand(&st) % sizeof(s);

                for (size_t i = 0; i < len; i++)
                        s[i] = alphabet[th_rand(&st) % (sizeof(alphabet) - 1)];
                if (imap_utf7_decode(s, len, &dec) < 0)
                        continue;
                accepted++;
                if (memchr(s, '&', len) && strlen(dec) != len)
                        with_runs++;
                ck_assert_int_eq(imap_utf7_encode(dec, strlen(dec), &enc), 0);
                ck_assert_uint_eq(strlen(enc), len);
                ck_assert(memcmp(enc, s, len) == 0);
        }
        /* The property must actually have been exercised. */
        ck_assert_uint_gt(accepted, 1000);
        ck_assert_uint_gt(with_runs, 50);
}
END_TEST

static Suite *imap_utf7_suite(void) {
        Suite *s = suite_create("imap-utf7");
        TCase *tc;

        tc = tcase_create("valid");
        tcase_add_loop_test(tc, test_encode, 0, (int) ELEMENTSOF(pairs));
        tcase_add_loop_test(tc, test_decode, 0, (int) ELEMENTSOF(pairs));
        tcase_add_test(tc, test_length_bounded);
        suite_add_tcase(s, tc);

        tc = tcase_create("invalid");
        tcase_add_loop_test(tc, test_decode_invalid, 0, (int) ELEMENTSOF(bad_mutf7));
        tcase_add_loop_test(tc, test_encode_invalid, 0, (int) ELEMENTSOF(bad_utf8));
        suite_add_tcase(s, tc);

        tc = tcase_create("round-trip");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_round_trip_utf8);
        tcase_add_test(tc, test_round_trip_mutf7);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(imap_utf7_suite());
}

/* SPDX-License-Identifier: MIT */
/* test-imap-util.c: Int2AP, ParseFlags and MapCRLF against imaplib's behaviour (docs/ENGINE.md, X-40). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "imap-util.h"
#include "macro.h"
#include "th.h"

typedef struct Int2apCase {
        unsigned num;
        const char *s;
} Int2apCase;

static const Int2apCase int2ap[] = {
        { 0, "" },              /* empty, not "A" */
        { 1, "B" },
        { 15, "P" },
        { 16, "BA" },
        { 17, "BB" },           /* imaplib: Int2AP(-17) == b'BB' (abs) */
        { 4096, "BAAA" },       /* */
        { 65535, "PPPP" },      /* */
        { 0xffffffffu, "PPPPPPPP" },
        { 0x80000000u, "IAAAAAAA" },
};

START_TEST(test_X40_int2ap) {
        const Int2apCase *c = &int2ap[_i];
        char buf[IMAP_INT2AP_BUFSZ];

        memset(buf, 'x', sizeof(buf));
        ck_assert_uint_eq(imap_int2ap(c->num, buf, sizeof(buf)), strlen(c->s));
        ck_assert_str_eq(buf, c->s);
}
END_TEST

START_TEST(test_int2ap_short_buffer) {
        char buf[3] = "zz";

        /* snprintf-like: the full length comes back, the text is cut and terminated. */
        ck_assert_uint_eq(imap_int2ap(4096, buf, sizeof(buf)), 4);
        ck_assert_str_eq(buf, "BA");
        ck_assert_uint_eq(imap_int2ap(4096, buf, 1), 4);
        ck_assert_str_eq(buf, "");
        buf[0] = 'q';
        ck_assert_uint_eq(imap_int2ap(4096, NULL, 0), 4);
        ck_assert_uint_eq(imap_int2ap(4096, buf, 0), 4);
        ck_assert_int_eq(buf[0], 'q'); /* size 0: nothing written */
}
END_TEST

typedef struct FlagsCase {
        const char *resp;
        const char *want;       /* flags joined with '|' */
} FlagsCase;

static const FlagsCase flag_cases[] = {
        { "1 (FLAGS (\\Seen \\Deleted))", "\\Seen|\\Deleted" },          /* docs/ENGINE.md */
        { "nothing", "" },                                              /* */
        { "", "" },
        { "1 (FLAGS ())", "" },
        { "1 (FLAGS (   ))", "" },
        { "1 (FLAGS (\\Seen))", "\\Seen" },
        { "1 (FLAGS (a\tb\r\x0b" "c\x0c" "d))", "a|b|c|d" },             /* Python's bytes.split() */
        { "* FLAGS (\\Answered \\Flagged $Junk)", "\\Answered|\\Flagged|$Junk" },
        /* The last 'FLAGS (' on the line wins (greedy '.*'). */
        { "1 (FLAGS (\\Seen) X-FLAGS (a b))", "a|b" },
        /* ...and like imaplib, that includes the tail of PERMANENTFLAGS. */
        { "* OK [PERMANENTFLAGS (\\Deleted \\*)] Limited", "\\Deleted|\\*" },
        /* A last 'FLAGS (' with no ')' after it falls back to an earlier one. */
        { "1 (FLAGS (a) FLAGS (b", "a" },
        { "1 (FLAGS (b", "" },
        /* Case-sensitive, and the space before '(' is required. */
        { "1 (flags (a))", "" },
        { "1 (FLAGS(a))", "" },
        /* 'FLAGS (' must be on the first line; the flags may run past it. */
        { "1 (FLAGS (a\nb))", "a|b" },
        { "1 (X\nFLAGS (a))", "" },
};

START_TEST(test_X40_parse_flags) {
        const FlagsCase *c = &flag_cases[_i];
        _cleanup_free_ char **flags = NULL;
        char joined[256] = "";
        size_t n = 99;

        ck_assert_int_eq(imap_parse_flags(c->resp, strlen(c->resp), &flags, &n), 0);
        ck_assert_ptr_nonnull(flags);
        for (size_t i = 0; i < n; i++) {
                ck_assert_ptr_nonnull(flags[i]);
                if (i > 0)
                        strncat(joined, "|", sizeof(joined) - strlen(joined) - 1);
                strncat(joined, flags[i], sizeof(joined) - strlen(joined) - 1);
        }
        ck_assert_ptr_null(flags[n]);
        ck_assert_str_eq(joined, c->want);
}
END_TEST

START_TEST(test_parse_flags_length_bounded) {
        _cleanup_free_ char **flags = NULL;
        const char *s = "1 (FLAGS (a b)) FLAGS (c)";
        size_t n;

        /* Only the first 15 bytes count: the later FLAGS is not seen. */
        ck_assert_int_eq(imap_parse_flags(s, 15, &flags, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(flags[0], "a");
        ck_assert_str_eq(flags[1], "b");
}
END_TEST

typedef struct CrlfCase {
        const char *in;
        const char *out;
} CrlfCase;

static const CrlfCase crlf_cases[] = {
        { "", "" },
        { "abc", "abc" },
        { "a\r\nb", "a\r\nb" },
        { "a\nb", "a\r\nb" },
        { "a\rb", "a\r\nb" },
        { "a\r\r\nb", "a\r\n\r\nb" },
        { "a\n\rb", "a\r\n\r\nb" },
        { "\r", "\r\n" },
        { "\n", "\r\n" },
        { "\r\n\r\n", "\r\n\r\n" },
        { "x\n\n\r\r", "x\r\n\r\n\r\n\r\n" },
};

START_TEST(test_map_crlf) {
        const CrlfCase *c = &crlf_cases[_i];
        Buf b = BUF_INIT;

        ck_assert_int_eq(imap_map_crlf(c->in, strlen(c->in), &b), 0);
        ck_assert_uint_eq(b.len, strlen(c->out));
        ck_assert(memcmp(b.data, c->out, b.len) == 0);
        buf_done(&b);
}
END_TEST

START_TEST(test_map_crlf_appends_binary) {
        Buf b = BUF_INIT;

        ck_assert_int_eq(buf_append(&b, "head:", 5, 0), 0);
        ck_assert_int_eq(imap_map_crlf("a\0\nb", 4, &b), 0);
        ck_assert_uint_eq(b.len, 10);
        ck_assert(memcmp(b.data, "head:a\0\r\nb", 10) == 0);
        ck_assert_int_eq(b.data[b.len], 0);
        buf_done(&b);
}
END_TEST

START_TEST(test_map_crlf_too_long) {
        Buf b = BUF_INIT;

        /* The doubled worst case would overflow size_t: refused before any read. */
        ck_assert_int_eq(imap_map_crlf("x", SIZE_MAX / 2 + 1, &b), -EMSGSIZE);
        ck_assert_uint_eq(b.len, 0);
        buf_done(&b);
}
END_TEST

/* LIST patterns (RFC 3501 §6.3.8). */
static const struct {
        const char *pattern, *name;
        char delim;
        bool match;
} list_cases[] = {
        { "*", "INBOX", '/', true },
        { "*", "Lists/rust/announce", '/', true },
        { "%", "Lists/rust", '/', false },
        { "%", "Lists", '/', true },
        { "Lists/*", "Lists/rust/announce", '/', true },
        { "Lists/*", "Lists", '/', false },
        { "Lists/%", "Lists/rust", '/', true },
        { "Lists/%", "Lists/rust/announce", '/', false },
        { "Lists/%/announce", "Lists/rust/announce", '/', true },
        { "Lists.%", "Lists.rust", '.', true },
        { "Lists.%", "Lists.rust.x", '.', false },
        { "%", "a/b", 0, true },                /* no hierarchy: % is * */
        { "inbox", "INBOX", '/', true },        /* RFC 3501 §5.1 */
        { "INBOX", "inbox", '/', true },
        { "inbox/*", "INBOX/sub", '/', true },
        { "Inbox*", "INBOXES", '/', false },    /* not the INBOX component: as is */
        { "INBOX*", "INBOXES", '/', true },
        { "lists", "Lists", '/', false },       /* every other name is case-sensitive */
        { "*a*b*c*", "xxaxxbxxcxx", '/', true },
        { "*a*b*c*d", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbccccccccc", '/', false },
        { "", "", '/', true },
        { "", "a", '/', false },
        { "a", "", '/', false },
        { "%%", "", '/', true },
        { "&AOk-t&AOk-", "&AOk-t&AOk-", '/', true },
};

START_TEST(test_list_match) {
        ck_assert_msg(imap_list_match(list_cases[_i].pattern, list_cases[_i].name, list_cases[_i].delim) ==
                      list_cases[_i].match, "'%s' against '%s'", list_cases[_i].pattern, list_cases[_i].name);
}
END_TEST

START_TEST(test_list_is_pattern) {
        ck_assert(imap_list_is_pattern("*"));
        ck_assert(imap_list_is_pattern("Lists/%"));
        ck_assert(!imap_list_is_pattern("INBOX"));
        ck_assert(!imap_list_is_pattern(NULL));
}
END_TEST

START_TEST(test_list_match_long) {
        /* A long name and a pattern full of wildcards: quadratic at worst, never exponential. */
        static char name[8193], pattern[65];

        memset(name, 'a', sizeof(name) - 1);
        for (size_t i = 0; i + 1 < sizeof(pattern); i += 2)
                memcpy(pattern + i, "*a", 2);
        pattern[sizeof(pattern) - 2] = 'b';
        ck_assert(!imap_list_match(pattern, name, '/'));
}
END_TEST

static Suite *imap_util_suite(void) {
        Suite *s = suite_create("imap-util");
        TCase *tc;

        tc = tcase_create("int2ap");
        tcase_add_loop_test(tc, test_X40_int2ap, 0, (int) ELEMENTSOF(int2ap));
        tcase_add_test(tc, test_int2ap_short_buffer);
        suite_add_tcase(s, tc);

        tc = tcase_create("flags");
        tcase_add_loop_test(tc, test_X40_parse_flags, 0, (int) ELEMENTSOF(flag_cases));
        tcase_add_test(tc, test_parse_flags_length_bounded);
        suite_add_tcase(s, tc);

        tc = tcase_create("crlf");
        tcase_add_loop_test(tc, test_map_crlf, 0, (int) ELEMENTSOF(crlf_cases));
        tcase_add_test(tc, test_map_crlf_appends_binary);
        tcase_add_test(tc, test_map_crlf_too_long);
        suite_add_tcase(s, tc);

        tc = tcase_create("list");
        tcase_add_loop_test(tc, test_list_match, 0, (int) ELEMENTSOF(list_cases));
        tcase_add_test(tc, test_list_is_pattern);
        tcase_add_test(tc, test_list_match_long);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(imap_util_suite());
}

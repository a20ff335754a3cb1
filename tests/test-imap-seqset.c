/* SPDX-License-Identifier: MIT */
/* test-imap-seqset.c: sequence-set validation and iteration (docs/SECURITY.md G08). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "imap-seqset.h"
#include "macro.h"
#include "th.h"

typedef struct SetCase {
        const char *s;
        bool star;
        int want;               /* ranges, or -EBADMSG */
        const char *ranges;     /* "lo-hi,lo-hi" as iterated */
} SetCase;

static const SetCase sets[] = {
        { "1",                     false, 1, "1-1" },
        { "1:4294967295",          false, 1, "1-4294967295" },
        { "5:1",                   false, 1, "1-5" },           /* descending (defects #40) */
        { "304,319:320",           false, 2, "304-304,319-320" },
        { "1:*",                   true,  1, "1-4294967295" },
        { "*",                     true,  1, "4294967295-4294967295" },
        { "*:1",                   true,  1, "1-4294967295" },
        { "1:*",                   false, -EBADMSG, NULL },
        { "",                      false, -EBADMSG, NULL },
        { "1,2,",                  false, -EBADMSG, NULL },     /* mutt CVE-2021-32055 */
        { ",1",                    false, -EBADMSG, NULL },
        { "1,,2",                  false, -EBADMSG, NULL },
        { "0",                     false, -EBADMSG, NULL },
        { "1:0",                   false, -EBADMSG, NULL },
        { "01",                    false, -EBADMSG, NULL },     /* nz-number: no leading zero (RFC 3501 §9) */
        { "1:02",                  false, -EBADMSG, NULL },
        { "10,3",                  false, 2, "10-10,3-3" },
        { "4294967296",            false, -EBADMSG, NULL },
        { "1:",                    false, -EBADMSG, NULL },
        { ":1",                    false, -EBADMSG, NULL },
        { "1:2:3",                 false, -EBADMSG, NULL },
        { "1 2",                   false, -EBADMSG, NULL },
        { "a",                     false, -EBADMSG, NULL },
        { "-1",                    false, -EBADMSG, NULL },
};

START_TEST(test_sets) {
        const SetCase *c = &sets[_i];
        size_t n = strlen(c->s);
        char got[256] = "";
        ImapSeqsetIter it;
        uint32_t lo, hi;
        int r;

        ck_assert_int_eq(imap_seqset_validate(c->s, n, c->star), c->want);
        if (c->want < 0)
                return;
        it = imap_seqset_iter(c->s, n);
        while ((r = imap_seqset_next(&it, &lo, &hi)) > 0) {
                char one[32];
                snprintf(one, sizeof(one), "%s%u-%u", got[0] ? "," : "", lo, hi);
                strncat(got, one, sizeof(got) - strlen(got) - 1);
        }
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(got, c->ranges);
}
END_TEST

START_TEST(test_many_ranges_not_expanded) {
        /* CVE-2025-25186 shape: thousands of wide ranges; counted, never expanded. */
        static char s[200000];
        size_t len = 0;
        int n = 0;

        for (unsigned i = 0; len + 40 < sizeof(s); i++, n++)
                len += (size_t) snprintf(s + len, sizeof(s) - len, "%s%u:%u", i ? "," : "",
                                         i * 2000000u % 2000000000u + 1, i * 2000000u % 2000000000u + 1000000u);
        ck_assert_int_eq(imap_seqset_validate(s, len, false), n);
}
END_TEST

START_TEST(test_iter_bad_input) {
        ImapSeqsetIter it = imap_seqset_iter("1,x", 3);
        uint32_t lo, hi;

        ck_assert_int_eq(imap_seqset_next(&it, &lo, &hi), 1);
        ck_assert_int_eq(imap_seqset_next(&it, &lo, &hi), -EBADMSG);
        ck_assert_int_eq(imap_seqset_next(&it, &lo, &hi), 0);
}
END_TEST

static Suite *imap_seqset_suite(void) {
        Suite *s = suite_create("imap-seqset");
        TCase *tc = tcase_create("seqset");

        tcase_add_loop_test(tc, test_sets, 0, (int) ELEMENTSOF(sets));
        tcase_add_test(tc, test_many_ranges_not_expanded);
        tcase_add_test(tc, test_iter_bad_input);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(imap_seqset_suite());
}

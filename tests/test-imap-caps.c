/* SPDX-License-Identifier: MIT */
/*
 * test-imap-caps.c: the compact capability list: what each kind of name costs, order, case,
 * lookups, replacement and clearing.  The session's use of it is in test-imap-session.c.
 */
#include <string.h>

#include "imap-caps.h"
#include "th.h"

/* Atoms as the parser hands them out: flat, no lists. */
static size_t atoms(const char *const *names, ImapArg *v) {
        size_t n = 0;

        for (; names[n]; n++)
                v[n] = (ImapArg) { .type = IMAP_ARG_ATOM, .str = names[n], .len = strlen(names[n]) };
        return n;
}

START_TEST(test_costs) {
        /* A known name is one byte, any other its length and two; plus the end byte. */
        static const char *const names[] = { "IMAP4rev1", "IDLE", "auth=plain", "X-FOO", "RIGHTS=texk", NULL };
        ImapCaps c = IMAP_CAPS_INIT;
        ImapArg v[8];
        size_t n = atoms(names, v);

        ck_assert_uint_eq(imap_caps_allocated(&c), 0);
        ck_assert_int_eq(imap_caps_set(&c, v, n), 0);
        ck_assert_uint_eq(c.n, 5);
        ck_assert_uint_eq(imap_caps_allocated(&c), 4 + (1 + 5 + 1) + 1);
        ck_assert_str_eq(imap_caps_get(&c, 0), "IMAP4REV1");
        ck_assert_str_eq(imap_caps_get(&c, 2), "AUTH=PLAIN");
        ck_assert_str_eq(imap_caps_get(&c, 3), "X-FOO");
        ck_assert_str_eq(imap_caps_get(&c, 4), "RIGHTS=TEXK");
        ck_assert_ptr_null(imap_caps_get(&c, 5));
        imap_caps_clear(&c);
        ck_assert_uint_eq(c.n, 0);
        ck_assert_ptr_null(c.data);
        ck_assert_uint_eq(imap_caps_allocated(&c), 0);
}
END_TEST

START_TEST(test_lookup) {
        static const char *const names[] = { "X-A=1", "IDLE", "x-b", "IDLE", "\xc3\xa9t\xc3\xa9", NULL };
        ImapCaps c = IMAP_CAPS_INIT;
        ImapArg v[8];

        ck_assert(!imap_caps_has(&c, "IDLE"));
        ck_assert_int_eq(imap_caps_set(&c, v, atoms(names, v)), 0);
        ck_assert(imap_caps_has(&c, "idle"));
        ck_assert(imap_caps_has(&c, "X-B"));
        ck_assert(imap_caps_has(&c, "x-a=1"));
        /* Whole names only. */
        ck_assert(!imap_caps_has(&c, "X-A"));
        ck_assert(!imap_caps_has(&c, "X"));
        ck_assert(!imap_caps_has(&c, "STARTTLS"));
        /* Repetitions and order as sent; 8-bit bytes are kept, only ASCII is upper-cased. */
        ck_assert_uint_eq(c.n, 5);
        ck_assert_str_eq(imap_caps_get(&c, 3), "IDLE");
        ck_assert_str_eq(imap_caps_get(&c, 4), "\xc3\xa9T\xc3\xa9");
        ck_assert(imap_caps_has(&c, "\xc3\xa9t\xc3\xa9"));
        imap_caps_clear(&c);
}
END_TEST

START_TEST(test_replace) {
        static const char *const first[] = { "IMAP4rev1", "STARTTLS", "X-ONE", NULL };
        static const char *const second[] = { "IMAP4rev1", "IDLE", NULL };
        ImapCaps c = IMAP_CAPS_INIT;
        ImapArg v[8];

        ck_assert_int_eq(imap_caps_set(&c, v, atoms(first, v)), 0);
        ck_assert_int_eq(imap_caps_set(&c, v, atoms(second, v)), 0);
        ck_assert_uint_eq(c.n, 2);
        ck_assert(!imap_caps_has(&c, "STARTTLS"));
        ck_assert(!imap_caps_has(&c, "X-ONE"));
        ck_assert(imap_caps_has(&c, "IDLE"));
        /* An empty list is a list: "* CAPABILITY" with nothing after it. */
        ck_assert_int_eq(imap_caps_set(&c, v, 0), 0);
        ck_assert_uint_eq(c.n, 0);
        ck_assert_uint_eq(imap_caps_allocated(&c), 1);
        ck_assert(!imap_caps_has(&c, "IMAP4REV1"));
        imap_caps_clear(&c);
}
END_TEST

static Suite *imap_caps_suite(void) {
        Suite *s = suite_create("imap-caps");
        TCase *tc = tcase_create("caps");

        tcase_add_test(tc, test_costs);
        tcase_add_test(tc, test_lookup);
        tcase_add_test(tc, test_replace);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(imap_caps_suite());
}

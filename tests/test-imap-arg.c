/* SPDX-License-Identifier: MIT */
/* test-imap-arg.c: strict number conversion (docs/SECURITY.md INV-7, G07, G10) and value helpers. */
#include <errno.h>
#include <string.h>

#include "imap-arg.h"
#include "macro.h"
#include "th.h"

typedef struct NumCase {
        const char *s;
        int r32, rnz, r63;      /* expected return of u32, nz32, u63 */
        uint64_t v;             /* value when accepted */
} NumCase;

static const NumCase nums[] = {
        { "0",                    0,        -EBADMSG, 0,       0 },
        { "1",                    0,        0,        0,       1 },
        /* number = 1*DIGIT allows leading zeros, nz-number = digit-nz *DIGIT does not (RFC 3501 §9). */
        { "00042",                0,        -EBADMSG, 0,       42 },
        { "01",                   0,        -EBADMSG, 0,       1 },
        { "00",                   0,        -EBADMSG, 0,       0 },
        { "10",                   0,        0,        0,       10 },
        { "4294967295",           0,        0,        0,       UINT32_MAX },
        { "4294967296",           -ERANGE,  -ERANGE,  0,       UINT64_C(4294967296) },
        { "9223372036854775807",  -ERANGE,  -ERANGE,  0,       INT64_MAX },
        { "9223372036854775808",  -ERANGE,  -ERANGE,  -ERANGE, 0 },
        { "18446744073709551615", -ERANGE,  -ERANGE,  -ERANGE, 0 },
        { "18446744073709551616", -ERANGE,  -ERANGE,  -ERANGE, 0 },
        { "000000000000000000001", -ERANGE, -EBADMSG, -ERANGE, 0 },  /* 21 digits */
        { "",                     -EBADMSG, -EBADMSG, -EBADMSG, 0 },
        { "-1",                   -EBADMSG, -EBADMSG, -EBADMSG, 0 },
        { "+1",                   -EBADMSG, -EBADMSG, -EBADMSG, 0 },
        { " 1",                   -EBADMSG, -EBADMSG, -EBADMSG, 0 },
        { "1 ",                   -EBADMSG, -EBADMSG, -EBADMSG, 0 },
        { "1e6",                  -EBADMSG, -EBADMSG, -EBADMSG, 0 },
        { "3.45027e+06",          -EBADMSG, -EBADMSG, -EBADMSG, 0 },
        { "0x10",                 -EBADMSG, -EBADMSG, -EBADMSG, 0 },
};

START_TEST(test_numbers) {
        const NumCase *c = &nums[_i];
        size_t n = strlen(c->s);
        uint32_t v32 = 7;
        uint64_t v64 = 7;

        ck_assert_int_eq(imap_parse_u32(c->s, n, &v32), c->r32);
        if (c->r32 == 0)
                ck_assert_uint_eq(v32, c->v);
        ck_assert_int_eq(imap_parse_nz32(c->s, n, &v32), c->rnz);
        ck_assert_int_eq(imap_parse_u63(c->s, n, &v64), c->r63);
        if (c->r63 == 0)
                ck_assert_uint_eq(v64, c->v);
}
END_TEST

START_TEST(test_huge_digit_run) {
        /* G10: a 5 000-digit "size" is refused without arithmetic on it. */
        char s[5000];
        uint64_t v;

        memset(s, '9', sizeof(s));
        ck_assert_int_eq(imap_parse_u63(s, sizeof(s), &v), -ERANGE);
        s[4000] = 'x';
        ck_assert_int_eq(imap_parse_u63(s, sizeof(s), &v), -EBADMSG);
}
END_TEST

START_TEST(test_arg_helpers) {
        ImapArg atom = { .type = IMAP_ARG_ATOM, .str = "NiL", .len = 3 };
        ImapArg num = { .type = IMAP_ARG_ATOM, .str = "12", .len = 2 };
        ImapArg str = { .type = IMAP_ARG_STRING, .str = "12", .len = 2 };
        uint32_t v;
        uint64_t w;

        ck_assert(imap_arg_atom_equal(&atom, "nil"));
        ck_assert(!imap_arg_atom_equal(&atom, "ni"));
        ck_assert(!imap_arg_atom_equal(&str, "12"));
        ck_assert_int_eq(imap_arg_get_u32(&num, &v), 0);
        ck_assert_uint_eq(v, 12);
        ck_assert_int_eq(imap_arg_get_nz32(&num, &v), 0);
        ck_assert_int_eq(imap_arg_get_u63(&num, &w), 0);
        ck_assert_uint_eq(w, 12);
        /* A quoted "12" is a string, not a number (RFC 3501 §4.2). */
        ck_assert_int_eq(imap_arg_get_u32(&str, &v), -EBADMSG);
        ck_assert_int_eq(imap_arg_get_nz32(&str, &v), -EBADMSG);
        ck_assert_int_eq(imap_arg_get_u63(&str, &w), -EBADMSG);
        ck_assert(imap_arg_is_string(&str));
        ck_assert(!imap_arg_is_string(&(ImapArg) { .type = IMAP_ARG_NIL }));
}
END_TEST

static Suite *imap_arg_suite(void) {
        Suite *s = suite_create("imap-arg");
        TCase *tc = tcase_create("numbers");

        tcase_add_loop_test(tc, test_numbers, 0, (int) ELEMENTSOF(nums));
        tcase_add_test(tc, test_huge_digit_run);
        tcase_add_test(tc, test_arg_helpers);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(imap_arg_suite());
}

/* SPDX-License-Identifier: MIT */
/* test-buf.c: the growable buffer: growth, caps, shrinking. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "th.h"

START_TEST(test_append_and_terminate) {
        Buf b = BUF_INIT;

        ck_assert_int_eq(buf_append(&b, "abc", 3, 0), 0);
        ck_assert_int_eq(buf_append(&b, "", 0, 0), 0);
        ck_assert_int_eq(buf_append(&b, "de", 2, 0), 0);
        ck_assert_uint_eq(b.len, 5);
        ck_assert_str_eq(b.data, "abcde");
        ck_assert_uint_gt(b.cap, b.len);
        buf_done(&b);
        ck_assert_ptr_null(b.data);
        ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(test_cap_exact) {
        Buf b = BUF_INIT;

        /* Exactly at the cap is fine; one more byte is -EMSGSIZE and changes nothing. */
        ck_assert_int_eq(buf_append(&b, "0123456789", 10, 10), 0);
        ck_assert_int_eq(buf_append(&b, "x", 1, 10), -EMSGSIZE);
        ck_assert_uint_eq(b.len, 10);
        ck_assert_str_eq(b.data, "0123456789");
        /* The allocation never exceeds the cap plus the NUL byte. */
        ck_assert_uint_le(b.cap, 11);
        buf_done(&b);
}
END_TEST

START_TEST(test_reserve_overflow) {
        Buf b = BUF_INIT;

        ck_assert_int_eq(buf_append(&b, "a", 1, 0), 0);
        ck_assert_int_eq(buf_reserve(&b, SIZE_MAX, 0), -EMSGSIZE);
        ck_assert_int_eq(buf_reserve(&b, SIZE_MAX - 1, 0), -EMSGSIZE);
        ck_assert_uint_eq(b.len, 1);
        buf_done(&b);
}
END_TEST

START_TEST(test_growth_is_geometric) {
        Buf b = BUF_INIT;
        unsigned reallocs = 0;
        size_t last = 0;

        for (unsigned i = 0; i < 100000; i++) {
                ck_assert_int_eq(buf_append(&b, "x", 1, 0), 0);
                if (b.cap != last) {
                        reallocs++;
                        last = b.cap;
                }
        }
        ck_assert_uint_le(reallocs, 20);
        buf_done(&b);
}
END_TEST

START_TEST(test_shrink) {
        Buf b = BUF_INIT;
        char big[5000];

        memset(big, 'x', sizeof(big));
        ck_assert_int_eq(buf_append(&b, big, sizeof(big), 0), 0);
        buf_shrink(&b, 8192);
        ck_assert_uint_eq(b.len, 0);
        ck_assert_ptr_nonnull(b.data); /* kept: under the threshold */
        ck_assert_int_eq(buf_append(&b, big, sizeof(big), 0), 0);
        buf_shrink(&b, 1024);
        ck_assert_ptr_null(b.data); /* released */
        ck_assert_uint_eq(b.cap, 0);
        buf_clear(&b);
        buf_done(&b);
}
END_TEST

static Suite *buf_suite(void) {
        Suite *s = suite_create("buf");
        TCase *tc = tcase_create("buf");

        tcase_add_test(tc, test_append_and_terminate);
        tcase_add_test(tc, test_cap_exact);
        tcase_add_test(tc, test_reserve_overflow);
        tcase_add_test(tc, test_growth_is_geometric);
        tcase_add_test(tc, test_shrink);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(buf_suite());
}

/* SPDX-License-Identifier: MIT */
/* test-log.c: levels, sd-daemon prefixes, %m from the error argument, escaping. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "th.h"

/* Run fn with stderr redirected; return what it wrote. */
static char *capture(void (*fn)(void)) {
        static char out[4096];
        FILE *f = tmpfile();
        int saved = dup(STDERR_FILENO);
        size_t n;

        ck_assert_ptr_nonnull(f);
        fflush(stderr);
        ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
        fn();
        fflush(stderr);
        ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
        close(saved);
        rewind(f);
        n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = 0;
        fclose(f);
        return out;
}

static void emit_levels(void) {
        log_set_prefix(1);
        log_set_max_level(LOG_INFO);
        log_debug("hidden %d", 1);
        log_info("shown %d", 2);
        log_error("bad %s", "thing");
}

START_TEST(test_levels_and_prefix) {
        ck_assert_str_eq(capture(emit_levels), "<6>shown 2\n<3>bad thing\n");
}
END_TEST

static int ret_errno;

static void emit_errno(void) {
        log_set_prefix(0);
        errno = EBADF;
        ret_errno = log_error_errno(-ECONNREFUSED, "connect: %m");
}

START_TEST(test_errno) {
        ck_assert_str_eq(capture(emit_errno), "connect: Connection refused\n");
        ck_assert_int_eq(ret_errno, -ECONNREFUSED);
        /* errno is left as it was. */
        ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(test_level_names) {
        ck_assert_int_eq(log_level_from_string("debug"), LOG_DEBUG);
        ck_assert_int_eq(log_level_from_string("warning"), LOG_WARNING);
        ck_assert_int_eq(log_level_from_string("warn"), LOG_WARNING);
        ck_assert_int_eq(log_level_from_string("error"), LOG_ERR);
        ck_assert_int_eq(log_level_from_string("3"), 3);
        ck_assert_int_eq(log_level_from_string("8"), -EINVAL);
        ck_assert_int_eq(log_level_from_string("loud"), -EINVAL);
        ck_assert_int_eq(log_level_from_string(NULL), -EINVAL);
        log_set_max_level(99);
        ck_assert_int_eq(log_get_max_level(), LOG_DEBUG);
}
END_TEST

START_TEST(test_escape) {
        char buf[64];

        ck_assert_str_eq(log_escape("a\x1b[31mb\r\n", 9, buf, sizeof(buf)), "a\\x1b[31mb\\x0d\\x0a");
        ck_assert_str_eq(log_escape("Gr\xc3\xbc\xc3\x9f", 6, buf, sizeof(buf)), "Gr\xc3\xbc\xc3\x9f");
        /* Broken UTF-8 is escaped byte by byte; a backslash is escaped too. */
        ck_assert_str_eq(log_escape("\xc3x\\", 3, buf, sizeof(buf)), "\\xc3x\\x5c");
        ck_assert_str_eq(log_escape("a\0b", 3, buf, sizeof(buf)), "a\\x00b");
        /* Cut to fit, never in the middle of an escape or a character. */
        ck_assert_str_eq(log_escape("abcdef", 6, buf, 4), "abc");
        ck_assert_str_eq(log_escape("a\x01", 2, buf, 5), "a");
        ck_assert_str_eq(log_escape("a\xc3\xbc", 3, buf, 3), "a");
}
END_TEST

static Suite *log_suite(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("log");

        tcase_add_test(tc, test_levels_and_prefix);
        tcase_add_test(tc, test_errno);
        tcase_add_test(tc, test_level_names);
        tcase_add_test(tc, test_escape);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(log_suite());
}

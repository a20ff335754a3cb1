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
        /* An escaped character goes whole or not at all. */
        ck_assert_str_eq(log_escape("a\xe2\x80\xae", 4, buf, 13), "a");
        ck_assert_str_eq(log_escape("a\xe2\x80\xae", 4, buf, 14), "a\\xe2\\x80\\xae");
}
END_TEST

/* One row per class of untrusted input (catalogue case G13): what goes in, what a log line
 * must show.  Printable text in any script stays; everything that can move the cursor,
 * break the line, reorder or hide text, and every byte that is not well-formed UTF-8,
 * becomes \xHH per byte. */
static const struct {
        const char *what, *in;
        size_t len;
        const char *want;
} escape_table[] = {
#define ROW(what, in, want) { what, in, sizeof(in) - 1, want }
        /* Kept as they are. */
        ROW("ascii", "hello, world ~", "hello, world ~"),
        ROW("latin", "caf\xc3\xa9", "caf\xc3\xa9"),
        ROW("cjk", "\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac"),
        ROW("emoji", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),
        ROW("zwj kept", "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"),
        ROW("max code point is valid, but a noncharacter", "\xf4\x8f\xbf\xbf", "\\xf4\\x8f\\xbf\\xbf"),
        ROW("last code point before the surrogates", "\xed\x9f\xbf", "\xed\x9f\xbf"),
        ROW("U+FFFD", "\xef\xbf\xbd", "\xef\xbf\xbd"),
        ROW("private use", "\xee\x80\x80", "\xee\x80\x80"),
        /* ASCII controls, as before. */
        ROW("esc", "a\x1b[31m", "a\\x1b[31m"),
        ROW("crlf", "a\r\n", "a\\x0d\\x0a"),
        ROW("tab", "\t", "\\x09"),
        ROW("del", "\x7f", "\\x7f"),
        ROW("nul", "a\0b", "a\\x00b"),
        ROW("backslash", "\\x41", "\\x5cx41"),
        /* C1 controls (U+0080..U+009F) in UTF-8. */
        ROW("c1 first", "\xc2\x80", "\\xc2\\x80"),
        ROW("c1 NEL", "a\xc2\x85z", "a\\xc2\\x85z"),
        ROW("c1 CSI", "\xc2\x9b\x33\x31m", "\\xc2\\x9b31m"),
        ROW("c1 last", "\xc2\x9f", "\\xc2\\x9f"),
        ROW("nbsp is printable", "\xc2\xa0", "\xc2\xa0"),
        ROW("soft hyphen", "\xc2\xad", "\\xc2\\xad"),
        /* Line and paragraph separators. */
        ROW("U+2028", "\xe2\x80\xa8", "\\xe2\\x80\\xa8"),
        ROW("U+2029", "\xe2\x80\xa9", "\\xe2\\x80\\xa9"),
        /* Bidi controls and invisible format characters. */
        ROW("ALM U+061C", "\xd8\x9c", "\\xd8\\x9c"),
        ROW("LRM U+200E", "\xe2\x80\x8e", "\\xe2\\x80\\x8e"),
        ROW("RLM U+200F", "\xe2\x80\x8f", "\\xe2\\x80\\x8f"),
        ROW("LRE U+202A", "\xe2\x80\xaa", "\\xe2\\x80\\xaa"),
        ROW("RLO U+202E", "evil\xe2\x80\xaetxt.exe", "evil\\xe2\\x80\\xaetxt.exe"),
        ROW("LRI U+2066", "\xe2\x81\xa6", "\\xe2\\x81\\xa6"),
        ROW("PDI U+2069", "\xe2\x81\xa9", "\\xe2\\x81\\xa9"),
        ROW("ZWSP U+200B", "\xe2\x80\x8b", "\\xe2\\x80\\x8b"),
        ROW("BOM U+FEFF", "\xef\xbb\xbf", "\\xef\\xbb\\xbf"),
        ROW("tag U+E0041", "\xf3\xa0\x81\x81", "\\xf3\\xa0\\x81\\x81"),
        ROW("noncharacter U+FFFE", "\xef\xbf\xbe", "\\xef\\xbf\\xbe"),
        /* Overlong forms. */
        ROW("overlong slash C0 AF", "\xc0\xaf", "\\xc0\\xaf"),
        ROW("overlong NUL C0 80", "\xc0\x80", "\\xc0\\x80"),
        ROW("overlong C1 7F", "\xc1\xbf", "\\xc1\\xbf"),
        ROW("overlong 3-byte slash", "\xe0\x80\xaf", "\\xe0\\x80\\xaf"),
        ROW("overlong 3-byte CSI", "\xe0\x82\x9b", "\\xe0\\x82\\x9b"),
        ROW("overlong 4-byte", "\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf"),
        ROW("overlong 4-byte U+FFFF", "\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf"),
        /* UTF-16 surrogates encoded in UTF-8 (CESU-8). */
        ROW("high surrogate", "\xed\xa0\x80", "\\xed\\xa0\\x80"),
        ROW("low surrogate", "\xed\xbf\xbf", "\\xed\\xbf\\xbf"),
        ROW("surrogate pair", "\xed\xa0\xbd\xed\xb8\x80", "\\xed\\xa0\\xbd\\xed\\xb8\\x80"),
        /* Above U+10FFFF. */
        ROW("U+110000", "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"),
        ROW("F5 lead", "\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80"),
        ROW("5-byte form", "\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80"),
        ROW("FE FF", "\xfe\xff", "\\xfe\\xff"),
        /* Truncated sequences and stray continuation bytes. */
        ROW("truncated 2", "\xc3", "\\xc3"),
        ROW("truncated 3 then ascii", "\xe6\x97x", "\\xe6\\x97x"),
        ROW("truncated 4 then valid", "\xf0\x9f\x98\xc3\xa9", "\\xf0\\x9f\\x98\xc3\xa9"),
        ROW("lone continuation", "a\x80z", "a\\x80z"),
        ROW("lead then control", "\xc3\x1b", "\\xc3\\x1b"),
#undef ROW
};

START_TEST(test_escape_classes) {
        char buf[128];

        for (size_t i = 0; i < ELEMENTSOF(escape_table); i++) {
                const char *got = log_escape(escape_table[i].in, escape_table[i].len, buf, sizeof(buf));

                ck_assert_msg(strcmp(got, escape_table[i].want) == 0, "%s: got '%s', want '%s'",
                              escape_table[i].what, got, escape_table[i].want);
                /* Four bytes out per byte in, at most: callers size their buffers by it. */
                ck_assert_uint_le(strlen(got), 4 * escape_table[i].len);
        }
}
END_TEST

/* Every byte value on its own, and every two-byte sequence: only printable ASCII and
 * printable, well-formed UTF-8 come out unescaped, so no output byte is a control or
 * starts anything but a kept character. */
START_TEST(test_escape_exhaustive) {
        char in[2], buf[16];

        for (unsigned a = 0; a < 256; a++) {
                in[0] = (char) a;
                log_escape(in, 1, buf, sizeof(buf));
                if (a >= 0x20 && a < 0x7f && a != '\\')
                        ck_assert_uint_eq(strlen(buf), 1);
                else
                        ck_assert_uint_eq(strlen(buf), 4);
                for (unsigned b = 0; b < 256; b++) {
                        in[1] = (char) b;
                        log_escape(in, 2, buf, sizeof(buf));
                        for (const char *p = buf; *p; p++)
                                ck_assert_msg((unsigned char) *p >= 0x20 && *p != 0x7f, "%02x %02x", a, b);
                        /* C2 80..9F is C1: escaped, both bytes; C3 xx is Latin-1, kept; C0
                         * and C1 lead only overlong forms. */
                        if (a == 0xc2 && b >= 0x80 && b <= 0x9f) {
                                char want[16];

                                (void) snprintf(want, sizeof(want), "\\xc2\\x%02x", b);
                                ck_assert_str_eq(buf, want);
                        }
                        if (a == 0xc3 && b >= 0x80 && b <= 0xbf)
                                ck_assert_uint_eq(strlen(buf), 2);
                        if ((a == 0xc0 || a == 0xc1) && b >= 0x80 && b <= 0xbf)
                                ck_assert_uint_eq(strlen(buf), 8);
                }
        }
}
END_TEST

/* log_text_printable() is true exactly where log_escape() would keep the text as it is,
 * backslashes aside (they are printable, only escaped so that escapes read back). */
static bool kept_whole(const char *in, size_t len) {
        char plain[256], buf[1024];
        size_t n = 0;

        for (size_t i = 0; i < len && n < sizeof(plain); i++)
                if (in[i] != '\\')
                        plain[n++] = in[i];
        log_escape(plain, n, buf, sizeof(buf));
        return strlen(buf) == n && memcmp(buf, plain, n) == 0;
}

START_TEST(test_text_printable) {
        char in[2];

        for (size_t i = 0; i < ELEMENTSOF(escape_table); i++)
                ck_assert_msg(log_text_printable(escape_table[i].in, escape_table[i].len) ==
                              kept_whole(escape_table[i].in, escape_table[i].len), "%s", escape_table[i].what);
        for (unsigned a = 0; a < 256; a++)
                for (unsigned b = 0; b < 256; b++) {
                        in[0] = (char) a;
                        in[1] = (char) b;
                        ck_assert_msg(log_text_printable(in, 2) == kept_whole(in, 2), "%02x %02x", a, b);
                }
#define PRINTABLE(lit) log_text_printable(lit, sizeof(lit) - 1)
        ck_assert(PRINTABLE(""));
        ck_assert(PRINTABLE("a\\b <i>caf\xc3\xa9</i>"));
        ck_assert(!PRINTABLE("Evil\r\nLine"));
        ck_assert(!PRINTABLE("Bidi\xe2\x80\xaetxt"));
        ck_assert(!PRINTABLE("x\0y"));
#undef PRINTABLE
}
END_TEST

static Suite *log_suite(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("log");

        tcase_add_test(tc, test_levels_and_prefix);
        tcase_add_test(tc, test_errno);
        tcase_add_test(tc, test_level_names);
        tcase_add_test(tc, test_escape);
        tcase_add_test(tc, test_escape_classes);
        tcase_add_test(tc, test_escape_exhaustive);
        tcase_add_test(tc, test_text_printable);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(log_suite());
}

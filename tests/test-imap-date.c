/* SPDX-License-Identifier: MIT */
/*
 * test-imap-date.c: INTERNALDATE parsing and formatting (docs/ENGINE.md S-01..S-04,
 * X-40, quirk Q7): instants through UTC, TZ with DST, locale independence,
 * and every field bound.
 */
#include <errno.h>
#include <ftw.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <spawn.h>
#include <time.h>

#include "imap-date.h"
#include "macro.h"
#include "th.h"

#define T2000 ((time_t) 946684800) /* 2000-01-01 00:00:00 UTC */

static void set_tz(const char *tz) {
        ck_assert_int_eq(setenv("TZ", tz, 1), 0);
        tzset();
}

typedef struct ParseCase {
        const char *s;
        int want;
        time_t t;
} ParseCase;

static const ParseCase parses[] = {
        { "01-Jan-2000 00:00:00 +0000",   0, T2000 },
        { "\"01-Jan-2000 00:00:00 +0000\"", 0, T2000 },
        { "01-Jan-2000 11:30:00 +1130",   0, T2000 },               /* S-01 */
        { "31-Dec-1999 12:30:00 -1130",   0, T2000 },               /* S-01 */
        { " 1-Jan-2000 00:00:00 +0000",   0, T2000 },               /* leading-space day */
        { "17-Jul-1996 02:44:25 -0700",   0, 837596665 },           /* RFC 3501 §6.3.11 example */
        { "29-Feb-2000 00:00:00 +0000",   0, 951782400 },           /* leap year */
        { "18-May-2033 05:33:20 +0200",   0, 2000000000 },
        { "01-Jan-1970 00:00:00 +0000",   0, 0 },
        { "31-Dec-1969 23:59:59 +0000",   0, -1 },
        { "31-Dec-9999 23:59:59 +0000",   0, 253402300799 },
        { "01-Jan-0000 00:00:00 +0000",   0, -62167219200 },
        { "31-Dec-1999 23:59:60 +0000",   0, T2000 },               /* leap second: the next second */
        { "01-Jan-2000 00:00:00 +2359",   0, T2000 - 86340 },
        { "01-Jan-2000 00:00:00 -2359",   0, T2000 + 86340 },
        { "01-Foo-2000 00:00:00 +0000",   -EINVAL, 0 },             /* Q7: unknown month, no crash */
        { "01-JAN-2000 00:00:00 +0000",   -EINVAL, 0 },             /* imaplib's [A-Z][a-z][a-z] */
        { "01-jan-2000 00:00:00 +0000",   -EINVAL, 0 },
        { "01-Jan-2000 24:00:00 +0000",   -EINVAL, 0 },             /* hour 24 */
        { "01-Jan-2000 00:60:00 +0000",   -EINVAL, 0 },             /* minute 60 */
        { "01-Jan-2000 00:00:61 +0000",   -EINVAL, 0 },
        { "32-Jan-2000 00:00:00 +0000",   -EINVAL, 0 },             /* day 32 */
        { "00-Jan-2000 00:00:00 +0000",   -EINVAL, 0 },
        { " 0-Jan-2000 00:00:00 +0000",   -EINVAL, 0 },
        { "30-Feb-2000 00:00:00 +0000",   -EINVAL, 0 },
        { "29-Feb-1900 00:00:00 +0000",   -EINVAL, 0 },             /* not a leap year */
        { "31-Apr-2000 00:00:00 +0000",   -EINVAL, 0 },
        { "01-Jan-2000 00:00:00 +2400",   -EINVAL, 0 },             /* zone +2400 */
        { "01-Jan-2000 00:00:00 +0060",   -EINVAL, 0 },
        { "01-Jan-2000 00:00:00 0000",    -EINVAL, 0 },
        { "01-Jan-2000 00:00:00 *0000",   -EINVAL, 0 },
        { "1-Jan-2000 00:00:00 +0000",    -EINVAL, 0 },
        { "01-Jan-00 00:00:00 +0000",     -EINVAL, 0 },
        { "01-Jan-2000 0:00:00 +0000",    -EINVAL, 0 },
        { "01-Jan-2000  00:00:00 +0000",  -EINVAL, 0 },
        { "01-Jan-2000 00:00:00 +0000 ",  -EINVAL, 0 },
        { "\"01-Jan-2000 00:00:00 +0000", -EINVAL, 0 },
        { "01-Jan-2000 00:00:00 +0000\"", -EINVAL, 0 },
        { "bad",                          -EINVAL, 0 },
        { "",                             -EINVAL, 0 },
        { "41-Jan-2000 00:00:00 +0000",   -EINVAL, 0 },
        { "0a-Jan-2000 00:00:00 +0000",   -EINVAL, 0 },
};

START_TEST(test_parse) {
        const ParseCase *c = &parses[_i];
        time_t t = 12345;

        ck_assert_int_eq(imap_date_parse(c->s, strlen(c->s), &t), c->want);
        ck_assert_int_eq((long long) t, c->want == 0 ? (long long) c->t : 12345);
}
END_TEST

START_TEST(test_S01_equivalent_instants) {
        static const char *const resps[] = {
                "25 (INTERNALDATE \"01-Jan-2000 00:00:00 +0000\")",
                "25 (INTERNALDATE \"01-Jan-2000 11:30:00 +1130\")",
                "25 (INTERNALDATE \"31-Dec-1999 12:30:00 -1130\")",
        };

        set_tz("STD-1DST,M3.2.0,M11.1.0");
        for (size_t i = 0; i < ELEMENTSOF(resps); i++) {
                time_t t = 0;
                struct tm tm;

                ck_assert_int_eq(imap_date_find(resps[i], strlen(resps[i]), &t), 0);
                ck_assert_int_eq((long long) t, (long long) T2000);
                /* imaplib hands back local time; mktime of it is the same instant. */
                ck_assert_ptr_nonnull(localtime_r(&t, &tm));
                ck_assert_int_eq((long long) mktime(&tm), (long long) T2000);
        }
}
END_TEST

START_TEST(test_S02_dst_change) {
        static const char *const a = "25 (INTERNALDATE \"02-Apr-2000 02:30:00 +0000\")";
        static const char *const b = "25 (INTERNALDATE \"02-Apr-2000 03:30:00 +0000\")";
        time_t ta, tb;
        struct tm la, lb;

        set_tz("MST+07MDT,M4.1.0,M10.5.0");
        ck_assert_int_eq(imap_date_find(a, strlen(a), &ta), 0);
        ck_assert_int_eq(imap_date_find(b, strlen(b), &tb), 0);
        ck_assert_int_eq((long long) (tb - ta), 3600);
        ck_assert_ptr_nonnull(localtime_r(&ta, &la));
        ck_assert_ptr_nonnull(localtime_r(&tb, &lb));
        /* Two distinct local times, not folded together by the DST change. */
        ck_assert(la.tm_hour != lb.tm_hour || la.tm_mday != lb.tm_mday);
        ck_assert_int_ne((long long) mktime(&la), (long long) mktime(&lb));
}
END_TEST

/* A German LC_TIME for S-03.  If the system has none compiled, build one
 * into a private LOCPATH with localedef (package "locales", which
 * tests/deps.sh installs), so the check always runs. */
static char locale_dir[] = "/tmp/imapidled-locale-XXXXXX";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static const char *german_time_locale(void) {
        char *dir = locale_dir, out[64];
        const char *de = setlocale(LC_TIME, "de_DE.UTF-8");
        char *argv[] = { (char[]) { "localedef" }, (char[]) { "-i" }, (char[]) { "de_DE" }, (char[]) { "-f" },
                         (char[]) { "UTF-8" }, out, NULL };
        pid_t pid;
        int status;

        if (de)
                return de;
        if (!mkdtemp(dir))
                return NULL;
        snprintf(out, sizeof(out), "%s/de_DE.UTF-8", dir);
        if (posix_spawnp(&pid, "localedef", NULL, NULL, argv, environ) != 0)
                return NULL;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
                return NULL;
        /* localedef may exit 1 on mere warnings; what counts is whether it loads. */
        setenv("LOCPATH", dir, 1);
        return setlocale(LC_TIME, "de_DE.UTF-8");
}

START_TEST(test_S03_format_locale_independent) {
        char buf[IMAP_DATE_BUFSZ];
        const char *de;

        set_tz("STD-1DST,M3.2.0,M11.1.0");
        ck_assert_int_eq(imap_date_format_local(2000000000, buf), 0);
        ck_assert_str_eq(buf, "\"18-May-2033 05:33:20 +0200\"");
        ck_assert_int_eq(imap_date_format(2000000000, 7200, buf), 0);
        ck_assert_str_eq(buf, "\"18-May-2033 05:33:20 +0200\"");

        de = german_time_locale();
        ck_assert_msg(de, "no de_DE.UTF-8 locale and localedef could not build one (install 'locales')");
        ck_assert_int_eq(imap_date_format_local(2000000000, buf), 0);
        ck_assert_str_eq(buf, "\"18-May-2033 05:33:20 +0200\"");
        /* "Mai" in German; the month table must not follow LC_TIME. */
        ck_assert_int_eq(imap_date_format_local(1999999999 - 86400 * 17, buf), 0);
        ck_assert_str_eq(buf, "\"01-May-2033 05:33:19 +0200\"");
        (void) setlocale(LC_TIME, "C");
        if (!strstr(locale_dir, "XXXXXX"))
                (void) nftw(locale_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}
END_TEST

START_TEST(test_S04_any_zone) {
        static const char *const zones[] = { "UTC0", "MST+07MDT,M4.1.0,M10.5.0", "XXX-14", "YYY+12",
                                             "NPT-5:45", "IST-5:30" };
        char buf[IMAP_DATE_BUFSZ];

        for (size_t i = 0; i < ELEMENTSOF(zones); i++) {
                time_t back = 0;

                set_tz(zones[i]);
                ck_assert_int_eq(imap_date_format_local(2000000000, buf), 0);
                ck_assert_uint_eq(strlen(buf), IMAP_DATE_BUFSZ - 1);
                /* What we write, we read back as the same instant. */
                ck_assert_int_eq(imap_date_parse(buf, strlen(buf), &back), 0);
                ck_assert_int_eq((long long) back, 2000000000);
        }
        set_tz("NPT-5:45");
        ck_assert_int_eq(imap_date_format_local(0, buf), 0);
        ck_assert_str_eq(buf, "\"01-Jan-1970 05:45:00 +0545\"");
}
END_TEST

typedef struct FormatCase {
        time_t t;
        long off;
        int want;
        const char *s;
} FormatCase;

static const FormatCase formats[] = {
        { 0,              0,      0, "\"01-Jan-1970 00:00:00 +0000\"" },
        { 1578186123,     -19800, 0, "\"04-Jan-2020 19:32:03 -0530\"" },
        { 1578186123,     0,      0, "\"05-Jan-2020 01:02:03 +0000\"" },  /* zero-padded day */
        { -1,             0,      0, "\"31-Dec-1969 23:59:59 +0000\"" },
        { 951782400,      0,      0, "\"29-Feb-2000 00:00:00 +0000\"" },
        { 253402300799,   0,      0, "\"31-Dec-9999 23:59:59 +0000\"" },
        { 253402300799,   -60,    0, "\"31-Dec-9999 23:58:59 -0001\"" },
        { 253402300800,   0,      -ERANGE, "" },                         /* year 10000 */
        { -62167219200,   0,      0, "\"01-Jan-0000 00:00:00 +0000\"" },
        { -62167219201,   0,      -ERANGE, "" },
        { 0,              3208,   0, "\"01-Jan-1970 00:53:00 +0053\"" }, /* LMT +00:53:28: whole minutes */
        { 0,              -3208,  0, "\"31-Dec-1969 23:07:00 -0053\"" },
        { 0,              86340,  0, "\"01-Jan-1970 23:59:00 +2359\"" },
        { 0,              86400,  -EINVAL, "" },
        { 0,              -86400, -EINVAL, "" },
};

START_TEST(test_format) {
        const FormatCase *c = &formats[_i];
        char buf[IMAP_DATE_BUFSZ];

        memset(buf, 'x', sizeof(buf));
        ck_assert_int_eq(imap_date_format(c->t, c->off, buf), c->want);
        ck_assert_str_eq(buf, c->s);
        if (c->want == 0) {
                time_t back;

                ck_assert_int_eq(imap_date_parse(buf, strlen(buf), &back), 0);
                ck_assert_int_eq((long long) back, (long long) c->t);
        }
}
END_TEST

START_TEST(test_format_extremes) {
        char buf[IMAP_DATE_BUFSZ];

        ck_assert_int_eq(imap_date_format(INT64_MAX, 60, buf), -ERANGE);     /* overflow adding the zone */
        ck_assert_int_eq(imap_date_format(INT64_MAX, 0, buf), -ERANGE);
        ck_assert_int_eq(imap_date_format(INT64_MIN, 0, buf), -ERANGE);
        ck_assert_str_eq(buf, "");
}
END_TEST

typedef struct FindCase {
        const char *resp;
        int want;
        time_t t;
} FindCase;

static const FindCase finds[] = {
        { "25 (INTERNALDATE \"01-Jan-2000 00:00:00 +0000\")", 0, T2000 },
        { "25 (INTERNALDATE \" 1-Jan-2000 00:00:00 +0000\")", 0, T2000 },    /* */
        { "25 (INTERNALDATE \"bad\")", -ENOENT, 0 },                         /* None */
        { "25 (FLAGS (\\Seen))", -ENOENT, 0 },
        { "", -ENOENT, 0 },
        { "25 (INTERNALDATE \"01-Foo-2000 00:00:00 +0000\")", -EINVAL, 0 },  /* Q7 */
        { "25 (INTERNALDATE \"01-Jan-2000 25:00:00 +0000\")", -EINVAL, 0 },
        /* The last well-shaped one wins (imaplib's greedy '.*'). */
        { "1 (INTERNALDATE \"01-Jan-1970 00:00:00 +0000\" X INTERNALDATE \"01-Jan-2000 00:00:00 +0000\")",
          0, T2000 },
        { "1 (INTERNALDATE \"01-Jan-2000 00:00:00 +0000\" X INTERNALDATE \"junk\")", 0, T2000 },
        /* Only the first line: '.' does not match a newline. */
        { "1 (INTERNALDATE \"01-Jan-2000 00:00:00 +0000\"\nINTERNALDATE \"01-Jan-1970 00:00:00 +0000\"", 0, T2000 },
        { "1 (X\nINTERNALDATE \"01-Jan-2000 00:00:00 +0000\")", -ENOENT, 0 },
        { "1 (internaldate \"01-Jan-2000 00:00:00 +0000\")", -ENOENT, 0 },
        { "1 (INTERNALDATE 01-Jan-2000 00:00:00 +0000)", -ENOENT, 0 },
        { "INTERNALDATE \"01-Jan-2000 00:00:00 +0000\"", 0, T2000 },
        { "INTERNALDATE \"01-Jan-2000 00:00:00 +0000", -ENOENT, 0 },
};

START_TEST(test_X40_internaldate_find) {
        const FindCase *c = &finds[_i];
        time_t t = 12345;

        ck_assert_int_eq(imap_date_find(c->resp, strlen(c->resp), &t), c->want);
        ck_assert_int_eq((long long) t, c->want == 0 ? (long long) c->t : 12345);
}
END_TEST

START_TEST(test_round_trip_every_day) {
        /* Every day 1900..2100 at a varying time and zone: format, then parse. */
        char buf[IMAP_DATE_BUFSZ];
        uint64_t st = 42;

        for (time_t t = -2208988800; t < 4102444800; t += 86400) {
                time_t u = t + (time_t) (th_rand(&st) % 86400), back;
                long off = (long) (th_rand(&st) % (2 * 1439 + 1)) * 60 - 1439 * 60;

                ck_assert_int_eq(imap_date_format(u, off, buf), 0);
                ck_assert_int_eq(imap_date_parse(buf, strlen(buf), &back), 0);
                ck_assert_int_eq((long long) back, (long long) u);
        }
}
END_TEST

static Suite *imap_date_suite(void) {
        Suite *s = suite_create("imap-date");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_loop_test(tc, test_parse, 0, (int) ELEMENTSOF(parses));
        tcase_add_loop_test(tc, test_X40_internaldate_find, 0, (int) ELEMENTSOF(finds));
        tcase_add_test(tc, test_S01_equivalent_instants);
        tcase_add_test(tc, test_S02_dst_change);
        suite_add_tcase(s, tc);

        tc = tcase_create("format");
        tcase_add_loop_test(tc, test_format, 0, (int) ELEMENTSOF(formats));
        tcase_add_test(tc, test_format_extremes);
        tcase_add_test(tc, test_S03_format_locale_independent);
        tcase_add_test(tc, test_S04_any_zone);
        tcase_add_test(tc, test_round_trip_every_day);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(imap_date_suite());
}

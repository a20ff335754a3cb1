/* SPDX-License-Identifier: MIT */
/* imap-date.c: INTERNALDATE parsing and formatting; see imap-date.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imap-date.h"
#include "macro.h"

/* Fixed, locale-independent: RFC 3501 §9 date-month. */
static const char months[12][4] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* The shape imaplib's InternalDate regex accepts, one class per character:
 * D = [ 0123], d = digit, U = [A-Z], l = [a-z], S = [-+], others literal. */
static const char date_shape[] = "Dd-Ull-dddd dd:dd:dd Sdddd";
#define DATE_LEN (sizeof(date_shape) - 1)

static bool char_fits(char class, char c) {
        switch (class) {
        case 'D':
                return c == ' ' || (c >= '0' && c <= '3');
        case 'd':
                return c >= '0' && c <= '9';
        case 'U':
                return c >= 'A' && c <= 'Z';
        case 'l':
                return c >= 'a' && c <= 'z';
        case 'S':
                return c == '-' || c == '+';
        default:
                return c == class;
        }
}

static bool has_date_shape(const char *s) {
        for (size_t i = 0; i < DATE_LEN; i++)
                if (!char_fits(date_shape[i], s[i]))
                        return false;
        return true;
}

/* Two characters as a number; a leading space counts as 0 (date-day-fixed). */
static int two(const char *s) {
        return (s[0] == ' ' ? 0 : s[0] - '0') * 10 + (s[1] - '0');
}

static bool is_leap(int64_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m) {
        static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil algorithm), valid for any year we can be handed. */
static int64_t days_from_civil(int64_t y, int m, int d) {
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

/* The inverse: a day count since the epoch to year, month (1..12), day. */
static void civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d) {
        int64_t era, doe, yoe, doy, mp, y;

        z += 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        y = yoe + era * 400;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *ret_d = (int) (doy - (153 * mp + 2) / 5 + 1);
        *ret_m = (int) (mp < 10 ? mp + 3 : mp - 9);
        *ret_y = y + (*ret_m <= 2);
}

int imap_date_parse(const char *s, size_t len, time_t *ret) {
        int day, mon = 0, hour, min, sec, zh, zm;
        int64_t year, t;

        assert_return(s || len == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        if (len == DATE_LEN + 2 && s[0] == '"' && s[len - 1] == '"') {
                s++;
                len -= 2;
        }
        if (len != DATE_LEN || !has_date_shape(s))
                return -EINVAL;

        for (size_t i = 0; i < ELEMENTSOF(months); i++)
                if (memcmp(s + 3, months[i], 3) == 0) {
                        mon = (int) i + 1;
                        break;
                }
        if (mon == 0)
                return -EINVAL; /* Q7: imaplib raises KeyError */

        day = two(s);
        year = two(s + 7) * 100 + two(s + 9);
        hour = two(s + 12);
        min = two(s + 15);
        sec = two(s + 18);
        zh = two(s + 22);
        zm = two(s + 24);
        if (day < 1 || day > days_in_month(year, mon) || hour > 23 || min > 59 || sec > 60 ||
            zh > 23 || zm > 59)
                return -EINVAL;

        /* Wall time in the value's zone, minus the zone's offset: UTC. */
        t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
        t -= (s[21] == '-' ? -1 : 1) * (zh * 3600 + zm * 60);
        *ret = (time_t) t;
        return 0;
}

int imap_date_find(const char *resp, size_t len, time_t *ret) {
        static const char prefix[] = "INTERNALDATE \"";
        const size_t plen = sizeof(prefix) - 1, need = plen + DATE_LEN + 1;
        const char *nl;

        assert_return(resp || len == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        /* imaplib matches '.*INTERNALDATE "..."' from the start, and '.' does
         * not cross a newline: only the first line counts.  The greedy '.*'
         * makes the last well-shaped occurrence the one that is used. */
        nl = memchr(resp, '\n', len);
        if (nl)
                len = (size_t) (nl - resp);
        if (len < need)
                return -ENOENT;
        for (size_t i = len - need + 1; i-- > 0;) {
                const char *p = resp + i;

                if (memcmp(p, prefix, plen) == 0 && has_date_shape(p + plen) && p[plen + DATE_LEN] == '"')
                        return imap_date_parse(p + plen, DATE_LEN, ret);
        }
        return -ENOENT;
}

int imap_date_format(time_t t, long gmtoff_seconds, char buf[static IMAP_DATE_BUFSZ]) {
        long off_min = gmtoff_seconds / 60; /* toward zero */
        int64_t local, days, sod, year;
        int mon, day;

        buf[0] = 0;
        if (off_min <= -24 * 60 || off_min >= 24 * 60)
                return -EINVAL;
        if (__builtin_add_overflow((int64_t) t, (int64_t) off_min * 60, &local))
                return -ERANGE;

        days = local / 86400;
        sod = local % 86400;
        if (sod < 0) {
                sod += 86400;
                days--;
        }
        civil_from_days(days, &year, &mon, &day);
        if (year < 0 || year > 9999)
                return -ERANGE;

        (void) snprintf(buf, IMAP_DATE_BUFSZ, "\"%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld\"",
                        day, months[mon - 1], (int) year, (int) (sod / 3600), (int) (sod / 60 % 60),
                        (int) (sod % 60), off_min < 0 ? '-' : '+', labs(off_min) / 60, labs(off_min) % 60);
        return 0;
}

int imap_date_format_local(time_t t, char buf[static IMAP_DATE_BUFSZ]) {
        struct tm tm;

        buf[0] = 0;
        if (!localtime_r(&t, &tm))
                return -EOVERFLOW;
        return imap_date_format(t, tm.tm_gmtoff, buf);
}

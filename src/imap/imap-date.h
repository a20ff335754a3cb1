/* SPDX-License-Identifier: MIT */
/*
 * imap-date.h: INTERNALDATE values (RFC 3501 §9 date-time), read and written.
 *
 *   date-time = DQUOTE date-day-fixed "-" date-month "-" date-year
 *               SP time SP zone DQUOTE
 *   e.g. "17-Jul-1996 02:44:25 -0700"
 *
 * Parsing converts the wall time in the value's own zone straight to an
 * absolute instant (time_t, UTC based) with calendar arithmetic: no mktime(),
 * no TZ, no locale, so a local DST change cannot fold two instants into one
 * (docs/ENGINE.md S-02).  Formatting uses a fixed English month table, so the
 * output does not depend on LC_TIME (S-03).  Nothing here allocates or keeps
 * state; only imap_date_format_local() reads the process's time zone.
 */
#pragma once

#include <stddef.h>
#include <time.h>

/* "DD-Mon-YYYY HH:MM:SS +HHMM" with both double quotes and the NUL. */
#define IMAP_DATE_BUFSZ 29

/* Parse exactly one date-time of 'len' bytes, with or without the surrounding
 * double quotes.  The day is two characters, the first may be a space
 * (date-day-fixed); the month is an English abbreviation written as imaplib
 * matches it, [A-Z][a-z][a-z] ("Jan", never "JAN"); the year has four digits.
 * Fields are range-checked: day 1..length of that month, hour 0..23, minute
 * 0..59, second 0..60 (a leap second counts as the next second), zone
 * -2359..+2359.  Returns 0 and the instant, or -EINVAL for anything else,
 * including an unknown month name (imaplib raises KeyError there: quirk Q7). */
int imap_date_parse(const char *s, size_t len, time_t *ret);

/* imaplib's Internaldate2tuple matcher: the last 'INTERNALDATE "<date-time>"'
 * in the first line of 'resp' whose text has the date-time shape, then
 * imap_date_parse() on it.  Returns 0, -ENOENT when nothing has that shape
 * (imaplib returns None), or -EINVAL when the last one is out of range or
 * names an unknown month. */
int imap_date_find(const char *resp, size_t len, time_t *ret);

/* Write t as '"DD-Mon-YYYY HH:MM:SS +HHMM"' (with the double quotes, day
 * zero-padded, English month) as seen in a zone 'gmtoff_seconds' east of UTC.
 * An offset that is not a whole number of minutes is rounded toward zero to
 * whole minutes and the wall time computed with that offset, so the text
 * still denotes exactly t.  Returns 0, -EINVAL for an offset of 24 hours or
 * more, or -ERANGE when the year falls outside 0000..9999.  buf is always
 * NUL-terminated (empty on error). */
int imap_date_format(time_t t, long gmtoff_seconds, char buf[static IMAP_DATE_BUFSZ]);

/* imap_date_format() with the local offset in effect at t (localtime_r's
 * tm_gmtoff, so TZ and its DST rules apply).  -EOVERFLOW when localtime_r
 * fails. */
int imap_date_format_local(time_t t, char buf[static IMAP_DATE_BUFSZ]);

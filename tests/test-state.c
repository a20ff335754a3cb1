/* SPDX-License-Identifier: MIT */
/*
 * test-state.c: the per-account state files (src/daemon/state.c): round trips
 * of hostile mailbox names, the set's rules and limits, corrupt and unreadable
 * files (each must log one warning naming file, line and reason, and load as
 * an empty set), atomic replacement when a step of the save fails, where the
 * directory is found, and the modes of what is created.  Every test works in
 * its own temporary directory; failures that need a resource limit run in a
 * forked child so that the limit cannot leak into the next test.
 *
 * Built twice (src/daemon/state.mk): tests/test-state runs everything but the read-only
 * directory case; tests/test-state-rodir (-DTEST_STATE_RODIR) runs that case alone and exits
 * 77, which the test driver reports as SKIP, where mode bits do not stop this user (root),
 * as a Check case cannot say SKIP by itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "state.h"
#include "th.h"

/* --- fixture: a private directory ----------------------------------------- */

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int chmod_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) ftw;
        if (type == FTW_D || type == FTW_DNR)
                (void) chmod(path, 0700);
        (void) st;
        return 0;
}

static void setup(void) {
        const char *t = getenv("TMPDIR");

        snprintf(tmpdir, sizeof(tmpdir), "%s/test-state.XXXXXX", t && t[0] == '/' ? t : "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        umask(022);
        log_set_prefix(0);
        log_set_max_level(LOG_INFO);
}

static void teardown(void) {
        (void) nftw(tmpdir, chmod_entry, 16, FTW_PHYS);
        (void) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* "<tmpdir>/<name>", in one of a few rotating buffers. */
static const char *tpath(const char *name) {
        static char bufs[4][512];
        static unsigned i;
        char *b = bufs[i++ % ELEMENTSOF(bufs)];

        ck_assert_int_lt(snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name), (int) sizeof(bufs[0]));
        return b;
}

static void write_file(const char *path, const void *data, size_t n) {
        FILE *f = fopen(path, "we");

        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, n, f), n);
        ck_assert_int_eq(fclose(f), 0);
}

static char *read_text(const char *path) {
        static char out[16384];
        FILE *f = fopen(path, "re");
        size_t n;

        ck_assert_ptr_nonnull(f);
        n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = 0;
        fclose(f);
        return out;
}

static StateDir *open_tmp(void) {
        StateDir *d = NULL;

        ck_assert_int_eq(state_dir_open(tmpdir, &d), 0);
        ck_assert_str_eq(state_dir_path(d), tmpdir);
        return d;
}

/* Names in the directory starting with prefix. */
static unsigned count_files(const char *prefix) {
        DIR *dir = opendir(tmpdir);
        struct dirent *de;
        unsigned n = 0;

        ck_assert_ptr_nonnull(dir);
        while ((de = readdir(dir)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                        n++;
        closedir(dir);
        return n;
}

/* --- stderr capture (as in test-log.c) ------------------------------------ */

static FILE *cap_file;
static int cap_saved = -1;

static void capture_begin(void) {
        fflush(stderr);
        cap_file = tmpfile();
        ck_assert_ptr_nonnull(cap_file);
        cap_saved = dup(STDERR_FILENO);
        ck_assert_int_ge(cap_saved, 0);
        ck_assert_int_ge(dup2(fileno(cap_file), STDERR_FILENO), 0);
}

static char *capture_end(void) {
        static char out[8192];
        size_t n;

        fflush(stderr);
        ck_assert_int_ge(dup2(cap_saved, STDERR_FILENO), 0);
        close(cap_saved);
        rewind(cap_file);
        n = fread(out, 1, sizeof(out) - 1, cap_file);
        out[n] = 0;
        fclose(cap_file);
        return out;
}

/* Load with stderr captured; returns the set, *ret_log what was logged. */
static StateSet *load_captured(StateDir *d, const char *account, char **ret_log) {
        StateSet *s = NULL;
        int r;

        capture_begin();
        r = state_load(d, account, &s);
        *ret_log = capture_end();
        ck_assert_int_eq(r, 0);
        ck_assert_ptr_nonnull(s);
        return s;
}

static void assert_sets_equal(const StateSet *a, const StateSet *b) {
        ck_assert_uint_eq(state_set_size(a), state_set_size(b));
        for (size_t i = 0; i < state_set_size(a); i++) {
                const char *an, *bn;
                MailboxState as, bs;

                ck_assert_int_eq(state_set_entry(a, i, &an, &as), 0);
                ck_assert_int_eq(state_set_entry(b, i, &bn, &bs), 0);
                ck_assert_str_eq(an, bn);
                ck_assert_uint_eq(as.uidvalidity, bs.uidvalidity);
                ck_assert_uint_eq(as.uidnext, bs.uidnext);
                ck_assert_uint_eq(as.exists, bs.exists);
                ck_assert_uint_eq(as.highestmodseq, bs.highestmodseq);
                ck_assert_uint_eq(as.updated, bs.updated);
        }
}

static void put(StateSet *s, const char *name, uint32_t v, uint32_t next, uint32_t exists, uint64_t modseq,
                usec_t updated) {
        MailboxState st = { v, next, exists, modseq, updated };

        ck_assert_int_eq(state_put(s, name, &st), 0);
}

/* A set whose content is distinguishable from another one's by 'seed'. */
static StateSet *small_set(uint32_t seed) {
        StateSet *s = NULL;

        ck_assert_int_eq(state_set_new(&s), 0);
        put(s, "INBOX", seed, seed + 1, seed + 2, seed + 3, seed + 4);
        put(s, "Sent", seed + 10, 1, 0, 0, 1);
        return s;
}

/* --- round trip ------------------------------------------------------------ */

START_TEST(test_round_trip) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *s = NULL, *back = NULL;
        char long_nl[STATE_MAX_NAME + 1], long_x[STATE_MAX_NAME + 1];
        static const char *const names[] = {
                "INBOX", "with space", "  leading and trailing  ", "quote\"d", "single'quote",
                "back\\slash", "new\nline", "cr\rlf\n", "tab\there",
                "Entw\xc3\xbcrfe/\xe6\x97\xa5\xe6\x9c\xac",
                "100% sure", "%41 is not A", "del\x7f", "\x01\x02\x1f", "-", "imapidled-state 1",
                "emoji \xf0\x9f\x93\xac",
        };
        const char *text;
        char *log;

        memset(long_nl, '\n', STATE_MAX_NAME);
        long_nl[STATE_MAX_NAME] = 0;
        memset(long_x, 'x', STATE_MAX_NAME);
        long_x[STATE_MAX_NAME] = 0;

        ck_assert_int_eq(state_set_new(&s), 0);
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                put(s, names[i], (uint32_t) i + 1, (uint32_t) i * 7, (uint32_t) i * 3, i * 1000003,
                    1700000000000000 + i);
        put(s, long_nl, UINT32_MAX, UINT32_MAX, UINT32_MAX, (uint64_t) INT64_MAX, UINT64_MAX);
        put(s, long_x, 1, 0, 0, 0, 1);
        ck_assert_uint_eq(state_set_size(s), ELEMENTSOF(names) + 2);

        ck_assert_int_eq(state_save(d, "acct", s), 0);
        back = load_captured(d, "acct", &log);
        ck_assert_str_eq(log, "");
        assert_sets_equal(s, back);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                MailboxState st;

                ck_assert(state_get(back, names[i], &st));
                ck_assert_uint_eq(st.uidvalidity, i + 1);
                ck_assert_uint_eq(st.updated, 1700000000000000 + i);
        }

        /* The text: versioned, one line per mailbox, nothing raw that could split a line. */
        text = read_text(tpath("acct.state"));
        ck_assert(strncmp(text, "imapidled-state 1\n", 18) == 0);
        ck_assert_ptr_nonnull(strstr(text, "\nnew%0Aline 7 42 18 6000018 1700000000000006\n"));
        ck_assert_ptr_nonnull(strstr(text, "\ntab%09here "));
        ck_assert_ptr_nonnull(strstr(text, "\n100%25%20sure "));
        ck_assert_ptr_nonnull(strstr(text, "\nquote\"d "));
        ck_assert_ptr_nonnull(strstr(text, "\nEntw\xc3\xbcrfe/"));
        ck_assert_ptr_null(strchr(text, '\t'));
        ck_assert_ptr_null(strchr(text, '\r'));
}
END_TEST

START_TEST(test_empty_set_round_trip) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *s = NULL, *back = NULL;
        char *log;

        ck_assert_int_eq(state_set_new(&s), 0);
        ck_assert_int_eq(state_save(d, "acct", s), 0);
        ck_assert_str_eq(read_text(tpath("acct.state")), "imapidled-state 1\n");
        back = load_captured(d, "acct", &log);
        ck_assert_str_eq(log, "");
        ck_assert_uint_eq(state_set_size(back), 0);
}
END_TEST

START_TEST(test_missing_file) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *s = NULL;
        char *log;

        s = load_captured(d, "nobody", &log);
        ck_assert_str_eq(log, "");
        ck_assert_uint_eq(state_set_size(s), 0);
        ck_assert(!state_get(s, "INBOX", NULL));
}
END_TEST

/* --- the set --------------------------------------------------------------- */

START_TEST(test_put_rules) {
        _cleanup_(state_set_freep) StateSet *s = NULL;
        char name[STATE_MAX_NAME + 2];
        MailboxState st = { .uidvalidity = 5, .uidnext = 9 }, got;
        const MailboxState zero_validity = { .uidvalidity = 0, .uidnext = 1 };
        const MailboxState big_modseq = { .uidvalidity = 1, .highestmodseq = (uint64_t) INT64_MAX + 1 };
        struct timespec before;
        const char *n0, *n1;
        usec_t t0;

        ck_assert_int_eq(state_set_new(&s), 0);
        /* Refused: empty name, UIDVALIDITY 0, a mod-sequence over 2^63-1, a name over the limit. */
        ck_assert_int_eq(state_put(s, "", &st), -EINVAL);
        ck_assert_int_eq(state_put(s, "INBOX", &zero_validity), -EINVAL);
        ck_assert_int_eq(state_put(s, "INBOX", &big_modseq), -ERANGE);
        memset(name, 'n', STATE_MAX_NAME + 1);
        name[STATE_MAX_NAME + 1] = 0;
        ck_assert_int_eq(state_put(s, name, &st), -EMSGSIZE);
        ck_assert_uint_eq(state_set_size(s), 0);
        name[STATE_MAX_NAME] = 0;
        ck_assert_int_eq(state_put(s, name, &st), 0);

        /* updated 0 is stamped with the wall clock; a given value is kept. */
        ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &before), 0);
        t0 = (usec_t) before.tv_sec * USEC_PER_SEC + (usec_t) before.tv_nsec / 1000;
        ck_assert_int_eq(state_put(s, "INBOX", &st), 0);
        ck_assert(state_get(s, "INBOX", &got));
        ck_assert_uint_ge(got.updated, t0);
        ck_assert_uint_eq(got.uidnext, 9);
        st.updated = 42;
        st.exists = 3;
        ck_assert_int_eq(state_put(s, "INBOX", &st), 0);        /* replaces */
        ck_assert_uint_eq(state_set_size(s), 2);
        ck_assert(state_get(s, "INBOX", &got));
        ck_assert_uint_eq(got.updated, 42);
        ck_assert_uint_eq(got.exists, 3);

        /* Exact, case-sensitive names; entries in byte order. */
        ck_assert(!state_get(s, "inbox", NULL));
        ck_assert(!state_get(s, "INBOX ", NULL));
        ck_assert_int_eq(state_set_entry(s, 0, &n0, NULL), 0);
        ck_assert_int_eq(state_set_entry(s, 1, &n1, NULL), 0);
        ck_assert_str_eq(n0, "INBOX");
        ck_assert_int_eq(n1[0], 'n');
        ck_assert_int_eq(state_set_entry(s, 2, &n0, NULL), -EINVAL);

        ck_assert_int_eq(state_forget(s, "INBOX"), 1);
        ck_assert_int_eq(state_forget(s, "INBOX"), 0);
        ck_assert(!state_get(s, "INBOX", NULL));
        ck_assert_uint_eq(state_set_size(s), 1);
}
END_TEST

START_TEST(test_max_mailboxes) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *s = NULL, *back = NULL;
        MailboxState st = { .uidvalidity = 1, .updated = 1 };
        char name[32], *log;

        ck_assert_int_eq(state_set_new(&s), 0);
        for (unsigned i = 0; i < STATE_MAX_MAILBOXES; i++) {
                snprintf(name, sizeof(name), "box%u", i);
                ck_assert_int_eq(state_put(s, name, &st), 0);
        }
        ck_assert_int_eq(state_put(s, "one too many", &st), -EMSGSIZE);
        ck_assert(!state_get(s, "one too many", NULL));
        ck_assert_int_eq(state_put(s, "box7", &st), 0);         /* replacing still works */
        ck_assert_uint_eq(state_set_size(s), STATE_MAX_MAILBOXES);

        /* The largest set still saves and loads. */
        ck_assert_int_eq(state_save(d, "acct", s), 0);
        back = load_captured(d, "acct", &log);
        ck_assert_str_eq(log, "");
        assert_sets_equal(s, back);
}
END_TEST

/* --- corrupt files ---------------------------------------------------------- */

typedef struct Corrupt {
        const char *what;
        const char *text;
        size_t len;
        int error;
        unsigned line;
        const char *reason;
} Corrupt;

#define H "imapidled-state 1\n"
/* A literal and its length, NUL bytes included. */
#define T(s) s, sizeof(s) - 1

static const Corrupt corrupt[] = {
        { "empty file", T(""), -EBADMSG, 0, "empty file" },
        { "truncated line", T(H "INBOX 1 2 3"), -EBADMSG, 2, "truncated line" },
        { "truncated header", T("imapidled-sta"), -EBADMSG, 1, "truncated line" },
        { "bad version", T("imapidled-state 2\nINBOX 1 2 3 4 5\n"), -EBADMSG, 1,
          "unsupported format version" },
        { "version 10", T("imapidled-state 10\n"), -EBADMSG, 1, "unsupported format version" },
        { "CRLF", T("imapidled-state 1\r\n"), -EBADMSG, 1, "unsupported format version" },
        { "no header", T("INBOX 1 2 3 4 5\n"), -EBADMSG, 1, "not an imapidled state file" },
        { "non-numeric", T(H "INBOX 1 2 three 4 5\n"), -EBADMSG, 2, "not a number" },
        { "negative", T(H "INBOX -1 2 3 4 5\n"), -EBADMSG, 2, "not a number" },
        { "plus sign", T(H "INBOX +1 2 3 4 5\n"), -EBADMSG, 2, "not a number" },
        { "hex number", T(H "INBOX 0x1 2 3 4 5\n"), -EBADMSG, 2, "not a number" },
        { "leading zero", T(H "INBOX 01 2 3 4 5\n"), -EBADMSG, 2, "leading zero" },
        { "overflow uidvalidity", T(H "INBOX 4294967296 2 3 4 5\n"), -ERANGE, 2, "number out of range" },
        { "overflow uidnext", T(H "INBOX 1 4294967296 3 4 5\n"), -ERANGE, 2, "number out of range" },
        { "overflow exists", T(H "INBOX 1 2 99999999999 4 5\n"), -ERANGE, 2, "number out of range" },
        { "modseq 2^63", T(H "INBOX 1 2 3 9223372036854775808 5\n"), -ERANGE, 2, "number out of range" },
        { "modseq 2^64", T(H "INBOX 1 2 3 18446744073709551616 5\n"), -ERANGE, 2, "number out of range" },
        { "updated 2^64", T(H "INBOX 1 2 3 4 18446744073709551616\n"), -ERANGE, 2, "number out of range" },
        { "huge number", T(H "INBOX 1 2 3 4 999999999999999999999999999999\n"), -ERANGE, 2, "out of range" },
        { "uidvalidity 0", T(H "INBOX 0 2 3 4 5\n"), -EBADMSG, 2, "UIDVALIDITY 0" },
        { "duplicate mailbox", T(H "INBOX 1 2 3 4 5\nSent 1 1 1 1 1\nINBOX 1 2 3 4 5\n"), -EBADMSG, 4,
          "mailbox listed twice" },
        { "too few fields", T(H "INBOX 1 2 3 4\n"), -EBADMSG, 2, "too few fields" },
        { "too many fields", T(H "INBOX 1 2 3 4 5 6\n"), -EBADMSG, 2, "too many fields" },
        { "trailing space", T(H "INBOX 1 2 3 4 5 \n"), -EBADMSG, 2, "too many fields" },
        { "double space", T(H "INBOX  1 2 3 4 5\n"), -EBADMSG, 2, "too many fields" },
        { "empty line", T(H "\n"), -EBADMSG, 2, "too few fields" },
        { "empty name", T(H " 1 2 3 4 5\n"), -EBADMSG, 2, "empty mailbox name" },
        { "raw tab", T(H "a\tb 1 2 3 4 5\n"), -EBADMSG, 2, "control character" },
        { "raw CR", T(H "INBOX\r 1 2 3 4 5\n"), -EBADMSG, 2, "control character" },
        { "short escape", T(H "a%2 1 2 3 4 5\n"), -EBADMSG, 2, "bad %XX escape" },
        { "escape at end", T(H "a% 1 2 3 4 5\n"), -EBADMSG, 2, "bad %XX escape" },
        { "lower-case escape", T(H "a%0a 1 2 3 4 5\n"), -EBADMSG, 2, "bad %XX escape" },
        { "needless escape", T(H "%41 1 2 3 4 5\n"), -EBADMSG, 2, "needless or NUL" },
        { "NUL escape", T(H "a%00 1 2 3 4 5\n"), -EBADMSG, 2, "needless or NUL" },
        { "binary garbage", T("\x00\xff\xfe\x01garbage\x00\x7f\n"), -EBADMSG, 1,
          "not an imapidled state file" },
        { "garbage after header", T(H "\x00\x01\x02\xff 1 2 3 4 5\n"), -EBADMSG, 2, "control character" },
        { "NUL in a number", T(H "INBOX 1\0 2 3 4 5\n"), -EBADMSG, 2, "not a number" },
};

/* Over-long lines and names, built at run time. */
static Buf long_line(size_t name_len) {
        Buf b = BUF_INIT;

        ck_assert_int_eq(buf_append(&b, H, strlen(H), 0), 0);
        for (size_t i = 0; i < name_len; i++)
                ck_assert_int_eq(buf_append(&b, "a", 1, 0), 0);
        ck_assert_int_eq(buf_append(&b, " 1 2 3 4 5\n", 11, 0), 0);
        return b;
}

static void check_corrupt(const char *text, size_t len, int error, unsigned line, const char *reason) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *s = NULL, *parsed = NULL;
        const char *got_reason = NULL;
        unsigned got_line = 99;
        char want[512], *log;

        /* The parser's verdict ... */
        ck_assert_int_eq(state_parse(text, len, &parsed, &got_line, &got_reason), error);
        ck_assert_ptr_null(parsed);
        ck_assert_uint_eq(got_line, line);
        ck_assert_ptr_nonnull(got_reason);
        ck_assert_ptr_nonnull(strstr(got_reason, reason));

        /* ... and state_load()'s: one warning naming file, line and reason, then an empty set. */
        write_file(tpath("acct.state"), text, len);
        s = load_captured(d, "acct", &log);
        ck_assert_uint_eq(state_set_size(s), 0);
        if (line > 0)
                snprintf(want, sizeof(want), "State file %s:%u: %s", tpath("acct.state"), line, got_reason);
        else
                snprintf(want, sizeof(want), "State file %s: %s", tpath("acct.state"), got_reason);
        ck_assert_msg(strstr(log, want), "expected '%s' in '%s'", want, log);
        ck_assert_ptr_nonnull(strstr(log, "starting fresh"));
        ck_assert_ptr_eq(strchr(log, '\n'), log + strlen(log) - 1);     /* one line */
        /* The bad file is left for a human to look at; the next save replaces it. */
        ck_assert_int_eq(access(tpath("acct.state"), F_OK), 0);
}

START_TEST(test_corrupt) {
        const Corrupt *c = &corrupt[_i];

        check_corrupt(c->text, c->len, c->error, c->line, c->reason);
}
END_TEST

START_TEST(test_limits) {
        _cleanup_(buf_done) Buf at = BUF_INIT, over = BUF_INIT, nl = BUF_INIT, many = BUF_INIT;
        _cleanup_(state_set_freep) StateSet *s = NULL;
        char *big;

        /* A name of STATE_MAX_NAME bytes parses; one more is refused, though the line is short. */
        at = long_line(STATE_MAX_NAME);
        ck_assert_int_eq(state_parse(at.data, at.len, &s, NULL, NULL), 0);
        ck_assert_uint_eq(state_set_size(s), 1);
        over = long_line(STATE_MAX_NAME + 1);
        check_corrupt(over.data, over.len, -EMSGSIZE, 2, "mailbox name too long");

        /* A line over STATE_MAX_LINE bytes. */
        nl = long_line(STATE_MAX_LINE);
        check_corrupt(nl.data, nl.len, -EMSGSIZE, 2, "line too long");

        /* One mailbox more than STATE_MAX_MAILBOXES. */
        ck_assert_int_eq(buf_append(&many, H, strlen(H), 0), 0);
        for (unsigned i = 0; i <= STATE_MAX_MAILBOXES; i++) {
                char line[64];
                int n = snprintf(line, sizeof(line), "box%u 1 2 3 4 5\n", i);

                ck_assert_int_eq(buf_append(&many, line, (size_t) n, 0), 0);
        }
        check_corrupt(many.data, many.len, -EMSGSIZE, STATE_MAX_MAILBOXES + 2, "too many mailboxes");

        /* A file over STATE_MAX_FILE bytes: refused as a whole by the parser ... */
        big = malloc(STATE_MAX_FILE + 1);
        ck_assert_ptr_nonnull(big);
        memset(big, 'x', STATE_MAX_FILE + 1);
        memcpy(big, H, strlen(H));
        {
                _cleanup_(state_set_freep) StateSet *p = NULL;
                const char *reason = NULL;
                unsigned line = 99;

                ck_assert_int_eq(state_parse(big, STATE_MAX_FILE + 1, &p, &line, &reason), -EMSGSIZE);
                ck_assert_uint_eq(line, 0);
                ck_assert_str_eq(reason, "file too large");
        }
        /* ... and by state_load() without reading more than one byte past the limit. */
        {
                _cleanup_(state_dir_freep) StateDir *d = open_tmp();
                _cleanup_(state_set_freep) StateSet *l = NULL;
                char *log, want[512];

                write_file(tpath("big.state"), big, STATE_MAX_FILE + 1);
                l = load_captured(d, "big", &log);
                ck_assert_uint_eq(state_set_size(l), 0);
                snprintf(want, sizeof(want), "State file %s: larger than %u bytes", tpath("big.state"),
                         STATE_MAX_FILE);
                ck_assert_msg(strstr(log, want), "got '%s'", log);
        }
        free(big);
}
END_TEST

START_TEST(test_unreadable) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        char want[512], *log;

        /* A directory where the file should be. */
        ck_assert_int_eq(mkdir(tpath("dir.state"), 0700), 0);
        {
                _cleanup_(state_set_freep) StateSet *s = load_captured(d, "dir", &log);

                ck_assert_uint_eq(state_set_size(s), 0);
                snprintf(want, sizeof(want), "State file %s: cannot read it: %s", tpath("dir.state"),
                         strerror(EISDIR));
                ck_assert_msg(strstr(log, want), "got '%s'", log);
        }
        /* A FIFO: must not block. */
        ck_assert_int_eq(mkfifo(tpath("fifo.state"), 0600), 0);
        {
                _cleanup_(state_set_freep) StateSet *s = load_captured(d, "fifo", &log);

                ck_assert_uint_eq(state_set_size(s), 0);
                ck_assert_msg(strstr(log, "not a regular file"), "got '%s'", log);
        }
        /* A symlink, even to a good file. */
        write_file(tpath("good"), H, strlen(H));
        ck_assert_int_eq(symlink(tpath("good"), tpath("link.state")), 0);
        {
                _cleanup_(state_set_freep) StateSet *s = load_captured(d, "link", &log);

                ck_assert_uint_eq(state_set_size(s), 0);
                ck_assert_msg(strstr(log, strerror(ELOOP)), "got '%s'", log);
        }
}
END_TEST

/* --- atomic replacement ----------------------------------------------------- */

static void assert_content(StateDir *d, const StateSet *want) {
        _cleanup_(state_set_freep) StateSet *s = NULL;
        char *log;

        s = load_captured(d, "acct", &log);
        ck_assert_str_eq(log, "");
        assert_sets_equal(want, s);
}

/* Save in a child with a resource limit; returns the child's state_save() result. */
static int save_limited(StateDir *d, const StateSet *s, int resource, rlim_t limit) {
        int status;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct sigaction sa = { .sa_handler = SIG_IGN };
                struct rlimit rl;
                int r;

                /* Over RLIMIT_FSIZE, write() fails with EFBIG instead of killing us. */
                (void) sigaction(SIGXFSZ, &sa, NULL);
                if (getrlimit(resource, &rl) < 0)
                        _exit(100);
                rl.rlim_cur = limit;
                if (setrlimit(resource, &rl) < 0)
                        _exit(101);
                r = state_save(d, "acct", s);
                _exit(r < 0 && -r < 100 ? -r : 102);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_lt(WEXITSTATUS(status), 100);
        return -WEXITSTATUS(status);
}

/* The lowest free descriptor number: with RLIMIT_NOFILE at it, no file can be opened.  This
 * works as root too (CAP_SYS_RESOURCE raises the hard limit, but opening checks the soft one). */
static rlim_t lowest_free_fd(void) {
        int fd = dup(STDIN_FILENO);

        ck_assert_int_ge(fd, 0);
        close(fd);
        return (rlim_t) fd;
}

START_TEST(test_atomic_temp_cannot_be_created) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *old = small_set(100), *new = small_set(200);

        ck_assert_int_eq(state_save(d, "acct", old), 0);
        ck_assert_int_eq(save_limited(d, new, RLIMIT_NOFILE, lowest_free_fd()), -EMFILE);
        assert_content(d, old);
        ck_assert_uint_eq(count_files(".acct.state."), 0);
}
END_TEST

/* Runs in its own program, tests/test-state-rodir (this file built with -DTEST_STATE_RODIR,
 * src/daemon/state.mk): where mode bits do not stop this user (root), that program exits 77
 * and the test driver says SKIP, instead of this case passing without checking anything.
 * test_atomic_temp_cannot_be_created covers the same path for everyone. */
START_TEST(test_atomic_read_only_dir) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *old = small_set(100), *new = small_set(200);

        ck_assert_int_eq(state_save(d, "acct", old), 0);
        ck_assert_int_eq(chmod(tmpdir, 0500), 0);
        ck_assert_int_eq(state_save(d, "acct", new), -EACCES);
        ck_assert_int_eq(chmod(tmpdir, 0700), 0);
        assert_content(d, old);
        ck_assert_uint_eq(count_files(".acct.state."), 0);
}
END_TEST

START_TEST(test_atomic_write_fails) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *old = small_set(100), *new = small_set(200);

        ck_assert_int_eq(state_save(d, "acct", old), 0);
        /* RLIMIT_FSIZE of 8 bytes: the temp file gets a partial write, then EFBIG. */
        ck_assert_int_eq(save_limited(d, new, RLIMIT_FSIZE, 8), -EFBIG);
        assert_content(d, old);
        ck_assert_uint_eq(count_files(".acct.state."), 0);
}
END_TEST

START_TEST(test_atomic_rename_fails) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *new = small_set(200);
        struct stat st;

        /* The target is a non-empty directory: rename() fails after the temp file was written. */
        ck_assert_int_eq(mkdir(tpath("acct.state"), 0700), 0);
        write_file(tpath("acct.state/keep"), "kept", 4);
        ck_assert_int_eq(state_save(d, "acct", new), -EISDIR);
        ck_assert_uint_eq(count_files(".acct.state."), 0);
        ck_assert_int_eq(stat(tpath("acct.state"), &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_str_eq(read_text(tpath("acct.state/keep")), "kept");
}
END_TEST

START_TEST(test_replace_and_remove) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *a = small_set(100), *b = small_set(200), *e = NULL;
        struct stat st;

        /* A stale temp file of an earlier crash neither blocks a save nor is read. */
        write_file(tpath(".acct.state.AAAAAA"), "junk", 4);
        ck_assert_int_eq(state_save(d, "acct", a), 0);
        assert_content(d, a);
        /* An old file with a wider mode is replaced by a 0600 one. */
        ck_assert_int_eq(chmod(tpath("acct.state"), 0644), 0);
        ck_assert_int_eq(state_save(d, "acct", b), 0);
        assert_content(d, b);
        ck_assert_int_eq(stat(tpath("acct.state"), &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        /* Other accounts' files are separate. */
        ck_assert_int_eq(state_save(d, "other", a), 0);
        assert_content(d, b);

        ck_assert_int_eq(state_remove(d, "acct"), 0);
        ck_assert_int_eq(access(tpath("acct.state"), F_OK), -1);
        ck_assert_int_eq(state_remove(d, "acct"), 0);           /* already gone */
        ck_assert_int_eq(state_set_new(&e), 0);
        assert_content(d, e);
        ck_assert_int_eq(access(tpath("other.state"), F_OK), 0);
}
END_TEST

/* Many accounts at once: each file is the new one or, for a failing account, the old one; no
 * temp file is left behind either way. */
START_TEST(test_save_many) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *a = small_set(100), *b = small_set(200), *c = small_set(300);
        const char *accounts[4] = { "one", "two", "bad/name", "three" };
        const StateSet *sets[4] = { a, b, c, c };
        int errors[4];

        /* "two" exists already and is replaced; "bad/name" fails alone. */
        ck_assert_int_eq(state_save(d, "two", c), 0);
        ck_assert_int_eq(state_save_many(d, 4, accounts, sets, errors), 1);
        ck_assert_int_eq(errors[0], 0);
        ck_assert_int_eq(errors[1], 0);
        ck_assert_int_eq(errors[2], -EINVAL);
        ck_assert_int_eq(errors[3], 0);
        for (unsigned i = 0; i < 4; i++) {
                _cleanup_(state_set_freep) StateSet *l = NULL;
                char *log;

                if (i == 2)
                        continue;
                l = load_captured(d, accounts[i], &log);
                ck_assert_str_eq(log, "");
                assert_sets_equal(sets[i], l);
        }
        ck_assert_uint_eq(count_files("."), 2);         /* "." and "..": no temp file */
        /* A rename that fails (the target is a directory) leaves that account's old state and no temp. */
        ck_assert_int_eq(mkdir(tpath("four.state"), 0700), 0);
        accounts[2] = "four";
        ck_assert_int_eq(state_save_many(d, 4, accounts, sets, errors), 1);
        ck_assert_int_eq(errors[2], -EISDIR);
        ck_assert_uint_eq(count_files("."), 2);
        ck_assert_int_eq(state_save_many(d, 0, NULL, NULL, NULL), 0);
}
END_TEST

START_TEST(test_account_names) {
        _cleanup_(state_dir_freep) StateDir *d = open_tmp();
        _cleanup_(state_set_freep) StateSet *s = small_set(1);
        static const char *const bad[] = { "", "../x", "a/b", "a b", "a\nb", "caf\xc3\xa9", "*" };
        char longest[STATE_MAX_ACCOUNT + 2];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                StateSet *l = NULL;

                ck_assert_int_eq(state_save(d, bad[i], s), -EINVAL);
                ck_assert_int_eq(state_load(d, bad[i], &l), -EINVAL);
                ck_assert_ptr_null(l);
                ck_assert_int_eq(state_remove(d, bad[i]), -EINVAL);
        }
        ck_assert_int_eq(state_save(d, NULL, s), -EINVAL);
        ck_assert_uint_eq(count_files(""), 2);  /* "." and ".." only */

        /* [A-Za-z0-9._-] all work, ".." included (it becomes "...state"). */
        ck_assert_int_eq(state_save(d, "A-z_0.9", s), 0);
        ck_assert_int_eq(state_save(d, "..", s), 0);
        ck_assert_int_eq(access(tpath("...state"), F_OK), 0);

        memset(longest, 'a', STATE_MAX_ACCOUNT);
        longest[STATE_MAX_ACCOUNT] = 0;
        ck_assert_int_eq(state_save(d, longest, s), 0);
        longest[STATE_MAX_ACCOUNT] = 'a';
        longest[STATE_MAX_ACCOUNT + 1] = 0;
        ck_assert_int_eq(state_save(d, longest, s), -ENAMETOOLONG);
}
END_TEST

/* --- where the directory is ------------------------------------------------- */

static void clear_env(void) {
        ck_assert_int_eq(unsetenv("STATE_DIRECTORY"), 0);
        ck_assert_int_eq(unsetenv("XDG_STATE_HOME"), 0);
        ck_assert_int_eq(unsetenv("HOME"), 0);
}

static void assert_dir_from_env(const char *want) {
        _cleanup_(state_dir_freep) StateDir *d = NULL;
        struct stat st;

        ck_assert_int_eq(state_dir_open(NULL, &d), 0);
        ck_assert_str_eq(state_dir_path(d), want);
        ck_assert_int_eq(stat(want, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
}

START_TEST(test_location) {
        char list[1024];

        clear_env();
        /* Nothing usable. */
        {
                StateDir *d = NULL;

                ck_assert_int_eq(state_dir_open(NULL, &d), -ENXIO);
                ck_assert_int_eq(setenv("HOME", "relative/home", 1), 0);
                ck_assert_int_eq(state_dir_open(NULL, &d), -ENXIO);
                ck_assert_ptr_null(d);
        }

        /* $HOME/.local/state/imapidled, every missing level created 0700. */
        ck_assert_int_eq(setenv("HOME", tpath("home"), 1), 0);
        ck_assert_int_eq(mkdir(tpath("home"), 0755), 0);
        assert_dir_from_env(tpath("home/.local/state/imapidled"));
        {
                struct stat st;

                ck_assert_int_eq(stat(tpath("home/.local"), &st), 0);
                ck_assert_uint_eq(st.st_mode & 07777, 0700);
                /* An existing directory keeps its mode. */
                ck_assert_int_eq(stat(tpath("home"), &st), 0);
                ck_assert_uint_eq(st.st_mode & 07777, 0755);
        }

        /* $XDG_STATE_HOME wins over $HOME; an empty or relative one is ignored (XDG spec). */
        ck_assert_int_eq(setenv("XDG_STATE_HOME", "", 1), 0);
        assert_dir_from_env(tpath("home/.local/state/imapidled"));
        ck_assert_int_eq(setenv("XDG_STATE_HOME", "rel", 1), 0);
        assert_dir_from_env(tpath("home/.local/state/imapidled"));
        ck_assert_int_eq(setenv("XDG_STATE_HOME", tpath("xdg"), 1), 0);
        assert_dir_from_env(tpath("xdg/imapidled"));

        /* $STATE_DIRECTORY wins over both; its first entry is used. */
        ck_assert_int_eq(setenv("STATE_DIRECTORY", "", 1), 0);
        assert_dir_from_env(tpath("xdg/imapidled"));
        snprintf(list, sizeof(list), "%s:%s", tpath("sys/one"), tpath("sys/two"));
        ck_assert_int_eq(setenv("STATE_DIRECTORY", list, 1), 0);
        assert_dir_from_env(tpath("sys/one"));
        ck_assert_int_eq(access(tpath("sys/two"), F_OK), -1);
        ck_assert_int_eq(setenv("STATE_DIRECTORY", tpath("sys/only"), 1), 0);
        assert_dir_from_env(tpath("sys/only"));
}
END_TEST

START_TEST(test_explicit_path) {
        StateDir *d = NULL;
        char p[600];

        /* Trailing slashes go; a file in the way is -ENOTDIR; relative paths are refused. */
        snprintf(p, sizeof(p), "%s/a/b//", tmpdir);
        ck_assert_int_eq(state_dir_open(p, &d), 0);
        ck_assert_str_eq(state_dir_path(d), tpath("a/b"));
        d = state_dir_free(d);
        ck_assert_ptr_null(d);

        write_file(tpath("file"), "x", 1);
        ck_assert_int_eq(state_dir_open(tpath("file"), &d), -ENOTDIR);
        ck_assert_int_eq(state_dir_open(tpath("file/sub"), &d), -ENOTDIR);
        ck_assert_int_eq(state_dir_open("relative", &d), -EINVAL);
        ck_assert_ptr_null(d);

        ck_assert_int_eq(state_dir_open("/", &d), 0);
        ck_assert_str_eq(state_dir_path(d), "/");
        d = state_dir_free(d);
        ck_assert_ptr_null(state_set_free(NULL));
}
END_TEST

/* Not static: one of the two programs runs each (main()). */
Suite *state_suite(void);
Suite *state_suite(void) {
        Suite *s = suite_create("state");
        TCase *tc;

        tc = tcase_create("round-trip");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_round_trip);
        tcase_add_test(tc, test_empty_set_round_trip);
        tcase_add_test(tc, test_missing_file);
        suite_add_tcase(s, tc);

        tc = tcase_create("set");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_put_rules);
        tcase_add_test(tc, test_max_mailboxes);
        suite_add_tcase(s, tc);

        tc = tcase_create("corrupt");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, test_corrupt, 0, (int) ELEMENTSOF(corrupt));
        tcase_add_test(tc, test_limits);
        tcase_add_test(tc, test_unreadable);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);

        tc = tcase_create("atomic");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_atomic_temp_cannot_be_created);
        tcase_add_test(tc, test_atomic_write_fails);
        tcase_add_test(tc, test_atomic_rename_fails);
        tcase_add_test(tc, test_replace_and_remove);
        tcase_add_test(tc, test_save_many);
        tcase_add_test(tc, test_account_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("location");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_location);
        tcase_add_test(tc, test_explicit_path);
        suite_add_tcase(s, tc);
        return s;
}

Suite *state_rodir_suite(void);
Suite *state_rodir_suite(void) {
        Suite *s = suite_create("state-rodir");
        TCase *tc = tcase_create("atomic");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_atomic_read_only_dir);
        suite_add_tcase(s, tc);
        return s;
}

#if defined(TEST_STATE_RODIR)
/* Whether mode bits keep this process from creating a file in a directory of mode 0500.
 * Not for root, nor any process with CAP_DAC_OVERRIDE: asking geteuid() would miss the
 * capability, so this tries it, in a directory of its own. */
static int mode_bits_enforced(void) {
        const char *t = getenv("TMPDIR");
        char dir[256], file[300];
        bool enforced;
        int fd;

        snprintf(dir, sizeof(dir), "%s/test-state-probe.XXXXXX", t && t[0] == '/' ? t : "/tmp");
        if (!mkdtemp(dir))
                return -errno;
        snprintf(file, sizeof(file), "%s/probe", dir);
        (void) chmod(dir, 0500);
        fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        enforced = fd < 0 && errno == EACCES;
        if (fd >= 0) {
                close(fd);
                (void) unlink(file);
        }
        (void) chmod(dir, 0700);
        (void) rmdir(dir);
        return enforced;
}

int main(void) {
        /* Automake's SKIP (exit 77): the case cannot fail here, so it must not pass either. */
        int r = mode_bits_enforced();

        if (r < 0) {
                fprintf(stderr, "cannot make a probe directory: %s\n", strerror(-r));
                return 99; /* Automake's ERROR */
        }
        if (r == 0) {
                printf("SKIP: mode bits do not stop this user (root or CAP_DAC_OVERRIDE); "
                       "the read-only directory case needs an ordinary user\n");
                return 77;
        }
        return th_run_suite(state_rodir_suite());
}
#else
int main(void) {
        return th_run_suite(state_suite());
}
#endif

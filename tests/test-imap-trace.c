/* SPDX-License-Identifier: MIT */
/* test-imap-trace.c: the redacted protocol trace (src/imap/imap-trace.h): what is hidden, what
 * is kept, and that the result does not depend on how the bytes were cut into reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap-trace.h"
#include "macro.h"
#include "th.h"

/* One write or read: C or S, and its bytes. */
typedef struct TraceFeed {
        ImapTraceDir dir;
        const char *bytes;
} TraceFeed;

typedef struct TraceCase {
        const char *name;
        TraceFeed feeds[8];
        const char *expect;             /* every line, "C: ..." or "S: ...", each with "\n" */
        const char *secrets[8];         /* must appear nowhere */
} TraceCase;

#define C(s) { IMAP_TRACE_CLIENT, (s) }
#define S(s) { IMAP_TRACE_SERVER, (s) }

static const TraceCase cases[] = {
        { "login quoted",
          { S("* OK ready\r\n"), C("a1 LOGIN \"joe\" \"s3 \\\"cret\"\r\n"), S("a1 OK logged in\r\n") },
          "S: * OK ready\nC: a1 LOGIN \"joe\" <redacted>\nS: a1 OK logged in\n",
          { "s3", "cret" } },
        { "login atom",
          { C("a1 login joe hunter2\r\n"), S("a1 OK\r\n") },
          "C: a1 login joe <redacted>\nS: a1 OK\n",
          { "hunter2" } },
        { "login literal password",
          { C("a1 LOGIN joe {8}\r\n"), S("+ go ahead\r\n"), C("p4ssw0rd\r\n"), S("a1 OK\r\n") },
          "S: + go ahead\nC: a1 LOGIN joe {8}<8 bytes redacted>\nS: a1 OK\n",
          { "p4ssw0rd" } },
        { "login literal user and password, LITERAL+",
          { C("a1 LOGIN {3+}\r\njoe {6+}\r\nsecret\r\n"), S("a1 OK\r\n") },
          "C: a1 LOGIN {3+}<3 bytes redacted> {6+}<6 bytes redacted>\nS: a1 OK\n",
          { "secret", "joe" } },
        { "authenticate plain with SASL-IR",
          { C("A1 AUTHENTICATE PLAIN AGpvZQBzM2NyZXQ=\r\n"), S("A1 OK done\r\n"), C("A2 CAPABILITY\r\n") },
          "C: A1 AUTHENTICATE PLAIN <redacted>\nS: A1 OK done\nC: A2 CAPABILITY\n",
          { "AGpvZQBzM2NyZXQ=" } },
        { "authenticate plain continuation",
          { C("A1 AUTHENTICATE PLAIN\r\n"), S("+ \r\n"), C("AGpvZQBzM2NyZXQ=\r\n"), S("A1 OK done\r\n"),
            C("A2 NOOP\r\n") },
          "C: A1 AUTHENTICATE PLAIN\nS: + \nC: <redacted>\nS: A1 OK done\nC: A2 NOOP\n",
          { "AGpvZQBzM2NyZXQ=" } },
        { "authenticate xoauth2, error challenge, cancel shown",
          { C("A1 AUTHENTICATE XOAUTH2\r\n"), S("+ \r\n"),
            C("dXNlcj1qb2VAZXhhbXBsZS5vcmcBYXV0aD1CZWFyZXIgeWEyOS50b2tlbgEB\r\n"), S("+ eyJzdGF0dXMiOiI0MDAifQ==\r\n"),
            C("*\r\n"), S("A1 NO cancelled\r\n"), C("A2 LOGOUT\r\n") },
          "C: A1 AUTHENTICATE XOAUTH2\nS: + \nC: <redacted>\nS: + eyJzdGF0dXMiOiI0MDAifQ==\nC: *\n"
          "S: A1 NO cancelled\nC: A2 LOGOUT\n",
          { "dXNlcj1qb2VAZXhhbXBsZS5vcmcBYXV0aD1CZWFyZXIgeWEyOS50b2tlbgEB" } },
        { "an untagged response does not end AUTHENTICATE",
          { C("A1 AUTHENTICATE PLAIN\r\n"), S("* OK A1 fake\r\n+ \r\n"), C("c2VjcmV0\r\n"), S("A1 OK\r\n") },
          "C: A1 AUTHENTICATE PLAIN\nS: * OK A1 fake\nS: + \nC: <redacted>\nS: A1 OK\n",
          { "c2VjcmV0" } },
        { "fetch body literal",
          { C("A5 UID FETCH 7 (UID BODY.PEEK[])\r\n"),
            S("* 3 FETCH (UID 7 BODY[] {24}\r\nSubject: hello\r\n\r\nbody\r\n FLAGS (\\Seen))\r\n"),
            S("A5 OK done\r\n") },
          "C: A5 UID FETCH 7 (UID BODY.PEEK[])\n"
          "S: * 3 FETCH (UID 7 BODY[] {24}<24 bytes redacted> FLAGS (\\Seen))\nS: A5 OK done\n",
          { "hello", "body\r" } },
        { "fetch quoted body and envelope",
          { S("* 3 FETCH (UID 7 MODSEQ (12) BODY[HEADER.FIELDS (SUBJECT)] \"Subject: hi\" "
              "ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"Lunch \\\"today\\\"\" "
              "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL NIL NIL NIL NIL \"<B27397@x>\"))\r\n") },
          "S: * 3 FETCH (UID 7 MODSEQ (12) BODY[HEADER.FIELDS (SUBJECT)] \"<redacted>\" "
          "ENVELOPE (\"<redacted>\" \"<redacted>\" ((\"<redacted>\" NIL \"<redacted>\" \"<redacted>\")) "
          "NIL NIL NIL NIL NIL NIL \"<redacted>\"))\n",
          { "Lunch", "Terry", "gray", "washington", "B27397", "hi\"" } },
        { "envelope subject as a literal",
          { S("* 9 fetch (ENVELOPE (NIL {5}\r\nhello NIL NIL NIL NIL NIL NIL NIL NIL))\r\n") },
          "S: * 9 fetch (ENVELOPE (NIL {5}<5 bytes redacted> NIL NIL NIL NIL NIL NIL NIL NIL))\n",
          { "hello" } },
        { "structure outside FETCH is kept",
          { S("* 4 EXISTS\r\n* LIST (\\HasNoChildren) \"/\" \"Work Stuff\"\r\n* STATUS \"A\" (MESSAGES 2)\r\n"),
            C("A3 IDLE\r\n"), S("+ idling\r\n"), C("DONE\r\n") },
          "S: * 4 EXISTS\nS: * LIST (\\HasNoChildren) \"/\" \"Work Stuff\"\nS: * STATUS \"A\" (MESSAGES 2)\n"
          "C: A3 IDLE\nS: + idling\nC: DONE\n",
          { NULL } },
        { "a brace inside a quoted string is no literal",
          { S("* 1 FETCH (UID 1 BODY[] \"x {4}\")\r\n* 2 EXISTS\r\n") },
          "S: * 1 FETCH (UID 1 BODY[] \"<redacted>\")\nS: * 2 EXISTS\n",
          { "x {4}" } },
        { "control bytes and bare CR passed on",
          { S("* OK a\rb\x01\r\n") },
          "S: * OK a\rb\x01\n",
          { NULL } },
};

/* Feed every byte of the case in pieces of 'chunk' bytes (0: each feed whole); all lines out. */
static char *run_case(const TraceCase *c, size_t chunk) {
        _cleanup_(imap_trace_freep) ImapTrace *t = NULL;
        Buf out = BUF_INIT;

        ck_assert_int_eq(imap_trace_new(&t), 0);
        for (size_t k = 0; k < ELEMENTSOF(c->feeds) && c->feeds[k].bytes; k++) {
                const char *p = c->feeds[k].bytes;
                size_t n = strlen(p);

                for (size_t off = 0; off < n; ) {
                        size_t piece = chunk == 0 ? n - off : MIN(chunk, n - off), used = 0;

                        while (piece > 0) {
                                int r = imap_trace_feed(t, c->feeds[k].dir, p + off, piece, &used);

                                ck_assert_int_ge(r, 0);
                                ck_assert_uint_le(used, piece);
                                off += used;
                                piece -= used;
                                if (r == 1) {
                                        size_t len;
                                        const char *line = imap_trace_line(t, &len);

                                        ck_assert_int_eq(buf_append(&out, imap_trace_dir_to_string(c->feeds[k].dir), 1, 0), 0);
                                        ck_assert_int_eq(buf_append(&out, ": ", 2, 0), 0);
                                        ck_assert_int_eq(buf_append(&out, line, len, 0), 0);
                                        ck_assert_int_eq(buf_append(&out, "\n", 1, 0), 0);
                                } else
                                        ck_assert_uint_eq(piece, 0);
                        }
                }
        }
        ck_assert_int_eq(buf_append(&out, "", 1, 0), 0);
        return (char *) out.data;
}

START_TEST(test_redaction) {
        const TraceCase *c = &cases[_i];
        /* Whole, byte by byte, and in pieces that cut lines and literals anywhere. */
        static const size_t chunks[] = { 0, 1, 2, 3, 7 };

        for (size_t k = 0; k < ELEMENTSOF(chunks); k++) {
                _cleanup_free_ char *got = run_case(c, chunks[k]);

                ck_assert_msg(strcmp(got, c->expect) == 0, "%s (chunk %zu):\ngot:\n%s\nexpected:\n%s", c->name,
                              chunks[k], got, c->expect);
                for (size_t j = 0; j < ELEMENTSOF(c->secrets) && c->secrets[j]; j++)
                        ck_assert_msg(!strstr(got, c->secrets[j]), "%s: '%s' shown:\n%s", c->name, c->secrets[j], got);
        }
}
END_TEST

/* Exchanges whose secrets all contain "SECRET", literals holding what could confuse a reader
 * (CRLF, "{5}", quotes), strung together at random and fed in random pieces: "SECRET" never
 * comes out, and every exchange gives its number of lines. */
typedef struct TraceItem {
        TraceFeed feeds[4];
        unsigned lines;
} TraceItem;

static const TraceItem items[] = {
        { { C("T1 LOGIN user \"SECRET pw\"\r\n"), S("T1 OK\r\n") }, 2 },
        { { C("T1 LOGIN user SECRET\r\n"), S("T1 NO\r\n") }, 2 },
        { { C("T1 LOGIN {4}\r\nuser {16}\r\nSECRET\r\n{5}\r\n\"xy\r\n"), S("T1 OK\r\n") }, 2 },
        { { C("T1 AUTHENTICATE PLAIN\r\n"), S("+ \r\n"), C("SECRETbase64==\r\n"), S("T1 OK\r\n") }, 4 },
        { { C("T1 AUTHENTICATE XOAUTH2 SECRETinitial\r\n"), S("T1 OK\r\n") }, 2 },
        { { S("* 2 FETCH (UID 9 BODY[] {17}\r\nSECRET {5}\r\n\"\r\n\r\n FLAGS (\\Seen))\r\n") }, 1 },
        { { S("* 2 FETCH (ENVELOPE (\"d\" \"SECRET \\\" {3}\" ((NIL NIL \"SECRET\" \"x\"))))\r\n") }, 1 },
        { { S("* 3 EXISTS\r\n* 1 EXPUNGE\r\n"), C("T2 IDLE\r\n"), S("+ idling\r\n"), C("DONE\r\n") }, 5 },
};

START_TEST(test_random_cuts) {
        uint64_t rnd = 0x5eed;

        for (unsigned round = 0; round < 300; round++) {
                _cleanup_(imap_trace_freep) ImapTrace *t = NULL;
                unsigned want = 0, got = 0;

                ck_assert_int_eq(imap_trace_new(&t), 0);
                for (unsigned k = 0; k < 6; k++) {
                        const TraceItem *it = &items[th_rand(&rnd) % ELEMENTSOF(items)];

                        want += it->lines;
                        for (size_t f = 0; f < ELEMENTSOF(it->feeds) && it->feeds[f].bytes; f++) {
                                const char *p = it->feeds[f].bytes;
                                size_t n = strlen(p);

                                while (n > 0) {
                                        size_t piece = 1 + th_rand(&rnd) % MIN(n, (size_t) 9), used;
                                        int r = imap_trace_feed(t, it->feeds[f].dir, p, piece, &used);

                                        ck_assert_int_ge(r, 0);
                                        if (r == 1) {
                                                size_t len;
                                                const char *line = imap_trace_line(t, &len);

                                                ck_assert_msg(!memmem(line, len, "SECRET", 6), "round %u: %.*s",
                                                              round, (int) len, line);
                                                got++;
                                        }
                                        p += used;
                                        n -= used;
                                }
                        }
                }
                ck_assert_uint_eq(got, want);
        }
}
END_TEST

/* IMAP_TRACE_LINE_MAX: a longer line is cut and says how much was left out. */
START_TEST(test_line_max) {
        _cleanup_(imap_trace_freep) ImapTrace *t = NULL;
        _cleanup_free_ char *line = malloc(IMAP_TRACE_LINE_MAX + 102);
        char want[64];
        const char *got;
        size_t used, len;

        ck_assert_ptr_nonnull(line);
        memset(line, 'x', IMAP_TRACE_LINE_MAX + 100);
        memcpy(line + IMAP_TRACE_LINE_MAX + 100, "\r\n", 2);
        ck_assert_int_eq(imap_trace_new(&t), 0);
        ck_assert_int_eq(imap_trace_feed(t, IMAP_TRACE_SERVER, line, IMAP_TRACE_LINE_MAX + 102, &used), 1);
        ck_assert_uint_eq(used, IMAP_TRACE_LINE_MAX + 102);
        got = imap_trace_line(t, &len);
        snprintf(want, sizeof(want), " <100 more bytes>");
        ck_assert_uint_eq(len, IMAP_TRACE_LINE_MAX + strlen(want));
        ck_assert(memcmp(got + IMAP_TRACE_LINE_MAX, want, strlen(want)) == 0);
        ck_assert(got[IMAP_TRACE_LINE_MAX - 1] == 'x');
}
END_TEST

/* One feed call hands out at most one line, and what follows it is left for the next call. */
START_TEST(test_one_line_per_call) {
        _cleanup_(imap_trace_freep) ImapTrace *t = NULL;
        const char *p = "* 1 EXISTS\r\n* 2 EXISTS\r\n* 3";
        const char *line;
        size_t used, len;

        ck_assert_int_eq(imap_trace_new(&t), 0);
        ck_assert_int_eq(imap_trace_feed(t, IMAP_TRACE_SERVER, p, strlen(p), &used), 1);
        ck_assert_uint_eq(used, 12);
        line = imap_trace_line(t, &len);
        ck_assert_uint_eq(len, 10);
        ck_assert(memcmp(line, "* 1 EXISTS", 10) == 0);
        p += used;
        ck_assert_int_eq(imap_trace_feed(t, IMAP_TRACE_SERVER, p, strlen(p), &used), 1);
        ck_assert_uint_eq(used, 12);
        p += used;
        ck_assert_int_eq(imap_trace_feed(t, IMAP_TRACE_SERVER, p, strlen(p), &used), 0);
        ck_assert_uint_eq(used, 3);
}
END_TEST

/* A reset (a new connection) forgets a literal and an AUTHENTICATE in progress. */
START_TEST(test_reset) {
        _cleanup_(imap_trace_freep) ImapTrace *t = NULL;
        const char *a = "A1 AUTHENTICATE PLAIN\r\n", *b = "* 1 FETCH (BODY[] {100}\r\nabc";
        const char *line;
        size_t used, len;

        ck_assert_int_eq(imap_trace_new(&t), 0);
        ck_assert_int_eq(imap_trace_feed(t, IMAP_TRACE_CLIENT, a, strlen(a), &used), 1);
        ck_assert_int_eq(imap_trace_feed(t, IMAP_TRACE_SERVER, b, strlen(b), &used), 0);
        imap_trace_reset(t);
        ck_assert_int_eq(imap_trace_feed(t, IMAP_TRACE_SERVER, "* OK hi\r\n", 9, &used), 1);
        line = imap_trace_line(t, &len);
        ck_assert_uint_eq(len, 7);
        ck_assert(memcmp(line, "* OK hi", 7) == 0);
        ck_assert_int_eq(imap_trace_feed(t, IMAP_TRACE_CLIENT, "B1 NOOP\r\n", 9, &used), 1);
        line = imap_trace_line(t, &len);
        ck_assert_uint_eq(len, 7);
        ck_assert(memcmp(line, "B1 NOOP", 7) == 0);
}
END_TEST

START_TEST(test_contract) {
        size_t used;

        ck_assert_int_eq(imap_trace_new(NULL), -EINVAL);
        ck_assert_int_eq(imap_trace_feed(NULL, IMAP_TRACE_CLIENT, "", 0, &used), -EINVAL);
        ck_assert_ptr_null(imap_trace_free(NULL));
        ck_assert_str_eq(imap_trace_dir_to_string(IMAP_TRACE_CLIENT), "C");
        ck_assert_str_eq(imap_trace_dir_to_string(IMAP_TRACE_SERVER), "S");
        ck_assert_ptr_null(imap_trace_dir_to_string(_IMAP_TRACE_DIR_MAX));
}
END_TEST

static Suite *imap_trace_suite(void) {
        Suite *s = suite_create("imap-trace");
        TCase *tc;

        tc = tcase_create("redaction");
        tcase_add_loop_test(tc, test_redaction, 0, (int) ELEMENTSOF(cases));
        tcase_add_test(tc, test_random_cuts);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_add_test(tc, test_line_max);
        tcase_add_test(tc, test_one_line_per_call);
        tcase_add_test(tc, test_reset);
        suite_add_tcase(s, tc);

        tc = tcase_create("contract");
        tcase_add_test(tc, test_contract);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(imap_trace_suite());
}

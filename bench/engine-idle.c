/* SPDX-License-Identifier: MIT */
/*
 * engine-idle.c: what the sans-I/O engine costs for a mailbox in IDLE: heap
 * bytes per session, and CPU per response while idling.  Built on demand, not
 * by `make check`:
 *
 *   cd build && make bench/engine-idle
 *   bench/engine-idle mem [N]
 *       N sessions (default 1000) each driven from the greeting into IDLE with
 *       the transcript of tests/th-transcript.h; prints the heap in use per
 *       session (glibc mallinfo2(), malloc's chunk overhead included) and what
 *       imap_session_allocated() reports.
 *   bench/engine-idle cpu [N] [keepalive|fetch|envelope|big]
 *       one session in IDLE fed N responses (default 100000), one feed each:
 *       keepalive: "* OK Still here" and "* n EXISTS" in turn;
 *       fetch:     "* n FETCH (UID n FLAGS (\Seen \Answered) MODSEQ (n))";
 *       envelope:  a FETCH of UID, FLAGS, INTERNALDATE, RFC822.SIZE and ENVELOPE,
 *                  about 400 bytes and 50 values, what the daemon fetches per new message;
 *       big:       as fetch, and every 100th a FETCH with a 20,000-byte literal.
 *       Run it under valgrind for numbers that do not depend on the machine:
 *         valgrind --tool=callgrind bench/engine-idle cpu 100000 keepalive
 *         valgrind --tool=callgrind bench/engine-idle cpu 0 keepalive
 *       (the difference / 100000 is instructions per response), and
 *         valgrind bench/engine-idle cpu 100000 envelope
 *       for the number of malloc() calls ("total heap usage").
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap-session.h"
#include "th-transcript.h"

static const usec_t now = 1000 * USEC_PER_SEC;

/* What the daemon fetches per new message: about 400 bytes, 50 values. */
static const char envelope_fmt[] =
        "* %u FETCH (UID %u FLAGS (\\Seen) INTERNALDATE \"06-Dec-2024 06:00:00 +0000\" RFC822.SIZE 2345 "
        "ENVELOPE (\"Fri, 06 Dec 2024 06:00:00 +0000\" \"The subject of message %u\" "
        "((\"Alice Sender\" NIL \"alice\" \"a.test\")) ((\"Alice Sender\" NIL \"alice\" \"a.test\")) "
        "((\"Alice Sender\" NIL \"alice\" \"a.test\")) ((\"Bob Receiver\" NIL \"bob\" \"b.test\")) "
        "NIL NIL NIL \"<message-%u@a.test>\"))\r\n";

static int new_idle_session(ImapSession **ret) {
        ImapSession *s = NULL;
        int r;

        r = imap_session_new(&(ImapSessionParams) { .cmd_timeout = 60 * USEC_PER_SEC, .now = now }, &s);
        if (r < 0)
                return r;
        r = th_transcript_to_idle(s, now);
        if (r < 0) {
                fprintf(stderr, "transcript: %s\n", imap_session_error(s) ?: strerror(-r));
                imap_session_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

static int bench_mem(unsigned n) {
        ImapSession **v = calloc(n, sizeof(ImapSession *));
        size_t before, after, reported = 0;

        if (!v)
                return EXIT_FAILURE;
        before = mallinfo2().uordblks;
        for (unsigned i = 0; i < n; i++) {
                if (new_idle_session(&v[i]) < 0)
                        return EXIT_FAILURE;
                reported += imap_session_allocated(v[i]);
        }
        after = mallinfo2().uordblks;
        printf("%u sessions in IDLE: heap %zu B per session (mallinfo2), "
               "imap_session_allocated() %zu B\n",
               n, (after - before) / n, reported / n);
        for (unsigned i = 0; i < n; i++)
                imap_session_free(v[i]);
        free(v);
        return EXIT_SUCCESS;
}

static int bench_cpu(unsigned n, const char *kind) {
        static char big[20000];
        ImapSession *s = NULL;
        char line[640];

        if (new_idle_session(&s) < 0)
                return EXIT_FAILURE;
        memset(big, 'x', sizeof(big));
        for (unsigned i = 0; i < n; i++) {
                int r;

                if (strcmp(kind, "keepalive") == 0) {
                        if (i % 2 == 0)
                                r = th_transcript_feed(s, "* OK Still here\r\n", now);
                        else {
                                (void) snprintf(line, sizeof(line), "* %u EXISTS\r\n", i + 1);
                                r = th_transcript_feed(s, line, now);
                        }
                } else if (strcmp(kind, "big") == 0 && i % 100 == 99) {
                        (void) snprintf(line, sizeof(line), "* %u FETCH (UID %u BODY[] {%zu}\r\n", i + 1,
                                        i + 1, sizeof(big));
                        r = th_transcript_feed(s, line, now);
                        if (r >= 0) {
                                size_t used = 0;

                                r = imap_session_feed(s, big, sizeof(big), now, &used);
                                if (r >= 0 && used != sizeof(big))
                                        r = -EPROTO;
                        }
                        if (r >= 0)
                                r = th_transcript_feed(s, ")\r\n", now);
                } else if (strcmp(kind, "envelope") == 0) {
                        (void) snprintf(line, sizeof(line), envelope_fmt, i + 1, i + 1, i + 1, i + 1);
                        r = th_transcript_feed(s, line, now);
                } else if (strcmp(kind, "fetch") == 0 || strcmp(kind, "big") == 0) {
                        (void) snprintf(line, sizeof(line),
                                        "* %u FETCH (UID %u FLAGS (\\Seen \\Answered) MODSEQ (%u))\r\n",
                                        i + 1, i + 1, i + 10);
                        r = th_transcript_feed(s, line, now);
                } else {
                        fprintf(stderr, "unknown kind '%s'\n", kind);
                        return EXIT_FAILURE;
                }
                if (r < 0) {
                        fprintf(stderr, "response %u: %s\n", i, imap_session_error(s) ?: strerror(-r));
                        return EXIT_FAILURE;
                }
        }
        printf("%u %s responses fed; session holds %zu B\n", n, kind, imap_session_allocated(s));
        imap_session_free(s);
        return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        const char *mode = argc > 1 ? argv[1] : "mem";

        if (strcmp(mode, "mem") == 0)
                return bench_mem(argc > 2 ? (unsigned) strtoul(argv[2], NULL, 10) : 1000);
        if (strcmp(mode, "cpu") == 0)
                return bench_cpu(argc > 2 ? (unsigned) strtoul(argv[2], NULL, 10) : 100000,
                                 argc > 3 ? argv[3] : "keepalive");
        fprintf(stderr, "usage: %s mem [N] | cpu [N] [keepalive|fetch|envelope|big]\n", argv[0]);
        return EXIT_FAILURE;
}

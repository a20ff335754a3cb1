/* SPDX-License-Identifier: MIT */
/*
 * gen-imap-session-corpus.c: writes the seed corpus of fuzz-imap-session,
 * realistic sessions encoded in its op format (see fuzz-imap-session.c).
 * Not part of the build; run by hand when the format or the command table
 * changes:
 *   cc -o /tmp/gen tests/fuzz/gen-imap-session-corpus.c && /tmp/gen tests/fuzz/corpus/imap-session
 * Command numbers below are indexes into cmd_table of fuzz-imap-session.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
        NOOP, CAPABILITY, LOGIN_LIT, LOGIN, AUTH_PLAIN, AUTH_LOGIN, AUTH_CRAM, AUTH_XOAUTH2, STARTTLS,
        SELECT, EXAMINE_8BIT, IDLE, APPEND, APPEND_UTF8, FETCH, UID_FETCH, UID_SEARCH, UID_BOGUS, LIST,
        STATUS, ENABLE_UTF8, LOGOUT, XFUZZ, CLOSE, ID, STORE, EXPUNGE,
};

/* Header bits: 0-1 cap index (160, 512, 2048, 65536), 2 small limits, 3 no command timeout. */
enum { CAP160 = 0, CAP512 = 1, CAP2K = 2, CAP64K = 3, SMALL = 4, NOTIMEOUT = 8 };

enum { WHOLE = 0, BYTEWISE = 1, BY3 = 3, BY7 = 5, BY16 = 7 };

static unsigned char buf[65536];
static size_t len;

static void put(unsigned char c) {
        if (len >= sizeof(buf))
                abort();
        buf[len++] = c;
}

static void hdr(unsigned h) {
        len = 0;
        put((unsigned char) h);
}

static void consume(unsigned n);

/* Server bytes; a NUL is doubled, and the 0x00 that ends them is followed
 * by the next op.  Not taken: the output is left as it is, so the bytes come
 * before the server can have read it (catalogue case A05). */
static void feed_untaken(unsigned chunk, const char *s, size_t n) {
        put((unsigned char) (0x01 | chunk << 4));
        for (size_t i = 0; i < n; i++) {
                put((unsigned char) s[i]);
                if (s[i] == 0)
                        put(0);
        }
        put(0);
}
/* As a socket loop does: what the session wants to send is written first. */
static void feed_bin(unsigned chunk, const char *s, size_t n) {
        consume(0);
        feed_untaken(chunk, s, n);
}
static void feed_in(unsigned chunk, const char *s) {
        feed_bin(chunk, s, strlen(s));
}
static void feed(const char *s) {
        feed_in(WHOLE, s);
}
static void sub(unsigned k) {
        put(0x02);
        put((unsigned char) k);
}
static void idle_done(void) {
        put(0x03);
}
static void tls_done(void) {
        put(0x04);
}
static void tick(unsigned t) {
        put(0x05);
        put((unsigned char) t);
}
static void consume(unsigned n) {
        put(0x06);
        put((unsigned char) n);
}
static void pop(unsigned k) {
        put(0x07);
        put((unsigned char) k);
}
static void idle_pop(unsigned n) {
        put((unsigned char) (0x08 | n << 4));
}
static void clear(void) {
        put(0x09);
}
static void eof(void) {
        put(0x0a);
}

static const char *dir;

static void save(const char *name) {
        char path[4096];
        FILE *f;

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
                abort();
        f = fopen(path, "we");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
                perror(path);
                exit(EXIT_FAILURE);
        }
}

#define GREETING \
        "* OK [CAPABILITY IMAP4rev1 IDLE STARTTLS SASL-IR AUTH=PLAIN AUTH=LOGIN ENABLE] Dovecot ready.\r\n"

static void select_responses(unsigned tag) {
        char s[1024];

        snprintf(s, sizeof(s),
                 "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                 "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] "
                 "Flags permitted.\r\n"
                 "* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UNSEEN 2] first unseen\r\n"
                 "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 42] Predicted next UID\r\n"
                 "FZ%u OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n", tag);
        feed(s);
}

/* Greeting, LOGIN with the literal password, SELECT: tags 0 and 1 used. */
static void login_select_caps(unsigned chunk, const char *ok) {
        feed_in(chunk, GREETING);
        sub(LOGIN_LIT);
        consume(0);
        feed_in(chunk, "+ OK\r\n");
        consume(0);
        feed_in(chunk, ok);
        sub(SELECT);
        consume(0);
        select_responses(1);
}

static void login_select(unsigned chunk) {
        login_select_caps(chunk,
                          "FZ0 OK [CAPABILITY IMAP4rev1 IDLE ENABLE UIDPLUS MOVE LITERAL+] Logged in\r\n");
}

static void gen(void) {
        /* The daemon's life: login, select, IDLE with news, DONE, logout. */
        for (unsigned i = 0; i < 3; i++) {
                static const unsigned chunks[] = { WHOLE, BYTEWISE, BY7 };
                static const char *const names[] = {
                        "session-idle", "session-idle-bytewise", "session-idle-by7",
                };

                hdr(CAP2K);
                login_select(chunks[i]);
                sub(IDLE);
                consume(0);
                feed_in(chunks[i], "+ idling\r\n");
                feed_in(chunks[i], "* 4 EXISTS\r\n* 1 RECENT\r\n* 2 EXPUNGE\r\n");
                feed_in(chunks[i], "* 3 FETCH (UID 44 FLAGS (\\Seen) BODY[HEADER.FIELDS (SUBJECT)] {16}\r\n"
                                   "Subject: hello\r\n\r\n)\r\n");
                idle_pop(1);
                idle_done();
                consume(0);
                feed_in(chunks[i], "FZ2 OK Idle completed (0.002 + 1.000 secs).\r\n");
                pop(6);
                pop(9);
                idle_pop(0);
                sub(LOGOUT);
                consume(0);
                feed_in(chunks[i], "* BYE Logging out\r\nFZ3 OK Logout completed.\r\n");
                eof();
                save(names[i]);
        }

        /* PREAUTH, IDLE twice, the second ended by the server. */
        hdr(CAP512);
        feed("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] ready\r\n");
        sub(SELECT);
        select_responses(0);
        sub(IDLE);
        feed("+ idling\r\n* 5 EXISTS\r\n");
        tick(200);
        idle_done();
        feed("FZ1 OK done\r\n");
        sub(IDLE);
        feed("+ idling\r\n* 6 EXISTS\r\nFZ2 OK IDLE terminated by server\r\n");
        idle_done();
        idle_pop(0);
        save("preauth-idle-server-ends");

        /* IDLE refused before "+". */
        hdr(CAP2K);
        login_select(WHOLE);
        sub(IDLE);
        feed("* 7 EXISTS\r\nFZ2 NO IDLE is not allowed at this time\r\n");
        idle_done();
        pop(6);
        save("idle-refused");

        /* "+" repeated while idling, DONE, late responses after DONE. */
        hdr(CAP160);
        login_select(BY3);
        sub(IDLE);
        feed("+ idling\r\n+ still here\r\n* 9 EXISTS\r\n");
        idle_done();
        idle_done();
        feed("* 10 EXISTS\r\n* 3 FETCH (FLAGS (\\Deleted))\r\nFZ2 OK Idle completed\r\n");
        save("idle-repeated-plus");

        /* STARTTLS, the handshake, capabilities again, LOGIN. */
        hdr(CAP2K);
        feed("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n");
        sub(STARTTLS);
        sub(NOOP);
        consume(0);
        feed("FZ0 OK Begin TLS negotiation now\r\n");
        tls_done();
        sub(CAPABILITY);
        consume(0);
        feed("* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE SASL-IR\r\nFZ1 OK\r\nFZ2 OK Capability completed\r\n");
        sub(AUTH_PLAIN);
        feed("FZ3 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
        save("starttls");

        /* STARTTLS with bytes after the OK (docs/SECURITY.md B01): fatal. */
        hdr(CAP2K);
        feed("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
        sub(STARTTLS);
        feed("FZ0 OK Begin TLS negotiation now\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nFZ1 OK\r\n");
        tls_done();
        sub(NOOP);
        save("starttls-injection");

        /* The same injection in a second segment, then the handshake. */
        hdr(CAP2K);
        feed("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
        sub(STARTTLS);
        sub(LOGIN);
        feed("* OK [ALERT] prefix.\r\nFZ0 OK begin STARTTLS now.\r\n");
        feed("* BYE close the connection please.\r\n");
        save("starttls-injection-later");

        /* STARTTLS refused; the queued command goes out then. */
        hdr(CAP512);
        feed("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
        sub(STARTTLS);
        sub(LOGIN);
        feed("FZ0 NO TLS not available\r\n");
        consume(0);
        feed("FZ1 OK Logged in\r\n");
        save("starttls-refused");

        /* STARTTLS not announced. */
        hdr(CAP512);
        feed("* OK ready\r\n");
        sub(STARTTLS);
        sub(IDLE);
        sub(ENABLE_UTF8);
        save("no-capabilities");

        /* AUTHENTICATE PLAIN with SASL-IR, and without it. */
        hdr(CAP2K);
        feed(GREETING);
        sub(AUTH_PLAIN);
        feed("FZ0 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
        save("auth-plain-ir");

        hdr(CAP2K);
        feed("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n");
        sub(AUTH_PLAIN);
        consume(0);
        feed("+ \r\n");
        feed("FZ0 OK Logged in\r\n");
        sub(SELECT);
        save("auth-plain-no-ir");

        /* AUTHENTICATE LOGIN: two challenges; one too many is cancelled. */
        hdr(CAP2K);
        feed(GREETING);
        sub(AUTH_LOGIN);
        feed("+ VXNlcm5hbWU6\r\n");
        feed("+ UGFzc3dvcmQ6\r\n");
        feed("+ UGFzc3dvcmQ6\r\n");
        feed("FZ0 BAD cancelled\r\n");
        save("auth-login");

        /* CRAM-MD5 (RFC 2195's example challenge). */
        hdr(CAP2K);
        feed("* OK [CAPABILITY IMAP4rev1 AUTH=CRAM-MD5] ready\r\n");
        sub(AUTH_CRAM);
        feed("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n");
        feed("FZ0 OK CRAM-MD5 authentication successful\r\n");
        save("auth-cram-md5");

        /* XOAUTH2 error challenge, then NO; bad base64 is cancelled. */
        hdr(CAP2K);
        feed(GREETING);
        sub(AUTH_XOAUTH2);
        feed("+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIn0=\r\n");
        feed("FZ0 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n");
        sub(AUTH_PLAIN);
        feed("+ !!notbase64\r\n");
        feed("FZ1 BAD Authentication cancelled\r\n");
        save("auth-xoauth2-fail");

        /* APPEND with a synchronising literal, then with LITERAL+. */
        hdr(CAP2K);
        login_select_caps(WHOLE, "FZ0 OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] Logged in\r\n");
        sub(APPEND);
        consume(0);
        feed("+ Ready for literal data\r\n");
        consume(0);
        feed("FZ2 OK [APPENDUID 1700000000 42] Append completed.\r\n");
        sub(APPEND_UTF8);
        feed("+ go\r\nFZ3 NO not in UTF-8 mode\r\n");
        save("append");

        hdr(CAP2K);
        login_select(WHOLE);
        sub(APPEND);
        sub(NOOP);
        feed("FZ2 OK [APPENDUID 1700000000 42] Append completed.\r\nFZ3 OK\r\n");
        save("append-literal-plus");

        /* ENABLE UTF8=ACCEPT, then an 8-bit mailbox name goes quoted. */
        hdr(CAP2K);
        feed(GREETING);
        sub(LOGIN);
        feed("FZ0 OK Logged in\r\n");
        sub(ENABLE_UTF8);
        feed("* ENABLED UTF8=ACCEPT\r\nFZ1 OK Enabled\r\n");
        sub(EXAMINE_8BIT);
        feed("* 0 EXISTS\r\nFZ2 OK [READ-ONLY] Examine completed\r\n");
        sub(APPEND_UTF8);
        feed("+ go\r\nFZ3 OK done\r\n");
        save("enable-utf8");

        /* The 8-bit name without UTF-8 mode: a literal. */
        hdr(CAP2K);
        feed(GREETING);
        sub(LOGIN);
        feed("FZ0 OK\r\n");
        sub(EXAMINE_8BIT);
        feed("+ go\r\n* 0 EXISTS\r\nFZ1 NO [NONEXISTENT] no such mailbox\r\n");
        save("examine-8bit-literal");

        /* Greeting timeout; command timeout. */
        hdr(CAP512);
        tick(10);
        tick(0);
        feed(GREETING);
        save("timeout-greeting");

        hdr(CAP512);
        feed(GREETING);
        sub(NOOP);
        tick(30);
        feed("* 1 EXISTS\r\n");
        tick(59);
        tick(0);
        save("timeout-command");

        /* A flood of untagged data against the store cap. */
        hdr(CAP160);
        login_select(WHOLE);
        feed("* 4 EXISTS\r\n* 5 EXISTS\r\n* 6 EXISTS\r\n* 7 EXISTS\r\n* 8 EXISTS\r\n"
             "* 1 FETCH (FLAGS (\\Seen))\r\n* 2 FETCH (FLAGS (\\Seen))\r\n* 3 FETCH (FLAGS (\\Seen))\r\n"
             "* OK [ALERT] a long alert text that takes a good part of the cap by itself alone\r\n");
        pop(6);
        pop(9);
        pop(20);
        sub(NOOP);
        feed("* 9 EXISTS\r\nFZ2 OK\r\n");
        clear();
        save("store-flood");

        /* The same flood while idling. */
        hdr(CAP160);
        login_select(WHOLE);
        sub(IDLE);
        feed("+ idling\r\n* 4 EXISTS\r\n* 5 EXISTS\r\n* 6 EXISTS\r\n* 7 EXISTS\r\n* 8 EXISTS\r\n"
             "* 1 FETCH (BODY[] {40}\r\n0123456789012345678901234567890123456789)\r\n");
        idle_pop(2);
        idle_done();
        idle_pop(0);
        save("idle-flood");

        /* Protocol violations: foreign tag, never-sent tag, stray "+", bad greeting. */
        hdr(CAP512);
        feed(GREETING);
        sub(NOOP);
        feed("zz9 OK\r\n");
        save("foreign-tag");

        hdr(CAP512);
        feed(GREETING);
        sub(NOOP);
        feed("FZ7 OK\r\n");
        save("unsent-tag");

        /* A05: replies and "+" that come before the command was taken from the output. */
        hdr(CAP512);
        feed("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
        sub(STARTTLS);
        feed_untaken(WHOLE, "FZ0 OK Begin TLS negotiation now\r\n", 34);
        tls_done();
        sub(NOOP);
        save("reply-before-taken");

        hdr(CAP512);
        feed("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
        sub(STARTTLS);
        consume(5);
        feed_untaken(BYTEWISE, "FZ0 OK Begin TLS negotiation now\r\n", 34);
        consume(0);
        feed_untaken(WHOLE, "FZ0 OK Begin TLS negotiation now\r\n", 34);
        save("reply-before-partly-taken");

        hdr(CAP512);
        feed(GREETING);
        sub(LOGIN);
        feed("FZ0 OK Logged in\r\n");
        sub(IDLE);
        feed_untaken(WHOLE, "+ idling\r\n", 10);
        save("continuation-before-taken");

        hdr(CAP512);
        feed(GREETING);
        sub(NOOP);
        feed("+ what\r\n");
        save("stray-continuation");

        hdr(CAP512);
        feed("* BYE too busy\r\n");
        sub(NOOP);
        save("greeting-bye");

        /* EOF inside a literal. */
        hdr(CAP2K);
        login_select(WHOLE);
        sub(FETCH);
        feed("* 1 FETCH (BODY[] {100}\r\nshort");
        eof();
        save("eof-in-literal");

        /* Pipelining, completions out of order, UID commands, LIST, STATUS. */
        hdr(CAP64K);
        login_select(BY16);
        sub(FETCH);
        sub(UID_FETCH);
        sub(UID_SEARCH);
        sub(UID_BOGUS);
        sub(LIST);
        sub(STATUS);
        sub(STORE);
        consume(10);
        consume(0);
        feed("* 1 FETCH (FLAGS (\\Seen) UID 40 BODY[HEADER] {12}\r\nSubject: a\r\n)\r\n"
             "* 2 FETCH (UID 41 FLAGS ())\r\nFZ3 OK\r\n* SEARCH 41 43\r\nFZ4 OK Search done\r\n"
             "FZ2 OK Fetch\r\n"
             "* LIST (\\HasNoChildren) \"/\" INBOX\r\n* LIST () \"/\" {5}\r\nA\"B\\C\r\nFZ5 OK\r\n"
             "* STATUS INBOX (MESSAGES 3 UIDNEXT 44 UIDVALIDITY 1700000000)\r\nFZ6 OK\r\n"
             "* 1 FETCH (FLAGS (\\Seen \\Deleted))\r\nFZ7 OK\r\n");
        pop(12);
        pop(11);
        pop(13);
        pop(9);
        sub(EXPUNGE);
        feed("* 1 EXPUNGE\r\n* VANISHED 41\r\nFZ8 OK\r\n");
        sub(CLOSE);
        feed("FZ9 OK\r\n");
        sub(XFUZZ);
        sub(ID);
        feed("* ID (\"name\" \"Dovecot\")\r\nFZ10 BAD unknown\r\nFZ11 OK\r\n");
        save("pipeline");

        /* Small parser limits: an over-long line is fatal. */
        hdr(CAP512 | SMALL);
        feed(GREETING);
        sub(LOGIN);
        feed("FZ0 OK\r\n");
        sub(SELECT);
        feed("* 1 FETCH (BODY[] {300}\r\n");
        save("limits-literal");

        /* LOGOUT: nothing more can be sent, BYE then OK. */
        hdr(CAP512 | NOTIMEOUT);
        feed(GREETING);
        sub(LOGOUT);
        sub(NOOP);
        feed("* BYE bye\r\nFZ0 OK\r\n");
        sub(NOOP);
        eof();
        save("logout");

        /* A bare "+", an empty literal and a literal8 while selected. */
        hdr(CAP2K);
        login_select(WHOLE);
        sub(LOGIN_LIT);
        sub(FETCH);
        {
                static const char resp[] = "* 1 FETCH (BODY[] {0}\r\n BINARY[] ~{3}\r\na\0b)\r\nFZ2 OK\r\n";
                feed_bin(WHOLE, resp, sizeof(resp) - 1);
        }
        save("empty-literal-binary");
}

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return EXIT_FAILURE;
        }
        dir = argv[1];
        gen();
        return EXIT_SUCCESS;
}

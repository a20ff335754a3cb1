/* SPDX-License-Identifier: MIT */
/*
 * test-security.c: the security catalogue's cases at the imapidled binary (docs/SECURITY.md),
 * each against a scripted server (tests/fake-imapd.h) or a raw peer, named by its id: TLS
 * required (A01, A03, A04, A08, A09, A12), STARTTLS injection (B01, A05), untrusted data
 * before login (C01, H10), --list-mailboxes output (I08, I09), impossible mailbox states and
 * floods (H07, M08, H08, H11).  No Dovecot: the TLS servers use throwaway certificates
 * (tests/th-certs.h).  Each test asserts what the daemon logs, sends and runs, never how long
 * something took.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "macro.h"
#include "fake-imapd.h"
#include "th-certs.h"
#include "th-daemon.h"
#include "th.h"

/* Throwaway certificates in the test's directory (removed with it by daemon_done()): a CA the
 * account trusts (ca_file) and a server certificate for 127.0.0.1 that it signed. */
static void make_certs(Daemon *d, ThCerts *ret) {
        static const char *const ips[] = { "127.0.0.1", NULL };

        ck_assert_int_eq(th_certs_make(d->dir, NULL, ips, ret), 0);
}

START_TEST(test_starttls_injection_refused) {
        /* docs/SECURITY.md B01 at the daemon level: bytes after the STARTTLS OK end
         * the connection before any TLS or credentials; then it retries. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake\r\n"),
                FAKE_EXPECT("<tag> STARTTLS"),
                FAKE_SEND("<tag> OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        ThCerts certs;
        Daemon d;

        daemon_init(&d);
        make_certs(&d, &certs);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"inj\"; host = \"127.0.0.1\"; port = %u; tls = \"starttls\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; } );\n",
                     fake_imapd_port(f), certs.ca_file);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "possible injection", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s", report ? report : "");
        ck_assert(wait_log(&d, "retrying in", 1, 5000));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_A05_reply_before_starttls) {
        /* Catalogue case A05 at the daemon level: a STARTTLS reply in the greeting's segment,
         * with the tag a fixed prefix would give ("A0"), and the next one.  The connection
         * reads the whole segment before it writes, so the session sees the reply before its
         * STARTTLS left: not taken for the reply, no TLS, no credentials, not even the
         * STARTTLS line; then it retries. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake\r\n"
                          "A0 OK Begin TLS\r\nA1 OK Begin TLS\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        ThCerts certs;
        Daemon d;

        daemon_init(&d);
        make_certs(&d, &certs);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"a05\"; host = \"127.0.0.1\"; port = %u; tls = \"starttls\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; } );\n",
                     fake_imapd_port(f), certs.ca_file);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "unexpected response: 'A0 OK Begin TLS'") == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s", report ? report : "");
        ck_assert_uint_eq(log_count(&d, "never-sent"), 0);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

END_TEST

/* ---- the security catalogue at the daemon (docs/SECURITY.md): TLS required ---- */

/* An account that requires TLS ('tls' is "starttls" or "implicit") against a
 * scripted server that must see the daemon close without credentials or a
 * mailbox command (the script ends with FAKE_EXPECT_EOF()); the log says why. */
static void tls_required(const FakeStep *script, const char *tls, const char *want_log) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        FakeImapdOptions o = {};
        ThCerts certs;
        Daemon d;

        daemon_init(&d);
        make_certs(&d, &certs);
        if (strcmp(tls, "implicit") == 0) {
                /* The server certificate: for 127.0.0.1, from the CA the account trusts. */
                o.tls_cert_file = certs.cert_file;
                o.tls_key_file = certs.key_file;
        }
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"sec\"; host = \"127.0.0.1\"; port = %u; tls = \"%s\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\";\n"
                     "  on_new = %s; } );\n",
                     fake_imapd_port(f), tls, certs.ca_file, daemon_hook_cmd(&d, "new"));
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, want_log, 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_uint_eq(log_count(&d, "never-sent"), 0);
        daemon_done(&d);
}

#define MANY_AUTH "AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=DIGEST-MD5 AUTH=SCRAM-SHA-1 AUTH=SCRAM-SHA-256 " \
        "AUTH=EXTERNAL AUTH=GSSAPI AUTH=NTLM AUTH=OTP AUTH=XOAUTH2 AUTH=OAUTHBEARER AUTH=ANONYMOUS AUTH=APOP"

/* STARTTLS not offered: in the greeting's code, after a CAPABILITY, with only IMAP4, with many mechanisms. */
static const FakeStep a01_scripts[][5] = {
        { FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN] IMAP server ready.\r\n"), FAKE_EXPECT_EOF(),
          FAKE_END },
        { FAKE_SEND("* OK IMAP server ready.\r\n"), FAKE_EXPECT("<tag> CAPABILITY"),
          FAKE_SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN\r\n<tag> OK done\r\n"), FAKE_EXPECT_EOF(), FAKE_END },
        { FAKE_SEND("* OK [CAPABILITY IMAP4] ready\r\n"), FAKE_EXPECT_EOF(), FAKE_END },
        { FAKE_SEND("* OK [CAPABILITY IMAP4rev1 " MANY_AUTH "] ready\r\n"), FAKE_EXPECT_EOF(), FAKE_END },
};

START_TEST(test_A01_starttls_stripped) {
        tls_required(a01_scripts[_i], "starttls", "server does not offer STARTTLS; refusing to go on in plaintext");
}
END_TEST

START_TEST(test_A03_capability_bad) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK ready\r\n"),
                FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("<tag> BAD Not implemented\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        tls_required(script, "starttls", "CAPABILITY refused");
}
END_TEST

/* PREAUTH on a STARTTLS account: with and without capabilities, offering STARTTLS or not. */
static const FakeStep a04_scripts[][3] = {
        { FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] IMAP server ready.\r\n"),
          FAKE_EXPECT_EOF(), FAKE_END },
        { FAKE_SEND("* PREAUTH IMAP server ready.\r\n"), FAKE_EXPECT_EOF(), FAKE_END },
        { FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN IDLE] hi\r\n"), FAKE_EXPECT_EOF(),
          FAKE_END },
};

START_TEST(test_A04_preauth_on_starttls) {
        tls_required(a04_scripts[_i], "starttls", "PREAUTH greeting where STARTTLS was required");
}
END_TEST

START_TEST(test_A08_referral_not_followed) {
        /* A login referral is a refused login: no other host, the same server later. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"never-sent\""),
                FAKE_SEND("<tag> NO [REFERRAL IMAP://;AUTH=*@attacker.example.org:243/] try another server.\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        FakeImapdOptions o = {};
        ThCerts certs;
        Daemon d;

        daemon_init(&d);
        make_certs(&d, &certs);
        o.tls_cert_file = certs.cert_file;
        o.tls_key_file = certs.key_file;
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"ref\"; host = \"127.0.0.1\"; port = %u; tls = \"implicit\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; } );\n",
                     fake_imapd_port(f), certs.ca_file);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "login refused", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        /* The next attempt is the same server after the long (refused login) backoff. */
        ck_assert_msg(wait_log(&d, "ref/INBOX: retry in", 1, 5000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "connected to 127.0.0.1"), 1);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* LOGINDISABLED after TLS: no LOGIN; without another mechanism, fail cleanly; with AUTH=PLAIN, use it. */
START_TEST(test_A09_logindisabled) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        tls_required(script, "implicit", "no usable authentication mechanism offered by the server");
}
END_TEST

START_TEST(test_A09_logindisabled_auth_plain) {
        /* The positive control: AUTH=PLAIN after TLS is used, LOGIN never. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] ready\r\n"),
                FAKE_EXPECT("<tag> AUTHENTICATE PLAIN"),
                FAKE_SEND("+ \r\n"),
                FAKE_EXPECT("AHUAbmV2ZXItc2VudA=="),       /* "\0u\0never-sent" (RFC 4616) */
                FAKE_SEND("<tag> NO [AUTHENTICATIONFAILED] no\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        tls_required(script, "implicit", "login refused");
}
END_TEST

/* A peer that is not the TLS server it should be: it sends 'greeting' in
 * clear text, keeps everything it receives in 'out' until the client
 * closes, then exits.  Forked; returns its pid and the port. */
static pid_t plain_peer(const char *greeting, size_t greeting_len, const char *out, uint16_t *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        pid_t pid;

        ck_assert_int_ge(l, 0);
        ck_assert_int_eq(bind(l, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(l, 1), 0);
        ck_assert_int_eq(getsockname(l, (struct sockaddr *) &sa, &len), 0);
        *ret_port = ntohs(sa.sin_port);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct timeval tv = { .tv_sec = 10 };
                int c = accept(l, NULL, NULL), o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                char buf[4096];
                ssize_t n;

                if (c < 0 || o < 0)
                        _exit(1);
                (void) setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                if (write(c, greeting, greeting_len) < 0)
                        _exit(1);
                while ((n = read(c, buf, sizeof(buf))) > 0)
                        if (write(o, buf, (size_t) n) != n)
                                _exit(1);
                /* The client closed: EOF, or a reset when it closed with our bytes unread. */
                _exit(n == 0 || errno == ECONNRESET ? 0 : 2);
        }
        close(l);
        return pid;
}

START_TEST(test_A12_plaintext_on_tls_port) {
        /* The implicit-TLS port answers in clear text: the handshake fails, the
         * connection closes, nothing falls back to plaintext or STARTTLS. */
        static const struct {
                const char *bytes;
                size_t len;
        } greetings[] = {
#define G(s) { s, sizeof(s) - 1 }
                G("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] plaintext here\r\n"),
                G("\x15\x03\x03\x00\x02\x02\x28"),     /* a TLS alert record: handshake failure */
                G("garbage garbage garbage\r\n"),
#undef G
        };
        _cleanup_free_ char *sent = NULL;
        char out[160];
        uint16_t port;
        int status;
        pid_t pid;
        ThCerts certs;
        Daemon d;

        daemon_init(&d);
        make_certs(&d, &certs);
        snprintf(out, sizeof(out), "%s/received", d.dir);
        pid = plain_peer(greetings[_i].bytes, greetings[_i].len, out, &port);
        write_config(&d,
                     "accounts = ( { name = \"ptls\"; host = \"127.0.0.1\"; port = %u; tls = \"implicit\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; } );\n",
                     port, certs.ca_file);
        daemon_start(&d);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the daemon did not close: %d", status);
        ck_assert_msg(wait_log(&d, "ptls/INBOX: retry in", 1, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        sent = read_file(out);
        ck_assert_ptr_nonnull(sent);
        /* Only a ClientHello went out: a TLS handshake record (RFC 8446 §5.1), no IMAP. */
        ck_assert_msg(sent[0] == 0x16, "first byte %#x", (unsigned) (unsigned char) sent[0]);
        ck_assert_ptr_null(strstr(sent, "LOGIN"));
        ck_assert_ptr_null(strstr(sent, "STARTTLS"));
        ck_assert_ptr_null(strstr(sent, "CAPABILITY"));
        ck_assert_ptr_null(strstr(sent, "never-sent"));
        daemon_done(&d);
}
END_TEST

/* Mailbox data before login (C01) and EXISTS before any EXAMINE (H10): none
 * of it is taken; what the daemon knows afterwards is what EXAMINE said. */
START_TEST(test_C01_H10_untrusted_mailbox_data) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"
                          "* LIST () \"/\" 7XiYhgS7\r\n"
                          "* STATUS INBOX (MESSAGES 718001 RECENT 718002 UIDNEXT 718003 UNSEEN 718004 UIDVALIDITY 718005)\r\n"
                          "* SEARCH 1 2 3 4 5 6 7 8 9 10\r\n"
                          "* FLAGS (\\Flagged)\r\n"
                          "* 54321 EXISTS\r\n"
                          "* 12345 RECENT\r\n"
                          "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n"
                          "* 1 FETCH (BODY[] {28}\r\nFrom: Injected\r\n\r\nInjected\r\n)\r\n"
                          "* CAPABILITY IDLE\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"never-sent\""),
                FAKE_SEND("* 3 EXISTS\r\n* 2 EXPUNGE\r\n<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 5] n\r\n"
                          "<tag> OK [READ-ONLY] done\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *state = NULL;
        FakeImapdOptions o = {};
        char path[160];
        unsigned runs;
        ThCerts certs;
        Daemon d;

        daemon_init(&d);
        make_certs(&d, &certs);
        o.tls_cert_file = certs.cert_file;
        o.tls_key_file = certs.key_file;
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"inj\"; host = \"127.0.0.1\"; port = %u; tls = \"implicit\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; startup_sync = false;\n"
                     "  on_new = %s;\n"
                     "  on_expunge = %s; } );\n",
                     fake_imapd_port(f), certs.ca_file, daemon_hook_cmd(&d, "new"), daemon_hook_cmd(&d, "expunge"));
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=1/1 mailboxes idling", 10000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        /* What is known is what EXAMINE said: 2 messages, UIDVALIDITY 7, UIDNEXT 5. */
        snprintf(path, sizeof(path), "%s", daemon_state_path(&d, "inj"));
        state = read_file(path);
        ck_assert_msg(state && strstr(state, "\nINBOX 7 5 2 0 "), "%s", state ? state : "(no state)");
        free(daemon_hook_outputs(&d, "new-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(daemon_hook_outputs(&d, "expunge-", &runs));
        ck_assert_uint_eq(runs, 0);
        ck_assert_uint_eq(log_count(&d, "7XiYhgS7"), 0);
        daemon_done(&d);
}
END_TEST

/* --list-mailboxes against a scripted server (implicit TLS): log in, LIST "" *, send
 * 'listing' as one write, then the tagged OK, then LOGOUT.  The tool's stdout goes to
 * *ret_out, its stderr to d->log; returns its wait status. */
static int list_mailboxes_script(Daemon *d, const char *listing, char **ret_out) {
        const FakeStep script[] = {
                FAKE_SEND("* OK ready\r\n"),
                FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1\r\n<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"pw\""),
                FAKE_SEND("<tag> OK in\r\n"),
                FAKE_EXPECT("<tag> LIST \"\" *"),
                FAKE_SEND(listing),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        FakeImapdOptions o = { .timeout_ms = 60000 };
        ThCerts certs;
        char outpath[160];
        int status;

        make_certs(d, &certs);
        o.tls_cert_file = certs.cert_file;
        o.tls_key_file = certs.key_file;
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        write_config(d,
                     "accounts = ( { name = \"lm\"; host = \"127.0.0.1\"; port = %u; tls = \"implicit\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"pw\"; mailboxes = [\"INBOX\"]; } );\n",
                     fake_imapd_port(f), certs.ca_file);
        snprintf(outpath, sizeof(outpath), "%s/list.out", d->dir);
        status = daemon_run_tool(d, (const char *const[]) { "--list-mailboxes", "lm", NULL }, outpath);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d->log));
        *ret_out = read_file(outpath);
        return status;
}

/* I09: a decoded name (mUTF-7 "&AJs-" is U+009B CSI, "&IC4-" U+202E RIGHT-TO-LEFT
 * OVERRIDE) and a flag carrying a UTF-8 CSI reach the terminal escaped, by log_escape()'s
 * rule; printable UTF-8 stays as it is. */
START_TEST(test_I09_list_mailboxes_escaped) {
        _cleanup_free_ char *out = NULL;
        Daemon d;
        int status;

        daemon_init(&d);
        status = list_mailboxes_script(&d,
                                       "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
                                       "* LIST (\\HasNoChildren) \"/\" \"a&AJs-[31mb\"\r\n"
                                       "* LIST (\\HasNoChildren) \"/\" \"&IC4-evil&AOk-\"\r\n"
                                       "* LIST (\\HasNoChildren \\X\xc2\x9b" "2J) \"/\" flagged\r\n",
                                       &out);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d; log:\n%s", status, tail_of(d.log));
        ck_assert_msg(strstr(out, "\na\\xc2\\x9b[31mb \\HasNoChildren\n"), "%s", out);
        ck_assert_msg(strstr(out, "\n\\xe2\\x80\\xaeevil\xc3\xa9 \\HasNoChildren\n"), "%s", out);
        ck_assert_msg(strstr(out, "\nflagged \\HasNoChildren \\X\\xc2\\x9b2J\n"), "%s", out);
        /* No C1 or bidi control anywhere, in either encoding. */
        ck_assert_ptr_null(strstr(out, "\xc2\x9b"));
        ck_assert_ptr_null(strstr(out, "\xe2\x80\xae"));
        ck_assert_ptr_null(strchr(out, '\x1b'));
        daemon_done(&d);
}
END_TEST

/* I08: 1,000,000 LIST entries are all printed (the client's response store keeps 1 MiB and
 * drops the oldest; the tool takes each entry as it comes), or the tool fails loudly. */
START_TEST(test_I08_list_mailboxes_million) {
        _cleanup_free_ char *out = NULL;
        const unsigned n = 1000000;
        Buf listing = BUF_INIT;
        size_t lines = 0;
        Daemon d;
        int status;

        daemon_init(&d);
        ck_assert_int_eq(buf_reserve(&listing, (size_t) n * 32, 0), 0);
        for (unsigned i = 0; i < n; i++) {
                char line[64];
                int k = snprintf(line, sizeof(line), "* LIST (\\HasNoChildren) \"/\" m%07u\r\n", i);

                ck_assert_int_eq(buf_append(&listing, line, (size_t) k, 0), 0);
        }
        ck_assert_int_eq(buf_append(&listing, "", 1, 0), 0);
        status = list_mailboxes_script(&d, listing.data, &out);
        buf_done(&listing);
        ck_assert_msg(WIFEXITED(status), "status %d", status);
        for (const char *p = out; (p = strchr(p, '\n')); p++)
                lines++;
        if (WEXITSTATUS(status) != 0) {
                /* The other honest outcome: a clear error, not a short list with exit 0. */
                ck_assert_msg(log_count(&d, "LIST") > 0, "log:\n%s", tail_of(d.log));
                ck_abort_msg("exit %d after %zu lines; log:\n%s", WEXITSTATUS(status), lines, tail_of(d.log));
        }
        /* Every entry, plus the configured INBOX the server did not list. */
        ck_assert_uint_eq(lines, (size_t) n + 1);
        ck_assert_msg(strncmp(out, "m0000000 \\HasNoChildren\n", 24) == 0, "%.80s", out);
        ck_assert_ptr_nonnull(strstr(out, "\nm0999999 \\HasNoChildren\n"));
        ck_assert_ptr_nonnull(strstr(out, "\nm0500000 \\HasNoChildren\n"));
        daemon_done(&d);
}
END_TEST

/* I08: an entry the parser rejects (a flag that is not an atom, RFC 3501 §7.2.2) is skipped
 * with a warning that names it, escaped; the entries around it are printed. */
START_TEST(test_I08_list_mailboxes_bad_entry) {
        _cleanup_free_ char *out = NULL, *log = NULL;
        Daemon d;
        int status;

        daemon_init(&d);
        status = list_mailboxes_script(&d,
                                       "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
                                       "* LIST (\"Bad\" \\HasNoChildren) \"/\" \"Evil\xc2\x9b\"\r\n"
                                       "* LIST (\\HasNoChildren) \"//\" Delim\r\n"
                                       "* LIST (\\HasNoChildren) \"/\" After\r\n",
                                       &out);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d; log:\n%s", status, tail_of(d.log));
        ck_assert_msg(strstr(out, "INBOX \\HasNoChildren  (watched)\n"), "%s", out);
        ck_assert_msg(strstr(out, "\nAfter \\HasNoChildren\n"), "%s", out);
        ck_assert_ptr_null(strstr(out, "Evil"));
        ck_assert_ptr_null(strstr(out, "Delim"));
        ck_assert_uint_eq(log_count(&d, "skipping a LIST entry"), 2);
        ck_assert_msg(log_count(&d, "Evil\\xc2\\x9b") == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "Delim") == 1, "log:\n%s", tail_of(d.log));
        log = read_file(d.log);
        ck_assert_ptr_null(strstr(log, "\xc2\x9b"));
        daemon_done(&d);
}
END_TEST

/* A config for the scripted server on 'port': plaintext, every hook writing its environment to
 * "<event>-<pid>" in the test's directory. */
static void write_config_hooks(Daemon *d, const char *name, uint16_t port) {
        write_config(d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"%s\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_new = %s;\n"
                     "  on_expunge = %s;\n"
                     "  on_flags = %s; } );\n",
                     name, (unsigned) port, daemon_hook_cmd(d, "new"), daemon_hook_cmd(d, "expunge"), daemon_hook_cmd(d, "flags"));
}

/* H07, M08: responses that cannot be true of the mailbox (an EXPUNGE and a FETCH beyond
 * EXISTS, an EXISTS that shrinks without EXPUNGE) run no hook; each makes the daemon end IDLE
 * and EXAMINE the mailbox again, whose numbers (unchanged) are compared as on a reconnect:
 * nothing to report.  The daemon says so once per connection. */
START_TEST(test_H07_M08_impossible_state) {
#define H07_EXAMINED "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n<tag> OK [READ-ONLY] done\r\n"
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND(H07_EXAMINED),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                /* Three messages, and the fiftieth is expunged. */
                FAKE_SEND("* 50 EXPUNGE\r\n* 1 EXPUNGE\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND(H07_EXAMINED),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND("* 99 FETCH (FLAGS (\\Seen))\r\n* 1 FETCH (FLAGS (\\Seen))\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND(H07_EXAMINED),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                /* Fewer without EXPUNGE, then "growth" back to three. */
                FAKE_SEND("* 1 EXISTS\r\n* 3 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND(H07_EXAMINED),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
#undef H07_EXAMINED
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        unsigned runs;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config_hooks(&d, "h7", fake_imapd_port(f));
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 4, 15000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        /* The daemon has exited and the script ran to its end: every hook it started is in
         * its log (hook.c logs each start with -v), and there is none. */
        ck_assert_msg(daemon_log_lines(&d, "h7/INBOX on_", "]: started") == 0, "log:\n%s", tail_of(d.log));
        free(daemon_hook_outputs(&d, "new-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(daemon_hook_outputs(&d, "expunge-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(daemon_hook_outputs(&d, "flags-", &runs));
        ck_assert_uint_eq(runs, 0);
        /* One notice for the connection; the debug lines of -v say the rest. */
        ck_assert_msg(log_count(&d, "<5>h7/INBOX: out of sync: EXPUNGE of message 50 with 3 messages known") +
                      log_count(&d, "h7/INBOX: out of sync: EXPUNGE of message 50 with 3 messages known") >= 1,
                      "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "out of sync, EXAMINE again"), 3);
        daemon_done(&d);
}
END_TEST

/* H07: a server that contradicts itself again after every EXAMINE does not keep the daemon in a
 * loop: after the third EXAMINE on one session the connection is closed (and tried again after
 * the backoff), still without a hook. */
START_TEST(test_H07_impossible_state_loop) {
#define H07_EXAMINED "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n<tag> OK [READ-ONLY] done\r\n"
#define H07_ROUND FAKE_EXPECT("<tag> EXAMINE INBOX"), FAKE_SEND(H07_EXAMINED), FAKE_EXPECT("<tag> IDLE"), \
                FAKE_SEND("+ idling\r\n* 9 EXPUNGE\r\n"), FAKE_EXPECT("DONE"), FAKE_SEND("<tag> OK done\r\n")
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                H07_ROUND, H07_ROUND, H07_ROUND, H07_ROUND,
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
#undef H07_ROUND
#undef H07_EXAMINED
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        unsigned runs;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config_hooks(&d, "h7l", fake_imapd_port(f));
        daemon_start(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "keep contradicting each other", 1, 5000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        free(daemon_hook_outputs(&d, "expunge-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(daemon_hook_outputs(&d, "new-", &runs));
        ck_assert_uint_eq(runs, 0);
        daemon_done(&d);
}
END_TEST

/* H08: 100,000 flag changes in IDLE (each of a message that is there) make a few on_flags runs
 * (single flight: one, then exactly one more) and a few log lines (docs/EVENTS.md "The log":
 * ten event lines a minute per mailbox), and the daemon stays responsive: the new mail behind
 * the flood starts its hook and the DONE for its fetch comes. */
START_TEST(test_H08_fetch_flood) {
        enum { N = 100000 };
        Buf flood = BUF_INIT;
        FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 10 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 11] n\r\n"
                          "<tag> OK [READ-ONLY] done\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND_RAW(NULL, 0),         /* the flood, below */
                FAKE_SEND("* 11 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 11:* (UID)"),
                FAKE_SEND("* 11 FETCH (UID 11)\r\n<tag> OK fetched\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *log = NULL;
        unsigned runs, lines = 0;
        Daemon d;

        for (unsigned i = 0; i < N; i++) {
                char line[64];
                int k = snprintf(line, sizeof(line), "* %u FETCH (FLAGS (\\Seen))\r\n", 1 + i % 10);

                ck_assert_int_eq(buf_append(&flood, line, (size_t) k, 0), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(script); i++)
                if (script[i].type == FAKE_STEP_SEND_RAW) {
                        script[i].data = flood.data;
                        script[i].len = flood.len;
                }
        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start_full(script, &(FakeImapdOptions) { .timeout_ms = 30000 }, NULL, &f), 0);
        buf_done(&flood);
        /* The first on_flags run lasts until the daemon idles again after the flood (the new
         * mail behind it was fetched), so the count of runs does not depend on the machine's
         * speed: every flag change after the first folds into exactly one more run. */
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"h8\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_new = %s;\n"
                     "  on_flags = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/flags-$$; \"\n"
                     "              \"while [ $(grep -c -- '-> idling' %s) -lt 2 ]; do sleep 0.05; done\"]; } );\n",
                     (unsigned) fake_imapd_port(f), daemon_hook_cmd(&d, "new"), d.dir, d.log);
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "new-", 1, 30000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "log:\n%s", tail_of(d.log));
        /* The second run starts when the first ends, which is after the flood was read. */
        ck_assert_msg(daemon_wait_hook(&d, "flags-", 2, 10000, NULL), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        /* Every trigger came before the second run started (the server sent nothing after the
         * flood but what the script shows): the log, complete now, holds no third start. */
        runs = daemon_log_lines(&d, "h8/INBOX on_flags[", "]: started");
        ck_assert_msg(runs == 2, "%u on_flags runs; log:\n%s", runs, tail_of(d.log));
        free(daemon_hook_outputs(&d, "flags-", &runs));
        ck_assert_msg(runs == 2, "%u on_flags runs", runs);
        /* The lines about the mailbox (not counting -v's debug lines of the connection's states). */
        log = read_file(d.log);
        for (char *p = log, *nl; *p; p = nl + 1) {
                nl = strchrnul(p, '\n');
                if (memmem(p, (size_t) (nl - p), "h8/INBOX", 8) && !memmem(p, (size_t) (nl - p), " -> ", 4))
                        lines++;
                if (!*nl)
                        break;
        }
        ck_assert_msg(lines < 50, "%u lines:\n%s", lines, tail_of(d.log));
        ck_assert_msg(log_count(&d, "h8/INBOX: flags, 1 message") <= 10, "log:\n%s", tail_of(d.log));
        daemon_done(&d);
}
END_TEST

START_TEST(test_H11_no_uidnext) {
        /* EXAMINE without UIDVALIDITY or UIDNEXT: new mail is still reported, the
         * hook is told nothing made up (no IMAPIDLED_UIDVALIDITY=0, no UIDNEXT, no
         * "0:*"), and the UIDs are asked for from 1 (RFC 3501 §2.3.1.1). */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n<tag> OK [READ-ONLY] done\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* 1 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 1:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 4)\r\n<tag> OK fetched\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *env = NULL;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"h11\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"env > %s/.new-$$ && mv %s/.new-$$ %s/new-$$\"]; } );\n",
                     fake_imapd_port(f), d.dir, d.dir, d.dir);
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "new-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=1\n") && !strstr(env, "IMAPIDLED_UIDVALIDITY=") &&
                      !strstr(env, "IMAPIDLED_UIDNEXT=") && !strstr(env, "IMAPIDLED_UIDS=0"), "%s", env);
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        daemon_done(&d);
}
END_TEST

static Suite *security_suite(void) {
        Suite *s = suite_create("security");
        TCase *tc = tcase_create("tls-required");

        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, test_A01_starttls_stripped, 0, (int) ELEMENTSOF(a01_scripts));
        tcase_add_test(tc, test_A03_capability_bad);
        tcase_add_loop_test(tc, test_A04_preauth_on_starttls, 0, (int) ELEMENTSOF(a04_scripts));
        tcase_add_test(tc, test_A08_referral_not_followed);
        tcase_add_test(tc, test_A09_logindisabled);
        tcase_add_test(tc, test_A09_logindisabled_auth_plain);
        tcase_add_loop_test(tc, test_A12_plaintext_on_tls_port, 0, 3);
        tcase_add_test(tc, test_starttls_injection_refused);
        tcase_add_test(tc, test_A05_reply_before_starttls);
        tcase_add_test(tc, test_C01_H10_untrusted_mailbox_data);
        tcase_add_test(tc, test_I09_list_mailboxes_escaped);
        tcase_add_test(tc, test_I08_list_mailboxes_million);
        tcase_add_test(tc, test_I08_list_mailboxes_bad_entry);
        suite_add_tcase(s, tc);

        tc = tcase_create("untrusted-state");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_H07_M08_impossible_state);
        tcase_add_test(tc, test_H07_impossible_state_loop);
        tcase_add_test(tc, test_H08_fetch_flood);
        tcase_add_test(tc, test_H11_no_uidnext);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(security_suite());
}

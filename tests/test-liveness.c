/* SPDX-License-Identifier: MIT */
/*
 * test-liveness.c: the imapidled binary is never silently dead (docs/LIVENESS.md): faults
 * between it and a real Dovecot (tests/faultproxy.h: a silent black hole, RST, a stall after
 * "+ idling", DONE never answered, half a line, a slow drip) are noticed, the connection
 * replaced and what came meanwhile reported; a resume replaces every connection; a server
 * that keeps talking is alive; each phase's deadline closes a connection that stops there;
 * no network at the start, or an expired token, are retried as they should be.  Split from
 * tests/test-daemon.c (whose header says how these tests work) so that make -j2 check runs
 * both at once.
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
#include "faultproxy.h"
#include "th-daemon-dovecot.h"
#include "th.h"

/* ---- issue 6: never silently dead ------------------------------------------------------------- */

typedef struct Fault {
        const char *name;
        int (*apply)(ThProxy *p);
        bool pass_after_detection;      /* the fault hits new connections too until pass */
} Fault;

static int fault_blackhole(ThProxy *p) {
        int r = th_proxy_blackhole(p);          /* the current connection is gone silent ... */
        return r < 0 ? r : th_proxy_pass(p);    /* ... new ones pass */
}
static int fault_rst(ThProxy *p) {
        return th_proxy_rst(p, false);
}
static int fault_stall_after_idling(ThProxy *p) {
        return th_proxy_stall_after(p, "+ idling", true);
}
static int fault_done_unanswered(ThProxy *p) {
        return th_proxy_drop_after_client(p, "DONE\r\n", true);
}
static int fault_half_line(ThProxy *p) {
        return th_proxy_half_line(p, true);
}
static int fault_drip(ThProxy *p) {
        return th_proxy_drip(p, 300);
}

static const Fault faults[] = {
        { "silent blackhole",           fault_blackhole,          false },
        { "RST",                        fault_rst,                false },
        { "stall after + idling",       fault_stall_after_idling, false },
        { "DONE never answered",        fault_done_unanswered,    false },
        { "half a line then silence",   fault_half_line,          false },
        { "slow drip (300 ms a byte)",  fault_drip,               true  },
};

/* Tight deadlines so that each fault is found in seconds; the defaults are in
 * docs/LIVENESS.md with their measured bounds (bench/). */
#define FAST_LIVENESS \
        "liveness_interval = 2; done_timeout = 1; command_timeout = 3; greeting_timeout = 3;\n" \
        "select_timeout = 3; auth_timeout = 3; connect_timeout = 3; tls_timeout = 3; debounce = 0;\n"

/* Until the connection in place has answered a liveness probe and idles again, with no
 * connection replaced meanwhile.  A run, the fetch of its UIDs and a catch-up all come before
 * the next IDLE of the connection that makes them, and each run's start is logged when it
 * happens: after this, the runs in the log are all the fault made. */
static void wait_settled(Daemon *d, ThProxy *p) {
        for (unsigned tries = 0; tries < 5; tries++) {
                unsigned probes = log_count(d, "DONE (liveness probe"), conns, conns_after;

                ck_assert_int_eq(th_proxy_count(p, &conns), 0);
                ck_assert_msg(daemon_wait_log_after(d, "DONE (liveness probe", probes + 1, "-> idling", 15000),
                              "log:\n%s", tail_of(d->log));
                ck_assert_int_eq(th_proxy_count(p, &conns_after), 0);
                if (conns_after == conns)
                        return;
        }
        ck_abort_msg("no connection lasted a liveness probe; log:\n%s", tail_of(d->log));
}

static void run_fault(const Fault *f, int idx, bool uids) {
        /* Each fault between the daemon and Dovecot: the dead connection is
         * noticed, replaced, back in IDLE, and the message delivered during
         * the fault is reported (catch-up: none missed). */
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        char box[32], extra[128], msg[128], port[8];
        const char *create[] = { "mailbox", "create", "-u", "user1", box, NULL };
        unsigned before, n;
        uint64_t t0, ms;
        Daemon d;

        daemon_dovecot_init(&d);
        snprintf(box, sizeof(box), "Fault%d%s", idx, uids ? "" : "h");
        (void) th_dovecot_doveadm(&dovecot, create);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, box), 0);
        ck_assert_int_eq(th_proxy_start(dovecot.plain_port_num, &p), 0);
        snprintf(extra, sizeof(extra), "mailboxes = [\"%s\"];", box);
        snprintf(port, sizeof(port), "%u", (unsigned) th_proxy_port(p));
        acc = account_block_full(&d, "flt", 1, extra, port, true, uids);
        write_config(&d, FAST_LIVENESS "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        /* A healthy connection survives its probes. */
        ck_assert_msg(wait_log(&d, "DONE (liveness probe", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_int_eq(th_proxy_count(p, &before), 0);
        ck_assert_uint_eq(before, 1);

        t0 = mono_ms();
        ck_assert_int_eq(f->apply(p), 0);
        snprintf(msg, sizeof(msg), "From: a@example.org\nSubject: during %s\n\nhello\n", f->name);
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, 1, box, msg), 0);
        if (f->pass_after_detection) {
                ck_assert_msg(wait_log(&d, "no progress in state", 1, 20000), "log:\n%s", tail_of(d.log));
                ck_assert_int_eq(th_proxy_pass(p), 0);
        }
        ck_assert_msg(th_proxy_wait_count(p, before + 1, 20000) == 0, "%s: no new connection; log:\n%s", f->name,
                      tail_of(d.log));
        ck_assert_msg(daemon_wait_hook(&d, "new-flt-", 1, 20000, &env), "%s: delivery not reported; log:\n%s", f->name,
                      tail_of(d.log));
        ms = mono_ms() - t0;
        printf("fault \"%s\": replaced and reported in %llu ms\n", f->name, (unsigned long long) ms);
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=1\n"), "%s", env);
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=Fault"), "%s", env);
        /* liveness 2 + done 1 + first backoff <= 1 + connect; generous for a loaded machine. */
        ck_assert_uint_lt(ms, 15000);
        wait_settled(&d, p);
        /* With uids = true the run knows its UIDs before it starts: exactly once.  A hook
         * started on the hot path may see a fault in the round trip after its start: then the
         * catch-up reports the message again, never zero times (docs/EVENTS.md). */
        n = daemon_log_lines(&d, " on_new[", "]: started");
        ck_assert_msg(uids ? n == 1 : n >= 1 && n <= 2, "%u runs; log:\n%s", n, tail_of(d.log));
        /* No phantom: nothing was expunged. */
        ck_assert_msg(daemon_log_lines(&d, " on_expunge[", "]: started") == 0, "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}

START_TEST(test_fault) {
        /* uids = true: the delivery is reported exactly once. */
        run_fault(&faults[_i], _i, true);
}
END_TEST

START_TEST(test_fault_hot_path) {
        /* The default hook (the hot path) through the faults that strike right after the hook
         * started: the message is reported at least once, and no expunge is invented. */
        static const int which[] = { 2, 4 };

        run_fault(&faults[which[_i]], which[_i], false);
}
END_TEST

START_TEST(test_resume_reconnects) {
        /* A suspend (a clock jump, injected with SIGUSR2): every connection
         * is replaced at once and what came meanwhile is reported. */
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        char port[8];
        uint64_t t0;
        Daemon d;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 2, "INBOX"), 0);
        ck_assert_int_eq(th_proxy_start(dovecot.plain_port_num, &p), 0);
        snprintf(port, sizeof(port), "%u", (unsigned) th_proxy_port(p));
        acc = account_block_full(&d, "sus", 2, NULL, port, true, false);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        /* "Asleep": the connection is silently dead, mail comes. */
        ck_assert_int_eq(th_proxy_blackhole(p), 0);
        ck_assert_int_eq(th_proxy_pass(p), 0);
        deliver(2, "while asleep");
        t0 = mono_ms();
        ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
        ck_assert_msg(th_proxy_wait_count(p, 2, 10000) == 0, "log:\n%s", tail_of(d.log));
        printf("resume -> new connection in %llu ms\n", (unsigned long long) (mono_ms() - t0));
        ck_assert_uint_lt(mono_ms() - t0, 3000);        /* at once: jitter of at most 1 s */
        ck_assert_msg(daemon_wait_hook(&d, "new-sus-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_REASON=catchup\n") && strstr(env, "IMAPIDLED_COUNT=1\n"), "%s", env);
        ck_assert_uint_eq(log_count(&d, "Resumed after about 3600 s"), 1);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_no_network_at_start) {
        /* Nothing listens (as at boot before the network is up): READY=1
         * anyway, and retries with a growing backoff, never giving up. */
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd;
        Daemon d;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        close(fd);      /* a port nobody listens on */
        daemon_dovecot_init(&d);
        /* And a name that does not resolve (RFC 6761 .invalid; looked up on a thread). */
        write_config(&d,
                     "accounts = ( { name = \"nonet\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; },\n"
                     "  { name = \"nodns\"; host = \"no-such-host.invalid\"; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; } );\n",
                     (unsigned) ntohs(sa.sin_port));
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "nonet/INBOX: connect", 3, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "nodns/INBOX: resolve no-such-host.invalid", 2, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(d.notes.data, "nonet/INBOX: retry in"), "%s", d.notes.data);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_token_expired_bye) {
        /* "* BYE ... AccessTokenExpired" while idling: a fresh token is
         * fetched and tried at once (retry in 0 s), not after a backoff. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE SASL-IR AUTH=XOAUTH2] fake ready\r\n"),
                FAKE_EXPECT_ANY(),      /* AUTHENTICATE XOAUTH2 <initial response> */
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 3] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] ok\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND("* BYE Session invalidated - AccessTokenExpired\r\n"),
                FAKE_CLOSE(),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *calls = NULL;
        char script_path[160], calls_path[160];
        FILE *sf;
        Daemon d;

        daemon_dovecot_init(&d);
        snprintf(script_path, sizeof(script_path), "%s/token.sh", d.dir);
        snprintf(calls_path, sizeof(calls_path), "%s/calls", d.dir);
        sf = fopen(script_path, "we");
        ck_assert_ptr_nonnull(sf);
        fprintf(sf, "echo x >> '%s'\necho tok-secret-$(wc -l < '%s')\n", calls_path, calls_path);
        fclose(sf);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"exp\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; oauth2_token_command = [\"/bin/sh\", \"%s\"]; } );\n",
                     fake_imapd_port(f), script_path);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "AccessTokenExpired", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "retrying in 0s", 1, 5000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s", report ? report : "");
        /* The second fetch happened at once; the server is gone, so the next
         * failure backs off normally. */
        ck_assert_msg(wait_log(&d, "retrying in", 2, 5000), "log:\n%s", tail_of(d.log));
        calls = read_file(calls_path);
        ck_assert_str_eq(calls, "x\nx\n");
        ck_assert_uint_eq(log_count(&d, "retrying in 0s"), 1);
        ck_assert_uint_eq(log_count(&d, "tok-secret"), 0);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_server_keepalive_counts) {
        /* A server that says "* OK Still here" (Dovecot's imap_idle_notify_interval) is alive:
         * no probe while it talks; once it falls silent for liveness_interval, DONE comes.  It
         * talks every 1.2 s for 4.8 s, with liveness_interval = 2; its last word is new mail,
         * which the daemon logs as an event (the keep-alives leave no trace in the log): the
         * first probe must come after that line.  The FAKE_SLEEPs are the server's pacing. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] fake ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 9] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] ok\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SLEEP(1200), FAKE_SEND("* OK Still here\r\n"),
                FAKE_SLEEP(1200), FAKE_SEND("* OK Still here\r\n"),
                FAKE_SLEEP(1200), FAKE_SEND("* OK Still here\r\n"),
                FAKE_SLEEP(1200), FAKE_SEND("* 1 EXISTS\r\n"),
                /* The run started at once asks which UID it covered (the hot path). */
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 1:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 1)\r\n<tag> OK fetched\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                /* Silence: the probe. */
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *log = NULL;
        const char *event, *probe;
        Daemon d;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "liveness_interval = 2; done_timeout = 2; debounce = 0;\n"
                     "accounts = ( { name = \"ka\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; on_new = %s; } );\n",
                     fake_imapd_port(f), daemon_hook_cmd(&d, "new"));
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "ka/INBOX: new, 1 message", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "DONE (liveness probe", 1, 10000), "log:\n%s", tail_of(d.log));
        log = read_file(d.log);
        event = strstr(log, "ka/INBOX: new, 1 message");
        probe = strstr(log, "DONE (liveness probe");
        ck_assert_msg(event && probe && probe > event, "a probe while the server talked; log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 3, 5000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "retrying in"), 0);
        daemon_done(&d);
}
END_TEST

/* Each phase's deadline, against a scripted server that stops answering
 * there: the connection is closed after that phase's timeout, named in the
 * log, and retried. */
typedef struct PhaseCase {
        const char *state;              /* as logged: "no progress in state <state>" */
        const char *key;                /* the setting that is the deadline */
        const char *alt;                /* the same deadline as the engine words it (it keeps the
                                         * command and greeting deadlines too; either may fire first) */
        bool starttls;
        FakeStep script[10];
} PhaseCase;

static const PhaseCase phase_cases[] = {
        { "greeting", "greeting_timeout", "timed out waiting for the greeting", false, {
                FAKE_EXPECT_EOF(), FAKE_END } },
        { "capability", "command_timeout", "timed out waiting for the reply to CAPABILITY", false, {
                FAKE_SEND("* OK no capabilities here\r\n"),
                FAKE_EXPECT("<tag> CAPABILITY"), FAKE_EXPECT_EOF(), FAKE_END } },
        { "starttls", "tls_timeout", "TLS handshake timed out", true, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> STARTTLS"), FAKE_SEND("<tag> OK go ahead\r\n"),
                FAKE_SLEEP(3000), FAKE_END } },       /* no TLS handshake (the ClientHello is not read) */
        { "authenticating", "auth_timeout", "timed out waiting for the reply to LOGIN", false, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""), FAKE_EXPECT_EOF(), FAKE_END } },
        { "enabling", "command_timeout", "timed out waiting for the reply to ENABLE", false, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE ENABLE QRESYNC] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE ENABLE QRESYNC] in\r\n"),
                FAKE_EXPECT("<tag> ENABLE QRESYNC"), FAKE_EXPECT_EOF(), FAKE_END } },
        { "selecting", "select_timeout", "timed out waiting for the reply to EXAMINE", false, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""), FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"), FAKE_EXPECT_EOF(), FAKE_END } },
        { "idle-starting", "command_timeout", "timed out waiting for the reply to IDLE", false, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""), FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 5] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK ok\r\n"),
                FAKE_EXPECT("<tag> IDLE"), FAKE_EXPECT_EOF(), FAKE_END } },     /* no "+" */
};

START_TEST(test_phase_deadline) {
        static const char *const all_keys[] = { "greeting_timeout", "command_timeout", "tls_timeout",
                                                "auth_timeout", "select_timeout" };
        const PhaseCase *pc = &phase_cases[_i];
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        char want[96], keys[512], tls[256];
        Daemon d;

        daemon_dovecot_init(&d);
        if (pc->starttls)
                snprintf(tls, sizeof(tls), "tls = \"starttls\"; ca_file = \"%s\";", dovecot.ca_file);
        else
                snprintf(tls, sizeof(tls), "tls = \"none\"; allow_plaintext = true;");
        ck_assert_int_eq(fake_imapd_start(pc->script, &f), 0);
        /* Only the phase under test is short; the others are long. */
        keys[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(all_keys); i++) {
                size_t n = strlen(keys);

                snprintf(keys + n, sizeof(keys) - n, "%s = %s;\n", all_keys[i],
                         strcmp(all_keys[i], pc->key) == 0 ? "0.5" : "30");
        }
        write_config(&d,
                     "%saccounts = ( { name = \"ph\"; host = \"127.0.0.1\"; port = %u; %s\n"
                     "  username = \"u\"; password = \"p\"; } );\n",
                     keys, fake_imapd_port(f), tls);
        daemon_start(&d);
        snprintf(want, sizeof(want), "no progress in state %s within 0.5 s", pc->state);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 10000), "%s: log:\n%s", pc->key, tail_of(d.log));
        ck_assert_msg(log_count(&d, want) + log_count(&d, pc->alt) == 1, "%s: log:\n%s", pc->key, tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s", report ? report : "");
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_connect_deadline) {
        /* A SYN nobody answers: a listener whose accept queue is full and
         * never accepted (Linux then drops further SYNs). */
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int l, fill[4];
        Daemon d;

        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(l, 0);
        ck_assert_int_eq(bind(l, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(l, 0), 0);
        ck_assert_int_eq(getsockname(l, (struct sockaddr *) &sa, &len), 0);
        for (size_t i = 0; i < ELEMENTSOF(fill); i++) {
                fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                ck_assert_int_ge(fill[i], 0);
                (void) connect(fill[i], (struct sockaddr *) &sa, sizeof(sa));
        }
        daemon_dovecot_init(&d);
        write_config(&d,
                     "connect_timeout = 0.5;\n"
                     "accounts = ( { name = \"syn\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; } );\n",
                     (unsigned) ntohs(sa.sin_port));
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "timed out", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 5000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
        for (size_t i = 0; i < ELEMENTSOF(fill); i++)
                close(fill[i]);
        close(l);
}
END_TEST

static Suite *liveness_suite(void) {
        Suite *s = suite_create("liveness");
        TCase *tc = tcase_create("liveness");

        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, daemon_dovecot_setup, daemon_dovecot_teardown);
        tcase_add_loop_test(tc, test_fault, 0, (int) ELEMENTSOF(faults));
        tcase_add_loop_test(tc, test_fault_hot_path, 0, 2);
        tcase_add_test(tc, test_resume_reconnects);
        tcase_add_test(tc, test_no_network_at_start);
        tcase_add_test(tc, test_token_expired_bye);
        tcase_add_test(tc, test_server_keepalive_counts);
        tcase_add_loop_test(tc, test_phase_deadline, 0, (int) ELEMENTSOF(phase_cases));
        tcase_add_test(tc, test_connect_deadline);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(liveness_suite());
}

/* SPDX-License-Identifier: MIT */
/*
 * test-hostile-login.c: the imapidled binary against scripted hostile servers
 * (tests/fake-imapd.h) from the greeting to the login, and mailbox names from LIST; one test
 * per case of the security catalogue (docs/SECURITY.md), named by its ids.  No Dovecot: the
 * STARTTLS cases use the fake's FAKE_STARTTLS() step with throwaway certificates
 * (tests/th-certs.h).  Each test asserts what the daemon sends (the script, or the recorded
 * bytes), what it logs, what hooks got and what the state file holds; never how long
 * something took.
 *
 *   A02      STARTTLS answered NO or BAD: no credentials, closed, retried with backoff;
 *   A07      a BYE, NO or BAD greeting: closed, retried with backoff, the text only in the log;
 *   A11 L04  the capabilities after STARTTLS alone choose the login and IDLE or polling;
 *            (not a catalogue case) IDLE announced only after the login, as iCloud does;
 *   B02 B04  an [ALERT] in the STARTTLS OK's segment is dropped, one inside TLS is logged;
 *   D01      plaintext-phase server text is logged escaped and marked unverified;
 *   K02      a TLS handshake dripped through a proxy: tls_timeout still ends it;
 *   M08      mailbox data before TLS (C01), PREAUTH (A04) and a literal cut short (F05,
 *            F06) run no hook;
 *   D02 I01 I02 I04 I05 M03  names from LIST: markup, "..", "/etc/passwd", "", raw 8-bit,
 *            CR/LF/NUL, encoded controls, a delimiter that changes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake-imapd.h"
#include "faultproxy.h"
#include "th-certs.h"
#include "th-daemon.h"
#include "th.h"

/* Appended by the daemon to log lines quoting a STARTTLS account's plaintext phase. */
#define UNVERIFIED " [sent before TLS: unverified]"

static ThCerts certs;
static char certs_dir[64];

/* The account of every test here, on the fake's port.  tls: "none", "starttls" or
 * "implicit"; login_config_port() puts it on another port (a proxy's); hooks for new mail and expunges append their environment to <dir>/hooks
 * (tests/hook-helper env). */
static void login_config_port(Daemon *d, unsigned port, const char *tls, const char *extra) {
        write_config(d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"hl\"; host = \"127.0.0.1\"; port = %u; tls = \"%s\";\n"
                     "  ca_file = \"%s\"; allow_plaintext = true; username = \"u\"; password = \"s3cret-pw\";\n"
                     "  on_new = [\"%s\", \"env\", \"%s/hooks\"]; on_expunge = [\"%s\", \"env\", \"%s/hooks\"];\n"
                     "  %s } );\n",
                     port, tls, certs.ca_file, HOOK_HELPER, d->dir, HOOK_HELPER, d->dir, extra);
}

static void login_config(Daemon *d, const FakeImapd *f, const char *tls, const char *extra) {
        login_config_port(d, fake_imapd_port(f), tls, extra);
}

/* A file in the daemon's scratch directory, NUL-terminated ("" when missing); the caller frees. */
static char *dir_file(const Daemon *d, const char *name) {
        char path[192];

        snprintf(path, sizeof(path), "%s/%s", d->dir, name);
        return read_file(path);
}

/* Until <dir>/hooks has n lines (each run appends one); false after timeout_ms. */
static bool wait_hooks(Daemon *d, unsigned n, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                _cleanup_free_ char *s = dir_file(d, "hooks");

                if (th_count_of(s, "\n") >= n)
                        return true;
                sleep_ms(50);
        }
        return false;
}

/* What the fake recorded, as a string (NUL bytes would end it early: none are expected). */
static char *received(const FakeImapd *f) {
        size_t n;
        const char *p = fake_imapd_received(f, &n);
        char *s = strndup(p ? p : "", n);

        ck_assert_ptr_nonnull(s);
        return s;
}

/* The delays of "retrying in <n>s" in the log, in order; returns how many (at most max). */
static unsigned retry_delays(Daemon *d, unsigned *ret, unsigned max) {
        _cleanup_free_ char *s = read_file(d->log);
        unsigned n = 0;

        for (const char *p = s; n < max && (p = strstr(p, "retrying in ")); p++)
                ret[n++] = (unsigned) strtoul(p + strlen("retrying in "), NULL, 10);
        return n;
}

/* A connection that must fail: the delays of its first attempts never shrink (the backoff
 * of connection.c next_delay(), drawn from [b/2, b] with b doubling from 1 s). */
static void assert_backoff(Daemon *d, unsigned n) {
        unsigned delay[8];

        ck_assert_uint_le(n, ELEMENTSOF(delay));
        ck_assert_uint_eq(retry_delays(d, delay, n), n);
        ck_assert_msg(delay[0] <= 1, "first delay %u s; log:\n%s", delay[0], tail_of(d->log));
        for (unsigned i = 1; i < n; i++)
                ck_assert_msg(delay[i] >= delay[i - 1] && delay[i] >= 1, "delay %u: %u s after %u s; log:\n%s", i,
                              delay[i], delay[i - 1], tail_of(d->log));
}

/* Every line of the log that contains needle also contains mark. */
static bool lines_marked(Daemon *d, const char *needle, const char *mark) {
        _cleanup_free_ char *s = read_file(d->log);
        unsigned found = 0;

        for (char *line = s, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (!strstr(line, needle))
                        continue;
                found++;
                if (!strstr(line, mark))
                        return false;
        }
        return found > 0;
}

/* The state file of the account "hl", written by the daemon ("" if none). */
static char *state_file(const Daemon *d) {
        return dir_file(d, "state/hl.state");
}

static void write_state(Daemon *d, const char *content) {
        char path[160];
        FILE *sf;

        snprintf(path, sizeof(path), "%s/state", d->dir);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/state/hl.state", d->dir);
        sf = fopen(path, "we");
        ck_assert_ptr_nonnull(sf);
        fputs(content, sf);
        ck_assert_int_eq(fclose(sf), 0);
}

static void start_fake(const FakeStep *script, FakeImapdOptions *o, FakeImapd **ret) {
        o->tls_cert_file = o->tls_cert_file ?: certs.cert_file;
        o->tls_key_file = o->tls_key_file ?: certs.key_file;
        o->record = true;
        ck_assert_int_eq(fake_imapd_start_full(script, o, NULL, ret), 0);
}

/* ---- A02: STARTTLS refused ------------------------------------------------------------------- */

static const char *const a02_replies[] = {
        "<tag> NO [ALERT] TLS \xe2\x80\xae" "disabled\r\n",
        "<tag> BAD TLS \x7f unavailable\r\n",
};
static const char *const a02_logged[] = {
        "STARTTLS refused; refusing to go on in plaintext (server: TLS \\xe2\\x80\\xae" "disabled)" UNVERIFIED,
        "STARTTLS refused; refusing to go on in plaintext (server: TLS \\x7f unavailable)" UNVERIFIED,
};

START_TEST(test_A02_starttls_refused) {
        /* The server offers every mechanism and refuses STARTTLS (a tagged NO with an ALERT,
         * a BAD), twice.  Each time: nothing but STARTTLS was sent (no LOGIN, no
         * AUTHENTICATE, no password), the connection is closed, the reason is logged with the
         * server's text escaped and marked as unverified, no alert is shown, and the next
         * attempt comes after a backoff that does not shrink. */
        const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN AUTH=LOGIN SASL-IR IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> STARTTLS"),
                FAKE_SEND(a02_replies[_i]),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        FakeImapdOptions o = { .connections = 2, .starttls = true };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *sent = NULL, *hooks = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(script, &o, &f);
        login_config(&d, f, "starttls", "");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, a02_logged[_i], 2, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        sent = received(f);
        ck_assert_uint_eq(th_count_of(sent, " STARTTLS\r\n"), 2);
        ck_assert_uint_eq(th_count_of(sent, "\r\n"), 2);
        ck_assert_msg(!strstr(sent, "LOGIN") && !strstr(sent, "AUTHENTICATE") && !strstr(sent, "s3cret"), "%s", sent);
        /* The fake is gone: the third attempt fails too, and backs off further. */
        ck_assert_msg(wait_log(&d, "retrying in", 3, 10000), "log:\n%s", tail_of(d.log));
        assert_backoff(&d, 3);
        ck_assert_uint_eq(log_count(&d, "server alert"), 0);
        ck_assert_uint_eq(log_count(&d, "s3cret"), 0);
        daemon_stop(&d);
        hooks = dir_file(&d, "hooks");
        ck_assert_str_eq(hooks, "");
        daemon_done(&d);
}
END_TEST

/* ---- A07, D01: a greeting that refuses ---------------------------------------------------------- */

static const struct {
        const char *greeting;
        const char *logged;
} a07_cases[] = {
        { "* BYE [ALERT] A07-text go away \xe2\x80\xae\r\n", "invalid greeting: * BYE [ALERT] A07-text go away ???" },
        { "* NO A07-text not now\r\n", "invalid greeting: * NO A07-text not now" },
        { "* BAD A07-text what\r\n", "invalid greeting: * BAD A07-text what" },
        /* A greeting, and BYE in the same segment: before anything went out. */
        { "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n* BYE [ALERT] A07-text \x7f bye\r\n",
          "server said BYE (A07-text \\x7f bye)" },
};

START_TEST(test_A07_greeting_refused) {
        /* BYE, NO or BAD instead of a greeting, or BYE right after it, on a STARTTLS
         * account (so in clear text): the daemon sends nothing at all, closes, and retries
         * with a backoff that does not shrink.  The text reaches only the log: escaped (8-bit
         * as '?' by the engine's quote_for_error(), else as \xHH) and marked as unverified;
         * no alert, no hook. */
        const FakeStep script[] = {
                FAKE_SEND(a07_cases[_i].greeting),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        FakeImapdOptions o = { .connections = 2, .starttls = true };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *sent = NULL, *hooks = NULL, *log = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(script, &o, &f);
        login_config(&d, f, "starttls", "");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, a07_cases[_i].logged, 2, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        sent = received(f);
        ck_assert_str_eq(sent, "");
        ck_assert_msg(wait_log(&d, "retrying in", 3, 10000), "log:\n%s", tail_of(d.log));
        assert_backoff(&d, 3);
        ck_assert_msg(lines_marked(&d, "A07-text", UNVERIFIED), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "A07-text"), 2);
        log = read_file(d.log);
        ck_assert_msg(!strstr(log, "\xe2\x80\xae"), "log:\n%s", log);
        ck_assert_uint_eq(log_count(&d, "server alert"), 0);
        ck_assert_uint_eq(log_count(&d, "s3cret"), 0);
        daemon_stop(&d);
        hooks = dir_file(&d, "hooks");
        ck_assert_str_eq(hooks, "");
        daemon_done(&d);
}
END_TEST

/* ---- A11, L04: the capabilities after TLS decide ---------------------------------------------- */

#define TLS_UP(plain_caps, tls_caps)                                                            \
        FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS " plain_caps "] plaintext\r\n"),        \
        FAKE_EXPECT("<tag> STARTTLS"),                                                          \
        FAKE_SEND("<tag> OK begin TLS\r\n"),                                                    \
        FAKE_STARTTLS(),                                                                        \
        FAKE_EXPECT("<tag> CAPABILITY"),                                                        \
        FAKE_SEND("* CAPABILITY IMAP4rev1 " tls_caps "\r\n<tag> OK caps\r\n")

#define EXAMINE_EMPTY                                                                           \
        FAKE_EXPECT("<tag> EXAMINE INBOX"),                                                     \
        FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] e\r\n")

#define LOGOUT_STEPS                                                                            \
        FAKE_EXPECT("<tag> LOGOUT"),                                                            \
        FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),                                             \
        FAKE_EXPECT_EOF()

/* Rich in clear text (AUTH=PLAIN, SASL-IR, IDLE), poor after TLS (the LOGIN command, no
 * IDLE): LOGIN and NOOP polling.  A daemon that kept the plaintext list would send
 * AUTHENTICATE PLAIN and IDLE, and the script would fail. */
static const FakeStep a11_rich_plaintext[] = {
        TLS_UP("AUTH=PLAIN SASL-IR IDLE", ""),
        FAKE_EXPECT("<tag> LOGIN u \"s3cret-pw\""),
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1] in\r\n"),
        EXAMINE_EMPTY,
        LOGOUT_STEPS,
        FAKE_END,
};

/* The reverse: poor in clear text (LOGINDISABLED and no mechanism, no IDLE), rich after TLS:
 * AUTHENTICATE PLAIN with an initial response, then IDLE.  The plaintext list would leave
 * no way to log in at all. */
static const FakeStep a11_rich_tls[] = {
        TLS_UP("LOGINDISABLED", "AUTH=PLAIN SASL-IR IDLE"),
        FAKE_EXPECT("<tag> AUTHENTICATE PLAIN AHUAczNjcmV0LXB3"),
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
        EXAMINE_EMPTY,
        FAKE_EXPECT("<tag> IDLE"),
        FAKE_SEND("+ idling\r\n"),
        FAKE_EXPECT("DONE"),
        FAKE_SEND("<tag> OK done\r\n"),
        LOGOUT_STEPS,
        FAKE_END,
};

static const struct {
        const FakeStep *script;
        const char *settled;            /* the log line that says the session is set up */
} a11_cases[] = {
        { a11_rich_plaintext, "server has no IDLE, polling every 60s" },
        { a11_rich_tls, "-> idling" },
};

START_TEST(test_A11_L04_caps_after_tls_decide) {
        FakeImapdOptions o = { .starttls = true };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(a11_cases[_i].script, &o, &f);
        login_config(&d, f, "starttls", "liveness_interval = 60;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, a11_cases[_i].settled, 1, 15000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "retrying in"), 0);
        daemon_done(&d);
}
END_TEST

/* ---- Not a catalogue case: IDLE announced only after the login (docs/RECIPES.md, iCloud) --------- */

/* The greeting lists no IDLE and the login's OK no capabilities: the daemon asks once more and
 * IDLEs.  A daemon that kept the greeting's list would EXAMINE at once and poll with NOOP, and
 * the script would fail at the CAPABILITY step. */
static const FakeStep idle_after_login[] = {
        FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
        FAKE_EXPECT("<tag> LOGIN u \"s3cret-pw\""),
        FAKE_SEND("<tag> OK logged in\r\n"),
        FAKE_EXPECT("<tag> CAPABILITY"),
        FAKE_SEND("* CAPABILITY IMAP4rev1 IDLE\r\n<tag> OK caps\r\n"),
        EXAMINE_EMPTY,
        FAKE_EXPECT("<tag> IDLE"),
        FAKE_SEND("+ idling\r\n"),
        FAKE_EXPECT("DONE"),
        FAKE_SEND("<tag> OK done\r\n"),
        LOGOUT_STEPS,
        FAKE_END,
};

/* No IDLE after the login either: asked once, not again, then polling. */
static const FakeStep no_idle_after_login[] = {
        FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
        FAKE_EXPECT("<tag> LOGIN u \"s3cret-pw\""),
        FAKE_SEND("<tag> OK logged in\r\n"),
        FAKE_EXPECT("<tag> CAPABILITY"),
        FAKE_SEND("* CAPABILITY IMAP4rev1\r\n<tag> OK caps\r\n"),
        EXAMINE_EMPTY,
        LOGOUT_STEPS,
        FAKE_END,
};

static const struct {
        const FakeStep *script;
        const char *settled;
} after_login_cases[] = {
        { idle_after_login, "-> idling" },
        { no_idle_after_login, "server has no IDLE, polling every 60s" },
};

START_TEST(test_idle_announced_after_login) {
        FakeImapdOptions o = {};
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(after_login_cases[_i].script, &o, &f);
        login_config(&d, f, "implicit", "liveness_interval = 60;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, after_login_cases[_i].settled, 1, 15000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "retrying in"), 0);
        daemon_done(&d);
}
END_TEST

/* ---- B02, B04, D01: alerts before and after TLS --------------------------------------------------- */

START_TEST(test_B02_B04_D01_alerts) {
        /* A greeting with an [ALERT] and an [ALERT] in the STARTTLS OK's segment, both in
         * clear text: dropped, logged nowhere (an on-path attacker wrote them).  After the
         * handshake an [ALERT] is shown as RFC 3501 §7.1 asks: logged once, escaped (a bidi
         * override and DEL).  No hook runs for any of them. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [ALERT] D01-greeting-alert call 555\r\n"),
                FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\n<tag> OK caps\r\n"),
                FAKE_EXPECT("<tag> STARTTLS"),
                FAKE_SEND("* OK [ALERT] B02-forged-alert visit evil.example\r\n<tag> OK begin TLS\r\n"),
                FAKE_STARTTLS(),
                FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1 IDLE\r\n<tag> OK caps\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"s3cret-pw\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                EXAMINE_EMPTY,
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* OK [ALERT] B04-real-alert \xe2\x80\xae\x7f maintenance at 5\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                LOGOUT_STEPS,
                FAKE_END,
        };
        FakeImapdOptions o = { .starttls = true };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *hooks = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(script, &o, &f);
        login_config(&d, f, "starttls", "liveness_interval = 60;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "hl/INBOX: server alert: B04-real-alert \\xe2\\x80\\xae\\x7f maintenance at 5", 1,
                               15000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "server alert"), 1);
        ck_assert_uint_eq(log_count(&d, "B02-forged-alert"), 0);
        ck_assert_uint_eq(log_count(&d, "D01-greeting-alert"), 0);
        hooks = dir_file(&d, "hooks");
        ck_assert_str_eq(hooks, "");
        daemon_done(&d);
}
END_TEST

START_TEST(test_B04_alert_flood) {
        /* Ten [ALERT]s in one segment inside TLS (implicit): the first four are logged as
         * warnings, the rest at debug level only: a server cannot fill the log with them. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"s3cret-pw\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                EXAMINE_EMPTY,
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* OK [ALERT] flood 0\r\n* OK [ALERT] flood 1\r\n* OK [ALERT] flood 2\r\n"
                          "* OK [ALERT] flood 3\r\n* OK [ALERT] flood 4\r\n* OK [ALERT] flood 5\r\n"
                          "* OK [ALERT] flood 6\r\n* OK [ALERT] flood 7\r\n* OK [ALERT] flood 8\r\n"
                          "* OK [ALERT] flood 9\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                LOGOUT_STEPS,
                FAKE_END,
        };
        FakeImapdOptions o = {};
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(script, &o, &f);
        login_config(&d, f, "implicit", "liveness_interval = 60;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "server alert: flood 9", 1, 15000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "server alert: flood"), 10);
        ck_assert_uint_eq(log_count(&d, "<4>hl/INBOX: server alert: flood"), 4);
        ck_assert_uint_eq(log_count(&d, "<4>hl/INBOX: server alert: flood 3"), 1);
        ck_assert_uint_eq(log_count(&d, "<7>hl/INBOX: server alert: flood"), 6);
        daemon_done(&d);
}
END_TEST

START_TEST(test_D01_alert_after_implicit_tls) {
        /* The positive control of the above: with implicit TLS the greeting is verified, and
         * its [ALERT] is logged (escaped). */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [ALERT] D01-tls-greeting \x7f ok\r\n"),
                FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1 IDLE\r\n<tag> OK caps\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"s3cret-pw\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                EXAMINE_EMPTY,
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                LOGOUT_STEPS,
                FAKE_END,
        };
        FakeImapdOptions o = {};
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(script, &o, &f);
        login_config(&d, f, "implicit", "liveness_interval = 60;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_msg(log_count(&d, "server alert: D01-tls-greeting \\x7f ok") == 1, "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, UNVERIFIED), 0);
        daemon_done(&d);
}
END_TEST

/* ---- M08: no hook from untrusted state ------------------------------------------------------------ */

START_TEST(test_M08_C01_data_before_tls) {
        /* INBOX had no message (the state file).  In clear text, with the greeting: EXISTS,
         * RECENT, a STATUS and a LIST that say 5 messages.  After TLS the EXAMINE says 0: no
         * hook, and the state is still 0.  Then, inside TLS, 1 EXISTS: one hook run for one
         * message (the control: the hook does run for trusted data). */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN IDLE] hi\r\n"
                          "* 5 EXISTS\r\n* 5 RECENT\r\n* STATUS INBOX (MESSAGES 5 UIDNEXT 9 UIDVALIDITY 7)\r\n"
                          "* LIST () \"/\" INBOX\r\n* 1 FETCH (UID 8 FLAGS (\\Recent))\r\n"),
                FAKE_EXPECT("<tag> STARTTLS"),
                FAKE_SEND("<tag> OK begin TLS\r\n"),
                FAKE_STARTTLS(),
                FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1 IDLE\r\n<tag> OK caps\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"s3cret-pw\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                EXAMINE_EMPTY,
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* 1 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 1:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 1)\r\n<tag> OK fetched\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                LOGOUT_STEPS,
                FAKE_END,
        };
        FakeImapdOptions o = { .starttls = true };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *hooks = NULL, *state = NULL;
        Daemon d;

        daemon_init(&d);
        write_state(&d, "imapidled-state 1\nINBOX 7 1 0 0 0\n");
        start_fake(script, &o, &f);
        login_config(&d, f, "starttls", "liveness_interval = 60;");
        daemon_start(&d);
        ck_assert_msg(wait_hooks(&d, 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        hooks = dir_file(&d, "hooks");
        ck_assert_uint_eq(th_count_of(hooks, "\n"), 1);
        ck_assert_msg(strstr(hooks, "COUNT=1\t") && strstr(hooks, "EVENT=new\t") && strstr(hooks, "EXISTS=1\t") &&
                      strstr(hooks, "MAILBOX=INBOX\t"), "%s", hooks);
        state = state_file(&d);
        ck_assert_msg(strstr(state, "\nINBOX 7 2 1 "), "%s", state);
        daemon_done(&d);
}
END_TEST

START_TEST(test_M08_A04_preauth_with_data) {
        /* PREAUTH on a STARTTLS account, with mailbox data in the same segment, and INBOX
         * known with no message: refused before anything is sent, no hook, the state file as
         * it was; retried with backoff. */
        static const FakeStep script[] = {
                FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS IDLE] welcome\r\n"
                          "* 3 EXISTS\r\n* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 7)\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        FakeImapdOptions o = { .connections = 2, .starttls = true };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *hooks = NULL, *state = NULL, *sent = NULL;
        Daemon d;

        daemon_init(&d);
        write_state(&d, "imapidled-state 1\nINBOX 7 1 0 0 0\n");
        start_fake(script, &o, &f);
        login_config(&d, f, "starttls", "");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "PREAUTH greeting where STARTTLS was required", 2, 15000), "log:\n%s",
                      tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        sent = received(f);
        ck_assert_str_eq(sent, "");
        ck_assert_msg(wait_log(&d, "retrying in", 3, 10000), "log:\n%s", tail_of(d.log));
        assert_backoff(&d, 3);
        daemon_stop(&d);
        hooks = dir_file(&d, "hooks");
        ck_assert_str_eq(hooks, "");
        state = state_file(&d);
        ck_assert_msg(strstr(state, "\nINBOX 7 1 0 "), "%s", state);
        daemon_done(&d);
}
END_TEST

/* A literal that promises 60 bytes and holds, in its first 26, what would be two EXISTS
 * responses if a parser looked for line ends instead of counting (INV-6). */
#define PARTIAL_LITERAL "* 1 FETCH (FLAGS () BODY[] {60}\r\n* 3 EXISTS\r\n* 4 EXISTS\r\n"

static const struct {
        const char *what;
        FakeStep end[3];        /* after the partial literal */
        const char *logged;
} partial_cases[] = {
        { "FIN", { FAKE_CLOSE(), FAKE_EXPECT_EOF(), FAKE_END }, "EOF in the middle of a response" },
        { "RST", { FAKE_RESET(), FAKE_END, FAKE_END }, "retrying in" },
        { "silence", { FAKE_EXPECT_EOF(), FAKE_END, FAKE_END }, "response not finished within 1.0 s" },
};

START_TEST(test_M08_F05_F06_partial_literal) {
        /* In IDLE, a literal cut short: the stream ends (FIN or RST) or stays silent
         * (command_timeout = 1).  The connection is closed and retried; the bytes inside the
         * literal are never taken for responses: no hook, the state as the EXAMINE said. */
        const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"s3cret-pw\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                EXAMINE_EMPTY,
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n" PARTIAL_LITERAL),
                partial_cases[_i].end[0],
                partial_cases[_i].end[1],
                partial_cases[_i].end[2],
        };
        FakeImapdOptions o = {};
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *hooks = NULL, *state = NULL;
        Daemon d;

        daemon_init(&d);
        write_state(&d, "imapidled-state 1\nINBOX 7 1 0 0 0\n");
        start_fake(script, &o, &f);
        login_config(&d, f, "implicit", "command_timeout = 1; liveness_interval = 60;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, partial_cases[_i].logged, 1, 15000), "%s: log:\n%s", partial_cases[_i].what,
                      tail_of(d.log));
        ck_assert_msg(wait_log(&d, "retrying in", 1, 10000), "%s: log:\n%s", partial_cases[_i].what, tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s: %s\nlog:\n%s", partial_cases[_i].what,
                      report ? report : "", tail_of(d.log));
        daemon_stop(&d);
        hooks = dir_file(&d, "hooks");
        ck_assert_msg(hooks[0] == 0, "%s: %s", partial_cases[_i].what, hooks);
        ck_assert_uint_eq(log_count(&d, "EXISTS 0 ->"), 0);
        state = state_file(&d);
        ck_assert_msg(strstr(state, "\nINBOX 7 1 0 "), "%s: %s", partial_cases[_i].what, state);
        daemon_done(&d);
}
END_TEST

/* ---- K02: the TLS handshake dripped ---------------------------------------------------------- */

#define K02_GREETING "* OK [CAPABILITY IMAP4rev1 STARTTLS IDLE] hi\r\n"

START_TEST(test_K02_handshake_drip) {
        /* Every byte from the server goes through a proxy one per 5 ms: the plaintext part
         * arrives in well under a second, the handshake's kilobytes would take many seconds.
         * The handshake makes progress all the time, yet tls_timeout (0.5 s) bounds it as a
         * whole: the deadline is armed on entering the phase (connection.c
         * connection_set_state()) and never pushed out.  Proof that the drip reached the
         * handshake: the proxy dripped more bytes to that connection than the plaintext part
         * holds. */
        static const FakeStep script[] = {
                FAKE_SEND(K02_GREETING),
                FAKE_EXPECT("<tag> STARTTLS"),
                FAKE_SEND("<tag> OK go\r\n"),
                FAKE_STARTTLS(),
                FAKE_END,
        };
        FakeImapdOptions o = { .starttls = true };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        _cleanup_free_ char *report = NULL, *wire = NULL;
        unsigned dripped = 0, accepted = 0;
        size_t plaintext;
        const char *sp;
        Daemon d;

        daemon_init(&d);
        start_fake(script, &o, &f);
        ck_assert_int_eq(th_proxy_start(fake_imapd_port(f), &p), 0);
        ck_assert_int_eq(th_proxy_drip(p, 5), 0);
        login_config_port(&d, th_proxy_port(p), "starttls",
                          "greeting_timeout = 30; command_timeout = 30; tls_timeout = 0.5;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "no progress in state starttls within 0.5 s") +
                      log_count(&d, "TLS handshake timed out") == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "LOGIN") == 0 && log_count(&d, "s3cret") == 0, "log:\n%s", tail_of(d.log));
        ck_assert_int_eq(th_proxy_dripped(p, &dripped), 0);
        ck_assert_int_eq(th_proxy_count(p, &accepted), 0);
        daemon_stop(&d);
        /* The fake's handshake never completed: the client gave up first. */
        ck_assert_msg(fake_imapd_wait(f, &report) != 0, "the handshake completed; log:\n%s", tail_of(d.log));
        wire = received(f);
        sp = strstr(wire, " STARTTLS\r\n");
        ck_assert_msg(sp, "%s", wire);
        /* The plaintext the proxy carried: the greeting and "<tag> OK go". */
        plaintext = strlen(K02_GREETING) + (size_t) (sp - wire) + strlen(" OK go\r\n");
        ck_assert_msg(dripped > plaintext, "dripped %u bytes, the plaintext part is %zu; log:\n%s", dripped,
                      plaintext, tail_of(d.log));
        ck_assert_uint_ge(accepted, 1);
        daemon_done(&d);
}
END_TEST

/* ---- names from LIST ------------------------------------------------------------------------------ */

/* One listing for mailboxes = ["*"], with the hierarchy delimiter given (I02: it changes
 * from one listing to the next).  Watched: INBOX, markup (D02: "&-" is "&"), "..",
 * "/etc/passwd", "../../escape" and "" (I01; "" names no mailbox a server can have, RFC 3501
 * §6.3.8, but is as harmless as any other name: sent quoted, never saved, state.c).
 * Skipped: raw 8-bit, valid UTF-8 or not (I04); CR LF and NUL in literals (I05); CR LF, ESC
 * and a bidi override in canonical mUTF-7 (M03). */
#define NAMES_LISTING(delim)                                                                    \
        "* LIST () " delim " INBOX\r\n"                                                         \
        "* LIST () " delim " \"<b>Hi</b>;$(id)`x`&-amp;\"\r\n"                                  \
        "* LIST () " delim " ..\r\n"                                                            \
        "* LIST () " delim " /etc/passwd\r\n"                                                   \
        "* LIST () " delim " ../../escape\r\n"                                                  \
        "* LIST () " delim " \"\"\r\n"                                                          \
        "* LIST () " delim " {2}\r\n\xff\xfe\r\n"                                               \
        "* LIST () " delim " {5}\r\ncaf\xc3\xa9\r\n"                                            \
        "* LIST () " delim " {10}\r\nEvil\r\nLine\r\n"                                          \
        "* LIST () " delim " \"Evil&AA0ACg-Line\"\r\n"                                          \
        "* LIST () " delim " \"Esc&ABs-[31m\"\r\n"                                              \
        "* LIST () " delim " \"Bidi&IC4-txt\"\r\n"

/* The listing, then a name with a NUL in a literal (raw: FAKE_SEND stops at a NUL), then OK. */
#define NUL_NAME(delim) "* LIST () " delim " {3}\r\nx\0y\r\n"
#define NAMES_LIST_STEPS(delim)                                                                 \
        FAKE_SEND(NAMES_LISTING(delim)),                                                        \
        FAKE_SEND_RAW(NUL_NAME(delim), sizeof(NUL_NAME(delim)) - 1),                            \
        FAKE_SEND("<tag> OK listed\r\n")

#define NAMES_LOGIN                                                                             \
        FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),                                \
        FAKE_EXPECT("<tag> LOGIN u \"s3cret-pw\""),                                                    \
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),                               \
        FAKE_EXPECT("<tag> LIST \"\" *")

#define ITEMS " (MESSAGES UIDNEXT UIDVALIDITY)"
#define MARKUP_WIRE "\"<b>Hi</b>;$(id)`x`&-amp;\""
#define STATUS_OF(wire, msgs, next)                                                             \
        FAKE_EXPECT("<tag> STATUS " wire ITEMS),                                                \
        FAKE_SEND("* STATUS " wire " (MESSAGES " msgs " UIDNEXT " next " UIDVALIDITY 5)\r\n<tag> OK s\r\n")

/* The first poller: the listing differs from what is watched (nothing): it is replaced. */
static const FakeStep names_first[] = {
        NAMES_LOGIN,
        NAMES_LIST_STEPS("\"/\""),
        FAKE_EXPECT_EOF(),
        FAKE_END,
};

/* The poller of the new set: the same listing with another delimiter ("."), a round that
 * only counts; a second listing (NIL), a round in which the markup mailbox has one message
 * more (UIDNEXT 1 -> 2 says which: nothing to fetch); then the server goes. */
static const FakeStep names_second[] = {
        NAMES_LOGIN,
        NAMES_LIST_STEPS("\".\""),
        STATUS_OF("INBOX", "0", "1"),
        STATUS_OF(MARKUP_WIRE, "0", "1"),
        STATUS_OF("..", "0", "1"),
        STATUS_OF("/etc/passwd", "0", "1"),
        STATUS_OF("../../escape", "0", "1"),
        STATUS_OF("\"\"", "0", "1"),
        FAKE_EXPECT("<tag> LIST \"\" *"),
        NAMES_LIST_STEPS("NIL"),
        STATUS_OF("INBOX", "0", "1"),
        STATUS_OF(MARKUP_WIRE, "1", "2"),
        STATUS_OF("..", "0", "1"),
        STATUS_OF("/etc/passwd", "0", "1"),
        STATUS_OF("../../escape", "0", "1"),
        STATUS_OF("\"\"", "0", "1"),
        FAKE_EXPECT("<tag> LIST \"\" *"),
        FAKE_SEND("* BYE that is all\r\n"),
        FAKE_EXPECT_EOF(),
        FAKE_END,
};

START_TEST(test_names_from_list) {
        /* D02, I01, I02, I04, I05, M03: mailbox names a server lists for mailboxes = ["*"].
         * On the wire: STATUS only for the names kept, each in its mUTF-7 wire form
         * and quoted where needed (the scripts are exact).  The hook gets the markup name as
         * opaque bytes in IMAPIDLED_MAILBOX, one run; the log and STATUS= hold no control
         * character; the state file names the kept mailboxes and is the only file in the
         * state directory; the changing delimiter costs nothing: one set-up only. */
        static const FakeStep *const next[] = { names_second, NULL };
        FakeImapdOptions o = { .next_scripts = next };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *hooks = NULL, *state = NULL, *log = NULL;
        char path[160];
        unsigned files = 0;
        struct dirent *de;
        DIR *dir;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start_full(names_first, &o, NULL, &f), 0);
        login_config(&d, f, "none", "max_connections = 1; status_interval = 1; imap_notify = \"off\";\n"
                     "  mailboxes = [\"*\"];");
        daemon_start(&d);
        ck_assert_msg(wait_hooks(&d, 1, 20000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "server said BYE (that is all), retrying in", 1, 10000), "log:\n%s",
                      tail_of(d.log));
        daemon_stop(&d);

        hooks = dir_file(&d, "hooks");
        ck_assert_uint_eq(th_count_of(hooks, "\n"), 1);
        ck_assert_msg(strstr(hooks, "\tMAILBOX=<b>Hi</b>;$(id)`x`&amp;\t") && strstr(hooks, "COUNT=1\t"), "%s",
                      hooks);

        /* One set-up: the listings with "." and NIL changed nothing. */
        ck_assert_uint_eq(log_count(&d, "the mailbox patterns match"), 1);
        ck_assert_msg(log_count(&d, "the mailbox patterns match 6 mailboxes (6 new, 0 gone)") == 1, "log:\n%s",
                      tail_of(d.log));
        log = read_file(d.log);
        ck_assert_msg(!strchr(log, '\r') && !strstr(log, "\nLine") && !strstr(log, "\x1b") &&
                      !strstr(log, "\xe2\x80\xae") && !strstr(log, "\xff"), "log:\n%s", log);
        ck_assert_msg(!strchr(d.notes.data ?: "", '\r') && !strstr(d.notes.data ?: "", "\nLine"), "%s",
                      d.notes.data);

        state = state_file(&d);
        ck_assert_msg(strstr(state, "\nINBOX 5 1 0 ") && strstr(state, "\n<b>Hi</b>;$(id)`x`&amp; 5 2 1 ") &&
                      strstr(state, "\n.. 5 1 0 ") && strstr(state, "\n/etc/passwd 5 1 0 ") &&
                      strstr(state, "\n../../escape 5 1 0 "), "%s", state);
        ck_assert_uint_eq(th_count_of(state, "\n"), 6);
        snprintf(path, sizeof(path), "%s/state", d.dir);
        dir = opendir(path);
        ck_assert_ptr_nonnull(dir);
        while ((de = readdir(dir)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                        ck_assert_str_eq(de->d_name, "hl.state");
                        files++;
                }
        closedir(dir);
        ck_assert_uint_eq(files, 1);
        daemon_done(&d);
}
END_TEST

static Suite *hostile_login_suite(void) {
        Suite *s = suite_create("hostile-login");
        TCase *tc = tcase_create("hostile-login");

        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, test_A02_starttls_refused, 0, (int) ELEMENTSOF(a02_replies));
        tcase_add_loop_test(tc, test_A07_greeting_refused, 0, (int) ELEMENTSOF(a07_cases));
        tcase_add_loop_test(tc, test_A11_L04_caps_after_tls_decide, 0, (int) ELEMENTSOF(a11_cases));
        tcase_add_loop_test(tc, test_idle_announced_after_login, 0, (int) ELEMENTSOF(after_login_cases));
        tcase_add_test(tc, test_B02_B04_D01_alerts);
        tcase_add_test(tc, test_B04_alert_flood);
        tcase_add_test(tc, test_D01_alert_after_implicit_tls);
        tcase_add_test(tc, test_M08_C01_data_before_tls);
        tcase_add_test(tc, test_M08_A04_preauth_with_data);
        tcase_add_loop_test(tc, test_M08_F05_F06_partial_literal, 0, (int) ELEMENTSOF(partial_cases));
        tcase_add_test(tc, test_K02_handshake_drip);
        tcase_add_test(tc, test_names_from_list);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int r;

        snprintf(certs_dir, sizeof(certs_dir), "/tmp/imapidled-thl-XXXXXX");
        if (!mkdtemp(certs_dir)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        /* The accounts connect to 127.0.0.1: the leaf names that address. */
        r = th_certs_make(certs_dir, NULL, (const char *const[]) { "127.0.0.1", NULL }, &certs);
        if (r < 0) {
                fprintf(stderr, "cannot make test certificates: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        r = th_run_suite(hostile_login_suite());
        (void) unlink(certs.ca_file);
        (void) unlink(certs.ca_key_file);
        (void) unlink(certs.cert_file);
        (void) unlink(certs.key_file);
        (void) rmdir(certs_dir);
        return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * test-desktop.c: desktop notifications (src/daemon/desktop.c, desktop_notify in
 * imapidled.conf(5)).
 *
 *   format:  desktop_format(): the summary, the body, the escaping of the markup a notification
 *            server may read, control characters, the caps.
 *   bus:     the module on a private session bus: a dbus-daemon of the test's own
 *            (--session semantics from a config file in a scratch directory, so nothing of the
 *            user's session is touched) and tests/notify-sink, which owns
 *            org.freedesktop.Notifications and appends each Notify call to a file.
 *   daemon:  the imapidled binary against a scripted server (tests/fake-imapd.h) with that bus:
 *            the call with From and Subject, one fetch shared with a details hook (the script
 *            fails on any other round trip), no call when it is off, and without a bus one
 *            warning while hooks still run.
 *
 * Every wait is for a marker: the bus's address and the sink's "ready" line on their stdout, the
 * sink's file, the reply's id, the daemon's log and the hooks' files.  Without dbus-daemon
 * (Debian package dbus-daemon, tests/deps.sh) only "format" runs and the program says SKIP (77).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "desktop.h"
#include "fake-imapd.h"
#include "log.h"
#include "th-daemon.h"
#include "th.h"

#define WAIT_MS 15000U

/* ---- format -------------------------------------------------------------------------------- */

/* Details that point at the caller's strings (desktop_format() only reads them). */
static MessageDetails md(const char *from, const char *subject) {
        return (MessageDetails) {
                .from = (char *) (uintptr_t) from,
                .subject = (char *) (uintptr_t) subject,
        };
}

static void ck_format(const char *name, uint64_t count, const MessageDetails *d, size_t n,
                      const char *summary, const char *body) {
        _cleanup_free_ char *s = NULL, *b = NULL;

        ck_assert_int_eq(desktop_format(name, count, d, n, &s, &b), 0);
        ck_assert_str_eq(s, summary);
        ck_assert_str_eq(b, body);
}

START_TEST(test_format_one) {
        MessageDetails d[] = { md("Ann <ann@example.org>", "Lunch") };

        ck_format("work/INBOX", 1, d, 1, "New mail in work/INBOX",
                  "From: Ann &lt;ann@example.org&gt;\nSubject: Lunch");
}
END_TEST

/* Newest first, at most DESKTOP_BODY_MESSAGES, then what is left as "+N more". */
START_TEST(test_format_more) {
        MessageDetails d[] = { md("a", "1"), md("b", "2"), md("c", "3"), md("d", "4") };

        ck_format("w/INBOX", 9, d, 4, "9 new messages in w/INBOX",
                  "From: d\nSubject: 4\nFrom: c\nSubject: 3\nFrom: b\nSubject: 2\n+6 more");
        ck_format("w/INBOX", 2, d, 2, "2 new messages in w/INBOX",
                  "From: b\nSubject: 2\nFrom: a\nSubject: 1");
        /* No details (the fetch failed): the count alone. */
        ck_format("w/INBOX", 5, NULL, 0, "5 new messages in w/INBOX", "");
        /* NULL fields are empty, not "(null)". */
        ck_format("w/INBOX", 1, (MessageDetails[]) { md(NULL, NULL) }, 1, "New mail in w/INBOX",
                  "From: \nSubject: ");
}
END_TEST

/* The sender writes From and Subject: markup is escaped, controls dropped, in the mailbox name
 * too (a pattern's LIST may bring any name). */
START_TEST(test_format_escape) {
        MessageDetails d[] = {
                md("\"x\" <a&b@example.org>", "<b>bold</b> & <a href=\"u\">link</a>\x01\x1b[31m\x7f"),
        };

        ck_format("w/<i>", 1, d, 1, "New mail in w/&lt;i&gt;",
                  "From: \"x\" &lt;a&amp;b@example.org&gt;\nSubject: &lt;b&gt;bold&lt;/b&gt; &amp; "
                  "&lt;a href=\"u\"&gt;link&lt;/a&gt;[31m");
}
END_TEST

/* Each field is cut at DESKTOP_FIELD_MAX bytes on a character boundary; the body never exceeds
 * DESKTOP_TEXT_MAX, escapes included, and is never cut inside an entity or a character. */
START_TEST(test_format_limits) {
        char big[4 * DESKTOP_TEXT_MAX + 1], utf8[DESKTOP_FIELD_MAX + 2];
        _cleanup_free_ char *s = NULL, *b = NULL, *s2 = NULL, *b2 = NULL;
        MessageDetails d[DESKTOP_BODY_MESSAGES];
        size_t n;

        memset(big, '<', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        for (size_t i = 0; i < DESKTOP_BODY_MESSAGES; i++)
                d[i] = md(big, big);
        ck_assert_int_eq(desktop_format(big, 1000000, d, DESKTOP_BODY_MESSAGES, &s, &b), 0);
        ck_assert_uint_le(strlen(s), DESKTOP_TEXT_MAX);
        ck_assert_uint_le(strlen(b), DESKTOP_TEXT_MAX);
        /* A field gives at most DESKTOP_FIELD_MAX source bytes: 160 '<' are 640 bytes escaped. */
        ck_assert_uint_eq(strlen(s), strlen("1000000 new messages in ") + 4 * DESKTOP_FIELD_MAX);
        n = strlen(b);
        ck_assert_uint_gt(n, 0);
        ck_assert_msg(n >= 4 && strcmp(b + n - 4, "&lt;") == 0, "cut inside an entity: ...%s", b + n - 8);

        /* "x" then 80 "ä" (two bytes each): the cap falls inside the last one, which goes whole. */
        utf8[0] = 'x';
        for (size_t i = 1; i + 2 <= DESKTOP_FIELD_MAX + 1; i += 2)
                memcpy(utf8 + i, "\xc3\xa4", 2);
        utf8[DESKTOP_FIELD_MAX + 1] = 0;
        ck_assert_int_eq(desktop_format("n", 1, (MessageDetails[]) { md("f", utf8) }, 1, &s2, &b2), 0);
        n = strlen(b2);
        ck_assert_uint_eq(n, strlen("From: f\nSubject: ") + DESKTOP_FIELD_MAX - 1);
        ck_assert_int_eq((unsigned char) b2[n - 2], 0xc3);
        ck_assert_int_eq((unsigned char) b2[n - 1], 0xa4);
}
END_TEST

START_TEST(test_format_invalid) {
        char *s = NULL, *b = NULL;

        ck_assert_int_eq(desktop_format(NULL, 1, NULL, 0, &s, &b), -EINVAL);
        ck_assert_int_eq(desktop_format("n", 1, NULL, 2, &s, &b), -EINVAL);
        ck_assert_ptr_null(s);
        ck_assert_ptr_null(b);
}
END_TEST

/* ---- a private session bus ------------------------------------------------------------------ */

typedef struct Bus {
        char dir[64], conf[96], calls[96], log[96];
        char address[256];              /* DBUS_SESSION_BUS_ADDRESS */
        pid_t daemon, sink;
} Bus;

/* The first line the child writes on fd, without its newline; false after timeout_ms. */
static bool read_line(int fd, char *buf, size_t size, unsigned timeout_ms) {
        size_t len = 0;
        uint64_t end = mono_ms() + timeout_ms;

        while (len + 1 < size) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = mono_ms();
                ssize_t n;

                if (now >= end || poll(&p, 1, (int) (end - now)) <= 0)
                        return false;
                n = read(fd, buf + len, 1);
                if (n <= 0)
                        return false;
                if (buf[len] == '\n') {
                        buf[len] = 0;
                        return true;
                }
                len++;
        }
        return false;
}

/* argv with stdout to a pipe and stderr appended to log; the first line of stdout into line. */
static pid_t spawn_reading(char *const argv[], const char *bus_address, const char *log, char *line,
                           size_t size) {
        int p[2];
        pid_t pid;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

                if (fd < 0 || dup2(p[1], STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(126);
                if (bus_address && setenv("DBUS_SESSION_BUS_ADDRESS", bus_address, 1) < 0)
                        _exit(126);
                execvp(argv[0], argv);
                _exit(127);
        }
        (void) close(p[1]);
        ck_assert_msg(read_line(p[0], line, size, WAIT_MS), "%s wrote no line:\n%s", argv[0], tail_of(log));
        (void) close(p[0]);
        return pid;
}

static bool have_dbus_daemon(void) {
        const char *path = getenv("PATH") ?: "/usr/bin:/bin";

        while (*path) {
                size_t n = strcspn(path, ":");
                char file[512];

                (void) snprintf(file, sizeof(file), "%.*s/dbus-daemon", (int) n, path);
                if (access(file, X_OK) == 0)
                        return true;
                path += n;
                path += strspn(path, ":");
        }
        return false;
}

static void bus_start(Bus *b) {
        char line[64];
        FILE *f;

        *b = (Bus) {};
        (void) snprintf(b->dir, sizeof(b->dir), "/tmp/test-desktop.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(b->dir));
        (void) snprintf(b->conf, sizeof(b->conf), "%s/bus.conf", b->dir);
        (void) snprintf(b->calls, sizeof(b->calls), "%s/calls", b->dir);
        (void) snprintf(b->log, sizeof(b->log), "%s/bus.log", b->dir);
        f = fopen(b->conf, "we");
        ck_assert_ptr_nonnull(f);
        /* A session bus of the test's own, listening in the scratch directory. */
        fprintf(f,
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>session</type>\n"
                "  <listen>unix:path=%s/bus</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow send_destination=\"*\"/>\n"
                "    <allow receive_sender=\"*\"/>\n"
                "    <allow send_type=\"method_return\"/>\n"
                "    <allow receive_type=\"method_return\"/>\n"
                "    <allow receive_type=\"signal\"/>\n"
                "    <allow own=\"*\"/>\n"
                "  </policy>\n"
                "</busconfig>\n",
                b->dir);
        ck_assert_int_eq(fclose(f), 0);
        {
                char conf_arg[128];
                char *const argv[] = { (char[]) { "dbus-daemon" }, (char[]) { "--nofork" },
                                       (char[]) { "--print-address=1" }, conf_arg, NULL };

                (void) snprintf(conf_arg, sizeof(conf_arg), "--config-file=%s", b->conf);
                b->daemon = spawn_reading(argv, NULL, b->log, b->address, sizeof(b->address));
        }
        {
                char *const argv[] = { (char[]) { NOTIFY_SINK }, b->calls, NULL };

                b->sink = spawn_reading(argv, b->address, b->log, line, sizeof(line));
                ck_assert_str_eq(line, "ready");
        }
        ck_assert_int_eq(setenv("DBUS_SESSION_BUS_ADDRESS", b->address, 1), 0);
}

static void reap(pid_t pid) {
        if (pid > 0) {
                (void) kill(pid, SIGTERM);
                (void) waitpid(pid, NULL, 0);
        }
}

static void bus_stop(Bus *b) {
        char path[128];

        reap(b->sink);
        reap(b->daemon);
        (void) unlink(b->calls);
        (void) unlink(b->log);
        (void) unlink(b->conf);
        (void) snprintf(path, sizeof(path), "%s/bus", b->dir);
        (void) unlink(path);
        (void) rmdir(b->dir);
}

/* Lines of the sink's file: the calls so far. */
static unsigned calls(const Bus *b, char **ret) {
        char *s = read_file(b->calls);
        unsigned n = 0;

        for (const char *p = s; *p; p++)
                n += *p == '\n';
        if (ret)
                *ret = s;
        else
                free(s);
        return n;
}

static bool wait_calls(const Bus *b, unsigned n, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                if (calls(b, NULL) >= n)
                        return true;
                sleep_ms(20);
        }
        return false;
}

/* ---- bus: the module on its own ---------------------------------------------------------------- */

static int on_safety(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        *(bool *) userdata = true;
        return 0;
}

/* Run the loop until the reply for 'name' gave an id other than 'old'. */
static uint32_t wait_id(sd_event *e, Desktop *d, const char *name, uint32_t old) {
        sd_event_source *safety = NULL;
        bool expired = false;

        ck_assert_int_ge(sd_event_add_time_relative(e, &safety, CLOCK_MONOTONIC, WAIT_MS * USEC_PER_MSEC, 0,
                                                    on_safety, &expired),
                         0);
        while ((desktop_last_id(d, name) == old) && !expired)
                ck_assert_int_ge(sd_event_run(e, UINT64_MAX), 0);
        sd_event_source_unref(safety);
        ck_assert_msg(!expired, "no reply from the notification server");
        return desktop_last_id(d, name);
}

/* Run the loop until the sink recorded n calls. */
static void loop_until_calls(sd_event *e, const Bus *b, unsigned n) {
        uint64_t end = mono_ms() + WAIT_MS;

        while (calls(b, NULL) < n && mono_ms() < end)
                ck_assert_int_ge(sd_event_run(e, 20 * USEC_PER_MSEC), 0);
        ck_assert_msg(calls(b, NULL) >= n, "%u calls, not %u", calls(b, NULL), n);
}

/* The call as the specification has it, then one that replaces it (a burst is one
 * notification); another mailbox's does not. */
START_TEST(test_bus_notify) {
        MessageDetails dt[] = { md("Ann <ann@example.org>", "<b>Hi</b>") };
        _cleanup_free_ char *all = NULL;
        sd_event *e = NULL;
        Desktop *d = NULL;
        uint32_t id;
        char want[512];
        Bus b;

        bus_start(&b);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(desktop_new(e, &d), 0);
        desktop_notify_new(d, "acct/INBOX", 1, dt, 1);
        id = wait_id(e, d, "acct/INBOX", 0);
        ck_assert_uint_ne(id, 0);
        ck_assert_uint_eq(calls(&b, &all), 1);
        ck_assert_str_eq(all, "imapidled\t0\tmail-unread\tNew mail in acct/INBOX\t"
                              "From: Ann &lt;ann@example.org&gt;\\nSubject: &lt;b&gt;Hi&lt;/b&gt;\t0\temail.arrived\t-1\n");

        desktop_notify_new(d, "acct/INBOX", 2, dt, 1);
        desktop_notify_new(d, "acct/Lists", 1, dt, 1);
        ck_assert(wait_calls(&b, 3, WAIT_MS));
        free(all);
        ck_assert_uint_eq(calls(&b, &all), 3);
        (void) snprintf(want, sizeof(want), "imapidled\t%u\tmail-unread\t2 new messages in acct/INBOX\t", id);
        ck_assert_msg(strstr(all, want), "%s", all);
        ck_assert_msg(strstr(all, "imapidled\t0\tmail-unread\tNew mail in acct/Lists\t"), "%s", all);

        d = desktop_free(d);
        e = sd_event_unref(e);
        bus_stop(&b);
}
END_TEST

/* The bus goes away (the session ended): the next notification opens it again. */
START_TEST(test_bus_reopen) {
        MessageDetails dt[] = { md("a", "first") };
        sd_event *e = NULL;
        Desktop *d = NULL;
        Bus b;

        bus_start(&b);
        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(desktop_new(e, &d), 0);
        desktop_notify_new(d, "acct/INBOX", 1, dt, 1);
        (void) wait_id(e, d, "acct/INBOX", 0);
        bus_stop(&b);
        /* A new bus at a new address (the old one's end is seen at the next notification, or by
         * the loop before it). */
        bus_start(&b);
        desktop_notify_new(d, "acct/INBOX", 1, dt, 1);
        loop_until_calls(e, &b, 1);
        d = desktop_free(d);
        e = sd_event_unref(e);
        bus_stop(&b);
}
END_TEST

/* ---- daemon: the binary ---------------------------------------------------------------------- */

#define FAKE_LOGIN                                                                                      \
        FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),                                        \
        FAKE_EXPECT("<tag> LOGIN u \"p\""),                                                             \
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),                                       \
        FAKE_EXPECT("<tag> EXAMINE INBOX"),                                                             \
        FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] ok\r\n")
#define FAKE_IDLE FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("+ idling\r\n")
/* Message n arrives and its UID and envelope are asked for, once. */
#define FAKE_NEW(n, subject)                                                                            \
        FAKE_SEND("* " #n " EXISTS\r\n"),                                                               \
        FAKE_EXPECT("DONE"),                                                                            \
        FAKE_SEND("<tag> OK done\r\n"),                                                                 \
        FAKE_EXPECT("<tag> UID FETCH " #n ":* (UID)"),                                                  \
        FAKE_SEND("* " #n " FETCH (UID " #n ")\r\n<tag> OK fetched\r\n"),                               \
        FAKE_EXPECT("<tag> UID FETCH " #n " (UID FLAGS RFC822.SIZE ENVELOPE)"),                         \
        FAKE_SEND("* " #n " FETCH (UID " #n " FLAGS () RFC822.SIZE 99 ENVELOPE (\"Mon, 1 Jan 2024 "     \
                  "00:00:00 +0000\" " subject " ((\"Ann\" NIL \"ann\" \"example.org\")) NIL NIL NIL NIL "  \
                  "NIL NIL \"<" #n "@example.org>\"))\r\n<tag> OK fetched\r\n"),                        \
        FAKE_IDLE
#define FAKE_STOP                                                                                       \
        FAKE_EXPECT("DONE"),                                                                            \
        FAKE_SEND("<tag> OK done\r\n"),                                                                 \
        FAKE_EXPECT("<tag> LOGOUT"),                                                                    \
        FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),                                                     \
        FAKE_EXPECT_EOF()

static const FakeStep one_message[] = {
        FAKE_LOGIN,
        FAKE_IDLE,
        FAKE_NEW(1, "\"<b>Hi</b> & you\""),
        FAKE_STOP,
        FAKE_END,
};

static void wait_fake(Daemon *d, FakeImapd *f) {
        _cleanup_free_ char *report = NULL;

        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ?: "", tail_of(d->log));
}

/* An account on the scripted server; 'hook': an on_new with details = true writing to
 * <dir>/new; extra: more account keys. */
static void config(Daemon *d, const FakeImapd *f, bool hook, const char *extra) {
        char on_new[512] = "";

        if (hook)
                (void) snprintf(on_new, sizeof(on_new),
                                "on_new = { command = [\"%s\", \"env\", \"%s/new\"]; details = true; };", HOOK_HELPER,
                                d->dir);
        write_config(d,
                     "debounce = 0; liveness_interval = 60;\n"
                     "accounts = ( { name = \"dn\"; host = \"127.0.0.1\"; port = %u; username = \"u\"; password = \"p\";\n"
                     "  tls = \"none\"; allow_plaintext = true;\n  %s\n  %s\n} );\n",
                     (unsigned) fake_imapd_port(f), on_new, extra);
}

static unsigned hook_runs(Daemon *d) {
        char path[128];
        _cleanup_free_ char *s = NULL;
        unsigned n = 0;

        (void) snprintf(path, sizeof(path), "%s/new", d->dir);
        s = read_file(path);
        for (const char *p = s; *p; p++)
                n += *p == '\n';
        return n;
}

static bool wait_hook_runs(Daemon *d, unsigned n) {
        uint64_t end = mono_ms() + WAIT_MS;

        while (mono_ms() < end) {
                if (hook_runs(d) >= n)
                        return true;
                sleep_ms(20);
        }
        return false;
}

/* New mail becomes one Notify call with From and Subject, escaped; with a details hook the
 * hook and the notification share the one envelope fetch (the script has no other), and
 * without a hook the notification alone asks the same. */
START_TEST(test_daemon_notify) {
        const bool hook = _i == 0;
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *all = NULL;
        Daemon d;
        Bus b;

        bus_start(&b);
        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start_full(one_message, &(FakeImapdOptions) {}, NULL, &f), 0);
        config(&d, f, hook, "desktop_notify = true;");
        daemon_start(&d);
        ck_assert_msg(wait_calls(&b, 1, WAIT_MS), "no notification; log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(calls(&b, &all), 1);
        ck_assert_str_eq(all, "imapidled\t0\tmail-unread\tNew mail in dn/INBOX\t"
                              "From: Ann &lt;ann@example.org&gt;\\nSubject: &lt;b&gt;Hi&lt;/b&gt; &amp; you\t0\t"
                              "email.arrived\t-1\n");
        if (hook)
                ck_assert_msg(wait_hook_runs(&d, 1), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, WAIT_MS), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, f);
        ck_assert_uint_eq(hook_runs(&d), hook ? 1 : 0);
        ck_assert_uint_eq(log_count(&d, "desktop_notify:"), 0);
        daemon_done(&d);
        bus_stop(&b);
}
END_TEST

/* Off by default, and off for a mailbox of an account that has it on: the hook runs (the
 * marker that the notification would have been sent by then), no call. */
START_TEST(test_daemon_off) {
        static const char *const extra[] = {
                "",
                "desktop_notify = true; mailboxes = ( { name = \"INBOX\"; desktop_notify = false; } );",
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        Daemon d;
        Bus b;

        bus_start(&b);
        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start_full(one_message, &(FakeImapdOptions) {}, NULL, &f), 0);
        config(&d, f, true, extra[_i]);
        daemon_start(&d);
        ck_assert_msg(wait_hook_runs(&d, 1), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, WAIT_MS), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, f);
        ck_assert_uint_eq(calls(&b, NULL), 0);
        daemon_done(&d);
        bus_stop(&b);
}
END_TEST

/* No session bus: one warning, not one per message (the next try is DESKTOP_RETRY_USEC
 * later); the hooks run and the daemon goes on idling. */
START_TEST(test_daemon_no_bus) {
        static const FakeStep script[] = {
                FAKE_LOGIN,
                FAKE_IDLE,
                FAKE_NEW(1, "\"one\""),
                FAKE_NEW(2, "\"two\""),
                FAKE_STOP,
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        char address[160];
        Daemon d;

        daemon_init(&d);
        (void) snprintf(address, sizeof(address), "unix:path=%s/no-bus", d.dir);
        ck_assert_int_eq(setenv("DBUS_SESSION_BUS_ADDRESS", address, 1), 0);
        ck_assert_int_eq(fake_imapd_start_full(script, &(FakeImapdOptions) {}, NULL, &f), 0);
        config(&d, f, true, "desktop_notify = true;");
        daemon_start(&d);
        ck_assert_msg(wait_hook_runs(&d, 2), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 3, WAIT_MS), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, f);
        ck_assert_msg(log_count(&d, "desktop_notify: cannot connect to the session bus") == 1, "log:\n%s",
                      tail_of(d.log));
        daemon_done(&d);
}
END_TEST

int main(void) {
        bool bus = have_dbus_daemon();
        Suite *s = suite_create("desktop");
        TCase *tc;
        SRunner *sr;
        int failed;

        /* Hooks run from the daemon, never from here; the fake server's peer may go first. */
        (void) signal(SIGPIPE, SIG_IGN);
        tc = tcase_create("format");
        tcase_add_test(tc, test_format_one);
        tcase_add_test(tc, test_format_more);
        tcase_add_test(tc, test_format_escape);
        tcase_add_test(tc, test_format_limits);
        tcase_add_test(tc, test_format_invalid);
        suite_add_tcase(s, tc);
        if (bus) {
                tc = tcase_create("bus");
                tcase_set_timeout(tc, 60);
                tcase_add_test(tc, test_bus_notify);
                tcase_add_test(tc, test_bus_reopen);
                suite_add_tcase(s, tc);
                tc = tcase_create("daemon");
                tcase_set_timeout(tc, 120);
                tcase_add_loop_test(tc, test_daemon_notify, 0, 2);
                tcase_add_loop_test(tc, test_daemon_off, 0, 2);
                tcase_add_test(tc, test_daemon_no_bus);
                suite_add_tcase(s, tc);
        }
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        if (failed)
                return EXIT_FAILURE;
        if (!bus) {
                printf("SKIP: no dbus-daemon (Debian package dbus-daemon): only the format cases ran\n");
                return 77;
        }
        return EXIT_SUCCESS;
}

/* SPDX-License-Identifier: MIT */
/*
 * test-status.c: `imapidled status` and SIGUSR1 (issue 13) with the real binary: the report
 * (text and JSON) after an event and a failing hook, a connection that keeps failing (next
 * retry, last error), the control socket's mode, its limits (CONTROL_MAX_CLIENTS clients, the
 * request's length, the idle client timeout), a client of another user refused (as root), a
 * stale socket replaced, a live one refused, and the command without a daemon.  No Dovecot: a
 * scripted server (tests/fake-imapd.h) where a session is needed.  Nothing sleeps: every wait is for a log line, a file or a hook
 * (tests/th-daemon.h).
 *
 * The daemon's RUNTIME_DIRECTORY is its scratch directory (th-daemon.c), and this program sets
 * the same in its own environment before running the command, so the command finds the socket
 * by the default logic (control.h); --control-socket is tested on its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-imapd.h"
#include "th-daemon.h"
#include "th.h"

/* The daemon's limits (src/daemon/control.h), restated: a test that hits them must not move
 * with them silently. */
#define MAX_CLIENTS 8U
#define REQUEST_MAX 64U

#define ST_LOGIN                                                                                        \
        FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),                                        \
        FAKE_EXPECT("<tag> LOGIN u \"p\""),                                                             \
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n")
#define ST_IDLE FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("+ idling\r\n")
#define ST_STOP                                                                                         \
        FAKE_EXPECT("DONE"),                                                                            \
        FAKE_SEND("<tag> OK done\r\n"),                                                                 \
        FAKE_EXPECT("<tag> LOGOUT"),                                                                    \
        FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),                                                     \
        FAKE_EXPECT_EOF()

static void setup_env(Daemon *d) {
        char state[160];

        /* The command and any daemon this program runs itself find the scratch directory. */
        ck_assert_int_eq(setenv("RUNTIME_DIRECTORY", d->dir, 1), 0);
        (void) snprintf(state, sizeof(state), "%s/state", d->dir);
        ck_assert_int_eq(setenv("STATE_DIRECTORY", state, 1), 0);
}

static const char *socket_path(const Daemon *d) {
        static char p[160];

        (void) snprintf(p, sizeof(p), "%s/control", d->dir);
        return p;
}

/* Until the daemon's socket exists (it is bound before the loop starts). */
static bool wait_socket(const Daemon *d, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;
        struct stat st;

        while (mono_ms() < end) {
                if (stat(socket_path(d), &st) == 0 && S_ISSOCK(st.st_mode))
                        return true;
                sleep_ms(20);
        }
        return false;
}

/* `imapidled -c CONF status [extra]`: its exit status, *ret_out its stdout (to free). */
static int run_status(Daemon *d, const char *extra, char **ret_out) {
        const char *args[] = { "status", extra, NULL };
        char out[160];
        int st;

        (void) snprintf(out, sizeof(out), "%s/status.out", d->dir);
        st = daemon_run_tool(d, args, out);
        if (ret_out)
                *ret_out = read_file(out);
        ck_assert(WIFEXITED(st));
        return WEXITSTATUS(st);
}

/* A raw client of the control socket (connected, blocking). */
static int raw_connect(const Daemon *d) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(socket_path(d)), sizeof(sa.sun_path));
        strcpy(sa.sun_path, socket_path(d));
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* Everything the daemon sends until it closes (a receive timeout guards against a hang). */
static char *raw_read_all(int fd) {
        struct timeval tv = { .tv_sec = 30 };
        Buf b = BUF_INIT;
        char tmp[4096];
        ssize_t n;

        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
                ck_assert_int_eq(buf_append(&b, tmp, (size_t) n, 0), 0);
        ck_assert_int_eq(n, 0);
        ck_assert_int_eq(buf_append(&b, "", 1, 0), 0);
        return b.data;
}

/* python3 where there is one checks that the JSON parses and holds what the text said; the
 * substring checks run everywhere. */
static void check_json(Daemon *d, const char *json) {
        char path[160], cmd[512];
        FILE *f;
        int st;

        ck_assert_msg(strstr(json, "\"name\":\"st\"") && strstr(json, "\"name\":\"INBOX\"") &&
                      strstr(json, "\"mode\":\"idle\",\"state\":\"idling\"") &&
                      strstr(json, "\"last_event\":{\"event\":\"new\",\"count\":1,") &&
                      strstr(json, "\"last_hook\":{\"hook\":\"on_new\",") && strstr(json, "\"exit_status\":3,") &&
                      strstr(json, "\"next_retry_in\":null"), "json: %s", json);
        if (system("command -v python3 >/dev/null 2>&1") != 0) {
                fprintf(stderr, "python3 not found: the JSON is checked by substrings only\n");
                return;
        }
        (void) snprintf(path, sizeof(path), "%s/status.json", d->dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(json, f);
        ck_assert_int_eq(fclose(f), 0);
        (void) snprintf(cmd, sizeof(cmd),
                        "python3 -c 'import json, sys; a = json.load(open(sys.argv[1]))[\"accounts\"]; "
                        "assert len(a) == 2 and a[0][\"mailboxes\"][0][\"last_hook\"][\"exit_status\"] == 3; "
                        "assert a[1][\"mailboxes\"][0][\"name\"] == \"Caf\\u00e9 \\u2603\"' '%s'", path);
        st = system(cmd);
        ck_assert_msg(st == 0, "python3 rejected the JSON (%d): %s", st, json);
}

START_TEST(test_status_report) {
        /* Account st: INBOX idles; one message arrives, on_new (uids = true: the script knows the
         * commands) exits 3.  Account uni: a mailbox whose name is beyond ASCII, idling. */
        static const FakeStep script[] = {
                ST_LOGIN,
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] ok\r\n"),
                ST_IDLE,
                FAKE_SEND("* 1 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 1:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 1)\r\n<tag> OK fetched\r\n"),
                ST_IDLE,
                ST_STOP,
                FAKE_END,
        };
        static const FakeStep other[] = {
                ST_LOGIN,
                FAKE_EXPECT("<tag> EXAMINE \"Caf&AOk- &JgM-\""),
                FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 8] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] ok\r\n"),
                ST_IDLE,
                ST_STOP,
                FAKE_END,
        };
        FakeImapdOptions o = { .timeout_ms = 60000 };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL, *g = NULL;
        _cleanup_free_ char *text = NULL, *json = NULL, *report = NULL, *report2 = NULL;
        struct stat st;
        Daemon d;

        daemon_init(&d);
        setup_env(&d);
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        ck_assert_int_eq(fake_imapd_start_full(other, &o, NULL, &g), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"st\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_new = { command = [\"/bin/sh\", \"-c\", \"exit 3\"]; uids = true; }; },\n"
                     "  { name = \"uni\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; mailboxes = ( \"Café ☃\" ); } );\n",
                     fake_imapd_port(f), fake_imapd_port(g));
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "exited with status 3", 1, 20000), "log:\n%s", tail_of(d.log));
        /* INBOX twice (before and after the fetch), Café once: the script allows no more. */
        ck_assert_msg(wait_log(&d, "-> idling", 3, 20000), "log:\n%s", tail_of(d.log));

        /* Only the owner may connect. */
        ck_assert_int_eq(stat(socket_path(&d), &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0600);

        ck_assert_int_eq(run_status(&d, NULL, &text), 0);
        ck_assert_msg(strstr(text, "st: 1 mailbox, 1 connection: idle idling\n"), "%s", text);
        ck_assert_msg(strstr(text, "  INBOX: idle, idling; last event new (1 message) "), "%s", text);
        ck_assert_msg(strstr(text, "; last hook on_new exit status 3 "), "%s", text);
        ck_assert_msg(strstr(text, "\nuni: 1 mailbox, 1 connection: idle idling\n  Café ☃: idle, idling\n"), "%s",
                      text);
        ck_assert_msg(!strstr(text, "next retry") && !strstr(text, "last error"), "%s", text);

        ck_assert_int_eq(run_status(&d, "--json", &json), 0);
        check_json(&d, json);

        /* SIGUSR1: the same in the log, and the daemon goes on (it used to die of it). */
        ck_assert_int_eq(kill(d.pid, SIGUSR1), 0);
        ck_assert_msg(wait_log(&d, "Status: uni/Café ☃: idle, idling", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "Status of 2 accounts (SIGUSR1):"), 1);
        ck_assert_uint_eq(daemon_log_lines(&d, "Status: st/INBOX: idle, idling; last event new", "exit status 3"), 1);
        ck_assert_int_eq(run_status(&d, NULL, NULL), 0);

        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(g, &report2) == 0, "%s\nlog:\n%s", report2 ? report2 : "", tail_of(d.log));
        /* The socket goes with the daemon. */
        ck_assert_int_eq(stat(socket_path(&d), &st), -1);
        daemon_done(&d);
}
END_TEST

/* A TCP port on 127.0.0.1 where nothing listens. */
static unsigned closed_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        ck_assert_int_eq(close(fd), 0);
        return ntohs(sa.sin_port);
}

static void start_refused(Daemon *d) {
        daemon_init(d);
        setup_env(d);
        write_config(d,
                     "accounts = ( { name = \"down\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; } );\n",
                     closed_port());
        daemon_start(d);
        ck_assert_msg(wait_log(d, "retrying in", 1, 10000), "log:\n%s", tail_of(d->log));
        ck_assert_msg(wait_socket(d, 10000), "log:\n%s", tail_of(d->log));
}

START_TEST(test_status_retry_and_error) {
        _cleanup_free_ char *text = NULL, *json = NULL;
        Daemon d;

        start_refused(&d);
        ck_assert_int_eq(run_status(&d, NULL, &text), 0);
        ck_assert_msg(strstr(text, "down: 1 mailbox, 1 connection: idle waiting\n"), "%s", text);
        ck_assert_msg(strstr(text, "  INBOX: idle, waiting; next retry in "), "%s", text);
        ck_assert_msg(strstr(text, "; last error: connect to 127.0.0.1:"), "%s", text);
        ck_assert_int_eq(run_status(&d, "--json", &json), 0);
        ck_assert_msg(strstr(json, "\"state\":\"waiting\"") && strstr(json, "\"next_retry_in\":") &&
                      !strstr(json, "\"next_retry_in\":null") &&
                      strstr(json, "\"last_error\":{\"message\":\"connect to 127.0.0.1:"), "%s", json);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_status_clients) {
        int idle[MAX_CLIENTS], fd;
        _cleanup_free_ char *text = NULL, *reply = NULL, *closed = NULL, *longer = NULL;
        char req[REQUEST_MAX + 1];
        Daemon d;

        start_refused(&d);
        /* MAX_CLIENTS - 1 clients that say nothing: the command still gets the last place
         * (connections are accepted in order). */
        for (unsigned i = 0; i < MAX_CLIENTS - 1; i++)
                idle[i] = raw_connect(&d);
        ck_assert_int_eq(run_status(&d, NULL, &text), 0);
        ck_assert_msg(strstr(text, "  INBOX: idle, waiting"), "%s", text);
        /* With all places taken, one more is closed without a word (it sends nothing: a
         * request closed unread would be a reset, not the end of the stream). */
        idle[MAX_CLIENTS - 1] = raw_connect(&d);
        fd = raw_connect(&d);
        closed = raw_read_all(fd);
        ck_assert_str_eq(closed, "");
        ck_assert_int_eq(close(fd), 0);
        ck_assert_msg(wait_log(&d, "Control socket: 8 clients already, one more closed", 1, 10000), "log:\n%s",
                      tail_of(d.log));
        for (unsigned i = 0; i < MAX_CLIENTS; i++)
                ck_assert_int_eq(close(idle[i]), 0);
        /* Their places are free once the daemon saw them go. */
        ck_assert_msg(wait_log(&d, "Control socket: a client left without a request", MAX_CLIENTS, 10000),
                      "log:\n%s", tail_of(d.log));

        /* A client that says nothing is closed after the timeout (10 s). */
        fd = raw_connect(&d);
        ck_assert_msg(wait_log(&d, "Control socket: a client idle for 10 s closed", 1, 30000), "log:\n%s",
                      tail_of(d.log));
        reply = raw_read_all(fd);
        ck_assert_str_eq(reply, "");
        ck_assert_int_eq(close(fd), 0);
        free(reply);

        /* Requests: unknown, and longer than any (no newline within REQUEST_MAX bytes). */
        fd = raw_connect(&d);
        ck_assert_int_eq(send(fd, "reload\n", 7, MSG_NOSIGNAL), 7);
        reply = raw_read_all(fd);
        ck_assert_str_eq(reply, "error: unknown request\n");
        ck_assert_int_eq(close(fd), 0);
        memset(req, 's', sizeof(req));
        fd = raw_connect(&d);
        ck_assert_int_eq(send(fd, req, REQUEST_MAX, MSG_NOSIGNAL), (ssize_t) REQUEST_MAX);
        longer = raw_read_all(fd);
        ck_assert_str_eq(longer, "error: unknown request\n");
        ck_assert_int_eq(close(fd), 0);
        /* The longest line that fits, REQUEST_MAX - 1 bytes and the newline, is read whole
         * (and is no request either). */
        memset(req, 'x', REQUEST_MAX - 1);
        req[REQUEST_MAX - 1] = '\n';
        fd = raw_connect(&d);
        ck_assert_int_eq(send(fd, req, REQUEST_MAX, MSG_NOSIGNAL), (ssize_t) REQUEST_MAX);
        free(reply);
        reply = raw_read_all(fd);
        ck_assert_str_eq(reply, "error: unknown request\n");
        ck_assert_int_eq(close(fd), 0);

        /* The command still works, and the daemon still runs. */
        ck_assert_int_eq(run_status(&d, NULL, NULL), 0);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_status_large_reply) {
        /* BIG_MAILBOXES mailboxes: a reply of several times the socket's buffer, which the
         * daemon writes as the reader drains it (EPOLLOUT), to a reader that takes its time. */
        enum { BIG_MAILBOXES = 4000 };
        _cleanup_free_ char *text = NULL, *slow = NULL, *wmem = NULL;
        Buf conf = BUF_INIT;
        unsigned lines = 0;
        char tmp[160];
        int fd, k;
        Daemon d;

        daemon_init(&d);
        setup_env(&d);
        for (unsigned i = 0; i < BIG_MAILBOXES; i++) {
                k = snprintf(tmp, sizeof(tmp), "%s\"folder-with-a-rather-long-name-%04u\"", i ? ", " : "", i);
                ck_assert_int_eq(buf_append(&conf, tmp, (size_t) k, 0), 0);
        }
        ck_assert_int_eq(buf_append(&conf, "", 1, 0), 0);
        write_config(&d,
                     "accounts = ( { name = \"big\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; mailboxes = ( %s ); } );\n",
                     closed_port(), conf.data);
        buf_done(&conf);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 20000), "log:\n%s", tail_of(d.log));

        ck_assert_int_eq(run_status(&d, NULL, &text), 0);
        for (const char *p = text; *p; p++)
                lines += *p == '\n';
        ck_assert_uint_eq(lines, 1 + BIG_MAILBOXES);
        /* Larger than what the socket holds (a stream socket's data counts against the sender's
         * buffer, wmem_default) twice over. */
        wmem = read_file("/proc/sys/net/core/wmem_default");
        ck_assert_msg(strlen(text) > 2 * strtoul(wmem, NULL, 10), "only %zu bytes, wmem_default %s", strlen(text),
                      wmem);
        ck_assert_msg(strstr(text, "  folder-with-a-rather-long-name-3999: notify, waiting; next retry in "), "%.300s",
                      text);

        /* A reader that asks and reads nothing until another client was served: the daemon
         * filled that reader's socket and went on, and the reply comes whole afterwards. */
        fd = raw_connect(&d);
        ck_assert_int_eq(send(fd, "status\n", 7, MSG_NOSIGNAL), 7);
        ck_assert_int_eq(run_status(&d, NULL, NULL), 0);
        slow = raw_read_all(fd);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_uint_eq(strlen(slow), strlen(text));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_status_socket_lifecycle) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *out = NULL;
        char path[200];
        const char *args[] = { NULL };
        struct stat st;
        int fd, ws;
        FILE *f;
        Daemon d;

        daemon_init(&d);
        setup_env(&d);
        write_config(&d, "accounts = ( { name = \"down\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                         "  allow_plaintext = true; username = \"u\"; password = \"p\"; } );\n", closed_port());

        /* The command line: --json only with the verb, nothing after it. */
        {
                const char *json_alone[] = { "--json", NULL }, *extra[] = { "status", "extra", NULL };

                ws = daemon_run_tool(&d, json_alone, "/dev/null");
                ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 1);
                ck_assert_uint_eq(log_count(&d, "--json goes with 'status'"), 1);
                ws = daemon_run_tool(&d, extra, "/dev/null");
                ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 1);
                ck_assert_uint_eq(log_count(&d, "Unexpected argument 'extra'"), 1);
        }

        /* No daemon: exit 3, and the message names the socket. */
        ck_assert_int_eq(run_status(&d, NULL, &out), 3);
        ck_assert_str_eq(out, "");
        ck_assert_uint_eq(log_count(&d, "imapidled is not running (no socket at "), 1);
        ck_assert_uint_eq(log_count(&d, socket_path(&d)), 1);
        (void) snprintf(path, sizeof(path), "--control-socket=%s/elsewhere", d.dir);
        ck_assert_int_eq(run_status(&d, path, NULL), 3);
        ck_assert_uint_eq(log_count(&d, "/elsewhere)"), 1);
        /* Outside a service: $XDG_RUNTIME_DIR/imapidled/control; root also asks the system
         * service's socket (unless one really runs here: then that one answers). */
        (void) snprintf(path, sizeof(path), "%s/xdg", d.dir);
        ck_assert_int_eq(unsetenv("RUNTIME_DIRECTORY"), 0);
        ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", path, 1), 0);
        if (geteuid() != 0 || stat("/run/imapidled/control", &st) < 0) {
                ck_assert_int_eq(run_status(&d, NULL, NULL), 3);
                ck_assert_uint_eq(log_count(&d, "/xdg/imapidled/control"), 1);
                ck_assert_uint_eq(log_count(&d, "/xdg/imapidled/control or /run/imapidled/control)"),
                                  geteuid() == 0 ? 1 : 0);
        }
        setup_env(&d);

        /* A crashed run's socket (bound, nobody listening) is replaced. */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        strcpy(sa.sun_path, socket_path(&d));
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(run_status(&d, NULL, NULL), 3);        /* refused: not running */
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "Control socket: replaced the stale socket", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "retrying in", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_int_eq(run_status(&d, NULL, NULL), 0);

        /* A second daemon with the same socket does not start, and leaves the first one's. */
        ws = daemon_run_tool(&d, args, "/dev/null");
        ck_assert(WIFEXITED(ws));
        ck_assert_int_eq(WEXITSTATUS(ws), 1);
        ck_assert_uint_eq(log_count(&d, "Another imapidled is running: its control socket is "), 1);
        ck_assert_int_eq(run_status(&d, NULL, NULL), 0);
        daemon_stop(&d);
        ck_assert_int_eq(stat(socket_path(&d), &st), -1);

        /* A file that is not a socket is not removed: the daemon does not start. */
        f = fopen(socket_path(&d), "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fclose(f), 0);
        ws = daemon_run_tool(&d, args, "/dev/null");
        ck_assert(WIFEXITED(ws));
        ck_assert_int_eq(WEXITSTATUS(ws), 1);
        ck_assert_uint_eq(log_count(&d, "Cannot listen on the control socket "), 1);
        ck_assert_int_eq(stat(socket_path(&d), &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        daemon_done(&d);
}
END_TEST

/* A client of another user is refused even where the socket's mode would let it in
 * (control.h: the peer's uid is checked, not only the file's mode).  Root only: the test
 * opens the mode up and connects as nobody; it says SKIP elsewhere. */
START_TEST(test_status_other_user) {
        _cleanup_free_ char *text = NULL;
        pid_t pid;
        int ws;
        Daemon d;

        if (geteuid() != 0) {
                printf("SKIP: test_status_other_user: needs root to connect as another user\n");
                return;
        }
        start_refused(&d);
        /* What the daemon made (0700 directory, 0600 socket) already keeps others out: open
         * both, so only the uid check is left. */
        ck_assert_int_eq(chmod(d.dir, 0711), 0);
        ck_assert_int_eq(chmod(socket_path(&d), 0666), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                struct timeval tv = { .tv_sec = 30 };
                char buf[64];
                ssize_t n;
                int fd;

                if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                    setresuid(65534, 65534, 65534) < 0)
                        _exit(10);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                strcpy(sa.sun_path, socket_path(&d));
                if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        _exit(11);
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                (void) send(fd, "status\n", 7, MSG_NOSIGNAL);
                n = recv(fd, buf, sizeof(buf), 0);
                /* Closed without a word (0), or reset because the request went unread. */
                _exit(n == 0 || (n < 0 && errno == ECONNRESET) ? 0 : 12);
        }
        ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
        ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the other user's client: status %d", ws);
        ck_assert_msg(wait_log(&d, "Control socket: a client of another user refused", 1, 10000), "log:\n%s",
                      tail_of(d.log));
        /* The owner (root) is still served. */
        ck_assert_int_eq(run_status(&d, NULL, &text), 0);
        ck_assert_msg(strstr(text, "  INBOX: "), "%s", text);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

static Suite *status_suite(void) {
        Suite *s = suite_create("status");
        TCase *tc = tcase_create("status");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_status_report);
        tcase_add_test(tc, test_status_retry_and_error);
        tcase_add_test(tc, test_status_clients);
        tcase_add_test(tc, test_status_socket_lifecycle);
        tcase_add_test(tc, test_status_large_reply);
        tcase_add_test(tc, test_status_other_user);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(status_suite());
}

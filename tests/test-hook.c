/* SPDX-License-Identifier: MIT */
/*
 * test-hook.c: hook programs and secret commands (src/daemon/hook.c): argv
 * expansion and the environment, what the child inherits (fds, signals,
 * stdin), output logging, timeouts that reach a shell's children, failures,
 * hook_free() on a running hook, and the secret command's results.  Each test
 * runs a private sd_event loop until the callback fired, with a generous
 * safety timeout; hooks are the helper tests/hook-helper or /bin/sh -c with
 * script text fixed here.  main() blocks SIGCHLD (and what the daemon blocks)
 * and ignores SIGPIPE, as hook.h requires.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env-util.h"
#include "hook.h"
#include "log.h"
#include "th.h"

#define SAFETY_USEC (20 * USEC_PER_SEC)
#define SHORT_USEC (200 * USEC_PER_MSEC)

/* --- log capture (as in test-log.c, but of a whole event-loop run) -------- */

static FILE *cap_file;
static int cap_saved = -1;

static void capture_begin(void) {
        fflush(stderr);
        cap_file = tmpfile();   /* deliberately not O_CLOEXEC: the hook must not see it (M06) */
        ck_assert_ptr_nonnull(cap_file);
        cap_saved = dup(STDERR_FILENO);
        ck_assert_int_ge(cap_saved, 0);
        ck_assert_int_ge(dup2(fileno(cap_file), STDERR_FILENO), 0);
        log_set_prefix(1);
        log_set_max_level(LOG_INFO);
}

static char *capture_end(void) {
        char *out;
        long n;

        fflush(stderr);
        ck_assert_int_ge(dup2(cap_saved, STDERR_FILENO), 0);
        close(cap_saved);
        n = ftell(cap_file);
        ck_assert_int_ge(n, 0);
        out = calloc(1, (size_t) n + 1);
        ck_assert_ptr_nonnull(out);
        rewind(cap_file);
        ck_assert_uint_eq(fread(out, 1, (size_t) n, cap_file), (size_t) n);
        fclose(cap_file);
        /* Shown in the test's .log when something fails. */
        fprintf(stderr, "--- captured log ---\n%s--- end ---\n", out);
        return out;
}

_printf_(2, 3) static bool log_has(const char *log, const char *fmt, ...) {
        char needle[8192];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(needle, sizeof(needle), fmt, ap);
        va_end(ap);
        return strstr(log, needle) != NULL;
}

/* --- running a loop until a callback fired -------------------------------- */

static int on_safety(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        *(bool *) userdata = true;
        return 0;
}

static void loop_until(sd_event *e, const bool *flag) {
        sd_event_source *t = NULL;
        bool expired = false;

        ck_assert_int_ge(sd_event_add_time_relative(e, &t, CLOCK_MONOTONIC, SAFETY_USEC, 0, on_safety, &expired),
                         0);
        while (!*flag && !expired)
                ck_assert_int_ge(sd_event_run(e, UINT64_MAX), 0);
        sd_event_source_unref(t);
        ck_assert_msg(*flag, "the callback did not run within the safety timeout");
}

typedef struct Run {
        bool done;
        unsigned calls;
        int status;
        bool timed_out;
        pid_t pid;
        int wait_errno;         /* errno of waitpid(pid, WNOHANG) inside the callback */
        Hook *h;
} Run;

static void on_done(Hook *h, int status, bool timed_out, void *userdata) {
        Run *run = userdata;

        run->done = true;
        run->calls++;
        run->status = status;
        run->timed_out = timed_out;
        ck_assert_ptr_eq(h, run->h);
        if (run->pid > 0)
                run->wait_errno = waitpid(run->pid, NULL, WNOHANG) < 0 ? errno : 0;
}

/* Run spec to completion; the log of the run in *ret_log (free it). */
static void run_spec(const HookSpec *spec, Run *run, char **ret_log) {
        sd_event *e = NULL;

        *run = (Run) {};
        ck_assert_int_eq(sd_event_new(&e), 0);
        capture_begin();
        ck_assert_int_eq(hook_run(e, spec, on_done, run, &run->h), 0);
        run->pid = hook_pid(run->h);
        /* Never from inside hook_run(). */
        ck_assert(!run->done);
        loop_until(e, &run->done);
        *ret_log = capture_end();
        ck_assert_uint_eq(run->calls, 1);
        run->h = hook_free(run->h);
        sd_event_unref(e);
}

/* A mutable copy of a string literal (argv is char *const[]), without casting away const. */
#define S(literal) ((char[]) { literal })
#define SH(script) ((char *const[]) { S("/bin/sh"), S("-c"), S(script), S("sh"), NULL })

/* --- argv ------------------------------------------------------------------ */

START_TEST(test_expand_argv) {
        char *const argv[] = { S("x%ay"), S("%m"), S("%%a"), S("a b %m"), S(""),
                               S("%a%m%%"), NULL };
        char *const bad_spec[] = { S("%x"), NULL };
        char *const trailing[] = { S("abc%"), NULL };
        char *const plain[] = { S("plain"), NULL };
        char **l = NULL;

        ck_assert_int_eq(hook_expand_argv(argv, "work", "IN BOX;$(x) `y`", &l), 0);
        ck_assert_str_eq(l[0], "xworky");
        ck_assert_str_eq(l[1], "IN BOX;$(x) `y`");
        ck_assert_str_eq(l[2], "%a");
        ck_assert_str_eq(l[3], "a b IN BOX;$(x) `y`");
        ck_assert_str_eq(l[4], "");
        ck_assert_str_eq(l[5], "workIN BOX;$(x) `y`%");
        ck_assert_ptr_null(l[6]);
        l = hook_strv_free(l);

        /* A value with a '%' is not expanded again. */
        ck_assert_int_eq(hook_expand_argv(argv, "%m", "%a", &l), 0);
        ck_assert_str_eq(l[0], "x%my");
        ck_assert_str_eq(l[5], "%m%a%");
        l = hook_strv_free(l);

        ck_assert_int_eq(hook_expand_argv(bad_spec, "a", "m", &l), -EINVAL);
        ck_assert_int_eq(hook_expand_argv(trailing, "a", "m", &l), -EINVAL);
        ck_assert_int_eq(hook_expand_argv(argv, NULL, "m", &l), -EINVAL);
        ck_assert_int_eq(hook_expand_argv(argv, "a", NULL, &l), -EINVAL);
        ck_assert_ptr_null(l);
        ck_assert_int_eq(hook_expand_argv(plain, NULL, NULL, &l), 0);
        ck_assert_str_eq(l[0], "plain");
        l = hook_strv_free(l);
}
END_TEST

/* M01, M02: the child gets each expanded value as exactly one argument, and nothing in it is run. */
START_TEST(test_argv_reaches_child) {
        char dir[] = "/tmp/test-hook-XXXXXX", *log = NULL, cwd[4096];
        HookSpec spec = {
                .argv = SH("printf '[%%s]\\n' \"$@\""),
                .account = "-rf",
                .mailbox = "INBOX;touch pwned-1 `touch pwned-2` $(touch pwned-3) *",
                .log_name = "argv",
        };
        char *const argv[] = { S("/bin/sh"), S("-c"), S("printf '[%%s]\\n' \"$@\""),
                               S("sh"), S("%a"), S("--%m"), S("100%%"), NULL };
        Run run;

        ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(chdir(dir), 0);
        spec.argv = argv;
        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        ck_assert(log_has(log, "argv[%d]: [-rf]\n", run.pid));
        ck_assert(log_has(log, "argv[%d]: [--INBOX;touch pwned-1 `touch pwned-2` $(touch pwned-3) *]\n", run.pid));
        ck_assert(log_has(log, "argv[%d]: [100%%]\n", run.pid));
        ck_assert_int_eq(access("pwned-1", F_OK), -1);
        ck_assert_int_eq(access("pwned-2", F_OK), -1);
        ck_assert_int_eq(access("pwned-3", F_OK), -1);
        ck_assert_int_eq(chdir(cwd), 0);
        ck_assert_int_eq(rmdir(dir), 0);
        free(log);
}
END_TEST

/* --- environment ---------------------------------------------------------- */

START_TEST(test_build_env) {
        char *const in[] = {
                S("PATH=/usr/bin"), S("NOTIFY_SOCKET=/run/n"), S("WATCHDOG_PID=1"),
                S("WATCHDOG_USEC=5"), S("LISTEN_PID=1"), S("LISTEN_FDS=1"),
                S("LISTEN_FDNAMES=x"), S("CREDENTIALS_DIRECTORY=/run/c"), S("IMAPIDLED_EVENT=spoof"),
                S("IMAPIDLED_X=y"), S("NOEQUALS"), S("=novalue"), S("HOME=/h"),
                S("NOTIFY_SOCKETX=dropped"), S("LD_PRELOAD=/x.so"), S("STATE_DIRECTORY=/var/lib/i"),
                S("LC_ALL=C"), S("LC_=dropped"), S("PATHX=dropped"), S("LANGUAGE=dropped"),
                S("PASSED=1"), S("PASSED_NOT=1"), S("TZ=UTC"), S("XDG_RUNTIME_DIR=/run/user/1"),
                S("DBUS_SESSION_BUS_ADDRESS=unix:path=/b"), S("DISPLAY=:0"), S("WAYLAND_DISPLAY=w"),
                S("USER=u"), S("LOGNAME=u"), S("LANG=C.UTF-8"), NULL,
        };
        char *const extra[] = { S("IMAPIDLED_COUNT=3"), S("HOME=/other"), NULL };
        char *const pass[] = { S("PASSED"), S("NOT_IN_ENV"), NULL };
        char *const bad1[] = { S("NOEQ"), NULL };
        char *const bad2[] = { S("=v"), NULL };
        const char *const want[] = {
                "PATH=/usr/bin", "HOME=/other", "LC_ALL=C", "PASSED=1", "TZ=UTC", "XDG_RUNTIME_DIR=/run/user/1",
                "DBUS_SESSION_BUS_ADDRESS=unix:path=/b", "DISPLAY=:0", "WAYLAND_DISPLAY=w", "USER=u",
                "LOGNAME=u", "LANG=C.UTF-8", "IMAPIDLED_ACCOUNT=work", "IMAPIDLED_MAILBOX=INBOX",
                "IMAPIDLED_EVENT=new", "IMAPIDLED_COUNT=3",
        };
        HookSpec spec = {
                .account = "work", .mailbox = "INBOX", .event = "new", .extra_env = extra, .pass_env = pass,
        };
        char **l = NULL;
        size_t n = 0;

        ck_assert_int_eq(hook_build_env(in, &spec, &l), 0);
        while (l[n])
                n++;
        ck_assert_uint_eq(n, ELEMENTSOF(want));
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(l[i], want[i]);
        l = hook_strv_free(l);

        /* No account, mailbox or event: none of the variables (secret commands). */
        ck_assert_int_eq(hook_build_env(in, &(HookSpec) {}, &l), 0);
        for (size_t i = 0; l[i]; i++)
                ck_assert_msg(strncmp(l[i], "IMAPIDLED_", 10) != 0, "%s", l[i]);
        l = hook_strv_free(l);

        /* Without pass_env: the allowlist alone. */
        ck_assert_int_eq(hook_build_env(in, &(HookSpec) {}, &l), 0);
        for (size_t i = 0; l[i]; i++)
                ck_assert_msg(strncmp(l[i], "PASSED=", 7) != 0, "%s", l[i]);
        l = hook_strv_free(l);

        spec.extra_env = bad1;
        ck_assert_int_eq(hook_build_env(in, &spec, &l), -EINVAL);
        spec.extra_env = bad2;
        ck_assert_int_eq(hook_build_env(in, &spec, &l), -EINVAL);
        spec.extra_env = extra;
        /* pass_env names that cfg.c refuses are refused here too. */
        spec.pass_env = (char *const[]) { S("LD_PRELOAD"), NULL };
        ck_assert_int_eq(hook_build_env(in, &spec, &l), -EINVAL);
        spec.pass_env = (char *const[]) { S("PASSED"), S("IMAPIDLED_EVENT"), NULL };
        ck_assert_int_eq(hook_build_env(in, &spec, &l), -EINVAL);
        spec.pass_env = (char *const[]) { S("NOTIFY_SOCKET"), NULL };
        ck_assert_int_eq(hook_build_env(in, &spec, &l), -EINVAL);
        spec.pass_env = (char *const[]) { S("A-B"), NULL };
        ck_assert_int_eq(hook_build_env(in, &spec, &l), -EINVAL);
        ck_assert_ptr_null(l);
}
END_TEST

/* The allowlist and the names pass_env may hold (src/shared/env-util.h). */
START_TEST(test_env_names) {
        static const char *const passed[] = {
                "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ",
                "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY",
        };
        static const char *const not_passed[] = {
                "LC_", "PATHX", "PAT", "LANGUAGE", "LD_PRELOAD", "LD_LIBRARY_PATH", "STATE_DIRECTORY",
                "CREDENTIALS_DIRECTORY", "SHELL", "SSH_AUTH_SOCK", "path", "",
        };
        static const char *const valid[] = { "A", "_", "a1", "PASSWORD_STORE_DIR", "http_proxy", "LDX", "L_D" };
        static const char *const invalid[] = {
                "", "1A", "A-B", "A B", "A=B", "\xc3\xa9", "LD_PRELOAD", "LD_", "LD_LIBRARY_PATH",
                "IMAPIDLED_", "IMAPIDLED_EVENT", "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC",
                "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "CREDENTIALS_DIRECTORY",
        };

        for (size_t i = 0; i < ELEMENTSOF(passed); i++)
                ck_assert_msg(env_name_passed_by_default(passed[i], strlen(passed[i])), "%s", passed[i]);
        for (size_t i = 0; i < ELEMENTSOF(not_passed); i++)
                ck_assert_msg(!env_name_passed_by_default(not_passed[i], strlen(not_passed[i])), "%s",
                              not_passed[i]);
        /* Only the first len bytes count: an entry "PATH=..." is looked at up to its '='. */
        ck_assert(env_name_passed_by_default("PATH=/bin", 4));
        ck_assert(!env_name_passed_by_default("PATHX=/bin", 5));
        for (size_t i = 0; i < ELEMENTSOF(valid); i++)
                ck_assert_msg(!env_name_check(valid[i]), "%s", valid[i]);
        for (size_t i = 0; i < ELEMENTSOF(invalid); i++)
                ck_assert_msg(env_name_check(invalid[i]), "%s", invalid[i]);
        ck_assert_ptr_nonnull(env_name_check(NULL));
}
END_TEST

/* A random value for SECRET_X, so that finding it in a child's output cannot be a coincidence. */
static char secret_value[40];

static void set_hostile_env(void) {
        uint64_t rnd[2];

        ck_assert_int_eq(getentropy(rnd, sizeof(rnd)), 0);
        (void) snprintf(secret_value, sizeof(secret_value), "%016" PRIx64 "%016" PRIx64, rnd[0], rnd[1]);
        ck_assert_int_eq(setenv("SECRET_X", secret_value, 1), 0);
        /* The dynamic loader's: a leak would load this into every hook (ld.so ignores a missing one). */
        ck_assert_int_eq(setenv("LD_PRELOAD", "/nonexistent/imapidled-test-preload.so", 1), 0);
        ck_assert_int_eq(setenv("LD_LIBRARY_PATH", "/nonexistent/imapidled-test-lib", 1), 0);
        ck_assert_int_eq(setenv("STATE_DIRECTORY", "/var/lib/imapidled-test", 1), 0);
        ck_assert_int_eq(setenv("HOME", "/home/imapidled-test", 1), 0);
        ck_assert_int_eq(setenv("LANG", "C.UTF-8", 1), 0);
        ck_assert_int_eq(setenv("LC_TIME", "C", 1), 0);
        ck_assert_int_eq(setenv("HOOKTEST_PASS", "passed", 1), 0);
        ck_assert_int_eq(setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1), 0);
        ck_assert_int_eq(setenv("WATCHDOG_PID", "1", 1), 0);
        ck_assert_int_eq(setenv("WATCHDOG_USEC", "1000000", 1), 0);
        ck_assert_int_eq(setenv("LISTEN_PID", "1", 1), 0);
        ck_assert_int_eq(setenv("LISTEN_FDS", "1", 1), 0);
        ck_assert_int_eq(setenv("LISTEN_FDNAMES", "x", 1), 0);
        ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x", 1), 0);
        ck_assert_int_eq(setenv("IMAPIDLED_EVENT", "spoofed", 1), 0);
        ck_assert_int_eq(setenv("IMAPIDLED_UIDNEXT", "999", 1), 0);
        ck_assert_int_eq(setenv("HOOKTEST_KEEP", "kept", 1), 0);
}

static void assert_env_clean(const char *text) {
        ck_assert_ptr_null(strstr(text, "LD_PRELOAD"));
        ck_assert_ptr_null(strstr(text, "LD_LIBRARY_PATH"));
        ck_assert_ptr_null(strstr(text, "STATE_DIRECTORY"));
        ck_assert_ptr_null(strstr(text, "SECRET_X"));
        ck_assert_ptr_null(strstr(text, secret_value));
        ck_assert_ptr_null(strstr(text, "HOOKTEST_KEEP"));
        ck_assert_ptr_null(strstr(text, "NOTIFY_SOCKET="));
        ck_assert_ptr_null(strstr(text, "WATCHDOG_"));
        ck_assert_ptr_null(strstr(text, "LISTEN_"));
        ck_assert_ptr_null(strstr(text, "CREDENTIALS_DIRECTORY="));
        ck_assert_ptr_null(strstr(text, "spoofed"));
        ck_assert_ptr_null(strstr(text, "IMAPIDLED_UIDNEXT"));
}

/* M05: only the allowlist and pass_env of the daemon's environment reach the hook. */
START_TEST(test_env_reaches_child) {
        char *const extra[] = { S("IMAPIDLED_COUNT=3"), NULL };
        char *const argv[] = { S("env"), NULL };  /* found through PATH */
        char *const pass[] = { S("HOOKTEST_PASS"), NULL };
        HookSpec spec = {
                .argv = argv, .account = "work", .mailbox = "INBOX", .event = "new", .extra_env = extra,
                .pass_env = pass, .log_name = "env",
        };
        char *log = NULL;
        Run run;

        set_hostile_env();
        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        ck_assert(log_has(log, "env[%d]: IMAPIDLED_ACCOUNT=work\n", run.pid));
        ck_assert(log_has(log, "env[%d]: IMAPIDLED_MAILBOX=INBOX\n", run.pid));
        ck_assert(log_has(log, "env[%d]: IMAPIDLED_EVENT=new\n", run.pid));
        ck_assert(log_has(log, "env[%d]: IMAPIDLED_COUNT=3\n", run.pid));
        ck_assert(log_has(log, "env[%d]: PATH=%s\n", run.pid, getenv("PATH")));
        ck_assert(log_has(log, "env[%d]: HOME=/home/imapidled-test\n", run.pid));
        ck_assert(log_has(log, "env[%d]: LANG=C.UTF-8\n", run.pid));
        ck_assert(log_has(log, "env[%d]: LC_TIME=C\n", run.pid));
        ck_assert(log_has(log, "env[%d]: HOOKTEST_PASS=passed\n", run.pid));
        assert_env_clean(log);
        free(log);
}
END_TEST

/* --- what the child inherits ---------------------------------------------- */

START_TEST(test_no_inherited_fds) {
        char *const argv[] = { S(HOOK_HELPER), S("fds"), NULL };
        HookSpec spec = { .argv = argv, .log_name = "fds" };
        int leak, pipe_leak[2];
        char *log = NULL;
        Run run;

        /* Opened without O_CLOEXEC on purpose. */
        leak = open("/dev/null", O_RDONLY);
        ck_assert_int_ge(leak, 3);
        ck_assert_int_eq(pipe(pipe_leak), 0);
        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        ck_assert(log_has(log, "fds[%d]: 0 1 2\n", run.pid));
        free(log);
        close(leak);
        close(pipe_leak[0]);
        close(pipe_leak[1]);
}
END_TEST

START_TEST(test_signals_reset) {
        char *const argv[] = { S(HOOK_HELPER), S("sig"), NULL };
        HookSpec spec = { .argv = argv, .log_name = "sig" };
        struct sigaction sa = { .sa_handler = SIG_IGN };
        char *log = NULL, needle[64];
        uint64_t blk, ign;
        const char *p;
        int leader;
        Run run;

        /* main() blocked SIGCHLD/TERM/HUP/INT and ignores SIGPIPE; ignore one more. */
        ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        (void) snprintf(needle, sizeof(needle), "sig[%d]: blk=", run.pid);
        p = strstr(log, needle);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(sscanf(p + strlen(needle), "%" SCNx64 " ign=%" SCNx64 " leader=%d", &blk, &ign, &leader),
                         3);
        ck_assert_uint_eq(blk, 0);
        /* glibc's posix_spawn() leaves its two internal signals (32 and 33, below SIGRTMIN) ignored;
         * they are glibc's own business.  Every other signal is at its default. */
        ck_assert_uint_eq(ign & ~((UINT64_C(1) << (32 - 1)) | (UINT64_C(1) << (33 - 1))), 0);
        ck_assert_int_eq(leader, 1);
        free(log);
}
END_TEST

static uint64_t fnv1a(const unsigned char *p, size_t n) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= UINT64_C(1099511628211);
        }
        return h;
}

START_TEST(test_stdin_dev_null) {
        char *const argv[] = { S(HOOK_HELPER), S("stdin"), NULL };
        HookSpec spec = { .argv = argv, .log_name = "in" };
        char *log = NULL;
        Run run;

        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        ck_assert(log_has(log, "in[%d]: 0 %016" PRIx64 " /dev/null\n", run.pid, fnv1a(NULL, 0)));
        free(log);
}
END_TEST

/* The daemon started with its standard fds closed: the child still gets exactly 0, 1, 2. */
START_TEST(test_stdio_closed_in_daemon) {
        char *const in_argv[] = { S(HOOK_HELPER), S("stdin"), NULL };
        char *const fd_argv[] = { S(HOOK_HELPER), S("fds"), NULL };
        HookSpec spec = { .argv = in_argv, .log_name = "in" };
        char *log = NULL;
        Run run;

        ck_assert_int_eq(close(STDIN_FILENO), 0);
        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        ck_assert(log_has(log, "in[%d]: 0 %016" PRIx64 " /dev/null\n", run.pid, fnv1a(NULL, 0)));
        free(log);

        spec.argv = fd_argv;
        run_spec(&spec, &run, &log);
        ck_assert(log_has(log, "in[%d]: 0 1 2\n", run.pid));
        free(log);
}
END_TEST

START_TEST(test_stdin_data) {
        char *const argv[] = { S(HOOK_HELPER), S("stdin"), NULL };
        const size_t len = 200 * 1024;  /* more than a pipe buffer */
        unsigned char *data = malloc(len);
        HookSpec spec = { .argv = argv, .log_name = "in" };
        char *log = NULL;
        Run run;

        ck_assert_ptr_nonnull(data);
        for (size_t i = 0; i < len; i++)
                data[i] = (unsigned char) (i * 7 + i / 251);
        spec.stdin_data = data;
        spec.stdin_len = len;
        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        ck_assert(log_has(log, "in[%d]: %zu %016" PRIx64 " pipe:[", run.pid, len, fnv1a(data, len)));
        free(log);

        /* Zero bytes: EOF at once, still a pipe. */
        spec.stdin_len = 0;
        run_spec(&spec, &run, &log);
        ck_assert(log_has(log, "in[%d]: 0 %016" PRIx64 " pipe:[", run.pid, fnv1a(NULL, 0)));
        free(log);

        /* A hook that never reads its input: EPIPE, no SIGPIPE, an ordinary result. */
        spec.argv = SH("exit 0");
        spec.stdin_len = len;
        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        free(log);
        free(data);
}
END_TEST

/* --- output --------------------------------------------------------------- */

START_TEST(test_output_logged) {
        HookSpec spec = {
                .argv = SH("printf 'out\\n\\n'; printf 'e\\033[31mrr\\r\\n' >&2; printf 'tail'"),
                .log_name = "work/IN\nBOX on_new",
        };
        char *log = NULL;
        Run run;

        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        /* The name is escaped too: it may hold a mailbox name. */
        ck_assert(log_has(log, "<6>work/IN\\x0aBOX on_new[%d]: out\n", run.pid));
        ck_assert(log_has(log, "<6>work/IN\\x0aBOX on_new[%d]: \n", run.pid));
        ck_assert(log_has(log, "<6>work/IN\\x0aBOX on_new[%d]: e\\x1b[31mrr\\x0d\n", run.pid));
        ck_assert(log_has(log, "<6>work/IN\\x0aBOX on_new[%d]: tail\n", run.pid));
        ck_assert(log_has(log, "<6>work/IN\\x0aBOX on_new[%d]: exited with status 0\n", run.pid));
        ck_assert_ptr_null(strchr(log, '\033'));
        ck_assert_ptr_null(strchr(log, '\r'));
        free(log);
}
END_TEST

START_TEST(test_long_line_capped) {
        HookSpec spec = {
                .argv = SH("head -c 10000 /dev/zero | tr '\\0' x; printf '\\nnext\\n'"),
                .log_name = "long",
        };
        char *log = NULL, needle[64];
        unsigned lines = 0;
        size_t xs = 0;
        Run run;

        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        /* One log line for the 10000-byte line (not three 4 KiB pieces), then the next line. */
        (void) snprintf(needle, sizeof(needle), "long[%d]: xxxx", run.pid);
        for (const char *p = log; (p = strstr(p, needle)); p++)
                lines++;
        ck_assert_uint_eq(lines, 1);
        for (const char *p = log; *p; p++)
                xs += *p == 'x';
        ck_assert_uint_le(xs, HOOK_LINE_MAX + 8);
        ck_assert(log_has(log, "long[%d]: next\n", run.pid));
        free(log);
}
END_TEST

/* --- process control (M07) ------------------------------------------------ */

START_TEST(test_timeout_term) {
        HookSpec spec = { .argv = SH("sleep 100; exit 0"), .timeout_usec = SHORT_USEC, .log_name = "hang" };
        char *log = NULL;
        Run run;

        run_spec(&spec, &run, &log);
        ck_assert(run.timed_out);
        ck_assert(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGTERM);
        ck_assert(log_has(log, "<4>hang[%d]: timed out after 0.2s, sending SIGTERM", run.pid));
        ck_assert(log_has(log, "<4>hang[%d]: timed out after 0.2s, killed by signal 15 (SIGTERM)\n", run.pid));
        ck_assert_int_eq(run.wait_errno, ECHILD);
        free(log);
}
END_TEST

START_TEST(test_timeout_kill) {
        HookSpec spec = {
                .argv = SH("trap '' TERM; sleep 100; exit 0"),
                .timeout_usec = SHORT_USEC,
                .kill_grace_usec = SHORT_USEC,
                .log_name = "stubborn",
        };
        char *log = NULL;
        Run run;

        run_spec(&spec, &run, &log);
        ck_assert(run.timed_out);
        ck_assert(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGKILL);
        ck_assert(log_has(log, "stubborn[%d]: still running 0.2s after SIGTERM, sending SIGKILL", run.pid));
        ck_assert(log_has(log, "stubborn[%d]: timed out after 0.2s, killed by signal 9 (SIGKILL)\n", run.pid));
        free(log);
}
END_TEST

/* The grandchild's pid from a "<name>[<pid>]: <gpid>" line. */
static pid_t grandchild_pid(const char *log, const char *name, pid_t pid) {
        char needle[64];
        const char *p;

        /* The line the hook printed, not the exit message (the two may come in either order). */
        (void) snprintf(needle, sizeof(needle), "%s[%d]: ", name, pid);
        for (p = strstr(log, needle); p; p = strstr(p + 1, needle))
                if (p[strlen(needle)] >= '0' && p[strlen(needle)] <= '9')
                        return (pid_t) strtol(p + strlen(needle), NULL, 10);
        ck_abort_msg("no grandchild pid in the log");
}

/* A subreaper inherits the grandchild, so waitpid() can say how it ended (and would hang, failing
 * the test at Check's timeout, if it survived). */
static int wait_grandchild(pid_t g) {
        int st;

        ck_assert_int_gt(g, 1);
        ck_assert_int_eq(waitpid(g, &st, 0), g);
        return st;
}

START_TEST(test_timeout_kills_grandchild) {
        HookSpec spec = { .argv = SH("sleep 100 & echo $!; wait"), .timeout_usec = SHORT_USEC, .log_name = "gc" };
        char *log = NULL;
        Run run;
        int st;

        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        run_spec(&spec, &run, &log);
        ck_assert(run.timed_out);
        st = wait_grandchild(grandchild_pid(log, "gc", run.pid));
        ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
        free(log);
}
END_TEST

/* The hook exits at once but a background child holds its stdout: the run lasts until the
 * timeout, which then kills the group. */
START_TEST(test_background_holds_output) {
        HookSpec spec = { .argv = SH("sleep 100 & echo $!; exit 0"), .timeout_usec = SHORT_USEC, .log_name = "bg" };
        char *log = NULL;
        Run run;
        int st;

        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        run_spec(&spec, &run, &log);
        ck_assert(run.timed_out);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        ck_assert(log_has(log, "bg[%d]: exited, but its output is still open after 0.2s", run.pid));
        st = wait_grandchild(grandchild_pid(log, "bg", run.pid));
        ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
        free(log);
}
END_TEST

/* A process that left the group (setsid) keeps the pipes: after SIGKILL we stop waiting. */
START_TEST(test_escaped_process_abandoned) {
        HookSpec spec = {
                .argv = SH("setsid sleep 100 & echo $!; exit 0"),
                .timeout_usec = SHORT_USEC,
                .kill_grace_usec = SHORT_USEC,
                .log_name = "esc",
        };
        char *log = NULL;
        Run run;
        pid_t g;
        int st;

        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        run_spec(&spec, &run, &log);
        ck_assert(run.timed_out);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        ck_assert(log_has(log, "esc[%d]: still running 0.2s after SIGTERM, sending SIGKILL", run.pid));
        g = grandchild_pid(log, "esc", run.pid);
        /* It escaped, so it is still alive: clean up ourselves. */
        ck_assert_int_eq(kill(g, SIGKILL), 0);
        st = wait_grandchild(g);
        ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        free(log);
}
END_TEST

START_TEST(test_failing_hook) {
        HookSpec spec = { .argv = SH("echo failing >&2; exit 3"), .log_name = "fail" };
        char *log = NULL;
        Run run;

        run_spec(&spec, &run, &log);
        ck_assert(!run.timed_out);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 3);
        ck_assert(log_has(log, "<6>fail[%d]: failing\n", run.pid));
        ck_assert(log_has(log, "<4>fail[%d]: exited with status 3\n", run.pid));
        ck_assert_int_eq(run.wait_errno, ECHILD);
        free(log);
}
END_TEST

START_TEST(test_killed_by_signal) {
        HookSpec spec = { .argv = SH("kill -USR2 $$"), .log_name = "sig" };
        char *log = NULL;
        Run run;

        run_spec(&spec, &run, &log);
        ck_assert(!run.timed_out);
        ck_assert(WIFSIGNALED(run.status) && WTERMSIG(run.status) == SIGUSR2);
        ck_assert(log_has(log, "<4>sig[%d]: killed by signal %d (SIGUSR2)\n", run.pid, SIGUSR2));
        free(log);
}
END_TEST

START_TEST(test_missing_program) {
        char *const abs[] = { S("/nonexistent/imapidled-hook"), NULL };
        char *const rel[] = { S("imapidled-no-such-hook"), NULL };
        HookSpec spec = { .argv = abs, .log_name = "missing" };
        char *log = NULL;
        Run run;

        run_spec(&spec, &run, &log);
        ck_assert_int_eq(run.status, -ENOENT);
        ck_assert_int_eq(run.pid, 0);
        ck_assert(log_has(log, "missing: cannot run '/nonexistent/imapidled-hook': "));
        free(log);

        spec.argv = rel;
        run_spec(&spec, &run, &log);
        ck_assert_int_eq(run.status, -ENOENT);
        free(log);
}
END_TEST

START_TEST(test_shell) {
        HookSpec spec = {
                .shell = "echo \"$IMAPIDLED_ACCOUNT\" %a; echo \"$IMAPIDLED_MAILBOX\"",
                .account = "work",
                .mailbox = "$(touch pwned-sh)",
                .log_name = "sh",
        };
        char *log = NULL;
        Run run;

        run_spec(&spec, &run, &log);
        ck_assert(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0);
        /* %a is not expanded in shell text (M09): values come only through the environment. */
        ck_assert(log_has(log, "sh[%d]: work %%a\n", run.pid));
        ck_assert(log_has(log, "sh[%d]: $(touch pwned-sh)\n", run.pid));
        ck_assert_int_eq(access("pwned-sh", F_OK), -1);
        free(log);
}
END_TEST

START_TEST(test_free_running) {
        HookSpec spec = { .argv = SH("sleep 100; exit 0"), .log_name = "freed" };
        sd_event *e = NULL;
        Run run = {};
        pid_t pid;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(hook_run(e, &spec, on_done, &run, &run.h), 0);
        pid = hook_pid(run.h);
        ck_assert_int_gt(pid, 0);
        ck_assert_int_ge(sd_event_run(e, 0), 0);
        run.h = hook_free(run.h);
        /* Reaped: no zombie left. */
        ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
        ck_assert_int_eq(errno, ECHILD);
        for (int i = 0; i < 3; i++)
                ck_assert_int_ge(sd_event_run(e, 10 * USEC_PER_MSEC), 0);
        ck_assert(!run.done);
        sd_event_unref(e);
}
END_TEST

static void on_floating_done(Hook *h, int status, bool timed_out, void *userdata) {
        (void) h;
        (void) timed_out;
        *(int *) userdata = status;
}

/* ret == NULL: the hook frees itself after the callback (ASan's leak check would see otherwise). */
START_TEST(test_floating) {
        HookSpec spec = { .argv = SH("exit 4"), .log_name = "float" };
        sd_event *e = NULL;
        int status = -1;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(hook_run(e, &spec, on_floating_done, &status, NULL), 0);
        for (int i = 0; status == -1 && i < 100; i++)
                ck_assert_int_ge(sd_event_run(e, SAFETY_USEC / 100), 0);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 4);
        sd_event_unref(e);
}
END_TEST

static void on_secret_unused(int r, const char *secret, size_t len, void *userdata) {
        (void) r;
        (void) secret;
        (void) len;
        (void) userdata;
        ck_abort_msg("secret callback after a failed start");
}

START_TEST(test_run_errors) {
        char *const empty[] = { NULL };
        char *const bad_spec[] = { S("/bin/echo"), S("%s"), NULL };
        char *const echo[] = { S("/bin/echo"), NULL };
        char *const bad_env[] = { S("NOEQ"), NULL };
        struct sigaction dfl = { .sa_handler = SIG_DFL }, ign = { .sa_handler = SIG_IGN };
        sigset_t chld;
        sd_event *e = NULL;
        Run run = {};
        Hook *h = NULL;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(hook_run(e, &(HookSpec) { .argv = empty }, on_done, &run, &h), -EINVAL);
        ck_assert_int_eq(hook_run(e, &(HookSpec) {}, on_done, &run, &h), -EINVAL);
        ck_assert_int_eq(hook_run(e, &(HookSpec) { .argv = bad_spec }, on_done, &run, &h), -EINVAL);
        ck_assert_int_eq(hook_run(e, &(HookSpec) { .argv = echo, .extra_env = bad_env }, on_done, &run, &h),
                         -EINVAL);
        ck_assert_int_eq(hook_run(e, &(HookSpec) { .argv = echo }, NULL, &run, &h), -EINVAL);
        ck_assert_int_eq(secret_command_run(e, empty, NULL, 0, 0, "s", on_secret_unused, NULL, &h), -EINVAL);
        ck_assert_int_eq(secret_command_run(e, echo, NULL, 0, 0, "s", NULL, NULL, &h), -EINVAL);

        /* stdin data while SIGPIPE would kill the daemon. */
        ck_assert_int_eq(sigaction(SIGPIPE, &dfl, NULL), 0);
        ck_assert_int_eq(hook_run(e, &(HookSpec) { .argv = echo, .stdin_data = "x", .stdin_len = 1 }, on_done,
                                  &run, &h), -EINVAL);
        ck_assert_int_eq(sigaction(SIGPIPE, &ign, NULL), 0);

        /* SIGCHLD not blocked. */
        (void) sigemptyset(&chld);
        (void) sigaddset(&chld, SIGCHLD);
        ck_assert_int_eq(sigprocmask(SIG_UNBLOCK, &chld, NULL), 0);
        ck_assert_int_eq(hook_run(e, &(HookSpec) { .argv = echo }, on_done, &run, &h), -EBUSY);
        ck_assert_int_eq(secret_command_run(e, echo, NULL, 0, 0, "s", on_secret_unused, NULL, &h), -EBUSY);
        ck_assert_int_eq(sigprocmask(SIG_BLOCK, &chld, NULL), 0);

        ck_assert_ptr_null(h);
        ck_assert(!run.done);
        sd_event_unref(e);
}
END_TEST

/* --- secret commands ------------------------------------------------------ */

typedef struct SecretRun {
        bool done;
        int r;
        char *secret;
        size_t len;
} SecretRun;

static void on_secret(int r, const char *secret, size_t len, void *userdata) {
        SecretRun *s = userdata;

        s->done = true;
        s->r = r;
        s->len = len;
        if (r == 0) {
                ck_assert_ptr_nonnull(secret);
                ck_assert_uint_eq(strlen(secret), len);
                s->secret = strndup(secret, len);
        } else
                ck_assert_ptr_null(secret);
}

static void run_secret_env(char *const *argv, char *const *pass_env, uint64_t timeout, size_t max, SecretRun *s,
                           char **ret_log) {
        sd_event *e = NULL;
        Hook *h = NULL;

        *s = (SecretRun) {};
        ck_assert_int_eq(sd_event_new(&e), 0);
        capture_begin();
        ck_assert_int_eq(secret_command_run(e, argv, pass_env, timeout, max, "work password_command", on_secret, s,
                                            &h),
                         0);
        ck_assert(!s->done);
        loop_until(e, &s->done);
        *ret_log = capture_end();
        hook_free(h);
        sd_event_unref(e);
}

static void run_secret(char *const *argv, uint64_t timeout, size_t max, SecretRun *s, char **ret_log) {
        run_secret_env(argv, NULL, timeout, max, s, ret_log);
}

static void secret_done(SecretRun *s, char *log) {
        free(s->secret);
        free(log);
}

START_TEST(test_secret_ok) {
        SecretRun s;
        char *log;

        run_secret(SH("printf 'tok3n-1\\n'; echo note >&2"), 0, 0, &s, &log);
        ck_assert_int_eq(s.r, 0);
        ck_assert_str_eq(s.secret, "tok3n-1");
        ck_assert_uint_eq(s.len, 7);
        ck_assert(log_has(log, "work password_command["));
        ck_assert(log_has(log, "]: note\n"));
        ck_assert_ptr_null(strstr(log, "tok3n"));
        secret_done(&s, log);

        /* Only one newline is stripped. */
        run_secret(SH("printf 'a\\n\\n'"), 0, 0, &s, &log);
        ck_assert_int_eq(s.r, 0);
        ck_assert_str_eq(s.secret, "a\n");
        secret_done(&s, log);

        /* Exactly at the cap. */
        run_secret(SH("printf 0123456789"), 0, 10, &s, &log);
        ck_assert_int_eq(s.r, 0);
        ck_assert_str_eq(s.secret, "0123456789");
        secret_done(&s, log);
}
END_TEST

/* M05 for password_command and oauth2_token_command: the same allowlist, the same pass_env. */
START_TEST(test_secret_env) {
        char *const argv[] = { S("env"), NULL };
        char *const pass[] = { S("HOOKTEST_PASS"), NULL };
        char *const bad[] = { S("LD_PRELOAD"), NULL };
        sd_event *e = NULL;
        Hook *h = NULL;
        SecretRun s;
        char *log;

        set_hostile_env();
        run_secret_env(argv, pass, 0, 0, &s, &log);
        ck_assert_int_eq(s.r, 0);
        ck_assert_ptr_nonnull(strstr(s.secret, "HOOKTEST_PASS=passed"));
        ck_assert_ptr_nonnull(strstr(s.secret, "HOME=/home/imapidled-test\n"));
        ck_assert_ptr_nonnull(strstr(s.secret, "LANG=C.UTF-8\n"));
        ck_assert_ptr_nonnull(strstr(s.secret, "PATH="));
        ck_assert_ptr_null(strstr(s.secret, "IMAPIDLED_"));
        assert_env_clean(s.secret);
        /* stdout is never logged. */
        ck_assert_ptr_null(strstr(log, "HOOKTEST_PASS"));
        secret_done(&s, log);

        /* Without pass_env, not even that. */
        run_secret(argv, 0, 0, &s, &log);
        ck_assert_int_eq(s.r, 0);
        ck_assert_ptr_null(strstr(s.secret, "HOOKTEST_PASS"));
        assert_env_clean(s.secret);
        secret_done(&s, log);

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(secret_command_run(e, argv, bad, 0, 0, "s", on_secret, &s, &h), -EINVAL);
        ck_assert_ptr_null(h);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_secret_errors) {
        char *const missing[] = { S("/nonexistent/pass"), NULL };
        SecretRun s;
        char *log;

        run_secret(SH("true"), 0, 0, &s, &log);
        ck_assert_int_eq(s.r, -ENODATA);
        secret_done(&s, log);

        run_secret(SH("echo"), 0, 0, &s, &log);
        ck_assert_int_eq(s.r, -ENODATA);
        secret_done(&s, log);

        run_secret(SH("printf 0123456789A"), 0, 10, &s, &log);
        ck_assert_int_eq(s.r, -EMSGSIZE);
        ck_assert_ptr_null(strstr(log, "0123456789"));
        secret_done(&s, log);

        /* Endless output: killed at the cap, not read forever. */
        run_secret((char *const[]) { S("yes"), S("s3cr3t-yes"), NULL }, 0, 100, &s, &log);
        ck_assert_int_eq(s.r, -EMSGSIZE);
        ck_assert(log_has(log, "printed more than 100 bytes, killed"));
        ck_assert_ptr_null(strstr(log, "s3cr3t"));
        secret_done(&s, log);

        run_secret(SH("echo s3cr3t-hang; sleep 100; exit 0"), SHORT_USEC, 0, &s, &log);
        ck_assert_int_eq(s.r, -ETIMEDOUT);
        ck_assert(log_has(log, "timed out after 0.2s"));
        ck_assert_ptr_null(strstr(log, "s3cr3t"));
        secret_done(&s, log);

        run_secret(SH("echo s3cr3t-fail; echo oops >&2; exit 1"), 0, 0, &s, &log);
        ck_assert_int_eq(s.r, -EIO);
        ck_assert(log_has(log, "]: oops\n"));
        ck_assert(log_has(log, "]: exited with status 1\n"));
        ck_assert_ptr_null(strstr(log, "s3cr3t"));
        secret_done(&s, log);

        run_secret(SH("printf 's3cr3t\\0nul'"), 0, 0, &s, &log);
        ck_assert_int_eq(s.r, -EBADMSG);
        ck_assert_ptr_null(strstr(log, "s3cr3t"));
        secret_done(&s, log);

        run_secret(missing, 0, 0, &s, &log);
        ck_assert_int_eq(s.r, -ENOENT);
        secret_done(&s, log);
}
END_TEST

START_TEST(test_secret_file_read) {
        char dir[] = "/tmp/imapidled-sf-XXXXXX", path[64];
        char *secret = NULL;
        FILE *f;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/pw", dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("s3cret\r\n", f);
        fclose(f);
        ck_assert_int_eq(secret_file_read(path, &secret), 0);
        ck_assert_str_eq(secret, "s3cret");
        free(secret);
        f = fopen(path, "we");
        fputs("\n", f);
        fclose(f);
        ck_assert_int_eq(secret_file_read(path, &secret), -ENODATA);
        unlink(path);
        ck_assert_int_eq(secret_file_read(path, &secret), -ENOENT);
        rmdir(dir);
}
END_TEST

static Suite *hook_suite(void) {
        Suite *s = suite_create("hook");
        TCase *tc;

        tc = tcase_create("argv-env");
        tcase_add_test(tc, test_expand_argv);
        tcase_add_test(tc, test_argv_reaches_child);
        tcase_add_test(tc, test_build_env);
        tcase_add_test(tc, test_env_names);
        tcase_add_test(tc, test_env_reaches_child);
        tcase_add_test(tc, test_shell);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);

        tc = tcase_create("inherit");
        tcase_add_test(tc, test_no_inherited_fds);
        tcase_add_test(tc, test_signals_reset);
        tcase_add_test(tc, test_stdin_dev_null);
        tcase_add_test(tc, test_stdio_closed_in_daemon);
        tcase_add_test(tc, test_stdin_data);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);

        tc = tcase_create("output");
        tcase_add_test(tc, test_output_logged);
        tcase_add_test(tc, test_long_line_capped);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);

        tc = tcase_create("process");
        tcase_add_test(tc, test_timeout_term);
        tcase_add_test(tc, test_timeout_kill);
        tcase_add_test(tc, test_timeout_kills_grandchild);
        tcase_add_test(tc, test_background_holds_output);
        tcase_add_test(tc, test_escaped_process_abandoned);
        tcase_add_test(tc, test_failing_hook);
        tcase_add_test(tc, test_killed_by_signal);
        tcase_add_test(tc, test_missing_program);
        tcase_add_test(tc, test_free_running);
        tcase_add_test(tc, test_floating);
        tcase_add_test(tc, test_run_errors);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);

        tc = tcase_create("secret");
        tcase_add_test(tc, test_secret_file_read);
        tcase_add_test(tc, test_secret_ok);
        tcase_add_test(tc, test_secret_env);
        tcase_add_test(tc, test_secret_errors);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        struct sigaction ign = { .sa_handler = SIG_IGN };
        sigset_t mask;

        /* What the daemon does (docs/HACKING.md), and what hook.h requires. */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGCHLD);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGHUP);
        (void) sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || sigaction(SIGPIPE, &ign, NULL) < 0)
                return EXIT_FAILURE;
        return th_run_suite(hook_suite());
}

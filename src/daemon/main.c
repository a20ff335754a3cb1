/* SPDX-License-Identifier: MIT */
/*
 * main.c: imapidled's entry point: the command line, the configuration, then
 * the manager's loop (or a one-shot tool mode: --check-config, --dump,
 * --list-accounts, --list-mailboxes; --once is the manager's loop that ends
 * when every account caught up).  Kept short on purpose (docs/HACKING.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cfg.h"
#include "control.h"
#include "log.h"
#include "manager.h"
#include "tool.h"
#include "trace.h"

static const char *arg_config = NULL;
static bool arg_check_config = false;
static bool arg_dump = false;
static const char *arg_list_mailboxes = NULL;
static bool arg_list_accounts = false;
static const char *arg_control_socket = NULL;
static bool arg_status = false, arg_json = false;
static bool arg_once = false;

static void help(FILE *f) {
        fprintf(f,
                "Usage: %s [OPTION]...\n"
                "       %s status [--json] [--control-socket=FILE]\n"
                "Watch IMAP mailboxes with IDLE and run hook programs when mail arrives.\n"
                "'status' prints what the running daemon is doing with each mailbox.\n"
                "\n"
                "  -c, --config=FILE           configuration file (see imapidled.conf(5))\n"
                "      --check-config          check the configuration and the files it names, exit\n"
                "      --dump                  print the effective configuration, secrets redacted, exit\n"
                "      --list-accounts         print the configured accounts' names, one a line, exit\n"
                "      --list-mailboxes=ACCOUNT  connect and list the mailboxes ACCOUNT can watch\n"
                "      --control-socket=FILE   the socket 'status' uses (default: in the runtime directory)\n"
                "      --json                  with 'status': one JSON object\n"
                "      --once                  catch up every account, run the hooks, wait for them, exit\n"
                "  -v, --verbose               log debug messages\n"
                "      --log-level=LEVEL       err, warning, notice, info (default) or debug\n"
                "      --trace=ACCOUNT         write ACCOUNT's IMAP exchange to stderr, secrets and message\n"
                "                              data redacted (repeatable)\n"
                "  -h, --help                  show this help and exit\n"
                "      --version               show the version and exit\n"
                "\n"
                "imapidled is a client: it is not Cyrus IMAP's server-side idled.\n",
                program_invocation_short_name, program_invocation_short_name);
}

/* The configuration file when -c is not given: systemd's
 * ConfigurationDirectory=, else /etc for root, else the XDG location. */
static char *default_config(void) {
        const char *d = getenv("CONFIGURATION_DIRECTORY"), *x, *home;
        char *p = NULL;

        if (d && *d) {
                /* A colon-separated list; the first is ours. */
                size_t n = strcspn(d, ":");
                return asprintf(&p, "%.*s/imapidled.conf", (int) n, d) < 0 ? NULL : p;
        }
        if (getuid() == 0)
                return strdup("/etc/imapidled/imapidled.conf");
        x = getenv("XDG_CONFIG_HOME");
        if (x && *x == '/')
                return asprintf(&p, "%s/imapidled/imapidled.conf", x) < 0 ? NULL : p;
        home = getenv("HOME");
        if (!home || !*home)
                return NULL;
        return asprintf(&p, "%s/.config/imapidled/imapidled.conf", home) < 0 ? NULL : p;
}

/* systemd starts services with a soft RLIMIT_NOFILE of 1024, for programs that use select(), whose
 * fd_set cannot hold a descriptor above 1023, and asks those that do not to raise it to the hard
 * limit themselves (systemd.exec(5), LimitNOFILE=).  imapidled waits through sd-event's epoll, so
 * with 'raise' it takes all it may; hooks inherit that (docs/HOOKS.md).  Either way, a
 * configuration that needs more than the hard limit is worth a warning at start, not thousands of
 * "Too many open files" later: the file is fine, the environment is short. */
static void nofile_setup(const Cfg *cfg, bool raise) {
        struct rlimit rl;
        CfgFdNeed need;
        const char *which = "the hard limit (LimitNOFILE=)";
        rlim_t limit;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
                log_warning_errno(-errno, "Cannot read the open files limit: %m");
                return;
        }
        limit = rl.rlim_max;
        if (raise && rl.rlim_cur < rl.rlim_max) {
                struct rlimit want = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };

                if (setrlimit(RLIMIT_NOFILE, &want) < 0) {
                        log_warning_errno(-errno, "Open files: cannot raise the soft limit from %ju to %ju: "
                                          "%m", (uintmax_t) rl.rlim_cur, (uintmax_t) rl.rlim_max);
                        limit = rl.rlim_cur;
                        which = "the soft limit";
                } else
                        log_debug("Open files: soft limit raised from %ju to %ju", (uintmax_t) rl.rlim_cur,
                                  (uintmax_t) rl.rlim_max);
        }

        if (cfg_descriptors_needed(cfg, &need) < 0 || limit == RLIM_INFINITY || need.total <= limit)
                return;
        log_warning("The configuration needs about %" PRIu64 " open files (%" PRIu64 " connections, %u hooks "
                    "× %d, %" PRIu64 " connecting × %d, reserve %" PRIu64 ") but %s is %ju: "
                    "connections beyond it will fail; raise LimitNOFILE=",
                    need.total, need.connections, cfg->max_concurrent_hooks, CFG_FDS_PER_HOOK,
                    need.connecting / CFG_FDS_PER_CONNECTING, CFG_FDS_PER_CONNECTING, need.reserve, which,
                    (uintmax_t) limit);
}

/* One log line per line of a load error: cfg_check_files() reports every problem it found. */
static void log_errors(const char *error, int r) {
        if (!error) {
                log_error("%s", strerror(-r));
                return;
        }
        for (const char *p = error; *p;) {
                size_t n = strcspn(p, "\n");

                log_error("%.*s", (int) n, p);
                p += n;
                if (*p)
                        p++;
        }
}

/* --check-config's verdict, one line for people and scripts; the listing is --dump's. */
static int check_config_verdict(const Cfg *cfg) {
        size_t mailboxes = 0, patterns = 0;

        for (size_t i = 0; i < cfg->n_accounts; i++) {
                mailboxes += cfg->accounts[i].n_mailboxes - cfg->accounts[i].n_patterns;
                patterns += cfg->accounts[i].n_patterns;
        }
        printf("configuration OK: %zu account%s, %zu mailbox%s", cfg->n_accounts, cfg->n_accounts == 1 ? "" : "s",
               mailboxes, mailboxes == 1 ? "" : "es");
        if (patterns > 0)
                printf(", %zu mailbox pattern%s", patterns, patterns == 1 ? "" : "s");
        printf("\n");
        return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -EIO;
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_CHECK_CONFIG, ARG_DUMP, ARG_LIST_MAILBOXES, ARG_LIST_ACCOUNTS, ARG_LOG_LEVEL,
               ARG_CONTROL_SOCKET, ARG_JSON, ARG_TRACE, ARG_ONCE };
        static const struct option options[] = {
                { "help",           no_argument,       NULL, 'h'                },
                { "version",        no_argument,       NULL, ARG_VERSION        },
                { "config",         required_argument, NULL, 'c'                },
                { "check-config",   no_argument,       NULL, ARG_CHECK_CONFIG   },
                { "dump",           no_argument,       NULL, ARG_DUMP           },
                { "list-mailboxes", required_argument, NULL, ARG_LIST_MAILBOXES },
                { "list-accounts",  no_argument,       NULL, ARG_LIST_ACCOUNTS  },
                { "verbose",        no_argument,       NULL, 'v'                },
                { "log-level",      required_argument, NULL, ARG_LOG_LEVEL      },
                { "control-socket", required_argument, NULL, ARG_CONTROL_SOCKET },
                { "json",           no_argument,       NULL, ARG_JSON           },
                { "trace",          required_argument, NULL, ARG_TRACE          },
                { "once",           no_argument,       NULL, ARG_ONCE           },
                {}
        };
        int c, l;

        while ((c = getopt_long(argc, argv, "hc:v", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return 0;
                case ARG_VERSION:
                        printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
                        return 0;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_CHECK_CONFIG:
                        arg_check_config = true;
                        break;
                case ARG_DUMP:
                        arg_dump = true;
                        break;
                case ARG_LIST_MAILBOXES:
                        arg_list_mailboxes = optarg;
                        break;
                case ARG_LIST_ACCOUNTS:
                        arg_list_accounts = true;
                        break;
                case ARG_ONCE:
                        arg_once = true;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case ARG_LOG_LEVEL:
                        l = log_level_from_string(optarg);
                        if (l < 0) {
                                log_error("Unknown log level '%s'", optarg);
                                return -EINVAL;
                        }
                        log_set_max_level(l);
                        break;
                case ARG_CONTROL_SOCKET:
                        arg_control_socket = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_TRACE:
                        if (trace_add_account(optarg) < 0) {
                                log_error("Out of memory");
                                return -ENOMEM;
                        }
                        break;
                default:
                        help(stderr);
                        return -EINVAL;
                }
        /* One verb, 'status' (getopt_long() moved the options before it). */
        if (optind < argc && strcmp(argv[optind], "status") == 0) {
                arg_status = true;
                optind++;
        }
        if (optind < argc) {
                log_error("Unexpected argument '%s'", argv[optind]);
                return -EINVAL;
        }
        if (arg_json && !arg_status) {
                log_error("--json goes with 'status'");
                return -EINVAL;
        }
        if (arg_list_accounts + arg_check_config + arg_dump + !!arg_list_mailboxes > 1) {
                log_error("--list-accounts, --check-config, --dump and --list-mailboxes cannot be combined");
                return -EINVAL;
        }
        if (arg_once && (arg_check_config || arg_dump || arg_list_mailboxes || arg_list_accounts)) {
                log_error("--once cannot be combined with --check-config, --dump, --list-accounts or --list-mailboxes");
                return -EINVAL;
        }
        return 1;
}

/* The control socket (control.h): --control-socket, else the default, else NULL (logged at
 * level). */
static char *control_path(int level) {
        char *p = NULL;
        int r;

        if (arg_control_socket)
                return strdup(arg_control_socket);
        r = control_default_path(&p);
        if (r == -ENXIO)
                log_full(level, "No runtime directory ($RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR) for the control "
                         "socket: 'imapidled status' needs --control-socket=FILE");
        return p;
}

/* `imapidled status`: ask the running daemon; no configuration is read. */
static int run_status(void) {
        _cleanup_free_ char *p = control_path(LOG_ERR);
        const char *rd = getenv("RUNTIME_DIRECTORY");
        int r;

        if (!p)
                return EXIT_FAILURE;
        r = control_client(p, arg_json);
        /* Root in a login session has an XDG_RUNTIME_DIR of its own (/run/user/0), while the
         * system service's socket is in /run/imapidled: ask there too. */
        if (r == CONTROL_EXIT_NOT_RUNNING && !arg_control_socket && !(rd && *rd) && geteuid() == 0 &&
            strcmp(p, CONTROL_SYSTEM_PATH) != 0) {
                r = control_client(CONTROL_SYSTEM_PATH, arg_json);
                if (r == CONTROL_EXIT_NOT_RUNNING)
                        log_error("imapidled is not running (no socket at %s or %s)", p, CONTROL_SYSTEM_PATH);
                return r;
        }
        if (r == CONTROL_EXIT_NOT_RUNNING)
                log_error("imapidled is not running (no socket at %s)", p);
        return r;
}

/* Serve `imapidled status`; false if the daemon must not start (another one listens). */
static bool control_setup(Manager *m) {
        _cleanup_free_ char *p = control_path(LOG_NOTICE);
        int r;

        if (!p)
                return true;    /* SIGUSR1 still logs the status */
        r = manager_listen(m, p, !arg_control_socket);
        if (r == -EADDRINUSE)
                log_error("Another imapidled is running: its control socket is %s", p);
        else if (r < 0)
                log_error_errno(r, "Cannot listen on the control socket %s: %m", p);
        return r >= 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *path = NULL, *error = NULL;
        Cfg *cfg = NULL;
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0) {
                trace_done();
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (arg_status) {
                r = run_status();
                trace_done();
                return r;
        }
        atexit(trace_done);

        if (!arg_config) {
                path = default_config();
                if (!path) {
                        log_error("No configuration file: use -c FILE");
                        return EXIT_FAILURE;
                }
                arg_config = path;
        }
        /* The daemon and --check-config look at the files and programs too (cfg_check_files()):
         * better one clear error now than a failing connect or hook later.  --dump,
         * --list-accounts (shell completion) and --list-mailboxes do not need them all. */
        r = cfg_load(arg_config, &cfg, &error);
        if (r < 0) {
                log_errors(error, r);
                return EXIT_FAILURE;
        }
        /* The warnings first: a file check that fails must not hide them. */
        for (size_t i = 0; i < cfg->n_warnings; i++)
                log_warning("%s", cfg->warnings[i]);
        if (arg_check_config || !(arg_dump || arg_list_accounts || arg_list_mailboxes)) {
                r = cfg_check_files(cfg, &error);
                if (r < 0) {
                        log_errors(error, r);
                        cfg_free(cfg);
                        return EXIT_FAILURE;
                }
        }
        if (trace_check_accounts(cfg) < 0) {
                cfg_free(cfg);
                return EXIT_FAILURE;
        }

        if (arg_list_accounts) {
                /* For scripts and shell completion (shell-completion/): the names need no quoting,
                 * they are letters, digits, ".", "_" and "-" (CFG_TYPE_NAME).  Nothing connects and no
                 * secret command runs. */
                for (size_t i = 0; i < cfg->n_accounts; i++)
                        printf("%s\n", cfg->accounts[i].name);
                cfg_free(cfg);
                return fflush(stdout) == 0 && !ferror(stdout) ? EXIT_SUCCESS : EXIT_FAILURE;
        }

        /* Only the daemon raises the limit; --check-config says what the daemon would meet. */
        if (!arg_list_mailboxes && !arg_dump)
                nofile_setup(cfg, !arg_check_config);

        if (arg_check_config) {
                r = check_config_verdict(cfg);
                cfg_free(cfg);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (arg_dump) {
                r = cfg_dump(cfg, stdout);
                cfg_free(cfg);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        /* sd-event's signal and child sources need these blocked, before any
         * other thread or child exists (docs/HACKING.md). */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGUSR2);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGPIPE);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                log_error_errno(-errno, "sigprocmask: %m");
                cfg_free(cfg);
                return EXIT_FAILURE;
        }

        if (arg_list_mailboxes) {
                r = tool_list_mailboxes(cfg, arg_list_mailboxes);
                cfg_free(cfg);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        r = manager_new(cfg, &m);
        if (r < 0) {
                log_error_errno(r, "Cannot start: %m");
                return EXIT_FAILURE;
        }
        /* --once serves no status: it must run beside a daemon of the same user, whose socket
         * this would be. */
        if (arg_once)
                manager_set_once(m);
        else if (!control_setup(m))
                return EXIT_FAILURE;
        r = manager_run(m);
        return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

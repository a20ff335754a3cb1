/* SPDX-License-Identifier: MIT */
/*
 * cfg.h: imapidled's configuration: the file (libconfig syntax) read, checked
 * completely and turned into plain C structs, so that nothing after cfg_load()
 * needs libconfig or can meet a half-valid setting.  The schema is the table in
 * cfg-table.c (docs/HACKING.md, after tmux's options_table); it drives
 * parsing, the did-you-mean of unknown keys, cfg_dump() and cfg_account_equal().
 * docs/imapidled.conf.5 documents every key.
 *
 * Nothing here blocks except on reading the file, runs a program, reads a
 * password file or logs: the caller decides what to do with errors and
 * warnings.  Only src/daemon includes this header (it is the only layer that
 * may use libconfig, docs/HACKING.md); libconfig itself stays inside cfg.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

/* Largest configuration file cfg_load() reads; bigger is -EMSGSIZE.  Ten thousand accounts take
 * about 3 MB; the cap is only there so that a wrong path (a disk image, /dev/zero) fails at once. */
#define CFG_FILE_MAX (64 * 1024 * 1024)
/* The most files the main file's @include patterns may bring in, all together, and the most bytes
 * of the main file and those together; more is -EMSGSIZE.  A file per account for ten thousand
 * accounts is well inside both; a pattern that names the wrong directory is not. */
#define CFG_INCLUDE_FILES_MAX 100000
#define CFG_TOTAL_MAX (256 * 1024 * 1024)

typedef enum CfgTls {
        CFG_TLS_IMPLICIT,               /* TLS from the first byte, port 993 (RFC 8314) */
        CFG_TLS_STARTTLS,               /* plain TCP, STARTTLS required, port 143 */
        CFG_TLS_NONE,                   /* plain TCP; only with allow_plaintext = true */
        _CFG_TLS_MAX,
        _CFG_TLS_INVALID = -EINVAL,
} CfgTls;

/* "implicit", "starttls", "none"; NULL for anything else. */
const char *cfg_tls_to_string(CfgTls t) _const_;
/* The reverse, case-sensitive; _CFG_TLS_INVALID for an unknown name. */
CfgTls cfg_tls_from_string(const char *s) _pure_;

/* A hook: at most one of the two is set; neither set means "no hook here". */
typedef struct CfgHook {
        char **argv;            /* NULL-terminated argv; NULL = not set.  Arguments may hold the
                                 * placeholders %a, %m and %% (validated by cfg_load()); expand with
                                 * cfg_hook_expand() */
        char *shell;            /* a shell command string, allowed only with shell = true, run as
                                 * "sh -c" with no %-substitution; NULL = not set */
        bool details;           /* group form { command = ...; details = true; }: fetch the new
                                 * messages' envelopes and hand them to the hook (docs/EVENTS.md) */
        bool uids;              /* group form { ...; uids = true; }: the hook needs the exact UIDs of
                                 * the new messages (IMAPIDLED_UIDS as a set), which costs a round trip
                                 * before it starts; false: it starts at once and IMAPIDLED_UIDS is
                                 * "floor:*".  Always true when details is (cfg_load() sets it). */
        char *lock;             /* group form { ...; lock = "name"; }, [A-Za-z0-9._-]+: hooks with the same
                                 * lock never run at the same time, whichever account; NULL = the
                                 * account's single flight per command (docs/HOOKS.md).  cfg_load()
                                 * refuses one command with two locks in an account. */
} CfgHook;

static inline bool cfg_hook_is_set(const CfgHook *h) {
        return h && (h->argv || h->shell);
}

/* Deadlines and dead-peer detection (issue 6, docs/LIVENESS.md): global keys
 * of the same names, overridable per account; always filled in after load. */
typedef struct CfgLiveness {
        uint64_t connect_timeout_usec;  /* TCP connect over all addresses; default 30 s, 0.1..3600 */
        uint64_t tls_timeout_usec;      /* TLS handshake (implicit or after STARTTLS); default 30 s, 0.1..3600 */
        uint64_t greeting_timeout_usec; /* the server's greeting; default 30 s, 0.1..3600 */
        uint64_t auth_timeout_usec;     /* LOGIN/AUTHENTICATE to its tagged reply; default 60 s, 0.1..3600 */
        uint64_t select_timeout_usec;   /* EXAMINE to its tagged reply; default 60 s, 0.1..3600 */
        uint64_t done_timeout_usec;     /* DONE to IDLE's tagged reply; default 10 s, 0.1..3600 */
        uint64_t command_timeout_usec;  /* every other command; default 60 s, 0.1..3600 */
        uint64_t liveness_interval_usec;/* nothing received in IDLE for this long: DONE as a probe;
                                         * default 125 s, 0 = off, else 0.1..1740 and below idle_interval
                                         * (unset where idle_interval <= 125 s: 0, the renewal probes) */
        uint64_t keepalive_idle_usec;   /* TCP_KEEPIDLE, whole seconds 1..32767; default 60 s */
        uint64_t keepalive_interval_usec; /* TCP_KEEPINTVL, whole seconds 1..32767; default 15 s */
        unsigned keepalive_count;       /* TCP_KEEPCNT, 1..127; default 4 */
} CfgLiveness;

/* A mailbox's switch that, when not set, is the account's (desktop_notify). */
typedef enum CfgTri {
        CFG_TRI_UNSET,          /* 0, so that a zeroed CfgMailbox has it unset */
        CFG_TRI_FALSE,
        CFG_TRI_TRUE,
} CfgTri;

typedef struct CfgMailbox {
        char *name;             /* UTF-8 as written (valid UTF-8, printable: log_text_printable()) */
        bool pattern;           /* name has a LIST wildcard, '*' or '%' (RFC 3501 §6.3.8): it stands
                                 * for the mailboxes LIST finds, each watched with this entry's hooks */
        CfgHook on_new, on_expunge, on_flags;   /* per-mailbox override; unset = the account's */
        CfgTri desktop_notify;  /* per-mailbox override; unset = the account's */
        unsigned line;          /* where it was written; the account's line for the default INBOX */
} CfgMailbox;

typedef struct CfgAccount {
        char *name;             /* [A-Za-z0-9._-]+, unique in the file and those it includes */
        char *host, *port;      /* both NULL with a tunnel; otherwise port is always set after load,
                                 * in decimal: "993" for implicit TLS, "143" otherwise */
        CfgTls tls;             /* CFG_TLS_NONE with a tunnel */
        bool allow_plaintext;
        char *ca_file, *client_cert;    /* relative paths resolved against the config file's directory */
        char *client_key;       /* resolved like password_file (it is a secret too) */
        char *username;         /* NULL only with a tunnel */
        char *password;         /* secret: wiped with explicit_bzero on free */
        char *password_file;    /* a relative path is relative to $CREDENTIALS_DIRECTORY when set
                                 * (systemd LoadCredential=), else to the config file's directory;
                                 * this is the resolved path.  The file is not read here. */
        char **password_command, **oauth2_token_command, **tunnel;   /* argv or NULL; no %-expansion */
        uint64_t secret_cache_usec;     /* how long a secret from password_command or
                                         * oauth2_token_command serves the account's connections
                                         * (src/daemon/secret.h); inherits the global one; 0 = a run
                                         * per connect; at most 86400 s */
        char **auth;            /* SASL mechanism preference, upper-cased, NULL = automatic */
        CfgMailbox *mailboxes;  /* default: one, "INBOX"; in the order written */
        size_t n_mailboxes;
        size_t n_patterns;      /* how many of them are patterns */
        CfgHook on_new, on_expunge, on_flags;
        bool shell;
        bool startup_sync;      /* run the hooks once after the first SELECT, whatever changed */
        unsigned details_max;   /* at most this many messages' details per run; default 20, 1..1000 */
        bool desktop_notify;    /* new mail becomes a desktop notification on the session bus
                                 * (docs/HOOKS.md "Desktop notifications"); default false */
        uint64_t hook_timeout_usec, idle_interval_usec;   /* inherit the globals when not set */
        uint64_t debounce_usec, max_delay_usec;           /* inherit the globals when not set;
                                                           * always filled in after load */
        CfgLiveness live;       /* each field inherits the global one when not set */
        unsigned max_connections;       /* IDLE connections at most; default 10, 1..1000 */
        uint64_t status_interval_usec;  /* mailboxes beyond max_connections: STATUS poll period;
                                         * default 60 s, 1..86400 */
        bool notify_off;                /* imap_notify = "off": never one NOTIFY connection (RFC 5465)
                                         * for the account's mailboxes; "auto" (false) by default */
        char **pass_env;                /* the names of the daemon's environment variables its hooks and
                                         * secret commands get besides the default ones
                                         * (src/shared/env-util.h): the top-level pass_env, then the
                                         * account's own that the top level does not name; NULL = none.
                                         * Each passes env_name_check(). */
        unsigned line;          /* the line of the account's '{' */
        const char *file;       /* the file that line is in: one of the Cfg's files */
} CfgAccount;

typedef struct Cfg {
        char *path;                     /* as given to cfg_load() (or the name of cfg_load_string()) */
        uint64_t idle_interval_usec;    /* seconds in the file; default 1740 (RFC 2177's 29 min), range 1..1740 */
        uint64_t hook_timeout_usec;     /* default 60 s, range 1..3600 */
        uint64_t debounce_usec;         /* default 0, range 0..3600 s, fractions allowed (ms precision) */
        uint64_t max_delay_usec;        /* default 30 s, range 1..86400 s; never below debounce */
        unsigned max_concurrent_hooks;  /* default 4, range 1..1024, all accounts together */
        unsigned max_connecting;        /* connections in their connect, TLS handshake or login phase
                                         * at once, all accounts together; default 64, 1..100000.
                                         * cfg_descriptors_needed() counts the secret command and
                                         * the name lookup as part of that phase */
        CfgLiveness live;               /* defaults as documented in CfgLiveness */
        uint64_t secret_cache_usec;     /* default 300 s, range 0..86400 s, fractions allowed */
        char **pass_env;                /* top-level pass_env as written, NULL = none; every account's
                                         * pass_env starts with it */
        CfgAccount *accounts;           /* at least one: the main file's, then those of each file its
                                         * @include patterns matched, in the order read */
        size_t n_accounts;
        char **files;                   /* the files read: the main file (path as given) first, then,
                                         * as absolute paths, those the patterns matched and those
                                         * plain @includes brought accounts from */
        size_t n_files;
        char **warnings;                /* "FILE:LINE: KEY: text", for the caller to log */
        size_t n_warnings;
} Cfg;

/* Read and check the file at 'path' completely, with the files it includes: a plain @include
 * "file" is libconfig's, read in place; an @include at the top level whose name holds a glob
 * character (* ? [) or names a directory (then its *.conf files) reads each regular file it matches,
 * in byte order of the names, as a document of its own that may set only 'accounts', appended to
 * the main file's (docs/imapidled.conf.5, INCLUDES).  On success returns 0 and a new
 * Cfg in *ret (caller frees with cfg_free()).  On failure *ret is untouched and,
 * if ret_error is not NULL, *ret_error is a malloc'ed message "FILE:LINE: KEY:
 * reason" (for libconfig syntax errors "FILE:LINE: " and libconfig's own text;
 * for a file that cannot be read "FILE: reason"), or NULL if even that could not
 * be allocated.  Returns -EBADMSG for a syntax or validation error, -EMSGSIZE for
 * a file over CFG_FILE_MAX or includes over CFG_INCLUDE_FILES_MAX or CFG_TOTAL_MAX, -ENOMEM, or the
 * -errno of open()/read().
 *
 * Reads $CREDENTIALS_DIRECTORY and, for a relative path, the current directory
 * (relative paths in the file are stored resolved).  A password in a file that
 * group or others may access adds a warning, as does a password_file that group or others may
 * read and a pattern that matches no file; warnings never fail the load. */
int cfg_load(const char *path, Cfg **ret, char **ret_error);

/* Every file an account names can be opened for reading (password_file, ca_file, client_cert,
 * client_key; none is read) and every program it runs can be found as posix_spawnp() would find
 * it (password_command, oauth2_token_command, tunnel, the argv hooks of the account and its
 * mailboxes; a shell hook runs /bin/sh).  Returns 0; or -EBADMSG and, if ret_error is not NULL,
 * in *ret_error every problem, one a line, "FILE:LINE: account "NAME"[, mailbox "M"]: KEY:
 * reason" (the line of the account's '{' or of the mailbox); or -ENOMEM.  Uses the process's
 * PATH, as the spawns do.  The daemon at start and --check-config call it after cfg_load(); a
 * reload does not (a file may be replaced while the daemon runs, and the connect says what is
 * wrong). */
int cfg_check_files(const Cfg *c, char **ret_error);

/* 0 if posix_spawnp() would find 'name' executable (a name with a '/' as it is, else in $PATH);
 * -ENOENT, -EACCES, -EISDIR, ... why not; -ENOMEM. */
int cfg_program_resolve(const char *name);

/* The same for text in memory, for tests; 'name' stands for the file in
 * messages and its directory is the base of relative paths and patterns.  No
 * permission check of the text (there is no file); included files get theirs. */
int cfg_load_string(const char *text, const char *name, Cfg **ret, char **ret_error);

/* NULL-safe, returns NULL.  Wipes the passwords. */
Cfg *cfg_free(Cfg *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Cfg *, cfg_free);

/* Write the effective configuration in libconfig syntax that cfg_load() reads
 * back: every default filled in (ports, tls, booleans, per-account timeouts,
 * mailboxes), keys that are unset and have no default left out, the password
 * written as "(redacted)".  Nothing is read from password files or commands.
 * Returns 0, or -EIO if writing failed. */
int cfg_dump(const Cfg *c, FILE *f);

/* The account named 'name', or NULL.  Valid as long as c. */
const CfgAccount *cfg_find_account(const Cfg *c, const char *name);

/* Open files the daemon needs for a configuration, to compare with RLIMIT_NOFILE (main.c).  The
 * per-item counts come from the code that opens them: */
#define CFG_FDS_PER_HOOK 4              /* a running hook (src/daemon/hook.c): our ends of its stdout,
                                         * stderr and stdin pipes, and the pidfd sd_event_add_child()
                                         * watches it by */
#define CFG_FDS_PER_CONNECTING 6        /* a connection starting up: the name lookup's eventfd and, on its
                                         * thread, the resolver's socket and a file NSS reads
                                         * (src/net/resolve.c); password_command's or
                                         * oauth2_token_command's stdout and stderr pipes and pidfd; both
                                         * at once while a lookup given up on still runs */
#define CFG_FDS_RESERVE 64              /* the rest, about 40 at most, rounded up: listed at
                                         * cfg_descriptors_needed() in cfg.c */

typedef struct CfgFdNeed {
        uint64_t connections;   /* one socket each (a tunnel's: its end of the socketpair); an account
                                 * with n mailboxes has min(n, max_connections), the mailboxes beyond
                                 * sharing one poller (manager.c) */
        uint64_t hooks;         /* max_concurrent_hooks × CFG_FDS_PER_HOOK */
        uint64_t connecting;    /* min(max_connecting, connections) × CFG_FDS_PER_CONNECTING */
        uint64_t reserve;       /* CFG_FDS_RESERVE */
        uint64_t total;         /* the sum of the four */
} CfgFdNeed;

/* How many file descriptors c needs at most, by kind.  Pure: looks at nothing but c.  Returns 0,
 * or -EINVAL for a NULL argument. */
int cfg_descriptors_needed(const Cfg *c, CfgFdNeed *ret);

/* True if the two accounts would behave identically: every setting equal,
 * including the password and the mailboxes with their hooks in order.  Line
 * numbers are ignored, so moving an account in the file is no change.  For
 * SIGHUP reload: an account that is not equal is restarted. */
bool cfg_account_equal(const CfgAccount *a, const CfgAccount *b);

typedef enum CfgEvent {
        CFG_EVENT_NEW,          /* on_new */
        CFG_EVENT_EXPUNGE,      /* on_expunge */
        CFG_EVENT_FLAGS,        /* on_flags */
        _CFG_EVENT_MAX,
        _CFG_EVENT_INVALID = -EINVAL,
} CfgEvent;

/* The entry of a->mailboxes that watches the mailbox 'name' (UTF-8, as LIST
 * returned it with the hierarchy delimiter delim): the entry with that name
 * if one is written (INBOX in any case), else the first pattern in the order
 * written that matches it (imap_list_match()); SIZE_MAX if none. */
size_t cfg_account_mailbox_for(const CfgAccount *a, const char *name, char delim);

/* The hook for this event in this mailbox: the mailbox's own if set, else the
 * account's.  Returns NULL if neither is set.  Valid as long as a. */
const CfgHook *cfg_mailbox_hook(const CfgAccount *a, const CfgMailbox *m, CfgEvent event);
/* Whether new mail in mailbox m of account a becomes a desktop notification: the mailbox's
 * desktop_notify where it sets one, else the account's. */
bool cfg_mailbox_desktop_notify(const CfgAccount *a, const CfgMailbox *m);

/* Expand an argv hook for one event: in every argument %a becomes 'account',
 * %m 'mailbox' and %% a '%'.  Each argument stays exactly one argument, whatever
 * the values contain (no splitting, no quoting, no shell).  Returns 0 and a new
 * NULL-terminated argv in *ret (free with cfg_strv_free()), -EINVAL for any
 * other %-sequence (cfg_load() has rejected those already), -ENOMEM. */
int cfg_hook_expand(char *const *argv, const char *account, const char *mailbox, char ***ret);

/* Free a NULL-terminated string array; NULL-safe, returns NULL. */
char **cfg_strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, cfg_strv_free);

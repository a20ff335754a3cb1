/* SPDX-License-Identifier: MIT */
/*
 * cfg-table.c: the configuration schema, one row per key (docs/HACKING.md,
 * after tmux's options_table), and the small lookups around it: by name, the
 * did-you-mean for unknown keys, and the SASL mechanisms 'auth' may name.  The
 * order of the rows is the order of cfg_dump()'s output.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfg-internal.h"
#include "macro.h"

#define G(field) offsetof(Cfg, field)
#define A(field) offsetof(CfgAccount, field)
#define M(field) offsetof(CfgMailbox, field)
#define H(field) offsetof(CfgHook, field)
/* DURATION limits and defaults are in milliseconds. */
#define MS(seconds) ((int64_t) (seconds) * 1000)

const CfgKey cfg_keys[] = {
        /* RFC 2177 §3: servers may log a client out after 30 minutes of inactivity; IDLE is
         * re-issued at least every 29 minutes. */
        { CFG_SCOPE_GLOBAL, "idle_interval", CFG_TYPE_SECONDS, G(idle_interval_usec), 1, 1740, 1740, 0,
          "seconds between DONE and a new IDLE (at most 29 minutes, RFC 2177)" },
        { CFG_SCOPE_GLOBAL, "hook_timeout", CFG_TYPE_SECONDS, G(hook_timeout_usec), 1, 3600, 60, 0,
          "seconds a hook may run before it is sent SIGTERM, then SIGKILL" },
        /* A run of a mailbox's hook starts once no event came for 'debounce' seconds, but never later
         * than 'max_delay' seconds after the first event of the burst.  0 by default: single flight
         * already folds whatever comes while a run is going into one more run (docs/EVENTS.md). */
        { CFG_SCOPE_GLOBAL, "debounce", CFG_TYPE_DURATION, G(debounce_usec), 0, MS(3600), 0, 0,
          "quiet seconds after an event before the hook runs (fractions allowed)" },
        { CFG_SCOPE_GLOBAL, "max_delay", CFG_TYPE_DURATION, G(max_delay_usec), MS(1), MS(86400), MS(30), 0,
          "at most this many seconds from the first event to the hook's start (fractions allowed)" },
        { CFG_SCOPE_GLOBAL, "max_concurrent_hooks", CFG_TYPE_COUNT, G(max_concurrent_hooks), 1, 1024, 4, 0,
          "hooks that may run at the same time, all accounts together" },
        /* Ten thousand connections started together would hit the server (and the name service)
         * with as many handshakes at once; this many at a time keep start-up and a reconnect after
         * a network change brisk without a stampede. */
        { CFG_SCOPE_GLOBAL, "max_connecting", CFG_TYPE_COUNT, G(max_connecting), 1, 100000, 64, 0,
          "connections that may be connecting, in the TLS handshake or logging in at the same time" },
        /* Deadlines: every phase of a connection has one; a missed deadline closes the connection,
         * which is retried with backoff.  An hour is the longest any phase can sensibly take. */
        { CFG_SCOPE_GLOBAL, "connect_timeout", CFG_TYPE_DURATION, G(live.connect_timeout_usec), 100, MS(3600),
          MS(30), CFG_KEY_DEADLINE, "seconds for the TCP connection, over all of the host's addresses" },
        { CFG_SCOPE_GLOBAL, "tls_timeout", CFG_TYPE_DURATION, G(live.tls_timeout_usec), 100, MS(3600),
          MS(30), CFG_KEY_DEADLINE, "seconds for the TLS handshake" },
        { CFG_SCOPE_GLOBAL, "greeting_timeout", CFG_TYPE_DURATION, G(live.greeting_timeout_usec), 100, MS(3600),
          MS(30), CFG_KEY_DEADLINE, "seconds for the server's greeting" },
        { CFG_SCOPE_GLOBAL, "auth_timeout", CFG_TYPE_DURATION, G(live.auth_timeout_usec), 100, MS(3600),
          MS(60), CFG_KEY_DEADLINE, "seconds for logging in (LOGIN or AUTHENTICATE)" },
        { CFG_SCOPE_GLOBAL, "select_timeout", CFG_TYPE_DURATION, G(live.select_timeout_usec), 100, MS(3600),
          MS(60), CFG_KEY_DEADLINE, "seconds for opening a mailbox (EXAMINE)" },
        { CFG_SCOPE_GLOBAL, "done_timeout", CFG_TYPE_DURATION, G(live.done_timeout_usec), 100, MS(3600),
          MS(10), CFG_KEY_DEADLINE, "seconds from DONE to the tagged reply that ends IDLE" },
        { CFG_SCOPE_GLOBAL, "command_timeout", CFG_TYPE_DURATION, G(live.command_timeout_usec), 100, MS(3600),
          MS(60), CFG_KEY_DEADLINE, "seconds for any other command's tagged reply" },
        /* A half-open connection is noticed within liveness_interval + done_timeout: IDLE is ended
         * with DONE after that much silence, and IDLE's tagged OK must come within done_timeout.
         * 125 s, 5 s above the 2-minute keepalive Dovecot sends in IDLE (imap_idle_notify_interval),
         * so that the server's own keepalive, not a probe, proves such a connection alive
         * (docs/LIVENESS.md); 125 + 10 keeps the bound of 136 s with the first backoff. */
        { CFG_SCOPE_GLOBAL, "liveness_interval", CFG_TYPE_DURATION, G(live.liveness_interval_usec), 100,
          MS(1740), MS(125), CFG_KEY_ZERO_OFF,
          "seconds of silence in IDLE after which DONE probes the connection; 0 = off" },
        /* TCP_KEEPIDLE and TCP_KEEPINTVL take whole seconds up to 32767 (Linux's MAX_TCP_KEEPIDLE and
         * MAX_TCP_KEEPINTVL), TCP_KEEPCNT at most 127 (MAX_TCP_KEEPCNT). */
        { CFG_SCOPE_GLOBAL, "keepalive_idle", CFG_TYPE_SECONDS, G(live.keepalive_idle_usec), 1, 32767, 60, 0,
          "seconds of silence before the first TCP keepalive probe" },
        { CFG_SCOPE_GLOBAL, "keepalive_interval", CFG_TYPE_SECONDS, G(live.keepalive_interval_usec), 1, 32767,
          15, 0, "seconds between TCP keepalive probes" },
        { CFG_SCOPE_GLOBAL, "keepalive_count", CFG_TYPE_COUNT, G(live.keepalive_count), 1, 127, 4, 0,
          "unanswered TCP keepalive probes that end the connection" },
        /* Hooks and secret commands get an allowlist of the daemon's environment (docs/HOOKS.md);
         * this names more.  An account's pass_env adds to this one. */
        { CFG_SCOPE_GLOBAL, "pass_env", CFG_TYPE_ENV_NAMES, G(pass_env), 0, 0, 0, 0,
          "more of the daemon's environment variables that hooks and secret commands get" },
        /* password_command and oauth2_token_command run once for the connections of an account that
         * (re)connect together, and their secret serves this long (src/daemon/secret.h): long enough
         * for a restart or a network change, short enough that a changed password is seen soon. */
        { CFG_SCOPE_GLOBAL, "secret_cache", CFG_TYPE_DURATION, G(secret_cache_usec), 0, MS(86400), MS(300), 0,
          "seconds a password or token from a command serves every connection of its account; 0 = a run per connect" },
        { CFG_SCOPE_GLOBAL, "accounts", CFG_TYPE_ACCOUNTS, G(accounts), 0, 0, 0, CFG_KEY_REQUIRED,
          "the accounts to watch, a list of groups" },

        { CFG_SCOPE_ACCOUNT, "name", CFG_TYPE_NAME, A(name), 0, 0, 0, CFG_KEY_REQUIRED,
          "the account's name, unique, [A-Za-z0-9._-]" },
        { CFG_SCOPE_ACCOUNT, "host", CFG_TYPE_HOST, A(host), 0, 0, 0, CFG_KEY_NEEDED | CFG_KEY_NOT_TUNNEL,
          "the IMAP server's host name or address" },
        { CFG_SCOPE_ACCOUNT, "port", CFG_TYPE_PORT, A(port), 1, 65535, 0, CFG_KEY_NOT_TUNNEL,
          "TCP port; 993 with implicit TLS, 143 otherwise" },
        { CFG_SCOPE_ACCOUNT, "tls", CFG_TYPE_TLS, A(tls), 0, 0, 0, CFG_KEY_NOT_TUNNEL,
          "implicit, starttls or none" },
        { CFG_SCOPE_ACCOUNT, "allow_plaintext", CFG_TYPE_BOOL, A(allow_plaintext), 0, 0, 0, 0,
          "permit tls = \"none\"" },
        { CFG_SCOPE_ACCOUNT, "ca_file", CFG_TYPE_PATH, A(ca_file), 0, 0, 0, CFG_KEY_NOT_TUNNEL,
          "PEM file of trusted CA certificates instead of the system's" },
        { CFG_SCOPE_ACCOUNT, "client_cert", CFG_TYPE_PATH, A(client_cert), 0, 0, 0, CFG_KEY_NOT_TUNNEL,
          "PEM client certificate" },
        { CFG_SCOPE_ACCOUNT, "client_key", CFG_TYPE_SECRET_PATH, A(client_key), 0, 0, 0, CFG_KEY_NOT_TUNNEL,
          "PEM private key of client_cert" },
        { CFG_SCOPE_ACCOUNT, "username", CFG_TYPE_STRING, A(username), 0, 0, 0, CFG_KEY_NEEDED,
          "the login name" },
        { CFG_SCOPE_ACCOUNT, "password", CFG_TYPE_SECRET, A(password), 0, 0, 0, CFG_KEY_CREDENTIAL,
          "the password itself" },
        { CFG_SCOPE_ACCOUNT, "password_file", CFG_TYPE_SECRET_PATH, A(password_file), 0, 0, 0, CFG_KEY_CREDENTIAL,
          "a file whose first line is the password" },
        { CFG_SCOPE_ACCOUNT, "password_command", CFG_TYPE_ARGV, A(password_command), 0, 0, 0, CFG_KEY_CREDENTIAL,
          "argv of a program that prints the password" },
        { CFG_SCOPE_ACCOUNT, "oauth2_token_command", CFG_TYPE_ARGV, A(oauth2_token_command), 0, 0, 0,
          CFG_KEY_CREDENTIAL, "argv of a program that prints an OAuth 2.0 access token" },
        { CFG_SCOPE_ACCOUNT, "secret_cache", CFG_TYPE_DURATION, A(secret_cache_usec), 0, MS(86400), 0,
          CFG_KEY_INHERIT, "this account's secret_cache" },
        { CFG_SCOPE_ACCOUNT, "tunnel", CFG_TYPE_ARGV, A(tunnel), 0, 0, 0, 0,
          "argv of a program that speaks IMAP on its stdin and stdout, instead of host and port" },
        { CFG_SCOPE_ACCOUNT, "auth", CFG_TYPE_MECHS, A(auth), 0, 0, 0, 0,
          "SASL mechanisms to try, in order" },
        { CFG_SCOPE_ACCOUNT, "mailboxes", CFG_TYPE_MAILBOXES, A(mailboxes), 0, 0, 0, 0,
          "mailboxes to watch; default [\"INBOX\"]" },
        { CFG_SCOPE_ACCOUNT, "on_new", CFG_TYPE_HOOK, A(on_new), 0, 0, 0, 0,
          "hook run when messages arrive" },
        { CFG_SCOPE_ACCOUNT, "on_expunge", CFG_TYPE_HOOK, A(on_expunge), 0, 0, 0, 0,
          "hook run when messages are expunged" },
        { CFG_SCOPE_ACCOUNT, "on_flags", CFG_TYPE_HOOK, A(on_flags), 0, 0, 0, 0,
          "hook run when messages' flags change" },
        { CFG_SCOPE_ACCOUNT, "shell", CFG_TYPE_BOOL, A(shell), 0, 0, 0, 0,
          "permit hooks given as strings, run with sh -c" },
        { CFG_SCOPE_ACCOUNT, "startup_sync", CFG_TYPE_BOOL, A(startup_sync), 0, 0, 0, 0,
          "run each mailbox's on_new once after the daemon starts, whatever changed" },
        /* org.freedesktop.Notifications over the session bus: docs/HOOKS.md "Desktop notifications". */
        { CFG_SCOPE_ACCOUNT, "desktop_notify", CFG_TYPE_BOOL, A(desktop_notify), 0, 0, 0, 0,
          "show new mail as a desktop notification (session D-Bus)" },
        { CFG_SCOPE_ACCOUNT, "details_max", CFG_TYPE_COUNT, A(details_max), 1, 1000, 20, 0,
          "at most this many messages' details for one run of a hook with details = true" },
        { CFG_SCOPE_ACCOUNT, "hook_timeout", CFG_TYPE_SECONDS, A(hook_timeout_usec), 1, 3600, 0,
          CFG_KEY_INHERIT, "this account's hook_timeout" },
        { CFG_SCOPE_ACCOUNT, "idle_interval", CFG_TYPE_SECONDS, A(idle_interval_usec), 1, 1740, 0,
          CFG_KEY_INHERIT, "this account's idle_interval" },
        { CFG_SCOPE_ACCOUNT, "debounce", CFG_TYPE_DURATION, A(debounce_usec), 0, MS(3600), 0, CFG_KEY_INHERIT,
          "this account's debounce" },
        { CFG_SCOPE_ACCOUNT, "max_delay", CFG_TYPE_DURATION, A(max_delay_usec), MS(1), MS(86400), 0,
          CFG_KEY_INHERIT, "this account's max_delay" },
        /* A tunnel has no TCP connection and no TLS of its own: the keys about those are refused with it. */
        { CFG_SCOPE_ACCOUNT, "connect_timeout", CFG_TYPE_DURATION, A(live.connect_timeout_usec), 100, MS(3600),
          0, CFG_KEY_INHERIT | CFG_KEY_DEADLINE | CFG_KEY_NOT_TUNNEL, "this account's connect_timeout" },
        { CFG_SCOPE_ACCOUNT, "tls_timeout", CFG_TYPE_DURATION, A(live.tls_timeout_usec), 100, MS(3600),
          0, CFG_KEY_INHERIT | CFG_KEY_DEADLINE | CFG_KEY_NOT_TUNNEL, "this account's tls_timeout" },
        { CFG_SCOPE_ACCOUNT, "greeting_timeout", CFG_TYPE_DURATION, A(live.greeting_timeout_usec), 100,
          MS(3600), 0, CFG_KEY_INHERIT | CFG_KEY_DEADLINE, "this account's greeting_timeout" },
        { CFG_SCOPE_ACCOUNT, "auth_timeout", CFG_TYPE_DURATION, A(live.auth_timeout_usec), 100, MS(3600),
          0, CFG_KEY_INHERIT | CFG_KEY_DEADLINE, "this account's auth_timeout" },
        { CFG_SCOPE_ACCOUNT, "select_timeout", CFG_TYPE_DURATION, A(live.select_timeout_usec), 100, MS(3600),
          0, CFG_KEY_INHERIT | CFG_KEY_DEADLINE, "this account's select_timeout" },
        { CFG_SCOPE_ACCOUNT, "done_timeout", CFG_TYPE_DURATION, A(live.done_timeout_usec), 100, MS(3600),
          0, CFG_KEY_INHERIT | CFG_KEY_DEADLINE, "this account's done_timeout" },
        { CFG_SCOPE_ACCOUNT, "command_timeout", CFG_TYPE_DURATION, A(live.command_timeout_usec), 100, MS(3600),
          0, CFG_KEY_INHERIT | CFG_KEY_DEADLINE, "this account's command_timeout" },
        { CFG_SCOPE_ACCOUNT, "liveness_interval", CFG_TYPE_DURATION, A(live.liveness_interval_usec), 100,
          MS(1740), 0, CFG_KEY_INHERIT | CFG_KEY_ZERO_OFF, "this account's liveness_interval" },
        { CFG_SCOPE_ACCOUNT, "keepalive_idle", CFG_TYPE_SECONDS, A(live.keepalive_idle_usec), 1, 32767, 0,
          CFG_KEY_INHERIT | CFG_KEY_NOT_TUNNEL, "this account's keepalive_idle" },
        { CFG_SCOPE_ACCOUNT, "keepalive_interval", CFG_TYPE_SECONDS, A(live.keepalive_interval_usec), 1, 32767,
          0, CFG_KEY_INHERIT | CFG_KEY_NOT_TUNNEL, "this account's keepalive_interval" },
        { CFG_SCOPE_ACCOUNT, "keepalive_count", CFG_TYPE_COUNT, A(live.keepalive_count), 1, 127, 0,
          CFG_KEY_INHERIT | CFG_KEY_NOT_TUNNEL, "this account's keepalive_count" },
        /* Dovecot's mail_max_userip_connections defaults to 10 (Gmail allows 15): mailboxes beyond the
         * budget are polled with STATUS on one shared connection instead of getting their own IDLE. */
        { CFG_SCOPE_ACCOUNT, "max_connections", CFG_TYPE_COUNT, A(max_connections), 1, 1000, 10, 0,
          "IDLE connections at most; further mailboxes are polled with STATUS" },
        { CFG_SCOPE_ACCOUNT, "status_interval", CFG_TYPE_DURATION, A(status_interval_usec), MS(1), MS(86400),
          MS(60), 0, "seconds between STATUS polls of the mailboxes beyond max_connections" },
        /* RFC 5465: where the server offers NOTIFY, one connection watches every mailbox. */
        { CFG_SCOPE_ACCOUNT, "imap_notify", CFG_TYPE_NOTIFY, A(notify_off), 0, 0, 0, 0,
          "\"auto\": one NOTIFY connection for all mailboxes where offered; \"off\": IDLE per mailbox" },
        { CFG_SCOPE_ACCOUNT, "pass_env", CFG_TYPE_ENV_NAMES, A(pass_env), 0, 0, 0, 0,
          "more environment variables for this account's hooks and secret commands, besides the top level's" },

        { CFG_SCOPE_MAILBOX, "name", CFG_TYPE_MAILBOX_NAME, M(name), 0, 0, 0, CFG_KEY_REQUIRED,
          "the mailbox name in UTF-8" },
        { CFG_SCOPE_MAILBOX, "on_new", CFG_TYPE_HOOK, M(on_new), 0, 0, 0, 0,
          "this mailbox's on_new" },
        { CFG_SCOPE_MAILBOX, "on_expunge", CFG_TYPE_HOOK, M(on_expunge), 0, 0, 0, 0,
          "this mailbox's on_expunge" },
        { CFG_SCOPE_MAILBOX, "on_flags", CFG_TYPE_HOOK, M(on_flags), 0, 0, 0, 0,
          "this mailbox's on_flags" },
        { CFG_SCOPE_MAILBOX, "desktop_notify", CFG_TYPE_TRI, M(desktop_notify), 0, 0, 0, 0,
          "this mailbox's desktop_notify" },

        /* The group form of any hook; the plain forms (a list, a string) mean details = false.
         * 'command' is the CfgHook itself (its argv or shell), hence offset 0. */
        { CFG_SCOPE_HOOK, "command", CFG_TYPE_HOOK_COMMAND, 0, 0, 0, 0, CFG_KEY_REQUIRED,
          "the hook's argv list, or a string for sh -c with shell = true" },
        { CFG_SCOPE_HOOK, "details", CFG_TYPE_BOOL, H(details), 0, 0, 0, 0,
          "hand the hook the new messages' details" },
        { CFG_SCOPE_HOOK, "uids", CFG_TYPE_BOOL, H(uids), 0, 0, 0, 0,
          "wait for the exact UIDs of the new messages before the hook starts" },
        { CFG_SCOPE_HOOK, "lock", CFG_TYPE_NAME, H(lock), 0, 0, 0, 0,
          "hooks with the same lock never run at the same time, across accounts" },
};

const size_t cfg_n_keys = ELEMENTSOF(cfg_keys);

const CfgKey *cfg_key_lookup(CfgScope scope, const char *name) {
        for (size_t i = 0; i < cfg_n_keys; i++)
                if (cfg_keys[i].scope == scope && strcmp(cfg_keys[i].name, name) == 0)
                        return &cfg_keys[i];
        return NULL;
}

size_t cfg_edit_distance(const char *a, const char *b) {
        /* Three rows of the dynamic programme suffice for adjacent transpositions. */
        size_t la = strlen(a), lb = strlen(b), rows[3][65];
        size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

        if (la > 64 || lb > 64)
                return SIZE_MAX;

        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        bool same = ascii_tolower(a[i - 1]) == ascii_tolower(b[j - 1]);
                        size_t d = MIN(prev[j] + 1, cur[j - 1] + 1);

                        d = MIN(d, prev[j - 1] + (same ? 0 : 1));
                        if (i > 1 && j > 1 &&
                            ascii_tolower(a[i - 1]) == ascii_tolower(b[j - 2]) &&
                            ascii_tolower(a[i - 2]) == ascii_tolower(b[j - 1]))
                                d = MIN(d, prev2[j - 2] + 1);
                        cur[j] = d;
                }
                size_t *t = prev2;
                prev2 = prev;
                prev = cur;
                cur = t;
        }
        return prev[lb];
}

const char *cfg_key_suggest(CfgScope scope, const char *name) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX, len = strlen(name);
        /* A third of the length, at least 1 and at most 3: "pasword" and "hostname" get an
         * answer, "x" is not "tls". */
        size_t limit = MIN(MAX(len / 3, (size_t) 1), (size_t) 3);

        for (size_t i = 0; i < cfg_n_keys; i++) {
                size_t d;

                if (cfg_keys[i].scope != scope)
                        continue;
                d = cfg_edit_distance(name, cfg_keys[i].name);
                if (d < best_d) {
                        best_d = d;
                        best = cfg_keys[i].name;
                }
        }
        return best_d <= limit ? best : NULL;
}

const CfgMech cfg_mechs[] = {
        { "PLAIN",       false },       /* RFC 4616 */
        { "LOGIN",       false },       /* draft-murchison-sasl-login */
        { "CRAM-MD5",    false },       /* RFC 2195 */
        { "XOAUTH2",     true  },       /* Google's and Microsoft's bearer token mechanism */
        { "OAUTHBEARER", true  },       /* RFC 7628 */
};

const size_t cfg_n_mechs = ELEMENTSOF(cfg_mechs);

const CfgMech *cfg_mech_lookup(const char *name) {
        for (size_t i = 0; i < cfg_n_mechs; i++)
                if (ascii_strcaseeq(cfg_mechs[i].name, name))
                        return &cfg_mechs[i];
        return NULL;
}

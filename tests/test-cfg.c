/* SPDX-License-Identifier: MIT */
/*
 * test-cfg.c: the configuration: a file using every key read field by field,
 * the defaults, a table of bad configurations each checked for its exact
 * "FILE:LINE: KEY: reason" message, file handling (size limit, modes, relative
 * paths, $CREDENTIALS_DIRECTORY, @include), cfg_dump() round trips,
 * cfg_account_equal() against a change of every key, hook expansion, and that
 * the man page and the sample configuration cover the schema.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg-internal.h"
#include "cfg.h"
#include "macro.h"
#include "th.h"
#include "time-util.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static Cfg *load_ok(const char *text, const char *name) {
        _cleanup_free_ char *err = NULL;
        Cfg *c = NULL;
        int r;

        r = cfg_load_string(text, name, &c, &err);
        ck_assert_msg(r == 0, "unexpected error %d: %s\n--- config:\n%s", r, err ?: "(null)", text);
        ck_assert_ptr_null(err);
        ck_assert_ptr_nonnull(c);
        return c;
}

static char *load_err(const char *text) {
        Cfg *c = NULL;
        char *err = NULL;
        int r;

        r = cfg_load_string(text, "t.conf", &c, &err);
        ck_assert_msg(r == -EBADMSG, "expected -EBADMSG, got %d for:\n%s", r, text);
        ck_assert_ptr_null(c);
        ck_assert_ptr_nonnull(err);
        return err;
}

static char *dump_to_string(const Cfg *c) {
        char *s = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&s, &n);

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(cfg_dump(c, f), 0);
        ck_assert_int_eq(fclose(f), 0);
        return s;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode) {
        int fd;

        (void) unlink(path);    /* it may be read-only from the last call */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, len), (ssize_t) len);
        ck_assert_int_eq(fchmod(fd, mode), 0);
        ck_assert_int_eq(close(fd), 0);
}

static char tmpdir[64];

static void tmpdir_setup(void) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-cfg.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
        unsetenv("CREDENTIALS_DIRECTORY");
}

static void tmpdir_teardown(void) {
        /* Only names this test created, in a directory it created. */
        static const char *const names[] = { "a.conf", "inc.conf", "big.conf", "pw", "ca", "noexec",
                                             "imapidled-test-prog" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char path[128];

                snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
                (void) unlink(path);
        }
        ck_assert_int_eq(rmdir(tmpdir), 0);
}

static void env_setup(void) {
        unsetenv("CREDENTIALS_DIRECTORY");
}

/* ---- a file with every key -------------------------------------------------------------------- */

static const char full_conf[] =
        "# every key\n"                                                         /*  1 */
        "idle_interval = 600;\n"                                                /*  2 */
        "hook_timeout = 30; debounce = 0.25; max_delay = 10; max_concurrent_hooks = 8; max_connecting = 100000;"  /*  3 */
        " connect_timeout = 0.1; tls_timeout = 3600; greeting_timeout = 10; auth_timeout = 20.5;"
        " select_timeout = 45; done_timeout = 5; command_timeout = 90; liveness_interval = 300;"
        " keepalive_idle = 32767; keepalive_interval = 1; keepalive_count = 127; pass_env = [\"PASSWORD_STORE_DIR\"]; secret_cache = 600;\n"
        "accounts = (\n"                                                        /*  4 */
        "  {\n"                                                                 /*  5 */
        "    name = \"work\";\n"
        "    host = \"imap.example.org\";\n"
        "    port = \"1993\";\n"
        "    tls = \"starttls\";\n"
        "    allow_plaintext = true;\n"                                         /* 10 */
        "    ca_file = \"certs/ca.pem\";\n"
        "    client_cert = \"/etc/ssl/client.pem\";\n"
        "    client_key = \"client.key\";\n"
        "    username = \"me@example.org\";\n"
        "    password_command = [\"pass\", \"show\", \"mail/work\"];\n"         /* 15 */
        "    auth = [\"cram-md5\", \"Plain\"];\n"
        "    mailboxes = ( \"INBOX\",\n"
        "                  { name = \"Lists/dev\"; on_new = [\"notify\", \"%m\"]; on_flags = [\"f\"];"
        " desktop_notify = false; },\n"
        "                  { name = \"Archiv/Gr\xc3\xbc\" \"\xc3\x9f" "e\";"
        " on_expunge = { command = [\"log\", \"%a\"]; details = true; }; } );\n"
        "    on_new = [\"mbsync\", \"%a:%m\", \"100%%\"];\n"                    /* 20 */
        "    on_expunge = [\"mbsync\", \"-a\"];"
        " on_flags = { command = [\"flags\", \"%m\"]; details = false; uids = true; };\n"
        "    shell = false; startup_sync = true; details_max = 1000; desktop_notify = true;"
        " connect_timeout = 7; tls_timeout = 8; greeting_timeout = 9; auth_timeout = 10.25;\n"
        "    hook_timeout = 5; debounce = 0; select_timeout = 11; done_timeout = 0.5; command_timeout = 13;\n"
        "    idle_interval = 120; max_delay = 86400; liveness_interval = 0; keepalive_idle = 1;"
        " keepalive_interval = 32767; keepalive_count = 1; max_connections = 1000; status_interval = 86400;"
        " imap_notify = \"off\"; pass_env = [\"GNUPGHOME\", \"PASSWORD_STORE_DIR\"];\n"
        "  },\n"                                                                /* 25 */
        "  {\n"
        "    name = \"tun.1\";\n"
        "    tunnel = [\"ssh\", \"-q\", \"mail.example.org\", \"dovecot/imap\"];\n"
        "    username = \"x\";\n"
        "    password = \"s3cret\";\n"                                          /* 30 */
        "    on_new = \"notify-send \\\"$IMAPIDLED_MAILBOX\\\"\";\n"
        "    shell = true; on_flags = { command = \"echo \\\"$IMAPIDLED_MAILBOX\\\"\"; details = true;"
        " lock = \"flags.1\"; };\n"
        "  },\n"
        "  {\n"
        "    name = \"oauth\";\n"                                               /* 35 */
        "    host = \"outlook.office365.com\";\n"
        "    username = \"me@example.com\";\n"
        "    oauth2_token_command = [\"oauth2-token\", \"me\"];\n"
        "    auth = [\"XOAUTH2\", \"oauthbearer\"]; debounce = 2.5; details_max = 1;"
        " liveness_interval = 599.999; keepalive_idle = 60.0; max_connections = 1; status_interval = 1; secret_cache = 0;\n"
        "  },\n"                                                                /* 40 */
        "  { name = \"pwfile\"; host = \"192.0.2.1\"; username = \"u\"; password_file = \"/run/pw\";\n"
        "    tls = \"none\"; allow_plaintext = true; }\n"
        ");\n";

static void assert_strv(char **l, const char *const *want) {
        size_t i = 0;

        ck_assert_ptr_nonnull(l);
        for (; want[i]; i++) {
                ck_assert_ptr_nonnull(l[i]);
                ck_assert_str_eq(l[i], want[i]);
        }
        ck_assert_ptr_null(l[i]);
}

#define STRV(...) ((const char *const[]) { __VA_ARGS__, NULL })

START_TEST(test_full) {
        _cleanup_(cfg_freep) Cfg *c = load_ok(full_conf, "/etc/imapidled/imapidled.conf");
        const CfgAccount *a;

        ck_assert_str_eq(c->path, "/etc/imapidled/imapidled.conf");
        ck_assert_uint_eq(c->idle_interval_usec, 600 * USEC_PER_SEC);
        ck_assert_uint_eq(c->hook_timeout_usec, 30 * USEC_PER_SEC);
        ck_assert_uint_eq(c->debounce_usec, 250 * USEC_PER_MSEC);
        ck_assert_uint_eq(c->max_delay_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(c->max_concurrent_hooks, 8);
        ck_assert_uint_eq(c->max_connecting, 100000);
        ck_assert_uint_eq(c->live.connect_timeout_usec, 100 * USEC_PER_MSEC);
        ck_assert_uint_eq(c->live.tls_timeout_usec, 3600 * USEC_PER_SEC);
        ck_assert_uint_eq(c->live.greeting_timeout_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(c->live.auth_timeout_usec, 20500 * USEC_PER_MSEC);
        ck_assert_uint_eq(c->live.select_timeout_usec, 45 * USEC_PER_SEC);
        ck_assert_uint_eq(c->live.done_timeout_usec, 5 * USEC_PER_SEC);
        ck_assert_uint_eq(c->live.command_timeout_usec, 90 * USEC_PER_SEC);
        ck_assert_uint_eq(c->live.liveness_interval_usec, 300 * USEC_PER_SEC);
        ck_assert_uint_eq(c->live.keepalive_idle_usec, 32767 * USEC_PER_SEC);
        ck_assert_uint_eq(c->live.keepalive_interval_usec, 1 * USEC_PER_SEC);
        ck_assert_uint_eq(c->live.keepalive_count, 127);
        ck_assert_uint_eq(c->n_accounts, 4);
        ck_assert_uint_eq(c->n_warnings, 0);
        assert_strv(c->pass_env, STRV("PASSWORD_STORE_DIR"));

        a = &c->accounts[0];
        ck_assert_ptr_eq(cfg_find_account(c, "work"), a);
        ck_assert_str_eq(a->name, "work");
        ck_assert_uint_eq(a->line, 5);
        ck_assert_str_eq(a->host, "imap.example.org");
        ck_assert_str_eq(a->port, "1993");
        ck_assert_int_eq(a->tls, CFG_TLS_STARTTLS);
        ck_assert(a->allow_plaintext);
        ck_assert_str_eq(a->ca_file, "/etc/imapidled/certs/ca.pem");
        ck_assert_str_eq(a->client_cert, "/etc/ssl/client.pem");
        ck_assert_str_eq(a->client_key, "/etc/imapidled/client.key");
        ck_assert_str_eq(a->username, "me@example.org");
        ck_assert_ptr_null(a->password);
        ck_assert_ptr_null(a->password_file);
        assert_strv(a->password_command, STRV("pass", "show", "mail/work"));
        ck_assert_ptr_null(a->oauth2_token_command);
        ck_assert_uint_eq(a->secret_cache_usec, 600 * USEC_PER_SEC);         /* the top level's */
        ck_assert_ptr_null(a->tunnel);
        assert_strv(a->auth, STRV("CRAM-MD5", "PLAIN"));
        ck_assert_uint_eq(a->n_mailboxes, 3);
        ck_assert_str_eq(a->mailboxes[0].name, "INBOX");
        ck_assert_uint_eq(a->mailboxes[0].line, 17);
        ck_assert(!cfg_hook_is_set(&a->mailboxes[0].on_new));
        ck_assert(!cfg_hook_is_set(&a->mailboxes[0].on_expunge));
        ck_assert(!cfg_hook_is_set(&a->mailboxes[0].on_flags));
        ck_assert_str_eq(a->mailboxes[1].name, "Lists/dev");
        ck_assert_uint_eq(a->mailboxes[1].line, 18);
        assert_strv(a->mailboxes[1].on_new.argv, STRV("notify", "%m"));
        ck_assert(!a->mailboxes[1].on_new.details);
        ck_assert(!a->mailboxes[1].on_new.uids);
        ck_assert(!cfg_hook_is_set(&a->mailboxes[1].on_expunge));
        assert_strv(a->mailboxes[1].on_flags.argv, STRV("f"));
        ck_assert_str_eq(a->mailboxes[2].name, "Archiv/Gr\xc3\xbc\xc3\x9f" "e");
        ck_assert_uint_eq(a->mailboxes[2].line, 19);
        assert_strv(a->mailboxes[2].on_expunge.argv, STRV("log", "%a"));
        ck_assert_ptr_null(a->mailboxes[2].on_expunge.shell);
        ck_assert(a->mailboxes[2].on_expunge.details);
        /* details implies uids. */
        ck_assert(a->mailboxes[2].on_expunge.uids);
        ck_assert(!cfg_hook_is_set(&a->mailboxes[2].on_new));
        ck_assert(!cfg_hook_is_set(&a->mailboxes[2].on_flags));
        assert_strv(a->on_new.argv, STRV("mbsync", "%a:%m", "100%%"));
        ck_assert_ptr_null(a->on_new.shell);
        ck_assert(!a->on_new.details);
        ck_assert(!a->on_new.uids);
        assert_strv(a->on_expunge.argv, STRV("mbsync", "-a"));
        assert_strv(a->on_flags.argv, STRV("flags", "%m"));
        ck_assert(!a->on_flags.details);
        ck_assert(a->on_flags.uids);
        ck_assert(!a->shell);
        ck_assert(a->startup_sync);
        ck_assert_uint_eq(a->details_max, 1000);
        /* The account's desktop_notify, unless the mailbox says otherwise. */
        ck_assert(a->desktop_notify);
        ck_assert_int_eq(a->mailboxes[0].desktop_notify, CFG_TRI_UNSET);
        ck_assert_int_eq(a->mailboxes[1].desktop_notify, CFG_TRI_FALSE);
        ck_assert(cfg_mailbox_desktop_notify(a, &a->mailboxes[0]));
        ck_assert(!cfg_mailbox_desktop_notify(a, &a->mailboxes[1]));
        ck_assert(cfg_mailbox_desktop_notify(a, NULL));
        ck_assert(!cfg_mailbox_desktop_notify(NULL, &a->mailboxes[0]));
        ck_assert_uint_eq(a->hook_timeout_usec, 5 * USEC_PER_SEC);
        ck_assert_uint_eq(a->idle_interval_usec, 120 * USEC_PER_SEC);
        /* 0 is a value of its own, not "inherit the global 0.25". */
        ck_assert_uint_eq(a->debounce_usec, 0);
        ck_assert_uint_eq(a->max_delay_usec, 86400 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.connect_timeout_usec, 7 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.tls_timeout_usec, 8 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.greeting_timeout_usec, 9 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.auth_timeout_usec, 10250 * USEC_PER_MSEC);
        ck_assert_uint_eq(a->live.select_timeout_usec, 11 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.done_timeout_usec, 500 * USEC_PER_MSEC);
        ck_assert_uint_eq(a->live.command_timeout_usec, 13 * USEC_PER_SEC);
        /* 0 (off) is a value of its own too. */
        ck_assert_uint_eq(a->live.liveness_interval_usec, 0);
        ck_assert_uint_eq(a->live.keepalive_idle_usec, 1 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.keepalive_interval_usec, 32767 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.keepalive_count, 1);
        ck_assert_uint_eq(a->max_connections, 1000);
        ck_assert_uint_eq(a->status_interval_usec, 86400 * USEC_PER_SEC);
        /* The top level's first, then the account's own it does not name. */
        assert_strv(a->pass_env, STRV("PASSWORD_STORE_DIR", "GNUPGHOME"));

        /* The per-mailbox override wins; otherwise the account's hook. */
        ck_assert_ptr_eq(cfg_mailbox_hook(a, &a->mailboxes[1], CFG_EVENT_NEW), &a->mailboxes[1].on_new);
        ck_assert_ptr_eq(cfg_mailbox_hook(a, &a->mailboxes[1], CFG_EVENT_EXPUNGE), &a->on_expunge);
        ck_assert_ptr_eq(cfg_mailbox_hook(a, &a->mailboxes[2], CFG_EVENT_EXPUNGE), &a->mailboxes[2].on_expunge);
        ck_assert_ptr_eq(cfg_mailbox_hook(a, &a->mailboxes[0], CFG_EVENT_NEW), &a->on_new);
        ck_assert_ptr_eq(cfg_mailbox_hook(a, &a->mailboxes[1], CFG_EVENT_FLAGS), &a->mailboxes[1].on_flags);
        ck_assert_ptr_eq(cfg_mailbox_hook(a, &a->mailboxes[2], CFG_EVENT_FLAGS), &a->on_flags);
        ck_assert_ptr_eq(cfg_mailbox_hook(a, NULL, CFG_EVENT_FLAGS), &a->on_flags);
        ck_assert_ptr_null(cfg_mailbox_hook(a, &a->mailboxes[0], _CFG_EVENT_MAX));
        ck_assert_ptr_null(cfg_mailbox_hook(a, &a->mailboxes[0], _CFG_EVENT_INVALID));

        a = &c->accounts[1];
        ck_assert_ptr_eq(cfg_find_account(c, "tun.1"), a);
        ck_assert_uint_eq(a->line, 26);
        assert_strv(a->tunnel, STRV("ssh", "-q", "mail.example.org", "dovecot/imap"));
        ck_assert_ptr_null(a->host);
        ck_assert_ptr_null(a->port);
        ck_assert_int_eq(a->tls, CFG_TLS_NONE);
        ck_assert(!a->allow_plaintext);
        ck_assert_str_eq(a->username, "x");
        ck_assert_str_eq(a->password, "s3cret");
        ck_assert_str_eq(a->on_new.shell, "notify-send \"$IMAPIDLED_MAILBOX\"");
        ck_assert_ptr_null(a->on_new.argv);
        ck_assert(!cfg_hook_is_set(&a->on_expunge));
        ck_assert_ptr_null(cfg_mailbox_hook(a, &a->mailboxes[0], CFG_EVENT_EXPUNGE));
        ck_assert_str_eq(a->on_flags.shell, "echo \"$IMAPIDLED_MAILBOX\"");
        ck_assert_ptr_null(a->on_flags.argv);
        ck_assert(a->on_flags.details);
        ck_assert(a->on_flags.uids);
        ck_assert_str_eq(a->on_flags.lock, "flags.1");
        ck_assert_ptr_null(a->on_new.lock);
        ck_assert_ptr_eq(cfg_mailbox_hook(a, &a->mailboxes[0], CFG_EVENT_FLAGS), &a->on_flags);
        ck_assert(a->shell);
        ck_assert(!a->startup_sync);
        ck_assert_uint_eq(a->details_max, 20);
        ck_assert_uint_eq(a->n_mailboxes, 1);
        ck_assert_str_eq(a->mailboxes[0].name, "INBOX");
        /* Inherited from the top level. */
        ck_assert_uint_eq(a->hook_timeout_usec, 30 * USEC_PER_SEC);
        ck_assert_uint_eq(a->idle_interval_usec, 600 * USEC_PER_SEC);
        ck_assert_uint_eq(a->debounce_usec, 250 * USEC_PER_MSEC);
        ck_assert_uint_eq(a->max_delay_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.connect_timeout_usec, 100 * USEC_PER_MSEC);
        ck_assert_uint_eq(a->live.tls_timeout_usec, 3600 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.greeting_timeout_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.auth_timeout_usec, 20500 * USEC_PER_MSEC);
        ck_assert_uint_eq(a->live.select_timeout_usec, 45 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.done_timeout_usec, 5 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.command_timeout_usec, 90 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.liveness_interval_usec, 300 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.keepalive_idle_usec, 32767 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.keepalive_interval_usec, 1 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.keepalive_count, 127);
        /* Account-only keys: their defaults. */
        ck_assert_uint_eq(a->max_connections, 10);
        ck_assert_uint_eq(a->status_interval_usec, 60 * USEC_PER_SEC);
        assert_strv(a->pass_env, STRV("PASSWORD_STORE_DIR"));

        a = cfg_find_account(c, "oauth");
        ck_assert_ptr_eq(a, &c->accounts[2]);
        ck_assert_str_eq(a->port, "993");
        ck_assert_int_eq(a->tls, CFG_TLS_IMPLICIT);
        assert_strv(a->oauth2_token_command, STRV("oauth2-token", "me"));
        assert_strv(a->auth, STRV("XOAUTH2", "OAUTHBEARER"));
        ck_assert_uint_eq(a->secret_cache_usec, 0);
        ck_assert_uint_eq(a->debounce_usec, 2500 * USEC_PER_MSEC);
        ck_assert_uint_eq(a->max_delay_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(a->details_max, 1);
        ck_assert_uint_eq(a->live.liveness_interval_usec, 599999 * USEC_PER_MSEC);
        ck_assert_uint_eq(a->live.keepalive_idle_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(a->live.keepalive_interval_usec, 1 * USEC_PER_SEC);
        ck_assert_uint_eq(a->max_connections, 1);
        ck_assert_uint_eq(a->status_interval_usec, 1 * USEC_PER_SEC);
        ck_assert(!cfg_hook_is_set(&a->on_flags));
        ck_assert_ptr_null(cfg_mailbox_hook(a, &a->mailboxes[0], CFG_EVENT_FLAGS));

        a = cfg_find_account(c, "pwfile");
        ck_assert_ptr_eq(a, &c->accounts[3]);
        ck_assert_str_eq(a->host, "192.0.2.1");
        ck_assert_str_eq(a->port, "143");
        ck_assert_int_eq(a->tls, CFG_TLS_NONE);
        ck_assert(a->allow_plaintext);
        ck_assert_str_eq(a->password_file, "/run/pw");
        ck_assert_uint_eq(a->line, 41);

        ck_assert_ptr_null(cfg_find_account(c, "nope"));
        ck_assert_ptr_null(cfg_find_account(NULL, "work"));
}
END_TEST

/* The file above really uses every key of the schema. */
START_TEST(test_full_uses_every_key) {
        for (size_t i = 0; i < cfg_n_keys; i++) {
                char pat[64];

                snprintf(pat, sizeof(pat), "%s = ", cfg_keys[i].name);
                ck_assert_msg(strstr(full_conf, pat), "full_conf lacks '%s'", cfg_keys[i].name);
        }
}
END_TEST

static void assert_live_defaults(const CfgLiveness *l) {
        ck_assert_uint_eq(l->connect_timeout_usec, 30 * USEC_PER_SEC);
        ck_assert_uint_eq(l->tls_timeout_usec, 30 * USEC_PER_SEC);
        ck_assert_uint_eq(l->greeting_timeout_usec, 30 * USEC_PER_SEC);
        ck_assert_uint_eq(l->auth_timeout_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(l->select_timeout_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(l->done_timeout_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(l->command_timeout_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(l->liveness_interval_usec, 125 * USEC_PER_SEC);
        ck_assert_uint_eq(l->keepalive_idle_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(l->keepalive_interval_usec, 15 * USEC_PER_SEC);
        ck_assert_uint_eq(l->keepalive_count, 4);
}

START_TEST(test_defaults) {
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = ( { name = \"a\"; host = \"h\"; username = \"u\"; password = \"p\"; } );\n", "t.conf");
        const CfgAccount *a = &c->accounts[0];

        ck_assert_uint_eq(c->idle_interval_usec, 1740 * USEC_PER_SEC);
        ck_assert_uint_eq(c->hook_timeout_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(c->debounce_usec, 0);
        ck_assert_uint_eq(c->max_delay_usec, 30 * USEC_PER_SEC);
        ck_assert_uint_eq(c->max_concurrent_hooks, 4);
        ck_assert_uint_eq(c->max_connecting, 64);
        assert_live_defaults(&c->live);
        ck_assert_uint_eq(c->n_accounts, 1);
        ck_assert_str_eq(a->port, "993");
        ck_assert_int_eq(a->tls, CFG_TLS_IMPLICIT);
        ck_assert(!a->allow_plaintext);
        ck_assert(!a->shell);
        ck_assert_ptr_null(a->ca_file);
        ck_assert_ptr_null(a->client_cert);
        ck_assert_ptr_null(a->client_key);
        ck_assert_ptr_null(a->auth);
        ck_assert_ptr_null(a->tunnel);
        ck_assert(!cfg_hook_is_set(&a->on_new));
        ck_assert(!cfg_hook_is_set(&a->on_expunge));
        ck_assert(!cfg_hook_is_set(&a->on_flags));
        ck_assert(!a->startup_sync);
        ck_assert_uint_eq(a->details_max, 20);
        ck_assert_uint_eq(a->n_mailboxes, 1);
        ck_assert_str_eq(a->mailboxes[0].name, "INBOX");
        ck_assert_uint_eq(a->mailboxes[0].line, 1);
        ck_assert(!cfg_hook_is_set(&a->mailboxes[0].on_flags));
        ck_assert_uint_eq(a->hook_timeout_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(a->idle_interval_usec, 1740 * USEC_PER_SEC);
        ck_assert_uint_eq(a->debounce_usec, 0);
        ck_assert_uint_eq(a->max_delay_usec, 30 * USEC_PER_SEC);
        assert_live_defaults(&a->live);
        ck_assert_uint_eq(a->max_connections, 10);
        ck_assert_uint_eq(a->status_interval_usec, 60 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_defaults_follow) {
        /* Globals written after the accounts still reach them; STARTTLS defaults to 143; a port may be
         * a string; the limits themselves are accepted; a tunnel needs no host, username or secret. */
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = (\n"
                "  { name = \"a\"; host = \"h\"; username = \"u\"; password = \"p\"; tls = \"starttls\"; },\n"
                "  { name = \"b\"; host = \"h\"; username = \"u\"; password = \"p\"; port = \"0143\"; hook_timeout = 3600; },\n"
                "  { name = \"c\"; tunnel = [\"imapd\"]; idle_interval = 1; }\n"
                ");\n"
                "idle_interval = 1740;\n"
                "hook_timeout =\n"
                "  1;\n", "t.conf");

        ck_assert_str_eq(c->accounts[0].port, "143");
        ck_assert_uint_eq(c->accounts[0].hook_timeout_usec, 1 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[0].idle_interval_usec, 1740 * USEC_PER_SEC);
        ck_assert_str_eq(c->accounts[1].port, "143");
        ck_assert_uint_eq(c->accounts[1].hook_timeout_usec, 3600 * USEC_PER_SEC);
        ck_assert_ptr_null(c->accounts[2].username);
        ck_assert_ptr_null(c->accounts[2].host);
        ck_assert_uint_eq(c->accounts[2].idle_interval_usec, 1 * USEC_PER_SEC);
}
END_TEST

/* The limits of the scheduling keys and counts are accepted, and fractions are kept to the
 * millisecond; each value is read at the top level and in an account. */
#define ONE_ACCOUNT "accounts = ( { name = \"a\"; tunnel = [\"t\"]; %s } );\n"

static const struct {
        const char *global, *account;   /* settings at the top level and in the account */
        uint64_t debounce_ms, max_delay_ms;     /* the account's */
        unsigned max_concurrent_hooks, details_max, max_connecting;
} limits[] = {
        { "debounce = 0;",                         "",                            0,       30000, 4, 20, 64 },
        { "",                                      "debounce = 0;",               0,       30000, 4, 20, 64 },
        { "debounce = 3600; max_delay = 3600;",    "",                            3600000, 3600000, 4, 20, 64 },
        { "max_delay = 86400;",                    "debounce = 3600;",            3600000, 86400000, 4, 20, 64 },
        { "debounce = 0.25;",                      "",                            250,     30000, 4, 20, 64 },
        { "",                                      "debounce = 0.001;",           1,       30000, 4, 20, 64 },
        /* Finer than a millisecond: rounded. */
        { "debounce = 0.0004;",                    "",                            0,       30000, 4, 20, 64 },
        { "debounce = 0.0016;",                    "",                            2,       30000, 4, 20, 64 },
        { "debounce = 3600.0004; max_delay = 3600.0004;", "",                     3600000, 3600000, 4, 20, 64 },
        { "debounce = 0;",                         "max_delay = 0.9996;",         0,       1000,  4, 20, 64 },
        { "debounce = 0; max_delay = 1;",          "",                            0,       1000,  4, 20, 64 },
        { "",                                      "max_delay = 1.5; debounce = 1.5;", 1500, 1500, 4, 20, 64 },
        { "max_delay = 2e1;",                      "",                            0,       20000, 4, 20, 64 },
        { "max_concurrent_hooks = 1; max_connecting = 1;", "details_max = 1;",    0,       30000, 1, 1, 1 },
        { "max_concurrent_hooks = 1024; max_connecting = 100000;", "details_max = 1000;", 0, 30000, 1024, 1000, 100000 },
};

START_TEST(test_limits) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(cfg_freep) Cfg *c = NULL;
        const CfgAccount *a;

        ck_assert_int_ge(asprintf(&text, "%s\n" ONE_ACCOUNT, limits[_i].global, limits[_i].account), 0);
        c = load_ok(text, "t.conf");
        a = &c->accounts[0];
        ck_assert_uint_eq(a->debounce_usec, limits[_i].debounce_ms * USEC_PER_MSEC);
        ck_assert_uint_eq(a->max_delay_usec, limits[_i].max_delay_ms * USEC_PER_MSEC);
        ck_assert_uint_eq(c->max_concurrent_hooks, limits[_i].max_concurrent_hooks);
        ck_assert_uint_eq(a->details_max, limits[_i].details_max);
        ck_assert_uint_eq(c->max_connecting, limits[_i].max_connecting);
        /* Set at the top level: the same value there. */
        if (strstr(limits[_i].global, "debounce"))
                ck_assert_uint_eq(c->debounce_usec, limits[_i].debounce_ms * USEC_PER_MSEC);
        if (strstr(limits[_i].global, "max_delay"))
                ck_assert_uint_eq(c->max_delay_usec, limits[_i].max_delay_ms * USEC_PER_MSEC);
}
END_TEST

/* secret_cache: 300 s by default, 0 and 86400 accepted, an account inherits the top level's (also
 * when that is written after it) or sets its own. */
START_TEST(test_secret_cache) {
        static const struct {
                const char *text;
                uint64_t global_ms, account_ms[2];
        } cases[] = {
                { "accounts = ( { name = \"a\"; tunnel = [\"t\"]; }, { name = \"b\"; tunnel = [\"t\"]; } );\n",
                  300000, { 300000, 300000 } },
                { "accounts = ( { name = \"a\"; tunnel = [\"t\"]; secret_cache = 0; },\n"
                  "             { name = \"b\"; tunnel = [\"t\"]; } );\nsecret_cache = 86400;\n",
                  86400000, { 0, 86400000 } },
                { "secret_cache = 0;\naccounts = ( { name = \"a\"; tunnel = [\"t\"]; secret_cache = 2.5; },\n"
                  "             { name = \"b\"; tunnel = [\"t\"]; } );\n",
                  0, { 2500, 0 } },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(cfg_freep) Cfg *c = load_ok(cases[i].text, "t.conf");

                ck_assert_uint_eq(c->secret_cache_usec, cases[i].global_ms * USEC_PER_MSEC);
                ck_assert_uint_eq(c->accounts[0].secret_cache_usec, cases[i].account_ms[0] * USEC_PER_MSEC);
                ck_assert_uint_eq(c->accounts[1].secret_cache_usec, cases[i].account_ms[1] * USEC_PER_MSEC);
        }
}
END_TEST

/* The deadline, liveness and keepalive keys at their limits (and a few values between), each read
 * at the top level, where the account inherits it, and in the account, where the top level keeps
 * its default.  The field is named here by its offset in CfgLiveness, independently of the schema. */
#define LIVE(field) offsetof(CfgLiveness, field)
#define ONE_TCP_ACCOUNT "accounts = ( { name = \"a\"; host = \"h\"; username = \"u\"; password = \"p\"; %s } );\n"

static const struct {
        const char *setting;
        size_t offset;          /* in CfgLiveness */
        uint64_t want;          /* µs, or the count for keepalive_count */
        uint64_t def;           /* the default, the same way */
} live_limits[] = {
        { "connect_timeout = 0.1;",        LIVE(connect_timeout_usec),    100 * USEC_PER_MSEC,  30 * USEC_PER_SEC },
        { "connect_timeout = 3600;",       LIVE(connect_timeout_usec),    3600 * USEC_PER_SEC,  30 * USEC_PER_SEC },
        { "connect_timeout = 0.0996;",     LIVE(connect_timeout_usec),    100 * USEC_PER_MSEC,  30 * USEC_PER_SEC },
        { "tls_timeout = 0.1;",            LIVE(tls_timeout_usec),        100 * USEC_PER_MSEC,  30 * USEC_PER_SEC },
        { "tls_timeout = 3600.0;",         LIVE(tls_timeout_usec),        3600 * USEC_PER_SEC,  30 * USEC_PER_SEC },
        { "greeting_timeout = 0.1;",       LIVE(greeting_timeout_usec),   100 * USEC_PER_MSEC,  30 * USEC_PER_SEC },
        { "greeting_timeout = 3600;",      LIVE(greeting_timeout_usec),   3600 * USEC_PER_SEC,  30 * USEC_PER_SEC },
        { "auth_timeout = 0.1;",           LIVE(auth_timeout_usec),       100 * USEC_PER_MSEC,  60 * USEC_PER_SEC },
        { "auth_timeout = 3600;",          LIVE(auth_timeout_usec),       3600 * USEC_PER_SEC,  60 * USEC_PER_SEC },
        { "select_timeout = 0.1;",         LIVE(select_timeout_usec),     100 * USEC_PER_MSEC,  60 * USEC_PER_SEC },
        { "select_timeout = 3600;",        LIVE(select_timeout_usec),     3600 * USEC_PER_SEC,  60 * USEC_PER_SEC },
        { "done_timeout = 0.1;",           LIVE(done_timeout_usec),       100 * USEC_PER_MSEC,  10 * USEC_PER_SEC },
        { "done_timeout = 3600;",          LIVE(done_timeout_usec),       3600 * USEC_PER_SEC,  10 * USEC_PER_SEC },
        { "command_timeout = 0.1;",        LIVE(command_timeout_usec),    100 * USEC_PER_MSEC,  60 * USEC_PER_SEC },
        { "command_timeout = 3600;",       LIVE(command_timeout_usec),    3600 * USEC_PER_SEC,  60 * USEC_PER_SEC },
        { "command_timeout = 1.234;",      LIVE(command_timeout_usec),    1234 * USEC_PER_MSEC, 60 * USEC_PER_SEC },
        /* 0 is off; below 1 ms rounds to it. */
        { "liveness_interval = 0;",        LIVE(liveness_interval_usec),  0,                    125 * USEC_PER_SEC },
        { "liveness_interval = 0.0;",      LIVE(liveness_interval_usec),  0,                    125 * USEC_PER_SEC },
        { "liveness_interval = 0.0004;",   LIVE(liveness_interval_usec),  0,                    125 * USEC_PER_SEC },
        { "liveness_interval = 0.1;",      LIVE(liveness_interval_usec),  100 * USEC_PER_MSEC,  125 * USEC_PER_SEC },
        { "liveness_interval = 1739.999;", LIVE(liveness_interval_usec),  1739999 * USEC_PER_MSEC, 125 * USEC_PER_SEC },
        { "keepalive_idle = 1;",           LIVE(keepalive_idle_usec),     1 * USEC_PER_SEC,     60 * USEC_PER_SEC },
        { "keepalive_idle = 32767;",       LIVE(keepalive_idle_usec),     32767 * USEC_PER_SEC, 60 * USEC_PER_SEC },
        { "keepalive_idle = 7.0;",         LIVE(keepalive_idle_usec),     7 * USEC_PER_SEC,     60 * USEC_PER_SEC },
        { "keepalive_interval = 1;",       LIVE(keepalive_interval_usec), 1 * USEC_PER_SEC,     15 * USEC_PER_SEC },
        { "keepalive_interval = 32767;",   LIVE(keepalive_interval_usec), 32767 * USEC_PER_SEC, 15 * USEC_PER_SEC },
        { "keepalive_count = 1;",          LIVE(keepalive_count),         1,                    4 },
        { "keepalive_count = 127;",        LIVE(keepalive_count),         127,                  4 },
};

static uint64_t live_get(const CfgLiveness *l, size_t offset) {
        const uint8_t *p = (const uint8_t *) l + offset;

        if (offset == offsetof(CfgLiveness, keepalive_count))
                return *(const unsigned *) (const void *) p;
        return *(const uint64_t *) (const void *) p;
}

START_TEST(test_live_limits) {
        _cleanup_free_ char *global = NULL, *account = NULL;
        _cleanup_(cfg_freep) Cfg *g = NULL, *a = NULL;

        ck_assert_int_ge(asprintf(&global, "%s\n" ONE_TCP_ACCOUNT, live_limits[_i].setting, ""), 0);
        g = load_ok(global, "t.conf");
        ck_assert_uint_eq(live_get(&g->live, live_limits[_i].offset), live_limits[_i].want);
        ck_assert_uint_eq(live_get(&g->accounts[0].live, live_limits[_i].offset), live_limits[_i].want);

        ck_assert_int_ge(asprintf(&account, ONE_TCP_ACCOUNT, live_limits[_i].setting), 0);
        a = load_ok(account, "t.conf");
        ck_assert_uint_eq(live_get(&a->live, live_limits[_i].offset), live_limits[_i].def);
        ck_assert_uint_eq(live_get(&a->accounts[0].live, live_limits[_i].offset), live_limits[_i].want);
}
END_TEST

START_TEST(test_budget_limits) {
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = (\n"
                "  { name = \"a\"; tunnel = [\"t\"]; max_connections = 1; status_interval = 1; },\n"
                "  { name = \"b\"; tunnel = [\"t\"]; max_connections = 1000; status_interval = 86400; },\n"
                "  { name = \"c\"; tunnel = [\"t\"]; status_interval = 2.5; }\n"
                ");\n", "t.conf");

        ck_assert_uint_eq(c->accounts[0].max_connections, 1);
        ck_assert_uint_eq(c->accounts[0].status_interval_usec, 1 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[1].max_connections, 1000);
        ck_assert_uint_eq(c->accounts[1].status_interval_usec, 86400 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[2].max_connections, 10);
        ck_assert_uint_eq(c->accounts[2].status_interval_usec, 2500 * USEC_PER_MSEC);
}
END_TEST

/* Ten thousand accounts, one per line, the last one's name optionally that of account 'dup'; and an
 * account with as many mailboxes, the last one optionally a second "inbox". */
#define MANY 10000

static char *many_accounts(long dup) {
        char *text = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&text, &n);

        ck_assert_ptr_nonnull(f);
        fputs("accounts = (\n", f);
        for (long i = 0; i < MANY; i++)
                fprintf(f, "  { name = \"a%ld\"; host = \"h\"; port = %ld; username = \"u\"; password = \"p\"; }%s\n",
                        i == MANY - 1 && dup >= 0 ? dup : i, 1 + i % 65535, i + 1 < MANY ? "," : "");
        fputs(");\n", f);
        ck_assert_int_eq(fclose(f), 0);
        return text;
}

static char *many_mailboxes(bool dup) {
        char *text = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&text, &n);

        ck_assert_ptr_nonnull(f);
        fputs("accounts = ( { name = \"a\"; tunnel = [\"t\"]; mailboxes = (\n", f);
        for (long i = 0; i < MANY; i++)
                if (i == 0)
                        fputs("  \"INBOX\",\n", f);
                else if (i == MANY - 1 && dup)
                        fputs("  \"inbox\"", f);
                else
                        fprintf(f, "  \"m%ld\"%s", i, i + 1 < MANY ? ",\n" : "");
        /* On the last name's line: libconfig gives an element the line of the token after it. */
        fputs(" ); } );\n", f);
        ck_assert_int_eq(fclose(f), 0);
        return text;
}

START_TEST(test_many) {
        _cleanup_free_ char *text = many_accounts(-1), *dup = many_accounts(4321), *err = NULL, *want = NULL;
        _cleanup_free_ char *mtext = many_mailboxes(false), *mdup = many_mailboxes(true);
        _cleanup_(cfg_freep) Cfg *c = load_ok(text, "t.conf");

        ck_assert_uint_eq(c->n_accounts, MANY);
        for (size_t i = 0; i < MANY; i += 997) {
                char name[32];

                snprintf(name, sizeof(name), "a%zu", i);
                ck_assert_ptr_eq(cfg_find_account(c, name), &c->accounts[i]);
                ck_assert_uint_eq(c->accounts[i].line, i + 2);
                ck_assert_uint_eq(strtoul(c->accounts[i].port, NULL, 10), 1 + i % 65535);
        }
        c = cfg_free(c);

        /* The duplicate is found however far apart the two are. */
        err = load_err(dup);
        ck_assert_int_ge(asprintf(&want, "t.conf:%d: account \"a4321\": name: another account has this name "
                                  "(line %d)", MANY + 1, 4321 + 2), 0);
        ck_assert_str_eq(err, want);
        err = mfree(err);
        want = mfree(want);

        c = load_ok(mtext, "t.conf");
        ck_assert_uint_eq(c->accounts[0].n_mailboxes, MANY);
        ck_assert_str_eq(c->accounts[0].mailboxes[MANY - 1].name, "m9999");
        c = cfg_free(c);
        err = load_err(mdup);
        ck_assert_int_ge(asprintf(&want, "t.conf:%d: account \"a\": mailboxes[%d]: the mailbox is listed twice "
                                  "(also at line 2)", MANY + 1, MANY - 1), 0);
        ck_assert_str_eq(err, want);
}
END_TEST

/* Descriptors: one per connection, min(mailboxes, max_connections) connections per account; the
 * hooks and the connecting connections by their bounds; the reserve. */
START_TEST(test_mailbox_patterns) {
        /* A name with '*' or '%' is a LIST pattern (RFC 3501 §6.3.8); its hooks go to
         * every mailbox it matches; it may match any number, so the descriptor
         * budget counts max_connections. */
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = ( { name = \"a\"; tunnel = [\"t\"]; max_connections = 4;\n"
                "  mailboxes = ( \"INBOX\", { name = \"Lists/*\"; on_new = [\"/bin/true\"]; }, \"%\" ); } );\n",
                "t.conf");
        CfgFdNeed n;

        ck_assert_uint_eq(c->accounts[0].n_mailboxes, 3);
        ck_assert_uint_eq(c->accounts[0].n_patterns, 2);
        ck_assert(!c->accounts[0].mailboxes[0].pattern);
        ck_assert(c->accounts[0].mailboxes[1].pattern);
        ck_assert(c->accounts[0].mailboxes[2].pattern);
        ck_assert_ptr_nonnull(c->accounts[0].mailboxes[1].on_new.argv);
        ck_assert_int_eq(cfg_descriptors_needed(c, &n), 0);
        ck_assert_uint_eq(n.connections, 4);
}
END_TEST

START_TEST(test_descriptors) {
        _cleanup_free_ char *many = many_accounts(-1);
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "max_concurrent_hooks = 3;\n"
                "accounts = (\n"
                "  { name = \"a\"; tunnel = [\"t\"]; mailboxes = [\"1\", \"2\", \"3\"]; },\n"
                /* exactly at the budget, one over it, far over it */
                "  { name = \"b\"; tunnel = [\"t\"]; max_connections = 2; mailboxes = [\"1\", \"2\"]; },\n"
                "  { name = \"c\"; tunnel = [\"t\"]; max_connections = 2; mailboxes = [\"1\", \"2\", \"3\"]; },\n"
                "  { name = \"d\"; host = \"h\"; username = \"u\"; password = \"p\"; max_connections = 1;\n"
                "    mailboxes = [\"1\", \"2\", \"3\", \"4\", \"5\"]; },\n"
                "  { name = \"e\"; tunnel = [\"t\"]; }\n"
                ");\n", "t.conf");
        CfgFdNeed n;

        ck_assert_int_eq(cfg_descriptors_needed(c, &n), 0);
        ck_assert_uint_eq(n.connections, 3 + 2 + 2 + 1 + 1);
        ck_assert_uint_eq(n.hooks, 3 * CFG_FDS_PER_HOOK);
        /* max_connecting (64) is more than there are connections. */
        ck_assert_uint_eq(n.connecting, 9 * CFG_FDS_PER_CONNECTING);
        ck_assert_uint_eq(n.reserve, CFG_FDS_RESERVE);
        ck_assert_uint_eq(n.total, n.connections + n.hooks + n.connecting + n.reserve);
        c = cfg_free(c);

        c = load_ok(many, "t.conf");
        ck_assert_int_eq(cfg_descriptors_needed(c, &n), 0);
        ck_assert_uint_eq(n.connections, MANY);
        ck_assert_uint_eq(n.hooks, 4 * CFG_FDS_PER_HOOK);
        ck_assert_uint_eq(n.connecting, 64 * CFG_FDS_PER_CONNECTING);
        ck_assert_uint_eq(n.total, MANY + 4 * CFG_FDS_PER_HOOK + 64 * CFG_FDS_PER_CONNECTING + CFG_FDS_RESERVE);
        c = cfg_free(c);

        /* max_connecting bounds the connecting ones, at its limits too. */
        c = load_ok("max_connecting = 1; max_concurrent_hooks = 1024;\n"
                    "accounts = ( { name = \"a\"; tunnel = [\"t\"]; mailboxes = [\"1\", \"2\"]; } );\n", "t.conf");
        ck_assert_int_eq(cfg_descriptors_needed(c, &n), 0);
        ck_assert_uint_eq(n.connections, 2);
        ck_assert_uint_eq(n.connecting, 1 * CFG_FDS_PER_CONNECTING);
        ck_assert_uint_eq(n.hooks, 1024 * CFG_FDS_PER_HOOK);
        c = cfg_free(c);
        c = load_ok("max_connecting = 100000;\n"
                    "accounts = ( { name = \"a\"; tunnel = [\"t\"]; mailboxes = [\"1\", \"2\"]; } );\n", "t.conf");
        ck_assert_int_eq(cfg_descriptors_needed(c, &n), 0);
        ck_assert_uint_eq(n.connecting, 2 * CFG_FDS_PER_CONNECTING);

        ck_assert_int_eq(cfg_descriptors_needed(NULL, &n), -EINVAL);
        ck_assert_int_eq(cfg_descriptors_needed(c, NULL), -EINVAL);
}
END_TEST

/* Accounts take every deadline and keepalive setting of the top level, also when it is written after
 * them, unless they set their own; a tunnel account takes those it cannot set too. */
START_TEST(test_inherit_live) {
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = (\n"
                "  { name = \"a\"; tunnel = [\"t\"]; },\n"
                "  { name = \"b\"; host = \"h\"; username = \"u\"; password = \"p\";\n"
                "    connect_timeout = 1; tls_timeout = 2; greeting_timeout = 3; auth_timeout = 4;\n"
                "    select_timeout = 5; done_timeout = 6; command_timeout = 7; liveness_interval = 0;\n"
                "    keepalive_idle = 9; keepalive_interval = 10; keepalive_count = 11; }\n"
                ");\n"
                "connect_timeout = 101; tls_timeout = 102; greeting_timeout = 103; auth_timeout = 104;\n"
                "select_timeout = 105; done_timeout = 106; command_timeout = 107; liveness_interval = 108;\n"
                "keepalive_idle = 109; keepalive_interval = 110; keepalive_count = 111;\n", "t.conf");
        const CfgLiveness *l;

        for (size_t i = 0; i < 2; i++) {
                l = i == 0 ? &c->live : &c->accounts[0].live;
                ck_assert_uint_eq(l->connect_timeout_usec, 101 * USEC_PER_SEC);
                ck_assert_uint_eq(l->tls_timeout_usec, 102 * USEC_PER_SEC);
                ck_assert_uint_eq(l->greeting_timeout_usec, 103 * USEC_PER_SEC);
                ck_assert_uint_eq(l->auth_timeout_usec, 104 * USEC_PER_SEC);
                ck_assert_uint_eq(l->select_timeout_usec, 105 * USEC_PER_SEC);
                ck_assert_uint_eq(l->done_timeout_usec, 106 * USEC_PER_SEC);
                ck_assert_uint_eq(l->command_timeout_usec, 107 * USEC_PER_SEC);
                ck_assert_uint_eq(l->liveness_interval_usec, 108 * USEC_PER_SEC);
                ck_assert_uint_eq(l->keepalive_idle_usec, 109 * USEC_PER_SEC);
                ck_assert_uint_eq(l->keepalive_interval_usec, 110 * USEC_PER_SEC);
                ck_assert_uint_eq(l->keepalive_count, 111);
        }
        l = &c->accounts[1].live;
        ck_assert_uint_eq(l->connect_timeout_usec, 1 * USEC_PER_SEC);
        ck_assert_uint_eq(l->tls_timeout_usec, 2 * USEC_PER_SEC);
        ck_assert_uint_eq(l->greeting_timeout_usec, 3 * USEC_PER_SEC);
        ck_assert_uint_eq(l->auth_timeout_usec, 4 * USEC_PER_SEC);
        ck_assert_uint_eq(l->select_timeout_usec, 5 * USEC_PER_SEC);
        ck_assert_uint_eq(l->done_timeout_usec, 6 * USEC_PER_SEC);
        ck_assert_uint_eq(l->command_timeout_usec, 7 * USEC_PER_SEC);
        ck_assert_uint_eq(l->liveness_interval_usec, 0);
        ck_assert_uint_eq(l->keepalive_idle_usec, 9 * USEC_PER_SEC);
        ck_assert_uint_eq(l->keepalive_interval_usec, 10 * USEC_PER_SEC);
        ck_assert_uint_eq(l->keepalive_count, 11);
}
END_TEST

/* liveness_interval versus idle_interval when it is valid: a written value below idle_interval is
 * kept (also 0, also inherited); the default gives way to a short idle_interval (off), judged per
 * account. */
static const struct {
        const char *global, *account;           /* settings at the top level and in the account */
        uint64_t global_ms, account_ms;         /* liveness_interval after loading */
} liveness_ok[] = {
        { "",                                                   "",                     125000, 125000 },
        { "idle_interval = 126;",                               "",                     125000, 125000 },
        { "idle_interval = 125;",                               "",                     0,      0 },
        { "idle_interval = 60;",                                "",                     0,      0 },
        { "idle_interval = 60;",                                "idle_interval = 1740;", 0,     125000 },
        { "",                                                   "idle_interval = 125;", 125000, 0 },
        { "liveness_interval = 0; idle_interval = 1;",          "",                     0,      0 },
        { "liveness_interval = 59.999; idle_interval = 60;",    "",                     59999,  59999 },
        { "liveness_interval = 30;",                            "idle_interval = 31;",  30000,  30000 },
        { "liveness_interval = 1739.999;",                      "",                     1739999, 1739999 },
        { "idle_interval = 100; liveness_interval = 99;",       "",                     99000,  99000 },
        { "liveness_interval = 300;",                           "idle_interval = 10; liveness_interval = 0;",
                                                                                        300000, 0 },
};

START_TEST(test_liveness_ok) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(cfg_freep) Cfg *c = NULL;

        ck_assert_int_ge(asprintf(&text, "%s\n" ONE_TCP_ACCOUNT, liveness_ok[_i].global, liveness_ok[_i].account), 0);
        c = load_ok(text, "t.conf");
        ck_assert_uint_eq(c->live.liveness_interval_usec, liveness_ok[_i].global_ms * USEC_PER_MSEC);
        ck_assert_uint_eq(c->accounts[0].live.liveness_interval_usec, liveness_ok[_i].account_ms * USEC_PER_MSEC);
}
END_TEST

/* The same in accounts: the default is judged against each account's own idle_interval. */
START_TEST(test_liveness_accounts) {
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = (\n"
                "  { name = \"a\"; tunnel = [\"t\"]; idle_interval = 100; },\n"
                "  { name = \"b\"; tunnel = [\"t\"]; idle_interval = 126; },\n"
                "  { name = \"c\"; tunnel = [\"t\"]; idle_interval = 100; liveness_interval = 99.999; },\n"
                "  { name = \"d\"; tunnel = [\"t\"]; liveness_interval = 0; }\n"
                ");\n", "t.conf");
        _cleanup_(cfg_freep) Cfg *d = load_ok(
                "liveness_interval = 50;\n"
                "accounts = (\n"
                "  { name = \"a\"; tunnel = [\"t\"]; idle_interval = 51; },\n"
                "  { name = \"b\"; tunnel = [\"t\"]; idle_interval = 50; liveness_interval = 0; }\n"
                ");\n"
                "idle_interval = 60;\n", "t.conf");

        ck_assert_uint_eq(c->live.liveness_interval_usec, 125 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[0].live.liveness_interval_usec, 0);
        ck_assert_uint_eq(c->accounts[1].live.liveness_interval_usec, 125 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[2].live.liveness_interval_usec, 99999 * USEC_PER_MSEC);
        ck_assert_uint_eq(c->accounts[3].live.liveness_interval_usec, 0);
        ck_assert_uint_eq(d->live.liveness_interval_usec, 50 * USEC_PER_SEC);
        ck_assert_uint_eq(d->accounts[0].live.liveness_interval_usec, 50 * USEC_PER_SEC);
        ck_assert_uint_eq(d->accounts[1].live.liveness_interval_usec, 0);
}
END_TEST

START_TEST(test_inherit) {
        /* The top-level values come after the accounts and still reach those that do not set their own;
         * an account's own 0 is kept, not taken for "unset". */
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = (\n"
                "  { name = \"a\"; tunnel = [\"t\"]; },\n"
                "  { name = \"b\"; tunnel = [\"t\"]; debounce = 0; },\n"
                "  { name = \"c\"; tunnel = [\"t\"]; max_delay = 7.5; debounce = 7.5; }\n"
                ");\n"
                "debounce = 5;\n"
                "max_delay = 100;\n", "t.conf");

        ck_assert_uint_eq(c->debounce_usec, 5 * USEC_PER_SEC);
        ck_assert_uint_eq(c->max_delay_usec, 100 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[0].debounce_usec, 5 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[0].max_delay_usec, 100 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[1].debounce_usec, 0);
        ck_assert_uint_eq(c->accounts[1].max_delay_usec, 100 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[2].debounce_usec, 7500 * USEC_PER_MSEC);
        ck_assert_uint_eq(c->accounts[2].max_delay_usec, 7500 * USEC_PER_MSEC);
}
END_TEST

/* pass_env: an account adds to the top level's list; neither set is no list at all. */
START_TEST(test_pass_env) {
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = (\n"
                "  { name = \"a\"; tunnel = [\"t\"]; pass_env = [\"SSH_AUTH_SOCK\", \"GNUPGHOME\"]; },\n"
                "  { name = \"b\"; tunnel = [\"t\"]; },\n"
                "  { name = \"c\"; tunnel = [\"t\"]; pass_env = [\"http_proxy\", \"_X1\"]; }\n"
                ");\n"
                "pass_env = [\"GNUPGHOME\", \"PASSWORD_STORE_DIR\", \"PATH\"];\n", "t.conf");
        _cleanup_(cfg_freep) Cfg *d = load_ok(
                "accounts = ( { name = \"a\"; tunnel = [\"t\"]; pass_env = [\"X\"]; },\n"
                "  { name = \"b\"; tunnel = [\"t\"]; } );\n", "t.conf");

        /* The top level's, as written (after the accounts: it still counts for them). */
        assert_strv(c->pass_env, STRV("GNUPGHOME", "PASSWORD_STORE_DIR", "PATH"));
        /* Named at both levels: once. */
        assert_strv(c->accounts[0].pass_env, STRV("GNUPGHOME", "PASSWORD_STORE_DIR", "PATH", "SSH_AUTH_SOCK"));
        assert_strv(c->accounts[1].pass_env, STRV("GNUPGHOME", "PASSWORD_STORE_DIR", "PATH"));
        assert_strv(c->accounts[2].pass_env, STRV("GNUPGHOME", "PASSWORD_STORE_DIR", "PATH", "http_proxy", "_X1"));
        ck_assert_ptr_null(d->pass_env);
        assert_strv(d->accounts[0].pass_env, STRV("X"));
        ck_assert_ptr_null(d->accounts[1].pass_env);
}
END_TEST

/* Every key that inherits has a top-level twin of the same type, whose value it takes. */
START_TEST(test_inherit_schema) {
        size_t n = 0;

        for (size_t i = 0; i < cfg_n_keys; i++) {
                const CfgKey *g;

                if (!(cfg_keys[i].flags & CFG_KEY_INHERIT))
                        continue;
                ck_assert_int_eq(cfg_keys[i].scope, CFG_SCOPE_ACCOUNT);
                g = cfg_key_lookup(CFG_SCOPE_GLOBAL, cfg_keys[i].name);
                ck_assert_msg(g && g->type == cfg_keys[i].type, "%s has no top-level twin", cfg_keys[i].name);
                ck_assert(g->min == cfg_keys[i].min && g->max == cfg_keys[i].max);
                /* The same rules about 0 in both places. */
                ck_assert_uint_eq(g->flags & (CFG_KEY_DEADLINE | CFG_KEY_ZERO_OFF),
                                  cfg_keys[i].flags & (CFG_KEY_DEADLINE | CFG_KEY_ZERO_OFF));
                n++;
        }
        ck_assert_uint_eq(n, 16);
}
END_TEST

/* ---- bad configurations ----------------------------------------------------------------------- */

/* An account that is valid by itself; the bad key goes on line 6. */
#define ACCOUNT(...)                            \
        "accounts = ( {\n"                      \
        "  name = \"w\";\n"                     \
        "  host = \"h\";\n"                     \
        "  username = \"u\";\n"                 \
        "  password = \"p\";\n"                 \
        __VA_ARGS__                             \
        "} );\n"

static const struct {
        const char *text;
        const char *error;
} bad[] = {
        /* syntax, reported by libconfig */
        { "idle_interval = 10;\naccounts = ( {\n  name = \"w\";\n  host = h;\n} );\n",
          "t.conf:4: syntax error" },
        { "idle_interval = 1;\nidle_interval = 2;\n",
          "t.conf:2: duplicate setting name" },
        { "accounts = ( { on_new = [\"a\", 1]; } );\n",
          "t.conf:1: mismatched element type in array" },
        /* unknown keys */
        { "idle_intervall = 10;\n" ACCOUNT(),
          "t.conf:1: idle_intervall: unknown key, did you mean 'idle_interval'?" },
        { "acounts = ();\n",
          "t.conf:1: acounts: unknown key, did you mean 'accounts'?" },
        { "host = \"x\";\n",
          "t.conf:1: host: unknown key at the top level; it belongs inside an account: accounts = ( { host = ...; } );" },
        { "verbose = true;\n",
          "t.conf:1: verbose: unknown key" },
        { ACCOUNT("  pasword = \"x\";\n"),
          "t.conf:6: account \"w\": unknown key 'pasword', did you mean 'password'?" },
        { ACCOUNT("  usrname = \"x\";\n"),
          "t.conf:6: account \"w\": unknown key 'usrname', did you mean 'username'?" },
        { ACCOUNT("  frobnicate = 1;\n"),
          "t.conf:6: account \"w\": unknown key 'frobnicate'" },
        { ACCOUNT("  mailboxes = ( { name = \"x\";\n shell = true; } );\n"),
          "t.conf:7: account \"w\": mailboxes[0]: unknown key 'shell' (a mailbox has only name, on_new, on_expunge and on_flags)" },
        /* pass_env: shell variable names, never the loader's, the daemon's own or systemd's */
        { ACCOUNT("  pass_env = [\"LD_PRELOAD\"];\n"),
          "t.conf:6: account \"w\": pass_env[0]: 'LD_PRELOAD' names a variable of the dynamic loader (LD_*), which would "
          "load code into every hook" },
        { ACCOUNT("  pass_env = [\"HOME\",\n    \"LD_LIBRARY_PATH\"];\n"),
          "t.conf:7: account \"w\": pass_env[1]: 'LD_LIBRARY_PATH' names a variable of the dynamic loader (LD_*), which "
          "would load code into every hook" },
        { "pass_env = [\"LD_PRELOAD\"];\n" ACCOUNT(),
          "t.conf:1: pass_env[0]: 'LD_PRELOAD' names a variable of the dynamic loader (LD_*), which would load code "
          "into every hook" },
        { "pass_env = [\"PATH\", \"IMAPIDLED_MAILBOX\"];\n" ACCOUNT(),
          "t.conf:1: pass_env[1]: 'IMAPIDLED_MAILBOX' names an IMAPIDLED_* variable, which only the daemon sets "
          "(docs/HOOKS.md)" },
        { ACCOUNT("  pass_env = [\"NOTIFY_SOCKET\"];\n"),
          "t.conf:6: account \"w\": pass_env[0]: 'NOTIFY_SOCKET' names a variable that ties the daemon to systemd; a hook "
          "must not act on it" },
        { ACCOUNT("  pass_env = [\"CREDENTIALS_DIRECTORY\"];\n"),
          "t.conf:6: account \"w\": pass_env[0]: 'CREDENTIALS_DIRECTORY' names a variable that ties the daemon to "
          "systemd; a hook must not act on it" },
        { ACCOUNT("  pass_env = [\"GNUPG-HOME\"];\n"),
          "t.conf:6: account \"w\": pass_env[0]: 'GNUPG-HOME' is not a variable name: it may contain only A-Z, a-z, 0-9 "
          "and '_'" },
        { ACCOUNT("  pass_env = [\"A=B\"];\n"),
          "t.conf:6: account \"w\": pass_env[0]: 'A=B' is not a variable name: it may contain only A-Z, a-z, 0-9 and '_'" },
        { ACCOUNT("  pass_env = [\"1X\"];\n"),
          "t.conf:6: account \"w\": pass_env[0]: '1X' is not a variable name: it must start with a letter or '_'" },
        { ACCOUNT("  pass_env = [\"\\tX\"];\n"),
          "t.conf:6: account \"w\": pass_env[0]: this is not a variable name: it must start with a letter or '_'" },
        { ACCOUNT("  pass_env = [\"\"];\n"),
          "t.conf:6: account \"w\": pass_env[0]: must not be empty" },
        { ACCOUNT("  pass_env = [\"X\", \"Y\", \"X\"];\n"),
          "t.conf:6: account \"w\": pass_env[2]: X is listed twice" },
        { ACCOUNT("  pass_env = \"X\";\n"),
          "t.conf:6: account \"w\": pass_env: must be a list of environment variable names, not a string" },
        { ACCOUNT("  pass_env = [];\n"),
          "t.conf:6: account \"w\": pass_env: must not be an empty list" },
        /* numbers */
        { "idle_interval = \"10\";\n" ACCOUNT(),
          "t.conf:1: idle_interval: must be an integer, not a string" },
        { "idle_interval = 0;\n" ACCOUNT(),
          "t.conf:1: idle_interval: 0 is out of range: must be 1..1740 seconds" },
        { "idle_interval = 1741;\n" ACCOUNT(),
          "t.conf:1: idle_interval: 1741 is out of range: must be 1..1740 seconds" },
        { "idle_interval = -5;\n" ACCOUNT(),
          "t.conf:1: idle_interval: -5 is out of range: must be 1..1740 seconds" },
        { "hook_timeout = 3601;\n" ACCOUNT(),
          "t.conf:1: hook_timeout: 3601 is out of range: must be 1..3600 seconds" },
        { "hook_timeout = 1.5;\n" ACCOUNT(),
          "t.conf:1: hook_timeout: must be a whole number of seconds, not 1.5" },
        /* libconfig 1.5 reads this as 60 (it wraps at 32 bits) */
        { "hook_timeout = 4294967356;\n" ACCOUNT(),
          "t.conf:1: hook_timeout: number too large" },
        { "hook_timeout = 0x10000003c;\n" ACCOUNT(),
          "t.conf:1: hook_timeout: number too large" },
        { ACCOUNT("  idle_interval = 0;\n"),
          "t.conf:6: account \"w\": idle_interval: 0 is out of range: must be 1..1740 seconds" },
        { ACCOUNT("  hook_timeout = 9000;\n"),
          "t.conf:6: account \"w\": hook_timeout: 9000 is out of range: must be 1..3600 seconds" },
        { ACCOUNT("  port = 0;\n"),
          "t.conf:6: account \"w\": port: 0 is out of range: must be 1..65535" },
        { ACCOUNT("  port = 65536;\n"),
          "t.conf:6: account \"w\": port: 65536 is out of range: must be 1..65535" },
        { ACCOUNT("  port = 4294967297;\n"),
          "t.conf:6: account \"w\": port: number too large" },
        { ACCOUNT("  port = \"imaps\";\n"),
          "t.conf:6: account \"w\": port: must be a number from 1 to 65535" },
        { ACCOUNT("  port = \"99999\";\n"),
          "t.conf:6: account \"w\": port: 99999 is out of range: must be 1..65535" },
        { ACCOUNT("  port = true;\n"),
          "t.conf:6: account \"w\": port: must be an integer or a string of digits, not a boolean" },
        /* strings and booleans */
        { ACCOUNT("  tls = \"bogus\";\n"),
          "t.conf:6: account \"w\": tls: must be \"implicit\", \"starttls\" or \"none\"" },
        { ACCOUNT("  tls = \"none\";\n"),
          "t.conf:6: account \"w\": tls: \"none\" sends the password and the mail in clear text; it needs allow_plaintext = true" },
        { ACCOUNT("  tls = \"none\";\n  allow_plaintext = false;\n"),
          "t.conf:6: account \"w\": tls: \"none\" sends the password and the mail in clear text; it needs allow_plaintext = true" },
        { ACCOUNT("  allow_plaintext = \"yes\";\n"),
          "t.conf:6: account \"w\": allow_plaintext: must be true or false, not a string" },
        { "accounts = ( {\n  name = \"w\";\n  host = \"\";\n  username = \"u\";\n  password = \"p\";\n} );\n",
          "t.conf:3: account \"w\": host: must not be empty" },
        { "accounts = ( {\n  name = \"w\";\n  host = \"a b\";\n  username = \"u\";\n  password = \"p\";\n} );\n",
          "t.conf:3: account \"w\": host: must not contain spaces or control characters" },
        { "accounts = ( {\n  name = \"a b\";\n  host = \"h\";\n  username = \"u\";\n  password = \"p\";\n} );\n",
          "t.conf:2: accounts[0].name: may contain only the characters A-Z a-z 0-9 . _ -" },
        { "accounts = ( {\n  name = \"w\";\n  host = \"h\";\n  username = \"u\";\n  password = 5;\n} );\n",
          "t.conf:5: account \"w\": password: must be a string, not an integer" },
        { ACCOUNT("  ca_file = [\"x\"];\n"),
          "t.conf:6: account \"w\": ca_file: must be a string, not an array" },
        /* secrets */
        { ACCOUNT("  password_file = \"pw\";\n"),
          "t.conf:6: account \"w\": password_file: only one of password, password_file, password_command and "
          "oauth2_token_command may be set, and password is set at line 5" },
        { ACCOUNT("  oauth2_token_command = [\"t\"];\n"),
          "t.conf:6: account \"w\": oauth2_token_command: only one of password, password_file, password_command and "
          "oauth2_token_command may be set, and password is set at line 5" },
        { "accounts = ( {\n  name = \"w\";\n  host = \"h\";\n  username = \"u\";\n"
          "  password_command = \"pass show x\";\n} );\n",
          "t.conf:5: account \"w\": password_command: must be a list of strings (program and arguments), not a string" },
        { "accounts = ( {\n  name = \"w\";\n  host = \"h\";\n  username = \"u\";\n} );\n",
          "t.conf:1: account \"w\": needs one of password, password_file, password_command or oauth2_token_command" },
        { ACCOUNT("  client_key = \"k.pem\";\n"),
          "t.conf:6: account \"w\": client_key: client_cert and client_key go together" },
        { ACCOUNT("  client_cert = \"c.pem\";\n"),
          "t.conf:6: account \"w\": client_cert: client_cert and client_key go together" },
        /* tunnel */
        { "accounts = ( {\n  name = \"w\";\n  host = \"h\";\n  tunnel = [\"ssh\", \"x\"];\n} );\n",
          "t.conf:3: account \"w\": host: cannot be used with 'tunnel' (line 4)" },
        { "accounts = ( {\n  name = \"w\";\n  tunnel = [\"ssh\", \"x\"];\n  tls = \"implicit\";\n} );\n",
          "t.conf:4: account \"w\": tls: cannot be used with 'tunnel' (line 3)" },
        { "accounts = ( {\n  name = \"w\";\n  tunnel = [\"ssh\", \"x\"];\n  port = 143;\n} );\n",
          "t.conf:4: account \"w\": port: cannot be used with 'tunnel' (line 3)" },
        { "accounts = ( {\n  name = \"w\";\n  tunnel = [];\n} );\n",
          "t.conf:3: account \"w\": tunnel: must not be an empty list" },
        /* required keys */
        { "accounts = ( {\n  host = \"h\";\n  username = \"u\";\n  password = \"p\";\n} );\n",
          "t.conf:1: accounts[0].name: required, but not set" },
        { "accounts = ( {\n  name = \"w\";\n  username = \"u\";\n  password = \"p\";\n} );\n",
          "t.conf:1: account \"w\": host: required, but not set (it may be left out only with 'tunnel')" },
        { "accounts = (\n  {\n  name = \"w\";\n  host = \"h\";\n  password = \"p\";\n} );\n",
          "t.conf:2: account \"w\": username: required, but not set (it may be left out only with 'tunnel')" },
        { "idle_interval = 5;\n",
          "t.conf:1: accounts: required, but not set" },
        { "accounts = ();\n",
          "t.conf:1: accounts: must not be an empty list" },
        { "accounts = { name = \"w\"; };\n",
          "t.conf:1: accounts: must be a list of groups, in parentheses: accounts = ( { name = ...; }, ... );" },
        { "accounts = [ \"w\" ];\n",
          "t.conf:1: accounts: must be a list of groups, not an array" },
        { "accounts = ( \"w\" );\n",
          "t.conf:1: accounts[0]: must be a group { name = ...; ... }, not a string" },
        /* duplicates */
        { ACCOUNT() "accounts2 = 1;\n",
          "t.conf:7: accounts2: unknown key, did you mean 'accounts'?" },
        { "accounts = (\n"
          "  { name = \"w\"; host = \"h\"; username = \"u\"; password = \"p\"; },\n"
          "  { name = \"x\"; host = \"h\"; username = \"u\"; password = \"p\"; },\n"
          "  { name = \"w\"; host = \"h\"; username = \"u\"; password = \"p\"; }\n"
          ");\n",
          "t.conf:4: account \"w\": name: another account has this name (line 2)" },
        { ACCOUNT("  mailboxes = [\"INBOX\", \"Lists\",\n  \"inbox\"];\n"),
          "t.conf:7: account \"w\": mailboxes[2]: the mailbox is listed twice (also at line 6)" },
        { ACCOUNT("  mailboxes = ( \"Lists\", { name = \"Lists\"; } );\n"),
          "t.conf:6: account \"w\": mailboxes[1]: the mailbox is listed twice (also at line 6)" },
        /* mailboxes */
        { ACCOUNT("  mailboxes = [];\n"),
          "t.conf:6: account \"w\": mailboxes: must not be an empty list (leave it out to watch INBOX)" },
        { ACCOUNT("  mailboxes = \"INBOX\";\n"),
          "t.conf:6: account \"w\": mailboxes: must be a list of mailbox names or { name = ...; } groups, not a string" },
        { ACCOUNT("  mailboxes = ( \"INBOX\", 5 );\n"),
          "t.conf:6: account \"w\": mailboxes[1]: must be a mailbox name or a { name = ...; } group, not an integer" },
        { ACCOUNT("  mailboxes = ( \"INBOX\",\n { on_new = [\"x\"]; } );\n"),
          "t.conf:7: account \"w\": mailboxes[1].name: required, but not set" },
        { ACCOUNT("  mailboxes = [ \"\" ];\n"),
          "t.conf:6: account \"w\": mailboxes[0]: must not be empty" },
        { ACCOUNT("  mailboxes = [ \"a\\nb\" ];\n"),
          "t.conf:6: account \"w\": mailboxes[0]: must not contain control characters" },
        { ACCOUNT("  mailboxes = [ \"caf\\xe9\" ];\n"),
          "t.conf:6: account \"w\": mailboxes[0]: is not valid UTF-8" },
        { ACCOUNT("  mailboxes = [ \"a\\xc2\\x85b\" ];\n"),
          "t.conf:6: account \"w\": mailboxes[0]: must not contain control or format characters" },
        { ACCOUNT("  mailboxes = [ \"Lists/\\xe2\\x80\\xaetxt.exe\" ];\n"),
          "t.conf:6: account \"w\": mailboxes[0]: must not contain control or format characters" },
        /* hooks */
        { ACCOUNT("  on_new = [];\n"),
          "t.conf:6: account \"w\": on_new: must not be an empty list" },
        { ACCOUNT("  on_new = [\"prog\", \"\"];\n"),
          "t.conf:6: account \"w\": on_new[1]: must not be empty" },
        { ACCOUNT("  on_new = [\"prog\", \"%m-%x\"];\n"),
          "t.conf:6: account \"w\": on_new[1]: unknown placeholder '%x'; use %a (account), %m (mailbox) or %% (a percent sign)" },
        { ACCOUNT("  on_expunge = [\"prog\",\n    \"50%\"];\n"),
          "t.conf:7: account \"w\": on_expunge[1]: a lone '%' at the end; write %% for a percent sign" },
        { ACCOUNT("  mailboxes = ( { name = \"x\"; on_new = [\"p\", \"%s\"]; } );\n"),
          "t.conf:6: account \"w\": mailboxes[0].on_new[1]: unknown placeholder '%s'; use %a (account), %m (mailbox) or %% (a percent sign)" },
        { ACCOUNT("  on_new = \"notify-send hi\";\n"),
          "t.conf:6: account \"w\": on_new: a hook given as a string runs through /bin/sh -c, which is allowed only "
          "with shell = true; or write it as an argv list such as [\"program\", \"%m\"]" },
        { ACCOUNT("  shell = false;\n  on_expunge = \"x\";\n"),
          "t.conf:7: account \"w\": on_expunge: a hook given as a string runs through /bin/sh -c, which is allowed only "
          "with shell = true; or write it as an argv list such as [\"program\", \"%m\"]" },
        { ACCOUNT("  mailboxes = ( \"INBOX\", { name = \"x\";\n on_new = \"echo\"; } );\n"),
          "t.conf:7: account \"w\": mailboxes[1].on_new: a hook given as a string runs through /bin/sh -c, which is "
          "allowed only with shell = true; or write it as an argv list such as [\"program\", \"%m\"]" },
        { ACCOUNT("  on_new = 1;\n"),
          "t.conf:6: account \"w\": on_new: must be a list of strings (program and arguments), a string with "
          "shell = true or a group { command = ...; details = ...; }, not an integer" },
        { ACCOUNT("  shell = true;\n  on_new = \"\";\n"),
          "t.conf:7: account \"w\": on_new: must not be empty" },
        /* on_flags, as the other hooks */
        { ACCOUNT("  on_flags = [\"prog\", \"%q\"];\n"),
          "t.conf:6: account \"w\": on_flags[1]: unknown placeholder '%q'; use %a (account), %m (mailbox) or %% (a percent sign)" },
        { ACCOUNT("  on_flags = \"echo\";\n"),
          "t.conf:6: account \"w\": on_flags: a hook given as a string runs through /bin/sh -c, which is allowed only "
          "with shell = true; or write it as an argv list such as [\"program\", \"%m\"]" },
        { ACCOUNT("  mailboxes = ( \"INBOX\", { name = \"x\";\n on_flags = \"echo\"; } );\n"),
          "t.conf:7: account \"w\": mailboxes[1].on_flags: a hook given as a string runs through /bin/sh -c, which is "
          "allowed only with shell = true; or write it as an argv list such as [\"program\", \"%m\"]" },
        { ACCOUNT("  on_flags = [];\n"),
          "t.conf:6: account \"w\": on_flags: must not be an empty list" },
        { "on_flags = [\"x\"];\n",
          "t.conf:1: on_flags: unknown key at the top level; it belongs inside an account: accounts = ( { on_flags = ...; } );" },
        /* the group form of hooks */
        { ACCOUNT("  on_new = { command = [\"n\"]; detials = true; };\n"),
          "t.conf:6: account \"w\": on_new: unknown key 'detials', did you mean 'details'?" },
        { ACCOUNT("  on_new = { command = [\"n\"];\n    frobnicate = true; };\n"),
          "t.conf:7: account \"w\": on_new: unknown key 'frobnicate' (a hook group has only command, details, uids and lock)" },
        { ACCOUNT("  mailboxes = ( { name = \"x\"; on_flags = { comand = [\"x\"]; }; } );\n"),
          "t.conf:6: account \"w\": mailboxes[0].on_flags: unknown key 'comand', did you mean 'command'?" },
        { ACCOUNT("  on_expunge = {\n    details = true; };\n"),
          "t.conf:6: account \"w\": on_expunge.command: required, but not set" },
        { ACCOUNT("  on_new = { };\n"),
          "t.conf:6: account \"w\": on_new.command: required, but not set" },
        { ACCOUNT("  mailboxes = ( { name = \"x\";\n    on_new = { details = false; }; } );\n"),
          "t.conf:7: account \"w\": mailboxes[0].on_new.command: required, but not set" },
        { ACCOUNT("  on_new = {\n    command = \"notify-send hi\"; details = true; };\n"),
          "t.conf:7: account \"w\": on_new.command: a hook given as a string runs through /bin/sh -c, which is allowed "
          "only with shell = true; or write it as an argv list such as [\"program\", \"%m\"]" },
        { ACCOUNT("  mailboxes = ( { name = \"x\";\n    on_flags = { command = \"echo\"; }; } );\n"),
          "t.conf:7: account \"w\": mailboxes[0].on_flags.command: a hook given as a string runs through /bin/sh -c, "
          "which is allowed only with shell = true; or write it as an argv list such as [\"program\", \"%m\"]" },
        { ACCOUNT("  on_new = { command = [\"n\", \"%x\"]; };\n"),
          "t.conf:6: account \"w\": on_new.command[1]: unknown placeholder '%x'; use %a (account), %m (mailbox) or "
          "%% (a percent sign)" },
        { ACCOUNT("  on_new = { command = []; };\n"),
          "t.conf:6: account \"w\": on_new.command: must not be an empty list" },
        { ACCOUNT("  shell = true;\n  on_new = { command = \"\"; };\n"),
          "t.conf:7: account \"w\": on_new.command: must not be empty" },
        { ACCOUNT("  on_new = { command = 5; };\n"),
          "t.conf:6: account \"w\": on_new.command: must be a list of strings (program and arguments), or a string "
          "with shell = true, not an integer" },
        { ACCOUNT("  on_new = { command = { x = 1; }; };\n"),
          "t.conf:6: account \"w\": on_new.command: must be a list of strings (program and arguments), or a string "
          "with shell = true, not a group" },
        { ACCOUNT("  on_new = { command = [\"n\"]; uids = 1; };\n"),
          "t.conf:6: account \"w\": on_new.uids: must be true or false, not an integer" },
        { ACCOUNT("  on_new = { command = [\"n\"]; details = true;\n    uids = false; };\n"),
          "t.conf:7: account \"w\": on_new.uids: cannot be false with details = true, which fetches the new messages "
          "by their UIDs" },
        { ACCOUNT("  mailboxes = ( { name = \"x\"; on_new = { uids = false; details = true;\n    command = [\"n\"]; }; } );\n"),
          "t.conf:6: account \"w\": mailboxes[0].on_new.uids: cannot be false with details = true, which fetches the "
          "new messages by their UIDs" },
        { ACCOUNT("  on_new = { command = [\"n\"]; uid = true; };\n"),
          "t.conf:6: account \"w\": on_new: unknown key 'uid', did you mean 'uids'?" },
        { ACCOUNT("  on_new = { command = [\"n\"]; details = \"yes\"; };\n"),
          "t.conf:6: account \"w\": on_new.details: must be true or false, not a string" },
        { ACCOUNT("  on_new = ( { command = [\"n\"]; } );\n"),
          "t.conf:6: account \"w\": on_new[0]: must be a string, not a group" },
        /* scheduling */
        { "debounce = -1;\n" ACCOUNT(),
          "t.conf:1: debounce: -1 is out of range: must be 0..3600 seconds" },
        { "debounce = 3601;\n" ACCOUNT(),
          "t.conf:1: debounce: 3601 is out of range: must be 0..3600 seconds" },
        { "debounce = 3600.001;\nmax_delay = 86400;\n" ACCOUNT(),
          "t.conf:1: debounce: 3600.001 is out of range: must be 0..3600 seconds" },
        { "debounce = 3600.0006;\n" ACCOUNT(),
          "t.conf:1: debounce: 3600.001 is out of range: must be 0..3600 seconds" },
        { "debounce = -0.5;\n" ACCOUNT(),
          "t.conf:1: debounce: -0.5 is out of range: must be 0..3600 seconds" },
        { "debounce = -0.0001;\n" ACCOUNT(),
          "t.conf:1: debounce: -0.0001 is out of range: must be 0..3600 seconds" },
        { "debounce = 1e300;\n" ACCOUNT(),
          "t.conf:1: debounce: 1e+300 is out of range: must be 0..3600 seconds" },
        { "debounce = 4294967297;\n" ACCOUNT(),
          "t.conf:1: debounce: number too large" },
        { "debounce = \"1\";\n" ACCOUNT(),
          "t.conf:1: debounce: must be a number of seconds, not a string" },
        { ACCOUNT("  debounce = true;\n"),
          "t.conf:6: account \"w\": debounce: must be a number of seconds, not a boolean" },
        { ACCOUNT("  debounce = 3601;\n"),
          "t.conf:6: account \"w\": debounce: 3601 is out of range: must be 0..3600 seconds" },
        /* secret_cache (issue 13): a duration, 0..86400 */
        { "secret_cache = -1;\n" ACCOUNT(),
          "t.conf:1: secret_cache: -1 is out of range: must be 0..86400 seconds" },
        { "secret_cache = 86401;\n" ACCOUNT(),
          "t.conf:1: secret_cache: 86401 is out of range: must be 0..86400 seconds" },
        { "secret_cache = 86400.0006;\n" ACCOUNT(),
          "t.conf:1: secret_cache: 86400.001 is out of range: must be 0..86400 seconds" },
        { "secret_cache = \"5m\";\n" ACCOUNT(),
          "t.conf:1: secret_cache: must be a number of seconds, not a string" },
        { ACCOUNT("  secret_cache = -0.5;\n"),
          "t.conf:6: account \"w\": secret_cache: -0.5 is out of range: must be 0..86400 seconds" },
        { ACCOUNT("  secret_cache = [300];\n"),
          "t.conf:6: account \"w\": secret_cache: must be a number of seconds, not an array" },
        { "max_delay = 0;\n" ACCOUNT(),
          "t.conf:1: max_delay: 0 is out of range: must be 1..86400 seconds" },
        { "max_delay = 86401;\n" ACCOUNT(),
          "t.conf:1: max_delay: 86401 is out of range: must be 1..86400 seconds" },
        { "max_delay = 0.9994;\n" ACCOUNT(),
          "t.conf:1: max_delay: 0.999 is out of range: must be 1..86400 seconds" },
        { "max_delay = 86400.5;\n" ACCOUNT(),
          "t.conf:1: max_delay: 86400.5 is out of range: must be 1..86400 seconds" },
        { ACCOUNT("  max_delay = 0;\n"),
          "t.conf:6: account \"w\": max_delay: 0 is out of range: must be 1..86400 seconds" },
        { ACCOUNT("  max_delay = [1];\n"),
          "t.conf:6: account \"w\": max_delay: must be a number of seconds, not an array" },
        /* max_delay below debounce: blamed on max_delay where it is set, else on debounce */
        { "debounce = 5;\nmax_delay = 2;\n" ACCOUNT(),
          "t.conf:2: max_delay: 2 s is less than debounce (5 s)" },
        { "max_delay = 2;\ndebounce = 2.001;\n" ACCOUNT(),
          "t.conf:1: max_delay: 2 s is less than debounce (2.001 s)" },
        { "debounce = 40;\n" ACCOUNT(),
          "t.conf:1: debounce: 40 s is more than max_delay (30 s)" },
        { ACCOUNT("  debounce = 5;\n  max_delay = 2;\n"),
          "t.conf:7: account \"w\": max_delay: 2 s is less than debounce (5 s)" },
        { "debounce = 3;\n" ACCOUNT("  max_delay = 2.5;\n"),
          "t.conf:7: account \"w\": max_delay: 2.5 s is less than debounce (3 s)" },
        { ACCOUNT("  debounce = 31;\n"),
          "t.conf:6: account \"w\": debounce: 31 s is more than max_delay (30 s)" },
        /* the top-level max_delay comes later and is inherited */
        { ACCOUNT("  debounce = 20;\n") "max_delay = 10;\n",
          "t.conf:6: account \"w\": debounce: 20 s is more than max_delay (10 s)" },
        /* the top level is checked first */
        { "debounce = 50;\nmax_delay = 40;\n" ACCOUNT("  max_delay = 60;\n"),
          "t.conf:2: max_delay: 40 s is less than debounce (50 s)" },
        /* counts */
        { "max_connecting = 0;\n" ACCOUNT(),
          "t.conf:1: max_connecting: 0 is out of range: must be 1..100000" },
        { "max_connecting = 100001;\n" ACCOUNT(),
          "t.conf:1: max_connecting: 100001 is out of range: must be 1..100000" },
        { "max_connecting = 1.5;\n" ACCOUNT(),
          "t.conf:1: max_connecting: must be an integer, not a floating-point number" },
        { ACCOUNT("  max_connecting = 8;\n"),
          "t.conf:6: account \"w\": unknown key 'max_connecting': it is set at the top level, for all accounts together; "
          "or did you mean 'max_connections'?" },
        { "max_concurrent_hooks = 0;\n" ACCOUNT(),
          "t.conf:1: max_concurrent_hooks: 0 is out of range: must be 1..1024" },
        { "max_concurrent_hooks = 1025;\n" ACCOUNT(),
          "t.conf:1: max_concurrent_hooks: 1025 is out of range: must be 1..1024" },
        { "max_concurrent_hooks = -1;\n" ACCOUNT(),
          "t.conf:1: max_concurrent_hooks: -1 is out of range: must be 1..1024" },
        { "max_concurrent_hooks = 4294967297;\n" ACCOUNT(),
          "t.conf:1: max_concurrent_hooks: number too large" },
        { "max_concurrent_hooks = 2.5;\n" ACCOUNT(),
          "t.conf:1: max_concurrent_hooks: must be an integer, not a floating-point number" },
        { ACCOUNT("  max_concurrent_hooks = 4;\n"),
          "t.conf:6: account \"w\": unknown key 'max_concurrent_hooks': it is set at the top level, for all accounts "
          "together" },
        { ACCOUNT("  details_max = 0;\n"),
          "t.conf:6: account \"w\": details_max: 0 is out of range: must be 1..1000" },
        { ACCOUNT("  details_max = 1001;\n"),
          "t.conf:6: account \"w\": details_max: 1001 is out of range: must be 1..1000" },
        { ACCOUNT("  details_max = \"20\";\n"),
          "t.conf:6: account \"w\": details_max: must be an integer, not a string" },
        { "details_max = 20;\n" ACCOUNT(),
          "t.conf:1: details_max: unknown key at the top level; it belongs inside an account: accounts = ( { details_max = ...; } );" },
        { ACCOUNT("  startup_sync = 1;\n"),
          "t.conf:6: account \"w\": startup_sync: must be true or false, not an integer" },
        { ACCOUNT("  desktop_notify = \"yes\";\n"),
          "t.conf:6: account \"w\": desktop_notify: must be true or false, not a string" },
        { ACCOUNT("  mailboxes = ( \"INBOX\",\n { name = \"L\"; desktop_notify = 1; } );\n"),
          "t.conf:7: account \"w\": mailboxes[1].desktop_notify: must be true or false, not an integer" },
        { "desktop_notify = true;\n" ACCOUNT(),
          "t.conf:1: desktop_notify: unknown key at the top level; it belongs inside an account: "
          "accounts = ( { desktop_notify = ...; } );" },
        { ACCOUNT("  startup_synk = true;\n"),
          "t.conf:6: account \"w\": unknown key 'startup_synk', did you mean 'startup_sync'?" },
        /* deadlines: 0 has its own message; each limit is exclusive by a millisecond */
        { "connect_timeout = 0;\n" ACCOUNT(),
          "t.conf:1: connect_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "connect_timeout = 3600.001;\n" ACCOUNT(),
          "t.conf:1: connect_timeout: 3600.001 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  connect_timeout = 0.099;\n"),
          "t.conf:6: account \"w\": connect_timeout: 0.099 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  connect_timeout = 3601;\n"),
          "t.conf:6: account \"w\": connect_timeout: 3601 is out of range: must be 0.1..3600 seconds" },
        { "tls_timeout = 0;\n" ACCOUNT(),
          "t.conf:1: tls_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "tls_timeout = 3600.001;\n" ACCOUNT(),
          "t.conf:1: tls_timeout: 3600.001 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  tls_timeout = 0.099;\n"),
          "t.conf:6: account \"w\": tls_timeout: 0.099 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  tls_timeout = 3601;\n"),
          "t.conf:6: account \"w\": tls_timeout: 3601 is out of range: must be 0.1..3600 seconds" },
        { "greeting_timeout = 0;\n" ACCOUNT(),
          "t.conf:1: greeting_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "greeting_timeout = 3600.001;\n" ACCOUNT(),
          "t.conf:1: greeting_timeout: 3600.001 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  greeting_timeout = 0.099;\n"),
          "t.conf:6: account \"w\": greeting_timeout: 0.099 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  greeting_timeout = 3601;\n"),
          "t.conf:6: account \"w\": greeting_timeout: 3601 is out of range: must be 0.1..3600 seconds" },
        { "auth_timeout = 0;\n" ACCOUNT(),
          "t.conf:1: auth_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "auth_timeout = 3600.001;\n" ACCOUNT(),
          "t.conf:1: auth_timeout: 3600.001 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  auth_timeout = 0.099;\n"),
          "t.conf:6: account \"w\": auth_timeout: 0.099 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  auth_timeout = 3601;\n"),
          "t.conf:6: account \"w\": auth_timeout: 3601 is out of range: must be 0.1..3600 seconds" },
        { "select_timeout = 0;\n" ACCOUNT(),
          "t.conf:1: select_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "select_timeout = 3600.001;\n" ACCOUNT(),
          "t.conf:1: select_timeout: 3600.001 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  select_timeout = 0.099;\n"),
          "t.conf:6: account \"w\": select_timeout: 0.099 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  select_timeout = 3601;\n"),
          "t.conf:6: account \"w\": select_timeout: 3601 is out of range: must be 0.1..3600 seconds" },
        { "done_timeout = 0;\n" ACCOUNT(),
          "t.conf:1: done_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "done_timeout = 3600.001;\n" ACCOUNT(),
          "t.conf:1: done_timeout: 3600.001 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  done_timeout = 0.099;\n"),
          "t.conf:6: account \"w\": done_timeout: 0.099 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  done_timeout = 3601;\n"),
          "t.conf:6: account \"w\": done_timeout: 3601 is out of range: must be 0.1..3600 seconds" },
        { "command_timeout = 0;\n" ACCOUNT(),
          "t.conf:1: command_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "command_timeout = 3600.001;\n" ACCOUNT(),
          "t.conf:1: command_timeout: 3600.001 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  command_timeout = 0.099;\n"),
          "t.conf:6: account \"w\": command_timeout: 0.099 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  command_timeout = 3601;\n"),
          "t.conf:6: account \"w\": command_timeout: 3601 is out of range: must be 0.1..3600 seconds" },
        { ACCOUNT("  done_timeout = 0;\n"),
          "t.conf:6: account \"w\": done_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "command_timeout = 0.0;\n" ACCOUNT(),
          "t.conf:1: command_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "auth_timeout = 0.0004;\n" ACCOUNT(),
          "t.conf:1: auth_timeout: a timeout cannot be 0 (there is no \"no deadline\"): must be 0.1..3600 seconds" },
        { "select_timeout = -1;\n" ACCOUNT(),
          "t.conf:1: select_timeout: -1 is out of range: must be 0.1..3600 seconds" },
        { "tls_timeout = \"30\";\n" ACCOUNT(),
          "t.conf:1: tls_timeout: must be a number of seconds, not a string" },
        { "connect_timeout = 4294967326;\n" ACCOUNT(),
          "t.conf:1: connect_timeout: number too large" },
        /* liveness_interval: 0 is off, else 0.1..1740 */
        { "liveness_interval = 0.099;\n" ACCOUNT(),
          "t.conf:1: liveness_interval: 0.099 is out of range: must be 0 (off) or 0.1..1740 seconds" },
        { "liveness_interval = 1740.001;\n" ACCOUNT(),
          "t.conf:1: liveness_interval: 1740.001 is out of range: must be 0 (off) or 0.1..1740 seconds" },
        { "liveness_interval = -1;\n" ACCOUNT(),
          "t.conf:1: liveness_interval: -1 is out of range: must be 0 (off) or 0.1..1740 seconds" },
        { ACCOUNT("  liveness_interval = 0.05;\n"),
          "t.conf:6: account \"w\": liveness_interval: 0.05 is out of range: must be 0 (off) or 0.1..1740 seconds" },
        { ACCOUNT("  liveness_interval = 1741;\n"),
          "t.conf:6: account \"w\": liveness_interval: 1741 is out of range: must be 0 (off) or 0.1..1740 seconds" },
        /* liveness_interval below idle_interval, blamed on whichever of the two the scope sets */
        { "liveness_interval = 1740;\n" ACCOUNT(),
          "t.conf:1: liveness_interval: 1740 s is not below idle_interval (1740 s)" },
        { "idle_interval = 100;\nliveness_interval = 100;\n" ACCOUNT(),
          "t.conf:2: liveness_interval: 100 s is not below idle_interval (100 s)" },
        { ACCOUNT("  liveness_interval = 1740;\n"),
          "t.conf:6: account \"w\": liveness_interval: 1740 s is not below idle_interval (1740 s)" },
        { "idle_interval = 1000;\n" ACCOUNT("  liveness_interval = 1739.999;\n"),
          "t.conf:7: account \"w\": liveness_interval: 1739.999 s is not below idle_interval (1000 s)" },
        { ACCOUNT("  idle_interval = 60;\n  liveness_interval = 60.5;\n"),
          "t.conf:7: account \"w\": liveness_interval: 60.5 s is not below idle_interval (60 s)" },
        { "liveness_interval = 300;\n" ACCOUNT("  idle_interval = 300;\n"),
          "t.conf:7: account \"w\": idle_interval: 300 s is not above liveness_interval (300 s)" },
        /* the top-level liveness_interval comes later and is inherited */
        { ACCOUNT("  idle_interval = 50;\n") "liveness_interval = 50;\n",
          "t.conf:6: account \"w\": idle_interval: 50 s is not above liveness_interval (50 s)" },
        /* the top level is checked first */
        { "idle_interval = 100;\nliveness_interval = 200;\n" ACCOUNT("  idle_interval = 1740;\n"),
          "t.conf:2: liveness_interval: 200 s is not below idle_interval (100 s)" },
        /* TCP keepalive: whole seconds 1..32767, a count 1..127 */
        { "keepalive_idle = 0;\n" ACCOUNT(),
          "t.conf:1: keepalive_idle: 0 is out of range: must be 1..32767 seconds" },
        { "keepalive_idle = 32768;\n" ACCOUNT(),
          "t.conf:1: keepalive_idle: 32768 is out of range: must be 1..32767 seconds" },
        { ACCOUNT("  keepalive_idle = 0;\n"),
          "t.conf:6: account \"w\": keepalive_idle: 0 is out of range: must be 1..32767 seconds" },
        { ACCOUNT("  keepalive_idle = 32768;\n"),
          "t.conf:6: account \"w\": keepalive_idle: 32768 is out of range: must be 1..32767 seconds" },
        { "keepalive_interval = 0;\n" ACCOUNT(),
          "t.conf:1: keepalive_interval: 0 is out of range: must be 1..32767 seconds" },
        { "keepalive_interval = 32768;\n" ACCOUNT(),
          "t.conf:1: keepalive_interval: 32768 is out of range: must be 1..32767 seconds" },
        { ACCOUNT("  keepalive_interval = 0;\n"),
          "t.conf:6: account \"w\": keepalive_interval: 0 is out of range: must be 1..32767 seconds" },
        { ACCOUNT("  keepalive_interval = 32768;\n"),
          "t.conf:6: account \"w\": keepalive_interval: 32768 is out of range: must be 1..32767 seconds" },
        { "keepalive_idle = 1.5;\n" ACCOUNT(),
          "t.conf:1: keepalive_idle: must be a whole number of seconds, not 1.5" },
        { ACCOUNT("  keepalive_idle = 60.001;\n"),
          "t.conf:6: account \"w\": keepalive_idle: must be a whole number of seconds, not 60.001" },
        { "keepalive_interval = 0.5;\n" ACCOUNT(),
          "t.conf:1: keepalive_interval: must be a whole number of seconds, not 0.5" },
        { "keepalive_interval = 32768.0;\n" ACCOUNT(),
          "t.conf:1: keepalive_interval: 32768 is out of range: must be 1..32767 seconds" },
        { "keepalive_idle = 1e300;\n" ACCOUNT(),
          "t.conf:1: keepalive_idle: 1e+300 is out of range: must be 1..32767 seconds" },
        { "keepalive_idle = -60.0;\n" ACCOUNT(),
          "t.conf:1: keepalive_idle: -60 is out of range: must be 1..32767 seconds" },
        { "keepalive_count = 0;\n" ACCOUNT(),
          "t.conf:1: keepalive_count: 0 is out of range: must be 1..127" },
        { "keepalive_count = 128;\n" ACCOUNT(),
          "t.conf:1: keepalive_count: 128 is out of range: must be 1..127" },
        { ACCOUNT("  keepalive_count = 0;\n"),
          "t.conf:6: account \"w\": keepalive_count: 0 is out of range: must be 1..127" },
        { ACCOUNT("  keepalive_count = 128;\n"),
          "t.conf:6: account \"w\": keepalive_count: 128 is out of range: must be 1..127" },
        { "keepalive_count = 4.0;\n" ACCOUNT(),
          "t.conf:1: keepalive_count: must be an integer, not a floating-point number" },
        /* a tunnel has no TCP connection or TLS of its own */
        { "accounts = ( {\n  name = \"w\";\n  tunnel = [\"t\"];\n  connect_timeout = 5;\n} );\n",
          "t.conf:4: account \"w\": connect_timeout: cannot be used with 'tunnel' (line 3)" },
        { "accounts = ( {\n  name = \"w\";\n  tunnel = [\"t\"];\n  tls_timeout = 5;\n} );\n",
          "t.conf:4: account \"w\": tls_timeout: cannot be used with 'tunnel' (line 3)" },
        { "accounts = ( {\n  name = \"w\";\n  tunnel = [\"t\"];\n  keepalive_idle = 5;\n} );\n",
          "t.conf:4: account \"w\": keepalive_idle: cannot be used with 'tunnel' (line 3)" },
        { "accounts = ( {\n  name = \"w\";\n  tunnel = [\"t\"];\n  keepalive_interval = 5;\n} );\n",
          "t.conf:4: account \"w\": keepalive_interval: cannot be used with 'tunnel' (line 3)" },
        { "accounts = ( {\n  name = \"w\";\n  tunnel = [\"t\"];\n  keepalive_count = 5;\n} );\n",
          "t.conf:4: account \"w\": keepalive_count: cannot be used with 'tunnel' (line 3)" },
        /* the connection budget */
        { ACCOUNT("  max_connections = 0;\n"),
          "t.conf:6: account \"w\": max_connections: 0 is out of range: must be 1..1000" },
        { ACCOUNT("  max_connections = 1001;\n"),
          "t.conf:6: account \"w\": max_connections: 1001 is out of range: must be 1..1000" },
        { "max_connections = 10;\n" ACCOUNT(),
          "t.conf:1: max_connections: unknown key at the top level; it belongs inside an account: accounts = ( { max_connections = ...; } ); "
          "or did you mean 'max_connecting'?" },
        { ACCOUNT("  status_interval = 0;\n"),
          "t.conf:6: account \"w\": status_interval: 0 is out of range: must be 1..86400 seconds" },
        { ACCOUNT("  status_interval = 0.999;\n"),
          "t.conf:6: account \"w\": status_interval: 0.999 is out of range: must be 1..86400 seconds" },
        { ACCOUNT("  status_interval = 86400.001;\n"),
          "t.conf:6: account \"w\": status_interval: 86400.001 is out of range: must be 1..86400 seconds" },
        { ACCOUNT("  status_interval = 86401;\n"),
          "t.conf:6: account \"w\": status_interval: 86401 is out of range: must be 1..86400 seconds" },
        { "status_interval = 60;\n" ACCOUNT(),
          "t.conf:1: status_interval: unknown key at the top level; it belongs inside an account: accounts = ( { status_interval = ...; } );" },
        { ACCOUNT("  max_conections = 5;\n"),
          "t.conf:6: account \"w\": unknown key 'max_conections', did you mean 'max_connections'?" },
        /* auth */
        { ACCOUNT("  auth = [\"PLAIN\", \"GSSAPI\"];\n"),
          "t.conf:6: account \"w\": auth[1]: unsupported mechanism 'GSSAPI'; use PLAIN, LOGIN, CRAM-MD5, XOAUTH2 or OAUTHBEARER" },
        { ACCOUNT("  auth = [\"plain\", \"PLAIN\"];\n"),
          "t.conf:6: account \"w\": auth[1]: PLAIN is listed twice" },
        { ACCOUNT("  auth = [\n    \"PLAIN\",\n    \"XOAUTH2\"];\n"),
          "t.conf:8: account \"w\": auth[1]: XOAUTH2 needs oauth2_token_command" },
        { "accounts = ( {\n  name = \"w\";\n  host = \"h\";\n  username = \"u\";\n"
          "  oauth2_token_command = [\"t\"];\n  auth = [\"OAUTHBEARER\", \"LOGIN\"];\n} );\n",
          "t.conf:6: account \"w\": auth[1]: LOGIN needs a password: password, password_file or password_command" },
        { ACCOUNT("  auth = [];\n"),
          "t.conf:6: account \"w\": auth: must not be an empty list" },
        { ACCOUNT("  auth = \"PLAIN\";\n"),
          "t.conf:6: account \"w\": auth: must be a list of SASL mechanism names, not a string" },
        /* the second account is the bad one */
        { "accounts = (\n"
          "  { name = \"w\"; host = \"h\"; username = \"u\"; password = \"p\"; },\n"
          "  { name = \"x\"; host = \"h\"; username = \"u\"; password = \"p\";\n"
          "    port = 0; }\n"
          ");\n",
          "t.conf:4: account \"x\": port: 0 is out of range: must be 1..65535" },
};

START_TEST(test_bad) {
        _cleanup_free_ char *err = load_err(bad[_i].text);

        ck_assert_str_eq(err, bad[_i].error);
}
END_TEST

START_TEST(test_bad_without_message) {
        /* ret_error is optional. */
        Cfg *c = NULL;

        ck_assert_int_eq(cfg_load_string("idle_interval = 0;\n", "t.conf", &c, NULL), -EBADMSG);
        ck_assert_ptr_null(c);
        ck_assert_int_eq(cfg_load_string("}", "t.conf", &c, NULL), -EBADMSG);
        ck_assert_int_eq(cfg_load("/nonexistent/imapidled.conf", &c, NULL), -ENOENT);
        ck_assert_ptr_null(c);
        ck_assert_int_eq(cfg_load_string(NULL, "t.conf", &c, NULL), -EINVAL);
}
END_TEST

/* ---- files ------------------------------------------------------------------------------------ */

static const char pw_conf[] =
        "# a password in the file\n"
        "accounts = ( {\n"
        "  name = \"w\";\n"
        "  host = \"h\";\n"
        "  username = \"u\";\n"
        "  password = \"hunter2\";\n"
        "} );\n";

static void check_mode(mode_t mode, const char *text, bool warn) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL, *want = NULL;

        ck_assert_int_ge(asprintf(&path, "%s/a.conf", tmpdir), 0);
        write_file(path, text, strlen(text), mode);
        ck_assert_int_eq(cfg_load(path, &c, &err), 0);
        ck_assert_ptr_null(err);
        if (!warn) {
                ck_assert_uint_eq(c->n_warnings, 0);
                return;
        }
        ck_assert_uint_eq(c->n_warnings, 1);
        ck_assert_int_ge(asprintf(&want, "%s:6: account \"w\": password: %s holds a password but its mode is %04o, "
                                  "so group or others can read it; chmod 600 it, or use password_file or "
                                  "password_command", path, path, (unsigned) mode), 0);
        ck_assert_str_eq(c->warnings[0], want);
}

START_TEST(test_mode_warning) {
        check_mode(0600, pw_conf, false);
        check_mode(0400, pw_conf, false);
        check_mode(0644, pw_conf, true);
        check_mode(0640, pw_conf, true);
        check_mode(0604, pw_conf, true);
        check_mode(0620, pw_conf, true);
        /* No password, no warning, whatever the mode. */
        check_mode(0644, "accounts = ( { name = \"w\"; host = \"h\"; username = \"u\"; password_file = \"p\"; } );\n",
                   false);
}
END_TEST

/* A password_file that group or others may read: a warning naming the file (the inline password
 * gets one, above).  Writable but not readable gives nothing away; a missing file is no warning. */
static void check_pwfile_mode(mode_t mode, bool warn) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL, *pw = NULL, *want = NULL, *text = NULL;

        ck_assert_int_ge(asprintf(&path, "%s/a.conf", tmpdir), 0);
        ck_assert_int_ge(asprintf(&pw, "%s/pw", tmpdir), 0);
        ck_assert_int_ge(asprintf(&text, "accounts = ( {\n  name = \"w\"; host = \"h\"; username = \"u\";\n"
                                  "  password_file = \"pw\";\n} );\n"), 0);
        write_file(path, text, strlen(text), 0600);
        write_file(pw, "hunter2\n", 8, mode);
        ck_assert_int_eq(cfg_load(path, &c, &err), 0);
        ck_assert_ptr_null(err);
        if (!warn) {
                ck_assert_uint_eq(c->n_warnings, 0);
                return;
        }
        ck_assert_uint_eq(c->n_warnings, 1);
        ck_assert_int_ge(asprintf(&want, "%s:3: account \"w\": password_file: %s holds a password but its mode is %04o, "
                                  "so %s can read it; chmod 600 it", path, pw, (unsigned) mode,
                                  (mode & S_IROTH) ? "everyone" : "its group"), 0);
        ck_assert_str_eq(c->warnings[0], want);
        c = cfg_free(c);

        /* Also from cfg_load_string(), which has no file of its own to check but names this one. */
        ck_assert_int_eq(cfg_load_string(text, path, &c, &err), 0);
        ck_assert_uint_eq(c->n_warnings, 1);
        ck_assert_str_eq(c->warnings[0], want);
}

START_TEST(test_pwfile_mode_warning) {
        _cleanup_free_ char *pw = NULL;

        check_pwfile_mode(0600, false);
        check_pwfile_mode(0400, false);
        check_pwfile_mode(0620, false);
        check_pwfile_mode(0602, false);
        check_pwfile_mode(0640, true);
        check_pwfile_mode(0604, true);
        check_pwfile_mode(0644, true);
        check_pwfile_mode(0444, true);
        /* Not there (yet): the connect reports it, the load does not. */
        ck_assert_int_ge(asprintf(&pw, "%s/pw", tmpdir), 0);
        ck_assert_int_eq(unlink(pw), 0);
        {
                _cleanup_(cfg_freep) Cfg *c = NULL;
                _cleanup_free_ char *path = NULL;

                ck_assert_int_ge(asprintf(&path, "%s/a.conf", tmpdir), 0);
                c = load_ok("accounts = ( { name = \"w\"; host = \"h\"; username = \"u\"; password_file = \"pw\"; } );\n",
                            path);
                ck_assert_uint_eq(c->n_warnings, 0);
        }
}
END_TEST

/* cfg_load() and cfg_check_files(), as the daemon at start does: *ret only when both pass. */
static int load_checked(const char *path, Cfg **ret, char **ret_error) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        int r;

        *ret = NULL;
        r = cfg_load(path, &c, ret_error);
        if (r < 0)
                return r;
        r = cfg_check_files(c, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

/* cfg_check_files() (cfg-check.c): every file and program that is not there is named, with
 * the account by its name, the key and the file:line; once they are there, the load succeeds. */
START_TEST(test_check_files) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL, *text = NULL, *want = NULL, *f = NULL, *old_path = NULL;
        const char *p = getenv("PATH");

        old_path = p ? strdup(p) : NULL;
        ck_assert_int_ge(asprintf(&path, "%s/a.conf", tmpdir), 0);
        ck_assert_int_ge(asprintf(&text,
                                  "accounts = ( {\n"
                                  "  name = \"w\"; host = \"h\"; username = \"u\"; password_file = \"pw\"; ca_file = \"ca\";\n"
                                  "  on_new = [\"imapidled-test-prog\", \"%%a\"];\n"
                                  "  mailboxes = ( \"INBOX\",\n"
                                  "    { name = \"Lists\"; on_expunge = [\"%s/noexec\"]; } );\n"
                                  "}, {\n"
                                  "  name = \"t\"; tunnel = [\"%s/tunnel\"]; on_flags = \"x\"; shell = true;\n"
                                  "} );\n", tmpdir, tmpdir), 0);
        write_file(path, text, strlen(text), 0600);
        ck_assert_int_ge(asprintf(&f, "%s/noexec", tmpdir), 0);
        write_file(f, "#!/bin/sh\n", 10, 0644);
        ck_assert_int_eq(setenv("PATH", tmpdir, 1), 0);

        /* Without the flag, as --dump and a reload load it: fine. */
        ck_assert_int_eq(cfg_load(path, &c, &err), 0);
        ck_assert_ptr_null(err);
        c = cfg_free(c);

        ck_assert_int_eq(load_checked(path, &c, &err), -EBADMSG);
        ck_assert_ptr_null(c);
        ck_assert_int_ge(asprintf(&want,
                                  "%1$s:1: account \"w\": password_file: cannot read %2$s/pw: No such file or directory\n"
                                  "%1$s:1: account \"w\": ca_file: cannot read %2$s/ca: No such file or directory\n"
                                  "%1$s:1: account \"w\": on_new: program 'imapidled-test-prog' not found in PATH\n"
                                  "%1$s:5: account \"w\", mailbox \"Lists\": on_expunge: cannot run '%2$s/noexec': "
                                  "Permission denied\n"
                                  "%1$s:6: account \"t\": tunnel: cannot run '%2$s/tunnel': No such file or directory",
                                  path, tmpdir), 0);
        ck_assert_str_eq(err, want);
        err = mfree(err);

        /* Everything there and executable: OK, but for the tunnel.  The password file is
         * not read (it is empty, which the connect would refuse). */
        f = mfree(f);
        ck_assert_int_ge(asprintf(&f, "%s/pw", tmpdir), 0);
        write_file(f, "", 0, 0600);
        f = mfree(f);
        ck_assert_int_ge(asprintf(&f, "%s/ca", tmpdir), 0);
        write_file(f, "", 0, 0644);
        f = mfree(f);
        ck_assert_int_ge(asprintf(&f, "%s/noexec", tmpdir), 0);
        ck_assert_int_eq(chmod(f, 0755), 0);
        f = mfree(f);
        ck_assert_int_ge(asprintf(&f, "%s/imapidled-test-prog", tmpdir), 0);
        write_file(f, "#!/bin/sh\n", 10, 0755);
        ck_assert_int_eq(load_checked(path, &c, &err), -EBADMSG);
        want = mfree(want);
        ck_assert_int_ge(asprintf(&want, "%s:6: account \"t\": tunnel: cannot run '%s/tunnel': No such file or "
                                  "directory", path, tmpdir), 0);
        ck_assert_str_eq(err, want);
        err = mfree(err);
        ck_assert_int_eq(cfg_program_resolve("imapidled-test-prog"), 0);
        ck_assert_int_eq(cfg_program_resolve(tmpdir), -EISDIR);
        ck_assert_int_eq(cfg_program_resolve("no/such/prog"), -ENOENT);

        text = mfree(text);
        ck_assert_int_ge(asprintf(&text, "accounts = ( { name = \"w\"; host = \"h\"; username = \"u\";\n"
                                  "  password_file = \"pw\"; ca_file = \"ca\"; on_new = [\"imapidled-test-prog\"]; } );\n"), 0);
        write_file(path, text, strlen(text), 0600);
        ck_assert_int_eq(load_checked(path, &c, &err), 0);
        ck_assert_ptr_null(err);
        ck_assert_uint_eq(c->n_warnings, 0);

        if (old_path)
                ck_assert_int_eq(setenv("PATH", old_path, 1), 0);
        else
                ck_assert_int_eq(unsetenv("PATH"), 0);
}
END_TEST

START_TEST(test_load_file) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL, *want = NULL;

        ck_assert_int_ge(asprintf(&path, "%s/a.conf", tmpdir), 0);
        write_file(path, pw_conf, strlen(pw_conf), 0600);
        ck_assert_int_eq(cfg_load(path, &c, &err), 0);
        ck_assert_str_eq(c->path, path);
        ck_assert_str_eq(c->accounts[0].password, "hunter2");
        c = cfg_free(c);

        /* A syntax error names the file. */
        write_file(path, "accounts = (\n  { name = = \"w\"; }\n);\n", 35, 0600);
        ck_assert_int_eq(cfg_load(path, &c, &err), -EBADMSG);
        ck_assert_int_ge(asprintf(&want, "%s:2: syntax error", path), 0);
        ck_assert_str_eq(err, want);
        err = mfree(err);
        want = mfree(want);

        /* A NUL byte would hide the rest of the file from libconfig. */
        write_file(path, "idle_interval = 5;\0 accounts", sizeof("idle_interval = 5;\0 accounts") - 1, 0600);
        ck_assert_int_eq(cfg_load(path, &c, &err), -EBADMSG);
        ck_assert_int_ge(asprintf(&want, "%s: contains a NUL byte", path), 0);
        ck_assert_str_eq(err, want);
        err = mfree(err);
        want = mfree(want);

        /* A pipe has no size to go by: the buffer grows while it is read (here several times over). */
        {
                _cleanup_free_ char *fdpath = NULL, *big = NULL;
                int p[2];
                size_t n;

                ck_assert_int_ge(asprintf(&big, "%s#%0*d\n", pw_conf, 20000, 0), 0);
                n = strlen(big);
                ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                ck_assert_int_eq(write(p[1], big, n), (ssize_t) n);     /* below the pipe's capacity */
                ck_assert_int_eq(close(p[1]), 0);
                ck_assert_int_ge(asprintf(&fdpath, "/dev/fd/%d", p[0]), 0);
                ck_assert_int_eq(cfg_load(fdpath, &c, &err), 0);
                ck_assert_str_eq(c->accounts[0].password, "hunter2");
                c = cfg_free(c);
                ck_assert_int_eq(close(p[0]), 0);
        }

        /* Missing file, and a directory. */
        ck_assert_int_eq(cfg_load("/nonexistent/imapidled.conf", &c, &err), -ENOENT);
        ck_assert_str_eq(err, "/nonexistent/imapidled.conf: No such file or directory");
        err = mfree(err);
        ck_assert_int_eq(cfg_load(tmpdir, &c, &err), -EISDIR);
        ck_assert_int_ge(asprintf(&want, "%s: Is a directory", tmpdir), 0);
        ck_assert_str_eq(err, want);
        ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_size_limit) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL, *text = NULL, *want = NULL;
        static const char head[] = "accounts = ( { name = \"w\"; host = \"h\"; username = \"u\"; password = \"p\"; } );\n#";
        size_t n = CFG_FILE_MAX;

        ck_assert_int_ge(asprintf(&path, "%s/big.conf", tmpdir), 0);
        text = malloc(n + 2);
        ck_assert_ptr_nonnull(text);
        memcpy(text, head, strlen(head));
        memset(text + strlen(head), 'x', n + 1 - strlen(head));
        text[n - 1] = '\n';

        /* Exactly at the limit: read. */
        write_file(path, text, n, 0600);
        ck_assert_int_eq(cfg_load(path, &c, &err), 0);
        ck_assert_ptr_nonnull(c);
        c = cfg_free(c);

        /* One byte more: refused. */
        text[n - 1] = 'x';
        text[n] = '\n';
        write_file(path, text, n + 1, 0600);
        ck_assert_int_eq(cfg_load(path, &c, &err), -EMSGSIZE);
        ck_assert_int_ge(asprintf(&want, "%s: larger than %d bytes", path, CFG_FILE_MAX), 0);
        ck_assert_str_eq(err, want);
        ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_include) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL, *inc = NULL, *want = NULL;
        static const char main_conf[] =
                "@include \"inc.conf\"\n"
                "accounts = ( { name = \"w\"; host = \"h\"; username = \"u\"; password = \"p\"; } );\n";

        ck_assert_int_ge(asprintf(&path, "%s/a.conf", tmpdir), 0);
        ck_assert_int_ge(asprintf(&inc, "%s/inc.conf", tmpdir), 0);
        write_file(path, main_conf, strlen(main_conf), 0600);

        /* The include is found next to the file, not in the current directory. */
        write_file(inc, "idle_interval = 77;\n", strlen("idle_interval = 77;\n"), 0600);
        ck_assert_int_eq(cfg_load(path, &c, &err), 0);
        ck_assert_uint_eq(c->idle_interval_usec, 77 * USEC_PER_SEC);
        c = cfg_free(c);

        /* Errors in it name it. */
        write_file(inc, "\nidle_interval = 0;\n", strlen("\nidle_interval = 0;\n"), 0600);
        ck_assert_int_eq(cfg_load(path, &c, &err), -EBADMSG);
        ck_assert_int_ge(asprintf(&want, "%s:2: idle_interval: 0 is out of range: must be 1..1740 seconds", inc), 0);
        ck_assert_str_eq(err, want);
        want = mfree(want);
        err = mfree(err);

        /* So do syntax errors in it. */
        write_file(inc, "\n\nidle_interval = ;\n", strlen("\n\nidle_interval = ;\n"), 0600);
        ck_assert_int_eq(cfg_load(path, &c, &err), -EBADMSG);
        ck_assert_int_ge(asprintf(&want, "%s:3: syntax error", inc), 0);
        ck_assert_str_eq(err, want);
        want = mfree(want);
        err = mfree(err);

        /* A password in a loose included file: the warning names that file, not the main one. */
        write_file(path, "accounts = (\n@include \"inc.conf\"\n);\n", strlen("accounts = (\n@include \"inc.conf\"\n);\n"),
                   0600);
        write_file(inc, pw_conf + strlen("# a password in the file\naccounts = ("),
                   strlen(pw_conf) - strlen("# a password in the file\naccounts = (") - strlen(");\n"), 0644);
        ck_assert_int_eq(cfg_load(path, &c, &err), 0);
        ck_assert_uint_eq(c->n_warnings, 1);
        ck_assert_int_ge(asprintf(&want, "%s:5: account \"w\": password: %s holds a password but its mode is 0644, "
                                  "so group or others can read it; chmod 600 it, or use password_file or "
                                  "password_command", inc, inc), 0);
        ck_assert_str_eq(c->warnings[0], want);
}
END_TEST

/* ---- @include patterns ------------------------------------------------------------------------ */

/* A directory of its own, and every file and directory made in it, removed again in reverse. */
static char incdir[64];
static char *inc_made[64];
static size_t inc_n_made;

static void inc_setup(void) {
        snprintf(incdir, sizeof(incdir), "/tmp/test-cfg-inc.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(incdir));
        unsetenv("CREDENTIALS_DIRECTORY");
        inc_n_made = 0;
}

static void inc_teardown(void) {
        for (size_t i = inc_n_made; i > 0; i--) {
                struct stat st;

                if (lstat(inc_made[i - 1], &st) == 0)
                        ck_assert_int_eq(S_ISDIR(st.st_mode) ? rmdir(inc_made[i - 1])
                                                             : unlink(inc_made[i - 1]), 0);
                free(inc_made[i - 1]);
        }
        ck_assert_int_eq(rmdir(incdir), 0);
}

/* incdir/rel, remembered for the teardown the first time; caller frees. */
static char *inc_path(const char *rel) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", incdir, rel), 0);
        for (size_t i = 0; i < inc_n_made; i++)
                if (strcmp(inc_made[i], p) == 0)
                        return p;
        ck_assert_uint_lt(inc_n_made, ELEMENTSOF(inc_made));
        inc_made[inc_n_made++] = strdup(p);
        return p;
}

static void inc_write_mode(const char *rel, const char *text, mode_t mode) {
        _cleanup_free_ char *p = inc_path(rel);

        write_file(p, text, strlen(text), mode);
}

static void inc_write(const char *rel, const char *text) {
        inc_write_mode(rel, text, 0600);
}

static void inc_mkdir(const char *rel) {
        _cleanup_free_ char *p = inc_path(rel);

        ck_assert_int_eq(mkdir(p, 0700), 0);
}

/* Load incdir/main.conf; the error, if any, in *ret_error with incdir replaced by "D". */
static int inc_load_limited(const CfgLimits *lim, Cfg **ret, char **ret_error) {
        _cleanup_free_ char *p = inc_path("main.conf"), *err = NULL;
        int r = lim ? cfg_load_limited(p, lim, ret, &err) : cfg_load(p, ret, &err);

        *ret_error = NULL;
        if (err) {
                size_t n = strlen(incdir);
                char *o = *ret_error = calloc(1, strlen(err) + 1);

                ck_assert_ptr_nonnull(o);
                for (const char *q = err; *q; )
                        if (strncmp(q, incdir, n) == 0) {
                                *o++ = 'D';
                                q += n;
                        } else
                                *o++ = *q++;
        }
        return r;
}

static Cfg *inc_load_ok(void) {
        _cleanup_free_ char *err = NULL;
        Cfg *c = NULL;
        int r = inc_load_limited(NULL, &c, &err);

        ck_assert_msg(r == 0, "unexpected error %d: %s", r, err ?: "(null)");
        return c;
}

static char *inc_load_err(int want) {
        Cfg *c = NULL;
        char *err = NULL;

        ck_assert_int_eq(inc_load_limited(NULL, &c, &err), want);
        ck_assert_ptr_null(c);
        ck_assert_ptr_nonnull(err);
        return err;
}

#define ACCT(name) "accounts = ( { name = \"" name "\"; tunnel = [\"t\"]; } );\n"

/* The name of account i and the file it came from, relative to incdir. */
static void assert_account(const Cfg *c, size_t i, const char *name, const char *rel, unsigned line) {
        _cleanup_free_ char *p = NULL;

        ck_assert_uint_lt(i, c->n_accounts);
        ck_assert_str_eq(c->accounts[i].name, name);
        ck_assert_int_ge(asprintf(&p, "%s/%s", incdir, rel), 0);
        ck_assert_str_eq(c->accounts[i].file, p);
        ck_assert_uint_eq(c->accounts[i].line, line);
}

START_TEST(test_include_directory) {
        _cleanup_(cfg_freep) Cfg *c = NULL;

        inc_write("main.conf",
                  "debounce = 2;\n"
                  "accounts = ( { name = \"main\"; tunnel = [\"t\"]; } );\n"
                  "@include \"conf.d\"\n"
                  "max_delay = 40;\n"
                  "  @include \"conf.d/\"   # the same directory again: its accounts twice\n");
        inc_mkdir("conf.d");
        /* Written out of order; read in byte order of the names. */
        inc_write("conf.d/b.conf", "\n\naccounts = (\n  { name = \"b1\"; tunnel = [\"t\"]; },\n"
                                   "  { name = \"b2\"; tunnel = [\"t\"]; debounce = 0.5; }\n);\n");
        inc_write("conf.d/a.conf", ACCT("a"));
        inc_write("conf.d/B.conf", "# only a comment: no accounts, no error\n");
        inc_write("conf.d/notes.txt", ACCT("txt"));
        inc_write("conf.d/.hidden.conf", ACCT("hidden"));
        inc_mkdir("conf.d/sub.conf");
        /* The second @include reads the same files again: the duplicate names show it happened. */
        {
                _cleanup_free_ char *err = inc_load_err(-EBADMSG);

                ck_assert_str_eq(err, "D/conf.d/a.conf:1: account \"a\": name: another account has this name "
                                      "(D/conf.d/a.conf:1)");
        }
        inc_write("main.conf",
                  "debounce = 2;\n"
                  "accounts = ( { name = \"main\"; tunnel = [\"t\"]; } );\n"
                  "@include \"conf.d\"\n"
                  "max_delay = 40;\n");
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_accounts, 4);
        assert_account(c, 0, "main", "main.conf", 2);
        assert_account(c, 1, "a", "conf.d/a.conf", 1);
        assert_account(c, 2, "b1", "conf.d/b.conf", 4);
        assert_account(c, 3, "b2", "conf.d/b.conf", 5);
        /* The top level reaches the included accounts, also what comes after the @include. */
        ck_assert_uint_eq(c->accounts[1].debounce_usec, 2 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[1].max_delay_usec, 40 * USEC_PER_SEC);
        ck_assert_uint_eq(c->accounts[3].debounce_usec, 500 * USEC_PER_MSEC);
        ck_assert_uint_eq(c->n_warnings, 0);
        /* The files read: the main one, then the included ones that were read, in order. */
        ck_assert_uint_eq(c->n_files, 4);
        ck_assert_str_eq(c->files[0], c->path);
        ck_assert_ptr_eq(c->accounts[0].file, c->files[0]);
        ck_assert_ptr_eq(c->accounts[1].file, c->files[2]);     /* B.conf sorts before a.conf */
        ck_assert_ptr_eq(c->accounts[2].file, c->files[3]);
}
END_TEST

START_TEST(test_include_glob) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *text = NULL;

        inc_write("main.conf",
                  "@include \"accts/*.acct\"\n"
                  "# a comment\n"
                  "@include \"more/x?.conf\"\n"
                  "accounts = ( { name = \"main\"; tunnel = [\"t\"];\n"
                  "  port = 993; } );\n");
        inc_mkdir("accts");
        inc_mkdir("more");
        /* Byte order, whatever the locale: 'B' < '_' < 'a'. */
        inc_write("accts/a.acct", ACCT("a"));
        inc_write("accts/_.acct", ACCT("underscore"));
        inc_write("accts/B.acct", ACCT("B"));
        inc_write("accts/z.conf", ACCT("z"));
        inc_write("more/x2.conf", ACCT("x2"));
        inc_write("more/x1.conf", ACCT("x1"));
        inc_write("more/x10.conf", ACCT("x10"));

        /* Line numbers in the main file are those of the file: the @include lines are blanked, not
         * taken out.  (A tunnel has no port.) */
        {
                _cleanup_free_ char *err = inc_load_err(-EBADMSG);

                ck_assert_str_eq(err, "D/main.conf:5: account \"main\": port: cannot be used with 'tunnel' "
                                      "(line 4)");
        }
        inc_write("main.conf",
                  "@include \"accts/*.acct\"\n"
                  "# a comment\n"
                  "@include \"more/x?.conf\"\n"
                  "accounts = ( { name = \"main\"; tunnel = [\"t\"]; } );\n");
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_accounts, 6);
        assert_account(c, 0, "main", "main.conf", 4);
        assert_account(c, 1, "B", "accts/B.acct", 1);
        assert_account(c, 2, "underscore", "accts/_.acct", 1);
        assert_account(c, 3, "a", "accts/a.acct", 1);
        assert_account(c, 4, "x1", "more/x1.conf", 1);
        assert_account(c, 5, "x2", "more/x2.conf", 1);

        /* The dump holds every account and reads back as one file. */
        text = dump_to_string(c);
        ck_assert_ptr_nonnull(strstr(text, "main.conf and 5 files it includes:\n"));
        {
                _cleanup_(cfg_freep) Cfg *d = load_ok(text, "dump.conf");

                ck_assert_uint_eq(d->n_accounts, c->n_accounts);
                for (size_t i = 0; i < c->n_accounts; i++)
                        ck_assert(cfg_account_equal(&c->accounts[i], &d->accounts[i]));
        }
}
END_TEST

/* A pattern that matches the main file itself leaves it out. */
START_TEST(test_include_self) {
        _cleanup_(cfg_freep) Cfg *c = NULL;

        inc_write("main.conf", "debounce = 1;\n@include \"*.conf\"\n");
        inc_write("other.conf", ACCT("other"));
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_accounts, 1);
        assert_account(c, 0, "other", "other.conf", 1);
        ck_assert_uint_eq(c->n_files, 2);
}
END_TEST

/* What looks like an @include inside a comment or a string is none; a plain file stays libconfig's,
 * also inside a group and inside an included file; an absolute pattern is taken as it is. */
START_TEST(test_include_scanner) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *main_text = NULL, *abs = NULL;

        inc_mkdir("conf.d");
        inc_write("conf.d/x.conf", "accounts = (\n@include \"plain.inc\"\n);\n");
        inc_write("plain.inc", "{ name = \"plain\"; tunnel = [\"t\"]; }\n");
        inc_write("one.inc", "{ name = \"one\"; tunnel = [\"t\"]; },\n");
        inc_mkdir("abs");
        inc_write("abs/y.conf", ACCT("y"));
        abs = inc_path("abs");
        ck_assert_int_ge(asprintf(&main_text,
                                  "/* a block comment\n"
                                  "@include \"conf.d/*.conf\"\n"
                                  "*/ accounts = (\n"
                                  "@include \"one.inc\"\n"
                                  "  { name = \"s\"; tunnel = [\"t\",\n"
                                  "\"\n"
                                  "@include \\\"conf.d\\\"\n"
                                  "\"]; }\n"
                                  ");\n"
                                  "# @include \"conf.d\"\n"
                                  "@include \"conf.d\" # a comment after it\n"
                                  "@include \"%s/*.conf\"\n", abs), 0);
        inc_write("main.conf", main_text);
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_accounts, 4);
        assert_account(c, 0, "one", "one.inc", 1);
        assert_account(c, 1, "s", "main.conf", 5);
        ck_assert_str_eq(c->accounts[1].tunnel[1], "\n@include \"conf.d\"\n");
        /* A plain include of an included file: found next to the main file, as all plain ones. */
        assert_account(c, 2, "plain", "plain.inc", 1);
        assert_account(c, 3, "y", "abs/y.conf", 1);
        ck_assert_uint_eq(c->n_warnings, 0);
}
END_TEST

START_TEST(test_include_errors) {
        static const struct {
                const char *main, *file;        /* main.conf, conf.d/x.conf */
                const char *error;
        } cases[] = {
                /* an error in an included file: that file, its line, the key */
                { "@include \"conf.d\"\n",
                  "accounts = ( {\n  name = \"x\";\n"
                  "  port = 70000; host = \"h\"; username = \"u\"; password = \"p\"; } );\n",
                  "D/conf.d/x.conf:3: account \"x\": port: 70000 is out of range: must be 1..65535" },
                { "@include \"conf.d\"\n",
                  "\naccounts = ( { name = \"x\"; tunnel = [\"t\"]; }, {\n"
                  "  name = \"y\"; tunnel = [\"t\"]; pasword = 1; } );\n",
                  "D/conf.d/x.conf:3: account \"y\": unknown key 'pasword', did you mean 'password'?" },
                { "@include \"conf.d\"\n",
                  "accounts = ( { name = \"x\"; tunnel = [\"t\"];\n  debounce = 5; max_delay = 2; } );\n",
                  "D/conf.d/x.conf:2: account \"x\": max_delay: 2 s is less than debounce (5 s)" },
                /* inherited values are checked in the included accounts too */
                { "idle_interval = 100;\n@include \"conf.d\"\n",
                  "accounts = ( { name = \"x\"; tunnel = [\"t\"];\n  liveness_interval = 100; } );\n",
                  "D/conf.d/x.conf:2: account \"x\": liveness_interval: 100 s is not below idle_interval "
                  "(100 s)" },
                /* a syntax error in it */
                { "@include \"conf.d\"\n",
                  "accounts = (\n  { name = = \"x\"; }\n);\n",
                  "D/conf.d/x.conf:2: syntax error" },
                /* only accounts in it */
                { "@include \"conf.d\"\n",
                  ACCT("x") "\n\ndebounce = 0;\n",
                  "D/conf.d/x.conf:4: debounce: only 'accounts' may be set in a file included by a pattern; "
                  "top-level settings belong in D/main.conf" },
                { "@include \"conf.d\"\n",
                  "acounts = ( { name = \"x\"; tunnel = [\"t\"]; } );\n",
                  "D/conf.d/x.conf:1: acounts: unknown key, did you mean 'accounts'?" },
                { "@include \"conf.d\"\n",
                  "accounts = ();\n",
                  "D/conf.d/x.conf:1: accounts: must not be an empty list" },
                /* duplicate names across files name both places */
                { "accounts = (\n  { name = \"x\"; tunnel = [\"t\"]; } );\n@include \"conf.d\"\n",
                  "\n" ACCT("x"),
                  "D/conf.d/x.conf:2: account \"x\": name: another account has this name (D/main.conf:2)" },
                { "@include \"conf.d\"\n@include \"conf.d/x.conf\"\n",
                  ACCT("x"),
                  "D/conf.d/x.conf:1: account \"x\": name: another account has this name (D/conf.d/x.conf:1)" },
                /* a pattern or a directory anywhere but the top level of the main file */
                { "accounts = (\n  @include \"conf.d/*.conf\"\n);\n",
                  ACCT("x"),
                  "D/main.conf:2: @include: a pattern or a directory can be included only at the top level, "
                  "not inside a group or a list" },
                { "accounts = ( { name = \"m\"; tunnel = [\"t\"];\n"
                  "  mailboxes = [\n@include \"conf.d\"\n ]; } );\n",
                  ACCT("x"),
                  "D/main.conf:3: @include: a pattern or a directory can be included only at the top level, "
                  "not inside a group or a list" },
                { "@include \"conf.d\"\n",
                  ACCT("x") "@include \"conf.d/*.conf\"\n",
                  "D/conf.d/x.conf:2: @include: a file included by a pattern cannot include files by a "
                  "pattern or a directory itself" },
                /* nothing anywhere */
                { "\n@include \"conf.d/*.none\"\n",
                  ACCT("x"),
                  "D/main.conf:1: accounts: required, but not set, neither here nor in a file the @include "
                  "at line 2 matched" },
                /* a plain include that names a missing file stays libconfig's error */
                { "@include \"missing.conf\"\n",
                  ACCT("x"),
                  "D/main.conf:1: cannot open include file" },
                /* what libconfig would read itself is looked at first: its scanner ends the process
                 * on a file it cannot read as text (fuzz-config found `@include ""` after a blanked
                 * pattern on the same line) */
                { "@include \"/dev/null\"\n",
                  ACCT("x"),
                  "D/main.conf:1: @include: '/dev/null' is not a regular file" },
                { "@include \"conf.d/*.none\" @include \"/dev/null\"\n",
                  ACCT("x"),
                  "D/main.conf:1: @include: '/dev/null' is not a regular file" },
                { "accounts = (\n@include \"conf.d/x.conf\"\n);\n",
                  "\n@include \"/dev/null\"\n",
                  "D/conf.d/x.conf:2: @include: '/dev/null' is not a regular file" },
                { "@include \"conf.d/x.conf\"\n",
                  "@include \"conf.d\"\n",
                  "D/conf.d/x.conf:1: @include: a file read by a plain @include cannot include files by a "
                  "pattern or a directory" },
                { "@include \"conf.d/x.conf\"\n",
                  "@include \"conf.d/x.conf\"\n",
                  "D/conf.d/x.conf:1: @include: includes are nested more than 10 deep" },
        };
        inc_mkdir("conf.d");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *err = NULL;

                inc_write("main.conf", cases[i].main);
                inc_write("conf.d/x.conf", cases[i].file);
                err = inc_load_err(-EBADMSG);
                ck_assert_msg(strcmp(err, cases[i].error) == 0, "case %zu:\n  got  %s\n  want %s", i, err,
                              cases[i].error);
        }

        /* A NUL byte in an included file. */
        {
                _cleanup_free_ char *p = inc_path("conf.d/x.conf"), *err = NULL;

                inc_write("main.conf", "@include \"conf.d\"\n");
                write_file(p, "accounts\0", 9, 0600);
                err = inc_load_err(-EBADMSG);
                ck_assert_str_eq(err, "D/conf.d/x.conf: contains a NUL byte");
        }
        /* The same in a file a plain @include reads, and a FIFO there (opened without blocking). */
        {
                _cleanup_free_ char *p = inc_path("conf.d/x.conf"), *fifo = inc_path("fifo"), *err = NULL;

                inc_write("main.conf", "\n@include \"conf.d/x.conf\"\n");
                write_file(p, "accounts\0", 9, 0600);
                err = inc_load_err(-EBADMSG);
                ck_assert_str_eq(err, "D/main.conf:2: @include: 'conf.d/x.conf' contains a NUL byte");
                err = mfree(err);
                ck_assert_int_eq(mkfifo(fifo, 0600), 0);
                inc_write("main.conf", "@include \"fifo\"\n");
                err = inc_load_err(-EBADMSG);
                ck_assert_str_eq(err, "D/main.conf:1: @include: 'fifo' is not a regular file");
        }
}
END_TEST

START_TEST(test_include_nothing) {
        _cleanup_(cfg_freep) Cfg *c = NULL;

        inc_mkdir("empty.d");
        inc_mkdir("conf.d");
        inc_write("conf.d/x.txt", ACCT("x"));
        inc_write("file", "not a directory");
        inc_write("main.conf", ACCT("m")
                  "@include \"empty.d\"\n"
                  "@include \"conf.d\"\n"
                  "@include \"missing.d/*.conf\"\n"
                  "@include \"file/*.conf\"\n");
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_accounts, 1);
        ck_assert_uint_eq(c->n_warnings, 4);
        for (unsigned i = 0; i < 4; i++) {
                static const char *const names[] = { "empty.d", "conf.d", "missing.d/*.conf", "file/*.conf" };
                _cleanup_free_ char *want = NULL;

                ck_assert_int_ge(asprintf(&want, "%s/main.conf:%u: @include: '%s' matches no files", incdir, i + 2,
                                          names[i]), 0);
                ck_assert_str_eq(c->warnings[i], want);
        }
        c = cfg_free(c);

        /* The main file may leave the accounts to the included files. */
        inc_write("conf.d/x.conf", ACCT("x"));
        inc_write("main.conf", "@include \"conf.d\"\n");
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_accounts, 1);
        ck_assert_uint_eq(c->n_warnings, 0);

        /* A directory that cannot be listed is an error, not "no files": a loop of symbolic links... */
        {
                _cleanup_free_ char *p = inc_path("loop"), *err = NULL;

                ck_assert_int_eq(symlink("loop", p), 0);
                inc_write("main.conf", ACCT("m") "@include \"loop/*.conf\"\n");
                err = inc_load_err(-EBADMSG);
                ck_assert_str_eq(err, "D/main.conf:2: @include: cannot list the files of 'loop/*.conf': Too many "
                                 "levels of symbolic links");
                inc_write("main.conf", "@include \"conf.d\"\n");
        }
        /* ...or one without permission (which root has anyway). */
        if (geteuid() != 0) {
                _cleanup_free_ char *p = inc_path("conf.d"), *err = NULL;

                ck_assert_int_eq(chmod(p, 0), 0);
                err = inc_load_err(-EBADMSG);
                ck_assert_int_eq(chmod(p, 0700), 0);
                ck_assert_str_eq(err, "D/main.conf:1: @include: cannot list the files of 'conf.d': Permission denied");
        }
}
END_TEST

/* Read again from disk each time: what SIGHUP's reload sees. */
START_TEST(test_include_reload) {
        _cleanup_(cfg_freep) Cfg *c = NULL;

        inc_mkdir("conf.d");
        inc_write("conf.d/1.conf", ACCT("one"));
        inc_write("main.conf", "@include \"conf.d\"\n");
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_accounts, 1);
        c = cfg_free(c);
        inc_write("conf.d/2.conf", ACCT("two"));
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_accounts, 2);
        ck_assert_str_eq(c->accounts[1].name, "two");
}
END_TEST

/* Loading incdir/main.conf with l fails with -EMSGSIZE and the message 'want'. */
static void inc_expect_too_big(const CfgLimits *l, const char *want) {
        _cleanup_free_ char *err = NULL;
        Cfg *c = NULL;

        ck_assert_int_eq(inc_load_limited(l, &c, &err), -EMSGSIZE);
        ck_assert_ptr_null(c);
        ck_assert_str_eq(err, want);
}

/* Loading incdir/main.conf with l succeeds with n accounts. */
static void inc_expect_ok(const CfgLimits *l, size_t n) {
        _cleanup_free_ char *err = NULL;
        _cleanup_(cfg_freep) Cfg *c = NULL;

        ck_assert_msg(inc_load_limited(l, &c, &err) == 0, "%s", err);
        ck_assert_uint_eq(c->n_accounts, n);
}

/* The limits on included files, each reached exactly and then passed by one. */
START_TEST(test_include_limits) {
        _cleanup_free_ char *want = NULL;
        static const char main_text[] = "@include \"a\"\n@include \"b\"\n";
        static const char f[] = ACCT("a1");
        CfgLimits l = { .file_max = 1000, .total_max = 100000, .files_max = 3 };

        inc_mkdir("a");
        inc_mkdir("b");
        inc_write("main.conf", main_text);
        inc_write("a/1.conf", f);
        inc_write("a/2.conf", ACCT("a2"));
        inc_write("b/1.conf", ACCT("b1"));

        /* Files, all patterns together. */
        inc_expect_ok(&l, 3);
        inc_write("b/2.conf", ACCT("b2"));
        inc_expect_too_big(&l, "D/main.conf:2: @include: the patterns include more than 3 files");
        l.files_max = 4;

        /* Bytes of one included file. */
        l.file_max = strlen(f);
        inc_expect_ok(&l, 4);
        inc_write("a/1.conf", ACCT("a10"));
        ck_assert_int_ge(asprintf(&want, "D/a/1.conf: larger than %zu bytes", strlen(f)), 0);
        inc_expect_too_big(&l, want);
        want = mfree(want);
        inc_write("a/1.conf", f);
        l.file_max = 1000;

        /* Bytes of all files together, the main one included. */
        l.total_max = strlen(main_text) + 4 * strlen(f);
        inc_expect_ok(&l, 4);
        l.total_max--;
        ck_assert_int_ge(asprintf(&want, "D/b/2.conf: with it, the configuration files are larger than %zu bytes "
                                  "together", l.total_max), 0);
        inc_expect_too_big(&l, want);
        want = mfree(want);

        /* cfg_load() applies the daemon's limit to included files, as to the main one. */
        {
                _cleanup_free_ char *p = inc_path("a/1.conf"), *big = malloc(CFG_FILE_MAX + 1);

                ck_assert_ptr_nonnull(big);
                memset(big, '\n', CFG_FILE_MAX + 1);
                write_file(p, big, CFG_FILE_MAX + 1, 0600);
                ck_assert_int_ge(asprintf(&want, "D/a/1.conf: larger than %d bytes", CFG_FILE_MAX), 0);
                inc_expect_too_big(NULL, want);
        }
}
END_TEST

/* A password in an included file that others may read: the warning names that file. */
START_TEST(test_include_modes) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *want = NULL, *p = NULL;
        static const char pw[] = "accounts = ( {\n  name = \"w\"; host = \"h\"; username = \"u\";\n  password = \"x\"; } );\n";

        inc_mkdir("conf.d");
        inc_write("main.conf", "@include \"conf.d\"\n");
        inc_write_mode("conf.d/a.conf", pw, 0600);
        inc_write_mode("conf.d/b.conf", ACCT("b"), 0644);
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_warnings, 0);
        c = cfg_free(c);

        inc_write_mode("conf.d/a.conf", pw, 0640);
        c = inc_load_ok();
        ck_assert_uint_eq(c->n_warnings, 1);
        p = inc_path("conf.d/a.conf");
        ck_assert_int_ge(asprintf(&want, "%s:3: account \"w\": password: %s holds a password but its mode is 0640, so "
                                  "group or others can read it; chmod 600 it, or use password_file or "
                                  "password_command", p, p), 0);
        ck_assert_str_eq(c->warnings[0], want);
        c = cfg_free(c);

        /* Also when the main text is not a file (cfg_load_string()): the included files are. */
        {
                _cleanup_free_ char *name = inc_path("main.conf");

                c = load_ok("@include \"conf.d\"\n", name);
                ck_assert_uint_eq(c->n_warnings, 1);
                ck_assert_str_eq(c->warnings[0], want);
        }
}
END_TEST

static const char pwfile_conf[] =
        "accounts = ( { name = \"w\"; host = \"h\"; username = \"u\"; password_file = \"pw\";\n"
        "  ca_file = \"ca.pem\"; client_cert = \"c.pem\"; client_key = \"k.pem\"; },\n"
        "  { name = \"abs\"; host = \"h\"; username = \"u\"; password_file = \"/abs/pw\"; } );\n";

START_TEST(test_password_file) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *cwd = getcwd(NULL, 0), *want = NULL;

        ck_assert_ptr_nonnull(cwd);

        /* Relative to the configuration file's directory... */
        c = load_ok(pwfile_conf, "/etc/imapidled/imapidled.conf");
        ck_assert_str_eq(c->accounts[0].password_file, "/etc/imapidled/pw");
        ck_assert_str_eq(c->accounts[0].ca_file, "/etc/imapidled/ca.pem");
        ck_assert_str_eq(c->accounts[0].client_cert, "/etc/imapidled/c.pem");
        ck_assert_str_eq(c->accounts[0].client_key, "/etc/imapidled/k.pem");
        ck_assert_str_eq(c->accounts[1].password_file, "/abs/pw");
        c = cfg_free(c);

        /* ...made absolute when the file was named relatively... */
        c = load_ok(pwfile_conf, "sub/imapidled.conf");
        ck_assert_int_ge(asprintf(&want, "%s/sub/pw", cwd), 0);
        ck_assert_str_eq(c->accounts[0].password_file, want);
        c = cfg_free(c);
        want = mfree(want);
        c = load_ok(pwfile_conf, "imapidled.conf");
        ck_assert_int_ge(asprintf(&want, "%s/pw", cwd), 0);
        ck_assert_str_eq(c->accounts[0].password_file, want);
        c = cfg_free(c);
        c = load_ok(pwfile_conf, "/imapidled.conf");
        ck_assert_str_eq(c->accounts[0].password_file, "/pw");
        c = cfg_free(c);

        /* ...and relative to systemd's credentials directory when there is one; that holds the secrets
         * (password_file, client_key), not the CA or the certificate. */
        ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/imapidled.service", 1), 0);
        c = load_ok(pwfile_conf, "/etc/imapidled/imapidled.conf");
        ck_assert_str_eq(c->accounts[0].password_file, "/run/credentials/imapidled.service/pw");
        ck_assert_str_eq(c->accounts[0].client_key, "/run/credentials/imapidled.service/k.pem");
        ck_assert_str_eq(c->accounts[0].ca_file, "/etc/imapidled/ca.pem");
        ck_assert_str_eq(c->accounts[0].client_cert, "/etc/imapidled/c.pem");
        ck_assert_str_eq(c->accounts[1].password_file, "/abs/pw");
        c = cfg_free(c);

        /* An empty variable counts as unset. */
        ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", "", 1), 0);
        c = load_ok(pwfile_conf, "/etc/imapidled/imapidled.conf");
        ck_assert_str_eq(c->accounts[0].password_file, "/etc/imapidled/pw");
        unsetenv("CREDENTIALS_DIRECTORY");
}
END_TEST

/* ---- dump ------------------------------------------------------------------------------------- */

START_TEST(test_dump_roundtrip) {
        _cleanup_(cfg_freep) Cfg *a = load_ok(full_conf, "/etc/imapidled/imapidled.conf"), *b = NULL;
        _cleanup_free_ char *text = dump_to_string(a), *text2 = NULL;
        CfgAccount *tun;

        /* The password is not in the dump; the commands that produce secrets are. */
        ck_assert_ptr_null(strstr(text, "s3cret"));
        ck_assert_ptr_nonnull(strstr(text, "password = \"(redacted)\";"));
        ck_assert_ptr_nonnull(strstr(text, "password_command = [ \"pass\", \"show\", \"mail/work\" ];"));
        /* Defaults are written out. */
        ck_assert_ptr_nonnull(strstr(text, "port = 993;"));
        ck_assert_ptr_nonnull(strstr(text, "tls = \"implicit\";"));
        /* Fractions of a second, and 0, as written; inherited values filled in. */
        ck_assert_ptr_nonnull(strstr(text, "\ndebounce = 0.25;\n"));
        ck_assert_ptr_nonnull(strstr(text, "\nmax_delay = 10;\n"));
        ck_assert_ptr_nonnull(strstr(text, "\nmax_concurrent_hooks = 8;\n"));
        ck_assert_ptr_nonnull(strstr(text, "    debounce = 0;\n"));
        ck_assert_ptr_nonnull(strstr(text, "    debounce = 2.5;\n"));
        ck_assert_ptr_nonnull(strstr(text, "    startup_sync = true;\n"));
        ck_assert_ptr_nonnull(strstr(text, "    details_max = 20;\n"));
        /* Deadlines, liveness and keepalive at the top level and in the accounts, inherited or their own;
         * a tunnel account has no connect_timeout, tls_timeout or keepalive keys. */
        ck_assert_ptr_nonnull(strstr(text, "\nconnect_timeout = 0.1;\ntls_timeout = 3600;\ngreeting_timeout = 10;\n"
                                           "auth_timeout = 20.5;\nselect_timeout = 45;\ndone_timeout = 5;\n"
                                           "command_timeout = 90;\nliveness_interval = 300;\n"
                                           "keepalive_idle = 32767;\nkeepalive_interval = 1;\nkeepalive_count = 127;\n"));
        ck_assert_ptr_nonnull(strstr(text, "    connect_timeout = 7;\n    tls_timeout = 8;\n    greeting_timeout = 9;\n"
                                           "    auth_timeout = 10.25;\n    select_timeout = 11;\n    done_timeout = 0.5;\n"
                                           "    command_timeout = 13;\n    liveness_interval = 0;\n"
                                           "    keepalive_idle = 1;\n    keepalive_interval = 32767;\n"
                                           "    keepalive_count = 1;\n    max_connections = 1000;\n"
                                           "    status_interval = 86400;\n"));
        ck_assert_ptr_nonnull(strstr(text, "    command_timeout = 90;\n    liveness_interval = 300;\n"
                                           "    max_connections = 10;\n    status_interval = 60;\n"));
        ck_assert_ptr_nonnull(strstr(text, "    liveness_interval = 599.999;\n    keepalive_idle = 60;\n"));
        /* pass_env: the top level's as written, an account's merged with it. */
        ck_assert_ptr_nonnull(strstr(text, "\npass_env = [ \"PASSWORD_STORE_DIR\" ];\n"));
        ck_assert_ptr_nonnull(strstr(text, "    pass_env = [ \"PASSWORD_STORE_DIR\", \"GNUPGHOME\" ];\n"));
        /* A hook with details or uids is a group; one without is in the plain form. */
        ck_assert_ptr_nonnull(strstr(text, "    on_expunge = [ \"mbsync\", \"-a\" ];\n"));
        ck_assert_ptr_nonnull(strstr(text, "    on_flags = {\n      command = [ \"flags\", \"%m\" ];\n"
                                           "      details = false;\n      uids = true;\n    };\n"));
        ck_assert_ptr_nonnull(strstr(text, "    on_flags = {\n      command = \"echo \\\"$IMAPIDLED_MAILBOX\\\"\";\n"
                                           "      details = true;\n      uids = true;\n      lock = \"flags.1\";\n"
                                           "    };\n"));
        ck_assert_ptr_nonnull(strstr(text, "        on_expunge = {\n          command = [ \"log\", \"%a\" ];\n"
                                           "          details = true;\n          uids = true;\n        };\n"));

        b = load_ok(text, "/etc/imapidled/imapidled.conf");
        ck_assert_uint_eq(b->idle_interval_usec, a->idle_interval_usec);
        ck_assert_uint_eq(b->hook_timeout_usec, a->hook_timeout_usec);
        ck_assert_uint_eq(b->debounce_usec, a->debounce_usec);
        ck_assert_uint_eq(b->max_delay_usec, a->max_delay_usec);
        ck_assert_uint_eq(b->max_concurrent_hooks, a->max_concurrent_hooks);
        ck_assert_uint_eq(b->max_connecting, a->max_connecting);
        ck_assert_uint_eq(b->live.connect_timeout_usec, a->live.connect_timeout_usec);
        ck_assert_uint_eq(b->live.tls_timeout_usec, a->live.tls_timeout_usec);
        ck_assert_uint_eq(b->live.greeting_timeout_usec, a->live.greeting_timeout_usec);
        ck_assert_uint_eq(b->live.auth_timeout_usec, a->live.auth_timeout_usec);
        ck_assert_uint_eq(b->live.select_timeout_usec, a->live.select_timeout_usec);
        ck_assert_uint_eq(b->live.done_timeout_usec, a->live.done_timeout_usec);
        ck_assert_uint_eq(b->live.command_timeout_usec, a->live.command_timeout_usec);
        ck_assert_uint_eq(b->live.liveness_interval_usec, a->live.liveness_interval_usec);
        ck_assert_uint_eq(b->live.keepalive_idle_usec, a->live.keepalive_idle_usec);
        ck_assert_uint_eq(b->live.keepalive_interval_usec, a->live.keepalive_interval_usec);
        ck_assert_uint_eq(b->live.keepalive_count, a->live.keepalive_count);
        ck_assert_uint_eq(b->n_accounts, a->n_accounts);
        for (size_t i = 0; i < a->n_accounts; i++)
                if (!a->accounts[i].password)
                        ck_assert_msg(cfg_account_equal(&a->accounts[i], &b->accounts[i]), "account %zu differs:\n%s",
                                      i, text);

        /* The account with the password differs exactly by it. */
        tun = &b->accounts[1];
        ck_assert_str_eq(tun->password, "(redacted)");
        ck_assert(!cfg_account_equal(&a->accounts[1], tun));
        free(tun->password);
        tun->password = strdup("s3cret");
        ck_assert_ptr_nonnull(tun->password);
        ck_assert(cfg_account_equal(&a->accounts[1], tun));

        /* A tunnel account's dump has no host, port or tls; and the dump is stable. */
        text2 = dump_to_string(b);
        ck_assert_str_eq(text2, text);
}
END_TEST

START_TEST(test_dump_escapes) {
        static const char conf[] =
                "accounts = ( { name = \"w\"; host = \"h\"; username = \"a\\\"b\\\\c\"; password_file = \"/p\";\n"
                "  mailboxes = ( \"Gr\xc3\xbc\xc3\x9f" "e \\\"x\\\"\", \"back\\\\slash\" );\n"
                "  on_new = [\"prog\", \"$(rm -rf /)\", \"'\\\"\", \"tab\\there\"]; } );\n";
        _cleanup_(cfg_freep) Cfg *a = load_ok(conf, "t.conf"), *b = NULL;
        _cleanup_free_ char *text = dump_to_string(a);

        ck_assert_str_eq(a->accounts[0].username, "a\"b\\c");
        ck_assert_str_eq(a->accounts[0].mailboxes[1].name, "back\\slash");
        ck_assert_str_eq(a->accounts[0].on_new.argv[2], "'\"");
        ck_assert_str_eq(a->accounts[0].on_new.argv[3], "tab\there");
        b = load_ok(text, "t.conf");
        ck_assert(cfg_account_equal(&a->accounts[0], &b->accounts[0]));
        ck_assert_str_eq(b->accounts[0].mailboxes[0].name, "Gr\xc3\xbc\xc3\x9f" "e \"x\"");
}
END_TEST

/* A mailbox whose only hook is on_flags is dumped as a group; millisecond values survive. */
START_TEST(test_dump_new_keys) {
        static const char conf[] =
                "debounce = 0.001; max_delay = 86399.999;\n"
                "accounts = ( { name = \"w\"; tunnel = [\"t\"];\n"
                "  mailboxes = ( \"INBOX\", { name = \"F\"; on_flags = [\"f\", \"%m\"]; },\n"
                "                { name = \"G\"; on_new = { command = [\"g\"]; details = true; }; } );\n"
                "  debounce = 1.01; max_delay = 1.1; } );\n";
        _cleanup_(cfg_freep) Cfg *a = load_ok(conf, "t.conf"), *b = NULL;
        _cleanup_free_ char *text = dump_to_string(a);

        ck_assert_uint_eq(a->max_delay_usec, 86399999 * USEC_PER_MSEC);
        ck_assert_ptr_nonnull(strstr(text, "\ndebounce = 0.001;\n"));
        ck_assert_ptr_nonnull(strstr(text, "\nmax_delay = 86399.999;\n"));
        ck_assert_ptr_nonnull(strstr(text, "    debounce = 1.01;\n"));
        ck_assert_ptr_nonnull(strstr(text, "    max_delay = 1.1;\n"));
        b = load_ok(text, "t.conf");
        ck_assert_uint_eq(b->debounce_usec, 1 * USEC_PER_MSEC);
        ck_assert_uint_eq(b->max_delay_usec, a->max_delay_usec);
        ck_assert_uint_eq(b->accounts[0].n_mailboxes, 3);
        assert_strv(b->accounts[0].mailboxes[1].on_flags.argv, STRV("f", "%m"));
        ck_assert(b->accounts[0].mailboxes[2].on_new.details);
        ck_assert(cfg_account_equal(&a->accounts[0], &b->accounts[0]));
}
END_TEST

START_TEST(test_dump_write_error) {
        _cleanup_(cfg_freep) Cfg *a = load_ok(full_conf, "t.conf");
        FILE *f = fopen("/dev/full", "we");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(cfg_dump(a, f), -EIO);
        fclose(f);
}
END_TEST

/* ---- equality --------------------------------------------------------------------------------- */

static const char eq_base[] =
        "accounts = ( {\n"
        "  name = \"w\";\n"
        "  host = \"h\";\n"
        "  port = 1993;\n"
        "  tls = \"starttls\";\n"
        "  allow_plaintext = false;\n"
        "  ca_file = \"/ca\";\n"
        "  client_cert = \"/cert\";\n"
        "  client_key = \"/key\";\n"
        "  username = \"u\";\n"
        "  password = \"p\";\n"
        "  auth = [\"PLAIN\", \"LOGIN\"];\n"
        "  mailboxes = ( \"INBOX\", { name = \"L\"; on_new = [\"n\", \"%m\"]; on_expunge = [\"e\"]; } );\n"
        "  on_new = [\"new\", \"%a\"];\n"
        "  on_expunge = [\"exp\"];\n"
        "  on_flags = [\"fl\"];\n"
        "  shell = false;\n"
        "  startup_sync = false;\n"
        "  details_max = 20;\n"
        "  hook_timeout = 10;\n"
        "  idle_interval = 100;\n"
        "  debounce = 2;\n"
        "  max_delay = 40;\n"
        "  connect_timeout = 30;\n"
        "  tls_timeout = 31;\n"
        "  greeting_timeout = 32;\n"
        "  auth_timeout = 33;\n"
        "  select_timeout = 34;\n"
        "  done_timeout = 15;\n"
        "  command_timeout = 35;\n"
        "  liveness_interval = 50;\n"
        "  keepalive_idle = 60;\n"
        "  keepalive_interval = 16;\n"
        "  keepalive_count = 4;\n"
        "  max_connections = 10;\n"
        "  status_interval = 60;\n"
        "  secret_cache = 300;\n"
        "} );\n";

static const char eq_tunnel[] =
        "accounts = ( { name = \"w\"; tunnel = [\"ssh\", \"a\"]; } );\n";

static const char eq_shell[] =
        "accounts = ( { name = \"w\"; tunnel = [\"ssh\", \"a\"]; shell = true; on_new = \"echo a\"; } );\n";

static const char eq_pass_env[] =
        "accounts = ( { name = \"w\"; tunnel = [\"ssh\", \"a\"]; pass_env = [\"A\"]; } );\n";

static const char eq_details[] =
        "accounts = ( { name = \"w\"; tunnel = [\"ssh\", \"a\"]; on_new = { command = [\"n\"]; details = true; }; } );\n";

static const struct {
        const char *key;        /* the account key the change is about */
        const char *base;       /* NULL: eq_base */
        const char *from, *to;
        bool equal;
} changes[] = {
        { "name",                 NULL, "name = \"w\"", "name = \"x\"", false },
        { "host",                 NULL, "host = \"h\"", "host = \"h2\"", false },
        { "port",                 NULL, "port = 1993", "port = 1994", false },
        { "port",                 NULL, "port = 1993", "port = \"1993\"", true },
        { "tls",                  NULL, "tls = \"starttls\"", "tls = \"implicit\"", false },
        { "allow_plaintext",      NULL, "allow_plaintext = false", "allow_plaintext = true", false },
        { "ca_file",              NULL, "ca_file = \"/ca\"", "ca_file = \"/ca2\"", false },
        { "client_cert",          NULL, "client_cert = \"/cert\"", "client_cert = \"/cert2\"", false },
        { "client_key",           NULL, "client_key = \"/key\"", "client_key = \"/key2\"", false },
        { "username",             NULL, "username = \"u\"", "username = \"U\"", false },
        { "password",             NULL, "password = \"p\"", "password = \"P\"", false },
        { "password_file",        NULL, "password = \"p\"", "password_file = \"/p\"", false },
        { "password_command",     NULL, "password = \"p\"", "password_command = [\"p\"]", false },
        { "oauth2_token_command", NULL, "password = \"p\";\n  auth = [\"PLAIN\", \"LOGIN\"]",
                                        "oauth2_token_command = [\"t\"];\n  auth = [\"XOAUTH2\"]", false },
        { "tunnel",               eq_tunnel, "\"a\"", "\"b\"", false },
        { "tunnel",               eq_tunnel, "[\"ssh\", \"a\"]", "[\"ssh\", \"a\", \"b\"]", false },
        { "auth",                 NULL, "[\"PLAIN\", \"LOGIN\"]", "[\"LOGIN\", \"PLAIN\"]", false },
        { "auth",                 NULL, "auth = [\"PLAIN\", \"LOGIN\"];", "", false },
        { "mailboxes",            NULL, "\"INBOX\", {", "\"Other\", {", false },
        { "mailboxes",            NULL, "( \"INBOX\", { name = \"L\"; on_new = [\"n\", \"%m\"]; on_expunge = [\"e\"]; } )",
                                        "( { name = \"L\"; on_new = [\"n\", \"%m\"]; on_expunge = [\"e\"]; }, \"INBOX\" )",
                                        false },
        { "mailboxes",            NULL, "on_new = [\"n\", \"%m\"]; on_expunge", "on_new = [\"n\", \"%a\"]; on_expunge",
                                        false },
        { "mailboxes",            NULL, "on_expunge = [\"e\"]; }", "}", false },
        { "mailboxes",            NULL, "} );\n  on_new", "}, \"X\" );\n  on_new", false },
        { "on_new",               NULL, "[\"new\", \"%a\"]", "[\"new\", \"%m\"]", false },
        { "on_new",               eq_shell, "echo a", "echo b", false },
        { "on_new",               eq_shell, "on_new = \"echo a\"", "on_new = [\"echo\", \"a\"]", false },
        { "on_expunge",           NULL, "[\"exp\"]", "[\"exp\", \"x\"]", false },
        { "on_expunge",           NULL, "on_expunge = [\"exp\"];", "", false },
        { "shell",                NULL, "shell = false", "shell = true", false },
        { "shell",                NULL, "shell = false;", "", true },
        { "hook_timeout",         NULL, "hook_timeout = 10", "hook_timeout = 11", false },
        { "idle_interval",        NULL, "idle_interval = 100", "idle_interval = 101", false },
        { "idle_interval",        NULL, "idle_interval = 100;", "", false },
        { "on_flags",             NULL, "[\"fl\"]", "[\"fl\", \"x\"]", false },
        { "on_flags",             NULL, "on_flags = [\"fl\"];", "", false },
        { "on_flags",             NULL, "on_flags = [\"fl\"]", "on_flags = { command = [\"fl\"]; details = true; }", false },
        { "on_flags",             eq_shell, "shell = true;", "shell = true; on_flags = \"fl\";", false },
        /* details is part of a hook; the group form without it is the plain form */
        { "on_new",               NULL, "on_new = [\"new\", \"%a\"]", "on_new = { command = [\"new\", \"%a\"]; details = true; }",
                                        false },
        { "on_new",               NULL, "on_new = [\"new\", \"%a\"]", "on_new = { command = [\"new\", \"%a\"]; }", true },
        { "on_new",               NULL, "on_new = [\"new\", \"%a\"]",
                                        "on_new = { details = false; command = [\"new\", \"%a\"]; }", true },
        { "on_new",               eq_shell, "on_new = \"echo a\"", "on_new = { command = \"echo a\"; details = true; }", false },
        { "on_new",               eq_shell, "on_new = \"echo a\"", "on_new = { command = \"echo a\"; }", true },
        { "on_expunge",           NULL, "on_expunge = [\"exp\"]", "on_expunge = { command = [\"exp\"]; details = true; }", false },
        /* so is lock */
        { "on_new",               NULL, "on_new = [\"new\", \"%a\"]", "on_new = { command = [\"new\", \"%a\"]; lock = \"l\"; }",
                                        false },
        { "on_new",               eq_details, "details = true;", "details = true; lock = \"l\";", false },
        /* uids too; details implies it */
        { "on_new",               NULL, "on_new = [\"new\", \"%a\"]", "on_new = { command = [\"new\", \"%a\"]; uids = true; }",
                                        false },
        { "on_new",               NULL, "on_new = [\"new\", \"%a\"]", "on_new = { command = [\"new\", \"%a\"]; uids = false; }",
                                        true },
        { "on_new",               eq_details, "details = true;", "uids = true;", false },
        { "on_new",               eq_details, "details = true;", "details = true; uids = true;", true },
        { "on_new",               eq_details, "details = true;", "uids = true; details = true;", true },
        { "mailboxes",            NULL, "on_new = [\"n\", \"%m\"];", "on_new = { command = [\"n\", \"%m\"]; uids = true; };",
                                        false },
        { "mailboxes",            NULL, "on_expunge = [\"e\"]; }", "on_expunge = [\"e\"]; on_flags = [\"f\"]; }", false },
        { "mailboxes",            NULL, "on_new = [\"n\", \"%m\"];", "on_new = { command = [\"n\", \"%m\"]; details = true; };",
                                        false },
        { "startup_sync",         NULL, "startup_sync = false", "startup_sync = true", false },
        { "startup_sync",         NULL, "startup_sync = false;", "", true },
        { "desktop_notify",       NULL, "startup_sync = false;", "startup_sync = false; desktop_notify = true;",
          false },
        { "desktop_notify",       NULL, "startup_sync = false;", "startup_sync = false; desktop_notify = false;",
          true },
        /* A mailbox's own switch, even one that says what the account's does. */
        { "mailboxes",            NULL, "on_expunge = [\"e\"]; }", "on_expunge = [\"e\"]; desktop_notify = true; }",
          false },
        { "mailboxes",            NULL, "on_expunge = [\"e\"]; }", "on_expunge = [\"e\"]; desktop_notify = false; }",
          false },
        { "details_max",          NULL, "details_max = 20", "details_max = 21", false },
        { "details_max",          NULL, "details_max = 20", "details_max = 1000", false },
        { "details_max",          NULL, "details_max = 20;", "", true },
        { "debounce",             NULL, "debounce = 2", "debounce = 2.001", false },
        { "debounce",             NULL, "debounce = 2", "debounce = 0", false },
        { "debounce",             NULL, "debounce = 2", "debounce = 2.0", true },
        { "debounce",             NULL, "debounce = 2;", "", false },
        { "max_delay",            NULL, "max_delay = 40", "max_delay = 40.5", false },
        { "max_delay",            NULL, "max_delay = 40;", "", false },
        { "max_delay",            NULL, "max_delay = 40", "max_delay = 40.0001", true },
        { "secret_cache",         NULL, "secret_cache = 300", "secret_cache = 0", false },
        { "secret_cache",         NULL, "secret_cache = 300;", "", true },        /* the default */
        { "connect_timeout",      NULL, "connect_timeout = 30", "connect_timeout = 30.001", false },
        { "connect_timeout",      NULL, "connect_timeout = 30;", "", true },      /* the default */
        { "tls_timeout",          NULL, "tls_timeout = 31", "tls_timeout = 30", false },
        { "greeting_timeout",     NULL, "greeting_timeout = 32", "greeting_timeout = 3.2", false },
        { "auth_timeout",         NULL, "auth_timeout = 33", "auth_timeout = 0.1", false },
        { "auth_timeout",         NULL, "auth_timeout = 33;", "", false },
        { "select_timeout",       NULL, "select_timeout = 34", "select_timeout = 3600", false },
        { "done_timeout",         NULL, "done_timeout = 15", "done_timeout = 14.999", false },
        { "done_timeout",         NULL, "done_timeout = 15", "done_timeout = 15.0", true },
        { "command_timeout",      NULL, "command_timeout = 35", "command_timeout = 36", false },
        { "liveness_interval",    NULL, "liveness_interval = 50", "liveness_interval = 0", false },
        { "liveness_interval",    NULL, "liveness_interval = 50", "liveness_interval = 99.999", false },
        /* Unset with idle_interval = 100: the default gives way (off). */
        { "liveness_interval",    NULL, "liveness_interval = 50;", "", false },
        { "keepalive_idle",       NULL, "keepalive_idle = 60", "keepalive_idle = 61", false },
        { "keepalive_idle",       NULL, "keepalive_idle = 60;", "", true },
        { "keepalive_interval",   NULL, "keepalive_interval = 16", "keepalive_interval = 15", false },
        { "keepalive_interval",   NULL, "keepalive_interval = 16;", "", false },
        { "keepalive_count",      NULL, "keepalive_count = 4", "keepalive_count = 5", false },
        { "keepalive_count",      NULL, "keepalive_count = 4;", "", true },
        { "max_connections",      NULL, "max_connections = 10", "max_connections = 11", false },
        { "max_connections",      NULL, "max_connections = 10;", "", true },
        { "status_interval",      NULL, "status_interval = 60", "status_interval = 60.5", false },
        { "status_interval",      NULL, "status_interval = 60;", "", true },
        { "imap_notify",          NULL, "status_interval = 60;", "status_interval = 60; imap_notify = \"off\";",
          false },
        { "imap_notify",          NULL, "status_interval = 60;", "status_interval = 60; imap_notify = \"auto\";",
          true },
        { "pass_env",             NULL, "status_interval = 60;", "status_interval = 60; pass_env = [\"A\"];", false },
        { "pass_env",             eq_pass_env, "[\"A\"]", "[\"A\", \"B\"]", false },
        { "pass_env",             eq_pass_env, "pass_env = [\"A\"];", "", false },
        /* The top level's list reaches every account: a change there restarts them. */
        { "pass_env",             NULL, "accounts = ( {\n", "pass_env = [\"A\"];\naccounts = ( {\n", false },
        { "pass_env",             eq_pass_env, "accounts = ( { name = \"w\"; tunnel = [\"ssh\", \"a\"]; pass_env = [\"A\"];",
                                  "pass_env = [\"B\"];\naccounts = ( { name = \"w\"; tunnel = [\"ssh\", \"a\"]; pass_env = [\"A\"];",
                                  false },
        /* Where a name is written does not matter, only what an account gets. */
        { "pass_env",             eq_pass_env, "accounts = ( { name = \"w\"; tunnel = [\"ssh\", \"a\"]; pass_env = [\"A\"];",
                                  "pass_env = [\"A\"];\naccounts = ( { name = \"w\"; tunnel = [\"ssh\", \"a\"];", true },
        { "pass_env",             eq_pass_env, "accounts = ( {",  "pass_env = [\"A\"];\naccounts = ( {", true },
        /* A top-level default reaches the account that inherits it (reload restarts it), not one that
         * sets its own; a top-level key no account holds is no change of the account. */
        { "hook_timeout",         eq_tunnel, "accounts = (", "hook_timeout = 45;\naccounts = (", false },
        { "hook_timeout",         NULL, "accounts = ( {\n", "hook_timeout = 45;\naccounts = ( {\n", true },
        { "hook_timeout",         eq_tunnel, "accounts = (", "hook_timeout = 60;\naccounts = (", true },
        { "idle_interval",        eq_tunnel, "accounts = (", "idle_interval = 600;\naccounts = (", false },
        { "done_timeout",         eq_tunnel, "accounts = (", "done_timeout = 5;\naccounts = (", false },
        { "done_timeout",         NULL, "accounts = ( {\n", "done_timeout = 5;\naccounts = ( {\n", true },
        { "keepalive_count",      NULL, "accounts = ( {\n", "keepalive_count = 9;\naccounts = ( {\n", true },
        { "name",                 NULL, "accounts = ( {\n", "max_concurrent_hooks = 2;\nmax_connecting = 3;\n"
                                                            "accounts = ( {\n", true },
        /* Lines move, nothing else does. */
        { "name",                 NULL, "accounts = ( {\n", "# comment\n\naccounts = (\n\n {\n", true },
};

static char *replace_once(const char *s, const char *from, const char *to) {
        const char *p = strstr(s, from);
        char *r = NULL;

        ck_assert_msg(p, "'%s' not in the base", from);
        ck_assert_int_ge(asprintf(&r, "%.*s%s%s", (int) (p - s), s, to, p + strlen(from)), 0);
        return r;
}

START_TEST(test_equal) {
        const char *base = changes[_i].base ?: eq_base;
        _cleanup_free_ char *text = replace_once(base, changes[_i].from, changes[_i].to);
        _cleanup_(cfg_freep) Cfg *a = load_ok(base, "t.conf"), *b = load_ok(text, "t.conf");

        ck_assert(cfg_account_equal(&a->accounts[0], &a->accounts[0]));
        ck_assert_msg(cfg_account_equal(&a->accounts[0], &b->accounts[0]) == changes[_i].equal,
                      "%s: '%s' -> '%s' should %s", changes[_i].key, changes[_i].from, changes[_i].to,
                      changes[_i].equal ? "be equal" : "differ");
        ck_assert_msg(cfg_account_equal(&b->accounts[0], &a->accounts[0]) == changes[_i].equal, "not symmetric");
}
END_TEST

/* Every account key has a change above that cfg_account_equal() must see. */
START_TEST(test_equal_covers_every_key) {
        for (size_t i = 0; i < cfg_n_keys; i++) {
                bool found = false;

                if (cfg_keys[i].scope != CFG_SCOPE_ACCOUNT)
                        continue;
                for (size_t j = 0; j < ELEMENTSOF(changes); j++)
                        if (!changes[j].equal && strcmp(changes[j].key, cfg_keys[i].name) == 0)
                                found = true;
                ck_assert_msg(found, "no change of '%s' is tested", cfg_keys[i].name);
        }
        _cleanup_(cfg_freep) Cfg *c = load_ok(eq_base, "t.conf");

        ck_assert(cfg_account_equal(NULL, NULL));
        ck_assert(!cfg_account_equal(NULL, &c->accounts[0]));
        ck_assert(!cfg_account_equal(&c->accounts[0], NULL));
}
END_TEST

/* ---- hooks ------------------------------------------------------------------------------------ */

START_TEST(test_hook_expand) {
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = ( { name = \"w\"; tunnel = [\"t\"];\n"
                "  on_new = [\"prog\", \"%a:%m\", \"100%%\", \"%m\", \"%%a\", \"--\", \"x%ay%mz\"]; } );\n", "t.conf");
        char **argv = c->accounts[0].on_new.argv;
        _cleanup_(cfg_strv_freep) char **out = NULL;
        const char *mbox = "Lists/a b;$(touch x) \"q\" *";

        ck_assert_int_eq(cfg_hook_expand(argv, "work", mbox, &out), 0);
        assert_strv(out, STRV("prog", "work:Lists/a b;$(touch x) \"q\" *", "100%", mbox, "%a", "--",
                              "xworkyLists/a b;$(touch x) \"q\" *z"));
        out = cfg_strv_free(out);

        /* A value holding a placeholder is not expanded again. */
        ck_assert_int_eq(cfg_hook_expand(argv, "%m", "%a", &out), 0);
        assert_strv(out, STRV("prog", "%m:%a", "100%", "%a", "%a", "--", "x%my%az"));
}
END_TEST

/* lock: a name, and one per command in an account (docs/HOOKS.md, "Locks"). */
static const struct {
        const char *text, *error;
} bad_lock[] = {
        { ACCOUNT("  on_new = { command = [\"n\"];\n    lock = \"no/slash\"; };\n"),
          "t.conf:7: account \"w\": on_new.lock: may contain only the characters A-Z a-z 0-9 . _ -" },
        { ACCOUNT("  on_new = { command = [\"n\"]; lock = \"\"; };\n"),
          "t.conf:6: account \"w\": on_new.lock: must not be empty" },
        { ACCOUNT("  on_new = { command = [\"n\"]; lock = 1; };\n"),
          "t.conf:6: account \"w\": on_new.lock: must be a string, not an integer" },
        { ACCOUNT("  mailboxes = ( { name = \"x\"; on_flags = { command = [\"n\"]; lock = \"a b\"; }; } );\n"),
          "t.conf:6: account \"w\": mailboxes[0].on_flags.lock: may contain only the characters A-Z a-z 0-9 . _ -" },
        { ACCOUNT("  on_new = { command = [\"nm\", \"new\"]; lock = \"notmuch\"; };\n"
                  "  mailboxes = ( \"INBOX\",\n    { name = \"x\"; on_new = [\"nm\", \"new\"]; } );\n"),
          "t.conf:8: account \"w\": mailboxes[1].on_new: the same command as the hook at line 6, with lock "
          "\"notmuch\": one command runs under one lock in an account; give both the same lock" },
        { ACCOUNT("  on_new = [\"nm\", \"new\"];\n  on_expunge = { command = [\"nm\", \"new\"];\n    lock = \"nm\"; };\n"),
          "t.conf:8: account \"w\": on_expunge.lock: the same command as the hook at line 6, with no lock: one "
          "command runs under one lock in an account; give both the same lock" },
        { ACCOUNT("  shell = true;\n  on_new = { command = \"nm new\"; lock = \"a\"; };\n"
                  "  on_flags = { command = \"nm new\"; lock = \"b\"; };\n"),
          "t.conf:8: account \"w\": on_flags.lock: the same command as the hook at line 7, with lock \"a\": one "
          "command runs under one lock in an account; give both the same lock" },
};

START_TEST(test_bad_lock) {
        _cleanup_free_ char *err = load_err(bad_lock[_i].text);

        ck_assert_str_eq(err, bad_lock[_i].error);
}
END_TEST

/* lock: every allowed character; one command under one lock in an account, repeated as often as
 * wanted; other accounts (and other commands) are free to differ. */
START_TEST(test_hook_lock) {
        _cleanup_(cfg_freep) Cfg *c = load_ok(
                "accounts = ( { name = \"w\"; tunnel = [\"t\"];\n"
                "  on_new = { command = [\"notmuch\", \"new\"]; lock = \"AZaz09._-\"; };\n"
                "  on_expunge = { command = [\"notmuch\", \"new\"]; lock = \"AZaz09._-\"; };\n"
                "  on_flags = [\"other\"];\n"
                "  mailboxes = ( \"INBOX\", { name = \"x\"; on_new = { command = [\"notmuch\", \"new\"];"
                " lock = \"AZaz09._-\"; details = true; }; on_flags = { command = [\"other\", \"x\"]; lock = \"o\"; }; } ); },\n"
                "  { name = \"v\"; tunnel = [\"t\"]; on_new = [\"notmuch\", \"new\"]; } );\n", "t.conf");
        const CfgAccount *w = &c->accounts[0], *v = &c->accounts[1];

        ck_assert_str_eq(w->on_new.lock, "AZaz09._-");
        ck_assert_str_eq(w->on_expunge.lock, "AZaz09._-");
        ck_assert_ptr_null(w->on_flags.lock);
        ck_assert_str_eq(w->mailboxes[1].on_new.lock, "AZaz09._-");
        ck_assert(w->mailboxes[1].on_new.details);
        ck_assert_str_eq(w->mailboxes[1].on_flags.lock, "o");
        ck_assert_ptr_null(v->on_new.lock);
        ck_assert_str_eq(cfg_mailbox_hook(w, &w->mailboxes[0], CFG_EVENT_NEW)->lock, "AZaz09._-");
}
END_TEST

static char **strv_new2(const char *a, const char *b) {
        char **l = calloc(3, sizeof(char *));

        ck_assert_ptr_nonnull(l);
        l[0] = strdup(a);
        l[1] = b ? strdup(b) : NULL;
        ck_assert_ptr_nonnull(l[0]);
        return l;
}

START_TEST(test_hook_expand_invalid) {
        _cleanup_(cfg_strv_freep) char **bad1 = strv_new2("prog", "%x"), **bad2 = strv_new2("50%", NULL);
        char *empty[] = { NULL };
        char **out = NULL;

        /* cfg_load() refuses these; the expander does not trust that. */
        ck_assert_int_eq(cfg_hook_expand(bad1, "a", "m", &out), -EINVAL);
        ck_assert_int_eq(cfg_hook_expand(bad2, "a", "m", &out), -EINVAL);
        ck_assert_ptr_null(out);
        ck_assert_int_eq(cfg_hook_expand(empty, "a", "m", &out), 0);
        ck_assert_ptr_null(out[0]);
        cfg_strv_free(out);
        ck_assert_int_eq(cfg_hook_expand(NULL, "a", "m", &out), -EINVAL);
}
END_TEST

/* ---- schema ----------------------------------------------------------------------------------- */

START_TEST(test_tls_names) {
        for (CfgTls t = 0; t < _CFG_TLS_MAX; t++)
                ck_assert_int_eq(cfg_tls_from_string(cfg_tls_to_string(t)), t);
        ck_assert_int_eq(cfg_tls_from_string("IMPLICIT"), _CFG_TLS_INVALID);
        ck_assert_int_eq(cfg_tls_from_string(NULL), _CFG_TLS_INVALID);
        ck_assert_ptr_null(cfg_tls_to_string(_CFG_TLS_MAX));
        ck_assert_ptr_null(cfg_tls_to_string(_CFG_TLS_INVALID));
}
END_TEST

START_TEST(test_suggest) {
        ck_assert_uint_eq(cfg_edit_distance("pasword", "password"), 1);
        ck_assert_uint_eq(cfg_edit_distance("passowrd", "password"), 1);    /* transposition */
        ck_assert_uint_eq(cfg_edit_distance("HOST", "host"), 0);
        ck_assert_uint_eq(cfg_edit_distance("", "tls"), 3);
        ck_assert_uint_eq(cfg_edit_distance("kitten", "sitting"), 3);
        ck_assert_uint_eq(cfg_edit_distance("x", "0123456789012345678901234567890123456789012345678901234567890123456789"),
                          SIZE_MAX);
        ck_assert_str_eq(cfg_key_suggest(CFG_SCOPE_ACCOUNT, "hots"), "host");
        ck_assert_str_eq(cfg_key_suggest(CFG_SCOPE_ACCOUNT, "mailbox"), "mailboxes");
        ck_assert_str_eq(cfg_key_suggest(CFG_SCOPE_ACCOUNT, "on-new"), "on_new");
        ck_assert_str_eq(cfg_key_suggest(CFG_SCOPE_GLOBAL, "hook_timout"), "hook_timeout");
        ck_assert_str_eq(cfg_key_suggest(CFG_SCOPE_MAILBOX, "nmae"), "name");
        ck_assert_ptr_null(cfg_key_suggest(CFG_SCOPE_ACCOUNT, "x"));
        ck_assert_ptr_null(cfg_key_suggest(CFG_SCOPE_ACCOUNT, "frobnicate"));
        ck_assert_ptr_null(cfg_key_suggest(CFG_SCOPE_MAILBOX, "shell"));
        ck_assert_ptr_nonnull(cfg_mech_lookup("cram-md5"));
        ck_assert_ptr_null(cfg_mech_lookup("CRAM-MD"));
        ck_assert_ptr_null(cfg_mech_lookup("CRAM-MD55"));
}
END_TEST

/* ---- the shipped documents ------------------------------------------------------------------- */

static char *read_srcdir_file(const char *rel) {
        _cleanup_free_ char *path = NULL;
        char *text = NULL;
        size_t n = 0;
        FILE *f;

        ck_assert_int_ge(asprintf(&path, "%s/%s", TH_SRCDIR, rel), 0);
        f = fopen(path, "re");
        ck_assert_msg(f, "cannot open %s", path);
        ck_assert_int_ne(getdelim(&text, &n, 0, f), -1);
        fclose(f);
        return text;
}

START_TEST(test_sample_loads) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL, *text = read_srcdir_file("conf/imapidled.conf");

        ck_assert_int_ge(asprintf(&path, "%s/conf/imapidled.conf", TH_SRCDIR), 0);
        ck_assert_msg(cfg_load(path, &c, &err) == 0, "%s", err);
        ck_assert_uint_eq(c->n_warnings, 0);
        ck_assert_uint_ge(c->n_accounts, 1);

        /* Every key is shown in it, commented out or not. */
        for (size_t i = 0; i < cfg_n_keys; i++) {
                char pat[64];

                snprintf(pat, sizeof(pat), "%s = ", cfg_keys[i].name);
                ck_assert_msg(strstr(text, pat), "conf/imapidled.conf does not show '%s'", cfg_keys[i].name);
        }
}
END_TEST

START_TEST(test_man_page) {
        _cleanup_free_ char *man = read_srcdir_file("docs/imapidled.conf.5");
        unsigned examples = 0;

        /* Every key has its own paragraph tag... */
        for (size_t i = 0; i < cfg_n_keys; i++) {
                char pat[64];

                snprintf(pat, sizeof(pat), "\n.TP\n.B %s\n", cfg_keys[i].name);
                ck_assert_msg(strstr(man, pat), "docs/imapidled.conf.5 does not describe '%s'", cfg_keys[i].name);
        }

        /* The limits it states are the code's. */
        {
                char want[64];

                snprintf(want, sizeof(want), "any one file may hold at most %d MiB", CFG_FILE_MAX >> 20);
                ck_assert_msg(strstr(man, want), "docs/imapidled.conf.5 lacks '%s'", want);
                snprintf(want, sizeof(want), "at most %d files together", CFG_INCLUDE_FILES_MAX);
                ck_assert_msg(strstr(man, want), "docs/imapidled.conf.5 lacks '%s'", want);
                snprintf(want, sizeof(want), "at most %d MiB together", CFG_TOTAL_MAX >> 20);
                ck_assert_msg(strstr(man, want), "docs/imapidled.conf.5 lacks '%s'", want);
        }

        /* ...and every example configuration in it loads. */
        for (const char *p = man; (p = strstr(p, "\n.nf\n")); ) {
                const char *end = strstr(p, "\n.fi\n");
                _cleanup_(cfg_freep) Cfg *c = NULL;
                _cleanup_free_ char *text = NULL, *err = NULL;
                char *o;

                ck_assert_ptr_nonnull(end);
                p += strlen("\n.nf\n");
                if (!strstr(p, "accounts = (") || strstr(p, "accounts = (") > end) {
                        p = end;
                        continue;
                }
                /* Undo the roff escapes the examples use. */
                text = o = calloc(1, (size_t) (end - p) + 2);
                ck_assert_ptr_nonnull(text);
                for (const char *q = p; q < end; q++)
                        if (q[0] == '\\' && q[1] == '-')
                                *o++ = '-', q++;
                        else if (q[0] == '\\' && q[1] == 'e')
                                *o++ = '\\', q++;
                        else
                                *o++ = *q;
                *o = '\n';
                ck_assert_msg(cfg_load_string(text, "man", &c, &err) == 0, "example in the man page: %s\n%s",
                              err, text);
                examples++;
                p = end;
        }
        ck_assert_uint_ge(examples, 3);
}
END_TEST

static Suite *cfg_suite(void) {
        Suite *s = suite_create("cfg");
        TCase *tc;

        tc = tcase_create("valid");
        tcase_add_checked_fixture(tc, env_setup, NULL);
        tcase_add_test(tc, test_full);
        tcase_add_test(tc, test_pass_env);
        tcase_add_test(tc, test_full_uses_every_key);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_defaults_follow);
        tcase_add_loop_test(tc, test_limits, 0, ELEMENTSOF(limits));
        tcase_add_test(tc, test_secret_cache);
        tcase_add_test(tc, test_inherit);
        tcase_add_test(tc, test_inherit_schema);
        tcase_add_loop_test(tc, test_live_limits, 0, ELEMENTSOF(live_limits));
        tcase_add_test(tc, test_budget_limits);
        tcase_add_test(tc, test_many);
        tcase_add_test(tc, test_descriptors);
        tcase_add_test(tc, test_mailbox_patterns);
        tcase_add_test(tc, test_inherit_live);
        tcase_add_loop_test(tc, test_liveness_ok, 0, ELEMENTSOF(liveness_ok));
        tcase_add_test(tc, test_liveness_accounts);
        suite_add_tcase(s, tc);

        tc = tcase_create("invalid");
        tcase_add_checked_fixture(tc, env_setup, NULL);
        tcase_add_loop_test(tc, test_bad, 0, ELEMENTSOF(bad));
        tcase_add_test(tc, test_bad_without_message);
        suite_add_tcase(s, tc);

        tc = tcase_create("files");
        tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
        tcase_add_test(tc, test_mode_warning);
        tcase_add_test(tc, test_pwfile_mode_warning);
        tcase_add_test(tc, test_load_file);
        tcase_add_test(tc, test_check_files);
        tcase_add_test(tc, test_size_limit);
        tcase_add_test(tc, test_include);
        tcase_add_test(tc, test_password_file);
        suite_add_tcase(s, tc);

        tc = tcase_create("include");
        tcase_add_checked_fixture(tc, inc_setup, inc_teardown);
        tcase_add_test(tc, test_include_directory);
        tcase_add_test(tc, test_include_glob);
        tcase_add_test(tc, test_include_scanner);
        tcase_add_test(tc, test_include_self);
        tcase_add_test(tc, test_include_errors);
        tcase_add_test(tc, test_include_nothing);
        tcase_add_test(tc, test_include_reload);
        tcase_add_test(tc, test_include_limits);
        tcase_add_test(tc, test_include_modes);
        suite_add_tcase(s, tc);

        tc = tcase_create("dump");
        tcase_add_checked_fixture(tc, env_setup, NULL);
        tcase_add_test(tc, test_dump_roundtrip);
        tcase_add_test(tc, test_dump_escapes);
        tcase_add_test(tc, test_dump_new_keys);
        tcase_add_test(tc, test_dump_write_error);
        suite_add_tcase(s, tc);

        tc = tcase_create("equal");
        tcase_add_checked_fixture(tc, env_setup, NULL);
        tcase_add_loop_test(tc, test_equal, 0, ELEMENTSOF(changes));
        tcase_add_test(tc, test_equal_covers_every_key);
        suite_add_tcase(s, tc);

        tc = tcase_create("hooks");
        tcase_add_test(tc, test_hook_expand);
        tcase_add_test(tc, test_hook_lock);
        tcase_add_loop_test(tc, test_bad_lock, 0, ELEMENTSOF(bad_lock));
        tcase_add_test(tc, test_hook_expand_invalid);
        suite_add_tcase(s, tc);

        tc = tcase_create("docs");
        tcase_add_checked_fixture(tc, env_setup, NULL);
        tcase_add_test(tc, test_sample_loads);
        tcase_add_test(tc, test_man_page);
        suite_add_tcase(s, tc);

        tc = tcase_create("schema");
        tcase_add_test(tc, test_tls_names);
        tcase_add_test(tc, test_suggest);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return th_run_suite(cfg_suite());
}

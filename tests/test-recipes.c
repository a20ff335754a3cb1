/* SPDX-License-Identifier: MIT */
/*
 * test-recipes.c: every recipe in docs/recipes/ loads as --check-config loads it (cfg_load()),
 * without a warning, a password in the file or clear text; its hooks would receive exactly the
 * argv and environment docs/RECIPES.md promises; the provider recipes reach the provider's
 * server with implicit TLS, get their secret from the helper program RECIPES.md names, and
 * stay within the max_connections it gives.  The recipes' systemd units are checked by
 * tests/test-units.sh.
 */
#include <dirent.h>
#include <string.h>

#include "cfg.h"
#include "hook.h"
#include "th.h"
#include "time-util.h"

static Cfg *load(const char *name) {
        char path[512], *err = NULL;
        Cfg *c = NULL;
        int r;

        snprintf(path, sizeof(path), "%s/docs/recipes/%s", TH_SRCDIR, name);
        r = cfg_load(path, &c, &err);
        ck_assert_msg(r == 0, "%s: %s", path, err ? err : "");
        free(err);
        return c;
}

/* NULL-terminated lists, equal element by element. */
static void expect_strv(char **l, const char *const *want) {
        size_t i;

        ck_assert_ptr_nonnull(l);
        for (i = 0; want[i]; i++) {
                ck_assert_ptr_nonnull(l[i]);
                ck_assert_str_eq(l[i], want[i]);
        }
        ck_assert_ptr_null(l[i]);
}

/* The argv the daemon would exec for 'event' in 'mailbox'. */
static char **argv_for(const CfgAccount *a, const char *mailbox, bool new_event) {
        const CfgHook *h = new_event ? &a->on_new : &a->on_expunge;
        char **argv = NULL;

        ck_assert_ptr_nonnull(h->argv);
        ck_assert_int_eq(hook_expand_argv(h->argv, a->name, mailbox, &argv), 0);
        return argv;
}

static void expect_argv(char **argv, const char *const *want) {
        expect_strv(argv, want);
}

START_TEST(test_mbsync) {
        Cfg *c = load("mbsync.conf");
        const CfgAccount *a = cfg_find_account(c, "work");
        char **argv;

        ck_assert_ptr_nonnull(a);
        ck_assert_uint_eq(a->n_mailboxes, 2);
        argv = argv_for(a, "Lists/dev", true);
        expect_argv(argv, (const char *const[]) { "mbsync", "work:Lists/dev", NULL });
        hook_strv_free(argv);
        /* A hostile mailbox name stays one argument. */
        argv = argv_for(a, "x; rm -rf ~ $(id)", false);
        expect_argv(argv, (const char *const[]) { "mbsync", "work:x; rm -rf ~ $(id)", NULL });
        hook_strv_free(argv);
        /* A first big sync outlives the 60 s default (docs/RECIPES.md): the recipe allows more. */
        ck_assert_uint_eq(c->hook_timeout_usec, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(a->hook_timeout_usec, 600 * USEC_PER_SEC);
        cfg_free(c);
}
END_TEST

START_TEST(test_notmuch) {
        Cfg *c = load("notmuch.conf");
        const CfgAccount *a = cfg_find_account(c, "home");
        char **argv;

        const CfgAccount *w = cfg_find_account(c, "work");

        ck_assert_ptr_nonnull(a);
        argv = argv_for(a, "INBOX", true);
        expect_argv(argv, (const char *const[]) { "/home/me/.local/bin/sync-and-index", "home", "INBOX", NULL });
        hook_strv_free(argv);
        ck_assert_ptr_null(a->on_expunge.argv);
        /* Two accounts, one notmuch database: their hooks share a lock (docs/RECIPES.md). */
        ck_assert_ptr_nonnull(w);
        argv = argv_for(w, "INBOX", true);
        expect_argv(argv, (const char *const[]) { "/home/me/.local/bin/sync-and-index", "work", "INBOX", NULL });
        hook_strv_free(argv);
        ck_assert_str_eq(a->on_new.lock, "notmuch");
        ck_assert_str_eq(w->on_new.lock, "notmuch");
        ck_assert(!a->on_new.details && !w->on_new.details);
        cfg_free(c);
}
END_TEST

START_TEST(test_notify_send) {
        Cfg *c = load("notify-send.conf");
        const CfgAccount *a = cfg_find_account(c, "personal");
        char *parent_env[] = {
                (char[]) { "HOME=/home/me" }, (char[]) { "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus" },
                (char[]) { "NOTIFY_SOCKET=/run/systemd/notify" }, (char[]) { "IMAPIDLED_EVENT=spoofed" },
                (char[]) { "WAYLAND_DISPLAY=wayland-0" }, (char[]) { "DISPLAY=:0" }, NULL,
        };
        char *extra[] = { (char[]) { "IMAPIDLED_COUNT=2" }, NULL };
        HookSpec spec;
        char **argv, **env;
        bool bus = false, count = false, event = false, wayland = false, x11 = false;

        ck_assert_ptr_nonnull(a);
        argv = argv_for(a, "INBOX", true);
        expect_argv(argv, (const char *const[]) { "notify-send", "--app-name=imapidled", "New mail in personal/INBOX",
                                                  NULL });
        spec = (HookSpec) { .argv = argv, .account = a->name, .mailbox = "INBOX", .event = "new", .extra_env = extra };
        ck_assert_int_eq(hook_build_env(parent_env, &spec, &env), 0);
        for (char **e = env; *e; e++) {
                bus |= strcmp(*e, "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus") == 0;
                count |= strcmp(*e, "IMAPIDLED_COUNT=2") == 0;
                event |= strcmp(*e, "IMAPIDLED_EVENT=new") == 0;
                wayland |= strcmp(*e, "WAYLAND_DISPLAY=wayland-0") == 0;
                x11 |= strcmp(*e, "DISPLAY=:0") == 0;
                ck_assert(strncmp(*e, "NOTIFY_SOCKET=", 14) != 0);
                ck_assert(strcmp(*e, "IMAPIDLED_EVENT=spoofed") != 0);
        }
        /* The session bus and the display reach the hook without a pass_env (the graphical
         * session drop-in relies on it, docs/RECIPES.md); systemd plumbing does not. */
        ck_assert_ptr_null(a->pass_env);
        ck_assert(bus && count && event && wayland && x11);
        hook_strv_free(env);
        hook_strv_free(argv);
        cfg_free(c);
}
END_TEST

/* Every *.conf of docs/recipes/, also those no test below names: it loads without a warning,
 * holds no password, and never goes in clear text. */
START_TEST(test_every_recipe_loads) {
        char dir[512];
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        snprintf(dir, sizeof(dir), "%s/docs/recipes", TH_SRCDIR);
        d = opendir(dir);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                Cfg *c;

                if (l < 6 || strcmp(de->d_name + l - 5, ".conf") != 0)
                        continue;
                c = load(de->d_name);
                ck_assert_msg(c->n_warnings == 0, "%s: %s", de->d_name, c->warnings[0]);
                for (size_t i = 0; i < c->n_accounts; i++) {
                        ck_assert_msg(!c->accounts[i].password, "%s: a password in the file", de->d_name);
                        ck_assert_int_ne(c->accounts[i].tls, CFG_TLS_NONE);
                        ck_assert(!c->accounts[i].allow_plaintext);
                }
                cfg_free(c);
                n++;
        }
        closedir(d);
        /* mbsync, notmuch, notify-send and the four providers. */
        ck_assert_uint_ge(n, 7);
}
END_TEST

/* The provider recipes (docs/RECIPES.md, "Providers"): the server, implicit TLS on 993, the
 * secret from the helper named there (never a password in the file), the mechanism, and
 * max_connections below the default of 10, leaving room for the account's other clients. */
static const struct {
        const char *file, *account, *host;
        const char *const *token_command;       /* oauth2_token_command, or NULL */
        const char *const *password_command;    /* password_command, or NULL */
        unsigned max_connections;
} providers[] = {
        { "gmail.conf", "gmail", "imap.gmail.com",
          (const char *const[]) { "oama", "access", "me@gmail.com", NULL }, NULL, 8 },
        { "microsoft365.conf", "work", "outlook.office365.com",
          (const char *const[]) { "pizauth", "show", "work", NULL }, NULL, 8 },
        { "fastmail.conf", "fastmail", "imap.fastmail.com", NULL,
          (const char *const[]) { "secret-tool", "lookup", "service", "imapidled", "account", "fastmail", NULL }, 8 },
        { "icloud.conf", "icloud", "imap.mail.me.com", NULL,
          (const char *const[]) { "pass", "show", "mail/icloud-app-password", NULL }, 4 },
};

START_TEST(test_provider) {
        Cfg *c = load(providers[_i].file);
        const CfgAccount *a = cfg_find_account(c, providers[_i].account);

        ck_assert_ptr_nonnull(a);
        ck_assert_str_eq(a->host, providers[_i].host);
        ck_assert_str_eq(a->port, "993");
        ck_assert_int_eq(a->tls, CFG_TLS_IMPLICIT);
        ck_assert_ptr_null(a->ca_file);         /* the system's trust store */
        ck_assert_ptr_null(a->password);
        ck_assert_ptr_null(a->password_file);
        if (providers[_i].token_command) {
                /* OAuth 2.0: XOAUTH2 only, so a server that also offers PLAIN never gets the
                 * token as a password. */
                expect_strv(a->oauth2_token_command, providers[_i].token_command);
                ck_assert_ptr_null(a->password_command);
                expect_strv(a->auth, (const char *const[]) { "XOAUTH2", NULL });
        } else {
                expect_strv(a->password_command, providers[_i].password_command);
                ck_assert_ptr_null(a->oauth2_token_command);
        }
        ck_assert_uint_eq(a->max_connections, providers[_i].max_connections);
        ck_assert_uint_lt(a->max_connections, 10);
        ck_assert_ptr_nonnull(a->on_new.argv);
        cfg_free(c);
}
END_TEST

/* iCloud logs in with the name part of the address (docs/RECIPES.md). */
START_TEST(test_icloud_username) {
        Cfg *c = load("icloud.conf");
        const CfgAccount *a = cfg_find_account(c, "icloud");

        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_null(strchr(a->username, '@'));
        cfg_free(c);
}
END_TEST

static Suite *recipes_suite(void) {
        Suite *s = suite_create("recipes");
        TCase *tc = tcase_create("recipes");

        tcase_add_test(tc, test_mbsync);
        tcase_add_test(tc, test_notmuch);
        tcase_add_test(tc, test_notify_send);
        tcase_add_test(tc, test_every_recipe_loads);
        tcase_add_loop_test(tc, test_provider, 0, (int) ELEMENTSOF(providers));
        tcase_add_test(tc, test_icloud_username);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(recipes_suite());
}

/* SPDX-License-Identifier: MIT */
/*
 * test-recipes.c: every recipe in docs/recipes/ loads, and its hooks would
 * receive exactly the argv and environment docs/RECIPES.md promises.
 */
#include <string.h>

#include "cfg.h"
#include "hook.h"
#include "th.h"

static Cfg *load(const char *name) {
        char path[512], *err = NULL;
        Cfg *c = NULL;
        int r;

        snprintf(path, sizeof(path), "%s/docs/recipes/%s", TH_SRCDIR, name);
        r = cfg_load(path, &c, &err);
        ck_assert_msg(r == 0, "%s: %s", path, err ? err : "");
        return c;
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
        size_t i;

        for (i = 0; want[i]; i++) {
                ck_assert_ptr_nonnull(argv[i]);
                ck_assert_str_eq(argv[i], want[i]);
        }
        ck_assert_ptr_null(argv[i]);
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
        cfg_free(c);
}
END_TEST

START_TEST(test_notmuch) {
        Cfg *c = load("notmuch.conf");
        const CfgAccount *a = cfg_find_account(c, "home");
        char **argv;

        ck_assert_ptr_nonnull(a);
        argv = argv_for(a, "INBOX", true);
        expect_argv(argv, (const char *const[]) { "/home/me/.local/bin/sync-and-index", "home", "INBOX", NULL });
        hook_strv_free(argv);
        ck_assert_ptr_null(a->on_expunge.argv);
        cfg_free(c);
}
END_TEST

START_TEST(test_notify_send) {
        Cfg *c = load("notify-send.conf");
        const CfgAccount *a = cfg_find_account(c, "personal");
        char *parent_env[] = {
                (char[]) { "HOME=/home/me" }, (char[]) { "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus" },
                (char[]) { "NOTIFY_SOCKET=/run/systemd/notify" }, (char[]) { "IMAPIDLED_EVENT=spoofed" }, NULL,
        };
        char *extra[] = { (char[]) { "IMAPIDLED_COUNT=2" }, NULL };
        HookSpec spec;
        char **argv, **env;
        bool bus = false, count = false, event = false;

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
                ck_assert(strncmp(*e, "NOTIFY_SOCKET=", 14) != 0);
                ck_assert(strcmp(*e, "IMAPIDLED_EVENT=spoofed") != 0);
        }
        /* The session bus reaches the hook; systemd plumbing does not. */
        ck_assert(bus && count && event);
        hook_strv_free(env);
        hook_strv_free(argv);
        cfg_free(c);
}
END_TEST

static Suite *recipes_suite(void) {
        Suite *s = suite_create("recipes");
        TCase *tc = tcase_create("recipes");

        tcase_add_test(tc, test_mbsync);
        tcase_add_test(tc, test_notmuch);
        tcase_add_test(tc, test_notify_send);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(recipes_suite());
}

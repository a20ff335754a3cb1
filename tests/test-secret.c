/* SPDX-License-Identifier: MIT */
/*
 * test-secret.c: the account's shared secret (src/daemon/secret.c) without the daemon: waiters
 * that ask together share one run, a kept secret serves until its lifetime ends (the clock is
 * the test's), invalidation, lifetime 0 (a run per waiter, one at a time), failures, cancel,
 * freeing from a callback, and the locked memory.  The command is /bin/sh with script text fixed
 * here: it appends a line to a file per run, which is how runs are counted, and prints
 * "s<run>".  main() blocks SIGCHLD, as hook.h requires.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hook.h"
#include "log.h"
#include "secret.h"
#include "th.h"

#define SAFETY_USEC (20 * USEC_PER_SEC)
#define LIFETIME_USEC (300 * USEC_PER_SEC)

typedef struct Asker {
        SecretWaiter w;
        unsigned calls;
        int r;
        char secret[64];
        uint64_t generation;
        SecretCache **free_cache;       /* the callback frees *free_cache when set */
} Asker;

static void on_ready(SecretWaiter *w, int r, const char *secret, size_t len, uint64_t generation) {
        Asker *a = (Asker *) (void *) ((char *) w - offsetof(Asker, w));

        a->calls++;
        a->r = r;
        a->generation = generation;
        if (r >= 0) {
                ck_assert_uint_eq(strlen(secret), len);
                ck_assert_uint_lt(len, sizeof(a->secret));
                memcpy(a->secret, secret, len + 1);
        } else
                ck_assert_ptr_null(secret);
        if (a->free_cache)
                *a->free_cache = secret_cache_free(*a->free_cache);
}

static void asker_init(Asker *a) {
        *a = (Asker) { .w = SECRET_WAITER_INIT(on_ready) };
}

static int on_safety(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        *(bool *) userdata = true;
        return 0;
}

/* Run the loop until every asker was called once. */
static void loop_until_called(sd_event *e, Asker *const *askers, size_t n) {
        sd_event_source *t = NULL;
        bool expired = false;

        ck_assert_int_ge(sd_event_add_time_relative(e, &t, CLOCK_MONOTONIC, SAFETY_USEC, 0, on_safety, &expired),
                         0);
        for (;;) {
                bool all = true;

                for (size_t i = 0; i < n; i++)
                        all = all && askers[i]->calls > 0;
                if (all || expired)
                        break;
                ck_assert_int_ge(sd_event_run(e, UINT64_MAX), 0);
        }
        sd_event_source_unref(t);
        ck_assert_msg(!expired, "the callbacks did not run within the safety timeout");
}

typedef struct Fixture {
        char dir[64], calls[96], script[160], sh[8], dash_c[3];
        char *argv[4];
        SecretSource src;
        sd_event *e;
        SecretCache *sc;
} Fixture;

/* A command that counts its runs in dir/calls and prints "s<run>"; with fail, exits 1 instead. */
static void fixture_init(Fixture *f, uint64_t lifetime, bool fail) {
        *f = (Fixture) {};
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-secret-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(f->dir));
        snprintf(f->calls, sizeof(f->calls), "%s/calls", f->dir);
        snprintf(f->script, sizeof(f->script), fail ? "echo x >> '%s'; exit 1" : "echo x >> '%s'; echo s$(wc -l < '%s')",
                 f->calls, f->calls);
        snprintf(f->sh, sizeof(f->sh), "/bin/sh");
        snprintf(f->dash_c, sizeof(f->dash_c), "-c");
        f->argv[0] = f->sh;
        f->argv[1] = f->dash_c;
        f->argv[2] = f->script;
        f->src = (SecretSource) {
                .argv = f->argv,
                .lifetime_usec = lifetime,
                .timeout_usec = 10 * USEC_PER_SEC,
                .max_bytes = 1024,
                .log_name = "t password_command",
        };
        ck_assert_int_eq(sd_event_new(&f->e), 0);
        ck_assert_int_eq(secret_cache_new(f->e, &f->sc), 0);
}

static unsigned fixture_runs(const Fixture *f) {
        FILE *p = fopen(f->calls, "re");
        unsigned n = 0;
        int ch;

        if (!p)
                return 0;
        while ((ch = fgetc(p)) != EOF)
                n += ch == '\n';
        fclose(p);
        return n;
}

static void fixture_done(Fixture *f) {
        f->sc = secret_cache_free(f->sc);
        sd_event_unref(f->e);
        (void) unlink(f->calls);
        (void) rmdir(f->dir);
}

/* get() that must queue the asker. */
static void ask_queued(Fixture *f, Asker *a, uint64_t now) {
        const char *s = NULL;
        size_t len = 0;
        uint64_t g = 0;

        ck_assert_int_eq(secret_cache_get(f->sc, &f->src, now, &a->w, &s, &len, &g), 0);
        ck_assert_ptr_null(s);
        ck_assert_uint_eq(a->calls, 0);         /* never from inside get() */
}

/* get() that must be served from memory with 'expect'; returns the generation. */
static uint64_t ask_kept(Fixture *f, Asker *a, uint64_t now, const char *expect) {
        const char *s = NULL;
        size_t len = 0;
        uint64_t g = 0;

        ck_assert_int_eq(secret_cache_get(f->sc, &f->src, now, &a->w, &s, &len, &g), 1);
        ck_assert_str_eq(s, expect);
        ck_assert_uint_eq(len, strlen(expect));
        ck_assert_ptr_null(a->w.next);
        return g;
}

START_TEST(test_coalesce) {
        /* Three connections of an account start together: one run, the same secret for all. */
        Asker a, b, c, d;
        Fixture f;

        fixture_init(&f, LIFETIME_USEC, false);
        asker_init(&a), asker_init(&b), asker_init(&c), asker_init(&d);
        ask_queued(&f, &a, 0);
        ask_queued(&f, &b, 0);
        ask_queued(&f, &c, USEC_PER_SEC);
        ck_assert_uint_eq(secret_cache_runs(f.sc), 1);
        loop_until_called(f.e, (Asker *[]) { &a, &b, &c }, 3);
        ck_assert_uint_eq(fixture_runs(&f), 1);
        ck_assert_int_eq(a.r, 0);
        ck_assert_str_eq(a.secret, "s1");
        ck_assert_str_eq(b.secret, "s1");
        ck_assert_str_eq(c.secret, "s1");
        ck_assert_uint_eq(a.generation, b.generation);
        ck_assert_uint_eq(a.calls + b.calls + c.calls, 3);
        /* They reconnect together within the lifetime: from memory, no run. */
        ck_assert_uint_eq(ask_kept(&f, &d, 60 * USEC_PER_SEC, "s1"), a.generation);
        ck_assert_uint_eq(ask_kept(&f, &d, LIFETIME_USEC - 1, "s1"), a.generation);
        ck_assert_uint_eq(secret_cache_runs(f.sc), 1);
        ck_assert_uint_eq(fixture_runs(&f), 1);
        ck_assert_uint_eq(d.calls, 0);
        fixture_done(&f);
}
END_TEST

START_TEST(test_lifetime_ends) {
        /* At its lifetime's end the kept secret is wiped when asked for, and the command runs. */
        Asker a, b;
        Fixture f;

        fixture_init(&f, 10 * USEC_PER_SEC, false);
        asker_init(&a), asker_init(&b);
        ask_queued(&f, &a, 5 * USEC_PER_SEC);
        loop_until_called(f.e, (Asker *[]) { &a }, 1);
        ck_assert_int_ge(secret_cache_held(f.sc), 0);
        (void) ask_kept(&f, &b, 15 * USEC_PER_SEC - 1, "s1");
        ask_queued(&f, &b, 15 * USEC_PER_SEC);
        ck_assert_int_eq(secret_cache_held(f.sc), -ENOENT);
        loop_until_called(f.e, (Asker *[]) { &b }, 1);
        ck_assert_str_eq(b.secret, "s2");
        ck_assert_uint_gt(b.generation, a.generation);
        ck_assert_uint_eq(fixture_runs(&f), 2);
        /* A clock that went back does not make a secret younger than its run: asked again. */
        asker_init(&b);
        ask_queued(&f, &b, USEC_PER_SEC);
        loop_until_called(f.e, (Asker *[]) { &b }, 1);
        ck_assert_uint_eq(fixture_runs(&f), 3);
        fixture_done(&f);
}
END_TEST

START_TEST(test_invalidate) {
        /* A refused login drops the secret it used, and only that one. */
        Asker a, b;
        Fixture f;

        fixture_init(&f, LIFETIME_USEC, false);
        asker_init(&a), asker_init(&b);
        ask_queued(&f, &a, 0);
        loop_until_called(f.e, (Asker *[]) { &a }, 1);
        secret_cache_invalidate(f.sc, a.generation - 1);        /* an older one: no effect */
        (void) ask_kept(&f, &b, 1, "s1");
        secret_cache_invalidate(f.sc, a.generation);
        ck_assert_int_eq(secret_cache_held(f.sc), -ENOENT);
        ask_queued(&f, &b, 2);
        loop_until_called(f.e, (Asker *[]) { &b }, 1);
        ck_assert_str_eq(b.secret, "s2");
        ck_assert_uint_eq(b.generation, a.generation + 1);
        /* The first secret refused again, late: the new one stays. */
        secret_cache_invalidate(f.sc, a.generation);
        (void) ask_kept(&f, &a, 3, "s2");
        ck_assert_uint_eq(fixture_runs(&f), 2);
        fixture_done(&f);
}
END_TEST

START_TEST(test_lifetime_zero) {
        /* secret_cache = 0: a run per waiter, one after the other, in the order asked; nothing kept. */
        Asker a, b, c;
        Fixture f;

        fixture_init(&f, 0, false);
        asker_init(&a), asker_init(&b), asker_init(&c);
        ask_queued(&f, &a, 0);
        ask_queued(&f, &b, 0);
        ask_queued(&f, &c, 0);
        ck_assert_uint_eq(secret_cache_runs(f.sc), 1);
        loop_until_called(f.e, (Asker *[]) { &a, &b, &c }, 3);
        ck_assert_str_eq(a.secret, "s1");
        ck_assert_str_eq(b.secret, "s2");
        ck_assert_str_eq(c.secret, "s3");
        ck_assert_uint_eq(fixture_runs(&f), 3);
        ck_assert_int_eq(secret_cache_held(f.sc), -ENOENT);
        asker_init(&a);
        ask_queued(&f, &a, 1);
        loop_until_called(f.e, (Asker *[]) { &a }, 1);
        ck_assert_str_eq(a.secret, "s4");
        ck_assert_uint_eq(fixture_runs(&f), 4);
        fixture_done(&f);
}
END_TEST

START_TEST(test_failure_shared) {
        /* A failing command fails every waiter of its run, once; nothing is kept, the next ask runs
         * it again (the connections' backoff paces that, not this module). */
        Asker a, b;
        Fixture f;

        fixture_init(&f, LIFETIME_USEC, true);
        asker_init(&a), asker_init(&b);
        ask_queued(&f, &a, 0);
        ask_queued(&f, &b, 0);
        loop_until_called(f.e, (Asker *[]) { &a, &b }, 2);
        ck_assert_int_eq(a.r, -EIO);
        ck_assert_int_eq(b.r, -EIO);
        ck_assert_uint_eq(fixture_runs(&f), 1);
        ck_assert_int_eq(secret_cache_held(f.sc), -ENOENT);
        asker_init(&a);
        ask_queued(&f, &a, 1);
        loop_until_called(f.e, (Asker *[]) { &a }, 1);
        ck_assert_uint_eq(fixture_runs(&f), 2);
        fixture_done(&f);

        /* With lifetime 0 too: the failure goes to all, not to a run each. */
        fixture_init(&f, 0, true);
        asker_init(&a), asker_init(&b);
        ask_queued(&f, &a, 0);
        ask_queued(&f, &b, 0);
        loop_until_called(f.e, (Asker *[]) { &a, &b }, 2);
        ck_assert_int_eq(b.r, -EIO);
        ck_assert_uint_eq(fixture_runs(&f), 1);
        fixture_done(&f);
}
END_TEST

START_TEST(test_cancel_and_busy) {
        Asker a, b;
        const char *s = NULL;
        size_t len = 0;
        uint64_t g = 0;
        Fixture f;

        fixture_init(&f, LIFETIME_USEC, false);
        asker_init(&a), asker_init(&b);
        ask_queued(&f, &a, 0);
        ck_assert_int_eq(secret_cache_get(f.sc, &f.src, 0, &a.w, &s, &len, &g), -EBUSY);
        ask_queued(&f, &b, 0);
        secret_cache_cancel(&a.w);
        secret_cache_cancel(&a.w);              /* not queued: nothing */
        ck_assert_ptr_null(a.w.next);
        loop_until_called(f.e, (Asker *[]) { &b }, 1);
        ck_assert_uint_eq(a.calls, 0);
        ck_assert_str_eq(b.secret, "s1");
        /* A bad source. */
        ck_assert_int_eq(secret_cache_get(f.sc, &(SecretSource) {}, 0, &a.w, &s, &len, &g), -EINVAL);
        fixture_done(&f);
}
END_TEST

START_TEST(test_free_from_callback) {
        /* The first waiter's callback frees the cache (an account removed): the second is still
         * called, with the same secret. */
        Asker a, b;
        Fixture f;

        fixture_init(&f, LIFETIME_USEC, false);
        asker_init(&a), asker_init(&b);
        a.free_cache = &f.sc;
        ask_queued(&f, &a, 0);
        ask_queued(&f, &b, 0);
        loop_until_called(f.e, (Asker *[]) { &a, &b }, 2);
        ck_assert_ptr_null(f.sc);
        ck_assert_str_eq(b.secret, "s1");
        fixture_done(&f);
}
END_TEST

START_TEST(test_free_in_flight) {
        /* Freed while its command runs: the command is stopped, no waiter is called later. */
        Asker a;
        Fixture f;

        fixture_init(&f, LIFETIME_USEC, false);
        asker_init(&a);
        ask_queued(&f, &a, 0);
        secret_cache_cancel(&a.w);
        f.sc = secret_cache_free(f.sc);
        for (unsigned i = 0; i < 10; i++)
                ck_assert_int_ge(sd_event_run(f.e, 0), 0);
        ck_assert_uint_eq(a.calls, 0);
        fixture_done(&f);
}
END_TEST

START_TEST(test_locked_memory) {
        /* The kept secret is mlock()ed where the limit allows it; where it does not, it works
         * all the same, unlocked. */
        struct rlimit rl;
        Asker a, b;
        Fixture f;

        ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
        fixture_init(&f, LIFETIME_USEC, false);
        asker_init(&a), asker_init(&b);
        ask_queued(&f, &a, 0);
        loop_until_called(f.e, (Asker *[]) { &a }, 1);
        /* A page of headroom: the test process itself locks nothing else. */
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 64 * 1024)
                ck_assert_int_eq(secret_cache_held(f.sc), 1);
        else
                ck_assert_int_ge(secret_cache_held(f.sc), 0);
        secret_cache_invalidate(f.sc, a.generation);
        ck_assert_int_eq(secret_cache_held(f.sc), -ENOENT);

        /* No locked memory at all (Check runs each test in a child: the limit stays here).  Root
         * has CAP_IPC_LOCK, which the limit does not bind. */
        rl.rlim_cur = 0;
        ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
        ask_queued(&f, &b, 1);
        loop_until_called(f.e, (Asker *[]) { &b }, 1);
        ck_assert_str_eq(b.secret, "s2");
        ck_assert_int_eq(secret_cache_held(f.sc), geteuid() == 0 ? 1 : 0);
        asker_init(&a);
        (void) ask_kept(&f, &a, 2, "s2");
        fixture_done(&f);
}
END_TEST

static Suite *secret_suite(void) {
        Suite *s = suite_create("secret");
        TCase *tc = tcase_create("cache");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_coalesce);
        tcase_add_test(tc, test_lifetime_ends);
        tcase_add_test(tc, test_invalidate);
        tcase_add_test(tc, test_lifetime_zero);
        tcase_add_test(tc, test_failure_shared);
        tcase_add_test(tc, test_cancel_and_busy);
        tcase_add_test(tc, test_free_from_callback);
        tcase_add_test(tc, test_free_in_flight);
        tcase_add_test(tc, test_locked_memory);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        sigset_t mask;

        /* hook.h: SIGCHLD blocked in every thread. */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return EXIT_FAILURE;
        log_set_max_level(LOG_DEBUG);
        return th_run_suite(secret_suite());
}

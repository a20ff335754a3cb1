/* SPDX-License-Identifier: MIT */
/*
 * test-watch.c: a watched mailbox's event rules (src/daemon/watch.c, docs/EVENTS.md) without a
 * server and without real time.  The connection is a fake fetcher (WatchFetchFn) that records
 * every WatchFetchRequest, with how many on_new runs had started when it was asked, and the test
 * answers it with watch_fetch_done().  The scheduler has no sd_event: nothing starts on a timer,
 * only inside a trigger (debounce 0, the hot path) or when the test calls sched_dispatch() at a
 * time it chooses.  watch.c stamps triggers with sd_event_now(), which after the first loop
 * iteration is the time of the last one: between two iterations the test knows it exactly.
 *
 * Hooks are real: tests/hook-helper env FILE appends its IMAPIDLED_* environment (and what it read
 * on stdin) as one line per run, and the test runs the sd-event loop until the watch's hooks have
 * ended (a safety timer bounds it; nothing sleeps).  main() blocks SIGCHLD and ignores SIGPIPE, as
 * hook.h requires.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cfg.h"
#include "desktop.h"
#include "details.h"
#include "log.h"
#include "scheduler.h"
#include "th.h"
#include "time-util.h"
#include "watch.h"

#define SAFETY_USEC (20 * USEC_PER_SEC)
#define MAX_REQS 32
#define MAX_RUNS 32

typedef struct Req {
        WatchFetchRequest req;
        uint64_t new_runs;              /* watch_runs(NEW) when it was asked */
} Req;

typedef struct T {
        char dir[64], runs_path[128];
        Cfg *cfg;
        sd_event *e;
        Sched *s;
        Watch *w;
        unsigned changed;

        int fetch_ret;                  /* what the fake fetcher returns */
        Req reqs[MAX_REQS];
        size_t n_reqs;
        bool owed;                      /* a request returned 0 and was not answered yet */

        char *runs[MAX_RUNS];           /* lines of the runs file */
        size_t n_runs;

        /* desktop_notify: what the watch handed to its WatchNotifyFn (watch_set_notify()). */
        unsigned n_notify;
        uint64_t notify_count;
        size_t notify_n;
        char notify_subject[64];        /* of the newest, "" without details */
        uint64_t notify_hook_runs;      /* watch_runs(NEW) at the call */
} T;

static void fake_notify(Watch *w, uint64_t count, const MessageDetails *details, size_t n, void *userdata) {
        T *t = userdata;

        ck_assert_ptr_eq(w, t->w);
        t->n_notify++;
        t->notify_count = count;
        t->notify_n = n;
        t->notify_hook_runs = watch_runs(w, WATCH_EVENT_NEW);
        (void) snprintf(t->notify_subject, sizeof(t->notify_subject), "%s",
                        n > 0 && details[n - 1].subject ? details[n - 1].subject : "");
}

static int fake_fetch(void *userdata, Watch *w, const WatchFetchRequest *req) {
        T *t = userdata;

        ck_assert_ptr_eq(w, t->w);
        ck_assert_msg(!t->owed, "a second fetch while one is owed");
        ck_assert_uint_lt(t->n_reqs, MAX_REQS);
        t->reqs[t->n_reqs++] = (Req) { .req = *req, .new_runs = watch_runs(w, WATCH_EVENT_NEW) };
        if (t->fetch_ret >= 0)
                t->owed = true;
        return t->fetch_ret;
}

static void on_changed(Watch *w, void *userdata) {
        T *t = userdata;

        ck_assert_ptr_eq(w, t->w);
        t->changed++;
}

/* new_opts: inside on_new's group ("uids = true;"), NULL: no on_new hook; extra: account keys
 * ("debounce = 1;"). */
static void setup(T *t, const char *new_opts, const char *extra) {
        _cleanup_free_ char *text = NULL, *err = NULL, *on_new = NULL;
        uint64_t now;
        int r;

        *t = (T) {};
        (void) snprintf(t->dir, sizeof(t->dir), "/tmp/test-watch.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(t->dir));
        (void) snprintf(t->runs_path, sizeof(t->runs_path), "%s/runs", t->dir);
        if (new_opts)
                ck_assert_int_ge(asprintf(&on_new, "on_new = { command = [\"%s\", \"env\", \"%s\", \"new\"]; %s };",
                                          HOOK_HELPER, t->runs_path, new_opts),
                                 0);
        ck_assert_int_ge(asprintf(&text,
                                  "accounts = ( {\n"
                                  "  name = \"acct\"; host = \"imap.example.org\"; username = \"u\"; password = \"p\";\n"
                                  "  %s\n"
                                  "  on_expunge = [\"%s\", \"env\", \"%s\", \"expunge\"];\n"
                                  "  on_flags = [\"%s\", \"env\", \"%s\", \"flags\"];\n"
                                  "  %s\n"
                                  "} );\n",
                                  on_new ?: "", HOOK_HELPER, t->runs_path, HOOK_HELPER, t->runs_path, extra),
                         0);
        r = cfg_load_string(text, "t.conf", &t->cfg, &err);
        ck_assert_msg(r == 0, "%d: %s\n%s", r, err ?: "", text);
        ck_assert_uint_eq(t->cfg->n_accounts, 1);
        ck_assert_int_eq(sd_event_new(&t->e), 0);
        /* One iteration, so that sd_event_now() is a fixed time from here on (the fake clock). */
        ck_assert_int_ge(sd_event_run(t->e, 0), 0);
        ck_assert_int_eq(sd_event_now(t->e, CLOCK_MONOTONIC, &now), 0);
        ck_assert_int_eq(sched_new(NULL, 4, &t->s), 0);
        ck_assert_int_eq(watch_new(t->e, t->s, &t->cfg->accounts[0], &t->cfg->accounts[0].mailboxes[0], on_changed,
                                   t, &t->w),
                         0);
        watch_set_fetcher(t->w, fake_fetch, t);
        watch_set_notify(t->w, fake_notify, t);
}

static void teardown(T *t) {
        t->w = watch_free(t->w);
        t->s = sched_free(t->s);
        t->e = sd_event_unref(t->e);
        t->cfg = cfg_free(t->cfg);
        for (size_t i = 0; i < t->n_runs; i++)
                free(t->runs[i]);
        (void) unlink(t->runs_path);
        (void) rmdir(t->dir);
}

static uint64_t now(T *t) {
        uint64_t u = 0;

        ck_assert_int_eq(sd_event_now(t->e, CLOCK_MONOTONIC, &u), 0);
        return u;
}

static int on_safety(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        *(bool *) userdata = true;
        return 0;
}

static void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

/* Read the runs file again. */
static void load_runs(T *t) {
        _cleanup_(fclosep) FILE *f = NULL;
        char *line = NULL;
        size_t n = 0;

        for (size_t i = 0; i < t->n_runs; i++)
                t->runs[i] = mfree(t->runs[i]);
        t->n_runs = 0;
        f = fopen(t->runs_path, "re");
        if (!f) {
                ck_assert_int_eq(errno, ENOENT);
                return;
        }
        while (getline(&line, &n, f) > 0) {
                ck_assert_uint_lt(t->n_runs, MAX_RUNS);
                line[strcspn(line, "\n")] = 0;
                t->runs[t->n_runs++] = strdup(line);
        }
        free(line);
}

/* Run the loop until at most 'resolving' of the watch's jobs are busy (a run that waits for its
 * fetch counts as busy: watch_hooks_running()), i.e. until every hook that was started ended. */
static void settle(T *t, unsigned resolving) {
        sd_event_source *safety = NULL;
        bool expired = false;

        ck_assert_int_ge(sd_event_add_time_relative(t->e, &safety, CLOCK_MONOTONIC, SAFETY_USEC, 0, on_safety,
                                                    &expired),
                         0);
        while (watch_hooks_running(t->w) > resolving && !expired)
                ck_assert_int_ge(sd_event_run(t->e, UINT64_MAX), 0);
        sd_event_source_unref(safety);
        ck_assert_msg(!expired, "the hooks did not end within the safety timeout");
        load_runs(t);
}

/* Start whatever the scheduler has due now (runs pending behind a run that ended). */
static unsigned dispatch(T *t) {
        return sched_dispatch(t->s, now(t));
}

/* The value of KEY in run i ("" if absent, which a test then sees as a mismatch). */
static const char *val(T *t, size_t i, const char *key) {
        static char out[4096];
        const char *p;
        size_t klen = strlen(key);

        ck_assert_uint_lt(i, t->n_runs);
        out[0] = 0;
        for (p = t->runs[i]; p && *p; p = strchr(p, '\t') ? strchr(p, '\t') + 1 : NULL)
                if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        size_t n = strcspn(p + klen + 1, "\t");

                        ck_assert_uint_lt(n, sizeof(out));
                        memcpy(out, p + klen + 1, n);
                        out[n] = 0;
                        return out;
                }
        return "(unset)";
}

#define ck_run(t, i, key, want) ck_assert_str_eq(val(t, i, key), want)

static void ck_known(T *t, uint32_t uidvalidity, uint32_t uidnext, uint32_t exists) {
        uint32_t v, n, x;
        uint64_t m;

        ck_assert(watch_known(t->w, &v, &n, &x, &m));
        ck_assert_uint_eq(v, uidvalidity);
        ck_assert_uint_eq(n, uidnext);
        ck_assert_uint_eq(x, exists);
}

static void ck_req(T *t, size_t i, uint32_t floor, uint32_t max_seq, unsigned details_max) {
        ck_assert_uint_lt(i, t->n_reqs);
        ck_assert_uint_eq(t->reqs[i].req.floor, floor);
        ck_assert_uint_eq(t->reqs[i].req.max_seq, max_seq);
        ck_assert_uint_eq(t->reqs[i].req.details_max, details_max);
}

/* Answer the fetch that is owed. */
static void answer(T *t, int r, uint64_t count, uint32_t min_uid, uint32_t max_uid) {
        WatchFetchResult res = { .count = count, .min_uid = min_uid, .max_uid = max_uid };

        ck_assert(t->owed);
        t->owed = false;
        watch_fetch_done(t->w, r, &res);
}

/* A mailbox the watch knows: the first SELECT (no state), 10 messages, UIDs below 51. */
static void selected_10(T *t) {
        watch_selected(t->w, 10, 100, 51, 0, false);
        ck_known(t, 100, 51, 10);
        ck_assert_uint_eq(t->n_reqs, 0);
}

/* The index of the only run of this IMAPIDLED_EVENT. */
static size_t run_of(T *t, const char *event) {
        size_t found = SIZE_MAX;

        for (size_t i = 0; i < t->n_runs; i++)
                if (strcmp(val(t, i, "EVENT"), event) == 0) {
                        ck_assert_msg(found == SIZE_MAX, "two runs of %s", event);
                        found = i;
                }
        ck_assert_msg(found != SIZE_MAX, "no run of %s", event);
        return found;
}

/* ---- catch-up: SELECT against what was known ----------------------------------------------------- */

START_TEST(test_first_select_records) {
        T t;

        setup(&t, "", "");
        ck_assert(!watch_known(t.w, &(uint32_t) { 0 }, &(uint32_t) { 0 }, &(uint32_t) { 0 }, &(uint64_t) { 0 }));
        selected_10(&t);
        ck_assert_uint_ge(t.changed, 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 0);
        teardown(&t);
}
END_TEST

/* A run whose hook cannot even be spawned (no descriptor left for its pipes): a failed run,
 * with the -errno as its status, and no run counted as started. */
START_TEST(test_spawn_fails) {
        struct rlimit old, low;
        WatchStatus st;
        int free_fd;
        T t;

        setup(&t, "", "startup_sync = true;");
        /* The lowest free descriptor as the limit: every one below it is open, so none is left. */
        free_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
        ck_assert_int_ge(free_fd, 0);
        ck_assert_int_eq(close(free_fd), 0);
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
        low = (struct rlimit) { .rlim_cur = (rlim_t) free_fd, .rlim_max = old.rlim_max };
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
        selected_10(&t);
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        ck_assert_uint_eq(watch_runs_failed(t.w, WATCH_EVENT_NEW), 1);
        watch_status(t.w, &st);
        ck_assert_str_eq(st.last_hook, "on_new");
        ck_assert_int_eq(st.last_hook_status, -EMFILE);
        ck_assert(!st.last_hook_timed_out);
        teardown(&t);
}
END_TEST

/* startup_sync: one on_new run, COUNT=0, REASON=startup, and no fetch (it covers nothing). */
START_TEST(test_startup_sync) {
        T t;

        setup(&t, "", "startup_sync = true;");
        selected_10(&t);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "new");
        ck_run(&t, 0, "REASON", "startup");
        ck_run(&t, 0, "COUNT", "0");
        ck_run(&t, 0, "UIDS", "51:*");
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_known(&t, 100, 51, 10);
        /* Only the first SELECT of the daemon's run. */
        watch_selected(t.w, 10, 100, 51, 0, false);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        teardown(&t);
}
END_TEST

/* A mailbox created while the account was watched (a pattern found it):
 * what it holds at its first selection is new mail, all of it. */
START_TEST(test_fresh_mailbox) {
        T t;

        setup(&t, "", "");
        watch_set_fresh(t.w);
        ck_assert(!watch_known(t.w, &(uint32_t) { 0 }, &(uint32_t) { 0 }, &(uint32_t) { 0 }, &(uint64_t) { 0 }));
        /* Two delivered, UIDs 1 and 2: exact, no scan. */
        watch_selected(t.w, 2, 77, 3, 0, false);
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_known(&t, 77, 3, 2);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "REASON", "catchup");
        ck_run(&t, 0, "COUNT", "2");
        ck_run(&t, 0, "UIDS", "1:2");
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 0);
        /* Only the first selection: later ones compare as usual. */
        watch_selected(t.w, 2, 77, 3, 0, true);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        teardown(&t);
}
END_TEST

/* Fresh, but one of three UIDs already gone: the scan says which are there. */
START_TEST(test_fresh_mailbox_scan) {
        T t;

        setup(&t, "", "");
        watch_set_fresh(t.w);
        watch_selected(t.w, 2, 77, 4, 0, false);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_req(&t, 0, 1, 0, 0);
        answer(&t, 0, 2, 2, 3);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "COUNT", "2");
        ck_run(&t, 0, "UIDS", "2:3");
        teardown(&t);
}
END_TEST

/* Fresh has no effect on a watch that knows its numbers (a restored one). */
START_TEST(test_fresh_ignored_when_known) {
        T t;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_set_fresh(t.w);
        watch_selected(t.w, 10, 100, 51, 0, false);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 0);
        teardown(&t);
}
END_TEST

START_TEST(test_catchup_new) {
        T t;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        ck_known(&t, 100, 51, 10);
        /* Four UIDs handed out, three more messages: which are there, only a
         * scan can tell (one came and went, or one old one went). */
        watch_selected(t.w, 13, 100, 55, 0, false);
        /* Nothing is reported before the scan says which UIDs are there. */
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_req(&t, 0, 51, 0, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        answer(&t, 0, 3, 51, 53);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_known(&t, 100, 54, 13);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "new");
        ck_run(&t, 0, "REASON", "catchup");
        ck_run(&t, 0, "COUNT", "3");
        ck_run(&t, 0, "UIDS", "51:53");
        ck_run(&t, 0, "UIDNEXT", "54");
        ck_run(&t, 0, "EXISTS", "13");
        ck_run(&t, 0, "UIDVALIDITY", "100");
        ck_run(&t, 0, "MAILBOX", "INBOX");
        ck_run(&t, 0, "ACCOUNT", "acct");
        ck_run(&t, 0, "STDIN", "0/0");
        /* The run knew its UIDs from the scan: no further command. */
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_assert_uint_eq(dispatch(&t), 0);
        teardown(&t);
}
END_TEST

/* As many more messages as UIDs handed out: exactly those UIDs are the new
 * messages, nothing was expunged, and no scan is needed (watch.c). */
START_TEST(test_catchup_exact) {
        T t;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_selected(t.w, 13, 100, 54, 0, false);
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_known(&t, 100, 54, 13);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "REASON", "catchup");
        ck_run(&t, 0, "COUNT", "3");
        ck_run(&t, 0, "UIDS", "51:53");
        ck_run(&t, 0, "UIDNEXT", "54");
        ck_run(&t, 0, "EXISTS", "13");
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 0);
        /* A live poll or NOTIFY STATUS the same way: one more, one UID. */
        watch_selected(t.w, 14, 100, 55, 0, true);
        ck_assert_uint_eq(t.n_reqs, 0);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 1, "REASON", "live");
        ck_run(&t, 1, "COUNT", "1");
        ck_run(&t, 1, "UIDS", "54");
        teardown(&t);
}
END_TEST

/* 10 known, 2 of 3 new UIDs still there (one came and went), 11 now: 10 + 2 - 11 = 1 expunged. */
START_TEST(test_catchup_new_and_expunge) {
        T t;
        size_t i;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_selected(t.w, 11, 100, 54, 0, false);
        ck_req(&t, 0, 51, 0, 0);
        answer(&t, 0, 2, 51, 53);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        i = run_of(&t, "new");
        ck_run(&t, i, "COUNT", "2");
        ck_run(&t, i, "UIDS", "51:53");
        ck_run(&t, i, "REASON", "catchup");
        i = run_of(&t, "expunge");
        ck_run(&t, i, "COUNT", "1");
        ck_run(&t, i, "REASON", "catchup");
        ck_run(&t, i, "EXISTS", "11");
        ck_assert_str_eq(val(&t, i, "UIDS"), "(unset)");
        ck_known(&t, 100, 54, 11);
        teardown(&t);
}
END_TEST

/* A live EXPUNGE of an old message while the catch-up scan is out: reported
 * once, live, and not again by the scan's arithmetic. */
START_TEST(test_catchup_live_expunge_during_scan) {
        T t;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_selected(t.w, 13, 100, 55, 0, false);     /* not exact: a scan */
        ck_req(&t, 0, 51, 0, 0);
        watch_on_expunge(t.w, 4);                       /* one of the old ten */
        answer(&t, 0, 3, 51, 53);
        settle(&t, 0);
        /* No second expunge run waits behind the first (the scheduler has nothing due). */
        ck_assert_uint_eq(dispatch(&t), 0);
        settle(&t, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 1);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, run_of(&t, "expunge"), "COUNT", "1");
        ck_run(&t, run_of(&t, "expunge"), "REASON", "live");
        ck_run(&t, run_of(&t, "new"), "COUNT", "3");
        ck_known(&t, 100, 54, 12);
        teardown(&t);
}
END_TEST

START_TEST(test_catchup_expunge_only) {
        T t;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_selected(t.w, 7, 100, 51, 0, false);
        ck_assert_uint_eq(t.n_reqs, 0);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "expunge");
        ck_run(&t, 0, "COUNT", "3");
        ck_run(&t, 0, "REASON", "catchup");
        ck_run(&t, 0, "EXISTS", "7");
        ck_known(&t, 100, 51, 7);
        teardown(&t);
}
END_TEST

START_TEST(test_catchup_nothing) {
        T t;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_selected(t.w, 10, 100, 51, 0, false);
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_assert_uint_eq(watch_hooks_running(t.w), 0);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 0);
        ck_assert_uint_eq(dispatch(&t), 0);
        ck_known(&t, 100, 51, 10);
        teardown(&t);
}
END_TEST

/* A new UIDVALIDITY: resync through on_new, even for a hook that wants UIDs (no fetch: 1:*). */
START_TEST(test_resync) {
        T t;

        setup(&t, "uids = true;", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_selected(t.w, 12, 200, 13, 0, false);
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_known(&t, 200, 13, 12);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "resync");
        ck_run(&t, 0, "REASON", "catchup");
        ck_run(&t, 0, "COUNT", "12");
        ck_run(&t, 0, "UIDS", "1:*");
        ck_run(&t, 0, "UIDVALIDITY", "200");
        ck_run(&t, 0, "UIDNEXT", "13");
        ck_run(&t, 0, "EXISTS", "12");
        teardown(&t);
}
END_TEST

/* H11: a server whose EXAMINE gives no UIDVALIDITY or no UIDNEXT (both nz-numbers, RFC 3501 §9, so
 * the connection passes 0).  A variable whose value is not known is not set (docs/HOOKS.md): no
 * IMAPIDLED_UIDVALIDITY=0, no IMAPIDLED_UIDNEXT=0, no IMAPIDLED_UIDS=0:* or empty set. */
START_TEST(test_unknown_uid_numbers) {
        T t;

        /* Neither: the startup run, then a live arrival on the hot path. */
        setup(&t, "", "startup_sync = true;");
        watch_selected(t.w, 10, 0, 0, 0, false);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "REASON", "startup");
        ck_run(&t, 0, "EXISTS", "10");
        ck_run(&t, 0, "UIDVALIDITY", "(unset)");
        ck_run(&t, 0, "UIDNEXT", "(unset)");
        ck_run(&t, 0, "UIDS", "(unset)");
        watch_on_exists(t.w, 11);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 2);
        if (t.owed)
                answer(&t, -EIO, 0, 0, 0);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 1, "REASON", "live");
        ck_run(&t, 1, "COUNT", "1");
        ck_run(&t, 1, "EXISTS", "11");
        ck_run(&t, 1, "UIDVALIDITY", "(unset)");
        ck_run(&t, 1, "UIDNEXT", "(unset)");
        ck_run(&t, 1, "UIDS", "(unset)");
        teardown(&t);

        /* UIDVALIDITY without UIDNEXT: the one that is known is set. */
        setup(&t, "", "startup_sync = true;");
        watch_selected(t.w, 3, 100, 0, 0, false);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "UIDVALIDITY", "100");
        ck_run(&t, 0, "UIDNEXT", "(unset)");
        ck_run(&t, 0, "UIDS", "(unset)");
        teardown(&t);

        /* UIDNEXT without UIDVALIDITY. */
        setup(&t, "", "startup_sync = true;");
        watch_selected(t.w, 3, 0, 51, 0, false);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "UIDVALIDITY", "(unset)");
        ck_run(&t, 0, "UIDNEXT", "51");
        ck_run(&t, 0, "UIDS", "51:*");
        teardown(&t);

        /* An expunge run has no UIDS anyway; the numbers follow the same rule. */
        setup(&t, "", "");
        watch_selected(t.w, 3, 0, 0, 0, false);
        watch_on_expunge(t.w, 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "expunge");
        ck_run(&t, 0, "EXISTS", "2");
        ck_run(&t, 0, "UIDVALIDITY", "(unset)");
        ck_run(&t, 0, "UIDNEXT", "(unset)");
        teardown(&t);
}
END_TEST

/* ---- live: the hot path and hooks that want UIDs -------------------------------------------------- */

START_TEST(test_hot_path) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        watch_on_exists(t.w, 12);
        /* Started inside watch_on_exists(), before anything was asked. */
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_assert_uint_eq(t.reqs[0].new_runs, 1);
        /* Then: which UIDs did it cover, the messages up to the EXISTS at its start. */
        ck_req(&t, 0, 51, 12, 0);
        /* Until the answer, the two are above the floor: not persisted as known. */
        ck_known(&t, 100, 51, 10);
        answer(&t, 0, 2, 51, 52);
        ck_known(&t, 100, 53, 12);
        ck_assert_uint_eq(t.n_reqs, 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "new");
        ck_run(&t, 0, "REASON", "live");
        ck_run(&t, 0, "COUNT", "2");
        ck_run(&t, 0, "UIDS", "51:*");
        ck_run(&t, 0, "UIDNEXT", "51");
        ck_run(&t, 0, "EXISTS", "12");
        ck_run(&t, 0, "STDIN", "0/0");
        ck_assert_str_eq(val(&t, 0, "DETAILS"), "(unset)");
        ck_assert_uint_eq(dispatch(&t), 0);
        teardown(&t);
}
END_TEST

/* A smaller EXISTS without EXPUNGE (RFC 3501 §7.3.1 forbids it; docs/SECURITY.md H07): out of
 * sync, nothing fires, the numbers stay, and nothing the server says counts until the mailbox is
 * counted again; that count goes by the catch-up rules. */
START_TEST(test_exists_shrinks) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        ck_assert_int_eq(watch_on_exists(t.w, 10), 0);         /* the same again: allowed */
        ck_assert_int_eq(watch_on_exists(t.w, 8), -ESTALE);
        ck_assert_int_eq(watch_on_exists(t.w, 8), -ESTALE);
        /* Growth from the shrunk number would be two made-up arrivals. */
        ck_assert_int_eq(watch_on_exists(t.w, 10), -ESTALE);
        ck_assert_int_eq(watch_on_expunge(t.w, 1), -ESTALE);
        ck_assert_int_eq(watch_on_flags(t.w, 1), -ESTALE);
        ck_assert_uint_eq(t.n_reqs, 0);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 0);
        ck_known(&t, 100, 51, 10);
        /* The EXAMINE again: nothing changed, nothing runs; live events count again. */
        watch_selected(t.w, 10, 100, 51, 0, false);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 0);
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_assert_int_eq(watch_on_exists(t.w, 11), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        settle(&t, 0);
        ck_run(&t, 0, "COUNT", "1");
        teardown(&t);
}
END_TEST

/* The EXAMINE after an impossible EXISTS finds fewer messages: the catch-up rule reports what is
 * missing, with the server's own counts (never the shrunk EXISTS's arithmetic). */
START_TEST(test_desync_recount) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        ck_assert_int_eq(watch_on_exists(t.w, 4), -ESTALE);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 0);
        watch_selected(t.w, 8, 100, 51, 0, false);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "expunge");
        ck_run(&t, 0, "REASON", "catchup");
        ck_run(&t, 0, "COUNT", "2");
        ck_known(&t, 100, 51, 8);
        teardown(&t);
}
END_TEST

/* The fake clock of the tests that need time to pass (watch_set_clock()). */
static uint64_t fake_now;

static uint64_t fake_clock(void *userdata) {
        (void) userdata;
        return fake_now;
}

/* A UIDVALIDITY that changes at every connect: one resync run, then the changes within the hour
 * are the new baseline and not reported; the first selection after the hour makes one resync run
 * for all of them, and the window starts again. */
START_TEST(test_resync_backoff) {
        T t;

        setup(&t, "", "");
        fake_now = now(&t);
        watch_set_clock(t.w, fake_clock, NULL);
        selected_10(&t);
        watch_selected(t.w, 10, 200, 60, 0, false);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        settle(&t, 0);
        ck_run(&t, 0, "EVENT", "resync");
        ck_run(&t, 0, "COUNT", "10");
        /* 10 min later, and 59 min: not reported, the numbers taken. */
        fake_now += 10 * 60 * USEC_PER_SEC;
        watch_selected(t.w, 11, 300, 70, 0, false);
        ck_known(&t, 300, 70, 11);
        fake_now += 49 * 60 * USEC_PER_SEC;
        watch_selected(t.w, 12, 400, 80, 0, false);
        ck_known(&t, 400, 80, 12);
        settle(&t, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_assert_uint_eq(t.n_reqs, 0);
        /* Live events are reported as usual meanwhile. */
        ck_assert_int_eq(watch_on_exists(t.w, 13), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 2);
        answer(&t, 0, 1, 80, 80);
        settle(&t, 0);
        /* After the hour: one resync for what was left out, even with the same UIDVALIDITY. */
        fake_now += 2 * 60 * USEC_PER_SEC;
        watch_selected(t.w, 13, 400, 81, 0, false);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 3);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 3);
        ck_run(&t, 2, "EVENT", "resync");
        ck_run(&t, 2, "COUNT", "13");
        ck_run(&t, 2, "UIDS", "1:*");
        ck_known(&t, 400, 81, 13);
        /* Nothing owed any more: the next selection compares as usual. */
        fake_now += 61 * 60 * USEC_PER_SEC;
        watch_selected(t.w, 13, 400, 81, 0, false);
        settle(&t, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 3);
        /* A change after the window is a resync again at once. */
        watch_selected(t.w, 13, 500, 81, 0, false);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 4);
        settle(&t, 0);
        teardown(&t);
}
END_TEST

/* Everything the watch logs while fn runs: stderr to a file. */
static char *capture_log(void (*fn)(T *t), T *t) {
        char path[160];
        int fd, saved;
        char *out = NULL;
        size_t n = 0;
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/log", t->dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        (void) fflush(stderr);
        saved = dup(STDERR_FILENO);
        ck_assert_int_ge(saved, 0);
        ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
        (void) close(fd);
        fn(t);
        (void) fflush(stderr);
        ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
        (void) close(saved);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(getdelim(&out, &n, 0, f), 0);
        (void) fclose(f);
        (void) unlink(path);
        return out;
}

static unsigned count_of(const char *s, const char *needle) {
        unsigned n = 0;

        for (const char *p = s; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

static void flags_flood(T *t) {
        for (unsigned i = 0; i < 100000; i++)
                ck_assert_int_eq(watch_on_flags(t->w, 1 + i % 10), 0);
        settle(t, 0);
        ck_assert_uint_eq(dispatch(t), 1);
        settle(t, 0);
}

static void flags_after_interval(T *t) {
        fake_now += WATCH_LOG_INTERVAL_USEC;
        ck_assert_int_eq(watch_on_flags(t->w, 2), 0);
        ck_assert_uint_eq(watch_runs(t->w, WATCH_EVENT_FLAGS), 3);     /* at once: debounce 0 */
        settle(t, 0);
}

static void desync_twice(T *t) {
        ck_assert_int_eq(watch_on_expunge(t->w, 50), -ESTALE);
        watch_selected(t->w, 10, 100, 51, 0, false);
        ck_assert_int_eq(watch_on_flags(t->w, 99), -ESTALE);
        watch_selected(t->w, 10, 100, 51, 0, false);
        /* A new connection: noticed again. */
        watch_set_fetcher(t->w, NULL, NULL);
        watch_set_fetcher(t->w, fake_fetch, t);
        watch_selected(t->w, 10, 100, 51, 0, false);
        ck_assert_int_eq(watch_on_exists(t->w, 3), -ESTALE);
}

/* docs/SECURITY.md H08: 100,000 flag changes make two runs (single flight) and at most
 * WATCH_LOG_BURST event lines a minute; what was left out is summed up in one line at the next
 * line after the interval. */
START_TEST(test_log_rate_limit) {
        _cleanup_free_ char *log = NULL, *log2 = NULL, *log3 = NULL;
        char want[160];
        T t;

        setup(&t, "", "");
        log_set_max_level(LOG_INFO);
        fake_now = now(&t);
        watch_set_clock(t.w, fake_clock, NULL);
        selected_10(&t);
        log = capture_log(flags_flood, &t);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_FLAGS), 2);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 1, "COUNT", "99999");
        ck_assert_msg(count_of(log, "acct/INBOX: flags, 1 message") == WATCH_LOG_BURST, "%s", log);
        ck_assert_msg(count_of(log, "\n") <= WATCH_LOG_BURST + 4, "%s", log);
        ck_assert_msg(count_of(log, "not logged") == 0, "%s", log);
        log2 = capture_log(flags_after_interval, &t);
        (void) snprintf(want, sizeof(want), "acct/INBOX: %u more event lines not logged (new 0, expunge 0, flags %u messages)",
                        100000 - WATCH_LOG_BURST, 100000 - WATCH_LOG_BURST);
        ck_assert_msg(count_of(log2, want) == 1, "%s", log2);
        ck_assert_msg(count_of(log2, "acct/INBOX: flags, 1 message") == 1, "%s", log2);
        /* Out of sync: one notice per connection, the rest at debug level. */
        log3 = capture_log(desync_twice, &t);
        ck_assert_msg(count_of(log3, "out of sync") == 2, "%s", log3);
        ck_assert_msg(strstr(log3, "EXPUNGE of message 50 with 10 messages known"), "%s", log3);
        ck_assert_msg(strstr(log3, "EXISTS 3 without EXPUNGE"), "%s", log3);
        teardown(&t);
}
END_TEST

/* H07: UIDNEXT going back at a selection with the same UIDVALIDITY (RFC 3501 §2.3.1.1: it only
 * grows): nothing runs and the floor stays, so no UID is reported twice. */
START_TEST(test_uidnext_goes_back) {
        T t;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_selected(t.w, 10, 100, 40, 0, false);
        ck_assert_uint_eq(t.n_reqs, 0);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 0);
        ck_known(&t, 100, 51, 10);
        teardown(&t);
}
END_TEST

/* "* 50 EXPUNGE" with 3 messages, and an EXPUNGE of an empty mailbox: no on_expunge. */
START_TEST(test_expunge_beyond_exists) {
        T t;

        setup(&t, "", "");
        watch_selected(t.w, 3, 100, 4, 0, false);
        ck_assert_int_eq(watch_on_expunge(t.w, 50), -ESTALE);
        ck_assert_int_eq(watch_on_expunge(t.w, 3), -ESTALE);   /* ignored until counted again */
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 0);
        ck_known(&t, 100, 4, 3);
        watch_selected(t.w, 3, 100, 4, 0, false);
        ck_assert_int_eq(watch_on_expunge(t.w, 4), -ESTALE);
        watch_selected(t.w, 0, 100, 4, 0, false);      /* now they are gone: the catch-up says so */
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "expunge");
        ck_run(&t, 0, "COUNT", "3");
        ck_assert_int_eq(watch_on_expunge(t.w, 0), -ESTALE);   /* none left to expunge */
        ck_assert_int_eq(watch_on_expunge(t.w, 1), -ESTALE);
        settle(&t, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 1);
        teardown(&t);
}
END_TEST

/* "* 99 FETCH (FLAGS ...)" beyond EXISTS: no on_flags; within it, one. */
START_TEST(test_flags_beyond_exists) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        ck_assert_int_eq(watch_on_flags(t.w, 99), -ESTALE);
        ck_assert_int_eq(watch_on_flags(t.w, 10), -ESTALE);
        settle(&t, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_FLAGS), 0);
        watch_selected(t.w, 10, 100, 51, 0, false);
        ck_assert_int_eq(watch_on_flags(t.w, 11), -ESTALE);
        watch_selected(t.w, 10, 100, 51, 0, false);
        ck_assert_int_eq(watch_on_flags(t.w, 0), -ESTALE);    /* an nz-number, RFC 3501 §9 */
        watch_selected(t.w, 10, 100, 51, 0, false);
        ck_assert_int_eq(watch_on_flags(t.w, 10), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_FLAGS), 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "COUNT", "1");
        teardown(&t);
}
END_TEST

/* Out of sync while the hot-path run's floor fetch is on the wire: its sequence-number bound
 * may be wrong, so its answer does not move the floor (never past a message no run covered). */
START_TEST(test_desync_floor_kept) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        ck_assert_int_eq(watch_on_exists(t.w, 12), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_req(&t, 0, 51, 12, 0);
        ck_assert_int_eq(watch_on_expunge(t.w, 50), -ESTALE);
        answer(&t, 0, 2, 51, 52);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_known(&t, 100, 51, 10);
        settle(&t, 0);
        /* Counted again: the scan finds both still there and the floor moves past them; they
         * are reported a second time (docs/EVENTS.md "The hot path": twice, never lost). */
        watch_selected(t.w, 12, 100, 53, 0, false);
        ck_assert_uint_eq(t.n_reqs, 2);
        ck_req(&t, 1, 51, 0, 0);
        answer(&t, 0, 2, 51, 52);
        ck_known(&t, 100, 53, 12);
        settle(&t, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 2);
        ck_run(&t, 1, "UIDS", "51:52");
        teardown(&t);
}
END_TEST

START_TEST(test_uids_first) {
        T t;

        setup(&t, "uids = true;", "");
        selected_10(&t);
        watch_on_exists(t.w, 12);
        /* The fetch first; the run waits for it. */
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_assert_uint_eq(t.reqs[0].new_runs, 0);
        ck_req(&t, 0, 51, 0, 0);
        ck_assert_uint_eq(watch_hooks_running(t.w), 1);
        answer(&t, 0, 2, 51, 52);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_known(&t, 100, 53, 12);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "COUNT", "2");
        ck_run(&t, 0, "UIDS", "51:52");
        ck_run(&t, 0, "UIDNEXT", "53");
        ck_run(&t, 0, "REASON", "live");
        ck_assert_str_eq(val(&t, 0, "DETAILS"), "(unset)");
        /* No floor fetch after it: the answer moved the floor. */
        ck_assert_uint_eq(t.n_reqs, 1);
        teardown(&t);
}
END_TEST

static void detail(MessageDetails *d, uint32_t uid, const char *subject) {
        *d = (MessageDetails) { .uid = uid, .size = 1000 + uid };
        d->flags = calloc(1, sizeof(char *));
        d->from = strdup("A <a@example.org>");
        d->subject = strdup(subject);
        ck_assert(d->flags && d->from && d->subject);
}

START_TEST(test_details) {
        WatchFetchResult res = { .count = 3, .min_uid = 51, .max_uid = 53, .n_details = 2 };
        T t;

        setup(&t, "details = true;", "details_max = 2;");
        selected_10(&t);
        watch_on_exists(t.w, 13);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        ck_req(&t, 0, 51, 0, 2);
        res.details = calloc(2, sizeof(MessageDetails));
        ck_assert_ptr_nonnull(res.details);
        detail(&res.details[0], 52, "older");
        detail(&res.details[1], 53, "newest");
        t.owed = false;
        watch_fetch_done(t.w, 0, &res);
        /* Taken over: res is left empty. */
        ck_assert_ptr_null(res.details);
        ck_assert_uint_eq(res.n_details, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_known(&t, 100, 54, 13);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "COUNT", "3");
        ck_run(&t, 0, "UIDS", "51:53");
        ck_run(&t, 0, "DETAILS", "2");
        ck_run(&t, 0, "UID", "53");
        ck_run(&t, 0, "SUBJECT", "newest");
        ck_run(&t, 0, "FROM", "A <a@example.org>");
        ck_assert_str_ne(val(&t, 0, "STDIN"), "0/0");
        ck_assert_ptr_nonnull(strstr(val(&t, 0, "STDIN"), "/2"));
        teardown(&t);
}
END_TEST

/* The server refuses the fetch: the run still starts, with floor:* and no details; the floor
 * stays (the next catch-up may report them again, never loses them). */
START_TEST(test_details_refused) {
        T t;

        setup(&t, "details = true;", "");
        selected_10(&t);
        watch_on_exists(t.w, 12);
        ck_req(&t, 0, 51, 0, 20);
        answer(&t, -EIO, 0, 0, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "COUNT", "2");
        ck_run(&t, 0, "UIDS", "51:*");
        ck_run(&t, 0, "DETAILS", "0");
        ck_run(&t, 0, "STDIN", "0/0");
        ck_assert_str_eq(val(&t, 0, "SUBJECT"), "(unset)");
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_known(&t, 100, 51, 10);
        teardown(&t);
}
END_TEST

/* ---- desktop_notify ------------------------------------------------------------------------------ */

/* Answer the owed fetch with count messages, UIDs 51.., and the details of the newest n. */
static void answer_details(T *t, uint64_t count, size_t n) {
        WatchFetchResult res = { .count = count, .min_uid = 51, .max_uid = 50 + (uint32_t) count, .n_details = n };

        res.details = calloc(n, sizeof(MessageDetails));
        ck_assert_ptr_nonnull(res.details);
        for (size_t i = 0; i < n; i++)
                detail(&res.details[i], 51 + (uint32_t) (count - n + i), i + 1 == n ? "newest" : "older");
        ck_assert(t->owed);
        t->owed = false;
        watch_fetch_done(t->w, 0, &res);
}

/* Without an on_new hook: the run is the notification, after one fetch of the newest three
 * messages' details; the floor moves past them as after any run. */
START_TEST(test_desktop_alone) {
        T t;

        setup(&t, NULL, "desktop_notify = true;");
        selected_10(&t);
        watch_on_exists(t.w, 15);
        ck_assert_uint_eq(t.n_notify, 0);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_req(&t, 0, 51, 0, DESKTOP_BODY_MESSAGES);
        answer_details(&t, 5, DESKTOP_BODY_MESSAGES);
        ck_assert_uint_eq(t.n_notify, 1);
        ck_assert_uint_eq(t.notify_count, 5);
        ck_assert_uint_eq(t.notify_n, DESKTOP_BODY_MESSAGES);
        ck_assert_str_eq(t.notify_subject, "newest");
        ck_assert_uint_eq(watch_hooks_running(t.w), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        ck_known(&t, 100, 56, 15);
        /* The next message is a run of its own, with one fetch again. */
        watch_on_exists(t.w, 16);
        ck_assert_uint_eq(t.n_reqs, 2);
        ck_req(&t, 1, 56, 0, DESKTOP_BODY_MESSAGES);
        teardown(&t);
}
END_TEST

/* A hook without details: it waits for the notification's fetch (no hot path) and starts with
 * the exact UIDs; the notification comes as the run starts. */
START_TEST(test_desktop_with_hook) {
        T t;

        setup(&t, "", "desktop_notify = true;");
        selected_10(&t);
        watch_on_exists(t.w, 12);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        ck_req(&t, 0, 51, 0, DESKTOP_BODY_MESSAGES);
        answer_details(&t, 2, 2);
        ck_assert_uint_eq(t.n_notify, 1);
        ck_assert_uint_eq(t.notify_count, 2);
        ck_assert_uint_eq(t.notify_hook_runs, 0);       /* told before the hook started */
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "UIDS", "51:52");
        ck_assert_uint_eq(t.n_reqs, 1);
        teardown(&t);
}
END_TEST

/* A hook with details: one fetch serves both, with the hook's details_max. */
START_TEST(test_desktop_shares_fetch) {
        T t;

        setup(&t, "details = true;", "desktop_notify = true; details_max = 7;");
        selected_10(&t);
        watch_on_exists(t.w, 13);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_req(&t, 0, 51, 0, 7);
        answer_details(&t, 3, 3);
        ck_assert_uint_eq(t.n_notify, 1);
        ck_assert_uint_eq(t.notify_n, 3);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "SUBJECT", "newest");
        ck_assert_uint_eq(t.n_reqs, 1);
        teardown(&t);
}
END_TEST

/* The fetch fails: the notification still comes, with the count only. */
START_TEST(test_desktop_fetch_refused) {
        T t;

        setup(&t, NULL, "desktop_notify = true;");
        selected_10(&t);
        watch_on_exists(t.w, 12);
        answer(&t, -EIO, 0, 0, 0);
        ck_assert_uint_eq(t.n_notify, 1);
        ck_assert_uint_eq(t.notify_count, 2);
        ck_assert_uint_eq(t.notify_n, 0);
        teardown(&t);
}
END_TEST

/* Off (the default), or off for the mailbox: no notification, and the hook keeps the hot path. */
START_TEST(test_desktop_off) {
        static const char *const extra[] = {
                "",
                "desktop_notify = true; mailboxes = ( { name = \"INBOX\"; desktop_notify = false; } );",
        };
        T t;

        setup(&t, "", extra[_i]);
        selected_10(&t);
        watch_on_exists(t.w, 12);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_notify, 0);
        teardown(&t);
}
END_TEST

/* A resync calls every message new: no notification for it. */
START_TEST(test_desktop_not_resync) {
        T t;

        setup(&t, NULL, "desktop_notify = true;");
        selected_10(&t);
        watch_selected(t.w, 12, 101, 13, 0, false);
        ck_assert_uint_eq(t.n_notify, 0);
        ck_assert_uint_eq(t.n_reqs, 0);
        teardown(&t);
}
END_TEST

/* An EXISTS while the run asks: the answer names it too, so this run takes it and no
 * second run follows. */
START_TEST(test_uids_absorb) {
        T t;

        setup(&t, "uids = true;", "");
        selected_10(&t);
        watch_on_exists(t.w, 12);
        watch_on_exists(t.w, 13);
        ck_assert_uint_eq(t.n_reqs, 1);
        answer(&t, 0, 3, 51, 53);
        ck_known(&t, 100, 54, 13);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "COUNT", "3");
        ck_run(&t, 0, "UIDS", "51:53");
        ck_assert_uint_eq(dispatch(&t), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_assert_uint_eq(t.n_reqs, 1);
        teardown(&t);
}
END_TEST

/* Arrivals during a run: exactly one more run, after it ended, with their sum. */
START_TEST(test_coalesce) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        watch_on_exists(t.w, 11);
        ck_req(&t, 0, 51, 11, 0);
        answer(&t, 0, 1, 51, 51);
        watch_on_exists(t.w, 12);
        watch_on_exists(t.w, 13);
        watch_on_exists(t.w, 14);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_known(&t, 100, 52, 11);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_assert_uint_eq(dispatch(&t), 1);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 2);
        ck_assert_uint_eq(t.n_reqs, 2);
        ck_assert_uint_eq(t.reqs[1].new_runs, 2);
        ck_req(&t, 1, 52, 14, 0);
        answer(&t, 0, 3, 52, 54);
        ck_known(&t, 100, 55, 14);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 0, "COUNT", "1");
        ck_run(&t, 1, "COUNT", "3");
        ck_run(&t, 1, "UIDS", "52:*");
        ck_run(&t, 1, "EXISTS", "14");
        ck_assert_uint_eq(dispatch(&t), 0);
        teardown(&t);
}
END_TEST

/* debounce = 1 on the fake clock: nothing before T+1 s, then one run for both arrivals. */
START_TEST(test_debounce) {
        uint64_t t0;
        T t;

        setup(&t, "", "debounce = 1; max_delay = 5;");
        selected_10(&t);
        t0 = now(&t);
        watch_on_exists(t.w, 11);
        watch_on_exists(t.w, 12);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_assert_uint_eq(sched_next_wakeup(t.s, t0), t0 + USEC_PER_SEC);
        ck_assert_uint_eq(sched_dispatch(t.s, t0 + USEC_PER_SEC - 1), 0);
        ck_assert_uint_eq(sched_dispatch(t.s, t0 + USEC_PER_SEC), 1);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_req(&t, 0, 51, 12, 0);
        answer(&t, 0, 2, 51, 52);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "COUNT", "2");
        ck_run(&t, 0, "UIDS", "51:*");
        teardown(&t);
}
END_TEST

/* ---- QRESYNC: expunges while away by UID (RFC 7162 §3.2.5) ------------------------------------- */

/* The state a previous run saved: 10 messages below UID 51, HIGHESTMODSEQ 500. */
static void restored_qresync(T *t) {
        uint32_t v = 0, f = 0;
        uint64_t m = 0;

        watch_restore(t->w, 100, 51, 10, 500);
        ck_assert(watch_qresync(t->w, &v, &m, &f));
        ck_assert_uint_eq(v, 100);
        ck_assert_uint_eq(m, 500);
        ck_assert_uint_eq(f, 51);
}

static WatchUidSet uid_set(const uint32_t (*ranges)[2], size_t n) {
        WatchUidSet s = {};

        for (size_t i = 0; i < n; i++)
                watch_uid_set_add(&s, ranges[i][0], ranges[i][1]);
        return s;
}

/* VANISHED (EARLIER) 3,5 and nothing new: one catch-up expunge run with those UIDs, no fetch,
 * and the count rule adds nothing (it agrees). */
START_TEST(test_qresync_vanished) {
        static const uint32_t r[][2] = { { 3, 3 }, { 5, 5 } };
        WatchUidSet gone = uid_set(r, ELEMENTSOF(r));
        uint64_t m = 0;
        T t;

        setup(&t, "", "");
        restored_qresync(&t);
        watch_selected_qresync(t.w, 8, 100, 51, 510, &gone);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 1);
        settle(&t, 0);
        ck_assert_uint_eq(dispatch(&t), 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "expunge");
        ck_run(&t, 0, "REASON", "catchup");
        ck_run(&t, 0, "COUNT", "2");
        ck_run(&t, 0, "UIDS", "3,5");
        ck_run(&t, 0, "EXISTS", "8");
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_known(&t, 100, 51, 8);
        ck_assert(watch_known(t.w, &(uint32_t) { 0 }, &(uint32_t) { 0 }, &(uint32_t) { 0 }, &m));
        ck_assert_uint_eq(m, 510);
        teardown(&t);
}
END_TEST

/* No VANISHED at all (an empty set): nothing was expunged, no run. */
START_TEST(test_qresync_nothing) {
        WatchUidSet none = {};
        T t;

        setup(&t, "", "");
        restored_qresync(&t);
        watch_selected_qresync(t.w, 10, 100, 51, 500, &none);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 0);
        ck_assert_uint_eq(t.n_reqs, 0);
        teardown(&t);
}
END_TEST

/* New mail and VANISHED together: the expunge run comes at once with its UIDs; the scan's count
 * rule finds the same two and adds nothing (never counted twice). */
START_TEST(test_qresync_with_new) {
        static const uint32_t r[][2] = { { 7, 8 } };
        WatchUidSet gone = uid_set(r, ELEMENTSOF(r));
        T t;

        setup(&t, "", "");
        restored_qresync(&t);
        /* 10 - 2 expunged + 1 arrival (UID 52; 51 came and went): 9. */
        watch_selected_qresync(t.w, 9, 100, 53, 520, &gone);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 1);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_req(&t, 0, 51, 0, 0);
        answer(&t, 0, 1, 52, 52);
        settle(&t, 0);
        ck_assert_uint_eq(dispatch(&t), 0);
        settle(&t, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 1);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, run_of(&t, "expunge"), "COUNT", "2");
        ck_run(&t, run_of(&t, "expunge"), "UIDS", "7:8");
        ck_run(&t, run_of(&t, "new"), "COUNT", "1");
        ck_run(&t, run_of(&t, "new"), "UIDS", "52");
        ck_known(&t, 100, 53, 9);
        teardown(&t);
}
END_TEST

/* The server named fewer than the counts show: the rest is reported without UIDs, so the
 * total is right and no run claims UIDs it does not know. */
START_TEST(test_qresync_server_omits) {
        static const uint32_t r[][2] = { { 3, 3 } };
        WatchUidSet gone = uid_set(r, ELEMENTSOF(r));
        T t;

        setup(&t, "", "");
        restored_qresync(&t);
        watch_selected_qresync(t.w, 8, 100, 51, 510, &gone);
        settle(&t, 0);
        ck_assert_uint_eq(dispatch(&t), 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 0, "COUNT", "1");
        ck_run(&t, 0, "UIDS", "3");
        ck_run(&t, 1, "COUNT", "1");
        ck_run(&t, 1, "UIDS", "(unset)");
        teardown(&t);
}
END_TEST

/* A hostile VANISHED (EARLIER) 1:4294967295 (clipped by the connection to the known 1:50):
 * counted as the 10 messages known, listed as the one range; a set of more ranges than
 * WATCH_UIDS_MAX_RANGES is listed as min:max.  Nothing is per UID. */
START_TEST(test_qresync_hostile) {
        WatchUidSet all = {}, big = {};
        char env[WATCH_UIDS_ENV_MAX];
        T t;

        watch_uid_set_add(&all, 1, UINT32_MAX);
        ck_assert_uint_eq(all.count, UINT32_MAX);
        ck_assert_uint_eq(all.n, 1);
        watch_uid_set_env(&all, env, sizeof(env));
        ck_assert_str_eq(env, "IMAPIDLED_UIDS=1:4294967295");
        for (uint32_t u = 1; u <= 2 * WATCH_UIDS_MAX_RANGES + 1; u += 2)
                watch_uid_set_add(&big, u, u);
        ck_assert(big.overflow);
        ck_assert_uint_eq(big.n, WATCH_UIDS_MAX_RANGES);
        ck_assert_uint_eq(big.count, WATCH_UIDS_MAX_RANGES + 1);
        watch_uid_set_env(&big, env, sizeof(env));
        ck_assert_str_eq(env, "IMAPIDLED_UIDS=1:129");
        /* Adjacent ranges merge: 3,4,5 is 3:5. */
        big = (WatchUidSet) {};
        watch_uid_set_add(&big, 3, 3);
        watch_uid_set_add(&big, 4, 4);
        watch_uid_set_add(&big, 5, 9);
        watch_uid_set_add(&big, 20, 20);
        watch_uid_set_env(&big, env, sizeof(env));
        ck_assert_str_eq(env, "IMAPIDLED_UIDS=3:9,20");

        setup(&t, "", "");
        restored_qresync(&t);
        all = (WatchUidSet) {};
        watch_uid_set_add(&all, 1, 50);
        watch_selected_qresync(t.w, 10, 100, 51, 510, &all);
        settle(&t, 0);
        ck_assert_uint_eq(dispatch(&t), 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "COUNT", "10");
        ck_run(&t, 0, "UIDS", "1:50");
        teardown(&t);
}
END_TEST

/* A live expunge makes the saved HIGHESTMODSEQ stale (a QRESYNC EXAMINE with it would report
 * that expunge again): 0 is persisted and QRESYNC is not offered, until an untagged
 * HIGHESTMODSEQ covers it again.  A live VANISHED counts at most EXISTS. */
START_TEST(test_qresync_stale_modseq) {
        uint32_t v = 0, f = 0;
        uint64_t m = 0;
        T t;

        setup(&t, "", "");
        restored_qresync(&t);
        watch_selected_qresync(t.w, 10, 100, 51, 500, &(WatchUidSet) {});
        ck_assert(watch_qresync(t.w, &v, &m, &f));
        watch_on_expunge(t.w, 4);
        ck_assert(!watch_qresync(t.w, &v, &m, &f));
        ck_assert(watch_known(t.w, &v, &f, &(uint32_t) { 0 }, &m));
        ck_assert_uint_eq(m, 0);
        watch_on_highestmodseq(t.w, 530);
        ck_assert(watch_qresync(t.w, &v, &m, &f));
        ck_assert_uint_eq(m, 530);
        settle(&t, 0);
        watch_on_vanished(t.w, UINT32_MAX);
        ck_assert(!watch_qresync(t.w, &v, &m, &f));
        settle(&t, 0);
        ck_assert_uint_eq(dispatch(&t), 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 0, "COUNT", "1");
        ck_run(&t, 0, "REASON", "live");
        ck_run(&t, 1, "COUNT", "9");
        ck_run(&t, 1, "EXISTS", "0");
        ck_known(&t, 100, 51, 0);
        teardown(&t);
}
END_TEST

/* A live VANISHED with QRESYNC enabled: the run is told the UIDs, counted at most EXISTS; a run
 * that also covers an EXPUNGE (no UID) is told none. */
START_TEST(test_qresync_live_uids) {
        static const uint32_t r1[][2] = { { 4, 4 }, { 6, 6 } }, r2[][2] = { { 8, 8 } };
        WatchUidSet a = uid_set(r1, ELEMENTSOF(r1)), b = uid_set(r2, ELEMENTSOF(r2));
        T t;

        setup(&t, "", "");
        selected_10(&t);
        watch_on_vanished_uids(t.w, &a);
        watch_on_vanished_uids(t.w, &b);       /* pending behind the first run */
        watch_on_expunge(t.w, 2);
        settle(&t, 0);
        ck_assert_uint_eq(dispatch(&t), 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 0, "COUNT", "2");
        ck_run(&t, 0, "UIDS", "4,6");
        ck_run(&t, 0, "REASON", "live");
        ck_run(&t, 1, "COUNT", "2");
        ck_run(&t, 1, "UIDS", "(unset)");
        ck_known(&t, 100, 51, 6);
        teardown(&t);
}
END_TEST

/* ---- expunge and flags ---------------------------------------------------------------------------- */

START_TEST(test_expunge_vanished) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        watch_on_expunge(t.w, 3);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 1);
        watch_on_vanished(t.w, 2);
        watch_on_expunge(t.w, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 1);
        ck_known(&t, 100, 51, 6);
        settle(&t, 0);
        ck_assert_uint_eq(dispatch(&t), 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 0, "EVENT", "expunge");
        ck_run(&t, 0, "COUNT", "1");
        ck_run(&t, 0, "EXISTS", "9");
        ck_run(&t, 0, "REASON", "live");
        ck_run(&t, 1, "COUNT", "3");
        ck_run(&t, 1, "EXISTS", "6");
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        teardown(&t);
}
END_TEST

START_TEST(test_flags) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        ck_assert_int_eq(watch_on_flags(t.w, 4), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_FLAGS), 1);
        /* While it runs: folded into exactly one more run. */
        for (uint32_t seq = 1; seq <= 3; seq++)
                ck_assert_int_eq(watch_on_flags(t.w, seq), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_FLAGS), 1);
        settle(&t, 0);
        ck_assert_uint_eq(dispatch(&t), 1);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 0, "EVENT", "flags");
        ck_run(&t, 0, "COUNT", "1");
        ck_run(&t, 0, "REASON", "live");
        ck_run(&t, 1, "COUNT", "3");
        ck_assert_uint_eq(t.n_reqs, 0);
        ck_known(&t, 100, 51, 10);
        teardown(&t);
}
END_TEST

/* ---- the floor fetch failing ------------------------------------------------------------------------ */

/* -ESTALE (an expunge while the bounded fetch was on the wire): asked again at once, with the
 * bound kept right across the EXPUNGE. */
START_TEST(test_floor_estale) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        watch_on_exists(t.w, 12);
        ck_req(&t, 0, 51, 12, 0);
        watch_on_expunge(t.w, 3);
        answer(&t, -ESTALE, 0, 0, 0);
        ck_assert_uint_eq(t.n_reqs, 2);
        ck_req(&t, 1, 51, 11, 0);
        ck_known(&t, 100, 51, 9);
        answer(&t, 0, 2, 51, 52);
        ck_known(&t, 100, 53, 11);
        ck_assert_uint_eq(t.n_reqs, 2);
        settle(&t, 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        teardown(&t);
}
END_TEST

/* Any other failure: not asked again; the floor stays, so the catch-up after a reconnect
 * reports the messages again (twice, never lost; docs/EVENTS.md) and nothing as expunged. */
START_TEST(test_floor_eio) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        watch_on_exists(t.w, 12);
        answer(&t, -EIO, 0, 0, 0);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_known(&t, 100, 51, 10);
        settle(&t, 0);
        watch_set_fetcher(t.w, NULL, NULL);
        watch_set_fetcher(t.w, fake_fetch, &t);
        watch_selected(t.w, 12, 100, 53, 0, false);
        ck_assert_uint_eq(t.n_reqs, 2);
        ck_req(&t, 1, 51, 0, 0);
        answer(&t, 0, 2, 51, 52);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 0, "REASON", "live");
        ck_run(&t, 0, "UIDS", "51:*");
        ck_run(&t, 1, "EVENT", "new");
        ck_run(&t, 1, "REASON", "catchup");
        ck_run(&t, 1, "COUNT", "2");
        ck_run(&t, 1, "UIDS", "51:52");
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 0);
        ck_known(&t, 100, 53, 12);
        teardown(&t);
}
END_TEST

/* ---- the connection going away ----------------------------------------------------------------- */

/* Reconnect: the fetcher goes (after answering what was owed, as watch.h asks), comes back, and
 * the mailbox is selected again. */
static void reconnect(T *t, bool answer_first, uint32_t exists, uint32_t uidnext) {
        if (answer_first && t->owed)
                answer(t, -ECONNRESET, 0, 0, 0);
        watch_set_fetcher(t->w, NULL, NULL);
        /* A fetch still owed was answered by the watch itself. */
        t->owed = false;
        watch_set_fetcher(t->w, fake_fetch, t);
        watch_selected(t->w, exists, 100, uidnext, 0, false);
}

/* The floor fetch owed when the connection drops: the floor stays, the catch-up reports the two
 * again (once more), and a message above the floor that was expunged meanwhile is not counted
 * as expunged (no phantom expunge from the persisted EXISTS). */
static void floor_owed_then_gone(bool answer_first) {
        T t;
        size_t i;

        setup(&t, "", "");
        selected_10(&t);
        watch_on_exists(t.w, 13);
        ck_req(&t, 0, 51, 13, 0);
        watch_on_expunge(t.w, 13);      /* the newest, above the floor */
        ck_known(&t, 100, 51, 10);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        reconnect(&t, answer_first, 12, 54);
        ck_known(&t, 100, 51, 10);
        ck_assert_uint_eq(t.n_reqs, 2);
        ck_req(&t, 1, 51, 0, 0);
        answer(&t, 0, 2, 51, 52);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 3);
        i = 2;
        ck_run(&t, i, "EVENT", "new");
        ck_run(&t, i, "REASON", "catchup");
        ck_run(&t, i, "COUNT", "2");
        ck_run(&t, i, "UIDS", "51:52");
        /* The one live expunge only. */
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 1);
        ck_known(&t, 100, 53, 12);
        teardown(&t);
}

START_TEST(test_gone_floor_answered) {
        floor_owed_then_gone(true);
}
END_TEST

START_TEST(test_gone_floor_unanswered) {
        floor_owed_then_gone(false);
}
END_TEST

/* uids = true, the connection drops while the run asks: no run now; the catch-up reports the
 * messages, once (docs/EVENTS.md, "Message details"). */
static void resolve_then_gone(bool answer_first) {
        T t;

        setup(&t, "uids = true;", "");
        selected_10(&t);
        watch_on_exists(t.w, 12);
        ck_req(&t, 0, 51, 0, 0);
        reconnect(&t, answer_first, 12, 53);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        ck_assert_uint_eq(t.n_reqs, 2);
        ck_req(&t, 1, 51, 0, 0);
        answer(&t, 0, 2, 51, 52);
        /* The scan named the UIDs: a hook with uids = true (and no details) starts
         * with them, without asking again (on_job_start()). */
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_assert_uint_eq(t.n_reqs, 2);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "REASON", "catchup");
        ck_run(&t, 0, "COUNT", "2");
        ck_run(&t, 0, "UIDS", "51:52");
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 0);
        ck_known(&t, 100, 53, 12);
        teardown(&t);
}

START_TEST(test_gone_resolve_answered) {
        resolve_then_gone(true);
}
END_TEST

START_TEST(test_gone_resolve_unanswered) {
        resolve_then_gone(false);
}
END_TEST

/* A run pending behind a running one when the connection drops: forgotten (the catch-up finds
 * its messages again), so they are reported once, not twice. */
START_TEST(test_gone_pending) {
        T t;

        setup(&t, "", "");
        selected_10(&t);
        watch_on_exists(t.w, 11);
        answer(&t, 0, 1, 51, 51);
        watch_on_exists(t.w, 12);
        watch_on_exists(t.w, 13);
        reconnect(&t, true, 13, 54);
        settle(&t, 0);
        ck_assert_uint_eq(dispatch(&t), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 1);
        ck_req(&t, 1, 52, 0, 0);
        answer(&t, 0, 2, 52, 53);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 2);
        ck_run(&t, 1, "REASON", "catchup");
        ck_run(&t, 1, "COUNT", "2");
        ck_run(&t, 1, "UIDS", "52:53");
        ck_assert_uint_eq(dispatch(&t), 0);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 0);
        ck_known(&t, 100, 54, 13);
        teardown(&t);
}
END_TEST

/* The catch-up scan cannot finish (the connection drops first): what is persisted must not
 * count the unscanned messages as below the floor, or the next catch-up reports them as new
 * *and* as expunged. */
START_TEST(test_gone_scan_no_phantom) {
        T t;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_selected(t.w, 13, 100, 55, 0, false);     /* not exact: a scan (test_catchup_new) */
        ck_req(&t, 0, 51, 0, 0);
        /* Saved now (the manager saves in batches), it must still say 10 below UIDNEXT 51. */
        ck_known(&t, 100, 51, 10);
        reconnect(&t, true, 13, 54);
        ck_known(&t, 100, 51, 10);
        ck_req(&t, 1, 51, 0, 0);
        answer(&t, 0, 3, 51, 53);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "new");
        ck_run(&t, 0, "COUNT", "3");
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 0);
        ck_known(&t, 100, 54, 13);
        teardown(&t);
}
END_TEST

/* The scan refused (a NO from the server): nothing runs, and the persisted numbers still say
 * 10 below UIDNEXT 51, so the next catch-up reports the three as new, not also as expunged. */
START_TEST(test_scan_refused_no_phantom) {
        T t;

        setup(&t, "", "");
        watch_restore(t.w, 100, 51, 10, 0);
        watch_selected(t.w, 13, 100, 55, 0, false);     /* not exact: a scan (test_catchup_new) */
        answer(&t, -EIO, 0, 0, 0);
        ck_assert_uint_eq(t.n_reqs, 1);
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_NEW), 0);
        ck_known(&t, 100, 51, 10);
        reconnect(&t, true, 13, 54);
        ck_req(&t, 1, 51, 0, 0);
        answer(&t, 0, 3, 51, 53);
        settle(&t, 0);
        ck_assert_uint_eq(t.n_runs, 1);
        ck_run(&t, 0, "EVENT", "new");
        ck_run(&t, 0, "COUNT", "3");
        ck_assert_uint_eq(watch_runs(t.w, WATCH_EVENT_EXPUNGE), 0);
        ck_known(&t, 100, 54, 13);
        teardown(&t);
}
END_TEST

static Suite *watch_suite(void) {
        Suite *s = suite_create("watch");
        TCase *tc;

        tc = tcase_create("catchup");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_first_select_records);
        tcase_add_test(tc, test_startup_sync);
        tcase_add_test(tc, test_spawn_fails);
        tcase_add_test(tc, test_catchup_new);
        tcase_add_test(tc, test_fresh_mailbox);
        tcase_add_test(tc, test_fresh_mailbox_scan);
        tcase_add_test(tc, test_fresh_ignored_when_known);
        tcase_add_test(tc, test_catchup_exact);
        tcase_add_test(tc, test_catchup_new_and_expunge);
        tcase_add_test(tc, test_catchup_expunge_only);
        tcase_add_test(tc, test_catchup_live_expunge_during_scan);
        tcase_add_test(tc, test_catchup_nothing);
        tcase_add_test(tc, test_resync);
        tcase_add_test(tc, test_unknown_uid_numbers);
        suite_add_tcase(s, tc);

        tc = tcase_create("qresync");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_qresync_vanished);
        tcase_add_test(tc, test_qresync_nothing);
        tcase_add_test(tc, test_qresync_with_new);
        tcase_add_test(tc, test_qresync_server_omits);
        tcase_add_test(tc, test_qresync_hostile);
        tcase_add_test(tc, test_qresync_stale_modseq);
        tcase_add_test(tc, test_qresync_live_uids);
        suite_add_tcase(s, tc);

        tc = tcase_create("live");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_hot_path);
        tcase_add_test(tc, test_exists_shrinks);
        tcase_add_test(tc, test_uids_first);
        tcase_add_test(tc, test_details);
        tcase_add_test(tc, test_details_refused);
        tcase_add_test(tc, test_desktop_alone);
        tcase_add_test(tc, test_desktop_with_hook);
        tcase_add_test(tc, test_desktop_shares_fetch);
        tcase_add_test(tc, test_desktop_fetch_refused);
        tcase_add_loop_test(tc, test_desktop_off, 0, 2);
        tcase_add_test(tc, test_desktop_not_resync);
        tcase_add_test(tc, test_uids_absorb);
        tcase_add_test(tc, test_coalesce);
        tcase_add_test(tc, test_debounce);
        tcase_add_test(tc, test_expunge_vanished);
        tcase_add_test(tc, test_flags);
        tcase_add_test(tc, test_floor_estale);
        tcase_add_test(tc, test_floor_eio);
        suite_add_tcase(s, tc);

        tc = tcase_create("gone");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_gone_floor_answered);
        tcase_add_test(tc, test_gone_floor_unanswered);
        tcase_add_test(tc, test_gone_resolve_answered);
        tcase_add_test(tc, test_gone_resolve_unanswered);
        tcase_add_test(tc, test_gone_pending);
        tcase_add_test(tc, test_gone_scan_no_phantom);
        tcase_add_test(tc, test_scan_refused_no_phantom);
        tcase_add_test(tc, test_desync_recount);
        tcase_add_test(tc, test_expunge_beyond_exists);
        tcase_add_test(tc, test_flags_beyond_exists);
        tcase_add_test(tc, test_desync_floor_kept);
        tcase_add_test(tc, test_resync_backoff);
        tcase_add_test(tc, test_uidnext_goes_back);
        tcase_add_test(tc, test_log_rate_limit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        struct sigaction ign = { .sa_handler = SIG_IGN };
        sigset_t mask;

        /* What the daemon does, and what hook.h requires. */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || sigaction(SIGPIPE, &ign, NULL) < 0)
                return EXIT_FAILURE;
        return th_run_suite(watch_suite());
}

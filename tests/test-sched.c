/* SPDX-License-Identifier: MIT */
/*
 * test-sched.c: the hook scheduler's rules (scheduler.h) on a fake clock:
 * debounce as a quiet period capped by max_delay, single-flight per lock key
 * with exactly one re-run, the global limit, and the sd-event timer glue.
 */
#include <errno.h>
#include <signal.h>

#include "scheduler.h"
#include "th.h"
#include "time-util.h"

#define S USEC_PER_SEC
#define MS USEC_PER_MSEC

typedef struct Rec {
        unsigned starts;
        int fail;               /* what start returns */
} Rec;

static int rec_start(SchedJob *j, void *userdata) {
        Rec *r = userdata;

        (void) j;
        r->starts++;
        return r->fail;
}

START_TEST(test_debounce_single) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r = {};
        SchedJob *j;

        ck_assert_int_eq(sched_new(NULL, 4, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        ck_assert_uint_eq(sched_next_wakeup(s, 0), USEC_INFINITY);
        sched_job_trigger(j, 10 * S, 1 * S, 30 * S);
        ck_assert(sched_job_pending(j));
        ck_assert_uint_eq(sched_job_due(j), 11 * S);
        ck_assert_uint_eq(sched_next_wakeup(s, 10 * S), 11 * S);
        ck_assert_uint_eq(sched_dispatch(s, 11 * S - 1), 0);
        ck_assert_uint_eq(sched_dispatch(s, 11 * S), 1);
        ck_assert_uint_eq(r.starts, 1);
        ck_assert(sched_job_running(j));
        ck_assert(!sched_job_pending(j));
        ck_assert_uint_eq(sched_running(s), 1);
        sched_job_done(j);
        ck_assert_uint_eq(sched_running(s), 0);
        ck_assert_uint_eq(sched_dispatch(s, 100 * S), 0);
        ck_assert_uint_eq(r.starts, 1);
        sched_job_free(j);
}
END_TEST

START_TEST(test_debounce_zero) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r = {};
        SchedJob *j;

        ck_assert_int_eq(sched_new(NULL, 1, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        sched_job_trigger(j, 5 * S, 0, 30 * S);
        ck_assert_uint_eq(sched_next_wakeup(s, 5 * S), 5 * S);
        ck_assert_uint_eq(sched_dispatch(s, 5 * S), 1);
        sched_job_free(j);
        ck_assert_uint_eq(sched_running(s), 0);
}
END_TEST

/* The debounce slides with every trigger: a burst makes one run after it. */
START_TEST(test_debounce_slides) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r = {};
        SchedJob *j;

        ck_assert_int_eq(sched_new(NULL, 4, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        for (unsigned i = 0; i < 100; i++) {
                uint64_t t = i * 10 * MS;       /* 100 events in one second */

                sched_job_trigger(j, t, 1 * S, 30 * S);
                ck_assert_uint_eq(sched_dispatch(s, t), 0);
        }
        ck_assert_uint_eq(sched_job_due(j), 990 * MS + 1 * S);
        ck_assert_uint_eq(sched_dispatch(s, 990 * MS + 1 * S), 1);
        ck_assert_uint_eq(r.starts, 1);
        sched_job_free(j);
}
END_TEST

/* A steady stream never leaves a quiet second: max_delay still runs it. */
START_TEST(test_max_delay) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r = {};
        SchedJob *j;
        uint64_t t;

        ck_assert_int_eq(sched_new(NULL, 4, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        for (t = 0; t < 30 * S; t += 500 * MS) {
                sched_job_trigger(j, t, 1 * S, 30 * S);
                ck_assert_uint_eq(sched_dispatch(s, t), 0);
        }
        ck_assert_uint_eq(sched_job_due(j), 30 * S);
        ck_assert_uint_eq(sched_dispatch(s, 30 * S), 1);
        sched_job_done(j);
        /* The next run's window starts at the first trigger after the run began. */
        sched_job_trigger(j, 30 * S + 1, 1 * S, 30 * S);
        ck_assert_uint_eq(sched_job_due(j), 31 * S + 1);
        /* max_delay below debounce is taken as debounce. */
        sched_job_trigger(j, 30 * S + 2, 5 * S, 1 * S);
        ck_assert_uint_eq(sched_job_due(j), 35 * S + 1);  /* first trigger + 5 s */
        sched_job_free(j);
}
END_TEST

/* Triggers while running: exactly one more run, after the current one. */
START_TEST(test_single_flight_rerun) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r = {};
        SchedJob *j;

        ck_assert_int_eq(sched_new(NULL, 4, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        sched_job_trigger(j, 0, 0, 30 * S);
        ck_assert_uint_eq(sched_dispatch(s, 0), 1);
        for (unsigned i = 1; i <= 50; i++)
                sched_job_trigger(j, i * S, 0, 30 * S);
        ck_assert(sched_job_pending(j));
        ck_assert(sched_job_running(j));
        /* Due, but running: not started, and no busy wake-up either. */
        ck_assert_uint_eq(sched_dispatch(s, 60 * S), 0);
        ck_assert_uint_eq(sched_next_wakeup(s, 60 * S), USEC_INFINITY);
        sched_job_done(j);
        ck_assert_uint_eq(sched_next_wakeup(s, 60 * S), 60 * S);
        ck_assert_uint_eq(sched_dispatch(s, 60 * S), 1);
        ck_assert_uint_eq(r.starts, 2);
        sched_job_done(j);
        ck_assert_uint_eq(sched_dispatch(s, 120 * S), 0);
        ck_assert_uint_eq(r.starts, 2);
        sched_job_free(j);
}
END_TEST

/* A pending re-run found to be covered already is cancelled: no run. */
START_TEST(test_cancel) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r = {};
        SchedJob *j;

        ck_assert_int_eq(sched_new(NULL, 4, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        sched_job_cancel(j);    /* not pending: nothing */
        sched_job_trigger(j, 0, 0, 0);
        ck_assert_uint_eq(sched_dispatch(s, 0), 1);
        sched_job_trigger(j, 1, 0, 0);
        sched_job_cancel(j);
        ck_assert(!sched_job_pending(j));
        ck_assert_uint_eq(sched_job_due(j), USEC_INFINITY);
        sched_job_done(j);
        ck_assert_uint_eq(sched_dispatch(s, 100), 0);
        ck_assert_uint_eq(r.starts, 1);
        sched_job_free(j);
}
END_TEST

/* Two jobs with one lock key (one mbsync per account): never together. */
START_TEST(test_lock_key) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec a = {}, b = {}, c = {};
        SchedJob *ja, *jb, *jc;

        ck_assert_int_eq(sched_new(NULL, 10, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "acct\nmbsync", rec_start, &a, &ja), 0);
        ck_assert_int_eq(sched_job_new(s, "acct\nmbsync", rec_start, &b, &jb), 0);
        ck_assert_int_eq(sched_job_new(s, "other\nmbsync", rec_start, &c, &jc), 0);
        sched_job_trigger(ja, 0, 0, 0);
        sched_job_trigger(jb, 1, 0, 0);
        sched_job_trigger(jc, 2, 0, 0);
        ck_assert_uint_eq(sched_dispatch(s, 10), 2);
        ck_assert_uint_eq(a.starts, 1);
        ck_assert_uint_eq(b.starts, 0);
        ck_assert_uint_eq(c.starts, 1);
        ck_assert_uint_eq(sched_next_wakeup(s, 10), USEC_INFINITY);
        sched_job_done(ja);
        ck_assert_uint_eq(sched_dispatch(s, 20), 1);
        ck_assert_uint_eq(b.starts, 1);
        sched_job_free(ja);
        sched_job_free(jb);
        sched_job_free(jc);
}
END_TEST

/* The global limit, earliest due first, and a freed running job frees its slot. */
START_TEST(test_max_running) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r[3] = {};
        SchedJob *j[3];

        ck_assert_int_eq(sched_new(NULL, 2, &s), 0);
        for (unsigned i = 0; i < 3; i++)
                ck_assert_int_eq(sched_job_new(s, i == 0 ? "a" : i == 1 ? "b" : "c", rec_start, &r[i], &j[i]), 0);
        sched_job_trigger(j[2], 0, 0, 0);
        sched_job_trigger(j[0], 5, 0, 0);
        sched_job_trigger(j[1], 7, 0, 0);
        ck_assert_uint_eq(sched_dispatch(s, 10), 2);
        ck_assert_uint_eq(r[2].starts, 1);
        ck_assert_uint_eq(r[0].starts, 1);
        ck_assert_uint_eq(r[1].starts, 0);
        ck_assert_uint_eq(sched_running(s), 2);
        j[2] = sched_job_free(j[2]);
        ck_assert_uint_eq(sched_running(s), 1);
        ck_assert_uint_eq(sched_dispatch(s, 11), 1);
        ck_assert_uint_eq(r[1].starts, 1);
        sched_set_max_running(s, 0);    /* taken as 1 */
        sched_job_trigger(j[0], 12, 0, 0);
        sched_job_done(j[0]);
        ck_assert_uint_eq(sched_dispatch(s, 12), 0);   /* j[1] still runs */
        sched_job_done(j[1]);
        ck_assert_uint_eq(sched_dispatch(s, 12), 1);
        sched_job_free(j[0]);
        sched_job_free(j[1]);
}
END_TEST

/* A start that fails leaves the job idle and the slot free. */
START_TEST(test_start_fails) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r = { .fail = -ENOENT };
        SchedJob *j;

        ck_assert_int_eq(sched_new(NULL, 1, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        sched_job_trigger(j, 0, 0, 0);
        ck_assert_uint_eq(sched_dispatch(s, 0), 0);
        ck_assert_uint_eq(r.starts, 1);
        ck_assert(!sched_job_running(j));
        ck_assert(!sched_job_pending(j));
        ck_assert_uint_eq(sched_running(s), 0);
        sched_job_done(j);      /* harmless when not running */
        ck_assert_uint_eq(sched_running(s), 0);
        sched_job_free(j);
}
END_TEST

/* Jobs outliving their scheduler are detached, not dangling. */
START_TEST(test_detach) {
        Sched *s = NULL;
        Rec r = {};
        SchedJob *j;

        ck_assert_int_eq(sched_new(NULL, 1, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        sched_job_trigger(j, 0, 0, 0);
        ck_assert_uint_eq(sched_dispatch(s, 0), 1);
        sched_free(s);
        sched_job_trigger(j, 1, 0, 0);
        sched_job_done(j);
        sched_job_free(j);
}
END_TEST

/* Run the loop until 'r' saw 'n' starts; a generous safety bound only. */
static void loop_until(sd_event *e, const Rec *r, unsigned n) {
        for (unsigned i = 0; i < 3000 && r->starts < n; i++)
                ck_assert_int_ge(sd_event_run(e, 10 * MS), 0);
        ck_assert_uint_eq(r->starts, n);
}

/* The sd-event glue: a trigger arms the timer and the loop starts the run. */
START_TEST(test_event_loop) {
        _cleanup_(sched_freep) Sched *s = NULL;
        sd_event *e = NULL;
        Rec r = {};
        SchedJob *j;
        uint64_t now;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(sched_new(e, 1, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        ck_assert_int_ge(sd_event_now(e, CLOCK_MONOTONIC, &now), 0);
        sched_job_trigger(j, now, 20 * MS, 1 * S);
        loop_until(e, &r, 1);
        /* A trigger while running waits for sched_job_done(), then runs once. */
        ck_assert_int_ge(sd_event_now(e, CLOCK_MONOTONIC, &now), 0);
        sched_job_trigger(j, now, 0, 0);
        for (unsigned i = 0; i < 5; i++)
                ck_assert_int_ge(sd_event_run(e, 0), 0);
        ck_assert_uint_eq(r.starts, 1);
        sched_job_done(j);
        loop_until(e, &r, 2);
        sched_job_free(j);
        s = sched_free(s);
        sd_event_unref(e);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("sched");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_debounce_single);
        tcase_add_test(tc, test_debounce_zero);
        tcase_add_test(tc, test_debounce_slides);
        tcase_add_test(tc, test_max_delay);
        tcase_add_test(tc, test_single_flight_rerun);
        tcase_add_test(tc, test_cancel);
        tcase_add_test(tc, test_lock_key);
        tcase_add_test(tc, test_max_running);
        tcase_add_test(tc, test_start_fails);
        tcase_add_test(tc, test_detach);
        tcase_add_test(tc, test_event_loop);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(suite());
}

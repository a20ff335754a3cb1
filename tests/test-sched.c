/* SPDX-License-Identifier: MIT */
/*
 * test-sched.c: the hook scheduler's rules (scheduler.h) on a fake clock:
 * debounce as a quiet period capped by max_delay, single-flight per lock key
 * with exactly one re-run, the global limit, and the sd-event timer glue.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>

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

/* debounce 0: the run starts inside the trigger, before it returns (the hot path). */
START_TEST(test_debounce_zero) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r = {};
        SchedJob *j;

        ck_assert_int_eq(sched_new(NULL, 1, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        sched_job_trigger(j, 5 * S, 0, 30 * S);
        ck_assert_uint_eq(r.starts, 1);
        ck_assert(sched_job_running(j));
        ck_assert(!sched_job_pending(j));
        ck_assert_uint_eq(sched_dispatch(s, 5 * S), 0);
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
        ck_assert_uint_eq(r.starts, 1);
        for (unsigned i = 1; i <= 50; i++)
                sched_job_trigger(j, i * S, 0, 30 * S);
        ck_assert(sched_job_pending(j));
        ck_assert(sched_job_running(j));
        /* Due, but running: not started, and no busy wake-up either. */
        ck_assert_uint_eq(sched_dispatch(s, 60 * S), 0);
        ck_assert_uint_eq(sched_next_wakeup(s, 60 * S), USEC_INFINITY);
        sched_job_done(j);
        /* Due since 31 s (max_delay after the first trigger); it runs once, now. */
        ck_assert_uint_eq(sched_next_wakeup(s, 60 * S), 31 * S); /* the first trigger + max_delay */
        ck_assert_uint_eq(sched_dispatch(s, 60 * S), 1);
        ck_assert_uint_eq(r.starts, 2);
        sched_job_done(j);
        ck_assert_uint_eq(sched_dispatch(s, 120 * S), 0);
        ck_assert_uint_eq(r.starts, 2);
        sched_job_free(j);
}
END_TEST

/* sched_idle() and the idle callback (--once waits for the last hook with them): idle only
 * with nothing running, queued or waiting for a lock; the callback comes from the
 * sched_job_done() that leaves it so, not from one after which a re-run is still pending. */
static void on_idle_count(Sched *s, void *userdata) {
        unsigned *n = userdata;

        ck_assert(sched_idle(s));
        (*n)++;
}

START_TEST(test_idle) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r = {}, r2 = {};
        SchedJob *j, *k;
        unsigned idles = 0;

        ck_assert_int_eq(sched_new(NULL, 4, &s), 0);
        sched_set_idle_fn(s, on_idle_count, &idles);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r, &j), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &r2, &k), 0);
        ck_assert(sched_idle(s));
        /* Pending (debounced), not running: not idle. */
        sched_job_trigger(j, 0, 5 * S, 30 * S);
        ck_assert(!sched_idle(s));
        ck_assert_uint_eq(sched_dispatch(s, 5 * S), 1);
        ck_assert(!sched_idle(s));
        /* k waits for the lock j holds; a re-run of j is pending. */
        sched_job_trigger(k, 6 * S, 0, 30 * S);
        sched_job_trigger(j, 6 * S, 0, 30 * S);
        ck_assert_uint_eq(r2.starts, 0);
        sched_job_done(j);
        ck_assert(!sched_idle(s));
        ck_assert_uint_eq(sched_dispatch(s, 6 * S), 1);
        /* One of the two started (both due at 6 s); the other is still queued. */
        sched_job_done(sched_job_running(j) ? j : k);
        ck_assert_uint_eq(idles, 0);
        ck_assert_uint_eq(sched_dispatch(s, 6 * S), 1);
        ck_assert_uint_eq(r.starts + r2.starts, 3);
        ck_assert_uint_eq(r2.starts, 1);
        sched_job_done(sched_job_running(j) ? j : k);
        ck_assert_uint_eq(idles, 1);
        ck_assert(sched_idle(s));
        sched_job_free(j);
        sched_job_free(k);
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
        ck_assert_uint_eq(r.starts, 1);
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
        ck_assert_uint_eq(a.starts, 1);
        ck_assert_uint_eq(b.starts, 0);
        ck_assert_uint_eq(c.starts, 1);
        ck_assert_uint_eq(sched_waiting(s), 1);         /* b, behind a's lock */
        ck_assert_uint_eq(sched_next_wakeup(s, 10), USEC_INFINITY);
        ck_assert_uint_eq(sched_dispatch(s, 10), 0);
        sched_job_done(ja);
        ck_assert_uint_eq(sched_waiting(s), 0);
        ck_assert_uint_eq(sched_next_wakeup(s, 20), 1); /* due since its trigger */
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
        ck_assert_uint_eq(sched_dispatch(s, 10), 0);
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
        sched_job_done(j[0]);           /* j[0] ran, and is pending again */
        ck_assert_uint_eq(sched_running(s), 1);
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
        ck_assert_uint_eq(r.starts, 1);
        ck_assert_uint_eq(sched_dispatch(s, 0), 0);
        ck_assert(!sched_job_running(j));
        ck_assert(!sched_job_pending(j));
        ck_assert_uint_eq(sched_running(s), 0);
        sched_job_done(j);      /* harmless when not running */
        ck_assert_uint_eq(sched_running(s), 0);
        sched_job_free(j);
}
END_TEST

/* A job freed while it runs, while it waits for its lock, and while queued: its slot and lock go
 * back, and the others are unaffected. */
START_TEST(test_free_in_every_state) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec r[4] = {};
        SchedJob *j[4];

        ck_assert_int_eq(sched_new(NULL, 2, &s), 0);
        for (unsigned i = 0; i < 4; i++)
                ck_assert_int_eq(sched_job_new(s, i < 2 ? "lock" : NULL, rec_start, &r[i], &j[i]), 0);
        sched_job_trigger(j[0], 0, 0, 0);               /* runs */
        sched_job_trigger(j[1], 1, 0, 0);               /* waits for the lock */
        sched_job_trigger(j[2], 2, 5 * S, 5 * S);       /* queued, due at 5 s */
        ck_assert_uint_eq(sched_running(s), 1);
        ck_assert_uint_eq(sched_waiting(s), 1);
        j[1] = sched_job_free(j[1]);
        ck_assert_uint_eq(sched_waiting(s), 0);
        j[0] = sched_job_free(j[0]);
        ck_assert_uint_eq(sched_running(s), 0);
        j[2] = sched_job_free(j[2]);
        ck_assert_uint_eq(sched_next_wakeup(s, 10), USEC_INFINITY);
        /* A new job with the freed lock's key gets a fresh, free lock. */
        ck_assert_int_eq(sched_job_new(s, "lock", rec_start, &r[0], &j[0]), 0);
        sched_job_trigger(j[0], 20, 0, 0);
        ck_assert_uint_eq(r[0].starts, 2);
        sched_job_trigger(j[3], 21, 0, 0);
        ck_assert_uint_eq(r[3].starts, 1);
        sched_job_free(j[0]);
        sched_job_free(j[3]);
}
END_TEST

/* A job waiting for its lock is due: a new trigger, even with a debounce, leaves its due time
 * and its place in the lock's list alone, so it runs before a job that became due after it. */
START_TEST(test_waiter_retriggered) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec a = {}, b = {}, c = {};
        SchedJob *ja, *jb, *jc;

        ck_assert_int_eq(sched_new(NULL, 4, &s), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &a, &ja), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &b, &jb), 0);
        ck_assert_int_eq(sched_job_new(s, "k", rec_start, &c, &jc), 0);
        sched_job_trigger(ja, 0, 0, 0);
        sched_job_trigger(jb, 0, 0, 30 * S);
        sched_job_trigger(jc, 1 * S, 0, 30 * S);
        ck_assert_uint_eq(sched_waiting(s), 2);
        sched_job_trigger(jb, 2 * S, 2 * S, 30 * S);
        ck_assert_uint_eq(sched_waiting(s), 2);
        ck_assert_uint_eq(sched_job_due(jb), 0);
        sched_job_done(ja);
        ck_assert_uint_eq(sched_dispatch(s, 2 * S), 1);
        ck_assert_uint_eq(b.starts, 1);
        ck_assert_uint_eq(c.starts, 0);
        sched_job_done(jb);
        ck_assert_uint_eq(sched_dispatch(s, 2 * S), 1);
        ck_assert_uint_eq(c.starts, 1);
        sched_job_free(ja);
        sched_job_free(jb);
        sched_job_free(jc);
}
END_TEST

/* The same for a job that waits for a slot (max_running): a steady stream of triggers does not
 * push it behind the jobs that became due after it. */
START_TEST(test_due_not_starved) {
        _cleanup_(sched_freep) Sched *s = NULL;
        Rec a = {}, b = {}, c = {};
        SchedJob *ja, *jb, *jc;

        ck_assert_int_eq(sched_new(NULL, 1, &s), 0);
        ck_assert_int_eq(sched_job_new(s, NULL, rec_start, &a, &ja), 0);
        ck_assert_int_eq(sched_job_new(s, NULL, rec_start, &b, &jb), 0);
        ck_assert_int_eq(sched_job_new(s, NULL, rec_start, &c, &jc), 0);
        sched_job_trigger(ja, 0, 0, 0);
        sched_job_trigger(jb, 0, 1 * S, 60 * S);        /* due at 1 s */
        sched_job_trigger(jc, 2 * S, 0, 60 * S);        /* due at 2 s */
        for (uint64_t t = 3 * S; t < 10 * S; t += S) {
                sched_job_trigger(jb, t, 1 * S, 60 * S);
                ck_assert_uint_eq(sched_job_due(jb), 1 * S);
        }
        sched_job_done(ja);
        ck_assert_uint_eq(sched_dispatch(s, 10 * S), 1);
        ck_assert_uint_eq(b.starts, 1);
        ck_assert_uint_eq(c.starts, 0);
        /* A trigger before the job is due still slides its debounce. */
        sched_job_trigger(ja, 10 * S, 2 * S, 60 * S);
        sched_job_trigger(ja, 11 * S, 2 * S, 60 * S);
        ck_assert_uint_eq(sched_job_due(ja), 13 * S);
        sched_job_free(ja);
        sched_job_free(jb);
        sched_job_free(jc);
}
END_TEST

/* The reference: the rules of scheduler.h written as the simplest possible code, a walk over every
 * job (what the scheduler did before it had a queue).  The real one must make the same decisions. */
enum { MODEL_JOBS = 300, MODEL_LOCKS = 12 };

typedef struct Model {
        bool pending, running;
        uint64_t first, due;
        unsigned lock;                  /* MODEL_LOCKS: none */
        unsigned starts;
} Model;

static Model model[MODEL_JOBS];
static unsigned model_running, model_max;
static unsigned real_starts[MODEL_JOBS];

static int model_rec_start(SchedJob *j, void *userdata) {
        (void) j;
        real_starts[(unsigned) (uintptr_t) userdata]++;
        return 0;
}

static bool model_lock_held(unsigned i) {
        if (model[i].lock == MODEL_LOCKS)
                return false;
        for (unsigned k = 0; k < MODEL_JOBS; k++)
                if (k != i && model[k].running && model[k].lock == model[i].lock)
                        return true;
        return false;
}

static void model_dispatch(uint64_t now) {
        for (;;) {
                int best = -1;

                if (model_running >= model_max)
                        return;
                for (unsigned k = 0; k < MODEL_JOBS; k++)
                        if (model[k].pending && !model[k].running && model[k].due <= now && !model_lock_held(k) &&
                            (best < 0 || model[k].due < model[best].due))
                                best = (int) k;
                if (best < 0)
                        return;
                model[best].pending = false;
                model[best].running = true;
                model[best].starts++;
                model_running++;
        }
}

static void model_trigger(unsigned i, uint64_t now, uint64_t debounce, uint64_t max_delay) {
        bool due_already = model[i].pending && !model[i].running && model[i].due <= now;

        if (!model[i].pending) {
                model[i].pending = true;
                model[i].first = now;
        }
        if (!due_already)       /* a due job keeps its due time */
                model[i].due = MIN(now + debounce, model[i].first + MAX(max_delay, debounce));
        if (!model[i].running && model[i].due <= now)
                model_dispatch(now);
}

/* 60,000 random triggers, ends of runs, cancellations and dispatches over 300 jobs, 12 locks and
 * 3 slots.  Times are unique per job (step × 1024 + job), debounces multiples of 1024, so no two
 * jobs are ever due at the same microsecond and "earliest due first" decides every order. */
START_TEST(test_matches_reference) {
        _cleanup_(sched_freep) Sched *s = NULL;
        SchedJob *j[MODEL_JOBS];
        uint64_t rs = 1234, now = 0;
        char key[16];

        model_max = 3;
        model_running = 0;
        ck_assert_int_eq(sched_new(NULL, model_max, &s), 0);
        for (unsigned i = 0; i < MODEL_JOBS; i++) {
                unsigned lock = (unsigned) (th_rand(&rs) % (MODEL_LOCKS + 1));

                model[i] = (Model) { .lock = lock };
                real_starts[i] = 0;
                snprintf(key, sizeof(key), "lock%u", lock);
                ck_assert_int_eq(sched_job_new(s, lock == MODEL_LOCKS ? NULL : key, model_rec_start,
                                               (void *) (uintptr_t) i, &j[i]), 0);
        }
        for (unsigned step = 1; step <= 60000; step++) {
                unsigned i = (unsigned) (th_rand(&rs) % MODEL_JOBS), op = (unsigned) (th_rand(&rs) % 10);

                now = (uint64_t) step * 1024 * 4;
                if (op < 5) {
                        uint64_t debounce = (th_rand(&rs) % 4) * 1024 * 8, max_delay = (th_rand(&rs) % 4) * 1024 * 16;
                        uint64_t t = now + i;

                        model_trigger(i, t, debounce, max_delay);
                        sched_job_trigger(j[i], t, debounce, max_delay);
                } else if (op < 8) {
                        /* Some running job ends. */
                        for (unsigned k = 0; k < MODEL_JOBS; k++) {
                                unsigned x = (i + k) % MODEL_JOBS;

                                if (model[x].running) {
                                        model[x].running = false;
                                        model_running--;
                                        sched_job_done(j[x]);
                                        break;
                                }
                        }
                } else if (op == 8) {
                        model[i].pending = false;
                        sched_job_cancel(j[i]);
                } else {
                        model_dispatch(now);
                        (void) sched_dispatch(s, now);
                }
                for (unsigned k = 0; k < MODEL_JOBS; k++)
                        ck_assert_msg(real_starts[k] == model[k].starts && sched_job_running(j[k]) == model[k].running &&
                                      sched_job_pending(j[k]) == model[k].pending,
                                      "step %u (op %u on job %u): job %u (lock %u) runs %d/%d pending %d/%d starts %u/%u",
                                      step, op, i, k, model[k].lock, sched_job_running(j[k]), model[k].running,
                                      sched_job_pending(j[k]), model[k].pending, real_starts[k], model[k].starts);
                ck_assert_uint_eq(sched_running(s), model_running);
                ck_assert_msg(real_starts[i] == model[i].starts, "step %u job %u: %u starts, reference %u", step, i,
                              real_starts[i], model[i].starts);
                ck_assert(sched_job_pending(j[i]) == model[i].pending);
                ck_assert(sched_job_running(j[i]) == model[i].running);
                if (model[i].pending)
                        ck_assert_uint_eq(sched_job_due(j[i]), model[i].due);
        }
        for (unsigned i = 0; i < MODEL_JOBS; i++) {
                ck_assert_uint_eq(real_starts[i], model[i].starts);
                sched_job_free(j[i]);
        }
}
END_TEST

/* Ten thousand mailboxes' worth of jobs (three each), one lock per account: every trigger runs
 * exactly once, never before its debounce expired, never beside another job of its account, at
 * most four at once, in due order; and sched_next_wakeup() says exactly when the next one is. */
enum { BIG = 30000 };
static SchedJob *big_job[BIG];
static unsigned big_starts[BIG], big_running[BIG];
static unsigned big_started[8], big_n_started;

static int big_start(SchedJob *j, void *userdata) {
        unsigned i = (unsigned) (uintptr_t) userdata;

        (void) j;
        big_starts[i]++;
        ck_assert_uint_lt(big_n_started, ELEMENTSOF(big_started));
        big_started[big_n_started++] = i;
        return 0;
}

START_TEST(test_thirty_thousand_jobs) {
        _cleanup_(sched_freep) Sched *s = NULL;
        char key[32];
        unsigned done = 0, last = 0;
        uint64_t t;

        ck_assert_int_eq(sched_new(NULL, 4, &s), 0);
        for (unsigned i = 0; i < BIG; i++) {
                big_starts[i] = big_running[i] = 0;
                snprintf(key, sizeof(key), "account%u", i / 3);
                ck_assert_int_eq(sched_job_new(s, key, big_start, (void *) (uintptr_t) i, &big_job[i]), 0);
        }
        /* Job i triggered at i µs (in reverse order) with a 1 s debounce: due at 1 s + i. */
        for (unsigned i = BIG; i-- > 0;)
                sched_job_trigger(big_job[i], i, 1 * S, 30 * S);
        ck_assert_uint_eq(big_n_started, 0);
        while ((t = sched_next_wakeup(s, 0)) != USEC_INFINITY) {
                big_n_started = 0;
                ck_assert_uint_ge(sched_dispatch(s, t), 1);
                for (unsigned k = 0; k < big_n_started; k++) {
                        unsigned i = big_started[k];

                        ck_assert_uint_ge(t, 1 * S + i);        /* not before its due time */
                        ck_assert_uint_ge(i, last);             /* in due order */
                        last = i;
                        sched_job_done(big_job[i]);
                        done++;
                }
        }
        ck_assert_uint_eq(done, BIG);
        for (unsigned i = 0; i < BIG; i++) {
                ck_assert_uint_eq(big_starts[i], 1);
                big_job[i] = sched_job_free(big_job[i]);
        }
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
        tcase_add_test(tc, test_idle);
        tcase_add_test(tc, test_cancel);
        tcase_add_test(tc, test_lock_key);
        tcase_add_test(tc, test_max_running);
        tcase_add_test(tc, test_start_fails);
        tcase_add_test(tc, test_free_in_every_state);
        tcase_add_test(tc, test_waiter_retriggered);
        tcase_add_test(tc, test_due_not_starved);
        tcase_add_test(tc, test_matches_reference);
        tcase_add_test(tc, test_thirty_thousand_jobs);
        tcase_add_test(tc, test_event_loop);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(suite());
}

/* SPDX-License-Identifier: MIT */
/* test-timers.c: many deadlines behind one sd-event timer (timers.h): they fire in order of their
 * times, a moved or cleared one fires then or never, a callback may set entries again (one set
 * to the past waits for the next turn), and one sd-event source serves them all. */
#include <errno.h>

#include "th.h"
#include "time-util.h"
#include "timers.h"

enum { N = 2000 };
static TimerEntry ent[N];
static unsigned fired[N], n_fired;
static uint64_t fired_at[N];
static Timers *the_timers;
static unsigned rearm_left;

static void on_fire(TimerEntry *e, uint64_t now) {
        unsigned i = (unsigned) (e - ent);

        fired[n_fired] = i;
        fired_at[n_fired++] = now;
        if (i == 0 && rearm_left > 0) {
                rearm_left--;
                ck_assert_int_eq(timers_set(the_timers, e, now), 0);     /* due at once: next turn */
        }
}

static uint64_t now_of(sd_event *e) {
        uint64_t t;

        ck_assert_int_ge(sd_event_now(e, CLOCK_MONOTONIC, &t), 0);
        return t;
}

START_TEST(test_order_move_clear) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(timers_freep) Timers *t = NULL;
        uint64_t t0;
        uint64_t rs = 99;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(timers_new(e, USEC_PER_MSEC, &t), 0);
        the_timers = t;
        n_fired = 0;
        rearm_left = 0;
        t0 = now_of(e);
        /* N entries at random times within 50 ms. */
        for (unsigned i = 0; i < N; i++) {
                ent[i] = TIMER_ENTRY_INIT(on_fire);
                ck_assert_int_eq(timers_set(t, &ent[i], t0 + 1000 + th_rand(&rs) % (50 * USEC_PER_MSEC)), 0);
        }
        ck_assert_uint_eq(timers_count(t), N);
        /* Move one to the front, clear another: it must never fire. */
        ck_assert_int_eq(timers_set(t, &ent[7], t0 + 500), 0);
        timers_clear(t, &ent[8]);
        ck_assert_uint_eq(timers_due(&ent[8]), USEC_INFINITY);
        ck_assert_uint_eq(timers_count(t), N - 1);
        while (timers_count(t) > 0)
                ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
        ck_assert_uint_eq(n_fired, N - 1);
        ck_assert_uint_eq(fired[0], 7);
        for (unsigned k = 0; k < n_fired; k++) {
                ck_assert_uint_ne(fired[k], 8);
                if (k > 0)
                        ck_assert_uint_ge(fired_at[k], fired_at[k - 1]);
                /* Never early. */
                ck_assert_uint_ge(fired_at[k], ent[fired[k]].item.key);
        }
        for (unsigned k = 1; k < n_fired; k++)
                ck_assert_uint_ge(ent[fired[k]].item.key, ent[fired[k - 1]].item.key);
}
END_TEST

/* A callback that sets itself to 'now' again does not loop inside one dispatch: it fires once
 * per loop turn. */
START_TEST(test_rearm_from_callback) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(timers_freep) Timers *t = NULL;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(timers_new(e, 0, &t), 0);
        the_timers = t;
        n_fired = 0;
        rearm_left = 3;
        ent[0] = TIMER_ENTRY_INIT(on_fire);
        ck_assert_int_eq(timers_set(t, &ent[0], now_of(e)), 0);
        for (unsigned turn = 1; turn <= 4; turn++) {
                ck_assert_int_ge(sd_event_run(e, 100 * USEC_PER_MSEC), 0);
                ck_assert_uint_eq(n_fired, turn);
        }
        ck_assert_uint_eq(timers_count(t), 0);
}
END_TEST

static Suite *timers_suite(void) {
        Suite *s = suite_create("timers");
        TCase *tc = tcase_create("timers");

        tcase_add_test(tc, test_order_move_clear);
        tcase_add_test(tc, test_rearm_from_callback);
        tcase_set_timeout(tc, 30);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(timers_suite());
}

/* SPDX-License-Identifier: MIT */
/* test-ramp.c: max_connecting (ramp.h): at most the limit hold a slot, the rest wait in order,
 * a released slot goes to the next one from the loop (never from inside the release), waiting
 * entries can leave, and a higher limit lets more go. */
#include <errno.h>

#include "ramp.h"
#include "th.h"
#include "time-util.h"

enum { N = 6 };
static RampEntry entries[N];
static unsigned order[N * 4], n_order;

static void on_go(RampEntry *e) {
        order[n_order++] = (unsigned) (e - entries);
}

static void run_loop(sd_event *e) {
        for (unsigned i = 0; i < 5; i++)
                ck_assert_int_ge(sd_event_run(e, 0), 0);
}

START_TEST(test_limit_and_order) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(ramp_freep) Ramp *r = NULL;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(ramp_new(e, 2, &r), 0);
        n_order = 0;
        for (unsigned i = 0; i < N; i++)
                entries[i] = RAMP_ENTRY_INIT(on_go);
        ck_assert_int_eq(ramp_acquire(r, &entries[0]), 1);
        ck_assert_int_eq(ramp_acquire(r, &entries[1]), 1);
        for (unsigned i = 2; i < N; i++)
                ck_assert_int_eq(ramp_acquire(r, &entries[i]), 0);
        ck_assert_int_eq(ramp_acquire(r, &entries[1]), 1);      /* holds already: keeps it */
        ck_assert_int_eq(ramp_acquire(r, &entries[3]), 0);      /* waits already: keeps its place */
        ck_assert_uint_eq(ramp_in_flight(r), 2);
        ck_assert_uint_eq(ramp_waiting(r), 4);

        /* A release hands the slot on from the loop, not from inside the call. */
        ramp_release(r, &entries[0]);
        ck_assert_uint_eq(n_order, 0);
        ck_assert_uint_eq(ramp_in_flight(r), 1);
        run_loop(e);
        ck_assert_uint_eq(n_order, 1);
        ck_assert_uint_eq(order[0], 2);
        ck_assert(entries[2].holding);
        ck_assert_uint_eq(ramp_in_flight(r), 2);

        /* A waiting entry that gives up leaves the queue; an idle one is left alone. */
        ramp_release(r, &entries[3]);
        ramp_release(r, &entries[0]);
        ck_assert_uint_eq(ramp_waiting(r), 2);

        /* A higher limit lets the rest go, in order. */
        ramp_set_limit(r, 10);
        run_loop(e);
        ck_assert_uint_eq(n_order, 3);
        ck_assert_uint_eq(order[1], 4);
        ck_assert_uint_eq(order[2], 5);
        ck_assert_uint_eq(ramp_in_flight(r), 4);
        ck_assert_uint_eq(ramp_waiting(r), 0);

        /* A lower limit takes nothing away, but holds back the next ones. */
        ramp_set_limit(r, 0);                                   /* taken as 1 */
        ck_assert_int_eq(ramp_acquire(r, &entries[0]), 0);
        for (unsigned i = 1; i < N; i++)
                ramp_release(r, &entries[i]);
        run_loop(e);
        ck_assert(entries[0].holding);
        ck_assert_uint_eq(ramp_in_flight(r), 1);
        ramp_release(r, &entries[0]);
        ck_assert_uint_eq(ramp_in_flight(r), 0);
}
END_TEST

/* An entry that fails on the spot from its go callback releases at once: the next one goes. */
static Ramp *chain_ramp;
static void on_go_fail(RampEntry *e) {
        order[n_order++] = (unsigned) (e - entries);
        ramp_release(chain_ramp, e);
}

START_TEST(test_release_from_go) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(ramp_freep) Ramp *r = NULL;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(ramp_new(e, 1, &r), 0);
        chain_ramp = r;
        n_order = 0;
        for (unsigned i = 0; i < N; i++)
                entries[i] = RAMP_ENTRY_INIT(on_go_fail);
        ck_assert_int_eq(ramp_acquire(r, &entries[0]), 1);
        for (unsigned i = 1; i < N; i++)
                ck_assert_int_eq(ramp_acquire(r, &entries[i]), 0);
        ramp_release(r, &entries[0]);
        for (unsigned i = 0; i < 20 && n_order < N - 1; i++)
                ck_assert_int_ge(sd_event_run(e, 0), 0);
        ck_assert_uint_eq(n_order, N - 1);
        for (unsigned i = 0; i < N - 1; i++)
                ck_assert_uint_eq(order[i], i + 1);
        ck_assert_uint_eq(ramp_in_flight(r), 0);
        ck_assert_uint_eq(ramp_waiting(r), 0);
}
END_TEST

static Suite *ramp_suite(void) {
        Suite *s = suite_create("ramp");
        TCase *tc = tcase_create("ramp");

        tcase_add_test(tc, test_limit_and_order);
        tcase_add_test(tc, test_release_from_go);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(ramp_suite());
}

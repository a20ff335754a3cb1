/* SPDX-License-Identifier: MIT */
/*
 * test-resume.c: the suspend/resume detector (src/daemon/resume.c): the pure
 * clock comparison with fixed readings, and the monitor on a private sd-event
 * loop with suspends injected through resume_monitor_inject() and logind's
 * signal through resume_monitor_prepare_for_sleep().  main() points the
 * system bus at a socket that does not exist, so every monitor here runs
 * without logind, as in a container.  Loop runs end by a callback or by a
 * generous safety timer; "no callback" runs are short and only ever confirm
 * an absence, so no result depends on timing.
 */
#include <errno.h>
#include <stdlib.h>

#include "resume.h"
#include "th.h"

#define SAFETY_USEC (10 * USEC_PER_SEC)
#define SHORT_USEC (300 * USEC_PER_MSEC)
#define HOUR_USEC (3600 * USEC_PER_SEC)

/* ---- the pure function ---------------------------------------------------- */

static usec_t slept(usec_t b0, usec_t m0, usec_t b1, usec_t m1, usec_t threshold) {
        return resume_slept_usec(&(ResumeClocks) { .boottime = b0, .monotonic = m0 },
                                 &(ResumeClocks) { .boottime = b1, .monotonic = m1 }, threshold);
}

START_TEST(test_slept_no_jump) {
        ck_assert_uint_eq(slept(1000, 500, 1000, 500, 0), 0);
        ck_assert_uint_eq(slept(1000, 500, 6000, 5500, 0), 0);
        /* MONOTONIC ahead of BOOTTIME's advance (only rounding could do that): not sleep. */
        ck_assert_uint_eq(slept(1000, 500, 6000, 5600, 0), 0);
}
END_TEST

START_TEST(test_slept_threshold) {
        const usec_t t = 5 * USEC_PER_SEC, b0 = 100 * USEC_PER_SEC, m0 = 90 * USEC_PER_SEC;
        const usec_t awake = 5 * USEC_PER_SEC;

        /* The difference must exceed the threshold strictly. */
        ck_assert_uint_eq(slept(b0, m0, b0 + awake + t - 1, m0 + awake, t), 0);
        ck_assert_uint_eq(slept(b0, m0, b0 + awake + t, m0 + awake, t), 0);
        ck_assert_uint_eq(slept(b0, m0, b0 + awake + t + 1, m0 + awake, t), t + 1);
        ck_assert_uint_eq(slept(b0, m0, b0 + awake + HOUR_USEC, m0 + awake, t), HOUR_USEC);
        /* Threshold 0: any difference counts. */
        ck_assert_uint_eq(slept(b0, m0, b0 + 1, m0, 0), 1);
}
END_TEST

START_TEST(test_slept_backwards) {
        /* BOOTTIME going backwards (a bogus reading): nothing, not a huge unsigned number. */
        ck_assert_uint_eq(slept(10 * USEC_PER_SEC, 10, 1, 20, 0), 0);
        ck_assert_uint_eq(slept(UINT64_MAX, 0, 0, UINT64_MAX, 0), 0);
        /* MONOTONIC going backwards counts as not advanced: BOOTTIME's advance is all sleep. */
        ck_assert_uint_eq(slept(1000, 5000, 1000 + HOUR_USEC, 1000, 0), HOUR_USEC);
        /* Both backwards. */
        ck_assert_uint_eq(slept(5000, 5000, 1000, 1000, 0), 0);
        /* The extremes. */
        ck_assert_uint_eq(slept(0, 0, UINT64_MAX, 0, 0), UINT64_MAX);
        ck_assert_uint_eq(slept(0, 0, UINT64_MAX, 0, UINT64_MAX), 0);
        ck_assert_uint_eq(resume_slept_usec(NULL, &(ResumeClocks) {}, 0), 0);
        ck_assert_uint_eq(resume_slept_usec(&(ResumeClocks) {}, NULL, 0), 0);
}
END_TEST

/* ---- the monitor ------------------------------------------------------------ */

/* Set to end run_for(); a loop that was sd_event_exit()ed cannot be run again. */
static bool done;

typedef struct Seen {
        unsigned calls;
        usec_t slept;
        bool exit_on_call;
} Seen;

static void on_resume(usec_t slept_usec, void *userdata) {
        Seen *s = userdata;

        s->calls++;
        s->slept = slept_usec;
        if (s->exit_on_call)
                done = true;
}

static int on_deadline(sd_event_source *src, uint64_t usec, void *userdata) {
        (void) src;
        (void) usec;
        (void) userdata;
        done = true;
        return 0;
}

/* Run e until a callback sets done or usec passes. */
static void run_for(sd_event *e, usec_t usec) {
        sd_event_source *deadline = NULL;

        ck_assert_int_ge(sd_event_add_time_relative(e, &deadline, CLOCK_MONOTONIC, usec, 0, on_deadline, NULL), 0);
        for (done = false; !done;)
                ck_assert_int_ge(sd_event_run(e, UINT64_MAX), 0);
        sd_event_source_disable_unref(deadline);
}

static sd_event *new_event(void) {
        sd_event *e = NULL;

        ck_assert_int_ge(sd_event_new(&e), 0);
        return e;
}

START_TEST(test_monitor_inject) {
        sd_event *e = new_event();
        Seen seen = { .exit_on_call = true };
        _cleanup_(resume_monitor_freep) ResumeMonitor *m = NULL;

        /* Checks an hour apart: only the injection can make one happen within the test. */
        ck_assert_int_eq(resume_monitor_new(e, HOUR_USEC, USEC_PER_SEC, on_resume, &seen, &m), 0);
        ck_assert_int_eq(resume_monitor_inject(m, 600 * USEC_PER_SEC), 0);
        run_for(e, SAFETY_USEC);
        ck_assert_uint_eq(seen.calls, 1);
        /* About the injected amount: plus the few µs the two clock reads lie apart. */
        /* The two clocks are read one after the other: a microsecond either way. */
        ck_assert_uint_ge(seen.slept + USEC_PER_MSEC, 600 * USEC_PER_SEC);
        ck_assert_uint_lt(seen.slept, 601 * USEC_PER_SEC);

        /* Reported once, not again. */
        seen.exit_on_call = false;
        run_for(e, SHORT_USEC);
        ck_assert_uint_eq(seen.calls, 1);

        m = resume_monitor_free(m);
        ck_assert_ptr_null(m);
        sd_event_unref(e);
}
END_TEST

/* Real periodic checks, many of them, with nothing to find; then one injected sleep is reported
 * once although the checks go on. */
START_TEST(test_monitor_periodic) {
        sd_event *e = new_event();
        Seen seen = {};
        _cleanup_(resume_monitor_freep) ResumeMonitor *m = NULL;

        ck_assert_int_eq(resume_monitor_new(e, 10 * USEC_PER_MSEC, 0, on_resume, &seen, &m), 0);
        run_for(e, SHORT_USEC);
        ck_assert_uint_eq(seen.calls, 0);

        ck_assert_int_eq(resume_monitor_inject(m, 30 * USEC_PER_SEC), 0);
        run_for(e, SHORT_USEC);
        ck_assert_uint_eq(seen.calls, 1);
        ck_assert_uint_ge(seen.slept + USEC_PER_MSEC, 30 * USEC_PER_SEC);
        ck_assert_uint_lt(seen.slept, 31 * USEC_PER_SEC);

        m = resume_monitor_free(m);
        sd_event_unref(e);
}
END_TEST

/* Below the threshold nothing is reported; each check measures from the previous one. */
START_TEST(test_monitor_threshold) {
        sd_event *e = new_event();
        Seen seen = {};
        _cleanup_(resume_monitor_freep) ResumeMonitor *m = NULL;

        ck_assert_int_eq(resume_monitor_new(e, HOUR_USEC, 5 * USEC_PER_SEC, on_resume, &seen, &m), 0);
        ck_assert_int_eq(resume_monitor_inject(m, 4 * USEC_PER_SEC), 0);
        run_for(e, SHORT_USEC);
        ck_assert_uint_eq(seen.calls, 0);

        seen.exit_on_call = true;
        ck_assert_int_eq(resume_monitor_inject(m, 10 * USEC_PER_SEC), 0);
        run_for(e, SAFETY_USEC);
        ck_assert_uint_eq(seen.calls, 1);
        ck_assert_uint_ge(seen.slept + USEC_PER_MSEC, 10 * USEC_PER_SEC);
        ck_assert_uint_lt(seen.slept, 11 * USEC_PER_SEC);

        m = resume_monitor_free(m);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_monitor_no_bus) {
        sd_event *e = new_event();
        Seen seen = { .exit_on_call = true };
        _cleanup_(resume_monitor_freep) ResumeMonitor *m = NULL;

        /* main() pointed the system bus at nothing: construction still works, clocks only. */
        ck_assert_int_eq(resume_monitor_new(e, 0, 0, on_resume, &seen, &m), 0);
        ck_assert(!resume_monitor_has_bus(m));
        ck_assert_int_eq(resume_monitor_inject(m, HOUR_USEC), 0);
        run_for(e, SAFETY_USEC);
        ck_assert_uint_eq(seen.calls, 1);
        ck_assert_uint_ge(seen.slept + USEC_PER_MSEC, HOUR_USEC);

        m = resume_monitor_free(m);
        sd_event_unref(e);
}
END_TEST

/* logind's PrepareForSleep: false after true reports, and a resume both sources see is reported
 * once. */
START_TEST(test_monitor_prepare_for_sleep) {
        sd_event *e = new_event();
        Seen seen = {};
        _cleanup_(resume_monitor_freep) ResumeMonitor *m = NULL;

        ck_assert_int_eq(resume_monitor_new(e, HOUR_USEC, 0, on_resume, &seen, &m), 0);

        /* A resume without a suspend seen before: nothing. */
        resume_monitor_prepare_for_sleep(m, false);
        ck_assert_uint_eq(seen.calls, 0);

        /* Suspend and resume through logind alone; the clocks barely moved. */
        resume_monitor_prepare_for_sleep(m, true);
        ck_assert_uint_eq(seen.calls, 0);
        resume_monitor_prepare_for_sleep(m, false);
        ck_assert_uint_eq(seen.calls, 1);
        ck_assert_uint_lt(seen.slept, USEC_PER_SEC);
        resume_monitor_prepare_for_sleep(m, false);
        ck_assert_uint_eq(seen.calls, 1);

        /* The clocks see it first, then logind's signal arrives: one call. */
        resume_monitor_prepare_for_sleep(m, true);
        ck_assert_int_eq(resume_monitor_inject(m, 120 * USEC_PER_SEC), 0);
        run_for(e, SHORT_USEC);
        ck_assert_uint_eq(seen.calls, 2);
        resume_monitor_prepare_for_sleep(m, false);
        ck_assert_uint_eq(seen.calls, 2);

        /* logind first, measuring the sleep from its own start; then the clock check finds
         * nothing new. */
        resume_monitor_prepare_for_sleep(m, true);
        ck_assert_int_eq(resume_monitor_inject(m, 300 * USEC_PER_SEC), 0);
        resume_monitor_prepare_for_sleep(m, false);
        ck_assert_uint_eq(seen.calls, 3);
        ck_assert_uint_ge(seen.slept + USEC_PER_MSEC, 300 * USEC_PER_SEC);
        ck_assert_uint_lt(seen.slept, 301 * USEC_PER_SEC);
        run_for(e, SHORT_USEC);
        ck_assert_uint_eq(seen.calls, 3);

        resume_monitor_prepare_for_sleep(NULL, true);
        m = resume_monitor_free(m);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_monitor_bad_arguments) {
        sd_event *e = new_event();
        ResumeMonitor *m = NULL;

        ck_assert_int_eq(resume_monitor_new(NULL, 0, 0, on_resume, NULL, &m), -EINVAL);
        ck_assert_int_eq(resume_monitor_new(e, 0, 0, NULL, NULL, &m), -EINVAL);
        ck_assert_int_eq(resume_monitor_new(e, 0, 0, on_resume, NULL, NULL), -EINVAL);
        ck_assert_ptr_null(m);
        ck_assert_int_eq(resume_monitor_inject(NULL, 1), -EINVAL);
        ck_assert(!resume_monitor_has_bus(NULL));
        ck_assert_ptr_null(resume_monitor_free(NULL));
        sd_event_unref(e);
}
END_TEST

static Suite *resume_suite(void) {
        Suite *s = suite_create("resume");
        TCase *tc;

        tc = tcase_create("slept");
        tcase_add_test(tc, test_slept_no_jump);
        tcase_add_test(tc, test_slept_threshold);
        tcase_add_test(tc, test_slept_backwards);
        suite_add_tcase(s, tc);

        tc = tcase_create("monitor");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_monitor_inject);
        tcase_add_test(tc, test_monitor_periodic);
        tcase_add_test(tc, test_monitor_threshold);
        tcase_add_test(tc, test_monitor_no_bus);
        tcase_add_test(tc, test_monitor_prepare_for_sleep);
        tcase_add_test(tc, test_monitor_bad_arguments);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        /* No logind here, whatever this machine has: the tests drive the signal path by hand. */
        if (setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/imapidled-test-bus", 1) < 0)
                return EXIT_FAILURE;
        return th_run_suite(resume_suite());
}

/* SPDX-License-Identifier: MIT */
/*
 * resume.c: the suspend/resume detector of resume.h: a CLOCK_MONOTONIC timer
 * comparing CLOCK_BOOTTIME with CLOCK_MONOTONIC, plus logind's
 * PrepareForSleep signal where the system bus can be reached.
 */
#include <errno.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "log.h"
#include "resume.h"

/* Timer slack: the checks need no precision, and letting the kernel batch wake-ups saves
 * power on a laptop, which is where suspend happens. */
#define RESUME_ACCURACY_USEC (1 * USEC_PER_SEC)

struct ResumeMonitor {
        sd_event *event;
        sd_event_source *timer;
        sd_bus *bus;
        sd_bus_slot *slot;
        usec_t check_usec;
        usec_t threshold_usec;
        usec_t injected;        /* added to every BOOTTIME reading (tests) */
        ResumeClocks last;      /* the previous check */
        bool asleep;            /* PrepareForSleep(true) seen, resume not reported yet */
        ResumeClocks before_sleep;
        ResumeFn cb;
        void *userdata;
};

usec_t resume_slept_usec(const ResumeClocks *prev, const ResumeClocks *now, usec_t threshold_usec) {
        usec_t boot, mono, slept;

        if (!prev || !now)
                return 0;
        boot = now->boottime > prev->boottime ? now->boottime - prev->boottime : 0;
        mono = now->monotonic > prev->monotonic ? now->monotonic - prev->monotonic : 0;
        slept = boot > mono ? boot - mono : 0;
        return slept > threshold_usec ? slept : 0;
}

static usec_t clock_usec(clockid_t id) {
        struct timespec ts;

        /* Both clocks exist on every Linux this builds for; a failure reads as 0, which
         * resume_slept_usec() treats as "did not advance". */
        if (clock_gettime(id, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static ResumeClocks read_clocks(const ResumeMonitor *m) {
        return (ResumeClocks) {
                .boottime = usec_add(clock_usec(CLOCK_BOOTTIME), m->injected),
                .monotonic = clock_usec(CLOCK_MONOTONIC),
        };
}

static void report(ResumeMonitor *m, usec_t slept) {
        /* Whichever source noticed first reports; the other then finds nothing new: the clocks
         * restart from here, and a later PrepareForSleep(false) finds asleep cleared. */
        m->asleep = false;
        m->last = read_clocks(m);
        m->cb(slept, m->userdata);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ResumeMonitor *m = userdata;
        ResumeClocks now = read_clocks(m);
        usec_t slept;
        int r;

        (void) usec;
        slept = resume_slept_usec(&m->last, &now, m->threshold_usec);
        m->last = now;
        if (slept > 0) {
                log_info("resumed after about %llu s asleep", (unsigned long long) (slept / USEC_PER_SEC));
                report(m, slept);
        }

        r = sd_event_source_set_time_relative(s, m->check_usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "resume check timer: %m; suspend is noticed only through logind now");
        return 0;
}

void resume_monitor_prepare_for_sleep(ResumeMonitor *m, bool sleeping) {
        ResumeClocks now;
        usec_t slept;

        if (!m)
                return;
        if (sleeping) {
                m->asleep = true;
                m->before_sleep = read_clocks(m);
                return;
        }
        if (!m->asleep)
                return; /* the clocks reported this resume already, or we never saw the start */

        now = read_clocks(m);
        slept = resume_slept_usec(&m->before_sleep, &now, 0);

        log_info("logind reports resume, about %llu s asleep", (unsigned long long) (slept / USEC_PER_SEC));
        report(m, slept);
}

static int on_prepare_for_sleep(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        ResumeMonitor *m = userdata;
        int sleeping, r;

        (void) ret_error;
        r = sd_bus_message_read(msg, "b", &sleeping);
        if (r < 0) {
                log_debug_errno(r, "malformed PrepareForSleep signal ignored: %m");
                return 0;
        }
        resume_monitor_prepare_for_sleep(m, sleeping);
        return 0;
}

static int on_match_installed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(msg);

        (void) userdata;
        (void) ret_error;
        if (e)
                log_debug("system bus refused the PrepareForSleep match (%s); using the clocks alone",
                          e->message ?: e->name);
        return 0;
}

/* Best effort: any failure leaves m->bus NULL and the clocks alone in charge. */
static void attach_bus(ResumeMonitor *m) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                log_debug_errno(r, "no system bus (%m); noticing resume by the clocks alone");
                return;
        }
        r = sd_bus_match_signal_async(bus, &m->slot, "org.freedesktop.login1", "/org/freedesktop/login1",
                                      "org.freedesktop.login1.Manager", "PrepareForSleep",
                                      on_prepare_for_sleep, on_match_installed, m);
        if (r >= 0)
                r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                log_debug_errno(r, "cannot subscribe to PrepareForSleep (%m); using the clocks alone");
                m->slot = sd_bus_slot_unref(m->slot);
                sd_bus_close_unref(bus);
                return;
        }
        m->bus = bus;
}

int resume_monitor_new(sd_event *e, usec_t check_usec, usec_t threshold_usec, ResumeFn cb, void *userdata,
                       ResumeMonitor **ret) {
        _cleanup_(resume_monitor_freep) ResumeMonitor *m = NULL;
        int r;

        assert_return(e, -EINVAL);
        assert_return(cb, -EINVAL);
        assert_return(ret, -EINVAL);

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(e);
        m->check_usec = check_usec ?: RESUME_CHECK_DEFAULT_USEC;
        m->threshold_usec = threshold_usec ?: RESUME_THRESHOLD_DEFAULT_USEC;
        m->cb = cb;
        m->userdata = userdata;
        m->last = read_clocks(m);

        r = sd_event_add_time_relative(e, &m->timer, CLOCK_MONOTONIC, m->check_usec, RESUME_ACCURACY_USEC,
                                       on_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->timer, "resume-check");

        attach_bus(m);
        *ret = TAKE_PTR(m);
        return 0;
}

ResumeMonitor *resume_monitor_free(ResumeMonitor *m) {
        if (!m)
                return NULL;
        m->timer = sd_event_source_disable_unref(m->timer);
        m->slot = sd_bus_slot_unref(m->slot);
        if (m->bus)
                (void) sd_bus_detach_event(m->bus);
        m->bus = sd_bus_close_unref(m->bus);
        sd_event_unref(m->event);
        return mfree(m);
}

bool resume_monitor_has_bus(const ResumeMonitor *m) {
        return m && m->bus;
}

int resume_monitor_inject(ResumeMonitor *m, usec_t usec) {
        int r;

        assert_return(m, -EINVAL);

        m->injected = usec_add(m->injected, usec);
        /* Due now: the loop's next iteration runs the check. */
        r = sd_event_source_set_time_relative(m->timer, 0);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
}

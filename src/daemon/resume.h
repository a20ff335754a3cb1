/* SPDX-License-Identifier: MIT */
/*
 * resume.h: noticing that the machine was suspended and has resumed, so the
 * daemon can check or rebuild connections that silently died meanwhile
 * instead of waiting for TCP to find out.  Two sources, one callback:
 *
 *   - the clocks, which work everywhere: CLOCK_MONOTONIC stops during
 *     suspend and CLOCK_BOOTTIME does not, so when BOOTTIME advanced more
 *     than MONOTONIC between two checks, the difference is time slept.  A
 *     timer on CLOCK_MONOTONIC makes the checks; it fires soon after resume
 *     precisely because its clock did not advance while asleep;
 *   - logind's PrepareForSleep(false) signal on the system bus, where one can
 *     be reached.  Not reaching it (containers, no bus socket, no permission)
 *     is normal and only leaves the clocks.
 *
 * Everything runs on the caller's sd-event loop and never blocks it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "time-util.h"

/* Defaults for a zero check_usec / threshold_usec.  A check every 5 s costs nothing and bounds
 * how late a resume is noticed when logind is not there.  The two clocks tick together while
 * awake (both are slewed alike by NTP), so any threshold above zero avoids false alarms; 5 s
 * ignores sleeps too short to have hurt a TCP connection (retransmission rides them out). */
#define RESUME_CHECK_DEFAULT_USEC (5 * USEC_PER_SEC)
#define RESUME_THRESHOLD_DEFAULT_USEC (5 * USEC_PER_SEC)

/* One reading of both clocks, in µs. */
typedef struct ResumeClocks {
        usec_t boottime;
        usec_t monotonic;
} ResumeClocks;

/* Pure: how long the machine slept between the readings prev and now: BOOTTIME's advance minus
 * MONOTONIC's advance, if that exceeds threshold_usec (strictly), else 0.  A clock that went
 * backwards counts as not having advanced, so the result never underflows. */
usec_t resume_slept_usec(const ResumeClocks *prev, const ResumeClocks *now, usec_t threshold_usec);

typedef struct ResumeMonitor ResumeMonitor;

/* Called from the event loop, at most once per suspend/resume cycle even when both sources see
 * it.  slept_usec: the time slept as measured by the clocks; it may be below the threshold (or 0)
 * when logind reported a resume the clocks barely saw.  The callback may not free the monitor. */
typedef void (*ResumeFn)(usec_t slept_usec, void *userdata);

/* Start watching on e (referenced until resume_monitor_free()).  check_usec: how often the
 * clocks are compared; threshold_usec: see resume_slept_usec(); 0 for either takes its default.
 * Tries the system bus for logind's PrepareForSleep; failing that is logged at debug level and
 * never fails construction.  Returns 0, -EINVAL (e, cb or ret NULL), -ENOMEM, or an sd-event
 * error. */
int resume_monitor_new(sd_event *e, usec_t check_usec, usec_t threshold_usec, ResumeFn cb, void *userdata,
                       ResumeMonitor **ret);

/* Stop watching and free; NULL-safe, returns NULL. */
ResumeMonitor *resume_monitor_free(ResumeMonitor *m);

/* Whether the logind signal is subscribed (false: the clocks alone). */
bool resume_monitor_has_bus(const ResumeMonitor *m);

/* For tests: pretend the machine slept usec: add it to every later BOOTTIME reading of this
 * monitor, and compare the clocks on the next loop iteration instead of waiting for the next
 * check.  Returns 0 or -EINVAL (m NULL), or an sd-event error. */
int resume_monitor_inject(ResumeMonitor *m, usec_t usec);

/* For tests: what logind's PrepareForSleep(sleeping) does, without a bus. */
void resume_monitor_prepare_for_sleep(ResumeMonitor *m, bool sleeping);

DEFINE_TRIVIAL_CLEANUP_FUNC(ResumeMonitor *, resume_monitor_free);

/* SPDX-License-Identifier: MIT */
/*
 * scheduler.h: the hook scheduler (docs/EVENTS.md, "Scheduling").  A job is one
 * target that events make due: a mailbox's on_new, on_expunge or on_flags.
 * The scheduler decides when each job's run starts; the owner of the job
 * starts it and reports its end.  The rules:
 *
 *   - Debounce: a job becomes due once no trigger came for `debounce`, but no
 *     later than `max_delay` after the first trigger since its last run began,
 *     so a steady stream of events still runs the hook.
 *   - Single-flight per lock key: two jobs with the same key never run at the
 *     same time (the daemon uses the account and the hook's command, so one
 *     mbsync per account at a time, whichever mailbox or event asks).  A
 *     trigger while the job runs makes it pending again, and the debounce
 *     starts from that trigger: exactly one more run follows the current one,
 *     however many triggers came meanwhile, and it starts after them, so
 *     nothing is dropped.
 *   - At most max_running runs at once, over all jobs; due jobs wait in order
 *     of when they became due.
 *
 * The decisions are pure functions of the times passed in (sched_dispatch(),
 * sched_next_wakeup()), so tests drive them with a fake clock.  With an
 * sd_event, the scheduler also keeps one CLOCK_MONOTONIC timer armed at the
 * next wake-up and dispatches from it; it never starts a run from inside
 * sched_job_trigger() or sched_job_done(), so callers need not be re-entrant.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Sched Sched;
typedef struct SchedJob SchedJob;

/* Start the job's run.  Return 0 if a run started: the owner then calls
 * sched_job_done() exactly once when it ends (not from inside this call).
 * Return < 0 if nothing started: the job is idle again at once. */
typedef int (*SchedStartFn)(SchedJob *j, void *userdata);

/* 'e' may be NULL: then there is no timer and the caller drives
 * sched_dispatch() itself (tests).  max_running 0 is taken as 1. */
int sched_new(sd_event *e, unsigned max_running, Sched **ret);
/* Jobs still attached are detached (they stay valid and must still be freed
 * by their owners, after which nothing more happens). */
Sched *sched_free(Sched *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sched *, sched_free);
void sched_set_max_running(Sched *s, unsigned max_running);

/* 'lock_key' is copied. */
int sched_job_new(Sched *s, const char *lock_key, SchedStartFn start, void *userdata, SchedJob **ret);
/* A running job's slot and lock are released. */
SchedJob *sched_job_free(SchedJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedJob *, sched_job_free);

/* An event for this job at time 'now' (CLOCK_MONOTONIC µs).  debounce may be
 * 0; max_delay below debounce is taken as debounce. */
void sched_job_trigger(SchedJob *j, uint64_t now, uint64_t debounce_usec, uint64_t max_delay_usec);
/* The run started by the start callback ended. */
void sched_job_done(SchedJob *j);
/* Forget that the job is pending (the events turned out to be covered by the
 * run that is going on); a job that is not pending is left alone. */
void sched_job_cancel(SchedJob *j);

bool sched_job_pending(const SchedJob *j);      /* triggered, run not started yet */
bool sched_job_running(const SchedJob *j);
/* When the pending job becomes due; USEC_INFINITY if not pending. */
uint64_t sched_job_due(const SchedJob *j);

/* Start every job that is due at 'now' and allowed by its lock and the
 * limit, earliest due first.  Returns how many runs started. */
unsigned sched_dispatch(Sched *s, uint64_t now);
/* The earliest time at which sched_dispatch() could start something, given
 * that nothing finishes meanwhile: 'now' if something is due and startable,
 * USEC_INFINITY if nothing is. */
uint64_t sched_next_wakeup(const Sched *s, uint64_t now);
unsigned sched_running(const Sched *s);

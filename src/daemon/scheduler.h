/* SPDX-License-Identifier: MIT */
/*
 * scheduler.h: the hook scheduler (docs/EVENTS.md, "Scheduling").  A job is one
 * target that events make due: a mailbox's on_new, on_expunge or on_flags.
 * The scheduler decides when each job's run starts; the owner of the job
 * starts it and reports its end.  The rules:
 *
 *   - Debounce: a job becomes due once no trigger came for `debounce`, but no
 *     later than `max_delay` after the first trigger since its last run began,
 *     so a steady stream of events still runs the hook.  With debounce 0 a
 *     trigger makes the job due at once.  A job that is due already and
 *     waits for a slot or its lock keeps its due time and its place when
 *     triggered again: its own events never starve it.
 *   - Single-flight per lock key: two jobs with the same key never run at the
 *     same time (the daemon uses the account and the hook's command, so one
 *     mbsync per account at a time, whichever mailbox or event asks; or the
 *     hook's `lock` name, shared across accounts, docs/HOOKS.md).  A
 *     trigger while the job runs makes it pending again, and the debounce
 *     starts from that trigger: exactly one more run follows the current one,
 *     however many triggers came meanwhile, and it starts after them, so
 *     nothing is dropped.
 *   - At most max_running runs at once, over all jobs; due jobs wait in order
 *     of when they became due (equal times: in the order they were queued).
 *
 * Cost (docs/SCALING.md): nothing here walks the jobs.  Pending jobs sit in a
 * priority queue keyed by their due time (prioq.h), jobs that are due but
 * whose lock is held wait in that lock's list, and locks are found by key in
 * a hash (hashmap.h), once, when a job is created.  A trigger, a start and
 * the end of a run are O(log n).
 *
 * Re-entrancy: sched_job_trigger() starts the job *before it returns* when
 * the job is due at once and a slot and its lock are free: new mail reaches
 * its hook in the same loop turn, with no timer in between (the hot path of
 * docs/SCALING.md).  The caller of sched_job_trigger() must therefore be
 * ready for the start callback to run inside the call.  Everything else
 * that becomes startable later (a debounce that expires, a slot or a lock
 * that is released by sched_job_done()) is started from the event loop:
 * sched_job_done() and sched_job_cancel() never start a run themselves.
 *
 * The decisions are pure functions of the times passed in: without an
 * sd_event (tests), sched_dispatch() and sched_next_wakeup() are driven by
 * hand on a fake clock.  With one, the scheduler keeps a single
 * CLOCK_MONOTONIC timer at the earliest due time (1 ms accuracy) and a defer
 * source for "startable now".
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
 * Return < 0 if nothing started: the job is idle again at once (its lock and
 * slot are free).  May call sched_job_trigger() for other jobs. */
typedef int (*SchedStartFn)(SchedJob *j, void *userdata);

/* 'e' may be NULL: then there is no timer and the caller drives
 * sched_dispatch() itself (tests).  max_running 0 is taken as 1. */
int sched_new(sd_event *e, unsigned max_running, Sched **ret);
/* Every job must have been freed first (sched_job_free()). */
Sched *sched_free(Sched *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sched *, sched_free);
void sched_set_max_running(Sched *s, unsigned max_running);

/* 'lock_key' is copied (once per distinct key: jobs with the same key share
 * it); NULL: the job has no lock of its own (only the global limit). */
int sched_job_new(Sched *s, const char *lock_key, SchedStartFn start, void *userdata, SchedJob **ret);
/* A running job's slot and lock are released.  NULL-safe, returns NULL. */
SchedJob *sched_job_free(SchedJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedJob *, sched_job_free);

/* An event for this job at time 'now' (CLOCK_MONOTONIC µs).  debounce may be
 * 0; max_delay below debounce is taken as debounce.  May start the job (and
 * other due jobs) before returning: see "Re-entrancy" above. */
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
 * that nothing finishes meanwhile: 'now' (or earlier) if something is due
 * and may be startable, USEC_INFINITY if nothing can start before a run
 * ends.  O(1). */
uint64_t sched_next_wakeup(const Sched *s, uint64_t now);
unsigned sched_running(const Sched *s);
/* Jobs that are due but wait for their lock (for tests and status). */
size_t sched_waiting(const Sched *s);
/* Nothing running and nothing pending (due or not): no run will start unless triggered. */
bool sched_idle(const Sched *s);
/* Called from sched_job_done() when the run that ended leaves the scheduler
 * idle (--once waits for the last hook with it).  NULL: none. */
typedef void (*SchedIdleFn)(Sched *s, void *userdata);
void sched_set_idle_fn(Sched *s, SchedIdleFn fn, void *userdata);

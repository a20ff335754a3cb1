/* SPDX-License-Identifier: MIT */
/*
 * timers.h: many deadlines behind one sd-event timer.  Every connection has
 * a deadline most of the time (a phase, a command, the liveness probe); one
 * sd-event source per connection costs about 300 bytes each, an entry here
 * 32 bytes (docs/SCALING.md).  The entries sit in a priority queue by due
 * time (prioq.h); the one sd-event timer is kept at the earliest.  Setting,
 * moving and firing an entry is O(log n); nothing walks the entries.
 *
 * An entry's callback runs from the event loop, once per time it is set and
 * reached; it may set, move or clear any entry (its own included) and free
 * its owner (after clearing the entry, as the owner's destructor must).
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "prioq.h"

typedef struct Timers Timers;
typedef struct TimerEntry TimerEntry;

/* The entry's time came: 'now' is the loop's CLOCK_MONOTONIC time. */
typedef void (*TimerFn)(TimerEntry *e, uint64_t now);

struct TimerEntry {
        PrioqItem item;
        TimerFn fn;
};

#define TIMER_ENTRY_INIT(f) ((TimerEntry) { .item = PRIOQ_ITEM_INIT, .fn = (f) })

/* accuracy: how late the shared timer may fire, so that close deadlines are
 * served by one wake-up (sd_event_add_time(3)). */
int timers_new(sd_event *e, uint64_t accuracy_usec, Timers **ret);
/* Every entry must have been cleared first. */
Timers *timers_free(Timers *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Timers *, timers_free);

/* Due at 'at' (CLOCK_MONOTONIC); USEC_INFINITY clears it.  Returns 0 or
 * -ENOMEM (then the entry is cleared: the caller treats it as a failure to
 * arm a deadline). */
int timers_set(Timers *t, TimerEntry *e, uint64_t at);
static inline void timers_clear(Timers *t, TimerEntry *e) {
        (void) timers_set(t, e, UINT64_MAX);
}
/* When the entry is due; USEC_INFINITY when cleared. */
static inline uint64_t timers_due(const TimerEntry *e) {
        return prioq_item_queued(&e->item) ? e->item.key : UINT64_MAX;
}
size_t timers_count(const Timers *t);

/* SPDX-License-Identifier: MIT */
/* timers.c: many deadlines behind one sd-event timer; see timers.h. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "time-util.h"
#include "timers.h"

struct Timers {
        sd_event *event;
        sd_event_source *source;
        uint64_t accuracy, armed_at;
        Prioq queue;
};

#define ENTRY_OF(it) ((TimerEntry *) (void *) ((char *) (it) - offsetof(TimerEntry, item)))

static int on_time(sd_event_source *s, uint64_t usec, void *userdata);

/* Keep the sd-event timer at the earliest entry. */
static void arm(Timers *t) {
        const PrioqItem *top = prioq_peek(&t->queue);
        uint64_t at = top ? top->key : USEC_INFINITY;
        int r;

        if (at == t->armed_at)
                return;
        t->armed_at = at;
        if (at == USEC_INFINITY) {
                if (t->source)
                        (void) sd_event_source_set_enabled(t->source, SD_EVENT_OFF);
                return;
        }
        if (!t->source)
                r = sd_event_add_time(t->event, &t->source, CLOCK_MONOTONIC, at, t->accuracy, on_time, t);
        else {
                r = sd_event_source_set_time(t->source, at);
                if (r >= 0)
                        r = sd_event_source_set_enabled(t->source, SD_EVENT_ONESHOT);
        }
        if (r < 0) {
                t->armed_at = USEC_INFINITY;
                log_error_errno(r, "cannot arm the connections' timer: %m");
        }
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata) {
        Timers *t = userdata;
        uint64_t now = 0, limit;
        PrioqItem *top;

        (void) s;
        (void) usec;
        t->armed_at = USEC_INFINITY;    /* a oneshot source is off once it fired */
        (void) sd_event_now(t->event, CLOCK_MONOTONIC, &now);
        /* Each callback may set entries again; one set while this runs (prioq gives it a
         * newer sequence number) waits for the next turn even if it is due, so that a
         * callback that sets itself to 'now' cannot keep this loop going. */
        limit = t->queue.next_seq;
        while ((top = prioq_peek(&t->queue)) && top->key <= now && top->seq < limit) {
                TimerEntry *e = ENTRY_OF(top);

                prioq_remove(&t->queue, top);
                arm(t);
                e->fn(e, now);
        }
        arm(t);
        return 0;
}

int timers_set(Timers *t, TimerEntry *e, uint64_t at) {
        int r = 0;

        if (at == USEC_INFINITY)
                prioq_remove(&t->queue, &e->item);
        else
                r = prioq_put(&t->queue, &e->item, at);
        arm(t);
        return r;
}

size_t timers_count(const Timers *t) {
        return prioq_size(&t->queue);
}

int timers_new(sd_event *e, uint64_t accuracy_usec, Timers **ret) {
        Timers *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        t->event = sd_event_ref(e);
        t->accuracy = accuracy_usec;
        t->armed_at = USEC_INFINITY;
        *ret = t;
        return 0;
}

Timers *timers_free(Timers *t) {
        if (!t)
                return NULL;
        assert(prioq_size(&t->queue) == 0);
        prioq_done(&t->queue);
        sd_event_source_disable_unref(t->source);
        sd_event_unref(t->event);
        free(t);
        return NULL;
}

/* SPDX-License-Identifier: MIT */
/* ramp.c: a bound on connections being set up at once; see ramp.h. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "ramp.h"

struct Ramp {
        sd_event *event;
        sd_event_source *defer;         /* passes freed slots on */
        unsigned limit, in_flight;
        RampEntry *head, *tail;         /* waiting, first come first served */
        size_t n_waiting;
};

static int on_defer(sd_event_source *s, void *userdata);

static void queue_remove(Ramp *r, RampEntry *e) {
        if (e->prev)
                e->prev->next = e->next;
        else
                r->head = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else
                r->tail = e->prev;
        e->prev = e->next = NULL;
        e->waiting = false;
        r->n_waiting--;
}

/* Slots are free and entries wait: hand them out on the next loop turn. */
static void kick(Ramp *r) {
        int k;

        if (!r->head || r->in_flight >= r->limit)
                return;
        if (!r->defer)
                k = sd_event_add_defer(r->event, &r->defer, on_defer, r);
        else
                k = sd_event_source_set_enabled(r->defer, SD_EVENT_ONESHOT);
        if (k < 0)
                log_error_errno(k, "cannot schedule waiting connections: %m");
}

static int on_defer(sd_event_source *s, void *userdata) {
        Ramp *r = userdata;

        (void) s;
        while (r->head && r->in_flight < r->limit) {
                RampEntry *e = r->head;

                queue_remove(r, e);
                e->holding = true;
                r->in_flight++;
                e->go(e);       /* may release (a failure on the spot) or acquire again */
        }
        return 0;
}

int ramp_acquire(Ramp *r, RampEntry *e) {
        if (e->holding)
                return 1;
        if (e->waiting)
                return 0;
        if (r->in_flight < r->limit && !r->head) {
                e->holding = true;
                r->in_flight++;
                return 1;
        }
        e->prev = r->tail;
        e->next = NULL;
        if (r->tail)
                r->tail->next = e;
        else
                r->head = e;
        r->tail = e;
        e->waiting = true;
        r->n_waiting++;
        return 0;
}

void ramp_release(Ramp *r, RampEntry *e) {
        if (e->waiting)
                queue_remove(r, e);
        else if (e->holding) {
                e->holding = false;
                r->in_flight--;
                kick(r);
        }
}

void ramp_set_limit(Ramp *r, unsigned limit) {
        r->limit = MAX(limit, 1u);
        kick(r);
}

unsigned ramp_in_flight(const Ramp *r) {
        return r->in_flight;
}

size_t ramp_waiting(const Ramp *r) {
        return r->n_waiting;
}

int ramp_new(sd_event *e, unsigned limit, Ramp **ret) {
        Ramp *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(e);
        r->limit = MAX(limit, 1u);
        *ret = r;
        return 0;
}

Ramp *ramp_free(Ramp *r) {
        if (!r)
                return NULL;
        assert(r->in_flight == 0 && !r->head);
        sd_event_source_disable_unref(r->defer);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

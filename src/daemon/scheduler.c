/* SPDX-License-Identifier: MIT */
/* scheduler.c: the hook scheduler; see scheduler.h for the rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scheduler.h"
#include "time-util.h"

struct SchedJob {
        Sched *sched;           /* NULL once detached */
        SchedJob *prev, *next;
        char *lock_key;
        SchedStartFn start;
        void *userdata;

        bool pending, running;
        uint64_t first, last;   /* triggers since the last run began */
        uint64_t debounce, max_delay;
};

struct Sched {
        sd_event *event;
        sd_event_source *timer;
        SchedJob *jobs;
        unsigned max_running, running;
};

uint64_t sched_job_due(const SchedJob *j) {
        if (!j || !j->pending)
                return USEC_INFINITY;
        return MIN(usec_add(j->last, j->debounce), usec_add(j->first, j->max_delay));
}

static bool lock_held(const Sched *s, const SchedJob *j) {
        for (const SchedJob *o = s->jobs; o; o = o->next)
                if (o != j && o->running && strcmp(o->lock_key, j->lock_key) == 0)
                        return true;
        return false;
}

static bool startable(const Sched *s, const SchedJob *j) {
        return j->pending && !j->running && s->running < s->max_running && !lock_held(s, j);
}

uint64_t sched_next_wakeup(const Sched *s, uint64_t now) {
        uint64_t best = USEC_INFINITY;

        for (const SchedJob *j = s->jobs; j; j = j->next) {
                uint64_t due;

                if (!j->pending || j->running)
                        continue;
                due = sched_job_due(j);
                if (due > now)
                        best = MIN(best, due);
                else if (startable(s, j))
                        return now;
                /* Due but blocked: sched_job_done() of the blocker re-arms. */
        }
        return best;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata);

static void arm(Sched *s) {
        uint64_t now = 0, at;
        int r;

        if (!s->event)
                return;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        at = sched_next_wakeup(s, now);
        if (at == USEC_INFINITY) {
                if (s->timer)
                        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
                return;
        }
        if (!s->timer) {
                r = sd_event_add_time(s->event, &s->timer, CLOCK_MONOTONIC, at, 0, on_timer, s);
                if (r < 0) {
                        log_error_errno(r, "cannot arm the hook scheduler's timer: %m");
                        return;
                }
                return;
        }
        r = sd_event_source_set_time(s->timer, at);
        if (r >= 0)
                r = sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error_errno(r, "cannot arm the hook scheduler's timer: %m");
}

static SchedJob *earliest_startable(Sched *s, uint64_t now) {
        SchedJob *best = NULL;

        for (SchedJob *j = s->jobs; j; j = j->next)
                if (startable(s, j) && sched_job_due(j) <= now &&
                    (!best || sched_job_due(j) < sched_job_due(best)))
                        best = j;
        return best;
}

unsigned sched_dispatch(Sched *s, uint64_t now) {
        unsigned n = 0;
        SchedJob *j;

        while ((j = earliest_startable(s, now))) {
                /* Triggers from now on belong to the next run. */
                j->pending = false;
                j->running = true;
                s->running++;
                if (j->start(j, j->userdata) < 0) {
                        j->running = false;
                        s->running--;
                        continue;
                }
                n++;
        }
        return n;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Sched *s = userdata;
        uint64_t now = 0;

        (void) es;
        (void) usec;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        (void) sched_dispatch(s, now);
        arm(s);
        return 0;
}

void sched_job_trigger(SchedJob *j, uint64_t now, uint64_t debounce_usec, uint64_t max_delay_usec) {
        if (!j->pending) {
                j->pending = true;
                j->first = now;
        }
        j->last = now;
        j->debounce = debounce_usec;
        j->max_delay = MAX(max_delay_usec, debounce_usec);
        if (j->sched)
                arm(j->sched);
}

void sched_job_done(SchedJob *j) {
        if (!j->running)
                return;
        j->running = false;
        if (j->sched) {
                j->sched->running--;
                arm(j->sched);
        }
}

void sched_job_cancel(SchedJob *j) {
        if (!j->pending)
                return;
        j->pending = false;
        if (j->sched)
                arm(j->sched);
}

bool sched_job_pending(const SchedJob *j) {
        return j->pending;
}

bool sched_job_running(const SchedJob *j) {
        return j->running;
}

unsigned sched_running(const Sched *s) {
        return s->running;
}

void sched_set_max_running(Sched *s, unsigned max_running) {
        s->max_running = MAX(max_running, 1u);
        arm(s);
}

int sched_new(sd_event *e, unsigned max_running, Sched **ret) {
        Sched *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->event = e ? sd_event_ref(e) : NULL;
        s->max_running = MAX(max_running, 1u);
        *ret = s;
        return 0;
}

static void detach(SchedJob *j) {
        Sched *s = j->sched;

        if (!s)
                return;
        if (j->running)
                s->running--;
        if (j->prev)
                j->prev->next = j->next;
        else
                s->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        j->prev = j->next = NULL;
        j->sched = NULL;
}

Sched *sched_free(Sched *s) {
        if (!s)
                return NULL;
        while (s->jobs)
                detach(s->jobs);
        sd_event_source_disable_unref(s->timer);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int sched_job_new(Sched *s, const char *lock_key, SchedStartFn start, void *userdata, SchedJob **ret) {
        SchedJob *j;

        assert_return(s && lock_key && start && ret, -EINVAL);
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->lock_key = strdup(lock_key);
        if (!j->lock_key) {
                free(j);
                return -ENOMEM;
        }
        j->start = start;
        j->userdata = userdata;
        j->sched = s;
        j->next = s->jobs;
        if (s->jobs)
                s->jobs->prev = j;
        s->jobs = j;
        *ret = j;
        return 0;
}

SchedJob *sched_job_free(SchedJob *j) {
        Sched *s;

        if (!j)
                return NULL;
        s = j->sched;
        detach(j);
        if (s)
                arm(s); /* a slot or a lock may have been freed */
        free(j->lock_key);
        free(j);
        return NULL;
}

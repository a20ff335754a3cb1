/* SPDX-License-Identifier: MIT */
/* scheduler.c: the hook scheduler; see scheduler.h for the rules and their cost. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"
#include "prioq.h"
#include "scheduler.h"
#include "time-util.h"

/* Timers of the scheduler fire within this of their due time: a debounce of
 * 0.3 s must not become 0.55 s (sd-event's default accuracy is 250 ms). */
#define SCHED_TIMER_ACCURACY_USEC USEC_PER_MSEC

typedef struct SchedLock {
        Sched *sched;
        char *key;
        unsigned refs;                  /* jobs using this lock */
        SchedJob *holder;               /* the job running under it, or NULL */
        SchedJob *wait_head, *wait_tail; /* due jobs waiting for it, in due order */
} SchedLock;

struct SchedJob {
        Sched *sched;                   /* NULL once detached */
        SchedLock *lock;                /* NULL: no lock */
        PrioqItem due;                  /* key: when it becomes due; queued while pending and not
                                         * running and not waiting for the lock */
        SchedJob *wait_prev, *wait_next;
        SchedStartFn start;
        void *userdata;

        bool pending, running, waiting;
        uint64_t first;                 /* first trigger since the last run began */
};

struct Sched {
        sd_event *event;
        sd_event_source *timer, *defer;
        Prioq queue;                    /* pending jobs by due time */
        Hashmap *locks;                 /* key -> SchedLock */
        unsigned max_running, running;
        size_t waiting, jobs;
        SchedIdleFn on_idle;
        void *idle_userdata;
};

#define JOB_OF(it) ((SchedJob *) (void *) ((char *) (it) - offsetof(SchedJob, due)))

uint64_t sched_job_due(const SchedJob *j) {
        return j && j->pending ? j->due.key : USEC_INFINITY;
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

size_t sched_waiting(const Sched *s) {
        return s->waiting;
}

/* A pending job that is not running is queued or waits for its lock; one that runs is
 * counted in 'running' and queued again when it ends. */
bool sched_idle(const Sched *s) {
        return s->running == 0 && s->waiting == 0 && !prioq_peek(&s->queue);
}

void sched_set_idle_fn(Sched *s, SchedIdleFn fn, void *userdata) {
        s->on_idle = fn;
        s->idle_userdata = userdata;
}

/* ---- the lock's waiting list --------------------------------------------------------------------- */

static void wait_append(SchedJob *j) {
        SchedLock *l = j->lock;

        j->wait_prev = l->wait_tail;
        j->wait_next = NULL;
        if (l->wait_tail)
                l->wait_tail->wait_next = j;
        else
                l->wait_head = j;
        l->wait_tail = j;
        j->waiting = true;
        j->sched->waiting++;
}

static void wait_remove(SchedJob *j) {
        SchedLock *l = j->lock;

        if (!j->waiting)
                return;
        if (j->wait_prev)
                j->wait_prev->wait_next = j->wait_next;
        else
                l->wait_head = j->wait_next;
        if (j->wait_next)
                j->wait_next->wait_prev = j->wait_prev;
        else
                l->wait_tail = j->wait_prev;
        j->wait_prev = j->wait_next = NULL;
        j->waiting = false;
        if (j->sched)
                j->sched->waiting--;
}

/* Queue by due time; on -ENOMEM the job is started late rather than lost: it
 * stays pending and the next trigger or sched_job_done() tries again. */
static void enqueue(SchedJob *j) {
        if (prioq_put(&j->sched->queue, &j->due, j->due.key) < 0)
                log_error("hook scheduler: out of memory queueing a run");
}

/* The lock is free again: whatever waited for it goes back to the queue (at
 * its due time, which has passed, so it comes first).  Only this lock's
 * waiters are touched. */
static void lock_release(SchedLock *l) {
        l->holder = NULL;
        while (l->wait_head) {
                SchedJob *w = l->wait_head;

                wait_remove(w);
                enqueue(w);
        }
}

/* ---- timer ------------------------------------------------------------------------------------ */

uint64_t sched_next_wakeup(const Sched *s, uint64_t now) {
        const PrioqItem *top = prioq_peek(&s->queue);

        (void) now;
        if (!top || s->running >= s->max_running)
                return USEC_INFINITY;   /* sched_job_done() re-arms */
        return top->key;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata);
static int on_defer(sd_event_source *es, void *userdata);

static uint64_t now_mono(const Sched *s) {
        uint64_t now = 0;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        return now;
}

/* Keep the one timer at the earliest due time, or the defer source on when
 * something is startable now. */
static void arm(Sched *s) {
        uint64_t now, at;
        int r = 0;

        if (!s->event)
                return;
        now = now_mono(s);
        at = sched_next_wakeup(s, now);
        if (at == USEC_INFINITY) {
                if (s->timer)
                        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
                return;
        }
        if (at <= now) {
                if (!s->defer)
                        r = sd_event_add_defer(s->event, &s->defer, on_defer, s);
                else
                        r = sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
        } else if (!s->timer)
                r = sd_event_add_time(s->event, &s->timer, CLOCK_MONOTONIC, at, SCHED_TIMER_ACCURACY_USEC,
                                      on_timer, s);
        else {
                r = sd_event_source_set_time(s->timer, at);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                log_error_errno(r, "cannot arm the hook scheduler's timer: %m");
}

/* ---- starting --------------------------------------------------------------------------------- */

static void start(Sched *s, SchedJob *j) {
        /* Triggers from now on belong to the next run. */
        j->pending = false;
        j->running = true;
        s->running++;
        if (j->lock)
                j->lock->holder = j;
        if (j->start(j, j->userdata) >= 0)
                return;
        /* Nothing started: idle again, and the lock's waiters may go. */
        if (j->running && j->sched) {
                j->running = false;
                s->running--;
                if (j->lock && j->lock->holder == j)
                        lock_release(j->lock);
        }
}

unsigned sched_dispatch(Sched *s, uint64_t now) {
        unsigned n = 0;
        PrioqItem *top;

        while (s->running < s->max_running && (top = prioq_peek(&s->queue)) && top->key <= now) {
                SchedJob *j = JOB_OF(top);

                prioq_remove(&s->queue, top);
                if (j->lock && j->lock->holder) {
                        wait_append(j);         /* its lock's release puts it back */
                        continue;
                }
                start(s, j);
                n += j->running;
        }
        return n;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Sched *s = userdata;

        (void) es;
        (void) usec;
        (void) sched_dispatch(s, now_mono(s));
        arm(s);
        return 0;
}

static int on_defer(sd_event_source *es, void *userdata) {
        return on_timer(es, 0, userdata);
}

/* ---- the owner's calls ------------------------------------------------------------------------ */

void sched_job_trigger(SchedJob *j, uint64_t now, uint64_t debounce_usec, uint64_t max_delay_usec) {
        Sched *s = j->sched;
        bool due_kept = false;
        uint64_t due;

        if (!j->pending) {
                j->pending = true;
                j->first = now;
        } else if (!j->running && j->due.key <= now)
                /* Due already, waiting for a slot or its lock: it keeps its due time and its place,
                 * or a steady stream of events would push it behind every job that became due after
                 * it.  (Triggers while it runs still slide the next run's debounce, see above.) */
                due_kept = true;
        due = due_kept ? j->due.key : MIN(usec_add(now, debounce_usec),
                                          usec_add(j->first, MAX(max_delay_usec, debounce_usec)));
        if (s && prioq_item_queued(&j->due))
                /* Move it; prioq_put() compares with the old key (and cannot fail for a queued item). */
                (void) prioq_put(&s->queue, &j->due, due);
        else
                j->due.key = due;
        if (!s || j->running)
                return;         /* sched_job_done() queues it */
        /* A job waiting for its lock that is still due keeps its place there. */
        if (j->waiting && due > now)
                wait_remove(j);
        if (!j->waiting)
                enqueue(j);
        if (due <= now)
                /* The hot path: start now, in this loop turn, if a slot and the lock are free. */
                (void) sched_dispatch(s, now);
        arm(s);
}

void sched_job_done(SchedJob *j) {
        Sched *s = j->sched;

        if (!j->running)
                return;
        j->running = false;
        if (!s)
                return;
        s->running--;
        if (j->lock && j->lock->holder == j)
                lock_release(j->lock);
        if (j->pending)
                enqueue(j);
        arm(s);
        if (s->on_idle && sched_idle(s))
                s->on_idle(s, s->idle_userdata);
}

void sched_job_cancel(SchedJob *j) {
        if (!j->pending)
                return;
        j->pending = false;
        wait_remove(j);
        if (j->sched) {
                prioq_remove(&j->sched->queue, &j->due);
                arm(j->sched);
        }
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

void sched_set_max_running(Sched *s, unsigned max_running) {
        s->max_running = MAX(max_running, 1u);
        arm(s);
}

int sched_new(sd_event *e, unsigned max_running, Sched **ret) {
        Sched *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        r = hashmap_new(&s->locks);
        if (r < 0) {
                free(s);
                return r;
        }
        s->event = e ? sd_event_ref(e) : NULL;
        s->max_running = MAX(max_running, 1u);
        *ret = s;
        return 0;
}

static void lock_unref(SchedLock *l) {
        if (!l || --l->refs > 0)
                return;
        if (l->sched)
                (void) hashmap_remove(l->sched->locks, l->key);
        free(l->key);
        free(l);
}

static void detach(SchedJob *j) {
        Sched *s = j->sched;

        if (!s)
                return;
        wait_remove(j);
        prioq_remove(&s->queue, &j->due);
        if (j->running)
                s->running--;
        if (j->lock) {
                if (j->lock->holder == j)
                        lock_release(j->lock);
                lock_unref(j->lock);
                j->lock = NULL;
        }
        s->jobs--;
        j->sched = NULL;
}

Sched *sched_free(Sched *s) {
        if (!s)
                return NULL;
        /* Every job holds a pointer to s and maybe to one of its locks: the
         * owners free their jobs first (the contract in scheduler.h). */
        assert(s->jobs == 0);
        prioq_done(&s->queue);
        hashmap_free(s->locks);
        sd_event_source_disable_unref(s->timer);
        sd_event_source_disable_unref(s->defer);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int sched_job_new(Sched *s, const char *lock_key, SchedStartFn start_fn, void *userdata, SchedJob **ret) {
        SchedJob *j;
        int r;

        assert_return(s && start_fn && ret, -EINVAL);
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->due = PRIOQ_ITEM_INIT;
        if (lock_key) {
                SchedLock *l = hashmap_get(s->locks, lock_key);

                if (!l) {
                        l = calloc(1, sizeof(*l));
                        if (!l || !(l->key = strdup(lock_key))) {
                                free(l);
                                free(j);
                                return -ENOMEM;
                        }
                        l->sched = s;
                        r = hashmap_put(s->locks, l->key, l);
                        if (r < 0) {
                                free(l->key);
                                free(l);
                                free(j);
                                return r;
                        }
                }
                l->refs++;
                j->lock = l;
        }
        j->start = start_fn;
        j->userdata = userdata;
        j->sched = s;
        s->jobs++;
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
        free(j);
        return NULL;
}

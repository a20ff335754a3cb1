/* SPDX-License-Identifier: MIT */
/* watch.c: a watched mailbox, its events and hook runs; see watch.h and docs/EVENTS.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "buf.h"
#include "desktop.h"
#include "hook.h"
#include "imap-utf7.h"
#include "log.h"
#include "watch.h"

/* Why a run happens (IMAPIDLED_REASON); a run covering several reasons
 * names the first of catchup, live, startup that applies. */
enum {
        REASON_LIVE = 1 << 0,           /* seen while connected */
        REASON_CATCHUP = 1 << 1,        /* happened while not connected or not running */
        REASON_STARTUP = 1 << 2,        /* startup_sync = true */
        REASON_RESYNC = 1 << 3,         /* UIDVALIDITY changed (IMAPIDLED_EVENT=resync) */
};

typedef enum FetchKind {
        FETCH_NONE,
        FETCH_SCAN,                     /* after SELECT: what came while away */
        FETCH_RESOLVE,                  /* before an on_new run that wants UIDs or details */
        FETCH_FLOOR,                    /* after a hot-path run started: which UIDs it covered */
} FetchKind;

typedef struct Job {
        Watch *watch;
        WatchEvent ev;
        SchedJob *sj;                   /* NULL: no hook for this event */

        uint64_t count;                 /* events since the current run (if any) started */
        unsigned reasons;
        /* new: what is known of the UIDs of those events.  A scan (catch-up or poll)
         * names them; an EXISTS does not. */
        uint32_t scan_min, scan_max;    /* UIDs found by scans; 0: none */
        bool uids_unknown;              /* arrivals seen only as EXISTS */
        /* expunge: the UIDs of those events where the server named them (VANISHED
         * (EARLIER) at a QRESYNC EXAMINE), allocated on demand; gone_unknown if any
         * of them came without UIDs (EXPUNGE, the count rule). */
        WatchUidSet *gone;
        bool gone_unknown;

        /* The run: resolving (waiting for the fetch), then the hook. */
        bool resolving;
        uint64_t run_count;
        unsigned run_reasons;
        Hook *hook;
        uint64_t runs, failed;
} Job;

struct Watch {
        sd_event *event;
        const CfgAccount *account;
        const CfgMailbox *mailbox;
        char *wire;             /* mUTF-7; NULL when it is the name as configured */
        char *name;             /* account/mailbox */

        bool known;             /* selected once, or restored from the state file */
        bool fresh;             /* created while we watched (watch_set_fresh()): all its mail is new */
        bool selected_this_run; /* selected since the daemon started (startup_sync) */
        uint32_t exists, uidvalidity, floor;
        /* Of the 'exists' messages, how many have UIDs at or above the floor (not
         * covered by a run whose UIDs are known).  They are the last 'above'
         * sequence numbers: UIDs grow with sequence numbers (RFC 3501 §2.3.1.1).
         * What is persisted as EXISTS is exists - above, so the catch-up after a
         * reconnect or restart counts as expunged only messages below the floor,
         * whatever happened to the others (never a phantom expunge). */
        uint32_t above;
        /* Of the 'exists' messages, how many the catch-up scan of this selection has still to
         * sort out (those beyond the old count below the floor): until its answer they are not
         * persisted as below the floor either, or a reconnect in between, or a failed scan,
         * would report them as new and as expunged.  0 once the scan answered. */
        uint32_t unscanned;
        uint64_t highestmodseq;
        /* highestmodseq covers every expunge we reported: taken at EXAMINE, restored, or
         * an untagged HIGHESTMODSEQ since.  A live expunge after it makes it stale (its
         * mod-sequence is unknown, RFC 7162 §3.2), and a QRESYNC EXAMINE with the stale
         * value would report that expunge again in VANISHED (EARLIER): then 0 is
         * persisted and the next catch-up uses the count rule. */
        bool modseq_exact;
        /* Of this selection's catch-up expunges, how many VANISHED (EARLIER) named:
         * the count rule (the scan's arithmetic) only adds what is beyond them. */
        uint32_t catchup_gone;
        WatchChangedFn on_changed;
        void *userdata;

        WatchFetchFn fetch;
        void *fetch_userdata;
        FetchKind fetch_kind;   /* in flight */
        bool resolve_waiting;   /* the NEW job's run waits for the scan to end */
        /* Hot-path runs started without knowing their UIDs: they covered the
         * messages up to this sequence number (kept right across EXPUNGE,
         * RFC 3501 §7.4.1); 0 when nothing is owed.  Only meaningful on the
         * connection that saw them: reset when the fetcher goes. */
        uint32_t covered_seq;
        bool floor_wanted;      /* ask again once the fetch in flight ended */
        uint32_t scan_old_exists;
        unsigned scan_reason;   /* REASON_CATCHUP, or REASON_LIVE for a poll */

        Job *jobs[_WATCH_EVENT_MAX];    /* NULL for an event without a hook: it costs nothing */

        /* Out of sync (watch.h, docs/SECURITY.md H07): a response contradicted the known
         * numbers; they stay as they were, and nothing the server says about the mailbox is
         * taken until the next selection. */
        bool desync;
        bool desync_logged;     /* at notice level once per connection (reset when the fetcher goes) */
        /* Repeated resyncs (watch.h): when the last one was reported (0: never), and a
         * UIDVALIDITY change since that was not. */
        uint64_t resync_at;
        bool resync_owed;
        /* The event lines' rate limit (watch.h): the current interval, the lines written
         * in it, and what was left out (lines, and messages per event). */
        uint64_t log_since;
        unsigned log_lines;
        uint64_t log_dropped;
        uint64_t log_dropped_count[_WATCH_EVENT_MAX];

        /* For `imapidled status` and SIGUSR1 (watch_status()): the last event and the last
         * hook run that ended, set where they happen (O(1), nothing per status request). */
        WatchStatus status;

        WatchClockFn clock;
        void *clock_userdata;

        WatchNotifyFn notify;   /* desktop_notify: watch_set_notify() */
        void *notify_userdata;
};

static const char *const event_names[_WATCH_EVENT_MAX] = {
        [WATCH_EVENT_NEW] = "new",
        [WATCH_EVENT_EXPUNGE] = "expunge",
        [WATCH_EVENT_FLAGS] = "flags",
};

static const CfgEvent cfg_events[_WATCH_EVENT_MAX] = {
        [WATCH_EVENT_NEW] = CFG_EVENT_NEW,
        [WATCH_EVENT_EXPUNGE] = CFG_EVENT_EXPUNGE,
        [WATCH_EVENT_FLAGS] = CFG_EVENT_FLAGS,
};

static const char *const hook_keys[_WATCH_EVENT_MAX] = {
        [WATCH_EVENT_NEW] = "on_new",
        [WATCH_EVENT_EXPUNGE] = "on_expunge",
        [WATCH_EVENT_FLAGS] = "on_flags",
};

static const CfgHook *watch_hook(const Watch *w, WatchEvent ev) {
        return cfg_mailbox_hook(w->account, w->mailbox, cfg_events[ev]);
}

void watch_fetch_result_done(WatchFetchResult *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_details; i++)
                message_details_done(&r->details[i]);
        free(r->details);
        *r = (WatchFetchResult) {};
}

void watch_uid_set_add(WatchUidSet *s, uint32_t lo, uint32_t hi) {
        if (lo == 0 || hi < lo)
                return;
        s->count += (uint64_t) hi - lo + 1;
        s->min = s->min == 0 ? lo : MIN(s->min, lo);
        s->max = MAX(s->max, hi);
        if (s->overflow)
                return;
        if (s->n > 0 && s->r[s->n - 1].hi < UINT32_MAX && s->r[s->n - 1].hi + 1 == lo) {
                s->r[s->n - 1].hi = hi;         /* "3,4,5" is listed as "3:5" */
                return;
        }
        if (s->n >= ELEMENTSOF(s->r)) {
                s->overflow = true;
                return;
        }
        s->r[s->n++] = (WatchUidRange) { lo, hi };
}

/* Everything of src into dst (src's ranges beyond its cap are only in its
 * count and bounds: dst then lists min:max too). */
static void uid_set_merge(WatchUidSet *dst, const WatchUidSet *src) {
        uint64_t kept = 0;

        for (unsigned i = 0; i < src->n; i++) {
                watch_uid_set_add(dst, src->r[i].lo, src->r[i].hi);
                kept += (uint64_t) src->r[i].hi - src->r[i].lo + 1;
        }
        if (src->overflow) {
                dst->overflow = true;
                dst->count += src->count - MIN(kept, src->count);
                dst->min = dst->min == 0 ? src->min : MIN(dst->min, src->min);
                dst->max = MAX(dst->max, src->max);
        }
}

void watch_uid_set_env(const WatchUidSet *s, char *buf, size_t size) {
        size_t off;
        int k;

        k = snprintf(buf, size, "IMAPIDLED_UIDS=");
        off = k > 0 ? (size_t) k : 0;
        if (s->count == 0)
                return;
        if (s->overflow) {
                /* More ranges than WATCH_UIDS_MAX_RANGES: the range that holds them all. */
                if (s->min == s->max)
                        (void) snprintf(buf + off, size - MIN(off, size), "%" PRIu32, s->min);
                else
                        (void) snprintf(buf + off, size - MIN(off, size), "%" PRIu32 ":%" PRIu32, s->min, s->max);
                return;
        }
        for (unsigned i = 0; i < s->n && off < size; i++) {
                if (s->r[i].lo == s->r[i].hi)
                        k = snprintf(buf + off, size - off, "%s%" PRIu32, i ? "," : "", s->r[i].lo);
                else
                        k = snprintf(buf + off, size - off, "%s%" PRIu32 ":%" PRIu32, i ? "," : "", s->r[i].lo,
                                     s->r[i].hi);
                if (k < 0)
                        break;
                off += (size_t) k;
        }
}

/* The messages known to be below the floor: what is persisted as EXISTS. */
static uint32_t below_floor(const Watch *w) {
        return w->exists - (uint32_t) MIN((uint64_t) w->above + w->unscanned, (uint64_t) w->exists);
}

static void changed(Watch *w) {
        if (w->on_changed)
                w->on_changed(w, w->userdata);
}

static uint64_t now_mono(const Watch *w) {
        uint64_t t = 0;

        if (w->clock)
                return w->clock(w->clock_userdata);
        (void) sd_event_now(w->event, CLOCK_MONOTONIC, &t);
        return t;
}

void watch_set_clock(Watch *w, WatchClockFn fn, void *userdata) {
        w->clock = fn;
        w->clock_userdata = userdata;
}

/* The event lines left out so far, in one line (docs/EVENTS.md "The log"). */
static void log_flush_dropped(Watch *w) {
        if (w->log_dropped == 0)
                return;
        log_info("%s: %" PRIu64 " more event line%s not logged (new %" PRIu64 ", expunge %" PRIu64
                 ", flags %" PRIu64 " messages)",
                 w->name, w->log_dropped, w->log_dropped == 1 ? "" : "s", w->log_dropped_count[WATCH_EVENT_NEW],
                 w->log_dropped_count[WATCH_EVENT_EXPUNGE], w->log_dropped_count[WATCH_EVENT_FLAGS]);
        w->log_dropped = 0;
        memset(w->log_dropped_count, 0, sizeof(w->log_dropped_count));
}

/* Start a new interval of the rate limit if the current one is over (docs/SECURITY.md H08:
 * the server decides how many events there are, not how many lines we write).  Uses the
 * loop's time: no timer of its own (docs/SCALING.md), so the summary of an interval waits
 * for the next line, or the end of a run (on_hook_done()). */
static void log_tick(Watch *w, uint64_t now) {
        if (w->log_since != 0 && now < usec_add(w->log_since, WATCH_LOG_INTERVAL_USEC))
                return;
        log_flush_dropped(w);
        w->log_since = now;
        w->log_lines = 0;
}

static void trigger(Watch *w, WatchEvent ev, uint64_t count, unsigned reason, bool force) {
        Job *j = w->jobs[ev];
        uint64_t now;

        if (count > 0) {
                w->status.last_event = reason & REASON_RESYNC ? "resync" : event_names[ev];
                w->status.last_event_count = count;
                w->status.last_event_at = now_mono(w);
        }
        if ((count == 0 && !force) || !j)
                return;         /* an event nobody asked for is counted and forgotten */
        j->count += count;
        j->reasons |= reason;
        now = now_mono(w);
        /* With debounce 0 this starts the hook before it returns: log after. */
        sched_job_trigger(j->sj, now, w->account->debounce_usec, w->account->max_delay_usec);
        log_tick(w, now);
        if (w->log_lines >= WATCH_LOG_BURST) {
                w->log_dropped++;
                w->log_dropped_count[ev] += count;
                return;
        }
        w->log_lines++;
        log_info("%s: %s%s, %" PRIu64 " message%s", w->name,
                 reason & REASON_RESYNC ? "resync" : event_names[ev],
                 reason & REASON_CATCHUP ? " (catch-up)" : reason & REASON_STARTUP ? " (startup)" : "",
                 count, count == 1 ? "" : "s");
}

/* A response that cannot be true of the mailbox as known (watch.h): out of sync until the
 * next selection.  Returns -ESTALE. */
_printf_(2, 3) static int out_of_sync(Watch *w, const char *fmt, ...) {
        char what[160];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        w->desync = true;
        /* A server can send this at any rate: one notice per connection (docs/SECURITY.md H08). */
        log_full(w->desync_logged ? LOG_DEBUG : LOG_NOTICE,
                 "%s: out of sync: %s with %" PRIu32 " message%s known; no event, the mailbox is counted again",
                 w->name, what, w->exists, w->exists == 1 ? "" : "s");
        w->desync_logged = true;
        return -ESTALE;
}

/* An expunge event: with the UIDs the server named (uids), or without
 * (NULL: EXPUNGE, the count rule; then the run is told no UIDs). */
static void trigger_gone(Watch *w, const WatchUidSet *uids, uint64_t count, unsigned reason) {
        Job *j = w->jobs[WATCH_EVENT_EXPUNGE];

        if (j && count > 0) {
                if (uids && !j->gone)
                        j->gone = calloc(1, sizeof(WatchUidSet));
                if (uids && j->gone)
                        uid_set_merge(j->gone, uids);
                else
                        j->gone_unknown = true;
        }
        trigger(w, WATCH_EVENT_EXPUNGE, count, reason, false);
}

/* ---- runs ------------------------------------------------------------------------------------- */

/* A run ended, or never started (status -errno): the status's last hook, and the failures
 * --once and `imapidled status` count (non-zero exit, signal, timeout, or no start). */
static void run_ended(Job *j, int status, bool timed_out) {
        j->watch->status.last_hook = hook_keys[j->ev];
        j->watch->status.last_hook_status = status;
        j->watch->status.last_hook_timed_out = timed_out;
        j->watch->status.last_hook_at = now_mono(j->watch);
        if (timed_out || status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                j->failed++;
}

static void on_hook_done(Hook *h, int status, bool timed_out, void *userdata) {
        Job *j = userdata;

        (void) h;
        run_ended(j, status, timed_out);
        j->hook = hook_free(j->hook);
        /* The summary of a past interval of the log's rate limit, if any (log_tick()). */
        if (j->watch->log_dropped > 0)
                log_tick(j->watch, now_mono(j->watch));
        sched_job_done(j->sj);
}

static const char *reason_name(unsigned reasons) {
        if (reasons & (REASON_CATCHUP | REASON_RESYNC))
                return "catchup";
        if (reasons & REASON_LIVE)
                return "live";
        return "startup";
}

/* IMAPIDLED_UIDS (RFC 3501 §9 sequence-set syntax, usable with UID FETCH as
 * it is): lo:hi, lo, or lo:* when hi is 0 (not known); empty when lo is 0. */
static void format_uids(char *buf, size_t size, uint32_t lo, uint32_t hi) {
        if (lo == 0)
                (void) snprintf(buf, size, "IMAPIDLED_UIDS=");
        else if (hi == 0)
                (void) snprintf(buf, size, "IMAPIDLED_UIDS=%" PRIu32 ":*", lo);
        else if (lo == hi)
                (void) snprintf(buf, size, "IMAPIDLED_UIDS=%" PRIu32, lo);
        else
                (void) snprintf(buf, size, "IMAPIDLED_UIDS=%" PRIu32 ":%" PRIu32, lo, hi);
}

/* IMAPIDLED_UIDS=floor:*, or NULL (not set) when the floor is not known: a server that gave no
 * UIDNEXT (an nz-number, RFC 3501 §9) leaves it 0, and "0:*" or an empty set would be made up. */
static const char *floor_uids(char *buf, size_t size, uint32_t floor) {
        if (floor == 0)
                return NULL;
        format_uids(buf, size, floor, 0);
        return buf;
}

/* desktop_notify (watch.h): whether this mailbox's new mail becomes a notification. */
static bool desktop_on(const Watch *w) {
        return cfg_mailbox_desktop_notify(w->account, w->mailbox);
}

/* The notification of a new-mail run, as it starts: a resync would call every message new
 * and the startup run covers none, so neither is shown. */
static void notify_desktop(Job *j, const WatchFetchResult *res) {
        Watch *w = j->watch;

        if (!w->notify || !desktop_on(w) || j->run_count == 0 || (j->run_reasons & REASON_RESYNC))
                return;
        w->notify(w, j->run_count, res ? res->details : NULL, res ? res->n_details : 0, w->notify_userdata);
}

/* Spawn hook 'hk' of a job whose run began (start_hook()).  Returns < 0 if nothing runs. */
static int spawn_hook(Job *j, const CfgHook *hk, const char *uids, const WatchFetchResult *res) {
        Watch *w = j->watch;
        char count[40], exists[40], uidvalidity[40], uidnext[40], reason[40], uidset[WATCH_UIDS_ENV_MAX],
                ndet[40], log_name[256];
        _cleanup_(details_strv_freep) char **denv = NULL;
        char *env[16];
        size_t n = 0;
        _cleanup_(buf_done) Buf json = {};
        HookSpec spec;
        int r;

        (void) snprintf(count, sizeof(count), "IMAPIDLED_COUNT=%" PRIu64, j->run_count);
        (void) snprintf(exists, sizeof(exists), "IMAPIDLED_EXISTS=%" PRIu32, w->exists);
        (void) snprintf(uidvalidity, sizeof(uidvalidity), "IMAPIDLED_UIDVALIDITY=%" PRIu32, w->uidvalidity);
        (void) snprintf(uidnext, sizeof(uidnext), "IMAPIDLED_UIDNEXT=%" PRIu32, w->floor);
        (void) snprintf(reason, sizeof(reason), "IMAPIDLED_REASON=%s", reason_name(j->run_reasons));
        (void) snprintf(log_name, sizeof(log_name), "%s %s", w->name, hook_keys[j->ev]);
        env[n++] = count;
        env[n++] = exists;
        /* UIDVALIDITY and UIDNEXT are nz-numbers (RFC 3501 §9): 0 means the server gave none, and a
         * variable whose value is not known is not set (docs/HOOKS.md), never set to 0. */
        if (w->uidvalidity > 0)
                env[n++] = uidvalidity;
        if (w->floor > 0)
                env[n++] = uidnext;
        env[n++] = reason;
        if (uids) {
                (void) snprintf(uidset, sizeof(uidset), "%s", uids);
                env[n++] = uidset;
        }
        if (hk->details) {
                (void) snprintf(ndet, sizeof(ndet), "IMAPIDLED_DETAILS=%zu", res ? res->n_details : (size_t) 0);
                env[n++] = ndet;
                if (res && res->n_details > 0) {
                        r = message_details_env(&res->details[res->n_details - 1], &denv);
                        if (r < 0)
                                return log_error_errno(r, "%s: cannot build the environment: %m", log_name);
                        for (char **e = denv; *e && n < ELEMENTSOF(env) - 1; e++)
                                env[n++] = *e;
                        for (size_t i = 0; i < res->n_details; i++) {
                                r = message_details_to_json(&res->details[i], &json);
                                if (r < 0)
                                        return log_error_errno(r, "%s: cannot build the details: %m", log_name);
                        }
                }
        }
        env[n] = NULL;

        spec = (HookSpec) {
                .argv = hk->argv,
                .shell = hk->argv ? NULL : hk->shell,
                .account = w->account->name,
                .mailbox = w->mailbox->name,
                .event = j->run_reasons & REASON_RESYNC ? "resync" : event_names[j->ev],
                .extra_env = env,
                .pass_env = w->account->pass_env,
                .stdin_data = hk->details ? (json.data ? (const void *) json.data : "") : NULL,
                .stdin_len = hk->details ? json.len : 0,
                .timeout_usec = w->account->hook_timeout_usec,
                .log_name = log_name,
        };
        r = hook_run(w->event, &spec, on_hook_done, j, &j->hook);
        if (r < 0)
                return log_error_errno(r, "%s: cannot run hook: %m", log_name);
        j->runs++;
        return 0;
}

/* Start the hook of a job whose run began.  uids: IMAPIDLED_UIDS for new
 * (format_uids()) or expunge (watch_uid_set_env()), NULL: not set; res: the
 * details fetched, or NULL.  Returns < 0 if nothing runs. */
static int start_hook(Job *j, const char *uids, const WatchFetchResult *res) {
        const CfgHook *hk = watch_hook(j->watch, j->ev);
        int r;

        if (j->ev == WATCH_EVENT_NEW)
                notify_desktop(j, res);
        if (!hk)
                return -ENOENT;
        r = spawn_hook(j, hk, uids, res);
        if (r < 0)
                /* Never started: a failed run (an exec that fails ends in on_hook_done()). */
                run_ended(j, r, false);
        return r;
}

static int request_fetch(Watch *w, FetchKind kind, const WatchFetchRequest *req) {
        WatchFetchRequest q = *req;
        int r;

        if (!w->fetch)
                return -ENOTCONN;
        /* UIDs start at 1 (RFC 3501 §2.3.1.1): a floor not known (the server gave no
         * UIDNEXT, docs/SECURITY.md H11) asks for them all, never "0:*". */
        if (q.floor == 0)
                q.floor = 1;
        w->fetch_kind = kind;
        r = w->fetch(w->fetch_userdata, w, &q);
        if (r < 0)
                w->fetch_kind = FETCH_NONE;
        return r;
}

/* The floor moves to 'next' because a run covered 'covered' messages at or
 * above the old floor. */
static void floor_move(Watch *w, uint32_t next, uint64_t covered) {
        if (next > w->floor)
                w->floor = next;
        w->above -= (uint32_t) MIN(covered, (uint64_t) w->above);
        changed(w);
}

/* Ask which UIDs the hot-path runs covered (watch.h), unless a fetch is in
 * flight (then after it).  Nothing to do when nothing is owed. */
static void request_floor(Watch *w) {
        WatchFetchRequest req = { .floor = w->floor, .max_seq = w->covered_seq };
        int r;

        if (w->covered_seq == 0)
                return;
        if (w->fetch_kind != FETCH_NONE) {
                w->floor_wanted = true;
                return;
        }
        w->floor_wanted = false;
        r = request_fetch(w, FETCH_FLOOR, &req);
        if (r < 0) {
                /* The floor stays: the next catch-up may report these messages again
                 * (never lose them; docs/EVENTS.md). */
                log_debug("%s: cannot ask which UIDs the run covered: %s", w->name, strerror(-r));
                w->covered_seq = 0;
        }
}

static void floor_fetched(Watch *w, int r, const WatchFetchResult *res) {
        if (r == -ESTALE) {
                /* Sequence numbers moved under the answer (watch.h): ask again. */
                w->floor_wanted = true;
                return;
        }
        if (r >= 0 && res->count > 0 && res->max_uid >= w->floor && res->max_uid < UINT32_MAX)
                floor_move(w, res->max_uid + 1, res->count);
        if (r < 0)
                w->floor_wanted = false;
        if (!w->floor_wanted)
                w->covered_seq = 0;
}

static unsigned details_wanted(const Watch *w) {
        const CfgHook *hk = watch_hook(w, WATCH_EVENT_NEW);

        if (hk && hk->details)
                return MAX(w->account->details_max, 1u);
        /* The notification names no more than these (one fetch serves both when the hook has
         * details: the hook's number, which may show fewer). */
        return desktop_on(w) ? DESKTOP_BODY_MESSAGES : 0;
}

/* Whether the new-mail run needs the details of its messages (a hook's details = true, or
 * the desktop notification's From and Subject). */
static bool wants_details(const Watch *w, const CfgHook *hk) {
        return (hk && hk->details) || desktop_on(w);
}

/* Whether the run must know its UIDs before it starts (a round trip). */
static bool wants_uids(const Watch *w, const CfgHook *hk) {
        return wants_details(w, hk) || (hk && hk->uids);
}

/* The connection went away before the run could ask which UIDs it covers.
 * The floor did not move, so the catch-up after the reconnect reports these
 * messages again (docs/EVENTS.md): running now as well would run twice for
 * them, and the server is not reachable for a sync anyway.  A resync or the
 * startup run has nothing to find them again: those run now. */
static bool defer_to_catchup(const Job *j, int r) {
        return IN_SET(r, -ENOTCONN, -ECONNRESET) && !(j->run_reasons & (REASON_RESYNC | REASON_STARTUP));
}

/* The NEW job's run of a hook that wants UIDs or details: find them out first. */
static int resolve(Job *j) {
        Watch *w = j->watch;
        char uids[64];
        int r;

        if (w->fetch_kind != FETCH_NONE) {
                w->resolve_waiting = true;      /* after the scan */
                return 0;
        }
        r = request_fetch(w, FETCH_RESOLVE,
                          &(WatchFetchRequest) { .floor = w->floor, .details_max = details_wanted(w) });
        if (r >= 0)
                return 0;
        j->resolving = false;
        if (defer_to_catchup(j, r)) {
                log_info("%s: not connected; the catch-up after reconnecting reports the new mail", w->name);
                return r;       /* nothing runs */
        }
        return start_hook(j, floor_uids(uids, sizeof(uids), w->floor), NULL);
}

/* The hot path: start the hook now, with what is known of its UIDs; then
 * settle the floor (watch.h). */
static int start_new(Job *j, uint32_t scan_min, uint32_t scan_max, bool uids_unknown) {
        Watch *w = j->watch;
        char uids[64];
        int r;

        if (uids_unknown || scan_max == 0) {
                r = start_hook(j, floor_uids(uids, sizeof(uids), w->floor), NULL);
                if (r < 0 || j->run_count == 0)
                        return r;       /* a startup run covers nothing new */
                /* Every message there now is this run's or older. */
                w->covered_seq = MAX(w->covered_seq, w->exists);
                request_floor(w);
                return 0;
        }
        /* A scan named the UIDs: the floor moves past them now (IMAPIDLED_UIDNEXT). */
        if (scan_max >= w->floor && scan_max < UINT32_MAX)
                floor_move(w, scan_max + 1, j->run_count);
        format_uids(uids, sizeof(uids), scan_min, scan_max);
        return start_hook(j, uids, NULL);
}

static int on_job_start(SchedJob *sj, void *userdata) {
        Job *j = userdata;
        Watch *w = j->watch;
        const CfgHook *hk = watch_hook(w, j->ev);
        uint32_t scan_min = j->scan_min, scan_max = j->scan_max;
        bool uids_unknown = j->uids_unknown;
        int r;

        (void) sj;
        j->run_count = j->count;
        j->run_reasons = j->reasons;
        j->count = 0;
        j->reasons = 0;
        j->scan_min = j->scan_max = 0;
        j->uids_unknown = false;
        if (j->ev == WATCH_EVENT_EXPUNGE) {
                _cleanup_free_ WatchUidSet *gone = TAKE_PTR(j->gone);
                bool unknown = j->gone_unknown;
                char uids[WATCH_UIDS_ENV_MAX];

                j->gone_unknown = false;
                if (!hk)
                        return -ENOENT;
                /* IMAPIDLED_UIDS only when the server named every message of the run. */
                if (!gone || unknown || gone->count == 0)
                        return start_hook(j, NULL, NULL);
                watch_uid_set_env(gone, uids, sizeof(uids));
                return start_hook(j, uids, NULL);
        }
        if (!hk && !(j->ev == WATCH_EVENT_NEW && desktop_on(w)))
                return -ENOENT;
        if (j->ev != WATCH_EVENT_NEW)
                return start_hook(j, NULL, NULL);
        if (j->run_reasons & REASON_RESYNC) {
                /* RFC 3501 §2.3.1.1: every UID is new after a UIDVALIDITY change. */
                char uids[64];

                format_uids(uids, sizeof(uids), 1, 0);
                return start_hook(j, uids, NULL);
        }
        /* uids without details: a scan (catch-up, poll, NOTIFY) that named every
         * UID of the run already is the answer; ask only for what EXISTS brought. */
        if (!wants_uids(w, hk) || (!wants_details(w, hk) && !uids_unknown && scan_max > 0))
                return start_new(j, scan_min, scan_max, uids_unknown);
        j->resolving = true;
        r = resolve(j);
        if (r < 0)
                j->resolving = false;
        return r;
}

static void resolved(Watch *w, int r, const WatchFetchResult *res) {
        Job *j = w->jobs[WATCH_EVENT_NEW];

        if (!j || !j->resolving)
                return;
        j->resolving = false;
        if (r < 0 && defer_to_catchup(j, r)) {
                log_info("%s: connection lost before the run; the catch-up after reconnecting reports the new mail",
                         w->name);
                sched_job_done(j->sj);
                return;
        }
        if (r >= 0 && res->count > 0) {
                /* The run covers these: the next one starts above them. */
                if (res->max_uid >= w->floor && res->max_uid < UINT32_MAX)
                        floor_move(w, res->max_uid + 1, res->count);
                if (res->count > j->run_count) {
                        /* Messages that came while we asked (EXISTS during DONE or the
                         * FETCH) are in this run, which starts after they came: take
                         * them from the next run, and drop that run if nothing is left. */
                        uint64_t absorbed = MIN(res->count - j->run_count, j->count);

                        j->count -= absorbed;
                        j->run_count += absorbed;
                        if (j->count == 0 && j->reasons == REASON_LIVE)
                                sched_job_cancel(j->sj);
                }
                changed(w);
        }
        {
                char uids[64];

                if (r >= 0)
                        format_uids(uids, sizeof(uids), res->count ? res->min_uid : 0, res->max_uid);
                if (start_hook(j, r >= 0 ? uids : floor_uids(uids, sizeof(uids), w->floor),
                               r >= 0 ? res : NULL) < 0)
                        sched_job_done(j->sj);
        }
}

static void scanned(Watch *w, int r, const WatchFetchResult *res) {
        uint64_t expected;

        if (r < 0) {
                /* Left for the next connection: the floor did not move. */
                log_debug("%s: catch-up scan failed: %s", w->name, strerror(-r));
                return;
        }
        log_debug("%s: scan: %" PRIu64 " new (UIDs %" PRIu32 "..%" PRIu32 "), EXISTS %" PRIu32 " -> %" PRIu32,
                  w->name, res->count, res->min_uid, res->max_uid, w->scan_old_exists, w->exists);
        /* Every message at or above the floor is one of these (or came since: EXISTS counted it). */
        w->above = (uint32_t) MIN((uint64_t) w->above + res->count, (uint64_t) w->exists);
        w->unscanned = 0;
        if (res->count > 0 && w->jobs[WATCH_EVENT_NEW]) {
                Job *j = w->jobs[WATCH_EVENT_NEW];

                j->scan_min = j->scan_min ? MIN(j->scan_min, res->min_uid) : res->min_uid;
                j->scan_max = MAX(j->scan_max, res->max_uid);
        }
        trigger(w, WATCH_EVENT_NEW, res->count, w->scan_reason, false);
        /* Everything else that was there before and is missing now went away. */
        expected = (uint64_t) w->scan_old_exists + res->count;
        /* Those VANISHED (EARLIER) named were reported at the selection: only what
         * the server did not name is added (never counted twice). */
        if (expected > (uint64_t) w->exists + w->catchup_gone)
                trigger_gone(w, NULL, expected - w->exists - w->catchup_gone, w->scan_reason);
}

void watch_fetch_done(Watch *w, int r, WatchFetchResult *res) {
        FetchKind kind = w->fetch_kind;
        WatchFetchResult empty = {};

        if (!res)
                res = &empty;
        w->fetch_kind = FETCH_NONE;
        /* Out of sync: the sequence numbers of a bounded fetch (max_seq) may not be the
         * server's, and moving the floor past a message no run covered would lose it.  The
         * floor stays: at worst a message is reported twice (docs/EVENTS.md "The hot path").
         * A scan and a resolve ask by UID only, and stay. */
        if (w->desync && kind == FETCH_FLOOR && r != -ECONNRESET)
                r = -EPROTO;
        if (kind == FETCH_SCAN)
                scanned(w, r, res);
        else if (kind == FETCH_RESOLVE)
                resolved(w, r, res);
        else if (kind == FETCH_FLOOR)
                floor_fetched(w, r, res);
        watch_fetch_result_done(res);

        if (w->resolve_waiting && w->fetch_kind == FETCH_NONE) {
                Job *j = w->jobs[WATCH_EVENT_NEW];

                w->resolve_waiting = false;
                if (j && j->resolving && resolve(j) < 0) {
                        j->resolving = false;
                        sched_job_done(j->sj);
                }
        }
        if (w->floor_wanted && w->fetch_kind == FETCH_NONE)
                request_floor(w);
}

/* The connection went away: new mail that no run has started for yet is at
 * or above the floor, so the catch-up after the reconnect finds it again
 * and reports it; a pending run for it now would report it twice.  A resync
 * or the startup run is not found again: those stay. */
static void forget_pending_new(Watch *w) {
        Job *j = w->jobs[WATCH_EVENT_NEW];

        if (!j || !sched_job_pending(j->sj) || (j->reasons & (REASON_RESYNC | REASON_STARTUP)))
                return;
        sched_job_cancel(j->sj);
        j->count = 0;
        j->reasons = 0;
        j->scan_min = j->scan_max = 0;
        j->uids_unknown = false;
}

void watch_set_fetcher(Watch *w, WatchFetchFn fn, void *userdata) {
        w->fetch = fn;
        w->fetch_userdata = userdata;
        if (fn)
                return;
        /* Sequence numbers mean nothing on the next connection. */
        w->covered_seq = 0;
        w->desync_logged = false;
        w->floor_wanted = false;
        if (w->fetch_kind != FETCH_NONE)
                watch_fetch_done(w, -ECONNRESET, NULL);
        forget_pending_new(w);
}

/* ---- what the server says --------------------------------------------------------------------- */

/* VANISHED (EARLIER) at a QRESYNC EXAMINE (RFC 7162 §3.2.5): the UIDs below
 * the floor that were expunged while we were away.  The server may name UIDs
 * we never knew (RFC 7162 §3.2.5: expunged before our mod-sequence, where it does
 * not track exactly), or a hostile one all 2^32: what counts is at most the
 * old_below messages we knew of.  Returns the count reported. */
static uint32_t vanished_earlier(Watch *w, const WatchUidSet *vanished, uint32_t old_below, unsigned reason) {
        uint32_t n;

        if (vanished->count == 0 || vanished->max >= w->floor)
                return 0;       /* nothing, or not what we asked for (the connection clips) */
        n = (uint32_t) MIN(vanished->count, (uint64_t) old_below);
        if (vanished->count > old_below)
                log_notice("%s: the server names %" PRIu64 " expunged UIDs, %" PRIu32 " message%s known; counting %" PRIu32,
                           w->name, vanished->count, old_below, old_below == 1 ? " was" : "s were", n);
        trigger_gone(w, vanished, n, reason);
        return n;
}

static void selected(Watch *w, uint32_t exists, uint32_t uidvalidity, uint32_t uidnext, uint64_t highestmodseq,
                     bool live, const WatchUidSet *vanished) {
        bool first_this_run = !w->selected_this_run;
        unsigned reason = live ? REASON_LIVE : REASON_CATCHUP;
        bool had_new = false, resync_due;
        uint64_t now = now_mono(w);

        w->selected_this_run = true;
        w->covered_seq = 0;     /* a new selection: old sequence numbers are void */
        w->catchup_gone = 0;
        /* Counted afresh: what the server says is taken again (docs/SECURITY.md H07). */
        w->desync = false;
        /* A resync left out within the window (watch.h) is reported now that it passed. */
        resync_due = w->resync_owed && now >= usec_add(w->resync_at, WATCH_RESYNC_WINDOW_USEC);
        if (!w->known && w->fresh) {
                /* Born empty while we watched: every UID it handed out is new mail. */
                w->known = true;
                w->uidvalidity = uidvalidity;
                w->floor = 1;
                w->exists = 0;
        }
        w->fresh = false;
        if (w->known && uidvalidity == w->uidvalidity && !resync_due) {
                /* Messages below the floor before; the scan finds those at or above it. */
                uint32_t old_below = below_floor(w);
                bool none_above = w->above == 0 && w->unscanned == 0 && w->fetch_kind == FETCH_NONE;

                w->exists = exists;
                w->above = 0;
                w->unscanned = 0;
                /* The numbers above first: a run may start inside. */
                w->catchup_gone = vanished ? vanished_earlier(w, vanished, old_below, reason) : 0;
                if (uidnext > w->floor && (watch_hook(w, WATCH_EVENT_NEW) || desktop_on(w))) {
                        /* UIDs were handed out (RFC 3501 §2.3.1.1); which of them are still
                         * there, and so how many messages are new, the scan tells. */
                        w->scan_old_exists = old_below;
                        w->scan_reason = reason;
                        if (none_above && exists >= old_below && exists - old_below == uidnext - w->floor) {
                                /* No scan needed: with a arrivals and e expunges, exists - old_below
                                 * = a - e, and the a arrivals took a of the uidnext - floor UIDs
                                 * handed out (RFC 3501 §2.3.1.1: UIDs only grow).  Equal means
                                 * e = 0 and every UID in [floor, uidnext) is a message that is
                                 * there: the answer the scan would give.  It saves the round trip
                                 * (and, for a poll or NOTIFY, EXAMINE and CLOSE) between a
                                 * STATUS that shows new mail and the hook. */
                                scanned(w, 0, &(WatchFetchResult) {
                                        .count = uidnext - w->floor,
                                        .min_uid = w->floor,
                                        .max_uid = uidnext - 1,
                                });
                                had_new = true;
                                goto done;
                        }
                        /* Not below the floor until the scan says so (it may never answer). */
                        w->unscanned = exists - MIN(old_below, exists);
                        if (request_fetch(w, FETCH_SCAN, &(WatchFetchRequest) { .floor = w->floor }) < 0)
                                log_debug("%s: cannot scan for new mail now", w->name);
                        had_new = true;
                } else {
                        if (uidnext > w->floor)
                                w->floor = uidnext;     /* nobody to tell */
                        /* The count rule; what VANISHED (EARLIER) named is reported already. */
                        if (old_below > exists && old_below - exists > w->catchup_gone)
                                trigger_gone(w, NULL, old_below - exists - w->catchup_gone, reason);
                }
        } else {
                bool resync = w->known;
                uint32_t old_uidvalidity = w->uidvalidity;

                /* The new numbers first: a run may start inside trigger(). */
                w->known = true;
                w->exists = exists;
                w->above = 0;
                w->unscanned = 0;
                w->uidvalidity = uidvalidity;
                w->floor = uidnext;
                if (resync && !resync_due && w->resync_at != 0 &&
                    now < usec_add(w->resync_at, WATCH_RESYNC_WINDOW_USEC)) {
                        /* Again within the window (watch.h): a server whose UIDVALIDITY changes at
                         * every connect must not make every reconnect a full sync.  The numbers
                         * above are the new baseline; one resync run follows after the window. */
                        log_notice("%s: UIDVALIDITY changed again (%" PRIu32 " -> %" PRIu32 ") within %u min of "
                                   "the last resync: not reported until then",
                                   w->name, old_uidvalidity, uidvalidity,
                                   (unsigned) (WATCH_RESYNC_WINDOW_USEC / (60 * USEC_PER_SEC)));
                        w->resync_owed = true;
                } else if (resync) {
                        /* RFC 3501 §2.3.1.1: old UIDs mean nothing now. */
                        if (old_uidvalidity != uidvalidity)
                                log_notice("%s: UIDVALIDITY changed (%" PRIu32 " -> %" PRIu32 "), resync", w->name,
                                           old_uidvalidity, uidvalidity);
                        else
                                log_notice("%s: resync for the UIDVALIDITY changes not reported in the last %u min",
                                           w->name, (unsigned) (WATCH_RESYNC_WINDOW_USEC / (60 * USEC_PER_SEC)));
                        w->resync_at = now;
                        w->resync_owed = false;
                        trigger(w, WATCH_EVENT_NEW, exists, REASON_RESYNC | REASON_CATCHUP, true);
                        had_new = true;
                }
        }
done:
        w->highestmodseq = highestmodseq;
        w->modseq_exact = true;
        if (first_this_run && w->account->startup_sync && !had_new)
                trigger(w, WATCH_EVENT_NEW, 0, REASON_STARTUP, true);
        changed(w);
}

void watch_selected(Watch *w, uint32_t exists, uint32_t uidvalidity, uint32_t uidnext, uint64_t highestmodseq,
                    bool live) {
        selected(w, exists, uidvalidity, uidnext, highestmodseq, live, NULL);
}

void watch_selected_qresync(Watch *w, uint32_t exists, uint32_t uidvalidity, uint32_t uidnext,
                            uint64_t highestmodseq, const WatchUidSet *vanished) {
        selected(w, exists, uidvalidity, uidnext, highestmodseq, false, vanished);
}

bool watch_qresync(const Watch *w, uint32_t *ret_uidvalidity, uint64_t *ret_highestmodseq, uint32_t *ret_floor) {
        /* RFC 7162 §3.2.5: the parameter needs both; with a floor of 1 no UID is known. */
        if (!w->known || w->uidvalidity == 0 || !w->modseq_exact || w->highestmodseq == 0 || w->floor <= 1)
                return false;
        *ret_uidvalidity = w->uidvalidity;
        *ret_highestmodseq = w->highestmodseq;
        *ret_floor = w->floor;
        return true;
}

void watch_on_highestmodseq(Watch *w, uint64_t highestmodseq) {
        if (!w->known || highestmodseq == 0 || highestmodseq > INT64_MAX)
                return;         /* RFC 7162 §7: at most 2^63-1, as the state file says */
        w->highestmodseq = highestmodseq;
        w->modseq_exact = true;
        changed(w);
}

int watch_on_exists(Watch *w, uint32_t exists) {
        /* RFC 3501 §7.3.1: EXISTS is the new size; growth is new mail. */
        if (w->desync)
                return -ESTALE;
        if (exists > w->exists) {
                uint32_t added = exists - w->exists;

                w->exists = exists;
                w->above += added;
                if (w->jobs[WATCH_EVENT_NEW])
                        w->jobs[WATCH_EVENT_NEW]->uids_unknown = true;
                trigger(w, WATCH_EVENT_NEW, added, REASON_LIVE, false);
                changed(w);
                return 0;
        }
        /* RFC 3501 §7.3.1: "it is NOT permitted to send an EXISTS response that would
         * reduce the number of messages in the mailbox; only the EXPUNGE response can do
         * this" (docs/SECURITY.md H07).  The same number again is allowed and says nothing. */
        if (exists < w->exists)
                return out_of_sync(w, "EXISTS %" PRIu32 " without EXPUNGE", exists);
        return 0;
}

/* 'count' messages left at unknown positions (seq 0) or one at 'seq': keep
 * covered_seq pointing at the last message a run covered.  Unknown positions
 * count as below it, so the floor can lag (a message reported twice after a
 * reconnect) but never skip one. */
static void expunged(Watch *w, uint32_t count, uint32_t seq, const WatchUidSet *uids) {
        /* During a catch-up scan, a message that was there before (the first
         * scan_old_exists sequence numbers; unknown positions count as such) is
         * reported now, live: the scan's arithmetic must not count it again. */
        if (w->fetch_kind == FETCH_SCAN && (seq == 0 || seq <= w->scan_old_exists))
                w->scan_old_exists -= MIN(count, w->scan_old_exists);
        /* The last 'above' sequence numbers are the messages at or above the floor. */
        if (seq > 0 && w->above > 0 && seq > w->exists - MIN(w->above, w->exists))
                w->above--;
        w->exists = count > w->exists ? 0 : w->exists - count;
        w->above = MIN(w->above, w->exists);
        if (w->covered_seq > 0 && (seq == 0 || seq <= w->covered_seq))
                w->covered_seq -= MIN(count, w->covered_seq);
        /* Its mod-sequence is unknown: HIGHESTMODSEQ no longer covers what we reported. */
        w->modseq_exact = false;
        trigger_gone(w, uids, count, REASON_LIVE);
        changed(w);
}

int watch_on_expunge(Watch *w, uint32_t seq) {
        if (w->desync)
                return -ESTALE;
        /* RFC 3501 §7.4.1: the sequence number of a message that is there (0 here: at a
         * position not known, still one that is there).  Beyond EXISTS it is not
         * (docs/SECURITY.md H07): an expunge counted from it would be made up. */
        if (seq > w->exists || w->exists == 0)
                return out_of_sync(w, "EXPUNGE of message %" PRIu32, seq);
        expunged(w, 1, seq, NULL);
        return 0;
}

void watch_on_vanished(Watch *w, uint32_t count) {
        /* RFC 7162 §3.2.10: a VANISHED without (EARLIER) names messages that were
         * there, so never more than EXISTS (a hostile 1:4294967295 is not 2^32
         * expunges). */
        if (!w->desync)
                expunged(w, MIN(count, w->exists), 0, NULL);
}

int watch_on_vanished_uids(Watch *w, const WatchUidSet *uids) {
        /* The run is told the UIDs (QRESYNC enabled, RFC 7162 §3.2.10). */
        if (w->desync)
                return -ESTALE;
        /* RFC 7162 §3.2.10: a VANISHED without (EARLIER) names messages that are there and
         * reduces EXISTS by their number.  More than EXISTS cannot be true (docs/SECURITY.md
         * H07): clipping it to EXISTS would report expunges made up from it. */
        if (uids->count > w->exists)
                return out_of_sync(w, "VANISHED of %" PRIu64 " UIDs", uids->count);
        expunged(w, (uint32_t) uids->count, 0, uids);
        return 0;
}

int watch_on_flags(Watch *w, uint32_t seq) {
        if (w->desync)
                return -ESTALE;
        /* RFC 3501 §7.4.2: FETCH names a message that is there, 1..EXISTS (docs/SECURITY.md H07). */
        if (seq == 0 || seq > w->exists)
                return out_of_sync(w, "FETCH of message %" PRIu32, seq);
        trigger(w, WATCH_EVENT_FLAGS, 1, REASON_LIVE, false);
        return 0;
}

void watch_restore(Watch *w, uint32_t uidvalidity, uint32_t uidnext, uint32_t exists, uint64_t highestmodseq) {
        w->known = true;
        w->above = 0;
        w->unscanned = 0;
        w->uidvalidity = uidvalidity;
        w->floor = uidnext;
        w->exists = exists;
        w->highestmodseq = highestmodseq;
        w->modseq_exact = true;
}

void watch_set_fresh(Watch *w) {
        if (!w->known)
                w->fresh = true;
}

bool watch_known(const Watch *w, uint32_t *ret_uidvalidity, uint32_t *ret_uidnext, uint32_t *ret_exists,
                 uint64_t *ret_highestmodseq) {
        if (!w->known)
                return false;
        *ret_uidvalidity = w->uidvalidity;
        *ret_uidnext = w->floor;
        /* Below the floor only: see 'above' and 'unscanned'. */
        *ret_exists = below_floor(w);
        /* A stale one would make the next QRESYNC EXAMINE report expunges twice. */
        *ret_highestmodseq = w->modseq_exact ? w->highestmodseq : 0;
        return true;
}

unsigned watch_hooks_running(const Watch *w) {
        unsigned n = 0;

        for (unsigned i = 0; i < _WATCH_EVENT_MAX; i++)
                n += w->jobs[i] && (w->jobs[i]->hook || w->jobs[i]->resolving);
        return n;
}

void watch_status(const Watch *w, WatchStatus *ret) {
        *ret = w->status;
        ret->hooks_running = watch_hooks_running(w);
}

uint64_t watch_runs(const Watch *w, WatchEvent ev) {
        return w->jobs[ev] ? w->jobs[ev]->runs : 0;
}

const char *watch_hook_key(WatchEvent ev) {
        return (unsigned) ev < _WATCH_EVENT_MAX ? hook_keys[ev] : NULL;
}

uint64_t watch_runs_failed(const Watch *w, WatchEvent ev) {
        return w->jobs[ev] ? w->jobs[ev]->failed : 0;
}

const char *watch_mailbox(const Watch *w) {
        return w->mailbox->name;
}

const char *watch_mailbox_wire(const Watch *w) {
        return w->wire ?: w->mailbox->name;
}

const char *watch_name(const Watch *w) {
        return w->name;
}

void watch_set_notify(Watch *w, WatchNotifyFn fn, void *userdata) {
        w->notify = fn;
        w->notify_userdata = userdata;
}

void watch_set_config(Watch *w, const CfgAccount *account, const CfgMailbox *mailbox) {
        w->account = account;
        w->mailbox = mailbox;
}

/* The single-flight key of a job: the account and the hook's command, so
 * that the same command never runs twice at once for one account, whichever
 * mailbox or event asks (docs/EVENTS.md, Scheduling: concurrent syncs collide). */
static int lock_key(const Watch *w, WatchEvent ev, char **ret) {
        const CfgHook *hk = watch_hook(w, ev);
        const char *parts[3] = { w->account->name, NULL, NULL };
        char *const *argv = NULL;
        Buf b = BUF_INIT;
        int r = 0;

        if (!hk)
                /* desktop_notify without an on_new hook: the account's notifications take turns. */
                parts[1] = "desktop_notify";
        else if (!hk->argv) {
                parts[1] = "sh";
                parts[2] = hk->shell;
        } else
                argv = hk->argv;
        for (size_t i = 0; i < ELEMENTSOF(parts) && parts[i] && r >= 0; i++)
                r = buf_append(&b, parts[i], strlen(parts[i]) + 1, 0);
        for (char *const *a = argv; a && *a && r >= 0; a++)
                r = buf_append(&b, *a, strlen(*a) + 1, 0);
        if (r < 0) {
                buf_done(&b);
                return r;
        }
        /* NUL-separated parts, made one string with a unit separator. */
        for (size_t i = 0; i + 1 < b.len; i++)
                if (b.data[i] == 0)
                        b.data[i] = '\x1f';
        *ret = b.data;
        return 0;
}

/* The single-flight key of a job whose hook has a `lock` (docs/HOOKS.md, "Locks"): the lock's
 * name alone, shared by every account (notmuch's one database for all of them).  It cannot
 * collide with lock_key()'s keys, which always hold a unit separator, as a name never does;
 * cfg_load() makes sure one command has one lock in an account.  Otherwise lock_key(). */
static int job_lock_key(const Watch *w, WatchEvent ev, char **ret) {
        const CfgHook *hk = watch_hook(w, ev);

        if (hk && hk->lock) {
                *ret = strdup(hk->lock);
                return *ret ? 0 : -ENOMEM;
        }
        return lock_key(w, ev, ret);
}

int watch_new(sd_event *e, Sched *sched, const CfgAccount *account, const CfgMailbox *mailbox,
              WatchChangedFn on_changed, void *userdata, Watch **ret) {
        _cleanup_(watch_freep) Watch *w = NULL;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->on_changed = on_changed;
        w->userdata = userdata;
        w->event = sd_event_ref(e);
        w->account = account;
        w->mailbox = mailbox;
        r = imap_utf7_encode(mailbox->name, strlen(mailbox->name), &w->wire);
        if (r < 0)
                return log_error_errno(r, "%s/%s: mailbox name is not valid UTF-8", account->name, mailbox->name);
        if (strcmp(w->wire, mailbox->name) == 0)
                w->wire = mfree(w->wire);       /* the usual case: the name is its own wire form */
        if (asprintf(&w->name, "%s/%s", account->name, mailbox->name) < 0)
                return -ENOMEM;
        for (unsigned i = 0; i < _WATCH_EVENT_MAX; i++) {
                _cleanup_free_ char *key = NULL;

                Job *j;

                if (!watch_hook(w, (WatchEvent) i) && !(i == WATCH_EVENT_NEW && desktop_on(w)))
                        continue;
                j = w->jobs[i] = calloc(1, sizeof(Job));
                if (!j)
                        return -ENOMEM;
                j->watch = w;
                j->ev = (WatchEvent) i;
                r = job_lock_key(w, (WatchEvent) i, &key);
                if (r < 0)
                        return r;
                r = sched_job_new(sched, key, on_job_start, j, &j->sj);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(w);
        return 0;
}

Watch *watch_free(Watch *w) {
        if (!w)
                return NULL;
        log_flush_dropped(w);
        for (unsigned i = 0; i < _WATCH_EVENT_MAX; i++)
                if (w->jobs[i]) {
                        hook_free(w->jobs[i]->hook);
                        free(w->jobs[i]->gone);
                        sched_job_free(w->jobs[i]->sj);
                        free(w->jobs[i]);
                }
        sd_event_unref(w->event);
        free(w->wire);
        free(w->name);
        free(w);
        return NULL;
}

bool watch_wants_flags(const Watch *w) {
        return w->jobs[WATCH_EVENT_FLAGS] != NULL;
}

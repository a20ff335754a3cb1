/* SPDX-License-Identifier: MIT */
/*
 * watch.h: one watched mailbox: what we know of it (EXISTS, UIDVALIDITY,
 * UIDNEXT), the events its changes become, and the hook runs they trigger.
 * docs/EVENTS.md is the user-facing description of the model.
 *
 * A watch is not a connection.  Today each watch gets a connection of its own
 * (connection.h); a connection that watches several mailboxes (NOTIFY, RFC
 * 5465) can later feed several watches without changing this interface.
 *
 * Events: new (EXISTS grew, or UIDs handed out while we were away), expunge,
 * flags (unsolicited FETCH FLAGS), and resync (UIDVALIDITY changed: a new
 * run of on_new).  Each event kind of a watch is one scheduler job
 * (scheduler.h): debounced, single-flight per account and hook command, limited
 * globally.  Counts come from EXISTS against the known count, never from
 * RECENT.
 *
 * The floor: the lowest UID that no hook run has covered yet.  It is what is
 * persisted as UIDNEXT (state.h), so a restart or reconnect reports exactly
 * the messages with UIDs at or above it.
 *
 * The hot path (docs/SCALING.md): a run of on_new whose hook needs neither
 * exact UIDs nor details (`uids`, `details`) starts from the scheduler's
 * trigger, inside watch_on_exists(), before any command is sent; it is told
 * IMAPIDLED_UIDS=floor:*.  Only then does the watch ask the connection which
 * UIDs that run covered (the messages up to the sequence number EXISTS had
 * when it started) and move the floor past them.  A run of a hook that wants
 * exact UIDs or details asks first (UID FETCH floor:*, then the details of
 * the newest) and starts when the answer is in.  Runs after a catch-up or a
 * poll know their UIDs from the scan and need no further command.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "cfg.h"
#include "details.h"
#include "scheduler.h"
#include "time-util.h"

typedef struct Watch Watch;

typedef enum WatchEvent {
        WATCH_EVENT_NEW,                /* also resync: UIDVALIDITY changed, runs on_new */
        WATCH_EVENT_EXPUNGE,
        WATCH_EVENT_FLAGS,
        _WATCH_EVENT_MAX,
} WatchEvent;

/* What the watch knows changed: the owner persists it (state.h). */
typedef void (*WatchChangedFn)(Watch *w, void *userdata);

/* What a fetch for the watch found. */
typedef struct WatchFetchResult {
        uint64_t count;                 /* messages present with UID >= the floor asked for */
        uint32_t min_uid, max_uid;      /* of those; 0 when count is 0 */
        MessageDetails *details;        /* details of the newest ones, oldest first (at most
                                         * details_max); owned by the result */
        size_t n_details;
} WatchFetchResult;

void watch_fetch_result_done(WatchFetchResult *r);

/* What the watch asks its connection to find out (UID FETCH floor:* (UID),
 * RFC 3501 §6.4.8). */
typedef struct WatchFetchRequest {
        uint32_t floor;                 /* the messages with UID >= floor */
        uint32_t max_seq;               /* only those with sequence number <= max_seq (the
                                         * messages a run covered); 0: no bound */
        unsigned details_max;           /* > 0: also the details of the newest this many */
} WatchFetchRequest;

/* A set of UIDs as the server named them (a VANISHED uid-set, RFC 7162
 * §3.2.10), kept bounded whatever the server sends (docs/SECURITY.md G08: a
 * hostile "1:4294967295" is one range): the count and the bounds cover every
 * UID added; at most WATCH_UIDS_MAX_RANGES ranges are kept to be listed
 * (IMAPIDLED_UIDS), and a set with more is listed as the range min:max that
 * holds them all (docs/EVENTS.md).  Adding is O(1) per range, never per UID. */
#define WATCH_UIDS_MAX_RANGES 64U
/* IMAPIDLED_UIDS= and WATCH_UIDS_MAX_RANGES ranges "4294967295:4294967295,", and the NUL. */
#define WATCH_UIDS_ENV_MAX (sizeof("IMAPIDLED_UIDS=") + WATCH_UIDS_MAX_RANGES * 22U)

typedef struct WatchUidRange {
        uint32_t lo, hi;
} WatchUidRange;

typedef struct WatchUidSet {
        uint64_t count;                 /* UIDs added (a UID added twice counts twice) */
        uint32_t min, max;              /* 0 when empty */
        bool overflow;                  /* more ranges than kept: listed as min:max */
        unsigned n;                     /* ranges kept */
        WatchUidRange r[WATCH_UIDS_MAX_RANGES];
} WatchUidSet;

/* Add lo..hi (lo <= hi, both > 0); a range that continues the last one is merged into it. */
void watch_uid_set_add(WatchUidSet *s, uint32_t lo, uint32_t hi);
/* "IMAPIDLED_UIDS=<set>" into buf (at least WATCH_UIDS_ENV_MAX bytes). */
void watch_uid_set_env(const WatchUidSet *s, char *buf, size_t size);

/* The connection's service to its watch.  Returns 0 if the answer will come
 * through watch_fetch_done() (exactly once, also on failure), < 0 if the
 * connection cannot do it now (not selected; -EOPNOTSUPP for a max_seq bound
 * on a connection whose sequence numbers do not last, the STATUS poller).
 * With a max_seq bound the connection keeps the bound right across EXPUNGE
 * until the command is sent, and answers -ESTALE if an expunge came while it
 * was on the wire (the sequence numbers of the answer are then unclear). */
typedef int (*WatchFetchFn)(void *userdata, Watch *w, const WatchFetchRequest *req);

int watch_new(sd_event *e, Sched *sched, const CfgAccount *account, const CfgMailbox *mailbox,
              WatchChangedFn on_changed, void *userdata, Watch **ret);
Watch *watch_free(Watch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Watch *, watch_free);

/* What a previous run knew (state file): the first SELECT then compares
 * with it, so mail that came while the daemon was stopped is reported once,
 * with IMAPIDLED_REASON=catchup, and nothing when nothing changed. */
void watch_restore(Watch *w, uint32_t uidvalidity, uint32_t uidnext, uint32_t exists, uint64_t highestmodseq);
/* The mailbox was created while the account was watched (a mailbox pattern,
 * cfg.h, found it): at its first selection every message in it is new mail,
 * reported as catch-up, rather than the baseline of a mailbox seen for the
 * first time.  No effect once the watch knows numbers. */
void watch_set_fresh(Watch *w);
/* The numbers to persist (uidnext is the floor); false until the first
 * SELECT or restore. */
bool watch_known(const Watch *w, uint32_t *ret_uidvalidity, uint32_t *ret_uidnext, uint32_t *ret_exists,
                 uint64_t *ret_highestmodseq);

/* The configuration changed but this mailbox did not: point at the new
 * Cfg's objects (the old Cfg is about to be freed). */
void watch_set_config(Watch *w, const CfgAccount *account, const CfgMailbox *mailbox);

const char *watch_mailbox(const Watch *w);          /* UTF-8 name as configured */
const char *watch_mailbox_wire(const Watch *w);     /* modified UTF-7, as sent (RFC 3501 §5.1.3) */
const char *watch_name(const Watch *w);             /* "account/mailbox" for logs */

/* desktop_notify (cfg_mailbox_desktop_notify()): each run of the new-mail
 * event (not a resync, not the startup run) is handed to fn with its count and
 * the details of its newest messages (NULL, 0 when they could not be fetched),
 * as the run starts.  Such a run, like one of a hook with details = true,
 * waits for the details (one UID FETCH, shared with the hook's when it has
 * one); without an on_new hook the run is the notification alone. */
typedef void (*WatchNotifyFn)(Watch *w, uint64_t count, const MessageDetails *details, size_t n,
                              void *userdata);
void watch_set_notify(Watch *w, WatchNotifyFn fn, void *userdata);

/* The connection that can fetch for this watch, set once the mailbox is
 * selected; NULL when it goes away (after it answered any fetch in flight). */
void watch_set_fetcher(Watch *w, WatchFetchFn fn, void *userdata);
/* The answer to a WatchFetchFn call: r < 0 if it failed (then res may be
 * NULL).  The details in *res are taken over (res is left empty). */
void watch_fetch_done(Watch *w, int r, WatchFetchResult *res);

/* SELECT/EXAMINE finished: the mailbox's current numbers (highestmodseq 0
 * without CONDSTORE).  The first SELECT of a watch without a restored state
 * only records them.  Otherwise, with the same UIDVALIDITY, UIDs at or above
 * the floor are new mail (found with a fetch before anything is reported,
 * RFC 3501 §2.3.1.1) and messages that are missing were expunged; with a new
 * UIDVALIDITY everything known is void: resync.  May call the fetcher.
 * live: the numbers come from a poll (STATUS) of a connection that has
 * polled before, so changes are reported as live, not as catch-up. */
void watch_selected(Watch *w, uint32_t exists, uint32_t uidvalidity, uint32_t uidnext, uint64_t highestmodseq,
                    bool live);
/* The same for an EXAMINE with the QRESYNC parameter (RFC 7162 §3.2.5) built
 * from watch_qresync(): vanished holds the UIDs of every "VANISHED (EARLIER)"
 * of its reply (empty if none came: nothing was expunged since), or is NULL
 * when the parameter was not sent.  The expunges while away are then those
 * UIDs below the saved floor, reported as one catch-up expunge event with
 * their UIDs, counted at most as the messages known below the floor; the
 * count rule above only adds what the server failed to name. */
void watch_selected_qresync(Watch *w, uint32_t exists, uint32_t uidvalidity, uint32_t uidnext,
                            uint64_t highestmodseq, const WatchUidSet *vanished);
/* What the QRESYNC parameter of the next EXAMINE may say (RFC 7162 §3.2.5):
 * true with the saved UIDVALIDITY, a HIGHESTMODSEQ known to be exact (taken
 * at the last EXAMINE or restored, with no expunge seen since that it does
 * not cover) and the floor (the known UIDs are 1:floor-1); false when any is
 * missing, so the count rule must do. */
bool watch_qresync(const Watch *w, uint32_t *ret_uidvalidity, uint64_t *ret_highestmodseq, uint32_t *ret_floor);
/* Untagged responses while selected (RFC 3501 §7.3.1, §7.4.1, §7.4.2; RFC 7162 §3.2.10).
 * watch_on_expunge(): one message, at sequence number seq (0: unknown);
 * watch_on_vanished(): count messages by UID, positions unknown.
 *
 * watch_on_exists(), watch_on_expunge() and watch_on_flags() return -ESTALE
 * when the response cannot be true of the mailbox as the watch knows it
 * (docs/SECURITY.md H07): an EXISTS smaller than the known count (only
 * EXPUNGE may shrink it, RFC 3501 §7.3.1), an EXPUNGE or a FETCH of a
 * sequence number beyond it.  The watch is then out of sync: it fires nothing
 * for that response and ignores the mailbox's untagged responses (returning
 * -ESTALE for each) until the next watch_selected(), whose numbers are
 * compared with what it knew before, by the catch-up rules.  A connection
 * that watches the mailbox in IDLE examines it again (mode-idle.c); one that
 * selected it only for a fetch (poll, NOTIFY) lets that selection end.  The
 * watch logs the first such response after its fetcher was set (once per
 * connection) at notice level, later ones at debug level. */
int watch_on_exists(Watch *w, uint32_t exists);
int watch_on_expunge(Watch *w, uint32_t seq);
void watch_on_vanished(Watch *w, uint32_t count);
/* The same with the VANISHED's UIDs, which the run is told (IMAPIDLED_UIDS).  Unlike
 * watch_on_vanished(), which clips, it returns -ESTALE as above when the UIDs are more
 * than EXISTS (the daemon's path: connection.c). */
int watch_on_vanished_uids(Watch *w, const WatchUidSet *uids);
/* An untagged "OK [HIGHESTMODSEQ n]" while selected (RFC 7162 §3.2: the server
 * sends it only once every change up to n was sent): the saved HIGHESTMODSEQ
 * is exact again. */
void watch_on_highestmodseq(Watch *w, uint64_t highestmodseq);
/* An unsolicited FETCH with FLAGS of the message at sequence number seq (RFC 3501 §7.4.2). */
int watch_on_flags(Watch *w, uint32_t seq);

/* True if flag changes matter (an on_flags hook): NOTIFY asks for FlagChange only then. */
bool watch_wants_flags(const Watch *w);
/* Hooks running or about to run (resolving) (for shutdown). */
unsigned watch_hooks_running(const Watch *w);
/* What `imapidled status` and SIGUSR1 show of a watch (status.h): kept up to date where
 * the events and the hook ends happen, never computed per request. */
typedef struct WatchStatus {
        const char *last_event;         /* "new", "expunge", "flags", "resync"; NULL: none yet */
        uint64_t last_event_count;      /* its messages */
        uint64_t last_event_at;         /* CLOCK_MONOTONIC */
        const char *last_hook;          /* "on_new"...: the last run that ended; NULL: none yet */
        int last_hook_status;           /* its wait status, or -errno if it could not start (hook.h) */
        bool last_hook_timed_out;
        uint64_t last_hook_at;          /* CLOCK_MONOTONIC of its end */
        unsigned hooks_running;
} WatchStatus;
void watch_status(const Watch *w, WatchStatus *ret);

/* Runs started since creation, per event (for tests and status). */
uint64_t watch_runs(const Watch *w, WatchEvent ev);
/* Of those, the runs whose hook exited non-zero, died of a signal or timed out (--once). */
uint64_t watch_runs_failed(const Watch *w, WatchEvent ev);
/* The configuration key of the event's hook: "on_new", "on_expunge", "on_flags". */
const char *watch_hook_key(WatchEvent ev) __attribute__((const));

/* Repeated resyncs (docs/EVENTS.md "Resync"): after a resync was reported, a
 * UIDVALIDITY that changes again within WATCH_RESYNC_WINDOW_USEC is taken as
 * the new baseline, logged, and not reported; one resync run covers all of
 * them at the first selection after the window. */
#define WATCH_RESYNC_WINDOW_USEC (3600 * USEC_PER_SEC)
/* The event lines a watch logs (docs/EVENTS.md "The log"): at most
 * WATCH_LOG_BURST per WATCH_LOG_INTERVAL_USEC per mailbox; what is left out
 * is counted and summed up in one line at the next line allowed, or when a
 * run ends after the interval. */
#define WATCH_LOG_BURST 10U
#define WATCH_LOG_INTERVAL_USEC (60 * USEC_PER_SEC)

/* For tests: read CLOCK_MONOTONIC (usec) from fn instead of sd_event_now(). */
typedef uint64_t (*WatchClockFn)(void *userdata);
void watch_set_clock(Watch *w, WatchClockFn fn, void *userdata);

/* SPDX-License-Identifier: MIT */
/* watch.c: a watched mailbox, its events and hook runs; see watch.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "hook.h"
#include "imap-utf7.h"
#include "log.h"
#include "watch.h"

typedef struct EventState {
        bool dirty;             /* triggered since the last run started */
        bool catchup;           /* ... by what happened while not connected */
        uint64_t count;         /* messages new or expunged since then */
        Hook *running;
        uint64_t runs;
} EventState;

struct Watch {
        sd_event *event;
        const CfgAccount *account;
        const CfgMailbox *mailbox;
        char *wire;             /* mUTF-7 */
        char *name;             /* account/mailbox */
        sd_event_source *defer;

        bool selected_once;
        uint32_t exists, uidvalidity, uidnext;
        WatchChangedFn on_changed;
        void *userdata;

        EventState ev[_WATCH_EVENT_MAX];
};

static const char *const event_names[_WATCH_EVENT_MAX] = {
        [WATCH_EVENT_NEW] = "new",
        [WATCH_EVENT_EXPUNGE] = "expunge",
        [WATCH_EVENT_RESYNC] = "resync",
};

static const char *const hook_keys[_WATCH_EVENT_MAX] = {
        [WATCH_EVENT_NEW] = "on_new",
        [WATCH_EVENT_EXPUNGE] = "on_expunge",
        [WATCH_EVENT_RESYNC] = "on_new",
};

/* The hook for an event: the mailbox's own, else the account's.  A resync
 * (new UIDVALIDITY) runs on_new: the client must sync the mailbox anew. */
static const CfgHook *watch_hook(const Watch *w, WatchEvent ev) {
        bool expunge = ev == WATCH_EVENT_EXPUNGE;
        const CfgHook *mh = expunge ? &w->mailbox->on_expunge : &w->mailbox->on_new;
        const CfgHook *ah = expunge ? &w->account->on_expunge : &w->account->on_new;

        if (mh->argv || mh->shell)
                return mh;
        if (ah->argv || ah->shell)
                return ah;
        return NULL;
}

static void schedule(Watch *w);

static void on_hook_done(Hook *h, int status, bool timed_out, void *userdata) {
        Watch *w = userdata;

        (void) status;
        (void) timed_out;
        for (unsigned i = 0; i < _WATCH_EVENT_MAX; i++)
                if (w->ev[i].running == h) {
                        w->ev[i].running = hook_free(h);
                        /* Triggered while it ran: exactly one more run. */
                        if (w->ev[i].dirty)
                                schedule(w);
                }
}

static int start_hook(Watch *w, WatchEvent ev) {
        EventState *st = &w->ev[ev];
        const CfgHook *hk = watch_hook(w, ev);
        char count[32], exists[32], uidvalidity[32], uidnext[32], reason[32], log_name[256];
        char *env[] = { count, exists, uidvalidity, uidnext, reason, NULL };
        HookSpec spec;
        int r;

        st->dirty = false;
        if (!hk) {
                st->count = 0;
                return 0;
        }
        (void) snprintf(count, sizeof(count), "IMAPIDLED_COUNT=%" PRIu64, st->count);
        (void) snprintf(exists, sizeof(exists), "IMAPIDLED_EXISTS=%" PRIu32, w->exists);
        (void) snprintf(uidvalidity, sizeof(uidvalidity), "IMAPIDLED_UIDVALIDITY=%" PRIu32, w->uidvalidity);
        (void) snprintf(uidnext, sizeof(uidnext), "IMAPIDLED_UIDNEXT=%" PRIu32, w->uidnext);
        (void) snprintf(reason, sizeof(reason), "IMAPIDLED_REASON=%s", st->catchup ? "catchup" : "live");
        (void) snprintf(log_name, sizeof(log_name), "%s %s", w->name, hook_keys[ev]);
        st->count = 0;
        st->catchup = false;

        spec = (HookSpec) {
                .argv = hk->argv,
                .shell = hk->argv ? NULL : hk->shell,
                .account = w->account->name,
                .mailbox = w->mailbox->name,
                .event = event_names[ev],
                .extra_env = env,
                .timeout_usec = w->account->hook_timeout_usec,
                .log_name = log_name,
        };
        r = hook_run(w->event, &spec, on_hook_done, w, &st->running);
        if (r < 0)
                return log_error_errno(r, "%s: cannot run hook: %m", log_name);
        st->runs++;
        return 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        Watch *w = userdata;

        (void) s;
        w->defer = sd_event_source_disable_unref(w->defer);
        for (unsigned i = 0; i < _WATCH_EVENT_MAX; i++)
                if (w->ev[i].dirty && !w->ev[i].running)
                        (void) start_hook(w, (WatchEvent) i);
        return 0;
}

/* Run the hooks on the next loop turn, so that a burst of responses that
 * arrived together makes one run. */
static void schedule(Watch *w) {
        int r;

        if (w->defer)
                return;
        r = sd_event_add_defer(w->event, &w->defer, on_defer, w);
        if (r < 0)
                log_error_errno(r, "%s: cannot schedule hooks: %m", w->name);
}

static void trigger(Watch *w, WatchEvent ev, uint64_t count, bool catchup) {
        EventState *st = &w->ev[ev];

        if (count == 0)
                return;
        log_info("%s: %s%s, %" PRIu64 " message%s", w->name, event_names[ev], catchup ? " (catch-up)" : "", count,
                 count == 1 ? "" : "s");
        st->count += count;
        st->catchup = st->catchup || catchup;
        st->dirty = true;
        if (!st->running)
                schedule(w);
}

static void changed(Watch *w) {
        if (w->on_changed)
                w->on_changed(w, w->userdata);
}

void watch_selected(Watch *w, uint32_t exists, uint32_t uidvalidity, uint32_t uidnext) {
        if (w->selected_once && uidvalidity == w->uidvalidity && uidnext >= w->uidnext) {
                uint64_t added = uidnext - w->uidnext;
                uint64_t expected = (uint64_t) w->exists + added;

                /* Only what really changed: no fake "new mail" on every reconnect. */
                trigger(w, WATCH_EVENT_NEW, added, true);
                if (expected > exists)
                        trigger(w, WATCH_EVENT_EXPUNGE, expected - exists, true);
        } else if (w->selected_once && uidvalidity != w->uidvalidity) {
                /* RFC 3501 §2.3.1.1: old UIDs mean nothing now. */
                log_notice("%s: UIDVALIDITY changed (%" PRIu32 " -> %" PRIu32 "), resync", w->name, w->uidvalidity,
                           uidvalidity);
                trigger(w, WATCH_EVENT_RESYNC, exists ? exists : 1, true);
        }
        w->selected_once = true;
        w->exists = exists;
        w->uidvalidity = uidvalidity;
        w->uidnext = uidnext;
        changed(w);
}

void watch_restore(Watch *w, uint32_t uidvalidity, uint32_t uidnext, uint32_t exists) {
        w->selected_once = true;
        w->uidvalidity = uidvalidity;
        w->uidnext = uidnext;
        w->exists = exists;
}

bool watch_known(const Watch *w, uint32_t *ret_uidvalidity, uint32_t *ret_uidnext, uint32_t *ret_exists) {
        if (!w->selected_once)
                return false;
        *ret_uidvalidity = w->uidvalidity;
        *ret_uidnext = w->uidnext;
        *ret_exists = w->exists;
        return true;
}

void watch_on_exists(Watch *w, uint32_t exists) {
        /* RFC 3501 §7.3.1: EXISTS is the new size; growth is new mail.  A
         * smaller number without EXPUNGE is a server bug (security.md H07):
         * take the number, fire nothing. */
        if (exists > w->exists) {
                uint32_t added = exists - w->exists;

                w->exists = exists;
                if (w->uidnext > 0 && w->uidnext <= UINT32_MAX - added)
                        w->uidnext += added; /* a lower bound until the next SELECT */
                trigger(w, WATCH_EVENT_NEW, added, false);
        } else
                w->exists = exists;
        changed(w);
}

void watch_on_expunge(Watch *w, uint32_t count) {
        w->exists = count > w->exists ? 0 : w->exists - count;
        trigger(w, WATCH_EVENT_EXPUNGE, count, false);
        changed(w);
}

unsigned watch_hooks_running(const Watch *w) {
        unsigned n = 0;

        for (unsigned i = 0; i < _WATCH_EVENT_MAX; i++)
                n += w->ev[i].running != NULL;
        return n;
}

uint64_t watch_runs(const Watch *w, WatchEvent ev) {
        return w->ev[ev].runs;
}

const char *watch_mailbox(const Watch *w) {
        return w->mailbox->name;
}

const char *watch_mailbox_wire(const Watch *w) {
        return w->wire;
}

const char *watch_name(const Watch *w) {
        return w->name;
}

void watch_set_config(Watch *w, const CfgAccount *account, const CfgMailbox *mailbox) {
        w->account = account;
        w->mailbox = mailbox;
}

int watch_new(sd_event *e, const CfgAccount *account, const CfgMailbox *mailbox, WatchChangedFn on_changed,
              void *userdata, Watch **ret) {
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
        if (asprintf(&w->name, "%s/%s", account->name, mailbox->name) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(w);
        return 0;
}

Watch *watch_free(Watch *w) {
        if (!w)
                return NULL;
        for (unsigned i = 0; i < _WATCH_EVENT_MAX; i++)
                hook_free(w->ev[i].running);
        sd_event_source_disable_unref(w->defer);
        sd_event_unref(w->event);
        free(w->wire);
        free(w->name);
        free(w);
        return NULL;
}

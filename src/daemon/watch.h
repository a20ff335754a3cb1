/* SPDX-License-Identifier: MIT */
/*
 * watch.h: one watched mailbox: what we know of it (EXISTS, UIDVALIDITY,
 * UIDNEXT), the events its changes become, and the hook runs they trigger.
 *
 * A watch is not a connection.  Today each watch gets a connection of its own
 * (connection.h); a connection that watches several mailboxes (NOTIFY, RFC
 * 5465) can later feed several watches without changing this interface.
 *
 * Hook runs are single-flight per watch and event: a trigger while the hook
 * runs only marks it dirty, and exactly one more run follows when it ends;
 * triggers in one event-loop turn are coalesced into one run whose
 * IMAPIDLED_COUNT is their sum.  Hooks never block the loop.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "cfg.h"

typedef struct Watch Watch;

typedef enum WatchEvent {
        WATCH_EVENT_NEW,
        WATCH_EVENT_EXPUNGE,
        WATCH_EVENT_RESYNC,             /* UIDVALIDITY changed: everything known is void; runs on_new */
        _WATCH_EVENT_MAX,
} WatchEvent;

/* What the watch knows changed: the owner persists it (state.h). */
typedef void (*WatchChangedFn)(Watch *w, void *userdata);

int watch_new(sd_event *e, const CfgAccount *account, const CfgMailbox *mailbox, WatchChangedFn on_changed,
              void *userdata, Watch **ret);

/* What a previous run knew (state file): the first SELECT then compares
 * with it, so mail that came while the daemon was stopped is reported once,
 * with IMAPIDLED_REASON=catchup, and nothing when nothing changed. */
void watch_restore(Watch *w, uint32_t uidvalidity, uint32_t uidnext, uint32_t exists);
/* The numbers to persist; false until the first SELECT or restore. */
bool watch_known(const Watch *w, uint32_t *ret_uidvalidity, uint32_t *ret_uidnext, uint32_t *ret_exists);
Watch *watch_free(Watch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Watch *, watch_free);

/* The configuration changed but this mailbox did not: point at the new
 * Cfg's objects (the old Cfg is about to be freed). */
void watch_set_config(Watch *w, const CfgAccount *account, const CfgMailbox *mailbox);

const char *watch_mailbox(const Watch *w);          /* UTF-8 name as configured */
const char *watch_mailbox_wire(const Watch *w);     /* modified UTF-7, as sent (RFC 3501 §5.1.3) */
const char *watch_name(const Watch *w);             /* "account/mailbox" for logs */

/* SELECT finished: the mailbox's current numbers.  The first SELECT of a
 * watch only records them.  After a reconnect with the same UIDVALIDITY,
 * UIDs handed out meanwhile (UIDNEXT grew, RFC 3501 §2.3.1.1) are new mail
 * and missing messages were expunged: both become events, so nothing that
 * happened while the connection was down is missed. */
void watch_selected(Watch *w, uint32_t exists, uint32_t uidvalidity, uint32_t uidnext);
/* Untagged responses while selected (RFC 3501 §7.3.1, §7.4.1; RFC 7162 §3.2.10). */
void watch_on_exists(Watch *w, uint32_t exists);
void watch_on_expunge(Watch *w, uint32_t count);

/* Hooks still running (for shutdown). */
unsigned watch_hooks_running(const Watch *w);
/* Runs started since creation, per event (for tests and status). */
uint64_t watch_runs(const Watch *w, WatchEvent ev);

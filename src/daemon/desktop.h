/* SPDX-License-Identifier: MIT */
/*
 * desktop.h: new mail as a desktop notification (desktop_notify = true,
 * imapidled.conf(5)): one org.freedesktop.Notifications.Notify call on the
 * user's session bus per run of a mailbox's new-mail event, with the From and
 * Subject of the newest messages (docs/HOOKS.md "Desktop notifications").
 *
 * The bus is opened lazily, at the first notification, with
 * sd_bus_open_user() (DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus) and
 * attached to the daemon's sd-event loop; calls are asynchronous and nothing
 * here ever waits for the bus.  Where there is no bus, one warning is logged
 * and opening is tried again at the first notification after
 * DESKTOP_RETRY_USEC, never once per event; a bus that went away is opened
 * again at the next notification.
 *
 * Each mailbox's notification replaces its previous one (replaces_id, the id
 * the server answered last time), so a burst of mail shows as one.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "details.h"
#include "macro.h"
#include "time-util.h"

typedef struct Desktop Desktop;

/* A bus that could not be opened is tried again at the first notification this much later. */
#define DESKTOP_RETRY_USEC (60 * USEC_PER_SEC)
/* The body names at most this many messages (the newest), then "+N more". */
#define DESKTOP_BODY_MESSAGES 3U
/* Each From and Subject is cut to this many bytes (on a character boundary) before escaping. */
#define DESKTOP_FIELD_MAX 160U
/* The summary and the body never exceed this many bytes, escapes included. */
#define DESKTOP_TEXT_MAX 1024U

/* A notifier on event loop e; opens nothing yet.  Returns 0 or -ENOMEM. */
int desktop_new(sd_event *e, Desktop **ret);
/* Closes the bus without waiting for calls in flight. */
Desktop *desktop_free(Desktop *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Desktop *, desktop_free);

/* count new messages in mailbox 'name' ("account/mailbox"); details: those of
 * the newest n of them, oldest first (NULL, 0 when not known).  Sends the
 * call, or logs why it cannot (a warning the first time); never fails. */
void desktop_notify_new(Desktop *d, const char *name, uint64_t count, const MessageDetails *details,
                        size_t n);

/* The id the server gave the last notification for 'name' (the next one replaces it); 0 while
 * none was answered.  For tests. */
uint32_t desktop_last_id(const Desktop *d, const char *name);

/* The texts of that notification (pure; the tests call it): *ret_summary
 * "New mail in NAME" or "N new messages in NAME", *ret_body "From: ...\nSubject: ..."
 * for each of the newest DESKTOP_BODY_MESSAGES, newest first, and "+N more" for
 * the rest.  The Notifications specification lets a server read a subset of
 * markup in the body, and every byte of From and Subject is chosen by the
 * sender: '&', '<' and '>' are escaped as entities everywhere, control
 * characters are dropped, and each text stays within DESKTOP_TEXT_MAX bytes.
 * Returns 0 or -ENOMEM. */
int desktop_format(const char *name, uint64_t count, const MessageDetails *details, size_t n,
                   char **ret_summary, char **ret_body);

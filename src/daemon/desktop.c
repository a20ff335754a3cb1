/* SPDX-License-Identifier: MIT */
/*
 * desktop.c: desktop notifications over the session bus (desktop.h): the
 * texts, escaped for the markup a notification server may read, and the
 * asynchronous org.freedesktop.Notifications.Notify call through sd-bus.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "desktop.h"
#include "hashmap.h"
#include "log.h"

#define NOTIFY_SERVICE "org.freedesktop.Notifications"
#define NOTIFY_PATH "/org/freedesktop/Notifications"

/* One mailbox's last notification: the id to replace, kept as long as the notifier. */
typedef struct DesktopEntry {
        struct Desktop *desktop;
        char *name;                     /* the hashmap's key */
        uint32_t id;                    /* 0: none yet (the specification's "no replacement") */
        struct DesktopEntry *next;
} DesktopEntry;

struct Desktop {
        sd_event *event;
        sd_bus *bus;                    /* NULL until the first notification, or after a failure */
        uint64_t failed_at;             /* CLOCK_MONOTONIC of the last failure to open; 0: none */
        bool warned_open, warned_call;  /* each warning once (then at debug level) */
        Hashmap *entries;               /* DesktopEntry by name */
        DesktopEntry *list;             /* the same, to free them */
};

/* ---- texts ------------------------------------------------------------------------------------- */

typedef struct Out {
        char s[DESKTOP_TEXT_MAX + 1];
        size_t len;
        bool full;                      /* something did not fit: nothing more is added */
} Out;

static void out_raw(Out *o, const char *p, size_t n) {
        if (o->full || n > DESKTOP_TEXT_MAX - o->len) {
                o->full = true;
                return;
        }
        memcpy(o->s + o->len, p, n);
        o->len += n;
        o->s[o->len] = 0;
}

/* Whether byte c starts a UTF-8 character (is not a continuation byte). */
static bool utf8_start(unsigned char c) {
        return (c & 0xC0) != 0x80;
}

/* Text from a header: at most 'cap' bytes of it (cut before a character that would not fit
 * whole), control characters dropped, '&', '<' and '>' as entities.  A character whose
 * bytes do not all fit in o is left out with everything after it. */
static void out_text(Out *o, const char *t, size_t cap) {
        size_t n = strlen(t), i = 0;

        if (n > cap) {
                n = cap;
                while (n > 0 && !utf8_start((unsigned char) t[n]))
                        n--;
        }
        while (i < n && !o->full) {
                unsigned char c = (unsigned char) t[i];
                size_t l = 1;

                if (c == '&')
                        out_raw(o, "&amp;", 5);
                else if (c == '<')
                        out_raw(o, "&lt;", 4);
                else if (c == '>')
                        out_raw(o, "&gt;", 4);
                else if (c < 0x20 || c == 0x7F)
                        ;       /* details.c removes them already; a hand-made struct may not have */
                else {
                        while (i + l < n && !utf8_start((unsigned char) t[i + l]))
                                l++;
                        out_raw(o, t + i, l);
                }
                i += l;
        }
}

static void out_str(Out *o, const char *s) {
        out_raw(o, s, strlen(s));
}

int desktop_format(const char *name, uint64_t count, const MessageDetails *details, size_t n,
                   char **ret_summary, char **ret_body) {
        _cleanup_free_ char *summary = NULL;
        Out *o;
        size_t shown = 0;
        char num[64];

        if (!name || !ret_summary || !ret_body || (n > 0 && !details))
                return -EINVAL;
        o = calloc(1, sizeof(Out));
        if (!o)
                return -ENOMEM;
        if (count <= 1)
                out_str(o, "New mail in ");
        else {
                (void) snprintf(num, sizeof(num), "%" PRIu64 " new messages in ", count);
                out_str(o, num);
        }
        out_text(o, name, DESKTOP_FIELD_MAX);
        summary = strdup(o->s);
        if (!summary) {
                free(o);
                return -ENOMEM;
        }

        *o = (Out) {};
        /* Newest first: the one that caused the notification is the last of details. */
        for (size_t i = n; i > 0 && shown < DESKTOP_BODY_MESSAGES && !o->full; i--, shown++) {
                const MessageDetails *d = &details[i - 1];

                if (shown > 0)
                        out_str(o, "\n");
                out_str(o, "From: ");
                out_text(o, d->from ?: "", DESKTOP_FIELD_MAX);
                out_str(o, "\nSubject: ");
                out_text(o, d->subject ?: "", DESKTOP_FIELD_MAX);
        }
        /* Without details (the fetch failed) the summary's count is all there is to say. */
        if (shown > 0 && count > shown) {
                (void) snprintf(num, sizeof(num), "\n+%" PRIu64 " more", count - shown);
                out_str(o, num);
        }
        *ret_body = strdup(o->s);
        free(o);
        if (!*ret_body)
                return -ENOMEM;
        *ret_summary = TAKE_PTR(summary);
        return 0;
}

/* ---- the bus ----------------------------------------------------------------------------------- */

int desktop_new(sd_event *e, Desktop **ret) {
        Desktop *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        r = hashmap_new(&d->entries);
        if (r < 0) {
                free(d);
                return r;
        }
        d->event = sd_event_ref(e);
        *ret = d;
        return 0;
}

Desktop *desktop_free(Desktop *d) {
        if (!d)
                return NULL;
        /* Pending calls' callbacks go with the bus: nothing refers to the entries after this. */
        d->bus = sd_bus_close_unref(d->bus);
        while (d->list) {
                DesktopEntry *e = d->list;

                d->list = e->next;
                free(e->name);
                free(e);
        }
        hashmap_free(d->entries);
        sd_event_unref(d->event);
        free(d);
        return NULL;
}

static uint64_t now_mono(Desktop *d) {
        uint64_t t = 0;

        (void) sd_event_now(d->event, CLOCK_MONOTONIC, &t);
        return t;
}

/* A bus to call on, opened now if need be; NULL (logged) if there is none. */
static sd_bus *bus_get(Desktop *d) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        uint64_t now;
        int r;

        if (d->bus && sd_bus_is_open(d->bus) > 0)
                return d->bus;
        if (d->bus) {
                /* It went away (the session ended, the bus daemon restarted): open it again. */
                log_debug("desktop_notify: the session bus closed; opening it again");
                d->bus = sd_bus_close_unref(d->bus);
        }
        now = now_mono(d);
        if (d->failed_at > 0 && now - d->failed_at < DESKTOP_RETRY_USEC)
                return NULL;    /* not once per event: once per DESKTOP_RETRY_USEC */

        r = sd_bus_open_user(&bus);
        if (r >= 0)
                r = sd_bus_attach_event(bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                d->failed_at = MAX(now, (uint64_t) 1);
                log_full_errno(d->warned_open ? LOG_DEBUG : LOG_WARNING, r,
                               "desktop_notify: cannot connect to the session bus "
                               "(DBUS_SESSION_BUS_ADDRESS, $XDG_RUNTIME_DIR/bus); no desktop notifications "
                               "until it can: %m");
                d->warned_open = true;
                return NULL;
        }
        d->failed_at = 0;
        d->warned_open = false;
        d->bus = TAKE_PTR(bus);
        return d->bus;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        DesktopEntry *e = userdata;
        const sd_bus_error *err = sd_bus_message_get_error(reply);
        uint32_t id;
        int r;

        (void) ret_error;
        if (err) {
                /* Typically ServiceUnknown: nobody shows notifications in this session. */
                log_full(e->desktop->warned_call ? LOG_DEBUG : LOG_WARNING,
                         "desktop_notify: %s: the notification was refused: %s: %s", e->name, err->name,
                         err->message ?: "");
                e->desktop->warned_call = true;
                return 0;
        }
        r = sd_bus_message_read(reply, "u", &id);
        if (r < 0)
                return 0;       /* a server that answers something else: replace nothing */
        e->id = id;
        return 0;
}

static DesktopEntry *entry_get(Desktop *d, const char *name) {
        DesktopEntry *e = hashmap_get(d->entries, name);

        if (e)
                return e;
        e = calloc(1, sizeof(*e));
        if (!e)
                return NULL;
        e->name = strdup(name);
        if (!e->name || hashmap_put(d->entries, e->name, e) < 0) {
                free(e->name);
                free(e);
                return NULL;
        }
        e->desktop = d;
        e->next = d->list;
        d->list = e;
        return e;
}

uint32_t desktop_last_id(const Desktop *d, const char *name) {
        const DesktopEntry *e = d && name ? hashmap_get(d->entries, name) : NULL;

        return e ? e->id : 0;
}

/* The Notify call on bus (org.freedesktop.Notifications.Notify, "susssasa{sv}i"): app_name,
 * replaces_id, app_icon, summary, body, actions (none), hints, expire_timeout (-1: the
 * server's default).  The reply comes to on_reply() through the event loop. */
static int send_notify(sd_bus *bus, DesktopEntry *e, const char *summary, const char *body) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NOTIFY_SERVICE, NOTIFY_PATH, NOTIFY_SERVICE, "Notify");
        if (r >= 0)
                r = sd_bus_message_append(m, "susss", "imapidled", e->id, "mail-unread", summary, body);
        if (r >= 0)
                r = sd_bus_message_append(m, "as", 0);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 1, "category", "s", "email.arrived");
        if (r >= 0)
                r = sd_bus_message_append(m, "i", (int32_t) -1);
        /* Floating slot: the callback goes with the bus (desktop_free()); e outlives both. */
        if (r >= 0)
                r = sd_bus_call_async(bus, NULL, m, on_reply, e, 0);
        return r;
}

void desktop_notify_new(Desktop *d, const char *name, uint64_t count, const MessageDetails *details,
                        size_t n) {
        _cleanup_free_ char *summary = NULL, *body = NULL;
        DesktopEntry *e;
        int r;

        if (!d || !name || count == 0)
                return;
        e = entry_get(d, name);
        if (!e) {
                log_error("desktop_notify: %s: out of memory", name);
                return;
        }
        r = desktop_format(name, count, details, n, &summary, &body);
        if (r < 0) {
                log_error_errno(r, "desktop_notify: %s: %m", name);
                return;
        }
        /* A bus that went away while the loop had not seen it yet fails the send: then once
         * more on a new connection, so that this notification is not the one lost. */
        for (unsigned attempt = 0; attempt < 2; attempt++) {
                sd_bus *bus = bus_get(d);

                if (!bus)
                        return;
                r = send_notify(bus, e, summary, body);
                if (r >= 0) {
                        log_debug("%s: desktop notification sent", name);
                        return;
                }
                if (sd_bus_is_open(bus) > 0)
                        break;
                d->bus = sd_bus_close_unref(d->bus);
        }
        log_full_errno(d->warned_call ? LOG_DEBUG : LOG_WARNING, r,
                       "desktop_notify: %s: cannot send the notification: %m", name);
        d->warned_call = true;
}

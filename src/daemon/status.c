/* SPDX-License-Identifier: MIT */
/* status.c: the status report's text, JSON and log lines; see status.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

#include "details.h"
#include "log.h"
#include "macro.h"
#include "status.h"
#include "time-util.h"

/* Append formatted text of any length. */
_printf_(2, 3) static int buf_printf(Buf *out, const char *fmt, ...) {
        va_list ap;
        int n, r;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        r = buf_reserve(out, (size_t) n + 1, 0);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        (void) vsnprintf(out->data + out->len, (size_t) n + 1, fmt, ap);
        va_end(ap);
        out->len += (size_t) n;
        return 0;
}

static uint64_t secs_between(uint64_t earlier, uint64_t later) {
        return later > earlier ? (later - earlier + USEC_PER_SEC / 2) / USEC_PER_SEC : 0;
}

/* Watch i's connection (status.h), or NULL. */
static Connection *mailbox_conn(const StatusAccount *a, size_t i) {
        return a->n_conns > 0 ? a->conns[MIN(i, a->n_conns - 1)] : NULL;
}

/* How a hook run ended, from its wait status or -errno (hook.h), e.g. "exit status 0",
 * "killed by signal 9 (timed out)", "not started: No such file or directory". */
static void hook_outcome(const WatchStatus *st, char *buf, size_t size) {
        int s = st->last_hook_status;

        if (s < 0)
                (void) snprintf(buf, size, "not started: %s", strerror(-s));
        else if (WIFEXITED(s))
                (void) snprintf(buf, size, "exit status %d%s", WEXITSTATUS(s), st->last_hook_timed_out ? " (timed out)" : "");
        else if (WIFSIGNALED(s))
                (void) snprintf(buf, size, "killed by signal %d%s", WTERMSIG(s), st->last_hook_timed_out ? " (timed out)" : "");
        else
                (void) snprintf(buf, size, "wait status %d", s);
}

/* One mailbox as one line of text (no newline): "INBOX: idle, idling; last event new
 * (3 messages) 12 s ago; last hook on_new exit status 0 10 s ago; next retry in 5 s;
 * last error: ... 40 s ago".  The mailbox name is escaped (log_escape()): it can hold any
 * character. */
static int mailbox_line(Buf *out, const StatusClock *now, const StatusAccount *a, size_t i) {
        Connection *c = mailbox_conn(a, i);
        const char *name = watch_mailbox(a->watches[i]), *err = NULL;
        char esc[1024], outcome[160];
        uint64_t err_at = 0, retry = 0;
        WatchStatus st;
        int r;

        watch_status(a->watches[i], &st);
        r = buf_printf(out, "%s: %s, %s", log_escape(name, strlen(name), esc, sizeof(esc)),
                       c ? connection_kind(c) : "none", c ? connection_state_to_string(connection_state(c)) : "no connection");
        if (r >= 0 && st.last_event)
                r = buf_printf(out, "; last event %s (%" PRIu64 " message%s) %" PRIu64 " s ago", st.last_event,
                               st.last_event_count, st.last_event_count == 1 ? "" : "s",
                               secs_between(st.last_event_at, now->monotonic));
        if (r >= 0 && st.last_hook) {
                hook_outcome(&st, outcome, sizeof(outcome));
                r = buf_printf(out, "; last hook %s %s %" PRIu64 " s ago", st.last_hook, outcome,
                               secs_between(st.last_hook_at, now->monotonic));
        }
        if (r >= 0 && st.hooks_running > 0)
                r = buf_printf(out, "; %u hook%s running", st.hooks_running, st.hooks_running == 1 ? "" : "s");
        if (c) {
                retry = connection_retry_at(c);
                err = connection_last_error(c, &err_at);
        }
        if (r >= 0 && retry > 0)
                r = buf_printf(out, "; next retry in %" PRIu64 " s", secs_between(now->boottime, retry));
        if (r >= 0 && err)
                r = buf_printf(out, "; last error: %s, %" PRIu64 " s ago", err, secs_between(err_at, now->monotonic));
        return r;
}

static int json_key(Buf *out, const char *key) {
        return buf_printf(out, "\"%s\":", key);
}

static int json_mailbox(Buf *out, const StatusClock *now, const StatusAccount *a, size_t i) {
        Connection *c = mailbox_conn(a, i);
        const char *err = NULL;
        uint64_t err_at = 0, retry = 0;
        WatchStatus st;
        int r;

        watch_status(a->watches[i], &st);
        if (c) {
                retry = connection_retry_at(c);
                err = connection_last_error(c, &err_at);
        }
        r = buf_printf(out, "%s{", i > 0 ? "," : "");
        if (r >= 0)
                r = json_key(out, "name");
        if (r >= 0)
                r = details_json_string(out, watch_mailbox(a->watches[i]));
        if (r >= 0)
                r = c ? buf_printf(out, ",\"mode\":\"%s\",\"state\":\"%s\"", connection_kind(c),
                                   connection_state_to_string(connection_state(c))) :
                        buf_printf(out, ",\"mode\":null,\"state\":null");
        if (r >= 0)
                r = st.last_event ? buf_printf(out, ",\"last_event\":{\"event\":\"%s\",\"count\":%" PRIu64
                                               ",\"seconds_ago\":%" PRIu64 "}", st.last_event, st.last_event_count,
                                               secs_between(st.last_event_at, now->monotonic)) :
                                    buf_printf(out, ",\"last_event\":null");
        if (r >= 0 && st.last_hook) {
                int s = st.last_hook_status;

                r = buf_printf(out, ",\"last_hook\":{\"hook\":\"%s\",\"seconds_ago\":%" PRIu64 ",\"timed_out\":%s",
                               st.last_hook, secs_between(st.last_hook_at, now->monotonic),
                               st.last_hook_timed_out ? "true" : "false");
                if (r >= 0 && s >= 0 && WIFEXITED(s))
                        r = buf_printf(out, ",\"exit_status\":%d,\"signal\":null}", WEXITSTATUS(s));
                else if (r >= 0 && s >= 0 && WIFSIGNALED(s))
                        r = buf_printf(out, ",\"exit_status\":null,\"signal\":%d}", WTERMSIG(s));
                else if (r >= 0) {
                        r = buf_printf(out, ",\"exit_status\":null,\"signal\":null,\"error\":");
                        if (r >= 0)
                                r = details_json_string(out, s < 0 ? strerror(-s) : "unknown wait status");
                        if (r >= 0)
                                r = buf_printf(out, "}");
                }
        } else if (r >= 0)
                r = buf_printf(out, ",\"last_hook\":null");
        if (r >= 0)
                r = buf_printf(out, ",\"hooks_running\":%u", st.hooks_running);
        if (r >= 0)
                r = retry > 0 ? buf_printf(out, ",\"next_retry_in\":%" PRIu64, secs_between(now->boottime, retry)) :
                                buf_printf(out, ",\"next_retry_in\":null");
        if (r >= 0 && err) {
                r = buf_printf(out, ",\"last_error\":{\"message\":");
                if (r >= 0)
                        r = details_json_string(out, err);
                if (r >= 0)
                        r = buf_printf(out, ",\"seconds_ago\":%" PRIu64 "}", secs_between(err_at, now->monotonic));
        } else if (r >= 0)
                r = buf_printf(out, ",\"last_error\":null");
        if (r >= 0)
                r = buf_printf(out, "}");
        return r;
}

/* "2 connections: idle idling, poll waiting": every connection of the account, even one
 * no mailbox maps to (none today: kept honest if that changes). */
static int conns_summary(Buf *out, const StatusAccount *a) {
        int r = buf_printf(out, "%zu connection%s", a->n_conns, a->n_conns == 1 ? "" : "s");

        for (size_t k = 0; k < a->n_conns && r >= 0; k++)
                r = buf_printf(out, "%s %s %s", k == 0 ? ":" : ",", connection_kind(a->conns[k]),
                               connection_state_to_string(connection_state(a->conns[k])));
        return r;
}

int status_begin(Buf *out, StatusFormat f) {
        return f == STATUS_JSON ? buf_printf(out, "{\"accounts\":[") : 0;
}

int status_account(Buf *out, StatusFormat f, const StatusClock *now, const StatusAccount *a, bool first) {
        int r;

        if (f == STATUS_JSON) {
                r = buf_printf(out, "%s{\"name\":", first ? "" : ",");
                if (r >= 0)
                        r = details_json_string(out, a->name);
                if (r >= 0)
                        r = buf_printf(out, ",\"connections\":[");
                for (size_t k = 0; k < a->n_conns && r >= 0; k++)
                        r = buf_printf(out, "%s{\"mode\":\"%s\",\"state\":\"%s\"}", k > 0 ? "," : "",
                                       connection_kind(a->conns[k]),
                                       connection_state_to_string(connection_state(a->conns[k])));
                if (r >= 0)
                        r = buf_printf(out, "],\"mailboxes\":[");
                for (size_t i = 0; i < a->n && r >= 0; i++)
                        r = json_mailbox(out, now, a, i);
                return r >= 0 ? buf_printf(out, "]}") : r;
        }

        r = buf_printf(out, "%s%s: %zu mailbox%s, ", first ? "" : "\n", a->name, a->n, a->n == 1 ? "" : "es");
        if (r >= 0)
                r = conns_summary(out, a);
        if (r >= 0)
                r = buf_printf(out, "\n");
        for (size_t i = 0; i < a->n && r >= 0; i++) {
                r = buf_printf(out, "  ");
                if (r >= 0)
                        r = mailbox_line(out, now, a, i);
                if (r >= 0)
                        r = buf_printf(out, "\n");
        }
        return r;
}

int status_end(Buf *out, StatusFormat f) {
        return f == STATUS_JSON ? buf_printf(out, "]}\n") : 0;
}

void status_log_account(const StatusClock *now, const StatusAccount *a) {
        _cleanup_(buf_done) Buf line = BUF_INIT;

        if (conns_summary(&line, a) >= 0 && buf_append(&line, "", 1, 0) >= 0)
                log_info("Status: %s: %zu mailbox%s, %s", a->name, a->n, a->n == 1 ? "" : "es", line.data);
        for (size_t i = 0; i < a->n; i++) {
                buf_clear(&line);
                if (mailbox_line(&line, now, a, i) >= 0 && buf_append(&line, "", 1, 0) >= 0)
                        log_info("Status: %s/%s", a->name, line.data);
        }
}

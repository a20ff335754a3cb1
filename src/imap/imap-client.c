/* SPDX-License-Identifier: MIT */
/*
 * imap-client.c: the blocking imaplib-shaped facade; see imap-client.h.
 *
 * One loop does all the waiting: write what the session wants to send, poll
 * the transport until it can read or the deadline passes, feed what arrived
 * to the session one response at a time, and look at the events that
 * response produced.  Bytes read but not yet fed stay in 'in', so stopping
 * early (an IDLE deadline, a completed command) never loses data.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"
#include "conn.h"
#include "imap-client.h"
#include "imap-util.h"

#define READ_CHUNK 8192

typedef struct Done {
        bool have;
        uint32_t id;
        ImapStatus status;
        ImapDatum *text;                /* imaplib's tagged data: text after the status */
} Done;

struct ImapClient {
        Conn *conn;
        ConnTlsCtx *tls;
        ImapSession *s;
        char *host;
        ImapClientMode mode;
        int timeout_ms;
        Buf in;
        char *welcome;
        bool is_readonly;
        bool tls_active;                /* implicit TLS, or STARTTLS done */
        char errmsg[512];
        void (*wire)(ImapTraceDir dir, const void *buf, size_t n, void *userdata); /* ImapClientOpts */
        void *wire_userdata;

        Done done;                      /* the reply of the command being waited for */
        uint32_t waiting_id;
        bool bye;                       /* an untagged BYE arrived */

        /* imap_client_list_each() */
        ImapClientListFn list_fn;
        void *list_userdata;
        int list_r;

        /* IDLE */
        bool idling;
        uint32_t idle_id;
        usec_t idle_deadline;
        bool idle_ended;                /* the server ended IDLE, or said BYE */
        Done idle_reply;
};

static usec_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

_printf_(2, 3) static void set_errmsg(ImapClient *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
        va_end(ap);
}

/* Set the message, evaluate to r.  A macro, so that callers visibly return r (the static
 * analyzer does not inline variadic functions), with r read before the message is built (it is
 * often -errno). */
#define err(c, r, ...)                         \
        ({                                      \
                int _err_r_ = (r);              \
                set_errmsg((c), __VA_ARGS__);   \
                _err_r_;                        \
        })

bool imap_client_error_is_abort(int r) {
        return IN_SET(r, -ECONNRESET, -EPROTO, -EBADMSG, -EMSGSIZE, -ECONNABORTED, -ESHUTDOWN);
}

void imap_result_done(ImapResult *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n; i++)
                free(r->data[i]);
        free(r->data);
        *r = (ImapResult) {};
}

const char *imap_result_text(const ImapResult *r, size_t i) {
        if (!r || i >= r->n || !r->data[i] || r->data[i]->n_frags == 0)
                return NULL;
        return r->data[i]->frags[0].text;
}

static int result_set(ImapResult *ret, const char *typ, ImapDatum **data, size_t n) {
        imap_result_done(ret);
        (void) snprintf(ret->typ, sizeof(ret->typ), "%s", typ);
        if (n == 0) {
                /* imaplib's [None] */
                ret->data = calloc(1, sizeof(ImapDatum *));
                if (!ret->data)
                        return -ENOMEM;
                ret->n = 1;
                free(data);
                return 0;
        }
        ret->data = data;
        ret->n = n;
        return 0;
}

/* ---- the I/O loop -------------------------------------------------------------------------- */

static int session_failed(ImapClient *c, int r) {
        const char *why = imap_session_error(c->s);
        return err(c, r, "%s", why ? why : strerror(-r));
}

static int write_out(ImapClient *c) {
        const void *buf;
        size_t len;

        for (;;) {
                ssize_t n;

                imap_session_output(c->s, &buf, &len);
                if (len == 0)
                        return 0;
                n = conn_write(c->conn, buf, len);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return err(c, n == -EPIPE ? -ECONNRESET : (int) n, "socket error: %s",
                                   conn_error(c->conn) ? conn_error(c->conn) : strerror((int) -n));
                if (c->wire && n > 0)
                        c->wire(IMAP_TRACE_CLIENT, buf, (size_t) n, c->wire_userdata);
                imap_session_consume_output(c->s, (size_t) n);
        }
}

/* conn_wait_ready() for this client's timeout.  It takes no "forever" (a negative value is
 * -EINVAL), so with no timeout (0, imaplib's None; S-12) it waits in its longest steps, each
 * of which leaves the connection as it was when it passes. */
static int wait_ready(ImapClient *c, int timeout_ms) {
        int r;

        do
                r = conn_wait_ready(c->conn, timeout_ms > 0 ? timeout_ms : INT_MAX);
        while (r == -ETIMEDOUT && timeout_ms == 0);
        return r;
}

static int do_starttls(ImapClient *c) {
        int r;

        /* Bytes that came with the tagged OK were sent in plaintext and may
         * be an attacker's (docs/SECURITY.md B01): refuse, never parse them. */
        if (c->in.len > 0)
                return err(c, -EPROTO, "data after STARTTLS response: possible injection, closing");
        r = conn_start_tls(c->conn, c->host, c->tls);
        if (r < 0)
                return err(c, r, "STARTTLS failed: %s", conn_error(c->conn) ? conn_error(c->conn) : strerror(-r));
        r = wait_ready(c, c->timeout_ms);
        if (r < 0)
                return err(c, r, "TLS handshake failed: %s",
                           conn_error(c->conn) ? conn_error(c->conn) : strerror(-r));
        c->tls_active = true;
        return imap_session_starttls_done(c->s);
}

static int tagged_text(const ImapResponse *resp, ImapDatum **ret) {
        size_t end = resp->raw.len - 2;

        return imap_datum_new_text(imap_status_to_string(resp->status), resp->raw.ptr + resp->data_off,
                                   end - resp->data_off, ret);
}

/* One entry for imap_client_list_each(): hand it on, and take it out of the store again,
 * so a listing of any length holds one entry at a time. */
static int list_entry(ImapClient *c, const ImapResponse *resp) {
        ImapDatum **v = NULL;
        size_t n = 0;
        int r;

        if (c->list_r >= 0) {
                r = c->list_fn(resp, c->list_userdata);
                if (r < 0)
                        c->list_r = r;
        }
        r = imap_session_response_pop(c->s, "LIST", &v, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        return 0;
}

/* Look at the events of the response just fed. */
static int handle_events(ImapClient *c) {
        ImapEvent e;
        int r;

        while (imap_session_next_event(c->s, &e) > 0)
                switch (e.type) {
                case IMAP_EVENT_GREETING:
                        free(c->welcome);
                        c->welcome = strndup(e.resp->raw.ptr, e.resp->raw.len - 2);
                        if (!c->welcome)
                                return -ENOMEM;
                        break;
                case IMAP_EVENT_UNTAGGED:
                        if (c->list_fn && e.resp->name.len == 4 && memcmp(e.resp->name.ptr, "LIST", 4) == 0) {
                                r = list_entry(c, e.resp);
                                if (r < 0)
                                        return r;
                        }
                        if (e.resp->status == IMAP_STATUS_BYE) {
                                c->bye = true;
                                if (c->idling)
                                        c->idle_ended = true;
                        }
                        break;
                case IMAP_EVENT_DONE: {
                        Done *d = c->idling && e.id == c->idle_id ? &c->idle_reply : &c->done;

                        free(d->text);
                        *d = (Done) { .have = true, .id = e.id, .status = e.resp->status };
                        r = tagged_text(e.resp, &d->text);
                        if (r < 0)
                                return r;
                        if (d == &c->idle_reply)
                                c->idle_ended = true;
                        break;
                }
                case IMAP_EVENT_IDLING:
                case _IMAP_EVENT_TYPE_MAX:
                        break;
                case IMAP_EVENT_STARTTLS:
                        r = do_starttls(c);
                        if (r < 0)
                                return r;
                        break;
                }
        return 0;
}

/* Feed buffered bytes until one response is processed (1) or none is complete (0). */
static int process_one(ImapClient *c) {
        while (c->in.len > 0) {
                size_t used = 0;
                int r = imap_session_feed(c->s, c->in.data, c->in.len, now_usec(), &used);

                if (used > 0) {
                        memmove(c->in.data, c->in.data + used, c->in.len - used);
                        c->in.len -= used;
                }
                if (r < 0)
                        return session_failed(c, r);
                if (r > 0) {
                        r = handle_events(c);
                        if (r < 0)
                                return r;
                        return 1;
                }
        }
        return 0;
}

/* Wait for the transport until 'deadline' (USEC_INFINITY: forever) and read
 * what came.  Returns 0 (something happened), -ETIMEDOUT, or an abort. */
static int pump(ImapClient *c, usec_t deadline) {
        struct pollfd pfd;
        const void *buf;
        size_t len;
        int r, timeout = -1;

        r = write_out(c);
        if (r < 0)
                return r;
        /* TLS may hold decrypted bytes poll() cannot see (docs/TRANSPORT.md item 9). */
        if (!conn_has_pending(c->conn)) {
                imap_session_output(c->s, &buf, &len);
                pfd = (struct pollfd) { .fd = conn_fd(c->conn),
                                        .events = (short) (POLLIN | conn_events(c->conn) | (len ? POLLOUT : 0)) };
                if (deadline != USEC_INFINITY) {
                        usec_t now = now_usec();
                        timeout = now >= deadline ? 0 : (int) MIN((deadline - now + 999) / 1000, (usec_t) INT32_MAX);
                }
                r = poll(&pfd, 1, timeout);
                if (r < 0)
                        return r == -1 && errno == EINTR ? 0 : err(c, -errno, "poll: %m");
                if (r == 0)
                        return -ETIMEDOUT;
                if (pfd.revents & POLLOUT) {
                        r = write_out(c);
                        if (r < 0)
                                return r;
                }
                if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
                        return 0;
        }
        for (;;) {
                ssize_t n;

                r = buf_reserve(&c->in, READ_CHUNK, 0);
                if (r < 0)
                        return r;
                n = conn_read(c->conn, c->in.data + c->in.len, READ_CHUNK);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return err(c, -ECONNRESET, "socket error: %s",
                                   conn_error(c->conn) ? conn_error(c->conn) : strerror((int) -n));
                if (n == 0) {
                        /* A reset is end of stream too (docs/ENGINE.md). */
                        while ((r = process_one(c)) > 0)
                                ;
                        if (r < 0)
                                return r;
                        return session_failed(c, imap_session_eof(c->s));
                }
                if (c->wire)
                        c->wire(IMAP_TRACE_SERVER, c->in.data + c->in.len, (size_t) n, c->wire_userdata);
                c->in.len += (size_t) n;
                if (!conn_has_pending(c->conn))
                        return 0;
        }
}

static usec_t op_deadline(const ImapClient *c) {
        return c->timeout_ms > 0 ? now_usec() + (usec_t) c->timeout_ms * USEC_PER_MSEC : USEC_INFINITY;
}

/* Run until the command 'id' has its tagged reply.  An untagged BYE aborts
 * the wait (imaplib _check_bye) unless 'expect_bye' (LOGOUT), in which case
 * it ends it. */
static int wait_done(ImapClient *c, const char *name, uint32_t id, bool expect_bye) {
        usec_t deadline = op_deadline(c);

        c->waiting_id = id;
        for (;;) {
                int r;

                if (c->done.have && c->done.id == id)
                        return 0;
                if (c->bye && !c->idling) {
                        if (expect_bye)
                                return 0;
                        return err(c, -ECONNABORTED, "command: %s => server said BYE", name);
                }
                r = process_one(c);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                r = pump(c, deadline);
                if (r == -ETIMEDOUT)
                        return err(c, r, "command: %s => timed out", name);
                if (r < 0)
                        return r;
        }
}

/* ---- running commands ----------------------------------------------------------------------- */

static int submit(ImapClient *c, ImapCmd *cmd, ImapSasl *sasl, uint32_t *ret_id) {
        int r;

        /* imaplib _command step 3: a READ-ONLY seen outside select() stops everything. */
        if (!c->is_readonly && imap_session_response_has(c->s, "READ-ONLY")) {
                imap_cmd_free(cmd);
                imap_sasl_free(sasl);
                return err(c, -EROFS, "mailbox status changed to READ-ONLY");
        }
        if (sasl) {
                imap_cmd_free(cmd);
                r = imap_session_authenticate(c->s, sasl, now_usec(), ret_id);
        } else
                r = imap_session_submit(c->s, cmd, now_usec(), ret_id);
        if (r < 0)
                return session_failed(c, r);
        return write_out(c);
}

/* The tagged reply of a finished command as imaplib's (typ, [text]). */
static int take_done(ImapClient *c, ImapResult *ret) {
        ImapDatum **v = calloc(1, sizeof(ImapDatum *));

        if (!v)
                return -ENOMEM;
        v[0] = TAKE_PTR(c->done.text);
        c->done.have = false;
        return result_set(ret, imap_status_to_string(c->done.status), v, 1);
}

static int run(ImapClient *c, ImapCmd *cmd, ImapSasl *sasl, const char *untagged, ImapResult *ret) {
        char name[32];
        uint32_t id;
        int r;

        (void) snprintf(name, sizeof(name), "%s", cmd ? imap_cmd_name(cmd) : "AUTHENTICATE");
        if (c->bye && strcmp(name, "LOGOUT") != 0) {
                /* cmd and sasl are ours whatever happens (imap_client_run()): a command
                 * refused after BYE leaked them. */
                imap_cmd_free(cmd);
                imap_sasl_free(sasl);
                return err(c, -ECONNABORTED, "command: %s => server said BYE", name);
        }
        r = submit(c, cmd, sasl, &id);
        if (r < 0)
                return r;
        r = wait_done(c, name, id, strcmp(name, "LOGOUT") == 0);
        if (r < 0)
                return r;
        if (!c->done.have || c->done.id != id)
                return 0; /* LOGOUT ended by BYE */

        if (c->done.status == IMAP_STATUS_BAD) {
                const ImapDatum *t = c->done.text;
                return err(c, -EREMOTEIO, "%s command error: BAD [%.*s]", name, t ? (int) t->frags[0].text_len : 0,
                           t ? t->frags[0].text : "");
        }
        if (untagged && c->done.status != IMAP_STATUS_NO) {
                ImapDatum **v = NULL;
                size_t n = 0;
                ImapStatus st = c->done.status;

                c->done.text = mfree(c->done.text);
                c->done.have = false;
                r = imap_session_response_pop(c->s, untagged, &v, &n);
                if (r < 0)
                        return r;
                return result_set(ret, imap_status_to_string(st), v, n);
        }
        return take_done(c, ret);
}

int imap_client_run(ImapClient *c, ImapCmd *cmd, const char *untagged, ImapResult *ret) {
        assert_return(c && cmd && ret, -EINVAL);
        return run(c, cmd, NULL, untagged, ret);
}

/* Build a command from (type, value) pairs ended by -1; NULL values skipped. */
static int build(ImapClient *c, ImapCmd **ret, const char *name, ...) {
        _cleanup_(imap_cmd_freep) ImapCmd *cmd = NULL;
        va_list ap;
        int type, r = 0;

        r = imap_cmd_new(name, &cmd);
        if (r < 0)
                return err(c, -EINVAL, "invalid command name: %s", name);
        va_start(ap, name);
        while ((type = va_arg(ap, int)) >= 0) {
                const char *v = va_arg(ap, const char *);

                if (!v || r < 0)
                        continue;
                r = imap_cmd_add_str(cmd, (ImapCmdArgType) type, v);
                if (r < 0)
                        (void) err(c, r, "%s", imap_cmd_error(cmd) ? imap_cmd_error(cmd) : "invalid argument");
        }
        va_end(ap);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(cmd);
        return 0;
}
#define END (-1)
#define A_ATOM IMAP_CMD_ARG_ATOM
#define A_ASTR IMAP_CMD_ARG_ASTRING
#define A_LIST IMAP_CMD_ARG_LIST_MAILBOX
#define A_STR IMAP_CMD_ARG_STRING
#define A_FLAGS IMAP_CMD_ARG_FLAGS
#define A_RAW IMAP_CMD_ARG_RAW

#define SIMPLE(c, untagged, ret, name, ...)                                     \
        ({                                                                      \
                ImapCmd *_cmd = NULL;                                           \
                int _r = build((c), &_cmd, (name), __VA_ARGS__);                \
                _r < 0 ? _r : run((c), _cmd, NULL, (untagged), (ret));          \
        })

/* ---- imaplib's methods ---------------------------------------------------------------------- */

int imap_client_append(ImapClient *c, const char *mailbox, const char *flags, const char *date_time,
                       const char *message, size_t len, ImapResult *ret) {
        _cleanup_(imap_cmd_freep) ImapCmd *cmd = NULL;
        Buf msg = BUF_INIT;
        int r;

        r = build(c, &cmd, "APPEND", A_ASTR, mailbox ? mailbox : "INBOX", A_FLAGS, flags && *flags ? flags : NULL,
                  A_RAW, date_time && *date_time ? date_time : NULL, END);
        if (r < 0)
                return r;
        /* imaplib's MapCRLF: bare CR and bare LF become CRLF. */
        r = imap_map_crlf(message, len, &msg);
        if (r >= 0)
                r = imap_cmd_add(cmd, imap_session_utf8(c->s) ? IMAP_CMD_ARG_UTF8_LITERAL : IMAP_CMD_ARG_LITERAL,
                                 msg.data ? msg.data : "", msg.len);
        buf_done(&msg);
        if (r < 0)
                return err(c, r, "cannot build APPEND");
        return run(c, TAKE_PTR(cmd), NULL, NULL, ret);
}

int imap_client_authenticate_sasl(ImapClient *c, ImapSasl *sasl, ImapResult *ret) {
        int r;

        assert_return(c && sasl && ret, -EINVAL);
        r = run(c, NULL, sasl, NULL, ret);
        if (r < 0 && r != -EREMOTEIO)
                return r;
        if (r < 0 || strcmp(ret->typ, "OK") != 0) {
                /* Our mechanism failing (Q8) says more than the server's reply to "*". */
                const char *why = imap_session_sasl_error(c->s);
                const char *text = r < 0 ? NULL : imap_result_text(ret, 0);

                if (why || text)
                        return err(c, -EREMOTEIO, "%s", why ? why : text);
                return r < 0 ? r : err(c, -EREMOTEIO, "authentication failed");
        }
        return 0;
}

int imap_client_authenticate(ImapClient *c, const char *mech, ImapSaslStepFn step, void *userdata,
                             ImapResult *ret) {
        ImapSasl *sasl = NULL;
        int r;

        r = imap_sasl_new_generic(mech, step, userdata, &sasl);
        if (r < 0)
                return err(c, r == -ENOMEM ? r : -EINVAL, "invalid mechanism %s", mech);
        return imap_client_authenticate_sasl(c, sasl, ret);
}

int imap_client_login_cram_md5(ImapClient *c, const char *user, const char *password, ImapResult *ret) {
        ImapSaslCreds creds = { .user = user, .secret = password };
        ImapSasl *sasl = NULL;
        int r;

        r = imap_sasl_new("CRAM-MD5", &creds, &sasl);
        if (r < 0)
                return err(c, r, "CRAM-MD5 authentication is not supported");
        return imap_client_authenticate_sasl(c, sasl, ret);
}

int imap_client_capability(ImapClient *c, ImapResult *ret) {
        return SIMPLE(c, "CAPABILITY", ret, "CAPABILITY", END);
}

int imap_client_check(ImapClient *c, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "CHECK", END);
}

int imap_client_close(ImapClient *c, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "CLOSE", END);
}

int imap_client_copy(ImapClient *c, const char *set, const char *mailbox, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "COPY", A_ATOM, set, A_ASTR, mailbox, END);
}

int imap_client_create(ImapClient *c, const char *mailbox, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "CREATE", A_ASTR, mailbox, END);
}

int imap_client_delete(ImapClient *c, const char *mailbox, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "DELETE", A_ASTR, mailbox, END);
}

int imap_client_deleteacl(ImapClient *c, const char *mailbox, const char *who, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "DELETEACL", A_ASTR, mailbox, A_ASTR, who, END);
}

int imap_client_enable(ImapClient *c, const char *capability, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "ENABLE", A_ATOM, capability, END);
}

int imap_client_expunge(ImapClient *c, ImapResult *ret) {
        return SIMPLE(c, "EXPUNGE", ret, "EXPUNGE", END);
}

int imap_client_fetch(ImapClient *c, const char *set, const char *parts, ImapResult *ret) {
        return SIMPLE(c, "FETCH", ret, "FETCH", A_ATOM, set, A_RAW, parts, END);
}

int imap_client_getacl(ImapClient *c, const char *mailbox, ImapResult *ret) {
        return SIMPLE(c, "ACL", ret, "GETACL", A_ASTR, mailbox, END);
}

int imap_client_getannotation(ImapClient *c, const char *mailbox, const char *entry, const char *attr,
                              ImapResult *ret) {
        return SIMPLE(c, "ANNOTATION", ret, "GETANNOTATION", A_ASTR, mailbox, A_RAW, entry, A_RAW, attr, END);
}

int imap_client_getquota(ImapClient *c, const char *root, ImapResult *ret) {
        return SIMPLE(c, "QUOTA", ret, "GETQUOTA", A_ASTR, root, END);
}

int imap_client_getquotaroot(ImapClient *c, const char *mailbox, ImapResult *ret_quotaroot,
                             ImapResult *ret_quota) {
        int r = SIMPLE(c, "QUOTAROOT", ret_quotaroot, "GETQUOTAROOT", A_ASTR, mailbox, END);
        ImapDatum **v = NULL;
        size_t n = 0;

        if (r < 0)
                return r;
        r = imap_session_response_pop(c->s, "QUOTA", &v, &n);
        if (r < 0)
                return r;
        return result_set(ret_quota, ret_quotaroot->typ, v, n);
}

int imap_client_id(ImapClient *c, const char *params, ImapResult *ret) {
        return SIMPLE(c, "ID", ret, "ID", A_RAW, params ? params : "NIL", END);
}

int imap_client_list(ImapClient *c, const char *directory, const char *pattern, ImapResult *ret) {
        return SIMPLE(c, "LIST", ret, "LIST", A_ASTR, directory ? directory : "", A_LIST, pattern ? pattern : "*",
                      END);
}

int imap_client_list_each(ImapClient *c, const char *directory, const char *pattern, ImapClientListFn fn,
                          void *userdata, ImapResult *ret) {
        int r;

        assert_return(c && fn && ret, -EINVAL);
        c->list_fn = fn;
        c->list_userdata = userdata;
        c->list_r = 0;
        r = SIMPLE(c, NULL, ret, "LIST", A_ASTR, directory ? directory : "", A_LIST, pattern ? pattern : "*", END);
        c->list_fn = NULL;
        c->list_userdata = NULL;
        return r < 0 ? r : c->list_r;
}

int imap_client_login(ImapClient *c, const char *user, const char *password, ImapResult *ret) {
        int r = SIMPLE(c, NULL, ret, "LOGIN", A_ASTR, user, A_STR, password, END);

        if (r < 0)
                return r;
        if (strcmp(ret->typ, "OK") != 0)
                return err(c, -EREMOTEIO, "%s", imap_result_text(ret, 0) ? imap_result_text(ret, 0) : "LOGIN failed");
        return 0;
}

int imap_client_logout(ImapClient *c, ImapResult *ret) {
        ImapDatum **v = NULL;
        size_t n = 0;
        int r;

        /* Once logged out, never again (imaplib's context exit, S-15). */
        if (imap_session_state(c->s) == IMAP_STATE_LOGOUT)
                return err(c, -ESHUTDOWN, "already logged out");
        r = SIMPLE(c, NULL, ret, "LOGOUT", END);
        if (r < 0 && r != -ECONNRESET)
                return r;
        /* imaplib returns ('BYE', [text]) as soon as the BYE is seen. */
        if (imap_session_response_has(c->s, "BYE")) {
                r = imap_session_response_pop(c->s, "BYE", &v, &n);
                if (r < 0)
                        return r;
                return result_set(ret, "BYE", v, n);
        }
        return r < 0 ? r : 0;
}

int imap_client_lsub(ImapClient *c, const char *directory, const char *pattern, ImapResult *ret) {
        return SIMPLE(c, "LSUB", ret, "LSUB", A_ASTR, directory ? directory : "", A_LIST, pattern ? pattern : "*",
                      END);
}

int imap_client_move(ImapClient *c, const char *set, const char *mailbox, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "MOVE", A_ATOM, set, A_ASTR, mailbox, END);
}

int imap_client_myrights(ImapClient *c, const char *mailbox, ImapResult *ret) {
        return SIMPLE(c, "MYRIGHTS", ret, "MYRIGHTS", A_ASTR, mailbox, END);
}

int imap_client_namespace(ImapClient *c, ImapResult *ret) {
        return SIMPLE(c, "NAMESPACE", ret, "NAMESPACE", END);
}

int imap_client_noop(ImapClient *c, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "NOOP", END);
}

int imap_client_partial(ImapClient *c, const char *num, const char *part, const char *start,
                        const char *length, ImapResult *ret) {
        return SIMPLE(c, "FETCH", ret, "PARTIAL", A_ATOM, num, A_RAW, part, A_ATOM, start, A_ATOM, length, END);
}

int imap_client_proxyauth(ImapClient *c, const char *user, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "PROXYAUTH", A_ASTR, user, END);
}

int imap_client_recent(ImapClient *c, ImapResult *ret) {
        ImapDatum **v = NULL;
        size_t n = 0;
        int r;

        /* imaplib: stored RECENT first; otherwise a NOOP, then whatever came. */
        if (!imap_session_response_has(c->s, "RECENT")) {
                r = imap_client_noop(c, ret);
                if (r < 0)
                        return r;
        }
        r = imap_session_response_pop(c->s, "RECENT", &v, &n);
        if (r < 0)
                return r;
        return result_set(ret, "OK", v, n);
}

int imap_client_rename(ImapClient *c, const char *oldname, const char *newname, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "RENAME", A_ASTR, oldname, A_ASTR, newname, END);
}

int imap_client_response(ImapClient *c, const char *code, ImapResult *ret) {
        ImapDatum **v = NULL;
        size_t n = 0;
        char up[32];
        int r;

        (void) snprintf(up, sizeof(up), "%s", code);
        for (char *p = up; *p; p++)
                if (*p >= 'a' && *p <= 'z')
                        *p = (char) (*p - 'a' + 'A');
        r = imap_session_response_pop(c->s, up, &v, &n);
        if (r < 0)
                return r;
        return result_set(ret, up, v, n);
}

int imap_client_search(ImapClient *c, const char *charset, const char *criteria, ImapResult *ret) {
        if (charset && imap_session_utf8(c->s))
                return err(c, -EINVAL, "Non-None charset not valid in UTF8 mode");
        return SIMPLE(c, "SEARCH", ret, "SEARCH", A_ATOM, charset ? "CHARSET" : NULL, A_ASTR, charset, A_RAW,
                      criteria, END);
}

int imap_client_select(ImapClient *c, const char *mailbox, bool readonly, ImapResult *ret) {
        ImapDatum **v = NULL;
        size_t n = 0;
        const char *mb = mailbox ? mailbox : "INBOX";
        int r;

        /* imaplib: forget every stored response, then SELECT or EXAMINE. */
        imap_session_response_clear(c->s);
        c->is_readonly = readonly;
        r = SIMPLE(c, NULL, ret, readonly ? "EXAMINE" : "SELECT", A_ASTR, mb, END);
        if (r < 0 || strcmp(ret->typ, "OK") != 0)
                return r;
        if (imap_session_response_has(c->s, "READ-ONLY") && !readonly)
                return err(c, -EROFS, "%s is not writable", mb);
        r = imap_session_response_peek(c->s, "EXISTS", &v, &n);
        if (r < 0)
                return r;
        return result_set(ret, "OK", v, n);
}

int imap_client_setacl(ImapClient *c, const char *mailbox, const char *who, const char *what, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "SETACL", A_ASTR, mailbox, A_ASTR, who, A_ASTR, what, END);
}

int imap_client_setannotation(ImapClient *c, const char *args, ImapResult *ret) {
        return SIMPLE(c, "ANNOTATION", ret, "SETANNOTATION", A_RAW, args, END);
}

int imap_client_setquota(ImapClient *c, const char *root, const char *limits, ImapResult *ret) {
        return SIMPLE(c, "QUOTA", ret, "SETQUOTA", A_ASTR, root, A_FLAGS, limits, END);
}

int imap_client_sort(ImapClient *c, const char *criteria, const char *charset, const char *search,
                     ImapResult *ret) {
        return SIMPLE(c, "SORT", ret, "SORT", A_FLAGS, criteria, A_ASTR, charset, A_RAW, search, END);
}

int imap_client_starttls(ImapClient *c, ImapResult *ret) {
        if (c->tls_active)
                return err(c, -EPROTO, "TLS session already established");
        if (c->mode == IMAP_CLIENT_TUNNEL)
                return err(c, -EPROTO, "TLS not supported by server");
        if (!imap_session_has_capability(c->s, "STARTTLS"))
                return err(c, -EPROTO, "TLS not supported by server");
        return SIMPLE(c, NULL, ret, "STARTTLS", END);
}

int imap_client_status(ImapClient *c, const char *mailbox, const char *names, ImapResult *ret) {
        return SIMPLE(c, "STATUS", ret, "STATUS", A_ASTR, mailbox, A_FLAGS, names, END);
}

int imap_client_store(ImapClient *c, const char *set, const char *command, const char *flags, ImapResult *ret) {
        return SIMPLE(c, "FETCH", ret, "STORE", A_ATOM, set, A_ATOM, command, A_FLAGS, flags, END);
}

int imap_client_subscribe(ImapClient *c, const char *mailbox, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "SUBSCRIBE", A_ASTR, mailbox, END);
}

int imap_client_thread(ImapClient *c, const char *algorithm, const char *charset, const char *search,
                       ImapResult *ret) {
        return SIMPLE(c, "THREAD", ret, "THREAD", A_ATOM, algorithm, A_ASTR, charset, A_RAW, search, END);
}

int imap_client_uid(ImapClient *c, const char *command, const char *args, ImapResult *ret) {
        static const char *const with_own[] = { "SEARCH", "SORT", "THREAD" };
        const char *untagged = "FETCH";

        for (size_t i = 0; i < ELEMENTSOF(with_own); i++)
                if (strcasecmp(command, with_own[i]) == 0)
                        untagged = with_own[i];
        return SIMPLE(c, untagged, ret, "UID", A_ATOM, command, A_RAW, args, END);
}

int imap_client_unselect(ImapClient *c, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "UNSELECT", END);
}

int imap_client_unsubscribe(ImapClient *c, const char *mailbox, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, "UNSUBSCRIBE", A_ASTR, mailbox, END);
}

int imap_client_xatom(ImapClient *c, const char *name, const char *args, ImapResult *ret) {
        return SIMPLE(c, NULL, ret, name, A_RAW, args, END);
}

/* ---- IDLE ------------------------------------------------------------------------------------ */

int imap_client_idle_begin(ImapClient *c, long duration_ms) {
        usec_t deadline = op_deadline(c);
        ImapCmd *cmd = NULL;
        uint32_t id;
        int r;

        if (c->idling)
                return err(c, -EBUSY, "already idling");
        r = build(c, &cmd, "IDLE", END);
        if (r < 0)
                return r;
        r = submit(c, cmd, NULL, &id);
        if (r < 0)
                return r;
        c->idling = true;
        c->idle_id = id;
        c->idle_ended = false;
        c->idle_reply = (Done) {};
        /* Until "+" (or a refusal) arrives. */
        while (imap_session_state(c->s) != IMAP_STATE_IDLING) {
                if (c->idle_reply.have) {
                        ImapStatus st = c->idle_reply.status;
                        const ImapDatum *t = c->idle_reply.text;
                        char text[256];

                        (void) snprintf(text, sizeof(text), "%.*s", t ? (int) t->frags[0].text_len : 0,
                                        t ? t->frags[0].text : "");
                        c->idling = false;
                        c->idle_reply.text = mfree(c->idle_reply.text);
                        /* S-40: a NO is an ordinary error; OK or BAD before "+"
                         * make no sense and end the connection. */
                        if (st == IMAP_STATUS_NO)
                                return err(c, -EREMOTEIO, "idle denied: %s", text);
                        return err(c, -EPROTO, "unexpected status response: %s %s", imap_status_to_string(st),
                                   text);
                }
                r = process_one(c);
                if (r < 0) {
                        c->idling = false;
                        return r;
                }
                if (r > 0)
                        continue;
                r = pump(c, deadline);
                if (r < 0) {
                        c->idling = false;
                        return r == -ETIMEDOUT ? err(c, r, "command: IDLE => timed out") : r;
                }
        }
        /* The clock starts once the server accepted (docs/ENGINE.md, IDLE). */
        c->idle_deadline = duration_ms < 0 ? USEC_INFINITY : now_usec() + (usec_t) duration_ms * USEC_PER_MSEC;
        return 0;
}

/* Next response with 'deadline' only for its start: a response that began
 * arriving before it is kept for later, never cut. */
static int idle_pop(ImapClient *c, usec_t deadline, ImapDatum **ret) {
        int r;

        if (!c->idling)
                return err(c, -EINVAL, "not idling");
        for (;;) {
                r = imap_session_idle_pop(c->s, ret);
                if (r > 0)
                        return 1;
                if (c->idle_ended)
                        return 0;
                r = process_one(c);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (deadline != USEC_INFINITY && now_usec() >= deadline)
                        return 0;
                r = pump(c, deadline);
                if (r == -ETIMEDOUT)
                        return 0;
                if (r < 0)
                        return r;
        }
}

int imap_client_idle_next(ImapClient *c, ImapDatum **ret) {
        return idle_pop(c, c->idle_deadline, ret);
}

int imap_client_idle_burst(ImapClient *c, long interval_ms, ImapDatum ***ret, size_t *ret_n) {
        ImapDatum **v = NULL, *d = NULL;
        size_t n = 0;
        int r;

        *ret = NULL;
        *ret_n = 0;
        /* The first item honours the IDLE deadline; each later one must start
         * within interval_ms of the previous (Q6: the deadline is not consulted
         * again, as in imaplib). */
        r = idle_pop(c, c->idle_deadline, &d);
        while (r > 0) {
                ImapDatum **nv = reallocarray(v, n + 1, sizeof(ImapDatum *));

                if (!nv) {
                        free(d);
                        r = -ENOMEM;
                        break;
                }
                v = nv;
                v[n++] = d;
                r = idle_pop(c, now_usec() + (usec_t) interval_ms * USEC_PER_MSEC, &d);
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(v[i]);
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int imap_client_idle_end(ImapClient *c, ImapResult *ret) {
        ImapDatum **v;
        int r;

        if (!c->idling)
                return err(c, -EINVAL, "not idling");
        /* After BYE the server is gone: no DONE handshake. */
        if (c->bye) {
                (void) imap_session_idle_done(c->s, now_usec());
                c->idling = false;
                return err(c, -ECONNABORTED, "command: IDLE => server said BYE");
        }
        r = imap_session_idle_done(c->s, now_usec());
        if (r < 0 && r != -ENOENT) {
                c->idling = false;
                return session_failed(c, r);
        }
        if (!c->idle_reply.have) {
                usec_t deadline = op_deadline(c);

                r = write_out(c);
                while (r >= 0 && !c->idle_reply.have) {
                        r = process_one(c);
                        if (r == 0)
                                r = pump(c, deadline);
                }
                if (r < 0) {
                        c->idling = false;
                        return r == -ETIMEDOUT ? err(c, r, "command: IDLE => timed out") : r;
                }
        }
        c->idling = false;
        if (c->idle_reply.status == IMAP_STATUS_BAD) {
                const ImapDatum *t = c->idle_reply.text;
                r = err(c, -EREMOTEIO, "IDLE command error: BAD [%.*s]", t ? (int) t->frags[0].text_len : 0,
                        t ? t->frags[0].text : "");
                c->idle_reply.text = mfree(c->idle_reply.text);
                return r;
        }
        v = calloc(1, sizeof(ImapDatum *));
        if (!v)
                return -ENOMEM;
        v[0] = TAKE_PTR(c->idle_reply.text);
        return result_set(ret, imap_status_to_string(c->idle_reply.status), v, 1);
}

/* ---- connecting ------------------------------------------------------------------------------ */

static int open_transport(ImapClient *c, const ImapClientOpts *o) {
        const char *port = o->port ? o->port : o->mode == IMAP_CLIENT_TLS ? "993" : "143";
        ConnTlsParams tp = { .ca_file = o->ca_file, .cert_file = o->cert_file, .key_file = o->key_file };
        int r;

        if (o->mode == IMAP_CLIENT_TUNNEL) {
                if (!o->tunnel_argv || !o->tunnel_argv[0])
                        return err(c, -EINVAL, "tunnel needs a command");
                r = conn_tunnel_new(o->tunnel_argv, &c->conn);
        } else {
                if (!o->host)
                        return err(c, -EINVAL, "no host");
                if (o->mode != IMAP_CLIENT_PLAIN) {
                        char *msg = NULL;

                        r = conn_tls_ctx_new_full(&tp, &c->tls, &msg);
                        if (r < 0) {
                                r = err(c, r, "TLS setup failed: %s", msg ? msg : strerror(-r));
                                free(msg);
                                return r;
                        }
                }
                if (o->mode == IMAP_CLIENT_TLS)
                        r = conn_tls_new(o->host, port, c->tls, &c->conn);
                else
                        r = conn_tcp_new(o->host, port, &c->conn);
        }
        if (r < 0)
                return err(c, r, "connect failed: %s", strerror(-r));
        r = wait_ready(c, o->timeout_ms);
        if (r < 0)
                return err(c, r, "%s", conn_error(c->conn) ? conn_error(c->conn) : strerror(-r));
        return 0;
}

static int get_capabilities(ImapClient *c) {
        ImapResult res = {};
        int r;

        r = imap_client_capability(c, &res);
        if (r >= 0 && (res.n == 0 || !res.data[0]))
                r = err(c, -EPROTO, "no CAPABILITY response from server");
        imap_result_done(&res);
        if (r < 0)
                return r;
        /* imaplib accepts IMAP4REV1 and IMAP4; RFC 9051 servers say IMAP4rev2. */
        if (!imap_session_has_capability(c->s, "IMAP4REV1") && !imap_session_has_capability(c->s, "IMAP4") &&
            !imap_session_has_capability(c->s, "IMAP4REV2"))
                return err(c, -EPROTO, "server not IMAP4 compliant");
        return 0;
}

int imap_client_connect(const ImapClientOpts *o, ImapClient **ret, char **reterr_msg) {
        _cleanup_(imap_client_freep) ImapClient *c = NULL;
        ImapSessionParams sp = {
                .limits = o->limits,
                .keep_untagged = true,
                .now = now_usec(),
                .soft_list = o->soft_list,
        };
        char prefix[IMAP_TAG_PREFIX_RANDOM_LEN + 1];
        uint64_t rnd = 0;
        int r;

        assert_return(o && ret, -EINVAL);
        assert_return((unsigned) o->mode < _IMAP_CLIENT_MODE_MAX, -EINVAL);
        *ret = NULL;
        if (o->timeout_ms < 0) {
                if (reterr_msg)
                        *reterr_msg = strdup("negative timeout");
                return -EINVAL;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->mode = o->mode;
        c->tls_active = o->mode == IMAP_CLIENT_TLS;
        c->timeout_ms = o->timeout_ms;
        c->idle_deadline = USEC_INFINITY;
        c->wire = o->wire;
        c->wire_userdata = o->wire_userdata;
        if (o->host) {
                c->host = strdup(o->host);
                if (!c->host)
                        return -ENOMEM;
        }
        /* imaplib takes Int2AP of a random number: four letters A-P, from the clock here until
         * now, which a server could guess.  Tags nobody can predict (catalogue case A05). */
        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                rnd = sp.now * 2654435761u ^ (uint64_t) (uintptr_t) c;
        sp.tag_prefix = imap_tag_prefix_random(rnd, prefix);
        r = imap_session_new(&sp, &c->s);
        if (r < 0)
                return r;

        r = open_transport(c, o);
        if (r >= 0) {
                usec_t deadline = op_deadline(c);

                /* The greeting. */
                while (r >= 0 && !c->welcome) {
                        r = process_one(c);
                        if (r == 0)
                                r = pump(c, deadline);
                }
                if (r == -ETIMEDOUT)
                        r = err(c, r, "timed out waiting for the greeting");
        }
        if (r >= 0)
                r = get_capabilities(c);
        if (r >= 0 && o->mode == IMAP_CLIENT_STARTTLS) {
                ImapResult res = {};

                /* Configured STARTTLS is never optional (docs/SECURITY.md INV-1). */
                r = imap_client_starttls(c, &res);
                if (r >= 0 && strcmp(res.typ, "OK") != 0)
                        r = err(c, -EPROTO, "Couldn't establish TLS session");
                imap_result_done(&res);
                if (r >= 0)
                        r = get_capabilities(c);
        }
        if (r < 0) {
                if (reterr_msg)
                        *reterr_msg = strdup(c->errmsg[0] ? c->errmsg : strerror(-r));
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

ImapClient *imap_client_free(ImapClient *c) {
        if (!c)
                return NULL;
        conn_free(c->conn);
        conn_tls_ctx_free(c->tls);
        imap_session_free(c->s);
        buf_done_secure(&c->in);
        free(c->done.text);
        free(c->idle_reply.text);
        free(c->welcome);
        free(c->host);
        free(c);
        return NULL;
}

const char *imap_client_errmsg(const ImapClient *c) {
        return c && c->errmsg[0] ? c->errmsg : NULL;
}

ImapState imap_client_state(const ImapClient *c) {
        return imap_session_state(c->s);
}

bool imap_client_has_capability(const ImapClient *c, const char *cap) {
        return imap_session_has_capability(c->s, cap);
}

bool imap_client_utf8(const ImapClient *c) {
        return imap_session_utf8(c->s);
}

bool imap_client_readonly(const ImapClient *c) {
        return c->is_readonly;
}

const char *imap_client_welcome(const ImapClient *c) {
        return c->welcome;
}

ImapSession *imap_client_session(ImapClient *c) {
        return c->s;
}

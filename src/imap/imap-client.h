/* SPDX-License-Identifier: MIT */
/*
 * imap-client.h: a small blocking IMAP client in the shape of Python's
 * imaplib, built from the sans-I/O session (imap-session.h) and the transport
 * (conn.h).  For tools and tests; the daemon drives sessions itself from its
 * event loop and never calls this.
 *
 * Every call blocks until it is done, the per-operation timeout passes, or
 * the connection fails.  Results have imaplib's shape (docs/ENGINE.md): a
 * type ("OK", "NO", "BYE", or a response name for imap_client_response()) and
 * a list of data items, each an ImapDatum (NULL for imaplib's None).
 *
 * Errors follow imaplib's three exception classes, told apart by errno:
 *   abort    — the connection is unusable: -ECONNRESET (EOF), -EPROTO
 *              (protocol violation, TLS failure), -EBADMSG/-EMSGSIZE
 *              (malformed or oversized response), -ECONNABORTED (BYE);
 *   readonly — -EROFS (the mailbox became read-only);
 *   error    — anything else: -EPERM (wrong state), -EOPNOTSUPP (capability
 *              missing), -EINVAL (bad argument), -EREMOTEIO (the server said
 *              BAD, or NO where imaplib raises);
 *   -ETIMEDOUT is imaplib's TimeoutError (not an abort).
 * imap_client_errmsg() then gives imaplib's message ("command SELECT illegal
 * in state NONAUTH, only allowed in states AUTH, SELECTED", "NOOP command
 * error: BAD [nope]").  Where imapidled differs from imaplib, docs/ENGINE.md
 * says so.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "imap-limits.h"
#include "imap-sasl.h"
#include "imap-session.h"
#include "imap-trace.h"
#include "macro.h"

typedef struct ImapClient ImapClient;

typedef enum ImapClientMode {
        IMAP_CLIENT_PLAIN,              /* TCP, no TLS: tests and tunnels over SSH only */
        IMAP_CLIENT_TLS,                /* implicit TLS (port 993) */
        IMAP_CLIENT_STARTTLS,           /* TCP, then STARTTLS before anything else; never optional */
        IMAP_CLIENT_TUNNEL,             /* a command speaking IMAP on stdin/stdout */
        _IMAP_CLIENT_MODE_MAX,
} ImapClientMode;

typedef struct ImapClientOpts {
        ImapClientMode mode;
        const char *host;               /* also the name the certificate must carry */
        const char *port;               /* NULL: 993 for TLS, 143 otherwise */
        char *const *tunnel_argv;       /* IMAP_CLIENT_TUNNEL */
        const char *ca_file;            /* NULL: system trust store */
        const char *cert_file, *key_file; /* optional client certificate */
        int timeout_ms;                 /* per blocking wait; 0: none (imaplib's timeout=None) */
        ImapLimits limits;              /* zero fields: defaults */
        bool soft_list;                 /* a malformed LIST entry is handed on, not fatal
                                         * (imap_parser_set_soft_list()) */
        /* Optional: every byte of IMAP as it went over the wire, each direction in its order (TLS
         * already undone), for a trace (imap-trace.h); nothing of TLS's own handshake. */
        void (*wire)(ImapTraceDir dir, const void *buf, size_t n, void *userdata);
        void *wire_userdata;
} ImapClientOpts;

typedef struct ImapResult {
        char typ[32];
        ImapDatum **data;               /* n items; an item may be NULL (None) */
        size_t n;
} ImapResult;

void imap_result_done(ImapResult *r);
/* The first fragment's text of item i as a NUL-terminated string, or NULL. */
const char *imap_result_text(const ImapResult *r, size_t i);

/* Connect, read the greeting, do STARTTLS when asked, ask CAPABILITY, and
 * check the protocol (IMAP4rev1, IMAP4 or IMAP4rev2).  On failure *ret is
 * NULL and, when reterr_msg is given, it receives a malloc'ed reason. */
int imap_client_connect(const ImapClientOpts *o, ImapClient **ret, char **reterr_msg);
/* Close without LOGOUT. */
ImapClient *imap_client_free(ImapClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImapClient *, imap_client_free);

const char *imap_client_errmsg(const ImapClient *c);
bool imap_client_error_is_abort(int r);
ImapState imap_client_state(const ImapClient *c);
bool imap_client_has_capability(const ImapClient *c, const char *cap);
bool imap_client_utf8(const ImapClient *c);
bool imap_client_readonly(const ImapClient *c);
const char *imap_client_welcome(const ImapClient *c);
ImapSession *imap_client_session(ImapClient *c);

/* A command built by the caller: run it and return the tagged reply (imaplib
 * _simple_command); when 'untagged' is set, the data stored under that name
 * instead (imaplib _untagged_response). Takes ownership of cmd. */
int imap_client_run(ImapClient *c, ImapCmd *cmd, const char *untagged, ImapResult *ret);

/* imaplib's methods.  String arguments are quoted as needed; "raw" ones
 * (criteria, items, flag lists) are sent as given. */
int imap_client_append(ImapClient *c, const char *mailbox, const char *flags, const char *date_time,
                       const char *message, size_t len, ImapResult *ret);
int imap_client_authenticate(ImapClient *c, const char *mech, ImapSaslStepFn step, void *userdata,
                             ImapResult *ret);
int imap_client_authenticate_sasl(ImapClient *c, ImapSasl *sasl, ImapResult *ret); /* takes sasl */
int imap_client_capability(ImapClient *c, ImapResult *ret);
int imap_client_check(ImapClient *c, ImapResult *ret);
int imap_client_close(ImapClient *c, ImapResult *ret);
int imap_client_copy(ImapClient *c, const char *set, const char *mailbox, ImapResult *ret);
int imap_client_create(ImapClient *c, const char *mailbox, ImapResult *ret);
int imap_client_delete(ImapClient *c, const char *mailbox, ImapResult *ret);
int imap_client_deleteacl(ImapClient *c, const char *mailbox, const char *who, ImapResult *ret);
int imap_client_enable(ImapClient *c, const char *capability, ImapResult *ret);
int imap_client_expunge(ImapClient *c, ImapResult *ret);
int imap_client_fetch(ImapClient *c, const char *set, const char *parts, ImapResult *ret);
int imap_client_getacl(ImapClient *c, const char *mailbox, ImapResult *ret);
int imap_client_getannotation(ImapClient *c, const char *mailbox, const char *entry, const char *attr,
                              ImapResult *ret);
int imap_client_getquota(ImapClient *c, const char *root, ImapResult *ret);
int imap_client_getquotaroot(ImapClient *c, const char *mailbox, ImapResult *ret_quotaroot,
                             ImapResult *ret_quota);
int imap_client_id(ImapClient *c, const char *params, ImapResult *ret);
int imap_client_list(ImapClient *c, const char *directory, const char *pattern, ImapResult *ret);
/* LIST with every entry handed to fn as it arrives, none stored: the store keeps at most
 * 1 MiB and drops the oldest (imap-session.h), so imap_client_list() silently loses the
 * head of a long listing; this one costs the memory of one entry however many there are
 * (docs/SECURITY.md I08).  fn gets untagged LIST responses: IMAP_DATA_LIST, or with
 * opts.soft_list IMAP_DATA_OTHER with r->invalid set for an entry that broke the grammar.
 * A negative return from fn is remembered, fn is not called again, the command still runs
 * to its tagged reply (so the connection stays usable) and then that error is returned.
 * *ret is the tagged reply, as for a command without untagged data ("OK"/"NO", [text]). */
typedef int (*ImapClientListFn)(const ImapResponse *r, void *userdata);
int imap_client_list_each(ImapClient *c, const char *directory, const char *pattern, ImapClientListFn fn,
                          void *userdata, ImapResult *ret);
int imap_client_login(ImapClient *c, const char *user, const char *password, ImapResult *ret);
int imap_client_login_cram_md5(ImapClient *c, const char *user, const char *password, ImapResult *ret);
int imap_client_logout(ImapClient *c, ImapResult *ret);
int imap_client_lsub(ImapClient *c, const char *directory, const char *pattern, ImapResult *ret);
int imap_client_move(ImapClient *c, const char *set, const char *mailbox, ImapResult *ret);
int imap_client_myrights(ImapClient *c, const char *mailbox, ImapResult *ret);
int imap_client_namespace(ImapClient *c, ImapResult *ret);
int imap_client_noop(ImapClient *c, ImapResult *ret);
int imap_client_partial(ImapClient *c, const char *num, const char *part, const char *start,
                        const char *length, ImapResult *ret);
int imap_client_proxyauth(ImapClient *c, const char *user, ImapResult *ret);
int imap_client_recent(ImapClient *c, ImapResult *ret);
int imap_client_rename(ImapClient *c, const char *oldname, const char *newname, ImapResult *ret);
int imap_client_response(ImapClient *c, const char *code, ImapResult *ret);
int imap_client_search(ImapClient *c, const char *charset, const char *criteria, ImapResult *ret);
int imap_client_select(ImapClient *c, const char *mailbox, bool readonly, ImapResult *ret);
int imap_client_setacl(ImapClient *c, const char *mailbox, const char *who, const char *what, ImapResult *ret);
int imap_client_setannotation(ImapClient *c, const char *args, ImapResult *ret);
int imap_client_setquota(ImapClient *c, const char *root, const char *limits, ImapResult *ret);
int imap_client_sort(ImapClient *c, const char *criteria, const char *charset, const char *search,
                     ImapResult *ret);
int imap_client_starttls(ImapClient *c, ImapResult *ret);
int imap_client_status(ImapClient *c, const char *mailbox, const char *names, ImapResult *ret);
int imap_client_store(ImapClient *c, const char *set, const char *command, const char *flags, ImapResult *ret);
int imap_client_subscribe(ImapClient *c, const char *mailbox, ImapResult *ret);
int imap_client_thread(ImapClient *c, const char *algorithm, const char *charset, const char *search,
                       ImapResult *ret);
/* UID COPY/FETCH/SEARCH/STORE/MOVE/EXPUNGE/SORT/THREAD; args raw, space-separated. */
int imap_client_uid(ImapClient *c, const char *command, const char *args, ImapResult *ret);
int imap_client_unselect(ImapClient *c, ImapResult *ret);
int imap_client_unsubscribe(ImapClient *c, const char *mailbox, ImapResult *ret);
int imap_client_xatom(ImapClient *c, const char *name, const char *args, ImapResult *ret);

/* IDLE (docs/ENGINE.md).  begin sends IDLE and returns once the server
 * accepted it ("+"); duration_ms < 0 means no limit.  A refusal is an ordinary
 * error (-EREMOTEIO, "idle denied: ..."), not an abort, and the connection
 * stays usable.  next: 1 and *ret (the caller's, free()) for the next
 * response — responses already received come first, even after the deadline
 * — or 0 when the deadline passed, the server ended IDLE or sent BYE.  A
 * partial response at the deadline is kept, never lost (S-43).  burst:
 * responses no more than interval_ms apart, the first within the deadline.
 * end: always call it; sends DONE (unless the server already ended IDLE) and
 * reads the tagged reply; BAD is an error, NO is accepted. */
int imap_client_idle_begin(ImapClient *c, long duration_ms);
int imap_client_idle_next(ImapClient *c, ImapDatum **ret);
int imap_client_idle_burst(ImapClient *c, long interval_ms, ImapDatum ***ret, size_t *ret_n);
int imap_client_idle_end(ImapClient *c, ImapResult *ret);

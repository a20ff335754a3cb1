/* SPDX-License-Identifier: MIT */
/*
 * imap-session.h: one IMAP connection's protocol state machine, sans-I/O.
 *
 * The caller moves bytes: what the server sent goes in with
 * imap_session_feed(), what the session wants to send comes out of
 * imap_session_output().  What happened is pulled with
 * imap_session_next_event(); the session never calls back.  It reads no
 * clock: time comes in as an argument and the next deadline goes out.  It
 * opens nothing and logs nothing; after a fatal error imap_session_error()
 * says why, in words safe to log (no credentials).
 *
 * What it does (docs/ENGINE.md):
 *   - the greeting (OK -> NONAUTH, PREAUTH -> AUTH, anything else fatal);
 *   - the command table of imaplib (43 commands, plus ID and MOVE) with the
 *     allowed states checked before anything is sent, and UID sub-commands;
 *   - tags "<prefix><n>", pipelining, synchronising literals (wait for "+"),
 *     LITERAL+/LITERAL- when advertised (RFC 7888);
 *   - AUTHENTICATE driven by an ImapSasl, with SASL-IR (RFC 4959) when advertised;
 *   - IDLE (RFC 2177): IDLE, "+", untagged responses, DONE, tagged reply;
 *   - STARTTLS: after the tagged OK nothing more may be fed until the caller
 *     has switched the transport to TLS (bytes after the OK are an injection
 *     attempt, docs/SECURITY.md B01), then capabilities and stored responses from
 *     the plaintext phase are forgotten (RFC 3501 §6.2.1);
 *   - capabilities from the greeting code, CAPABILITY responses and the
 *     CAPABILITY code of a tagged OK (after LOGIN/AUTHENTICATE);
 *   - optionally, imaplib's store of untagged responses per type
 *     (response()), and the IDLE queue of responses captured while idling.
 *
 * Ownership: a response or event returned stays valid until the next
 * imap_session_feed(), reset or free; stored data popped from the session
 * belongs to the caller (free each ImapDatum with free()).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap-cmd.h"
#include "imap-limits.h"
#include "imap-parser.h"
#include "imap-sasl.h"
#include "macro.h"
#include "time-util.h"

typedef struct ImapSession ImapSession;

typedef enum ImapState {
        IMAP_STATE_LOGOUT,      /* before the greeting, and after LOGOUT */
        IMAP_STATE_NONAUTH,
        IMAP_STATE_AUTH,
        IMAP_STATE_SELECTED,
        IMAP_STATE_IDLING,      /* imaplib's pseudo-state: IDLE accepted, DONE not sent */
        _IMAP_STATE_MAX,
} ImapState;

typedef struct ImapSessionParams {
        ImapLimits limits;              /* zero fields: defaults */
        const char *tag_prefix;         /* 1..8 letters A-Z; NULL: "A"; imap_tag_prefix_random() */
        bool keep_untagged;             /* keep imaplib's response store and IDLE queue */
        size_t max_stored;              /* byte cap of that store; 0: 1 MiB; oldest dropped first */
        usec_t cmd_timeout;             /* no response to a command for this long: -ETIMEDOUT; 0: none */
        usec_t greeting_timeout;        /* from imap_session_new(): 0 none */
        usec_t now;                     /* the time at creation */
        bool soft_list;                 /* a malformed LIST/LSUB is handed on untyped, not fatal
                                         * (imap_parser_set_soft_list()); tools only */
} ImapSessionParams;

/* One stored untagged response in imaplib's shape: its type, then fragments,
 * each some text optionally followed by a literal; the last has no literal.
 * "* 1 FETCH (BODY[1] {3}\r\nabc)" is type "FETCH", ("1 (BODY[1] {3}", "abc"), (")").
 * One allocation: free() it. */
typedef struct ImapFrag {
        const char *text;
        size_t text_len;
        const char *literal;            /* NULL: no literal */
        size_t literal_len;
} ImapFrag;

typedef struct ImapDatum {
        const char *type;
        size_t bytes;                   /* memory it holds, for the cap */
        size_t n_frags;
        ImapFrag frags[];
} ImapDatum;

typedef enum ImapEventType {
        IMAP_EVENT_GREETING,            /* resp: the greeting (OK or PREAUTH) */
        IMAP_EVENT_UNTAGGED,            /* resp: any untagged response after the greeting */
        IMAP_EVENT_DONE,                /* resp: the tagged reply of command 'id' */
        IMAP_EVENT_IDLING,              /* the "+" for IDLE 'id' arrived: the server is idling */
        IMAP_EVENT_STARTTLS,            /* tagged OK to STARTTLS: switch to TLS, then imap_session_starttls_done() */
        _IMAP_EVENT_TYPE_MAX,
} ImapEventType;

typedef struct ImapEvent {
        ImapEventType type;
        const ImapResponse *resp;       /* valid until the next feed */
        uint32_t id;                    /* command id (its tag number) */
        char cmd[32];                   /* command name, for DONE and IDLING ("" otherwise) */
} ImapEvent;

/* Tags are "<prefix><n>" with n counting from 0, so with a fixed prefix the server, or anyone
 * who can inject into a plaintext stream, knows the next tag before it is sent (catalogue
 * case A05).  A connection's prefix should be unpredictable: this makes one of
 * IMAP_TAG_PREFIX_RANDOM_LEN letters A-Z from random bits the caller supplies (the engine
 * reads no randomness, as it reads no clock; the daemon and the client take getrandom()'s).
 * 6 letters: 26^6, about 2^28 prefixes.  Returns ret. */
#define IMAP_TAG_PREFIX_RANDOM_LEN 6
char *imap_tag_prefix_random(uint64_t random_bits, char ret[static IMAP_TAG_PREFIX_RANDOM_LEN + 1]);

int imap_session_new(const ImapSessionParams *p, ImapSession **ret);
ImapSession *imap_session_free(ImapSession *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImapSession *, imap_session_free);

/* Feed bytes from the server; at most one response is processed per call so
 * that the response an event points to stays valid until the next call.
 * Returns 1 when a response was processed (pull its events), 0 when all n
 * bytes were taken and more are needed, or a fatal error: -EBADMSG / -EMSGSIZE
 * (parser), -EPROTO (protocol violation: unknown tag, unexpected "+", a reply or
 * "+" to a command not yet taken from the output, bytes after STARTTLS, bad
 * greeting), -ENOMEM.  After an error the session is dead. */
int imap_session_feed(ImapSession *s, const void *buf, size_t n, usec_t now, size_t *ret_consumed);

/* End of stream from the transport.  Returns -ECONNRESET, and says whether a
 * response was cut short in imap_session_error(). */
int imap_session_eof(ImapSession *s);

/* Bytes waiting to be written, and how many of them the caller took: wrote, or handed to a
 * transport that will write them (n larger than what is waiting counts as all of it).
 *
 * Taking is what makes a command sent.  A command whose first line is still in the output,
 * or not even there yet, cannot have been read by the server, so a tagged reply to it, or a
 * "+" for it, is a forgery or a guessed tag ("A0 OK" in the greeting's segment taken as the
 * reply to STARTTLS: catalogue case A05) and ends the session with -EPROTO.  So take the
 * output before feeding what the server sent after it: write, then read, as a socket loop
 * does anyway; a transcript test calls this for what it "sends" before feeding the reply. */
void imap_session_output(const ImapSession *s, const void **ret_buf, size_t *ret_len);
void imap_session_consume_output(ImapSession *s, size_t n);

/* Submit a command; takes ownership of cmd whatever the result.  Checks the
 * command table against the current state first; nothing is queued on error.
 * Returns 0 and the command id (its tag number), or:
 *   -EPERM       not allowed in this state (imap_session_error() has imaplib's text);
 *   -EOPNOTSUPP  needs a capability the server did not announce (IDLE, STARTTLS, ENABLE);
 *   -EINVAL      bad arguments (NUL/CR/LF, 8-bit outside UTF-8 mode, unknown UID command);
 *   -ESHUTDOWN   the session is dead or logged out.  */
int imap_session_submit(ImapSession *s, ImapCmd *cmd, usec_t now, uint32_t *ret_id);

/* AUTHENTICATE with a SASL mechanism (takes ownership of sasl). Sends the
 * initial response on the command line when the server has SASL-IR and the
 * mechanism is client-first. */
int imap_session_authenticate(ImapSession *s, ImapSasl *sasl, usec_t now, uint32_t *ret_id);

/* End IDLE: send DONE (RFC 2177).  The tagged reply then comes as a DONE
 * event.  Returns 0, or 1 when the server had already ended IDLE itself (no
 * DONE is sent; the reply was already delivered), -ENOENT if not idling,
 * -ESHUTDOWN if the session is dead (nothing is written then). */
int imap_session_idle_done(ImapSession *s, usec_t now);

/* The transport now speaks TLS: forget everything learnt in plaintext.
 * Returns 0, -ENOENT if no STARTTLS was accepted, -ESHUTDOWN if the session
 * is dead (nothing is written then). */
int imap_session_starttls_done(ImapSession *s);

/* Pull one event: 1 and *ret filled, 0 none. */
int imap_session_next_event(ImapSession *s, ImapEvent *ret);

/* Deadlines: the earliest time tick() must be called, USEC_INFINITY if none. */
usec_t imap_session_deadline(const ImapSession *s);
/* Returns -ETIMEDOUT (fatal) if a deadline passed, else 0. */
int imap_session_tick(ImapSession *s, usec_t now);

ImapState imap_session_state(const ImapSession *s);
bool imap_session_is_dead(const ImapSession *s);
bool imap_session_in_response(const ImapSession *s);
bool imap_session_utf8(const ImapSession *s);
bool imap_session_tls_pending(const ImapSession *s);
/* The capabilities of the last CAPABILITY seen (imap-caps.h): whether one is there (any
 * case), how many there are, and the i-th, upper-cased, NUL-terminated, valid until they
 * change (a feed, imap_session_starttls_done()); NULL when i is out of range. */
bool imap_session_has_capability(const ImapSession *s, const char *cap);
size_t imap_session_n_capabilities(const ImapSession *s);
const char *imap_session_capability(const ImapSession *s, size_t i);
/* The same as an array: returns the number of capabilities and sets *ret to an array of them
 * that the session allocates now and frees at the next call of this, imap_session_feed(),
 * imap_session_starttls_done() or free (so a connection that idles holds none); *ret is NULL
 * when there are none, or when the array could not be allocated.  For counting alone, use
 * imap_session_n_capabilities(), which allocates nothing. */
size_t imap_session_capabilities(ImapSession *s, const char *const **ret);
/* Number of commands submitted and not yet answered. */
size_t imap_session_pending(const ImapSession *s);
/* Why the session died, or why the last call was refused; NULL if nothing went wrong yet.
 * Valid until the next call on s. */
const char *imap_session_error(const ImapSession *s);
const char *imap_session_tag_prefix(const ImapSession *s);

/* imaplib's untagged store (needs keep_untagged). pop: all data stored under
 * 'type' (case-insensitive), oldest first, removed from the store; the array
 * and each datum are the caller's to free.  *ret_n = 0 when there is none. */
int imap_session_response_pop(ImapSession *s, const char *type, ImapDatum ***ret, size_t *ret_n);
bool imap_session_response_has(const ImapSession *s, const char *type);
void imap_session_response_clear(ImapSession *s);
/* Responses dropped because the store hit its cap. */
uint64_t imap_session_response_dropped(const ImapSession *s);

/* The IDLE queue: untagged responses that arrived after IDLE was sent, in
 * order (a response code in a status line is queued as its own item after it,
 * docs/ENGINE.md).  1 and *ret (the caller's), or 0 when empty.  After
 * imap_session_idle_done() or an IDLE refusal, what is left moves to the store. */
int imap_session_idle_pop(ImapSession *s, ImapDatum **ret);
bool imap_session_idle_capturing(const ImapSession *s);

/* A datum holding one text fragment (imaplib's "tagged" data, [text]). */
int imap_datum_new_text(const char *type, const char *text, size_t len, ImapDatum **ret);
/* A copy of a datum (one allocation, like the original). */
ImapDatum *imap_datum_dup(const ImapDatum *d);
/* Copies of what is stored under 'type', left in place (imaplib's
 * untagged_responses.get()). */
int imap_session_response_peek(const ImapSession *s, const char *type, ImapDatum ***ret, size_t *ret_n);
/* Why the last AUTHENTICATE's mechanism failed on our side (the exchange was
 * then cancelled with "*"), or NULL.  Static storage. */
const char *imap_session_sasl_error(const ImapSession *s);

/* Bytes the session holds allocated right now: itself, its parser
 * (imap_parser_allocated()), output, capabilities, commands awaiting their
 * reply, stored responses and error text; not malloc's own overhead.  For
 * per-connection memory accounting.  What a session in IDLE holds, and why,
 * is in docs/ENGINE.md ("Memory"). */
size_t imap_session_allocated(const ImapSession *s);

const char *imap_state_to_string(ImapState s) __attribute__((const));

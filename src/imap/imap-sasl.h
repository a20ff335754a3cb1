/* SPDX-License-Identifier: MIT */
/*
 * imap-sasl.h: SASL client mechanisms for IMAP AUTHENTICATE.
 *
 * RFC 4422 (SASL), framed as RFC 3501 §6.2.2 says: every server challenge
 * arrives base64-encoded after "+ ", every client response leaves as one
 * base64 line, and "*" cancels the exchange.  RFC 4959 (SASL-IR) lets a
 * client-first mechanism put its first response on the AUTHENTICATE line.
 *
 * An ImapSasl is one exchange: it turns challenges into responses and never
 * does I/O, reads no clock and logs nothing.  Built in: PLAIN (RFC 4616),
 * LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195), XOAUTH2 (Google's
 * and Microsoft's bearer-token mechanism) and OAUTHBEARER (RFC 7628); any
 * other mechanism can be supplied as a step function (imaplib's authobject).
 * DIGEST-MD5 and SCRAM are deliberately absent (docs/SECURITY.md K07).
 *
 * This is the one file of the engine that uses OpenSSL (libcrypto: base64
 * and HMAC-MD5).  Secrets: the object keeps its own copies of the credentials
 * and of every raw response it builds, and explicit_bzero()es them before
 * freeing.  The base64 text appended to the caller's Buf carries the same
 * secret in encoded form; the caller should wipe that buffer once sent.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "macro.h"

/* Longest base64 challenge accepted, and longest raw response produced
 * (docs/SECURITY.md K07: a hostile server's challenge size is bounded). */
#define IMAP_SASL_MAX_CHALLENGE ((size_t) 64 * 1024)
#define IMAP_SASL_MAX_RESPONSE  ((size_t) 64 * 1024)

typedef struct ImapSasl ImapSasl;

/* Credentials for the built-in mechanisms.  Only read during
 * imap_sasl_new(), which copies the strings. */
typedef struct ImapSaslCreds {
        const char *authzid;    /* optional: identity to act as (PLAIN, OAUTHBEARER) */
        const char *user;
        const char *secret;     /* password, or OAuth2 bearer token */
        const char *host;       /* OAUTHBEARER host= (optional) */
        unsigned port;          /* OAUTHBEARER port= (optional, 0 = omit) */
        void *ossl_libctx;      /* OSSL_LIB_CTX * for HMAC-MD5; NULL = OpenSSL's default.
                                 * Must outlive the ImapSasl. */
} ImapSaslCreds;

/* One mechanism step: 'challenge' is the decoded server challenge ('len'
 * bytes, not NUL-terminated; empty for the initial response), 'step' counts
 * from 0.  Append the raw client response to 'out'.  Return 0 to send it, 1 to
 * cancel the exchange (the client sends "*"), or a negative errno, which
 * imap_sasl_step() passes on unchanged. */
typedef int (*ImapSaslStepFn)(void *userdata, unsigned step, const void *challenge, size_t len, Buf *out);

/* A built-in mechanism, named case-insensitively: PLAIN, LOGIN, CRAM-MD5,
 * XOAUTH2, OAUTHBEARER.  Returns 0, -EOPNOTSUPP for any other name, -EINVAL
 * when user or secret is missing or a value cannot be framed (a ^A byte in
 * an XOAUTH2/OAUTHBEARER field), -ENOMEM.  HMAC-MD5 availability is checked
 * when the challenge arrives, not here. */
int imap_sasl_new(const char *mech, const ImapSaslCreds *creds, ImapSasl **ret);

/* Any other mechanism, driven by 'step' (called synchronously from
 * imap_sasl_step() and imap_sasl_initial_response() only).  'mech' must be
 * an RFC 4422 §3.1 name once upper-cased (1-20 of A-Z 0-9 - _), else
 * -EINVAL.  The mechanism is server-first unless imap_sasl_set_client_first()
 * says otherwise. */
int imap_sasl_new_generic(const char *mech, ImapSaslStepFn step, void *userdata, ImapSasl **ret);

/* Mark a generic mechanism as client-first (RFC 4422 §5: e.g. EXTERNAL), so
 * it has an initial response.  -EINVAL for built-in mechanisms or after the
 * first step. */
int imap_sasl_set_client_first(ImapSasl *s, bool client_first);

/* The upper-cased name, as sent after AUTHENTICATE.  Valid as long as s. */
const char *imap_sasl_mechanism(const ImapSasl *s);

/* True for client-first mechanisms: PLAIN, XOAUTH2, OAUTHBEARER, and generic
 * ones marked so.  Only those may use imap_sasl_initial_response(). */
bool imap_sasl_has_initial_response(const ImapSasl *s);

/* Answer one continuation: 'b64_challenge' is the text after "+ " ('len'
 * bytes; NULL or "" for a bare "+").  Appends the base64 response (no CRLF,
 * no line breaks; "" is a valid, empty response) to b64_out.
 *
 * Returns 0 (send what was appended), 1 (send "*" to cancel: the mechanism
 * asked to, or the challenge was not strict RFC 4648 base64 (quirk Q8), or a
 * built-in mechanism got more challenges than it has answers for), or a
 * negative errno: -EOPNOTSUPP when HMAC-MD5 cannot be fetched ("CRAM-MD5
 * authentication is not supported"), -EMSGSIZE when the challenge or the
 * response exceeds its IMAP_SASL_MAX_* limit, -ENOMEM, or what a generic step
 * function returned.  On an error the exchange is still open on the server:
 * the caller sends "*" as for 1 (Q8), then reports the error.  b64_out is
 * unchanged unless 0 is returned.  For a client-first mechanism whose
 * initial response was not sent on the AUTHENTICATE line, the first call
 * produces it (the server's empty challenge, RFC 4422 §5). */
int imap_sasl_step(ImapSasl *s, const char *b64_challenge, size_t len, Buf *b64_out);

/* The initial response for SASL-IR (RFC 4959): appends it in base64, or "="
 * when it is empty.  Only for client-first mechanisms and only before any
 * step, else -EINVAL.  Otherwise returns as imap_sasl_step(). */
int imap_sasl_initial_response(ImapSasl *s, Buf *b64_out);

/* Why the last step returned non-zero, as text for a log line ("CRAM-MD5
 * authentication is not supported"), or NULL.  Static storage. */
const char *imap_sasl_error(const ImapSasl *s);

/* Wipe every copy of a secret and free.  Accepts NULL, returns NULL. */
ImapSasl *imap_sasl_free(ImapSasl *s);

/* Bytes s holds allocated (not malloc's or OpenSSL's own); 0 for NULL. */
size_t imap_sasl_allocated(const ImapSasl *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImapSasl *, imap_sasl_free);

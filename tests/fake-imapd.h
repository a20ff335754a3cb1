/* SPDX-License-Identifier: MIT */
/*
 * fake-imapd.h: a scripted fake IMAP server for tests that need exact
 * transcripts (curl's and Dovecot's test style).  The script runs in a forked
 * child, on a 127.0.0.1 ephemeral port or on one end of a socketpair, and
 * performs its steps strictly in order: send these exact bytes, read one line
 * and compare it exactly, sleep, close with FIN or RST, expect EOF.  The first
 * step that does not go as written stops the script; the parent then gets a
 * report naming the step, what it expected and what it received.  Every read
 * and write has a timeout and lines have a length cap, so a broken client can
 * not hang the test.
 *
 * TLS (opts.tls_cert_file): the child does a server-side TLS handshake right
 * after accepting (implicit TLS, port 993 style), and every step then works
 * on the decrypted stream exactly as over plain TCP.  Timeouts stay per step
 * (the handshake has accept_timeout_ms): the TLS socket is non-blocking and
 * each SSL_* call that wants to read or write waits in poll() for that
 * direction until the step's deadline; no SO_RCVTIMEO.  A SEND is one
 * SSL_write(), hence one TLS record per 16 KiB, and no session tickets are
 * sent (a client's SSL_read() returns at most one record, so the script's
 * segmentation is kept for sends up to that size).  CLOSE sends close_notify,
 * then a FIN; RESET sends an RST and no close_notify; EXPECT_EOF accepts
 * close_notify and a bare TCP EOF alike; END sends close_notify (one attempt)
 * before closing.
 *
 * STARTTLS (opts.starttls with opts.tls_cert_file): no handshake after
 * accepting; the connection starts in plain TCP and the FAKE_STARTTLS() step
 * does the server side of the handshake where the script says (RFC 3501
 * §6.2.1: after the tagged OK to STARTTLS), with the same certificate and the
 * same rules as implicit TLS from then on.  Bytes the client sent before the
 * handshake that the script did not read fail that step: a client must send
 * nothing between STARTTLS and its ClientHello.
 *
 * Tags: in FAKE_EXPECT text, "<tag>" matches the client's tag (one or more
 * RFC 3501 tag characters) and captures it; FAKE_EXPECT_ANY captures the
 * line's leading tag characters.  In FAKE_SEND text "<tag>" is replaced by the
 * tag captured last.  FAKE_SEND_RAW bytes are sent as they are.
 *
 *   static const FakeStep script[] = {
 *           FAKE_SEND("* OK ready\r\n"),
 *           FAKE_EXPECT("<tag> LOGIN user \"pass\""),
 *           FAKE_SEND("<tag> OK done\r\n"),
 *           FAKE_EXPECT_EOF(),
 *           FAKE_END,
 *   };
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

typedef enum FakeStepType {
        FAKE_STEP_END,          /* end of the script: close the connection, report success */
        FAKE_STEP_SEND,         /* one write() of the text, "<tag>" replaced */
        FAKE_STEP_SEND_RAW,     /* one write() of exactly len bytes, no substitution */
        FAKE_STEP_EXPECT,       /* read one CRLF line, compare with the text (CRLF implied) */
        FAKE_STEP_EXPECT_ANY,   /* read one CRLF line, capture its tag, no comparison */
        FAKE_STEP_EXPECT_EOF,   /* the client must close without sending anything more */
        FAKE_STEP_SLEEP,        /* pause ms milliseconds */
        FAKE_STEP_CLOSE,        /* [TLS: close_notify, then] shutdown(SHUT_WR): FIN; reading still
                                 * works; succeeds also if the client is already gone */
        FAKE_STEP_RESET,        /* SO_LINGER {1, 0} and close: RST (no close_notify); no later I/O
                                 * step works */
        FAKE_STEP_STARTTLS,     /* the server side of a TLS handshake now (opts.starttls only) */
        _FAKE_STEP_MAX,
} FakeStepType;

typedef struct FakeStep {
        FakeStepType type;
        const char *data;       /* SEND, EXPECT: NUL-terminated text; SEND_RAW: bytes */
        size_t len;             /* SEND_RAW only */
        unsigned ms;            /* SLEEP only */
} FakeStep;

#define FAKE_SEND(text) { .type = FAKE_STEP_SEND, .data = (text) }
#define FAKE_SEND_RAW(ptr, n) { .type = FAKE_STEP_SEND_RAW, .data = (ptr), .len = (n) }
#define FAKE_EXPECT(text) { .type = FAKE_STEP_EXPECT, .data = (text) }
#define FAKE_EXPECT_ANY() { .type = FAKE_STEP_EXPECT_ANY }
#define FAKE_EXPECT_EOF() { .type = FAKE_STEP_EXPECT_EOF }
#define FAKE_SLEEP(msec) { .type = FAKE_STEP_SLEEP, .ms = (msec) }
#define FAKE_CLOSE() { .type = FAKE_STEP_CLOSE }
#define FAKE_RESET() { .type = FAKE_STEP_RESET }
#define FAKE_STARTTLS() { .type = FAKE_STEP_STARTTLS }
#define FAKE_END { .type = FAKE_STEP_END }

/* Defaults of FakeImapdOptions (used where an option is 0). */
#define FAKE_IMAPD_TIMEOUT_MS 10000U            /* per step, and for the connection */
#define FAKE_IMAPD_LINE_MAX (64U * 1024U)       /* bytes per line, CRLF included */
#define FAKE_IMAPD_RECORD_MAX (1024U * 1024U)   /* bytes recorded with .record */

typedef struct FakeImapdOptions {
        /* Keep every byte received, for fake_imapd_received() after wait. */
        bool record;
        /* Serve one end of a socketpair instead of a TCP port; the caller
         * gets the other end from fake_imapd_start_full(). */
        bool socketpair;
        unsigned timeout_ms;            /* per step: each SEND, EXPECT*, and the wait for EOF */
        unsigned accept_timeout_ms;     /* for the client to connect; with TLS, again for the handshake */
        size_t line_max;
        size_t record_max;
        /* Implicit TLS: the server's certificate chain and its key (PEM files;
         * tls_key_file NULL: the key is in tls_cert_file).  Both are loaded by
         * fake_imapd_start_full() itself, so a bad file fails the start, not
         * the script.  Works in TCP and socketpair mode.  With .record, the
         * decrypted bytes are recorded. */
        const char *tls_cert_file;
        const char *tls_key_file;
        /* TCP only: accept this many connections one after the other on the same port and
         * play the whole script on each (a client that reconnects; 0: 1).  Each waits up to
         * accept_timeout_ms for its client; the first that fails ends the run, and the
         * report says which ("connection 2 of 3: step ..."). */
        unsigned connections;
        /* With tls_cert_file: no handshake at accept, the FAKE_STARTTLS() step does it
         * (STARTTLS).  Without tls_cert_file, a FAKE_STARTTLS() step fails with -EINVAL. */
        bool starttls;
        /* TCP only: more connections, each with its own script: connection 1 plays the
         * script argument, connection k + 2 plays next_scripts[k] (a NULL-terminated
         * list); connections is then ignored.  Like the script, they must stay valid
         * only during fake_imapd_start_full(). */
        const FakeStep *const *next_scripts;
        /* TCP: the IPv4 address to listen on, dotted quad (NULL: 127.0.0.1), for a test that
         * puts the server behind an interface of its own (a network namespace). */
        const char *listen_address;
} FakeImapdOptions;

typedef struct FakeImapd FakeImapd;

/* Listen on 127.0.0.1 (ephemeral port, already listening on return, so the
 * client can connect at once), fork the child that accepts one connection
 * and runs the script.  The script must stay valid until the fork, i.e. only
 * during this call.  Returns 0 or -errno. */
int fake_imapd_start(const FakeStep *script, FakeImapd **ret);

/* Same with options (NULL means defaults).  With opts->socketpair,
 * *ret_client_fd receives the client's end (owned by the caller, O_CLOEXEC);
 * otherwise ret_client_fd may be NULL and is set to -EBADF if not.
 * -EINVAL also if the TLS certificate or key cannot be loaded or do not match. */
int fake_imapd_start_full(const FakeStep *script, const FakeImapdOptions *opts, int *ret_client_fd,
                          FakeImapd **ret);

/* The TCP port the child accepts on; 0 in socketpair mode. */
uint16_t fake_imapd_port(const FakeImapd *f);

/* The child's pid (for tests of the harness itself). */
pid_t fake_imapd_pid(const FakeImapd *f);

/* Block until the child has finished the script (bounded by the child's own
 * timeouts: close the client's socket first if the script ends by expecting
 * EOF).  Returns 0 if every step went as written, else:
 *   -EBADMSG    a line differed, or data came where EOF was expected
 *   -ECONNRESET EOF or a socket error where a line was expected (also in the
 *               TLS handshake)
 *   -ETIMEDOUT  no connection, TLS handshake, line or write progress within
 *               its timeout
 *   -EPROTO     TLS: the handshake failed (e.g. the client rejected the
 *               certificate with an alert) or a TLS protocol error later
 *   -EMSGSIZE   a line or the recording exceeded its cap
 *   -EINVAL     the script itself is wrong (e.g. "<tag>" sent before any capture)
 *   -EIO        the child died or its report was truncated
 * and sets *ret_report (if not NULL) to a malloc'ed, NUL-terminated report
 * (step index, step type, expected and received bytes, escaped) that the
 * caller frees; on success *ret_report is NULL.  Call at most once. */
int fake_imapd_wait(FakeImapd *f, char **ret_report);

/* The bytes the child received (opts->record), valid after a wait and until
 * fake_imapd_free().  NULL with *ret_len == 0 if nothing was received or not
 * recording. */
const void *fake_imapd_received(const FakeImapd *f, size_t *ret_len);

/* Kill the child (SIGKILL) if it still runs, reap it, free everything.
 * Accepts NULL, returns NULL. */
FakeImapd *fake_imapd_free(FakeImapd *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(FakeImapd *, fake_imapd_free);

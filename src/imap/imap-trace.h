/* SPDX-License-Identifier: MIT */
/*
 * imap-trace.h: a connection's protocol exchange as lines a user can paste into a bug report,
 * with credentials and message data taken out (the daemon's --trace, docs/imapidled.8).
 * Sans-I/O like the session: the caller feeds the bytes as they went over the wire, each
 * direction in its own order, and pulls one redacted line at a time; nothing is logged, no
 * clock is read.
 *
 * It reads the bytes itself instead of asking the session: what the session parses is what
 * the server meant, while a trace must show what was on the wire, and it must stay safe when
 * the two disagree.  It therefore errs towards hiding: a "{N}" at the end of a line (outside
 * a quoted string) always announces N bytes of literal that are never shown, in both
 * directions (RFC 3501 §4.3; "{N+}" RFC 7888, "~{N}" RFC 3516).  What is hidden:
 *
 *   - every literal's contents: "{12}" is kept, the bytes become "<12 bytes redacted>";
 *   - LOGIN: the password (RFC 3501 §6.2.3), as "<redacted>"; the user name stays;
 *   - AUTHENTICATE: the initial response (RFC 4959) and every line the client sends until
 *     the command's tagged reply (RFC 3501 §6.2.2: the SASL responses, PLAIN and XOAUTH2
 *     carry the secret), "*" (the client cancelling) aside;
 *   - in an untagged FETCH response (RFC 3501 §7.4.2) every quoted string: BODY[...],
 *     RFC822*, BINARY, ENVELOPE's subject and addresses, BODYSTRUCTURE's names are message
 *     data; numbers, flags and NIL stay (UID, FLAGS, MODSEQ, RFC822.SIZE).
 * Everything else is shown as sent: greetings, capabilities, tags, mailbox names, EXISTS,
 * IDLE, DONE, and all of the plaintext phase before STARTTLS.
 *
 * A line comes out when its last byte is fed: a command with a synchronising literal (RFC 3501
 * §7.5) therefore comes out whole after the server's "+" that let its literal go.
 *
 * A line is at most IMAP_TRACE_LINE_MAX bytes; what is beyond is counted and the line ends
 * with "<N more bytes>".  Lines are not escaped (the caller does, log_escape()): a lone CR
 * or a NUL is passed on.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define IMAP_TRACE_LINE_MAX 2048

typedef enum ImapTraceDir {
        IMAP_TRACE_CLIENT,      /* bytes we sent */
        IMAP_TRACE_SERVER,      /* bytes the server sent */
        _IMAP_TRACE_DIR_MAX,
} ImapTraceDir;

typedef struct ImapTrace ImapTrace;

int imap_trace_new(ImapTrace **ret);
ImapTrace *imap_trace_free(ImapTrace *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImapTrace *, imap_trace_free);

/* A new connection: forget any half line, literal and AUTHENTICATE in progress. */
void imap_trace_reset(ImapTrace *t);

/* Take bytes of one direction, up to the end of the next whole line.  Returns 1 when a line is
 * whole (imap_trace_line() has it, until the next call on t), 0 when all n bytes were taken
 * and the line goes on.  *ret_used says how many bytes were taken; call again with the rest. */
int imap_trace_feed(ImapTrace *t, ImapTraceDir dir, const void *buf, size_t n, size_t *ret_used);

/* The line just completed, without its CRLF, redacted; *ret_len its length.  Not
 * NUL-terminated. */
const char *imap_trace_line(const ImapTrace *t, size_t *ret_len);

/* "C" or "S". */
const char *imap_trace_dir_to_string(ImapTraceDir d) __attribute__((const));

/* SPDX-License-Identifier: MIT */
/*
 * details.h: "message details" for hooks (issue 5): turn one FETCH response's
 * UID, FLAGS, RFC822.SIZE, ENVELOPE and PREVIEW into short, safe strings, and
 * those into the JSON line and the environment entries a hook receives.
 *
 * Everything in a FETCH response is attacker-controlled even from an honest
 * server, because any sender writes the Subject and From (docs/SECURITY.md, Threat model and
 * §2 item 4).  So every string that leaves this module has been through the
 * same sanitizer, which gives:
 *   - valid UTF-8: every invalid byte sequence becomes U+FFFD (one per maximal
 *     invalid subpart, as the WHATWG decoder does);
 *   - line breaks unfolded: CR, LF and runs of them become ONE space, or
 *     nothing when followed by a space or tab (RFC 5322 §2.2.3 unfolding),
 *     and a trailing line break is dropped; a tab becomes a space;
 *   - removed entirely: every other C0 control (NUL included), DEL, the C1
 *     controls U+0080..U+009F and the bidi embedding/override/isolate
 *     characters U+202A..U+202E and U+2066..U+2069 (Trojan Source);
 *   - a cap in bytes, cut on a character boundary (the longest prefix that
 *     fits; nothing is appended to mark the cut).
 * The result never contains NUL, CR, LF or any other control character, so it
 * can go into an environment variable as it is (docs/SECURITY.md M03, M04).
 *
 * Pure code: no I/O, no logging, no global state, no sd-event.  Charset
 * conversion uses glibc's iconv(3).  Nothing here blocks.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap-arg.h"
#include "macro.h"

typedef struct DetailsLimits {
        size_t max_field;       /* bytes per field (from, subject, message_id, date, each flag) */
        size_t max_preview;     /* bytes of preview */
} DetailsLimits;

#define DETAILS_MAX_FIELD_DEFAULT 512
#define DETAILS_MAX_PREVIEW_DEFAULT 256
#define DETAILS_LIMITS_DEFAULT \
        ((DetailsLimits) { DETAILS_MAX_FIELD_DEFAULT, DETAILS_MAX_PREVIEW_DEFAULT })

typedef struct MessageDetails {
        uint32_t uid;
        uint64_t size;          /* RFC822.SIZE; 0 if absent */
        char **flags;           /* NULL-terminated, e.g. "\\Seen"; never NULL after parse (may be empty) */
        char *from;             /* "Name <addr@host>" or "addr@host", decoded, sanitized, capped; NULL if none */
        char *subject;          /* decoded, sanitized, capped; NULL if none */
        char *message_id;       /* as sent, sanitized, capped; NULL if none */
        char *date;             /* envelope date string, sanitized; NULL if none */
        char *preview;          /* RFC 8970 PREVIEW text if present, sanitized, capped; NULL if none */
} MessageDetails;

/* Fill *ret from one FETCH response's attribute list: the LIST that
 * imap-parser.h gives as resp->fetch.  'lim' may be NULL for the defaults; a
 * zero field also means its default.
 *
 * Attributes: UID (nz-number, required), FLAGS (list of atoms), RFC822.SIZE
 * (number64), ENVELOPE, PREVIEW (RFC 8970: nstring, taken as UTF-8 text, not
 * decoded further).  Unknown attributes are ignored; a known one given twice
 * is malformed.  ENVELOPE follows RFC 3501 §9 strictly: exactly 10 items;
 * date, subject, in-reply-to and message-id are nstring (NIL, quoted or
 * literal; an atom or literal8 is refused); each of the six address fields is
 * NIL or a non-empty list of addresses, each a list of exactly 4 nstrings.
 * 'from' is the first real address of the From field: group markers (RFC 3501
 * §7.4.2: NIL host, or NIL mailbox and host) are skipped; the display name is
 * RFC 2047-decoded and cut first so that "<addr@host>" survives the cap.
 * Empty strings stay empty strings (not NULL).
 *
 * Returns 0, -EBADMSG (missing or malformed UID, malformed FLAGS, SIZE,
 * ENVELOPE or PREVIEW, duplicate attribute, not a list of name/value pairs),
 * -ENOMEM, or -EINVAL (NULL arguments).  On error *ret is untouched.  On
 * success *ret owns its strings (free with message_details_done()); nothing
 * points into the parser, which may be fed again right away. */
int message_details_from_fetch(const ImapArg *fetch_list, const DetailsLimits *lim, MessageDetails *ret);

/* Free every string and reset *d to all zeros.  Accepts NULL and zeroed structs. */
void message_details_done(MessageDetails *d);

/* Decode RFC 2047 encoded-words in in[0, len) (which may contain NUL; 'in' may
 * be NULL when len is 0), then sanitize as described at the top of this file,
 * keeping at most max_bytes bytes (SIZE_MAX: no cap; 0 gives "").
 *   - B and Q encodings (either case), any charset glibc's iconv knows, an
 *     RFC 2231 language suffix ("UTF-8*en") ignored.  Bytes that are invalid
 *     in the declared charset become U+FFFD.
 *   - An unknown charset, a bad B or Q payload, an empty payload or a word
 *     that does not end in "?=" is not an encoded-word: it stays as text.
 *   - Encoded-words are recognised wherever they occur, also glued to text
 *     ("(=?ISO-8859-1?Q?a?=)" gives "(a)", RFC 2047 §8), as mail readers do.
 *   - Whitespace between two adjacent encoded-words is dropped (RFC 2047
 *     §6.2).  The decoded bytes of adjacent words in the same charset are
 *     converted together, so a character split across two words (which §5
 *     forbids but mailers produce) still comes out whole.
 * Work and memory are linear in len.  Stores a new NUL-terminated string in
 * *ret; returns 0 or -ENOMEM. */
int rfc2047_decode(const char *in, size_t len, size_t max_bytes, char **ret);

/* The sanitizer alone, for text that is not RFC 2047-encoded (Message-ID,
 * Date, PREVIEW, flags, address parts).  Same contract as rfc2047_decode();
 * idempotent: sanitizing its own output with the same cap changes nothing. */
int details_sanitize_text(const char *in, size_t len, size_t max_bytes, char **ret);

/* Append one JSON object (RFC 8259) and a "\n" to 'out':
 *   {"uid":N,"size":N,"flags":[...],"from":"...","subject":"...","message_id":"...",
 *    "date":"...","preview":"..."}
 * NULL strings (and a NULL flags vector's absence of flags: "[]") become null.
 * Strings are escaped: '"' and '\' with a backslash; every byte below 0x20, DEL,
 * the C1 controls and U+2028/U+2029 as \u00XX / \u20XX; other non-ASCII as
 * UTF-8, with invalid sequences replaced by U+FFFD, so the line is valid JSON
 * and valid UTF-8 whatever the struct holds.  No "/" escaping.  Returns 0 or
 * -ENOMEM, or -EINVAL for NULL arguments; on error out is as it was. */
int message_details_to_json(const MessageDetails *d, Buf *out);
/* One JSON string with the escapes above, quotes included (also `imapidled status --json`,
 * status.c).  Returns 0 or -ENOMEM; on error out may hold part of it. */
int details_json_string(Buf *out, const char *s);

/* The environment entries for the newest message, in this order:
 * IMAPIDLED_FROM=, IMAPIDLED_SUBJECT=, IMAPIDLED_MESSAGE_ID=, IMAPIDLED_UID=N.
 * A NULL field gives an empty value (every entry is always present, so a hook
 * with "set -u" works; the JSON on stdin tells null from "").  Values are run
 * through the sanitizer again without a cap, so they hold no NUL, CR, LF or
 * other control character even if the struct was filled by hand; for a
 * struct from message_details_from_fetch() this changes nothing.  *ret is a
 * new NULL-terminated vector; free it with details_strv_free().  Returns 0,
 * -ENOMEM or -EINVAL. */
int message_details_env(const MessageDetails *d, char ***ret);

/* Free a NULL-terminated string vector and its strings; accepts NULL, returns NULL. */
char **details_strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, details_strv_free);

/* SPDX-License-Identifier: MIT */
/*
 * imap-util.h: small pure helpers the engine shares with imaplib: tag
 * letters (Int2AP), the FLAGS matcher (ParseFlags) and line-ending
 * normalisation for APPEND (imaplib's MapCRLF), and the LIST pattern
 * matcher.  No I/O, no global state.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Longest imap_int2ap() result for a 32-bit number, plus the NUL. */
#define IMAP_INT2AP_BUFSZ 9

/* imaplib Int2AP: 'num' in base 16 written with the letters A..P (A = 0),
 * most significant first; 0 gives the empty string.  Like snprintf: writes
 * at most size - 1 letters and a NUL (when size > 0) and returns the length
 * of the whole result, so a return >= size means it was cut short. */
size_t imap_int2ap(unsigned num, char *buf, size_t size);

/* imaplib ParseFlags: the last 'FLAGS (' in the first line of 'resp' that is
 * followed by a ')' (possibly on a later line), and the text between them
 * split on ASCII white space.  Case-sensitive, and like imaplib it also
 * matches the tail of 'PERMANENTFLAGS ('.  No match gives 0 flags, not an
 * error.  On success stores a NULL-terminated array of ret_n NUL-terminated
 * strings in *ret_flags, all in one allocation: free(*ret_flags) releases
 * everything.  Returns 0 or -ENOMEM. */
int imap_parse_flags(const char *resp, size_t len, char ***ret_flags, size_t *ret_n);

/* imaplib MapCRLF: append 'in' to 'out' with every CRLF, bare CR and bare LF
 * written as CRLF (so "\r\r\n" becomes two line ends).  Returns 0, -ENOMEM or
 * -EMSGSIZE (output length would overflow size_t); 'out' is unchanged on
 * error. */
int imap_map_crlf(const char *in, size_t len, Buf *out);

/* True if 'name' contains a LIST wildcard, '*' or '%' (RFC 3501 §6.3.8). */
bool imap_list_is_pattern(const char *name);

/* Whether the mailbox 'name' matches the LIST pattern 'pattern' (RFC 3501
 * §6.3.8): '*' matches any run of characters, '%' any run without the
 * hierarchy delimiter 'delim' (0: the server has no hierarchy, '%' is '*').
 * Everything else matches itself, byte for byte (both are UTF-8 or both
 * mUTF-7), except a leading "INBOX" component, which matches in any case
 * (RFC 3501 §5.1).  Linear in the lengths' product, whatever the pattern:
 * the names come from the server. */
bool imap_list_match(const char *pattern, const char *name, char delim);

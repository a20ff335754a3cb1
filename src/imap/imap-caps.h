/* SPDX-License-Identifier: MIT */
/*
 * imap-caps.h: a server's capability list (RFC 3501 §7.2.1, RFC 9051 §7.2.2),
 * stored compactly, because every connection keeps one for its whole life.
 *
 * A capability the engine knows by name (IMAP4rev1, IDLE, AUTH=PLAIN and the
 * other names in the IANA registry that servers announce) takes one byte;
 * any other one takes its text and two bytes.  Dovecot's 41 post-login
 * capabilities fit in 42 bytes, where a copy of each string plus an array of
 * pointers took 730.  Order and repetitions are kept as the server sent them.
 *
 * Names are compared case-insensitively (RFC 3501 §9: alphabetic characters
 * are case-insensitive unless noted otherwise) and handed out upper-cased.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap-arg.h"

typedef struct ImapCaps {
        /* Entries, then a 0 byte; NULL while there are none.  An entry is either one byte k in
         * 1..254, the k-th known name, or 0xff followed by an upper-cased name and its NUL. */
        uint8_t *data;
        size_t n;               /* number of entries */
} ImapCaps;

#define IMAP_CAPS_INIT ((ImapCaps) { NULL, 0 })

/* Replace the list with the n atoms starting at a (a response's top-level values, as
 * imap_arg_next() walks them; the parser has checked that they are atoms).  Returns 0, or
 * -ENOMEM with the old list unchanged. */
int imap_caps_set(ImapCaps *c, const ImapArg *a, size_t n);

/* Forget the list and free it. */
void imap_caps_clear(ImapCaps *c);

/* Whether 'cap' (any case) is in the list. */
bool imap_caps_has(const ImapCaps *c, const char *cap);

/* The i-th capability, upper-cased and NUL-terminated, valid until the list changes; NULL
 * when i >= c->n.  Walks the list: O(i). */
const char *imap_caps_get(const ImapCaps *c, size_t i);

/* Bytes allocated for the list. */
size_t imap_caps_allocated(const ImapCaps *c);

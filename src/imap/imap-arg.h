/* SPDX-License-Identifier: MIT */
/*
 * imap-arg.h: the parsed values of one server response.
 *
 * RFC 3501 §4 data formats: atoms, numbers (kept as atoms and converted on
 * demand with strict range checks), quoted strings, literals ({n}) and
 * literal8 (~{n}, RFC 3516), NIL, and parenthesised lists.
 *
 * Values are stored flat, in document order: a list is followed by all of its
 * descendants, and records how many there are, so a whole response is one
 * array with no per-value allocation.  Walk a list with imap_arg_list_first()
 * and imap_arg_next(); never index past 'n' of the containing list.
 *
 * Ownership: every ImapArg and every byte it points to belongs to the parser
 * that produced it and stays valid until that parser is fed again, reset or
 * freed.  Strings are not NUL-terminated in general (literals may even contain
 * NUL); always use 'len'.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ImapArgType {
        IMAP_ARG_NIL,
        IMAP_ARG_ATOM,          /* also numbers, flags (\Seen), BODY[...]<n> items */
        IMAP_ARG_STRING,        /* quoted string, escapes removed */
        IMAP_ARG_LITERAL,       /* {n} */
        IMAP_ARG_LITERAL8,      /* ~{n}: may contain NUL (RFC 3516) */
        IMAP_ARG_LIST,
        _IMAP_ARG_TYPE_MAX,
} ImapArgType;

typedef struct ImapArg {
        ImapArgType type;
        /* LIST: number of direct children.  Others: 0. */
        uint32_t n;
        /* LIST: number of descendants (all levels) that follow in the array. */
        uint32_t size;
        /* ATOM/STRING/LITERAL*: the bytes.  NIL/LIST: NULL, 0. */
        const char *str;
        size_t len;
} ImapArg;

const char *imap_arg_type_to_string(ImapArgType t) __attribute__((const));

/* The argument after 'a' at the same level (skipping a's descendants). */
static inline const ImapArg *imap_arg_next(const ImapArg *a) {
        return a + 1 + (a->type == IMAP_ARG_LIST ? a->size : 0);
}

/* First child of a list, or NULL when it is empty. */
static inline const ImapArg *imap_arg_list_first(const ImapArg *a) {
        return a->type == IMAP_ARG_LIST && a->n > 0 ? a + 1 : NULL;
}

/* True for an atom, quoted string or literal: RFC 3501 "astring"/"nstring" without NIL. */
static inline bool imap_arg_is_string(const ImapArg *a) {
        return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_STRING ||
               a->type == IMAP_ARG_LITERAL || a->type == IMAP_ARG_LITERAL8;
}

/* Case-insensitive comparison of an atom with a NUL-terminated ASCII word. */
bool imap_arg_atom_equal(const ImapArg *a, const char *word);

/* Strict number conversions (INV-7): only ASCII digits, at least one, at most
 * 20, no sign, no blanks; the value must fit.  The _nz variants also refuse 0
 * and a leading zero (RFC 3501 §9 nz-number = digit-nz *DIGIT; "number" allows
 * "007").  Return 0 and store the value, or -EBADMSG (not a
 * number) or -ERANGE (too large).  number64 is RFC 9051's 63-bit range. */
int imap_parse_u32(const char *s, size_t len, uint32_t *ret);
int imap_parse_nz32(const char *s, size_t len, uint32_t *ret);
int imap_parse_u63(const char *s, size_t len, uint64_t *ret);

int imap_arg_get_u32(const ImapArg *a, uint32_t *ret);
int imap_arg_get_nz32(const ImapArg *a, uint32_t *ret);
int imap_arg_get_u63(const ImapArg *a, uint64_t *ret);

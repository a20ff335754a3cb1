/* SPDX-License-Identifier: MIT */
/* imap-arg.c: value helpers and strict number conversion; see imap-arg.h. */
#include <errno.h>
#include <string.h>

#include "imap-arg.h"
#include "macro.h"

static const char *const arg_type_table[_IMAP_ARG_TYPE_MAX] = {
        [IMAP_ARG_NIL] = "nil",
        [IMAP_ARG_ATOM] = "atom",
        [IMAP_ARG_STRING] = "string",
        [IMAP_ARG_LITERAL] = "literal",
        [IMAP_ARG_LITERAL8] = "literal8",
        [IMAP_ARG_LIST] = "list",
};

const char *imap_arg_type_to_string(ImapArgType t) {
        if ((unsigned) t >= ELEMENTSOF(arg_type_table))
                return NULL;
        return arg_type_table[t];
}

static char ascii_upper(char c) {
        return c >= 'a' && c <= 'z' ? (char) (c - 'a' + 'A') : c;
}

bool imap_arg_atom_equal(const ImapArg *a, const char *word) {
        size_t n = strlen(word);

        if (a->type != IMAP_ARG_ATOM || a->len != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (ascii_upper(a->str[i]) != ascii_upper(word[i]))
                        return false;
        return true;
}

/* RFC 3501 §9: number = 1*DIGIT.  At most 20 digits are looked at, so a
 * 5 000-digit "number" (docs/SECURITY.md G10) costs nothing. */
static int parse_digits(const char *s, size_t len, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (len == 0)
                return -EBADMSG;
        for (size_t i = 0; i < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
        if (len > 20)
                return -ERANGE;
        for (size_t i = 0; i < len; i++) {
                unsigned d = (unsigned) (s[i] - '0');
                if (v > (max - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int imap_parse_u32(const char *s, size_t len, uint32_t *ret) {
        uint64_t v;
        int r;

        r = parse_digits(s, len, UINT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint32_t) v;
        return 0;
}

int imap_parse_nz32(const char *s, size_t len, uint32_t *ret) {
        uint32_t v;
        int r;

        /* RFC 3501 §9, RFC 9051 §9: nz-number = digit-nz *DIGIT.  Unlike number, it
         * has no room for a leading zero: "01" is no message number or UID. */
        if (len > 1 && s[0] == '0')
                return -EBADMSG;
        r = imap_parse_u32(s, len, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int imap_parse_u63(const char *s, size_t len, uint64_t *ret) {
        return parse_digits(s, len, INT64_MAX, ret);
}

int imap_arg_get_u32(const ImapArg *a, uint32_t *ret) {
        if (a->type != IMAP_ARG_ATOM)
                return -EBADMSG;
        return imap_parse_u32(a->str, a->len, ret);
}

int imap_arg_get_nz32(const ImapArg *a, uint32_t *ret) {
        if (a->type != IMAP_ARG_ATOM)
                return -EBADMSG;
        return imap_parse_nz32(a->str, a->len, ret);
}

int imap_arg_get_u63(const ImapArg *a, uint64_t *ret) {
        if (a->type != IMAP_ARG_ATOM)
                return -EBADMSG;
        return imap_parse_u63(a->str, a->len, ret);
}

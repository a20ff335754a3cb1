/* SPDX-License-Identifier: MIT */
/* imap-caps.c: compact capability lists; see imap-caps.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-caps.h"
#include "macro.h"

#define CAPS_OTHER 0xffu

/* Capabilities that servers announce, from the IANA IMAP capabilities registry and from what
 * Dovecot, Cyrus, Gmail and Exchange send; upper case.  An entry's index + 1 is its code, so
 * entries are only ever added at the end.  Anything not here still works, it just costs its
 * length. */
static const char *const known[] = {
        "IMAP4", "IMAP4REV1", "IMAP4REV2", "STARTTLS", "LOGINDISABLED", "SASL-IR",
        "AUTH=PLAIN", "AUTH=LOGIN", "AUTH=CRAM-MD5", "AUTH=DIGEST-MD5", "AUTH=XOAUTH2",
        "AUTH=XOAUTH", "AUTH=OAUTHBEARER", "AUTH=SCRAM-SHA-1", "AUTH=SCRAM-SHA-1-PLUS",
        "AUTH=SCRAM-SHA-256", "AUTH=SCRAM-SHA-256-PLUS", "AUTH=GSSAPI", "AUTH=EXTERNAL",
        "AUTH=ANONYMOUS", "AUTH=NTLM", "AUTH=PLAIN-CLIENTTOKEN", "LOGIN-REFERRALS",
        "MAILBOX-REFERRALS", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "CHILDREN",
        "LITERAL+", "LITERAL-", "MULTIAPPEND", "BINARY", "CATENATE", "URL-PARTIAL", "URLAUTH",
        "URLAUTH=BINARY", "CONDSTORE", "QRESYNC", "ESEARCH", "ESORT", "SEARCHRES", "WITHIN",
        "CONTEXT=SEARCH", "CONTEXT=SORT", "SORT", "SORT=DISPLAY", "THREAD=REFERENCES", "THREAD=REFS",
        "THREAD=ORDEREDSUBJECT", "LIST-EXTENDED", "LIST-STATUS", "LIST-MYRIGHTS", "SPECIAL-USE",
        "CREATE-SPECIAL-USE", "MOVE", "I18NLEVEL=1", "I18NLEVEL=2", "LANGUAGE", "COMPRESS=DEFLATE",
        "NOTIFY", "METADATA", "METADATA-SERVER", "QUOTA", "QUOTASET", "QUOTA=RES-STORAGE",
        "QUOTA=RES-MESSAGE", "QUOTA=RES-MAILBOX", "ACL", "RIGHTS=TEKX", "RIGHTS=TEXK", "UTF8=ACCEPT",
        "UTF8=ONLY", "APPENDLIMIT", "OBJECTID", "SNIPPET=FUZZY", "PREVIEW=FUZZY", "PREVIEW",
        "STATUS=SIZE", "SAVEDATE", "REPLACE", "UNAUTHENTICATE", "UIDONLY", "PARTIAL", "INPROGRESS",
        "MULTISEARCH", "SEARCH=FUZZY", "FILTERS", "CONVERT", "ANNOTATE-EXPERIMENT-1", "XLIST",
        "X-GM-EXT-1", "XAPPLEPUSHSERVICE", "XYMHIGHESTMODSEQ", "X-SUN-IMAP", "X-NETSCAPE",
        "X-ANNOTATEMORE", "XUIDPLUS",
};

/* Codes are one byte, 1..254; 0 ends the list and 0xff marks a name of its own. */
_Static_assert(ELEMENTSOF(known) < CAPS_OTHER, "capability codes are one byte");

/* The code of name[0..len) in any case, or 0. */
static uint8_t known_code(const char *name, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (strlen(known[i]) == len && strncasecmp(known[i], name, len) == 0)
                        return (uint8_t) (i + 1);
        return 0;
}

/* The entry after the one at e. */
static const uint8_t *entry_next(const uint8_t *e) {
        return *e == CAPS_OTHER ? e + 1 + strlen((const char *) e + 1) + 1 : e + 1;
}

int imap_caps_set(ImapCaps *c, const ImapArg *a, size_t n) {
        const ImapArg *t = a;
        size_t bytes = 1;
        uint8_t *d, *w;

        for (size_t i = 0; i < n; i++, t = imap_arg_next(t))
                bytes += known_code(t->str, t->len) ? 1 : 1 + t->len + 1;
        d = malloc(bytes);
        if (!d)
                return -ENOMEM;
        w = d;
        for (size_t i = 0; i < n; i++, a = imap_arg_next(a)) {
                uint8_t k = known_code(a->str, a->len);

                if (k) {
                        *w++ = k;
                        continue;
                }
                *w++ = CAPS_OTHER;
                for (size_t j = 0; j < a->len; j++) {
                        char ch = a->str[j];
                        *w++ = (uint8_t) (ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
                }
                *w++ = 0;
        }
        *w = 0;
        free(c->data);
        c->data = d;
        c->n = n;
        return 0;
}

void imap_caps_clear(ImapCaps *c) {
        c->data = mfree(c->data);
        c->n = 0;
}

bool imap_caps_has(const ImapCaps *c, const char *cap) {
        uint8_t k = known_code(cap, strlen(cap));
        const uint8_t *e = c->data;

        /* imap_caps_set() codes every known name, so a known name is only ever its code. */
        for (size_t i = 0; i < c->n; i++, e = entry_next(e))
                if (k ? *e == k : *e == CAPS_OTHER && strcasecmp((const char *) e + 1, cap) == 0)
                        return true;
        return false;
}

const char *imap_caps_get(const ImapCaps *c, size_t i) {
        const uint8_t *e = c->data;

        if (i >= c->n)
                return NULL;
        while (i-- > 0)
                e = entry_next(e);
        return *e == CAPS_OTHER ? (const char *) e + 1 : known[*e - 1];
}

size_t imap_caps_allocated(const ImapCaps *c) {
        const uint8_t *e = c->data;

        if (!e)
                return 0;
        for (size_t i = 0; i < c->n; i++)
                e = entry_next(e);
        return (size_t) (e - c->data) + 1;
}

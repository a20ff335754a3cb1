/* SPDX-License-Identifier: MIT */
/*
 * fuzz-rfc2047.c: libFuzzer target for header decoding for hooks and the
 * hook env/JSON builders (docs/SECURITY.md, Fuzzing).
 *
 * The first input byte is the cap (255: none), the rest is header text.  It
 * is decoded with and without the cap, and both results must be valid UTF-8
 * without control or bidi characters (checked here by code independent of
 * details.c), the capped one must fit, and must be the longest prefix of the
 * uncapped one that fits on a character boundary.  The sanitizer must be
 * idempotent on the output; the environment entry must carry the decoded
 * subject byte for byte; the JSON line must hold no raw control byte.  When
 * the text starts with "* ", it is also parsed as an IMAP response and a
 * FETCH goes through message_details_from_fetch().  Any violation aborts.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "details.h"
#include "fuzz.h"
#include "imap-parser.h"
#include "macro.h"

/* Length of the clean UTF-8 character at s (valid, no C0/DEL/C1/bidi), or 0. */
static size_t clean_char(const unsigned char *s, size_t n) {
        size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 :
                     (s[0] & 0xF8) == 0xF0 ? 4 : 0;
        uint32_t cp = len == 1 ? s[0] : len == 2 ? s[0] & 0x1Fu : len == 3 ? s[0] & 0x0Fu : s[0] & 0x07u;

        if (len == 0 || len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3Fu);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
            (cp >= 0x2066 && cp <= 0x2069))
                return 0;
        return len;
}

static void must_be_clean(const char *s) {
        size_t n = strlen(s);

        for (size_t i = 0; i < n;) {
                size_t l = clean_char((const unsigned char *) s + i, n - i);
                if (l == 0)
                        abort();
                i += l;
        }
}

/* The JSON line: valid UTF-8, no raw byte below 0x20 but the final "\n". */
static void check_json(const MessageDetails *d) {
        Buf out = BUF_INIT;

        if (message_details_to_json(d, &out) < 0)
                return;
        if (out.len < 2 || memcmp(out.data + out.len - 2, "}\n", 2) != 0)
                abort();
        for (size_t i = 0; i + 1 < out.len; i++)
                if ((unsigned char) out.data[i] < 0x20)
                        abort();
        out.data[out.len - 1] = 0;
        for (size_t i = 0; i + 1 < out.len;) {
                const unsigned char *u = (const unsigned char *) out.data + i;
                /* DEL and C1 are escaped, so the clean-character check applies. */
                size_t l = clean_char(u, out.len - 1 - i);
                if (l == 0)
                        abort();
                i += l;
        }
        buf_done(&out);
}

static void check_env(const MessageDetails *d) {
        _cleanup_(details_strv_freep) char **env = NULL;
        const char *want[] = { d->from, d->subject, d->message_id };
        const char *names[] = { "IMAPIDLED_FROM=", "IMAPIDLED_SUBJECT=", "IMAPIDLED_MESSAGE_ID=" };

        if (message_details_env(d, &env) < 0)
                return;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                size_t l = strlen(names[i]);

                if (strncmp(env[i], names[i], l) != 0)
                        abort();
                must_be_clean(env[i]);
                /* Already sanitized values pass unchanged. */
                if (strcmp(env[i] + l, want[i] ?: "") != 0)
                        abort();
        }
        if (strncmp(env[3], "IMAPIDLED_UID=", 14) != 0 || env[4])
                abort();
}

static void fuzz_fetch(const uint8_t *data, size_t size) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        const ImapResponse *resp;
        MessageDetails d = {};
        const DetailsLimits lim = { .max_field = 64, .max_preview = 16 };
        size_t used;

        if (imap_parser_new(NULL, &p) < 0 || imap_parser_feed(p, data, size, &used) != 1)
                return;
        resp = imap_parser_response(p);
        if (resp->data_type != IMAP_DATA_FETCH)
                return;
        if (message_details_from_fetch(resp->fetch, &lim, &d) < 0)
                return;
        if (!d.flags)
                abort();
        for (char **f = d.flags; *f; f++) {
                must_be_clean(*f);
                if (strlen(*f) > lim.max_field)
                        abort();
        }
        const char *fields[] = { d.from, d.subject, d.message_id, d.date };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (fields[i]) {
                        must_be_clean(fields[i]);
                        if (strlen(fields[i]) > lim.max_field)
                                abort();
                }
        if (d.preview) {
                must_be_clean(d.preview);
                if (strlen(d.preview) > lim.max_preview)
                        abort();
        }
        check_json(&d);
        check_env(&d);
        message_details_done(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *full = NULL, *capped = NULL, *again = NULL;
        size_t max, lf, lc;

        if (size < 1)
                return 0;
        max = data[0] == 0xFF ? SIZE_MAX : data[0];
        data++;
        size--;

        if (size >= 2 && data[0] == '*' && data[1] == ' ')
                fuzz_fetch(data, size);

        if (rfc2047_decode((const char *) data, size, SIZE_MAX, &full) < 0 ||
            rfc2047_decode((const char *) data, size, max, &capped) < 0)
                return 0;
        must_be_clean(full);
        must_be_clean(capped);
        lf = strlen(full);
        lc = strlen(capped);
        if (lc > max || lc > lf || memcmp(full, capped, lc) != 0)
                abort();
        /* Cut exactly where the next character would not fit. */
        if (lc < lf && lc + clean_char((const unsigned char *) full + lc, lf - lc) <= max)
                abort();

        if (details_sanitize_text(full, lf, SIZE_MAX, &again) < 0)
                return 0;
        if (strcmp(again, full) != 0)
                abort();

        MessageDetails d = { .uid = 1, .from = capped, .subject = full, .message_id = again };
        check_json(&d);
        check_env(&d);
        return 0;
}

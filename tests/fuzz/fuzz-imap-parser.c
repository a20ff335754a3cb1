/* SPDX-License-Identifier: MIT */
/*
 * fuzz-imap-parser.c: libFuzzer target for the response parser.
 *
 * The first input byte picks the chunking (docs/SECURITY.md, Fuzzing, after
 * Dovecot's incremental parser tests): 0 = whole, 1 = byte by byte, else
 * pieces of that many bytes.  The second picks small limits or the defaults,
 * so the limit paths are reached with short inputs.  Every response is dumped,
 * which reads every byte it points to, and the whole-input parse must agree
 * with the chunked one: any difference aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "imap-dump.h"
#include "imap-parser.h"

static char *run(const ImapLimits *lim, const uint8_t *data, size_t size, size_t step) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        Buf out = BUF_INIT;
        size_t pos = 0;

        if (imap_parser_new(lim, &p) < 0)
                return NULL;
        while (pos < size) {
                size_t len = step == 0 ? size - pos : MIN(step, size - pos);

                pos += len;
                while (len > 0) {
                        size_t used;
                        int r = imap_parser_feed(p, data + pos - len, len, &used);

                        if (r < 0) {
                                char e[16];
                                int n = snprintf(e, sizeof(e), "E%d;", -r);
                                (void) buf_append(&out, e, (size_t) n, 0);
                                return out.data ? out.data : strdup("");
                        }
                        if (used > len)
                                abort();
                        if (r == 1) {
                                _cleanup_free_ char *d = imap_response_dump(imap_parser_response(p));
                                if (!d)
                                        abort();
                                (void) buf_append(&out, d, strlen(d), 0);
                                (void) buf_append(&out, ";", 1, 0);
                        } else if (used != len)
                                abort();
                        len -= used;
                }
        }
        (void) buf_append(&out, imap_parser_in_response(p) ? "P" : "", 1, 0);
        return out.data ? out.data : strdup("");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ImapLimits small = { .max_line = 64, .max_literal = 32, .max_response = 256, .max_depth = 4, .max_args = 16 };
        const ImapLimits *lim;
        char *a, *b;
        size_t step;

        if (size < 2)
                return 0;
        step = data[0] == 0 ? 0 : data[0];
        lim = (data[1] & 1) ? &small : NULL;
        data += 2;
        size -= 2;

        a = run(lim, data, size, 0);
        b = run(lim, data, size, step);
        if (a && b && strcmp(a, b) != 0)
                abort(); /* chunking changed the result */
        free(a);
        free(b);
        return 0;
}

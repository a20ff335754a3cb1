/* SPDX-License-Identifier: MIT */
/*
 * fuzz-imap-utf7.c: libFuzzer target for modified UTF-7 (docs/SECURITY.md I03).
 *
 * The input is tried both ways.  As mUTF-7: if it decodes, encoding the
 * result must give back exactly the input bytes (only canonical forms are
 * accepted).  As UTF-8: if it encodes, decoding the result must give back
 * exactly the input.  Any difference aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "imap-utf7.h"
#include "macro.h"

static void must_round_trip(const uint8_t *data, size_t size,
                            int (*there)(const char *, size_t, char **),
                            int (*back)(const char *, size_t, char **)) {
        _cleanup_free_ char *mid = NULL, *again = NULL;

        if (there((const char *) data, size, &mid) < 0)
                return;
        if (back(mid, strlen(mid), &again) < 0)
                abort(); /* our own output was refused */
        if (strlen(again) != size || memcmp(again, data, size) != 0)
                abort(); /* not the same bytes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        must_round_trip(data, size, imap_utf7_decode, imap_utf7_encode);
        must_round_trip(data, size, imap_utf7_encode, imap_utf7_decode);
        return 0;
}

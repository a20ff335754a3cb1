/* SPDX-License-Identifier: MIT */
/*
 * fuzz-state.c: libFuzzer target for the state file parser (state_parse()).
 *
 * Whatever the bytes, parsing must not crash, leak or overrun.  When they
 * parse, the set is formatted and parsed again: the second set must equal the
 * first entry by entry (name and every field), formatting it must give the
 * same text again, and every entry must be found by state_get().  Any
 * difference aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "state.h"

static bool entry_equal(const char *an, const MailboxState *a, const char *bn, const MailboxState *b) {
        return strcmp(an, bn) == 0 && a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
                a->exists == b->exists && a->highestmodseq == b->highestmodseq && a->updated == b->updated;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(state_set_freep) StateSet *a = NULL, *b = NULL;
        _cleanup_free_ char *text = NULL, *again = NULL;
        const char *reason = NULL;
        unsigned line = 0;
        size_t n, m;

        if (state_parse(data, size, &a, &line, &reason) < 0) {
                if (!reason)
                        abort(); /* every failure names its reason */
                return 0;
        }
        if (state_format(a, &text, &n) < 0)
                abort();
        if (state_parse(text, n, &b, &line, &reason) < 0)
                abort(); /* our own output was refused */
        if (state_set_size(a) != state_set_size(b))
                abort();
        for (size_t i = 0; i < state_set_size(a); i++) {
                const char *an, *bn;
                MailboxState as, bs, gs;

                if (state_set_entry(a, i, &an, &as) < 0 || state_set_entry(b, i, &bn, &bs) < 0)
                        abort();
                if (!entry_equal(an, &as, bn, &bs))
                        abort(); /* the round trip changed an entry */
                if (!state_get(a, an, &gs) || !entry_equal(an, &as, an, &gs))
                        abort();
        }
        if (state_format(b, &again, &m) < 0 || m != n || memcmp(text, again, n) != 0)
                abort(); /* formatting is not deterministic */
        return 0;
}

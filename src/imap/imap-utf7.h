/* SPDX-License-Identifier: MIT */
/*
 * imap-utf7.h: modified UTF-7 for mailbox names (RFC 3501 §5.1.3).
 *
 * Mailbox names travel in mUTF-7 unless UTF8=ACCEPT is enabled.  The wire
 * form is the identifier a daemon keeps; a decoded form is only shown or
 * passed on when it round-trips (docs/SECURITY.md I03), so both directions accept
 * exactly the canonical encoding and nothing else: decode(encode(x)) == x and
 * encode(decode(y)) == y whenever either call succeeds.
 *
 * Both functions are pure: no allocation besides the result, no locale, no
 * global state.
 */
#pragma once

#include <stddef.h>

/* Encode 'len' bytes of UTF-8 into mUTF-7.  Printable US-ASCII (0x20-0x7e)
 * stays as is, "&" becomes "&-", every other character is UTF-16BE in
 * modified base64 ("," for "/", no padding) between "&" and "-", one run per
 * stretch of such characters.
 *
 * Returns 0 and stores a malloc'ed NUL-terminated string in *ret (caller
 * frees), -EINVAL for invalid UTF-8 (overlong forms, surrogates, code points
 * over U+10FFFF, truncated or stray bytes) or a NUL character (the results are
 * C strings), -ENOMEM.  *ret is untouched on error. */
int imap_utf7_encode(const char *utf8, size_t len, char **ret);

/* Decode 'len' bytes of mUTF-7 into UTF-8.  Rejects with -EINVAL everything
 * that the encoder above would not have produced:
 *   - bytes outside 0x20-0x7e;
 *   - "&" without its closing "-", or with a character outside the modified
 *     base64 alphabet, including "=";
 *   - "&" runs encoding printable US-ASCII (including "&" itself: that is "&-")
 *     or U+0000;
 *   - two adjacent runs ("&AGE-&AGI-" must have been one run);
 *   - leftover bits that are not zero or make up a whole base64 character;
 *   - a run that ends inside a UTF-16 unit, or an unpaired surrogate.
 * Returns 0 and a malloc'ed NUL-terminated string in *ret, -EINVAL, -ENOMEM. */
int imap_utf7_decode(const char *mutf7, size_t len, char **ret);

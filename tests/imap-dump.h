/* SPDX-License-Identifier: MIT */
/*
 * imap-dump.h: a canonical one-line text form of a parsed response, for tests
 * and fuzzers.  Two parses agree exactly when their dumps are equal, and
 * producing the dump reads every byte the response points to (so sanitizers
 * see any bad pointer the parser hands out).
 */
#pragma once

#include "imap-parser.h"

/* Returns a malloc'ed NUL-terminated string, or NULL on allocation failure. */
char *imap_response_dump(const ImapResponse *r);

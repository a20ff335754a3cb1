/* SPDX-License-Identifier: MIT */
/*
 * trace.h: --trace=ACCOUNT: the IMAP exchange of the named accounts on stderr, one line per
 * protocol line, "trace <connection> C: ..." for what imapidled sent and "S: ..." for what the
 * server sent, redacted by the engine (src/imap/imap-trace.h: passwords, SASL responses,
 * literals and message data hidden) and escaped (log_escape()).  What a user pastes into a bug
 * report (docs/imapidled.8).
 *
 * A connection of a traced account holds an ImapTrace while it has a session; every other
 * connection holds NULL, so a disabled trace costs one branch per read and per write.  The
 * names are kept here, not in the configuration, so that a reload traces the same accounts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "imap-trace.h"

/* Trace the account called name (the command line; repeatable).  -ENOMEM. */
int trace_add_account(const char *name);
/* Every name given is an account of cfg; else logs an error naming it and the accounts there
 * are, and returns -ENOENT. */
int trace_check_accounts(const Cfg *cfg);
/* A new session of account_name: *t becomes a fresh tracer when the account is traced (an
 * allocation failure is logged and the session goes untraced), else NULL. */
void trace_attach(ImapTrace **t, const char *account_name);
/* Bytes written to (IMAP_TRACE_CLIENT) or read from (IMAP_TRACE_SERVER) the server, in the
 * order they went; every line they complete goes to stderr, prefixed with label. */
void trace_bytes(ImapTrace *t, const char *label, ImapTraceDir dir, const void *buf, size_t n);
/* Forget the names (at exit). */
void trace_done(void);

/* SPDX-License-Identifier: MIT */
/*
 * tool.h: one-shot command-line tools of the imapidled binary.  They use the
 * blocking client (imap-client.h); the daemon's loop never does.
 */
#pragma once

#include "cfg.h"

/* Connect as ACCOUNT and print every mailbox it can watch, one per line:
 * the UTF-8 name, then its flags.  Returns 0 or a negative errno (logged). */
int tool_list_mailboxes(const Cfg *cfg, const char *account);

/* SPDX-License-Identifier: MIT */
/*
 * tool.h: one-shot command-line tools of the imapidled binary.  They use the
 * blocking client (imap-client.h); the daemon's loop never does.
 */
#pragma once

#include "cfg.h"

/* Connect as ACCOUNT and print every mailbox it can watch, one per line:
 * the UTF-8 name, then its flags, both escaped where they are not printable
 * UTF-8 (docs/SECURITY.md I09).  Every entry is printed as it arrives, however
 * many there are; an entry that breaks the LIST grammar is skipped with a
 * warning (I08).  Returns 0 or a negative errno (logged): a LIST refused or cut
 * short, or output that could not be written, is an error, never a short
 * list. */
int tool_list_mailboxes(const Cfg *cfg, const char *account);

/* SPDX-License-Identifier: MIT */
/*
 * state.h: what the daemon remembers about each watched mailbox between runs
 * (UIDVALIDITY, UIDNEXT, EXISTS, HIGHESTMODSEQ and when they were recorded), so
 * that on every connect it can tell mail that came while it was away from
 * nothing having changed (issue 5, docs/HACKING.md).
 *
 * One text file per account in the state directory, docs/STATE.md describes
 * the format.  Files are replaced atomically (temp file, fsync, rename, fsync
 * of the directory), and the state is only ever a hint: a missing, unreadable
 * or corrupt file is logged as a warning and loads as an empty set, so the
 * daemon starts fresh instead of failing.  Everything here blocks on the file
 * system (small files, local directory) and nothing calls back.  Not
 * thread-safe; one daemon per state directory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"

/* Limits of the parser and of state_put(), docs/STATE.md.  A set that obeys the
 * name and count limits always formats into lines and a file within the other
 * two, so everything we save we can load again. */
#define STATE_MAX_NAME 1024U            /* bytes of a mailbox name, unescaped */
#define STATE_MAX_LINE 4096U            /* bytes of a line, without its newline */
#define STATE_MAX_MAILBOXES 1000U       /* mailboxes in one account's file */
#define STATE_MAX_FILE (32U + STATE_MAX_MAILBOXES * (STATE_MAX_LINE + 1U))
#define STATE_MAX_ACCOUNT 200U          /* bytes of an account name: "<account>.state" and
                                         * its temp name must fit NAME_MAX */

typedef struct MailboxState {
        uint32_t uidvalidity;           /* never 0 (RFC 3501 §2.3.1.1) */
        uint32_t uidnext;               /* 0 = the server did not say */
        uint32_t exists;
        uint64_t highestmodseq;         /* 0 = none/no CONDSTORE; at most 2^63-1 (RFC 7162 §7) */
        usec_t updated;                 /* CLOCK_REALTIME when state_put() recorded it, 0 = unknown */
} MailboxState;

/* ---- the directory ---------------------------------------------------------------------------- */

typedef struct StateDir StateDir;

/* Open the state directory 'path', or with NULL the one the environment names:
 * the first entry of $STATE_DIRECTORY (systemd's StateDirectory=, a
 * colon-separated list), else $XDG_STATE_HOME/imapidled, else
 * $HOME/.local/state/imapidled.  Empty or relative values are ignored (as the
 * XDG base directory spec says for XDG_*).  Missing directories along the path
 * are created with mode 0700 (an existing one keeps its mode).  Returns
 * -ENXIO when none of the variables gives an absolute path, -ENOTDIR when the
 * path exists but is no directory, -errno from mkdir(), -ENOMEM. */
int state_dir_open(const char *path, StateDir **ret);
StateDir *state_dir_free(StateDir *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(StateDir *, state_dir_free);
/* The directory's absolute path; valid as long as d. */
const char *state_dir_path(const StateDir *d);

/* ---- the set of one account's mailboxes ------------------------------------------------------- */

/* Mailbox name -> MailboxState.  Names are byte strings (UTF-8 in practice),
 * compared exactly; "INBOX" is not folded here. */
typedef struct StateSet StateSet;

int state_set_new(StateSet **ret);
StateSet *state_set_free(StateSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(StateSet *, state_set_free);
size_t state_set_size(const StateSet *s);
/* The i-th entry in byte order of the names (i < state_set_size()).  *ret_name
 * is valid until the set is next changed or freed. */
int state_set_entry(const StateSet *s, size_t i, const char **ret_name, MailboxState *ret);

/* Look up a mailbox: true and *ret filled if known (ret may be NULL). */
bool state_get(const StateSet *s, const char *mailbox, MailboxState *ret);
/* Add or replace a mailbox's state; the name is copied.  If st->updated is 0 it
 * is stamped with the current CLOCK_REALTIME.  Returns -EINVAL for an empty
 * name or uidvalidity 0, -ERANGE for highestmodseq over 2^63-1, -EMSGSIZE for
 * a name over STATE_MAX_NAME or a new mailbox beyond STATE_MAX_MAILBOXES,
 * -ENOMEM; the set is unchanged on error. */
int state_put(StateSet *s, const char *mailbox, const MailboxState *st);
/* Drop a mailbox (no longer watched).  Returns 1 if it was there, 0 if not. */
int state_forget(StateSet *s, const char *mailbox);

/* ---- files ------------------------------------------------------------------------------------ */

/* Load "<account>.state".  A missing file gives an empty set and 0.  A corrupt
 * or unreadable file is logged as a warning (naming the file, line and
 * reason) and also gives an empty set and 0: the daemon never fails because
 * of its state (issue 5).  Errors: -EINVAL for an account name outside
 * [A-Za-z0-9._-]+, -ENAMETOOLONG over STATE_MAX_ACCOUNT, -ENOMEM.  *ret is
 * owned by the caller. */
int state_load(StateDir *d, const char *account, StateSet **ret);
/* Replace "<account>.state" atomically with the content of s: a temp file
 * ".<account>.state.XXXXXX" created O_CREAT|O_EXCL with mode 0600 in the same
 * directory, written, fsync()ed, renamed over the old file, then the
 * directory is fsync()ed.  Any failure before the rename removes the temp file
 * and leaves the old file as it was.  Returns -errno of the failing step (the
 * caller logs it); a failing fsync of the directory is reported too, although
 * the new file is then in place. */
int state_save(StateDir *d, const char *account, const StateSet *s);
/* The same for n accounts at once, for a daemon with thousands of them: all
 * temp files are written first, then one syncfs() of the directory's file
 * system makes them durable together (instead of an fsync() each), then each
 * is renamed into place, then the directory is fsync()ed once.  The old-file-
 * or-new-file guarantee of state_save() holds for every account.
 * ret_errors[i] gets 0 or the -errno of account i's failing step.  Returns
 * the number of accounts that failed (0: all saved), or < 0 if the flush or
 * the directory failed (then no temp file was renamed, except for that last
 * directory fsync, after which all renames happened). */
int state_save_many(StateDir *d, size_t n, const char *const *accounts, const StateSet *const *sets,
                    int *ret_errors);
/* Delete "<account>.state"; a missing file is not an error. */
int state_remove(StateDir *d, const char *account);

/* ---- the format, for tests and the fuzzer ----------------------------------------------------- */

/* Parse a whole file's bytes.  On error returns -EBADMSG (syntax, duplicate
 * mailbox), -ERANGE (a number too large for its field), -EMSGSIZE (a limit)
 * or -ENOMEM, and sets *reterr_line (1-based; 0 for the file as a whole) and
 * *reterr_reason (a static string) when those are non-NULL. */
int state_parse(const void *data, size_t size, StateSet **ret, unsigned *reterr_line,
                const char **reterr_reason);
/* Format s as a file (NUL-terminated, *ret_size without the NUL), mailboxes in
 * byte order of their names.  The result is owned by the caller. */
int state_format(const StateSet *s, char **ret, size_t *ret_size);

/* SPDX-License-Identifier: MIT */
/*
 * th-daemon-dovecot.h: the Dovecot side of the tests that run the imapidled binary against a
 * real server (tests/test-daemon.c, tests/test-liveness.c, tests/test-notify.c): one private
 * Dovecot per test program (tests/th-dovecot.h), started by an unchecked fixture, and what
 * those tests do to it: accounts for its users, deliveries, messages dropped into a Maildir
 * behind its back, password changes.  The daemon side is tests/th-daemon.h.
 *
 *   tcase_add_unchecked_fixture(tc, daemon_dovecot_setup, daemon_dovecot_teardown);
 *   ...
 *   daemon_dovecot_init(&d);        (fails the test if the Dovecot did not start)
 *   acc = account_block(&d, "work", 1, NULL);
 */
#pragma once

#include <stdbool.h>

#include "th-daemon.h"
#include "th-dovecot.h"

/* The program's Dovecot: valid between daemon_dovecot_setup() and daemon_dovecot_teardown(). */
extern ThDovecot dovecot;

/* Unchecked fixture (the runner's parent process): start and stop the Dovecot.  A failed
 * start is reported by daemon_dovecot_init() in each test, not here (a ck_assert in an
 * unchecked fixture would end the whole runner). */
void daemon_dovecot_setup(void);
void daemon_dovecot_teardown(void);
/* daemon_init(), after asserting that the Dovecot runs. */
void daemon_dovecot_init(Daemon *d);

/* An account block (libconfig group, no trailing comma) for Dovecot user N watching what
 * 'extra' says (INBOX by default), its hooks writing "<event>-<account>-<pid>" files with
 * their environment into d->dir (th-daemon.h); on 'port' with STARTTLS and Dovecot's CA, or
 * in plaintext (for the fault proxy, which must see the protocol).  uids: on_new wants its
 * exact UIDs (uids = true).  The caller frees the result. */
char *account_block_full(Daemon *d, const char *name, unsigned user, const char *extra, const char *port,
                         bool plaintext, bool uids);
/* The same on Dovecot's plaintext port with STARTTLS, uids = false. */
char *account_block(Daemon *d, const char *name, unsigned user, const char *extra);

/* A short message with 'subject' into user N's INBOX or 'mailbox', through doveadm: IDLE
 * clients hear of it as of real mail. */
void deliver(unsigned user, const char *subject);
void deliver_to(unsigned user, const char *mailbox, const char *subject);
/* A message put straight into user N's Maildir/new, as a local MTA would while the IMAP
 * server is down (no doveadm, so no auth server needed). */
void maildir_drop(unsigned user, const char *subject);
/* Set user N's password in Dovecot's passwd-file and wait until Dovecot takes it (it
 * re-reads the file when its time stamp changes, at most once a second). */
void set_password(unsigned user, const char *password);

/* Mailbox patterns against Dovecot (tests/test-notify.c with NOTIFY, tests/test-daemon.c with
 * polling): user3's folders Pt1, Pt2, PtGone, PtBox and PtBox/Child afresh, and none of those a
 * run creates. */
void pattern_folders(void);
void pattern_create(const char *name);
void pattern_rename(const char *from, const char *to);
void pattern_delete(const char *name);
/* The whole scenario: 'mailboxes' (a libconfig list of patterns) for user3, 'extra' settings
 * of the account; notify: the account uses NOTIFY (else it polls).  What the patterns match is
 * watched from the start; a folder created while running is watched, and mail delivered into
 * it at once is reported; a deleted one is dropped; a renamed one keeps what was known (NOTIFY)
 * or is new; across a restart the matched folders come back from the state file. */
void patterns_dovecot(const char *mailboxes, const char *extra, bool notify);

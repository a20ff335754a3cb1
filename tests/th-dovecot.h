/* SPDX-License-Identifier: MIT */
/*
 * th-dovecot.h: a private Dovecot for Check tests, wrapping tests/dovecot.sh.
 * th_dovecot_start() makes a temporary directory, starts Dovecot in it on two
 * free loopback ports and fills a ThDovecot; th_dovecot_stop() stops it and
 * removes the directory.  Delivery and expunges go through doveadm, so they
 * reach IDLE clients the way real mail does.
 *
 * Use it from an unchecked fixture, which runs in the Check runner's parent
 * process, so teardown happens even when a test fails or crashes in its
 * forked child:
 *
 *   static ThDovecot dovecot;
 *   static int dovecot_r;
 *   static void setup(void) { dovecot_r = th_dovecot_start(&dovecot); }
 *   static void teardown(void) { th_dovecot_stop(&dovecot); }
 *   tcase_add_unchecked_fixture(tc, setup, teardown);
 *   ... and each test starts with ck_assert_int_eq(dovecot_r, 0);
 *
 * (Do not ck_assert inside an unchecked setup: a failure there ends the whole
 * runner.)  As a fallback, every instance still running when the process that
 * started it exits is stopped from an atexit handler; forked test children
 * never stop anything.  Nothing here is thread-safe.  All calls block until
 * the helper processes they spawn have finished.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#define TH_DOVECOT_USERS_MAX 64

typedef struct ThDovecot {
        char *dir;              /* the temporary directory; NULL when not running */
        const char *host;       /* "127.0.0.1" */
        char plain_port[6];     /* plaintext and STARTTLS */
        char tls_port[6];       /* implicit TLS */
        uint16_t plain_port_num;
        uint16_t tls_port_num;
        char *ca_file;          /* dir/ca.pem: the CA that signed the server certificate */
        char *tunnel;           /* dir/tunnel: PREAUTH imap on stdin/stdout, user1 or argv[1] */
        char *conf;             /* dir/dovecot.conf, for doveadm -c */
        pid_t master_pid;
        unsigned n_users;       /* user1..userN, passwords pass1..passN */
        char users[TH_DOVECOT_USERS_MAX][16];
        char passwords[TH_DOVECOT_USERS_MAX][16];
} ThDovecot;

/* Start a Dovecot (DOVECOT_USERS in the environment sets the number of users,
 * default 4, at most TH_DOVECOT_USERS_MAX).  The script is found through the
 * top_srcdir environment variable (set by 'make check'), else the source
 * directory compiled in as TH_SRCDIR.  Takes about a quarter of a second;
 * th_dovecot_stop() 0.03 s to 1.1 s (longer with sessions still open).  On
 * failure the logs are copied to stderr, nothing is left running, *ret is
 * zeroed and -errno returned. */
int th_dovecot_start(ThDovecot *ret);

/* Stop the Dovecot, remove its directory, and zero *d.  Idempotent; accepts a
 * zeroed ThDovecot. */
void th_dovecot_stop(ThDovecot *d);
/* Stop every process of the instance and start it again on the same ports
 * with the same mail: for reconnection tests.  Returns 0 or -errno. */
int th_dovecot_restart(ThDovecot *d);
/* Stop every process of the instance but keep its directory: the server is
 * down until th_dovecot_restart().  doveadm still works on the mail. */
int th_dovecot_pause(ThDovecot *d);

/* "userN" and "passN" for 1 <= i <= n_users; NULL otherwise.  Valid as long
 * as *d is. */
const char *th_dovecot_user(const ThDovecot *d, unsigned i);
const char *th_dovecot_pass(const ThDovecot *d, unsigned i);

/* Run "doveadm -c <conf> argv..." (argv without "doveadm", NULL-terminated,
 * at most 28 entries; const so that string literals need no casts under
 * -Wwrite-strings) and wait for it; its stdout and stderr are the caller's.  Returns 0 if it exited with 0, its exit status (> 0) if it
 * failed, -EIO if it was killed by a signal, or -errno. */
int th_dovecot_doveadm(ThDovecot *d, const char *const argv[]);

/* Store message (RFC 5322 text) in mailbox of user i with doveadm save.
 * Returns as th_dovecot_doveadm(). */
int th_dovecot_deliver(ThDovecot *d, unsigned user, const char *mailbox, const char *message);

/* Expunge every message of mailbox of user i (doveadm expunge).  Returns as
 * th_dovecot_doveadm(). */
int th_dovecot_expunge_all(ThDovecot *d, unsigned user, const char *mailbox);

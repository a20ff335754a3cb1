/* SPDX-License-Identifier: MIT */
/*
 * secret.h: an account's secret (password_command's password, oauth2_token_command's token),
 * asked for once and shared by the account's connections (issue 13).  A command that prompts
 * (pass with gpg-agent, a hardware token) must not prompt once per connection: connections
 * that ask while the command runs wait for that run (one in flight per cache), and its
 * result is kept for a lifetime (secret_cache, docs/imapidled.conf.5) so that connections
 * that reconnect together soon after are served from memory.
 *
 * The kept secret is in pages of its own, mlock()ed where RLIMIT_MEMLOCK allows (best effort:
 * otherwise it works unlocked, said once at debug level) and left out of core dumps; it is
 * wiped (explicit_bzero) when found expired at its next use, when invalidated and when the
 * cache is freed.  Nothing here keeps a timer: the age is checked when the secret is asked for,
 * against the caller's clock ('now'), so that the tests can drive it.
 *
 * A lifetime of 0 keeps nothing and shares nothing: every waiter gets a run of its own, one
 * run at a time, in the order they asked.
 *
 * Needs what hook.h's secret_command_run() needs (SIGCHLD blocked).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct SecretCache SecretCache;
typedef struct SecretWaiter SecretWaiter;

/* The run the waiter waited for ended: r = 0 and the secret (len bytes, NUL-terminated, valid
 * only during the call: copy it) with its generation (for secret_cache_invalidate()), or
 * r < 0 as secret_command_run() reports it and secret NULL.  Called from the event loop, once
 * per secret_cache_get() that returned 0, unless cancelled first.  May call anything here,
 * free the waiter's owner and the cache too. */
typedef void (*SecretReadyFn)(SecretWaiter *w, int r, const char *secret, size_t len, uint64_t generation);

/* Embedded in the asker (a connection); a list node, O(1) to cancel. */
struct SecretWaiter {
        SecretWaiter *prev, *next;      /* both NULL while not waiting */
        SecretReadyFn ready;
};

#define SECRET_WAITER_INIT(fn) ((SecretWaiter) { .ready = (fn) })

/* How to get the secret; read at each secret_cache_get() (a reload may move it). */
typedef struct SecretSource {
        char *const *argv;              /* the command (not NULL) */
        char *const *pass_env;          /* as secret_command_run() takes it, may be NULL */
        uint64_t lifetime_usec;         /* keep the result this long after its run started; 0: never */
        uint64_t timeout_usec;          /* secret_command_run()'s */
        size_t max_bytes;               /* secret_command_run()'s */
        const char *log_name;           /* e.g. "work password_command" */
} SecretSource;

int secret_cache_new(sd_event *e, SecretCache **ret);
/* Stops a run in flight (its waiters are not called: their owners go first), wipes and unmaps
 * the secret.  Accepts NULL, returns NULL. */
SecretCache *secret_cache_free(SecretCache *sc);
DEFINE_TRIVIAL_CLEANUP_FUNC(SecretCache *, secret_cache_free);

/* Ask for the secret at 'now' (any clock, the same for every call).  Returns:
 *   1: a kept secret younger than src->lifetime_usec: *ret_secret (valid until the next call
 *      into this cache: copy it), *ret_len and *ret_generation are set, w is not queued;
 *   0: w is queued; w->ready comes from the event loop (a run started, or one in flight is
 *      waited for);
 *   -EBUSY if w is queued already, -errno if the command could not be started (w not queued).
 * An expired secret is wiped first. */
int secret_cache_get(SecretCache *sc, const SecretSource *src, uint64_t now, SecretWaiter *w,
                     const char **ret_secret, size_t *ret_len, uint64_t *ret_generation);

/* Take w out of the queue; nothing if it is not queued.  O(1). */
void secret_cache_cancel(SecretWaiter *w);

/* The secret of this generation was refused (a login, an expired token): wipe it if it is
 * still the kept one, so that the next secret_cache_get() runs the command.  An older
 * generation is ignored: a newer secret was fetched since. */
void secret_cache_invalidate(SecretCache *sc, uint64_t generation);

/* For the tests: -ENOENT when nothing is kept, 1 when the kept secret is mlock()ed, 0 when not. */
int secret_cache_held(const SecretCache *sc);
/* For the tests: how many runs were started. */
uint64_t secret_cache_runs(const SecretCache *sc);

/* SPDX-License-Identifier: MIT */
/*
 * secret.c: an account's secret, asked for once and shared by its connections; the contract is
 * in secret.h.  The waiters sit in a circular list around a sentinel, so that a waiter can
 * leave it in O(1) from any list it is in, including the one secret_done() walks while it hands
 * a result out (a callback may free other waiters' owners).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hook.h"
#include "log.h"
#include "macro.h"
#include "secret.h"

struct SecretCache {
        sd_event *event;
        Hook *cmd;                      /* the run in flight, or NULL */
        uint64_t run_started;           /* 'now' of the secret_cache_get() that started it */
        SecretWaiter waiters;           /* sentinel of the circular list */
        /* What the run in flight was started with: a copy, since a reload frees the configuration
         * it came from while a run with lifetime 0 may still have waiters to start runs for. */
        char **argv, **pass_env, *log_name;
        uint64_t lifetime_usec, timeout_usec;
        size_t max_bytes;
        /* The kept secret: 'kept_size' bytes mmap()ed for it alone (mlock() works on whole pages,
         * and munlock() would unlock a page shared with anything else), NUL-terminated. */
        char *kept;
        size_t kept_len, kept_size;
        bool kept_locked;
        uint64_t kept_at;               /* run_started of the run that fetched it */
        uint64_t generation;            /* of the kept secret; bumped by every successful run */
        uint64_t runs;
};

/* Said once per process, at debug level: the secret works unlocked, and the limit is the
 * administrator's choice (LimitMEMLOCK=), not an error. */
static bool mlock_failure_logged;

static void waiters_init(SecretWaiter *head) {
        head->prev = head->next = head;
}

static bool waiters_empty(const SecretWaiter *head) {
        return head->next == head;
}

static void waiter_append(SecretWaiter *head, SecretWaiter *w) {
        w->prev = head->prev;
        w->next = head;
        head->prev->next = w;
        head->prev = w;
}

void secret_cache_cancel(SecretWaiter *w) {
        if (!w || !w->next)
                return;
        w->prev->next = w->next;
        w->next->prev = w->prev;
        w->prev = w->next = NULL;
}

/* The list moves to 'to' (a sentinel on the caller's stack); 'from' is left empty. */
static void waiters_move(SecretWaiter *from, SecretWaiter *to) {
        waiters_init(to);
        if (waiters_empty(from))
                return;
        to->next = from->next;
        to->prev = from->prev;
        to->next->prev = to;
        to->prev->next = to;
        waiters_init(from);
}

static void kept_wipe(SecretCache *sc) {
        if (!sc->kept)
                return;
        explicit_bzero(sc->kept, sc->kept_size);
        if (sc->kept_locked)
                (void) munlock(sc->kept, sc->kept_size);
        (void) munmap(sc->kept, sc->kept_size);
        sc->kept = NULL;
        sc->kept_len = sc->kept_size = 0;
        sc->kept_locked = false;
}

static int kept_store(SecretCache *sc, const char *secret, size_t len) {
        long page = sysconf(_SC_PAGESIZE);
        size_t ps = page > 0 ? (size_t) page : 4096, size;
        void *p;

        kept_wipe(sc);
        size = (len + 1 + ps - 1) / ps * ps;
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        /* Locked before the secret is written, so that it never reaches swap. */
        if (mlock(p, size) == 0)
                sc->kept_locked = true;
        else if (!mlock_failure_logged) {
                mlock_failure_logged = true;
                log_debug_errno(errno, "Cannot lock the memory of kept secrets (RLIMIT_MEMLOCK?), keeping them "
                                "unlocked: %m");
        }
        (void) madvise(p, size, MADV_DONTDUMP);
        memcpy(p, secret, len);
        ((char *) p)[len] = 0;
        sc->kept = p;
        sc->kept_len = len;
        sc->kept_size = size;
        return 0;
}

static void source_clear(SecretCache *sc) {
        sc->argv = hook_strv_free(sc->argv);
        sc->pass_env = hook_strv_free(sc->pass_env);
        sc->log_name = mfree(sc->log_name);
}

static int strv_dup(char *const *l, char ***ret) {
        size_t n = 0;
        char **c;

        if (!l) {
                *ret = NULL;
                return 0;
        }
        while (l[n])
                n++;
        c = calloc(n + 1, sizeof(char *));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i]) {
                        hook_strv_free(c);
                        return -ENOMEM;
                }
        }
        *ret = c;
        return 0;
}

static int source_copy(SecretCache *sc, const SecretSource *src) {
        char **argv = NULL, **pass_env = NULL, *log_name = NULL;

        if (strv_dup(src->argv, &argv) < 0 || strv_dup(src->pass_env, &pass_env) < 0 ||
            !(log_name = strdup(src->log_name ?: "secret command"))) {
                hook_strv_free(argv);
                hook_strv_free(pass_env);
                return -ENOMEM;
        }
        source_clear(sc);
        sc->argv = argv;
        sc->pass_env = pass_env;
        sc->log_name = log_name;
        sc->lifetime_usec = src->lifetime_usec;
        sc->timeout_usec = src->timeout_usec;
        sc->max_bytes = src->max_bytes;
        return 0;
}

static void secret_done(int r, const char *secret, size_t len, void *userdata);

static int run_start(SecretCache *sc, uint64_t now) {
        int r;

        r = secret_command_run(sc->event, sc->argv, sc->pass_env, sc->timeout_usec, sc->max_bytes, sc->log_name,
                               secret_done, sc, &sc->cmd);
        if (r < 0)
                return r;
        sc->run_started = now;
        sc->runs++;
        return 0;
}

/* Call each waiter of the list (a sentinel on the caller's stack), which empties it. */
static void hand_out(SecretWaiter *list, int r, const char *secret, size_t len, uint64_t generation) {
        while (!waiters_empty(list)) {
                SecretWaiter *w = list->next;

                secret_cache_cancel(w);
                if (r >= 0)
                        w->ready(w, 0, secret, len, generation);
                else
                        w->ready(w, r, NULL, 0, 0);
        }
}

static void secret_done(int r, const char *secret, size_t len, void *userdata) {
        SecretCache *sc = userdata;
        SecretWaiter served, failed;
        uint64_t generation;
        int k = 0;

        sc->cmd = hook_free(sc->cmd);   /* allowed from the callback (hook.h) */
        if (r >= 0) {
                sc->generation++;
                /* Not kept if it cannot be: the waiters get it anyway. */
                if (sc->lifetime_usec > 0 && kept_store(sc, secret, len) >= 0)
                        sc->kept_at = sc->run_started;
        }
        generation = sc->generation;
        waiters_init(&served);
        waiters_init(&failed);
        /* Who gets this result: every waiter; with lifetime 0 only the one it was run for, and
         * the next run starts for the others, unless it failed (they would run a failing command
         * one after the other).  Everything of sc is done before the callbacks: one of them may
         * free it. */
        if (sc->lifetime_usec == 0 && r >= 0) {
                if (!waiters_empty(&sc->waiters)) {
                        SecretWaiter *w = sc->waiters.next;

                        secret_cache_cancel(w);
                        waiter_append(&served, w);
                }
                if (!waiters_empty(&sc->waiters)) {
                        k = run_start(sc, sc->run_started);
                        if (k < 0) {
                                log_warning_errno(k, "%s: cannot start: %m", sc->log_name);
                                waiters_move(&sc->waiters, &failed);
                        }
                }
        } else
                waiters_move(&sc->waiters, &served);
        hand_out(&served, r, secret, len, generation);
        hand_out(&failed, k, NULL, 0, 0);
}

int secret_cache_new(sd_event *e, SecretCache **ret) {
        SecretCache *sc;

        assert_return(e, -EINVAL);
        assert_return(ret, -EINVAL);

        sc = calloc(1, sizeof(*sc));
        if (!sc)
                return -ENOMEM;
        sc->event = sd_event_ref(e);
        waiters_init(&sc->waiters);
        *ret = sc;
        return 0;
}

SecretCache *secret_cache_free(SecretCache *sc) {
        if (!sc)
                return NULL;
        /* Owners cancel their waiters before the cache goes; any left are only unlinked. */
        while (!waiters_empty(&sc->waiters))
                secret_cache_cancel(sc->waiters.next);
        sc->cmd = hook_free(sc->cmd);
        kept_wipe(sc);
        source_clear(sc);
        sd_event_unref(sc->event);
        free(sc);
        return NULL;
}

int secret_cache_get(SecretCache *sc, const SecretSource *src, uint64_t now, SecretWaiter *w,
                     const char **ret_secret, size_t *ret_len, uint64_t *ret_generation) {
        int r;

        assert_return(sc, -EINVAL);
        assert_return(src && src->argv && src->argv[0], -EINVAL);
        assert_return(w && w->ready, -EINVAL);
        assert_return(ret_secret && ret_len && ret_generation, -EINVAL);

        if (w->next)
                return -EBUSY;
        if (sc->kept) {
                /* The age is checked here, at use: no timer per account (secret.h). */
                if (src->lifetime_usec > 0 && now >= sc->kept_at && now - sc->kept_at < src->lifetime_usec) {
                        *ret_secret = sc->kept;
                        *ret_len = sc->kept_len;
                        *ret_generation = sc->generation;
                        return 1;
                }
                kept_wipe(sc);
        }
        if (!sc->cmd) {
                r = source_copy(sc, src);
                if (r < 0)
                        return r;
                r = run_start(sc, now);
                if (r < 0)
                        return r;
        }
        waiter_append(&sc->waiters, w);
        return 0;
}

void secret_cache_invalidate(SecretCache *sc, uint64_t generation) {
        if (sc && sc->kept && sc->generation == generation)
                kept_wipe(sc);
}

int secret_cache_held(const SecretCache *sc) {
        if (!sc || !sc->kept)
                return -ENOENT;
        return sc->kept_locked;
}

uint64_t secret_cache_runs(const SecretCache *sc) {
        return sc ? sc->runs : 0;
}

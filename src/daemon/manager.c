/* SPDX-License-Identifier: MIT */
/* manager.c: the daemon's loop, accounts, reload and systemd notifications; see manager.h. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "connection.h"
#include "desktop.h"
#include "control.h"
#include "hashmap.h"
#include "imap-util.h"
#include "log.h"
#include "manager.h"
#include "netmon.h"
#include "ramp.h"
#include "resume.h"
#include "scheduler.h"
#include "secret.h"
#include "state.h"
#include "status.h"
#include "time-util.h"
#include "watch.h"

/* SIGTERM: everything is closed within this, whatever the servers do. */
#define STOP_TIMEOUT_USEC (4 * USEC_PER_SEC)
/* State changes come in bursts; they are written once a second at most. */
#define SAVE_DELAY_USEC USEC_PER_SEC
/* Accounts written per loop turn: 10,000 dirty accounts after a restart must
 * not stall the loop for the time 10,000 files take. */
#define SAVE_BATCH 512
/* An account whose patterns keep matching other mailboxes is set up again
 * at most this often. */
#define REBUILD_MIN_USEC (10 * USEC_PER_SEC)

/* What STATUS= and READY=1 are made of, kept as counts (docs/SCALING.md: no
 * walk over every connection per event).  Each account keeps its own, a
 * state change recounts that account's few connections (max_connections at
 * most) and moves the difference into the manager's totals. */
typedef struct Counts {
        uint32_t conns, mailboxes, idling, polled, settled, waiting, stopped;
        uint32_t notify;                /* mailboxes on a NOTIFY connection */
        uint32_t no_notify;             /* accounts whose NOTIFY connection fell back */
} Counts;

/* One TLS context per distinct set of TLS settings, not per account: the CA
 * store is parsed once, and 10,000 accounts on one provider share one. */
typedef struct TlsShared {
        char *key;              /* ca_file, client_cert, client_key, each length-prefixed */
        ConnTlsCtx *ctx;
        unsigned refs;
} TlsShared;

/* A mailbox a pattern matched, as the next rebuild is to watch it. */
typedef struct Wanted {
        char *name;
        size_t src;                     /* the pattern's entry in cfg->mailboxes */
        char *from;                     /* renamed from this (RFC 5465 §5.4), or NULL */
} Wanted;

typedef struct Account {
        struct Manager *manager;
        const CfgAccount *cfg;
        TlsShared *tls;
        /* The watches: the named mailboxes (in the order written), then those the
         * patterns matched (cfg.h, docs/EVENTS.md: Mailbox patterns). */
        Watch **watches;
        size_t n;
        size_t *src;                    /* per watch: its entry in cfg->mailboxes (a name, or the
                                         * pattern it matched) */
        CfgMailbox **matched;           /* per watch: for a pattern's match, a copy of the pattern's
                                         * entry with the name it matched (owned); NULL for a named one */
        Connection **conns;             /* one NOTIFY connection; or IDLE connections, then at most
                                         * one poller */
        size_t n_conns;
        bool notify_failed;             /* the server cannot do NOTIFY: IDLE per mailbox from now on */
        bool listed;                    /* the patterns were listed this run: a mailbox that appears from
                                         * now on was created while we watched (watch_set_fresh()) */
        Wanted *want;                   /* what the patterns match now, for the pending rebuild */
        size_t n_want;
        bool have_want;
        sd_event_source *rebuild;       /* replacing the account's connections (NOTIFY fell back, or
                                         * the patterns match other mailboxes) */
        uint64_t rebuilt_at;            /* CLOCK_MONOTONIC of the last rebuild for a changed list */
        StateSet *state;                /* what was known, saved when it changes */
        bool state_dropped;             /* a mailbox left the set: save even if no watch changed */
        struct Account *dirty_next;     /* in the manager's list of accounts to save */
        bool dirty;
        Counts counts;                  /* this account's share of the manager's */
        bool once_failed;               /* --once: a connection of it failed */
        SecretCache *secrets;           /* password_command's or oauth2_token_command's secret, for
                                         * all the account's connections (secret.h); NULL without
                                         * a command.  A reload that changes the account makes a
                                         * new Account, which drops it. */
} Account;

struct Manager {
        sd_event *event;
        Cfg *cfg;
        StateDir *state_dir;            /* NULL: no persistent state (warned once) */
        Sched *sched;                   /* every hook run of every account */
        ResumeMonitor *resume;          /* suspend/resume: reconnect everything */
        Netmon *netmon;                 /* addresses and routes changed: probe everything */
        Account **accounts;
        size_t n_accounts;
        Hashmap *tls;                   /* TlsShared by key */
        Ramp *ramp;                     /* max_connecting */
        Timers *timers;                 /* every connection's deadlines */
        Desktop *desktop;               /* desktop_notify: the session bus, opened when first needed */
        Account *dirty;                 /* accounts whose state is to be saved */
        sd_event_source *save_timer;
        Counts counts;                  /* sums over the accounts */
        Connection *last_waiting;       /* the connection that failed last, while it waits */
        sd_event_source *sig_term, *sig_int, *sig_hup, *sig_usr2, *stop_timer, *status_defer;
        bool ready_sent, stopping;
        char status[1024], status_sent[1024];  /* room for reload_error and every part */
        /* The last reload's error ("FILE:LINE: KEY: reason", escaped for one line), "" when the
         * running configuration is the file's.  Every STATUS= starts with it until a reload
         * succeeds: the file on disk is not what runs, and a later status change must not
         * hide that. */
        char reload_error[256];
        Control *control;               /* `imapidled status` (control.h), or NULL */
        sd_event_source *sig_usr1;      /* the same report in the log */
        bool once, once_done;           /* --once (manager_set_once()); everything done */
        int once_status;                /* --once: the exit status; 1 until everything is done */
};

/* ---- accounts ---------------------------------------------------------------------------------- */

static uint64_t now_monotonic(Manager *m) {
        uint64_t t = 0;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &t);
        return t;
}

static void on_conn_state(Connection *c, ConnectionState old, ConnectionState st, void *userdata);

/* Record the watches' numbers in the account's set; false if nothing changed
 * since the last save (then no file is written: a restart that finds every
 * mailbox as it was writes nothing). */
static bool account_collect(Account *a) {
        bool changed = a->state_dropped;

        a->state_dropped = false;

        for (size_t i = 0; i < a->n; i++) {
                MailboxState st = {}, old;

                if (!watch_known(a->watches[i], &st.uidvalidity, &st.uidnext, &st.exists, &st.highestmodseq) ||
                    st.uidvalidity == 0)
                        continue;
                if (state_get(a->state, watch_mailbox(a->watches[i]), &old) && old.uidvalidity == st.uidvalidity &&
                    old.uidnext == st.uidnext && old.exists == st.exists && old.highestmodseq == st.highestmodseq)
                        continue;       /* 'updated' is when it changed, not when we looked */
                if (state_put(a->state, watch_mailbox(a->watches[i]), &st) >= 0)
                        changed = true;
        }
        return changed;
}

static void dirty_remove(Account *a) {
        Manager *m = a->manager;

        if (!a->dirty)
                return;
        for (Account **p = &m->dirty; *p; p = &(*p)->dirty_next)
                if (*p == a) {
                        *p = a->dirty_next;
                        break;
                }
        a->dirty = false;
        a->dirty_next = NULL;
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* Write up to SAVE_BATCH dirty accounts with one flush (state_save_many()); the
 * rest on the next turn. */
static void save_some(Manager *m) {
        const char *names[SAVE_BATCH];
        const StateSet *sets[SAVE_BATCH];
        Account *batch[SAVE_BATCH];
        int errors[SAVE_BATCH], r;
        size_t n = 0;

        while (m->dirty && n < SAVE_BATCH) {
                Account *a = m->dirty;

                m->dirty = a->dirty_next;
                a->dirty_next = NULL;
                a->dirty = false;
                if (!a->state || !account_collect(a))
                        continue;
                batch[n] = a;
                names[n] = a->cfg->name;
                sets[n++] = a->state;
        }
        r = state_save_many(m->state_dir, n, names, sets, errors);
        if (r < 0)
                log_warning_errno(r, "Cannot save state in %s: %m", state_dir_path(m->state_dir));
        for (size_t i = 0; i < n && r > 0; i++)
                if (errors[i] < 0)
                        log_warning_errno(errors[i], "Account '%s': cannot save state in %s: %m", batch[i]->cfg->name,
                                          state_dir_path(m->state_dir));
        if (m->dirty && sd_event_add_time_relative(m->event, &m->save_timer, CLOCK_MONOTONIC, 0, 0, on_save_timer,
                                                   m) < 0)
                save_some(m);
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        (void) s;
        (void) usec;
        m->save_timer = sd_event_source_disable_unref(m->save_timer);
        save_some(m);
        return 0;
}

/* Everything dirty, now (stop, reload). */
static void save_all(Manager *m) {
        m->save_timer = sd_event_source_disable_unref(m->save_timer);
        while (m->dirty)
                save_some(m);
        m->save_timer = sd_event_source_disable_unref(m->save_timer);
}

/* desktop_notify: a run of the new-mail event (watch.h). */
static void on_watch_notify(Watch *w, uint64_t count, const MessageDetails *details, size_t n, void *userdata) {
        Manager *m = userdata;

        desktop_notify_new(m->desktop, watch_name(w), count, details, n);
}

/* A watch's numbers changed: its account joins the list, written within a second. */
static void on_watch_changed(Watch *w, void *userdata) {
        Account *a = userdata;
        Manager *m = a->manager;

        (void) w;
        if (a->dirty || !m->state_dir || !a->state)
                return;
        a->dirty = true;
        a->dirty_next = m->dirty;
        m->dirty = a;
        if (!m->save_timer &&
            sd_event_add_time_relative(m->event, &m->save_timer, CLOCK_MONOTONIC, SAVE_DELAY_USEC, USEC_PER_SEC / 10,
                                       on_save_timer, m) < 0)
                save_some(m);
}

/* ---- shared TLS contexts ---------------------------------------------------------------------- */

static TlsShared *tls_unref(Manager *m, TlsShared *t) {
        if (!t || --t->refs > 0)
                return NULL;
        (void) hashmap_remove(m->tls, t->key);
        conn_tls_ctx_free(t->ctx);
        free(t->key);
        free(t);
        return NULL;
}

static int tls_get(Manager *m, const CfgAccount *cfg, TlsShared **ret) {
        ConnTlsParams p = { .ca_file = cfg->ca_file, .cert_file = cfg->client_cert, .key_file = cfg->client_key };
        _cleanup_free_ char *key = NULL;
        TlsShared *t;
        char *msg = NULL;
        int r;

        /* Length-prefixed, so no path can make two different triples look alike. */
        if (asprintf(&key, "%zu:%s %zu:%s %zu:%s", strlen(p.ca_file ?: ""), p.ca_file ?: "",
                     strlen(p.cert_file ?: ""), p.cert_file ?: "", strlen(p.key_file ?: ""), p.key_file ?: "") < 0)
                return -ENOMEM;
        t = hashmap_get(m->tls, key);
        if (t) {
                t->refs++;
                *ret = t;
                return 0;
        }
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        r = conn_tls_ctx_new_full(&p, &t->ctx, &msg);
        if (r < 0) {
                log_error("Account '%s': TLS setup failed: %s", cfg->name, msg ? msg : strerror(-r));
                free(msg);
                free(t);
                return r;
        }
        t->key = TAKE_PTR(key);
        t->refs = 1;
        r = hashmap_put(m->tls, t->key, t);
        if (r < 0) {
                conn_tls_ctx_free(t->ctx);
                free(t->key);
                free(t);
                return r;
        }
        *ret = t;
        return 0;
}

static void counts_add(Counts *to, const Counts *c) {
        to->conns += c->conns;
        to->mailboxes += c->mailboxes;
        to->idling += c->idling;
        to->polled += c->polled;
        to->settled += c->settled;
        to->waiting += c->waiting;
        to->stopped += c->stopped;
        to->notify += c->notify;
        to->no_notify += c->no_notify;
}

static void counts_sub(Counts *to, const Counts *c) {
        to->conns -= c->conns;
        to->mailboxes -= c->mailboxes;
        to->idling -= c->idling;
        to->polled -= c->polled;
        to->settled -= c->settled;
        to->waiting -= c->waiting;
        to->stopped -= c->stopped;
        to->notify -= c->notify;
        to->no_notify -= c->no_notify;
}

/* Recount this account's connections (at most max_connections of them) and
 * move the difference into the manager's totals. */
static void account_recount(Account *a) {
        Counts c = {};

        for (size_t i = 0; i < a->n_conns; i++) {
                Connection *k = a->conns[i];
                size_t np = connection_polled(k);
                ConnectionState st = connection_state(k);

                size_t nm = connection_mailboxes(k);

                c.conns++;
                c.mailboxes += (uint32_t) nm;
                c.polled += (uint32_t) np;
                c.notify += connection_notifies(k) ? (uint32_t) nm : 0;
                c.idling += np == 0 && st == CONNECTION_IDLING ? (uint32_t) nm : 0;
                c.settled += connection_settled(k);
                c.waiting += st == CONNECTION_WAITING;
                c.stopped += st == CONNECTION_STOPPED;
        }
        c.no_notify = a->notify_failed;
        counts_sub(&a->manager->counts, &a->counts);
        a->counts = c;
        counts_add(&a->manager->counts, &a->counts);
}

static void account_free_conns(Account *a) {
        Manager *m = a->manager;

        for (size_t i = 0; i < a->n_conns; i++) {
                if (m->last_waiting == a->conns[i])
                        m->last_waiting = NULL;
                a->conns[i] = connection_free(a->conns[i]);
        }
        a->n_conns = 0;
}

/* ---- mailbox patterns (cfg.h: a name with '*' or '%') ------------------------------------------ */

static CfgMailbox *matched_free(CfgMailbox *mb) {
        if (mb) {
                free(mb->name);
                free(mb);
        }
        return NULL;
}

/* The pattern's hooks, shared with the Cfg (which outlives the copy). */
static void matched_copy_hooks(CfgMailbox *mb, const CfgMailbox *pattern) {
        mb->on_new = pattern->on_new;
        mb->on_expunge = pattern->on_expunge;
        mb->on_flags = pattern->on_flags;
        mb->desktop_notify = pattern->desktop_notify;
        mb->line = pattern->line;
}

static void want_clear(Account *a) {
        for (size_t i = 0; i < a->n_want; i++) {
                free(a->want[i].name);
                free(a->want[i].from);
        }
        a->want = mfree(a->want);
        a->n_want = 0;
        a->have_want = false;
}

/* The pattern that watches the mailbox 'name': SIZE_MAX if a name is
 * written for it (that entry wins) or no pattern matches. */
static size_t pattern_for(const CfgAccount *cfg, const char *name, char delim) {
        size_t i = cfg_account_mailbox_for(cfg, name, delim);

        return i != SIZE_MAX && cfg->mailboxes[i].pattern ? i : SIZE_MAX;
}

/* Room for one more watch. */
static int account_grow(Account *a) {
        Watch **w;
        size_t *sr;
        CfgMailbox **mt;

        w = reallocarray(a->watches, a->n + 1, sizeof(Watch *));
        if (!w)
                return -ENOMEM;
        a->watches = w;
        sr = reallocarray(a->src, a->n + 1, sizeof(size_t));
        if (!sr)
                return -ENOMEM;
        a->src = sr;
        mt = reallocarray(a->matched, a->n + 1, sizeof(CfgMailbox *));
        if (!mt)
                return -ENOMEM;
        a->matched = mt;
        return 0;
}

/* One more watch: the entry src of cfg->mailboxes, or with a name, what the
 * pattern src matched.  Its state is restored from the file when known;
 * fresh: it was created while we watched (watch_set_fresh()). */
static int account_add_watch(Account *a, size_t src, const char *name, bool fresh) {
        Manager *m = a->manager;
        const CfgAccount *cfg = a->cfg;
        CfgMailbox *mb = NULL;
        MailboxState st;
        int r;

        r = account_grow(a);
        if (r < 0)
                return r;
        if (name) {
                mb = calloc(1, sizeof(*mb));
                if (!mb)
                        return -ENOMEM;
                mb->name = strdup(name);
                if (!mb->name) {
                        free(mb);
                        return -ENOMEM;
                }
                matched_copy_hooks(mb, &cfg->mailboxes[src]);
        }
        r = watch_new(m->event, m->sched, cfg, mb ?: &cfg->mailboxes[src], on_watch_changed, a, &a->watches[a->n]);
        if (r < 0) {
                matched_free(mb);
                return r;
        }
        watch_set_notify(a->watches[a->n], on_watch_notify, m);
        a->src[a->n] = src;
        a->matched[a->n] = mb;
        if (a->state && state_get(a->state, watch_mailbox(a->watches[a->n]), &st))
                watch_restore(a->watches[a->n], st.uidvalidity, st.uidnext, st.exists, st.highestmodseq);
        else if (fresh)
                watch_set_fresh(a->watches[a->n]);
        a->n++;
        return 0;
}

/* Keep a watch that exists (with what it knows and its hooks in flight). */
static int account_keep_watch(Account *a, Watch *w, size_t src, CfgMailbox *mb) {
        int r = account_grow(a);

        if (r < 0)
                return r;
        a->watches[a->n] = w;
        a->src[a->n] = src;
        a->matched[a->n] = mb;
        a->n++;
        return 0;
}

/* Watch what the patterns match now (a->want): the named mailboxes stay, a
 * match that was watched keeps its watch, a new one gets a watch, one that
 * is gone loses its watch and its state.  The connections are gone already
 * (they point at the watches). */
static int account_apply_want(Account *a) {
        _cleanup_(hashmap_freep) Hashmap *old = NULL;
        Watch **ow = a->watches;
        size_t *os = a->src, on = a->n, added = 0, removed = 0;
        CfgMailbox **om = a->matched;
        int r;

        r = hashmap_new(&old);
        for (size_t i = 0; r >= 0 && i < on; i++)
                if (om[i])
                        r = hashmap_put(old, om[i]->name, (void *) (uintptr_t) (i + 1));
        if (r < 0)
                return r;
        a->watches = NULL;
        a->src = NULL;
        a->matched = NULL;
        a->n = 0;
        for (size_t i = 0; r >= 0 && i < on; i++)
                if (!om[i]) {
                        r = account_keep_watch(a, ow[i], os[i], NULL);
                        if (r >= 0)
                                ow[i] = NULL;
                }
        for (size_t j = 0; r >= 0 && j < a->n_want; j++) {
                size_t i = (size_t) (uintptr_t) hashmap_get(old, a->want[j].name);

                if (i > 0 && ow[i - 1] && os[i - 1] == a->want[j].src) {
                        r = account_keep_watch(a, ow[i - 1], os[i - 1], om[i - 1]);
                        if (r >= 0)
                                ow[i - 1] = NULL, om[i - 1] = NULL;
                } else {
                        size_t k = a->want[j].from ? (size_t) (uintptr_t) hashmap_get(old, a->want[j].from) : 0;

                        r = account_add_watch(a, a->want[j].src, a->want[j].name, a->listed && k == 0);
                        added += r >= 0;
                        if (r >= 0)
                                log_debug("%s: watched, %s%s", watch_name(a->watches[a->n - 1]),
                                          k > 0 && ow[k - 1] ? "renamed from " : a->listed ? "new" : "first seen",
                                          k > 0 && ow[k - 1] ? a->want[j].from : "");
                        if (r >= 0 && k > 0 && ow[k - 1]) {
                                /* Renamed: what was known of it goes with it (the same
                                 * UIDVALIDITY means the same messages, RFC 3501 §2.3.1.1;
                                 * another one is a resync). */
                                MailboxState st;

                                if (watch_known(ow[k - 1], &st.uidvalidity, &st.uidnext, &st.exists, &st.highestmodseq))
                                        watch_restore(a->watches[a->n - 1], st.uidvalidity, st.uidnext, st.exists,
                                                      st.highestmodseq);
                        }
                }
        }
        /* What is left was not kept: gone from the server (or out of memory above). */
        for (size_t i = 0; i < on; i++) {
                if (ow[i]) {
                        if (om[i]) {
                                removed++;
                                if (a->state && state_forget(a->state, om[i]->name) > 0) {
                                        a->state_dropped = true;
                                        on_watch_changed(ow[i], a);
                                }
                        }
                        watch_free(ow[i]);
                }
                matched_free(om[i]);
        }
        free(ow);
        free(os);
        free(om);
        want_clear(a);
        if (r < 0)
                return r;
        log_info("Account '%s': the mailbox patterns match %zu mailbox%s (%zu new, %zu gone)", a->cfg->name,
                 a->n - (a->cfg->n_mailboxes - a->cfg->n_patterns),
                 a->n - (a->cfg->n_mailboxes - a->cfg->n_patterns) == 1 ? "" : "es", added, removed);
        return 0;
}

static Account *account_free(Account *a) {
        Manager *m;

        if (!a)
                return NULL;
        m = a->manager;
        if (a->dirty) {
                dirty_remove(a);
                if (m->state_dir && a->state && account_collect(a)) {
                        int r = state_save(m->state_dir, a->cfg->name, a->state);

                        if (r < 0)
                                log_warning_errno(r, "Account '%s': cannot save state in %s: %m", a->cfg->name,
                                                  state_dir_path(m->state_dir));
                }
        }
        counts_sub(&m->counts, &a->counts);
        a->rebuild = sd_event_source_disable_unref(a->rebuild);
        account_free_conns(a);
        a->secrets = secret_cache_free(a->secrets);     /* after the connections that wait for it */
        for (size_t i = 0; i < a->n; i++) {
                watch_free(a->watches[i]);
                matched_free(a->matched[i]);
        }
        want_clear(a);
        state_set_free(a->state);
        free(a->conns);
        free(a->watches);
        free(a->src);
        free(a->matched);
        tls_unref(m, a->tls);
        free(a);
        return NULL;
}

static int on_conn_list(Connection *c, const ConnectionListed *l, size_t n, const ConnectionRenamed *renamed,
                        size_t n_renamed, void *userdata);

/* The account's connections: one NOTIFY connection for all its mailboxes
 * where that may work (RFC 5465, docs/EVENTS.md), else the budget below.
 * With patterns, the NOTIFY connection or the poller also lists them
 * (connection_set_lister()). */
static int account_build_conns(Account *a) {
        Manager *m = a->manager;
        const CfgAccount *cfg = a->cfg;
        bool patterns = cfg->n_patterns > 0;
        Connection **conns;
        size_t idle;
        int r;

        conns = reallocarray(a->conns, a->n + 1, sizeof(Connection *));
        if (!conns)
                return -ENOMEM;
        a->conns = conns;
        if ((a->n > 1 || patterns) && !cfg->notify_off && !a->notify_failed) {
                r = connection_new_notifier(m->event, cfg, a->tls ? a->tls->ctx : NULL, m->ramp, m->timers, a->watches,
                                            a->n, on_conn_state, a, &a->conns[0]);
                if (r < 0)
                        return r;
                a->n_conns = 1;
                return patterns ? connection_set_lister(a->conns[0], on_conn_list) : 0;
        }
        /* The connection budget (docs/SCALING.md: Dovecot allows 10 per user and
         * address, Gmail 15): the first mailboxes (in the order written) get an IDLE
         * connection each; when there are more than max_connections, the last
         * connection polls the rest with STATUS.  With patterns there is always a
         * poller: it lists them at each round, which is how a new mailbox is found
         * without NOTIFY. */
        idle = a->n < cfg->max_connections || (a->n == cfg->max_connections && !patterns) ?
               a->n : cfg->max_connections - 1;
        assert(idle <= a->n);   /* max_connections >= 1 (cfg) */
        for (size_t i = 0; i < idle; i++) {
                r = connection_new(m->event, cfg, a->tls ? a->tls->ctx : NULL, m->ramp, m->timers, a->watches[i],
                                   on_conn_state, a, &a->conns[i]);
                if (r < 0)
                        return r;
                a->n_conns = i + 1;
        }
        if (idle < a->n || patterns) {
                r = connection_new_poller(m->event, cfg, a->tls ? a->tls->ctx : NULL, m->ramp, m->timers, a->watches + idle,
                                          a->n - idle, on_conn_state, a, &a->conns[idle]);
                if (r < 0)
                        return r;
                a->n_conns = idle + 1;
                if (patterns) {
                        r = connection_set_lister(a->conns[idle], on_conn_list);
                        if (r < 0)
                                return r;
                }
                if (idle < a->n)
                        log_notice("Account '%s': %zu mailboxes, max_connections = %u: %zu idle, %zu polled with STATUS "
                                   "every %.0f s", cfg->name, a->n, cfg->max_connections, idle, a->n - idle,
                                   (double) cfg->status_interval_usec / USEC_PER_SEC);
        }
        return 0;
}

static int account_new(Manager *m, const CfgAccount *cfg, Account **ret) {
        Account *a;
        int r;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->manager = m;
        a->cfg = cfg;
        if (cfg->password_command || cfg->oauth2_token_command) {
                r = secret_cache_new(m->event, &a->secrets);
                if (r < 0) {
                        free(a);
                        return r;
                }
        }
        /* A missing or corrupt file is a fresh start (state_load warns). */
        if (m->state_dir && state_load(m->state_dir, cfg->name, &a->state) < 0)
                a->state = NULL;
        if (!cfg->tunnel && cfg->tls != CFG_TLS_NONE) {
                r = tls_get(m, cfg, &a->tls);
                if (r < 0) {
                        account_free(a);
                        return r;
                }
        }
        for (size_t i = 0; i < cfg->n_mailboxes; i++) {
                if (cfg->mailboxes[i].pattern)
                        continue;
                r = account_add_watch(a, i, NULL, false);
                if (r < 0) {
                        account_free(a);
                        return r;
                }
        }
        /* What the patterns matched last time (the state file names them): watched
         * from the start, with their catch-up; the first listing corrects it.  The
         * hierarchy delimiter is not known yet: '/' is a guess, and a wrong one
         * costs one rebuild. */
        for (size_t i = 0; cfg->n_patterns > 0 && a->state && i < state_set_size(a->state); i++) {
                const char *name;
                size_t src;

                if (state_set_entry(a->state, i, &name, NULL) < 0)
                        continue;
                src = pattern_for(cfg, name, '/');
                if (src == SIZE_MAX)
                        continue;
                r = account_add_watch(a, src, name, false);
                if (r < 0) {
                        account_free(a);
                        return r;
                }
        }
        r = account_build_conns(a);
        if (r < 0) {
                account_free(a);
                return r;
        }
        account_recount(a);
        *ret = a;
        return 0;
}

static void account_start(Account *a) {
        for (size_t i = 0; i < a->n_conns; i++) {
                if (a->manager->once)
                        connection_set_once(a->conns[i]);
                connection_set_secret_cache(a->conns[i], a->secrets);
                (void) connection_start(a->conns[i]);
        }
}

static void account_set_config(Account *a, const CfgAccount *cfg) {
        a->cfg = cfg;
        /* The same mailbox list (cfg_account_equal()): the same entries, in the new Cfg. */
        for (size_t i = 0; i < a->n; i++) {
                if (a->matched[i])
                        matched_copy_hooks(a->matched[i], &cfg->mailboxes[a->src[i]]);
                watch_set_config(a->watches[i], cfg, a->matched[i] ?: &cfg->mailboxes[a->src[i]]);
        }
        for (size_t i = 0; i < a->n_conns; i++)
                connection_set_config(a->conns[i], cfg);
}

/* ---- status ----------------------------------------------------------------------------------- */

/* m->status from the counts, behind the failed reload's error if there is one. */
static void status_compose(Manager *m) {
        const Counts *c = &m->counts;
        char detail[256] = "", polling[64] = "", notify[96] = "", failed[sizeof(m->reload_error) + 32] = "";
        uint64_t now = 0;

        (void) sd_event_now(m->event, CLOCK_BOOTTIME, &now);
        if (m->last_waiting) {
                uint64_t at = connection_retry_at(m->last_waiting);
                uint64_t in = at > now ? (at - now + USEC_PER_SEC - 1) / USEC_PER_SEC : 0;
                const char *name = connection_name(m->last_waiting);

                if (c->waiting > 1)
                        (void) snprintf(detail, sizeof(detail), "; %" PRIu32 " waiting to retry, latest %s: retry in %" PRIu64 "s",
                                        c->waiting, name, in);
                else
                        (void) snprintf(detail, sizeof(detail), "; %s: retry in %" PRIu64 "s", name, in);
        } else if (c->waiting > 0)
                (void) snprintf(detail, sizeof(detail), "; %" PRIu32 " waiting to retry", c->waiting);
        /* Mailboxes beyond max_connections say so (issue 6). */
        if (c->polled > 0)
                (void) snprintf(polling, sizeof(polling), ", %" PRIu32 " polled (max_connections)", c->polled);
        /* How many ride on NOTIFY, and accounts whose server could not (issue 11). */
        if (c->notify > 0 && c->no_notify > 0)
                (void) snprintf(notify, sizeof(notify), ", %" PRIu32 " with NOTIFY, %" PRIu32 " account%s without",
                                c->notify, c->no_notify, c->no_notify == 1 ? "" : "s");
        else if (c->notify > 0)
                (void) snprintf(notify, sizeof(notify), ", %" PRIu32 " with NOTIFY", c->notify);
        else if (c->no_notify > 0)
                (void) snprintf(notify, sizeof(notify), ", %" PRIu32 " account%s without NOTIFY", c->no_notify,
                                c->no_notify == 1 ? "" : "s");
        if (m->reload_error[0])
                (void) snprintf(failed, sizeof(failed), "reload failed: %s; ", m->reload_error);
        (void) snprintf(m->status, sizeof(m->status), "%s%" PRIu32 "/%" PRIu32 " mailboxes idling%s%s%s", failed,
                        c->idling, c->mailboxes, notify, polling, detail);
}

/* READY=1 with the current status: the end of a reload, failed or not (systemd waits for
 * READY=1 after RELOADING=1). */
static void status_notify_ready(Manager *m) {
        status_compose(m);
        memcpy(m->status_sent, m->status, sizeof(m->status_sent));
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", m->status);
}

static int update_status(Manager *m) {
        const Counts *c = &m->counts;

        status_compose(m);
        /* --once: no mailbox idles, and under Type=oneshot systemd waits for the exit. */
        if (m->stopping || m->once)
                return 0;
        /* READY=1 once every mailbox reached IDLE or failed its first attempt. */
        if (!m->ready_sent && c->settled == c->conns) {
                m->ready_sent = true;
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s", m->status);
                log_info("Ready: %s", m->status);
                return 0;
        }
        /* Only when it changed: sd_notify() blocks when the manager's queue is
         * full, and every message costs PID 1 a wake-up. */
        if (strcmp(m->status, m->status_sent) != 0) {
                memcpy(m->status_sent, m->status, sizeof(m->status_sent));
                (void) sd_notifyf(false, "STATUS=%s", m->status);
        }
        return 0;
}

static int on_status_defer(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        (void) s;
        m->status_defer = sd_event_source_disable_unref(m->status_defer);
        return update_status(m);
}

static bool all_stopped(const Manager *m) {
        return m->counts.stopped == m->counts.conns;
}

/* The account's connections are replaced: the NOTIFY connection is unsuited
 * (connection.h), IDLE per mailbox instead; or the patterns match other
 * mailboxes than those watched. */
static int on_account_rebuild(sd_event_source *s, uint64_t usec, void *userdata) {
        Account *a = userdata;
        int r = 0;

        (void) s;
        (void) usec;
        a->rebuild = sd_event_source_disable_unref(a->rebuild);
        account_free_conns(a);
        if (a->have_want) {
                a->rebuilt_at = now_monotonic(a->manager);
                r = account_apply_want(a);
                if (r < 0)
                        log_error_errno(r, "Account '%s': cannot watch what the patterns match: %m", a->cfg->name);
                a->listed = true;
        }
        r = account_build_conns(a);
        if (r < 0)
                log_error_errno(r, "Account '%s': cannot set up its connections: %m", a->cfg->name);
        account_recount(a);
        account_start(a);
        return 0;
}

/* Rebuild on the next loop turn (never from inside the connection's own
 * call), and for a changed list not sooner than REBUILD_MIN_USEC after the
 * last: a server that creates and deletes mailboxes all the time must not
 * make us log in all the time. */
static void account_rebuild_later(Account *a, bool for_list) {
        Manager *m = a->manager;
        uint64_t now = now_monotonic(m), at = now;

        if (a->rebuild || m->stopping)
                return;
        if (for_list && a->rebuilt_at > 0 && now < a->rebuilt_at + REBUILD_MIN_USEC)
                at = a->rebuilt_at + REBUILD_MIN_USEC;
        if (sd_event_add_time(m->event, &a->rebuild, CLOCK_MONOTONIC, at, 0, on_account_rebuild, a) < 0)
                log_error("Account '%s': cannot replace its connections", a->cfg->name);
}

/* ConnectionListFn: what the patterns match now.  The same mailboxes as
 * watched: go on.  Others: the connections are replaced (a rebuild), and
 * this one waits for it. */
static int on_conn_list(Connection *c, const ConnectionListed *l, size_t n, const ConnectionRenamed *renamed,
                        size_t n_renamed, void *userdata) {
        _cleanup_(hashmap_freep) Hashmap *seen = NULL, *wanted = NULL;
        Account *a = userdata;
        const CfgAccount *cfg = a->cfg;
        size_t same = 0, had = 0;
        bool changed;
        int r;

        (void) c;
        want_clear(a);
        r = hashmap_new(&seen);
        if (r >= 0)
                r = hashmap_new(&wanted);
        if (r < 0)
                return 0;
        for (size_t i = 0; i < a->n; i++)
                if (a->matched[i]) {
                        r = hashmap_put(seen, a->matched[i]->name, a->matched[i]);
                        if (r < 0)
                                return 0;
                        had++;
                }
        a->want = calloc(MAX(n, 1u), sizeof(Wanted));
        if (!a->want)
                return 0;
        for (size_t i = 0; i < n; i++) {
                size_t src = pattern_for(cfg, l[i].name, l[i].delimiter);
                /* Named, or no pattern of ours matches (not ours); or listed already
                 * (a server lists a name once per pattern that matches it). */
                if (src == SIZE_MAX || hashmap_get(wanted, l[i].name))
                        continue;
                a->want[a->n_want] = (Wanted) { .name = strdup(l[i].name), .src = src };
                if (!a->want[a->n_want].name || hashmap_put(wanted, a->want[a->n_want].name, a) < 0) {
                        free(a->want[a->n_want].name);
                        want_clear(a);
                        return 0;
                }
                same += hashmap_get(seen, l[i].name) != NULL;
                /* The last rename to this name that the server reported. */
                for (size_t k = n_renamed; k > 0; k--)
                        if (strcmp(renamed[k - 1].to, l[i].name) == 0) {
                                a->want[a->n_want].from = strdup(renamed[k - 1].from);
                                break;
                        }
                a->n_want++;
        }
        changed = same != had || a->n_want != had;
        if (!changed) {
                want_clear(a);
                a->listed = true;
                return 0;
        }
        a->have_want = true;
        account_rebuild_later(a, true);
        return 1;
}

/* ---- --once ----------------------------------------------------------------------------------- */

/* One error line naming what failed: the accounts, then the hooks.  A walk over every watch,
 * once, at the end. */
static bool once_report(Manager *m) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f;
        bool failed = false, any_hook = false;

        f = open_memstream(&text, &len);
        if (!f)
                return log_error_errno(-ENOMEM, "Cannot say what failed: %m"), true;
        for (size_t i = 0; i < m->n_accounts; i++) {
                Account *a = m->accounts[i];

                if (!a->once_failed)
                        continue;
                fprintf(f, "%s'%s'", failed ? ", " : "accounts ", a->cfg->name);
                failed = true;
        }
        for (size_t i = 0; i < m->n_accounts; i++)
                for (size_t k = 0; k < m->accounts[i]->n; k++)
                        for (WatchEvent ev = 0; ev < _WATCH_EVENT_MAX; ev++) {
                                Watch *w = m->accounts[i]->watches[k];
                                uint64_t n = watch_runs_failed(w, ev);

                                if (n == 0)
                                        continue;
                                fprintf(f, "%s%s %s", any_hook ? ", " : failed ? "; hooks " : "hooks ",
                                        watch_name(w), watch_hook_key(ev));
                                failed = any_hook = true;
                        }
        if (fclose(f) != 0)
                return log_error_errno(-ENOMEM, "Cannot say what failed: %m"), true;
        if (failed)
                log_error("Failed: %s", text);
        return failed;
}

/* Everything caught up and logged out or failed, and no hook runs or waits to run: save,
 * report, exit. */
static void once_check(Manager *m) {
        if (!m->once || m->stopping || !all_stopped(m) || !sched_idle(m->sched))
                return;
        m->stopping = m->once_done = true;
        save_all(m);
        m->once_status = once_report(m) ? 1 : 0;
        (void) sd_event_exit(m->event, 0);
}

static void on_sched_idle(Sched *s, void *userdata) {
        (void) s;
        once_check(userdata);
}

void manager_set_once(Manager *m) {
        m->once = true;
        m->once_status = 1;
        /* Hooks start as soon as their event is known: nothing would come to debounce. */
        for (size_t i = 0; i < m->cfg->n_accounts; i++)
                m->cfg->accounts[i].debounce_usec = 0;
        /* A run of seconds reconnects nothing. */
        m->resume = resume_monitor_free(m->resume);
        m->netmon = netmon_free(m->netmon);
        sched_set_idle_fn(m->sched, on_sched_idle, m);
}

static void on_conn_state(Connection *c, ConnectionState old, ConnectionState st, void *userdata) {
        Account *a = userdata;
        Manager *m = a->manager;

        (void) old;
        if (m->once && st == CONNECTION_STOPPED && connection_failed(c))
                a->once_failed = true;
        if (st == CONNECTION_UNSUITED && !m->stopping) {
                a->notify_failed = true;
                account_rebuild_later(a, false);
        }
        account_recount(a);
        if (st == CONNECTION_WAITING)
                m->last_waiting = c;
        else if (m->last_waiting == c)
                m->last_waiting = NULL;
        if (st == CONNECTION_STOPPED)
                once_check(m);
        if (m->stopping) {
                if (st == CONNECTION_STOPPED && all_stopped(m))
                        (void) sd_event_exit(m->event, 0);
                return;
        }
        /* Many connections change state in one loop turn: update once after it. */
        if (!m->status_defer && sd_event_add_defer(m->event, &m->status_defer, on_status_defer, m) < 0)
                (void) update_status(m);
}

/* ---- signals ---------------------------------------------------------------------------------- */

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        (void) s;
        (void) usec;
        log_notice("Servers did not answer LOGOUT in time, closing");
        return sd_event_exit(m->event, 0);
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        int r;

        (void) s;
        if (m->stopping)
                return 0;
        log_info("Received SIG%s, stopping", sigabbrev_np((int) si->ssi_signo));
        m->stopping = true;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        for (size_t i = 0; i < m->n_accounts; i++)
                for (size_t j = 0; j < m->accounts[i]->n_conns; j++)
                        connection_stop(m->accounts[i]->conns[j]);
        if (all_stopped(m))
                return sd_event_exit(m->event, 0);
        r = sd_event_add_time_relative(m->event, &m->stop_timer, CLOCK_MONOTONIC, STOP_TIMEOUT_USEC, 0,
                                       on_stop_timeout, m);
        if (r < 0)
                return sd_event_exit(m->event, 0);
        return 0;
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        (void) s;
        (void) si;
        if (m->once) {
                /* The accounts' debounce was set aside (manager_set_once()); a run is short. */
                log_notice("Received SIGHUP: not reloading, running --once");
                return 0;
        }
        (void) manager_reload(userdata);
        return 0;
}

/* ---- reload ----------------------------------------------------------------------------------- */

/* The reload failed and the running configuration stays: say so in the log, and in STATUS= until
 * a reload succeeds.  The text is escaped: a path or libconfig's message must not break the
 * notification's lines.  Returns r. */
static int reload_failed(Manager *m, int r, const char *error) {
        if (!error)
                error = strerror(-r);
        log_error("Reload failed, keeping the running configuration: %s", error);
        log_escape(error, strlen(error), m->reload_error, sizeof(m->reload_error));
        status_notify_ready(m);
        return r;
}

int manager_reload(Manager *m) {
        _cleanup_free_ char *error = NULL;
        _cleanup_(hashmap_freep) Hashmap *old_by_name = NULL;
        Cfg *ncfg = NULL;
        Account **nacc;
        uint64_t now = 0;
        size_t kept = 0, started = 0, stopped = 0;
        int r;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading", now);
        /* Parse the new file completely before touching anything. */
        r = cfg_load(m->cfg->path, &ncfg, &error);
        if (r < 0)
                return reload_failed(m, r, error);
        for (size_t i = 0; i < ncfg->n_warnings; i++)
                log_warning("%s", ncfg->warnings[i]);
        /* The running accounts by name, and by index to take them out of the old array. */
        r = hashmap_new(&old_by_name);
        for (size_t j = 0; r >= 0 && j < m->n_accounts; j++)
                r = hashmap_put(old_by_name, m->accounts[j]->cfg->name, (void *) (uintptr_t) (j + 1));
        if (r < 0) {
                cfg_free(ncfg);
                return reload_failed(m, r, NULL);
        }

        nacc = calloc(ncfg->n_accounts ? ncfg->n_accounts : 1, sizeof(Account *));
        if (!nacc) {
                cfg_free(ncfg);
                return reload_failed(m, -ENOMEM, NULL);
        }
        for (size_t i = 0; i < ncfg->n_accounts; i++) {
                const CfgAccount *na = &ncfg->accounts[i];
                size_t j = (size_t) (uintptr_t) hashmap_get(old_by_name, na->name);
                Account *old = j > 0 ? m->accounts[j - 1] : NULL;

                if (old && cfg_account_equal(old->cfg, na)) {
                        /* Unchanged: keep its connections, sockets and all. */
                        account_set_config(old, na);
                        nacc[i] = old;
                        m->accounts[j - 1] = NULL;
                        kept++;
                        continue;
                }
                r = account_new(m, na, &nacc[i]);
                if (r < 0) {
                        log_error_errno(r, "Account '%s': cannot start: %m", na->name);
                        continue;
                }
                account_start(nacc[i]);
                started++;
        }
        /* Removed or changed accounts go.  The names in old_by_name are theirs. */
        old_by_name = hashmap_free(old_by_name);
        for (size_t j = 0; j < m->n_accounts; j++)
                if (m->accounts[j]) {
                        account_free(m->accounts[j]);
                        stopped++;
                }
        free(m->accounts);
        m->accounts = nacc;
        m->n_accounts = ncfg->n_accounts;
        cfg_free(m->cfg);
        m->cfg = ncfg;
        sched_set_max_running(m->sched, ncfg->max_concurrent_hooks);
        ramp_set_limit(m->ramp, ncfg->max_connecting);
        /* Compact away accounts that could not start. */
        {
                size_t k = 0;
                for (size_t i = 0; i < m->n_accounts; i++)
                        if (m->accounts[i])
                                m->accounts[k++] = m->accounts[i];
                m->n_accounts = k;
        }
        log_info("Reloaded: %zu account%s kept, %zu started, %zu stopped", kept, kept == 1 ? "" : "s", started,
                 stopped);
        m->reload_error[0] = 0;
        (void) update_status(m);
        status_notify_ready(m);
        return 0;
}

/* ---- the world changed under us (issue 6) ---------------------------------------------------- */

static uint64_t jitter(uint64_t max) {
        uint64_t r = 0;

        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (uint64_t) getpid() * 2654435761u;
        return max ? r % max : 0;
}

/* After a suspend every connection is suspect and most are dead (the server
 * timed them out, NAT state is gone): reconnect all at once, spread over a
 * second so that many accounts do not hit one server together.  The
 * catch-up on reconnect (docs/EVENTS.md) then reports mail that came during
 * the sleep. */
static void on_resume(usec_t slept, void *userdata) {
        Manager *m = userdata;

        if (m->stopping)
                return;
        log_notice("Resumed after about %" PRIu64 " s of suspend: reconnecting every mailbox",
                   (uint64_t) ((slept + USEC_PER_SEC / 2) / USEC_PER_SEC));
        for (size_t i = 0; i < m->n_accounts; i++)
                for (size_t j = 0; j < m->accounts[i]->n_conns; j++)
                        connection_reconnect(m->accounts[i]->conns[j], jitter(USEC_PER_SEC), "resumed from suspend");
}

/* Addresses or routes changed: an idling connection may now be half-open.
 * Probe it (DONE must be answered within done_timeout); one that waits to
 * retry tries again now.  No third-party host is ever contacted. */
static void on_network_change(void *userdata) {
        Manager *m = userdata;

        if (m->stopping)
                return;
        log_info("Network configuration changed: checking every connection");
        for (size_t i = 0; i < m->n_accounts; i++)
                for (size_t j = 0; j < m->accounts[i]->n_conns; j++) {
                        Connection *c = m->accounts[i]->conns[j];

                        if (connection_state(c) == CONNECTION_WAITING)
                                connection_reconnect(c, jitter(USEC_PER_SEC), "network changed");
                        else
                                (void) connection_probe(c, "network changed");
                }
}

/* SIGUSR2: behave as after a suspend.  For operators (a manual "reconnect
 * now") and for tests: it goes through the resume detector as a clock jump. */
static int on_usr2(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        (void) s;
        (void) si;
        if (m->resume)
                (void) resume_monitor_inject(m->resume, 3600 * USEC_PER_SEC);
        else
                on_resume(0, m);
        return 0;
}

/* ---- status (status.h): read when asked, nothing kept per event ---------------------------------- */

static void status_account_of(const Account *a, StatusAccount *ret) {
        *ret = (StatusAccount) {
                .name = a->cfg->name,
                .watches = a->watches,
                .n = a->n,
                .conns = a->conns,
                .n_conns = a->n_conns,
        };
}

static StatusClock status_clock(Manager *m) {
        StatusClock now = {};

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now.monotonic);
        (void) sd_event_now(m->event, CLOCK_BOOTTIME, &now.boottime);
        return now;
}

static int on_control_report(StatusFormat f, Buf *out, void *userdata) {
        Manager *m = userdata;
        StatusClock now = status_clock(m);
        int r;

        r = status_begin(out, f);
        for (size_t i = 0; i < m->n_accounts && r >= 0; i++) {
                StatusAccount sa;

                status_account_of(m->accounts[i], &sa);
                r = status_account(out, f, &now, &sa, i == 0);
        }
        return r >= 0 ? status_end(out, f) : r;
}

/* SIGUSR1: the status report in the log (issue 13). */
static int on_usr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        StatusClock now = status_clock(m);

        (void) s;
        (void) si;
        log_notice("Status of %zu account%s (SIGUSR1):", m->n_accounts, m->n_accounts == 1 ? "" : "s");
        for (size_t i = 0; i < m->n_accounts; i++) {
                StatusAccount sa;

                status_account_of(m->accounts[i], &sa);
                status_log_account(&now, &sa);
        }
        return 0;
}

int manager_listen(Manager *m, const char *path, bool create_dir) {
        return control_new(m->event, path, create_dir, on_control_report, m, &m->control);
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

int manager_new(Cfg *cfg, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m) {
                cfg_free(cfg);
                return -ENOMEM;
        }
        m->cfg = cfg;
        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = sched_new(m->event, cfg->max_concurrent_hooks, &m->sched);
        if (r < 0)
                return r;
        r = hashmap_new(&m->tls);
        if (r < 0)
                return r;
        r = ramp_new(m->event, cfg->max_connecting, &m->ramp);
        if (r < 0)
                return r;
        /* Deadlines may be served up to 50 ms late, so that close ones share a wake-up. */
        r = timers_new(m->event, USEC_PER_SEC / 20, &m->timers);
        if (r < 0)
                return r;
        r = desktop_new(m->event, &m->desktop);
        if (r < 0)
                return r;
        r = state_dir_open(NULL, &m->state_dir);
        if (r < 0)
                log_warning_errno(r, "No state directory ($STATE_DIRECTORY, $XDG_STATE_HOME, $HOME): "
                                  "mail that arrives while imapidled is stopped will not be reported: %m");
        r = sd_event_add_signal(m->event, &m->sig_term, SIGTERM, on_stop, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_int, SIGINT, on_stop, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_hup, SIGHUP, on_hup, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_usr2, SIGUSR2, on_usr2, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sig_usr1, SIGUSR1, on_usr1, m);
        if (r < 0)
                return r;
        r = resume_monitor_new(m->event, 0, 0, on_resume, m, &m->resume);
        if (r < 0)
                log_warning_errno(r, "Cannot watch for suspend and resume: %m");
        r = netmon_new(m->event, 0, on_network_change, m, &m->netmon);
        if (r < 0)
                log_warning_errno(r, "Cannot watch for network changes (rtnetlink): %m");
        /* WatchdogSec=: sd-event pings at half the interval while the loop runs. */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                return r;

        m->accounts = calloc(cfg->n_accounts ? cfg->n_accounts : 1, sizeof(Account *));
        if (!m->accounts)
                return -ENOMEM;
        for (size_t i = 0; i < cfg->n_accounts; i++) {
                r = account_new(m, &cfg->accounts[i], &m->accounts[m->n_accounts]);
                if (r < 0)
                        return r;
                m->n_accounts++;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

int manager_run(Manager *m) {
        int r;

        for (size_t i = 0; i < m->n_accounts; i++)
                account_start(m->accounts[i]);
        (void) update_status(m);
        /* Nothing to wait for (no account could start a connection): done at once. */
        once_check(m);
        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        if (m->once && !m->once_done)
                log_error("Stopped before every account caught up");
        return m->once ? m->once_status : r;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        control_free(m->control);
        save_all(m);
        for (size_t i = 0; i < m->n_accounts; i++)
                account_free(m->accounts[i]);
        free(m->accounts);
        hashmap_free(m->tls);
        ramp_free(m->ramp);
        timers_free(m->timers);
        sched_free(m->sched);
        desktop_free(m->desktop);
        resume_monitor_free(m->resume);
        netmon_free(m->netmon);
        sd_event_source_disable_unref(m->sig_term);
        sd_event_source_disable_unref(m->sig_usr2);
        sd_event_source_disable_unref(m->sig_usr1);
        sd_event_source_disable_unref(m->sig_int);
        sd_event_source_disable_unref(m->sig_hup);
        sd_event_source_disable_unref(m->stop_timer);
        sd_event_source_disable_unref(m->status_defer);
        sd_event_unref(m->event);
        state_dir_free(m->state_dir);
        cfg_free(m->cfg);
        free(m);
        return NULL;
}

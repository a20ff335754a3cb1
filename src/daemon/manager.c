/* SPDX-License-Identifier: MIT */
/* manager.c: the daemon's loop, accounts, reload and systemd notifications; see manager.h. */
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
#include "log.h"
#include "manager.h"
#include "netmon.h"
#include "resume.h"
#include "scheduler.h"
#include "state.h"
#include "time-util.h"
#include "watch.h"

/* SIGTERM: everything is closed within this, whatever the servers do. */
#define STOP_TIMEOUT_USEC (4 * USEC_PER_SEC)

typedef struct Account {
        struct Manager *manager;
        const CfgAccount *cfg;
        ConnTlsCtx *tls;
        Watch **watches;
        size_t n;                       /* watches, one per configured mailbox */
        Connection **conns;             /* IDLE connections, then at most one poller */
        size_t n_conns;
        StateSet *state;                /* what was known, saved when it changes */
        sd_event_source *save_timer;
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
        sd_event_source *sig_term, *sig_int, *sig_hup, *sig_usr2, *stop_timer, *status_defer;
        bool ready_sent, stopping;
        char status[512], status_sent[512];
};

/* ---- accounts ---------------------------------------------------------------------------------- */

static void on_conn_state(Connection *c, ConnectionState old, ConnectionState st, void *userdata);

/* Record every watch's numbers and write the file (temp, fsync, rename: state.h). */
static void account_save(Account *a) {
        Manager *m = a->manager;
        int r;

        if (!m->state_dir || !a->state)
                return;
        for (size_t i = 0; i < a->n; i++) {
                MailboxState st = {};

                if (watch_known(a->watches[i], &st.uidvalidity, &st.uidnext, &st.exists, &st.highestmodseq) &&
                    st.uidvalidity > 0)
                        (void) state_put(a->state, watch_mailbox(a->watches[i]), &st);
        }
        r = state_save(m->state_dir, a->cfg->name, a->state);
        if (r < 0)
                log_warning_errno(r, "Account '%s': cannot save state in %s: %m", a->cfg->name,
                                  state_dir_path(m->state_dir));
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Account *a = userdata;

        (void) s;
        (void) usec;
        a->save_timer = sd_event_source_disable_unref(a->save_timer);
        account_save(a);
        return 0;
}

/* Changes come in bursts; one write a second at most. */
static void on_watch_changed(Watch *w, void *userdata) {
        Account *a = userdata;

        (void) w;
        if (a->save_timer || !a->manager->state_dir)
                return;
        if (sd_event_add_time_relative(a->manager->event, &a->save_timer, CLOCK_MONOTONIC, USEC_PER_SEC,
                                       USEC_PER_SEC / 10, on_save_timer, a) < 0)
                account_save(a);
}

static Account *account_free(Account *a) {
        if (!a)
                return NULL;
        if (a->save_timer)
                account_save(a);
        sd_event_source_disable_unref(a->save_timer);
        state_set_free(a->state);
        for (size_t i = 0; i < a->n_conns; i++)
                connection_free(a->conns[i]);
        for (size_t i = 0; i < a->n; i++)
                watch_free(a->watches[i]);
        free(a->conns);
        free(a->watches);
        conn_tls_ctx_free(a->tls);
        free(a);
        return NULL;
}

static int account_new(Manager *m, const CfgAccount *cfg, Account **ret) {
        size_t idle;
        Account *a;
        int r;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->manager = m;
        a->cfg = cfg;
        /* A missing or corrupt file is a fresh start (state_load warns). */
        if (m->state_dir && state_load(m->state_dir, cfg->name, &a->state) < 0)
                a->state = NULL;
        if (!cfg->tunnel && cfg->tls != CFG_TLS_NONE) {
                ConnTlsParams p = { .ca_file = cfg->ca_file, .cert_file = cfg->client_cert, .key_file = cfg->client_key };
                char *msg = NULL;

                /* One TLS context per account, shared by its connections. */
                r = conn_tls_ctx_new_full(&p, &a->tls, &msg);
                if (r < 0) {
                        log_error("Account '%s': TLS setup failed: %s", cfg->name, msg ? msg : strerror(-r));
                        free(msg);
                        account_free(a);
                        return r;
                }
        }
        a->watches = calloc(cfg->n_mailboxes, sizeof(Watch *));
        a->conns = calloc(cfg->n_mailboxes, sizeof(Connection *));
        if (!a->watches || !a->conns) {
                account_free(a);
                return -ENOMEM;
        }
        for (size_t i = 0; i < cfg->n_mailboxes; i++) {
                MailboxState st;

                r = watch_new(m->event, m->sched, cfg, &cfg->mailboxes[i], on_watch_changed, a, &a->watches[i]);
                if (r < 0) {
                        account_free(a);
                        return r;
                }
                a->n = i + 1;
                if (a->state && state_get(a->state, cfg->mailboxes[i].name, &st))
                        watch_restore(a->watches[i], st.uidvalidity, st.uidnext, st.exists, st.highestmodseq);
        }
        /* The connection budget (anchors.md §3 row 7: Dovecot allows 10 per user and
         * address, Gmail 15): the first mailboxes (in the order written) get an IDLE
         * connection each; when there are more than max_connections, the last
         * connection polls the rest with STATUS. */
        idle = cfg->n_mailboxes <= cfg->max_connections ? cfg->n_mailboxes : cfg->max_connections - 1;
        for (size_t i = 0; i < idle; i++) {
                r = connection_new(m->event, cfg, a->tls, a->watches[i], on_conn_state, m, &a->conns[i]);
                if (r < 0) {
                        account_free(a);
                        return r;
                }
                a->n_conns = i + 1;
        }
        if (idle < cfg->n_mailboxes) {
                r = connection_new_poller(m->event, cfg, a->tls, a->watches + idle, cfg->n_mailboxes - idle,
                                          on_conn_state, m, &a->conns[idle]);
                if (r < 0) {
                        account_free(a);
                        return r;
                }
                a->n_conns = idle + 1;
                log_notice("Account '%s': %zu mailboxes, max_connections = %u: %zu idle, %zu polled with STATUS "
                           "every %.0f s", cfg->name, cfg->n_mailboxes, cfg->max_connections, idle,
                           cfg->n_mailboxes - idle, (double) cfg->status_interval_usec / USEC_PER_SEC);
        }
        *ret = a;
        return 0;
}

static void account_start(Account *a) {
        for (size_t i = 0; i < a->n_conns; i++)
                (void) connection_start(a->conns[i]);
}

static void account_set_config(Account *a, const CfgAccount *cfg) {
        a->cfg = cfg;
        for (size_t i = 0; i < a->n; i++)
                watch_set_config(a->watches[i], cfg, &cfg->mailboxes[i]);
        for (size_t i = 0; i < a->n_conns; i++)
                connection_set_config(a->conns[i], cfg);
}

/* ---- status ----------------------------------------------------------------------------------- */

static int update_status(Manager *m) {
        size_t total = 0, idling = 0, polled = 0, settled = 0, conns = 0;
        char detail[256] = "", polling[64] = "";
        uint64_t now = 0;

        (void) sd_event_now(m->event, CLOCK_BOOTTIME, &now);
        for (size_t i = 0; i < m->n_accounts; i++)
                for (size_t j = 0; j < m->accounts[i]->n_conns; j++) {
                        Connection *c = m->accounts[i]->conns[j];
                        uint64_t at = connection_retry_at(c);

                        size_t np = connection_polled(c);

                        conns++;
                        total += np > 0 ? np : 1;
                        polled += np;
                        idling += np == 0 && connection_state(c) == CONNECTION_IDLING;
                        settled += connection_settled(c);
                        if (at && !detail[0])
                                (void) snprintf(detail, sizeof(detail), "; %s: retry in %" PRIu64 "s",
                                                np > 0 ? m->accounts[i]->cfg->name : watch_name(connection_watch(c)),
                                                at > now ? (at - now + USEC_PER_SEC - 1) / USEC_PER_SEC : 0);
                }
        /* Mailboxes beyond max_connections say so (issue 6). */
        if (polled > 0)
                (void) snprintf(polling, sizeof(polling), ", %zu polled (max_connections)", polled);
        (void) snprintf(m->status, sizeof(m->status), "%zu/%zu mailboxes idling%s%s", idling, total, polling, detail);
        if (m->stopping)
                return 0;
        /* READY=1 once every mailbox reached IDLE or failed its first attempt. */
        if (!m->ready_sent && settled == conns) {
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
        for (size_t i = 0; i < m->n_accounts; i++)
                for (size_t j = 0; j < m->accounts[i]->n_conns; j++)
                        if (connection_state(m->accounts[i]->conns[j]) != CONNECTION_STOPPED)
                                return false;
        return true;
}

static void on_conn_state(Connection *c, ConnectionState old, ConnectionState st, void *userdata) {
        Manager *m = userdata;

        (void) c;
        (void) old;
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
        (void) s;
        (void) si;
        (void) manager_reload(userdata);
        return 0;
}

/* ---- reload ----------------------------------------------------------------------------------- */

static Account *find_account(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_accounts; i++)
                if (m->accounts[i] && strcmp(m->accounts[i]->cfg->name, name) == 0)
                        return m->accounts[i];
        return NULL;
}

int manager_reload(Manager *m) {
        _cleanup_free_ char *error = NULL;
        Cfg *ncfg = NULL;
        Account **nacc;
        uint64_t now = 0;
        size_t kept = 0, started = 0, stopped = 0;
        int r;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading", now);
        /* Parse the new file completely before touching anything. */
        r = cfg_load(m->cfg->path, &ncfg, &error);
        if (r < 0) {
                log_error("Reload failed, keeping the running configuration: %s", error ? error : strerror(-r));
                (void) sd_notifyf(false, "READY=1\nSTATUS=%s", m->status);
                return r;
        }
        for (size_t i = 0; i < ncfg->n_warnings; i++)
                log_warning("%s", ncfg->warnings[i]);

        nacc = calloc(ncfg->n_accounts ? ncfg->n_accounts : 1, sizeof(Account *));
        if (!nacc) {
                cfg_free(ncfg);
                return log_error_errno(-ENOMEM, "Reload failed: %m");
        }
        for (size_t i = 0; i < ncfg->n_accounts; i++) {
                const CfgAccount *na = &ncfg->accounts[i];
                Account *old = find_account(m, na->name);

                if (old && cfg_account_equal(old->cfg, na)) {
                        /* Unchanged: keep its connections, sockets and all. */
                        account_set_config(old, na);
                        nacc[i] = old;
                        for (size_t j = 0; j < m->n_accounts; j++)
                                if (m->accounts[j] == old)
                                        m->accounts[j] = NULL;
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
        /* Removed or changed accounts go. */
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
        (void) update_status(m);
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", m->status);
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
        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_accounts; i++)
                account_free(m->accounts[i]);
        free(m->accounts);
        sched_free(m->sched);
        resume_monitor_free(m->resume);
        netmon_free(m->netmon);
        sd_event_source_disable_unref(m->sig_term);
        sd_event_source_disable_unref(m->sig_usr2);
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

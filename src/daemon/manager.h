/* SPDX-License-Identifier: MIT */
/*
 * manager.h: the daemon: one sd-event loop, every account's connections,
 * signals (HUP reload, TERM/INT stop), and what systemd is told
 * (READY=1, STATUS=, RELOADING=1, STOPPING=1, the watchdog).
 */
#pragma once

#include <systemd/sd-event.h>

#include "cfg.h"

typedef struct Manager Manager;

/* Takes ownership of cfg.  SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 and SIGCHLD must already
 * be blocked (sd_event_add_signal and sd_event_add_child need it). */
int manager_new(Cfg *cfg, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Serve `imapidled status` at path (control.h: create_dir makes its directory); SIGUSR1 logs
 * the same report whether or not this was called.  -EADDRINUSE: a daemon listens there. */
int manager_listen(Manager *m, const char *path, bool create_dir);

/* --once (docs/imapidled.8), before manager_run(): every connection catches up and logs out
 * instead of idling, fails for good instead of retrying (connection_set_once()), hooks run
 * without debounce, and the loop ends when every connection stopped and the last hook ended.
 * No suspend or network monitoring, and SIGHUP does not reload. */
void manager_set_once(Manager *m);

/* Start every watch and run the loop until a stop signal (or, with --once, until done);
 * returns < 0 on error, else the exit status: with --once 1 when an account failed, a hook
 * failed or a signal stopped it, else 0. */
int manager_run(Manager *m);

/* Re-read the configuration file; a broken file keeps the old config, and every STATUS= from
 * then on begins with "reload failed: FILE:LINE: KEY: reason; " until a reload succeeds.  An
 * account whose effective settings (top-level defaults applied, cfg_account_equal()) are the
 * same keeps its connections; the others are restarted.  READY=1 follows either way. */
int manager_reload(Manager *m);

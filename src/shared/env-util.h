/* SPDX-License-Identifier: MIT */
/*
 * env-util.h: which of the daemon's environment variables a child it starts
 * (a hook, password_command, oauth2_token_command) may see.  The rule is an
 * allowlist, so that nothing the daemon was started with reaches a hook by
 * accident: not LD_PRELOAD or LD_LIBRARY_PATH (code loaded into every hook),
 * not STATE_DIRECTORY or CREDENTIALS_DIRECTORY (the daemon's own files), not a
 * secret some wrapper exported (docs/HOOKS.md, "Environment").  The
 * configuration's pass_env names more; cfg.c checks those names with
 * env_name_check() and hook.c checks them again before it passes them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True if the 'len' bytes at 'name' are a variable every child gets when the daemon has it: PATH,
 * HOME, USER, LOGNAME, LANG, LC_*, TZ, XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS, DISPLAY,
 * WAYLAND_DISPLAY. */
bool env_name_passed_by_default(const char *name, size_t len);

/* Why pass_env may not name 'name', as a phrase for a message ("is not a valid variable name ..."),
 * or NULL if it may.  Refused: anything but a shell variable name ([A-Za-z_][A-Za-z0-9_]*, POSIX.1-2017
 * XBD 3.235 "Name"), and LD_* (the dynamic loader's: code in every hook), IMAPIDLED_* (the daemon
 * sets those itself) and the variables that tie the daemon to systemd (NOTIFY_SOCKET,
 * WATCHDOG_PID, WATCHDOG_USEC, LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, CREDENTIALS_DIRECTORY). */
const char *env_name_check(const char *name);

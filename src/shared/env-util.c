/* SPDX-License-Identifier: MIT */
/* env-util.c: see env-util.h. */
#include <string.h>

#include "env-util.h"
#include "macro.h"

/* What a mail hook plausibly needs from the daemon's environment: where programs are (PATH), whose
 * they are (HOME, USER, LOGNAME), the locale and time zone the user chose, and the way to the
 * user's session (the runtime directory, the session bus for notify-send, the display). */
static const char *const env_default[] = {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS",
        "DISPLAY", "WAYLAND_DISPLAY",
};
/* Plus every LC_* (LC_ALL, LC_CTYPE, ...: the locale categories of POSIX.1-2017 XBD 8.2). */
#define ENV_LOCALE_PREFIX "LC_"

/* Never passed, even when named: sd_notify(3), sd_listen_fds(3), systemd.exec(5) credentials. */
static const char *const env_systemd[] = {
        "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
        "CREDENTIALS_DIRECTORY",
};

static bool has_prefix(const char *s, size_t len, const char *prefix) {
        size_t n = strlen(prefix);

        return len >= n && strncmp(s, prefix, n) == 0;
}

static bool name_is(const char *name, size_t len, const char *what) {
        return strlen(what) == len && strncmp(name, what, len) == 0;
}

bool env_name_passed_by_default(const char *name, size_t len) {
        if (!name)
                return false;
        if (has_prefix(name, len, ENV_LOCALE_PREFIX) && len > strlen(ENV_LOCALE_PREFIX))
                return true;
        for (size_t i = 0; i < ELEMENTSOF(env_default); i++)
                if (name_is(name, len, env_default[i]))
                        return true;
        return false;
}

static bool is_alpha_(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

const char *env_name_check(const char *name) {
        size_t len;

        if (!name || !is_alpha_(name[0]))
                return "is not a variable name: it must start with a letter or '_'";
        for (const char *p = name; *p; p++)
                if (!is_alpha_(*p) && !is_digit(*p))
                        return "is not a variable name: it may contain only A-Z, a-z, 0-9 and '_'";
        len = strlen(name);
        /* ld.so(8): LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT ... load code into every hook. */
        if (has_prefix(name, len, "LD_"))
                return "names a variable of the dynamic loader (LD_*), which would load code into every hook";
        if (has_prefix(name, len, "IMAPIDLED_"))
                return "names an IMAPIDLED_* variable, which only the daemon sets (docs/HOOKS.md)";
        for (size_t i = 0; i < ELEMENTSOF(env_systemd); i++)
                if (name_is(name, len, env_systemd[i]))
                        return "names a variable that ties the daemon to systemd; a hook must not act on it";
        return NULL;
}

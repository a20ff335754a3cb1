/* SPDX-License-Identifier: MIT */
/*
 * cfg-check.c: cfg_check_files() (cfg.h): what cfg_load() leaves to the connect, looked at
 * once before the daemon starts and by --check-config: the files an account names can be read,
 * and the programs it would run can be found and executed.  Without this a missing
 * password_file or a misspelt hook program shows up only as a failure minutes later (issue 13),
 * and --check-config said "fine".
 *
 * Nothing here reads a secret: a file is opened and closed, never read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"

/* posix_spawnp()'s search path when PATH is not set (glibc's default). */
#define CFG_DEFAULT_PATH "/bin:/usr/bin"

typedef struct CheckCtx {
        char *errors;           /* "FILE:LINE: ...\n" each; NULL = none so far */
        size_t n_errors;
        bool oom;
} CheckCtx;

static void check_add(CheckCtx *x, const CfgAccount *a, unsigned line, const char *where, const char *key,
                      const char *fmt, ...) _printf_(6, 7);
static void check_add(CheckCtx *x, const CfgAccount *a, unsigned line, const char *where, const char *key,
                      const char *fmt, ...) {
        _cleanup_free_ char *reason = NULL;
        char *l;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&reason, fmt, ap);
        va_end(ap);
        if (n < 0) {
                x->oom = true;
                return;
        }
        n = asprintf(&l, "%s%s%s:%u: account \"%s\"%s: %s: %s", x->errors ?: "", x->errors ? "\n" : "", a->file,
                     line, a->name, where ?: "", key, reason);
        if (n < 0) {
                x->oom = true;
                return;
        }
        free(x->errors);
        x->errors = l;
        x->n_errors++;
}

/* A file the daemon opens on every connect (password_file) or once per TLS context (ca_file,
 * client_cert, client_key): it must be a readable file, not a directory. */
static void check_file(CheckCtx *x, const CfgAccount *a, const char *key, const char *path) {
        struct stat st;
        int fd;

        if (!path)
                return;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                check_add(x, a, a->line, NULL, key, "cannot read %s: %s", path, strerror(errno));
                return;
        }
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
                check_add(x, a, a->line, NULL, key, "%s is a directory, not a file", path);
        close(fd);
}

/* Whether 'file' is a regular file this process may execute; -errno why not. */
static int executable(const char *file) {
        struct stat st;

        if (stat(file, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EACCES;
        return access(file, X_OK) < 0 ? -errno : 0;
}

/* As posix_spawnp() (src/shared/spawn-util.c) finds argv[0]: a name with a '/' as it is,
 * anything else in the directories of the daemon's own PATH, the first executable one wins. */
int cfg_program_resolve(const char *name) {
        const char *path = getenv("PATH");
        int r, best = -ENOENT;

        if (!name || !*name)
                return -ENOENT;
        if (strchr(name, '/'))
                return executable(name);
        if (!path)
                path = CFG_DEFAULT_PATH;
        for (const char *p = path;; p++) {
                size_t n = strcspn(p, ":");
                _cleanup_free_ char *f = NULL;

                /* An empty entry is the current directory (execvp(3)). */
                if (asprintf(&f, "%.*s%s%s", (int) n, n > 0 ? p : ".", "/", name) < 0)
                        return -ENOMEM;
                r = executable(f);
                if (r == 0)
                        return 0;
                if (r == -EACCES)
                        best = r;
                p += n;
                if (!*p)
                        break;
        }
        return best;
}

static void check_program(CheckCtx *x, const CfgAccount *a, unsigned line, const char *where, const char *key,
                          char *const *argv) {
        int r;

        if (!argv || !argv[0])
                return;
        r = cfg_program_resolve(argv[0]);
        if (r == -ENOMEM)
                x->oom = true;
        else if (r == -ENOENT && !strchr(argv[0], '/'))
                check_add(x, a, line, where, key, "program '%s' not found in PATH", argv[0]);
        else if (r < 0)
                check_add(x, a, line, where, key, "cannot run '%s': %s", argv[0], strerror(-r));
}

static const char *const hook_keys[] = { "on_new", "on_expunge", "on_flags" };

static void check_hooks(CheckCtx *x, const CfgAccount *a, unsigned line, const char *where,
                        const CfgHook *const hooks[static 3]) {
        for (size_t i = 0; i < 3; i++)
                /* A shell string runs /bin/sh, which the user chose to write (shell = true). */
                if (hooks[i] && hooks[i]->argv)
                        check_program(x, a, line, where, hook_keys[i], hooks[i]->argv);
}

int cfg_check_files(const Cfg *c, char **ret_error) {
        CheckCtx x = {};

        assert_return(c, -EINVAL);

        for (size_t i = 0; i < c->n_accounts; i++) {
                const CfgAccount *a = &c->accounts[i];

                check_file(&x, a, "password_file", a->password_file);
                check_file(&x, a, "ca_file", a->ca_file);
                check_file(&x, a, "client_cert", a->client_cert);
                check_file(&x, a, "client_key", a->client_key);
                check_program(&x, a, a->line, NULL, "password_command", a->password_command);
                check_program(&x, a, a->line, NULL, "oauth2_token_command", a->oauth2_token_command);
                check_program(&x, a, a->line, NULL, "tunnel", a->tunnel);
                check_hooks(&x, a, a->line, NULL,
                            (const CfgHook *const[3]) { &a->on_new, &a->on_expunge, &a->on_flags });
                for (size_t j = 0; j < a->n_mailboxes; j++) {
                        const CfgMailbox *m = &a->mailboxes[j];
                        _cleanup_free_ char *where = NULL;

                        if (!cfg_hook_is_set(&m->on_new) && !cfg_hook_is_set(&m->on_expunge) &&
                            !cfg_hook_is_set(&m->on_flags))
                                continue;
                        if (asprintf(&where, ", mailbox \"%s\"", m->name) < 0) {
                                x.oom = true;
                                break;
                        }
                        check_hooks(&x, a, m->line, where,
                                    (const CfgHook *const[3]) { &m->on_new, &m->on_expunge, &m->on_flags });
                }
                if (x.oom)
                        break;
        }
        if (x.oom) {
                free(x.errors);
                return -ENOMEM;
        }
        if (x.n_errors == 0)
                return 0;
        if (ret_error)
                *ret_error = x.errors;
        else
                free(x.errors);
        return -EBADMSG;
}

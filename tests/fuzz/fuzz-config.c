/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config.c: libFuzzer target for the configuration file (cfg_load(), src/daemon/cfg.h):
 * libconfig's syntax, the schema walk of cfg-table.c, the cross-key checks, cfg_dump().
 *
 * The input is the file's bytes, written to main.conf in a private directory and read with
 * cfg_load(), as the daemon reads it.  Then:
 *   - a rejection must say where, as cfg.h promises: "FILE:LINE: ..." with FILE the main file
 *     (and LINE one of its lines) or a file in the directory an @include brought in; only a NUL
 *     byte is reported without a line ("FILE: contains a NUL byte");
 *   - an accepted configuration must hold what cfg.h says of it: every number of the schema
 *     (cfg_keys[], read from the table, not copied here) within its range, max_delay not below
 *     debounce, liveness_interval off or below idle_interval, an account either with a tunnel
 *     and no host, port or TLS, or with all three and a user name, plaintext only where
 *     allowed, at most one source of the secret, unique names, at least one mailbox, the
 *     pattern flags and count right, hooks with one form only that expand, details => uids,
 *     pass_env names the environment code accepts;
 *   - cfg_dump() must read back: dump, load the dump, dump again: the two dumps are equal (the
 *     header comment aside, it names the files), and every account compares equal to the
 *     original (the password aside: the dump writes it redacted).
 * Any difference aborts.
 *
 * An @include may name only files of the private directory (no '/' and no ".."), so that no
 * input reads the rest of the file system; the directory holds one more file, extra.conf (an
 * account), for the includes to find.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg-internal.h"
#include "cfg.h"
#include "env-util.h"
#include "fuzz.h"
#include "time-util.h"

static char dir[64], main_path[96];

/* LeakSanitizer reads this at start (it is weak in its runtime).  libconfig 1.5 itself loses the
 * tokens its scanner allocated when its parser gives up on a syntax error (a string still open:
 * config_read_string() on '"; x = 1;' alone leaks 64 bytes; a string token before the error):
 * not ours to fix.  Only the scanner's own allocations are named: a configuration that cfg.c
 * forgot to config_destroy() still shows, through the settings libconfig allocated for it. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
        return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

#define check(x)                                                                                  \
        do {                                                                                      \
                if (!(x)) {                                                                       \
                        fprintf(stderr, "fuzz-config: %s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

static void write_file(const char *path, const void *data, size_t size) {
        FILE *f = fopen(path, "we");

        if (!f || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
                perror(path);
                abort();
        }
        (void) chmod(path, 0600);
}

static void cleanup(void) {
        char p[128];

        (void) unlink(main_path);
        (void) snprintf(p, sizeof(p), "%s/extra.conf", dir);
        (void) unlink(p);
        (void) rmdir(dir);
}

static void setup(void) {
        static const char extra[] =
                "accounts = ( { name = \"extra\"; host = \"127.0.0.1\"; username = \"u\"; password = \"p\"; } );\n";

        if (dir[0])
                return;
        (void) unsetenv("CREDENTIALS_DIRECTORY");
        (void) snprintf(dir, sizeof(dir), "%s", "/tmp/fuzz-config-XXXXXX");
        if (!mkdtemp(dir))
                abort();
        (void) snprintf(main_path, sizeof(main_path), "%s/main.conf", dir);
        write_file(main_path, "", 0);
        (void) atexit(cleanup);
        {
                char p[128];

                (void) snprintf(p, sizeof(p), "%s/extra.conf", dir);
                write_file(p, extra, sizeof(extra) - 1);
        }
}

/* True if every @include names a file of the directory (no '/' and no "..", which could reach
 * beyond it); libconfig and cfg.c both read from the directory of the main file. */
static bool includes_confined(const uint8_t *data, size_t size) {
        static const char kw[] = "@include";

        for (size_t i = 0; i + sizeof(kw) - 1 <= size; i++) {
                size_t j;

                if (strncasecmp((const char *) data + i, kw, sizeof(kw) - 1) != 0)
                        continue;
                for (j = i + sizeof(kw) - 1; j < size && data[j] != '\n'; j++)
                        if (data[j] == '/' || data[j] == '~' || (data[j] == '.' && j + 1 < size && data[j + 1] == '.'))
                                return false;
        }
        return true;
}

static unsigned count_lines(const uint8_t *data, size_t size) {
        unsigned n = 1;

        for (size_t i = 0; i < size; i++)
                n += data[i] == '\n';
        return n;
}

/* "PREFIX:LINE: " at the start of e, with PREFIX the main file or a file in the directory. */
static void check_error(const char *e, const uint8_t *data, size_t size) {
        size_t ml = strlen(main_path), dl = strlen(dir);
        const char *p;
        char *end;
        unsigned long line;
        bool is_main;

        check(e);
        if (memchr(data, 0, size) && strncmp(e, main_path, ml) == 0 && strcmp(e + ml, ": contains a NUL byte") == 0)
                return;
        is_main = strncmp(e, main_path, ml) == 0 && e[ml] == ':';
        if (is_main)
                p = e + ml;
        else {
                /* An included file: DIR/NAME: with NAME free of ':' */
                check(strncmp(e, dir, dl) == 0 && e[dl] == '/');
                p = strchr(e + dl + 1, ':');
                check(p);
        }
        check(p[0] == ':' && p[1] >= '1' && p[1] <= '9');
        errno = 0;
        line = strtoul(p + 1, &end, 10);
        check(errno == 0 && end[0] == ':' && end[1] == ' ' && end[2] != 0);
        if (is_main)
                check(line <= count_lines(data, size));
}

static bool valid_utf8_no_controls(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                unsigned n, cp;

                if (*p < 0x20 || *p == 0x7f)
                        return false;
                if (*p < 0x80) {
                        p++;
                        continue;
                }
                if ((*p & 0xe0) == 0xc0) {
                        n = 1;
                        cp = *p & 0x1f;
                } else if ((*p & 0xf0) == 0xe0) {
                        n = 2;
                        cp = *p & 0x0f;
                } else if ((*p & 0xf8) == 0xf0) {
                        n = 3;
                        cp = *p & 0x07;
                } else
                        return false;
                for (unsigned i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (p[i] & 0x3f);
                }
                /* C1 controls (U+0080..U+009F) are refused like C0 (cfg.c parse_mailbox_name()). */
                if ((cp >= 0x80 && cp <= 0x9f) || (n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += n + 1;
        }
        return true;
}

/* Every number the schema describes in scope, in the struct at base, within the table's range. */
static void check_numbers(CfgScope scope, const void *base, bool tunnel) {
        for (size_t i = 0; i < cfg_n_keys; i++) {
                const CfgKey *k = &cfg_keys[i];
                const char *f = (const char *) base + k->offset;

                if (k->scope != scope)
                        continue;
                switch (k->type) {
                case CFG_TYPE_SECONDS: {
                        uint64_t v = *(const uint64_t *) (const void *) f;

                        check(v % USEC_PER_SEC == 0);
                        check(v >= (uint64_t) k->min * USEC_PER_SEC && v <= (uint64_t) k->max * USEC_PER_SEC);
                        break;
                }
                case CFG_TYPE_DURATION: {
                        uint64_t v = *(const uint64_t *) (const void *) f;

                        check(v % USEC_PER_MSEC == 0);
                        check((v == 0 && (k->flags & CFG_KEY_ZERO_OFF)) ||
                              (v >= (uint64_t) k->min * USEC_PER_MSEC && v <= (uint64_t) k->max * USEC_PER_MSEC));
                        break;
                }
                case CFG_TYPE_COUNT: {
                        unsigned v = *(const unsigned *) (const void *) f;

                        check(v >= k->min && v <= k->max);
                        break;
                }
                case CFG_TYPE_PORT: {
                        const char *v = *(char *const *) (const void *) f;
                        char *end;
                        long n;

                        if (tunnel) {
                                check(!v);
                                break;
                        }
                        check(v && v[0] >= '1' && v[0] <= '9');
                        n = strtol(v, &end, 10);
                        check(*end == 0 && n >= k->min && n <= k->max);
                        break;
                }
                default:
                        break;
                }
        }
}

static void check_env_names(char *const *l) {
        for (char *const *n = l; n && *n; n++) {
                check(env_name_check(*n) == NULL);
                for (char *const *m = l; m < n; m++)
                        check(strcmp(*m, *n) != 0);
        }
}

static void check_hook(const CfgAccount *a, const CfgHook *h) {
        check(!(h->argv && h->shell));
        if (h->shell)
                check(a->shell);
        if (h->details)
                check(h->uids);
        if (h->argv) {
                _cleanup_(cfg_strv_freep) char **x = NULL;

                check(h->argv[0]);
                check(cfg_hook_expand(h->argv, "a%m", "m%a", &x) == 0);
        }
}

static void check_account(const Cfg *c, const CfgAccount *a) {
        size_t patterns = 0;
        unsigned credentials = !!a->password + !!a->password_file + !!a->password_command +
                               !!a->oauth2_token_command;

        check(a->name && a->name[0]);
        check(strspn(a->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
              strlen(a->name));
        check(cfg_find_account(c, a->name) == a);
        check_numbers(CFG_SCOPE_ACCOUNT, a, a->tunnel != NULL);
        check(a->max_delay_usec >= a->debounce_usec);
        check(a->live.liveness_interval_usec == 0 || a->live.liveness_interval_usec < a->idle_interval_usec);
        if (a->tunnel) {
                check(a->tunnel[0] && !a->host && !a->port && a->tls == CFG_TLS_NONE);
        } else {
                check(a->host && a->port && a->username);
                check(a->tls >= 0 && a->tls < _CFG_TLS_MAX);
                if (a->tls == CFG_TLS_NONE)
                        check(a->allow_plaintext);
        }
        check(credentials <= 1);
        check(a->file);
        check_env_names(a->pass_env);
        /* The account's pass_env starts with the top level's (cfg.h). */
        for (size_t i = 0; c->pass_env && c->pass_env[i]; i++)
                check(a->pass_env && a->pass_env[i] && strcmp(a->pass_env[i], c->pass_env[i]) == 0);
        check(a->n_mailboxes >= 1 && a->mailboxes);
        for (size_t i = 0; i < a->n_mailboxes; i++) {
                const CfgMailbox *m = &a->mailboxes[i];

                check(m->name && m->name[0] && valid_utf8_no_controls(m->name));
                check(m->pattern == (strpbrk(m->name, "*%") != NULL));
                patterns += m->pattern;
                if (!m->pattern)
                        check(cfg_account_mailbox_for(a, m->name, '/') <= i);
                check_hook(a, &m->on_new);
                check_hook(a, &m->on_expunge);
                check_hook(a, &m->on_flags);
                for (CfgEvent ev = 0; ev < _CFG_EVENT_MAX; ev++) {
                        const CfgHook *h = cfg_mailbox_hook(a, m, ev);

                        check(!h || cfg_hook_is_set(h));
                }
        }
        check(patterns == a->n_patterns);
        check_hook(a, &a->on_new);
        check_hook(a, &a->on_expunge);
        check_hook(a, &a->on_flags);
        for (char **m = a->auth; m && *m; m++)
                check(cfg_mech_lookup(*m) != NULL);
}

static void check_cfg(const Cfg *c) {
        CfgFdNeed need;

        check_numbers(CFG_SCOPE_GLOBAL, c, false);
        check(c->max_delay_usec >= c->debounce_usec);
        check(c->live.liveness_interval_usec == 0 || c->live.liveness_interval_usec < c->idle_interval_usec);
        check_env_names(c->pass_env);
        check(c->n_accounts >= 1 && c->accounts);
        check(c->n_files >= 1 && strcmp(c->files[0], main_path) == 0);
        for (size_t i = 0; i < c->n_accounts; i++) {
                check_account(c, &c->accounts[i]);
                for (size_t j = 0; j < i; j++)
                        check(strcmp(c->accounts[i].name, c->accounts[j].name) != 0);
        }
        for (size_t i = 0; i < c->n_warnings; i++)
                check(c->warnings[i] && c->warnings[i][0]);
        check(cfg_descriptors_needed(c, &need) == 0);
        check(need.total == need.connections + need.hooks + need.connecting + need.reserve);
}

/* The dump without its header comment (it names the files read). */
static char *dump(const Cfg *c) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        char *out, *o;

        check(f);
        check(cfg_dump(c, f) == 0);
        check(fclose(f) == 0);
        out = o = malloc(len + 1);
        check(out);
        for (const char *p = text; *p;) {
                const char *nl = strchrnul(p, '\n');
                size_t n = (size_t) (nl - p) + (*nl == '\n');

                if (*p != '#') {
                        memcpy(o, p, n);
                        o += n;
                }
                p += n;
        }
        *o = 0;
        return out;
}

static void check_round_trip(const Cfg *c) {
        _cleanup_(cfg_freep) Cfg *b = NULL;
        _cleanup_free_ char *first = NULL, *second = NULL, *err = NULL;
        _cleanup_free_ char *full = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&full, &len);

        check(f);
        check(cfg_dump(c, f) == 0);
        check(fclose(f) == 0);
        write_file(main_path, full, len);
        if (cfg_load(main_path, &b, &err) < 0) {
                fprintf(stderr, "fuzz-config: the dump does not load: %s\n%s", err ? err : "?", full);
                abort();
        }
        first = dump(c);
        second = dump(b);
        if (strcmp(first, second) != 0) {
                fprintf(stderr, "fuzz-config: the dump changed:\n%s\n---\n%s", first, second);
                abort();
        }
        check(b->n_accounts == c->n_accounts);
        for (size_t i = 0; i < c->n_accounts; i++) {
                CfgAccount *x = &b->accounts[i];
                char *pw = x->password;
                bool eq;

                /* The dump redacts the password: compare the rest. */
                x->password = c->accounts[i].password;
                eq = cfg_account_equal(&c->accounts[i], x);
                x->password = pw;
                check(eq);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        setup();
        if (size > 64 * 1024 || !includes_confined(data, size))
                return 0;
        write_file(main_path, data, size);
        r = cfg_load(main_path, &c, &err);
        if (r < 0) {
                check(r == -EBADMSG || r == -ENOMEM);
                if (r == -EBADMSG)
                        check_error(err, data, size);
                return 0;
        }
        check(c && !err);
        check_cfg(c);
        check_round_trip(c);
        return 0;
}

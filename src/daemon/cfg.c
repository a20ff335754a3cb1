/* SPDX-License-Identifier: MIT */
/*
 * cfg.c: reading, checking, printing, comparing and freeing the configuration
 * (cfg.h).  libconfig does the syntax; everything else walks the schema in
 * cfg-table.c, with one parser, printer, comparator and destructor per value
 * type (the type table below), so that a key added to the schema is parsed,
 * dumped, compared on reload and freed without another line of code here.
 * Checks that involve several keys (tunnel versus host, one secret, TLS versus
 * allow_plaintext, mechanisms versus credentials, string hooks versus shell)
 * run once an account has been read; inheritance of the top-level timings,
 * max_delay versus debounce and liveness_interval versus idle_interval once the
 * whole file has been.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfg-internal.h"
#include "cfg.h"
#include "env-util.h"
#include "imap-utf7.h"
#include "imap-util.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"

/* Key paths are built from schema names and indices only, never from the file's text. */
#define CFG_PATH_MAX 128

#define FIELD(obj, k, type) ((type *) (void *) ((uint8_t *) (obj) + (k)->offset))
#define CFIELD(obj, k, type) ((type const *) (const void *) ((const uint8_t *) (obj) + (k)->offset))

/* Names seen so far (the account names, or one account's mailbox names) with where they were: an
 * open-addressing table kept at most half full, so that finding duplicates among n names takes
 * time linear in n.  The keys are not copied: they must outlive the set. */
typedef struct NameSlot {
        const char *key;        /* NULL: the slot is free */
        size_t index;
} NameSlot;

typedef struct NameSet {
        NameSlot *slots;
        size_t cap;             /* 0 or a power of two */
        size_t n;
} NameSet;

/* An @include whose file name is a pattern or a directory, found in the main file. */
typedef struct CfgPattern {
        char *pattern;          /* as written, escapes undone */
        unsigned line;
} CfgPattern;

typedef struct CfgCtx {
        /* The document being read: the main file, or a file an @include pattern matched. */
        const char *file;       /* its name, for settings without a source file of their own */
        const char *text;       /* its text, for the integer check */
        size_t *line_start;     /* offsets of text's lines (line n at [n - 1]), built on first use */
        size_t n_lines;
        bool have_mode;         /* mode is the document's (a file, not cfg_load_string()'s text) */
        mode_t mode;
        bool included;          /* matched by a pattern: only 'accounts' may be set */
        unsigned plain_depth;   /* scanning a plain @include's file (scan_plain_include()), this deep */
        size_t first_file;      /* cfg->files from this index on were read for this document */

        /* The whole load. */
        char *conf_dir;         /* absolute directory of the main file */
        const char *cred_dir;   /* $CREDENTIALS_DIRECTORY, or NULL */
        CfgLimits limits;
        size_t total_bytes;     /* read so far, the main file included */
        size_t n_included;      /* files the patterns included so far */
        CfgPattern *patterns;   /* the main file's */
        size_t n_patterns;
        const struct stat *main_st; /* the main file's, or NULL (cfg_load_string()) */
        Cfg *cfg;
        size_t accounts_cap;    /* cfg->accounts has room for this many */
        size_t files_cap;       /* cfg->files has room for this many */
        NameSet account_names;  /* index: in cfg->accounts */
        char *error;            /* the first error, "FILE:LINE: KEY: reason" */
} CfgCtx;

static const char *const cfg_tls_table[_CFG_TLS_MAX] = {
        [CFG_TLS_IMPLICIT] = "implicit",
        [CFG_TLS_STARTTLS] = "starttls",
        [CFG_TLS_NONE]     = "none",
};

const char *cfg_tls_to_string(CfgTls t) {
        return t >= 0 && t < _CFG_TLS_MAX ? cfg_tls_table[t] : NULL;
}

CfgTls cfg_tls_from_string(const char *s) {
        if (s)
                for (CfgTls t = 0; t < _CFG_TLS_MAX; t++)
                        if (strcmp(cfg_tls_table[t], s) == 0)
                                return t;
        return _CFG_TLS_INVALID;
}

char **cfg_strv_free(char **l) {
        if (l)
                for (char **i = l; *i; i++)
                        free(*i);
        return mfree(l);
}

static bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static bool strv_contains(char *const *l, const char *s) {
        for (; l && *l; l++)
                if (strcmp(*l, s) == 0)
                        return true;
        return false;
}

static bool strv_equal(char *const *a, char *const *b) {
        if (!a || !b)
                return a == b;
        for (; *a && *b; a++, b++)
                if (strcmp(*a, *b) != 0)
                        return false;
        return !*a && !*b;
}

/* Free a secret after overwriting it, so that it does not linger in freed heap. */
static char *secret_free(char *s) {
        if (s)
                explicit_bzero(s, strlen(s));
        return mfree(s);
}

/* p itself if absolute, else dir/p. */
static char *path_join(const char *dir, const char *p) {
        size_t n = strlen(dir);
        char *j;

        if (p[0] == '/')
                return strdup(p);
        if (asprintf(&j, "%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", p) < 0)
                return NULL;
        return j;
}

/* FNV-1a: the names are the admin's own, so nobody picks them to collide. */
static uint64_t name_hash(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= UINT64_C(1099511628211);
        }
        return h;
}

/* The slot holding key, or the free slot where it belongs; there is always a free one. */
static NameSlot *name_set_slot(NameSlot *slots, size_t cap, const char *key) {
        for (size_t i = name_hash(key) & (cap - 1);; i = (i + 1) & (cap - 1))
                if (!slots[i].key || strcmp(slots[i].key, key) == 0)
                        return &slots[i];
}

/* Add key with its index.  Returns 0; 1 if key is there already, with that entry's index in
 * *ret_index and the set unchanged; or -ENOMEM. */
static int name_set_add(NameSet *s, const char *key, size_t index, size_t *ret_index) {
        NameSlot *slot;

        if (2 * (s->n + 1) > s->cap) {
                size_t ncap = s->cap > 0 ? s->cap * 2 : 16;
                NameSlot *n = calloc(ncap, sizeof(NameSlot));

                if (!n)
                        return -ENOMEM;
                for (size_t i = 0; i < s->cap; i++)
                        if (s->slots[i].key)
                                *name_set_slot(n, ncap, s->slots[i].key) = s->slots[i];
                free(s->slots);
                s->slots = n;
                s->cap = ncap;
        }
        slot = name_set_slot(s->slots, s->cap, key);
        if (slot->key) {
                *ret_index = slot->index;
                return 1;
        }
        *slot = (NameSlot) { .key = key, .index = index };
        s->n++;
        return 0;
}

static void name_set_done(NameSet *s) {
        s->slots = mfree(s->slots);
        s->cap = s->n = 0;
}

/* ---- messages --------------------------------------------------------------------------------- */

static unsigned setting_line(const config_setting_t *s) {
        unsigned line = s ? config_setting_source_line(s) : 0;

        /* The root group has line 0; a missing top-level key is reported at line 1. */
        return line > 0 ? line : 1;
}

/* The file a setting came from: the main file, or an @include'd one, whose name libconfig keeps as
 * written, relative to the include directory (the main file's).  Caller frees. */
static char *setting_file(const CfgCtx *x, const config_setting_t *s) {
        const char *f = s ? config_setting_source_file(s) : NULL;

        if (!f)
                return strdup(x->file);
        return path_join(x->conf_dir, f);
}

/* "FILE:LINE: KEY: reason", or NULL if out of memory. */
static char *message_v(const char *file, unsigned line, const char *key, const char *fmt, va_list ap)
        _printf_(4, 0);
static char *message_v(const char *file, unsigned line, const char *key, const char *fmt, va_list ap) {
        _cleanup_free_ char *reason = NULL;
        char *m;

        if (vasprintf(&reason, fmt, ap) < 0)
                return NULL;
        if (asprintf(&m, "%s:%u: %s: %s", file, line, key, reason) < 0)
                return NULL;
        return m;
}

/* Record "FILE:LINE: KEY: reason" for setting s (only the first error is kept).
 * cfg_fail() evaluates to -EBADMSG, or -ENOMEM if the message could not be built.  It is a
 * macro around a function that returns whether an error is recorded, so that every caller
 * visibly returns a negative value: the static analyzer does not inline variadic functions,
 * and without that it followed "r < 0 was false" paths into uninitialized out-parameters. */
static bool cfg_record(CfgCtx *x, const config_setting_t *s, const char *key, const char *fmt, ...) _printf_(4, 5);
static bool cfg_record(CfgCtx *x, const config_setting_t *s, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *file = NULL;
        va_list ap;

        if (x->error)
                return true;
        file = setting_file(x, s);
        if (!file)
                return false;
        va_start(ap, fmt);
        x->error = message_v(file, setting_line(s), key, fmt, ap);
        va_end(ap);
        return x->error != NULL;
}
#define cfg_fail(...) (cfg_record(__VA_ARGS__) ? -EBADMSG : -ENOMEM)

/* The same at a line of a file, for what is found outside libconfig's parse. */
static bool cfg_record_at(CfgCtx *x, const char *file, unsigned line, const char *key, const char *fmt, ...)
        _printf_(5, 6);
static bool cfg_record_at(CfgCtx *x, const char *file, unsigned line, const char *key, const char *fmt, ...) {
        va_list ap;

        if (x->error)
                return true;
        va_start(ap, fmt);
        x->error = message_v(file, line, key, fmt, ap);
        va_end(ap);
        return x->error != NULL;
}
#define cfg_fail_at(...) (cfg_record_at(__VA_ARGS__) ? -EBADMSG : -ENOMEM)

static const char *const libconfig_type_name[] = {
        [CONFIG_TYPE_NONE]   = "nothing",
        [CONFIG_TYPE_GROUP]  = "a group",
        [CONFIG_TYPE_INT]    = "an integer",
        [CONFIG_TYPE_INT64]  = "an integer",
        [CONFIG_TYPE_FLOAT]  = "a floating-point number",
        [CONFIG_TYPE_STRING] = "a string",
        [CONFIG_TYPE_BOOL]   = "a boolean",
        [CONFIG_TYPE_ARRAY]  = "an array",
        [CONFIG_TYPE_LIST]   = "a list",
};

static int cfg_fail_type(CfgCtx *x, const config_setting_t *s, const char *key, const char *want) {
        int t = config_setting_type(s);
        const char *have = "?";

        if (t >= 0 && (size_t) t < ELEMENTSOF(libconfig_type_name))
                have = libconfig_type_name[t];

        return cfg_fail(x, s, key, "must be %s, not %s", want, have);
}

/* Values are echoed in messages only when they are short printable ASCII. */
static bool printable(const char *s) {
        size_t n = 0;

        for (; *s; s++, n++)
                if (*s < 0x20 || *s > 0x7e || n >= 64)
                        return false;
        return true;
}

/* A truncated key path cannot happen with the schema's short names and small indices; should it,
 * the message shows "..." rather than a silently cut key. */
static void path_truncated(char buf[static CFG_PATH_MAX], int n) {
        if (n < 0 || n >= CFG_PATH_MAX)
                memcpy(buf + CFG_PATH_MAX - 4, "...", 4);
}

static void key_path(char buf[static CFG_PATH_MAX], const char *parent, const char *name) {
        size_t l = parent ? strlen(parent) : 0;
        int n;

        /* Inside an account named by account_path(): 'account "work": port'. */
        if (l > 0 && parent[l - 1] == '"')
                n = snprintf(buf, CFG_PATH_MAX, "%s: %s", parent, name);
        else if (parent)
                n = snprintf(buf, CFG_PATH_MAX, "%s.%s", parent, name);
        else
                n = snprintf(buf, CFG_PATH_MAX, "%s", name);
        path_truncated(buf, n);
}

static void index_path(char buf[static CFG_PATH_MAX], const char *parent, size_t i) {
        path_truncated(buf, snprintf(buf, CFG_PATH_MAX, "%s[%zu]", parent, i));
}

#define CFG_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

/* How messages name the i-th account of a list: by its name when it has a valid one, which the
 * reader finds in the file at once (issue 13: "accounts[1]" made them count), else by its index.
 * g is the account's setting (any type). */
static void account_path(char buf[static CFG_PATH_MAX], const config_setting_t *g, size_t i) {
        const config_setting_t *n = g && config_setting_type(g) == CONFIG_TYPE_GROUP ?
                config_setting_get_member(g, "name") : NULL;
        const char *v = n && config_setting_type(n) == CONFIG_TYPE_STRING ? config_setting_get_string(n) : NULL;

        if (v && *v && strlen(v) <= 64 && strspn(v, CFG_NAME_CHARS) == strlen(v))
                path_truncated(buf, snprintf(buf, CFG_PATH_MAX, "account \"%s\"", v));
        else
                index_path(buf, "accounts", i);
}

static int add_warning(Cfg *c, char *w) {
        char **l;

        if (!w)
                return -ENOMEM;
        l = reallocarray(c->warnings, c->n_warnings + 1, sizeof(char *));
        if (!l) {
                free(w);
                return -ENOMEM;
        }
        c->warnings = l;
        c->warnings[c->n_warnings++] = w;
        return 0;
}

static int cfg_warn(CfgCtx *x, const config_setting_t *s, const char *key, const char *fmt, ...)
        _printf_(4, 5);
static int cfg_warn(CfgCtx *x, const config_setting_t *s, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *file = setting_file(x, s);
        char *w;
        va_list ap;

        if (!file)
                return -ENOMEM;
        va_start(ap, fmt);
        w = message_v(file, setting_line(s), key, fmt, ap);
        va_end(ap);
        return add_warning(x->cfg, w);
}

static int cfg_warn_at(CfgCtx *x, const char *file, unsigned line, const char *key, const char *fmt, ...)
        _printf_(5, 6);
static int cfg_warn_at(CfgCtx *x, const char *file, unsigned line, const char *key, const char *fmt, ...) {
        char *w;
        va_list ap;

        va_start(ap, fmt);
        w = message_v(file, line, key, fmt, ap);
        va_end(ap);
        return add_warning(x->cfg, w);
}

/* ---- scalar helpers --------------------------------------------------------------------------- */

static bool is_ident_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '*';
}

/* The start and end of line 'line' (1-based) of x->text: through an index of the lines built on
 * first use, so that checking every integer of a large file stays linear.  Returns 0, -ENOENT for
 * a line the text does not have, -ENOMEM. */
static int text_line(CfgCtx *x, unsigned line, const char **ret_start, const char **ret_end) {
        const char *p;

        if (!x->line_start) {
                size_t n = 1, i = 0;

                for (p = x->text; (p = strchr(p, '\n')); p++)
                        n++;
                x->line_start = malloc(n * sizeof(size_t));
                if (!x->line_start)
                        return -ENOMEM;
                x->line_start[i++] = 0;
                for (p = x->text; (p = strchr(p, '\n')); p++)
                        x->line_start[i++] = (size_t) (p + 1 - x->text);
                x->n_lines = n;
        }
        if (line == 0 || line > x->n_lines)
                return -ENOENT;
        p = x->text + x->line_start[line - 1];
        *ret_start = p;
        *ret_end = strchrnul(p, '\n');
        return 0;
}

/* libconfig 1.5 wraps integers that do not fit 32 bits without an error: "port = 4294967297" reads
 * as 1.  Find the literal on the setting's line in the main file and parse it again; a setting
 * whose literal cannot be found (another file, an unusual layout) is taken as libconfig read it.
 * Any occurrence of "key = N" on the line that agrees is accepted, so a valid file never fails
 * here (a comment repeating the key with the wrapped value could hide an overflow).  Returns 1
 * when the value stands, 0 when the literal says otherwise, -ENOMEM. */
static int integer_literal_ok(CfgCtx *x, const config_setting_t *s, long long v) {
        const char *name = config_setting_name(s), *p, *end;
        unsigned line = config_setting_source_line(s);
        size_t nl = name ? strlen(name) : 0;
        bool found = false;
        int r;

        if (!x->text || !name || config_setting_source_file(s) || line == 0)
                return 1;

        r = text_line(x, line, &p, &end);
        if (r == -ENOENT)
                return 1;
        if (r < 0)
                return r;

        for (const char *q = p; q + nl <= end; q++) {
                const char *n;
                long long w;
                char *e;
                int base = 10;

                if (strncmp(q, name, nl) != 0 || (q > p && is_ident_char(q[-1])) || is_ident_char(q[nl]))
                        continue;
                n = q + nl;
                while (n < end && (*n == ' ' || *n == '\t'))
                        n++;
                if (n >= end || (*n != '=' && *n != ':'))
                        continue;
                n++;
                while (n < end && (*n == ' ' || *n == '\t'))
                        n++;
                /* The value may also be on a later line: then this is not the literal. */
                if (n >= end || !((*n >= '0' && *n <= '9') || *n == '-' || *n == '+'))
                        continue;
                if (n + 1 < end && n[0] == '0' && (n[1] == 'x' || n[1] == 'X'))
                        base = 16;
                found = true;
                errno = 0;
                w = strtoll(n, &e, base);
                if (errno == 0 && e != n && w == v)
                        return 1;
        }
        return !found;
}

static int get_integer(CfgCtx *x, const config_setting_t *s, const char *key, int64_t *ret) {
        long long v;
        int r;

        if (!IN_SET(config_setting_type(s), CONFIG_TYPE_INT, CONFIG_TYPE_INT64))
                return cfg_fail_type(x, s, key, "an integer");
        v = config_setting_get_int64(s);
        r = integer_literal_ok(x, s, v);
        if (r < 0)
                return r;
        if (r == 0)
                return cfg_fail(x, s, key, "number too large");
        *ret = v;
        return 0;
}

/* A non-empty string; the pointer is libconfig's, valid until config_destroy(). */
static int get_string(CfgCtx *x, const config_setting_t *s, const char *key, const char **ret) {
        const char *v;

        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return cfg_fail_type(x, s, key, "a string");
        v = config_setting_get_string(s);
        if (!v || !*v)
                return cfg_fail(x, s, key, "must not be empty");
        *ret = v;
        return 0;
}

static int strdup_to(const char *v, char **dest) {
        char *d = strdup(v);

        if (!d)
                return -ENOMEM;
        free(*dest);
        *dest = d;
        return 0;
}

/* A NULL-terminated copy of a non-empty list or array of non-empty strings. */
static int get_strv(CfgCtx *x, const config_setting_t *s, const char *key, const char *what, char ***ret) {
        _cleanup_(cfg_strv_freep) char **l = NULL;
        int n;

        if (!IN_SET(config_setting_type(s), CONFIG_TYPE_ARRAY, CONFIG_TYPE_LIST))
                return cfg_fail_type(x, s, key, what);
        n = config_setting_length(s);
        if (n <= 0)
                return cfg_fail(x, s, key, "must not be an empty list");

        l = calloc((size_t) n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                char ekey[CFG_PATH_MAX];
                const char *v;
                int r;

                index_path(ekey, key, (size_t) i);
                r = get_string(x, e, ekey, &v);
                if (r < 0)
                        return r;
                l[i] = strdup(v);
                if (!l[i])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- the value types -------------------------------------------------------------------------- */

typedef struct CfgTypeOps {
        /* Read setting s into the field of obj; errors through cfg_fail(). */
        int (*parse)(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj);
        /* Write "INDENTname = value;\n", or nothing when the field is unset. */
        void (*dump)(FILE *f, const CfgKey *k, const void *obj, const char *indent);
        bool (*equal)(const CfgKey *k, const void *a, const void *b);
        void (*done)(const CfgKey *k, void *obj);
} CfgTypeOps;

static const CfgTypeOps type_ops[_CFG_TYPE_MAX];
static int parse_group(CfgCtx *x, CfgScope scope, const config_setting_t *g, const char *path, void *obj);

static void dump_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c == '\n')
                        fputs("\\n", f);
                else if (c == '\t')
                        fputs("\\t", f);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(f, "\\x%02x", c);
                else
                        fputc(c, f);    /* bytes >= 0x80 pass through: the file is UTF-8 */
        }
        fputc('"', f);
}

static void dump_strv(FILE *f, char *const *l) {
        fputs("[ ", f);
        for (char *const *i = l; *i; i++) {
                if (i != l)
                        fputs(", ", f);
                dump_string(f, *i);
        }
        fputs(" ]", f);
}

/* SECONDS */
static int parse_seconds(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        int64_t v;
        int r;

        /* "60.0" is a whole number written as a float; "1.5" is not, and rounding it would change
         * what the admin meant. */
        if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
                double d = config_setting_get_float(s), whole;

                if (!isfinite(d) || fpclassify(modf(d, &whole)) != FP_ZERO)
                        return cfg_fail(x, s, key, "must be a whole number of seconds, not %g", d);
                if (d < (double) k->min || d > (double) k->max)
                        return cfg_fail(x, s, key, "%g is out of range: must be %" PRIi64 "..%" PRIi64 " seconds",
                                        d, k->min, k->max);
                *FIELD(obj, k, uint64_t) = (uint64_t) d * USEC_PER_SEC;
                return 0;
        }

        r = get_integer(x, s, key, &v);
        if (r < 0)
                return r;
        if (v < k->min || v > k->max)
                return cfg_fail(x, s, key,
                                "%" PRIi64 " is out of range: must be %" PRIi64 "..%" PRIi64 " seconds",
                                v, k->min, k->max);
        *FIELD(obj, k, uint64_t) = (uint64_t) v * USEC_PER_SEC;
        return 0;
}

static void dump_seconds(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        uint64_t v = *CFIELD(obj, k, uint64_t);

        if (v > 0)
                fprintf(f, "%s%s = %" PRIu64 ";\n", indent, k->name, v / USEC_PER_SEC);
}

static bool equal_u64(const CfgKey *k, const void *a, const void *b) {
        return *CFIELD(a, k, uint64_t) == *CFIELD(b, k, uint64_t);
}

/* DURATION: milliseconds written as seconds, "5", "0.25", "3600.001": trailing zeros dropped, so
 * that the dump reads back as the same value (an integer stays an integer for libconfig). */
#define MSEC_STRING_MAX 32
static const char *format_msec(char buf[static MSEC_STRING_MAX], int64_t ms) {
        uint64_t a = ms < 0 ? -(uint64_t) ms : (uint64_t) ms;
        int n = snprintf(buf, MSEC_STRING_MAX, "%s%" PRIu64, ms < 0 ? "-" : "", a / 1000);

        if (a % 1000 != 0 && n > 0 && n < MSEC_STRING_MAX - 4) {
                snprintf(buf + n, (size_t) (MSEC_STRING_MAX - n), ".%03u", (unsigned) (a % 1000));
                for (char *e = buf + strlen(buf) - 1; *e == '0'; e--)
                        *e = 0;
        }
        return buf;
}

/* "V is out of range: must be MIN..MAX seconds", with "0 (off) or " for a key that takes 0. */
static int fail_duration_range(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key,
                               const char *value) {
        char lo[MSEC_STRING_MAX], hi[MSEC_STRING_MAX];

        return cfg_fail(x, s, key, "%s is out of range: must be %s%s..%s seconds", value,
                        k->flags & CFG_KEY_ZERO_OFF ? "0 (off) or " : "", format_msec(lo, k->min),
                        format_msec(hi, k->max));
}

static int parse_duration(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        char buf[MSEC_STRING_MAX];
        int64_t ms;
        int r;

        if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
                double v = config_setting_get_float(s);

                /* Far outside the range (or not a number at all): say so before converting, which
                 * could overflow. */
                if (!isfinite(v) || v < 0 || v > (double) k->max / 1000.0 + 1) {
                        snprintf(buf, sizeof(buf), "%g", v);
                        return fail_duration_range(x, k, s, key, buf);
                }
                /* Millisecond precision: finer fractions are rounded, not refused. */
                ms = (int64_t) (v * 1000.0 + 0.5);
        } else if (IN_SET(config_setting_type(s), CONFIG_TYPE_INT, CONFIG_TYPE_INT64)) {
                int64_t v;

                r = get_integer(x, s, key, &v);
                if (r < 0)
                        return r;
                /* Checked before multiplying, which could overflow; the exact limits below. */
                if (v < 0 || v > k->max / 1000) {
                        snprintf(buf, sizeof(buf), "%" PRIi64, v);
                        return fail_duration_range(x, k, s, key, buf);
                }
                ms = v * 1000;
        } else
                return cfg_fail_type(x, s, key, "a number of seconds");

        if (ms == 0 && (k->flags & CFG_KEY_ZERO_OFF)) {
                *FIELD(obj, k, uint64_t) = 0;
                return 0;
        }
        if (ms == 0 && (k->flags & CFG_KEY_DEADLINE)) {
                char hi[MSEC_STRING_MAX];

                return cfg_fail(x, s, key, "a timeout cannot be 0 (there is no \"no deadline\"): must be "
                                "%s..%s seconds", format_msec(buf, k->min), format_msec(hi, k->max));
        }
        if (ms < k->min || ms > k->max)
                return fail_duration_range(x, k, s, key, format_msec(buf, ms));
        *FIELD(obj, k, uint64_t) = (uint64_t) ms * USEC_PER_MSEC;
        return 0;
}

static void dump_duration(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        uint64_t v = *CFIELD(obj, k, uint64_t);
        char buf[MSEC_STRING_MAX];

        if (v != CFG_USEC_UNSET)
                fprintf(f, "%s%s = %s;\n", indent, k->name, format_msec(buf, (int64_t) (v / USEC_PER_MSEC)));
}

/* COUNT */
static int parse_count(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        int64_t v;
        int r;

        r = get_integer(x, s, key, &v);
        if (r < 0)
                return r;
        if (v < k->min || v > k->max)
                return cfg_fail(x, s, key, "%" PRIi64 " is out of range: must be %" PRIi64 "..%" PRIi64,
                                v, k->min, k->max);
        *FIELD(obj, k, unsigned) = (unsigned) v;
        return 0;
}

static void dump_count(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        fprintf(f, "%s%s = %u;\n", indent, k->name, *CFIELD(obj, k, unsigned));
}

static bool equal_unsigned(const CfgKey *k, const void *a, const void *b) {
        return *CFIELD(a, k, unsigned) == *CFIELD(b, k, unsigned);
}

/* STRING, NAME, HOST, PATH, SECRET_PATH, SECRET, MAILBOX_NAME: a char * */
static int parse_string(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        const char *v;
        int r;

        r = get_string(x, s, key, &v);
        if (r < 0)
                return r;
        return strdup_to(v, FIELD(obj, k, char *));
}

static int parse_name(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        const char *v;
        int r;

        r = get_string(x, s, key, &v);
        if (r < 0)
                return r;
        if (strspn(v, CFG_NAME_CHARS) != strlen(v))
                return cfg_fail(x, s, key, "may contain only the characters A-Z a-z 0-9 . _ -");
        return strdup_to(v, FIELD(obj, k, char *));
}

static int parse_host(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        const char *v;
        int r;

        r = get_string(x, s, key, &v);
        if (r < 0)
                return r;
        for (const char *p = v; *p; p++)
                if ((unsigned char) *p <= 0x20 || *p == 0x7f)
                        return cfg_fail(x, s, key, "must not contain spaces or control characters");
        return strdup_to(v, FIELD(obj, k, char *));
}

static int parse_path_in(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj,
                         const char *dir) {
        const char *v;
        char *p;
        int r;

        r = get_string(x, s, key, &v);
        if (r < 0)
                return r;
        p = path_join(dir, v);
        if (!p)
                return -ENOMEM;
        free(*FIELD(obj, k, char *));
        *FIELD(obj, k, char *) = p;
        return 0;
}

static int parse_path(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        return parse_path_in(x, k, s, key, obj, x->conf_dir);
}

/* systemd's LoadCredential= puts secrets in $CREDENTIALS_DIRECTORY (systemd.exec(5)). */
static int parse_secret_path(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key,
                             void *obj) {
        return parse_path_in(x, k, s, key, obj, x->cred_dir ?: x->conf_dir);
}

static int parse_mailbox_name(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key,
                              void *obj) {
        _cleanup_free_ char *wire = NULL;
        const char *v;
        int r;

        r = get_string(x, s, key, &v);
        if (r < 0)
                return r;
        for (const char *p = v; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return cfg_fail(x, s, key, "must not contain control characters");
        /* The engine sends names in modified UTF-7 (RFC 3501 §5.1.3): refuse now what it could not
         * encode later. */
        r = imap_utf7_encode(v, strlen(v), &wire);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return cfg_fail(x, s, key, "is not valid UTF-8");
        /* C1 controls, line separators and bidi or other format characters: the rule the lister
         * applies to names from the server (docs/SECURITY.md I05, M03), so a configured name goes
         * into log lines, STATUS= and IMAPIDLED_MAILBOX as one plain line too. */
        if (!log_text_printable(v, strlen(v)))
                return cfg_fail(x, s, key, "must not contain control or format characters");
        return strdup_to(v, FIELD(obj, k, char *));
}

static void dump_str(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        const char *v = *CFIELD(obj, k, char *);

        if (!v)
                return;
        fprintf(f, "%s%s = ", indent, k->name);
        dump_string(f, v);
        fputs(";\n", f);
}

static void dump_secret(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        if (*CFIELD(obj, k, char *))
                fprintf(f, "%s%s = \"(redacted)\";\n", indent, k->name);
}

static bool equal_str(const CfgKey *k, const void *a, const void *b) {
        return streq_ptr(*CFIELD(a, k, char *), *CFIELD(b, k, char *));
}

static void done_str(const CfgKey *k, void *obj) {
        *FIELD(obj, k, char *) = mfree(*FIELD(obj, k, char *));
}

static void done_secret(const CfgKey *k, void *obj) {
        *FIELD(obj, k, char *) = secret_free(*FIELD(obj, k, char *));
}

/* BOOL */
static int parse_bool(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return cfg_fail_type(x, s, key, "true or false");
        *FIELD(obj, k, bool) = config_setting_get_bool(s);
        return 0;
}

static void dump_bool(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        fprintf(f, "%s%s = %s;\n", indent, k->name, *CFIELD(obj, k, bool) ? "true" : "false");
}

static bool equal_bool(const CfgKey *k, const void *a, const void *b) {
        return *CFIELD(a, k, bool) == *CFIELD(b, k, bool);
}

/* TRI: a bool that may be left unset (then the account's applies) */
static int parse_tri(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return cfg_fail_type(x, s, key, "true or false");
        *FIELD(obj, k, CfgTri) = config_setting_get_bool(s) ? CFG_TRI_TRUE : CFG_TRI_FALSE;
        return 0;
}

static void dump_tri(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        CfgTri v = *CFIELD(obj, k, CfgTri);

        if (v != CFG_TRI_UNSET)
                fprintf(f, "%s%s = %s;\n", indent, k->name, v == CFG_TRI_TRUE ? "true" : "false");
}

static bool equal_tri(const CfgKey *k, const void *a, const void *b) {
        return *CFIELD(a, k, CfgTri) == *CFIELD(b, k, CfgTri);
}

/* PORT: an integer, or a string of decimal digits (services names would depend on /etc/services) */
static int parse_port(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        char *p = NULL;
        int64_t v;
        int r;

        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                const char *t;

                r = get_string(x, s, key, &t);
                if (r < 0)
                        return r;
                if (strspn(t, "0123456789") != strlen(t) || strlen(t) > 5)
                        return cfg_fail(x, s, key, "must be a number from %" PRIi64 " to %" PRIi64,
                                        k->min, k->max);
                v = strtoll(t, NULL, 10);
        } else if (IN_SET(config_setting_type(s), CONFIG_TYPE_INT, CONFIG_TYPE_INT64)) {
                r = get_integer(x, s, key, &v);
                if (r < 0)
                        return r;
        } else
                return cfg_fail_type(x, s, key, "an integer or a string of digits");

        if (v < k->min || v > k->max)
                return cfg_fail(x, s, key, "%" PRIi64 " is out of range: must be %" PRIi64 "..%" PRIi64,
                                v, k->min, k->max);
        if (asprintf(&p, "%" PRIi64, v) < 0)
                return -ENOMEM;
        free(*FIELD(obj, k, char *));
        *FIELD(obj, k, char *) = p;
        return 0;
}

static void dump_port(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        const char *v = *CFIELD(obj, k, char *);

        if (v)
                fprintf(f, "%s%s = %s;\n", indent, k->name, v);
}

/* TLS */
static int parse_tls(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        const char *v;
        CfgTls t;
        int r;

        r = get_string(x, s, key, &v);
        if (r < 0)
                return r;
        t = cfg_tls_from_string(v);
        if (t < 0)
                return cfg_fail(x, s, key, "must be \"implicit\", \"starttls\" or \"none\"");
        *FIELD(obj, k, CfgTls) = t;
        return 0;
}

static void dump_tls(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        fprintf(f, "%s%s = \"%s\";\n", indent, k->name, cfg_tls_to_string(*CFIELD(obj, k, CfgTls)));
}

static bool equal_tls(const CfgKey *k, const void *a, const void *b) {
        return *CFIELD(a, k, CfgTls) == *CFIELD(b, k, CfgTls);
}

/* NOTIFY */
static int parse_notify(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        const char *v;
        int r;

        r = get_string(x, s, key, &v);
        if (r < 0)
                return r;
        if (strcmp(v, "auto") == 0)
                *FIELD(obj, k, bool) = false;
        else if (strcmp(v, "off") == 0)
                *FIELD(obj, k, bool) = true;
        else
                return cfg_fail(x, s, key, "must be \"auto\" or \"off\"");
        return 0;
}

static void dump_notify(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        fprintf(f, "%s%s = \"%s\";\n", indent, k->name, *CFIELD(obj, k, bool) ? "off" : "auto");
}

/* ARGV */
static int parse_argv(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        char **l = NULL;
        int r;

        r = get_strv(x, s, key, "a list of strings (program and arguments)", &l);
        if (r < 0)
                return r;
        cfg_strv_free(*FIELD(obj, k, char **));
        *FIELD(obj, k, char **) = l;
        return 0;
}

static void dump_argv(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        char *const *l = *CFIELD(obj, k, char **);

        if (!l)
                return;
        fprintf(f, "%s%s = ", indent, k->name);
        dump_strv(f, l);
        fputs(";\n", f);
}

static bool equal_strv(const CfgKey *k, const void *a, const void *b) {
        return strv_equal(*CFIELD(a, k, char **), *CFIELD(b, k, char **));
}

static void done_strv(const CfgKey *k, void *obj) {
        *FIELD(obj, k, char **) = cfg_strv_free(*FIELD(obj, k, char **));
}

/* HOOK: an argv list whose arguments may hold %a, %m and %%; or a string for sh -c, which
 * check_account() accepts only with shell = true; or a group of the CFG_SCOPE_HOOK keys, whose
 * 'command' (HOOK_COMMAND) is one of the first two. */
static int check_placeholders(CfgCtx *x, const config_setting_t *s, const char *key, const char *arg) {
        for (const char *p = arg; (p = strchr(p, '%')); p += 2) {
                if (p[1] == 0)
                        return cfg_fail(x, s, key, "a lone '%%' at the end; write %%%% for a percent sign");
                if (!IN_SET(p[1], 'a', 'm', '%')) {
                        if (p[1] > 0x20 && p[1] < 0x7f)
                                return cfg_fail(x, s, key, "unknown placeholder '%%%c'; use %%a (account), "
                                                "%%m (mailbox) or %%%% (a percent sign)", p[1]);
                        return cfg_fail(x, s, key, "unknown placeholder after '%%'; use %%a (account), "
                                        "%%m (mailbox) or %%%% (a percent sign)");
                }
        }
        return 0;
}

static int parse_hook_command_into(CfgCtx *x, const config_setting_t *s, const char *key, CfgHook *h,
                                   const char *what) {
        char **l = NULL;
        int r;

        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
                const char *v;

                r = get_string(x, s, key, &v);
                if (r < 0)
                        return r;
                return strdup_to(v, &h->shell);
        }

        r = get_strv(x, s, key, what, &l);
        if (r < 0)
                return r;
        for (size_t i = 0; l[i]; i++) {
                char ekey[CFG_PATH_MAX];

                index_path(ekey, key, i);
                r = check_placeholders(x, config_setting_get_elem(s, (unsigned) i), ekey, l[i]);
                if (r < 0) {
                        cfg_strv_free(l);
                        return r;
                }
        }
        cfg_strv_free(h->argv);
        h->argv = l;
        return 0;
}

static int parse_hook_command(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key,
                              void *obj) {
        return parse_hook_command_into(x, s, key, FIELD(obj, k, CfgHook), "a list of strings (program and "
                                       "arguments), or a string with shell = true");
}

/* "INDENTname = COMMAND;\n" */
static void dump_hook_value(FILE *f, const char *name, const CfgHook *h, const char *indent) {
        fprintf(f, "%s%s = ", indent, name);
        if (h->argv)
                dump_strv(f, h->argv);
        else
                dump_string(f, h->shell);
        fputs(";\n", f);
}

static void dump_hook_command(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        const CfgHook *h = CFIELD(obj, k, CfgHook);

        if (cfg_hook_is_set(h))
                dump_hook_value(f, k->name, h, indent);
}

static bool equal_hook_command(const CfgKey *k, const void *a, const void *b) {
        const CfgHook *ha = CFIELD(a, k, CfgHook), *hb = CFIELD(b, k, CfgHook);

        return strv_equal(ha->argv, hb->argv) && streq_ptr(ha->shell, hb->shell);
}

static void done_hook_command(const CfgKey *k, void *obj) {
        CfgHook *h = FIELD(obj, k, CfgHook);

        h->argv = cfg_strv_free(h->argv);
        h->shell = mfree(h->shell);
}

static int parse_hook(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        CfgHook *h = FIELD(obj, k, CfgHook);
        int r;

        if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
                const config_setting_t *u;
                char ukey[CFG_PATH_MAX];

                r = parse_group(x, CFG_SCOPE_HOOK, s, key, h);
                if (r < 0)
                        return r;
                if (!h->details)
                        return 0;
                /* The details are fetched by UID: a hook with them has the UIDs anyway. */
                u = config_setting_get_member(s, "uids");
                if (u && !h->uids) {
                        key_path(ukey, key, "uids");
                        return cfg_fail(x, u, ukey, "cannot be false with details = true, which fetches the "
                                        "new messages by their UIDs");
                }
                h->uids = true;
                return 0;
        }
        return parse_hook_command_into(x, s, key, h, "a list of strings (program and arguments), a string "
                                       "with shell = true or a group { command = ...; details = ...; }");
}

/* The plain form while details and uids are false and there is no lock (what every older file
 * has), the group form otherwise. */
static void dump_hook(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        const CfgHook *h = CFIELD(obj, k, CfgHook);
        char sub[CFG_PATH_MAX];

        if (!cfg_hook_is_set(h))
                return;
        if (!h->details && !h->uids && !h->lock) {
                dump_hook_value(f, k->name, h, indent);
                return;
        }
        path_truncated(sub, snprintf(sub, sizeof(sub), "%s  ", indent));
        fprintf(f, "%s%s = {\n", indent, k->name);
        for (size_t i = 0; i < cfg_n_keys; i++)
                if (cfg_keys[i].scope == CFG_SCOPE_HOOK)
                        type_ops[cfg_keys[i].type].dump(f, &cfg_keys[i], h, sub);
        fprintf(f, "%s};\n", indent);
}

static bool equal_hook(const CfgKey *k, const void *a, const void *b) {
        const CfgHook *ha = CFIELD(a, k, CfgHook), *hb = CFIELD(b, k, CfgHook);

        for (size_t i = 0; i < cfg_n_keys; i++)
                if (cfg_keys[i].scope == CFG_SCOPE_HOOK &&
                    !type_ops[cfg_keys[i].type].equal(&cfg_keys[i], ha, hb))
                        return false;
        return true;
}

static void done_hook(const CfgKey *k, void *obj) {
        CfgHook *h = FIELD(obj, k, CfgHook);

        for (size_t i = 0; i < cfg_n_keys; i++)
                if (cfg_keys[i].scope == CFG_SCOPE_HOOK)
                        type_ops[cfg_keys[i].type].done(&cfg_keys[i], h);
}

/* MECHS */
static int parse_mechs(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        _cleanup_(cfg_strv_freep) char **l = NULL;
        int r;

        r = get_strv(x, s, key, "a list of SASL mechanism names", &l);
        if (r < 0)
                return r;
        for (size_t i = 0; l[i]; i++) {
                const CfgMech *m = cfg_mech_lookup(l[i]);
                char ekey[CFG_PATH_MAX];
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);

                index_path(ekey, key, i);
                if (!m) {
                        if (printable(l[i]))
                                return cfg_fail(x, e, ekey, "unsupported mechanism '%s'; use PLAIN, LOGIN, "
                                                "CRAM-MD5, XOAUTH2 or OAUTHBEARER", l[i]);
                        return cfg_fail(x, e, ekey, "unsupported mechanism; use PLAIN, LOGIN, CRAM-MD5, "
                                        "XOAUTH2 or OAUTHBEARER");
                }
                for (size_t j = 0; j < i; j++)
                        if (strcmp(l[j], m->name) == 0)
                                return cfg_fail(x, e, ekey, "%s is listed twice", m->name);
                r = strdup_to(m->name, &l[i]);
                if (r < 0)
                        return r;
        }
        cfg_strv_free(*FIELD(obj, k, char **));
        *FIELD(obj, k, char **) = TAKE_PTR(l);
        return 0;
}

/* ENV_NAMES: pass_env.  The names are checked here, where a mistake can name its line, rather than
 * when a hook starts (hook_build_env() refuses the same names, env-util.h). */
static int parse_env_names(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        _cleanup_(cfg_strv_freep) char **l = NULL;
        int r;

        r = get_strv(x, s, key, "a list of environment variable names", &l);
        if (r < 0)
                return r;
        for (size_t i = 0; l[i]; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                const char *why = env_name_check(l[i]);
                char ekey[CFG_PATH_MAX];

                index_path(ekey, key, i);
                if (why) {
                        if (printable(l[i]))
                                return cfg_fail(x, e, ekey, "'%s' %s", l[i], why);
                        return cfg_fail(x, e, ekey, "this %s", why);
                }
                for (size_t j = 0; j < i; j++)
                        if (strcmp(l[j], l[i]) == 0)
                                return cfg_fail(x, e, ekey, "%s is listed twice", l[i]);
        }
        cfg_strv_free(*FIELD(obj, k, char **));
        *FIELD(obj, k, char **) = TAKE_PTR(l);
        return 0;
}

/* After the whole file: an account's pass_env is the top level's followed by the account's own
 * names that the top level does not list (docs/imapidled.conf.5: an account adds to the top
 * level, it cannot take a name away).  Kept merged in the account, so that a change of the top
 * level's list restarts the accounts it reaches (cfg_account_equal()) and the dump reads back the
 * same. */
static int account_merge_pass_env(const Cfg *c, CfgAccount *a) {
        _cleanup_(cfg_strv_freep) char **l = NULL;
        size_t n_g = 0, n_a = 0, n = 0;

        if (!c->pass_env)
                return 0;
        while (c->pass_env[n_g])
                n_g++;
        while (a->pass_env && a->pass_env[n_a])
                n_a++;
        l = calloc(n_g + n_a + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n_g; i++)
                if (!(l[n++] = strdup(c->pass_env[i])))
                        return -ENOMEM;
        for (size_t i = 0; i < n_a; i++) {
                if (strv_contains(c->pass_env, a->pass_env[i]))
                        continue;
                if (!(l[n++] = strdup(a->pass_env[i])))
                        return -ENOMEM;
        }
        cfg_strv_free(a->pass_env);
        a->pass_env = TAKE_PTR(l);
        return 0;
}

/* Groups: every member must be a key of the scope, then the required ones must be there. */
static int parse_group(CfgCtx *x, CfgScope scope, const config_setting_t *g, const char *path, void *obj) {
        int n = config_setting_length(g);

        for (int i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(g, (unsigned) i);
                const char *name = config_setting_name(s);
                const CfgKey *k = cfg_key_lookup(scope, name);
                char key[CFG_PATH_MAX];
                int r;

                if (!k) {
                        const char *hint = cfg_key_suggest(scope, name);

                        /* libconfig restricts setting names to [A-Za-z*][-A-Za-z0-9_*]*: safe to echo. */
                        /* A key of the other scope, written exactly, is more likely misplaced than
                         * misspelt (max_connections and max_connecting are two edits apart). */
                        if (!path) {
                                if (cfg_key_lookup(CFG_SCOPE_ACCOUNT, name))
                                        return cfg_fail(x, s, name, "unknown key at the top level; it belongs "
                                                        "inside an account: accounts = ( { %s = ...; } );%s%s%s",
                                                        name, hint ? " or did you mean '" : "", hint ?: "",
                                                        hint ? "'?" : "");
                                if (hint)
                                        return cfg_fail(x, s, name, "unknown key, did you mean '%s'?", hint);
                                return cfg_fail(x, s, name, "unknown key");
                        }
                        if (scope == CFG_SCOPE_ACCOUNT && cfg_key_lookup(CFG_SCOPE_GLOBAL, name))
                                return cfg_fail(x, s, path, "unknown key '%s': it is set at the top level, "
                                                "for all accounts together%s%s%s", name,
                                                hint ? "; or did you mean '" : "", hint ?: "",
                                                hint ? "'?" : "");
                        if (hint)
                                return cfg_fail(x, s, path, "unknown key '%s', did you mean '%s'?", name, hint);
                        if (scope == CFG_SCOPE_MAILBOX)
                                return cfg_fail(x, s, path, "unknown key '%s' (a mailbox has only name, "
                                                "on_new, on_expunge and on_flags)", name);
                        if (scope == CFG_SCOPE_HOOK)
                                return cfg_fail(x, s, path, "unknown key '%s' (a hook group has only command, "
                                                "details, uids and lock)", name);
                        return cfg_fail(x, s, path, "unknown key '%s'", name);
                }

                key_path(key, path, name);
                r = type_ops[k->type].parse(x, k, s, key, obj);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < cfg_n_keys; i++) {
                const CfgKey *k = &cfg_keys[i];
                char key[CFG_PATH_MAX];

                if (k->scope != scope || !(k->flags & CFG_KEY_REQUIRED) || config_setting_get_member(g, k->name))
                        continue;
                /* Accounts may come from the files the patterns include (checked after those). */
                if (k->type == CFG_TYPE_ACCOUNTS && (x->included || x->n_patterns > 0))
                        continue;
                key_path(key, path, k->name);
                return cfg_fail(x, g, key, "required, but not set");
        }
        return 0;
}

/* MAILBOXES */
static int parse_mailboxes(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        _cleanup_(name_set_done) NameSet names = {};
        CfgAccount *a = obj;
        int n;

        assert_return(k->offset == offsetof(CfgAccount, mailboxes), -EINVAL);

        if (!IN_SET(config_setting_type(s), CONFIG_TYPE_ARRAY, CONFIG_TYPE_LIST))
                return cfg_fail_type(x, s, key, "a list of mailbox names or { name = ...; } groups");
        n = config_setting_length(s);
        if (n <= 0)
                return cfg_fail(x, s, key, "must not be an empty list (leave it out to watch INBOX)");

        a->mailboxes = calloc((size_t) n, sizeof(CfgMailbox));
        if (!a->mailboxes)
                return -ENOMEM;

        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                CfgMailbox *m = &a->mailboxes[i];
                char mkey[CFG_PATH_MAX];
                size_t j;
                int r;

                a->n_mailboxes++;
                m->line = setting_line(e);
                index_path(mkey, key, (size_t) i);
                if (config_setting_type(e) == CONFIG_TYPE_STRING)
                        r = parse_mailbox_name(x, cfg_key_lookup(CFG_SCOPE_MAILBOX, "name"), e, mkey, m);
                else if (config_setting_type(e) == CONFIG_TYPE_GROUP)
                        r = parse_group(x, CFG_SCOPE_MAILBOX, e, mkey, m);
                else
                        r = cfg_fail_type(x, e, mkey, "a mailbox name or a { name = ...; } group");
                if (r < 0)
                        return r;
                if (imap_list_is_pattern(m->name)) {
                        m->pattern = true;
                        a->n_patterns++;
                }

                /* RFC 3501 §5.1: INBOX is case-insensitive, every other name is not. */
                r = name_set_add(&names, ascii_strcaseeq(m->name, "INBOX") ? "INBOX" : m->name, (size_t) i,
                                 &j);
                if (r < 0)
                        return r;
                if (r > 0)
                        return cfg_fail(x, e, mkey, "the mailbox is listed twice (also at line %u)",
                                        a->mailboxes[j].line);
        }
        return 0;
}

static bool mailbox_has_hooks(const CfgMailbox *m) {
        for (size_t i = 0; i < cfg_n_keys; i++)
                if (cfg_keys[i].scope == CFG_SCOPE_MAILBOX && cfg_keys[i].type == CFG_TYPE_HOOK &&
                    cfg_hook_is_set(CFIELD(m, &cfg_keys[i], CfgHook)))
                        return true;
        /* Then the group form too, or the dump would lose the switch. */
        return m->desktop_notify != CFG_TRI_UNSET;
}

static void dump_mailboxes(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        const CfgAccount *a = obj;

        fprintf(f, "%s%s = (\n", indent, k->name);
        for (size_t i = 0; i < a->n_mailboxes; i++) {
                const CfgMailbox *m = &a->mailboxes[i];

                fprintf(f, "%s  ", indent);
                if (!mailbox_has_hooks(m))
                        dump_string(f, m->name);
                else {
                        char sub[CFG_PATH_MAX];

                        path_truncated(sub, snprintf(sub, sizeof(sub), "%s    ", indent));
                        fputs("{\n", f);
                        for (size_t j = 0; j < cfg_n_keys; j++)
                                if (cfg_keys[j].scope == CFG_SCOPE_MAILBOX)
                                        type_ops[cfg_keys[j].type].dump(f, &cfg_keys[j], m, sub);
                        fprintf(f, "%s  }", indent);
                }
                fputs(i + 1 < a->n_mailboxes ? ",\n" : "\n", f);
        }
        fprintf(f, "%s);\n", indent);
}

static bool equal_mailboxes(const CfgKey *k, const void *a, const void *b) {
        const CfgAccount *aa = a, *ab = b;

        assert_return(k->offset == offsetof(CfgAccount, mailboxes), false);

        if (aa->n_mailboxes != ab->n_mailboxes)
                return false;
        for (size_t i = 0; i < aa->n_mailboxes; i++)
                for (size_t j = 0; j < cfg_n_keys; j++)
                        if (cfg_keys[j].scope == CFG_SCOPE_MAILBOX &&
                            !type_ops[cfg_keys[j].type].equal(&cfg_keys[j], &aa->mailboxes[i], &ab->mailboxes[i]))
                                return false;
        return true;
}

static void done_mailboxes(const CfgKey *k, void *obj) {
        CfgAccount *a = obj;

        if (k->offset != offsetof(CfgAccount, mailboxes))
                return;
        for (size_t i = 0; i < a->n_mailboxes; i++)
                for (size_t j = 0; j < cfg_n_keys; j++)
                        if (cfg_keys[j].scope == CFG_SCOPE_MAILBOX)
                                type_ops[cfg_keys[j].type].done(&cfg_keys[j], &a->mailboxes[i]);
        a->mailboxes = mfree(a->mailboxes);
        a->n_mailboxes = 0;
}

/* ACCOUNTS */
static const config_setting_t *member(const config_setting_t *g, const char *name) {
        return config_setting_get_member(g, name);
}

/* Before a group of 'scope' is read into obj: the defaults of its keys, and "not set" for those
 * that inherit a top-level value (SECONDS and COUNT have no valid 0, DURATION needs CFG_USEC_UNSET). */
static void scope_init(CfgScope scope, void *obj) {
        for (size_t i = 0; i < cfg_n_keys; i++) {
                const CfgKey *k = &cfg_keys[i];
                bool inherit = k->flags & CFG_KEY_INHERIT;

                if (k->scope != scope)
                        continue;
                if (k->type == CFG_TYPE_SECONDS)
                        *FIELD(obj, k, uint64_t) = inherit ? 0 : (uint64_t) k->def * USEC_PER_SEC;
                else if (k->type == CFG_TYPE_DURATION)
                        *FIELD(obj, k, uint64_t) = inherit ? CFG_USEC_UNSET
                                                           : (uint64_t) k->def * USEC_PER_MSEC;
                else if (k->type == CFG_TYPE_COUNT)
                        *FIELD(obj, k, unsigned) = inherit ? 0 : (unsigned) k->def;
        }
}

/* After the whole file: an account's CFG_KEY_INHERIT keys it did not set take the top-level value
 * (which may have been written after the account). */
static void account_inherit(const Cfg *c, CfgAccount *a) {
        for (size_t i = 0; i < cfg_n_keys; i++) {
                const CfgKey *k = &cfg_keys[i], *g;

                if (k->scope != CFG_SCOPE_ACCOUNT || !(k->flags & CFG_KEY_INHERIT))
                        continue;
                /* test-cfg checks that the schema has the top-level twin of each such key. */
                g = cfg_key_lookup(CFG_SCOPE_GLOBAL, k->name);
                if (!g || g->type != k->type)
                        continue;
                if (k->type == CFG_TYPE_COUNT) {
                        unsigned *v = FIELD(a, k, unsigned);

                        if (*v == 0)
                                *v = *CFIELD(c, g, unsigned);
                } else {
                        uint64_t *v = FIELD(a, k, uint64_t);

                        if (*v == (k->type == CFG_TYPE_DURATION ? CFG_USEC_UNSET : 0))
                                *v = *CFIELD(c, g, uint64_t);
                }
        }
}

/* debounce is a quiet period and max_delay caps the wait for it: a cap below the period it caps
 * is a contradiction in the file, not something to resolve silently.  Blamed on max_delay when g
 * (the top level or an account) sets it, else on g's debounce; an account that sets neither has
 * the top-level pair, checked before. */
static int check_delays(CfgCtx *x, const config_setting_t *g, const char *path, uint64_t debounce,
                        uint64_t max_delay) {
        const config_setting_t *s;
        char key[CFG_PATH_MAX], d[MSEC_STRING_MAX], m[MSEC_STRING_MAX];

        if (max_delay >= debounce)
                return 0;
        format_msec(d, (int64_t) (debounce / USEC_PER_MSEC));
        format_msec(m, (int64_t) (max_delay / USEC_PER_MSEC));
        s = member(g, "max_delay");
        if (s) {
                key_path(key, path, "max_delay");
                return cfg_fail(x, s, key, "%s s is less than debounce (%s s)", m, d);
        }
        key_path(key, path, "debounce");
        return cfg_fail(x, member(g, "debounce") ?: g, key, "%s s is more than max_delay (%s s)", d, m);
}

/* The liveness probe (DONE after liveness_interval of silence in IDLE) can only fire if it comes
 * before IDLE's renewal, which ends IDLE with DONE every idle_interval anyway and so probes too.
 * A liveness_interval written in the file (in g, or at the top level and inherited) that is not
 * below g's idle_interval is an error, blamed on liveness_interval where g sets it, else on g's
 * idle_interval.  The default gives way instead, so that a short idle_interval stays valid on its
 * own: with idle_interval at or below the default liveness_interval the probe is off (0), the
 * renewal being the probe.  g is the top level (path NULL) or an account; *liveness is g's
 * value after inheritance and is replaced when it is the default. */
static int check_liveness(CfgCtx *x, const config_setting_t *root, const config_setting_t *g, const char *path,
                          uint64_t *liveness, uint64_t idle) {
        const config_setting_t *s = member(g, "liveness_interval");
        char key[CFG_PATH_MAX], live[MSEC_STRING_MAX], ival[MSEC_STRING_MAX];

        if (!s && !member(root, "liveness_interval")) {
                const CfgKey *k = cfg_key_lookup(CFG_SCOPE_GLOBAL, "liveness_interval");

                assert_return(k, -EINVAL);
                *liveness = (uint64_t) k->def * USEC_PER_MSEC;
                if (*liveness >= idle)
                        *liveness = 0;
                return 0;
        }
        if (*liveness == 0 || *liveness < idle)
                return 0;

        format_msec(live, (int64_t) (*liveness / USEC_PER_MSEC));
        format_msec(ival, (int64_t) (idle / USEC_PER_MSEC));
        if (s) {
                key_path(key, path, "liveness_interval");
                return cfg_fail(x, s, key, "%s s is not below idle_interval (%s s)", live, ival);
        }
        /* Inherited from the top level, where it was below the top-level idle_interval: so g set its
         * own idle_interval. */
        key_path(key, path, "idle_interval");
        return cfg_fail(x, member(g, "idle_interval") ?: g, key, "%s s is not above liveness_interval (%s s)",
                        ival, live);
}

/* The hooks of the account or mailbox group g: a string, plain or as a group's command, needs
 * shell = true. */
static int check_shell_hooks(CfgCtx *x, CfgScope scope, const config_setting_t *g, const char *path,
                             bool shell) {
        if (shell)
                return 0;
        for (size_t i = 0; i < cfg_n_keys; i++) {
                const config_setting_t *s;
                char key[CFG_PATH_MAX];

                if (cfg_keys[i].scope != scope || cfg_keys[i].type != CFG_TYPE_HOOK ||
                    !(s = member(g, cfg_keys[i].name)))
                        continue;
                key_path(key, path, cfg_keys[i].name);
                if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
                        char ckey[CFG_PATH_MAX];

                        s = member(s, "command");
                        key_path(ckey, key, "command");
                        memcpy(key, ckey, sizeof(key));
                }
                if (!s || config_setting_type(s) != CONFIG_TYPE_STRING)
                        continue;
                return cfg_fail(x, s, key, "a hook given as a string runs through /bin/sh -c, which is allowed "
                                "only with shell = true; or write it as an argv list such as "
                                "[\"program\", \"%%m\"]");
        }
        return 0;
}

/* One hook written in an account, for check_hook_locks(). */
typedef struct HookSeen {
        char *command;          /* the command as one string: argv or "sh" and the shell string */
        const CfgHook *hook;
        const config_setting_t *setting;
} HookSeen;

/* The command of h as one string, its parts separated by a unit separator (what watch.c's
 * single-flight key holds besides the account). */
static char *hook_command_string(const CfgHook *h) {
        const char *const sh[] = { "sh", h->shell, NULL };
        const char *const *argv = h->argv ? (const char *const *) h->argv : sh;
        size_t n = 0;
        char *s, *p;

        for (size_t i = 0; argv[i]; i++)
                n += strlen(argv[i]) + 1;
        s = p = malloc(n);
        if (!s)
                return NULL;
        for (size_t i = 0; argv[i]; i++) {
                size_t l = strlen(argv[i]);

                memcpy(p, argv[i], l);
                p[l] = argv[i + 1] ? '\x1f' : 0;
                p += l + 1;
        }
        return s;
}

/* Within an account one command is single-flight (docs/HOOKS.md, "lock"): the jobs running it share
 * one lock, its `lock` name or the account's own.  The same command with two different locks (or
 * with and without one) would make that ambiguous, so it is refused at the second one.  One pass
 * with a hash of the commands: O(hooks). */
static int check_hook_locks(CfgCtx *x, const config_setting_t *g, const char *path, const CfgAccount *a) {
        _cleanup_(name_set_done) NameSet seen_set = {};
        const config_setting_t *mbs = member(g, "mailboxes");
        size_t n = 0, cap = 3 * (a->n_mailboxes + 1);
        HookSeen *seen;
        int r = 0;

        seen = calloc(cap, sizeof(HookSeen));
        if (!seen)
                return -ENOMEM;
        for (size_t m = 0; m <= a->n_mailboxes && r >= 0; m++) {
                /* The account's own hooks first, then each mailbox's. */
                const config_setting_t *mg = m == 0 ? g : config_setting_get_elem(mbs, (unsigned) (m - 1));
                CfgScope scope = m == 0 ? CFG_SCOPE_ACCOUNT : CFG_SCOPE_MAILBOX;
                const void *obj = m == 0 ? (const void *) a : (const void *) &a->mailboxes[m - 1];

                if (!mg || config_setting_type(mg) != CONFIG_TYPE_GROUP)
                        continue;
                for (size_t i = 0; i < cfg_n_keys && r >= 0; i++) {
                        const CfgHook *h;
                        const char *other;
                        char key[CFG_PATH_MAX], mkey[CFG_PATH_MAX];
                        size_t prev;

                        if (cfg_keys[i].scope != scope || cfg_keys[i].type != CFG_TYPE_HOOK)
                                continue;
                        h = CFIELD(obj, &cfg_keys[i], CfgHook);
                        if (!cfg_hook_is_set(h))
                                continue;
                        assert(n < cap);
                        seen[n] = (HookSeen) { .command = hook_command_string(h), .hook = h,
                                               .setting = member(mg, cfg_keys[i].name) };
                        if (!seen[n].command) {
                                r = -ENOMEM;
                                break;
                        }
                        r = name_set_add(&seen_set, seen[n].command, n, &prev);
                        n++;
                        if (r <= 0)
                                continue;
                        r = 0;
                        if (streq_ptr(seen[prev].hook->lock, h->lock))
                                continue;
                        if (m == 0)
                                key_path(key, path, cfg_keys[i].name);
                        else {
                                key_path(mkey, path, "mailboxes");
                                index_path(key, mkey, m - 1);
                                memcpy(mkey, key, sizeof(mkey));
                                key_path(key, mkey, cfg_keys[i].name);
                        }
                        if (h->lock) {
                                memcpy(mkey, key, sizeof(mkey));
                                key_path(key, mkey, "lock");
                        }
                        other = seen[prev].hook->lock;
                        r = cfg_fail(x, h->lock ? member(seen[n - 1].setting, "lock") : seen[n - 1].setting,
                                     key, "the same command as the hook at line %u, with %s%s%s: one command "
                                     "runs under one lock in an account; give both the same lock",
                                     setting_line(seen[prev].setting), other ? "lock \"" : "no lock",
                                     other ?: "", other ? "\"" : "");
                }
        }
        for (size_t i = 0; i < n; i++)
                free(seen[i].command);
        free(seen);
        return r;
}

static int check_account(CfgCtx *x, const config_setting_t *g, const char *path, CfgAccount *a) {
        const config_setting_t *tunnel = member(g, "tunnel"), *cred = NULL, *mbs;
        const char *cred_name = NULL;
        char key[CFG_PATH_MAX];
        int r;

        /* The tunnel replaces the network connection; settings about it would be silently ignored. */
        for (size_t i = 0; i < cfg_n_keys; i++) {
                const CfgKey *k = &cfg_keys[i];
                const config_setting_t *s;

                if (k->scope != CFG_SCOPE_ACCOUNT)
                        continue;
                s = member(g, k->name);
                key_path(key, path, k->name);
                if (tunnel && s && (k->flags & CFG_KEY_NOT_TUNNEL))
                        return cfg_fail(x, s, key, "cannot be used with 'tunnel' (line %u)",
                                        setting_line(tunnel));
                if (!tunnel && !s && (k->flags & CFG_KEY_NEEDED))
                        return cfg_fail(x, g, key,
                                        "required, but not set (it may be left out only with 'tunnel')");
        }

        for (size_t i = 0; i < cfg_n_keys; i++) {
                const CfgKey *k = &cfg_keys[i];
                const config_setting_t *s;

                if (k->scope != CFG_SCOPE_ACCOUNT || !(k->flags & CFG_KEY_CREDENTIAL) || !(s = member(g, k->name)))
                        continue;
                if (cred) {
                        key_path(key, path, k->name);
                        return cfg_fail(x, s, key, "only one of password, password_file, password_command and "
                                        "oauth2_token_command may be set, and %s is set at line %u",
                                        cred_name, setting_line(cred));
                }
                cred = s;
                cred_name = k->name;
        }
        if (!cred && !tunnel)
                return cfg_fail(x, g, path, "needs one of password, password_file, password_command or "
                                "oauth2_token_command");

        if (a->tls == CFG_TLS_NONE && !a->allow_plaintext) {
                key_path(key, path, "tls");
                return cfg_fail(x, member(g, "tls"), key, "\"none\" sends the password and the mail in clear "
                                "text; it needs allow_plaintext = true");
        }

        if (!a->client_cert != !a->client_key) {
                const char *have = a->client_cert ? "client_cert" : "client_key";

                key_path(key, path, have);
                return cfg_fail(x, member(g, have), key, "client_cert and client_key go together");
        }

        if (a->auth)
                for (size_t i = 0; a->auth[i]; i++) {
                        const CfgMech *m = cfg_mech_lookup(a->auth[i]);
                        const config_setting_t *e = config_setting_get_elem(member(g, "auth"), (unsigned) i);
                        char akey[CFG_PATH_MAX];

                        key_path(key, path, "auth");
                        index_path(akey, key, i);
                        if (m->oauth && !a->oauth2_token_command)
                                return cfg_fail(x, e, akey, "%s needs oauth2_token_command", m->name);
                        if (!m->oauth && !a->password && !a->password_file && !a->password_command)
                                return cfg_fail(x, e, akey, "%s needs a password: password, password_file or "
                                                "password_command", m->name);
                }

        r = check_shell_hooks(x, CFG_SCOPE_ACCOUNT, g, path, a->shell);
        if (r < 0)
                return r;
        mbs = member(g, "mailboxes");
        key_path(key, path, "mailboxes");
        for (size_t i = 0; mbs && i < a->n_mailboxes; i++) {
                const config_setting_t *e = config_setting_get_elem(mbs, (unsigned) i);
                char mkey[CFG_PATH_MAX];

                index_path(mkey, key, i);
                if (config_setting_type(e) == CONFIG_TYPE_GROUP) {
                        r = check_shell_hooks(x, CFG_SCOPE_MAILBOX, e, mkey, a->shell);
                        if (r < 0)
                                return r;
                }
        }

        r = check_hook_locks(x, g, path, a);
        if (r < 0)
                return r;

        /* Defaults that depend on other keys. */
        if (tunnel)
                a->tls = CFG_TLS_NONE;
        else if (!a->port) {
                a->port = strdup(a->tls == CFG_TLS_IMPLICIT ? "993" : "143");
                if (!a->port)
                        return -ENOMEM;
        }
        if (a->n_mailboxes == 0) {
                a->mailboxes = calloc(1, sizeof(CfgMailbox));
                if (!a->mailboxes)
                        return -ENOMEM;
                a->n_mailboxes = 1;
                a->mailboxes[0].line = a->line;
                a->mailboxes[0].name = strdup("INBOX");
                if (!a->mailboxes[0].name)
                        return -ENOMEM;
        }
        return 0;
}

/* Add f, which becomes the Cfg's, to cfg->files; the array grows by doubling, since a pattern may
 * add a hundred thousand.  Returns the name in the Cfg, or NULL if out of memory (f is freed). */
static const char *files_add(CfgCtx *x, char *f) {
        Cfg *c = x->cfg;

        if (!f)
                return NULL;
        if (c->n_files == x->files_cap) {
                size_t cap = x->files_cap > 0 ? x->files_cap * 2 : 8;
                char **l = reallocarray(c->files, cap, sizeof(char *));

                if (!l) {
                        free(f);
                        return NULL;
                }
                c->files = l;
                x->files_cap = cap;
        }
        c->files[c->n_files++] = f;
        return f;
}

/* The name of the file setting s is in, as one of cfg->files: the document's own, or a file a plain
 * @include of the document brought in, added when first seen.  NULL if out of memory. */
static const char *setting_file_in_cfg(CfgCtx *x, const config_setting_t *s) {
        _cleanup_free_ char *f = NULL;
        Cfg *c = x->cfg;

        if (!config_setting_source_file(s))
                return x->file;
        f = setting_file(x, s);
        if (!f)
                return NULL;
        /* Few: the document's plain includes that hold accounts.  The last one is the likeliest. */
        for (size_t i = c->n_files; i > x->first_file; i--)
                if (strcmp(c->files[i - 1], f) == 0)
                        return c->files[i - 1];
        return files_add(x, TAKE_PTR(f));
}

/* The document's list of accounts, appended to those read before. */
static int parse_accounts(CfgCtx *x, const CfgKey *k, const config_setting_t *s, const char *key, void *obj) {
        Cfg *c = obj;
        int n;

        assert_return(k->offset == offsetof(Cfg, accounts), -EINVAL);

        if (config_setting_type(s) != CONFIG_TYPE_LIST) {
                if (config_setting_type(s) == CONFIG_TYPE_GROUP)
                        return cfg_fail(x, s, key, "must be a list of groups, in parentheses: "
                                        "accounts = ( { name = ...; }, ... );");
                return cfg_fail_type(x, s, key, "a list of groups");
        }
        n = config_setting_length(s);
        if (n <= 0)
                return cfg_fail(x, s, key, "must not be an empty list");

        /* Doubling: a file per account would otherwise copy the array once per file. */
        if (c->n_accounts + (size_t) n > x->accounts_cap) {
                size_t cap = MAX(x->accounts_cap * 2, c->n_accounts + (size_t) n);
                CfgAccount *l = reallocarray(c->accounts, cap, sizeof(CfgAccount));

                if (!l)
                        return -ENOMEM;
                c->accounts = l;
                x->accounts_cap = cap;
        }

        for (int i = 0; i < n; i++) {
                const config_setting_t *g = config_setting_get_elem(s, (unsigned) i);
                CfgAccount *a = &c->accounts[c->n_accounts];
                char akey[CFG_PATH_MAX];
                size_t j;
                int r;

                /* Counted before it is filled, so that cfg_free() releases a half-read account. */
                *a = (CfgAccount) { .line = setting_line(g) };
                c->n_accounts++;
                a->file = setting_file_in_cfg(x, g);
                if (!a->file)
                        return -ENOMEM;
                account_path(akey, g, (size_t) i);
                if (config_setting_type(g) != CONFIG_TYPE_GROUP)
                        return cfg_fail_type(x, g, akey, "a group { name = ...; ... }");
                scope_init(CFG_SCOPE_ACCOUNT, a);
                r = parse_group(x, CFG_SCOPE_ACCOUNT, g, akey, a);
                if (r < 0)
                        return r;
                r = check_account(x, g, akey, a);
                if (r < 0)
                        return r;

                r = name_set_add(&x->account_names, a->name, c->n_accounts - 1, &j);
                if (r < 0)
                        return r;
                if (r > 0) {
                        const CfgAccount *other = &c->accounts[j];
                        char nkey[CFG_PATH_MAX];

                        key_path(nkey, akey, "name");
                        if (other->file == a->file)
                                return cfg_fail(x, member(g, "name"), nkey, "another account has this name "
                                                "(line %u)", other->line);
                        return cfg_fail(x, member(g, "name"), nkey, "another account has this name (%s:%u)",
                                        other->file, other->line);
                }
        }
        return 0;
}

static void dump_account(FILE *f, const CfgAccount *a) {
        fputs("  {\n", f);
        for (size_t i = 0; i < cfg_n_keys; i++) {
                const CfgKey *k = &cfg_keys[i];

                if (k->scope != CFG_SCOPE_ACCOUNT || (a->tunnel && (k->flags & CFG_KEY_NOT_TUNNEL)))
                        continue;
                type_ops[k->type].dump(f, k, a, "    ");
        }
        fputs("  }", f);
}

static void dump_accounts(FILE *f, const CfgKey *k, const void *obj, const char *indent) {
        const Cfg *c = obj;

        fprintf(f, "%s%s = (\n", indent, k->name);
        for (size_t i = 0; i < c->n_accounts; i++) {
                dump_account(f, &c->accounts[i]);
                fputs(i + 1 < c->n_accounts ? ",\n" : "\n", f);
        }
        fprintf(f, "%s);\n", indent);
}

static void account_done(CfgAccount *a) {
        for (size_t i = 0; i < cfg_n_keys; i++)
                if (cfg_keys[i].scope == CFG_SCOPE_ACCOUNT)
                        type_ops[cfg_keys[i].type].done(&cfg_keys[i], a);
}

static void done_accounts(const CfgKey *k, void *obj) {
        Cfg *c = obj;

        if (k->offset != offsetof(Cfg, accounts))
                return;
        for (size_t i = 0; i < c->n_accounts; i++)
                account_done(&c->accounts[i]);
        c->accounts = mfree(c->accounts);
        c->n_accounts = 0;
}

static bool equal_never(const CfgKey *k, const void *a, const void *b) {
        (void) k, (void) a, (void) b;
        return false;
}

static void done_nothing(const CfgKey *k, void *obj) {
        (void) k, (void) obj;
}

static const CfgTypeOps type_ops[_CFG_TYPE_MAX] = {
        [CFG_TYPE_SECONDS]      = { parse_seconds,      dump_seconds,   equal_u64,       done_nothing   },
        [CFG_TYPE_DURATION]     = { parse_duration,     dump_duration,  equal_u64,       done_nothing   },
        [CFG_TYPE_COUNT]        = { parse_count,        dump_count,     equal_unsigned,  done_nothing   },
        [CFG_TYPE_STRING]       = { parse_string,       dump_str,       equal_str,       done_str       },
        [CFG_TYPE_NAME]         = { parse_name,         dump_str,       equal_str,       done_str       },
        [CFG_TYPE_HOST]         = { parse_host,         dump_str,       equal_str,       done_str       },
        [CFG_TYPE_PATH]         = { parse_path,         dump_str,       equal_str,       done_str       },
        [CFG_TYPE_SECRET_PATH]  = { parse_secret_path,  dump_str,       equal_str,       done_str       },
        [CFG_TYPE_SECRET]       = { parse_string,       dump_secret,    equal_str,       done_secret    },
        [CFG_TYPE_BOOL]         = { parse_bool,         dump_bool,      equal_bool,      done_nothing   },
        [CFG_TYPE_TRI]          = { parse_tri,          dump_tri,       equal_tri,       done_nothing   },
        [CFG_TYPE_PORT]         = { parse_port,         dump_port,      equal_str,       done_str       },
        [CFG_TYPE_TLS]          = { parse_tls,          dump_tls,       equal_tls,       done_nothing   },
        [CFG_TYPE_NOTIFY]       = { parse_notify,       dump_notify,    equal_bool,      done_nothing   },
        [CFG_TYPE_ARGV]         = { parse_argv,         dump_argv,      equal_strv,      done_strv      },
        [CFG_TYPE_HOOK]         = { parse_hook,         dump_hook,      equal_hook,      done_hook      },
        [CFG_TYPE_HOOK_COMMAND] = { parse_hook_command, dump_hook_command,
                                    equal_hook_command, done_hook_command },
        [CFG_TYPE_MECHS]        = { parse_mechs,        dump_argv,      equal_strv,      done_strv      },
        [CFG_TYPE_ENV_NAMES]    = { parse_env_names,    dump_argv,      equal_strv,      done_strv      },
        [CFG_TYPE_MAILBOXES]    = { parse_mailboxes,    dump_mailboxes, equal_mailboxes, done_mailboxes },
        [CFG_TYPE_MAILBOX_NAME] = { parse_mailbox_name, dump_str,       equal_str,       done_str       },
        [CFG_TYPE_ACCOUNTS]     = { parse_accounts,     dump_accounts,  equal_never,     done_accounts  },
};

/* ---- loading ---------------------------------------------------------------------------------- */

/* A password in a file that group or others can read or change: say so, do not refuse (the
 * admin may have reasons, e.g. an ACL-free group of trusted operators).  For the accounts
 * cfg->accounts[first] on, which the document's list 'accounts' holds. */
static int check_password_modes(CfgCtx *x, const config_setting_t *accounts, size_t first) {
        int r;

        /* password_file: the same warning about the file it names, which is read on every connect
         * (hook.h, secret_file_read()).  Only reading matters here: one that others may change but
         * not read gives nothing away.  A file that is not there (yet) or cannot be looked at is no
         * warning: the connect says what is wrong with it. */
        for (size_t i = first; i < x->cfg->n_accounts; i++) {
                const CfgAccount *a = &x->cfg->accounts[i];
                const config_setting_t *s;
                char key[CFG_PATH_MAX], pkey[CFG_PATH_MAX];
                struct stat st;

                if (!a->password_file || stat(a->password_file, &st) < 0 || !S_ISREG(st.st_mode) ||
                    (st.st_mode & (S_IRGRP | S_IROTH)) == 0)
                        continue;
                s = member(config_setting_get_elem(accounts, (unsigned) (i - first)), "password_file");
                account_path(key, config_setting_get_elem(accounts, (unsigned) (i - first)), i - first);
                key_path(pkey, key, "password_file");
                r = cfg_warn(x, s, pkey, "%s holds a password but its mode is %04o, so %s can read it; "
                             "chmod 600 it", a->password_file, (unsigned) (st.st_mode & 07777),
                             (st.st_mode & S_IROTH) ? "everyone" : "its group");
                if (r < 0)
                        return r;
        }

        if (!x->have_mode)
                return 0;
        for (size_t i = first; i < x->cfg->n_accounts; i++) {
                const config_setting_t *s = member(config_setting_get_elem(accounts, (unsigned) (i - first)),
                                                   "password");
                _cleanup_free_ char *file = NULL;
                char key[CFG_PATH_MAX], pkey[CFG_PATH_MAX];
                mode_t mode;

                if (!s)
                        continue;
                file = setting_file(x, s);
                if (!file)
                        return -ENOMEM;
                if (config_setting_source_file(s)) {
                        struct stat st;

                        if (stat(file, &st) < 0)
                                continue;
                        mode = st.st_mode;
                } else
                        mode = x->mode;
                if ((mode & 077) == 0)
                        continue;
                account_path(key, config_setting_get_elem(accounts, (unsigned) (i - first)), i - first);
                key_path(pkey, key, "password");
                r = cfg_warn(x, s, pkey, "%s holds a password but its mode is %04o, so group or others can "
                             "read it; chmod 600 it, or use password_file or password_command",
                             file, (unsigned) (mode & 07777));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Once the top level is known (it may come after the accounts in the main file): the accounts
 * cfg->accounts[first] on, from the document's list 'accounts', take the top-level values they do
 * not set, and their timings are checked against each other. */
static int accounts_finish(CfgCtx *x, const config_setting_t *main_root, const config_setting_t *accounts,
                           size_t first) {
        Cfg *c = x->cfg;
        int r;

        for (size_t i = first; i < c->n_accounts; i++) {
                const config_setting_t *g = config_setting_get_elem(accounts, (unsigned) (i - first));
                CfgAccount *a = &c->accounts[i];
                char akey[CFG_PATH_MAX];

                account_inherit(c, a);
                r = account_merge_pass_env(c, a);
                if (r < 0)
                        return r;
                account_path(akey, g, i - first);
                r = check_delays(x, g, akey, a->debounce_usec, a->max_delay_usec);
                if (r < 0)
                        return r;
                r = check_liveness(x, main_root, g, akey, &a->live.liveness_interval_usec,
                                   a->idle_interval_usec);
                if (r < 0)
                        return r;
        }
        return check_password_modes(x, accounts, first);
}

static int parse_root(CfgCtx *x, const config_setting_t *root) {
        Cfg *c = x->cfg;
        int r;

        scope_init(CFG_SCOPE_GLOBAL, c);
        r = parse_group(x, CFG_SCOPE_GLOBAL, root, NULL, c);
        if (r < 0)
                return r;

        r = check_delays(x, root, NULL, c->debounce_usec, c->max_delay_usec);
        if (r < 0)
                return r;
        r = check_liveness(x, root, root, NULL, &c->live.liveness_interval_usec, c->idle_interval_usec);
        if (r < 0)
                return r;
        return accounts_finish(x, root, member(root, "accounts"), 0);
}

/* A file an @include pattern matched holds accounts and nothing else: the settings for all of them
 * stay in the main file, where a reader looks for them, and no two included files can disagree
 * about them. */
static int parse_included_root(CfgCtx *x, const config_setting_t *root) {
        int n = config_setting_length(root);

        for (int i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(root, (unsigned) i);
                const CfgKey *k = cfg_key_lookup(CFG_SCOPE_GLOBAL, config_setting_name(s));

                if (k && k->type != CFG_TYPE_ACCOUNTS)
                        return cfg_fail(x, s, k->name, "only 'accounts' may be set in a file included by a "
                                        "pattern; top-level settings belong in %s", x->cfg->files[0]);
        }
        /* Unknown keys get parse_group()'s messages; a missing 'accounts' is no error here. */
        return parse_group(x, CFG_SCOPE_GLOBAL, root, NULL, x->cfg);
}

/* libconfig keeps its own copies of the strings it read: overwrite the passwords before
 * config_destroy() frees them. */
static void wipe_passwords(config_setting_t *s) {
        if (config_setting_is_aggregate(s)) {
                for (int i = 0; i < config_setting_length(s); i++)
                        wipe_passwords(config_setting_get_elem(s, (unsigned) i));
                return;
        }
        if (config_setting_type(s) == CONFIG_TYPE_STRING && config_setting_name(s) &&
            strcmp(config_setting_name(s), "password") == 0) {
                const char *v = config_setting_get_string(s);

                if (v)
                        explicit_bzero((char *) (uintptr_t) v, strlen(v));
        }
}

/* The absolute directory of 'name' (the current directory for a bare file name). */
static int conf_dir_of(const char *name, char **ret) {
        _cleanup_free_ char *cwd = NULL, *d = NULL;
        const char *slash = strrchr(name, '/');

        if (slash)
                d = slash == name ? strdup("/") : strndup(name, (size_t) (slash - name));
        else
                d = strdup(".");
        if (!d)
                return -ENOMEM;
        if (d[0] == '/') {
                *ret = TAKE_PTR(d);
                return 0;
        }

        cwd = getcwd(NULL, 0);
        if (!cwd) {
                int e = errno;

                return e > 0 ? -e : -ENOMEM;   /* never 0 without *ret */
        }
        if (strcmp(d, ".") == 0) {
                *ret = TAKE_PTR(cwd);
                return 0;
        }
        return asprintf(ret, "%s/%s", cwd, d) < 0 ? -ENOMEM : 0;
}

/* Wipe and free a buffer that may hold a password. */
static void text_free(char *text, size_t len) {
        explicit_bzero_safe(text, len);
        free(text);
}

/* Read fd to its end into a NUL-terminated buffer of at most 'max' bytes.  The buffer starts at
 * the size fstat() reported and doubles when that was wrong (a pipe, a file still being written);
 * it is copied rather than realloc()ed, so that no stale copy of a password stays in freed
 * memory.  Returns 0 with *ret (free with text_free()) and *ret_len, -EMSGSIZE when there is more
 * than 'max', or -errno. */
static int read_text(int fd, size_t size_hint, size_t max, char **ret, size_t *ret_len) {
        /* Room for one byte past the limit, to tell "exactly at the limit" from "over", and the NUL. */
        size_t len = 0, cap = MIN(MAX(size_hint, (size_t) 4096), max) + 2;
        char *text = malloc(cap);

        if (!text)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (len + 1 == cap) {
                        size_t ncap = cap > max / 2 ? max + 2 : cap * 2;
                        char *t = malloc(ncap);

                        if (!t) {
                                text_free(text, len);
                                return -ENOMEM;
                        }
                        memcpy(t, text, len);
                        text_free(text, len);
                        text = t;
                        cap = ncap;
                }
                n = read(fd, text + len, cap - 1 - len);
                if (n < 0) {
                        int e = errno, r = e > 0 ? -e : -EIO;   /* never 0 without *ret */

                        if (r == -EINTR)
                                continue;
                        text_free(text, len);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max) {
                        text_free(text, len);
                        return -EMSGSIZE;
                }
        }
        text[len] = 0;
        *ret = text;
        *ret_len = len;
        return 0;
}

/* libconfig's syntax error, "FILE:LINE: text". */
static int syntax_error(CfgCtx *x, const config_t *lc) {
        _cleanup_free_ char *file = config_error_file(lc) ? path_join(x->conf_dir, config_error_file(lc))
                                                          : strdup(x->file);

        if (!file || asprintf(&x->error, "%s:%d: %s", file, config_error_line(lc),
                              config_error_text(lc) ?: "syntax error") < 0) {
                x->error = NULL;
                return -ENOMEM;
        }
        return -EBADMSG;
}

/* ---- @include patterns ------------------------------------------------------------------------ */

static bool has_glob_chars(const char *s) {
        return strpbrk(s, "*?[") != NULL;
}

/* A string that starts at *pp, which points at its opening quote, with the escapes \" and \\ undone
 * (a glob escape such as \* reaches glob() as it is).  On success *pp points at the closing quote.
 * NULL when the string does not end on its line (libconfig will say what is wrong), or is out of
 * memory (then *oom is set). */
static char *include_name(char **pp, bool *oom) {
        char *p = *pp + 1, *name, *o;

        name = o = malloc(strcspn(p, "\n") + 1);
        if (!name) {
                *oom = true;
                return NULL;
        }
        for (; *p && *p != '\n' && *p != '"'; p++) {
                if (p[0] == '\\' && (p[1] == '"' || p[1] == '\\'))
                        p++;
                *o++ = *p;
        }
        if (*p != '"')
                return mfree(name);
        *o = 0;
        *pp = p;
        return name;
}

static int scan_includes(CfgCtx *x, char *text);

/* libconfig 1.5's own limit on nested includes. */
#define CFG_INCLUDE_DEPTH_MAX 10U

/* libconfig reads a plain @include itself, and its scanner ends the whole process (exit(2),
 * "input in flex scanner failed") when the file cannot be read as text: a directory, a FIFO, a
 * device; a SIGHUP with such a file would end the daemon.  So the file a plain @include names is
 * looked at first: it must be a regular file without NUL bytes, at most file_max bytes, and the
 * includes inside it, which libconfig reads the same way, are looked at in turn (there a pattern
 * or a directory is an error: only the main file's can be blanked out).  'name' is as written,
 * 'path' the file, 'line' that of the @include in the document being scanned.  A file that cannot
 * be opened is left to libconfig, which says so with the line. */
static int scan_plain_include(CfgCtx *x, const char *name, const char *path, unsigned line) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *shown = NULL;
        const char *outer = x->file;
        char *text = NULL;
        size_t len = 0;
        struct stat st;
        int r;

        if (x->plain_depth >= CFG_INCLUDE_DEPTH_MAX)
                return cfg_fail_at(x, x->file, line, "@include", "includes are nested more than %u deep",
                                   CFG_INCLUDE_DEPTH_MAX);
        /* The name in messages: quoted, or described when it would not print as it is. */
        if (printable(name) ? asprintf(&shown, "'%s'", name) < 0 : !(shown = strdup("the file it names")))
                return -ENOMEM;
        /* O_NONBLOCK: a FIFO must not hang the load before fstat() shows what it is. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return 0;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return cfg_fail_at(x, x->file, line, "@include", "%s is not a regular file", shown);
        r = read_text(fd, (size_t) MIN(st.st_size, (off_t) x->limits.file_max), x->limits.file_max, &text, &len);
        if (r == -EMSGSIZE)
                return cfg_fail_at(x, x->file, line, "@include", "%s is larger than %zu bytes", shown,
                                   x->limits.file_max);
        if (r < 0)
                return r == -ENOMEM ? r : cfg_fail_at(x, x->file, line, "@include", "cannot read %s: %s", shown,
                                                      strerror(-r));
        if (strlen(text) != len)
                r = cfg_fail_at(x, x->file, line, "@include", "%s contains a NUL byte", shown);
        else {
                x->file = path;
                x->plain_depth++;
                r = scan_includes(x, text);
                x->plain_depth--;
                x->file = outer;
        }
        text_free(text, len);
        return r;
}

/* An @include at *pp, at the start of line 'line' at nesting 'depth' of the document being read.  A
 * plain file is left to libconfig, once scan_plain_include() has looked at it.  A pattern or a directory at the top level of the main file is
 * recorded and blanked out with spaces, so that every line keeps its number; anywhere else it is an
 * error.  *pp is left at the last character looked at. */
static int include_line(CfgCtx *x, char **pp, unsigned line, unsigned depth) {
        _cleanup_free_ char *name = NULL, *path = NULL;
        char *start = *pp, *q = start + strlen("@include");
        CfgPattern *l;
        struct stat st;
        bool oom = false;

        q += strspn(q, " \t");
        if (*q != '"')
                return 0;
        name = include_name(&q, &oom);
        if (!name)
                return oom ? -ENOMEM : 0;
        *pp = q;
        if (!has_glob_chars(name)) {
                path = path_join(x->conf_dir, name);
                if (!path)
                        return -ENOMEM;
                if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                        return scan_plain_include(x, name, path, line);
        }

        if (x->plain_depth > 0)
                return cfg_fail_at(x, x->file, line, "@include", "a file read by a plain @include cannot "
                                   "include files by a pattern or a directory");
        if (x->included)
                return cfg_fail_at(x, x->file, line, "@include", "a file included by a pattern cannot "
                                   "include files by a pattern or a directory itself");
        if (depth > 0)
                return cfg_fail_at(x, x->file, line, "@include", "a pattern or a directory can be included "
                                   "only at the top level, not inside a group or a list");

        l = reallocarray(x->patterns, x->n_patterns + 1, sizeof(CfgPattern));
        if (!l)
                return -ENOMEM;
        x->patterns = l;
        x->patterns[x->n_patterns++] = (CfgPattern) { .pattern = TAKE_PTR(name), .line = line };
        memset(start, ' ', (size_t) (q - start + 1));
        return 0;
}

/* Find the document's @include lines whose name is a pattern or a directory (include_line()), with a
 * small scanner of libconfig's lexical structure: strings, the three kinds of comments, and the
 * nesting of groups and lists.  libconfig 1.5 takes "@include" only at the start of a line, after
 * blanks, and only for plain files, which it reads in place. */
static int scan_includes(CfgCtx *x, char *text) {
        enum { NORMAL, STRING, LINE_COMMENT, BLOCK_COMMENT } state = NORMAL;
        unsigned line = 1, depth = 0;
        bool line_start = true;
        int r;

        for (char *p = text; *p; p++) {
                if (*p == '\n') {
                        line++;
                        line_start = true;
                        if (state == LINE_COMMENT)
                                state = NORMAL;
                        continue;
                }
                if (state == STRING) {
                        if (*p == '\\' && p[1] != 0 && p[1] != '\n')
                                p++;
                        else if (*p == '"')
                                state = NORMAL;
                        continue;
                }
                if (state == LINE_COMMENT)
                        continue;
                if (state == BLOCK_COMMENT) {
                        if (p[0] == '*' && p[1] == '/') {
                                p++;
                                state = NORMAL;
                        }
                        continue;
                }

                if (IN_SET(*p, ' ', '\t', '\r'))
                        continue;
                if (line_start && strncmp(p, "@include", strlen("@include")) == 0 &&
                    IN_SET(p[strlen("@include")], ' ', '\t')) {
                        size_t n = x->n_patterns;

                        r = include_line(x, &p, line, depth);
                        if (r < 0)
                                return r;
                        /* Blanked out: libconfig sees what follows on the line as the start of the
                         * line, and takes another "@include" there. */
                        if (x->n_patterns > n)
                                continue;
                } else if (*p == '"')
                        state = STRING;
                else if (*p == '#' || (p[0] == '/' && p[1] == '/'))
                        state = LINE_COMMENT;
                else if (p[0] == '/' && p[1] == '*') {
                        p++;
                        state = BLOCK_COMMENT;
                } else if (IN_SET(*p, '{', '(', '['))
                        depth++;
                else if (IN_SET(*p, '}', ')', ']') && depth > 0)
                        depth--;
                line_start = false;
        }
        return 0;
}

static _Thread_local int glob_errno;

static int on_glob_error(const char *path, int e) {
        (void) path;
        /* A directory of the pattern that does not exist is a pattern that matches nothing. */
        if (IN_SET(e, ENOENT, ENOTDIR))
                return 0;
        glob_errno = e;
        return 1;
}

static int path_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Read the file at 'path', matched by pattern 'pat', as a document of its own: its accounts are
 * appended.  A file that is not a regular one (or is gone since it was listed) is passed over. */
static int include_file(CfgCtx *x, const CfgPattern *pat, const char *path,
                        const config_setting_t *main_root) {
        _cleanup_close_ int fd = -EBADF;
        const char *main_file = x->cfg->files[0];
        size_t len = 0, left, max;
        char *text = NULL;
        struct stat st;
        config_t lc;
        int r;

        /* O_NONBLOCK: a FIFO that matched must not hang the load before fstat() shows what it is. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
                return 0;
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                if (asprintf(&x->error, "%s: %s", path, strerror(-r)) < 0)
                        x->error = NULL;
                return r;
        }
        if (!S_ISREG(st.st_mode))
                return 0;
        /* "*.conf" next to the main file matches the main file too. */
        if (x->main_st && st.st_dev == x->main_st->st_dev && st.st_ino == x->main_st->st_ino)
                return 0;

        if (x->n_included >= x->limits.files_max) {
                (void) cfg_fail_at(x, main_file, pat->line, "@include", "the patterns include more than %zu "
                                   "files", x->limits.files_max);
                return -EMSGSIZE;
        }
        x->n_included++;

        left = x->limits.total_max - MIN(x->total_bytes, x->limits.total_max);
        max = MIN(x->limits.file_max, left);
        r = read_text(fd, (size_t) MIN(st.st_size, (off_t) max), max, &text, &len);
        if (r == -EMSGSIZE) {
                int k;

                if (max == x->limits.file_max)
                        k = asprintf(&x->error, "%s: larger than %zu bytes", path, x->limits.file_max);
                else
                        k = asprintf(&x->error, "%s: with it, the configuration files are larger than %zu "
                                     "bytes together", path, x->limits.total_max);
                if (k < 0)
                        x->error = NULL;
                return r;
        }
        if (r < 0) {
                if (r != -ENOMEM && asprintf(&x->error, "%s: %s", path, strerror(-r)) < 0)
                        x->error = NULL;
                return r;
        }
        assert(text);   /* read_text() returned 0 */
        x->total_bytes += len;
        if (strlen(text) != len) {
                if (asprintf(&x->error, "%s: contains a NUL byte", path) < 0)
                        x->error = NULL;
                text_free(text, len);
                return -EBADMSG;
        }

        /* The document is this file from here on. */
        x->file = files_add(x, strdup(path));
        if (!x->file) {
                text_free(text, len);
                return -ENOMEM;
        }
        x->first_file = x->cfg->n_files - 1;
        x->text = text;
        x->line_start = mfree(x->line_start);
        x->have_mode = true;
        x->mode = st.st_mode;
        x->included = true;

        r = scan_includes(x, text);
        if (r >= 0) {
                config_init(&lc);
                config_set_include_dir(&lc, x->conf_dir);
                if (config_read_string(&lc, text) != CONFIG_TRUE)
                        r = syntax_error(x, &lc);
                else {
                        const config_setting_t *root = config_root_setting(&lc);
                        size_t first = x->cfg->n_accounts;

                        r = parse_included_root(x, root);
                        if (r >= 0)
                                r = accounts_finish(x, main_root, member(root, "accounts"), first);
                }
                wipe_passwords(config_root_setting(&lc));
                config_destroy(&lc);
        }
        x->text = NULL;
        x->line_start = mfree(x->line_start);
        text_free(text, len);
        return r;
}

/* Every regular file 'pat' matches, in byte order of the names.  A directory stands for its *.conf
 * files; a relative pattern is relative to the main file's directory, like a plain @include. */
static int include_pattern(CfgCtx *x, const CfgPattern *pat, const config_setting_t *main_root) {
        _cleanup_free_ char *full = NULL;
        const char *main_file = x->cfg->files[0];
        bool show = printable(pat->pattern);
        glob_t g = {};
        int r;

        full = path_join(x->conf_dir, pat->pattern);
        if (!full)
                return -ENOMEM;
        if (!has_glob_chars(pat->pattern)) {
                char *d;
                size_t n = strlen(full);

                while (n > 1 && full[n - 1] == '/')
                        full[--n] = 0;
                if (asprintf(&d, "%s/*.conf", full) < 0)
                        return -ENOMEM;
                free(full);
                full = d;
        }

        glob_errno = 0;
        r = glob(full, GLOB_NOSORT, on_glob_error, &g);
        if (r == GLOB_NOSPACE) {
                globfree(&g);
                return -ENOMEM;
        }
        if (r == GLOB_ABORTED) {
                globfree(&g);
                return cfg_fail_at(x, main_file, pat->line, "@include", "cannot list the files %s%s%s: %s",
                                   show ? "of '" : "it names", show ? pat->pattern : "", show ? "'" : "",
                                   strerror(glob_errno ?: EIO));
        }
        if (r == GLOB_NOMATCH || g.gl_pathc == 0) {
                globfree(&g);
                return cfg_warn_at(x, main_file, pat->line, "@include", "%s%s%s matches no files",
                                   show ? "'" : "", show ? pat->pattern : "the pattern", show ? "'" : "");
        }
        if (r != 0) {
                globfree(&g);
                return -EIO;
        }

        /* glob() sorts by the locale; byte order is the same everywhere. */
        qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), path_compare);
        r = 0;
        for (size_t i = 0; r >= 0 && i < g.gl_pathc; i++)
                r = include_file(x, pat, g.gl_pathv[i], main_root);
        globfree(&g);
        return r;
}

/* ---- the whole load --------------------------------------------------------------------------- */

/* text, the main file's, is changed: the pattern includes are blanked out.  st is the main file's,
 * or NULL for text that is not a file. */
static int cfg_parse(char *text, size_t len, const char *name, const struct stat *st, const CfgLimits *limits,
                     Cfg **ret, char **ret_error) {
        _cleanup_(cfg_freep) Cfg *c = NULL;
        _cleanup_free_ char *conf_dir = NULL;
        const char *cred_dir;
        CfgCtx x;
        config_t lc;
        int r;

        c = calloc(1, sizeof(Cfg));
        if (!c)
                return -ENOMEM;
        c->path = strdup(name);
        if (!c->path)
                return -ENOMEM;
        r = conf_dir_of(name, &conf_dir);
        if (r < 0)
                return r;
        assert(conf_dir);

        cred_dir = getenv("CREDENTIALS_DIRECTORY");
        x = (CfgCtx) {
                .text = text,
                .have_mode = st && S_ISREG(st->st_mode),
                .mode = st ? st->st_mode : 0,
                .conf_dir = conf_dir,
                .cred_dir = cred_dir && *cred_dir ? cred_dir : NULL,
                .limits = *limits,
                .total_bytes = len,
                .main_st = st,
                .cfg = c,
        };
        x.file = files_add(&x, strdup(name));
        if (!x.file)
                return -ENOMEM;

        r = scan_includes(&x, text);
        if (r >= 0) {
                config_init(&lc);
                /* @include "x" is read relative to the configuration file, not the daemon's cwd. */
                config_set_include_dir(&lc, conf_dir);
                if (config_read_string(&lc, text) != CONFIG_TRUE)
                        r = syntax_error(&x, &lc);
                else {
                        const config_setting_t *root = config_root_setting(&lc);

                        r = parse_root(&x, root);
                        x.line_start = mfree(x.line_start);
                        for (size_t i = 0; r >= 0 && i < x.n_patterns; i++)
                                r = include_pattern(&x, &x.patterns[i], root);
                        /* parse_group() let a main file with patterns leave 'accounts' out. */
                        if (r >= 0 && c->n_accounts == 0) {
                                x.file = c->files[0];
                                /* parse_group() requires 'accounts' when there is no pattern. */
                                if (x.n_patterns == 0)
                                        r = cfg_fail(&x, root, "accounts", "required, but not set");
                                else
                                        r = cfg_fail(&x, root, "accounts", "required, but not set, neither "
                                                     "here nor in a file the @include at line %u matched",
                                                     x.patterns[0].line);
                        }
                }
                wipe_passwords(config_root_setting(&lc));
                config_destroy(&lc);
        }

        free(x.line_start);
        name_set_done(&x.account_names);
        for (size_t i = 0; i < x.n_patterns; i++)
                free(x.patterns[i].pattern);
        free(x.patterns);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(x.error);
                free(x.error);
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

static const CfgLimits default_limits = {
        .file_max = CFG_FILE_MAX,
        .total_max = CFG_TOTAL_MAX,
        .files_max = CFG_INCLUDE_FILES_MAX,
};

int cfg_load_string(const char *text, const char *name, Cfg **ret, char **ret_error) {
        size_t len;
        char *copy;
        int r;

        assert_return(text && name && ret, -EINVAL);

        if (ret_error)
                *ret_error = NULL;
        len = strlen(text);
        copy = strdup(text);
        if (!copy)
                return -ENOMEM;
        r = cfg_parse(copy, len, name, /* st= */ NULL, &default_limits, ret, ret_error);
        text_free(copy, len);
        return r;
}

int cfg_load_limited(const char *path, const CfgLimits *limits, Cfg **ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        char *text = NULL;
        size_t len = 0, max;
        struct stat st;
        int r;

        assert_return(path && limits && ret, -EINVAL);

        if (ret_error)
                *ret_error = NULL;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                goto fail_errno;
        }
        if (S_ISDIR(st.st_mode)) {
                r = -EISDIR;
                goto fail_errno;
        }

        max = MIN(limits->file_max, limits->total_max);
        r = read_text(fd, S_ISREG(st.st_mode) ? (size_t) MIN(st.st_size, (off_t) max) : 0, max, &text, &len);
        if (r == -EMSGSIZE) {
                if (ret_error && asprintf(ret_error, "%s: larger than %zu bytes", path, max) < 0)
                        *ret_error = NULL;
                return r;
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                goto fail_errno;
        assert(text);   /* read_text() returned 0 */
        if (strlen(text) != len) {
                r = -EBADMSG;
                if (ret_error && asprintf(ret_error, "%s: contains a NUL byte", path) < 0)
                        *ret_error = NULL;
                goto finish;
        }

        r = cfg_parse(text, len, path, &st, limits, ret, ret_error);
        goto finish;

fail_errno:
        if (ret_error && asprintf(ret_error, "%s: %s", path, strerror(-r)) < 0)
                *ret_error = NULL;
finish:
        text_free(text, len);
        return r;
}

int cfg_load(const char *path, Cfg **ret, char **ret_error) {
        return cfg_load_limited(path, &default_limits, ret, ret_error);
}

Cfg *cfg_free(Cfg *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < cfg_n_keys; i++)
                if (cfg_keys[i].scope == CFG_SCOPE_GLOBAL)
                        type_ops[cfg_keys[i].type].done(&cfg_keys[i], c);
        for (size_t i = 0; i < c->n_warnings; i++)
                free(c->warnings[i]);
        free(c->warnings);
        for (size_t i = 0; i < c->n_files; i++)
                free(c->files[i]);
        free(c->files);
        free(c->path);
        return mfree(c);
}

/* ---- using the result ------------------------------------------------------------------------- */

int cfg_dump(const Cfg *c, FILE *f) {
        assert_return(c && f, -EINVAL);

        fputs("# The effective configuration of imapidled", f);
        if (c->path && printable(c->path))
                fprintf(f, ", read from %s", c->path);
        if (c->n_files > 1)
                fprintf(f, " and %zu file%s it includes", c->n_files - 1, c->n_files > 2 ? "s" : "");
        fputs(":\n# every default filled in, the password redacted.\n", f);
        for (size_t i = 0; i < cfg_n_keys; i++)
                if (cfg_keys[i].scope == CFG_SCOPE_GLOBAL)
                        type_ops[cfg_keys[i].type].dump(f, &cfg_keys[i], c, "");
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}

/* The reserve, CFG_FDS_RESERVE, covers what does not grow with the configuration:
 *   standard input, output and error                                             3
 *   sd-event: epoll, signalfd, a timerfd per clock (up to 5), the watchdog's     8
 *   rtnetlink (netmon.c), the system bus (resume.c)                             2
 *   sd_notify()'s socket, while it sends                                         1
 *   a state file being written, and its directory for the fsync (state.c)        2
 *   the child's ends of a hook's three pipes while it is spawned, or a tunnel's  3
 *   ca_file, client_cert and client_key while a TLS context is made              3
 *   a password_file being read                                                   1
 *   a reload: the main file, a directory being listed, an included file, and
 *   libconfig's plain @include chain (ten deep at most)                          13
 * about 36, so 64 leaves room for what a library opens unseen. */
int cfg_descriptors_needed(const Cfg *c, CfgFdNeed *ret) {
        CfgFdNeed n = {};

        assert_return(c && ret, -EINVAL);

        /* A pattern may match any number of mailboxes: count max_connections. */
        for (size_t i = 0; i < c->n_accounts; i++)
                n.connections += MIN(c->accounts[i].n_patterns > 0 ? UINT64_MAX :
                                     (uint64_t) c->accounts[i].n_mailboxes,
                                     (uint64_t) c->accounts[i].max_connections);
        n.hooks = (uint64_t) c->max_concurrent_hooks * CFG_FDS_PER_HOOK;
        n.connecting = MIN((uint64_t) c->max_connecting, n.connections) * CFG_FDS_PER_CONNECTING;
        n.reserve = CFG_FDS_RESERVE;
        n.total = n.connections + n.hooks + n.connecting + n.reserve;
        *ret = n;
        return 0;
}

const CfgAccount *cfg_find_account(const Cfg *c, const char *name) {
        if (!c || !name)
                return NULL;
        for (size_t i = 0; i < c->n_accounts; i++)
                if (strcmp(c->accounts[i].name, name) == 0)
                        return &c->accounts[i];
        return NULL;
}

bool cfg_account_equal(const CfgAccount *a, const CfgAccount *b) {
        if (!a || !b)
                return a == b;
        for (size_t i = 0; i < cfg_n_keys; i++)
                if (cfg_keys[i].scope == CFG_SCOPE_ACCOUNT &&
                    !type_ops[cfg_keys[i].type].equal(&cfg_keys[i], a, b))
                        return false;
        return true;
}

const CfgHook *cfg_mailbox_hook(const CfgAccount *a, const CfgMailbox *m, CfgEvent event) {
        const CfgHook *own, *acct;

        if (!a || event < 0 || event >= _CFG_EVENT_MAX)
                return NULL;
        static const size_t mailbox_field[_CFG_EVENT_MAX] = {
                [CFG_EVENT_NEW] = offsetof(CfgMailbox, on_new),
                [CFG_EVENT_EXPUNGE] = offsetof(CfgMailbox, on_expunge),
                [CFG_EVENT_FLAGS] = offsetof(CfgMailbox, on_flags),
        };
        static const size_t account_field[_CFG_EVENT_MAX] = {
                [CFG_EVENT_NEW] = offsetof(CfgAccount, on_new),
                [CFG_EVENT_EXPUNGE] = offsetof(CfgAccount, on_expunge),
                [CFG_EVENT_FLAGS] = offsetof(CfgAccount, on_flags),
        };

        own = m ? (const CfgHook *) ((const char *) m + mailbox_field[event]) : NULL;
        acct = (const CfgHook *) ((const char *) a + account_field[event]);
        if (cfg_hook_is_set(own))
                return own;
        return cfg_hook_is_set(acct) ? acct : NULL;
}

/* Expand one argument: measure first, then fill. */
static int expand_one(const char *arg, const char *account, const char *mailbox, char **ret) {
        size_t la = strlen(account), lm = strlen(mailbox), n = 0;
        char *out, *o;

        for (const char *p = arg; *p; p++) {
                if (*p != '%') {
                        n++;
                        continue;
                }
                p++;
                if (*p == 'a')
                        n += la;
                else if (*p == 'm')
                        n += lm;
                else if (*p == '%')
                        n++;
                else
                        return -EINVAL;
        }

        o = out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        for (const char *p = arg; *p; p++) {
                if (*p != '%') {
                        *o++ = *p;
                        continue;
                }
                p++;
                if (*p == 'a')
                        o = mempcpy(o, account, la);
                else if (*p == 'm')
                        o = mempcpy(o, mailbox, lm);
                else
                        *o++ = '%';
        }
        *o = 0;
        *ret = out;
        return 0;
}

int cfg_hook_expand(char *const *argv, const char *account, const char *mailbox, char ***ret) {
        _cleanup_(cfg_strv_freep) char **l = NULL;
        size_t n = 0;

        assert_return(argv && account && mailbox && ret, -EINVAL);

        while (argv[n])
                n++;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int r = expand_one(argv[i], account, mailbox, &l[i]);

                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* RFC 3501 §5.1: INBOX in any case is INBOX; every other name as is. */
static bool mailbox_name_eq(const char *x, const char *y) {
        return ascii_strcaseeq(x, "INBOX") ? ascii_strcaseeq(y, "INBOX") : strcmp(x, y) == 0;
}

size_t cfg_account_mailbox_for(const CfgAccount *a, const char *name, char delim) {
        size_t found = SIZE_MAX;

        if (!a || !name)
                return SIZE_MAX;
        for (size_t i = 0; i < a->n_mailboxes; i++) {
                const CfgMailbox *mb = &a->mailboxes[i];

                if (!mb->pattern) {
                        if (mailbox_name_eq(mb->name, name))
                                return i;
                } else if (found == SIZE_MAX && imap_list_match(mb->name, name, delim))
                        found = i;
        }
        return found;
}

bool cfg_mailbox_desktop_notify(const CfgAccount *a, const CfgMailbox *m) {
        if (!a)
                return false;
        if (m && m->desktop_notify != CFG_TRI_UNSET)
                return m->desktop_notify == CFG_TRI_TRUE;
        return a->desktop_notify;
}

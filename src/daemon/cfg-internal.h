/* SPDX-License-Identifier: MIT */
/*
 * cfg-internal.h: the configuration schema as data, shared by cfg.c (which
 * parses, checks, dumps, compares and frees by walking it) and cfg-table.c
 * (which holds it).  The tests use it too, to check that every key is in the
 * man page and the sample configuration.  Not for other modules: they see only
 * the structs of cfg.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

typedef enum CfgScope {
        CFG_SCOPE_GLOBAL,       /* the top level: fields of Cfg */
        CFG_SCOPE_ACCOUNT,      /* a group in 'accounts': fields of CfgAccount */
        CFG_SCOPE_MAILBOX,      /* a group in 'mailboxes': fields of CfgMailbox */
        CFG_SCOPE_HOOK,         /* a hook's group form { command = ...; details = ...; }: fields of
                                 * CfgHook */
        _CFG_SCOPE_MAX,
} CfgScope;

/* What a key holds: each type has one parser, printer, comparator and
 * destructor in cfg.c's type table. */
typedef enum CfgType {
        CFG_TYPE_SECONDS,       /* uint64_t µs; a whole number of seconds in [min, max] (a floating-point
                                 * number without a fraction is one too); 0 = unset */
        CFG_TYPE_DURATION,      /* uint64_t µs; seconds as an integer or a floating-point number,
                                 * rounded to the millisecond, in [min, max] (which are in ms); 0 is a
                                 * valid value, so CFG_USEC_UNSET marks "not set" while the file is read */
        CFG_TYPE_COUNT,         /* unsigned; an integer in [min, max], default def; 0 = "not set" while
                                 * the file is read, for an account's CFG_KEY_INHERIT key */
        CFG_TYPE_STRING,        /* char *, not empty */
        CFG_TYPE_NAME,          /* char *, [A-Za-z0-9._-]+ */
        CFG_TYPE_HOST,          /* char *, no white space or control characters */
        CFG_TYPE_PATH,          /* char *, relative to the config file's directory */
        CFG_TYPE_SECRET_PATH,   /* char *, relative to $CREDENTIALS_DIRECTORY if set, else as PATH */
        CFG_TYPE_SECRET,        /* char *, wiped on free, redacted in dumps */
        CFG_TYPE_BOOL,          /* bool */
        CFG_TYPE_TRI,           /* CfgTri: true or false, CFG_TRI_UNSET when not written */
        CFG_TYPE_PORT,          /* char *, an integer or a decimal string in [min, max], kept in decimal */
        CFG_TYPE_TLS,           /* CfgTls, from its name */
        CFG_TYPE_NOTIFY,        /* bool, true for "off", false for "auto" */
        CFG_TYPE_ARGV,          /* char **, a non-empty list of non-empty strings */
        CFG_TYPE_HOOK,          /* CfgHook: an argv with %a/%m/%%, a string for sh -c, or a group of
                                 * the CFG_SCOPE_HOOK keys */
        CFG_TYPE_HOOK_COMMAND,  /* CfgHook's argv or shell: the plain form, and 'command' in a group */
        CFG_TYPE_MECHS,         /* char **, SASL mechanism names from cfg_mechs[], upper-cased */
        CFG_TYPE_ENV_NAMES,     /* char **, environment variable names that env_name_check() allows,
                                 * each once */
        CFG_TYPE_MAILBOXES,     /* CfgMailbox[] with n_mailboxes right after it */
        CFG_TYPE_MAILBOX_NAME,  /* char *, UTF-8 without control characters */
        CFG_TYPE_ACCOUNTS,      /* CfgAccount[] with n_accounts right after it */
        _CFG_TYPE_MAX,
} CfgType;

typedef enum CfgKeyFlags {
        CFG_KEY_REQUIRED   = 1 << 0,    /* must be set */
        CFG_KEY_NEEDED     = 1 << 1,    /* must be set unless a tunnel is (a tunnel is usually
                                         * pre-authenticated and has no host) */
        CFG_KEY_NOT_TUNNEL = 1 << 2,    /* about the network connection: refused together with a
                                         * tunnel, left out of the dump of a tunnel account */
        CFG_KEY_CREDENTIAL = 1 << 3,    /* a source of the secret; at most one per account */
        CFG_KEY_INHERIT    = 1 << 4,    /* an account's key that, when not set, takes the value of
                                         * the top-level key of the same name (SECONDS, DURATION,
                                         * COUNT) */
        CFG_KEY_DEADLINE   = 1 << 5,    /* DURATION: a timeout; 0 gets a message of its own, since it
                                         * could be read as "no deadline", which does not exist */
        CFG_KEY_ZERO_OFF   = 1 << 6,    /* DURATION: 0 is allowed besides [min, max] and means "off" */
} CfgKeyFlags;

/* A DURATION field not set (yet): replaced by the inherited value before cfg_load() returns. */
#define CFG_USEC_UNSET UINT64_MAX

typedef struct CfgKey {
        CfgScope scope;
        const char *name;
        CfgType type;
        size_t offset;          /* of the field in Cfg, CfgAccount or CfgMailbox */
        int64_t min, max;       /* SECONDS (in seconds), DURATION (in milliseconds), COUNT and PORT */
        int64_t def;            /* the default, in the unit of min and max (SECONDS, DURATION, COUNT);
                                 * unused with CFG_KEY_INHERIT */
        unsigned flags;         /* CfgKeyFlags */
        const char *help;       /* one line, for --help-like output and the man page's summary */
} CfgKey;

static inline char ascii_tolower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

/* ASCII case-insensitive equality, independent of the locale. */
static inline bool ascii_strcaseeq(const char *a, const char *b) {
        for (; *a && ascii_tolower(*a) == ascii_tolower(*b); a++, b++)
                ;
        return *a == 0 && *b == 0;
}

extern const CfgKey cfg_keys[];
extern const size_t cfg_n_keys;

/* The key 'name' in 'scope', or NULL. */
const CfgKey *cfg_key_lookup(CfgScope scope, const char *name);

/* The known key in 'scope' closest to 'name' by edit distance, if it is close
 * enough to be a likely typo; NULL otherwise. */
const char *cfg_key_suggest(CfgScope scope, const char *name);

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions),
 * ASCII case-insensitive; SIZE_MAX if either string is longer than 64 bytes. */
size_t cfg_edit_distance(const char *a, const char *b);

/* SASL mechanisms that 'auth' may name. */
typedef struct CfgMech {
        const char *name;
        bool oauth;             /* takes a token from oauth2_token_command, not a password */
} CfgMech;

extern const CfgMech cfg_mechs[];
extern const size_t cfg_n_mechs;

/* The mechanism named 'name' (ASCII case-insensitive), or NULL. */
const CfgMech *cfg_mech_lookup(const char *name);

/* The limits of one cfg_load(): CFG_FILE_MAX, CFG_TOTAL_MAX and CFG_INCLUDE_FILES_MAX for the
 * daemon; the tests lower them to reach them with small files. */
typedef struct CfgLimits {
        size_t file_max;        /* bytes of any one file */
        size_t total_max;       /* bytes of the main file and the files its patterns include */
        size_t files_max;       /* files the patterns include, all together */
} CfgLimits;

/* cfg_load() with other limits. */
int cfg_load_limited(const char *path, const CfgLimits *limits, Cfg **ret, char **ret_error);

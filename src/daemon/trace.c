/* SPDX-License-Identifier: MIT */
/* trace.c: --trace=ACCOUNT, the redacted IMAP exchange on stderr; see trace.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "trace.h"

static char **trace_names;
static size_t n_trace_names;

int trace_add_account(const char *name) {
        char **n, *copy;

        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        n = reallocarray(trace_names, n_trace_names + 1, sizeof(char *));
        if (!n) {
                free(copy);
                return -ENOMEM;
        }
        trace_names = n;
        trace_names[n_trace_names++] = copy;
        return 0;
}

void trace_done(void) {
        for (size_t i = 0; i < n_trace_names; i++)
                free(trace_names[i]);
        trace_names = mfree(trace_names);
        n_trace_names = 0;
}

static bool traced(const char *account_name) {
        for (size_t i = 0; i < n_trace_names; i++)
                if (strcmp(trace_names[i], account_name) == 0)
                        return true;
        return false;
}

int trace_check_accounts(const Cfg *cfg) {
        for (size_t i = 0; i < n_trace_names; i++) {
                bool found = false;
                char known[512];
                size_t len = 0;

                for (size_t k = 0; k < cfg->n_accounts && !found; k++)
                        found = strcmp(cfg->accounts[k].name, trace_names[i]) == 0;
                if (found)
                        continue;
                /* Account names are letters, digits, ".", "_" and "-" (CFG_TYPE_NAME): no escaping;
                 * the list is cut with "..." when long. */
                known[0] = 0;
                for (size_t k = 0; k < cfg->n_accounts; k++) {
                        int r = snprintf(known + len, sizeof(known) - len, "%s%s", k > 0 ? ", " : "",
                                         cfg->accounts[k].name);

                        if (r < 0 || (size_t) r >= sizeof(known) - len) {
                                memcpy(known + sizeof(known) - 4, "...", 4);
                                break;
                        }
                        len += (size_t) r;
                }
                log_error("--trace: no account '%s' in %s; the accounts are: %s", trace_names[i], cfg->path, known);
                return -ENOENT;
        }
        return 0;
}

void trace_attach(ImapTrace **t, const char *account_name) {
        int r;

        *t = imap_trace_free(*t);
        if (n_trace_names == 0 || !traced(account_name))
                return;
        r = imap_trace_new(t);
        if (r < 0)
                log_warning_errno(r, "%s: cannot trace this connection: %m", account_name);
}

void trace_bytes(ImapTrace *t, const char *label, ImapTraceDir dir, const void *buf, size_t n) {
        /* A line of IMAP_TRACE_LINE_MAX bytes and its note, at most 4 bytes each when escaped. */
        static char esc[4 * (IMAP_TRACE_LINE_MAX + 64) + 1];
        const char *p = buf;

        while (n > 0) {
                size_t used = 0, len;
                const char *line;

                if (imap_trace_feed(t, dir, p, n, &used) <= 0)
                        return;
                p += used;
                n -= used;
                line = imap_trace_line(t, &len);
                (void) log_escape(line, len, esc, sizeof(esc));
                (void) fprintf(stderr, "trace %s %s: %s\n", label, imap_trace_dir_to_string(dir), esc);
        }
}

/* SPDX-License-Identifier: MIT */
/* tool.c: --list-mailboxes; see tool.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hook.h"
#include "imap-client.h"
#include "imap-parser.h"
#include "imap-utf7.h"
#include "log.h"
#include "tool.h"
#include "trace.h"

typedef struct SecretWait {
        int r;
        char *secret;
        bool done;
} SecretWait;

static void on_secret(int r, const char *secret, size_t len, void *userdata) {
        SecretWait *w = userdata;

        w->done = true;
        w->r = r;
        if (r >= 0) {
                w->secret = strndup(secret, len);
                if (!w->secret)
                        w->r = -ENOMEM;
        }
}

/* The secret the daemon would use on connect. */
static int get_secret(const CfgAccount *a, char **ret) {
        char *const *cmd = a->password_command ? a->password_command : a->oauth2_token_command;

        *ret = NULL;
        if (cmd) {
                _cleanup_(sd_event_unrefp) sd_event *e = NULL;
                SecretWait w = {};
                Hook *h = NULL;
                int r;

                r = sd_event_new(&e);
                if (r < 0)
                        return r;
                r = secret_command_run(e, cmd, a->pass_env, 30 * USEC_PER_SEC, 16384, "secret command", on_secret,
                                       &w, &h);
                if (r < 0)
                        return r;
                while (!w.done && r >= 0)
                        r = sd_event_run(e, UINT64_MAX);
                hook_free(h);
                if (r < 0)      /* the loop failed before the command finished */
                        return r;
                if (w.r < 0)
                        return w.r;
                *ret = w.secret;
                return 0;
        }
        if (a->password_file)
                return secret_file_read(a->password_file, ret);
        if (a->password) {
                *ret = strdup(a->password);
                return *ret ? 0 : -ENOMEM;
        }
        return 0;
}

/* Server text for the terminal: decoded names can hold C1 controls (U+009B CSI) and bidi
 * overrides that a terminal acts on, so everything that is not printable, valid UTF-8 is
 * escaped, by the rule of the logs (log_escape(), docs/SECURITY.md I09).  Only the backslash,
 * which log_escape() escapes so that its escapes read back, is printed as it is: flags are
 * "\Noselect", and this output is for reading.  Splitting at it changes nothing else, as it is
 * never part of a multi-byte UTF-8 sequence (RFC 3629 §3). */
static char *escape(const char *s, size_t len) {
        size_t size, j = 0;
        char *buf;

        if (len > (SIZE_MAX - 1) / 4)
                return NULL;
        size = len * 4 + 1;
        buf = malloc(size);
        if (!buf)
                return NULL;
        for (size_t i = 0; i <= len;) {
                const char *bs = memchr(s + i, '\\', len - i);
                size_t n = bs ? (size_t) (bs - (s + i)) : len - i;

                (void) log_escape(s + i, n, buf + j, size - j);
                j += strlen(buf + j);
                if (!bs)
                        break;
                buf[j++] = '\\';
                buf[j] = 0;
                i += n + 1;
        }
        return buf;
}

typedef struct ListCtx {
        const CfgAccount *a;
        const char *account;
        bool *named;
        size_t n_printed, n_skipped;
} ListCtx;

/* One mailbox, its attributes, and whether the daemon would watch it: named in the
 * configuration, or matched by a pattern (the first that matches).  Called for each LIST
 * entry as it arrives, so a listing of any length is printed whole (docs/SECURITY.md I08);
 * an entry that breaks the grammar or is not modified UTF-7 is skipped with a warning. */
static int print_mailbox(const ImapResponse *r, void *userdata) {
        _cleanup_free_ char *name = NULL, *shown = NULL;
        ListCtx *ctx = userdata;
        const CfgAccount *a = ctx->a;
        size_t w;
        int k;

        if (r->data_type != IMAP_DATA_LIST) {
                _cleanup_free_ char *raw = NULL;
                size_t len = r->raw.len >= 2 ? r->raw.len - 2 : r->raw.len;

                ctx->n_skipped++;
                raw = escape(r->raw.ptr, MIN(len, (size_t) 1024));
                if (!raw)
                        return -ENOMEM;
                log_warning("Account '%s': skipping a LIST entry the server got wrong (%s): %s%s", ctx->account,
                            r->invalid ? r->invalid : "malformed", raw, len > 1024 ? "..." : "");
                return 0;
        }
        k = imap_utf7_decode(r->list.mailbox->str, r->list.mailbox->len, &name);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                _cleanup_free_ char *raw = escape(r->list.mailbox->str, MIN(r->list.mailbox->len, (size_t) 1024));

                if (!raw)
                        return -ENOMEM;
                ctx->n_skipped++;
                log_warning("Account '%s': skipping a mailbox name that is not modified UTF-7 (RFC 3501 §5.1.3): %s",
                            ctx->account, raw);
                return 0;
        }
        shown = escape(name, strlen(name));
        if (!shown)
                return -ENOMEM;
        fputs(shown, stdout);
        for (const ImapArg *f = imap_arg_list_first(r->list.flags); f && f < imap_arg_next(r->list.flags);
             f = imap_arg_next(f)) {
                _cleanup_free_ char *flag = escape(f->str, f->len);

                if (!flag)
                        return -ENOMEM;
                printf(" %s", flag);
        }
        w = imap_response_list_selectable(r) ? cfg_account_mailbox_for(a, name, r->list.delimiter) : SIZE_MAX;
        if (w != SIZE_MAX && a->mailboxes[w].pattern)
                printf("  (watched: \"%s\")", a->mailboxes[w].name);
        else if (w != SIZE_MAX) {
                printf("  (watched)");
                ctx->named[w] = true;
        }
        printf("\n");
        ctx->n_printed++;
        return 0;
}

/* A typo on the command line: say which names there are, up to a screenful; --list-accounts
 * has them all. */
#define TOOL_KNOWN_ACCOUNTS_MAX 20

static void log_unknown_account(const Cfg *cfg, const char *name) {
        char list[1024];
        size_t n = 0, shown = MIN(cfg->n_accounts, (size_t) TOOL_KNOWN_ACCOUNTS_MAX);

        list[0] = 0;
        for (size_t i = 0; i < shown && n < sizeof(list); i++) {
                int k = snprintf(list + n, sizeof(list) - n, "%s%s", i > 0 ? ", " : "", cfg->accounts[i].name);

                if (k < 0)
                        break;
                n += (size_t) k;
        }
        if (cfg->n_accounts > shown)
                log_error("No account '%s' in %s; the accounts are %s and %zu more (--list-accounts)", name,
                          cfg->path, list, cfg->n_accounts - shown);
        else
                log_error("No account '%s' in %s; the account%s %s %s", name, cfg->path,
                          cfg->n_accounts == 1 ? "" : "s", cfg->n_accounts == 1 ? "is" : "are", list);
}

/* --trace with --list-mailboxes: the tool's exchange, as a connection's (trace.h), labelled
 * with the account's name. */
typedef struct ToolTrace {
        ImapTrace *trace;
        const char *label;
} ToolTrace;

static void trace_wire(ImapTraceDir dir, const void *buf, size_t n, void *userdata) {
        ToolTrace *t = userdata;

        trace_bytes(t->trace, t->label, dir, buf, n);
}

int tool_list_mailboxes(const Cfg *cfg, const char *name) {
        const CfgAccount *a = cfg_find_account(cfg, name);
        _cleanup_(imap_trace_freep) ImapTrace *trace = NULL;
        _cleanup_(imap_client_freep) ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        _cleanup_free_ bool *named = NULL;
        char *secret = NULL;
        ImapResult res = {};
        ImapClientOpts o;
        ToolTrace tt;
        ListCtx ctx;
        int r;

        if (!a) {
                log_unknown_account(cfg, name);
                return -ENOENT;
        }
        o = (ImapClientOpts) {
                .mode = a->tunnel ? IMAP_CLIENT_TUNNEL :
                        a->tls == CFG_TLS_IMPLICIT ? IMAP_CLIENT_TLS :
                        a->tls == CFG_TLS_STARTTLS ? IMAP_CLIENT_STARTTLS : IMAP_CLIENT_PLAIN,
                .host = a->host,
                .port = a->port,
                .tunnel_argv = a->tunnel,
                .ca_file = a->ca_file,
                .cert_file = a->client_cert,
                .key_file = a->client_key,
                .timeout_ms = 30000,
                .soft_list = true,
        };
        trace_attach(&trace, a->name);
        tt = (ToolTrace) { .trace = trace, .label = a->name };
        if (trace) {
                o.wire = trace_wire;
                o.wire_userdata = &tt;
        }
        r = imap_client_connect(&o, &c, &msg);
        if (r < 0)
                return log_error_errno(r, "Account '%s': %s", name, msg ? msg : "cannot connect");
        if (imap_client_state(c) == IMAP_STATE_NONAUTH) {
                r = get_secret(a, &secret);
                if (r < 0 && a->password_file)
                        return log_error_errno(r, "Account '%s': cannot read password_file %s: %m", name,
                                               a->password_file);
                if (r < 0)
                        return log_error_errno(r, "Account '%s': cannot get the password: %m", name);
                if (a->oauth2_token_command) {
                        ImapSaslCreds cr = { .user = a->username, .secret = secret, .host = a->host };
                        ImapSasl *sasl = NULL;

                        r = imap_sasl_new(imap_client_has_capability(c, "AUTH=XOAUTH2") ? "XOAUTH2" : "OAUTHBEARER",
                                          &cr, &sasl);
                        if (r >= 0)
                                r = imap_client_authenticate_sasl(c, sasl, &res);
                } else
                        r = imap_client_login(c, a->username, secret ? secret : "", &res);
                if (secret)
                        explicit_bzero(secret, strlen(secret));
                free(secret);
                if (r < 0)
                        return log_error_errno(r, "Account '%s': login failed: %s", name, imap_client_errmsg(c));
        }
        named = calloc(a->n_mailboxes, sizeof(bool));
        if (!named)
                return log_error_errno(-ENOMEM, "Account '%s': %m", name);
        ctx = (ListCtx) { .a = a, .account = name, .named = named };
        r = imap_client_list_each(c, "", "*", print_mailbox, &ctx, &res);
        if (r == -ENOMEM)
                return log_error_errno(r, "Account '%s': %m", name);
        if (r < 0)
                return log_error_errno(r, "Account '%s': LIST failed after %zu mailboxes: %s", name, ctx.n_printed,
                                       imap_client_errmsg(c));
        if (strcmp(res.typ, "OK") != 0) {
                const char *t = imap_result_text(&res, 0);
                _cleanup_free_ char *why = escape(t ? t : "", t ? strlen(t) : 0);

                log_error("Account '%s': LIST refused: %s %s", name, res.typ, why ? why : "");
                imap_result_done(&res);
                return -EREMOTEIO;
        }
        imap_result_done(&res);
        /* A name written in the configuration that the server does not have. */
        for (size_t i = 0; i < a->n_mailboxes; i++)
                if (!a->mailboxes[i].pattern && !named[i])
                        printf("%s  (configured, but the server did not list it)\n", a->mailboxes[i].name);
        (void) imap_client_logout(c, &res);
        imap_result_done(&res);
        /* A listing cut short by a full disk or a closed pipe is a failure, not a short list. */
        if (fflush(stdout) != 0 || ferror(stdout))
                return log_error_errno(-EIO, "Account '%s': cannot write the list: %m", name);
        return 0;
}

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

/* One mailbox, its attributes, and whether the daemon would watch it: named
 * in the configuration, or matched by a pattern (the first that matches). */
static void print_mailbox(const CfgAccount *a, const ImapDatum *d, bool *named) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        _cleanup_free_ char *line = NULL, *name = NULL;
        const ImapResponse *r;
        size_t used, n = 0, w;

        /* Parse the stored data again as "* LIST <data>" to get the typed view. */
        for (size_t i = 0; i < d->n_frags; i++)
                n += d->frags[i].text_len + 32 + d->frags[i].literal_len;
        line = malloc(n + 16);
        if (!line || imap_parser_new(NULL, &p) < 0)
                return;
        memcpy(line, "* LIST ", 7);
        n = 7;
        for (size_t i = 0; i < d->n_frags; i++) {
                memcpy(line + n, d->frags[i].text, d->frags[i].text_len);
                n += d->frags[i].text_len;
                if (d->frags[i].literal) {
                        n += (size_t) snprintf(line + n, 32, "\r\n");
                        memcpy(line + n, d->frags[i].literal, d->frags[i].literal_len);
                        n += d->frags[i].literal_len;
                }
        }
        memcpy(line + n, "\r\n", 2);
        n += 2;
        if (imap_parser_feed(p, line, n, &used) != 1)
                return;
        r = imap_parser_response(p);
        if (imap_utf7_decode(r->list.mailbox->str, r->list.mailbox->len, &name) < 0)
                return;
        printf("%s", name);
        for (const ImapArg *f = imap_arg_list_first(r->list.flags); f && f < imap_arg_next(r->list.flags);
             f = imap_arg_next(f))
                printf(" %.*s", (int) f->len, f->str);
        w = imap_response_list_selectable(r) ? cfg_account_mailbox_for(a, name, r->list.delimiter) : SIZE_MAX;
        if (w != SIZE_MAX && a->mailboxes[w].pattern)
                printf("  (watched: \"%s\")", a->mailboxes[w].name);
        else if (w != SIZE_MAX) {
                printf("  (watched)");
                named[w] = true;
        }
        printf("\n");
}

int tool_list_mailboxes(const Cfg *cfg, const char *name) {
        const CfgAccount *a = cfg_find_account(cfg, name);
        _cleanup_(imap_client_freep) ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        _cleanup_free_ bool *named = NULL;
        char *secret = NULL;
        ImapResult res = {};
        ImapClientOpts o;
        int r;

        if (!a) {
                log_error("No account '%s' in %s", name, cfg->path);
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
        };
        r = imap_client_connect(&o, &c, &msg);
        if (r < 0)
                return log_error_errno(r, "Account '%s': %s", name, msg ? msg : "cannot connect");
        if (imap_client_state(c) == IMAP_STATE_NONAUTH) {
                r = get_secret(a, &secret);
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
        r = imap_client_list(c, "", "*", &res);
        if (r < 0)
                return log_error_errno(r, "Account '%s': LIST failed: %s", name, imap_client_errmsg(c));
        named = calloc(a->n_mailboxes, sizeof(bool));
        if (!named)
                return log_error_errno(-ENOMEM, "Account '%s': %m", name);
        for (size_t i = 0; i < res.n; i++)
                if (res.data[i])
                        print_mailbox(a, res.data[i], named);
        imap_result_done(&res);
        /* A name written in the configuration that the server does not have. */
        for (size_t i = 0; i < a->n_mailboxes; i++)
                if (!a->mailboxes[i].pattern && !named[i])
                        printf("%s  (configured, but the server did not list it)\n", a->mailboxes[i].name);
        (void) imap_client_logout(c, &res);
        imap_result_done(&res);
        return 0;
}

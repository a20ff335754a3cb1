/* SPDX-License-Identifier: MIT */
/* imap-cmd.c: command building and serialization; see imap-cmd.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imap-cmd.h"

/* RFC 7888 §3: LITERAL- allows non-synchronising literals up to 4096 octets. */
#define LITERAL_MINUS_MAX 4096u

typedef struct CmdArg {
        ImapCmdArgType type;
        char *data;
        size_t len;
} CmdArg;

struct ImapCmd {
        char name[32];
        CmdArg *args;
        size_t n_args;
        const char *error;
};

int imap_cmd_new(const char *name, ImapCmd **ret) {
        _cleanup_free_ ImapCmd *c = NULL;
        size_t n;

        assert_return(name && ret, -EINVAL);
        n = strlen(name);
        if (n == 0 || n >= sizeof(c->name))
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char ch = name[i];

                if (ch >= 'a' && ch <= 'z')
                        ch = (char) (ch - 'a' + 'A');
                if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-'))
                        return -EINVAL;
                c->name[i] = ch;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

ImapCmd *imap_cmd_free(ImapCmd *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_args; i++) {
                /* Arguments may be passwords. */
                explicit_bzero_safe(c->args[i].data, c->args[i].len);
                free(c->args[i].data);
        }
        free(c->args);
        free(c);
        return NULL;
}

size_t imap_cmd_allocated(const ImapCmd *c) {
        size_t n;

        if (!c)
                return 0;
        n = sizeof(*c) + c->n_args * sizeof(CmdArg);
        for (size_t i = 0; i < c->n_args; i++)
                n += c->args[i].len + 1;
        return n;
}

static bool has_line_breakers(const char *s, size_t len) {
        return memchr(s, 0, len) || memchr(s, '\r', len) || memchr(s, '\n', len);
}

/* Bytes allowed in an ATOM argument.  Wider than RFC 3501 ATOM-CHAR on
 * purpose: sequence sets ("1:*"), flags ("\Seen") and "BODY.PEEK[]" are sent as
 * atoms.  Never: SP, CTL, DEL, 8-bit, '(' ')' '{' '"'. */
static bool is_atom_arg_char(unsigned char c) {
        return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '"';
}

int imap_cmd_add(ImapCmd *c, ImapCmdArgType type, const void *data, size_t len) {
        CmdArg *a;
        char *copy;

        assert_return(c, -EINVAL);
        assert_return(data || len == 0, -EINVAL);
        assert_return((unsigned) type < _IMAP_CMD_ARG_TYPE_MAX, -EINVAL);

        if (!IN_SET(type, IMAP_CMD_ARG_LITERAL, IMAP_CMD_ARG_UTF8_LITERAL) && has_line_breakers(data, len)) {
                c->error = "NUL, CR and LF not allowed in commands";
                return -EINVAL;
        }
        if (type == IMAP_CMD_ARG_ATOM) {
                if (len == 0) {
                        c->error = "empty atom";
                        return -EINVAL;
                }
                for (size_t i = 0; i < len; i++)
                        if (!is_atom_arg_char(((const unsigned char *) data)[i])) {
                                c->error = "not an atom";
                                return -EINVAL;
                        }
        }

        a = reallocarray(c->args, c->n_args + 1, sizeof(CmdArg));
        if (!a)
                return -ENOMEM;
        c->args = a;
        copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        if (len > 0)
                memcpy(copy, data, len);
        copy[len] = 0;
        c->args[c->n_args++] = (CmdArg) { type, copy, len };
        return 0;
}

int imap_cmd_add_str(ImapCmd *c, ImapCmdArgType type, const char *s) {
        assert_return(s, -EINVAL);
        return imap_cmd_add(c, type, s, strlen(s));
}

const char *imap_cmd_name(const ImapCmd *c) {
        return c ? c->name : NULL;
}

size_t imap_cmd_n_args(const ImapCmd *c) {
        return c ? c->n_args : 0;
}

const char *imap_cmd_arg(const ImapCmd *c, size_t i, size_t *ret_len) {
        if (!c || i >= c->n_args)
                return NULL;
        if (ret_len)
                *ret_len = c->args[i].len;
        return c->args[i].data;
}

ImapCmdArgType imap_cmd_arg_type(const ImapCmd *c, size_t i) {
        return c && i < c->n_args ? c->args[i].type : _IMAP_CMD_ARG_TYPE_MAX;
}

const char *imap_cmd_error(const ImapCmd *c) {
        return c ? c->error : NULL;
}

/* ---- serialization --------------------------------------------------------------------------- */

typedef struct Wire {
        Buf *out;
        size_t *syncs;
        size_t n_syncs;
        const ImapCmdWireOpts *opts;
} Wire;

static int put(Wire *w, const void *p, size_t n) {
        return buf_append(w->out, p, n, 0);
}

static int put_s(Wire *w, const char *s) {
        return put(w, s, strlen(s));
}

static bool has_8bit(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) s[i] >= 0x80)
                        return true;
        return false;
}

/* A literal: "{n}" CRLF, wait for "+" unless LITERAL+/- allow "{n+}", then the bytes. */
static int put_literal(Wire *w, const char *prefix, const char *data, size_t len) {
        char hdr[48];
        bool plus = w->opts->literal_plus || (w->opts->literal_minus && len <= LITERAL_MINUS_MAX);
        int r;

        (void) snprintf(hdr, sizeof(hdr), "%s{%zu%s}\r\n", prefix, len, plus ? "+" : "");
        r = put_s(w, hdr);
        if (r < 0)
                return r;
        if (!plus) {
                size_t *s = reallocarray(w->syncs, w->n_syncs + 1, sizeof(size_t));
                if (!s)
                        return -ENOMEM;
                w->syncs = s;
                w->syncs[w->n_syncs++] = w->out->len;
        }
        return put(w, data, len);
}

/* RFC 3501 §4.3 quoted string: only '"' and '\' need escaping. */
static int put_quoted(Wire *w, const char *s, size_t len) {
        int r = put_s(w, "\"");

        for (size_t i = 0; r >= 0 && i < len; i++) {
                if (s[i] == '"' || s[i] == '\\')
                        r = put_s(w, "\\");
                if (r >= 0)
                        r = put(w, s + i, 1);
        }
        return r < 0 ? r : put_s(w, "\"");
}

/* RFC 3501 §9 ASTRING-CHAR (ATOM-CHAR plus ']'); list wildcards optional. */
static bool is_astring_char(unsigned char c, bool wildcards) {
        if (c <= 0x20 || c >= 0x7f)
                return false;
        if (c == '%' || c == '*')
                return wildcards;
        return c != '(' && c != ')' && c != '{' && c != '"' && c != '\\';
}

static int put_string(Wire *w, const CmdArg *a, bool try_atom, bool wildcards) {
        bool atom = try_atom && a->len > 0;

        for (size_t i = 0; atom && i < a->len; i++)
                atom = is_astring_char((unsigned char) a->data[i], wildcards);
        if (atom)
                return put(w, a->data, a->len);
        /* 8-bit text is legal in quoted strings only after ENABLE UTF8=ACCEPT
         * (RFC 6855 §3); before, a literal carries it (RFC 3501 CHAR8). */
        if (has_8bit(a->data, a->len) && !w->opts->utf8)
                return put_literal(w, "", a->data, a->len);
        return put_quoted(w, a->data, a->len);
}

static int put_arg(Wire *w, const CmdArg *a) {
        switch (a->type) {
        case IMAP_CMD_ARG_ATOM:
                return put(w, a->data, a->len);
        case IMAP_CMD_ARG_ASTRING:
                return put_string(w, a, true, false);
        case IMAP_CMD_ARG_LIST_MAILBOX:
                return put_string(w, a, true, true);
        case IMAP_CMD_ARG_STRING:
                return put_string(w, a, false, false);
        case IMAP_CMD_ARG_FLAGS: {
                bool wrapped = a->len >= 2 && a->data[0] == '(' && a->data[a->len - 1] == ')';
                int r;

                if (has_8bit(a->data, a->len) && !w->opts->utf8)
                        return -EINVAL;
                if (wrapped)
                        return put(w, a->data, a->len);
                r = put_s(w, "(");
                if (r >= 0)
                        r = put(w, a->data, a->len);
                return r < 0 ? r : put_s(w, ")");
        }
        case IMAP_CMD_ARG_RAW:
                if (has_8bit(a->data, a->len) && !w->opts->utf8)
                        return -EINVAL;
                return put(w, a->data, a->len);
        case IMAP_CMD_ARG_LITERAL:
                return put_literal(w, "", a->data, a->len);
        case IMAP_CMD_ARG_UTF8_LITERAL: {
                int r = put_literal(w, "UTF8 (~", a->data, a->len);
                return r < 0 ? r : put_s(w, ")");
        }
        case _IMAP_CMD_ARG_TYPE_MAX:
                break;
        }
        return -EINVAL;
}

int imap_cmd_serialize(const ImapCmd *c, const char *tag, const ImapCmdWireOpts *opts, Buf *out,
                       size_t **ret_syncs, size_t *ret_n_syncs) {
        static const ImapCmdWireOpts no_opts = {};
        Wire w = { .out = out, .opts = opts ? opts : &no_opts };
        size_t start = out->len;
        int r;

        assert_return(c && tag && out && ret_syncs && ret_n_syncs, -EINVAL);

        r = put_s(&w, tag);
        if (r >= 0)
                r = put_s(&w, " ");
        if (r >= 0)
                r = put_s(&w, c->name);
        for (size_t i = 0; r >= 0 && i < c->n_args; i++) {
                r = put_s(&w, " ");
                if (r >= 0)
                        r = put_arg(&w, &c->args[i]);
        }
        if (r >= 0)
                r = put_s(&w, "\r\n");
        if (r < 0) {
                out->len = start;
                free(w.syncs);
                return r;
        }
        *ret_syncs = w.syncs;
        *ret_n_syncs = w.n_syncs;
        return 0;
}

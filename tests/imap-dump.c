/* SPDX-License-Identifier: MIT */
/*
 * imap-dump.c: canonical text form of a response; see imap-dump.h.
 *
 * Format, fields separated by one space:
 *   U|T|C  [tag:TAG]  [#N]  NAME  [[CODE values-or-raw =typed]]  [text:"..."]
 *   [args:VALUES]  [typed data]  [lits:N]
 * Values: atoms bare, NIL, "quoted", {n}"literal", ~{n}"literal8", (lists).
 * Bytes outside printable ASCII are written \xHH; '"' and '\' are escaped.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "imap-dump.h"
#include "macro.h"

typedef struct Out {
        Buf b;
        int r;
} Out;

static void put(Out *o, const char *s, size_t n) {
        if (o->r >= 0)
                o->r = buf_append(&o->b, s, n, 0);
}

static void puts_(Out *o, const char *s) {
        put(o, s, strlen(s));
}

_printf_(2, 3) static void putf(Out *o, const char *fmt, ...) {
        char tmp[128];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n > 0)
                put(o, tmp, (size_t) n < sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}

static void put_escaped(Out *o, const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '"' || c == '\\') {
                        char e[2] = { '\\', (char) c };
                        put(o, e, 2);
                } else if (c < 0x20 || c >= 0x7f)
                        putf(o, "\\x%02x", c);
                else
                        put(o, (const char *) &c, 1);
        }
}

static void put_quoted(Out *o, ImapStr s) {
        puts_(o, "\"");
        put_escaped(o, s.ptr, s.len);
        puts_(o, "\"");
}

static void put_values(Out *o, const ImapArg *a, size_t n);

static void put_value(Out *o, const ImapArg *a) {
        switch (a->type) {
        case IMAP_ARG_NIL:
                puts_(o, "NIL");
                break;
        case IMAP_ARG_ATOM:
                put_escaped(o, a->str, a->len);
                break;
        case IMAP_ARG_STRING:
                put_quoted(o, (ImapStr) { a->str, a->len });
                break;
        case IMAP_ARG_LITERAL:
        case IMAP_ARG_LITERAL8:
                putf(o, "%s{%zu}", a->type == IMAP_ARG_LITERAL8 ? "~" : "", a->len);
                put_quoted(o, (ImapStr) { a->str, a->len });
                break;
        case IMAP_ARG_LIST:
                puts_(o, "(");
                put_values(o, imap_arg_list_first(a), a->n);
                puts_(o, ")");
                break;
        case _IMAP_ARG_TYPE_MAX:
                puts_(o, "?");
                break;
        }
}

static void put_values(Out *o, const ImapArg *a, size_t n) {
        for (size_t i = 0; i < n; i++, a = imap_arg_next(a)) {
                if (i > 0)
                        puts_(o, " ");
                put_value(o, a);
        }
}

static void put_code(Out *o, const ImapCode *c) {
        puts_(o, " [");
        put(o, c->name.ptr, c->name.len);
        if (c->args) {
                puts_(o, " ");
                put_values(o, c->args, c->n_args);
        } else if (c->raw.len > 0) {
                puts_(o, " raw:");
                put_quoted(o, c->raw);
        }
        switch (c->type) {
        case IMAP_CODE_UIDNEXT:
        case IMAP_CODE_UIDVALIDITY:
        case IMAP_CODE_UNSEEN:
                putf(o, " =%" PRIu32, c->number);
                break;
        case IMAP_CODE_HIGHESTMODSEQ:
                putf(o, " =%" PRIu64, c->modseq);
                break;
        case IMAP_CODE_APPENDUID:
                putf(o, " =%" PRIu32 "/", c->appenduid.uidvalidity);
                put(o, c->appenduid.uids.ptr, c->appenduid.uids.len);
                break;
        case IMAP_CODE_COPYUID:
                putf(o, " =%" PRIu32 "/", c->copyuid.uidvalidity);
                put(o, c->copyuid.src.ptr, c->copyuid.src.len);
                puts_(o, "/");
                put(o, c->copyuid.dst.ptr, c->copyuid.dst.len);
                break;
        case IMAP_CODE_PERMANENTFLAGS:
                if (c->list)
                        putf(o, " =%" PRIu32 "flags", c->list->n);
                break;
        case IMAP_CODE_OTHER:
                puts_(o, " =other");
                break;
        default:
                break;
        }
        puts_(o, "]");
}

static void put_typed(Out *o, const ImapResponse *r) {
        switch (r->data_type) {
        case IMAP_DATA_STATUS:
                puts_(o, " mbox:");
                put_value(o, r->mbstatus.mailbox);
                for (unsigned i = 0; i < _IMAP_STATUS_ITEM_MAX; i++)
                        if (r->mbstatus.present & (1u << i))
                                putf(o, " %s=%" PRIu64, imap_status_item_to_string(i), r->mbstatus.value[i]);
                break;
        case IMAP_DATA_LIST:
        case IMAP_DATA_LSUB:
                if (r->list.delimiter)
                        putf(o, " delim:%c", r->list.delimiter);
                else
                        puts_(o, " delim:NIL");
                puts_(o, " mbox:");
                put_value(o, r->list.mailbox);
                putf(o, " nflags:%" PRIu32, r->list.flags->n);
                break;
        case IMAP_DATA_VANISHED:
                puts_(o, r->vanished.earlier ? " earlier uids:" : " uids:");
                put(o, r->vanished.uids.ptr, r->vanished.uids.len);
                break;
        case IMAP_DATA_ESEARCH:
                if (r->esearch.tag.len > 0) {
                        puts_(o, " tag:");
                        put_quoted(o, r->esearch.tag);
                }
                if (r->esearch.uid)
                        puts_(o, " uid");
                if (r->esearch.has_min)
                        putf(o, " min=%" PRIu32, r->esearch.min);
                if (r->esearch.has_max)
                        putf(o, " max=%" PRIu32, r->esearch.max);
                if (r->esearch.has_count)
                        putf(o, " count=%" PRIu32, r->esearch.count);
                if (r->esearch.has_modseq)
                        putf(o, " modseq=%" PRIu64, r->esearch.modseq);
                if (r->esearch.all.len > 0) {
                        puts_(o, " all=");
                        put(o, r->esearch.all.ptr, r->esearch.all.len);
                }
                break;
        case IMAP_DATA_SEARCH:
                putf(o, " n=%zu", r->search.n);
                if (r->search.has_modseq)
                        putf(o, " modseq=%" PRIu64, r->search.modseq);
                break;
        case IMAP_DATA_FETCH:
                putf(o, " items=%" PRIu32, r->fetch->n / 2);
                break;
        case IMAP_DATA_FLAGS:
                putf(o, " nflags=%" PRIu32, r->flags->n);
                break;
        case IMAP_DATA_NAMESPACE:
                for (unsigned i = 0; i < 3; i++)
                        putf(o, " ns%u=%s", i, r->namespaces[i]->type == IMAP_ARG_NIL ? "NIL" : "list");
                break;
        case IMAP_DATA_ID:
                puts_(o, r->id->type == IMAP_ARG_NIL ? " id=NIL" : " id=list");
                break;
        case IMAP_DATA_OTHER:
                puts_(o, " other");
                break;
        default:
                break;
        }
}

char *imap_response_dump(const ImapResponse *r) {
        Out o = { BUF_INIT, 0 };

        puts_(&o, r->kind == IMAP_RESPONSE_TAGGED ? "T" : r->kind == IMAP_RESPONSE_UNTAGGED ? "U" : "C");
        if (r->kind == IMAP_RESPONSE_TAGGED) {
                puts_(&o, " tag:");
                put_escaped(&o, r->tag.ptr, r->tag.len);
        }
        if (r->has_number)
                putf(&o, " #%" PRIu32, r->number);
        puts_(&o, " ");
        put(&o, r->name.ptr, r->name.len);
        if (r->code.type != IMAP_CODE_NONE)
                put_code(&o, &r->code);
        if (r->status != IMAP_STATUS_NONE || r->kind == IMAP_RESPONSE_CONTINUATION) {
                puts_(&o, " text:");
                put_quoted(&o, r->text);
        } else {
                puts_(&o, " args:");
                put_values(&o, r->args, r->n_args);
                put_typed(&o, r);
        }
        if (r->n_literals > 0)
                putf(&o, " lits:%zu", r->n_literals);
        /* Touch every raw byte too, so a bad raw span shows under ASan. */
        {
                volatile unsigned char sink = 0;
                for (size_t i = 0; i < r->raw.len; i++)
                        sink ^= (unsigned char) r->raw.ptr[i];
                (void) sink;
        }
        put(&o, "", 1);
        if (o.r < 0) {
                buf_done(&o.b);
                return NULL;
        }
        return o.b.data;
}

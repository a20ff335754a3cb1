/* SPDX-License-Identifier: MIT */
/*
 * imap-cmd.h: building one IMAP command: a name and typed arguments, turned
 * into wire bytes with RFC 3501 §4 quoting and literals.
 *
 * Arguments are typed so that quoting is decided here, once, the way CPython
 * imaplib does since gh-152703 (docs/ENGINE.md, "G2"): an astring goes out as
 * an atom when it can, else as a quoted string, else as a literal; raw
 * arguments (search criteria, fetch items) go out verbatim.  NUL, CR and LF
 * are refused in every argument that is not a literal (S-35, gh-143921): a
 * value cannot smuggle a second command onto the line.
 *
 * The serialized form is one byte buffer plus "sync points": offsets after
 * which the sender must wait for the server's "+" continuation before going
 * on (a synchronising literal, RFC 3501 §7.5).  With LITERAL+ (RFC 7888) the
 * literals are sent as "{n+}" and need no wait; with LITERAL- only literals of
 * at most 4096 bytes may be non-synchronising.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "macro.h"

typedef enum ImapCmdArgType {
        IMAP_CMD_ARG_ATOM,              /* must already be an atom: "FLAGS", "1:*", "+FLAGS.SILENT" */
        IMAP_CMD_ARG_ASTRING,           /* mailbox or user name: atom, quoted or literal as needed */
        IMAP_CMD_ARG_LIST_MAILBOX,      /* LIST pattern: as ASTRING but '%' and '*' stay bare */
        IMAP_CMD_ARG_STRING,            /* always a string: quoted, or literal as needed (passwords) */
        IMAP_CMD_ARG_FLAGS,             /* a parenthesised list; parentheses added unless present */
        IMAP_CMD_ARG_RAW,               /* verbatim (search criteria, fetch items, STATUS items) */
        IMAP_CMD_ARG_LITERAL,           /* always a literal "{n}" (APPEND message) */
        IMAP_CMD_ARG_UTF8_LITERAL,      /* RFC 6855 §4: "UTF8 (~{n}" message ")" */
        _IMAP_CMD_ARG_TYPE_MAX,
} ImapCmdArgType;

typedef struct ImapCmd ImapCmd;

typedef struct ImapCmdWireOpts {
        bool utf8;              /* ENABLE UTF8=ACCEPT is in effect: 8-bit text may be quoted */
        bool literal_plus;      /* server advertised LITERAL+ */
        bool literal_minus;     /* server advertised LITERAL- */
} ImapCmdWireOpts;

/* Create a command.  'name' is upper-cased and must be an atom of letters,
 * digits and '-' (the command table decides whether it is allowed).
 * Returns 0, -EINVAL, -ENOMEM. */
int imap_cmd_new(const char *name, ImapCmd **ret);
ImapCmd *imap_cmd_free(ImapCmd *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImapCmd *, imap_cmd_free);
/* Bytes c holds allocated (not malloc's own overhead); 0 for NULL. */
size_t imap_cmd_allocated(const ImapCmd *c);

/* Append an argument; the bytes are copied.  Returns -EINVAL (with a reason
 * from imap_cmd_error()) when the value cannot be sent as that type: NUL/CR/LF
 * outside a literal, a non-atom as ATOM, an empty ATOM. */
int imap_cmd_add(ImapCmd *c, ImapCmdArgType type, const void *data, size_t len);
int imap_cmd_add_str(ImapCmd *c, ImapCmdArgType type, const char *s);

const char *imap_cmd_name(const ImapCmd *c);
size_t imap_cmd_n_args(const ImapCmd *c);
/* The i-th argument's bytes as given (not as serialized). */
const char *imap_cmd_arg(const ImapCmd *c, size_t i, size_t *ret_len);
ImapCmdArgType imap_cmd_arg_type(const ImapCmd *c, size_t i);
/* Why the last imap_cmd_add() failed. */
const char *imap_cmd_error(const ImapCmd *c);

/* Serialize "tag SP name args CRLF" into out (appended).  Sync points, the
 * offsets in out after which a "+" must be awaited, are appended to
 * ret_syncs (a malloc'ed array the caller frees) and counted in *ret_n_syncs.
 * Returns 0, -EINVAL (8-bit text in a non-literal argument outside UTF-8
 * mode, where no quoting can carry it), -ENOMEM. */
int imap_cmd_serialize(const ImapCmd *c, const char *tag, const ImapCmdWireOpts *opts, Buf *out,
                       size_t **ret_syncs, size_t *ret_n_syncs);

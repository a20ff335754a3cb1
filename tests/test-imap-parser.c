/* SPDX-License-Identifier: MIT */
/*
 * test-imap-parser.c: the response parser against tables of valid and invalid
 * responses (RFC 3501/9051 examples, docs/ENGINE.md scenarios, docs/SECURITY.md F and G
 * groups), each fed whole, byte by byte and at pseudo-random split points,
 * which must all agree; plus every limit at and one past its boundary.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "imap-date.h"
#include "imap-dump.h"
#include "imap-parser.h"
#include "macro.h"
#include "th.h"

typedef enum Chunking {
        CHUNK_WHOLE,
        CHUNK_BYTES,
        CHUNK_RANDOM,
} Chunking;

static void out_add(Buf *out, const char *s) {
        if (out->len > 0)
                ck_assert_int_eq(buf_append(out, "\n", 1, 0), 0);
        ck_assert_int_eq(buf_append(out, s, strlen(s), 0), 0);
}

/* Parse all of in[0, n) cut into pieces; return the dumps of every response,
 * one per line, then "ERR <errno>" if parsing failed or "PARTIAL" if a
 * response was left incomplete.  Caller frees. */
static char *parse_stream(const ImapLimits *lim, const char *in, size_t n, Chunking mode, uint64_t seed) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        Buf out = BUF_INIT;
        size_t pos = 0;
        uint64_t st = seed | 1;

        ck_assert_int_eq(imap_parser_new(lim, &p), 0);
        while (pos < n) {
                size_t len = n - pos;

                if (mode == CHUNK_BYTES)
                        len = 1;
                else if (mode == CHUNK_RANDOM)
                        len = MIN(len, 1 + th_rand(&st) % (n / 4 + 2));
                pos += len;
                while (len > 0) {
                        const char *ptr = in + pos - len;
                        size_t used = SIZE_MAX;
                        int r = imap_parser_feed(p, ptr, len, &used);

                        if (r < 0) {
                                char e[32];
                                ck_assert_ptr_nonnull(imap_parser_error(p));
                                snprintf(e, sizeof(e), "ERR %d", -r);
                                out_add(&out, e);
                                /* Errors are sticky. */
                                ck_assert_int_eq(imap_parser_feed(p, "* OK\r\n", 6, &used), r);
                                ck_assert_uint_eq(used, 0);
                                return out.data;
                        }
                        ck_assert_uint_le(used, len);
                        if (r == 0) {
                                ck_assert_uint_eq(used, len);
                                ck_assert_ptr_null(imap_parser_response(p));
                        } else {
                                _cleanup_free_ char *d = NULL;
                                const ImapResponse *resp = imap_parser_response(p);

                                ck_assert_int_eq(r, 1);
                                ck_assert_ptr_nonnull(resp);
                                ck_assert(!imap_parser_in_response(p));
                                d = imap_response_dump(resp);
                                ck_assert_ptr_nonnull(d);
                                out_add(&out, d);
                        }
                        len -= used;
                }
        }
        if (imap_parser_in_response(p))
                out_add(&out, "PARTIAL");
        if (!out.data)
                out_add(&out, "");
        return out.data;
}

typedef struct Case {
        const char *in;
        size_t len;             /* 0: strlen(in) */
        const char *want;
} Case;

#define C(i, w) { i, sizeof(i) - 1, w }

/* Valid responses and what they parse to. */
static const Case valid[] = {
        /* Greetings and status responses (RFC 3501 §7.1). */
        C("* OK IMAP4rev1 Service Ready\r\n", "U OK text:\"IMAP4rev1 Service Ready\""),
        C("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] ready\r\n",
          "U PREAUTH [CAPABILITY IMAP4rev1 IDLE] text:\"ready\""),
        C("* BYE Autologout; idle for too long\r\n", "U BYE text:\"Autologout; idle for too long\""),
        C("* OK\r\n", "U OK text:\"\""),
        C("* NO\r\n", "U NO text:\"\""),
        C("* ok lower case\r\n", "U OK text:\"lower case\""),
        C("A001 OK LOGIN completed\r\n", "T tag:A001 OK text:\"LOGIN completed\""),
        C("a2 BAD\r\n", "T tag:a2 BAD text:\"\""),
        C("KDMF12 no [AUTHENTICATIONFAILED] Authentication failed.\r\n",
          "T tag:KDMF12 NO [AUTHENTICATIONFAILED =other] text:\"Authentication failed.\""),
        C("* OK Don't \"quote\" (me {5}\r\n", "U OK text:\"Don't \\\"quote\\\" (me {5}\""),
        C("* OK \xc3\xa4 8-bit text\r\n", "U OK text:\"\\xc3\\xa4 8-bit text\""),
        /* Continuations (RFC 3501 §7.5). */
        C("+ idling\r\n", "C + text:\"idling\""),
        C("+\r\n", "C + text:\"\""),
        C("+ \r\n", "C + text:\"\""),
        C("+ YmFzZTY0\r\n", "C + text:\"YmFzZTY0\""),
        /* Response codes. */
        C("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
          "U OK [UIDVALIDITY 3857529045 =3857529045] text:\"UIDs valid\""),
        C("* OK [UIDNEXT 4392] Predicted next UID\r\n", "U OK [UIDNEXT 4392 =4392] text:\"Predicted next UID\""),
        C("* OK [UNSEEN 12] Message 12 is first unseen\r\n",
          "U OK [UNSEEN 12 =12] text:\"Message 12 is first unseen\""),
        C("* OK [UIDNEXT 5] see [x]\r\n", "U OK [UIDNEXT 5 =5] text:\"see [x]\""),
        C("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
          "U OK [PERMANENTFLAGS (\\\\Deleted \\\\Seen \\\\*) =3flags] text:\"Limited\""),
        C("* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n",
          "U OK [PERMANENTFLAGS () =0flags] text:\"No permanent flags permitted\""),
        C("* OK [PERMANENTFLAGS (\\Answered [test])] ok\r\n",
          "U OK [PERMANENTFLAGS (\\\\Answered [test]) =2flags] text:\"ok\""),
        /* CPython's test_bracket_flags server: no parenthesis, ']' in a flag. */
        C("* OK [PERMANENTFLAGS Answered \\Flagged \\[test] \\*)] Flags permitted.\r\n",
          "U OK [PERMANENTFLAGS raw:\"Answered \\\\Flagged \\\\[test] \\\\*)\"] text:\"Flags permitted.\""),
        C("* OK [HIGHESTMODSEQ 715194045007]\r\n", "U OK [HIGHESTMODSEQ 715194045007 =715194045007] text:\"\""),
        C("* OK [HIGHESTMODSEQ 9223372036854775807] max\r\n",
          "U OK [HIGHESTMODSEQ 9223372036854775807 =9223372036854775807] text:\"max\""),
        C("* OK [NOMODSEQ] Sorry, this mailbox format doesn't support modsequences\r\n",
          "U OK [NOMODSEQ] text:\"Sorry, this mailbox format doesn't support modsequences\""),
        C("A3 OK [READ-WRITE] SELECT completed\r\n", "T tag:A3 OK [READ-WRITE] text:\"SELECT completed\""),
        C("A4 OK [READ-ONLY] EXAMINE completed\r\n", "T tag:A4 OK [READ-ONLY] text:\"EXAMINE completed\""),
        C("A5 NO [TRYCREATE] Mailbox doesn't exist\r\n", "T tag:A5 NO [TRYCREATE] text:\"Mailbox doesn't exist\""),
        C("A6 OK [APPENDUID 38505 3955] APPEND completed\r\n",
          "T tag:A6 OK [APPENDUID 38505 3955 =38505/3955] text:\"APPEND completed\""),
        C("A7 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
          "T tag:A7 OK [COPYUID 38505 304,319:320 3956:3958 =38505/304,319:320/3956:3958] text:\"Done\""),
        C("* OK [ALERT] System shutdown in 10 minutes\r\n", "U OK [ALERT] text:\"System shutdown in 10 minutes\""),
        C("* OK [ALERT]\r\n", "U OK [ALERT] text:\"\""),
        C("* OK [CLOSED] Previous mailbox closed\r\n", "U OK [CLOSED] text:\"Previous mailbox closed\""),
        C("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n",
          "U OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] text:\"Dovecot ready.\""),
        C("* NO [X-UNKNOWN some (odd \"args] text\r\n",
          "U NO [X-UNKNOWN raw:\"some (odd \\\"args\" =other] text:\"text\""),
        C("* BAD [PARSE] x\r\n", "U BAD [PARSE =other] text:\"x\""),
        C("* OK [WEBALERT https://example.org/x?y=1] go\r\n",
          "U OK [WEBALERT raw:\"https://example.org/x?y=1\" =other] text:\"go\""),
        /* Message data (RFC 3501 §7.3, §7.4). */
        C("* 23 EXISTS\r\n", "U #23 EXISTS args:"),
        C("* 0 EXISTS\r\n", "U #0 EXISTS args:"),
        C("* 4294967295 EXISTS\r\n", "U #4294967295 EXISTS args:"),
        C("* 3 exists\r\n", "U #3 EXISTS args:"),
        C("* 5 RECENT\r\n", "U #5 RECENT args:"),
        C("* 44 EXPUNGE\r\n", "U #44 EXPUNGE args:"),
        /* RFC 3501 §9: EXISTS and RECENT take number = 1*DIGIT, so leading zeros are
         * grammatical there (only nz-number forbids them; see "invalid"). */
        C("* 00 EXISTS\r\n", "U #0 EXISTS args:"),
        C("* 007 EXISTS\r\n", "U #7 EXISTS args:"),
        C("* 01 RECENT\r\n", "U #1 RECENT args:"),
        C("* 10 EXPUNGE\r\n", "U #10 EXPUNGE args:"),
        /* STATUS values are number (RFC 3501 status-att-list), mod-sequences 1*DIGIT (RFC 7162 §7). */
        C("* STATUS x (MESSAGES 007)\r\n", "U STATUS args:x (MESSAGES 007) mbox:x MESSAGES=7"),
        C("* OK [HIGHESTMODSEQ 0042] x\r\n", "U OK [HIGHESTMODSEQ 0042 =42] text:\"x\""),
        C("* 12 FETCH (FLAGS (\\Seen \\Answered) UID 42)\r\n",
          "U #12 FETCH args:(FLAGS (\\\\Seen \\\\Answered) UID 42) items=2"),
        C("* 1 FETCH (UID 1 MODSEQ (12345))\r\n", "U #1 FETCH args:(UID 1 MODSEQ (12345)) items=2"),
        C("* 12 FETCH (INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286)\r\n",
          "U #12 FETCH args:(INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286) items=2"),
        /* docs/ENGINE.md X-15: two literals in one response. */
        C("* 1 FETCH (BODY[1] {3}\r\nabc BODY[2] {2}\r\nde)\r\n",
          "U #1 FETCH args:(BODY[1] {3}\"abc\" BODY[2] {2}\"de\") items=2 lits:2"),
        C("* 1 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] {13}\r\nFrom: a@b\r\n\r\n UID 7)\r\n",
          "U #1 FETCH args:(BODY[HEADER.FIELDS (FROM SUBJECT)] {13}\"From: a@b\\x0d\\x0a\\x0d\\x0a\" UID 7) items=2 lits:1"),
        C("* 1 FETCH (BODY[]<0> {5}\r\nhello)\r\n", "U #1 FETCH args:(BODY[]<0> {5}\"hello\") items=1 lits:1"),
        /* F04: {0} is an ordinary literal. */
        C("* 1 FETCH (BODY[] {0}\r\n)\r\n", "U #1 FETCH args:(BODY[] {0}\"\") items=1 lits:1"),
        /* F09: protocol lookalikes inside a literal are data. */
        C("* 1 FETCH (BODY[] {43}\r\n\r\na5 OK FETCH completed\r\n* BYE x\r\n+ go\r\n)\r\n)\r\n",
          "U #1 FETCH args:(BODY[] {43}\"\\x0d\\x0aa5 OK FETCH completed\\x0d\\x0a* BYE x\\x0d\\x0a+ go\\x0d\\x0a)\\x0d\\x0a\") items=1 lits:1"),
        /* F11: literal8 may carry NUL. */
        C("* 1 FETCH (BINARY[1] ~{4}\r\na\0bc)\r\n", "U #1 FETCH args:(BINARY[1] ~{4}\"a\\x00bc\") items=1 lits:1"),
        /* gh-88574: an empty line after a literal inside a list is skipped. */
        C("* 1 FETCH (BODY[] {3}\r\nabc\r\n)\r\n", "U #1 FETCH args:(BODY[] {3}\"abc\") items=1 lits:1"),
        /* RFC 3501 body-type-mpart: lists glued without a space. */
        C("* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)"
          "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 4554 73) \"MIXED\"))\r\n",
          "U #1 FETCH args:(BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23) "
          "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 4554 73) \"MIXED\")) items=1"),
        C("* 2 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700\" \"a \\\"b\\\" \\\\ c\" NIL NIL NIL NIL NIL NIL NIL \"<x@y>\"))\r\n",
          "U #2 FETCH args:(ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700\" \"a \\\"b\\\" \\\\ c\" NIL NIL NIL NIL NIL NIL NIL \"<x@y>\")) items=1"),
        /* RFC 7162 VANISHED. */
        C("* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n",
          "U VANISHED args:(EARLIER) 41,43:116,118,120:211,214:540 earlier uids:41,43:116,118,120:211,214:540"),
        C("* VANISHED 405,407,410,425\r\n", "U VANISHED args:405,407,410,425 uids:405,407,410,425"),
        /* Mailbox data (RFC 3501 §7.2). */
        C("* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n",
          "U STATUS args:blurdybloop (MESSAGES 231 UIDNEXT 44292) mbox:blurdybloop MESSAGES=231 UIDNEXT=44292"),
        C("* STATUS \"my box\" (MESSAGES 3 RECENT 0 UIDVALIDITY 1 UNSEEN 0 DELETED 2 SIZE 9007199254740993 HIGHESTMODSEQ 7 X-FOO (a))\r\n",
          "U STATUS args:\"my box\" (MESSAGES 3 RECENT 0 UIDVALIDITY 1 UNSEEN 0 DELETED 2 SIZE 9007199254740993 HIGHESTMODSEQ 7 X-FOO (a)) "
          "mbox:\"my box\" MESSAGES=3 RECENT=0 UIDVALIDITY=1 UNSEEN=0 DELETED=2 SIZE=9007199254740993 HIGHESTMODSEQ=7"),
        /* docs/SECURITY.md G09: libetpan's NULL dereference. */
        C("* STATUS \"RUU\" ()\r\n", "U STATUS args:\"RUU\" () mbox:\"RUU\""),
        /* F12: a mailbox name as a literal. */
        C("* STATUS {5}\r\nhello (MESSAGES 1)\r\n", "U STATUS args:{5}\"hello\" (MESSAGES 1) mbox:{5}\"hello\" MESSAGES=1 lits:1"),
        C("* LIST (\\HasNoChildren) \"/\" INBOX\r\n",
          "U LIST args:(\\\\HasNoChildren) \"/\" INBOX delim:/ mbox:INBOX nflags:1"),
        C("* LIST (\\Noselect \\HasChildren) \".\" \"Lists.dev\"\r\n",
          "U LIST args:(\\\\Noselect \\\\HasChildren) \".\" \"Lists.dev\" delim:. mbox:\"Lists.dev\" nflags:2"),
        C("* LIST () NIL foo\r\n", "U LIST args:() NIL foo delim:NIL mbox:foo nflags:0"),
        C("* LIST () \"/\" [Gmail]/Sent\r\n", "U LIST args:() \"/\" [Gmail]/Sent delim:/ mbox:[Gmail]/Sent nflags:0"),
        C("* LIST (\\Subscribed) \"\\\\\" {5}\r\nfoo\"\\\r\n",
          "U LIST args:(\\\\Subscribed) \"\\\\\" {5}\"foo\\\"\\\\\" delim:\\ mbox:{5}\"foo\\\"\\\\\" nflags:1 lits:1"),
        C("* LIST () \"/\" \"INBOX\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
          "U LIST args:() \"/\" \"INBOX\" (\"CHILDINFO\" (\"SUBSCRIBED\")) delim:/ mbox:\"INBOX\" nflags:0"),
        C("* LSUB () \"/\" \"a \\\"q\\\"\"\r\n", "U LSUB args:() \"/\" \"a \\\"q\\\"\" delim:/ mbox:\"a \\\"q\\\"\" nflags:0"),
        C("* SEARCH 2 84 882\r\n", "U SEARCH args:2 84 882 n=3"),
        C("* SEARCH\r\n", "U SEARCH args: n=0"),
        /* Extra and trailing spaces are tolerated. */
        C("* SEARCH 1  2 \r\n", "U SEARCH args:1 2 n=2"),
        C("* SEARCH 1 2 (MODSEQ 917162500)\r\n", "U SEARCH args:1 2 (MODSEQ 917162500) n=2 modseq=917162500"),
        C("* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800 COUNT 15 ALL 7,9:12\r\n",
          "U ESEARCH args:(TAG \"A285\") UID MIN 7 MAX 3800 COUNT 15 ALL 7,9:12 tag:\"A285\" uid min=7 max=3800 count=15 all=7,9:12"),
        C("* ESEARCH (TAG \"a\") COUNT 0\r\n", "U ESEARCH args:(TAG \"a\") COUNT 0 tag:\"a\" count=0"),
        C("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
          "U FLAGS args:(\\\\Answered \\\\Flagged \\\\Deleted \\\\Seen \\\\Draft) nflags=5"),
        C("* FLAGS ()\r\n", "U FLAGS args:() nflags=0"),
        C("* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n",
          "U CAPABILITY args:IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED"),
        C("* CAPABILITY\r\n", "U CAPABILITY args:"),
        C("* ENABLED CONDSTORE QRESYNC\r\n", "U ENABLED args:CONDSTORE QRESYNC"),
        C("* NAMESPACE ((\"\" \"/\")) NIL ((\"Public Folders/\" \"/\"))\r\n",
          "U NAMESPACE args:((\"\" \"/\")) NIL ((\"Public Folders/\" \"/\")) ns0=list ns1=NIL ns2=list"),
        C("* NAMESPACE ((\"\" NIL \"X-EXT\" (\"a\"))) NIL NIL\r\n",
          "U NAMESPACE args:((\"\" NIL \"X-EXT\" (\"a\"))) NIL NIL ns0=list ns1=NIL ns2=NIL"),
        C("* ID (\"name\" \"Dovecot\" \"version\" NIL)\r\n", "U ID args:(\"name\" \"Dovecot\" \"version\" NIL) id=list"),
        C("* ID NIL\r\n", "U ID args:NIL id=NIL"),
        /* Unknown responses: a generic value list, literals framed (G11). */
        C("* XYZZY foo \"bar\" (1 2) nil NIL \"NIL\"\r\n", "U XYZZY args:foo \"bar\" (1 2) NIL NIL \"NIL\" other"),
        C("* 5 XFOO (a {3}\r\nabc)\r\n", "U #5 XFOO args:(a {3}\"abc\") other lits:1"),
        /* F10: "{50}" inside a quoted string is not a literal. */
        C("* XFAKE (\"fake {50}\" x) {3}\r\nabc\r\n", "U XFAKE args:(\"fake {50}\" x) {3}\"abc\" other lits:1"),
        C("* XQ \"a\\\\b\\\"c\" \"\" \"Gr\xc3\xbc\xc3\x9f\"\r\n", "U XQ args:\"a\\\\b\\\"c\" \"\" \"Gr\\xc3\\xbc\\xc3\\x9f\" other"),
        C("* XEMPTY\r\n", "U XEMPTY args: other"),
        C("* XATOMS ~/Mail a]b \\* 100% x.y-z_1\r\n", "U XATOMS args:~/Mail a]b \\\\* 100% x.y-z_1 other"),
        /* Empty lines between responses are skipped (imaplib G2). */
        C("\r\n\r\n* OK a\r\n", "U OK text:\"a\""),
        /* Several responses in one buffer. */
        C("* 2 EXISTS\r\n* 1 RECENT\r\n+ idling\r\nA1 OK done\r\n",
          "U #2 EXISTS args:\nU #1 RECENT args:\nC + text:\"idling\"\nT tag:A1 OK text:\"done\""),
        /* Incomplete input is not an error. */
        C("* 1 FETCH (BODY[] {5}\r\nab", "PARTIAL"),
        C("* OK hello", "PARTIAL"),
        C("* 2 EXISTS\r\n* 3 EX", "U #2 EXISTS args:\nPARTIAL"),
};

/* Malformed responses: "ERR <errno>" after whatever came before. */
static const Case invalid[] = {
        /* G03 and S-07: line terminators. */
        C("* OK hi\n", "ERR 74"),
        C("* CAPABILITY IMAP4rev1 AUTH\n", "ERR 74"),
        C("* OK h\ri\r\n", "ERR 74"),
        C("* OK hi\r\r\n", "ERR 74"),
        C("\n", "ERR 74"),
        C("* OK h\0i\r\n", "ERR 74"),
        C("* XQ \"a\0b\"\r\n", "ERR 74"),
        /* Response shapes. */
        C("*OK\r\n", "ERR 74"),
        C("* \r\n", "ERR 74"),
        C("*\r\n", "ERR 74"),
        C("* [OK]\r\n", "ERR 74"),
        C("A1\r\n", "ERR 74"),
        C("A1 \r\n", "ERR 74"),
        C("A1 FOO bar\r\n", "ERR 74"),
        C("A1 BYE bar\r\n", "ERR 74"),
        C("A1 PREAUTH bar\r\n", "ERR 74"),
        C("A+1 OK bar\r\n", "ERR 74"),
        C("(A1 OK bar\r\n", "ERR 74"),
        C("+x\r\n", "ERR 74"),
        C("* OK[ALERT] x\r\n", "ERR 74"),
        /* G07: numbers. */
        C("* 4294967296 EXISTS\r\n", "ERR 74"),
        C("* 18446744073709551616 EXISTS\r\n", "ERR 74"),
        C("* -1 EXISTS\r\n", "ERR 74"),
        C("* 1e6 EXISTS\r\n", "ERR 74"),
        C("* 0 FETCH (UID 1)\r\n", "ERR 74"),
        C("* 0 EXPUNGE\r\n", "ERR 74"),
        /* RFC 3501 §9: nz-number = digit-nz *DIGIT, no leading zero, like the literal count
         * "{0005}" above: message numbers of EXPUNGE and FETCH, UIDs, seq-numbers. */
        C("* 01 EXPUNGE\r\n", "ERR 74"),
        C("* 00 EXPUNGE\r\n", "ERR 74"),
        C("* 0010 EXPUNGE\r\n", "ERR 74"),
        C("* 01 FETCH (FLAGS ())\r\n", "ERR 74"),
        C("* 00 FETCH (FLAGS ())\r\n", "ERR 74"),
        C("* OK [UIDNEXT 01] x\r\n", "ERR 74"),
        C("* OK [UIDVALIDITY 007] x\r\n", "ERR 74"),
        C("* OK [UNSEEN 01] x\r\n", "ERR 74"),
        C("* OK [APPENDUID 01 2] x\r\n", "ERR 74"),
        C("* OK [APPENDUID 1 02] x\r\n", "ERR 74"),
        C("* OK [COPYUID 1 1:02 3] x\r\n", "ERR 74"),
        C("* SEARCH 1 02\r\n", "ERR 74"),
        C("* ESEARCH MIN 01\r\n", "ERR 74"),
        C("* ESEARCH MAX 01\r\n", "ERR 74"),
        C("* ESEARCH ALL 1:05\r\n", "ERR 74"),
        C("* VANISHED 1,02\r\n", "ERR 74"),
        C("* EXISTS\r\n", "ERR 74"),
        C("* 3 EXISTS x\r\n", "ERR 74"),
        C("* 5 FLAGS (\\Seen)\r\n", "ERR 74"),
        C("* 5 OK hi\r\n", "ERR 74"),
        C("* 5 FETCH UID 1\r\n", "ERR 74"),
        C("* 5 FETCH (UID)\r\n", "ERR 74"),
        C("* 5 FETCH ((UID) 1)\r\n", "ERR 74"),
        C("* 5 FETCH (UID 1) (FLAGS ())\r\n", "ERR 74"),
        /* F03: malformed literal counts. */
        C("* 1 FETCH (BODY[] {}\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {-1}\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] { 5}\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {5 }\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {+5}\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {5+}\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {0x10}\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {1e3}\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {0005}\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] ~5}\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {5} x\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {5\r\n", "ERR 74"),
        C("* X a{3}\r\nabc\r\n", "ERR 74"),
        C("* OK [CAPABILITY {3}\r\nabc]\r\n", "ERR 74"),
        /* F01/F02/F07: over the literal limit, refused at the marker. */
        C("* 1 FETCH (BODY[] {18446744073709551615}\r\n", "ERR 90"),
        C("* 1 FETCH (BODY[] {9223372036854775808}\r\n", "ERR 90"),
        C("* 1 FETCH (BODY[] {4294967296}\r\n", "ERR 90"),
        C("* 1 FETCH (BODY[] {4294967295}\r\n", "ERR 90"),
        C("* 1 FETCH (BODY[] {2147483648}\r\n", "ERR 90"),
        C("* 1 FETCH (BODY[] {600000000}\r\n", "ERR 90"),
        C("* 1 FETCH (BODY[] ~{8388609}\r\n", "ERR 90"),
        /* G05: unbalanced lists. */
        C("* X (a\r\n", "ERR 74"),
        C("* X a)\r\n", "ERR 74"),
        C("* X ( ( )\r\n", "ERR 74"),
        C("* X ((a) b))\r\n", "ERR 74"),
        C("* 1 FETCH (BODY[] {3}\r\nabc\r\n* OK\r\n", "ERR 74"),
        /* G06: quoted strings. */
        C("* X \"abc\r\n", "ERR 74"),
        C("* X \"abc\\\r\n", "ERR 74"),
        C("* X \"a\\x\"\r\n", "ERR 74"),
        /* Values glued together; G12 commas. */
        C("* X \"a\"\"b\"\r\n", "ERR 74"),
        C("* X \"a\"b\r\n", "ERR 74"),
        C("* X a\"b\"\r\n", "ERR 74"),
        C("* X a(b)\r\n", "ERR 74"),
        C("* ID (\"name\", \"test\")\r\n", "ERR 74"),
        C("* X BODY[HEADER\r\n", "ERR 74"),
        /* Response codes. */
        C("* OK [] x\r\n", "ERR 74"),
        C("* OK [UIDNEXT abc] x\r\n", "ERR 74"),
        C("* OK [UIDNEXT 0] x\r\n", "ERR 74"),
        C("* OK [UIDNEXT 4294967296] x\r\n", "ERR 74"),
        C("* OK [UIDNEXT] x\r\n", "ERR 74"),
        C("* OK [UIDNEXT 1 2] x\r\n", "ERR 74"),
        C("* OK [UIDNEXT 5 x\r\n", "ERR 74"),
        C("* OK [UIDVALIDITY \"5\"] x\r\n", "ERR 74"),
        C("* OK [ALERT x\r\n", "ERR 74"),
        C("* OK [UIDNEXT (5] x\r\n", "ERR 74"),
        C("* OK [HIGHESTMODSEQ 9223372036854775808] x\r\n", "ERR 74"),
        C("* OK [HIGHESTMODSEQ -1] x\r\n", "ERR 74"),
        C("* OK [APPENDUID 1 2,] x\r\n", "ERR 74"),
        C("* OK [APPENDUID 0 2] x\r\n", "ERR 74"),
        C("* OK [COPYUID 1 1:* 2] x\r\n", "ERR 74"),
        C("* OK [COPYUID 1 2] x\r\n", "ERR 74"),
        C("* OK [CAPABILITY] x\r\n", "ERR 74"),
        C("* OK [CAPABILITY (IMAP4rev1)] x\r\n", "ERR 74"),
        C("* OK [PERMANENTFLAGS (\\Seen \"x\")] x\r\n", "ERR 74"),
        C("* OK [PERMANENTFLAGS (\\Seen] x\r\n", "ERR 74"),
        C("* OK [PERMANENTFLAGS Answered x\r\n", "ERR 74"),
        C("* OK [A^B] x\r\n", "ERR 74"),
        /* Typed data. */
        C("* STATUS INBOX\r\n", "ERR 74"),
        C("* STATUS INBOX (MESSAGES)\r\n", "ERR 74"),
        C("* STATUS INBOX (MESSAGES x)\r\n", "ERR 74"),
        C("* STATUS INBOX (MESSAGES 4294967296)\r\n", "ERR 74"),
        C("* STATUS INBOX (SIZE 9223372036854775808)\r\n", "ERR 74"),
        C("* STATUS (a) (MESSAGES 1)\r\n", "ERR 74"),
        C("* STATUS NIL (MESSAGES 1)\r\n", "ERR 74"),
        C("* LIST () \"//\" x\r\n", "ERR 74"),
        C("* LIST () \"\" x\r\n", "ERR 74"),
        C("* LIST (\\a \"b\") \"/\" x\r\n", "ERR 74"),
        C("* LIST () \"/\"\r\n", "ERR 74"),
        C("* LIST () \"/\" NIL\r\n", "ERR 74"),
        C("* LIST () \"/\" x y\r\n", "ERR 74"),
        C("* SEARCH 0\r\n", "ERR 74"),
        C("* SEARCH abc\r\n", "ERR 74"),
        C("* SEARCH 1 (MODSEQ)\r\n", "ERR 74"),
        C("* SEARCH (MODSEQ 1) 2\r\n", "ERR 74"),
        C("* ESEARCH MIN 0\r\n", "ERR 74"),
        C("* ESEARCH COUNT\r\n", "ERR 74"),
        C("* ESEARCH ALL 1,\r\n", "ERR 74"),
        C("* ESEARCH (TAG) MIN 1\r\n", "ERR 74"),
        C("* VANISHED 1,2,\r\n", "ERR 74"),
        C("* VANISHED 1:*\r\n", "ERR 74"),
        C("* VANISHED (LATER) 1\r\n", "ERR 74"),
        C("* VANISHED\r\n", "ERR 74"),
        C("* FLAGS \\Seen\r\n", "ERR 74"),
        C("* FLAGS (\"x\")\r\n", "ERR 74"),
        C("* CAPABILITY \"IMAP4rev1\"\r\n", "ERR 74"),
        C("* NAMESPACE NIL NIL\r\n", "ERR 74"),
        C("* NAMESPACE ((\"\")) NIL NIL\r\n", "ERR 74"),
        C("* NAMESPACE (\"x\") NIL NIL\r\n", "ERR 74"),
        C("* NAMESPACE () NIL NIL\r\n", "ERR 74"),
        C("* ID (\"a\")\r\n", "ERR 74"),
        C("* ID \"a\"\r\n", "ERR 74"),
        C("* ID ((\"a\") \"b\")\r\n", "ERR 74"),
        /* After a good response, the bad one still fails. */
        C("* 1 EXISTS\r\n* OK hi\n", "U #1 EXISTS args:\nERR 74"),
};

static void check_case(const Case *c, const char *kind, size_t idx) {
        _cleanup_free_ char *whole = parse_stream(NULL, c->in, c->len, CHUNK_WHOLE, 0);
        _cleanup_free_ char *bytes = parse_stream(NULL, c->in, c->len, CHUNK_BYTES, 0);

        ck_assert_msg(strcmp(whole, c->want) == 0, "%s[%zu]: got\n  %s\nwant\n  %s", kind, idx, whole, c->want);
        ck_assert_msg(strcmp(bytes, whole) == 0, "%s[%zu] byte by byte: %s", kind, idx, bytes);
        for (uint64_t seed = 1; seed <= 24; seed++) {
                _cleanup_free_ char *rnd = parse_stream(NULL, c->in, c->len, CHUNK_RANDOM, seed * 7919);
                ck_assert_msg(strcmp(rnd, whole) == 0, "%s[%zu] seed %llu: %s", kind, idx,
                              (unsigned long long) seed, rnd);
        }
}

START_TEST(test_valid) {
        check_case(&valid[_i], "valid", (size_t) _i);
}
END_TEST

START_TEST(test_invalid) {
        check_case(&invalid[_i], "invalid", (size_t) _i);
}
END_TEST

/* ---- limits: each one exactly at, and one past, its boundary ---------------------------------- */

static char *parse_with(const ImapLimits *lim, const char *in, size_t n) {
        _cleanup_free_ char *whole = parse_stream(lim, in, n, CHUNK_WHOLE, 0);
        _cleanup_free_ char *bytes = parse_stream(lim, in, n, CHUNK_BYTES, 0);

        ck_assert_str_eq(whole, bytes);
        return TAKE_PTR(whole);
}

/* A line of exactly 'len' bytes, CRLF included: "* OK xxx...\r\n". */
static char *line_of(size_t len) {
        char *s = malloc(len + 1);

        ck_assert_ptr_nonnull(s);
        memcpy(s, "* OK ", 5);
        memset(s + 5, 'x', len - 7);
        memcpy(s + len - 2, "\r\n", 3);
        return s;
}

START_TEST(test_limit_line) {
        ImapLimits lim = { .max_line = 20 };
        _cleanup_free_ char *at = line_of(20), *past = line_of(21);
        _cleanup_free_ char *a = parse_with(&lim, at, 20), *b = parse_with(&lim, past, 21);

        ck_assert_str_eq(a, "U OK text:\"xxxxxxxxxxxxx\"");
        ck_assert_str_eq(b, "ERR 90");

        /* S-08: MAXLINE 10 and "* OK xxxxxxxxxxx\r\n". */
        lim.max_line = 10;
        free(b);
        b = parse_with(&lim, "* OK xxxxxxxxxxx\r\n", 18);
        ck_assert_str_eq(b, "ERR 90");
}
END_TEST

START_TEST(test_limit_line_before_lf) {
        /* G01: the cap fires while the line is still arriving, with no CRLF. */
        ImapLimits lim = { .max_line = 100 };
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        char junk[64];
        size_t used, total = 0;
        int r = 0;

        memset(junk, 'A', sizeof(junk));
        ck_assert_int_eq(imap_parser_new(&lim, &p), 0);
        while (total < 1000 && (r = imap_parser_feed(p, junk, sizeof(junk), &used)) == 0)
                total += used;
        ck_assert_int_eq(r, -EMSGSIZE);
        ck_assert_uint_le(total, 100);
        ck_assert_uint_lt(imap_parser_allocated(p), 4096);
}
END_TEST

START_TEST(test_limit_line_default) {
        /* S-09: "* OK " + 1,000,000 x: one past imaplib's _MAXLINE. */
        size_t n = 5 + 1000000 + 2;
        _cleanup_free_ char *s = malloc(n), *ok = NULL, *r = NULL;

        memcpy(s, "* OK ", 5);
        memset(s + 5, 'x', 1000000);
        memcpy(s + n - 2, "\r\n", 2);
        r = parse_stream(NULL, s, n, CHUNK_RANDOM, 42);
        ck_assert_str_eq(r, "ERR 90");
        /* The same line at exactly 1,000,000 bytes is fine. */
        memcpy(s + 1000000 - 2, "\r\n", 2);
        ok = parse_stream(NULL, s, 1000000, CHUNK_RANDOM, 43);
        ck_assert_uint_eq(strlen(ok), strlen("U OK text:\"\"") + 1000000 - 7);
}
END_TEST

START_TEST(test_long_search_accepted) {
        /* G02: a 900 KiB SEARCH line is legitimate. */
        Buf b = BUF_INIT;
        _cleanup_free_ char *r = NULL;
        char num[16];
        size_t count = 0;

        ck_assert_int_eq(buf_append(&b, "* SEARCH", 8, 0), 0);
        while (b.len < 900 * 1024) {
                int n = snprintf(num, sizeof(num), " %zu", ++count);
                ck_assert_int_eq(buf_append(&b, num, (size_t) n, 0), 0);
        }
        ck_assert_int_eq(buf_append(&b, "\r\n", 2, 0), 0);
        r = parse_stream(NULL, b.data, b.len, CHUNK_RANDOM, 7);
        snprintf(num, sizeof(num), " n=%zu", count);
        ck_assert_msg(strstr(r, num) && strncmp(r, "U SEARCH args:1 2 3 ", 20) == 0, "%.60s", r);
        buf_done(&b);
}
END_TEST

START_TEST(test_limit_literal) {
        ImapLimits lim = { .max_literal = 10 };
        static const char at[] = "* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n";
        /* Refused at the marker: the 11 bytes are never sent. */
        static const char past[] = "* 1 FETCH (BODY[] {11}\r\n";
        _cleanup_free_ char *a = parse_with(&lim, at, sizeof(at) - 1), *b = parse_with(&lim, past, sizeof(past) - 1);

        ck_assert_str_eq(a, "U #1 FETCH args:(BODY[] {10}\"0123456789\") items=1 lits:1");
        ck_assert_str_eq(b, "ERR 90");
}
END_TEST

START_TEST(test_limit_response) {
        /* The whole response, literals and CRLFs included: 37 bytes. */
        static const char in[] = "* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n";
        ImapLimits lim = { .max_response = sizeof(in) - 1 };
        _cleanup_free_ char *a = parse_with(&lim, in, sizeof(in) - 1), *b = NULL, *c = NULL;

        ck_assert_str_eq(a, "U #1 FETCH args:(BODY[] {10}\"0123456789\") items=1 lits:1");
        lim.max_response--;
        b = parse_with(&lim, in, sizeof(in) - 1);
        ck_assert_str_eq(b, "ERR 90");
        /* A literal that cannot fit is refused at its marker. */
        lim.max_response = 30;
        c = parse_with(&lim, "* 1 FETCH (BODY[] {10}\r\n", 24);
        ck_assert_str_eq(c, "ERR 90");
}
END_TEST

START_TEST(test_limit_depth) {
        ImapLimits lim = { .max_depth = 3 };
        _cleanup_free_ char *a = parse_with(&lim, "* X (((a)))\r\n", 13);
        _cleanup_free_ char *b = parse_with(&lim, "* X ((((a))))\r\n", 15);
        _cleanup_free_ char *c = parse_with(&lim, "* OK [PERMANENTFLAGS ((((a))))] x\r\n", 35);

        ck_assert_str_eq(a, "U X args:(((a))) other");
        ck_assert_str_eq(b, "ERR 90");
        ck_assert_str_eq(c, "ERR 90");
}
END_TEST

START_TEST(test_deep_nesting_default) {
        /* G04: 100 000 '(' hit the depth limit; no recursion, no crash. */
        size_t n = 100000;
        _cleanup_free_ char *s = malloc(n + 40), *r = NULL;
        size_t len;

        len = (size_t) snprintf(s, 40, "* 1 FETCH (BODYSTRUCTURE ");
        memset(s + len, '(', n);
        memcpy(s + len + n, "\r\n", 2);
        r = parse_stream(NULL, s, len + n + 2, CHUNK_RANDOM, 5);
        ck_assert_str_eq(r, "ERR 90");
}
END_TEST

START_TEST(test_limit_args) {
        /* "* X a b c" is 3 values; "(a)" is 2. */
        ImapLimits lim = { .max_args = 4 };
        _cleanup_free_ char *a = parse_with(&lim, "* X a b (c)\r\n", 13);
        _cleanup_free_ char *b = parse_with(&lim, "* X a b (c d)\r\n", 15);
        _cleanup_free_ char *c = parse_with(&lim, "* OK [CAPABILITY A B C D E] x\r\n", 31);

        ck_assert_str_eq(a, "U X args:a b (c) other");
        ck_assert_str_eq(b, "ERR 90");
        ck_assert_str_eq(c, "ERR 90");
}
END_TEST

START_TEST(test_limits_invalid) {
        ImapParser *p = NULL;

        ck_assert_int_eq(imap_parser_new(&(ImapLimits) { .max_depth = IMAP_LIMIT_MAX_DEPTH + 1 }, &p), -EINVAL);
        ck_assert_int_eq(imap_parser_new(&(ImapLimits) { .max_args = IMAP_LIMIT_MAX_ARGS + 1 }, &p), -EINVAL);
        ck_assert_int_eq(imap_parser_new(&(ImapLimits) { .max_line = 2 }, &p), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_int_eq(imap_parser_new(&(ImapLimits) { .max_depth = IMAP_LIMIT_MAX_DEPTH }, &p), 0);
        p = imap_parser_free(p);
        ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_truncated_huge_literal) {
        /* S-10: {2^k} for k = 15..63, then the connection closes.  Never an
         * allocation of 2^k: below the cap the parser waits for bytes (the
         * engine turns EOF with a partial response into -ECONNRESET), above
         * it the marker itself is refused. */
        for (unsigned k = 15; k <= 63; k++) {
                _cleanup_(imap_parser_freep) ImapParser *p = NULL;
                char s[64];
                size_t used;
                int n, r;

                n = snprintf(s, sizeof(s), "* 1 FETCH (BODY[] {%llu}\r\nIMAP4rev1\r\n", 1ULL << k);
                ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
                r = imap_parser_feed(p, s, (size_t) n, &used);
                if ((1ULL << k) <= IMAP_DEFAULT_MAX_LITERAL) {
                        ck_assert_int_eq(r, 0);
                        ck_assert(imap_parser_in_response(p));
                } else
                        ck_assert_int_eq(r, -EMSGSIZE);
                ck_assert_uint_lt(imap_parser_allocated(p), 4096);
        }
}
END_TEST

/* ---- the feeding contract ----------------------------------------------------------------------- */

START_TEST(test_consumed_stops_after_response) {
        /* The STARTTLS boundary (docs/SECURITY.md INV-2): after the tagged OK the
         * caller must be able to see that bytes are left over. */
        static const char in[] = "A1 OK Begin TLS negotiation now\r\n* OK [CAPABILITY IMAP4rev1] injected\r\n";
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        const ImapResponse *r;
        size_t used;

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        ck_assert_int_eq(imap_parser_feed(p, in, sizeof(in) - 1, &used), 1);
        ck_assert_uint_eq(used, strlen("A1 OK Begin TLS negotiation now\r\n"));
        ck_assert(!imap_parser_in_response(p));
        r = imap_parser_response(p);
        ck_assert_int_eq(r->kind, IMAP_RESPONSE_TAGGED);
        ck_assert_int_eq(r->status, IMAP_STATUS_OK);
        ck_assert_uint_eq(r->tag.len, 2);
        ck_assert(memcmp(r->tag.ptr, "A1", 2) == 0);
        ck_assert_uint_eq(r->raw.len, used);
        ck_assert(memcmp(r->raw.ptr, in, used) == 0);

        /* Feeding zero bytes returns the parser to "no response". */
        ck_assert_int_eq(imap_parser_feed(p, NULL, 0, &used), 0);
        ck_assert_uint_eq(used, 0);
        ck_assert_ptr_null(imap_parser_response(p));
}
END_TEST

START_TEST(test_raw_keeps_literals) {
        static const char in[] = "* 1 FETCH (BODY[1] {3}\r\nabc BODY[2] {2}\r\nde)\r\n";
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        const ImapResponse *r;
        const ImapArg *a;
        size_t used;

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        ck_assert_int_eq(imap_parser_feed(p, in, sizeof(in) - 1, &used), 1);
        r = imap_parser_response(p);
        ck_assert_uint_eq(r->raw.len, sizeof(in) - 1);
        ck_assert(memcmp(r->raw.ptr, in, sizeof(in) - 1) == 0);
        ck_assert_uint_eq(r->n_literals, 2);
        /* Literal values point into raw, where their bytes stand. */
        a = imap_arg_list_first(r->fetch);
        ck_assert_ptr_nonnull(a);
        a = imap_arg_next(a);
        ck_assert_int_eq(a->type, IMAP_ARG_LITERAL);
        ck_assert_ptr_eq(a->str, r->raw.ptr + strlen("* 1 FETCH (BODY[1] {3}\r\n"));
        ck_assert_uint_eq(a->len, 3);
}
END_TEST

START_TEST(test_reset_after_error) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        size_t used;

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        ck_assert_int_eq(imap_parser_feed(p, "* OK x\n", 7, &used), -EBADMSG);
        ck_assert_str_eq(imap_parser_error(p), "line not terminated by CRLF");
        ck_assert_int_eq(imap_parser_feed(p, "* OK x\r\n", 8, &used), -EBADMSG);
        imap_parser_reset(p);
        ck_assert_ptr_null(imap_parser_error(p));
        ck_assert_int_eq(imap_parser_feed(p, "* OK x\r\n", 8, &used), 1);
        ck_assert_uint_eq(used, 8);
}
END_TEST

START_TEST(test_reset_drops_partial) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        size_t used;

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        ck_assert_int_eq(imap_parser_feed(p, "* 1 FETCH (BODY[] {5}\r\nab", 25, &used), 0);
        ck_assert(imap_parser_in_response(p));
        imap_parser_reset(p);
        ck_assert(!imap_parser_in_response(p));
        ck_assert_int_eq(imap_parser_feed(p, "* 2 EXISTS\r\n", 12, &used), 1);
        ck_assert_uint_eq(imap_parser_response(p)->number, 2);
}
END_TEST

/* What a parser holds with no buffer at all: itself. */
static size_t parser_base(void) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        return imap_parser_allocated(p);
}

START_TEST(test_memory_shrinks_back) {
        /* One large response must not pin its memory for the connection's life. */
        ImapLimits lim = { .max_literal = 2u << 20, .max_response = 4u << 20 };
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        size_t n = 1u << 20, used, off = 0;
        _cleanup_free_ char *big = malloc(n + 64);
        int r;

        off = (size_t) snprintf(big, 64, "* 1 FETCH (BODY[] {%zu}\r\n", n);
        memset(big + off, 'm', n);
        memcpy(big + off + n, ")\r\n", 3);
        ck_assert_int_eq(imap_parser_new(&lim, &p), 0);
        ck_assert_int_eq(imap_parser_feed(p, big, off + n + 3, &used), 1);
        ck_assert_uint_ge(imap_parser_allocated(p), n);
        r = imap_parser_feed(p, "* 3 EXISTS\r\n", 12, &used);
        ck_assert_int_eq(r, 1);
        ck_assert_uint_le(imap_parser_allocated(p), parser_base() + IMAP_PARSER_KEEP_BYTES);
}
END_TEST

/* Feed exactly one whole response. */
static void feed_whole(ImapParser *p, const char *s) {
        size_t used = 0;

        ck_assert_int_eq(imap_parser_feed(p, s, strlen(s), &used), 1);
        ck_assert_uint_eq(used, strlen(s));
}

/* "* OK xxx...\r\n", len bytes in all: the line buffer needs len + 1 (a spare byte). */
static char *ok_line(size_t len) {
        char *line = malloc(len + 1);

        ck_assert_ptr_nonnull(line);
        memset(line, 'x', len);
        memcpy(line, "* OK ", 5);
        memcpy(line + len - 2, "\r\n", 3);
        return line;
}

/* Bytes held after feeding 'first', then 'second' (which is when first's buffer may go). */
static size_t held_after(size_t first, size_t second) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        _cleanup_free_ char *a = ok_line(first), *b = ok_line(second);

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        feed_whole(p, a);
        feed_whole(p, b);
        return imap_parser_allocated(p) - parser_base();
}

START_TEST(test_memory_keep_bytes) {
        const size_t keep = IMAP_PARSER_KEEP_BYTES;

        /* A buffer of IMAP_PARSER_KEEP_BYTES stays (a line of keep - 1 bytes fills it). */
        ck_assert_uint_eq(held_after(keep - 1, 20), keep);
        /* A bigger one serves the next response, and goes after a response that fitted in
         * IMAP_PARSER_KEEP_BYTES: at the boundary, and one byte past it. */
        ck_assert_uint_eq(held_after(keep, keep), 2 * keep);
        ck_assert_uint_eq(held_after(keep, 20), 2 * keep);
        {
                _cleanup_(imap_parser_freep) ImapParser *p = NULL;
                _cleanup_free_ char *big = ok_line(keep), *fits = ok_line(keep - 1), *over = ok_line(keep);

                ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
                feed_whole(p, big);
                feed_whole(p, over);
                feed_whole(p, "* 2 EXISTS\r\n");
                ck_assert_uint_eq(imap_parser_allocated(p) - parser_base(), 2 * keep);
                feed_whole(p, fits);
                feed_whole(p, "* 3 EXISTS\r\n");
                ck_assert_uint_le(imap_parser_allocated(p) - parser_base(), keep);
        }
        /* Over 16 KiB it goes after any response: 16 KiB is kept, 32 KiB is not. */
        ck_assert_uint_eq(held_after(16384 - 1, 8192), 16384);
        ck_assert_uint_le(held_after(16384, 8192), 16384);
}
END_TEST

/* "* XVALUES 1 2 ... n-1 {17000}\r\n" and 17,000 bytes and CRLF: n values, and a line buffer
 * over 16 KiB, which goes after every response and so leaves the value arrays to watch. */
static char *values_response(size_t n, size_t *ret_len) {
        Buf b = BUF_INIT;
        char num[24];

        ck_assert_int_eq(buf_append(&b, "* XVALUES", 9, 0), 0);
        for (size_t i = 1; i < n; i++) {
                int k = snprintf(num, sizeof(num), " %zu", i);
                ck_assert_int_eq(buf_append(&b, num, (size_t) k, 0), 0);
        }
        ck_assert_int_eq(buf_append(&b, " {17000}\r\n", 10, 0), 0);
        ck_assert_int_eq(buf_reserve(&b, 17000 + 2, 0), 0);
        memset(b.data + b.len, 'v', 17000);
        b.len += 17000;
        ck_assert_int_eq(buf_append(&b, "\r\n", 2, 0), 0);
        *ret_len = b.len;
        return b.data;
}

static void feed_values(ImapParser *p, size_t n) {
        size_t len, used = 0;
        _cleanup_free_ char *r = values_response(n, &len);

        ck_assert_int_eq(imap_parser_feed(p, r, len, &used), 1);
        ck_assert_uint_eq(used, len);
        ck_assert_uint_eq(imap_parser_response(p)->n_args, n);
}

/* Bytes held after responses of ns[0], ns[1], ... values, beyond what the last one alone
 * leaves: the value arrays that the ones before it left behind. */
static size_t args_left(const size_t *ns, size_t n) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        size_t alone;

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        feed_values(p, ns[n - 1]);
        alone = imap_parser_allocated(p);
        imap_parser_reset(p);
        for (size_t i = 0; i < n; i++)
                feed_values(p, ns[i]);
        return imap_parser_allocated(p) - alone;
}

START_TEST(test_memory_keep_args) {
        const size_t keep = IMAP_PARSER_KEEP_ARGS;

        /* Arrays for more than IMAP_PARSER_KEEP_ARGS values serve the next response, and go
         * after one that fitted in IMAP_PARSER_KEEP_ARGS: at the boundary and one past it. */
        ck_assert_uint_eq(args_left((const size_t[]) { keep + 1, keep, 1 }, 3), 0);
        ck_assert_uint_gt(args_left((const size_t[]) { keep + 1, keep + 1, 1 }, 3), 0);
        /* Over 512 values they go after any response. */
        ck_assert_uint_gt(args_left((const size_t[]) { 512, keep + 1 }, 2), 0);
        ck_assert_uint_eq(args_left((const size_t[]) { 513, keep + 1 }, 2), 0);
}
END_TEST

START_TEST(test_memory_unused_released) {
        /* A response without values, or without a name to upper-case, gives back the value
         * arrays and the string buffer at once: the caller may keep it for hours in IDLE. */
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        feed_whole(p, "* 1 fetch (FLAGS (\\Seen) X-NAME \"quoted\")\r\n");
        ck_assert_uint_eq(imap_parser_response(p)->name.len, 5);
        ck_assert_int_eq(memcmp(imap_parser_response(p)->name.ptr, "FETCH", 5), 0);
        ck_assert_uint_gt(imap_parser_allocated(p), parser_base() + IMAP_PARSER_KEEP_BYTES);
        feed_whole(p, "+ idling\r\n");
        ck_assert_uint_le(imap_parser_allocated(p), parser_base() + IMAP_PARSER_KEEP_BYTES);
        feed_whole(p, "* 2 FETCH (FLAGS ())\r\n");
        feed_whole(p, "* 3 EXISTS\r\n");
        ck_assert_uint_le(imap_parser_allocated(p), parser_base() + IMAP_PARSER_KEEP_BYTES);
        /* An empty quoted string stores no byte, so the string buffer goes; the value still
         * points at bytes (fuzz finding: it pointed at an offset from NULL). */
        feed_whole(p, "* ID (\"\" \"\")\r\n");
        ck_assert_uint_eq(imap_parser_response(p)->id->n, 2);
        ck_assert_ptr_nonnull(imap_parser_response(p)->id[1].str);
        ck_assert_uint_eq(imap_parser_response(p)->id[1].len, 0);
        /* Names as servers send them are not copied: nothing but the line buffer. */
        feed_whole(p, "* OK Still here\r\n");
        ck_assert_uint_le(imap_parser_allocated(p), parser_base() + 64);
}
END_TEST

/* "* 1 FETCH (X {1}\r\na X {1}\r\na ...)" with n one-byte literals (docs/SECURITY.md F08). */
static void many_literals(Buf *b, unsigned n) {
        ck_assert_int_eq(buf_append(b, "* 1 FETCH (", 11, 0), 0);
        for (unsigned i = 0; i < n; i++)
                ck_assert_int_eq(buf_append(b, i ? " X {1}\r\na" : "X {1}\r\na", i ? 9 : 8, 0), 0);
        ck_assert_int_eq(buf_append(b, ")\r\n", 3, 0), 0);
}

/* Parse b fed in pieces of 'step' bytes; return imap_parser_work() for it. */
static uint64_t literals_work(const Buf *b, size_t step, unsigned n) {
        ImapLimits lim = { .max_response = 8u << 20, .max_args = 500000 };
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        const ImapResponse *r = NULL;
        size_t pos = 0;

        ck_assert_int_eq(imap_parser_new(&lim, &p), 0);
        while (pos < b->len) {
                size_t used, len = MIN(step, b->len - pos);
                int k = imap_parser_feed(p, b->data + pos, len, &used);

                ck_assert_msg(k >= 0, "feed: %d %s", k, imap_parser_error(p));
                pos += used;
                if (k == 1)
                        r = imap_parser_response(p);
        }
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->data_type, IMAP_DATA_FETCH);
        ck_assert_uint_eq(r->n_literals, n);
        ck_assert_uint_eq(r->fetch->n, 2 * n);
        return imap_parser_work(p);
}

START_TEST(test_many_small_literals) {
        /* F08 (net-imap CVE-2026-42245: the reader rescanned its growing buffer once per
         * literal): 200 000 one-byte literals in one response must cost work linear in its
         * size.  Not timed: the parser counts the bytes it looks at (imap_parser_work()), and
         * that count must stay within 4 bytes per byte of input, fed whole, in 7-byte pieces
         * or byte by byte, and double exactly when the input doubles; a rescan of the
         * response so far at each literal would be tens of thousands of times over the bound. */
        Buf half = BUF_INIT, full = BUF_INIT;
        uint64_t w_half, w_full;

        many_literals(&half, 100000);
        many_literals(&full, 200000);
        w_full = literals_work(&full, SIZE_MAX, 200000);
        ck_assert_msg(w_full >= full.len && w_full <= 4 * (uint64_t) full.len,
                      "work %" PRIu64 " for %zu bytes", w_full, full.len);
        ck_assert_uint_eq(literals_work(&full, 7, 200000), w_full);
        ck_assert_uint_eq(literals_work(&full, 1, 200000), w_full);
        w_half = literals_work(&half, SIZE_MAX, 100000);
        /* Twice the literals, 9 more bytes each: the work per literal is the same. */
        ck_assert_uint_eq(full.len - half.len, 100000 * 9);
        ck_assert_uint_eq((w_full - w_half) % 100000, 0);
        ck_assert_uint_le(w_full - w_half, w_half + w_half / 100);
        buf_done(&half);
        buf_done(&full);
}
END_TEST

/* Parse one response from in[0, n) fed whole; it must be complete and use every byte. */
static const ImapResponse *parse_one(ImapParser **p, const ImapLimits *lim, const char *in, size_t n) {
        size_t used;
        int r;

        ck_assert_int_eq(imap_parser_new(lim, p), 0);
        r = imap_parser_feed(*p, in, n, &used);
        ck_assert_msg(r == 1, "feed: %d %s", r, imap_parser_error(*p) ? imap_parser_error(*p) : "");
        ck_assert_uint_eq(used, n);
        return imap_parser_response(*p);
}

/* Value i (from 0) of 'list'. */
static const ImapArg *nth_value(const ImapArg *list, uint32_t i) {
        const ImapArg *a = imap_arg_list_first(list);

        ck_assert_uint_lt(i, list->n);
        ck_assert_ptr_nonnull(a);
        while (i-- > 0)
                a = imap_arg_next(a);
        return a;
}

START_TEST(test_F11_nul_in_plain_literal) {
        /* F11: RFC 3501's CHAR8 excludes NUL, but docs/PARSER.md's policy takes a plain {n}
         * literal as bytes counted by length, like ~{n}: the NUL is data, nothing ends at it,
         * and the response around it is framed exactly.  The line after the literal is
         * still a line: a NUL there is fatal as anywhere outside a literal. */
        static const char in[] = "* 1 FETCH (BODY[] {5}\r\na\0b\0\0 UID 7)\r\n";
        static const char nul_only[] = "* 2 FETCH (BODY[] {1}\r\n\0)\r\n";
        static const char after[] = "* 3 FETCH (BODY[] {2}\r\n\0\0 UID\0 7)\r\n";
        _cleanup_(imap_parser_freep) ImapParser *p = NULL, *q = NULL;
        _cleanup_free_ char *dump = NULL, *dump1 = NULL, *err = NULL;
        const ImapResponse *r;
        const ImapArg *a;
        uint64_t uid;

        r = parse_one(&p, NULL, in, sizeof(in) - 1);
        ck_assert_int_eq(r->data_type, IMAP_DATA_FETCH);
        ck_assert_uint_eq(r->n_literals, 1);
        ck_assert_uint_eq(r->fetch->n, 4);
        a = nth_value(r->fetch, 1);
        ck_assert_int_eq(a->type, IMAP_ARG_LITERAL);
        ck_assert_uint_eq(a->len, 5);
        ck_assert(memcmp(a->str, "a\0b\0\0", 5) == 0);
        /* What follows the NULs is parsed, not lost behind them. */
        a = nth_value(r->fetch, 3);
        ck_assert_int_eq(imap_arg_get_u63(a, &uid), 0);
        ck_assert_uint_eq(uid, 7);
        /* Whole, byte by byte and at random split points alike. */
        dump = parse_with(NULL, in, sizeof(in) - 1);
        ck_assert_str_eq(dump, "U #1 FETCH args:(BODY[] {5}\"a\\x00b\\x00\\x00\" UID 7) items=2 lits:1");
        for (uint64_t seed = 1; seed <= 8; seed++) {
                _cleanup_free_ char *rnd = parse_stream(NULL, in, sizeof(in) - 1, CHUNK_RANDOM, seed);
                ck_assert_str_eq(rnd, dump);
        }
        r = parse_one(&q, NULL, nul_only, sizeof(nul_only) - 1);
        a = nth_value(r->fetch, 1);
        ck_assert_uint_eq(a->len, 1);
        ck_assert_int_eq(a->str[0], 0);
        dump1 = parse_with(NULL, after, sizeof(after) - 1);
        ck_assert_str_eq(dump1, "ERR 74");
        err = parse_stream(NULL, after, sizeof(after) - 1, CHUNK_RANDOM, 3);
        ck_assert_str_eq(err, "ERR 74");
        {
                _cleanup_(imap_parser_freep) ImapParser *e = NULL;
                size_t used;

                ck_assert_int_eq(imap_parser_new(NULL, &e), 0);
                ck_assert_int_eq(imap_parser_feed(e, after, sizeof(after) - 1, &used), -EBADMSG);
                ck_assert_str_eq(imap_parser_error(e), "NUL inside a line");
        }
}
END_TEST

/* s of 'len' bytes: 'head', then 'fill' repeated to the end; NUL-terminated, caller frees. */
static char *filled(const char *head, char fill, size_t len) {
        size_t h = strlen(head);
        char *s = malloc(len + 1);

        ck_assert_ptr_nonnull(s);
        ck_assert_uint_le(h, len);
        memcpy(s, head, h);
        memset(s + h, fill, len - h);
        s[len] = 0;
        return s;
}

START_TEST(test_G10_oversized_fetch_fields) {
        /* G10 (mutt CVE-2018-14350/14358: fixed buffers for INTERNALDATE and RFC822.SIZE):
         * a 10 KiB INTERNALDATE and a 5 000-digit RFC822.SIZE.  The parser frames them as a
         * string and an atom of their own lengths (it holds no fixed buffer); the readers
         * then refuse them: imap_date_parse() -EINVAL, imap_date_find() finds no date-time,
         * imap_arg_get_u63() -ERANGE.  Under ASan any write past a buffer would abort. */
        static const char *const heads[] = {
                "",                                     /* 10 KiB of the fill alone */
                "17-Jul-1996 02:44:25 -0700",           /* a real date-time, then junk */
                "1",                                    /* a 10 KiB day field */
                "17-Jul-1996 02:44:25 +",               /* a 10 KiB zone */
        };
        static const char fills[] = { '9', ' ', '1', '0' };

        for (size_t i = 0; i < ELEMENTSOF(heads); i++) {
                _cleanup_free_ char *date = filled(heads[i], fills[i], 10240);
                _cleanup_free_ char *size = filled("", '9', 5000);
                _cleanup_(imap_parser_freep) ImapParser *p = NULL;
                _cleanup_free_ char *in = NULL;
                const ImapResponse *r;
                const ImapArg *a;
                uint64_t v;
                time_t t;
                int n;

                n = asprintf(&in, "* 1 FETCH (INTERNALDATE \"%s\" RFC822.SIZE %s UID 3)\r\n", date, size);
                ck_assert_int_gt(n, 0);
                r = parse_one(&p, NULL, in, (size_t) n);
                ck_assert_int_eq(r->data_type, IMAP_DATA_FETCH);
                ck_assert_uint_eq(r->fetch->n, 6);
                a = nth_value(r->fetch, 1);
                ck_assert_int_eq(a->type, IMAP_ARG_STRING);
                ck_assert_uint_eq(a->len, 10240);
                ck_assert(memcmp(a->str, date, 10240) == 0);
                ck_assert_int_eq(imap_date_parse(a->str, a->len, &t), -EINVAL);
                ck_assert_int_eq(imap_date_find(r->raw.ptr, r->raw.len, &t), -ENOENT);
                a = nth_value(r->fetch, 3);
                ck_assert_int_eq(a->type, IMAP_ARG_ATOM);
                ck_assert_uint_eq(a->len, 5000);
                ck_assert_int_eq(imap_arg_get_u63(a, &v), -ERANGE);
                /* The values after them are intact. */
                a = nth_value(r->fetch, 5);
                ck_assert_int_eq(imap_arg_get_u63(a, &v), 0);
                ck_assert_uint_eq(v, 3);
        }
}
END_TEST

START_TEST(test_G12_empty_flag_in_list) {
        /* G12 (libetpan #403): "\" alone among a LIST's attributes.  RFC 3501's
         * flag-extension wants an atom after the backslash; docs/PARSER.md tolerates it as
         * a quirk: a one-byte atom that names no attribute.  It neither hides the attribute
         * next to it nor moves the delimiter or the name, and it parses the same with
         * soft_list (the tool) and without (the daemon's lister). */
        static const struct {
                const char *in;
                const char *dump;
                bool selectable;
        } t[] = {
                { "* LIST (\\HasChildren \\) \".\" \"Archive\"\r\n",
                  "U LIST args:(\\\\HasChildren \\\\) \".\" \"Archive\" delim:. mbox:\"Archive\" "
                  "nflags:2", true },
                { "* LIST (\\) \"/\" INBOX\r\n",
                  "U LIST args:(\\\\) \"/\" INBOX delim:/ mbox:INBOX nflags:1", true },
                { "* LIST (\\ \\Noselect) \"/\" x\r\n",
                  "U LIST args:(\\\\ \\\\Noselect) \"/\" x delim:/ mbox:x nflags:2", false },
                { "* LSUB (\\Noselect \\) \"/\" x\r\n",
                  "U LSUB args:(\\\\Noselect \\\\) \"/\" x delim:/ mbox:x nflags:2", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                for (unsigned soft = 0; soft < 2; soft++) {
                        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
                        _cleanup_free_ char *dump = NULL, *bytes = NULL;
                        const ImapResponse *r;
                        const ImapArg *f;
                        size_t used;
                        bool seen = false;

                        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
                        imap_parser_set_soft_list(p, soft);
                        ck_assert_int_eq(imap_parser_feed(p, t[i].in, strlen(t[i].in), &used), 1);
                        r = imap_parser_response(p);
                        ck_assert_ptr_null(r->invalid);
                        dump = imap_response_dump(r);
                        ck_assert_str_eq(dump, t[i].dump);
                        ck_assert(imap_response_list_selectable(r) == t[i].selectable);
                        for (uint32_t k = 0; k < r->list.flags->n; k++)
                                if ((f = nth_value(r->list.flags, k))->len == 1) {
                                        ck_assert_int_eq(f->type, IMAP_ARG_ATOM);
                                        ck_assert_int_eq(f->str[0], '\\');
                                        seen = true;
                                }
                        ck_assert(seen);
                        bytes = parse_with(NULL, t[i].in, strlen(t[i].in));
                        ck_assert_str_eq(bytes, t[i].dump);
                }
}
END_TEST

START_TEST(test_data_offset) {
        /* Where imaplib's "data" starts in the first line. */
        static const struct {
                const char *in;
                const char *data;
        } t[] = {
                { "* 3 EXISTS\r\n", "" },
                { "* 1 FETCH (UID 5)\r\n", "(UID 5)" },
                { "* FLAGS (\\Seen)\r\n", "(\\Seen)" },
                { "* SEARCH\r\n", "" },
                { "* OK [ALERT] disk full\r\n", "[ALERT] disk full" },
                { "* OK\r\n", "" },
                { "A1 NO [ALERT] nope\r\n", "[ALERT] nope" },
                { "+ go on\r\n", "go on" },
                { "+\r\n", "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_(imap_parser_freep) ImapParser *p = NULL;
                const ImapResponse *r;
                size_t used, n = strlen(t[i].in);

                ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
                ck_assert_int_eq(imap_parser_feed(p, t[i].in, n, &used), 1);
                r = imap_parser_response(p);
                ck_assert_uint_le(r->data_off, n - 2);
                ck_assert_uint_eq(n - 2 - r->data_off, strlen(t[i].data));
                ck_assert(memcmp(r->raw.ptr + r->data_off, t[i].data, strlen(t[i].data)) == 0);
        }
}
END_TEST

START_TEST(test_type_names) {
        ck_assert_str_eq(imap_response_kind_to_string(IMAP_RESPONSE_CONTINUATION), "continuation");
        ck_assert_str_eq(imap_status_to_string(IMAP_STATUS_PREAUTH), "PREAUTH");
        ck_assert_str_eq(imap_data_type_to_string(IMAP_DATA_VANISHED), "VANISHED");
        ck_assert_str_eq(imap_code_type_to_string(IMAP_CODE_READ_ONLY), "READ-ONLY");
        ck_assert_str_eq(imap_status_item_to_string(IMAP_STATUS_ITEM_HIGHESTMODSEQ), "HIGHESTMODSEQ");
        ck_assert_str_eq(imap_arg_type_to_string(IMAP_ARG_LITERAL8), "literal8");
        ck_assert_ptr_null(imap_status_to_string(_IMAP_STATUS_MAX));
        ck_assert_ptr_null(imap_data_type_to_string(_IMAP_DATA_TYPE_MAX));
        ck_assert_ptr_null(imap_code_type_to_string(_IMAP_CODE_TYPE_MAX));
        ck_assert_ptr_null(imap_arg_type_to_string(_IMAP_ARG_TYPE_MAX));
}
END_TEST

START_TEST(test_list_selectable) {
        static const struct {
                const char *line;
                bool selectable;
        } cases[] = {
                { "* LIST () \"/\" INBOX\r\n", true },
                { "* LIST (\\HasNoChildren \\Marked) \"/\" Lists/dev\r\n", true },
                { "* LIST (\\Noselect) \"/\" Lists\r\n", false },
                { "* LIST (\\noselect) \"/\" Lists\r\n", false },       /* atoms: any case */
                { "* LIST (\\NonExistent) NIL Gone\r\n", false },         /* RFC 5258 §3 */
                { "* LSUB (\\Noselect) \".\" x\r\n", false },
                { "* LIST () \"/\" New (\"OLDNAME\" (Old))\r\n", true },
                { "* 3 EXISTS\r\n", false },                              /* not a LIST */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(imap_parser_freep) ImapParser *p = NULL;

                ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
                feed_whole(p, cases[i].line);
                ck_assert_msg(imap_response_list_selectable(imap_parser_response(p)) == cases[i].selectable, "%s",
                              cases[i].line);
        }
        ck_assert(!imap_response_list_selectable(NULL));
}
END_TEST

/* imap_parser_set_soft_list(): a well-framed LIST that breaks its grammar comes back untyped
 * with the reason, the stream stays in step, and framing errors stay fatal (SECURITY.md I08). */
START_TEST(test_soft_list) {
        _cleanup_(imap_parser_freep) ImapParser *p = NULL;
        const char *in = "* LIST (\"Bad\" \\X) \"/\" Evil\r\n"
                         "* LIST () \"//\" Two\r\n"
                         "* LIST () \"/\" Good\r\n"
                         "* STATUS x (MESSAGES abc)\r\n";
        const ImapResponse *r;
        size_t used, off = 0, n = strlen(in);

        ck_assert_int_eq(imap_parser_new(NULL, &p), 0);
        imap_parser_set_soft_list(p, true);
        for (unsigned i = 0; i < 3; i++) {
                ck_assert_int_eq(imap_parser_feed(p, in + off, n - off, &used), 1);
                off += used;
                r = imap_parser_response(p);
                ck_assert_ptr_null(imap_parser_error(p));
                if (i < 2) {
                        ck_assert_int_eq(r->data_type, IMAP_DATA_OTHER);
                        ck_assert_ptr_nonnull(r->invalid);
                        ck_assert_ptr_null(r->list.mailbox);
                        ck_assert(!imap_response_list_selectable(r));
                } else {
                        ck_assert_int_eq(r->data_type, IMAP_DATA_LIST);
                        ck_assert_ptr_null(r->invalid);
                        ck_assert_int_eq(r->list.mailbox->len, 4);
                }
        }
        /* Only LIST and LSUB: any other malformed typed response is as fatal as ever. */
        ck_assert_int_eq(imap_parser_feed(p, in + off, n - off, &used), -EBADMSG);

        /* Off by default. */
        imap_parser_reset(p);
        imap_parser_set_soft_list(p, false);
        ck_assert_int_eq(imap_parser_feed(p, in, n, &used), -EBADMSG);
}
END_TEST

static Suite *imap_parser_suite(void) {
        Suite *s = suite_create("imap-parser");
        TCase *tc;

        tc = tcase_create("valid");
        tcase_add_loop_test(tc, test_valid, 0, (int) ELEMENTSOF(valid));
        suite_add_tcase(s, tc);

        tc = tcase_create("invalid");
        tcase_add_loop_test(tc, test_invalid, 0, (int) ELEMENTSOF(invalid));
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_limit_line);
        tcase_add_test(tc, test_limit_line_before_lf);
        tcase_add_test(tc, test_limit_line_default);
        tcase_add_test(tc, test_long_search_accepted);
        tcase_add_test(tc, test_limit_literal);
        tcase_add_test(tc, test_limit_response);
        tcase_add_test(tc, test_limit_depth);
        tcase_add_test(tc, test_deep_nesting_default);
        tcase_add_test(tc, test_limit_args);
        tcase_add_test(tc, test_limits_invalid);
        tcase_add_test(tc, test_truncated_huge_literal);
        suite_add_tcase(s, tc);

        tc = tcase_create("contract");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_consumed_stops_after_response);
        tcase_add_test(tc, test_raw_keeps_literals);
        tcase_add_test(tc, test_reset_after_error);
        tcase_add_test(tc, test_reset_drops_partial);
        tcase_add_test(tc, test_memory_shrinks_back);
        tcase_add_test(tc, test_memory_keep_bytes);
        tcase_add_test(tc, test_memory_keep_args);
        tcase_add_test(tc, test_memory_unused_released);
        tcase_add_test(tc, test_many_small_literals);
        tcase_add_test(tc, test_F11_nul_in_plain_literal);
        tcase_add_test(tc, test_G10_oversized_fetch_fields);
        tcase_add_test(tc, test_G12_empty_flag_in_list);
        tcase_add_test(tc, test_data_offset);
        tcase_add_test(tc, test_type_names);
        tcase_add_test(tc, test_list_selectable);
        tcase_add_test(tc, test_soft_list);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return th_run_suite(imap_parser_suite());
}

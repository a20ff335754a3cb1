/* SPDX-License-Identifier: MIT */
/*
 * test-imap-session.c: transcript tests of the sans-I/O session.  No sockets:
 * the test feeds the server's lines, reads what the session wants to send,
 * and checks the events and state after each step (docs/HACKING.md).
 * Scenario ids (S-xx, X-xx) refer to docs/ENGINE.md
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "imap-session.h"
#include "th-transcript.h"
#include "th.h"

static usec_t now_usec = 1000 * USEC_PER_SEC;

/* A session created at now_usec with these timeouts (0: none). */
static ImapSession *new_session_timeouts(bool keep, usec_t greeting_timeout, usec_t cmd_timeout) {
        ImapSession *s = NULL;
        ImapSessionParams p = {
                .tag_prefix = "KDMF",
                .keep_untagged = keep,
                .cmd_timeout = cmd_timeout,
                .greeting_timeout = greeting_timeout,
                .now = now_usec,
        };

        ck_assert_int_eq(imap_session_new(&p, &s), 0);
        return s;
}

static ImapSession *new_session(bool keep) {
        return new_session_timeouts(keep, 30 * USEC_PER_SEC, 60 * USEC_PER_SEC);
}

/* Feed the whole string; every response must be accepted.  Returns the
 * number of responses processed. */
static unsigned feed(ImapSession *s, const char *in) {
        size_t n = strlen(in), used;
        unsigned count = 0;

        while (n > 0) {
                int r = imap_session_feed(s, in, n, now_usec, &used);
                ck_assert_msg(r >= 0, "feed failed (%d): %s", r, imap_session_error(s));
                count += (unsigned) r;
                in += used;
                n -= used;
        }
        return count;
}

/* Feed, expecting a fatal error at some point. */
static int feed_err(ImapSession *s, const char *in) {
        size_t n = strlen(in), used;

        while (n > 0) {
                int r = imap_session_feed(s, in, n, now_usec, &used);
                if (r < 0)
                        return r;
                in += used;
                n -= used;
        }
        return 0;
}

/* What the session wants to send must be exactly 'want'; it is then consumed. */
static void expect_out(ImapSession *s, const char *want) {
        const void *buf;
        size_t len;

        imap_session_output(s, &buf, &len);
        ck_assert_msg(len == strlen(want) && (len == 0 || memcmp(buf, want, len) == 0), "output: got '%.*s' want '%s'",
                      (int) len, len ? (const char *) buf : "", want);
        imap_session_consume_output(s, len);
}

static void expect_no_out(ImapSession *s) {
        expect_out(s, "");
}

/* Take whatever the session wants to send, as a socket loop writes it: the server can answer
 * only what was taken (imap_session_consume_output()). */
static void take_out(ImapSession *s) {
        const void *buf;
        size_t len;

        imap_session_output(s, &buf, &len);
        imap_session_consume_output(s, len);
}

static ImapEvent next_event(ImapSession *s, ImapEventType type) {
        ImapEvent e;

        ck_assert_int_eq(imap_session_next_event(s, &e), 1);
        ck_assert_int_eq(e.type, type);
        return e;
}

static void expect_no_event(ImapSession *s) {
        ImapEvent e;

        ck_assert_int_eq(imap_session_next_event(s, &e), 0);
}

static void drain_events(ImapSession *s) {
        ImapEvent e;

        while (imap_session_next_event(s, &e) > 0)
                ;
}

static ImapCmd *cmd(const char *name, ...) {
        ImapCmd *c = NULL;
        va_list ap;
        int type;

        ck_assert_int_eq(imap_cmd_new(name, &c), 0);
        va_start(ap, name);
        while ((type = va_arg(ap, int)) >= 0) {
                const char *v = va_arg(ap, const char *);
                ck_assert_int_eq(imap_cmd_add_str(c, (ImapCmdArgType) type, v), 0);
        }
        va_end(ap);
        return c;
}
#define END (-1)

static uint32_t submit(ImapSession *s, ImapCmd *c) {
        uint32_t id = UINT32_MAX;
        int r = imap_session_submit(s, c, now_usec, &id);

        ck_assert_msg(r == 0, "submit: %d %s", r, imap_session_error(s));
        return id;
}

/* A session past the greeting and LOGIN, in AUTH, with 'caps'. */
static ImapSession *logged_in(const char *caps, bool keep) {
        ImapSession *s = new_session(keep);
        char greeting[256];

        snprintf(greeting, sizeof(greeting), "* OK [CAPABILITY IMAP4rev1 %s] ready\r\n", caps);
        feed(s, greeting);
        drain_events(s);
        submit(s, cmd("LOGIN", IMAP_CMD_ARG_ASTRING, "user", IMAP_CMD_ARG_STRING, "pass", END));
        expect_out(s, "KDMF0 LOGIN user \"pass\"\r\n");
        feed(s, "KDMF0 OK LOGIN completed\r\n");
        drain_events(s);
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_AUTH);
        if (keep)
                imap_session_response_clear(s);
        return s;
}

static char *datum_text(const ImapDatum *d) {
        /* imaplib's shape as text: [('hdr','lit'), 'trailer'] */
        Buf b = BUF_INIT;

        ck_assert_int_eq(buf_append(&b, "[", 1, 0), 0);
        for (size_t i = 0; i < d->n_frags; i++) {
                const ImapFrag *f = &d->frags[i];
                if (i > 0)
                        ck_assert_int_eq(buf_append(&b, ", ", 2, 0), 0);
                if (f->literal) {
                        ck_assert_int_eq(buf_append(&b, "('", 2, 0), 0);
                        ck_assert_int_eq(buf_append(&b, f->text, f->text_len, 0), 0);
                        ck_assert_int_eq(buf_append(&b, "', '", 4, 0), 0);
                        ck_assert_int_eq(buf_append(&b, f->literal, f->literal_len, 0), 0);
                        ck_assert_int_eq(buf_append(&b, "')", 2, 0), 0);
                } else {
                        ck_assert_int_eq(buf_append(&b, "'", 1, 0), 0);
                        ck_assert_int_eq(buf_append(&b, f->text, f->text_len, 0), 0);
                        ck_assert_int_eq(buf_append(&b, "'", 1, 0), 0);
                }
        }
        ck_assert_int_eq(buf_append(&b, "]", 1, 0), 0);
        return b.data;
}

/* Pop 'type' from the store and compare each datum's imaplib shape. */
static void expect_stored(ImapSession *s, const char *type, size_t n, ...) {
        ImapDatum **v = NULL;
        size_t got = 0;
        va_list ap;

        ck_assert_int_eq(imap_session_response_pop(s, type, &v, &got), 0);
        ck_assert_msg(got == n, "%s: %zu stored, want %zu", type, got, n);
        va_start(ap, n);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *t = datum_text(v[i]);
                const char *want = va_arg(ap, const char *);
                ck_assert_msg(strcmp(t, want) == 0, "%s[%zu]: got %s want %s", type, i, t, want);
                ck_assert_str_eq(v[i]->type, type);
                free(v[i]);
        }
        va_end(ap);
        free(v);
}

static void expect_idle_item(ImapSession *s, const char *type, const char *want) {
        ImapDatum *d = NULL;
        _cleanup_free_ char *t = NULL;

        ck_assert_int_eq(imap_session_idle_pop(s, &d), 1);
        t = datum_text(d);
        ck_assert_str_eq(d->type, type);
        ck_assert_str_eq(t, want);
        free(d);
}

/* ---- greeting ------------------------------------------------------------------------------ */

START_TEST(test_greeting_ok) {
        _cleanup_(imap_session_freep) ImapSession *s = new_session(true);
        ImapEvent e;

        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_LOGOUT);
        ck_assert_uint_eq(feed(s, "* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"), 1);
        e = next_event(s, IMAP_EVENT_GREETING);
        ck_assert_int_eq(e.resp->status, IMAP_STATUS_OK);
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_NONAUTH);
        ck_assert(imap_session_has_capability(s, "IDLE"));
        ck_assert(imap_session_has_capability(s, "imap4rev1"));
        ck_assert(!imap_session_has_capability(s, "STARTTLS"));
        /* the greeting's OK is stored, and cleared by the next command. */
        ck_assert(imap_session_response_has(s, "OK"));
        ck_assert(imap_session_response_has(s, "CAPABILITY"));
        submit(s, cmd("CAPABILITY", END));
        expect_out(s, "KDMF0 CAPABILITY\r\n");
        ck_assert(!imap_session_response_has(s, "OK"));
        feed(s, "* CAPABILITY IMAP4rev1\r\nKDMF0 OK done\r\n");
        /* The last CAPABILITY seen wins. */
        ck_assert(!imap_session_has_capability(s, "IDLE"));
}
END_TEST

START_TEST(test_greeting_preauth) {
        /* */
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);

        feed(s, "* PREAUTH ready\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_AUTH);
        ck_assert_int_eq(imap_session_submit(s, cmd("LOGIN", IMAP_CMD_ARG_ASTRING, "u", IMAP_CMD_ARG_STRING,
                                                     "p", END), now_usec, NULL), -EPERM);
        ck_assert_str_eq(imap_session_error(s),
                         "command LOGIN illegal in state AUTH, only allowed in states NONAUTH");
        expect_no_out(s);
}
END_TEST

START_TEST(test_greeting_bad) {
        /* X-02, and anything that is not an untagged OK/PREAUTH. */
        static const char *const bad[] = {
                "* BYE go away\r\n", "A1 OK hello\r\n", "+ hello\r\n", "* 1 EXISTS\r\n", "* NO busy\r\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(imap_session_freep) ImapSession *s = new_session(false);

                ck_assert_int_eq(feed_err(s, bad[i]), -EPROTO);
                ck_assert(imap_session_is_dead(s));
                ck_assert_msg(strncmp(imap_session_error(s), "invalid greeting: ", 18) == 0, "%s",
                              imap_session_error(s));
                ck_assert_int_eq(imap_session_feed(s, "* OK\r\n", 6, now_usec, &(size_t) { 0 }), -ESHUTDOWN);
        }
}
END_TEST

START_TEST(test_greeting_timeout) {
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);

        ck_assert_uint_eq(imap_session_deadline(s), now_usec + 30 * USEC_PER_SEC);
        ck_assert_int_eq(imap_session_tick(s, now_usec + 30 * USEC_PER_SEC - 1), 0);
        ck_assert_int_eq(imap_session_tick(s, now_usec + 30 * USEC_PER_SEC), -ETIMEDOUT);
        ck_assert_str_eq(imap_session_error(s), "timed out waiting for the greeting");
}
END_TEST

/* ---- commands, tags, states -------------------------------------------------------------- */

START_TEST(test_state_checked_before_sending) {
        /* X-06, S-17, S-18, X-21 */
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);

        feed(s, "* OK [CAPABILITY IMAP4rev1 ENABLE] hi\r\n");
        ck_assert_int_eq(imap_session_submit(s, cmd("SELECT", IMAP_CMD_ARG_ASTRING, "INBOX", END), now_usec, NULL),
                         -EPERM);
        ck_assert_str_eq(imap_session_error(s),
                         "command SELECT illegal in state NONAUTH, only allowed in states AUTH, SELECTED");
        ck_assert_int_eq(imap_session_submit(s, cmd("ENABLE", IMAP_CMD_ARG_ATOM, "foo", END), now_usec, NULL),
                         -EPERM);
        ck_assert_str_eq(imap_session_error(s), "command ENABLE illegal in state NONAUTH, only allowed in states AUTH");
        ck_assert_int_eq(imap_session_submit(s, cmd("UID", IMAP_CMD_ARG_ATOM, "fetch", END), now_usec, NULL), -EPERM);
        ck_assert_str_eq(imap_session_error(s), "command FETCH illegal in state NONAUTH, only allowed in states SELECTED");
        ck_assert_int_eq(imap_session_submit(s, cmd("UID", IMAP_CMD_ARG_ATOM, "frob", END), now_usec, NULL), -EINVAL);
        ck_assert_str_eq(imap_session_error(s), "Unknown IMAP4 UID command: FROB");
        expect_no_out(s);
        ck_assert(!imap_session_is_dead(s));
        ck_assert_uint_eq(imap_session_pending(s), 0);
}
END_TEST

START_TEST(test_enable_capability_first) {
        /* S-18: the capability check precedes the state check. */
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);

        feed(s, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
        ck_assert_int_eq(imap_session_submit(s, cmd("ENABLE", IMAP_CMD_ARG_ATOM, "foo", END), now_usec, NULL),
                         -EOPNOTSUPP);
        ck_assert_str_eq(imap_session_error(s), "Server does not support ENABLE");
        expect_no_out(s);
}
END_TEST

START_TEST(test_uid_subcommands) {
        /* */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);

        submit(s, cmd("SELECT", IMAP_CMD_ARG_ASTRING, "INBOX", END));
        expect_out(s, "KDMF1 SELECT INBOX\r\n");
        feed(s, "KDMF1 OK [READ-WRITE] done\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_SELECTED);
        ck_assert_int_eq(imap_session_submit(s, cmd("UID", IMAP_CMD_ARG_ATOM, "FROB", IMAP_CMD_ARG_ATOM, "1", END),
                                             now_usec, NULL),
                         -EINVAL);
        ck_assert_str_eq(imap_session_error(s), "Unknown IMAP4 UID command: FROB");
        submit(s, cmd("UID", IMAP_CMD_ARG_ATOM, "fetch", IMAP_CMD_ARG_ATOM, "1:*", IMAP_CMD_ARG_RAW, "(UID FLAGS)", END));
        expect_out(s, "KDMF2 UID fetch 1:* (UID FLAGS)\r\n");
}
END_TEST

START_TEST(test_pipelined_replies) {
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);
        ImapEvent e;
        uint32_t a, b;

        a = submit(s, cmd("NOOP", END));
        b = submit(s, cmd("LIST", IMAP_CMD_ARG_ASTRING, "", IMAP_CMD_ARG_LIST_MAILBOX, "*", END));
        expect_out(s, "KDMF1 NOOP\r\nKDMF2 LIST \"\" *\r\n");
        ck_assert_uint_eq(imap_session_pending(s), 2);
        feed(s, "* LIST () \"/\" INBOX\r\n");
        e = next_event(s, IMAP_EVENT_UNTAGGED);
        ck_assert_int_eq(e.resp->data_type, IMAP_DATA_LIST);
        /* Replies may come in any order; tags decide. */
        feed(s, "KDMF2 OK LIST done\r\n");
        e = next_event(s, IMAP_EVENT_DONE);
        ck_assert_uint_eq(e.id, b);
        ck_assert_str_eq(e.cmd, "LIST");
        feed(s, "KDMF1 NO what\r\n");
        e = next_event(s, IMAP_EVENT_DONE);
        ck_assert_uint_eq(e.id, a);
        ck_assert_int_eq(e.resp->status, IMAP_STATUS_NO);
        ck_assert_uint_eq(imap_session_pending(s), 0);
        expect_no_event(s);
}
END_TEST

START_TEST(test_unknown_tags) {
        /* docs/SECURITY.md H01/H03: never complete with a foreign tag. */
        static const char *const bad[] = {
                "ZZZZ1 OK what\r\n",    /* foreign prefix */
                "KDMF9 OK what\r\n",    /* ours, never sent */
                "KDMF0 OK again\r\n",   /* already answered */
                "KDMF01 OK what\r\n",   /* not our spelling of 1 */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);

                submit(s, cmd("NOOP", END));
                ck_assert_int_eq(feed_err(s, bad[i]), -EPROTO);
                ck_assert_msg(strstr(imap_session_error(s), i == 0 ? "unexpected response: 'ZZZZ1 OK what'" :
                                                                     "unexpected tagged response"),
                              "%s", imap_session_error(s));
        }
}
END_TEST

START_TEST(test_unexpected_continuation) {
        /* docs/SECURITY.md F13, H02 */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);

        submit(s, cmd("NOOP", END));
        ck_assert_int_eq(feed_err(s, "+ go ahead\r\n"), -EPROTO);
        ck_assert_str_eq(imap_session_error(s), "unexpected continuation request");
}
END_TEST

START_TEST(test_tagged_without_text) {
        /* X-41 / Q9: "<tag> OK" with no text is accepted. */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);
        ImapEvent e;

        submit(s, cmd("NOOP", END));
        take_out(s);
        feed(s, "KDMF1 OK\r\n");
        e = next_event(s, IMAP_EVENT_DONE);
        ck_assert_int_eq(e.resp->status, IMAP_STATUS_OK);
        ck_assert_uint_eq(e.resp->text.len, 0);
}
END_TEST

START_TEST(test_select_and_close) {
        /* X-14, S-33 */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", true);

        submit(s, cmd("SELECT", IMAP_CMD_ARG_ASTRING, "X", END));
        take_out(s);
        feed(s, "KDMF1 NO no such mailbox\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_AUTH);
        submit(s, cmd("EXAMINE", IMAP_CMD_ARG_ASTRING, "INBOX", END));
        take_out(s);
        feed(s, "* 5 EXISTS\r\nKDMF2 OK [READ-ONLY] done\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_SELECTED);
        ck_assert(imap_session_response_has(s, "READ-ONLY"));
        expect_stored(s, "EXISTS", 1, "['5']");
        /* SELECT clears the whole store first. */
        feed(s, "* 6 EXISTS\r\n");
        submit(s, cmd("SELECT", IMAP_CMD_ARG_ASTRING, "INBOX", END));
        ck_assert(!imap_session_response_has(s, "EXISTS"));
        ck_assert(!imap_session_response_has(s, "READ-ONLY"));
        take_out(s);
        feed(s, "KDMF3 OK [READ-WRITE] done\r\n");
        /* CLOSE returns to AUTH even when refused. */
        submit(s, cmd("CLOSE", END));
        take_out(s);
        feed(s, "KDMF4 BAD no\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_AUTH);
}
END_TEST

START_TEST(test_logout) {
        /* S-31 */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", true);

        submit(s, cmd("LOGOUT", END));
        expect_out(s, "KDMF1 LOGOUT\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_LOGOUT);
        feed(s, "* BYE IMAP4ref1 Server logging out\r\n");
        expect_stored(s, "BYE", 1, "['IMAP4ref1 Server logging out']");
        ck_assert_int_eq(imap_session_submit(s, cmd("NOOP", END), now_usec, NULL), -ESHUTDOWN);
        feed(s, "KDMF1 OK LOGOUT completed\r\n");
        ck_assert_int_eq(imap_session_eof(s), -ECONNRESET);
}
END_TEST

START_TEST(test_control_characters) {
        /* S-35 (gh-143921): NUL, CR, LF refused; other controls go quoted. */
        ImapCmd *c = NULL;

        ck_assert_int_eq(imap_cmd_new("LOGIN", &c), 0);
        ck_assert_int_eq(imap_cmd_add_str(c, IMAP_CMD_ARG_ASTRING, "user\r\nA2 DELETE INBOX"), -EINVAL);
        ck_assert_str_eq(imap_cmd_error(c), "NUL, CR and LF not allowed in commands");
        ck_assert_int_eq(imap_cmd_add(c, IMAP_CMD_ARG_STRING, "a\0b", 3), -EINVAL);
        ck_assert_int_eq(imap_cmd_add_str(c, IMAP_CMD_ARG_RAW, "x\ny"), -EINVAL);
        ck_assert_int_eq(imap_cmd_add_str(c, IMAP_CMD_ARG_ASTRING, "tab\there"), 0);
        ck_assert_uint_eq(imap_cmd_n_args(c), 1);
        imap_cmd_free(c);
}
END_TEST

/* ---- quoting and literals ----------------------------------------------------------------- */

typedef struct QuoteCase {
        ImapCmdArgType type;
        const char *in;
        bool utf8;
        const char *want;       /* after "T NAME " */
        unsigned syncs;         /* synchronising literals */
} QuoteCase;

static const QuoteCase quotes[] = {
        { IMAP_CMD_ARG_ASTRING, "INBOX", false, "INBOX", 0 },
        { IMAP_CMD_ARG_ASTRING, "[Gmail]/Sent", false, "[Gmail]/Sent", 0 },
        { IMAP_CMD_ARG_ASTRING, "my mail", false, "\"my mail\"", 0 },
        { IMAP_CMD_ARG_ASTRING, "", false, "\"\"", 0 },
        { IMAP_CMD_ARG_ASTRING, "a\"b\\c", false, "\"a\\\"b\\\\c\"", 0 },
        { IMAP_CMD_ARG_ASTRING, "100%", false, "\"100%\"", 0 },
        { IMAP_CMD_ARG_ASTRING, "x*", false, "\"x*\"", 0 },
        { IMAP_CMD_ARG_ASTRING, "(a)", false, "\"(a)\"", 0 },
        { IMAP_CMD_ARG_ASTRING, "{5}", false, "\"{5}\"", 0 },
        { IMAP_CMD_ARG_ASTRING, "tab\there", false, "\"tab\there\"", 0 },
        { IMAP_CMD_ARG_ASTRING, "Gr\xc3\xbc\xc3\x9f""e", false, "{7}\r\nGr\xc3\xbc\xc3\x9f""e", 1 },
        { IMAP_CMD_ARG_ASTRING, "Gr\xc3\xbc\xc3\x9f""e", true, "\"Gr\xc3\xbc\xc3\x9f""e\"", 0 },
        { IMAP_CMD_ARG_LIST_MAILBOX, "*", false, "*", 0 },
        { IMAP_CMD_ARG_LIST_MAILBOX, "Lists/%", false, "Lists/%", 0 },
        { IMAP_CMD_ARG_LIST_MAILBOX, "", false, "\"\"", 0 },
        { IMAP_CMD_ARG_STRING, "pass", false, "\"pass\"", 0 },
        { IMAP_CMD_ARG_STRING, "p\"w", false, "\"p\\\"w\"", 0 },
        { IMAP_CMD_ARG_FLAGS, "\\Seen", false, "(\\Seen)", 0 },
        { IMAP_CMD_ARG_FLAGS, "(\\Seen \\Flagged)", false, "(\\Seen \\Flagged)", 0 },
        { IMAP_CMD_ARG_FLAGS, "[test]", false, "([test])", 0 },
        { IMAP_CMD_ARG_RAW, "(UID BODY[HEADER.FIELDS (FROM)])", false, "(UID BODY[HEADER.FIELDS (FROM)])", 0 },
        { IMAP_CMD_ARG_ATOM, "1:*", false, "1:*", 0 },
        { IMAP_CMD_ARG_LITERAL, "a\r\nb", false, "{4}\r\na\r\nb", 1 },
        { IMAP_CMD_ARG_LITERAL, "", false, "{0}\r\n", 1 },
};

START_TEST(test_quoting) {
        const QuoteCase *q = &quotes[_i];
        _cleanup_(imap_cmd_freep) ImapCmd *c = NULL;
        ImapCmdWireOpts o = { .utf8 = q->utf8 };
        Buf out = BUF_INIT;
        _cleanup_free_ size_t *syncs = NULL;
        size_t n_syncs = 0;
        char want[256];

        ck_assert_int_eq(imap_cmd_new("x", &c), 0);
        ck_assert_int_eq(imap_cmd_add_str(c, q->type, q->in), 0);
        ck_assert_int_eq(imap_cmd_serialize(c, "T", &o, &out, &syncs, &n_syncs), 0);
        snprintf(want, sizeof(want), "T X %s\r\n", q->want);
        ck_assert_str_eq(out.data, want);
        ck_assert_uint_eq(n_syncs, q->syncs);
        buf_done(&out);
}
END_TEST

START_TEST(test_cmd_refusals) {
        ImapCmd *c = NULL;
        Buf out = BUF_INIT;
        size_t *syncs = NULL, n = 0;

        ck_assert_int_eq(imap_cmd_new("", &c), -EINVAL);
        ck_assert_int_eq(imap_cmd_new("NO OP", &c), -EINVAL);
        ck_assert_int_eq(imap_cmd_new("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGH", &c), -EINVAL);
        ck_assert_int_eq(imap_cmd_new("fetch", &c), 0);
        ck_assert_str_eq(imap_cmd_name(c), "FETCH");
        ck_assert_int_eq(imap_cmd_add_str(c, IMAP_CMD_ARG_ATOM, ""), -EINVAL);
        ck_assert_int_eq(imap_cmd_add_str(c, IMAP_CMD_ARG_ATOM, "a b"), -EINVAL);
        ck_assert_str_eq(imap_cmd_error(c), "not an atom");
        /* 8-bit raw text cannot go out before ENABLE UTF8=ACCEPT. */
        ck_assert_int_eq(imap_cmd_add_str(c, IMAP_CMD_ARG_RAW, "SUBJECT \xc3\xa4"), 0);
        ck_assert_int_eq(imap_cmd_serialize(c, "T", NULL, &out, &syncs, &n), -EINVAL);
        ck_assert_uint_eq(out.len, 0);
        imap_cmd_free(c);
        buf_done(&out);
}
END_TEST

START_TEST(test_literal_waits_for_continuation) {
        /* */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", true);
        ImapEvent e;

        submit(s, cmd("APPEND", IMAP_CMD_ARG_ASTRING, "INBOX", IMAP_CMD_ARG_FLAGS, "(\\Seen \\Flagged)",
                      IMAP_CMD_ARG_LITERAL, "a\r\nb\r\nc", END));
        expect_out(s, "KDMF1 APPEND INBOX (\\Seen \\Flagged) {7}\r\n");
        /* Nothing behind it is written until it is answered. */
        submit(s, cmd("NOOP", END));
        expect_no_out(s);
        feed(s, "+ go\r\n");
        expect_no_event(s);
        /* Once the literal is out the APPEND is complete on our side, and the
         * NOOP may be pipelined behind it. */
        expect_out(s, "a\r\nb\r\nc\r\nKDMF2 NOOP\r\n");
        feed(s, "KDMF1 OK [APPENDUID 1 2] done\r\n");
        e = next_event(s, IMAP_EVENT_DONE);
        ck_assert_int_eq(e.resp->code.type, IMAP_CODE_APPENDUID);
        expect_stored(s, "APPENDUID", 1, "['1 2']");
}
END_TEST

START_TEST(test_literal_refused_before_continuation) {
        /* a NO instead of "+": the literal is never sent. */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", true);
        ImapEvent e;

        submit(s, cmd("APPEND", IMAP_CMD_ARG_ASTRING, "X", IMAP_CMD_ARG_FLAGS, "\\Seen", IMAP_CMD_ARG_RAW,
                      "\"01-Jan-2020 00:00:00 +0000\"", IMAP_CMD_ARG_LITERAL, "a\r\nb", END));
        expect_out(s, "KDMF1 APPEND X (\\Seen) \"01-Jan-2020 00:00:00 +0000\" {4}\r\n");
        feed(s, "KDMF1 NO [TRYCREATE] no mailbox\r\n");
        e = next_event(s, IMAP_EVENT_DONE);
        ck_assert_int_eq(e.resp->status, IMAP_STATUS_NO);
        expect_no_out(s);
        expect_stored(s, "TRYCREATE", 1, "['']");
        /* The next command goes out normally. */
        submit(s, cmd("NOOP", END));
        expect_out(s, "KDMF2 NOOP\r\n");
}
END_TEST

START_TEST(test_literal_plus) {
        /* RFC 7888: with LITERAL+ no wait; with LITERAL- only up to 4096 bytes. */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("LITERAL+", false);
        _cleanup_(imap_session_freep) ImapSession *m = logged_in("LITERAL-", false);
        static char big[4098];
        const void *buf;
        size_t len;

        submit(s, cmd("APPEND", IMAP_CMD_ARG_ASTRING, "INBOX", IMAP_CMD_ARG_LITERAL, "abc", END));
        expect_out(s, "KDMF1 APPEND INBOX {3+}\r\nabc\r\n");

        submit(m, cmd("APPEND", IMAP_CMD_ARG_ASTRING, "INBOX", IMAP_CMD_ARG_LITERAL, "abc", END));
        expect_out(m, "KDMF1 APPEND INBOX {3+}\r\nabc\r\n");
        feed(m, "KDMF1 OK done\r\n");
        memset(big, 'x', 4097);
        submit(m, cmd("APPEND", IMAP_CMD_ARG_ASTRING, "INBOX", IMAP_CMD_ARG_LITERAL, big, END));
        imap_session_output(m, &buf, &len);
        ck_assert_uint_eq(len, strlen("KDMF2 APPEND INBOX {4097}\r\n"));
        ck_assert(memcmp(buf, "KDMF2 APPEND INBOX {4097}\r\n", len) == 0);
}
END_TEST

START_TEST(test_utf8_append) {
        /* S-20 (RFC 6855): after ENABLE UTF8=ACCEPT, APPEND sends UTF8 (~{n} ... ). */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("ENABLE UTF8=ACCEPT", false);
        static const char msg[] = "Subject: \xc3\xbc\xc3\xb1\xc3\xad\xc2\xa9\xc3\xb6\xc3\xb0\xc3\xa9\r\n";

        ck_assert(!imap_session_utf8(s));
        submit(s, cmd("ENABLE", IMAP_CMD_ARG_ATOM, "UTF8=ACCEPT", END));
        expect_out(s, "KDMF1 ENABLE UTF8=ACCEPT\r\n");
        feed(s, "* ENABLED UTF8=ACCEPT\r\nKDMF1 OK ENABLE successful\r\n");
        ck_assert(imap_session_utf8(s));
        ck_assert_uint_eq(strlen(msg), 25);
        submit(s, cmd("APPEND", IMAP_CMD_ARG_ASTRING, "INBOX", IMAP_CMD_ARG_UTF8_LITERAL, msg, END));
        expect_out(s, "KDMF2 APPEND INBOX UTF8 (~{25}\r\n");
        feed(s, "+\r\n");
        {
                char want[64];
                snprintf(want, sizeof(want), "%s)\r\n", msg);
                expect_out(s, want);
        }
}
END_TEST

/* ---- untagged store ------------------------------------------------------------------------ */

START_TEST(test_store_fragments) {
        /* */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", true);

        submit(s, cmd("SELECT", IMAP_CMD_ARG_ASTRING, "INBOX", END));
        take_out(s);
        feed(s, "KDMF1 OK done\r\n");
        submit(s, cmd("FETCH", IMAP_CMD_ARG_ATOM, "1:2", IMAP_CMD_ARG_RAW, "(BODY[1] BODY[2])", END));
        take_out(s);
        feed(s, "* 1 FETCH (BODY[1] {3}\r\nabc BODY[2] {2}\r\nde)\r\n* 2 FETCH (FLAGS (\\Seen))\r\nKDMF2 OK done\r\n");
        expect_stored(s, "FETCH", 2, "[('1 (BODY[1] {3}', 'abc'), (' BODY[2] {2}', 'de'), ')']",
                      "['2 (FLAGS (\\Seen))']");
        expect_stored(s, "FETCH", 0);
}
END_TEST

START_TEST(test_store_codes) {
        /* a tagged NO with [ALERT]: the code is stored, the status is not. */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", true);

        submit(s, cmd("NOOP", END));
        take_out(s);
        feed(s, "* OK [UIDNEXT 7] predicted\r\nKDMF1 NO [ALERT] nope\r\n");
        expect_stored(s, "ALERT", 1, "['']");
        expect_stored(s, "NO", 0);
        expect_stored(s, "OK", 1, "['[UIDNEXT 7] predicted']");
        expect_stored(s, "UIDNEXT", 1, "['7']");
}
END_TEST

START_TEST(test_store_cap) {
        /* docs/SECURITY.md H08: a flood cannot grow the store past its cap. */
        ImapSessionParams p = { .keep_untagged = true, .max_stored = 4096, .now = now_usec };
        _cleanup_(imap_session_freep) ImapSession *s = NULL;
        ImapDatum **v = NULL;
        size_t n = 0;

        ck_assert_int_eq(imap_session_new(&p, &s), 0);
        feed(s, "* PREAUTH hi\r\n");
        for (unsigned i = 1; i <= 10000; i++) {
                char line[64];
                snprintf(line, sizeof(line), "* %u EXISTS\r\n", i);
                feed(s, line);
                drain_events(s);
        }
        ck_assert_uint_gt(imap_session_response_dropped(s), 9000);
        ck_assert_int_eq(imap_session_response_pop(s, "EXISTS", &v, &n), 0);
        ck_assert_uint_gt(n, 0);
        ck_assert_uint_lt(n, 100);
        /* The newest survive. */
        ck_assert_str_eq(v[n - 1]->frags[0].text, "10000");
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}
END_TEST

START_TEST(test_no_store_when_not_kept) {
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", false);
        ImapEvent e;

        feed(s, "* 3 EXISTS\r\n");
        e = next_event(s, IMAP_EVENT_UNTAGGED);
        ck_assert_int_eq(e.resp->data_type, IMAP_DATA_EXISTS);
        ck_assert_uint_eq(e.resp->number, 3);
        ck_assert(!imap_session_response_has(s, "EXISTS"));
}
END_TEST

/* ---- IDLE ------------------------------------------------------------------------------------ */

START_TEST(test_idle_iteration) {
        /* S-41 */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", true);
        ImapEvent e;
        uint32_t id;

        id = submit(s, cmd("IDLE", END));
        expect_out(s, "KDMF1 IDLE\r\n");
        ck_assert(imap_session_idle_capturing(s));
        feed(s, "* 0 EXISTS\r\n");
        next_event(s, IMAP_EVENT_UNTAGGED);
        /* DONE before the "+" would be read as a command: refused. */
        ck_assert_int_eq(imap_session_idle_done(s, now_usec), -EAGAIN);
        expect_no_out(s);
        feed(s, "+ idling\r\n");
        e = next_event(s, IMAP_EVENT_IDLING);
        ck_assert_uint_eq(e.id, id);
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_IDLING);
        feed(s, "* 2 EXISTS\r\n* 1 FETCH (BODY[HEADER.FIELDS (DATE)] {41}\r\n"
                "Date: Fri, 06 Dec 2024 06:00:00 +0000\r\n\r\n)\r\n* 3 EXISTS\r\n");
        expect_idle_item(s, "EXISTS", "['0']");
        expect_idle_item(s, "EXISTS", "['2']");
        expect_idle_item(s, "FETCH", "[('1 (BODY[HEADER.FIELDS (DATE)] {41}', "
                                     "'Date: Fri, 06 Dec 2024 06:00:00 +0000\r\n\r\n'), ')']");
        expect_idle_item(s, "EXISTS", "['3']");
        feed(s, "* 1 RECENT\r\n");
        /* nothing else while idling. */
        ck_assert_int_eq(imap_session_submit(s, cmd("NOOP", END), now_usec, NULL), -EPERM);
        ck_assert_str_eq(imap_session_error(s), "command NOOP illegal in state IDLING, only allowed in states "
                                                "NONAUTH, AUTH, SELECTED, LOGOUT");
        /* no nested IDLE. */
        ck_assert_int_eq(imap_session_submit(s, cmd("IDLE", END), now_usec, NULL), -EBUSY);
        /* No deadline while idling: waiting is the point. */
        ck_assert_uint_eq(imap_session_deadline(s), USEC_INFINITY);
        ck_assert_int_eq(imap_session_idle_done(s, now_usec), 0);
        expect_out(s, "DONE\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_AUTH);
        ck_assert(!imap_session_idle_capturing(s));
        feed(s, "* 9 RECENT\r\nKDMF1 OK Idle completed\r\n");
        drain_events(s);
        expect_stored(s, "EXISTS", 0);
        expect_stored(s, "RECENT", 2, "['1']", "['9']");
        ck_assert_uint_eq(imap_session_pending(s), 0);
}
END_TEST

START_TEST(test_idle_denied) {
        /* S-40, X-35 / Q1: a refusal is an ordinary reply; captured responses
         * reach the store; IDLE can be tried again. */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", true);
        ImapEvent e;

        submit(s, cmd("IDLE", END));
        expect_out(s, "KDMF1 IDLE\r\n");
        feed(s, "* 7 EXISTS\r\nKDMF1 NO IDLE is not allowed at this time\r\n");
        next_event(s, IMAP_EVENT_UNTAGGED);
        e = next_event(s, IMAP_EVENT_DONE);
        ck_assert_int_eq(e.resp->status, IMAP_STATUS_NO);
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_AUTH);
        ck_assert(!imap_session_idle_capturing(s));
        expect_stored(s, "EXISTS", 1, "['7']");
        submit(s, cmd("IDLE", END));
        expect_out(s, "KDMF2 IDLE\r\n");
}
END_TEST

START_TEST(test_idle_not_advertised) {
        /* S-39 */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", true);

        ck_assert_int_eq(imap_session_submit(s, cmd("IDLE", END), now_usec, NULL), -EOPNOTSUPP);
        ck_assert_str_eq(imap_session_error(s), "Server does not support IMAP4 IDLE");
        expect_no_out(s);
}
END_TEST

START_TEST(test_idle_ended_by_server) {
        /* X-36 / Q3, and an extra "+" while idling. */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", true);
        ImapEvent e;

        submit(s, cmd("IDLE", END));
        expect_out(s, "KDMF1 IDLE\r\n");
        feed(s, "+ idling\r\n+ still here\r\n");
        drain_events(s);
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_IDLING);
        feed(s, "* 4 EXISTS\r\nKDMF1 OK IDLE terminated by server\r\n");
        next_event(s, IMAP_EVENT_UNTAGGED);
        e = next_event(s, IMAP_EVENT_DONE);
        ck_assert_int_eq(e.resp->status, IMAP_STATUS_OK);
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_AUTH);
        /* The queue still holds what came; ending IDLE sends no DONE. */
        expect_idle_item(s, "EXISTS", "['4']");
        ck_assert_int_eq(imap_session_idle_done(s, now_usec), 1);
        expect_no_out(s);
        ck_assert_int_eq(imap_session_idle_done(s, now_usec), -ENOENT);
}
END_TEST

START_TEST(test_idle_codes_queued_separately) {
        /* */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", true);

        submit(s, cmd("IDLE", END));
        take_out(s);
        feed(s, "+ idling\r\n* OK [ALERT] disk full\r\n* 2 FETCH (BODY[1] {3}\r\nabc BODY[2] {2}\r\nde)\r\n");
        expect_idle_item(s, "OK", "['[ALERT] disk full']");
        expect_idle_item(s, "ALERT", "['']");
        expect_idle_item(s, "FETCH", "[('2 (BODY[1] {3}', 'abc'), (' BODY[2] {2}', 'de'), ')']");
}
END_TEST

START_TEST(test_idle_leftovers_to_store) {
        /* responses before "+" with a literal, never iterated. */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", true);

        submit(s, cmd("IDLE", END));
        take_out(s);
        feed(s, "* 2 FETCH (BODY[1] {3}\r\nabc)\r\n+ idling\r\n");
        ck_assert_int_eq(imap_session_idle_done(s, now_usec), 0);
        feed(s, "KDMF1 OK done\r\n");
        expect_stored(s, "FETCH", 1, "[('2 (BODY[1] {3}', 'abc'), ')']");
}
END_TEST

START_TEST(test_idle_bye) {
        /* BYE while idling is queued like any response. */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", true);

        submit(s, cmd("IDLE", END));
        take_out(s);
        feed(s, "+ idling\r\n* BYE autologout\r\n");
        expect_idle_item(s, "BYE", "['autologout']");
        /* The session answers BYE with nothing: no DONE unless the caller asks for it
         * (the client does not; test-imap-client.c test_X32_bye_while_idling). */
        expect_no_out(s);
        ck_assert_int_eq(imap_session_eof(s), -ECONNRESET);
        ck_assert_str_eq(imap_session_error(s), "socket error: EOF");
}
END_TEST

/* ---- AUTHENTICATE ----------------------------------------------------------------------------- */

static ImapSession *greeted(const char *caps) {
        ImapSession *s = new_session(true);
        char g[256];

        snprintf(g, sizeof(g), "* OK [CAPABILITY IMAP4rev1 %s] hi\r\n", caps);
        feed(s, g);
        drain_events(s);
        return s;
}

START_TEST(test_authenticate_sasl_ir) {
        /* RFC 4959: the initial response rides on the command line. */
        _cleanup_(imap_session_freep) ImapSession *s = greeted("SASL-IR AUTH=PLAIN");
        ImapSaslCreds cr = { .user = "tim", .secret = "pw" };
        ImapSasl *sasl = NULL;

        ck_assert_int_eq(imap_sasl_new("PLAIN", &cr, &sasl), 0);
        ck_assert_int_eq(imap_session_authenticate(s, sasl, now_usec, NULL), 0);
        expect_out(s, "KDMF0 AUTHENTICATE PLAIN AHRpbQBwdw==\r\n");
        feed(s, "KDMF0 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_AUTH);
        /* The CAPABILITY code of the tagged OK replaces what we knew. */
        ck_assert(imap_session_has_capability(s, "IDLE"));
        ck_assert(!imap_session_has_capability(s, "SASL-IR"));
}
END_TEST

START_TEST(test_authenticate_rounds) {
        /* Without SASL-IR the first response waits for "+". */
        _cleanup_(imap_session_freep) ImapSession *s = greeted("AUTH=PLAIN");
        ImapSaslCreds cr = { .user = "tim", .secret = "pw" };
        ImapSasl *sasl = NULL;

        ck_assert_int_eq(imap_sasl_new("PLAIN", &cr, &sasl), 0);
        ck_assert_int_eq(imap_session_authenticate(s, sasl, now_usec, NULL), 0);
        expect_out(s, "KDMF0 AUTHENTICATE PLAIN\r\n");
        /* Nothing is pipelined behind AUTHENTICATE. */
        submit(s, cmd("NOOP", END));
        expect_no_out(s);
        feed(s, "+ \r\n");
        expect_out(s, "AHRpbQBwdw==\r\n");
        feed(s, "KDMF0 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_NONAUTH);
        ck_assert_ptr_null(imap_session_sasl_error(s));
        expect_out(s, "KDMF1 NOOP\r\n");
}
END_TEST

START_TEST(test_authenticate_mechanism_fails) {
        /* Q8: our side cannot compute a response: cancel with "*". */
        _cleanup_(imap_session_freep) ImapSession *s = greeted("AUTH=CRAM-MD5");
        OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
        OSSL_PROVIDER *prov = OSSL_PROVIDER_load(ctx, "null");
        ImapSaslCreds cr = { .user = "tim", .secret = "pw", .ossl_libctx = ctx };
        ImapSasl *sasl = NULL;

        ck_assert_ptr_nonnull(prov);
        ck_assert_int_eq(imap_sasl_new("CRAM-MD5", &cr, &sasl), 0);
        ck_assert_int_eq(imap_session_authenticate(s, sasl, now_usec, NULL), 0);
        expect_out(s, "KDMF0 AUTHENTICATE CRAM-MD5\r\n");
        feed(s, "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ=\r\n");
        expect_out(s, "*\r\n");
        ck_assert_str_eq(imap_session_sasl_error(s), "CRAM-MD5 authentication is not supported");
        feed(s, "KDMF0 BAD cancelled\r\n");
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_NONAUTH);
        OSSL_PROVIDER_unload(prov);
        OSSL_LIB_CTX_free(ctx);
}
END_TEST

/* ---- STARTTLS, timeouts, EOF ---------------------------------------------------------------- */

START_TEST(test_starttls_injection) {
        /* docs/SECURITY.md B01 / INV-2: bytes after the tagged OK, even in the same
         * segment, kill the connection. */
        _cleanup_(imap_session_freep) ImapSession *s = new_session(true);
        static const char in[] = "KDMF0 OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n";
        size_t used;
        ImapEvent e;

        feed(s, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n");
        drain_events(s);
        submit(s, cmd("STARTTLS", END));
        expect_out(s, "KDMF0 STARTTLS\r\n");
        /* Nothing may follow STARTTLS before the handshake. */
        ck_assert_int_eq(imap_session_submit(s, cmd("NOOP", END), now_usec, NULL), 0);
        expect_no_out(s);
        ck_assert_int_eq(imap_session_feed(s, in, sizeof(in) - 1, now_usec, &used), 1);
        ck_assert_uint_lt(used, sizeof(in) - 1);
        next_event(s, IMAP_EVENT_DONE);
        e = next_event(s, IMAP_EVENT_STARTTLS);
        ck_assert(imap_session_tls_pending(s));
        /* The NOOP queued behind STARTTLS stays queued until TLS is up. */
        expect_no_out(s);
        ck_assert_int_eq(imap_session_feed(s, in + used, sizeof(in) - 1 - used, now_usec, &used), -EPROTO);
        ck_assert(strstr(imap_session_error(s), "data after STARTTLS"));
        (void) e;
}
END_TEST

START_TEST(test_starttls_forgets_plaintext) {
        _cleanup_(imap_session_freep) ImapSession *s = new_session(true);

        feed(s, "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n");
        feed(s, "* OK [ALERT] plaintext alert\r\n");
        drain_events(s);
        submit(s, cmd("STARTTLS", END));
        expect_out(s, "KDMF0 STARTTLS\r\n");
        feed(s, "KDMF0 OK go\r\n");
        ck_assert_int_eq(imap_session_submit(s, cmd("NOOP", END), now_usec, NULL), -EPERM);
        ck_assert_int_eq(imap_session_starttls_done(s), 0);
        {
                /* The events of the OK stay readable after the switch. */
                ImapEvent e = next_event(s, IMAP_EVENT_DONE);
                ck_assert_str_eq(e.cmd, "STARTTLS");
                ck_assert_uint_eq(e.resp->text.len, 2);
                ck_assert(memcmp(e.resp->text.ptr, "go", 2) == 0);
                next_event(s, IMAP_EVENT_STARTTLS);
        }
        ck_assert(!imap_session_has_capability(s, "STARTTLS"));
        ck_assert(!imap_session_response_has(s, "ALERT"));
        submit(s, cmd("CAPABILITY", END));
        /* The NOOP refused before the handshake went nowhere; the new command goes now. */
        expect_out(s, "KDMF1 CAPABILITY\r\n");
}
END_TEST

START_TEST(test_starttls_not_advertised) {
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);

        feed(s, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
        ck_assert_int_eq(imap_session_submit(s, cmd("STARTTLS", END), now_usec, NULL), -EOPNOTSUPP);
        expect_no_out(s);
}
END_TEST

START_TEST(test_command_timeout) {
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", false);
        usec_t t0 = now_usec;

        ck_assert_uint_eq(imap_session_deadline(s), USEC_INFINITY);
        submit(s, cmd("NOOP", END));
        ck_assert_uint_eq(imap_session_deadline(s), t0 + 60 * USEC_PER_SEC);
        /* Progress (any byte) pushes the deadline out. */
        now_usec = t0 + 50 * USEC_PER_SEC;
        feed(s, "* 1 EXISTS\r\n");
        ck_assert_uint_eq(imap_session_deadline(s), now_usec + 60 * USEC_PER_SEC);
        ck_assert_int_eq(imap_session_tick(s, now_usec + 60 * USEC_PER_SEC - 1), 0);
        ck_assert_int_eq(imap_session_tick(s, now_usec + 60 * USEC_PER_SEC), -ETIMEDOUT);
        ck_assert_str_eq(imap_session_error(s), "timed out waiting for the reply to NOOP");
        now_usec = t0;
}
END_TEST

START_TEST(test_S12_timeout_zero_means_none) {
        /* S-12: imaplib's timeout=None is 0 here.  0 sets no deadline at all, for the greeting
         * or for a command, however late it gets; a value sets one exactly that long.  Both
         * directions, on the same transcript. */
        static const usec_t year = 365 * 24 * 3600 * USEC_PER_SEC;
        usec_t t0 = now_usec;

        for (unsigned zero = 0; zero < 2; zero++) {
                usec_t g = zero ? 0 : 2 * USEC_PER_SEC, c = zero ? 0 : 3 * USEC_PER_SEC;
                _cleanup_(imap_session_freep) ImapSession *s = new_session_timeouts(false, g, c);

                now_usec = t0;
                ck_assert_uint_eq(imap_session_deadline(s), zero ? USEC_INFINITY : t0 + g);
                ck_assert_int_eq(imap_session_tick(s, t0 + (zero ? year : g - 1)), 0);
                ck_assert(!imap_session_is_dead(s));
                if (!zero) {
                        /* The greeting's deadline is applied: it fires on the microsecond. */
                        _cleanup_(imap_session_freep) ImapSession *late = new_session_timeouts(false, g, c);

                        ck_assert_int_eq(imap_session_tick(late, t0 + g), -ETIMEDOUT);
                        ck_assert_str_eq(imap_session_error(late), "timed out waiting for the greeting");
                }
                now_usec = t0 + USEC_PER_SEC;
                feed(s, "* OK [CAPABILITY IMAP4rev1] hi\r\n");
                drain_events(s);
                /* Nothing pending: no deadline either way. */
                ck_assert_uint_eq(imap_session_deadline(s), USEC_INFINITY);
                submit(s, cmd("NOOP", END));
                expect_out(s, "KDMF0 NOOP\r\n");
                ck_assert_uint_eq(imap_session_deadline(s), zero ? USEC_INFINITY : now_usec + c);
                if (zero) {
                        /* A year without a byte is not a timeout when there is none. */
                        ck_assert_int_eq(imap_session_tick(s, now_usec + year), 0);
                        ck_assert(!imap_session_is_dead(s));
                        feed(s, "KDMF0 OK late\r\n");
                        ck_assert_int_eq(next_event(s, IMAP_EVENT_DONE).resp->status, IMAP_STATUS_OK);
                } else {
                        ck_assert_int_eq(imap_session_tick(s, now_usec + c - 1), 0);
                        ck_assert_int_eq(imap_session_tick(s, now_usec + c), -ETIMEDOUT);
                        ck_assert_str_eq(imap_session_error(s), "timed out waiting for the reply to NOOP");
                }
        }
        now_usec = t0;
}
END_TEST

/* Feed one byte of 'in' every 200 ms of the injected clock, from now_usec + 200 ms, calling
 * imap_session_tick() before each byte as an event loop would when its timer and the socket
 * are due together; 'check' runs after every byte.  Stops at the first tick that fails and
 * returns it (0: every byte went in).  *ret_fed is the number of bytes fed. */
static int drip(ImapSession *s, const char *in, void (*check)(ImapSession *s, usec_t at), size_t *ret_fed) {
        size_t n = strlen(in);

        *ret_fed = 0;
        for (size_t i = 0; i < n; i++) {
                size_t used = 0;
                int r;

                now_usec += 200 * USEC_PER_MSEC;
                r = imap_session_tick(s, now_usec);
                if (r < 0)
                        return r;
                r = imap_session_feed(s, in + i, 1, now_usec, &used);
                ck_assert_msg(r >= 0, "feed failed (%d): %s", r, imap_session_error(s));
                ck_assert_uint_eq(used, 1);
                (*ret_fed)++;
                if (check)
                        check(s, now_usec);
        }
        return 0;
}

static usec_t drip_t0;

static void greeting_deadline_fixed(ImapSession *s, usec_t at) {
        (void) at;
        ck_assert_uint_eq(imap_session_deadline(s), drip_t0 + USEC_PER_SEC);
}

static void no_deadline_while_idling(ImapSession *s, usec_t at) {
        (void) at;
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_IDLING);
        ck_assert_uint_eq(imap_session_deadline(s), USEC_INFINITY);
}

static void command_deadline_follows_bytes(ImapSession *s, usec_t at) {
        ck_assert_uint_eq(imap_session_deadline(s), at + USEC_PER_SEC);
}

START_TEST(test_S43_trickle_across_deadline) {
        /* S-43's trickle: a response dripped one byte per 200 ms of the injected clock across
         * a deadline.  The rules (docs/ENGINE.md, Deadlines): the greeting's deadline is
         * absolute, so a drip does not push it out and it fires with bytes still arriving;
         * IDLE has no deadline in the session (the caller's duration is its own absolute
         * time), and the partial response stays buffered across it; a command's deadline
         * counts from the last byte, so after DONE the drip keeps it alive and silence
         * fires it exactly one cmd_timeout after the last byte. */
        usec_t t0 = now_usec, done_at;
        size_t fed;

        drip_t0 = t0;
        {
                _cleanup_(imap_session_freep) ImapSession *s = new_session_timeouts(true, USEC_PER_SEC,
                                                                                    USEC_PER_SEC);

                /* Bytes at 200, 400, 600, 800 ms; the tick at 1000 ms fires before the fifth. */
                ck_assert_int_eq(drip(s, "* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n",
                                      greeting_deadline_fixed, &fed), -ETIMEDOUT);
                ck_assert_uint_eq(fed, 4);
                ck_assert_uint_eq(now_usec, t0 + USEC_PER_SEC);
                ck_assert_str_eq(imap_session_error(s), "timed out waiting for the greeting");
                ck_assert(imap_session_is_dead(s));
                expect_no_event(s);
        }
        now_usec = t0;
        {
                _cleanup_(imap_session_freep) ImapSession *s = NULL;
                ImapSessionParams p = {
                        .tag_prefix = "KDMF",
                        .keep_untagged = true,
                        .cmd_timeout = USEC_PER_SEC,
                        .greeting_timeout = USEC_PER_SEC,
                        .now = now_usec,
                };

                ck_assert_int_eq(imap_session_new(&p, &s), 0);
                feed(s, "* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n");
                drain_events(s);
                submit(s, cmd("IDLE", END));
                expect_out(s, "KDMF0 IDLE\r\n");
                feed(s, "+ idling\r\n");
                next_event(s, IMAP_EVENT_IDLING);
                /* The drip starts: "* 1 EX" by 1.2 s, longer than cmd_timeout, and no deadline
                 * fires while idling. */
                ck_assert_int_eq(drip(s, "* 1 EX", no_deadline_while_idling, &fed), 0);
                ck_assert(imap_session_in_response(s));
                ck_assert_int_eq(imap_session_idle_pop(s, &(ImapDatum *) { NULL }), 0);
                /* The caller's duration is over: DONE goes out with "* 1 EX" held. */
                ck_assert_int_eq(imap_session_idle_done(s, now_usec), 0);
                expect_out(s, "DONE\r\n");
                done_at = now_usec;
                ck_assert_uint_eq(imap_session_deadline(s), done_at + USEC_PER_SEC);
                /* The rest drips in, 200 ms a byte, 1.6 s in all: each byte is progress. */
                ck_assert_int_eq(drip(s, "ISTS\r\nKD", command_deadline_follows_bytes, &fed), 0);
                ck_assert_uint_eq(now_usec, done_at + 8 * 200 * USEC_PER_MSEC);
                ck_assert(!imap_session_is_dead(s));
                /* Kept and completed, never cut: "* 1 EXISTS" whole, in the store. */
                expect_stored(s, "EXISTS", 1, "['1']");
                /* Then silence, half-way into the tagged reply: the deadline fires exactly
                 * cmd_timeout after the last byte. */
                ck_assert_int_eq(imap_session_tick(s, now_usec + USEC_PER_SEC - 1), 0);
                ck_assert_int_eq(imap_session_tick(s, now_usec + USEC_PER_SEC), -ETIMEDOUT);
                ck_assert_str_eq(imap_session_error(s), "timed out waiting for the reply to IDLE");
        }
        now_usec = t0;
}
END_TEST

START_TEST(test_eof_mid_response) {
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);

        submit(s, cmd("NOOP", END));
        feed(s, "* 1 FETCH (BODY[] {10}\r\nabc");
        ck_assert(imap_session_in_response(s));
        ck_assert_int_eq(imap_session_eof(s), -ECONNRESET);
        ck_assert_str_eq(imap_session_error(s), "socket error: EOF in the middle of a response");
}
END_TEST

START_TEST(test_malformed_is_fatal) {
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);

        ck_assert_int_eq(feed_err(s, "* 1 FETCH (UID 1\r\n"), -EBADMSG);
        ck_assert_str_eq(imap_session_error(s), "malformed response from server: unterminated list");
        ck_assert(imap_session_is_dead(s));
        ck_assert_int_eq(imap_session_submit(s, cmd("NOOP", END), now_usec, NULL), -ESHUTDOWN);
}
END_TEST

/* Findings of fuzz-imap-session (regress-* in its corpus), as unit tests. */

START_TEST(test_nothing_out_after_death) {
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", false);

        submit(s, cmd("IDLE", END));
        expect_out(s, "KDMF1 IDLE\r\n");
        feed(s, "+ idling\r\n");
        ck_assert_int_eq(feed_err(s, "* 1 FETCH (\r\n"), -EBADMSG);
        ck_assert_int_eq(imap_session_idle_done(s, now_usec), -ESHUTDOWN);
        expect_no_out(s);
}
END_TEST

START_TEST(test_starttls_done_after_injection) {
        /* The password queued behind STARTTLS must never go out once the
         * injection check has killed the session. */
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);

        feed(s, "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n");
        submit(s, cmd("STARTTLS", END));
        submit(s, cmd("LOGIN", IMAP_CMD_ARG_ASTRING, "user", IMAP_CMD_ARG_STRING, "secret", END));
        expect_out(s, "KDMF0 STARTTLS\r\n");
        ck_assert_int_eq(feed_err(s, "KDMF0 OK go\r\n* OK injected\r\n"), -EPROTO);
        ck_assert_int_eq(imap_session_starttls_done(s), -ESHUTDOWN);
        expect_no_out(s);
}
END_TEST

START_TEST(test_reply_to_unsent_command) {
        /* H01/H03: a tag we allocated but never sent cannot complete anything. */
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);

        feed(s, "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n");
        submit(s, cmd("STARTTLS", END));
        submit(s, cmd("LOGIN", IMAP_CMD_ARG_ASTRING, "user", IMAP_CMD_ARG_STRING, "secret", END));
        expect_out(s, "KDMF0 STARTTLS\r\n");
        ck_assert_int_eq(feed_err(s, "KDMF1 OK LOGIN done\r\n"), -EPROTO);
        ck_assert_int_eq(imap_session_state(s), IMAP_STATE_NONAUTH);
        expect_no_out(s);
}
END_TEST

START_TEST(test_continuation_for_unsent_command) {
        /* A "+" answered to STARTTLS must not release a queued AUTHENTICATE's
         * credentials in plaintext (F13/H02). */
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);
        ImapSaslCreds cr = { .user = "tim", .secret = "pw" };
        ImapSasl *sasl = NULL;

        feed(s, "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hi\r\n");
        submit(s, cmd("STARTTLS", END));
        ck_assert_int_eq(imap_sasl_new("PLAIN", &cr, &sasl), 0);
        ck_assert_int_eq(imap_session_authenticate(s, sasl, now_usec, NULL), 0);
        expect_out(s, "KDMF0 STARTTLS\r\n");
        ck_assert_int_eq(feed_err(s, "+ \r\n"), -EPROTO);
        expect_no_out(s);
}
END_TEST

/* ---- replies to commands not yet sent (catalogue case A05) ------------------------------ */

/* A05: "A0 OK" in the greeting's segment, there before STARTTLS was ever written, must not be
 * taken as its reply.  The caller does what a socket loop does: it feeds the greeting, submits
 * STARTTLS on the greeting event, and feeds the rest of the segment before it gets to write. */
START_TEST(test_reply_in_greeting_segment) {
        static const char *const forged[] = {
                "KDMF0 OK Begin TLS now\r\n",   /* the tag we are about to use */
                "KDMF0 NO no TLS for you\r\n",  /* a downgrade: "STARTTLS refused" */
                "KDMF0 BAD\r\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(forged); i++) {
                _cleanup_(imap_session_freep) ImapSession *s = new_session(true);
                char in[256];
                size_t n, used;
                ImapEvent e;

                n = (size_t) snprintf(in, sizeof(in), "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n%s",
                                      forged[i]);
                ck_assert_int_eq(imap_session_feed(s, in, n, now_usec, &used), 1);
                ck_assert_uint_lt(used, n);
                next_event(s, IMAP_EVENT_GREETING);
                submit(s, cmd("STARTTLS", END));
                /* Not yet taken from the output: the server cannot have seen it. */
                ck_assert_int_eq(imap_session_feed(s, in + used, n - used, now_usec, &used), -EPROTO);
                ck_assert_msg(strstr(imap_session_error(s), "reply to STARTTLS before the command was sent"), "%s",
                              imap_session_error(s));
                ck_assert(imap_session_is_dead(s));
                /* Nothing of it is trusted: no reply, no switch to TLS, no state change. */
                ck_assert_int_eq(imap_session_next_event(s, &e), 0);
                ck_assert(!imap_session_tls_pending(s));
                ck_assert_int_eq(imap_session_starttls_done(s), -ESHUTDOWN);
                ck_assert_int_eq(imap_session_state(s), IMAP_STATE_NONAUTH);
                ck_assert_uint_eq(imap_session_pending(s), 1);
        }
}
END_TEST

/* The same reply once the command was taken is the real one; taken in part, it is not. */
START_TEST(test_reply_after_partial_take) {
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);
        const void *buf;
        size_t len;

        feed(s, "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
        drain_events(s);
        submit(s, cmd("STARTTLS", END));
        imap_session_output(s, &buf, &len);
        ck_assert_uint_eq(len, strlen("KDMF0 STARTTLS\r\n"));
        /* All but the LF: a server that answers now answers a line it has not read. */
        imap_session_consume_output(s, len - 1);
        ck_assert_int_eq(feed_err(s, "KDMF0 OK go\r\n"), -EPROTO);

        {
                _cleanup_(imap_session_freep) ImapSession *t = new_session(false);

                feed(t, "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
                drain_events(t);
                submit(t, cmd("STARTTLS", END));
                imap_session_output(t, &buf, &len);
                imap_session_consume_output(t, len - 1);
                imap_session_consume_output(t, 1);
                feed(t, "KDMF0 OK go\r\n");
                next_event(t, IMAP_EVENT_DONE);
                next_event(t, IMAP_EVENT_STARTTLS);
                ck_assert(imap_session_tls_pending(t));
        }
}
END_TEST

/* A reply to a command behind one that was taken: the first is answered, the second is not. */
START_TEST(test_reply_to_untaken_pipelined) {
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);

        submit(s, cmd("NOOP", END));
        expect_out(s, "KDMF1 NOOP\r\n");
        submit(s, cmd("LIST", IMAP_CMD_ARG_ASTRING, "", IMAP_CMD_ARG_LIST_MAILBOX, "*", END));
        feed(s, "KDMF1 OK done\r\n");
        next_event(s, IMAP_EVENT_DONE);
        ck_assert_int_eq(feed_err(s, "KDMF2 OK LIST done\r\n"), -EPROTO);
        ck_assert_msg(strstr(imap_session_error(s), "reply to LIST before the command was sent"), "%s",
                      imap_session_error(s));
}
END_TEST

/* "+" likewise: for IDLE, a literal or AUTHENTICATE, only after what it answers was taken. */
START_TEST(test_continuation_before_taken) {
        {
                _cleanup_(imap_session_freep) ImapSession *s = logged_in("IDLE", false);

                submit(s, cmd("IDLE", END));
                ck_assert_int_eq(feed_err(s, "+ idling\r\n"), -EPROTO);
                ck_assert_str_eq(imap_session_error(s), "continuation request for IDLE before the command was sent");
        }
        {
                _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);

                submit(s, cmd("APPEND", IMAP_CMD_ARG_ASTRING, "INBOX", IMAP_CMD_ARG_LITERAL, "abc", END));
                ck_assert_int_eq(feed_err(s, "+ go\r\n"), -EPROTO);
                ck_assert_str_eq(imap_session_error(s), "continuation request for APPEND before the command was sent");
                /* The literal never left. */
                expect_out(s, "KDMF1 APPEND INBOX {3}\r\n");
        }
        {
                /* The first "+" was honest; the second comes before the literal was taken. */
                _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);

                submit(s, cmd("APPEND", IMAP_CMD_ARG_ASTRING, "INBOX", IMAP_CMD_ARG_LITERAL, "abc", IMAP_CMD_ARG_LITERAL,
                              "de", END));
                expect_out(s, "KDMF1 APPEND INBOX {3}\r\n");
                feed(s, "+ go\r\n");
                ck_assert_int_eq(feed_err(s, "+ go\r\n"), -EPROTO);
                ck_assert_str_eq(imap_session_error(s), "continuation request for APPEND before the command was sent");
        }
        {
                _cleanup_(imap_session_freep) ImapSession *s = greeted("AUTH=X");
                ImapSaslCreds cr = { .user = "tim", .secret = "pw" };
                ImapSasl *sasl = NULL;

                ck_assert_int_eq(imap_sasl_new("LOGIN", &cr, &sasl), 0);
                ck_assert_int_eq(imap_session_authenticate(s, sasl, now_usec, NULL), 0);
                expect_out(s, "KDMF0 AUTHENTICATE LOGIN\r\n");
                feed(s, "+ VXNlcm5hbWU6\r\n");
                /* Our answer is in the output, not taken: the next challenge cannot be real. */
                ck_assert_int_eq(feed_err(s, "+ UGFzc3dvcmQ6\r\n"), -EPROTO);
                ck_assert_str_eq(imap_session_error(s),
                                 "continuation request for AUTHENTICATE before the command was sent");
        }
}
END_TEST

/* Tag prefixes from caller-supplied randomness: letters only, the length the session takes. */
START_TEST(test_tag_prefix_random) {
        char a[IMAP_TAG_PREFIX_RANDOM_LEN + 1], b[IMAP_TAG_PREFIX_RANDOM_LEN + 1];
        ImapSessionParams p = { .now = now_usec };
        ImapSession *s = NULL;

        ck_assert_str_eq(imap_tag_prefix_random(0, a), "AAAAAA");
        ck_assert_str_eq(imap_tag_prefix_random(25 + 26 * 1, a), "ZBAAAA");
        ck_assert_str_ne(imap_tag_prefix_random(1, a), imap_tag_prefix_random(2, b));
        for (uint64_t r = UINT64_MAX; r > UINT64_MAX - 1000; r--) {
                imap_tag_prefix_random(r * 0x9e3779b97f4a7c15u, a);
                ck_assert_uint_eq(strlen(a), IMAP_TAG_PREFIX_RANDOM_LEN);
                for (size_t i = 0; a[i]; i++)
                        ck_assert(a[i] >= 'A' && a[i] <= 'Z');
        }
        p.tag_prefix = imap_tag_prefix_random(0x123456789abcdefu, a);
        ck_assert_int_eq(imap_session_new(&p, &s), 0);
        ck_assert_str_eq(imap_session_tag_prefix(s), a);
        imap_session_free(s);
}
END_TEST

/* ---- memory ------------------------------------------------------------------------------- */

/* The most a session in IDLE may hold (imap_session_allocated()) after the Dovecot transcript of
 * tests/th-transcript.h: itself, its parser with one line buffer, 41 capabilities and the IDLE
 * command awaiting its reply (docs/ENGINE.md, "Memory"). */
#define IDLE_MAX_BYTES 1024
/* malloc()'s own overhead on top (glibc: a size word per chunk, sizes rounded to 16 bytes) for
 * the five chunks above, and what its caches of freed chunks keep, spread over the sessions. */
#define IDLE_MALLOC_OVERHEAD (5 * 16 + 32)

static ImapSession *idle_session(void) {
        ImapSession *s = NULL;

        ck_assert_int_eq(imap_session_new(&(ImapSessionParams) { .now = now_usec }, &s), 0);
        ck_assert_int_eq(th_transcript_to_idle(s, now_usec), 0);
        return s;
}

START_TEST(test_memory_idle) {
        /* Many sessions, so that what malloc caches of freed memory (glibc's tcache counts as
         * in use) is spread thin: at most 7 chunks per size, a few KiB in all. */
        enum { N = 1000 };
        ImapSession **v = calloc(N, sizeof(ImapSession *));
        size_t before, heap;

        ck_assert_ptr_nonnull(v);
        before = th_heap_in_use();
        for (size_t i = 0; i < N; i++) {
                v[i] = idle_session();
                ck_assert_uint_eq(imap_session_n_capabilities(v[i]), 41);
                ck_assert_uint_le(imap_session_allocated(v[i]), IDLE_MAX_BYTES);
        }
        heap = (th_heap_in_use() - before) / N;
        /* The accessor leaves nothing out, and the heap shows nothing else either. */
        if (th_heap_counted()) {
                ck_assert_uint_ge(heap, imap_session_allocated(v[0]));
                ck_assert_uint_le(heap, IDLE_MAX_BYTES + IDLE_MALLOC_OVERHEAD);
        } else
                fprintf(stderr, "malloc is not glibc's: heap in use not checked\n");
        for (size_t i = 0; i < N; i++)
                imap_session_free(v[i]);
        free(v);
}
END_TEST

START_TEST(test_memory_shrinks_back) {
        /* A message fetched while idling, and a long error: memory comes back after them. */
        _cleanup_(imap_session_freep) ImapSession *s = idle_session();
        static char big[20000];
        char line[64];
        size_t idle, used = 0;

        memset(big, 'x', sizeof(big));
        (void) snprintf(line, sizeof(line), "* 3 FETCH (BODY[] {%zu}\r\n", sizeof(big));
        ck_assert_int_eq(th_transcript_feed(s, line, now_usec), 0);
        ck_assert_int_eq(imap_session_feed(s, big, sizeof(big), now_usec, &used), 0);
        ck_assert_uint_eq(used, sizeof(big));
        ck_assert_int_eq(th_transcript_feed(s, ")\r\n", now_usec), 0);
        ck_assert_uint_gt(imap_session_allocated(s), sizeof(big));
        ck_assert_int_eq(th_transcript_feed(s, "* 4 EXISTS\r\n", now_usec), 0);
        idle = imap_session_allocated(s);
        ck_assert_uint_le(idle, IDLE_MAX_BYTES);
        /* A refusal leaves its text, which is all it costs. */
        ck_assert_int_eq(imap_session_submit(s, cmd("NOOP", END), now_usec, NULL), -EPERM);
        ck_assert_uint_eq(imap_session_allocated(s), idle + strlen(imap_session_error(s)) + 1);
}
END_TEST

START_TEST(test_memory_command_released) {
        /* A command holds its bytes until they are out, and only its state while it waits for
         * the reply: a command of the table does not keep its arguments (a password here). */
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);
        size_t greeted, queued, waiting;

        feed(s, "* OK hi\r\n");
        drain_events(s);
        greeted = imap_session_allocated(s);
        submit(s, cmd("LOGIN", IMAP_CMD_ARG_ASTRING, "user", IMAP_CMD_ARG_STRING, "a long secret password",
                      END));
        queued = imap_session_allocated(s);
        expect_out(s, "KDMF0 LOGIN user \"a long secret password\"\r\n");
        waiting = imap_session_allocated(s);
        ck_assert_uint_lt(waiting, queued);
        /* The command's state (about 100 bytes), no copy of its text or arguments (more than
         * 150 more). */
        ck_assert_uint_le(waiting, greeted + 128);
        feed(s, "KDMF0 OK Logged in\r\n");
        drain_events(s);
        ck_assert_uint_eq(imap_session_allocated(s), greeted);
}
END_TEST

START_TEST(test_events_queue_limit) {
        /* Callers pull events after every feed; one that does not gets the first
         * EVENT_QUEUE_MAX (4) and the rest are dropped.  An extension command's name comes
         * with its DONE event, also when the event is dropped (no leak: sanitizers). */
        _cleanup_(imap_session_freep) ImapSession *s = logged_in("", false);
        ImapEvent e;
        uint32_t id;

        id = submit(s, cmd("XFOO", END));
        expect_out(s, "KDMF1 XFOO\r\n");
        feed(s, "KDMF1 OK done\r\n");
        e = next_event(s, IMAP_EVENT_DONE);
        ck_assert_uint_eq(e.id, id);
        ck_assert_str_eq(e.cmd, "XFOO");
        expect_no_event(s);

        submit(s, cmd("XBAR", END));
        expect_out(s, "KDMF2 XBAR\r\n");
        feed(s, "* 1 EXISTS\r\n* 2 EXISTS\r\n* 3 EXISTS\r\n* 4 EXISTS\r\nKDMF2 OK done\r\n");
        for (unsigned i = 1; i <= 4; i++) {
                e = next_event(s, IMAP_EVENT_UNTAGGED);
                ck_assert_str_eq(e.cmd, "");
        }
        expect_no_event(s);
        ck_assert_uint_eq(imap_session_pending(s), 0);

        /* Pulled in time, the same five all arrive. */
        submit(s, cmd("XBAZ", END));
        expect_out(s, "KDMF3 XBAZ\r\n");
        for (unsigned i = 1; i <= 4; i++) {
                feed(s, "* 5 EXISTS\r\n");
                next_event(s, IMAP_EVENT_UNTAGGED);
        }
        feed(s, "KDMF3 OK done\r\n");
        ck_assert_str_eq(next_event(s, IMAP_EVENT_DONE).cmd, "XBAZ");
}
END_TEST

START_TEST(test_capabilities_compact) {
        /* Known names cost a byte, others their length; all come back upper-cased, in the
         * server's order, and the array form lasts until the next feed. */
        _cleanup_(imap_session_freep) ImapSession *s = new_session(false);
        const char *const *v = NULL;
        size_t with_view, without_view;

        feed(s, "* OK [CAPABILITY IMAP4rev1 idle X-Custom=1 AUTH=PLAIN x-\xc3\xa9t\xc3\xa9] hi\r\n");
        drain_events(s);
        ck_assert_uint_eq(imap_session_n_capabilities(s), 5);
        ck_assert_str_eq(imap_session_capability(s, 0), "IMAP4REV1");
        ck_assert_str_eq(imap_session_capability(s, 1), "IDLE");
        ck_assert_str_eq(imap_session_capability(s, 2), "X-CUSTOM=1");
        ck_assert_str_eq(imap_session_capability(s, 3), "AUTH=PLAIN");
        ck_assert_str_eq(imap_session_capability(s, 4), "X-\xc3\xa9T\xc3\xa9");
        ck_assert_ptr_null(imap_session_capability(s, 5));
        ck_assert(imap_session_has_capability(s, "x-custom=1"));
        ck_assert(imap_session_has_capability(s, "Idle"));
        ck_assert(!imap_session_has_capability(s, "X-CUSTOM"));
        ck_assert(!imap_session_has_capability(s, "STARTTLS"));
        without_view = imap_session_allocated(s);
        ck_assert_uint_eq(imap_session_capabilities(s, &v), 5);
        ck_assert_str_eq(v[2], "X-CUSTOM=1");
        ck_assert_str_eq(v[3], "AUTH=PLAIN");
        with_view = imap_session_allocated(s);
        ck_assert_uint_eq(with_view, without_view + 5 * sizeof(char *));
        submit(s, cmd("NOOP", END));
        expect_out(s, "KDMF0 NOOP\r\n");
        feed(s, "KDMF0 OK done\r\n");
        drain_events(s);
        ck_assert_uint_le(imap_session_allocated(s), without_view);
        /* None announced: nothing held, and the array form is NULL. */
        feed(s, "* CAPABILITY\r\n");
        ck_assert_uint_eq(imap_session_capabilities(s, &v), 0);
        ck_assert_ptr_null(v);
}
END_TEST

static Suite *imap_session_suite(void) {
        Suite *s = suite_create("imap-session");
        TCase *tc;

        tc = tcase_create("greeting");
        tcase_add_test(tc, test_greeting_ok);
        tcase_add_test(tc, test_greeting_preauth);
        tcase_add_test(tc, test_greeting_bad);
        tcase_add_test(tc, test_greeting_timeout);
        suite_add_tcase(s, tc);

        tc = tcase_create("commands");
        tcase_add_test(tc, test_state_checked_before_sending);
        tcase_add_test(tc, test_enable_capability_first);
        tcase_add_test(tc, test_uid_subcommands);
        tcase_add_test(tc, test_pipelined_replies);
        tcase_add_test(tc, test_unknown_tags);
        tcase_add_test(tc, test_unexpected_continuation);
        tcase_add_test(tc, test_tagged_without_text);
        tcase_add_test(tc, test_select_and_close);
        tcase_add_test(tc, test_logout);
        tcase_add_test(tc, test_control_characters);
        suite_add_tcase(s, tc);

        tc = tcase_create("wire");
        tcase_add_loop_test(tc, test_quoting, 0, (int) ELEMENTSOF(quotes));
        tcase_add_test(tc, test_cmd_refusals);
        tcase_add_test(tc, test_literal_waits_for_continuation);
        tcase_add_test(tc, test_literal_refused_before_continuation);
        tcase_add_test(tc, test_literal_plus);
        tcase_add_test(tc, test_utf8_append);
        suite_add_tcase(s, tc);

        tc = tcase_create("store");
        tcase_add_test(tc, test_store_fragments);
        tcase_add_test(tc, test_store_codes);
        tcase_add_test(tc, test_store_cap);
        tcase_add_test(tc, test_no_store_when_not_kept);
        suite_add_tcase(s, tc);

        tc = tcase_create("idle");
        tcase_add_test(tc, test_idle_iteration);
        tcase_add_test(tc, test_idle_denied);
        tcase_add_test(tc, test_idle_not_advertised);
        tcase_add_test(tc, test_idle_ended_by_server);
        tcase_add_test(tc, test_idle_codes_queued_separately);
        tcase_add_test(tc, test_idle_leftovers_to_store);
        tcase_add_test(tc, test_idle_bye);
        suite_add_tcase(s, tc);

        tc = tcase_create("authenticate");
        tcase_add_test(tc, test_authenticate_sasl_ir);
        tcase_add_test(tc, test_authenticate_rounds);
        tcase_add_test(tc, test_authenticate_mechanism_fails);
        suite_add_tcase(s, tc);

        tc = tcase_create("fuzz-findings");
        tcase_add_test(tc, test_nothing_out_after_death);
        tcase_add_test(tc, test_starttls_done_after_injection);
        tcase_add_test(tc, test_reply_to_unsent_command);
        tcase_add_test(tc, test_continuation_for_unsent_command);
        suite_add_tcase(s, tc);

        tc = tcase_create("unsent");
        tcase_add_test(tc, test_reply_in_greeting_segment);
        tcase_add_test(tc, test_reply_after_partial_take);
        tcase_add_test(tc, test_reply_to_untaken_pipelined);
        tcase_add_test(tc, test_continuation_before_taken);
        tcase_add_test(tc, test_tag_prefix_random);
        suite_add_tcase(s, tc);

        tc = tcase_create("memory");
        tcase_add_test(tc, test_memory_idle);
        tcase_add_test(tc, test_memory_shrinks_back);
        tcase_add_test(tc, test_memory_command_released);
        tcase_add_test(tc, test_events_queue_limit);
        tcase_add_test(tc, test_capabilities_compact);
        suite_add_tcase(s, tc);

        tc = tcase_create("lifecycle");
        tcase_add_test(tc, test_starttls_injection);
        tcase_add_test(tc, test_starttls_forgets_plaintext);
        tcase_add_test(tc, test_starttls_not_advertised);
        tcase_add_test(tc, test_command_timeout);
        tcase_add_test(tc, test_S12_timeout_zero_means_none);
        tcase_add_test(tc, test_S43_trickle_across_deadline);
        tcase_add_test(tc, test_eof_mid_response);
        tcase_add_test(tc, test_malformed_is_fatal);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return th_run_suite(imap_session_suite());
}

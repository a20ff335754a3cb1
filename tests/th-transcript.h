/* SPDX-License-Identifier: MIT */
/*
 * th-transcript.h: one mailbox's way from the greeting into IDLE, as a
 * Dovecot 2.3 server answers it (greeting with a CAPABILITY code, CAPABILITY,
 * LOGIN with the longer post-login list, EXAMINE INBOX, IDLE), driven through
 * a sans-I/O session.  Shared by tests/test-imap-session.c (memory held in
 * IDLE) and bench/engine-idle.c (the same, over many sessions, and CPU per
 * response), so both measure the same thing.
 */
#pragma once

#include <errno.h>
#include <string.h>

#include "imap-session.h"

/* What the server sends at each step; the tags are the session's default "A<n>". */
static const char *const th_transcript_greeting =
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN "
        "AUTH=LOGIN AUTH=CRAM-MD5] Dovecot (Debian) ready.\r\n";

static const char *const th_transcript_capability =
        "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN "
        "AUTH=LOGIN AUTH=CRAM-MD5\r\n"
        "A0 OK Pre-login capabilities listed, post-login capabilities have more.\r\n";

static const char *const th_transcript_login =
        "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY "
        "THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT "
        "CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
        "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE "
        "SAVEDATE LITERAL+ NOTIFY METADATA QUOTA ACL RIGHTS=texk\r\n"
        "A1 OK Logged in\r\n";

static const char *const th_transcript_examine =
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
        "* 3 EXISTS\r\n"
        "* 0 RECENT\r\n"
        "* OK [UIDVALIDITY 1796406746] UIDs valid\r\n"
        "* OK [UIDNEXT 4] Predicted next UID\r\n"
        "* OK [HIGHESTMODSEQ 7] Highest\r\n"
        "A2 OK [READ-ONLY] Examine completed (0.004 + 0.000 + 0.003 secs).\r\n";

static const char *const th_transcript_idle = "+ idling\r\n";

/* Feed all of 'in', pulling the events of every response and throwing away
 * what the session wants to send.  0, or the session's error. */
static inline int th_transcript_feed(ImapSession *s, const char *in, usec_t now) {
        size_t n = strlen(in);

        while (n > 0) {
                ImapEvent e;
                size_t used = 0;
                int r;

                r = imap_session_feed(s, in, n, now, &used);
                if (r < 0)
                        return r;
                while (imap_session_next_event(s, &e) > 0)
                        ;
                in += used;
                n -= used;
        }
        return 0;
}

static inline int th_transcript_submit(ImapSession *s, const char *name, const char *arg1, const char *arg2,
                                       usec_t now) {
        ImapCmd *c = NULL;
        const void *out;
        size_t len;
        int r;

        r = imap_cmd_new(name, &c);
        if (r < 0)
                return r;
        if (arg1)
                r = imap_cmd_add_str(c, IMAP_CMD_ARG_ASTRING, arg1);
        if (r >= 0 && arg2)
                r = imap_cmd_add_str(c, IMAP_CMD_ARG_STRING, arg2);
        if (r < 0) {
                imap_cmd_free(c);
                return r;
        }
        r = imap_session_submit(s, c, now, NULL);
        if (r < 0)
                return r;
        /* As if the transport wrote it all. */
        imap_session_output(s, &out, &len);
        imap_session_consume_output(s, len);
        return 0;
}

/* From a new session to IDLE accepted.  0, or a negative errno. */
static inline int th_transcript_to_idle(ImapSession *s, usec_t now) {
        int r;

        r = th_transcript_feed(s, th_transcript_greeting, now);
        if (r >= 0)
                r = th_transcript_submit(s, "CAPABILITY", NULL, NULL, now);
        if (r >= 0)
                r = th_transcript_feed(s, th_transcript_capability, now);
        if (r >= 0)
                r = th_transcript_submit(s, "LOGIN", "user1", "pass1", now);
        if (r >= 0)
                r = th_transcript_feed(s, th_transcript_login, now);
        if (r >= 0)
                r = th_transcript_submit(s, "EXAMINE", "INBOX", NULL, now);
        if (r >= 0)
                r = th_transcript_feed(s, th_transcript_examine, now);
        if (r >= 0)
                r = th_transcript_submit(s, "IDLE", NULL, NULL, now);
        if (r >= 0)
                r = th_transcript_feed(s, th_transcript_idle, now);
        if (r < 0)
                return r;
        return imap_session_state(s) == IMAP_STATE_IDLING ? 0 : -EPROTO;
}

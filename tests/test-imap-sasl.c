/* SPDX-License-Identifier: MIT */
/*
 * test-imap-sasl.c: SASL client mechanisms and AUTHENTICATE framing
 * (docs/ENGINE.md, S-24..S-29, X-20, quirk Q8): exact encodings of every
 * built-in mechanism against the RFCs' examples, strict base64 challenges,
 * cancellation, limits, and CRAM-MD5 with HMAC-MD5 taken away.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>

#include "imap-sasl.h"
#include "macro.h"
#include "th.h"

/* One step: feed 'chal' (NUL-terminated base64) and compare the result. */
static void step_expect(ImapSasl *s, const char *chal, int want_r, const char *want_b64) {
        Buf out = BUF_INIT;
        int r;

        ck_assert_int_eq(buf_append(&out, "keep:", 5, 0), 0);
        r = imap_sasl_step(s, chal, chal ? strlen(chal) : 0, &out);
        ck_assert_int_eq(r, want_r);
        if (r == 0) {
                ck_assert_uint_ge(out.len, 5);
                ck_assert(memcmp(out.data, "keep:", 5) == 0);
                ck_assert_str_eq(out.data + 5, want_b64);
        } else {
                ck_assert_uint_eq(out.len, 5); /* untouched unless 0 */
                ck_assert(memcmp(out.data, "keep:", 5) == 0);
        }
        buf_done(&out);
}

static void initial_expect(ImapSasl *s, int want_r, const char *want_b64) {
        Buf out = BUF_INIT;

        ck_assert_int_eq(imap_sasl_initial_response(s, &out), want_r);
        if (want_r == 0)
                ck_assert_str_eq(out.data ? out.data : "", want_b64);
        buf_done(&out);
}

/* ---- built-in mechanisms ------------------------------------------------- */

START_TEST(test_plain) {
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL, *z = NULL;
        ImapSaslCreds c = { .user = "tim", .secret = "tanstaaf" };

        ck_assert_int_eq(imap_sasl_new("plain", &c, &s), 0);
        ck_assert_str_eq(imap_sasl_mechanism(s), "PLAIN");
        ck_assert(imap_sasl_has_initial_response(s));
        initial_expect(s, 0, "AHRpbQB0YW5zdGFhZg==");
        /* PLAIN has one message; a further challenge is cancelled. */
        step_expect(s, "", 1, NULL);
        ck_assert_str_eq(imap_sasl_error(s), "unexpected server challenge");
        initial_expect(s, -EINVAL, NULL); /* only before the first step */

        c.authzid = "admin";
        ck_assert_int_eq(imap_sasl_new("PLAIN", &c, &z), 0);
        /* Without SASL-IR: the server's empty "+" asks for the initial response. */
        step_expect(z, NULL, 0, "YWRtaW4AdGltAHRhbnN0YWFm");
}
END_TEST

START_TEST(test_login) {
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        ImapSaslCreds c = { .user = "tim", .secret = "tanstaaftanstaaf" };

        ck_assert_int_eq(imap_sasl_new("Login", &c, &s), 0);
        ck_assert_str_eq(imap_sasl_mechanism(s), "LOGIN");
        ck_assert(!imap_sasl_has_initial_response(s));
        initial_expect(s, -EINVAL, NULL);
        /* The prompts' text does not matter, only their order. */
        step_expect(s, "UGFzc3dvcmQ6", 0, "dGlt");          /* "Password:" first, still the user */
        step_expect(s, "", 0, "dGFuc3RhYWZ0YW5zdGFhZg==");
        step_expect(s, "VXNlcm5hbWU6", 1, NULL);
}
END_TEST

START_TEST(test_cram_md5_rfc2195) {
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        ImapSaslCreds c = { .user = "tim", .secret = "tanstaaftanstaaf" };

        ck_assert_int_eq(imap_sasl_new("cram-md5", &c, &s), 0);
        ck_assert_str_eq(imap_sasl_mechanism(s), "CRAM-MD5");
        ck_assert(!imap_sasl_has_initial_response(s));
        /* S-26: "<1896.697170952@postoffice.reston.mci.net>" */
        step_expect(s, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ=", 0,
                    "dGltIGYxY2E2YmU0NjRiOWVmYTFjY2E2ZmZkNmNmMmQ5ZjMy");
        step_expect(s, "", 1, NULL);
}
END_TEST

/* S-28: HMAC-MD5 cannot be fetched.  A library context with only the given
 * provider loaded stands in for a FIPS-only or locked-down OpenSSL. */
static void cram_md5_with_provider(const char *provider, int want_r, const char *want_b64) {
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
        OSSL_PROVIDER *p;
        ImapSaslCreds c = { .user = "tim", .secret = "tanstaaftanstaaf" };

        ck_assert_ptr_nonnull(ctx);
        p = OSSL_PROVIDER_load(ctx, provider);
        ck_assert_ptr_nonnull(p);
        c.ossl_libctx = ctx;
        ck_assert_int_eq(imap_sasl_new("CRAM-MD5", &c, &s), 0);
        step_expect(s, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ=", want_r, want_b64);
        if (want_r == -EOPNOTSUPP)
                ck_assert_str_eq(imap_sasl_error(s), "CRAM-MD5 authentication is not supported");
        s = imap_sasl_free(s);
        ck_assert(OSSL_PROVIDER_unload(p));
        OSSL_LIB_CTX_free(ctx);
}

START_TEST(test_cram_md5_unavailable) {
        cram_md5_with_provider("null", -EOPNOTSUPP, NULL);
        cram_md5_with_provider("base", -EOPNOTSUPP, NULL);
        /* Control: the same path with the default provider does work. */
        cram_md5_with_provider("default", 0, "dGltIGYxY2E2YmU0NjRiOWVmYTFjY2E2ZmZkNmNmMmQ5ZjMy");
}
END_TEST

START_TEST(test_xoauth2) {
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        ImapSaslCreds c = { .user = "someuser@example.com", .secret = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg" };

        ck_assert_int_eq(imap_sasl_new("xoauth2", &c, &s), 0);
        ck_assert_str_eq(imap_sasl_mechanism(s), "XOAUTH2");
        ck_assert(imap_sasl_has_initial_response(s));
        initial_expect(s, 0,
                       "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNr"
                       "QmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
        /* The JSON error challenge is answered with an empty line; the server then says NO. */
        step_expect(s, "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K",
                    0, "");
        step_expect(s, "", 1, NULL);
}
END_TEST

START_TEST(test_oauthbearer) {
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL, *e = NULL, *h = NULL;
        ImapSaslCreds c = { .user = "user@example.com", .host = "server.example.com", .port = 143,
                            .secret = "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==" };

        /* RFC 7628 §4.1 */
        ck_assert_int_eq(imap_sasl_new("OAuthBearer", &c, &s), 0);
        ck_assert_str_eq(imap_sasl_mechanism(s), "OAUTHBEARER");
        ck_assert(imap_sasl_has_initial_response(s));
        initial_expect(s, 0,
                       "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVh"
                       "cmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2c9PQEB");
        /* RFC 7628 §3.2.3: an error challenge is answered with a lone ^A. */
        step_expect(s, "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=", 0, "AQ==");
        step_expect(s, "", 1, NULL);

        /* No host/port; "," and "=" in the name are escaped (RFC 5801 saslname). */
        c = (ImapSaslCreds) { .user = "a,b=c", .secret = "T" };
        ck_assert_int_eq(imap_sasl_new("OAUTHBEARER", &c, &e), 0);
        initial_expect(e, 0, "bixhPWE9MkNiPTNEYywBYXV0aD1CZWFyZXIgVAEB");

        /* An authzid replaces the user in a=; host without port. */
        c = (ImapSaslCreds) { .authzid = "boss", .user = "u", .secret = "T", .host = "h" };
        ck_assert_int_eq(imap_sasl_new("OAUTHBEARER", &c, &h), 0);
        initial_expect(h, 0, "bixhPWJvc3MsAWhvc3Q9aAFhdXRoPUJlYXJlciBUAQE=");
}
END_TEST

typedef struct NewCase {
        const char *mech;
        ImapSaslCreds c;
        int want;
} NewCase;

static const NewCase new_cases[] = {
        { "DIGEST-MD5",  { .user = "u", .secret = "p" }, -EOPNOTSUPP },  /* docs/SECURITY.md K07 */
        { "SCRAM-SHA-1", { .user = "u", .secret = "p" }, -EOPNOTSUPP },
        { "PLAIN ",      { .user = "u", .secret = "p" }, -EOPNOTSUPP },
        { "",            { .user = "u", .secret = "p" }, -EOPNOTSUPP },
        { "PLAIN",       { .secret = "p" },              -EINVAL },
        { "PLAIN",       { .user = "u" },                -EINVAL },
        { "PLAIN",       { .user = "u\1", .secret = "p\1" }, 0 },         /* ^A means nothing to PLAIN */
        { "XOAUTH2",     { .user = "u\1", .secret = "t" }, -EINVAL },
        { "XOAUTH2",     { .user = "u", .secret = "t\1" }, -EINVAL },
        { "OAUTHBEARER", { .user = "u", .secret = "t", .host = "h\1" }, -EINVAL },
        { "OAUTHBEARER", { .authzid = "\1", .user = "u", .secret = "t" }, -EINVAL },
        { "OAUTHBEARER", { .user = "u", .secret = "t" }, 0 },
};

START_TEST(test_new) {
        const NewCase *n = &new_cases[_i];
        ImapSasl *s = NULL;

        ck_assert_int_eq(imap_sasl_new(n->mech, &n->c, &s), n->want);
        ck_assert(n->want == 0 ? s != NULL : s == NULL);
        s = imap_sasl_free(s);
        ck_assert_ptr_null(s);
}
END_TEST

/* ---- generic mechanisms (imaplib's authobject) ----------------------------- */

typedef struct Recorder {
        unsigned calls;
        unsigned last_step;
        char got[4][64];
        size_t got_len[4];
        const char *reply;      /* appended as is */
        bool prefix_r;          /* reply "r" + challenge */
        size_t reply_bytes;     /* > 0: reply that many 'x' */
        int ret;
} Recorder;

static int record_step(void *userdata, unsigned step, const void *chal, size_t len, Buf *out) {
        Recorder *rec = userdata;

        if (rec->calls < ELEMENTSOF(rec->got)) {
                ck_assert_uint_lt(len, sizeof(rec->got[0]));
                memcpy(rec->got[rec->calls], chal ?: "", len);
                rec->got_len[rec->calls] = len;
        }
        rec->calls++;
        rec->last_step = step;
        if (rec->ret != 0)
                return rec->ret;
        if (rec->prefix_r) {
                ck_assert_int_eq(buf_append(out, "r", 1, 0), 0);
                ck_assert_int_eq(buf_append(out, chal, len, 0), 0);
        }
        if (rec->reply)
                ck_assert_int_eq(buf_append(out, rec->reply, strlen(rec->reply), 0), 0);
        for (size_t i = 0; i < rec->reply_bytes; i++)
                ck_assert_int_eq(buf_append(out, "x", 1, 0), 0);
        return 0;
}

START_TEST(test_generic_fake) {
        /* S-24/S-25: the callback's "fake" goes out as ZmFrZQ== after a bare "+". */
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        Recorder rec = { .reply = "fake" };

        ck_assert_int_eq(imap_sasl_new_generic("MYAUTH", record_step, &rec, &s), 0);
        ck_assert_str_eq(imap_sasl_mechanism(s), "MYAUTH");
        ck_assert(!imap_sasl_has_initial_response(s));
        step_expect(s, NULL, 0, "ZmFrZQ==");
        ck_assert_uint_eq(rec.calls, 1);
        ck_assert_uint_eq(rec.got_len[0], 0);
        step_expect(s, "", 0, "ZmFrZQ==");
        ck_assert_uint_eq(rec.last_step, 1);
}
END_TEST

START_TEST(test_generic_cancel) {
        /* S-29: the callback declines (imaplib's None): send "*". */
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        Recorder rec = { .ret = 1 };

        ck_assert_int_eq(imap_sasl_new_generic("MYAUTH", record_step, &rec, &s), 0);
        step_expect(s, NULL, 1, NULL);
        ck_assert_str_eq(imap_sasl_error(s), "mechanism cancelled the exchange");
        ck_assert_uint_eq(rec.calls, 1);

        /* An error from the callback comes back unchanged. */
        rec.ret = -EPERM;
        step_expect(s, NULL, -EPERM, NULL);
}
END_TEST

START_TEST(test_generic_two_challenges) {
        /* */
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        Recorder rec = { .prefix_r = true };

        ck_assert_int_eq(imap_sasl_new_generic("x-two", record_step, &rec, &s), 0);
        ck_assert_str_eq(imap_sasl_mechanism(s), "X-TWO");
        step_expect(s, "Zmlyc3Q=", 0, "cmZpcnN0");
        step_expect(s, "c2Vjb25k", 0, "cnNlY29uZA==");
        ck_assert_uint_eq(rec.calls, 2);
        ck_assert_uint_eq(rec.got_len[0], 5);
        ck_assert(memcmp(rec.got[0], "first", 5) == 0);
        ck_assert_uint_eq(rec.got_len[1], 6);
        ck_assert(memcmp(rec.got[1], "second", 6) == 0);
        ck_assert_uint_eq(rec.last_step, 1);
}
END_TEST

START_TEST(test_generic_names) {
        static const struct {
                const char *name;
                int want;
        } names[] = {
                { "X", 0 },
                { "ABCDEFGHIJ-_0123456Z", 0 },          /* 20 characters */
                { "ABCDEFGHIJ-_0123456ZZ", -EINVAL },   /* 21 */
                { "", -EINVAL },
                { "A B", -EINVAL },
                { "X\r\nA1 LOGOUT", -EINVAL },          /* no command injection through the name */
                { "A*", -EINVAL },
                { "\xc3\xa9", -EINVAL },
        };
        Recorder rec = {};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                ImapSasl *s = NULL;

                ck_assert_int_eq(imap_sasl_new_generic(names[i].name, record_step, &rec, &s), names[i].want);
                s = imap_sasl_free(s);
        }
}
END_TEST

START_TEST(test_generic_client_first) {
        /* RFC 4959: an empty initial response is sent as "=" (e.g. EXTERNAL). */
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL, *t = NULL, *p = NULL;
        ImapSaslCreds c = { .user = "u", .secret = "p" };
        Recorder rec = {}, rec2 = { .reply = "x" };

        ck_assert_int_eq(imap_sasl_new_generic("external", record_step, &rec, &s), 0);
        initial_expect(s, -EINVAL, NULL); /* server-first until told otherwise */
        ck_assert_int_eq(imap_sasl_set_client_first(s, true), 0);
        ck_assert(imap_sasl_has_initial_response(s));
        initial_expect(s, 0, "=");
        ck_assert_uint_eq(rec.calls, 1);
        initial_expect(s, -EINVAL, NULL); /* only once */
        ck_assert_int_eq(imap_sasl_set_client_first(s, false), -EINVAL);

        /* A non-empty initial response is plain base64. */
        ck_assert_int_eq(imap_sasl_new_generic("X", record_step, &rec2, &t), 0);
        ck_assert_int_eq(imap_sasl_set_client_first(t, true), 0);
        initial_expect(t, 0, "eA==");

        ck_assert_int_eq(imap_sasl_new("PLAIN", &c, &p), 0);
        ck_assert_int_eq(imap_sasl_set_client_first(p, false), -EINVAL);
}
END_TEST

/* ---- base64 framing and limits --------------------------------------------- */

typedef struct ChalCase {
        const char *b64;
        int want;               /* step result */
        const char *raw;        /* decoded challenge, when want == 0 */
        size_t raw_len;
} ChalCase;

static const ChalCase challenges[] = {
        { "Zm9v", 0, "foo", 3 },
        { "Zm8=", 0, "fo", 2 },                 /* padding is not decoded as NUL bytes */
        { "Zg==", 0, "f", 1 },
        { "AAAA", 0, "\0\0\0", 3 },             /* real NULs are kept */
        { "AA==", 0, "\0", 1 },
        { "Zh==", 0, "f", 1 },                  /* unused low bits ignored, as binascii does */
        { "Zm9", 1, NULL, 0 },                  /* Q8: not a multiple of 4 */
        { "Zm9vY", 1, NULL, 0 },
        { "Zm9v\n", 1, NULL, 0 },
        { "Zm9v ", 1, NULL, 0 },
        { " Zm9v", 1, NULL, 0 },
        { "Zm!v", 1, NULL, 0 },
        { "Zm-v", 1, NULL, 0 },                 /* base64url is not base64 */
        { "Zm_v", 1, NULL, 0 },
        { "Zm,v", 1, NULL, 0 },                 /* mUTF-7's alphabet neither */
        { "Z===", 1, NULL, 0 },
        { "====", 1, NULL, 0 },
        { "Zg=a", 1, NULL, 0 },
        { "Z=g=", 1, NULL, 0 },
        { "Zg==Zg==", 1, NULL, 0 },             /* padding in the middle */
        { "Ready for more", 1, NULL, 0 },       /* human text where base64 belongs */
};

START_TEST(test_challenge_decoding) {
        const ChalCase *c = &challenges[_i];
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        Recorder rec = { .reply = "ok" };

        ck_assert_int_eq(imap_sasl_new_generic("MYAUTH", record_step, &rec, &s), 0);
        step_expect(s, c->b64, c->want, "b2s=");
        if (c->want == 0) {
                ck_assert_uint_eq(rec.calls, 1);
                ck_assert_uint_eq(rec.got_len[0], c->raw_len);
                ck_assert(memcmp(rec.got[0], c->raw, c->raw_len) == 0);
        } else {
                ck_assert_uint_eq(rec.calls, 0); /* the mechanism never saw it */
                ck_assert_str_eq(imap_sasl_error(s), "server challenge is not valid base64");
        }
}
END_TEST

START_TEST(test_long_response_one_line) {
        /* docs/ENGINE.md: 100 bytes encode to 136 characters, no line breaks. */
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        Recorder rec = { .reply_bytes = 100 };
        Buf out = BUF_INIT;

        ck_assert_int_eq(imap_sasl_new_generic("MYAUTH", record_step, &rec, &s), 0);
        ck_assert_int_eq(imap_sasl_step(s, NULL, 0, &out), 0);
        ck_assert_uint_eq(out.len, 136);
        ck_assert_ptr_null(memchr(out.data, '\n', out.len));
        ck_assert_ptr_null(memchr(out.data, '\r', out.len));
        ck_assert_str_eq(out.data + 128, "eHh4eA==");
        buf_done(&out);
}
END_TEST

START_TEST(test_limits) {
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        _cleanup_free_ char *big = malloc(IMAP_SASL_MAX_CHALLENGE + 4);
        Recorder rec = { .reply_bytes = IMAP_SASL_MAX_RESPONSE };
        Buf out = BUF_INIT;

        ck_assert_ptr_nonnull(big);
        memset(big, 'A', IMAP_SASL_MAX_CHALLENGE + 4);
        ck_assert_int_eq(imap_sasl_new_generic("MYAUTH", record_step, &rec, &s), 0);

        /* Challenge exactly at the limit, response exactly at its limit: fine. */
        rec.calls = 4; /* do not record */
        ck_assert_int_eq(imap_sasl_step(s, big, IMAP_SASL_MAX_CHALLENGE, &out), 0);
        ck_assert_uint_eq(out.len, (IMAP_SASL_MAX_RESPONSE + 2) / 3 * 4);
        buf_clear(&out);

        /* One group over: refused before decoding (docs/SECURITY.md K07). */
        ck_assert_int_eq(imap_sasl_step(s, big, IMAP_SASL_MAX_CHALLENGE + 4, &out), -EMSGSIZE);
        ck_assert_str_eq(imap_sasl_error(s), "server challenge too long");
        ck_assert_uint_eq(rec.calls, 5);

        /* A response one byte over. */
        rec.reply_bytes = IMAP_SASL_MAX_RESPONSE + 1;
        ck_assert_int_eq(imap_sasl_step(s, NULL, 0, &out), -EMSGSIZE);
        ck_assert_str_eq(imap_sasl_error(s), "client response too long");
        ck_assert_uint_eq(out.len, 0);
        buf_done(&out);
}
END_TEST

START_TEST(test_free_null) {
        ck_assert_ptr_null(imap_sasl_free(NULL));
        ck_assert_ptr_null(imap_sasl_mechanism(NULL));
        ck_assert(!imap_sasl_has_initial_response(NULL));
        ck_assert_ptr_null(imap_sasl_error(NULL));
}
END_TEST

static Suite *imap_sasl_suite(void) {
        Suite *s = suite_create("imap-sasl");
        TCase *tc;

        tc = tcase_create("builtin");
        tcase_add_test(tc, test_plain);
        tcase_add_test(tc, test_login);
        tcase_add_test(tc, test_cram_md5_rfc2195);
        tcase_add_test(tc, test_cram_md5_unavailable);
        tcase_add_test(tc, test_xoauth2);
        tcase_add_test(tc, test_oauthbearer);
        tcase_add_loop_test(tc, test_new, 0, (int) ELEMENTSOF(new_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("generic");
        tcase_add_test(tc, test_generic_fake);
        tcase_add_test(tc, test_generic_cancel);
        tcase_add_test(tc, test_generic_two_challenges);
        tcase_add_test(tc, test_generic_names);
        tcase_add_test(tc, test_generic_client_first);
        suite_add_tcase(s, tc);

        tc = tcase_create("framing");
        tcase_add_loop_test(tc, test_challenge_decoding, 0, (int) ELEMENTSOF(challenges));
        tcase_add_test(tc, test_long_response_one_line);
        tcase_add_test(tc, test_limits);
        tcase_add_test(tc, test_free_null);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(imap_sasl_suite());
}

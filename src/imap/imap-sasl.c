/* SPDX-License-Identifier: MIT */
/* imap-sasl.c: SASL client mechanisms and AUTHENTICATE framing; see imap-sasl.h. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "imap-sasl.h"

/* RFC 4422 §3.1: mechanism names are at most 20 characters. */
#define SASL_MECH_MAX 20

struct ImapSasl {
        char mech[SASL_MECH_MAX + 1];   /* upper-cased */
        ImapSaslStepFn step_fn;
        void *userdata;                 /* the ImapSasl itself for built-ins */
        bool builtin;
        bool client_first;
        unsigned step;                  /* mechanism steps run so far */
        const char *error;

        /* Built-ins only; each wiped before it is freed. */
        char *authzid, *user, *secret, *host;
        unsigned port;
        OSSL_LIB_CTX *libctx;
};

/* ---- helpers --------------------------------------------------------------- */

static void wipe_string(char *s) {
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
}

/* Free a buffer that held a raw response, wiping all of its allocation. */
static void buf_wipe(Buf *b) {
        if (b->data)
                explicit_bzero(b->data, b->cap);
        buf_done(b);
}

static void buf_wipep(Buf *b) {
        buf_wipe(b);
}

static int strdup_opt(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* Append NUL-terminated strings; the mechanism has reserved the room first,
 * so no reallocation leaves a stray copy of a secret in freed memory. */
static int put(Buf *out, const char *s) {
        return buf_append(out, s, strlen(s), 0);
}

static size_t len_opt(const char *s) {
        return s ? strlen(s) : 0;
}

/* RFC 4648 §4 base64, strict: length a multiple of 4, only the alphabet, at
 * most two "=" and only at the end.  Unused low bits of the last group are
 * ignored, as Python's binascii does.  Returns the decoded length, or
 * -EBADMSG. */
static int b64_decode(const char *in, size_t len, Buf *out) {
        size_t pad = 0, n;
        int r;

        if (len % 4 != 0)
                return -EBADMSG;
        if (len > 0 && in[len - 1] == '=')
                pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
        for (size_t i = 0; i < len - pad; i++) {
                char c = in[i];

                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '+' || c == '/'))
                        return -EBADMSG;
        }
        if (len == 0)
                return 0;

        n = len / 4 * 3;
        r = buf_reserve(out, n, 0);
        if (r < 0)
                return r;
        /* EVP_DecodeBlock counts the padding as decoded NUL bytes; the true
         * length is three per group minus one per "=". */
        if (EVP_DecodeBlock((unsigned char *) out->data + out->len, (const unsigned char *) in, (int) len) !=
            (int) n)
                return -EBADMSG;
        out->len += n - pad;
        out->data[out->len] = 0;
        return 0;
}

static int b64_encode(const void *in, size_t len, Buf *out) {
        size_t n = (len + 2) / 3 * 4;
        int r;

        r = buf_reserve(out, n, 0);
        if (r < 0)
                return r;
        if (len > 0 &&
            EVP_EncodeBlock((unsigned char *) out->data + out->len, (const unsigned char *) in, (int) len) != (int) n)
                return -EIO;
        out->len += n;
        out->data[out->len] = 0;
        return 0;
}

/* ---- built-in mechanisms ----------------------------------------------------- */

/* Steps beyond a mechanism's script: cancel, the server is not speaking it. */
static int unexpected(ImapSasl *s) {
        s->error = "unexpected server challenge";
        return 1;
}

/* RFC 4616 §2: [authzid] NUL authcid NUL passwd. */
static int mech_plain(void *userdata, unsigned step, const void *chal, size_t len, Buf *out) {
        ImapSasl *s = userdata;
        int r;

        (void) chal, (void) len;
        if (step > 0)
                return unexpected(s);
        r = buf_reserve(out, len_opt(s->authzid) + strlen(s->user) + strlen(s->secret) + 2, 0);
        if (r < 0)
                return r;
        if (s->authzid)
                (void) put(out, s->authzid);
        (void) buf_append(out, "", 1, 0);
        (void) put(out, s->user);
        (void) buf_append(out, "", 1, 0);
        (void) put(out, s->secret);
        return 0;
}

/* LOGIN: the server prompts "Username:" then "Password:"; the prompts' text
 * varies between servers, so only their order counts. */
static int mech_login(void *userdata, unsigned step, const void *chal, size_t len, Buf *out) {
        ImapSasl *s = userdata;
        const char *answer = step == 0 ? s->user : step == 1 ? s->secret : NULL;
        int r;

        (void) chal, (void) len;
        if (!answer)
                return unexpected(s);
        r = buf_reserve(out, strlen(answer), 0);
        if (r < 0)
                return r;
        (void) put(out, answer);
        return 0;
}

static void mac_freep(EVP_MAC **p) {
        EVP_MAC_free(*p);
}

static void mac_ctx_freep(EVP_MAC_CTX **p) {
        EVP_MAC_CTX_free(*p);
}

/* RFC 2195 §2: user SP lowercase-hex(HMAC-MD5(key = password, text = challenge)). */
static int mech_cram_md5(void *userdata, unsigned step, const void *chal, size_t len, Buf *out) {
        ImapSasl *s = userdata;
        _cleanup_(mac_freep) EVP_MAC *mac = NULL;
        _cleanup_(mac_ctx_freep) EVP_MAC_CTX *ctx = NULL;
        char digest_name[] = "MD5";
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                OSSL_PARAM_construct_end(),
        };
        unsigned char md[EVP_MAX_MD_SIZE];
        size_t mdlen = 0;
        int r;

        if (step > 0)
                return unexpected(s);

        /* A FIPS-only or restricted provider set has no MD5: imaplib's
         * "CRAM-MD5 authentication is not supported" (S-28). */
        mac = EVP_MAC_fetch(s->libctx, "HMAC", NULL);
        ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
        if (!ctx || !EVP_MAC_init(ctx, (const unsigned char *) s->secret, strlen(s->secret), params)) {
                ERR_clear_error(); /* keep OpenSSL's queue clean for the transport */
                s->error = "CRAM-MD5 authentication is not supported";
                return -EOPNOTSUPP;
        }
        if (!EVP_MAC_update(ctx, chal, len) || !EVP_MAC_final(ctx, md, &mdlen, sizeof(md))) {
                ERR_clear_error();
                explicit_bzero(md, sizeof(md));
                s->error = "HMAC-MD5 failed";
                return -EIO;
        }

        r = buf_reserve(out, strlen(s->user) + 1 + mdlen * 2, 0);
        if (r >= 0) {
                (void) put(out, s->user);
                (void) buf_append(out, " ", 1, 0);
                for (size_t i = 0; i < mdlen; i++) {
                        char hex[3];

                        (void) snprintf(hex, sizeof(hex), "%02x", md[i]);
                        (void) buf_append(out, hex, 2, 0);
                }
        }
        explicit_bzero(md, sizeof(md));
        return r < 0 ? r : 0;
}

/* XOAUTH2: "user=" U ^A "auth=Bearer " T ^A ^A.  A failure comes back as a
 * challenge holding a JSON error; the client answers it with an empty
 * response and the server then sends its tagged NO. */
static int mech_xoauth2(void *userdata, unsigned step, const void *chal, size_t len, Buf *out) {
        ImapSasl *s = userdata;
        int r;

        (void) chal, (void) len;
        if (step == 1)
                return 0;
        if (step > 1)
                return unexpected(s);
        r = buf_reserve(out, strlen("user=\1auth=Bearer \1\1") + strlen(s->user) + strlen(s->secret), 0);
        if (r < 0)
                return r;
        (void) put(out, "user=");
        (void) put(out, s->user);
        (void) put(out, "\1auth=Bearer ");
        (void) put(out, s->secret);
        (void) put(out, "\1\1");
        return 0;
}

/* RFC 5801 §4 saslname: "," and "=" are written as "=2C" and "=3D". */
static size_t saslname_len(const char *s) {
        size_t n = 0;

        for (; *s; s++)
                n += *s == ',' || *s == '=' ? 3 : 1;
        return n;
}

static void put_saslname(Buf *out, const char *s) {
        for (; *s; s++)
                (void) buf_append(out, *s == ',' ? "=2C" : *s == '=' ? "=3D" : s, *s == ',' || *s == '=' ? 3 : 1, 0);
}

/* RFC 7628 §3.1: gs2-header "n,a=" authzid "," then kvpairs separated and
 * ended by ^A: host=, port=, auth=Bearer <token>.  §3.2.3: on an error
 * challenge the client sends a lone ^A, and the server fails the exchange. */
static int mech_oauthbearer(void *userdata, unsigned step, const void *chal, size_t len, Buf *out) {
        ImapSasl *s = userdata;
        const char *who = s->authzid ? s->authzid : s->user;
        char port[32] = "";
        int r;

        (void) chal, (void) len;
        if (step == 1)
                return buf_append(out, "\1", 1, 0);
        if (step > 1)
                return unexpected(s);
        if (s->port > 0)
                (void) snprintf(port, sizeof(port), "\1port=%u", s->port);
        r = buf_reserve(out,
                        strlen("n,a=,") + saslname_len(who) + (s->host ? strlen("\1host=") + strlen(s->host) : 0) +
                                strlen(port) + strlen("\1auth=Bearer \1\1") + strlen(s->secret),
                        0);
        if (r < 0)
                return r;
        (void) put(out, "n,a=");
        put_saslname(out, who);
        (void) put(out, ",");
        if (s->host) {
                (void) put(out, "\1host=");
                (void) put(out, s->host);
        }
        (void) put(out, port);
        (void) put(out, "\1auth=Bearer ");
        (void) put(out, s->secret);
        (void) put(out, "\1\1");
        return 0;
}

typedef struct SaslMech {
        const char *name;
        bool client_first;      /* RFC 4422 §5 */
        bool ctrl_a_framed;     /* fields must not contain ^A */
        ImapSaslStepFn step;
} SaslMech;

static const SaslMech mechs[] = {
        { "PLAIN",       true,  false, mech_plain },
        { "LOGIN",       false, false, mech_login },
        { "CRAM-MD5",    false, false, mech_cram_md5 },
        { "XOAUTH2",     true,  true,  mech_xoauth2 },
        { "OAUTHBEARER", true,  true,  mech_oauthbearer },
};

/* ---- object -------------------------------------------------------------- */

/* Upper-case 'mech' into s->mech and check RFC 4422 §3.1's syntax. */
static int set_name(ImapSasl *s, const char *mech) {
        size_t n = strlen(mech);

        if (n == 0 || n > SASL_MECH_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = mech[i];

                if (c >= 'a' && c <= 'z')
                        c = (char) (c - 'a' + 'A');
                if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
                        return -EINVAL;
                s->mech[i] = c;
        }
        s->mech[n] = 0;
        return 0;
}

static size_t string_allocated(const char *str) {
        return str ? strlen(str) + 1 : 0;
}

size_t imap_sasl_allocated(const ImapSasl *s) {
        if (!s)
                return 0;
        return sizeof(*s) + string_allocated(s->authzid) + string_allocated(s->user) +
               string_allocated(s->secret) + string_allocated(s->host);
}

ImapSasl *imap_sasl_free(ImapSasl *s) {
        if (!s)
                return NULL;
        wipe_string(s->authzid);
        wipe_string(s->user);
        wipe_string(s->secret);
        wipe_string(s->host);
        explicit_bzero(s, sizeof(*s));
        free(s);
        return NULL;
}

int imap_sasl_new_generic(const char *mech, ImapSaslStepFn step, void *userdata, ImapSasl **ret) {
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        int r;

        assert_return(mech && step && ret, -EINVAL);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = set_name(s, mech);
        if (r < 0)
                return r;
        s->step_fn = step;
        s->userdata = userdata;
        *ret = TAKE_PTR(s);
        return 0;
}

int imap_sasl_new(const char *mech, const ImapSaslCreds *creds, ImapSasl **ret) {
        _cleanup_(imap_sasl_freep) ImapSasl *s = NULL;
        const SaslMech *m = NULL;
        int r;

        assert_return(mech && ret, -EINVAL);
        assert_return(creds && creds->user && creds->secret, -EINVAL);

        for (size_t i = 0; i < ELEMENTSOF(mechs); i++)
                if (strcasecmp(mech, mechs[i].name) == 0) {
                        m = &mechs[i];
                        break;
                }
        if (!m)
                return -EOPNOTSUPP;
        if (m->ctrl_a_framed) {
                /* ^A separates the key/value pairs of XOAUTH2 and RFC 7628. */
                const char *fields[] = { creds->authzid, creds->user, creds->secret, creds->host };

                for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                        if (fields[i] && strchr(fields[i], '\1'))
                                return -EINVAL;
        }

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = set_name(s, m->name);
        if (r < 0)
                return r;
        s->builtin = true;
        s->client_first = m->client_first;
        s->step_fn = m->step;
        s->userdata = s;
        s->port = creds->port;
        s->libctx = creds->ossl_libctx;
        if (strdup_opt(creds->authzid, &s->authzid) < 0 || strdup_opt(creds->user, &s->user) < 0 ||
            strdup_opt(creds->secret, &s->secret) < 0 || strdup_opt(creds->host, &s->host) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

int imap_sasl_set_client_first(ImapSasl *s, bool client_first) {
        assert_return(s, -EINVAL);
        assert_return(!s->builtin && s->step == 0, -EINVAL);

        s->client_first = client_first;
        return 0;
}

const char *imap_sasl_mechanism(const ImapSasl *s) {
        return s ? s->mech : NULL;
}

bool imap_sasl_has_initial_response(const ImapSasl *s) {
        return s && s->client_first;
}

const char *imap_sasl_error(const ImapSasl *s) {
        return s ? s->error : NULL;
}

/* Run the mechanism's next step on a decoded challenge and append the
 * encoded response.  'initial' selects RFC 4959's "=" for an empty one. */
static int run_step(ImapSasl *s, const void *chal, size_t len, bool initial, Buf *b64_out) {
        _cleanup_(buf_wipep) Buf raw = BUF_INIT;
        int r;

        r = s->step_fn(s->userdata, s->step++, chal, len, &raw);
        if (r < 0)
                return r;
        if (r > 0) {
                if (!s->error)
                        s->error = "mechanism cancelled the exchange";
                return 1;
        }
        if (raw.len > IMAP_SASL_MAX_RESPONSE) {
                s->error = "client response too long";
                return -EMSGSIZE;
        }
        if (initial && raw.len == 0)
                return buf_append(b64_out, "=", 1, 0);
        return b64_encode(raw.data, raw.len, b64_out);
}

int imap_sasl_step(ImapSasl *s, const char *b64_challenge, size_t len, Buf *b64_out) {
        _cleanup_(buf_done) Buf chal = BUF_INIT;
        int r;

        assert_return(s && b64_out, -EINVAL);
        assert_return(b64_challenge || len == 0, -EINVAL);

        s->error = NULL;
        if (len > IMAP_SASL_MAX_CHALLENGE) {
                s->error = "server challenge too long";
                return -EMSGSIZE;
        }
        r = b64_decode(b64_challenge, len, &chal);
        if (r == -EBADMSG) {
                /* Q8: cancel rather than leave the server waiting. */
                s->error = "server challenge is not valid base64";
                return 1;
        }
        if (r < 0)
                return r;
        return run_step(s, chal.data, chal.len, /* initial= */ false, b64_out);
}

int imap_sasl_initial_response(ImapSasl *s, Buf *b64_out) {
        assert_return(s && b64_out, -EINVAL);
        assert_return(s->client_first && s->step == 0, -EINVAL);

        s->error = NULL;
        return run_step(s, NULL, 0, /* initial= */ true, b64_out);
}

/* SPDX-License-Identifier: MIT */
/* th-certs.c: throwaway CA and leaf certificates for tests; see th-certs.h. */
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "th-certs.h"

#define TH_CERT_VALID_SECS (24 * 60 * 60)

static int write_pem(const char *path, EVP_PKEY *key, X509 *cert) {
        FILE *f;
        int ok;

        f = fopen(path, "we");
        if (!f)
                return -errno;
        ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
        if (fclose(f) != 0 || !ok)
                return -EIO;
        return 0;
}

static int add_ext(X509 *issuer, X509 *cert, int nid, const char *value) {
        X509V3_CTX ctx;
        X509_EXTENSION *ext;
        int ok;

        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext)
                return -EIO;
        ok = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        return ok ? 0 : -EIO;
}

/* Validity in seconds from now. */
typedef struct Window {
        long not_before, not_after;
} Window;

/* A certificate for key, named cn, signed by issuer_key (issuer NULL: self-signed, and
 * issuer_key is key).  A leaf gets san (may be NULL) as its subjectAltName. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                       GENERAL_NAMES *san, Window w) {
        X509 *x;
        X509_NAME *name;
        unsigned char serial[16];
        BIGNUM *bn = NULL;
        int ok = 0;

        x = X509_new();
        if (!x)
                return NULL;
        if (RAND_bytes(serial, sizeof(serial)) != 1)
                goto finish;
        serial[0] &= 0x7f; /* positive */
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
                goto finish;
        if (!X509_set_version(x, X509_VERSION_3) ||
            !X509_gmtime_adj(X509_getm_notBefore(x), w.not_before) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), w.not_after) ||
            !X509_set_pubkey(x, key))
                goto finish;

        name = X509_get_subject_name(x);
        if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *) "imapidled tests", -1,
                                        -1, 0) ||
            !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0))
                goto finish;
        if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
                goto finish;

        if (add_ext(issuer ?: x, x, NID_subject_key_identifier, "hash") < 0 ||
            add_ext(issuer ?: x, x, NID_authority_key_identifier, "keyid:always") < 0)
                goto finish;
        if (ca) {
                if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
                    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0)
                        goto finish;
        } else {
                if (add_ext(issuer ?: x, x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
                    add_ext(issuer ?: x, x, NID_key_usage, "critical,digitalSignature") < 0 ||
                    add_ext(issuer ?: x, x, NID_ext_key_usage, "serverAuth,clientAuth") < 0)
                        goto finish;
                /* Encoded from the structure rather than from "DNS:..." text, which could not
                 * carry a NUL. */
                if (san && X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) != 1)
                        goto finish;
        }

        if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
                goto finish;
        ok = 1;

finish:
        BN_free(bn);
        if (!ok) {
                X509_free(x);
                return NULL;
        }
        return x;
}

/* Append one name to gens; value takes ownership of v (freed on failure). */
static int san_push(GENERAL_NAMES *gens, int type, ASN1_STRING *v) {
        GENERAL_NAME *gn;

        if (!v)
                return -EIO;
        gn = GENERAL_NAME_new();
        if (!gn) {
                ASN1_STRING_free(v);
                return -EIO;
        }
        GENERAL_NAME_set0_value(gn, type, v);
        if (!sk_GENERAL_NAME_push(gens, gn)) {
                GENERAL_NAME_free(gn);
                return -EIO;
        }
        return 0;
}

static int san_push_dns(GENERAL_NAMES *gens, const char *name, size_t len) {
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();

        if (s && (len > INT_MAX || !ASN1_STRING_set(s, name, (int) len))) {
                ASN1_IA5STRING_free(s);
                return -EIO;
        }
        return san_push(gens, GEN_DNS, s);
}

/* The subjectAltName of spec, or NULL in *ret for none. */
static int san_make(const ThCertSpec *spec, GENERAL_NAMES **ret) {
        GENERAL_NAMES *gens;
        int r = 0;

        *ret = NULL;
        if (!(spec->dns_names && spec->dns_names[0]) && !(spec->ips && spec->ips[0]) && !spec->raw_dns)
                return 0;
        gens = sk_GENERAL_NAME_new_null();
        if (!gens)
                return -ENOMEM;
        for (size_t i = 0; r >= 0 && spec->dns_names && spec->dns_names[i]; i++)
                r = san_push_dns(gens, spec->dns_names[i], strlen(spec->dns_names[i]));
        if (r >= 0 && spec->raw_dns)
                r = san_push_dns(gens, spec->raw_dns, spec->raw_dns_len);
        for (size_t i = 0; r >= 0 && spec->ips && spec->ips[i]; i++)
                r = san_push(gens, GEN_IPADD, a2i_IPADDRESS(spec->ips[i]));
        if (r < 0) {
                GENERAL_NAMES_free(gens);
                return r;
        }
        *ret = gens;
        return 0;
}

static int path_in(char *buf, const char *dir, const char *name) {
        int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);

        return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int write_chain(const char *path, X509 *leaf, X509 *intermediate) {
        FILE *f;
        int ok;

        f = fopen(path, "we");
        if (!f)
                return -errno;
        ok = PEM_write_X509(f, leaf) && PEM_write_X509(f, intermediate);
        if (fclose(f) != 0 || !ok)
                return -EIO;
        return 0;
}

int th_certs_make_spec(const char *dir, const ThCertSpec *spec, ThCerts *ret) {
        static const ThCertSpec plain = {};
        const Window ca_window = { -60, TH_CERT_VALID_SECS };
        GENERAL_NAMES *san = NULL;
        EVP_PKEY *ca_key = NULL, *mid_key = NULL, *key = NULL;
        X509 *ca = NULL, *mid = NULL, *leaf = NULL;
        Window w = ca_window;
        const char *cn;
        ThCerts t = {};
        int r;

        if (!dir || !ret)
                return -EINVAL;
        if (!spec)
                spec = &plain;
        if ((r = path_in(t.ca_file, dir, "ca.pem")) < 0 ||
            (r = path_in(t.ca_key_file, dir, "ca-key.pem")) < 0 ||
            (r = path_in(t.cert_file, dir, "cert.pem")) < 0 ||
            (r = path_in(t.key_file, dir, "key.pem")) < 0 ||
            (spec->intermediate && (r = path_in(t.chain_file, dir, "chain.pem")) < 0))
                return r;
        if (spec->not_before_secs != 0 || spec->not_after_secs != 0)
                w = (Window) { spec->not_before_secs, spec->not_after_secs };
        cn = spec->cn ?: spec->dns_names && spec->dns_names[0] ? spec->dns_names[0] : "th-leaf";
        r = san_make(spec, &san);
        if (r < 0)
                return r;

        r = -EIO;
        ca_key = EVP_EC_gen("P-256");
        key = EVP_EC_gen("P-256");
        if (!ca_key || !key)
                goto finish;
        ca = make_cert("imapidled test CA", ca_key, NULL, ca_key, true, NULL, ca_window);
        if (!ca)
                goto finish;
        if (spec->intermediate) {
                mid_key = EVP_EC_gen("P-256");
                if (!mid_key)
                        goto finish;
                mid = make_cert("imapidled test intermediate CA", mid_key, ca, ca_key, true, NULL, ca_window);
                if (!mid)
                        goto finish;
        }
        if (spec->self_signed)
                leaf = make_cert(cn, key, NULL, key, false, san, w);
        else
                leaf = make_cert(cn, key, mid ?: ca, mid ? mid_key : ca_key, false, san, w);
        if (!leaf)
                goto finish;

        if ((r = write_pem(t.ca_file, NULL, ca)) < 0 || (r = write_pem(t.ca_key_file, ca_key, NULL)) < 0 ||
            (r = write_pem(t.cert_file, NULL, leaf)) < 0 || (r = write_pem(t.key_file, key, NULL)) < 0 ||
            (mid && (r = write_chain(t.chain_file, leaf, mid)) < 0))
                goto finish;
        *ret = t;
        r = 0;

finish:
        GENERAL_NAMES_free(san);
        X509_free(leaf);
        X509_free(mid);
        X509_free(ca);
        EVP_PKEY_free(key);
        EVP_PKEY_free(mid_key);
        EVP_PKEY_free(ca_key);
        return r;
}

int th_certs_make(const char *dir, const char *const *dns_names, const char *const *ips, ThCerts *ret) {
        return th_certs_make_spec(dir, &(ThCertSpec) { .dns_names = dns_names, .ips = ips }, ret);
}

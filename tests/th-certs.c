/* SPDX-License-Identifier: MIT */
/* th-certs.c: throwaway CA and leaf certificates for tests; see th-certs.h. */
#include <errno.h>
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

/* A certificate for key, named cn, signed by issuer_key (issuer NULL: self-signed). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca,
                       const char *san) {
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
            !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), TH_CERT_VALID_SECS) ||
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
                if (add_ext(issuer, x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
                    add_ext(issuer, x, NID_key_usage, "critical,digitalSignature") < 0 ||
                    add_ext(issuer, x, NID_ext_key_usage, "serverAuth,clientAuth") < 0)
                        goto finish;
                if (san && add_ext(issuer, x, NID_subject_alt_name, san) < 0)
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

/* "DNS:a,DNS:b,IP:1.2.3.4" into a malloc()ed string, or NULL for no entries (*ret unset on
 * failure). */
static int san_string(const char *const *dns_names, const char *const *ips, char **ret) {
        size_t len = 1, off = 0;
        char *s;

        for (size_t i = 0; dns_names && dns_names[i]; i++)
                len += strlen("DNS:,") + strlen(dns_names[i]);
        for (size_t i = 0; ips && ips[i]; i++)
                len += strlen("IP:,") + strlen(ips[i]);
        if (len == 1) {
                *ret = NULL;
                return 0;
        }
        s = malloc(len);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; dns_names && dns_names[i]; i++)
                off += (size_t) snprintf(s + off, len - off, "%sDNS:%s", off ? "," : "", dns_names[i]);
        for (size_t i = 0; ips && ips[i]; i++)
                off += (size_t) snprintf(s + off, len - off, "%sIP:%s", off ? "," : "", ips[i]);
        *ret = s;
        return 0;
}

static int path_in(char *buf, const char *dir, const char *name) {
        int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);

        return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int th_certs_make(const char *dir, const char *const *dns_names, const char *const *ips, ThCerts *ret) {
        _cleanup_free_ char *san = NULL;
        EVP_PKEY *ca_key = NULL, *key = NULL;
        X509 *ca = NULL, *leaf = NULL;
        ThCerts t;
        int r;

        if (!dir || !ret)
                return -EINVAL;
        if ((r = path_in(t.ca_file, dir, "ca.pem")) < 0 ||
            (r = path_in(t.ca_key_file, dir, "ca-key.pem")) < 0 ||
            (r = path_in(t.cert_file, dir, "cert.pem")) < 0 ||
            (r = path_in(t.key_file, dir, "key.pem")) < 0)
                return r;
        r = san_string(dns_names, ips, &san);
        if (r < 0)
                return r;

        r = -EIO;
        ca_key = EVP_EC_gen("P-256");
        key = EVP_EC_gen("P-256");
        if (!ca_key || !key)
                goto finish;
        ca = make_cert("imapidled test CA", ca_key, NULL, ca_key, true, NULL);
        if (!ca)
                goto finish;
        leaf = make_cert(dns_names && dns_names[0] ? dns_names[0] : "th-leaf", key, ca, ca_key, false, san);
        if (!leaf)
                goto finish;

        if ((r = write_pem(t.ca_file, NULL, ca)) < 0 || (r = write_pem(t.ca_key_file, ca_key, NULL)) < 0 ||
            (r = write_pem(t.cert_file, NULL, leaf)) < 0 || (r = write_pem(t.key_file, key, NULL)) < 0)
                goto finish;
        *ret = t;
        r = 0;

finish:
        X509_free(leaf);
        X509_free(ca);
        EVP_PKEY_free(key);
        EVP_PKEY_free(ca_key);
        return r;
}

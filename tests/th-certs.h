/* SPDX-License-Identifier: MIT */
/*
 * th-certs.h: throwaway X.509 material for tests, made with the OpenSSL API
 * (no openssl command): a CA and one leaf certificate signed by it, with
 * chosen subjectAltNames, valid for one day.  Used by the transport tests and
 * by the fake servers.  th_certs_make_spec() also makes the hostile
 * certificates of docs/SECURITY.md group E: a NUL inside a dNSName, a CN that
 * disagrees with the SAN, a validity window in the past or the future, a
 * self-signed leaf, a leaf behind an intermediate CA.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ThCerts {
        char ca_file[PATH_MAX];         /* ca.pem */
        char ca_key_file[PATH_MAX];     /* ca-key.pem */
        char cert_file[PATH_MAX];       /* cert.pem, the leaf */
        char key_file[PATH_MAX];        /* key.pem, its key */
        char chain_file[PATH_MAX];      /* chain.pem, the leaf and its intermediate; "" (and no
                                         * file) unless ThCertSpec.intermediate */
} ThCerts;

/* Create the four files in dir (which must exist; files are overwritten).  dns_names and ips
 * are NULL-terminated lists (either may be NULL) put into the leaf's subjectAltName as dNSName
 * and iPAddress entries; the leaf's CN is the first DNS name, or "th-leaf".  Keys are P-256.
 * The leaf may serve as server and as client certificate (both extended key usages).
 * Returns 0 or a negative errno-style value (-EIO for an OpenSSL failure). */
int th_certs_make(const char *dir, const char *const *dns_names, const char *const *ips, ThCerts *ret);

typedef struct ThCertSpec {
        const char *const *dns_names;   /* as th_certs_make() */
        const char *const *ips;         /* as th_certs_make() */
        const char *raw_dns;            /* if not NULL: one more dNSName of exactly raw_dns_len
                                         * bytes, which may hold a NUL (E02); the IA5String is
                                         * written as given, unchecked */
        size_t raw_dns_len;
        const char *cn;                 /* the leaf's CN; NULL: as th_certs_make() */
        long not_before_secs;           /* the leaf's validity, in seconds from now; both 0: from */
        long not_after_secs;            /* 60 s ago for one day (the CA always has that) */
        bool self_signed;               /* the leaf signs itself; ca.pem is still made, unrelated */
        bool intermediate;              /* ca.pem signs an intermediate CA that signs the leaf;
                                         * cert.pem is the leaf alone, chain.pem leaf + intermediate */
} ThCertSpec;

/* The same with every choice of spec (NULL: as th_certs_make(dir, NULL, NULL, ret)).  Writes
 * the same four files, and chain.pem when spec->intermediate.  Returns as th_certs_make(). */
int th_certs_make_spec(const char *dir, const ThCertSpec *spec, ThCerts *ret);

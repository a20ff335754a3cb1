/* SPDX-License-Identifier: MIT */
/*
 * th-certs.h: throwaway X.509 material for tests, made with the OpenSSL API
 * (no openssl command): a CA and one leaf certificate signed by it, with
 * chosen subjectAltNames, valid for one day.  Used by the transport tests and
 * by the fake servers.
 */
#pragma once

#include <limits.h>

typedef struct ThCerts {
        char ca_file[PATH_MAX];         /* ca.pem */
        char ca_key_file[PATH_MAX];     /* ca-key.pem */
        char cert_file[PATH_MAX];       /* cert.pem, the leaf */
        char key_file[PATH_MAX];        /* key.pem, its key */
} ThCerts;

/* Create the four files in dir (which must exist; files are overwritten).  dns_names and ips
 * are NULL-terminated lists (either may be NULL) put into the leaf's subjectAltName as dNSName
 * and iPAddress entries; the leaf's CN is the first DNS name, or "th-leaf".  Keys are P-256.
 * The leaf may serve as server and as client certificate (both extended key usages).
 * Returns 0 or a negative errno-style value (-EIO for an OpenSSL failure). */
int th_certs_make(const char *dir, const char *const *dns_names, const char *const *ips, ThCerts *ret);

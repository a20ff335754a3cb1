/* SPDX-License-Identifier: MIT */
/*
 * tls-floor.c: heap bytes per idle TLS connection in the transport (src/net): N implicit-TLS
 * conns from one shared context to a private Dovecot, each through the handshake, the
 * greeting and, with -l, LOGIN, EXAMINE INBOX and IDLE, then the heap in use per conn
 * (glibc mallinfo2(), malloc's chunk overhead included, after one warm-up conn so that
 * OpenSSL's one-time setup is not counted).  Built on demand, not by `make check`:
 *
 *   cd build && make bench/tls-floor
 *   DOVECOT_USERS=200 DOVECOT_LOGIN_PROCESSES=250 sh ../tests/dovecot.sh start /tmp/tls-floor
 *   bench/tls-floor [-n N] [-l] [-o OPTION]... /tmp/tls-floor     (N defaults to 200)
 *   sh ../tests/dovecot.sh stop /tmp/tls-floor
 *
 * It also prints how the bytes divide between making the conn (the SSL object, the Conn, the
 * BIO), the handshake, and what came after it (TLS 1.3 NewSessionTickets, the IMAP part).
 *
 *   bench/tls-floor -p /tmp/tls-floor
 *
 * prints instead what single OpenSSL objects of a conn cost with this library (average of
 * 100 each): an SSL from the shared context, the server's certificate as decoded from
 * DIR/cert.pem, a record cipher context (one per direction), a session, a handshake digest.
 *
 * -o sets what the transport does not (yet) do, to see what it would save, on top of the
 * transport's own settings: notickets (SSL_OP_NO_TICKET), tickets0 (the client asks for none
 * with SSL_CTX_set_num_tickets(0); servers ignore it), cacheoff
 * (SSL_CTX_set_session_cache_mode(SSL_SESS_CACHE_OFF)), freebuffers (SSL_free_buffers()
 * once idle), tls12 (SSL_CTX_set_max_proto_version(TLS1_2_VERSION)).  For where the bytes
 * go, run it under valgrind --tool=massif (mallinfo2() then reads 0; massif's peak snapshot
 * has the allocation sites).
 */
#include <errno.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn-internal.h"
#include "conn.h"

#define TIMEOUT_MS 10000

static struct {
        bool notickets, tickets0, cacheoff, freebuffers, tls12;
} opt;

/* Heap growth per stage, summed over the measured conns. */
static size_t stage_new, stage_handshake, stage_after;

static size_t heap(void) {
        return mallinfo2().uordblks;
}

static int wait_for(Conn *c, short events) {
        struct pollfd pfd = { .fd = conn_fd(c), .events = events };
        int r = poll(&pfd, 1, TIMEOUT_MS);

        return r < 0 ? -errno : r == 0 ? -ETIMEDOUT : 0;
}

static bool has_line(const char *buf, const char *want) {
        size_t n = strlen(want);

        if (strncmp(buf, want, n) == 0)
                return true;
        for (const char *p = strstr(buf, "\r\n"); p; p = strstr(p + 2, "\r\n"))
                if (strncmp(p + 2, want, n) == 0)
                        return true;
        return false;
}

/* Read until a line starts with 'want'.  0 or -errno. */
static int read_until(Conn *c, const char *want) {
        char buf[4096];
        size_t len = 0;

        for (;;) {
                ssize_t k = conn_read(c, buf + len, sizeof(buf) - 1 - len);
                char *nl;

                if (k == -EAGAIN) {
                        int r = wait_for(c, conn_events(c));
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k <= 0)
                        return k == 0 ? -ECONNRESET : (int) k;
                len += (size_t) k;
                buf[len] = 0;
                if (has_line(buf, want)) {
                        /* Drain what TLS decrypted beyond it, as the daemon does. */
                        while (conn_has_pending(c))
                                (void) conn_read(c, buf, sizeof(buf));
                        return 0;
                }
                /* Keep the last partial line. */
                nl = strrchr(buf, '\n');
                if (nl) {
                        len = strlen(nl + 1);
                        memmove(buf, nl + 1, len + 1);
                } else if (len == sizeof(buf) - 1)
                        return -EMSGSIZE;
        }
}

static int send_line(Conn *c, const char *line) {
        size_t off = 0, n = strlen(line);

        while (off < n) {
                ssize_t k = conn_write(c, line + off, n - off);

                if (k == -EAGAIN) {
                        int r = wait_for(c, conn_events(c));
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k < 0)
                        return (int) k;
                off += (size_t) k;
        }
        return 0;
}

/* The IMAP part: greeting, then NOOP, or LOGIN, EXAMINE and IDLE as user 'user'. */
static int converse(Conn *c, unsigned user, bool login) {
        char line[128];
        int r;

        r = read_until(c, "* OK");
        if (r < 0 || !login) {
                if (r >= 0)
                        r = send_line(c, "a NOOP\r\n");
                return r < 0 ? r : read_until(c, "a OK");
        }
        (void) snprintf(line, sizeof(line), "a LOGIN user%u pass%u\r\n", user, user);
        r = send_line(c, line);
        if (r >= 0)
                r = read_until(c, "a OK");
        if (r >= 0)
                r = send_line(c, "b EXAMINE INBOX\r\n");
        if (r >= 0)
                r = read_until(c, "b OK");
        if (r >= 0)
                r = send_line(c, "c IDLE\r\n");
        if (r >= 0)
                r = read_until(c, "+ ");
        return r;
}

static int open_conn(ConnTlsCtx *ctx, const char *port, unsigned user, bool login, Conn **ret) {
        size_t h0 = heap(), h1, h2;
        Conn *c = NULL;
        int r;

        r = conn_tls_new("localhost", port, ctx, &c);
        if (r < 0)
                return r;
        h1 = heap();
        r = conn_wait_ready(c, TIMEOUT_MS);
        h2 = heap();
        if (r >= 0)
                r = converse(c, user, login);
        stage_new += h1 - h0;
        stage_handshake += h2 - h1;
        stage_after += heap() - h2;
        if (r < 0) {
                fprintf(stderr, "conn %u: %s (%s)\n", user, strerror(-r), conn_error(c) ?: "");
                conn_free(c);
                return r;
        }
        if (opt.freebuffers && !SSL_free_buffers(c->ssl))
                fprintf(stderr, "conn %u: SSL_free_buffers() refused\n", user);
        *ret = c;
        return 0;
}

/* What single objects cost, averaged over 100 of each kept alive at once. */
static int probe(ConnTlsCtx *ctx, const char *cert_file) {
        enum { K = 100 };
        static const unsigned char key[32], iv[12];
        unsigned char *der = NULL;
        void *keep[K];
        X509 *x;
        FILE *f;
        size_t h;
        int len;

        f = fopen(cert_file, "re");
        x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
        if (f)
                fclose(f);
        len = x ? i2d_X509(x, &der) : -1;
        if (len <= 0) {
                fprintf(stderr, "%s: no certificate\n", cert_file);
                return EXIT_FAILURE;
        }

        h = heap();
        for (int i = 0; i < K; i++)
                keep[i] = SSL_new(conn_tls_ctx_get_ssl_ctx(ctx));
        printf("SSL_new() from the shared context: %zu B\n", (heap() - h) / K);
        for (int i = 0; i < K; i++)
                SSL_free(keep[i]);

        h = heap();
        for (int i = 0; i < K; i++) {
                const unsigned char *p = der;
                keep[i] = d2i_X509(NULL, &p, len);
        }
        printf("server certificate (%d B DER), decoded: %zu B\n", len, (heap() - h) / K);
        h = heap();
        for (int i = 0; i < K; i++) {
                /* What verification computes and caches in it: key, extensions. */
                (void) X509_get0_pubkey(keep[i]);
                (void) X509_check_purpose(keep[i], -1, 0);
        }
        printf("  and once verified (key, extensions): %zu B more\n", (heap() - h) / K);
        for (int i = 0; i < K; i++)
                X509_free(keep[i]);

        h = heap();
        for (int i = 0; i < K; i++) {
                EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
                (void) EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, 1);
                keep[i] = c;
        }
        printf("AES-256-GCM record cipher context (one per direction): %zu B\n", (heap() - h) / K);
        for (int i = 0; i < K; i++)
                EVP_CIPHER_CTX_free(keep[i]);

        h = heap();
        for (int i = 0; i < K; i++)
                keep[i] = SSL_SESSION_new();
        printf("SSL_SESSION_new(): %zu B\n", (heap() - h) / K);
        for (int i = 0; i < K; i++)
                SSL_SESSION_free(keep[i]);

        h = heap();
        for (int i = 0; i < K; i++) {
                EVP_MD_CTX *c = EVP_MD_CTX_new();
                (void) EVP_DigestInit_ex(c, EVP_sha384(), NULL);
                keep[i] = c;
        }
        printf("SHA-384 handshake digest context: %zu B\n", (heap() - h) / K);
        for (int i = 0; i < K; i++)
                EVP_MD_CTX_free(keep[i]);

        OPENSSL_free(der);
        X509_free(x);
        return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        unsigned n = 200;
        bool login = false, probe_only = false;
        ConnTlsCtx *ctx = NULL;
        Conn **v;
        char path[4096], port[16] = "";
        size_t before, after;
        FILE *f;
        int o, r;

        while ((o = getopt(argc, argv, "n:lo:p")) >= 0)
                switch (o) {
                case 'p':
                        probe_only = true;
                        break;
                case 'n':
                        n = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'l':
                        login = true;
                        break;
                case 'o':
                        if (strcmp(optarg, "notickets") == 0)
                                opt.notickets = true;
                        else if (strcmp(optarg, "tickets0") == 0)
                                opt.tickets0 = true;
                        else if (strcmp(optarg, "cacheoff") == 0)
                                opt.cacheoff = true;
                        else if (strcmp(optarg, "freebuffers") == 0)
                                opt.freebuffers = true;
                        else if (strcmp(optarg, "tls12") == 0)
                                opt.tls12 = true;
                        else {
                                fprintf(stderr, "unknown option '%s'\n", optarg);
                                return EXIT_FAILURE;
                        }
                        break;
                default:
                        return EXIT_FAILURE;
                }
        if (optind + 1 != argc || n == 0) {
                fprintf(stderr, "usage: %s [-n N] [-l] [-o OPTION]... DOVECOT_DIR | -p DOVECOT_DIR\n",
                        argv[0]);
                return EXIT_FAILURE;
        }

        (void) snprintf(path, sizeof(path), "%s/ports", argv[optind]);
        f = fopen(path, "re");
        if (!f || fscanf(f, "PLAIN=%*u TLS=%15s", port) != 1) {
                fprintf(stderr, "%s: no TLS port\n", path);
                return EXIT_FAILURE;
        }
        fclose(f);
        (void) snprintf(path, sizeof(path), "%s/ca.pem", argv[optind]);
        r = conn_tls_ctx_new(&(ConnTlsParams) { .ca_file = path }, &ctx);
        if (r < 0) {
                fprintf(stderr, "TLS context: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (probe_only) {
                /* A warm-up SSL, so that the context's lazy setup is not counted. */
                SSL_free(SSL_new(conn_tls_ctx_get_ssl_ctx(ctx)));
                (void) snprintf(path, sizeof(path), "%s/cert.pem", argv[optind]);
                r = probe(ctx, path);
                conn_tls_ctx_free(ctx);
                return r;
        }
        {
                SSL_CTX *sc = conn_tls_ctx_get_ssl_ctx(ctx);

                if (opt.notickets)
                        SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
                if (opt.tickets0)
                        (void) SSL_CTX_set_num_tickets(sc, 0);
                if (opt.cacheoff)
                        (void) SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
                if (opt.tls12)
                        (void) SSL_CTX_set_max_proto_version(sc, TLS1_2_VERSION);
        }

        v = calloc(n + 1, sizeof(Conn *));
        if (!v)
                return EXIT_FAILURE;
        /* Warm-up: OpenSSL's one-time allocations (error strings, providers, the store's
         * lookups) land here, not on the N. */
        if (open_conn(ctx, port, 1, login, &v[n]) < 0)
                return EXIT_FAILURE;
        stage_new = stage_handshake = stage_after = 0;

        before = mallinfo2().uordblks;
        for (unsigned i = 0; i < n; i++)
                if (open_conn(ctx, port, i + 1, login, &v[i]) < 0)
                        return EXIT_FAILURE;
        after = mallinfo2().uordblks;

        {
                SSL *ssl = v[0]->ssl;

                printf("%u TLS conns (%s, %s%s%s%s%s%s%s): heap %zu B per conn (mallinfo2)\n", n,
                       SSL_get_version(ssl), SSL_get_cipher_name(ssl), login ? ", IDLE" : ", NOOP",
                       opt.notickets ? ", notickets" : "", opt.tickets0 ? ", tickets0" : "",
                       opt.cacheoff ? ", cacheoff" : "", opt.freebuffers ? ", freebuffers" : "",
                       opt.tls12 ? ", tls12" : "", (after - before) / n);
                printf("  made %zu, handshake %zu, after the handshake %zu\n", stage_new / n,
                       stage_handshake / n, stage_after / n);
        }
        for (unsigned i = 0; i <= n; i++)
                conn_free(v[i]);
        free(v);
        conn_tls_ctx_free(ctx);
        return EXIT_SUCCESS;
}

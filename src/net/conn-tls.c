/* SPDX-License-Identifier: MIT */
/*
 * conn-tls.c: TLS over a connected socket with OpenSSL, for implicit TLS and
 * STARTTLS: the shared client context, the per-connection verification policy
 * (docs/TRANSPORT.md and docs/SECURITY.md group E), the non-blocking handshake, and read/write
 * with WANT_READ/WANT_WRITE mapped into conn_events().
 *
 * SIGPIPE: OpenSSL's socket BIO writes with write(2), which raises SIGPIPE
 * when the peer is gone.  Rather than touching signal dispositions (a library
 * must not), TLS records go through a small BIO of our own that uses
 * send(MSG_NOSIGNAL) and recv().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "conn-internal.h"

struct ConnTlsCtx {
        SSL_CTX *ctx;
};

/* ---- the MSG_NOSIGNAL socket BIO ---------------------------------------- */

static BIO_METHOD *nosig_method;
static CRYPTO_ONCE nosig_once = CRYPTO_ONCE_STATIC_INIT;

static int nosig_write(BIO *b, const char *buf, size_t n, size_t *written) {
        int fd = BIO_get_fd(b, NULL);
        ssize_t k;

        BIO_clear_retry_flags(b);
        do
                k = send(fd, buf, n, MSG_NOSIGNAL);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        BIO_set_retry_write(b);
                return 0;
        }
        *written = (size_t) k;
        return 1;
}

static int nosig_read(BIO *b, char *buf, size_t n, size_t *readbytes) {
        int fd = BIO_get_fd(b, NULL);
        ssize_t k;

        BIO_clear_retry_flags(b);
        do
                k = recv(fd, buf, n, 0);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        BIO_set_retry_read(b);
                return 0;
        }
        if (k == 0) {
                /* Tell OpenSSL this is EOF, not an error: it then reports a cut without
                 * close_notify as SSL_R_UNEXPECTED_EOF_WHILE_READING. */
                BIO_set_flags(b, BIO_FLAGS_IN_EOF);
                errno = 0;
                return 0;
        }
        *readbytes = (size_t) k;
        return 1;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr) {
        switch (cmd) {
        case BIO_C_SET_FD:
                BIO_set_data(b, (void *) (intptr_t) *(int *) ptr);
                BIO_set_init(b, 1);
                (void) num;
                return 1;
        case BIO_C_GET_FD:
                if (!BIO_get_init(b))
                        return -1;
                if (ptr)
                        *(int *) ptr = (int) (intptr_t) BIO_get_data(b);
                return (long) (intptr_t) BIO_get_data(b);
        case BIO_CTRL_FLUSH:
                return 1;
        case BIO_CTRL_EOF:
                return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
        default:
                return 0;
        }
}

static int nosig_create(BIO *b) {
        BIO_set_data(b, (void *) (intptr_t) -1);
        BIO_set_init(b, 0);
        return 1;
}

static void nosig_init(void) {
        BIO_METHOD *m;

        m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "conn-nosigpipe");
        if (!m)
                return;
        if (!BIO_meth_set_write_ex(m, nosig_write) || !BIO_meth_set_read_ex(m, nosig_read) ||
            !BIO_meth_set_ctrl(m, nosig_ctrl) || !BIO_meth_set_create(m, nosig_create)) {
                BIO_meth_free(m);
                return;
        }
        nosig_method = m;
}

/* A BIO on fd that does not own it (the conn closes the fd). */
static BIO *nosig_bio_new(int fd) {
        BIO *b;

        if (!CRYPTO_THREAD_run_once(&nosig_once, nosig_init) || !nosig_method)
                return NULL;
        b = BIO_new(nosig_method);
        if (!b)
                return NULL;
        (void) BIO_set_fd(b, fd, BIO_NOCLOSE);
        return b;
}

/* ---- errors ------------------------------------------------------------- */

/* The reason of the most recent OpenSSL error, and empty the queue (it is per thread and
 * would otherwise confuse the next SSL_get_error()).  If ret_errno is not NULL, it gets the
 * errno of a system error in the queue (a file that cannot be opened), or 0. */
static const char *ssl_reason_errno(int *ret_errno) {
        unsigned long e, last = 0;
        const char *s;
        int sys = 0;

        while ((e = ERR_get_error()) != 0) {
                if (ERR_GET_LIB(e) == ERR_LIB_SYS && ERR_GET_REASON(e) > 0 && sys == 0)
                        sys = ERR_GET_REASON(e);
                last = e;
        }
        if (ret_errno)
                *ret_errno = sys;
        s = last ? ERR_reason_error_string(last) : NULL;
        return s ?: "unknown TLS error";
}

static const char *ssl_reason(void) {
        return ssl_reason_errno(NULL);
}

/* Fill reterr with "what: reason" (file names are configuration, not secrets). */
static int ctx_fail(char **reterr, int r, const char *what, const char *file) {
        const char *reason;
        int sys;

        reason = ssl_reason_errno(&sys);
        /* A missing or unreadable file comes back as a system error. */
        if (sys > 0)
                r = -sys;
        if (reterr) {
                if (asprintf(reterr, "%s%s%s: %s", what, file ? " " : "", file ?: "",
                             r == -EINVAL ? reason : strerror(-r)) < 0)
                        *reterr = NULL;
        }
        return r;
}

/* ---- the shared context ------------------------------------------------- */

int conn_tls_ctx_new_full(const ConnTlsParams *p, ConnTlsCtx **ret, char **reterr_msg) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *c = NULL;
        const char *key;

        assert_return(p, -EINVAL);
        assert_return(ret, -EINVAL);
        assert_return(p->cert_file || !p->key_file, -EINVAL);

        if (reterr_msg)
                *reterr_msg = NULL;
        ERR_clear_error();

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ctx = SSL_CTX_new(TLS_client_method());
        if (!c->ctx)
                return ctx_fail(reterr_msg, -ENOMEM, "creating the TLS context", NULL);

        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
        /* RFC 8996 retired TLS 1.0 and 1.1; docs/SECURITY.md E07. */
        if (!SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION))
                return ctx_fail(reterr_msg, -EINVAL, "setting the minimum TLS version", NULL);
        /* RELEASE_BUFFERS: thousands of idle conns should not each pin 2 record buffers.
         * The other two let a write that returned WANT_* be retried from a moved buffer and
         * let SSL_write() return after writing part of it, like send(). */
        SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_ENABLE_PARTIAL_WRITE);
        /* Legacy renegotiation and unexpected-EOF tolerance stay off (they are off by default;
         * clear them in case the system configuration set them). */
        SSL_CTX_clear_options(c->ctx, SSL_OP_LEGACY_SERVER_CONNECT |
                                      SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION |
                                      SSL_OP_IGNORE_UNEXPECTED_EOF);
        SSL_CTX_set_options(c->ctx, SSL_OP_NO_COMPRESSION);

        if (p->ca_file) {
                if (!SSL_CTX_load_verify_locations(c->ctx, p->ca_file, NULL))
                        return ctx_fail(reterr_msg, -EINVAL, "loading CA file", p->ca_file);
        } else if (!SSL_CTX_set_default_verify_paths(c->ctx))
                return ctx_fail(reterr_msg, -EINVAL, "loading the system trust store", NULL);

        if (p->cert_file) {
                key = p->key_file ?: p->cert_file;
                if (!SSL_CTX_use_certificate_chain_file(c->ctx, p->cert_file))
                        return ctx_fail(reterr_msg, -EINVAL, "loading client certificate", p->cert_file);
                /* This also checks that the key belongs to the certificate. */
                if (!SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM))
                        return ctx_fail(reterr_msg, -EINVAL, "loading client key", key);
        }

        *ret = TAKE_PTR(c);
        return 0;
}

int conn_tls_ctx_new(const ConnTlsParams *p, ConnTlsCtx **ret) {
        return conn_tls_ctx_new_full(p, ret, NULL);
}

ConnTlsCtx *conn_tls_ctx_free(ConnTlsCtx *c) {
        if (!c)
                return NULL;
        SSL_CTX_free(c->ctx);
        return mfree(c);
}

SSL_CTX *conn_tls_ctx_get_ssl_ctx(ConnTlsCtx *c) {
        return c ? c->ctx : NULL;
}

/* ---- per connection ----------------------------------------------------- */

static bool is_ip_literal(const char *host) {
        unsigned char buf[sizeof(struct in6_addr)];

        return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int conn_tls_setup(Conn *c, const char *host, ConnTlsCtx *ctx, SSL **ret) {
        SSL *ssl;

        ERR_clear_error();
        ssl = SSL_new(ctx->ctx);
        if (!ssl)
                return -ENOMEM;

        /* All of this must happen before the handshake, or it has no effect. */
        if (is_ip_literal(host)) {
                /* RFC 6066 §3: no IP literal in SNI.  Match the iPAddress SAN. */
                if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host))
                        goto fail;
        } else {
                SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                /* SSL_set_tlsext_host_name() is a macro casting away const (clang's
                 * -Wcast-qual); OpenSSL copies the name, so call what it expands to. */
                if (!SSL_set1_host(ssl, host) ||
                    !SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *) (uintptr_t) host))
                        goto fail;
        }
        *ret = ssl;
        return 0;

fail:
        conn_set_error(c, "TLS setup for %s: %s", host, ssl_reason());
        SSL_free(ssl);
        return -EINVAL;
}

int conn_tls_attach(Conn *c, SSL *ssl) {
        BIO *b;

        b = nosig_bio_new(c->fd);
        if (!b)
                return -ENOMEM;
        SSL_set_bio(ssl, b, b);
        SSL_set_connect_state(ssl);
        c->ssl = ssl;
        c->vt = &conn_tls_vtable;
        c->phase = CONN_PHASE_HANDSHAKE;
        c->setup_events = POLLOUT; /* the ClientHello goes first */
        c->read_events = c->write_events = 0;
        return 0;
}

/* Map a failed SSL call to -EAGAIN (setting *events) or an error with a reason.  'eof' is set
 * when the stream ended: close_notify, or a cut without one. */
static int ssl_result(Conn *c, int k, const char *op, short *events, bool *eof) {
        int e = SSL_get_error(c->ssl, k);
        int saved_errno = errno;
        unsigned long le;

        switch (e) {
        case SSL_ERROR_WANT_READ:
                *events = POLLIN;
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                *events = POLLOUT;
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                /* The peer sent close_notify: an orderly end. */
                *eof = true;
                return 0;
        case SSL_ERROR_SYSCALL:
                c->ssl_fatal = true;
                ERR_clear_error();
                if (saved_errno == 0) {
                        *eof = true;
                        conn_set_error(c, "TLS %s: connection closed without close_notify", op);
                        return 0;
                }
                if (IN_SET(saved_errno, ECONNRESET, EPIPE))
                        *eof = true;
                conn_set_error(c, "TLS %s: %s", op, strerror(saved_errno));
                return -saved_errno;
        case SSL_ERROR_SSL:
                c->ssl_fatal = true;
                le = ERR_peek_last_error();
                /* OpenSSL 3 reports a stream cut without close_notify this way. */
                if (ERR_GET_LIB(le) == ERR_LIB_SSL &&
                    ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                        ERR_clear_error();
                        *eof = true;
                        conn_set_error(c, "TLS %s: connection closed without close_notify", op);
                        return 0;
                }
                conn_set_error(c, "TLS %s: %s", op, ssl_reason());
                return -EPROTO;
        default:
                c->ssl_fatal = true;
                conn_set_error(c, "TLS %s: unexpected SSL_get_error() %d", op, e);
                ERR_clear_error();
                return -EPROTO;
        }
}

static int tls_handshake(Conn *c) {
        long v;
        bool eof = false;
        int k, r;

        ERR_clear_error();
        k = SSL_connect(c->ssl);
        if (k == 1) {
                /* Belt and braces (docs/SECURITY.md INV-3; docs/TRANSPORT.md): SSL_VERIFY_PEER already
                 * aborts on a bad chain or name, but check the result at the point of use. */
                v = SSL_get_verify_result(c->ssl);
                if (v != X509_V_OK) {
                        c->ssl_fatal = true;
                        conn_set_error(c, "certificate verify failed: %s", X509_verify_cert_error_string(v));
                        return -EPROTO;
                }
                if (!SSL_get0_peer_certificate(c->ssl)) {
                        c->ssl_fatal = true;
                        conn_set_error(c, "TLS handshake: the server presented no certificate");
                        return -EPROTO;
                }
                return 1;
        }

        v = SSL_get_verify_result(c->ssl);
        r = ssl_result(c, k, "handshake", &c->setup_events, &eof);
        if (r == -EAGAIN)
                return 0;
        if (v != X509_V_OK) {
                ERR_clear_error();
                conn_set_error(c, "certificate verify failed: %s", X509_verify_cert_error_string(v));
                return -EPROTO;
        }
        /* Any end of the stream during the handshake is a failure of the handshake. */
        if (r == 0 || eof)
                return -EPROTO;
        return r;
}

static int tls_process(Conn *c) {
        int r;

        if (c->phase == CONN_PHASE_CONNECTING) {
                r = conn_tcp_connect_step(c);
                if (r <= 0)
                        return r;
                r = conn_tls_attach(c, c->ssl);
                if (r < 0)
                        return r;
        }
        return tls_handshake(c);
}

static ssize_t tls_read(Conn *c, void *buf, size_t n) {
        bool eof = false;
        int k, r;

        ERR_clear_error();
        k = SSL_read(c->ssl, buf, (int) MIN(n, (size_t) INT_MAX));
        if (k > 0) {
                c->read_events = 0;
                return k;
        }
        c->read_events = 0;
        r = ssl_result(c, k, "read", &c->read_events, &eof);
        if (r == -EAGAIN) {
                /* POLLIN is always in conn_events() once ready; only POLLOUT is extra. */
                if (c->read_events == POLLIN)
                        c->read_events = 0;
                return -EAGAIN;
        }
        return eof ? 0 : r;
}

static ssize_t tls_write(Conn *c, const void *buf, size_t n) {
        bool eof = false;
        int k, r;

        ERR_clear_error();
        k = SSL_write(c->ssl, buf, (int) MIN(n, (size_t) INT_MAX));
        if (k > 0) {
                c->write_events = 0;
                return k;
        }
        r = ssl_result(c, k, "write", &c->write_events, &eof);
        if (r == -EAGAIN)
                return -EAGAIN;
        /* Writing to a closed stream: there is nothing to send to. */
        if (r == 0) {
                conn_set_error(c, "TLS write: the peer closed the connection");
                return -EPIPE;
        }
        return r;
}

static bool tls_has_pending(const Conn *c) {
        /* SSL_pending(), not SSL_has_pending(): the latter is also true for a partial record,
         * which cannot be read yet, and a caller looping on it would spin. */
        return SSL_pending(c->ssl) > 0;
}

static void tls_done(Conn *c) {
        if (!c->ssl)
                return;
        /* One best-effort close_notify, non-blocking; never after a fatal error (the OpenSSL
         * docs forbid SSL_shutdown() then). */
        if (c->phase == CONN_PHASE_READY && !c->ssl_fatal) {
                ERR_clear_error();
                (void) SSL_shutdown(c->ssl);
        }
        ERR_clear_error();
        SSL_free(c->ssl);
        c->ssl = NULL;
}

const ConnVtable conn_tls_vtable = {
        .name = "tls",
        .process = tls_process,
        .read = tls_read,
        .write = tls_write,
        .has_pending = tls_has_pending,
        .done = tls_done,
};

/* list NULL: resolve host:port here (blocking). */
static int tls_new(const char *host, const char *port, const struct addrinfo *list, ConnTlsCtx *ctx,
                   Conn **ret) {
        _cleanup_(conn_freep) Conn *c = NULL;
        int r;

        r = conn_alloc(&conn_tls_vtable, &c);
        if (r < 0)
                return r;
        r = conn_tls_setup(c, host, ctx, &c->ssl);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                (void) conn_fail(c, r);
                *ret = TAKE_PTR(c);
                return 0;
        }
        r = list ? conn_tcp_start_resolved(c, host, list) : conn_tcp_start(c, host, port);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int conn_tls_new(const char *host, const char *port, ConnTlsCtx *ctx, Conn **ret) {
        assert_return(host && *host, -EINVAL);
        assert_return(port && *port, -EINVAL);
        assert_return(ctx, -EINVAL);
        assert_return(ret, -EINVAL);

        return tls_new(host, port, NULL, ctx, ret);
}

int conn_tls_new_resolved(const char *host, const char *port, const struct addrinfo *list, ConnTlsCtx *ctx,
                          Conn **ret) {
        assert_return(host && *host, -EINVAL);
        assert_return(port && *port, -EINVAL);
        assert_return(list, -EINVAL);
        assert_return(ctx, -EINVAL);
        assert_return(ret, -EINVAL);

        return tls_new(host, port, list, ctx, ret);
}

int conn_start_tls(Conn *c, const char *host, ConnTlsCtx *ctx) {
        SSL *ssl = NULL;
        int n = 0, r;

        assert_return(c, -EINVAL);
        assert_return(host && *host, -EINVAL);
        assert_return(ctx, -EINVAL);

        if (c->ssl)
                return -EALREADY;
        if (c->vt != &conn_tcp_vtable)
                return -EOPNOTSUPP;
        if (c->phase != CONN_PHASE_READY)
                return -ENOTCONN;

        /* docs/SECURITY.md B01: whatever is already queued was sent in plaintext before the
         * handshake and would be taken for the start of the TLS stream or, worse, for data
         * under TLS by a careless reader.  Anything arriving after this check is read by
         * OpenSSL as records and fails the handshake, so the check is not racy. */
        if (ioctl(c->fd, FIONREAD, &n) < 0)
                return -errno;
        if (n > 0) {
                conn_set_error(c, "STARTTLS refused: %d byte(s) of plaintext arrived before the TLS handshake",
                               n);
                return -EPROTO;
        }

        r = conn_tls_setup(c, host, ctx, &ssl);
        if (r < 0)
                return r;
        r = conn_tls_attach(c, ssl);
        if (r < 0) {
                SSL_free(ssl);
                return r;
        }
        return 0;
}

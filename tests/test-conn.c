/* SPDX-License-Identifier: MIT */
/*
 * test-conn.c: the transport against loopback servers.  Each test forks a
 * server child (plain sockets, or OpenSSL used directly for TLS) on an
 * ephemeral port of 127.0.0.1 or ::1, and drives the client through the
 * public conn.h API with poll(), as the daemon will.  Deadlines in here are
 * only generous safety timeouts; no result depends on timing.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn-internal.h"
#include "conn.h"
#include "imap-session.h"
#include "resolve.h"
#include "th-certs.h"
#include "th.h"

/* Safety net only: a working test never waits this long. */
#define SAFETY_MS 10000

/* ---- per-test scratch directory and certificates ------------------------ */

static char tmpdir[64];

static void tmpdir_setup(void) {
        (void) snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-conn-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmpdir_teardown(void) {
        static const char *const names[] = { "ca.pem", "ca-key.pem", "cert.pem", "key.pem", "chain.pem" };
        char p[PATH_MAX];

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                (void) snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
                (void) unlink(p);
        }
        for (const char *sub = "abcdefgh"; *sub; sub++) {
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        (void) snprintf(p, sizeof(p), "%s/%c/%s", tmpdir, *sub, names[i]);
                        (void) unlink(p);
                }
                (void) snprintf(p, sizeof(p), "%s/%c", tmpdir, *sub);
                (void) rmdir(p);
        }
        (void) rmdir(tmpdir);
}

/* Certificates in a subdirectory of tmpdir, so one test can have several sets. */
static void make_certs(char sub, const char *const *dns, const char *const *ips, ThCerts *ret) {
        char d[PATH_MAX];

        (void) snprintf(d, sizeof(d), "%s/%c", tmpdir, sub);
        ck_assert_int_eq(mkdir(d, 0700), 0);
        ck_assert_int_eq(th_certs_make(d, dns, ips, ret), 0);
}

static const char *const names_localhost[] = { "localhost", NULL };
static const char *const ips_loopback[] = { "127.0.0.1", NULL };
static const char *const names_other[] = { "other.example", NULL };

static ConnTlsCtx *client_ctx(const char *ca_file, const char *cert, const char *key) {
        ConnTlsParams p = { .ca_file = ca_file, .cert_file = cert, .key_file = key };
        ConnTlsCtx *ctx = NULL;

        ck_assert_int_eq(conn_tls_ctx_new(&p, &ctx), 0);
        return ctx;
}

/* ---- sockets for the server side ---------------------------------------- */

/* A socket bound to 127.0.0.1 or ::1 on port (0: ephemeral), listening if asked; *ret_port is
 * the port.  Returns -errno if the address is not available (no IPv6). */
static int bind_loopback(int family, int port, bool do_listen, int *ret_port) {
        struct sockaddr_storage ss = {};
        socklen_t len;
        int fd, one = 1;

        if (family == AF_INET6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;

                a->sin6_family = AF_INET6;
                a->sin6_addr = in6addr_loopback;
                a->sin6_port = htons((uint16_t) port);
                len = sizeof(*a);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *) &ss;

                a->sin_family = AF_INET;
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                a->sin_port = htons((uint16_t) port);
                len = sizeof(*a);
        }

        fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &ss, len) < 0 || (do_listen && listen(fd, 8) < 0)) {
                int r = -errno;

                (void) close(fd);
                return r;
        }
        len = sizeof(ss);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &ss, &len), 0);
        *ret_port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                             : ((struct sockaddr_in *) &ss)->sin_port);
        return fd;
}

static int listen_loopback(int family, int *ret_port) {
        int fd = bind_loopback(family, 0, true, ret_port);

        ck_assert_int_ge(fd, 0);
        return fd;
}

/* ---- the server child ---------------------------------------------------- */

typedef enum RelayMode {
        RELAY_PLAIN,            /* both ways unchanged */
        RELAY_STRIP_RI,         /* renegotiation_info (RFC 5746 §3.6) taken out of the ServerHello */
        RELAY_DRIP,             /* the server's bytes one at a time, RELAY_DRIP_MS apart */
} RelayMode;

typedef struct ServerOpts {
        const ThCerts *certs;           /* TLS server certificate (NULL: plain) */
        int max_version;                /* 0: OpenSSL's default */
        const char *require_client_ca;  /* demand a client certificate issued by this CA */
        bool check_sni;
        const char *expect_sni;         /* with check_sni: NULL means "no SNI sent" */
        int accepts;                    /* connections to serve one after another (0 means 1) */
        int hold_fd;                    /* if >= 0, wait for EOF on it before acting */
        int hold_wfd;                   /* the write end of that pipe, closed in the child */
        int mark_wfd;                   /* > 0: where a server writes a byte at its marked point */
        int relay_to;                   /* srv_relay(): the port it forwards to */
        RelayMode relay_mode;           /* srv_relay(): what it does to the server's bytes */
} ServerOpts;

typedef int (*ServerFn)(int fd, const ServerOpts *o);

/* Fork a child that accepts on lfd and runs fn on each connection; the exit status is 0 only if
 * every fn returned 0.  The parent keeps no copy of lfd. */
static pid_t serve(int lfd, ServerFn fn, const ServerOpts *o) {
        pid_t pid;

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct sigaction sa = { .sa_handler = SIG_IGN };
                int status = 0;

                /* The server may write to a client that has gone; that is no crash. */
                (void) sigaction(SIGPIPE, &sa, NULL);
                if (o->hold_fd >= 0)
                        (void) close(o->hold_wfd);
                for (int i = 0; i < (o->accepts ?: 1); i++) {
                        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

                        if (fd < 0)
                                _exit(90);
                        if (fn(fd, o) != 0)
                                status = 1;
                        (void) close(fd);
                }
                _exit(status);
        }
        (void) close(lfd);
        return pid;
}

/* The server's exit status (0 = all its checks passed), 100 + signal if killed. */
static int server_wait(pid_t pid) {
        int status;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

static void hold(const ServerOpts *o) {
        char b;

        if (o->hold_fd >= 0)
                while (read(o->hold_fd, &b, 1) > 0)
                        ;
}

static bool read_all(int fd, void *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = read(fd, (char *) buf + done, n - done);

                if (k <= 0)
                        return false;
                done += (size_t) k;
        }
        return true;
}

static bool write_all(int fd, const void *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = write(fd, (const char *) buf + done, n - done);

                if (k <= 0)
                        return false;
                done += (size_t) k;
        }
        return true;
}

static int srv_echo(int fd, const ServerOpts *o) {
        char buf[4096];
        ssize_t k;

        hold(o);
        while ((k = read(fd, buf, sizeof(buf))) > 0)
                if (!write_all(fd, buf, (size_t) k))
                        return 1;
        return 0;
}

static int srv_close(int fd, const ServerOpts *o) {
        (void) fd;
        hold(o);
        return 0;
}

static int srv_rst(int fd, const ServerOpts *o) {
        struct linger l = { .l_onoff = 1, .l_linger = 0 };

        hold(o);
        return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) == 0 ? 0 : 1;
}

/* Accept, then never answer: reads until the client goes away (after the hold, if any). */
static int srv_silent(int fd, const ServerOpts *o) {
        char buf[512];

        hold(o);
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        return 0;
}

static SSL_CTX *server_ctx(const ServerOpts *o) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

        if (!ctx)
                return NULL;
        if (SSL_CTX_use_certificate_chain_file(ctx, o->certs->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, o->certs->key_file, SSL_FILETYPE_PEM) != 1)
                goto fail;
        if (o->max_version) {
                /* TLS 1.0/1.1 need security level 0 in OpenSSL 3 (SHA-1 signatures). */
                SSL_CTX_set_security_level(ctx, 0);
                if (!SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) ||
                    !SSL_CTX_set_max_proto_version(ctx, o->max_version) ||
                    !SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0"))
                        goto fail;
        }
        if (o->require_client_ca) {
                if (SSL_CTX_load_verify_locations(ctx, o->require_client_ca, NULL) != 1)
                        goto fail;
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        }
        return ctx;
fail:
        SSL_CTX_free(ctx);
        return NULL;
}

/* TLS handshake on fd, then echo until the client closes.  0 only if every check passed. */
static int tls_echo_on(int fd, const ServerOpts *o) {
        SSL_CTX *ctx;
        SSL *ssl = NULL;
        char buf[4096];
        int k, status = 1;

        ctx = server_ctx(o);
        if (!ctx)
                return 2;
        ssl = SSL_new(ctx);
        if (!ssl || SSL_set_fd(ssl, fd) != 1)
                goto finish;
        if (SSL_accept(ssl) != 1) {
                status = 3;
                goto finish;
        }
        if (o->check_sni) {
                const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

                if (o->expect_sni ? !sni || strcmp(sni, o->expect_sni) != 0 : sni != NULL) {
                        status = 4;
                        goto finish;
                }
        }
        if (o->require_client_ca && (!SSL_get0_peer_certificate(ssl) || SSL_get_verify_result(ssl) != X509_V_OK)) {
                status = 5;
                goto finish;
        }
        while ((k = SSL_read(ssl, buf, sizeof(buf))) > 0)
                if (SSL_write(ssl, buf, k) != k)
                        goto finish;
        status = 0;
        (void) SSL_shutdown(ssl);
finish:
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        return status;
}

static int srv_tls_echo(int fd, const ServerOpts *o) {
        hold(o);
        return tls_echo_on(fd, o);
}

/* TLS handshake, send "bye", then close abruptly, without close_notify. */
static int srv_tls_cut(int fd, const ServerOpts *o) {
        SSL_CTX *ctx = server_ctx(o);
        SSL *ssl = ctx ? SSL_new(ctx) : NULL;
        int status = 1;

        if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1 && SSL_write(ssl, "bye", 3) == 3)
                status = 0;
        hold(o);
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        return status;
}

/* STARTTLS-like exchange: "HELLO\r\n" in plaintext, expect "GO\r\n", then TLS echo. */
static int srv_starttls(int fd, const ServerOpts *o) {
        char b[4];

        if (!write_all(fd, "HELLO\r\n", 7) || !read_all(fd, b, 4) || memcmp(b, "GO\r\n", 4) != 0)
                return 6;
        return tls_echo_on(fd, o);
}

/* The same, but the server pushes plaintext after the go-ahead (docs/SECURITY.md B01). */
static int srv_starttls_inject(int fd, const ServerOpts *o) {
        char b[4];

        if (!write_all(fd, "HELLO\r\n", 7) || !read_all(fd, b, 4) || memcmp(b, "GO\r\n", 4) != 0 ||
            !write_all(fd, "* INJECTED\r\n", 12))
                return 6;
        return srv_silent(fd, o);
}

/* ---- client helpers ------------------------------------------------------ */

static void wait_for(Conn *c) {
        struct pollfd pfd = { .fd = conn_fd(c), .events = conn_events(c) };

        ck_assert_int_ne(pfd.events, 0);
        ck_assert_int_eq(poll(&pfd, 1, SAFETY_MS), 1);
}

static void client_write_all(Conn *c, const void *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = conn_write(c, (const char *) buf + done, n - done);

                if (k == -EAGAIN) {
                        wait_for(c);
                        continue;
                }
                ck_assert_int_gt(k, 0);
                done += (size_t) k;
        }
}

/* One conn_read() that returned something other than -EAGAIN. */
static ssize_t client_read(Conn *c, void *buf, size_t n) {
        for (;;) {
                ssize_t k = conn_read(c, buf, n);

                if (k != -EAGAIN)
                        return k;
                ck_assert(!conn_has_pending(c));
                wait_for(c);
        }
}

static void client_read_exact(Conn *c, void *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = client_read(c, (char *) buf + done, n - done);

                ck_assert_int_gt(k, 0);
                done += (size_t) k;
        }
}

static void echo_roundtrip(Conn *c, const char *msg) {
        char buf[256];
        size_t n = strlen(msg);

        ck_assert_uint_lt(n, sizeof(buf));
        client_write_all(c, msg, n);
        client_read_exact(c, buf, n);
        ck_assert_mem_eq(buf, msg, n);
}

static char *port_str(int port) {
        static char s[8];

        (void) snprintf(s, sizeof(s), "%d", port);
        return s;
}

static bool contains(const char *haystack, const char *needle) {
        return haystack && strstr(haystack, needle);
}

/* ---- TCP ----------------------------------------------------------------- */

START_TEST(test_tcp_echo) {
        _cleanup_(conn_freep) Conn *c = NULL;
        char expect_peer[64];
        int port, fd, flags;
        pid_t srv;

        srv = serve(listen_loopback(AF_INET, &port), srv_echo, &(ServerOpts) { .hold_fd = -1 });

        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        /* Nothing is established before conn_process() says so. */
        ck_assert(!conn_is_ready(c));
        ck_assert_int_eq(conn_read(c, (char[1]) {}, 1), -ENOTCONN);
        ck_assert_int_eq(conn_write(c, "x", 1), -ENOTCONN);
        ck_assert_int_eq(conn_events(c), POLLOUT);

        fd = conn_fd(c);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
        flags = fcntl(fd, F_GETFL);
        ck_assert_int_ne(flags & O_NONBLOCK, 0);

        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert(conn_is_ready(c));
        ck_assert_int_eq(conn_process(c), 1);
        (void) snprintf(expect_peer, sizeof(expect_peer), "127.0.0.1:%d", port);
        ck_assert_str_eq(conn_peer(c), expect_peer);
        ck_assert_ptr_null(conn_error(c));
        ck_assert_int_eq(conn_tunnel_pid(c), 0);
        ck_assert(!conn_has_pending(c));
        /* Ready and nothing to write: only POLLIN. */
        ck_assert_int_eq(conn_events(c), POLLIN);
        ck_assert_int_eq(conn_write(c, "", 0), 0);

        echo_roundtrip(c, "hello\r\n");
        echo_roundtrip(c, "a second line\r\n");

        c = conn_free(c);
        ck_assert_ptr_null(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tcp_ipv6) {
        _cleanup_(conn_freep) Conn *c = NULL;
        char expect_peer[64];
        int port, lfd;
        pid_t srv;

        lfd = bind_loopback(AF_INET6, 0, true, &port);
        if (lfd < 0) {
                /* No ::1 here: the one thing to assert is that connecting to it fails cleanly. */
                fprintf(stderr, "test_tcp_ipv6: ::1 unavailable (%s), checking failure only\n", strerror(-lfd));
                ck_assert_int_eq(conn_tcp_new("::1", "143", &c), 0);
                ck_assert_int_lt(conn_wait_ready(c, SAFETY_MS), 0);
                ck_assert_ptr_nonnull(conn_error(c));
                return;
        }
        srv = serve(lfd, srv_echo, &(ServerOpts) { .hold_fd = -1 });
        ck_assert_int_eq(conn_tcp_new("::1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        (void) snprintf(expect_peer, sizeof(expect_peer), "[::1]:%d", port);
        ck_assert_str_eq(conn_peer(c), expect_peer);
        echo_roundtrip(c, "over IPv6\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tcp_refused) {
        _cleanup_(conn_freep) Conn *c = NULL;
        _cleanup_close_ int fd = -EBADF;
        int port;

        /* Bound but not listening: connecting is refused, and the port stays ours. */
        fd = bind_loopback(AF_INET, 0, false, &port);
        ck_assert_int_ge(fd, 0);

        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), -ECONNREFUSED);
        ck_assert(!conn_is_ready(c));
        ck_assert_msg(contains(conn_error(c), "refused"), "error: %s", conn_error(c));
        ck_assert_msg(contains(conn_error(c), "127.0.0.1"), "error: %s", conn_error(c));
        /* A failed conn keeps its error and waits for nothing. */
        ck_assert_int_eq(conn_process(c), -ECONNREFUSED);
        ck_assert_int_eq(conn_events(c), 0);
        ck_assert_int_eq(conn_read(c, (char[1]) {}, 1), -ENOTCONN);
}
END_TEST

START_TEST(test_tcp_bad_service) {
        _cleanup_(conn_freep) Conn *c = NULL;

        ck_assert_int_eq(conn_tcp_new("127.0.0.1", "no-such-service-imapidled", &c), 0);
        ck_assert_int_eq(conn_process(c), -EINVAL);
        ck_assert_int_lt(conn_fd(c), 0);
        ck_assert_int_eq(conn_events(c), 0);
        ck_assert_msg(contains(conn_error(c), "resolve 127.0.0.1 port no-such-service-imapidled"), "error: %s",
                      conn_error(c));
}
END_TEST

START_TEST(test_bad_arguments) {
        Conn *c = NULL;
        ConnTlsCtx *ctx = NULL;

        ck_assert_int_eq(conn_tcp_new(NULL, "1", &c), -EINVAL);
        ck_assert_int_eq(conn_tcp_new("", "1", &c), -EINVAL);
        ck_assert_int_eq(conn_tcp_new("h", NULL, &c), -EINVAL);
        ck_assert_int_eq(conn_tls_new("h", "1", NULL, &c), -EINVAL);
        ck_assert_int_eq(conn_tunnel_new((char *[]) { NULL }, &c), -EINVAL);
        ck_assert_int_eq(conn_tls_ctx_new(NULL, &ctx), -EINVAL);
        ck_assert_int_eq(conn_tls_ctx_new(&(ConnTlsParams) { .key_file = "k" }, &ctx), -EINVAL);
        ck_assert_ptr_null(c);
        ck_assert_ptr_null(ctx);
        ck_assert_ptr_null(conn_free(NULL));
        ck_assert_ptr_null(conn_tls_ctx_free(NULL));
        ck_assert_ptr_null(conn_error(NULL));
        ck_assert_int_eq(conn_tunnel_detach(NULL), 0);
}
END_TEST

/* "localhost" may resolve to ::1 and 127.0.0.1; with the server only on 127.0.0.1, the
 * client must still get there. */
START_TEST(test_tcp_localhost_fallback) {
        static const struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        _cleanup_(conn_freep) Conn *c = NULL;
        _cleanup_close_ int v6 = -EBADF;
        struct addrinfo *list = NULL;
        bool has_v6 = false, has_v4 = false;
        char expect_peer[64];
        int port, p6;
        pid_t srv;

        srv = serve(listen_loopback(AF_INET, &port), srv_echo, &(ServerOpts) { .hold_fd = -1 });

        ck_assert_int_eq(getaddrinfo("localhost", port_str(port), &hints, &list), 0);
        for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
                has_v6 = has_v6 || ai->ai_family == AF_INET6;
                has_v4 = has_v4 || ai->ai_family == AF_INET;
        }
        freeaddrinfo(list);
        ck_assert(has_v4);
        if (has_v6) {
                /* Make sure ::1 refuses on that port, whatever else runs here. */
                v6 = bind_loopback(AF_INET6, port, false, &p6);
                ck_assert_int_ge(v6, 0);
        } else
                fprintf(stderr, "test_tcp_localhost_fallback: \"localhost\" has no ::1 address here; "
                                "the IPv6-first fallback is covered by test_tcp_address_order\n");

        ck_assert_int_eq(conn_tcp_new("localhost", port_str(port), &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        (void) snprintf(expect_peer, sizeof(expect_peer), "127.0.0.1:%d", port);
        ck_assert_str_eq(conn_peer(c), expect_peer);
        /* ::1 refused first; a ready conn keeps no reason from it. */
        ck_assert_ptr_null(conn_error(c));
        echo_roundtrip(c, "via localhost\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

static void set_addr(struct addrinfo *ai, struct sockaddr_storage *ss, int family, int port,
                     struct addrinfo *next) {
        *ai = (struct addrinfo) { .ai_family = family, .ai_socktype = SOCK_STREAM,
                                  .ai_addr = (struct sockaddr *) ss, .ai_next = next };
        *ss = (struct sockaddr_storage) {};
        if (family == AF_INET6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) ss;

                a->sin6_family = AF_INET6;
                a->sin6_addr = in6addr_loopback;
                a->sin6_port = htons((uint16_t) port);
                ai->ai_addrlen = sizeof(*a);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *) ss;

                a->sin_family = AF_INET;
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                a->sin_port = htons((uint16_t) port);
                ai->ai_addrlen = sizeof(*a);
        }
}

/* The address list is tried in order, independent of what /etc/hosts says here: ::1 (refusing
 * or unavailable), then a refusing 127.0.0.1 port, then the listening one. */
START_TEST(test_tcp_address_order) {
        _cleanup_(conn_freep) Conn *c = NULL;
        _cleanup_close_ int dead4 = -EBADF;
        struct addrinfo ai[3];
        struct sockaddr_storage ss[3];
        char expect_peer[64];
        int port, dead_port;
        pid_t srv;

        dead4 = bind_loopback(AF_INET, 0, false, &dead_port);
        ck_assert_int_ge(dead4, 0);
        srv = serve(listen_loopback(AF_INET, &port), srv_echo, &(ServerOpts) { .hold_fd = -1 });

        /* ::1 on the refusing IPv4 port: refused if ::1 exists, EADDRNOTAVAIL or similar if not;
         * both must lead to the next address. */
        set_addr(&ai[2], &ss[2], AF_INET, port, NULL);
        set_addr(&ai[1], &ss[1], AF_INET, dead_port, &ai[2]);
        set_addr(&ai[0], &ss[0], AF_INET6, dead_port, &ai[1]);

        ck_assert_int_eq(conn_tcp_new_addrinfo(&ai[0], "test", &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        (void) snprintf(expect_peer, sizeof(expect_peer), "127.0.0.1:%d", port);
        ck_assert_str_eq(conn_peer(c), expect_peer);
        /* Two addresses failed on the way; a ready conn keeps neither reason. */
        ck_assert_ptr_null(conn_error(c));
        echo_roundtrip(c, "third address\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);

        /* Every address refusing: the last error is reported. */
        ai[1].ai_next = NULL;
        ck_assert_int_eq(conn_tcp_new_addrinfo(&ai[1], "test", &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), -ECONNREFUSED);
        c = conn_free(c);

        /* No address at all. */
        ck_assert_int_eq(conn_tcp_new_addrinfo(NULL, "empty", &c), 0);
        ck_assert_int_eq(conn_process(c), -EHOSTUNREACH);
        ck_assert_msg(contains(conn_error(c), "empty: no IPv4 or IPv6 address"), "error: %s", conn_error(c));
}
END_TEST

START_TEST(test_tcp_eof) {
        _cleanup_(conn_freep) Conn *c = NULL;
        char buf[16];
        int port;
        pid_t srv;

        srv = serve(listen_loopback(AF_INET, &port), srv_close, &(ServerOpts) { .hold_fd = -1 });
        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert_int_eq(client_read(c, buf, sizeof(buf)), 0);
        ck_assert_ptr_null(conn_error(c));
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tcp_rst) {
        _cleanup_(conn_freep) Conn *c = NULL;
        char buf[16];
        ssize_t k = 1;
        int port, pipefd[2];
        pid_t srv;

        /* The server resets only once we are connected: a reset before that would be
         * reported by the connect (as -ECONNRESET), which is not what this test is about. */
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        srv = serve(listen_loopback(AF_INET, &port), srv_rst,
                    &(ServerOpts) { .hold_fd = pipefd[0], .hold_wfd = pipefd[1] });
        (void) close(pipefd[0]);
        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        (void) close(pipefd[1]);
        ck_assert_int_eq(server_wait(srv), 0);

        /* The reset reads as end of stream. */
        ck_assert_int_eq(client_read(c, buf, sizeof(buf)), 0);

        /* Writing into the reset connection fails with an error, never SIGPIPE (which would
         * kill this test process). */
        for (int i = 0; i < 5 && k > 0; i++)
                k = conn_write(c, "data", 4);
        ck_assert_msg(k == -EPIPE || k == -ECONNRESET, "write returned %zd", k);
        ck_assert_ptr_nonnull(conn_error(c));
}
END_TEST

/* A write that cannot proceed asks for POLLOUT, and a later successful one clears it. */
START_TEST(test_tcp_write_blocks) {
        _cleanup_(conn_freep) Conn *c = NULL;
        _cleanup_free_ char *big = NULL;
        int port, pipefd[2];
        ssize_t k;
        pid_t srv;

        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        srv = serve(listen_loopback(AF_INET, &port), srv_silent,
                    &(ServerOpts) { .hold_fd = pipefd[0], .hold_wfd = pipefd[1] });
        (void) close(pipefd[0]);

        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);

        big = malloc(1 << 20);
        ck_assert_ptr_nonnull(big);
        memset(big, 'x', 1 << 20);
        /* The server reads nothing yet: the socket buffers fill up. */
        for (;;) {
                k = conn_write(c, big, 1 << 20);
                if (k == -EAGAIN)
                        break;
                ck_assert_int_gt(k, 0);
        }
        ck_assert_int_eq(conn_events(c), POLLIN | POLLOUT);

        /* Let the server drain: POLLOUT comes, and a write succeeds again. */
        (void) close(pipefd[1]);
        for (;;) {
                wait_for(c);
                k = conn_write(c, "y", 1);
                if (k == 1)
                        break;
                ck_assert_int_eq(k, -EAGAIN);
        }
        ck_assert_int_eq(conn_events(c), POLLIN);
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

/* ---- TLS ----------------------------------------------------------------- */

static pid_t tls_server(ServerFn fn, const ServerOpts *o, int *ret_port) {
        return serve(listen_loopback(AF_INET, ret_port), fn, o);
}

START_TEST(test_tls_localhost) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        char buf[64];
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        srv = tls_server(srv_tls_echo,
                         &(ServerOpts) { .certs = &certs, .check_sni = true, .expect_sni = "localhost",
                                         .hold_fd = -1 },
                         &port);

        ctx = client_ctx(certs.ca_file, NULL, NULL);
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), ctx, &c), 0);
        /* The conn keeps what it needs of the context. */
        ctx = conn_tls_ctx_free(ctx);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert_ptr_null(conn_error(c));
        ck_assert_int_eq(conn_events(c), POLLIN);

        echo_roundtrip(c, "hello over TLS\r\n");

        /* One byte of a record: the rest is decrypted inside OpenSSL, invisible to poll(). */
        client_write_all(c, "abcdef", 6);
        ck_assert_int_eq(client_read(c, buf, 1), 1);
        ck_assert_int_eq(buf[0], 'a');
        ck_assert(conn_has_pending(c));
        ck_assert_int_eq(conn_read(c, buf, sizeof(buf)), 5);
        ck_assert_mem_eq(buf, "bcdef", 5);
        ck_assert(!conn_has_pending(c));

        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tls_ip_literal) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        /* No SNI for an IP literal (RFC 6066 §3): the server checks it got none. */
        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = &certs, .check_sni = true, .hold_fd = -1 }, &port);

        ctx = client_ctx(certs.ca_file, NULL, NULL);
        ck_assert_int_eq(conn_tls_new("127.0.0.1", port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        echo_roundtrip(c, "by address\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

/* Expect the handshake to fail with -EPROTO and an error containing 'why'. */
static void expect_tls_failure(const char *host, ConnTlsCtx *ctx, int port, const char *why) {
        _cleanup_(conn_freep) Conn *c = NULL;

        ck_assert_int_eq(conn_tls_new(host, port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), -EPROTO);
        ck_assert(!conn_is_ready(c));
        ck_assert_msg(contains(conn_error(c), why), "error: %s", conn_error(c));
        ck_assert_int_eq(conn_write(c, "LOGIN", 5), -ENOTCONN);
}

START_TEST(test_tls_ip_mismatch) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        /* DNS name only, no iPAddress entry: a CA-signed cert for "localhost" is not one for
         * 127.0.0.1. */
        make_certs('a', names_localhost, NULL, &certs);
        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = &certs, .hold_fd = -1 }, &port);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        expect_tls_failure("127.0.0.1", ctx, port, "certificate verify failed: IP address mismatch");
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tls_hostname_mismatch) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        make_certs('a', names_other, NULL, &certs);
        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = &certs, .hold_fd = -1 }, &port);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        expect_tls_failure("localhost", ctx, port, "certificate verify failed: hostname mismatch");
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tls_partial_wildcard) {
        static const char *const names[] = { "f*.localdomain", NULL };
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        /* X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS (docs/SECURITY.md E04).  The host does not have to
         * resolve to anything but 127.0.0.1: we connect by a literal-free name that the cert
         * would match with partial wildcards, via the address list entry point. */
        make_certs('a', names, NULL, &certs);
        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = &certs, .hold_fd = -1 }, &port);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        {
                _cleanup_(conn_freep) Conn *c = NULL;
                SSL *ssl = NULL;
                struct addrinfo ai;
                struct sockaddr_storage ss;

                set_addr(&ai, &ss, AF_INET, port, NULL);
                ck_assert_int_eq(conn_tcp_new_addrinfo(&ai, "foo.localdomain", &c), 0);
                ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
                /* Turn the plain conn into TLS for "foo.localdomain", as STARTTLS does. */
                ck_assert_int_eq(conn_tls_setup(c, "foo.localdomain", ctx, &ssl), 0);
                ck_assert_int_eq(conn_tls_attach(c, ssl), 0);
                ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), -EPROTO);
                ck_assert_msg(contains(conn_error(c), "hostname mismatch"), "error: %s", conn_error(c));
        }
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tls_unknown_ca) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = &certs, .hold_fd = -1 }, &port);
        /* The system trust store does not know the throwaway CA; the reason says so
         * (docs/SECURITY.md E05). */
        ctx = client_ctx(NULL, NULL, NULL);
        expect_tls_failure("localhost", ctx, port,
                           X509_verify_cert_error_string(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY));
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

/* A client that accepts TLS 1.0 and 1.1 at security level 0, to prove the old-version server
 * below really speaks TLS 1.1.  Returns the negotiated version, or 0. */
static int legacy_client_version(int port, const char *ca_file) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        SSL_CTX *ctx;
        SSL *ssl = NULL;
        int v = 0;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        ctx = SSL_CTX_new(TLS_client_method());
        ck_assert_ptr_nonnull(ctx);
        SSL_CTX_set_security_level(ctx, 0);
        ck_assert_int_eq(SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION), 1);
        ck_assert_int_eq(SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0"), 1);
        ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, ca_file, NULL), 1);
        ssl = SSL_new(ctx);
        ck_assert_ptr_nonnull(ssl);
        ck_assert_int_eq(SSL_set_fd(ssl, fd), 1);
        if (SSL_connect(ssl) == 1) {
                v = SSL_version(ssl);
                (void) SSL_shutdown(ssl);
        }
        ERR_clear_error();
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        return v;
}

START_TEST(test_tls_old_version) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        ThCerts certs;
        int port, v;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        srv = tls_server(srv_tls_echo,
                         &(ServerOpts) { .certs = &certs, .max_version = TLS1_1_VERSION, .accepts = 2,
                                         .hold_fd = -1 },
                         &port);

        ctx = client_ctx(certs.ca_file, NULL, NULL);
        /* The policy itself, whatever the local OpenSSL can still negotiate. */
        ck_assert_int_eq(SSL_CTX_get_min_proto_version(conn_tls_ctx_get_ssl_ctx(ctx)), TLS1_2_VERSION);

        v = legacy_client_version(port, certs.ca_file);
        if (v != TLS1_1_VERSION)
                fprintf(stderr, "test_tls_old_version: this OpenSSL cannot negotiate TLS 1.1 even at "
                                "security level 0 (got %#x); relying on the minimum-version check\n", v);
        expect_tls_failure("localhost", ctx, port, "TLS handshake");
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tls_client_cert) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL, *anon = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts server_certs, client_certs;
        char buf[16];
        ssize_t k;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &server_certs);
        make_certs('b', (const char *const[]) { "client.example", NULL }, NULL, &client_certs);

        srv = tls_server(srv_tls_echo,
                         &(ServerOpts) { .certs = &server_certs, .require_client_ca = client_certs.ca_file,
                                         .hold_fd = -1 },
                         &port);
        ctx = client_ctx(server_certs.ca_file, client_certs.cert_file, client_certs.key_file);
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        echo_roundtrip(c, "with a client certificate\r\n");
        c = conn_free(c);
        /* The server saw and verified the certificate (it exits non-zero otherwise). */
        ck_assert_int_eq(server_wait(srv), 0);

        /* Without one the server refuses: with TLS 1.3 the client learns it only after its
         * side of the handshake, at the first read. */
        srv = tls_server(srv_tls_echo,
                         &(ServerOpts) { .certs = &server_certs, .require_client_ca = client_certs.ca_file,
                                         .hold_fd = -1 },
                         &port);
        anon = client_ctx(server_certs.ca_file, NULL, NULL);
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), anon, &c), 0);
        if (conn_wait_ready(c, SAFETY_MS) == 0) {
                (void) conn_write(c, "x", 1);
                k = client_read(c, buf, sizeof(buf));
                ck_assert_int_le(k, 0);
        }
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tls_ctx_errors) {
        ConnTlsCtx *ctx = NULL;
        ThCerts a, b;
        char missing[PATH_MAX];
        _cleanup_free_ char *msg = NULL;

        make_certs('a', names_localhost, NULL, &a);
        make_certs('b', names_localhost, NULL, &b);
        (void) snprintf(missing, sizeof(missing), "%s/missing.pem", tmpdir);

        ck_assert_int_eq(conn_tls_ctx_new_full(&(ConnTlsParams) { .ca_file = missing }, &ctx, &msg), -ENOENT);
        ck_assert_ptr_null(ctx);
        ck_assert_msg(contains(msg, missing), "message: %s", msg);
        msg = mfree(msg);

        /* A PEM file that is not a certificate. */
        ck_assert_int_eq(conn_tls_ctx_new_full(&(ConnTlsParams) { .ca_file = a.key_file }, &ctx, &msg), -EINVAL);
        ck_assert_ptr_nonnull(msg);
        msg = mfree(msg);

        /* Certificate of one set, key of another. */
        ck_assert_int_eq(conn_tls_ctx_new_full(&(ConnTlsParams) { .ca_file = a.ca_file, .cert_file = a.cert_file,
                                                                  .key_file = b.key_file },
                                               &ctx, &msg),
                         -EINVAL);
        ck_assert_msg(contains(msg, "loading client key"), "message: %s", msg);
        ck_assert_msg(contains(msg, "key values mismatch"), "message: %s", msg);
        msg = mfree(msg);

        /* key_file NULL means the key is in cert_file: here it is not. */
        ck_assert_int_eq(conn_tls_ctx_new_full(&(ConnTlsParams) { .ca_file = a.ca_file, .cert_file = a.cert_file },
                                               &ctx, &msg),
                         -EINVAL);
        ck_assert_msg(contains(msg, "loading client key"), "message: %s", msg);
        msg = mfree(msg);

        ck_assert_int_eq(conn_tls_ctx_new(&(ConnTlsParams) { .ca_file = a.ca_file, .cert_file = a.cert_file,
                                                             .key_file = a.key_file },
                                          &ctx),
                         0);
        ctx = conn_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_tls_cut) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        char buf[16];
        int port, pipefd[2];
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);

        /* The server sends "bye" and, once released, closes the TCP connection without a
         * close_notify (docs/SECURITY.md E10). */
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        srv = tls_server(srv_tls_cut, &(ServerOpts) { .certs = &certs, .hold_fd = pipefd[0], .hold_wfd = pipefd[1] },
                         &port);
        (void) close(pipefd[0]);
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        client_read_exact(c, buf, 3);
        ck_assert_mem_eq(buf, "bye", 3);
        (void) close(pipefd[1]);
        /* Cut without close_notify: end of stream, with the truncation noted. */
        ck_assert_int_eq(client_read(c, buf, sizeof(buf)), 0);
        ck_assert_msg(contains(conn_error(c), "without close_notify"), "error: %s", conn_error(c));
        /* Writing now fails with an error, not SIGPIPE. */
        {
                ssize_t k = 1;

                for (int i = 0; i < 5 && k > 0; i++)
                        k = conn_write(c, "data", 4);
                ck_assert_int_lt(k, 0);
                ck_assert_int_ne(k, -EAGAIN);
        }
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

/* TLS handshake, then (after the hold) a reset. */
static int srv_tls_rst(int fd, const ServerOpts *o) {
        SSL_CTX *ctx = server_ctx(o);
        SSL *ssl = ctx ? SSL_new(ctx) : NULL;
        int status = 1;

        if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1)
                status = 0;
        hold(o);
        if (srv_rst(fd, &(ServerOpts) { .hold_fd = -1 }) != 0)
                status = 1;
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        return status;
}

/* Writing TLS records into a reset connection is an error return, never SIGPIPE (the
 * MSG_NOSIGNAL BIO); the test process would die of the signal otherwise. */
START_TEST(test_tls_write_after_reset) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        struct pollfd pfd;
        ssize_t k = 1;
        int port, pipefd[2];
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
        srv = tls_server(srv_tls_rst, &(ServerOpts) { .certs = &certs, .hold_fd = pipefd[0], .hold_wfd = pipefd[1] },
                         &port);
        (void) close(pipefd[0]);
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        (void) close(pipefd[1]);
        ck_assert_int_eq(server_wait(srv), 0);

        /* The reset has arrived (the socket reports an error or hang-up); write without reading. */
        pfd = (struct pollfd) { .fd = conn_fd(c), .events = 0 };
        ck_assert_int_eq(poll(&pfd, 1, SAFETY_MS), 1);
        for (int i = 0; i < 5 && k > 0; i++)
                k = conn_write(c, "data", 4);
        ck_assert_msg(k == -EPIPE || k == -ECONNRESET, "write returned %zd", k);
        ck_assert_ptr_nonnull(conn_error(c));
        for (int i = 0; i < 3; i++)
                ck_assert_int_lt(conn_write(c, "more", 4), 0);
}
END_TEST

/* A server that sends close_notify first: read returns 0 with no error noted. */
static int srv_tls_goodbye(int fd, const ServerOpts *o) {
        SSL_CTX *ctx = server_ctx(o);
        SSL *ssl = ctx ? SSL_new(ctx) : NULL;
        char b[8];
        int status = 1;

        if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1 && SSL_write(ssl, "bye", 3) == 3 &&
            SSL_shutdown(ssl) >= 0)
                status = 0;
        /* Wait for the client to go away before closing. */
        while (read(fd, b, sizeof(b)) > 0)
                ;
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        return status;
}

START_TEST(test_tls_close_notify) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        char buf[16];
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        srv = tls_server(srv_tls_goodbye, &(ServerOpts) { .certs = &certs, .hold_fd = -1 }, &port);
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        client_read_exact(c, buf, 3);
        ck_assert_mem_eq(buf, "bye", 3);
        ck_assert_int_eq(client_read(c, buf, sizeof(buf)), 0);
        ck_assert_ptr_null(conn_error(c));
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tls_handshake_timeout) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        /* TCP is accepted but the server never answers the ClientHello (docs/SECURITY.md E09). */
        srv = serve(listen_loopback(AF_INET, &port), srv_silent, &(ServerOpts) { .hold_fd = -1 });
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, 300), -ETIMEDOUT);
        ck_assert(!conn_is_ready(c));
        ck_assert_msg(contains(conn_error(c), "timed out after 300 ms while in the TLS handshake"), "error: %s",
                      conn_error(c));
        ck_assert_int_eq(conn_events(c), POLLIN);
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

/* ---- certificates verification must refuse (docs/SECURITY.md E02-E05) ---- */

static void make_certs_spec(char sub, const ThCertSpec *spec, ThCerts *ret) {
        char d[PATH_MAX];

        (void) snprintf(d, sizeof(d), "%s/%c", tmpdir, sub);
        ck_assert_int_eq(mkdir(d, 0700), 0);
        ck_assert_int_eq(th_certs_make_spec(d, spec, ret), 0);
}

/* Implicit TLS to 127.0.0.1:port, verified and sent as SNI under host, whatever host resolves to. */
static Conn *tls_connect_as(const char *host, int port, ConnTlsCtx *ctx) {
        struct sockaddr_storage ss;
        struct addrinfo ai;
        Conn *c = NULL;

        set_addr(&ai, &ss, AF_INET, port, NULL);
        ck_assert_int_eq(conn_tls_new_resolved(host, port_str(port), &ai, ctx, &c), 0);
        return c;
}

/* The server presents served->cert_file (with whatever chain that file holds); a client trusting
 * ca_file connects as host.  The handshake must fail, no byte may be written, and the reason
 * must be the one X.509 verification error err, the text the daemon logs. */
static void expect_verify_failure(const ThCerts *served, const char *ca_file, const char *host, long err) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = client_ctx(ca_file, NULL, NULL);
        _cleanup_(conn_freep) Conn *c = NULL;
        char why[256];
        int port;
        pid_t srv;

        (void) snprintf(why, sizeof(why), "certificate verify failed: %s", X509_verify_cert_error_string(err));
        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = served, .hold_fd = -1 }, &port);
        c = tls_connect_as(host, port, ctx);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), -EPROTO);
        ck_assert(!conn_is_ready(c));
        ck_assert_msg(contains(conn_error(c), why), "expected \"%s\", error: %s", why, conn_error(c));
        ck_assert_int_eq(conn_write(c, "LOGIN", 5), -ENOTCONN);
        c = conn_free(c);
        /* The server's SSL_accept() failed too: the client aborted the handshake. */
        ck_assert_int_ne(server_wait(srv), 0);
}

/* The positive control: the same kind of server is accepted when nothing is wrong. */
static void expect_verified(const ThCerts *served, const char *ca_file, const char *host) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = client_ctx(ca_file, NULL, NULL);
        _cleanup_(conn_freep) Conn *c = NULL;
        int port;
        pid_t srv;

        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = served, .hold_fd = -1 }, &port);
        c = tls_connect_as(host, port, ctx);
        ck_assert_msg(conn_wait_ready(c, SAFETY_MS) == 0, "error: %s", conn_error(c));
        echo_roundtrip(c, "verified\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}

static X509 *load_cert(const char *path) {
        FILE *f = fopen(path, "re");
        X509 *x;

        ck_assert_ptr_nonnull(f);
        x = PEM_read_X509(f, NULL, NULL, NULL);
        (void) fclose(f);
        ck_assert_ptr_nonnull(x);
        return x;
}

/* Whether the certificate in path has a dNSName of exactly these len bytes. */
static bool cert_has_dns(const char *path, const char *name, size_t len) {
        X509 *x = load_cert(path);
        GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        bool found = false;

        for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
                const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);

                if (gn->type == GEN_DNS && (size_t) ASN1_STRING_length(gn->d.dNSName) == len &&
                    memcmp(ASN1_STRING_get0_data(gn->d.dNSName), name, len) == 0)
                        found = true;
        }
        GENERAL_NAMES_free(gens);
        X509_free(x);
        return found;
}

/* docs/SECURITY.md E02: "localhost\0.evil" is a name a CA may sign for the owner of
 * "localhost\0.evil"'s parent domain; a comparison with C strings would read "localhost". */
START_TEST(test_tls_san_nul) {
        static const char nul_name[] = "localhost\0.evil";
        ThCerts certs;

        make_certs_spec('a',
                        &(ThCertSpec) { .raw_dns = nul_name, .raw_dns_len = sizeof(nul_name) - 1, .cn = "th-leaf" },
                        &certs);
        /* The hostile input really is in the certificate, NUL and all. */
        ck_assert(cert_has_dns(certs.cert_file, nul_name, sizeof(nul_name) - 1));
        ck_assert(!cert_has_dns(certs.cert_file, "localhost", strlen("localhost")));
        /* The chain is good (the reason is the name, not the issuer). */
        expect_verify_failure(&certs, certs.ca_file, "localhost", X509_V_ERR_HOSTNAME_MISMATCH);
}
END_TEST

/* docs/SECURITY.md E03: when a subjectAltName with a DNS name is present the CN is not a name
 * of the server (RFC 6125 §6.4.4). */
START_TEST(test_tls_cn_not_san) {
        ThCerts certs;
        X509 *x;
        char cn[64] = "";

        make_certs_spec('a', &(ThCertSpec) { .dns_names = names_other, .cn = "localhost" }, &certs);
        x = load_cert(certs.cert_file);
        ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)), 0);
        X509_free(x);
        ck_assert_str_eq(cn, "localhost");

        expect_verify_failure(&certs, certs.ca_file, "localhost", X509_V_ERR_HOSTNAME_MISMATCH);
        /* Control: the certificate is good for the name in its SAN. */
        expect_verified(&certs, certs.ca_file, "other.example");
}
END_TEST

/* docs/SECURITY.md E04: a wildcard stands for exactly one label (RFC 6125 §6.4.3). */
START_TEST(test_tls_wildcard_one_label) {
        static const char *const names[] = { "*.example.com", NULL };
        ThCerts certs;

        make_certs_spec('a', &(ThCertSpec) { .dns_names = names }, &certs);
        expect_verify_failure(&certs, certs.ca_file, "a.b.example.com", X509_V_ERR_HOSTNAME_MISMATCH);
        expect_verify_failure(&certs, certs.ca_file, "example.com", X509_V_ERR_HOSTNAME_MISMATCH);
        /* Control: one label is matched. */
        expect_verified(&certs, certs.ca_file, "a.example.com");
}
END_TEST

/* docs/SECURITY.md E05, each failure with its own reason in conn_error() (what the daemon logs). */
START_TEST(test_tls_expired) {
        ThCerts certs;

        make_certs_spec('a',
                        &(ThCertSpec) { .dns_names = names_localhost, .not_before_secs = -2 * 86400,
                                        .not_after_secs = -86400 },
                        &certs);
        expect_verify_failure(&certs, certs.ca_file, "localhost", X509_V_ERR_CERT_HAS_EXPIRED);
}
END_TEST

START_TEST(test_tls_not_yet_valid) {
        ThCerts certs;

        make_certs_spec('a',
                        &(ThCertSpec) { .dns_names = names_localhost, .not_before_secs = 86400,
                                        .not_after_secs = 2 * 86400 },
                        &certs);
        expect_verify_failure(&certs, certs.ca_file, "localhost", X509_V_ERR_CERT_NOT_YET_VALID);
}
END_TEST

START_TEST(test_tls_self_signed) {
        ThCerts certs;

        /* The leaf signs itself; the client trusts a CA that has nothing to do with it. */
        make_certs_spec('a', &(ThCertSpec) { .dns_names = names_localhost, .self_signed = true }, &certs);
        expect_verify_failure(&certs, certs.ca_file, "localhost", X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
}
END_TEST

START_TEST(test_tls_missing_intermediate) {
        ThCerts certs, with_chain;

        /* CA -> intermediate -> leaf, the client trusts the CA, the server sends the leaf alone:
         * nothing links it to the CA (the client fetches no missing issuers, no AIA). */
        make_certs_spec('a', &(ThCertSpec) { .dns_names = names_localhost, .intermediate = true }, &certs);
        expect_verify_failure(&certs, certs.ca_file, "localhost", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
        /* Control: the same leaf with its intermediate is accepted. */
        with_chain = certs;
        memcpy(with_chain.cert_file, certs.chain_file, sizeof(with_chain.cert_file));
        expect_verified(&with_chain, certs.ca_file, "localhost");
}
END_TEST

/* ---- a relay between client and server, to change what the server sends -- */

#define RELAY_DRIP_MS 50

static int64_t mono_ms(void) {
        struct timespec ts;

        ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t get16(const uint8_t *p) {
        return (size_t) p[0] << 8 | p[1];
}

static void put16(uint8_t *p, size_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

/* b holds exactly one TLS record of n bytes: if it is a ServerHello with the renegotiation_info
 * extension, remove the extension, fix the three lengths and return the new size; else -1. */
static ssize_t strip_renegotiation_info(uint8_t *b, size_t n) {
        size_t hs_end, off, ext_len;

        if (n < 9 || b[0] != 22 /* handshake */ || 5 + get16(b + 3) != n || b[5] != 2 /* ServerHello */)
                return -1;
        hs_end = 9 + ((size_t) b[6] << 16 | get16(b + 7));
        off = 9 + 2 + 32;                       /* legacy_version, random */
        if (hs_end > n || off >= hs_end)
                return -1;
        off += 1 + b[off] + 2 + 1;              /* session id, cipher suite, compression */
        if (off + 2 > hs_end)
                return -1;
        ext_len = get16(b + off);
        if (off + 2 + ext_len != hs_end)
                return -1;
        for (size_t e = off + 2; e + 4 <= hs_end; e += 4 + get16(b + e + 2)) {
                size_t cut = 4 + get16(b + e + 2);

                if (get16(b + e) != 0xff01 || e + cut > hs_end)
                        continue;
                memmove(b + e, b + e + cut, n - e - cut);
                put16(b + off, ext_len - cut);
                hs_end -= cut + 9;
                b[6] = (uint8_t) (hs_end >> 16);
                put16(b + 7, hs_end);
                put16(b + 3, n - cut - 5);
                return (ssize_t) (n - cut);
        }
        return -1;
}

/* The relay child, on an accepted client: connects to 127.0.0.1:o->relay_to and forwards.  Exit
 * status 0 when the client went away after the relay did its part: in RELAY_STRIP_RI the
 * extension was found and removed, in RELAY_DRIP at least one byte was dripped. */
static int srv_relay(int cfd, const ServerOpts *o) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) o->relay_to),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        static uint8_t down[65536];             /* server to client, not yet forwarded */
        size_t down_len = 0, dripped = 0;
        bool stripped = false;
        int64_t next_drip = 0;
        _cleanup_close_ int sfd = -EBADF;

        sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sfd < 0 || connect(sfd, (struct sockaddr *) &a, sizeof(a)) < 0)
                return 10;
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = cfd, .events = POLLIN },
                        { .fd = sfd, .events = down_len < sizeof(down) ? POLLIN : 0 },
                };
                int timeout = -1;
                char up[4096];
                ssize_t k;

                if (o->relay_mode == RELAY_DRIP && down_len > 0)
                        timeout = (int) MAX(next_drip - mono_ms(), (int64_t) 0);
                if (poll(p, 2, timeout) < 0)
                        return 11;
                if (p[0].revents) {
                        k = read(cfd, up, sizeof(up));
                        if (k <= 0)
                                break;
                        if (!write_all(sfd, up, (size_t) k))
                                break;
                }
                if (p[1].revents) {
                        k = read(sfd, down + down_len, sizeof(down) - down_len);
                        if (k <= 0)
                                break;
                        down_len += (size_t) k;
                }

                if (o->relay_mode == RELAY_STRIP_RI && !stripped) {
                        size_t rec;
                        ssize_t m;

                        if (down_len < 5 || down_len < (rec = 5 + get16(down + 3)))
                                continue;
                        m = strip_renegotiation_info(down, rec);
                        if (m < 0)
                                return 12;
                        stripped = true;
                        if (!write_all(cfd, down, (size_t) m) || !write_all(cfd, down + rec, down_len - rec))
                                break;
                        down_len = 0;
                } else if (o->relay_mode == RELAY_DRIP) {
                        if (down_len > 0 && mono_ms() >= next_drip) {
                                if (!write_all(cfd, down, 1))
                                        break;
                                memmove(down, down + 1, --down_len);
                                dripped++;
                                next_drip = mono_ms() + RELAY_DRIP_MS;
                        }
                } else if (down_len > 0) {
                        if (!write_all(cfd, down, down_len))
                                break;
                        down_len = 0;
                }
        }
        switch (o->relay_mode) {
        case RELAY_STRIP_RI:
                return stripped ? 0 : 13;
        case RELAY_DRIP:
                return dripped > 0 ? 0 : 14;
        default:
                return 0;
        }
}

static pid_t relay_start(int backend_port, RelayMode mode, int *ret_port) {
        return tls_server(srv_relay, &(ServerOpts) { .relay_to = backend_port, .relay_mode = mode, .hold_fd = -1 },
                          ret_port);
}

/* docs/SECURITY.md E07: a TLS 1.2 server without RFC 5746 secure renegotiation.  OpenSSL's server
 * always sends renegotiation_info, so the relay removes it from the ServerHello; the client
 * notices before the Finished messages would (RFC 5746 §3.4), with its own reason. */
START_TEST(test_tls_no_secure_renegotiation) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        const char *why;
        ThCerts certs;
        SSL_CTX *sc;
        int port, rport;
        pid_t srv, rly;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        sc = conn_tls_ctx_get_ssl_ctx(ctx);
        /* The policy: nothing that would let such a server in is set. */
        ck_assert_uint_eq(SSL_CTX_get_options(sc) & (SSL_OP_LEGACY_SERVER_CONNECT |
                                                     SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION),
                          0);
        ck_assert_int_eq(SSL_CTX_get_min_proto_version(sc), TLS1_2_VERSION);

        /* Control: a TLS 1.2 server through the unchanged relay is accepted. */
        srv = tls_server(srv_tls_echo,
                         &(ServerOpts) { .certs = &certs, .max_version = TLS1_2_VERSION, .hold_fd = -1 }, &port);
        rly = relay_start(port, RELAY_PLAIN, &rport);
        c = tls_connect_as("localhost", rport, ctx);
        ck_assert_msg(conn_wait_ready(c, SAFETY_MS) == 0, "error: %s", conn_error(c));
        ck_assert_int_eq(SSL_version(c->ssl), TLS1_2_VERSION);
        echo_roundtrip(c, "TLS 1.2 with RFC 5746\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(rly), 0);
        ck_assert_int_eq(server_wait(srv), 0);

        /* The same server without the extension: refused. */
        srv = tls_server(srv_tls_echo,
                         &(ServerOpts) { .certs = &certs, .max_version = TLS1_2_VERSION, .hold_fd = -1 }, &port);
        rly = relay_start(port, RELAY_STRIP_RI, &rport);
        c = tls_connect_as("localhost", rport, ctx);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), -EPROTO);
        ck_assert(!conn_is_ready(c));
        why = ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_UNSAFE_LEGACY_RENEGOTIATION_DISABLED));
        ck_assert_ptr_nonnull(why);
        ck_assert_msg(contains(conn_error(c), why), "expected \"%s\", error: %s", why, conn_error(c));
        c = conn_free(c);
        /* The relay found the extension and removed it; the server never finished its handshake. */
        ck_assert_int_eq(server_wait(rly), 0);
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

/* docs/SECURITY.md K02: the server's handshake bytes arrive one every RELAY_DRIP_MS, so the
 * handshake keeps making progress but would take minutes.  The deadline is a total one, from the
 * start of the wait: progress must not push it back.  (The daemon's tls_timeout is the same kind:
 * daemon/connection.c arms a phase's deadline only in connection_set_state(), never on I/O.) */
START_TEST(test_tls_handshake_drip) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        struct pollfd pfd;
        ThCerts certs;
        int port, rport;
        pid_t srv, rly;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = &certs, .hold_fd = -1 }, &port);
        rly = relay_start(port, RELAY_DRIP, &rport);
        c = tls_connect_as("localhost", rport, ctx);

        /* Connect and send the ClientHello, then wait for the first dripped byte: the drip has
         * begun before the deadline starts. */
        for (;;) {
                ck_assert_int_eq(conn_process(c), 0);
                if (c->phase == CONN_PHASE_HANDSHAKE && conn_events(c) == POLLIN)
                        break;
                wait_for(c);
        }
        pfd = (struct pollfd) { .fd = conn_fd(c), .events = POLLIN };
        ck_assert_int_eq(poll(&pfd, 1, SAFETY_MS), 1);

        ck_assert_int_eq(conn_wait_ready(c, 300), -ETIMEDOUT);
        ck_assert(!conn_is_ready(c));
        ck_assert_msg(contains(conn_error(c), "timed out after 300 ms while in the TLS handshake"), "error: %s",
                      conn_error(c));
        ck_assert_int_eq(conn_write(c, "LOGIN", 5), -ENOTCONN);
        c = conn_free(c);
        /* The relay did drip; the server's handshake never completed. */
        ck_assert_int_eq(server_wait(rly), 0);
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

/* ---- a TLS cut inside an IMAP literal (docs/SECURITY.md E10) ------------- */

/* Greets with PREAUTH, reads one command line, answers with the start of a 100-byte literal and
 * closes TCP without close_notify. */
static int srv_tls_literal_cut(int fd, const ServerOpts *o) {
        static const char partial[] = "* 1 FETCH (BODY[] {100}\r\n0123456789";
        SSL_CTX *ctx = server_ctx(o);
        SSL *ssl = ctx ? SSL_new(ctx) : NULL;
        char line[256];
        size_t n = 0;
        int status = 1, k;

        if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1 || SSL_write(ssl, "* PREAUTH hi\r\n", 14) != 14)
                goto finish;
        while (n < sizeof(line) - 1 && (n < 2 || memcmp(line + n - 2, "\r\n", 2) != 0)) {
                k = SSL_read(ssl, line + n, (int) (sizeof(line) - 1 - n));
                if (k <= 0)
                        goto finish;
                n += (size_t) k;
        }
        line[n] = 0;
        if (strcmp(line, "A0 NOOP\r\n") != 0) {
                status = 2;
                goto finish;
        }
        if (SSL_write(ssl, partial, (int) strlen(partial)) == (int) strlen(partial))
                status = 0;
finish:
        /* SSL_free() sends nothing: the close below is a bare TCP FIN. */
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        return status;
}

/* Read once and feed everything into s; returns what conn_read() returned. */
static ssize_t read_into_session(Conn *c, ImapSession *s) {
        char buf[512];
        ssize_t k = client_read(c, buf, sizeof(buf));

        for (size_t off = 0; k > 0 && off < (size_t) k;) {
                ImapEvent ev;
                size_t used = 0;

                ck_assert_int_ge(imap_session_feed(s, buf + off, (size_t) k - off, 0, &used), 0);
                off += used;
                while (imap_session_next_event(s, &ev) > 0)
                        ;
        }
        return k;
}

START_TEST(test_tls_cut_in_literal) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(imap_session_freep) ImapSession *s = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ImapCmd *noop = NULL;
        const void *out;
        size_t out_len;
        ThCerts certs;
        ssize_t k;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        srv = tls_server(srv_tls_literal_cut, &(ServerOpts) { .certs = &certs, .hold_fd = -1 }, &port);
        ck_assert_int_eq(imap_session_new(&(ImapSessionParams) { .tag_prefix = "A" }, &s), 0);
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);

        while (imap_session_state(s) != IMAP_STATE_AUTH)
                ck_assert_int_gt(read_into_session(c, s), 0);
        ck_assert_int_eq(imap_cmd_new("NOOP", &noop), 0);
        ck_assert_int_eq(imap_session_submit(s, noop, 0, NULL), 0);
        imap_session_output(s, &out, &out_len);
        client_write_all(c, out, out_len);
        imap_session_consume_output(s, out_len);

        /* The literal's first 10 bytes arrive, then the stream ends. */
        while ((k = read_into_session(c, s)) > 0)
                ;
        ck_assert_int_eq(k, 0);
        ck_assert(imap_session_in_response(s));
        /* Both layers say what happened: the transport a truncation, the engine a response cut
         * short, and the session is over. */
        ck_assert_msg(contains(conn_error(c), "without close_notify"), "error: %s", conn_error(c));
        ck_assert_int_eq(imap_session_eof(s), -ECONNRESET);
        ck_assert_msg(contains(imap_session_error(s), "EOF in the middle of a response"), "error: %s",
                      imap_session_error(s));
        ck_assert(imap_session_is_dead(s));
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

/* ---- TLS 1.3 post-handshake messages while idle (docs/SECURITY.md E12) ---- */

/* After the handshake: two NewSessionTickets and a KeyUpdate asking for one back (RFC 8446
 * §4.6.1, §4.6.3), no application data; a byte on o->mark_wfd says they are on the wire.
 * Once released: "* 1 EXISTS\r\n" under the new key, and expect "DONE\r\n" back. */
static int srv_tls13_post_handshake(int fd, const ServerOpts *o) {
        SSL_CTX *ctx = server_ctx(o);
        SSL *ssl = NULL;
        char b[8];
        int status = 1;

        if (!ctx)
                return 2;
        /* None with the handshake: the client must get them only while idle. */
        (void) SSL_CTX_set_num_tickets(ctx, 0);
        ssl = SSL_new(ctx);
        if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1 || SSL_version(ssl) != TLS1_3_VERSION)
                goto finish;
        if (SSL_new_session_ticket(ssl) != 1 || SSL_new_session_ticket(ssl) != 1 || SSL_do_handshake(ssl) != 1 ||
            SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 || SSL_do_handshake(ssl) != 1)
                goto finish;
        if (write(o->mark_wfd, "m", 1) != 1)
                goto finish;
        hold(o);
        if (SSL_write(ssl, "* 1 EXISTS\r\n", 12) != 12 || SSL_read(ssl, b, sizeof(b)) != 6 ||
            memcmp(b, "DONE\r\n", 6) != 0)
                goto finish;
        status = 0;
        (void) SSL_shutdown(ssl);
finish:
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        return status;
}

START_TEST(test_tls13_post_handshake) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        int port, holdfd[2], markfd[2], avail = 0;
        char buf[32];
        pid_t srv;
        ThCerts certs;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        ck_assert_int_eq(pipe2(holdfd, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(markfd, O_CLOEXEC), 0);
        srv = tls_server(srv_tls13_post_handshake,
                         &(ServerOpts) { .certs = &certs, .hold_fd = holdfd[0], .hold_wfd = holdfd[1],
                                         .mark_wfd = markfd[1] },
                         &port);
        (void) close(holdfd[0]);
        (void) close(markfd[1]);
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert_int_eq(SSL_version(c->ssl), TLS1_3_VERSION);
        ck_assert(!SSL_SESSION_has_ticket(SSL_get0_session(c->ssl)));

        /* The tickets and the KeyUpdate are in the socket; nothing else will come until released. */
        ck_assert_int_eq(read(markfd[0], buf, 1), 1);
        (void) close(markfd[0]);
        ck_assert_int_eq(ioctl(conn_fd(c), FIONREAD, &avail), 0);
        ck_assert_int_gt(avail, 0);
        /* Every record is taken in: no data, no EOF, no error; the conn waits to read as before. */
        for (int i = 0; i < 16 && avail > 0; i++) {
                ck_assert_int_eq(conn_read(c, buf, sizeof(buf)), -EAGAIN);
                ck_assert_int_eq(ioctl(conn_fd(c), FIONREAD, &avail), 0);
        }
        ck_assert_int_eq(avail, 0);
        ck_assert_ptr_null(conn_error(c));
        ck_assert(!conn_has_pending(c));
        ck_assert_int_eq(conn_events(c), POLLIN);
        ck_assert(SSL_SESSION_has_ticket(SSL_get0_session(c->ssl)));

        /* The next application bytes, under the server's new key, and the answer under ours. */
        (void) close(holdfd[1]);
        client_read_exact(c, buf, 12);
        ck_assert_mem_eq(buf, "* 1 EXISTS\r\n", 12);
        client_write_all(c, "DONE\r\n", 6);
        ck_assert_ptr_null(conn_error(c));
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

/* ---- tunnels ------------------------------------------------------------- */

/* conn_tunnel_new() with a NULL-terminated list of string literals (argv is char *const[]). */
static int tunnel_new(Conn **ret, const char *arg0, ...) {
        char *argv[8] = {};
        const char *a = arg0;
        size_t n = 0;
        va_list ap;
        int r;

        va_start(ap, arg0);
        for (; a && n < ELEMENTSOF(argv) - 1; a = va_arg(ap, const char *))
                ck_assert_ptr_nonnull(argv[n++] = strdup(a));
        va_end(ap);
        r = conn_tunnel_new(argv, ret);
        for (size_t i = 0; i < n; i++)
                free(argv[i]);
        return r;
}

/* ---- STARTTLS ------------------------------------------------------------ */

static Conn *plain_hello(int port) {
        Conn *c = NULL;
        char buf[8];

        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        client_read_exact(c, buf, 7);
        ck_assert_mem_eq(buf, "HELLO\r\n", 7);
        client_write_all(c, "GO\r\n", 4);
        return c;
}

START_TEST(test_starttls) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        srv = serve(listen_loopback(AF_INET, &port), srv_starttls,
                    &(ServerOpts) { .certs = &certs, .check_sni = true, .expect_sni = "localhost",
                                    .hold_fd = -1 });

        c = plain_hello(port);
        ck_assert(!conn_has_pending(c));
        ck_assert_int_eq(conn_start_tls(c, "localhost", ctx), 0);
        ck_assert(!conn_is_ready(c));
        ck_assert_int_eq(conn_write(c, "x", 1), -ENOTCONN);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        echo_roundtrip(c, "now under TLS\r\n");
        ck_assert_int_eq(conn_start_tls(c, "localhost", ctx), -EALREADY);
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

START_TEST(test_starttls_hostname_mismatch) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        /* Same verification on the STARTTLS path (docs/SECURITY.md E: "both paths"). */
        make_certs('a', names_other, NULL, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        srv = serve(listen_loopback(AF_INET, &port), srv_starttls,
                    &(ServerOpts) { .certs = &certs, .hold_fd = -1 });
        c = plain_hello(port);
        ck_assert_int_eq(conn_start_tls(c, "localhost", ctx), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), -EPROTO);
        ck_assert_msg(contains(conn_error(c), "hostname mismatch"), "error: %s", conn_error(c));
        c = conn_free(c);
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

START_TEST(test_starttls_injection) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        char buf[16];
        struct pollfd pfd;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);
        srv = serve(listen_loopback(AF_INET, &port), srv_starttls_inject,
                    &(ServerOpts) { .certs = &certs, .hold_fd = -1 });

        c = plain_hello(port);
        /* Wait until the injected bytes are queued in our socket. */
        pfd = (struct pollfd) { .fd = conn_fd(c), .events = POLLIN };
        ck_assert_int_eq(poll(&pfd, 1, SAFETY_MS), 1);

        ck_assert_int_eq(conn_start_tls(c, "localhost", ctx), -EPROTO);
        ck_assert_msg(contains(conn_error(c), "STARTTLS refused"), "error: %s", conn_error(c));
        /* Nothing changed: still the plain conn, the bytes still unread. */
        ck_assert(conn_is_ready(c));
        client_read_exact(c, buf, 12);
        ck_assert_mem_eq(buf, "* INJECTED\r\n", 12);
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

START_TEST(test_starttls_wrong_state) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, NULL, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);

        /* Not established yet. */
        srv = serve(listen_loopback(AF_INET, &port), srv_echo, &(ServerOpts) { .hold_fd = -1 });
        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_start_tls(c, "localhost", ctx), -ENOTCONN);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        echo_roundtrip(c, "still plain\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);

        /* Tunnels do not do STARTTLS. */
        ck_assert_int_eq(tunnel_new(&c, "cat", NULL), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert_int_eq(conn_start_tls(c, "localhost", ctx), -EOPNOTSUPP);
}
END_TEST


START_TEST(test_tunnel_cat) {
        _cleanup_(conn_freep) Conn *c = NULL;
        char expect_peer[64];
        pid_t pid;
        int fd;

        ck_assert_int_eq(tunnel_new(&c, "/bin/cat", NULL), 0);
        pid = conn_tunnel_pid(c);
        ck_assert_int_gt(pid, 0);
        fd = conn_fd(c);
        ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
        ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        (void) snprintf(expect_peer, sizeof(expect_peer), "tunnel pid %d", (int) pid);
        ck_assert_str_eq(conn_peer(c), expect_peer);

        echo_roundtrip(c, "through the tunnel\r\n");

        c = conn_free(c);
        /* conn_free() reaped it. */
        ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
        ck_assert_int_eq(errno, ECHILD);
}
END_TEST

START_TEST(test_tunnel_missing_program) {
        _cleanup_(conn_freep) Conn *c = NULL;

        ck_assert_int_eq(tunnel_new(&c, "/nonexistent/imapidled-tunnel", NULL), 0);
        ck_assert_int_eq(conn_tunnel_pid(c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), -ENOENT);
        ck_assert_msg(contains(conn_error(c), "cannot run '/nonexistent/imapidled-tunnel'"), "error: %s",
                      conn_error(c));
        /* No child was left behind. */
        ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
        ck_assert_int_eq(errno, ECHILD);

        c = conn_free(c);
        ck_assert_int_eq(tunnel_new(&c, "imapidled-no-such-program-in-path", NULL), 0);
        ck_assert_int_eq(conn_process(c), -ENOENT);
}
END_TEST

/* Only stdin, stdout and stderr reach the child, even fds opened without O_CLOEXEC. */
START_TEST(test_tunnel_fds) {
        _cleanup_(conn_freep) Conn *c = NULL;
        _cleanup_close_ int leak = -EBADF;
        char script[256], buf[64];
        size_t len = 0;
        ssize_t k;

        leak = open("/dev/null", O_RDONLY); /* deliberately inheritable */
        ck_assert_int_ge(leak, 0);
        ck_assert_int_eq(fcntl(leak, F_GETFD) & FD_CLOEXEC, 0);
        (void) snprintf(script, sizeof(script),
                        "for f in 0 1 2 %d; do if [ -e /proc/$$/fd/$f ]; then printf '%%s,' $f; fi; done; echo",
                        leak);
        ck_assert_int_eq(tunnel_new(&c, "/bin/sh", "-c", script, NULL), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        while ((k = client_read(c, buf + len, sizeof(buf) - 1 - len)) > 0)
                len += (size_t) k;
        ck_assert_int_eq(k, 0);
        buf[len] = 0;
        ck_assert_str_eq(buf, "0,1,2,\n");
}
END_TEST

/* A tunnel that ignores EOF is terminated; one that also ignores SIGTERM is killed. */
START_TEST(test_tunnel_escalation) {
        static const char *const scripts[] = {
                "echo ready; exec sleep 60",
                "trap '' TERM; echo ready; exec sleep 60",
        };

        for (size_t i = 0; i < ELEMENTSOF(scripts); i++) {
                Conn *c = NULL;
                char buf[6];
                pid_t pid;

                ck_assert_int_eq(tunnel_new(&c, "/bin/sh", "-c", scripts[i], NULL),
                                 0);
                ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
                /* "ready" means the trap, if any, is in place. */
                client_read_exact(c, buf, 6);
                ck_assert_mem_eq(buf, "ready\n", 6);
                pid = conn_tunnel_pid(c);
                c = conn_free(c);
                ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
                ck_assert_int_eq(errno, ECHILD);
        }
}
END_TEST

START_TEST(test_tunnel_detach) {
        Conn *c = NULL;
        pid_t pid;
        int status;

        ck_assert_int_eq(tunnel_new(&c, "cat", NULL), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        pid = conn_tunnel_detach(c);
        ck_assert_int_gt(pid, 0);
        ck_assert_int_eq(conn_tunnel_pid(c), 0);
        ck_assert_int_eq(conn_tunnel_detach(c), 0);
        c = conn_free(c);
        /* Not reaped by conn_free(): ours to collect.  cat exits on EOF. */
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* ---- TCP keepalive and user timeout ------------------------------------- */

static int sockopt_int(int fd, int level, int name) {
        socklen_t len = sizeof(int);
        int v = -1;

        ck_assert_int_eq(getsockopt(fd, level, name, &v, &len), 0);
        ck_assert_int_eq(len, sizeof(int));
        return v;
}

/* What the kernel reports for the conn's socket, compared with what was asked for. */
static void expect_tcp_options(Conn *c, int idle, int interval, int count, int user_timeout_ms) {
        int fd = conn_fd(c);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
        ck_assert_int_eq(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), idle);
        ck_assert_int_eq(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), interval);
        ck_assert_int_eq(sockopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT), count);
        ck_assert_int_eq(sockopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), user_timeout_ms);
}

START_TEST(test_tcp_options_plain) {
        _cleanup_(conn_freep) Conn *c = NULL;
        int port;
        pid_t srv;

        srv = serve(listen_loopback(AF_INET, &port), srv_echo, &(ServerOpts) { .hold_fd = -1, .accepts = 4 });

        /* Without the call: the system's defaults, no keepalive. */
        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert_int_eq(sockopt_int(conn_fd(c), SOL_SOCKET, SO_KEEPALIVE), 0);
        ck_assert_int_eq(sockopt_int(conn_fd(c), IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
        c = conn_free(c);

        /* Explicit values, set while connecting. */
        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) { .keepalive_idle_sec = 30,
                                                                    .keepalive_interval_sec = 7,
                                                                    .keepalive_count = 3,
                                                                    .user_timeout_ms = 45000 }),
                         0);
        expect_tcp_options(c, 30, 7, 3, 45000);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        expect_tcp_options(c, 30, 7, 3, 45000);
        echo_roundtrip(c, "with keepalive\r\n");

        /* Out of range: refused, and nothing changes. */
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) { .keepalive_idle_sec = 32768 }), -EINVAL);
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) { .keepalive_interval_sec = 32768 }),
                         -EINVAL);
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) { .keepalive_count = 128 }), -EINVAL);
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) { .user_timeout_ms = (unsigned) INT_MAX + 1 }),
                         -EINVAL);
        ck_assert_int_eq(conn_set_tcp_options(NULL, NULL), -EINVAL);
        expect_tcp_options(c, 30, 7, 3, 45000);

        /* A zeroed struct, set again on a ready conn: the documented defaults, the user timeout
         * derived as idle + interval × count. */
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) {}), 0);
        expect_tcp_options(c, 60, 15, 4, 120000);
        c = conn_free(c);

        /* NULL means the same defaults; only the user timeout follows the others. */
        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_set_tcp_options(c, NULL), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        expect_tcp_options(c, CONN_TCP_KEEPALIVE_IDLE_DEFAULT_SEC, CONN_TCP_KEEPALIVE_INTERVAL_DEFAULT_SEC,
                           CONN_TCP_KEEPALIVE_COUNT_DEFAULT, 120000);
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) { .keepalive_idle_sec = 10,
                                                                    .keepalive_count = 2 }),
                         0);
        expect_tcp_options(c, 10, 15, 2, (10 + 15 * 2) * 1000);
        c = conn_free(c);

        /* The largest values Linux accepts; the derived user timeout saturates at INT_MAX ms. */
        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) {
                                                         .keepalive_idle_sec = CONN_TCP_KEEPALIVE_IDLE_MAX_SEC,
                                                         .keepalive_interval_sec = CONN_TCP_KEEPALIVE_INTERVAL_MAX_SEC,
                                                         .keepalive_count = CONN_TCP_KEEPALIVE_COUNT_MAX }),
                         0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        expect_tcp_options(c, 32767, 32767, 127, INT_MAX);
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

/* The options reach the socket of an address tried after an earlier one failed, whether they
 * were set before the first socket existed or while it was connecting. */
START_TEST(test_tcp_options_fallback) {
        static const ConnTcpOptions o = { .keepalive_idle_sec = 20, .keepalive_interval_sec = 5,
                                          .keepalive_count = 6, .user_timeout_ms = 9000 };
        _cleanup_(conn_freep) Conn *c = NULL;
        _cleanup_close_ int dead4 = -EBADF;
        struct addrinfo ai[2];
        struct sockaddr_storage ss[2];
        char expect_peer[64];
        int port, dead_port;
        pid_t srv;

        dead4 = bind_loopback(AF_INET, 0, false, &dead_port);
        ck_assert_int_ge(dead4, 0);
        srv = serve(listen_loopback(AF_INET, &port), srv_echo, &(ServerOpts) { .hold_fd = -1, .accepts = 2 });
        set_addr(&ai[1], &ss[1], AF_INET, port, NULL);
        set_addr(&ai[0], &ss[0], AF_INET, dead_port, &ai[1]);
        (void) snprintf(expect_peer, sizeof(expect_peer), "127.0.0.1:%d", port);

        ck_assert_int_eq(conn_tcp_new_addrinfo_opts(ai, "test", &o, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert_str_eq(conn_peer(c), expect_peer);
        expect_tcp_options(c, 20, 5, 6, 9000);
        echo_roundtrip(c, "second address\r\n");
        c = conn_free(c);

        ck_assert_int_eq(conn_tcp_new_addrinfo(ai, "test", &c), 0);
        ck_assert_int_eq(conn_set_tcp_options(c, &o), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert_str_eq(conn_peer(c), expect_peer);
        expect_tcp_options(c, 20, 5, 6, 9000);
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);

        /* Options on a conn that never got a socket are only remembered. */
        ck_assert_int_eq(conn_tcp_new_addrinfo(NULL, "empty", &c), 0);
        ck_assert_int_eq(conn_set_tcp_options(c, &o), 0);
        ck_assert_int_eq(conn_process(c), -EHOSTUNREACH);
}
END_TEST

/* A socket that refuses the options (here: not TCP) gives the setsockopt errno and a reason. */
START_TEST(test_tcp_options_error) {
        _cleanup_(conn_freep) Conn *c = NULL;
        int port, udp;
        pid_t srv;

        srv = serve(listen_loopback(AF_INET, &port), srv_echo, &(ServerOpts) { .hold_fd = -1 });
        ck_assert_int_eq(conn_tcp_new("127.0.0.1", port_str(port), &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);

        udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(udp, 0);
        (void) close(c->fd);
        c->fd = udp;
        ck_assert_int_lt(conn_set_tcp_options(c, NULL), 0);
        ck_assert_msg(contains(conn_error(c), "setsockopt TCP_KEEPIDLE"), "error: %s", conn_error(c));
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

START_TEST(test_tls_options) {
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        ctx = client_ctx(certs.ca_file, NULL, NULL);

        /* Implicit TLS. */
        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = &certs, .hold_fd = -1 }, &port);
        ck_assert_int_eq(conn_tls_new("localhost", port_str(port), ctx, &c), 0);
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) { .keepalive_idle_sec = 45,
                                                                    .keepalive_interval_sec = 9,
                                                                    .keepalive_count = 5 }),
                         0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        expect_tcp_options(c, 45, 9, 5, (45 + 9 * 5) * 1000);
        echo_roundtrip(c, "TLS with keepalive\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);

        /* STARTTLS keeps the socket and so the options. */
        srv = serve(listen_loopback(AF_INET, &port), srv_starttls,
                    &(ServerOpts) { .certs = &certs, .hold_fd = -1 });
        c = plain_hello(port);
        ck_assert_int_eq(conn_set_tcp_options(c, &(ConnTcpOptions) { .user_timeout_ms = 30000 }), 0);
        ck_assert_int_eq(conn_start_tls(c, "localhost", ctx), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        expect_tcp_options(c, 60, 15, 4, 30000);
        echo_roundtrip(c, "STARTTLS with keepalive\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

/* A tunnel is a socketpair: nothing to set, and nothing is set. */
START_TEST(test_tunnel_options) {
        _cleanup_(conn_freep) Conn *c = NULL;

        ck_assert_int_eq(tunnel_new(&c, "cat", NULL), 0);
        ck_assert_int_eq(conn_set_tcp_options(c, NULL), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert_int_eq(sockopt_int(conn_fd(c), SOL_SOCKET, SO_KEEPALIVE), 0);
        ck_assert_ptr_null(conn_error(c));
        echo_roundtrip(c, "tunnel\r\n");
}
END_TEST

/* ---- resolving without blocking (resolve.h) ------------------------------ */

static void resolve_wait(ConnResolve *r) {
        struct pollfd pfd = { .fd = conn_resolve_fd(r), .events = POLLIN };

        ck_assert_int_ge(pfd.fd, 0);
        ck_assert_int_eq(poll(&pfd, 1, SAFETY_MS), 1);
        ck_assert_int_ne(pfd.revents & POLLIN, 0);
}

static bool resolve_fd_readable_now(ConnResolve *r) {
        struct pollfd pfd = { .fd = conn_resolve_fd(r), .events = POLLIN };
        int k = poll(&pfd, 1, 0);

        ck_assert_int_ge(k, 0);
        return k == 1;
}

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while (readdir(d))
                n++;
        (void) closedir(d);
        return n;
}

/* Threads finish on their own after conn_resolve_free(); wait for the last one to have freed its
 * object.  The deadline is only a safety net: a working build gets there in milliseconds. */
static void wait_no_live_resolve(void) {
        struct timespec t0, t;

        ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
        while (conn_resolve_n_live() > 0) {
                ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &t), 0);
                ck_assert_msg((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < SAFETY_MS,
                              "%u lookup(s) never finished", conn_resolve_n_live());
                (void) nanosleep(&(struct timespec) { .tv_nsec = 5 * 1000 * 1000 }, NULL);
        }
}

static bool list_has(const struct addrinfo *list, int family, int port) {
        for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
                if (ai->ai_family != family || ai->ai_socktype != SOCK_STREAM ||
                    ai->ai_protocol != IPPROTO_TCP)
                        continue;
                if (family == AF_INET) {
                        const struct sockaddr_in *a = (const struct sockaddr_in *) ai->ai_addr;

                        if (a->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && ntohs(a->sin_port) == port)
                                return true;
                } else if (family == AF_INET6) {
                        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) ai->ai_addr;

                        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) && ntohs(a->sin6_port) == port)
                                return true;
                }
        }
        return false;
}

/* An address literal with a port number is resolved by conn_resolve_start() itself: the fd is
 * readable and the answer there on return, with no thread involved. */
START_TEST(test_resolve_literal) {
        _cleanup_(conn_resolve_freep) ConnResolve *r = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        const struct addrinfo *list = (const struct addrinfo *) 1;
        const char *why = "unset";
        char expect_peer[64];
        int port, fd;
        pid_t srv;

        srv = serve(listen_loopback(AF_INET, &port), srv_echo, &(ServerOpts) { .hold_fd = -1 });

        wait_no_live_resolve();
        ck_assert_int_eq(conn_resolve_start("127.0.0.1", port_str(port), &r), 0);
        ck_assert_uint_eq(conn_resolve_n_live(), 1);
        fd = conn_resolve_fd(r);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
        ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        ck_assert(resolve_fd_readable_now(r));
        ck_assert_int_eq(conn_resolve_result(r, &list, &why), 0);
        ck_assert_ptr_null(why);
        ck_assert(list_has(list, AF_INET, port));
        /* Asking again gives the same answer, and the fd stays readable (level-triggered). */
        ck_assert_int_eq(conn_resolve_result(r, NULL, NULL), 0);
        ck_assert(resolve_fd_readable_now(r));

        ck_assert_int_eq(conn_tcp_new_resolved("127.0.0.1", port_str(port), list, &c), 0);
        /* The list is not retained: freeing it now must not matter to the conn. */
        r = conn_resolve_free(r);
        ck_assert_ptr_null(r);
        ck_assert_uint_eq(conn_resolve_n_live(), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        (void) snprintf(expect_peer, sizeof(expect_peer), "127.0.0.1:%d", port);
        ck_assert_str_eq(conn_peer(c), expect_peer);
        echo_roundtrip(c, "resolved first\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
}
END_TEST

/* A name goes through NSS on the thread; the list feeds conn_tcp_new_resolved(). */
START_TEST(test_resolve_localhost) {
        _cleanup_(conn_resolve_freep) ConnResolve *r = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        _cleanup_close_ int v6 = -EBADF;
        const struct addrinfo *list = NULL;
        const char *why = "unset";
        char expect_peer[64];
        int port, p6;
        pid_t srv;

        srv = serve(listen_loopback(AF_INET, &port), srv_echo, &(ServerOpts) { .hold_fd = -1 });

        ck_assert_int_eq(conn_resolve_start("localhost", port_str(port), &r), 0);
        resolve_wait(r);
        ck_assert_int_eq(conn_resolve_result(r, &list, &why), 0);
        ck_assert_ptr_null(why);
        ck_assert(list_has(list, AF_INET, port));
        if (list_has(list, AF_INET6, port)) {
                /* As in test_tcp_localhost_fallback: ::1 must refuse on that port. */
                v6 = bind_loopback(AF_INET6, port, false, &p6);
                ck_assert_int_ge(v6, 0);
        }

        ck_assert_int_eq(conn_tcp_new_resolved("localhost", port_str(port), list, &c), 0);
        r = conn_resolve_free(r);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        (void) snprintf(expect_peer, sizeof(expect_peer), "127.0.0.1:%d", port);
        ck_assert_str_eq(conn_peer(c), expect_peer);
        echo_roundtrip(c, "localhost, resolved first\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);
        wait_no_live_resolve();
}
END_TEST

/* RFC 6761 §6.4: .invalid names never resolve. */
START_TEST(test_resolve_unknown_name) {
        _cleanup_(conn_resolve_freep) ConnResolve *r = NULL;
        const struct addrinfo *list = (const struct addrinfo *) 1;
        const char *why = NULL;

        ck_assert_int_eq(conn_resolve_start("no-such-host.invalid", "143", &r), 0);
        resolve_wait(r);
        ck_assert_int_eq(conn_resolve_result(r, &list, &why), -EHOSTUNREACH);
        ck_assert_ptr_null(list);
        ck_assert_msg(contains(why, "resolve no-such-host.invalid port 143: "), "error: %s", why);
        /* The same answer, and the same reason, every time. */
        ck_assert_int_eq(conn_resolve_result(r, NULL, &why), -EHOSTUNREACH);
        ck_assert_msg(contains(why, "no-such-host.invalid"), "error: %s", why);
}
END_TEST

/* A literal host with a service name takes the thread (the numeric fast path needs a port
 * number); an unknown service is -EINVAL, as for conn_tcp_new(). */
START_TEST(test_resolve_bad_service) {
        _cleanup_(conn_resolve_freep) ConnResolve *r = NULL;
        const char *why = NULL;

        ck_assert_int_eq(conn_resolve_start("127.0.0.1", "no-such-service-imapidled", &r), 0);
        resolve_wait(r);
        ck_assert_int_eq(conn_resolve_result(r, NULL, &why), -EINVAL);
        ck_assert_msg(contains(why, "resolve 127.0.0.1 port no-such-service-imapidled: "), "error: %s", why);
}
END_TEST

/* With the thread held before its getaddrinfo(), "not done yet" is certain, not a race. */
START_TEST(test_resolve_pending) {
        _cleanup_(conn_resolve_freep) ConnResolve *r = NULL;
        const struct addrinfo *list = (const struct addrinfo *) 1;
        const char *why = "unset";
        int hold[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hold), 0);
        ck_assert_int_eq(conn_resolve_start_held("localhost", "143", hold[0], &r), 0);
        (void) close(hold[0]); /* the lookup keeps its own copy */

        ck_assert_int_eq(conn_resolve_result(r, &list, &why), -EAGAIN);
        ck_assert_ptr_null(list);
        ck_assert_ptr_null(why);
        ck_assert(!resolve_fd_readable_now(r));

        (void) close(hold[1]);
        resolve_wait(r);
        ck_assert_int_eq(conn_resolve_result(r, &list, &why), 0);
        ck_assert(list_has(list, AF_INET, 143));
        ck_assert_ptr_null(why);
        r = conn_resolve_free(r);
        wait_no_live_resolve();
}
END_TEST

/* Giving up while the thread runs: the thread keeps what it shares (object and eventfd) until it
 * is done, then frees it all. */
START_TEST(test_resolve_free_while_running) {
        ConnResolve *r = NULL;
        int hold[2], fds;

        wait_no_live_resolve();
        fds = count_fds();
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hold), 0);
        ck_assert_int_eq(conn_resolve_start_held("localhost", "143", hold[0], &r), 0);
        (void) close(hold[0]);
        ck_assert_ptr_null(conn_resolve_free(r));

        /* Held: the thread has not let go, so the object and its eventfd and hold fd live on. */
        ck_assert_uint_eq(conn_resolve_n_live(), 1);
        ck_assert_int_eq(count_fds(), fds + 1 /* hold[1] */ + 2 /* eventfd, hold[0]'s copy */);

        (void) close(hold[1]);
        wait_no_live_resolve();
        ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* The tids of this process's threads, up to n; returns how many. */
static size_t list_tasks(pid_t *tids, size_t n) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;
        size_t k = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && k < n)
                        tids[k++] = (pid_t) strtol(de->d_name, NULL, 10);
        (void) closedir(d);
        return k;
}

static unsigned long long task_sigblk(pid_t tid) {
        char p[64], line[256];
        unsigned long long m = 0;
        bool found = false;
        FILE *f;

        (void) snprintf(p, sizeof(p), "/proc/self/task/%d/status", (int) tid);
        f = fopen(p, "re");
        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "SigBlk:", 7) == 0) {
                        m = strtoull(line + 7, NULL, 16);
                        found = true;
                }
        (void) fclose(f);
        ck_assert(found);
        return m;
}

/* The lookup thread blocks every signal (the event loop's, and any other), while the caller's
 * own mask is left as it was. */
START_TEST(test_resolve_thread_signals) {
        static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGPIPE, SIGALRM };
        _cleanup_(conn_resolve_freep) ConnResolve *r = NULL;
        pid_t before[64], after[64], thread = 0;
        size_t n_before, n_after;
        unsigned long long blk;
        sigset_t mine;
        int hold[2];

        n_before = list_tasks(before, ELEMENTSOF(before));
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hold), 0);
        ck_assert_int_eq(conn_resolve_start_held("localhost", "143", hold[0], &r), 0);
        (void) close(hold[0]);

        /* Once it has said so, the thread runs our code (past glibc's own setup, during which
         * it blocks everything anyway) and is held there. */
        ck_assert(read_all(hold[1], (char[1]) {}, 1));
        n_after = list_tasks(after, ELEMENTSOF(after));
        ck_assert_uint_eq(n_after, n_before + 1);
        for (size_t i = 0; i < n_after && !thread; i++) {
                bool old = false;

                for (size_t j = 0; j < n_before; j++)
                        old = old || after[i] == before[j];
                if (!old)
                        thread = after[i];
        }
        ck_assert_int_gt(thread, 0);
        blk = task_sigblk(thread);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                ck_assert_msg(blk & (1ULL << (sigs[i] - 1)), "signal %d not blocked: SigBlk %llx", sigs[i],
                              blk);

        ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, NULL, &mine), 0);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                ck_assert_int_eq(sigismember(&mine, sigs[i]), 0);

        (void) close(hold[1]);
        resolve_wait(r);
        ck_assert_int_eq(conn_resolve_result(r, NULL, NULL), 0);
}
END_TEST

/* Many lookups dropped at once, racing their threads: nothing may leak or be used after free
 * (this test is meant for the ASan build). */
START_TEST(test_resolve_free_at_once) {
        int fds;

        wait_no_live_resolve();
        fds = count_fds();
        for (int i = 0; i < 200; i++) {
                ConnResolve *r = NULL;

                ck_assert_int_eq(conn_resolve_start(i % 10 == 0 ? "127.0.0.1" : "localhost", "143", &r), 0);
                ck_assert_ptr_null(conn_resolve_free(r));
        }
        wait_no_live_resolve();
        ck_assert_int_eq(count_fds(), fds);
}
END_TEST

START_TEST(test_resolve_bad_arguments) {
        struct addrinfo ai = {};
        ConnResolve *r = NULL;
        Conn *c = NULL;
        const struct addrinfo *list = (const struct addrinfo *) 1;
        const char *why = "unset";
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;

        ck_assert_int_eq(conn_resolve_start(NULL, "1", &r), -EINVAL);
        ck_assert_int_eq(conn_resolve_start("", "1", &r), -EINVAL);
        ck_assert_int_eq(conn_resolve_start("h", NULL, &r), -EINVAL);
        ck_assert_int_eq(conn_resolve_start("h", "", &r), -EINVAL);
        ck_assert_int_eq(conn_resolve_start("h", "1", NULL), -EINVAL);
        ck_assert_ptr_null(r);
        ck_assert_int_eq(conn_resolve_fd(NULL), -EINVAL);
        ck_assert_int_eq(conn_resolve_result(NULL, &list, &why), -EINVAL);
        ck_assert_ptr_null(list);
        ck_assert_ptr_null(why);
        ck_assert_ptr_null(conn_resolve_free(NULL));

        ck_assert_int_eq(conn_tcp_new_resolved("h", "1", NULL, &c), -EINVAL);
        ck_assert_int_eq(conn_tcp_new_resolved(NULL, "1", &ai, &c), -EINVAL);
        ck_assert_int_eq(conn_tcp_new_resolved("h", "", &ai, &c), -EINVAL);
        ck_assert_int_eq(conn_tcp_new_resolved("h", "1", &ai, NULL), -EINVAL);
        ck_assert_ptr_null(c);

        ctx = client_ctx(NULL, NULL, NULL);
        ck_assert_int_eq(conn_tls_new_resolved("h", "1", NULL, ctx, &c), -EINVAL);
        ck_assert_int_eq(conn_tls_new_resolved("h", "1", &ai, NULL, &c), -EINVAL);
        ck_assert_int_eq(conn_tls_new_resolved("", "1", &ai, ctx, &c), -EINVAL);
        ck_assert_ptr_null(c);
}
END_TEST

/* Implicit TLS over a resolved list: SNI and verification still use the host given. */
START_TEST(test_tls_resolved) {
        _cleanup_(conn_resolve_freep) ConnResolve *r = NULL;
        _cleanup_(conn_tls_ctx_freep) ConnTlsCtx *ctx = NULL;
        _cleanup_(conn_freep) Conn *c = NULL;
        const struct addrinfo *list = NULL;
        ThCerts certs;
        int port;
        pid_t srv;

        make_certs('a', names_localhost, ips_loopback, &certs);
        srv = tls_server(srv_tls_echo,
                         &(ServerOpts) { .certs = &certs, .check_sni = true, .expect_sni = "localhost",
                                         .hold_fd = -1 },
                         &port);
        ctx = client_ctx(certs.ca_file, NULL, NULL);

        ck_assert_int_eq(conn_resolve_start("127.0.0.1", port_str(port), &r), 0);
        resolve_wait(r);
        ck_assert_int_eq(conn_resolve_result(r, &list, NULL), 0);

        ck_assert_int_eq(conn_tls_new_resolved("localhost", port_str(port), list, ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), 0);
        ck_assert_ptr_null(conn_error(c));
        echo_roundtrip(c, "TLS, resolved first\r\n");
        c = conn_free(c);
        ck_assert_int_eq(server_wait(srv), 0);

        /* The same address under a name the certificate does not carry: refused. */
        srv = tls_server(srv_tls_echo, &(ServerOpts) { .certs = &certs, .hold_fd = -1 }, &port);
        r = conn_resolve_free(r);
        ck_assert_int_eq(conn_resolve_start("127.0.0.1", port_str(port), &r), 0);
        resolve_wait(r);
        ck_assert_int_eq(conn_resolve_result(r, &list, NULL), 0);
        ck_assert_int_eq(conn_tls_new_resolved("other.example", port_str(port), list, ctx, &c), 0);
        ck_assert_int_eq(conn_wait_ready(c, SAFETY_MS), -EPROTO);
        ck_assert_msg(contains(conn_error(c), "hostname mismatch"), "error: %s", conn_error(c));
        c = conn_free(c);
        ck_assert_int_ne(server_wait(srv), 0);
}
END_TEST

static Suite *conn_suite(void) {
        Suite *s = suite_create("conn");
        TCase *tc;

        tc = tcase_create("tcp");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_tcp_echo);
        tcase_add_test(tc, test_tcp_ipv6);
        tcase_add_test(tc, test_tcp_refused);
        tcase_add_test(tc, test_tcp_bad_service);
        tcase_add_test(tc, test_bad_arguments);
        tcase_add_test(tc, test_tcp_localhost_fallback);
        tcase_add_test(tc, test_tcp_address_order);
        tcase_add_test(tc, test_tcp_eof);
        tcase_add_test(tc, test_tcp_rst);
        tcase_add_test(tc, test_tcp_write_blocks);
        tcase_add_test(tc, test_tcp_options_plain);
        tcase_add_test(tc, test_tcp_options_fallback);
        tcase_add_test(tc, test_tcp_options_error);
        suite_add_tcase(s, tc);

        tc = tcase_create("tls");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
        tcase_add_test(tc, test_tls_localhost);
        tcase_add_test(tc, test_tls_ip_literal);
        tcase_add_test(tc, test_tls_ip_mismatch);
        tcase_add_test(tc, test_tls_hostname_mismatch);
        tcase_add_test(tc, test_tls_partial_wildcard);
        tcase_add_test(tc, test_tls_unknown_ca);
        tcase_add_test(tc, test_tls_old_version);
        tcase_add_test(tc, test_tls_client_cert);
        tcase_add_test(tc, test_tls_ctx_errors);
        tcase_add_test(tc, test_tls_cut);
        tcase_add_test(tc, test_tls_close_notify);
        tcase_add_test(tc, test_tls_write_after_reset);
        tcase_add_test(tc, test_tls_handshake_timeout);
        tcase_add_test(tc, test_tls_san_nul);
        tcase_add_test(tc, test_tls_cn_not_san);
        tcase_add_test(tc, test_tls_wildcard_one_label);
        tcase_add_test(tc, test_tls_expired);
        tcase_add_test(tc, test_tls_not_yet_valid);
        tcase_add_test(tc, test_tls_self_signed);
        tcase_add_test(tc, test_tls_missing_intermediate);
        tcase_add_test(tc, test_tls_no_secure_renegotiation);
        tcase_add_test(tc, test_tls_handshake_drip);
        tcase_add_test(tc, test_tls_cut_in_literal);
        tcase_add_test(tc, test_tls13_post_handshake);
        tcase_add_test(tc, test_tls_options);
        tcase_add_test(tc, test_tls_resolved);
        suite_add_tcase(s, tc);

        tc = tcase_create("resolve");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_resolve_literal);
        tcase_add_test(tc, test_resolve_localhost);
        tcase_add_test(tc, test_resolve_unknown_name);
        tcase_add_test(tc, test_resolve_bad_service);
        tcase_add_test(tc, test_resolve_pending);
        tcase_add_test(tc, test_resolve_free_while_running);
        tcase_add_test(tc, test_resolve_thread_signals);
        tcase_add_test(tc, test_resolve_free_at_once);
        tcase_add_test(tc, test_resolve_bad_arguments);
        suite_add_tcase(s, tc);

        tc = tcase_create("starttls");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
        tcase_add_test(tc, test_starttls);
        tcase_add_test(tc, test_starttls_hostname_mismatch);
        tcase_add_test(tc, test_starttls_injection);
        tcase_add_test(tc, test_starttls_wrong_state);
        suite_add_tcase(s, tc);

        tc = tcase_create("tunnel");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_tunnel_cat);
        tcase_add_test(tc, test_tunnel_missing_program);
        tcase_add_test(tc, test_tunnel_fds);
        tcase_add_test(tc, test_tunnel_escalation);
        tcase_add_test(tc, test_tunnel_detach);
        tcase_add_test(tc, test_tunnel_options);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return th_run_suite(conn_suite());
}

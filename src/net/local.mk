# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# --- src/net: the transport (TCP, TLS, STARTTLS, tunnel) and name resolution
# off the event loop (on a thread: see the pthread_create check in configure.ac).
# libc, OpenSSL and src/shared only; nothing here knows IMAP or sd-event. -----
noinst_LIBRARIES += src/net/libnet.a
src_net_libnet_a_SOURCES = \
	src/net/conn.c src/net/conn.h src/net/conn-internal.h \
	src/net/conn-tcp.c \
	src/net/conn-tls.c \
	src/net/conn-tunnel.c \
	src/net/resolve.c src/net/resolve.h
src_net_libnet_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/net $(OPENSSL_CFLAGS)

EXTRA_DIST += docs/TRANSPORT.md

# Heap per idle TLS conn; built on demand ("make bench/tls-floor"), usage in its header.
EXTRA_PROGRAMS += bench/tls-floor
bench_tls_floor_SOURCES = bench/tls-floor.c
bench_tls_floor_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/net $(OPENSSL_CFLAGS)
bench_tls_floor_LDADD = src/net/libnet.a src/shared/libshared.a $(OPENSSL_LIBS)

if HAVE_CHECK
check_PROGRAMS += tests/test-conn
TESTS += tests/test-conn
tests_test_conn_SOURCES = tests/test-conn.c tests/th-certs.c tests/th-certs.h tests/th.h
tests_test_conn_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/net -I$(top_srcdir)/tests \
	$(OPENSSL_CFLAGS) $(CHECK_CFLAGS)
# The engine too, for one test only: a TLS cut inside a literal seen by both layers
# (docs/SECURITY.md E10).  Listed before libnet.a, so that libnet.a (which knows no IMAP)
# cannot pull in an engine object the test itself does not use: the linker scans it once.
tests_test_conn_LDADD = src/imap/libimap.a src/net/libnet.a src/shared/libshared.a $(OPENSSL_LIBS) \
	$(CHECK_LIBS)
endif

# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# --- src/net: the transport (TCP, TLS, STARTTLS, tunnel).  libc, OpenSSL and
# src/shared only; nothing here knows IMAP or sd-event. --------------------------
noinst_LIBRARIES += src/net/libnet.a
src_net_libnet_a_SOURCES = \
	src/net/conn.c src/net/conn.h src/net/conn-internal.h \
	src/net/conn-tcp.c \
	src/net/conn-tls.c \
	src/net/conn-tunnel.c
src_net_libnet_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/net $(OPENSSL_CFLAGS)

EXTRA_DIST += docs/TRANSPORT.md

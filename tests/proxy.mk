# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# The fault-injecting proxy (tests/faultproxy.[ch]) for dead-peer tests: a C
# API for Check tests and tests/faultproxy for shell tests.
EXTRA_DIST += tests/proxy.mk
check_PROGRAMS += tests/faultproxy
tests_faultproxy_SOURCES = tests/faultproxy-main.c tests/faultproxy.c tests/faultproxy.h
tests_faultproxy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_faultproxy_LDADD = src/shared/libshared.a

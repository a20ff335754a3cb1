# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# The fault-injecting proxy (tests/faultproxy.[ch]) for dead-peer tests: a C
# API for Check tests and tests/faultproxy for shell tests.
EXTRA_DIST += tests/proxy.mk
check_PROGRAMS += tests/faultproxy
tests_faultproxy_SOURCES = tests/faultproxy-main.c tests/faultproxy.c tests/faultproxy.h
tests_faultproxy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_faultproxy_LDADD = src/shared/libshared.a

if HAVE_CHECK
check_PROGRAMS += tests/test-faultproxy
TESTS += tests/test-faultproxy
tests_test_faultproxy_SOURCES = tests/test-faultproxy.c tests/faultproxy.c tests/faultproxy.h tests/th.h
tests_test_faultproxy_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests $(CHECK_CFLAGS) \
	-DFAULTPROXY_PATH='"$(abs_top_builddir)/tests/faultproxy"'
tests_test_faultproxy_LDADD = src/shared/libshared.a $(CHECK_LIBS)
endif

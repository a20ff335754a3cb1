# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.
#
# --trace=ACCOUNT (src/daemon/trace.c, the redaction in src/imap/imap-trace.c and its unit test
# test-imap-trace in src/imap/util.mk): the binary against scripted servers; no Dovecot.
EXTRA_DIST += tests/trace.mk

if HAVE_CHECK
check_PROGRAMS += tests/test-trace
TESTS += tests/test-trace
tests_test_trace_SOURCES = tests/test-trace.c tests/th-daemon.c tests/th-daemon.h tests/th.h \
	tests/fake-imapd.c tests/fake-imapd.h tests/th-certs.c tests/th-certs.h
tests_test_trace_CPPFLAGS = $(TEST_CPPFLAGS) $(OPENSSL_CFLAGS) -DDAEMON_PATH='"$(abs_top_builddir)/imapidled"'
tests_test_trace_LDADD = src/shared/libshared.a $(CHECK_LIBS) $(OPENSSL_LIBS)
endif

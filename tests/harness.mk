# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# A private Dovecot per test run (tests/dovecot.sh start|stop DIR).
EXTRA_DIST += tests/dovecot.sh docs/TESTING.md

# Test helpers: the scripted fake server and the private-Dovecot wrapper, and
# their own tests.
if HAVE_CHECK
check_PROGRAMS += tests/test-harness
TESTS += tests/test-harness
tests_test_harness_SOURCES = tests/test-harness.c \
	tests/fake-imapd.c tests/fake-imapd.h tests/th-certs.c tests/th-certs.h \
	tests/th-dovecot.c tests/th-dovecot.h tests/th.h
tests_test_harness_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests $(CHECK_CFLAGS) $(OPENSSL_CFLAGS) \
	-DTH_SRCDIR='"$(abs_top_srcdir)"'
tests_test_harness_LDADD = src/shared/libshared.a $(CHECK_LIBS) $(OPENSSL_LIBS)
endif

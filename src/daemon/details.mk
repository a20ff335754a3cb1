# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.
#
# src/daemon/libdetails.a: message details for hooks (issue 5): ENVELOPE and
# friends from a FETCH response, RFC 2047 decoding, sanitizing, the JSON line
# and the environment entries.  Pure code: libimap.a for the value types,
# glibc's iconv; no sd-event, no logging.
noinst_LIBRARIES += src/daemon/libdetails.a
src_daemon_libdetails_a_SOURCES = src/daemon/details.c src/daemon/details.h
DETAILS_LIBS = src/daemon/libdetails.a src/imap/libimap.a src/shared/libshared.a

if HAVE_CHECK
check_PROGRAMS += tests/test-details
TESTS += tests/test-details
tests_test_details_SOURCES = tests/test-details.c tests/th.h
tests_test_details_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/src/daemon
tests_test_details_LDADD = $(DETAILS_LIBS) $(CHECK_LIBS)
endif

# RFC 2047 decoding and the env/JSON builders (docs/SECURITY.md, Fuzzing):
# replayed over tests/fuzz/corpus/rfc2047 by 'make check' (the corpus ships
# through tests/fuzz/corpus in Makefile.am's EXTRA_DIST).
check_PROGRAMS += tests/fuzz/replay-rfc2047
TESTS += tests/fuzz/replay-rfc2047
tests_fuzz_replay_rfc2047_SOURCES = tests/fuzz/fuzz-rfc2047.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_rfc2047_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/src/daemon \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/rfc2047"'
tests_fuzz_replay_rfc2047_LDADD = $(DETAILS_LIBS)
EXTRA_DIST += tests/fuzz/fuzz-rfc2047.dict

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-rfc2047
tests_fuzz_fuzz_rfc2047_SOURCES = tests/fuzz/fuzz-rfc2047.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_rfc2047_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/src/daemon
tests_fuzz_fuzz_rfc2047_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_rfc2047_LDADD = $(DETAILS_LIBS)
endif

# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.
#
# Engine utilities: mUTF-7 mailbox names, INTERNALDATE, imaplib helpers, and
# the SASL client mechanisms, the redacted protocol trace (imap-trace.c,
# --trace).  imap-sasl.c is the only engine file that uses
# OpenSSL (libcrypto's base64 and HMAC); a static archive member is linked
# only when referenced, so tests that do not use SASL need no OpenSSL.
src_imap_libimap_a_SOURCES += \
	src/imap/imap-utf7.c src/imap/imap-utf7.h \
	src/imap/imap-date.c src/imap/imap-date.h \
	src/imap/imap-util.c src/imap/imap-util.h \
	src/imap/imap-sasl.c src/imap/imap-sasl.h \
	src/imap/imap-trace.c src/imap/imap-trace.h
src_imap_libimap_a_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS)

EXTRA_DIST += docs/UTILITIES.md

if HAVE_CHECK
check_PROGRAMS += \
	tests/test-imap-utf7 \
	tests/test-imap-date \
	tests/test-imap-util \
	tests/test-imap-sasl \
	tests/test-imap-trace
TESTS += \
	tests/test-imap-utf7 \
	tests/test-imap-date \
	tests/test-imap-util \
	tests/test-imap-sasl \
	tests/test-imap-trace

tests_test_imap_utf7_SOURCES = tests/test-imap-utf7.c tests/th.h
tests_test_imap_utf7_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_imap_utf7_LDADD = src/imap/libimap.a src/shared/libshared.a $(CHECK_LIBS)

tests_test_imap_date_SOURCES = tests/test-imap-date.c tests/th.h
tests_test_imap_date_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_imap_date_LDADD = src/imap/libimap.a src/shared/libshared.a $(CHECK_LIBS)

tests_test_imap_util_SOURCES = tests/test-imap-util.c tests/th.h
tests_test_imap_util_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_imap_util_LDADD = src/imap/libimap.a src/shared/libshared.a $(CHECK_LIBS)

tests_test_imap_sasl_SOURCES = tests/test-imap-sasl.c tests/th.h
tests_test_imap_sasl_CPPFLAGS = $(TEST_CPPFLAGS) $(OPENSSL_CFLAGS)
tests_test_imap_sasl_LDADD = src/imap/libimap.a src/shared/libshared.a $(CHECK_LIBS) $(OPENSSL_LIBS)

# The redacted protocol trace (--trace): what is hidden, in every cut of the bytes.
tests_test_imap_trace_SOURCES = tests/test-imap-trace.c tests/th.h
tests_test_imap_trace_CPPFLAGS = $(TEST_CPPFLAGS)
tests_test_imap_trace_LDADD = src/imap/libimap.a src/shared/libshared.a $(CHECK_LIBS)
VALGRIND_TESTS += tests/test-imap-trace
endif

# mUTF-7 fuzz target: replayed over its corpus by 'make check' (the corpus
# directory ships through tests/fuzz/corpus in Makefile.am's EXTRA_DIST).
check_PROGRAMS += tests/fuzz/replay-imap-utf7
TESTS += tests/fuzz/replay-imap-utf7
tests_fuzz_replay_imap_utf7_SOURCES = tests/fuzz/fuzz-imap-utf7.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_imap_utf7_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/imap-utf7"'
tests_fuzz_replay_imap_utf7_LDADD = src/imap/libimap.a src/shared/libshared.a

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-imap-utf7
tests_fuzz_fuzz_imap_utf7_SOURCES = tests/fuzz/fuzz-imap-utf7.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_imap_utf7_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_fuzz_fuzz_imap_utf7_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_imap_utf7_LDADD = src/imap/libimap.a src/shared/libshared.a
endif

# Connection state-machine fuzz target (docs/SECURITY.md, Fuzzing): the input
# is a program of server bytes and caller actions.  The session drives SASL,
# so both binaries link libcrypto.  The corpus generator is run by hand.
check_PROGRAMS += tests/fuzz/replay-imap-session
TESTS += tests/fuzz/replay-imap-session
tests_fuzz_replay_imap_session_SOURCES = tests/fuzz/fuzz-imap-session.c tests/fuzz/replay.c $(FUZZ_COMMON)
tests_fuzz_replay_imap_session_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests $(OPENSSL_CFLAGS) \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/imap-session"'
tests_fuzz_replay_imap_session_LDADD = src/imap/libimap.a src/shared/libshared.a $(OPENSSL_LIBS)
EXTRA_DIST += tests/fuzz/fuzz-imap-session.dict tests/fuzz/gen-imap-session-corpus.c

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-imap-session
tests_fuzz_fuzz_imap_session_SOURCES = tests/fuzz/fuzz-imap-session.c $(FUZZ_COMMON)
tests_fuzz_fuzz_imap_session_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests $(OPENSSL_CFLAGS)
tests_fuzz_fuzz_imap_session_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_imap_session_LDADD = src/imap/libimap.a src/shared/libshared.a $(OPENSSL_LIBS)
endif

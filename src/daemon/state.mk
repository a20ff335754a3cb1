# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.
#
# src/daemon/libstate.a: the per-account state files (issue 5).  libc and
# src/shared only, so its tests and its fuzz target link nothing else.
noinst_LIBRARIES += src/daemon/libstate.a
src_daemon_libstate_a_SOURCES = src/daemon/state.c src/daemon/state.h
STATE_LIBS = src/daemon/libstate.a src/shared/libshared.a

EXTRA_DIST += docs/STATE.md

if HAVE_CHECK
check_PROGRAMS += tests/test-state
TESTS += tests/test-state
tests_test_state_SOURCES = tests/test-state.c tests/th.h
tests_test_state_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/src/daemon
tests_test_state_LDADD = $(STATE_LIBS) $(CHECK_LIBS)
# The read-only directory case alone, so that it can say SKIP (exit 77) where mode bits do
# not stop this user (root); tests/test-state.c says why.
check_PROGRAMS += tests/test-state-rodir
TESTS += tests/test-state-rodir
tests_test_state_rodir_SOURCES = $(tests_test_state_SOURCES)
tests_test_state_rodir_CPPFLAGS = $(tests_test_state_CPPFLAGS) -DTEST_STATE_RODIR
tests_test_state_rodir_LDADD = $(tests_test_state_LDADD)
endif

# The parser as a fuzz target, replayed over its corpus by 'make check' (the
# corpus ships through tests/fuzz/corpus in Makefile.am's EXTRA_DIST).
check_PROGRAMS += tests/fuzz/replay-state
TESTS += tests/fuzz/replay-state
tests_fuzz_replay_state_SOURCES = tests/fuzz/fuzz-state.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_state_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/src/daemon \
	-DFUZZ_CORPUS_DIR='"$(abs_top_srcdir)/tests/fuzz/corpus/state"'
tests_fuzz_replay_state_LDADD = $(STATE_LIBS)
EXTRA_DIST += tests/fuzz/fuzz-state.dict

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-state
tests_fuzz_fuzz_state_SOURCES = tests/fuzz/fuzz-state.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_state_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/src/daemon
tests_fuzz_fuzz_state_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_state_LDADD = $(STATE_LIBS)
endif

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
endif


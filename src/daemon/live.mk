# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# --- src/daemon/liblive.a: noticing that connections may have died without a
# word: suspend/resume (resume.c) and network changes (netmon.c), both on
# sd-event.  The daemon wires them to its connections. ----------------------------
noinst_LIBRARIES += src/daemon/liblive.a
src_daemon_liblive_a_SOURCES = \
	src/daemon/resume.c src/daemon/resume.h
src_daemon_liblive_a_CPPFLAGS = $(AM_CPPFLAGS) $(LIBSYSTEMD_CFLAGS)

EXTRA_DIST += src/daemon/live.mk

if HAVE_CHECK
check_PROGRAMS += tests/test-resume
TESTS += tests/test-resume
tests_test_resume_SOURCES = tests/test-resume.c tests/th.h
tests_test_resume_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/src/daemon \
	$(LIBSYSTEMD_CFLAGS) $(CHECK_CFLAGS)
tests_test_resume_LDADD = src/daemon/liblive.a src/shared/libshared.a $(LIBSYSTEMD_LIBS) $(CHECK_LIBS)
endif

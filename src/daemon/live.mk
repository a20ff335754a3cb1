# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# --- src/daemon/liblive.a: noticing that connections may have died without a
# word: suspend/resume (resume.c) and network changes (netmon.c), both on
# sd-event.  The daemon wires them to its connections. ----------------------------
noinst_LIBRARIES += src/daemon/liblive.a
src_daemon_liblive_a_SOURCES = \
	src/daemon/resume.c src/daemon/resume.h \
	src/daemon/netmon.c src/daemon/netmon.h
src_daemon_liblive_a_CPPFLAGS = $(AM_CPPFLAGS) $(LIBSYSTEMD_CFLAGS)

EXTRA_DIST += src/daemon/live.mk

# The watcher against the kernel in a private network namespace; a plain program (not Check)
# so that it can exit 77, which the test driver reports as SKIP, where namespaces are refused.
check_PROGRAMS += tests/netmon-live
TESTS += tests/netmon-live
tests_netmon_live_SOURCES = tests/netmon-live.c
tests_netmon_live_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src/daemon $(LIBSYSTEMD_CFLAGS)
tests_netmon_live_LDADD = src/daemon/liblive.a src/shared/libshared.a $(LIBSYSTEMD_LIBS)

if HAVE_CHECK
check_PROGRAMS += tests/test-resume tests/test-netmon
TESTS += tests/test-resume tests/test-netmon
tests_test_resume_SOURCES = tests/test-resume.c tests/th.h
tests_test_resume_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/src/daemon \
	$(LIBSYSTEMD_CFLAGS) $(CHECK_CFLAGS)
tests_test_resume_LDADD = src/daemon/liblive.a src/shared/libshared.a $(LIBSYSTEMD_LIBS) $(CHECK_LIBS)

tests_test_netmon_SOURCES = tests/test-netmon.c tests/th.h
tests_test_netmon_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/src/daemon \
	$(LIBSYSTEMD_CFLAGS) $(CHECK_CFLAGS)
tests_test_netmon_LDADD = src/daemon/liblive.a src/shared/libshared.a $(LIBSYSTEMD_LIBS) $(CHECK_LIBS)
endif

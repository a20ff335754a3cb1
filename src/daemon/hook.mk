# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# --- src/daemon/libhook.a: hook programs and secret commands as sd-event
# children (the only part of this fragment that includes sd-event). -----------
noinst_LIBRARIES += src/daemon/libhook.a
src_daemon_libhook_a_SOURCES = src/daemon/hook.c src/daemon/hook.h src/daemon/secret.c src/daemon/secret.h
src_daemon_libhook_a_CPPFLAGS = $(AM_CPPFLAGS) $(LIBSYSTEMD_CFLAGS)

EXTRA_DIST += docs/HOOKS.md

if HAVE_CHECK
# A tiny program the tests run as a hook: it reports what it received.
check_PROGRAMS += tests/hook-helper tests/test-hook
TESTS += tests/test-hook
tests_hook_helper_SOURCES = tests/hook-helper.c

tests_test_hook_SOURCES = tests/test-hook.c tests/th.h
tests_test_hook_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/src/daemon \
	$(LIBSYSTEMD_CFLAGS) $(CHECK_CFLAGS) \
	-DHOOK_HELPER='"$(abs_top_builddir)/tests/hook-helper"'
tests_test_hook_LDADD = src/daemon/libhook.a src/shared/libshared.a $(LIBSYSTEMD_LIBS) $(CHECK_LIBS)

# The account's shared secret (secret.[ch]): coalescing, lifetime, invalidation, locked memory.
check_PROGRAMS += tests/test-secret
TESTS += tests/test-secret
tests_test_secret_SOURCES = tests/test-secret.c tests/th.h
tests_test_secret_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests -I$(top_srcdir)/src/daemon \
	$(LIBSYSTEMD_CFLAGS) $(CHECK_CFLAGS)
tests_test_secret_LDADD = src/daemon/libhook.a src/shared/libshared.a $(LIBSYSTEMD_LIBS) $(CHECK_LIBS)
endif

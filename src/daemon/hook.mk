# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# --- src/daemon/libhook.a: hook programs and secret commands as sd-event
# children (the only part of this fragment that includes sd-event). -----------
noinst_LIBRARIES += src/daemon/libhook.a
src_daemon_libhook_a_SOURCES = src/daemon/hook.c src/daemon/hook.h
src_daemon_libhook_a_CPPFLAGS = $(AM_CPPFLAGS) $(LIBSYSTEMD_CFLAGS)

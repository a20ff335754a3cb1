# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.
#
# Desktop notifications (desktop_notify, src/daemon/desktop.c): test-desktop runs the texts
# always, and with dbus-daemon (Debian package dbus-daemon) the module and the binary against a
# private session bus where tests/notify-sink owns org.freedesktop.Notifications.
if HAVE_CHECK
check_PROGRAMS += tests/notify-sink tests/test-desktop
TESTS += tests/test-desktop
tests_notify_sink_SOURCES = tests/notify-sink.c
tests_notify_sink_CPPFLAGS = $(AM_CPPFLAGS) $(LIBSYSTEMD_CFLAGS)
tests_notify_sink_LDADD = $(LIBSYSTEMD_LIBS)

tests_test_desktop_SOURCES = tests/test-desktop.c src/daemon/desktop.c src/daemon/desktop.h \
	tests/th-daemon.c tests/th-daemon.h tests/th.h tests/fake-imapd.c tests/fake-imapd.h
tests_test_desktop_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/src/daemon $(LIBSYSTEMD_CFLAGS) $(OPENSSL_CFLAGS) \
	-DDAEMON_PATH='"$(abs_top_builddir)/imapidled"' -DHOOK_HELPER='"$(abs_top_builddir)/tests/hook-helper"' \
	-DNOTIFY_SINK='"$(abs_top_builddir)/tests/notify-sink"'
tests_test_desktop_LDADD = src/shared/libshared.a $(LIBSYSTEMD_LIBS) $(CHECK_LIBS) $(OPENSSL_LIBS)
endif

# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.
#
# The daemon's configuration (cfg.[ch], the schema in cfg-table.c): its own
# library, the only code besides the daemon that sees <libconfig.h>
# (docs/HACKING.md).  It uses libimap.a for one thing, the mUTF-7 encoder that
# checks mailbox names; a static archive member is linked only when referenced,
# so no OpenSSL comes with it.
noinst_LIBRARIES += src/daemon/libcfg.a
src_daemon_libcfg_a_SOURCES = \
	src/daemon/cfg.c src/daemon/cfg.h src/daemon/cfg-check.c \
	src/daemon/cfg-table.c src/daemon/cfg-internal.h
src_daemon_libcfg_a_CPPFLAGS = $(AM_CPPFLAGS) $(LIBCONFIG_CFLAGS)
CFG_LIBS = src/daemon/libcfg.a src/imap/libimap.a src/shared/libshared.a $(LIBCONFIG_LIBS)

# The man page and the sample configuration.  The sample goes to $(docdir), not
# $(sysconfdir): it names example.org accounts, so as /etc/imapidled/imapidled.conf
# it would start a daemon that fails to connect, and a 'make install' over an
# existing installation must never replace the admin's file.
dist_man5_MANS = docs/imapidled.conf.5
dist_doc_DATA = conf/imapidled.conf

if HAVE_CHECK
check_PROGRAMS += tests/test-cfg
TESTS += tests/test-cfg
tests_test_cfg_SOURCES = tests/test-cfg.c tests/th.h
tests_test_cfg_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/src/daemon $(LIBCONFIG_CFLAGS) \
	-DTH_SRCDIR='"$(abs_top_srcdir)"'
tests_test_cfg_LDADD = $(CFG_LIBS) $(CHECK_LIBS)
endif

# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# The systemd units and the daemon's man page.  The units are generated here,
# not by AC_CONFIG_FILES, so that @bindir@ follows a prefix given to make.
# The user unit is built as systemd/user/imapidled.service so that it installs
# under that name without an install hook.  The template imapidled@.service
# (one daemon per configuration file, docs/SCALING.md) is the system unit with
# the instance name in the configuration and state paths, so that the two
# never drift apart.
UNIT_FILES = systemd/imapidled.service systemd/imapidled@.service systemd/user/imapidled.service
EXTRA_DIST += systemd/imapidled.service.in systemd/imapidled-user.service.in
CLEANFILES = $(UNIT_FILES)

check_DATA = $(UNIT_FILES)
if INSTALL_SYSTEM_UNIT
systemdsystemunit_DATA = systemd/imapidled.service systemd/imapidled@.service
endif
if INSTALL_USER_UNIT
systemduserunit_DATA = systemd/user/imapidled.service
endif

units_edit = $(SED) -e 's|@bindir[@]|$(bindir)|g'

systemd/imapidled.service: $(srcdir)/systemd/imapidled.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	$(units_edit) $(srcdir)/systemd/imapidled.service.in >$@.tmp && mv -f $@.tmp $@

systemd/imapidled@.service: $(srcdir)/systemd/imapidled.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	$(units_edit) \
		-e 's|^# imapidled as a system service:|# imapidled@NAME: one daemon per /etc/imapidled/NAME.conf, state in /var/lib/imapidled/NAME (docs/SCALING.md); otherwise the same as imapidled.service, which|' \
		-e 's|^Description=.*|& (%i)|' \
		-e 's|-c /etc/imapidled/imapidled.conf|-c /etc/imapidled/%i.conf|' \
		-e 's|^StateDirectory=imapidled$$|StateDirectory=imapidled/%i|' \
		$(srcdir)/systemd/imapidled.service.in >$@.tmp && mv -f $@.tmp $@

systemd/user/imapidled.service: $(srcdir)/systemd/imapidled-user.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	$(units_edit) $(srcdir)/systemd/imapidled-user.service.in >$@.tmp && mv -f $@.tmp $@

# pkg-config's unit directories are absolute; distcheck installs into a
# private prefix and must not write to /lib/systemd.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir=$$dc_install_base/$(systemdsystemunitdir) \
	--with-systemduserunitdir=$$dc_install_base/$(systemduserunitdir)

dist_man8_MANS = docs/imapidled.8

# The units pass systemd-analyze verify, the system unit's exposure is at most
# 2.0, and the man page renders without warnings.
TESTS += tests/test-units.sh
EXTRA_DIST += tests/test-units.sh
AM_TESTS_ENVIRONMENT += bindir='$(bindir)'; export bindir;

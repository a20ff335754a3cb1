# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.

# A private Dovecot per test run (tests/dovecot.sh start|stop DIR).
EXTRA_DIST += tests/dovecot.sh

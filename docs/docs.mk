# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.
#
# The documentation a user of an installed imapidled needs, in $(docdir) beside the
# sample configuration (src/daemon/cfg.mk): what hooks get and when they run, the
# recipes with their files, and the two pages those link to (NOTIFY.md, STATE.md),
# so that no link in the installed copies points nowhere; the man pages point here.
# The recipes keep their layout under $(docdir)/recipes, which RECIPES.md's links
# follow.  tests/test-install.sh checks the installed tree against this list and
# against docs/recipes/.
dist_doc_DATA += LICENSE docs/HOOKS.md docs/EVENTS.md docs/RECIPES.md docs/NOTIFY.md docs/STATE.md

recipesdir = $(docdir)/recipes
dist_recipes_DATA = \
	docs/recipes/mbsync.conf \
	docs/recipes/notmuch.conf \
	docs/recipes/notify-send.conf \
	docs/recipes/gmail.conf \
	docs/recipes/microsoft365.conf \
	docs/recipes/fastmail.conf \
	docs/recipes/icloud.conf
recipes_userdir = $(recipesdir)/systemd-user
dist_recipes_user_DATA = \
	docs/recipes/systemd-user/imapidled-once.service \
	docs/recipes/systemd-user/imapidled-once.timer
recipes_dropindir = $(recipes_userdir)/imapidled.service.d
dist_recipes_dropin_DATA = docs/recipes/systemd-user/imapidled.service.d/graphical-session.conf

# The benchmarks (bench/: docs/PERFORMANCE.md reproduces its figures with them) are
# distributed by bench/bench.mk and the EXTRA_PROGRAMS sources; test-install.sh checks.
EXTRA_DIST += docs/docs.mk

TESTS += tests/test-install.sh
EXTRA_DIST += tests/test-install.sh

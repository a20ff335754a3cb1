# SPDX-License-Identifier: MIT
# Included by Makefile.am; paths relative to the top of the tree.
#
# bash and zsh completion (their directories come from configure.ac).  Both read
# the options from "imapidled --help" at completion time and the account names
# from "imapidled --list-accounts"; tests/test-completion.sh drives them.
if INSTALL_BASH_COMPLETION
dist_bashcompletion_DATA = shell-completion/bash/imapidled
endif
if INSTALL_ZSH_COMPLETION
dist_zshcompletion_DATA = shell-completion/zsh/_imapidled
endif
EXTRA_DIST += shell-completion/completion.mk shell-completion/bash/imapidled shell-completion/zsh/_imapidled

TESTS += tests/test-completion.sh
EXTRA_DIST += tests/test-completion.sh

# pkg-config's bash-completion directory is absolute; distcheck installs into a
# private prefix and must not write to /usr/share.
AM_DISTCHECK_CONFIGURE_FLAGS += \
	--with-bashcompletiondir=$$dc_install_base/$(bashcompletiondir)

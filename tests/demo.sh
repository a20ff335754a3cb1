#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's run command.  For now the daemon answers --version and --help;
# this script grows into the live demo (a private Dovecot, a demo account, a
# hook that fires) as the daemon lands.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sh tests/deps.sh
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure >/dev/null
make -j"$(nproc)" imapidled >/dev/null
./imapidled --version

#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's test command: install what is missing, build in build/, run
# every test with warnings as errors.  Extra arguments go to configure.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sh tests/deps.sh
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
mkdir -p build
cd build
../configure --enable-warnings=fatal "$@" >/dev/null
make -j"$(nproc)" >/dev/null
make -j"$(nproc)" check || { cat test-suite.log 2>/dev/null | tail -n 100; exit 1; }

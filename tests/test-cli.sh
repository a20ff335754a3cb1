#!/bin/sh
# SPDX-License-Identifier: MIT
# The command line: --version and --help succeed and say the right things;
# an unknown option fails.
set -eu
bin="${top_builddir:-.}/imapidled"
fail() { echo "FAIL: $*"; exit 1; }

out=$("$bin" --version) || fail "--version exited $?"
case "$out" in "imapidled "[0-9]*) ;; *) fail "--version printed '$out'";; esac

out=$("$bin" --help) || fail "--help exited $?"
echo "$out" | grep -q "^Usage: imapidled" || fail "--help has no usage line"
echo "$out" | grep -q "not Cyrus IMAP" || fail "--help does not say what it is not"

if "$bin" --no-such-option >/dev/null 2>&1; then fail "unknown option accepted"; fi
if "$bin" stray-argument >/dev/null 2>&1; then fail "stray argument accepted"; fi
echo "1 passed, 0 failed"

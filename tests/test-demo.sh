#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's run command, end to end: a hook fires on the demo message.
set -eu
out=$(IMAPIDLED="$top_builddir/imapidled" DEMO_ONCE=1 sh "$top_srcdir/tests/demo.sh" 2>&1) || {
        echo "$out"; echo "0 passed, 1 failed"; exit 1; }
echo "$out"
echo "$out" | grep -q ">>> demo hook: 1 new message(s) in demo/INBOX" || { echo "0 passed, 1 failed"; exit 1; }
echo "$out" | grep -q "removed" || { echo "0 passed, 1 failed"; exit 1; }
echo "1 passed, 0 failed"

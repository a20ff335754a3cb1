#!/bin/sh
# SPDX-License-Identifier: MIT
# Banned functions: no C file under src/ calls one.  Unbounded copies and
# formats (strcpy, strcat, sprintf, vsprintf, gets), a shell (system, popen),
# conversions that cannot report an error (atoi, atol, atoll: the rule is
# strtol/strtoul with errno and end-pointer checks), and racy temporary names
# (tmpnam, tempnam, mktemp: mkstemp and mkdtemp are fine).  Comments, string
# and character literals are blanked first, so prose may name them.
# A hit fails the test with FILE:LINE and the line.
set -eu
cd "${top_srcdir:-.}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The names; each must be a whole word followed by "(" (a call or a macro use).
banned='strcpy|strcat|sprintf|vsprintf|gets|system|popen|atoi|atol|atoll|tmpnam|tmpnam_r|tempnam|mktemp'

# strip FILE...: print FILE:LINE:TEXT for every line, with comments and
# string/character literals replaced by spaces (line numbers kept).
strip() {
        awk '
        FNR == 1 { st = "code" }
        {
                out = ""; n = length($0); esc = 0
                if (st == "line") st = "code"
                for (i = 1; i <= n; i++) {
                        c = substr($0, i, 1); d = substr($0, i + 1, 1)
                        if (st == "code") {
                                if (c == "/" && d == "*") { st = "block"; out = out "  "; i++; continue }
                                if (c == "/" && d == "/") { st = "line"; out = out " "; continue }
                                if (c == "\"") { st = "str"; out = out c; continue }
                                if (c == "\047") { st = "chr"; out = out c; continue }
                                out = out c
                        } else if (st == "block") {
                                if (c == "*" && d == "/") { st = "code"; out = out "  "; i++; continue }
                                out = out " "
                        } else if (st == "line") {
                                out = out " "
                        } else {        # inside a literal
                                q = (st == "str") ? "\"" : "\047"
                                if (esc) { esc = 0; out = out " "; continue }
                                if (c == "\\") { esc = 1; out = out " "; continue }
                                if (c == q) { st = "code"; out = out c; continue }
                                out = out " "
                        }
                }
                # An unterminated literal ends with its line (or is a continued one).
                if (st == "str" || st == "chr") { if (!esc) st = "code"; esc = 0 }
                print FILENAME ":" FNR ":" out
        }' "$@"
}

# scan FILE...: print the hits, as FILE:LINE: TEXT.
scan() {
        strip "$@" | grep -E "^[^:]*:[0-9]+:.*(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" |
                while IFS=: read -r f l _; do
                        printf '%s:%s: %s\n' "$f" "$l" "$(sed -n "${l}p" "$f" | sed 's/^[[:space:]]*//')"
                done
}

# First, that the scanner finds what it must and ignores what it must: a check
# that cannot fail proves nothing.
cat >"$tmp/bad.c" <<'EOF'
/* strcpy(a, b) in a comment is fine, */
// and so is system("x") here,
static const char *s = "as is atoi(\"1\") in a string";
int f(char *a, const char *b) {
        strcpy(a, b);
        n = atoi (b); /* spaces before the parenthesis */
        return sprintf(a, "%d", 1) + snprintf(a, 1, "x") + (int) strtol(b, NULL, 10);
}
char c = '"'; int g(void) { return system ("true"); } /*
 gets(x) still a comment */ FILE *p = popen("x", "r");
int fd = mkstemp(t); char *t2 = mktemp(t); char *d = mkdtemp(t);
EOF
want="$tmp/bad.c:5:
$tmp/bad.c:6:
$tmp/bad.c:7:
$tmp/bad.c:9:
$tmp/bad.c:10:
$tmp/bad.c:11:"
got=$(scan "$tmp/bad.c" | cut -d: -f1-2 | sed 's/$/:/')
if [ "$got" != "$want" ]; then
        echo "FAIL: the scanner itself: expected hits at"
        echo "$want"
        echo "got"
        echo "$got"
        exit 1
fi

files=$(find src -name '*.[ch]' | sort)
[ -n "$files" ] || { echo "FAIL: no C files under $(pwd)/src"; exit 1; }
# shellcheck disable=SC2086
hits=$(scan $files)
if [ -n "$hits" ]; then
        echo "FAIL: banned functions under src/ (see the comment at the top of tests/test-banned.sh):"
        echo "$hits"
        exit 1
fi
echo "PASS: $(echo "$files" | wc -l) files under src/, none calls $banned"

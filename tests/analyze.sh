#!/bin/sh
# SPDX-License-Identifier: MIT
# The clang static analyzer over every C file under src/; 'make analyze' runs it with the
# build's preprocessor flags.  Usage: analyze.sh CPPFLAGS...  (environment: top_srcdir,
# ANALYZER = the clang to use, ANALYZE_JOBS = files analyzed at once, ANALYZE_VERBOSE=1 to
# list what was set aside).  Exits 1 when any report is left.
#
# One class of report is set aside, each one checked: clang (up to 21 at least) does not model
# __attribute__((cleanup)) (LLVM PR #81834 says so in its documentation), so every _cleanup_
# variable that owns memory at a return looks leaked.  A "Potential leak of memory pointed to
# by 'V'" is set aside only when V is declared with _cleanup_ in the function the report is in
# and the reported line does not assign V.  Every other report counts, including unix.Malloc's
# use-after-free, double free, and leaks of plain pointers.  What this leaves out (a _cleanup_
# pointer overwritten while it owns memory) is caught at run time by LeakSanitizer ('make check'
# under ASan) and valgrind ('make check-valgrind').
set -eu
srcdir=${top_srcdir:-.}
cc=${ANALYZER:-clang}
jobs=${ANALYZE_JOBS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

: >"$tmp/args"
for a; do printf '%s\n' "$a" >>"$tmp/args"; done
find "$srcdir/src" -name '*.c' | sort >"$tmp/files"

# Analyze each file (output to /dev/null: only the diagnostics matter), in parallel.
export cc tmp
# shellcheck disable=SC2016  # expanded by the inner shell
xargs -P "$jobs" -I{} sh -c '
        f=$1; out="$tmp/r-$(echo "$f" | tr / _).log"
        set --; while IFS= read -r a; do set -- "$@" "$a"; done <"$tmp/args"
        "$cc" --analyze -Xanalyzer -analyzer-output=text "$@" -o /dev/null "$f" >"$out" 2>&1 ||
                echo "$f: the analyzer failed" >>"$out"' sh {} <"$tmp/files"
cat "$tmp"/*.log | grep -E ': (warning|error): |: the analyzer failed' | sort -u >"$tmp/reports" || true

# is_cleanup_leak FILE LINE VAR: the report is about a _cleanup_ variable of its function.
is_cleanup_leak() {
        awk -v line="$2" -v var="$3" '
        # A function definition starts at column 0 ("int f(...) {"); remember where the last began.
        NR <= line && /^[A-Za-z_].*\(/ && !/;[[:space:]]*$/ { start = NR; found = 0 }
        NR <= line && start && /_cleanup_/ {
                s = $0; gsub(/[^A-Za-z0-9_]/, " ", s)
                n = split(s, w, " ")
                for (i = 1; i <= n; i++) if (w[i] == var) found = 1
        }
        NR == line {
                assign = 0
                s = $0
                while ((p = index(s, var)) > 0) {
                        before = p > 1 ? substr(s, p - 1, 1) : " "
                        rest = substr(s, p + length(var))
                        if (before !~ /[A-Za-z0-9_.>]/ && rest ~ /^[[:space:]]*=[^=]/) assign = 1
                        s = rest
                }
                exit !(found && !assign)
        }' "$1"
}

: >"$tmp/left"
: >"$tmp/aside"
while IFS= read -r rep; do
        case "$rep" in
        *": warning: Potential leak of memory pointed to by '"*"' [unix.Malloc]")
                file=${rep%%:*}; rest=${rep#*:}; line=${rest%%:*}
                var=${rep#*pointed to by \'}; var=${var%%\'*}
                if is_cleanup_leak "$file" "$line" "$var"; then
                        echo "$rep" >>"$tmp/aside"
                        continue
                fi;;
        esac
        echo "$rep" >>"$tmp/left"
done <"$tmp/reports"

nfiles=$(wc -l <"$tmp/files")
naside=$(wc -l <"$tmp/aside")
nleft=$(wc -l <"$tmp/left")
if [ "${ANALYZE_VERBOSE:-0}" = 1 ] && [ "$naside" -gt 0 ]; then
        echo "Set aside, leaks of _cleanup_ variables (see the top of tests/analyze.sh):"
        cat "$tmp/aside"
fi
if [ "$nleft" -gt 0 ]; then
        echo "clang --analyze: $nleft report(s) in $nfiles files under src/ ($naside leak(s) of _cleanup_ variables set aside):"
        cat "$tmp/left"
        echo "The paths: $cc --analyze -Xanalyzer -analyzer-output=text with the same flags on the file."
        exit 1
fi
echo "clang --analyze: 0 reports in $nfiles files under src/ ($naside leak(s) of _cleanup_ variables set aside)"

#!/bin/sh
# SPDX-License-Identifier: MIT
# Packaging: "make install DESTDIR=..." puts the binary, both man pages, the
# documentation the man pages point to (docs/docs.mk: HOOKS.md, EVENTS.md,
# RECIPES.md, the pages they link to, every file of docs/recipes, the sample
# configuration, LICENSE), the shell completion and the units where configure
# said, every relative link of the installed documents resolves inside the
# installed tree, and "make uninstall" takes it all away again; "make distdir"
# holds LICENSE, docs/PERFORMANCE.md, every file of bench/, the completion and
# the recipes; both man pages carry the version of configure.ac (imapidled
# --version) and the same date; the README's first configuration is at most ten
# lines and loads.  Runs make in the build directory; needs no root.
set -eu
srcdir="${top_srcdir:-.}"
builddir="${top_builddir:-.}"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() {
        echo "$passed passed, $failed failed"
        [ "$failed" -eq 0 ] && exit 0
        exit 1
}
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
# A make of our own, not a job of the "make check" that runs this test.
unset MAKEFLAGS MFLAGS MAKELEVEL
mk() { ${MAKE:-make} -s -C "$builddir" "$@"; }

version=$("$builddir/imapidled" --version | sed -n 's/^imapidled //p')
[ -n "$version" ] && ok "imapidled --version: $version" || bad "imapidled --version printed no version"

# --- the man pages: one version, one date -----------------------------------------------
# .TH TITLE SECTION DATE SOURCE MANUAL: SOURCE is "imapidled VERSION" in both.
th() { sed -n 's/^\.TH  *[^ ]*  *[0-9]  *\("[^"]*"\|[^ ]*\)  *"\([^"]*\)".*/\1|\2/p' "$1" | tr -d '"'; }
th8=$(th "$srcdir/docs/imapidled.8")
th5=$(th "$srcdir/docs/imapidled.conf.5")
[ "${th8#*|}" = "imapidled $version" ] && ok "imapidled.8 is for imapidled $version" ||
        bad "imapidled.8's .TH names '${th8#*|}', not 'imapidled $version'"
[ "${th5#*|}" = "imapidled $version" ] && ok "imapidled.conf.5 is for imapidled $version" ||
        bad "imapidled.conf.5's .TH names '${th5#*|}', not 'imapidled $version'"
[ -n "${th8%%|*}" ] && [ "${th8%%|*}" = "${th5%%|*}" ] && ok "both man pages are dated ${th8%%|*}" ||
        bad "the man pages' dates differ: '${th8%%|*}' and '${th5%%|*}'"

# --- README's first configuration: ten lines that load -------------------------------------
sed -n '/^```conf$/,/^```$/p' "$srcdir/README.md" | sed '1d;$d' >"$tmp/readme.conf"
lines=$(wc -l <"$tmp/readme.conf")
[ "$lines" -ge 5 ] && [ "$lines" -le 10 ] && ok "README's first configuration has $lines lines" ||
        bad "README's first configuration has $lines lines, not 5 to 10"
# --list-accounts loads it as the daemon does, without needing its programs installed.
out=$("$builddir/imapidled" -c "$tmp/readme.conf" --list-accounts 2>&1) && [ -n "$out" ] &&
        ok "README's first configuration loads (accounts: $out)" || bad "README's first configuration: $out"

# --- make install ------------------------------------------------------------------------
root="$tmp/root"
if out=$(mk install DESTDIR="$root" 2>&1); then
        ok "make install DESTDIR=..."
else
        bad "make install failed:"
        printf '%s\n' "$out"
        finish
fi
# Where configure put things; make expands the variables.
dir_of() { mk -f Makefile -f - print-dir <<MK 2>/dev/null
print-dir: ; @echo \$($1)
MK
}
bindir=$(dir_of bindir)
mandir=$(dir_of mandir)
docdir=$(dir_of docdir)
bashdir=$(dir_of bashcompletiondir)
zshdir=$(dir_of zshcompletiondir)
unitdir=$(dir_of systemdsystemunitdir)
for v in bindir mandir docdir bashdir zshdir unitdir; do
        eval "d=\$$v"
        case $d in /*) ;; *) bad "$v is '$d', not an absolute directory"; finish ;; esac
done

[ -x "$root$bindir/imapidled" ] && "$root$bindir/imapidled" --version >/dev/null &&
        ok "$bindir/imapidled runs" || bad "$bindir/imapidled missing or broken"
for m in man8/imapidled.8 man5/imapidled.conf.5; do
        [ -f "$root$mandir/$m" ] && ok "$mandir/$m" || bad "$mandir/$m not installed"
done
for f in HOOKS.md EVENTS.md RECIPES.md NOTIFY.md STATE.md LICENSE imapidled.conf; do
        [ -f "$root$docdir/$f" ] && ok "$docdir/$f" || bad "$docdir/$f not installed"
done
cmp -s "$srcdir/LICENSE" "$root$docdir/LICENSE" && grep -q '^MIT License$' "$root$docdir/LICENSE" &&
        grep -q 'imapidled contributors' "$root$docdir/LICENSE" && ok "LICENSE is the MIT text, imapidled contributors" ||
        bad "LICENSE is not the MIT text of the imapidled contributors"

# Every file of docs/recipes, at the same place under $docdir/recipes, unchanged: a recipe
# added to the tree but not to docs/docs.mk fails here.
n=0
for f in $(cd "$srcdir/docs/recipes" && find . -type f | sort); do
        n=$((n + 1))
        cmp -s "$srcdir/docs/recipes/$f" "$root$docdir/recipes/$f" || bad "recipes/${f#./} not installed as in the tree"
done
extra=$(cd "$root$docdir/recipes" && find . -type f | sort | while read -r f; do
        [ -f "$srcdir/docs/recipes/$f" ] || echo "$f"; done)
[ -z "$extra" ] || bad "installed recipes that are not in the tree: $extra"
[ "$n" -ge 10 ] && ok "$n recipe files installed under $docdir/recipes" || bad "only $n recipe files in docs/recipes"

# Relative links of the installed Markdown resolve inside the installed tree.
broken=""
for md in "$root$docdir"/*.md; do
        for l in $(grep -o '](\([^)#]*\)' "$md" | sed 's/^](//'); do
                case $l in *://*) continue ;; esac
                [ -e "$root$docdir/$l" ] || broken="$broken $(basename "$md"):$l"
        done
done
[ -z "$broken" ] && ok "every relative link of the installed documents resolves" || bad "dangling links:$broken"

# The man pages point to the documentation that is installed.
unpointed=""
for f in HOOKS.md EVENTS.md RECIPES.md recipes/; do
        grep -q "$f" "$root$mandir/man8/imapidled.8" "$root$mandir/man5/imapidled.conf.5" ||
                unpointed="$unpointed $f"
done
[ -z "$unpointed" ] && ok "the man pages point to HOOKS.md, EVENTS.md, RECIPES.md and recipes/" ||
        bad "no man page points to:$unpointed"

[ -f "$root$bashdir/imapidled" ] && ok "bash completion in $bashdir" || bad "no bash completion in $bashdir"
[ -f "$root$zshdir/_imapidled" ] && ok "zsh completion in $zshdir" || bad "no zsh completion in $zshdir"
[ -f "$root$unitdir/imapidled.service" ] && ok "system unit in $unitdir" || bad "no system unit in $unitdir"

# --- make uninstall ----------------------------------------------------------------------
if out=$(mk uninstall DESTDIR="$root" 2>&1); then
        left=$(find "$root" -type f)
        [ -z "$left" ] && ok "make uninstall removes every file" || bad "left after make uninstall: $left"
else
        bad "make uninstall failed:"
        printf '%s\n' "$out"
fi

# --- make distdir --------------------------------------------------------------------------
dist="$tmp/dist/imapidled-$version"
mkdir "$tmp/dist"
if out=$(mk distdir distdir="$dist" 2>&1); then
        ok "make distdir"
        for f in LICENSE docs/PERFORMANCE.md shell-completion/bash/imapidled shell-completion/zsh/_imapidled \
                docs/imapidled.8 docs/imapidled.conf.5; do
                [ -f "$dist/$f" ] || bad "$f not in the distribution"
        done
        missing=""
        for d in bench docs/recipes; do
                for f in $(cd "$srcdir" && find "$d" -type f | sort); do
                        [ -f "$dist/$f" ] || missing="$missing $f"
                done
        done
        [ -z "$missing" ] && ok "the distribution holds LICENSE, PERFORMANCE.md, bench/, the completion and the recipes" ||
                bad "not in the distribution:$missing"
else
        bad "make distdir failed:"
        printf '%s\n' "$out"
fi
finish

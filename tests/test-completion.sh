#!/bin/sh
# SPDX-License-Identifier: MIT
# The shell completion (shell-completion/): bash's function, sourced and called
# with COMP_WORDS as bash would, completes every option of --help, the account
# names of the configuration given with -c/--config (through --list-accounts),
# file names after -c and the log levels; it offers no account of another
# configuration.  zsh's is driven in an interactive zsh on a pseudo-terminal and
# completes the same; where zsh is not installed that part says SKIP.
set -eu
srcdir="${top_srcdir:-.}"
builddir=$(cd "${top_builddir:-.}" && pwd)
passed=0
failed=0
skipped=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v bash >/dev/null || { echo "SKIP: no bash"; exit 77; }

# Two configurations with different accounts; a name with a dot and one with a dash.
cat >"$tmp/a.conf" <<'CONF'
accounts = ( { name = "work"; tunnel = ["t"]; }, { name = "web.mail"; tunnel = ["t"]; },
             { name = "home-2"; tunnel = ["t"]; } );
CONF
cat >"$tmp/other.conf" <<'CONF'
accounts = ( { name = "elsewhere"; tunnel = ["t"]; } );
CONF

# complete WORD...: the completions bash would offer for the command line WORD... (the last
# word is the one being completed), one a line, sorted.
complete_bash() {
        PATH="$builddir:$PATH" bash -c '
                . "$0/shell-completion/bash/imapidled"
                COMP_WORDS=("$@")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMP_LINE="$*"
                COMP_POINT=${#COMP_LINE}
                COMPREPLY=()
                _imapidled
                [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}" | sort' "$srcdir" imapidled "$@"
}
expect() {  # what: the expected lines (sorted), then the words
        what=$1 want=$2
        shift 2
        got=$(complete_bash "$@")
        [ "$got" = "$want" ] && ok "bash: $what" || bad "bash: $what: got '$(echo $got)', want '$(echo $want)'"
}

PATH="$builddir:$PATH" bash -c '. "$0/shell-completion/bash/imapidled"; complete -p imapidled' "$srcdir" \
        | grep -q -- '-F _imapidled imapidled$' && ok "bash: registered for imapidled" || bad "bash: not registered"

# Every long option of --help, and nothing else.
opts=$("$builddir/imapidled" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
[ "$(echo "$opts" | wc -l)" -ge 8 ] || bad "--help lists only: $opts"
expect "all long options of --help after --" "$opts" --
expect "options by prefix" "$(printf -- '--list-accounts\n--list-mailboxes')" --list
# Account names: from the configuration of -c, in each spelling of it.
accounts=$(printf 'home-2\nweb.mail\nwork')
expect "accounts after -c FILE --list-mailboxes" "$accounts" -c "$tmp/a.conf" --list-mailboxes ""
expect "accounts after --config FILE" "$accounts" --config "$tmp/a.conf" --list-mailboxes ""
expect "accounts after -cFILE" "$accounts" "-c$tmp/a.conf" --list-mailboxes ""
expect "accounts after --config=FILE (split at =)" "$accounts" --config = "$tmp/a.conf" --list-mailboxes ""
expect "accounts after --list-mailboxes= (split at =)" "$accounts" -c "$tmp/a.conf" --list-mailboxes = ""
expect "accounts by prefix" "$(printf 'web.mail\nwork')" -c "$tmp/a.conf" --list-mailboxes w
expect "the accounts of the file named, not another's" "elsewhere" -c "$tmp/other.conf" --list-mailboxes ""
HOME=$tmp
export HOME
expect "accounts after -c ~/FILE" "$accounts" -c "~/a.conf" --list-mailboxes ""
# A configuration that does not load: nothing, and no error on the terminal.
printf 'accounts = (\n' >"$tmp/broken.conf"
expect "nothing from a broken configuration" "" -c "$tmp/broken.conf" --list-mailboxes ""
expect "files after -c" "$tmp/a.conf" -c "$tmp/a."
expect "files after --config" "$tmp/other.conf" --config "$tmp/oth"
expect "log levels" "$(printf 'warning')" --log-level w
# With "=" taken out of COMP_WORDBREAKS the word is "--opt=value", and stays so.
expect "--log-level=w as one word" "--log-level=warning" --log-level=w
expect "--list-mailboxes=w as one word" "$(printf -- '--list-mailboxes=web.mail\n--list-mailboxes=work')" \
        -c "$tmp/a.conf" --list-mailboxes=w
expect "all log levels" "$(printf 'alert\ncrit\ndebug\nemerg\nerr\ninfo\nnotice\nwarning')" --log-level ""
expect "nothing for a word that is neither an option nor a verb" "" x
expect "every option, short ones too, and the verb for an empty word" "$(printf '%s\n' $opts -c -h -v status | sort)" ""
expect "the verb by prefix" "status" st
expect "no second verb" "" status st

# --- zsh ---------------------------------------------------------------------------------
# zsh's completion runs only inside the line editor of an interactive shell: complete_zsh
# starts one on a pseudo-terminal (zsh/zpty), types the words and a key bound to a widget that
# completes the last word, and prints what compadd offered (each call's matches, through a
# compadd function that records them and hands on to the builtin), one a line, sorted.  The
# widget marks the end in a file the driver waits for.
cat >"$tmp/drive.zsh" <<'ZSH'
src=$1 dir=$2; shift 2
zmodload zsh/zpty || exit 77
out=$dir/cands
rm -f $out $out.done
zpty z zsh -f -i
zpty -w z "PS1='> '; unsetopt beep; fpath=(${(q)src}/shell-completion/zsh \$fpath)"
zpty -w z "autoload -Uz compinit; compinit -u -d ${(q)dir}/zcompdump"
zpty -w z "compadd() { if (( \${@[(I)-[OAD]*]} )); then builtin compadd \"\$@\"; return; fi;" \
        "local -a m; builtin compadd -O m \"\$@\"; (( \$#m )) && print -rl -- \$m >> ${(q)out};" \
        "builtin compadd \"\$@\"; }"
zpty -w z "t_done() { zle complete-word; : >> ${(q)out}.done; BUFFER=''; }; zle -N t_done; bindkey '^T' t_done"
zpty -w -n z "$*"$'\x14'
for i in {1..600}; do [[ -e $out.done ]] && break; sleep 0.05; done
zpty -d z
[[ -e $out.done ]] || { print -u2 "no completion after 30 s"; exit 1; }
[[ -e $out ]] && sort -u $out
exit 0
ZSH
expect_zsh() {  # what, the expected lines (sorted), then the command line (its last word completed)
        what=$1 want=$2
        shift 2
        got=$(PATH="$builddir:$PATH" zsh -f "$tmp/drive.zsh" "$srcdir" "$tmp" "imapidled $*" 2>&1) || true
        [ "$got" = "$want" ] && ok "zsh: $what" || bad "zsh: $what: got '$(echo $got)', want '$(echo $want)'"
}
if command -v zsh >/dev/null && zsh -f -c 'zmodload zsh/zpty' 2>/dev/null; then
        zsh -n "$srcdir/shell-completion/zsh/_imapidled" && ok "zsh: _imapidled parses" || bad "zsh: _imapidled does not parse"
        expect_zsh "all long options of --help after --" "$opts" --
        expect_zsh "options by prefix" "$(printf -- '--list-accounts\n--list-mailboxes')" --list
        expect_zsh "accounts after -c FILE --list-mailboxes" "$accounts" -c "$tmp/a.conf" --list-mailboxes ""
        expect_zsh "accounts after --config=FILE --trace=" "$accounts" "--config=$tmp/a.conf" --trace=
        expect_zsh "accounts after -cFILE" "$accounts" "-c$tmp/a.conf" --list-mailboxes ""
        expect_zsh "accounts by prefix" "$(printf 'web.mail\nwork')" -c "$tmp/a.conf" --trace w
        expect_zsh "the accounts of the file named, not another's" "elsewhere" -c "$tmp/other.conf" --trace ""
        expect_zsh "accounts after -c ~/FILE" "$accounts" -c "~/a.conf" --list-mailboxes ""
        expect_zsh "nothing from a broken configuration" "" -c "$tmp/broken.conf" --list-mailboxes ""
        expect_zsh "files after -c" "a.conf" -c "$tmp/a."
        expect_zsh "log levels" "warning" --log-level w
        expect_zsh "--log-level=w as one word" "warning" --log-level=w
        expect_zsh "the verb by prefix" "status" st
        expect_zsh "the verb after options" "status" -c "$tmp/a.conf" st
        expect_zsh "no second verb" "" status st
        expect_zsh "options after the verb" "--json" status --j
else
        skipped=$((skipped + 1))
        echo "SKIP: zsh (with its zpty module) is not installed: its completion is not tested"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages imapidled needs to build, test and demo, if any
# are missing.  Runs apt-get as root, or through sudo for other users.
#
#   sh tests/deps.sh            # install what is missing
#   sh tests/deps.sh --check    # only say: exit 0 when nothing is missing, else
#                               # 1 with the missing names; never calls apt
set -eu

pkgs="build-essential autoconf automake pkg-config libssl-dev libconfig-dev libsystemd-dev check
      dovecot-imapd openssl clang locales systemd iproute2 dbus-daemon zsh"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "${1:-}" = --check ]; then
  echo "deps.sh: missing:$missing" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "Installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null

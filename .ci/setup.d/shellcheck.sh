#!/usr/bin/env bash
# Installs the shellcheck linter (Debian package) for the deploy script tests, which fail under CI without it.
set -euo pipefail
if command -v shellcheck >/dev/null 2>&1; then
  echo "shellcheck present: $(shellcheck --version | sed -n 2p)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends shellcheck >/dev/null
shellcheck --version | sed -n 2p

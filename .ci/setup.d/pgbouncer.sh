#!/usr/bin/env bash
# Debian's pgbouncer for the database tests' second pass through a transaction-mode pooler
# (`make test-pgbouncer`, tests/support/pgbouncer.py starts it on a free port). Installs only when missing;
# the Debian package does not start a server without systemd, and the tests start their own anyway.
set -euo pipefail
PGBOUNCER="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
if [ -x "$PGBOUNCER" ]; then
  echo "pgbouncer present: $("$PGBOUNCER" --version | head -n1)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "pgbouncer missing and not root: install Debian's pgbouncer package (apt-get install pgbouncer)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends pgbouncer >/dev/null
# Where an init system runs, the package may start its own server on 6432; the tests need only the binary.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet pgbouncer 2>/dev/null; then
  systemctl stop pgbouncer || true
fi
/usr/sbin/pgbouncer --version | head -n1

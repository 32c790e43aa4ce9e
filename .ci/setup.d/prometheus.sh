#!/usr/bin/env bash
# promtool (Debian's prometheus package) for tests/unit/test_prometheus_rules.py, which fails under CI
# without it. Installs only when missing; run by .ci/run before `make test`.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
  echo "promtool present: $(promtool --version 2>&1 | head -n1)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "promtool missing and not root: install Debian's prometheus package (apt-get install prometheus)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
# --no-install-recommends: promtool ships in the server package; its recommends are not needed.
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends prometheus >/dev/null
# The package may start a Prometheus server where an init system runs; the tests need only promtool.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi
promtool --version 2>&1 | head -n1

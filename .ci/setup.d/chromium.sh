#!/usr/bin/env bash
# The browser acceptance test (tests/acceptance/test_browser.py) drives Debian's chromium through
# Playwright's executable_path (never `playwright install`, which downloads a browser build). Install it
# when missing; the test is mandatory in CI (CI is set there), so a failed install fails the run.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version

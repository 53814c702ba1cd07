#!/usr/bin/env bash
# Installs Debian's chromium for the SMART app browser test (test/e2e/auth-smart-app.test.ts) when it is missing.
# Only as root with apt-get (CI, fresh dev machines); otherwise it says what is missing and leaves it to the test
# to skip. Idempotent: a machine that has /usr/bin/chromium is left alone.
set -u
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM is missing and this is not root with apt-get; install Debian's chromium to run the browser test" >&2
  exit 0
fi
echo "ensure-chromium: installing chromium (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 && apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium >/dev/null
if [ -x "$CHROMIUM" ]; then exit 0; fi
# the browser test then fails with a clear message; the rest of the suite still runs
echo "ensure-chromium: installing chromium failed" >&2
exit 0

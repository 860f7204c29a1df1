#!/bin/sh
# Installs what the browser tests drive: Debian's Chromium and its
# chromedriver, from the same release (they must match, so they are always
# installed together). Does nothing when both are already there.
#
#   sh .ci/install_browser.sh
#
# Used by .ci/run and the GitLab `test` job; needs root (apt-get).
set -eu

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "browser: $(/usr/bin/chromium --version 2>/dev/null), $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "browser: $(/usr/bin/chromium --version 2>/dev/null), $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"

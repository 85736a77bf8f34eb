#!/usr/bin/env bash
# The whole test suite, as README.md documents it: the API tests, and the browser tests in a
# real headless Chromium. Debian's chromium and chromium-driver are installed when missing
# (as root, or with sudo); without them the browser tests fail and say what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "tests/run.sh: installing chromium and chromium-driver for the browser tests" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium chromium-driver; } \
    >/dev/null; then
    echo "tests/run.sh: could not install them; run: apt-get install chromium chromium-driver" >&2
  fi
fi

cargo test "$@"

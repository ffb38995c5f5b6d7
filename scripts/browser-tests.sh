#!/usr/bin/env bash
# The operator console in a real browser: headless Chromium (Debian's chromium and
# chromium-driver, installed when missing) driven by selenium (PyPI, in .venv-browser/) against a
# real nanopayd on 127.0.0.1. Uses the debug build made by scripts/test.sh. Nothing is downloaded
# at test time; full-page screenshots of every test land in .build/browser-tests/.
# usage: scripts/browser-tests.sh [BUILD_DIR] [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(pwd)/${1:-.build/debug}
shift || true
bash scripts/apt-ensure.sh chromium chromium-driver python3-venv
venv=.venv-browser
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c "import selenium, nacl" 2>/dev/null; then
  python3 -m venv "$venv"
  # selenium 4.45.0: newer releases need a certifi the package registry may not have.
  "$venv/bin/pip" install --quiet "selenium==4.45.0" "pytest==8.3.5" "pynacl==1.6.2"
fi
export NANOPAYD="$bin/nanopayd"
export NANOPAY_BROWSER_OUT=${NANOPAY_BROWSER_OUT:-$(pwd)/.build/browser-tests}
rm -rf "$NANOPAY_BROWSER_OUT"
"$venv/bin/pytest" -q -p no:cacheprovider browser-tests "$@"
echo "browser tests: passed (screenshots in $NANOPAY_BROWSER_OUT)"

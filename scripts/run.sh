#!/usr/bin/env bash
# Runs nanopayd on its embedded default (./data, 127.0.0.1:4030). Extra arguments go to nanopayd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product nanopayd
exec .build/release/nanopayd "$@"

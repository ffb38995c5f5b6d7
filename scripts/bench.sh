#!/usr/bin/env bash
# Builds nanopayd and the benchmark in release mode and runs it. Options go to nanopay-bench
# (--accounts, --spent-nonces, --duration, --concurrency, --rate, --json; see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product nanopayd
swift build -c release --product nanopay-bench
# The gateway phase needs nanopay-gateway; `--gateway PATH` names one already built.
case " $* " in *" --gateway "*) ;; *) swift build -c release --product nanopay-gateway ;; esac
exec .build/release/nanopay-bench "$@"

#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs what it needs, builds, runs the Swift test
# suite (unit, ledger, seeded simulation against a reference model, storage faults, SIGKILL crash
# cycles on the real nanopayd, live-HTTP and attestation-vector tests), then checks the live
# server against openapi.yaml with schemathesis, runs the x402 interop suite (official SDK,
# conformance), drives the operator console in headless Chromium, and runs every libFuzzer
# target for a bounded time. The ledger's semantic and live-HTTP contract tests run against both
# engines: a throwaway PostgreSQL cluster (Debian's `postgresql`, installed if missing; a missing
# PostgreSQL fails the run) is started on a free 127.0.0.1 port and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
pg=$(mktemp -d /tmp/nanopay-test-pg.XXXXXX)
trap 'bash scripts/postgres-cluster.sh stop "$pg"; rm -rf "$pg"' EXIT
NANOPAY_TEST_DATABASE_URL=$(bash scripts/postgres-cluster.sh start "$pg")
export NANOPAY_TEST_DATABASE_URL
swift build --build-tests
swift test --skip-build
bash scripts/conformance.sh
bash scripts/interop.sh
# The operator console in headless Chromium against a real nanopayd.
bash scripts/browser-tests.sh
# A short release-mode benchmark as a smoke test: it fails on any non-200 answer or if the
# ledger's totals differ from what was paid (this caught a release-only crash in /verify/batch).
bash scripts/bench.sh --duration 1 --rate 500 --concurrency 16 --gateway .build/debug/nanopay-gateway
# The same over two replicas on the throwaway PostgreSQL (the ledger's totals and invariants checked).
bash scripts/bench.sh --duration 1 --rate 300 --concurrency 16 --gateway .build/debug/nanopay-gateway \
  --database-url "$NANOPAY_TEST_DATABASE_URL" --replicas 2
# Every decoder that sees outside bytes, fuzzed for FUZZ_SECONDS each (AddressSanitizer on).
FUZZ_SECONDS=${FUZZ_SECONDS:-15} bash scripts/fuzz.sh

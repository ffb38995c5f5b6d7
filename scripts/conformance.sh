#!/usr/bin/env bash
# Runs schemathesis (PyPI) against a live nanopayd on 127.0.0.1 so openapi.yaml cannot drift from
# the server: every answer must have a documented status, content type and body schema, and no
# input may produce a 5xx. Uses the debug build made by scripts/test.sh.
# usage: scripts/conformance.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug}
venv=.venv-test
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
token=conformance-token
NANOPAY_OPERATOR_TOKEN=$token NANOPAY_PLATFORM_SECRET=$(printf '42%.0s' {1..32}) \
  "$bin/nanopayd" --data-dir "$work/data" --port "$port" > "$work/nanopayd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
"$venv/bin/schemathesis" run openapi.yaml --url "http://127.0.0.1:$port" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "${CONFORMANCE_EXAMPLES:-25}" --generation-deterministic --suppress-health-check all

if grep -q "crashed" "$work/nanopayd.log"; then echo "nanopayd crashed during conformance run"; exit 1; fi
echo "conformance: passed"

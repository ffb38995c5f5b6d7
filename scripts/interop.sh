#!/usr/bin/env bash
# x402 interoperability, end to end on 127.0.0.1 with the official SDK (x402==2.25.0, PyPI):
#  1. the SDK's x402HttpxClient, with a ton-nanopay scheme plug-in (PyNaCl), pays the example seller;
#  2. an SDK FastAPI resource server using nanopayd's /x402 facilitator API accepts a payment
#     made by our Swift client (`nanopay pay`);
#  3. x402-conformance: `x402conf live` on the facilitator and `x402conf resource` on a paid route;
#  4. the x402_mock access-token flow with `requests` on the example seller's ticket-mode route;
#  5. nanopay-gateway in front of a Python upstream that checks seed 004's HMAC: the SDK client and
#     our Swift client both pay through it.
# Uses the debug build made by scripts/test.sh. Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(pwd)/${1:-.build/debug}
venv=.venv-interop
if [ ! -x "$venv/bin/x402conf" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "x402==2.25.0" "x402-conformance==1.6.0" pynacl httpx fastapi uvicorn cryptography requests
fi
"$venv/bin/python" -c "import requests" 2>/dev/null || "$venv/bin/pip" install --quiet requests
py=$(pwd)/$venv/bin/python
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1"; return 1; }
fail() { echo "INTEROP FAILED: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }

service_port=$(free_port); seller_port=$(free_port); sdk_port=$(free_port)
token=interop-token
XDG_CONFIG_HOME=$work/config NANOPAY_OPERATOR_TOKEN=$token "$bin/nanopayd" --data-dir "$work/data" --port "$service_port" > "$work/nanopayd.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$service_port/health"
service=http://127.0.0.1:$service_port
seller_address=0:$(printf '5e%.0s' {1..32})

# Two buyers: one for the Python SDK client, one for our Swift client.
py_seed=$(printf '0a%.0s' {1..32}); py_address=0:$(printf 'a1%.0s' {1..32})
py_key=$("$py" -c "from nacl.signing import SigningKey; print(bytes(SigningKey(bytes.fromhex('$py_seed')).verify_key).hex())")
curl -sf -XPOST -H "Authorization: Bearer $token" "$service/deposits" \
  -d "{\"address\":\"$py_address\",\"amount\":\"10000\",\"publicKey\":\"$py_key\",\"reference\":\"interop-py\"}" > /dev/null
swift_address=0:$(printf 'a2%.0s' {1..32})
swift_key=$("$bin/nanopay" keygen --out "$work/swift-buyer.key")
"$bin/nanopay" deposit --url "$service" --token "$token" --address "$swift_address" --amount 10000 --public-key "$swift_key" --reference interop-swift > /dev/null

root=$("$bin/nanopay" attest root --data-dir "$work/data")
enclave_key=$(curl -sf "$service/health" | "$py" -c "import json,sys; print(json.load(sys.stdin)['enclavePublicKey'])")
"$bin/nanopay-example-seller" --port "$seller_port" --service-url "$service" --pay-to "$seller_address" --root "$root" --allow-software \
  > "$work/seller.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$seller_port/status"

echo "== 1. official SDK client pays the example seller"
"$py" interop/sdk_client_pays.py "http://127.0.0.1:$seller_port/api/premium" "$py_seed" "$py_address" "$enclave_key" || fail "SDK client could not pay the example seller"

echo "== 2. SDK FastAPI resource server with nanopayd as facilitator; our Swift client pays it"
"$py" interop/sdk_resource_server.py "$sdk_port" "$service/x402" "$seller_address" > "$work/sdk-server.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$sdk_port/free"
out=$("$bin/nanopay" pay "http://127.0.0.1:$sdk_port/paid" --key "$work/swift-buyer.key" --from "$swift_address" --max-amount 2000 --enclave-key "$enclave_key") \
  || fail "Swift client could not pay the SDK resource server: $out"
echo "$out"
echo "$out" | grep -q "verified (pinned key)" || fail "receipt from the SDK server did not verify"

echo "== 3. x402-conformance"
"$venv/bin/x402conf" live --fail-on-error "$service/x402" > "$work/conf-live.json" || fail "x402conf live"
"$venv/bin/x402conf" resource --fail-on-error "http://127.0.0.1:$seller_port/api/premium" > "$work/conf-resource.json" || fail "x402conf resource"

echo "== 4. x402_mock access-token flow (requests) on a ticket-mode route"
"$py" interop/access_token_flow.py "http://127.0.0.1:$seller_port/api/report/monday" "$py_seed" "$py_address" 5 \
  || fail "the access-token flow did not pay once and call five times"

echo "== 5. the SDK client and our Swift client pay through nanopay-gateway"
upstream_log=$work/upstream.log
"$py" -u scripts/gateway-test-upstream.py --hmac-secret interop-hmac-secret-0123456789 --plain-secret interop-plain-secret-0123456 \
  --signed-secrets interop-signed-secret-0123456 > "$upstream_log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q PORT "$upstream_log" && break; sleep 0.1; done
upstream_port=$(awk '/PORT/ {print $2}' "$upstream_log")
gateway_port=$(free_port)
cat > "$work/gateway.yaml" <<YAML
listen: {host: 127.0.0.1, port: $gateway_port}
service: {url: "$service", gatewayTokenFile: data/gateway.token, pinnedRoot: "$root", allowSoftwareAttestation: true}
payTo: "$seller_address"
upstreams:
  api: {baseURL: "http://127.0.0.1:$upstream_port", auth: {mode: hmac, secrets: [interop-hmac-secret-0123456789]}}
routes:
  - {method: GET, path: /hmac/echo, upstream: api, price: "1000", description: "Echo behind seed 004's HMAC"}
YAML
"$bin/nanopay-gateway" --config "$work/gateway.yaml" > "$work/gateway.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$gateway_port/.well-known/x402"
"$py" interop/sdk_client_pays.py "http://127.0.0.1:$gateway_port/hmac/echo" "$py_seed" "$py_address" "$enclave_key" \
  || fail "SDK client could not pay through the gateway"
out=$("$bin/nanopay" pay "http://127.0.0.1:$gateway_port/hmac/echo" --key "$work/swift-buyer.key" --from "$swift_address" --max-amount 2000 --enclave-key "$enclave_key") \
  || fail "Swift client could not pay through the gateway: $out"
echo "$out" | grep -q "verified (pinned key)" || fail "receipt through the gateway did not verify: $out"
"$venv/bin/x402conf" resource --fail-on-error "http://127.0.0.1:$gateway_port/hmac/echo" > "$work/conf-gateway.json" || fail "x402conf resource on the gateway"

echo "== ledger after interop"
curl -sf "$service/balance/$py_address"; echo
curl -sf "$service/balance/$swift_address"; echo
curl -sf "$service/balance/$seller_address" | "$py" -c "import json,sys; b=json.load(sys.stdin); print(b); assert b['totalReceived']=='6000', 'seller should have received 1000 + 1000 + one 2000 ticket + 2 x 1000 through the gateway'"
echo "interop: passed"

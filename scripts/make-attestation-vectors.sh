#!/usr/bin/env bash
# Regenerates attestation/vectors/ from a real nanopayd run with the published test platform
# secret 42..42: a quote for nonce 5a..5a and a receipt for a 1000000-unit payment.
# usage: scripts/make-attestation-vectors.sh [BUILD_DIR]   (default .build/debug)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug}
out=attestation/vectors
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export NANOPAY_PLATFORM_SECRET=$(printf '42%.0s' {1..32}) NANOPAY_OPERATOR_TOKEN=vector-token
"$bin/nanopayd" --data-dir "$work/data" --port "$port" > "$work/nanopayd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
printf '%s\n' "$(python3 -c "print(bytes(range(1, 33)).hex())")" > "$work/buyer.key"; chmod 600 "$work/buyer.key"
from=0:$(printf '11%.0s' {1..32}); to=0:$(printf '22%.0s' {1..32})
pk=$(python3 -c "
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey as K
from cryptography.hazmat.primitives import serialization as s
print(K.from_private_bytes(bytes(range(1, 33))).public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw).hex())")
curl -sf -XPOST -H "Authorization: Bearer vector-token" "http://127.0.0.1:$port/deposits" \
  -d "{\"address\":\"$from\",\"amount\":\"5000000\",\"publicKey\":\"$pk\",\"reference\":\"vector-deposit\"}" >/dev/null
"$bin/nanopay" sign --key "$work/buyer.key" --from "$from" --to "$to" --amount 1000000 --valid-for 600 > "$work/auth.json"
mkdir -p "$out"
curl -sf -XPOST "http://127.0.0.1:$port/verify" -d @"$work/auth.json" \
  | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['receipt'], indent=2, sort_keys=True))" > "$out/receipt.json"
nonce=$(printf '5a%.0s' {1..32})
curl -sf "http://127.0.0.1:$port/attestation?nonce=$nonce" | python3 -m json.tool --sort-keys > "$out/quote.json"
root=$(tr -d '\n' < "$work/data/enclave/platform-root.pub")
python3 - "$out" "$nonce" "$root" <<'PY'
import json, sys
out, nonce, root = sys.argv[1:]
quote = json.load(open(f"{out}/quote.json"))
json.dump({
    "nonce": nonce,
    "verifyAt": quote["claims"]["issuedAt"] + 10,
    "platformRoot": root,
    "enclavePublicKey": quote["claims"]["enclavePublicKey"],
    "platformSecretHex": "42" * 32,
    "note": "Made by scripts/make-attestation-vectors.sh with a published test platform secret (never use it). "
            "Verify the quote at verifyAt, not now: it expires 300 s after issuedAt.",
}, open(f"{out}/vectors.json", "w"), indent=2)
PY
echo "wrote $out"

#!/usr/bin/env bash
# A local two-replica cluster: a throwaway PostgreSQL (in a temporary folder, on a free port) and
# two nanopayd processes sharing it, on 127.0.0.1:4030 and 127.0.0.1:4031, with one platform
# secret and one operator and gateway token (each replica keeps its own DATA under ./cluster).
# Ctrl-C stops both replicas and the database and removes the database's folder.
# Extra arguments go to both nanopayd processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product nanopayd
pg=$(mktemp -d /tmp/nanopay-cluster-pg.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash scripts/postgres-cluster.sh stop "$pg"
  rm -rf "$pg"
}
trap cleanup EXIT INT TERM
url=$(bash scripts/postgres-cluster.sh start "$pg")
mkdir -p cluster && chmod 700 cluster
# The cluster's shared secrets, made once and kept in ./cluster (0600). In production they come
# from your secret store; every replica must get the same ones.
for name in platform.secret operator.token gateway.token; do
  [ -s "cluster/$name" ] || (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' > "cluster/$name")
done
for i in 0 1; do
  NANOPAY_DATABASE_URL="$url" NANOPAY_PLATFORM_SECRET_FILE=cluster/platform.secret \
  NANOPAY_OPERATOR_TOKEN_FILE=cluster/operator.token NANOPAY_GATEWAY_TOKEN_FILE=cluster/gateway.token \
    .build/release/nanopayd --data-dir "cluster/replica-$i" --port $((4030 + i)) "$@" &
  pids+=($!)
done
echo "two replicas on http://127.0.0.1:4030 and http://127.0.0.1:4031, ledger $url; operator token in cluster/operator.token" >&2
wait -n "${pids[@]}"

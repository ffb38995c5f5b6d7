#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1, for the tests, the bench and scripts/run-cluster.sh.
# Installs PostgreSQL from Debian's packages when missing. initdb refuses to run as root, so as
# root the cluster belongs to a system user `nanopay-pg`.
#
# usage: scripts/postgres-cluster.sh start DIR    prints its URL (also in DIR/url)
#        scripts/postgres-cluster.sh start-tls DIR  the same with TLS on: a throwaway CA in
#                                                   DIR/ca.pem, a server certificate for 127.0.0.1
#        scripts/postgres-cluster.sh stop DIR     stops it (DIR stays; rm it yourself)
#        scripts/postgres-cluster.sh pause DIR    stops it, keeping its port (resume restarts it)
#        scripts/postgres-cluster.sh resume DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: postgres-cluster.sh start|stop|pause|resume DIR}
dir=${2:?usage: postgres-cluster.sh start|stop|pause|resume DIR}
owner=nanopay-pg

# The server outlives this script: it must not inherit descriptors beyond stdin/stdout/stderr
# (a caller's pipe, or what a test harness uses to see this script exit, would stay open).
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }

case "$cmd" in
start|start-tls)
  bash "$here/apt-ensure.sh" postgresql
  bin=$(pg_bin)
  [ -x "$bin/initdb" ] || { echo "postgres-cluster.sh: PostgreSQL's initdb not found after installing postgresql" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    id "$owner" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$owner"
    # Every parent must be traversable by the cluster's owner (mktemp -d makes 0700 folders).
    p=$dir; while [ "$p" != "/" ]; do chmod o+x "$p"; p=$(dirname "$p"); done
    chown "$owner" "$dir"
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/initdb" -D "$dir/data" -U nanopay --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  as_owner mkdir -p "$dir/run"
  if [ "$cmd" = start-tls ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=nanopay test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/data/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
      -extfile "$dir/server.ext" -out "$dir/data/server.crt" 2>/dev/null
    chmod 600 "$dir/data/server.key"
    [ "$(id -u)" -eq 0 ] && chown "$owner" "$dir/data/server.key" "$dir/data/server.crt"
    printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >>"$dir/data/postgresql.conf"
  fi
  cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/run'
max_connections = 300
shared_buffers = 256MB
synchronous_commit = on
fsync = on
CONF
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 30 start >/dev/null
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U nanopay nanopay
  echo "postgres://nanopay@127.0.0.1:$port/nanopay" | tee "$dir/url"
  ;;
stop)
  [ -d "$dir/data" ] && as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
pause)
  as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
resume)
  as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 30 start >/dev/null
  ;;
*)
  echo "usage: postgres-cluster.sh start|stop|pause|resume DIR" >&2; exit 2 ;;
esac

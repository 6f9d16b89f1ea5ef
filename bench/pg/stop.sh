#!/usr/bin/env bash
# Stops the PostgreSQL started by bench/pg/start.sh (the data directory is kept; delete
# .pg/ to start from scratch). Does nothing when it is not running.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
DATA=${BERTH_PG_DATA:-$ROOT/.pg/data}
PG_CTL=$(find .venv-pg -path '*pginstall/bin/pg_ctl' -type f 2>/dev/null | head -n 1)
if [ -z "$PG_CTL" ] || ! [ -f "$DATA/postmaster.pid" ]; then
  echo "PostgreSQL is not running"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  su pgrunner -s /bin/sh -c "'$PG_CTL' -D '$DATA' -m fast stop" >/dev/null
else
  "$PG_CTL" -D "$DATA" -m fast stop >/dev/null
fi
echo "PostgreSQL stopped"

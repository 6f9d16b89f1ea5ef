#!/usr/bin/env bash
# Ingestion benchmarks: berth beside LangChain and LlamaIndex on the same files.
# Installs what it needs (a Python venv with the peers, the PostgreSQL HTML manual from
# Debian's package), builds berth in release mode, prepares the corpora under $WORK and
# prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-/tmp/berth-bench-ingest}
VENV=.venv-bench
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r bench/ingest/requirements.txt
fi
if [ ! -d /usr/share/doc/postgresql-doc-15/html ]; then
  apt-get update -q && apt-get install -y -q postgresql-doc-15
fi
cargo build --release -q -p berth
cargo build --release -q -p berth-ingest --example parse_chunk
mkdir -p "$WORK"
[ -d "$WORK/pdf" ] || cp -r ../shared/eval/aragog/papers "$WORK/pdf"
if [ ! -d "$WORK/html" ]; then
  mkdir -p "$WORK/html"
  cp /usr/share/doc/postgresql-doc-15/html/*.html "$WORK/html/"
fi
[ -d "$WORK/md" ] || "$VENV/bin/python" bench/ingest/make_markdown.py "$WORK/md" 10000
"$VENV/bin/python" bench/ingest/run.py "$WORK"

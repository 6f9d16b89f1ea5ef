#!/usr/bin/env bash
# Retrieval benchmarks: berth beside bm25s and sentence-transformers on msmarco-5k.
# Installs what it needs (a Python venv with the peers, the all-MiniLM-L6-v2 test model),
# builds berth's examples in release mode, then prints
#   1. retrieval quality (nDCG@10, Recall@100) for BM25, dense and hybrid search, berth vs
#      peers, with the targets checked (bench/retrieval/eval.py);
#   2. embedding throughput on CPU, berth vs sentence-transformers, same texts and batch size.
# Set STRICT=1 to exit non-zero when a quality target fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/eval/msmarco-5k}
MODEL=${MODEL:-.models/all-MiniLM-L6-v2}
OUT=${OUT:-target/bench}
LIMIT=${LIMIT:-2000}
BATCH=${BATCH:-32}
VENV=.venv-bench
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import bm25s, Stemmer, sentence_transformers, torch, numpy' 2>/dev/null; then
  "$VENV/bin/pip" install -q -r bench/retrieval/requirements.txt
fi
[ -f "$MODEL/model.safetensors" ] || bench/fetch-model.sh "$MODEL"
mkdir -p "$OUT"

cargo build --release -q -p berth --example beir
target/release/examples/beir --data "$DATA" --model-dir "$MODEL" --out "$OUT/berth-runs.json"
"$VENV/bin/python" bench/retrieval/eval.py --data "$DATA" --model-dir "$MODEL" \
  --berth-runs "$OUT/berth-runs.json" --json "$OUT/retrieval-eval.json" ${STRICT:+--strict}

cargo build --release -q -p berth-models --example embed_throughput
target/release/examples/embed_throughput --model-dir "$MODEL" --texts "$DATA/corpus.jsonl" \
  --limit "$LIMIT" --batch-size "$BATCH" | tee "$OUT/embed-berth.json"
"$VENV/bin/python" bench/retrieval/embed_peer.py --model-dir "$MODEL" --texts "$DATA/corpus.jsonl" \
  --limit "$LIMIT" --batch-size "$BATCH" | tee "$OUT/embed-peer.json"
"$VENV/bin/python" - "$OUT/embed-berth.json" "$OUT/embed-peer.json" <<'PY'
import json, sys
berth, peer = (json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[1:3])
print()
print("| engine | texts | batch | seconds | texts/s |")
print("|---|---:|---:|---:|---:|")
for r in (berth, peer):
    print(f"| {r['engine']} {r.get('version', '')} | {r['texts']} | {r['batch_size']} | {r['seconds']:.2f} | {r['per_second']:.1f} |")
print(f"\nthroughput ratio berth / sentence-transformers: {berth['per_second'] / peer['per_second']:.2f}x")
PY

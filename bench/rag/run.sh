#!/usr/bin/env bash
# End-to-end retrieval on ARAGOG (15 arXiv PDFs, 107 questions): berth beside a LangChain
# baseline (pypdf + RecursiveCharacterTextSplitter + BM25Retriever) on the same files in the
# same script. Installs the peers in .venv-rag (bench/rag/requirements.txt), builds berth in
# release mode (respecting CARGO_TARGET_DIR, default target/), then runs bench/rag/eval.py,
# which prints a Markdown table and writes target/bench-rag.json.
# berth's hybrid search runs too when the all-MiniLM-L6-v2 model is in $MODEL
# (bench/fetch-model.sh fetches it). Extra arguments go to eval.py
# (e.g. --max-tokens 200 --overlap 20 --strategy recursive).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/eval/aragog}
MODEL=${MODEL:-.models/all-MiniLM-L6-v2}
VENV=.venv-rag
TARGET=${CARGO_TARGET_DIR:-target}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import pypdf, langchain_text_splitters, langchain_community, rank_bm25' 2>/dev/null; then
  "$VENV/bin/pip" install -q -r bench/rag/requirements.txt
fi
cargo build --release --locked -q -p berth --bin berth
mkdir -p target
"$VENV/bin/python" bench/rag/eval.py --berth "$TARGET/release/berth" --data "$DATA" \
  --model-dir "$MODEL" --json target/bench-rag.json "$@"

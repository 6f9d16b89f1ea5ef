#!/usr/bin/env bash
# Gateway overhead: berth beside LiteLLM's proxy and beside the upstream called directly,
# same stand-in upstream, fixed arrival rates. Installs LiteLLM into .venv-litellm (PyPI),
# builds the release binaries, then runs bench/gateway/run.py (arguments pass through).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! .venv-litellm/bin/litellm --help >/dev/null 2>&1; then
  python3 -m venv .venv-litellm
  .venv-litellm/bin/pip install -q -r bench/gateway/requirements.txt
fi
cargo build --release --locked -p berth --bin berth
cargo build --release --locked -p berth-serve --example standin --example loadgen
python3 bench/gateway/run.py "$@"

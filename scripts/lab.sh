#!/usr/bin/env bash
# The lab on this machine, in one command: set up if needed, then JupyterLab on the notebooks
# (what the Binder link opens). Extra arguments go to jupyter lab (e.g. --no-browser --port 8899).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python.sh
ROOT_FLAG=()
[ "$(id -u)" -eq 0 ] && ROOT_FLAG=(--allow-root)  # Jupyter refuses root without it
exec "$LAB_PYTHON" -m jupyter lab notebooks/ "${ROOT_FLAG[@]}" "$@"

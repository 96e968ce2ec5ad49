#!/usr/bin/env bash
# One command for the quick start: set up if needed, then evaluate real potentials with the
# Numba engine beside pypolymlp. Then open the lab with:  bash scripts/lab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python.sh
exec "$LAB_PYTHON" -m polymlp_lab.quickstart "$@"

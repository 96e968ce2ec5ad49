#!/usr/bin/env bash
# One command for the quick start: set up if needed, then evaluate real potentials with the
# Numba engine beside pypolymlp. Then open the lab with:  jupyter lab notebooks/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m polymlp_lab.quickstart "$@"

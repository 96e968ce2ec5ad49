#!/usr/bin/env bash
# One command for the tests: set up if needed, then the unit/property/conformance tests and
# the tutorial notebooks (executed headless by nbval). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python.sh
exec "$LAB_PYTHON" -m pytest tests notebooks --nbval-lax -p no:cacheprovider "$@"

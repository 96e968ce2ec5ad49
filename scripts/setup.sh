#!/usr/bin/env bash
# Install polymlp-lab and everything it needs on a fresh Debian/Ubuntu machine (idempotent).
# pypolymlp is built from source by pip: it needs a C++ compiler and the Eigen 3 headers.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# apt packages: Eigen and g++ build pypolymlp; Debian's Chromium is the browser the
# real-browser test drives through Playwright (`playwright install` cannot download one here).
MISSING=()
[ -f /usr/include/eigen3/Eigen/Core ] || MISSING+=(libeigen3-dev)
command -v g++ >/dev/null || MISSING+=(g++)
[ -x /usr/bin/chromium ] || MISSING+=(chromium)
if [ ${#MISSING[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "[setup] installing ${MISSING[*]} (apt)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${MISSING[@]}" >/dev/null
  else
    echo "[setup] please install: ${MISSING[*]}" >&2
    exit 1
  fi
fi
# Always (re)install this checkout in editable mode, so the code tested is the code here;
# dependencies already present are kept (pypolymlp is built only the first time).
if ! "$PYTHON" -c "import pypolymlp" 2>/dev/null; then
  echo "[setup] building pypolymlp from source: a few minutes the first time"
fi
"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]"
# Compile the Numba kernels now, so that the first evaluation in a notebook does not wait
# ~20 s for it (they are cached on disk; later runs load them in about a second).
"$PYTHON" -m polymlp_lab.cli warmup

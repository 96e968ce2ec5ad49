#!/usr/bin/env bash
# Install polymlp-lab and everything it needs on a fresh Debian/Ubuntu machine (idempotent).
# Python: PYTHON (default python3) if it runs inside a virtual or conda environment, else a
# project virtual environment .venv made from it (so Debian's externally managed python3 works).
# pypolymlp is built from source by pip: it needs a C++ compiler, the Eigen 3 and Python headers.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
# apt packages: Eigen, g++ and the Python headers build pypolymlp; python3-venv makes .venv on
# Debian; Debian's Chromium is the browser the real-browser test drives through Playwright
# (`playwright install` cannot download one here).
MISSING=()
[ -f /usr/include/eigen3/Eigen/Core ] || MISSING+=(libeigen3-dev)
command -v g++ >/dev/null || MISSING+=(g++)
[ -x /usr/bin/chromium ] || MISSING+=(chromium)
HEADERS=$("$LAB_BASE_PYTHON" -c 'import os, sysconfig
print(os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))')
[ "$HEADERS" = True ] || MISSING+=(python3-dev)
if [ "$LAB_PYTHON" != "$LAB_BASE_PYTHON" ] && [ ! -x "$LAB_PYTHON" ] \
    && ! "$LAB_BASE_PYTHON" -c 'import ensurepip' 2>/dev/null; then
  MISSING+=(python3-venv)
fi
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
install_dft_headers() {  # the Debian packages GPAW builds against, where apt-get is there
  local missing=() package
  for package in libxc-dev libfftw3-dev libopenblas-dev; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || return 1
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "[setup] installing ${missing[*]} (apt) for GPAW"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    "${missing[@]}" >/dev/null
}
if [ "$LAB_PYTHON" != "$LAB_BASE_PYTHON" ] && [ ! -x "$LAB_PYTHON" ]; then
  echo "[setup] creating the project environment .venv from $("$LAB_BASE_PYTHON" -c 'import sys; print(sys.executable)')"
  "$LAB_BASE_PYTHON" -m venv .venv
  "$LAB_PYTHON" -m pip install -q --disable-pip-version-check --upgrade pip
fi
# Always (re)install this checkout in editable mode, so the code tested is the code here;
# dependencies already present are kept (pypolymlp is built only the first time).
if ! "$LAB_PYTHON" -c "import pypolymlp" 2>/dev/null; then
  echo "[setup] building pypolymlp from source: a few minutes the first time"
fi
# The optional dft extra (GPAW: polymlp_lab.dft, DFT references for active learning) builds
# from source with g++ and the libxc, FFTW and BLAS headers: installed where apt-get can bring
# them; where it cannot, or the build fails, the lab goes on without it (its tests skip).
# LAB_DFT=0 skips it.
if [ "${LAB_DFT:-1}" = 1 ] && install_dft_headers \
    && CC=g++ "$LAB_PYTHON" -m pip install -q --disable-pip-version-check -e ".[test,dft]"; then
  :
else
  [ "${LAB_DFT:-1}" = 1 ] && echo "[setup] GPAW (the optional dft extra) not installed: polymlp_lab.dft is unavailable"
  "$LAB_PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]"
fi
# Compile the Numba kernels now, so that the first evaluation in a notebook does not wait
# ~20 s for it (they are cached on disk; later runs load them in about a second).
"$LAB_PYTHON" -m polymlp_lab.cli warmup

# Sourced by the other scripts: sets LAB_PYTHON, the interpreter the lab runs in.
#  - PYTHON (default python3) when it already runs inside a virtual or conda environment;
#  - otherwise the project's own virtual environment .venv/bin/python (made by setup.sh).
# A stock system Python (Debian's /usr/bin/python3, PEP 668 "externally managed") is never
# installed into: the project gets its own .venv from it.
LAB_BASE_PYTHON=${PYTHON:-python3}
lab_in_environment() {
  "$1" -c 'import os, sys; sys.exit(0 if sys.prefix != sys.base_prefix
      or os.path.isdir(os.path.join(sys.prefix, "conda-meta")) else 1)' 2>/dev/null
}
if lab_in_environment "$LAB_BASE_PYTHON"; then
  LAB_PYTHON=$LAB_BASE_PYTHON
else
  LAB_PYTHON="$PWD/.venv/bin/python"
fi

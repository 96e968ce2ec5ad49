"""Helpers shared by the benchmark scripts: the shared data, console scripts, machine load."""

import os
import shutil
import sys
from pathlib import Path


def shared_conformance_dir() -> Path:
    """As tests/conftest.py: $POLYMLP_LAB_SHARED or ../shared next to the repo, /conformance."""
    shared = os.environ.get("POLYMLP_LAB_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parents[1].parent / "shared"
    return root / "conformance"


def executable(name: str, caller: str) -> str:
    """The console script `name` of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        sys.exit(f"{caller}: cannot find the `{name}` command")
    return found


def system_busy_seconds():
    """CPU seconds used by everything on the machine since boot (Linux), else None."""
    try:
        ticks = [int(t) for t in Path("/proc/stat").read_text().split()[1:9]]
    except OSError:
        return None
    idle, iowait = ticks[3], ticks[4]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - idle - iowait) / os.sysconf("SC_CLK_TCK")

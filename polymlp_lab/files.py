"""Files that runs write and read back: written so that a kill never leaves half of one, and
JSON-ready values."""

import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import numpy as np

from .errors import OutputDirectoryError


def check_output_dir(path) -> Path:
    """``path`` as an output directory that can be written: an existing writable folder, or a
    missing one whose nearest existing parent is a writable folder (it is not created here,
    so a refused command leaves nothing behind).

    Raises OutputDirectoryError naming ``path`` when it, or the parent it would be made in,
    is an existing file or not writable. Writability is tested by creating (and removing) a
    probe file: ``os.access`` alone is wrong for root (which ignores permission bits) and for
    read-only mounts. Commands call it before any work, so a bad ``--out`` fails at once.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is" if existing == path else f"would be made inside {existing}, which is"
        raise OutputDirectoryError(
            f"{path}: the output directory {where} an existing file, not a directory", path=path)
    try:
        handle, probe = tempfile.mkstemp(prefix=".polymlp-lab-probe-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        where = "" if existing == path else f" (its parent {existing} is not writable)"
        raise OutputDirectoryError(
            f"{path}: the output directory is not writable{where} ({exc.strerror or exc})",
            path=path) from None
    return path


@contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block
    ends, removed if it raises: a kill never leaves half a file."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        yield temporary
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    temporary.replace(path)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed over it."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed over it."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def jsonable(value):
    """``value`` ready for JSON: numpy scalars and arrays as Python numbers and lists,
    NaN and inf as None (JSON has neither), mapping keys as strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


class AsDict:
    """Mixin of result dataclasses: :meth:`as_dict` for every field but those named in the
    class attribute ``not_json`` (structures, objects)."""

    not_json = ()

    def as_dict(self) -> dict:
        """The fields, JSON-ready (:func:`jsonable`: lists, not arrays; NaN as None)."""
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)
                         if f.name not in self.not_json})

"""Simulations: molecular dynamics and liquids, grain boundaries, random structure search."""

import numpy as np

from ..errors import PolymlpLabError


def _positive(name: str, value) -> float:
    """``value`` as a positive, finite float, or a PolymlpLabError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number > 0):
        raise PolymlpLabError(f"{name} must be positive, got {value!r}")
    return number


def _count(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (an integer type, not a bool), or a PolymlpLabError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise PolymlpLabError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)

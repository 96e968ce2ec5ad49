"""Random cells for the structure search: compositions, and random periodic cells with atoms at
least a minimum distance apart (AIRSS-like).

- :func:`enumerate_compositions`: the atom counts of every cell of 1 to N atoms in a
  composition range;
- :func:`random_structure`: a random cell (lengths, angles, volume) with atoms at random
  positions, each at least the minimum distance (from the atomic radii) from every other atom
  and periodic image.

Units: Å, Å³/atom.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Optional

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.formula import Formula

from ..errors import PolymlpLabError
from ..properties.prototypes import atomic_radius, estimate_volume_per_atom
from . import _count, _positive

__all__ = ["enumerate_compositions", "random_structure"]

ANGLE_RANGE_DEG = (60.0, 120.0)  # angles of a random cell
MAX_ASPECT = 2.0  # longest / shortest length of a random cell
MIN_SHAPE = 0.5  # V / (a b c) of a random cell: flatter ones are redrawn
VOLUME_FACTORS = (1.0, 1.5)  # default volume range, × estimate_volume_per_atom
MIN_DISTANCE_FACTOR = 0.75  # default minimum distance, × (r_i + r_j) of atomic_radius
PLACEMENT_ATTEMPTS = 100  # random positions tried per atom in one cell
_IMAGES = np.array(list(product(range(-2, 3), repeat=3)), dtype=float)


# ----------------------------------------------------------------------------- compositions


def _check_symbol(symbol) -> str:
    if not isinstance(symbol, str) or atomic_numbers.get(symbol, 0) == 0:
        raise PolymlpLabError(f"unknown element '{symbol}'")
    return symbol


def _check_elements(elements) -> tuple:
    elements = (elements,) if isinstance(elements, str) else elements
    elements = tuple(_check_symbol(e) for e in elements)
    if not 1 <= len(elements) <= 2 or len(set(elements)) != len(elements):
        raise PolymlpLabError(f"give one or two distinct elements, got {', '.join(elements)}")
    return elements


def _formula(elements, counts) -> str:
    return str(Formula.from_dict({e: int(n) for e, n in zip(elements, counts) if n}))


def enumerate_compositions(elements, max_atoms: int, composition_range=(0.0, 1.0)) -> list:
    """Atom counts of every cell of 1 to ``max_atoms`` atoms of one or two ``elements`` (A,
    then B) with the fraction x_B of B in ``composition_range`` (inclusive; binaries only).

    Returns ``(count_A, count_B)`` tuples for a binary, ``(count_A,)`` for an element; by
    number of atoms, then count_B. Raises PolymlpLabError for unknown elements,
    ``max_atoms`` < 1, a range outside [0, 1], or no cell of at most ``max_atoms`` atoms with
    x_B in the range.
    """
    elements = _check_elements(elements)
    max_atoms = _count("max_atoms", max_atoms, 1)
    if len(elements) == 1:
        return [(n,) for n in range(1, max_atoms + 1)]
    low, high = (float(v) for v in composition_range)
    if not 0.0 <= low <= high <= 1.0:
        raise PolymlpLabError(f"composition_range must satisfy 0 <= low <= high <= 1, "
                              f"got {composition_range}")

    def fits(n):
        return [k for k in range(n + 1) if low - 1e-12 <= k / n <= high + 1e-12]

    found = [(n - k, k) for n in range(1, max_atoms + 1) for k in fits(n)]
    if not found:
        smallest = next((n for n in range(max_atoms + 1, 1001) if fits(n)), None)
        hint = f"; the smallest such cell has {smallest} atoms" if smallest else ""
        raise PolymlpLabError(f"no cell of 1 to {max_atoms} atoms has x_{elements[1]} in "
                              f"[{low}, {high}]{hint}: raise max_atoms or widen composition_range")
    return found


# ----------------------------------------------------------------------------- random structures

def _volume_range(symbols, volume_per_atom) -> tuple:
    if volume_per_atom is None:
        estimate = estimate_volume_per_atom(symbols)
        return VOLUME_FACTORS[0] * estimate, VOLUME_FACTORS[1] * estimate
    values = np.atleast_1d(np.asarray(volume_per_atom, dtype=float)).reshape(-1)
    if values.size == 1:
        values = np.repeat(values, 2)
    if (values.size != 2 or not np.all(np.isfinite(values)) or values[0] <= 0
            or values[0] > values[1]):
        raise PolymlpLabError(f"volume_per_atom must be a positive number or a (low, high) "
                              f"range, Å³/atom, got {volume_per_atom!r}")
    return float(values[0]), float(values[1])


def _pair_thresholds(symbols, factor: float, min_distance=None) -> np.ndarray:
    """(n, n) smallest allowed distances, Å: ``min_distance``, or factor × (r_i + r_j)."""
    if min_distance is not None:
        value = _positive("min_distance (Å)", min_distance)
        return np.full((len(symbols), len(symbols)), value)
    radii = np.array([atomic_radius(s) for s in symbols])
    return factor * (radii[:, None] + radii[None, :])


def _random_cell(rng, volume: float) -> np.ndarray:
    """A right-handed, Minkowski-reduced cell of ``volume`` Å³ with random shape."""
    from ase.geometry import cellpar_to_cell, minkowski_reduce

    while True:
        angles = rng.uniform(*ANGLE_RANGE_DEG, size=3)
        cos = np.cos(np.radians(angles))
        shape = 1.0 - (cos**2).sum() + 2.0 * cos.prod()  # (V / abc)²
        if shape > MIN_SHAPE**2:
            break
    lengths = rng.uniform(1.0, MAX_ASPECT, size=3)
    lengths *= (volume / (lengths.prod() * math.sqrt(shape))) ** (1 / 3)
    cell, _ = minkowski_reduce(cellpar_to_cell(np.concatenate([lengths, angles])))
    return -cell if np.linalg.det(cell) < 0 else cell


def _place_atoms(rng, cell, thresholds) -> Optional[np.ndarray]:
    """Random fractional positions at least ``thresholds`` apart (all images), or None."""
    placed = np.zeros((0, 3))
    for i in range(len(thresholds)):
        for _ in range(PLACEMENT_ATTEMPTS):
            trial = rng.random(3)
            delta = placed - trial
            delta -= np.round(delta)
            images = (delta[:, None, :] + _IMAGES[None]) @ cell
            distances = np.linalg.norm(images, axis=2).min(axis=1)
            if np.all(distances >= thresholds[i, :len(placed)]):
                placed = np.vstack([placed, trial])
                break
        else:
            return None
    return placed


def random_structure(elements, counts, *, rng, volume_per_atom=None, min_distance=None,
                     max_tries: int = 200) -> Atoms:
    """A random periodic cell (ase.Atoms, periodic in 3D) holding ``counts[i]`` (>= 0, at least
    one atom in all) atoms of ``elements[i]``, in the order of ``elements``.

    The cell has random lengths (longest/shortest ≤ 2) and angles (60–120°, not flat), is
    Minkowski-reduced, and has a volume drawn uniformly from the volume range; each atom sits
    at a random position at least the minimum distance from every atom and periodic image.

    rng : a numpy.random.Generator, or its seed: the same seed gives the same structure.
    volume_per_atom : Å³/atom, or the (low, high) range it is drawn from. Default: 1.0–1.5 ×
        :func:`~polymlp_lab.properties.prototypes.estimate_volume_per_atom` (Cu 11.8 Å³).
    min_distance : smallest distance between two atoms, Å. Default: 0.75 × (r_i + r_j) of
        :func:`~polymlp_lab.properties.prototypes.atomic_radius` (Cu–Cu 1.91 Å).
    max_tries : random cells tried before giving up.

    Raises PolymlpLabError for unknown elements, bad counts or volumes, or no placement
    within ``max_tries`` cells.
    """
    elements = tuple(_check_symbol(e) for e in elements)
    counts = [int(n) for n in counts]
    if len(counts) != len(elements) or min(counts, default=-1) < 0 or sum(counts) < 1:
        raise PolymlpLabError(f"counts must give a number >= 0 per element and >= 1 atom in "
                              f"all, got {counts}")
    rng = np.random.default_rng(rng)
    symbols = [e for e, n in zip(elements, counts) for _ in range(n)]
    low, high = _volume_range(symbols, volume_per_atom)
    thresholds = _pair_thresholds(symbols, MIN_DISTANCE_FACTOR, min_distance)
    for _ in range(max_tries):
        cell = _random_cell(rng, len(symbols) * rng.uniform(low, high))
        if np.linalg.norm(cell, axis=1).min() < thresholds.diagonal().max():
            continue  # an atom would be too close to its own image
        positions = _place_atoms(rng, cell, thresholds)
        if positions is not None:
            return Atoms(symbols, cell=cell, scaled_positions=positions, pbc=True)
    raise PolymlpLabError(
        f"could not place {_formula(elements, counts)} with atoms at least "
        f"{thresholds.min():.3g} Å apart in {max_tries} random cells of {low:.3g}–{high:.3g} "
        "Å³/atom: lower min_distance or raise volume_per_atom"
    )


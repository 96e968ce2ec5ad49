"""Periodic half neighbour lists for any cell (triclinic, small, skewed, one atom).

Every bond (i, j, image) with 0 < |d| < cutoff appears once, with ``d = r_j + T - r_i`` (Å).
Images are enumerated from the cell heights, so cells thinner than the cutoff are exact.
"""

import math

import numpy as np
from numba import njit, prange

from ..errors import AtomsTooCloseError, InvalidStructureError

MIN_DISTANCE = 0.5  # Å; closer atoms are rejected


def lattice_translations(cell: np.ndarray, pbc: np.ndarray, cutoff: float):
    """Lattice vectors T (Å) that can bring an image within ``cutoff`` of a wrapped atom.

    Returns (translations (n, 3), positive (n,) bool): ``positive`` marks one of each ±T pair
    (lexicographic on the integer triple), so that self-image bonds are kept once.
    """
    reps = np.zeros(3, dtype=np.int64)
    volume = abs(np.linalg.det(cell)) if np.all(pbc) else None
    for a in range(3):
        if not pbc[a]:
            continue
        b, c = cell[(a + 1) % 3], cell[(a + 2) % 3]
        area = np.linalg.norm(np.cross(b, c))
        vol = volume if volume is not None else abs(np.dot(cell[a], np.cross(b, c)))
        height = vol / area
        reps[a] = int(math.ceil(cutoff / height))
    grid = np.array(
        [
            (n1, n2, n3)
            for n1 in range(-reps[0], reps[0] + 1)
            for n2 in range(-reps[1], reps[1] + 1)
            for n3 in range(-reps[2], reps[2] + 1)
        ],
        dtype=np.int64,
    )
    positive = (grid[:, 0] > 0) | ((grid[:, 0] == 0) & (grid[:, 1] > 0))
    positive |= (grid[:, 0] == 0) & (grid[:, 1] == 0) & (grid[:, 2] > 0)
    return np.ascontiguousarray(grid @ cell, dtype=np.float64), positive


@njit(cache=True)
def _bond_kept(i, j, t, positive):
    return j > i or (j == i and positive[t])


@njit(cache=True, parallel=True)
def count_half_bonds(positions, translations, positive, cutoff, counts, closest):
    """counts[i] = bonds of atom i kept in the half list; closest[i] = (distance, j)."""
    n_atom = positions.shape[0]
    cut2 = cutoff * cutoff
    for i in prange(n_atom):
        c = 0
        dmin = np.inf
        jmin = -1
        for t in range(translations.shape[0]):
            for j in range(i, n_atom):
                if not _bond_kept(i, j, t, positive):
                    continue
                dx = positions[j, 0] + translations[t, 0] - positions[i, 0]
                dy = positions[j, 1] + translations[t, 1] - positions[i, 1]
                dz = positions[j, 2] + translations[t, 2] - positions[i, 2]
                r2 = dx * dx + dy * dy + dz * dz
                if r2 < cut2:
                    c += 1
                    if r2 < dmin:
                        dmin = r2
                        jmin = j
        counts[i] = c
        closest[i, 0] = math.sqrt(dmin)
        closest[i, 1] = jmin


@njit(cache=True, parallel=True)
def fill_half_bonds(positions, translations, positive, cutoff, offsets, bond_i, bond_j, bond_d):
    """Write the half list counted by ``count_half_bonds``."""
    n_atom = positions.shape[0]
    cut2 = cutoff * cutoff
    for i in prange(n_atom):
        k = offsets[i]
        for t in range(translations.shape[0]):
            for j in range(i, n_atom):
                if not _bond_kept(i, j, t, positive):
                    continue
                dx = positions[j, 0] + translations[t, 0] - positions[i, 0]
                dy = positions[j, 1] + translations[t, 1] - positions[i, 1]
                dz = positions[j, 2] + translations[t, 2] - positions[i, 2]
                if dx * dx + dy * dy + dz * dz < cut2:
                    bond_i[k] = i
                    bond_j[k] = j
                    bond_d[k, 0] = dx
                    bond_d[k, 1] = dy
                    bond_d[k, 2] = dz
                    k += 1


def wrap_positions(cell: np.ndarray, positions: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Cartesian positions with periodic fractional coordinates wrapped into [0, 1)."""
    if not np.any(pbc):
        return np.ascontiguousarray(positions, dtype=np.float64)
    frac = np.linalg.solve(cell.T, positions.T).T
    frac[:, pbc] -= np.floor(frac[:, pbc])
    return np.ascontiguousarray(frac @ cell, dtype=np.float64)


def half_neighbor_list(cell, positions, pbc, cutoff):
    """Half list of bonds shorter than ``cutoff`` (Å).

    Returns (bond_i, bond_j, bond_d) with bond_d[k] = r_j + T - r_i. Raises
    AtomsTooCloseError naming the atom pair when two atoms are closer than 0.5 Å.
    """
    cell = np.asarray(cell, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    if np.any(pbc) and abs(np.linalg.det(cell)) < 1e-8:
        raise InvalidStructureError("the cell is singular (zero volume) but periodic")
    wrapped = wrap_positions(cell, positions, pbc)
    translations, positive = lattice_translations(cell, pbc, cutoff)
    n_atom = len(wrapped)
    counts = np.zeros(n_atom, dtype=np.int64)
    closest = np.zeros((n_atom, 2))
    count_half_bonds(wrapped, translations, positive, cutoff, counts, closest)
    if n_atom:
        i = int(np.argmin(closest[:, 0]))
        if closest[i, 0] < MIN_DISTANCE:
            raise AtomsTooCloseError(
                f"atoms {i} and {int(closest[i, 1])} are {closest[i, 0]:.3f} Å apart "
                f"(minimum {MIN_DISTANCE} Å)",
                pair=(i, int(closest[i, 1])),
                distance=float(closest[i, 0]),
            )
    offsets = np.zeros(n_atom + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n_bond = int(offsets[-1])
    bond_i = np.empty(n_bond, dtype=np.int64)
    bond_j = np.empty(n_bond, dtype=np.int64)
    bond_d = np.empty((n_bond, 3), dtype=np.float64)
    fill_half_bonds(wrapped, translations, positive, cutoff, offsets, bond_i, bond_j, bond_d)
    return bond_i, bond_j, bond_d

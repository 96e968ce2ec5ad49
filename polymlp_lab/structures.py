"""The structures every calculation takes (ase.Atoms): one check, with one singular-cell rule,
and labelled copies (a structure with its reference energy, forces and stress)."""

from functools import lru_cache

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from .engine.neighbors import periodic_vectors_independent
from .errors import InvalidStructureError


def check_structure(atoms, *, periodic: bool = False, label: str = "the structure"):
    """(cell, positions, atomic numbers, pbc) as float64/int64/bool arrays of ``atoms``, or
    an InvalidStructureError naming the problem: not an ase.Atoms, no atoms, an atom with a
    non-finite position (named), a non-finite cell, periodic cell vectors that are zero or
    linearly dependent (a singular cell), or, with ``periodic``, a direction that is not
    periodic. ``label`` names the structure in messages (e.g. "frame 3")."""
    if not isinstance(atoms, Atoms):
        raise InvalidStructureError(f"{label} is a {type(atoms).__name__}, not an ase.Atoms")
    if len(atoms) == 0:
        raise InvalidStructureError(f"{label} has no atoms")
    positions = np.ascontiguousarray(atoms.get_positions(), dtype=np.float64)
    if not np.isfinite(positions.sum()):  # one pass; which atom, only when the sum is not
        bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
        if len(bad):  # (a sum of huge finite positions can overflow)
            raise InvalidStructureError(
                f"{label}: atom {bad[0]} has a non-finite position {positions[bad[0]].tolist()}")
    cell = np.array(atoms.cell.array, dtype=np.float64)
    pbc = np.array(atoms.pbc, dtype=bool)
    if periodic and not pbc.all():
        raise InvalidStructureError(
            f"{label} must be periodic in all three directions (pbc={pbc.tolist()})")
    if not _cell_is_usable(cell.tobytes(), pbc.tobytes()):
        if not np.isfinite(cell).all():
            raise InvalidStructureError(f"{label}: the cell has non-finite entries")
        raise InvalidStructureError(
            f"{label} is periodic but its cell vectors are zero or linearly dependent "
            "(a singular cell)")
    return cell, positions, np.asarray(atoms.numbers, dtype=np.int64), pbc


@lru_cache(maxsize=64)
def _cell_is_usable(cell_bytes: bytes, pbc_bytes: bytes) -> bool:
    """Finite cell whose periodic vectors are independent (remembered: MD and relaxations
    ask again for the same cell at every step)."""
    cell = np.frombuffer(cell_bytes, dtype=np.float64).reshape(3, 3)
    pbc = np.frombuffer(pbc_bytes, dtype=bool)
    return bool(np.isfinite(cell).all()) and periodic_vectors_independent(cell, pbc)


def labelled_copy(atoms, *, energy, forces, stress=None):
    """A copy of ``atoms`` carrying a SinglePointCalculator with the energy (eV), forces (eV/Å)
    and stress (eV/Å³, Voigt; None: none), as floats."""
    copy = atoms.copy()
    copy.calc = SinglePointCalculator(
        copy, energy=float(energy), forces=np.array(forces, dtype=float),
        stress=None if stress is None else np.array(stress, dtype=float))
    return copy

"""spglib, wrapped once: the symmetry dataset of an ``ase.Atoms``."""

import warnings
from typing import Optional

import numpy as np


def symmetry_dataset(atoms, *, symprec: float, numbers=None) -> Optional[object]:
    """spglib's symmetry dataset of ``atoms`` at ``symprec`` (Å), or None where spglib finds
    no symmetry. ``numbers`` replaces the atomic numbers (e.g. site labels of a prototype)."""
    import spglib

    numbers = atoms.numbers if numbers is None else np.asarray(numbers)
    with warnings.catch_warnings():  # spglib 2.x announces its change of error handling
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return spglib.get_symmetry_dataset(
                (atoms.cell[:], atoms.get_scaled_positions(), numbers), symprec=symprec)
        except Exception:  # spglib >= 2.5 raises SpglibError where older ones return None
            return None

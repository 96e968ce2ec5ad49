"""polymlp-lab: polynomial machine-learning interatomic potentials in Jupyter.

Front door: :func:`load_potential` returns a :class:`Potential` evaluated by our Numba
engine; :class:`PolymlpCalculator` is its ASE calculator.
"""

import os

# spglib's C library writes notes such as "ssm_get_exact_positions failed." to stderr for cells
# it cannot symmetrise (its Python API then reports no symmetry, which we handle): in a
# notebook they print as red error streams. SPGLIB_WARNING=ON before import shows them.
os.environ.setdefault("SPGLIB_WARNING", "OFF")

from .calculator import PolymlpCalculator
from .errors import (
    AtomsTooCloseError,
    InvalidStructureError,
    PolymlpLabError,
    PotentialFileError,
    UnknownElementError,
)
from .potential import Evaluation, Potential, load_potential

__version__ = "0.1.0"

__all__ = [
    "AtomsTooCloseError",
    "Evaluation",
    "InvalidStructureError",
    "PolymlpCalculator",
    "PolymlpLabError",
    "Potential",
    "PotentialFileError",
    "UnknownElementError",
    "load_potential",
]

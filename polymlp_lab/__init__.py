"""polymlp-lab: polynomial machine-learning interatomic potentials in Jupyter.

Front door: :func:`load_potential` returns a :class:`Potential` evaluated by our Numba
engine; :class:`PolymlpCalculator` is its ASE calculator.
"""

import os

# Numba's parallel kernels and pypolymlp's C++ share the GNU OpenMP runtime. With its
# default wait (300,000 spins), threads left spinning by one starve the other when both run
# in one process (a notebook comparing them ran 3-5x slower); fully passive waiting instead
# costs ~0.4 ms of thread wake-ups per evaluation. A short spin keeps the back-to-back
# parallel regions of one evaluation awake and releases the cores soon after. Set
# GOMP_SPINCOUNT or OMP_WAIT_POLICY before importing polymlp_lab to choose otherwise.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
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

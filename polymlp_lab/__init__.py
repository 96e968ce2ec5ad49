"""polymlp-lab: polynomial machine-learning interatomic potentials in Jupyter.

Front door: :func:`load_potential` returns a :class:`Potential` evaluated by our Numba
engine; :class:`PolymlpCalculator` is its ASE calculator.
"""

import os

# Numba's parallel kernels and pypolymlp's C++ share the GNU OpenMP runtime. With its default
# active wait, threads left spinning by one starve the other when both run in one process
# (a notebook comparing them ran 3-5x slower). Passive waiting costs little; set the variable
# before importing polymlp_lab to choose otherwise.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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

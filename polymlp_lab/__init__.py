"""polymlp-lab: polynomial machine-learning interatomic potentials in Jupyter.

Front door: :func:`load_potential` returns a :class:`Potential` evaluated by our Numba
engine; :class:`PolymlpCalculator` is its ASE calculator.
"""

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

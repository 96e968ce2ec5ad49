"""ASE calculator over the Numba engine."""

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from .engine.neighbors import NeighborCache
from .potential import Potential, load_potential

GRADE_PROPERTIES = ["extrapolation_grade", "extrapolation_grades"]


class EngineCalculator(Calculator):
    """ASE calculator over one of our evaluators, with a neighbour list kept across calls.

    Subclasses set ``self.neighbors`` and implement ``_evaluate(atoms, forces)`` returning
    (energy eV, energies eV per atom, forces eV/Å or None, stress eV/Å³ Voigt or None, a dict
    of further results).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def check_state(self, atoms, tol=1e-15):
        """What changed since the last calculation, by exact comparison of what we use.

        ASE's generic check compares every array with ``isclose``, which costs as much as a
        small evaluation; the engine reads only numbers, positions, cell and pbc.
        """
        if self.atoms is None:
            return list(all_changes)
        return [name for name in ("numbers", "positions", "cell", "pbc")
                if not np.array_equal(getattr(atoms, name), getattr(self.atoms, name))]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        wants_forces = any(p in properties for p in ("forces", "stress"))
        if "stress" in properties and not all(self.atoms.pbc):
            raise PropertyNotImplementedError("stress needs a cell periodic in 3 directions")
        energy, energies, forces, stress, more = self._evaluate(self.atoms, wants_forces)
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["energies"] = energies
        if wants_forces:
            self.results["forces"] = forces
            if stress is not None:
                self.results["stress"] = stress
        self.results.update(more)


class PolymlpCalculator(EngineCalculator):
    """ASE calculator for polynomial MLPs.

    ``potential``: a Potential, or a path / list of paths accepted by ``load_potential``.
    ``skin`` (Å, default 1.0): the neighbour list is built out to cutoff + skin and reused
    across calls (MD and relaxation steps) while it is still complete; 0 builds a fresh list
    every call. Results do not depend on it.

    Results in ASE units: energy and free_energy (eV), energies (eV per atom), forces (eV/Å),
    stress (eV/Å³, Voigt order xx yy zz yz xz xy; only for cells periodic in 3 directions);
    when the potential has an extrapolation grade (:mod:`polymlp_lab.extrapolation`), also
    extrapolation_grades (per atom) and extrapolation_grade (their largest).
    """

    @property
    def implemented_properties(self) -> list:
        """The engine's properties, and the grades while the potential has one (asking a
        potential without one for a grade is then refused at once, not after an evaluation)."""
        graded = getattr(getattr(self, "potential", None), "extrapolation", None) is not None
        return EngineCalculator.implemented_properties + (GRADE_PROPERTIES if graded else [])

    def __init__(self, potential, *, skin: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential if isinstance(potential, Potential) else load_potential(potential)
        self.neighbors = NeighborCache(skin) if skin > 0 else None

    def _evaluate(self, atoms, forces: bool):
        result = self.potential.evaluate(atoms, forces=forces, neighbors=self.neighbors)
        more = {} if result.extrapolation_grades is None else {
            "extrapolation_grades": result.extrapolation_grades,
            "extrapolation_grade": result.extrapolation_grade}
        return result.energy, result.energies, result.forces, result.stress, more

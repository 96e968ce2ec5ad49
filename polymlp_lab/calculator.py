"""ASE calculator over the Numba engine."""

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from .potential import Potential, load_potential


class PolymlpCalculator(Calculator):
    """ASE calculator for polynomial MLPs.

    Parameters
    ----------
    potential : Potential, or a path / list of paths accepted by ``load_potential``.

    Results in ASE units: energy and free_energy (eV), energies (eV per atom), forces (eV/Å),
    stress (eV/Å³, Voigt order xx yy zz yz xz xy; only for cells periodic in 3 directions).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, potential, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential if isinstance(potential, Potential) else load_potential(potential)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        wants_forces = any(p in properties for p in ("forces", "stress"))
        if "stress" in properties and not all(self.atoms.pbc):
            raise PropertyNotImplementedError("stress needs a cell periodic in 3 directions")
        result = self.potential.evaluate(self.atoms, forces=wants_forces)
        self.results["energy"] = result.energy
        self.results["free_energy"] = result.energy
        self.results["energies"] = result.energies
        if wants_forces:
            self.results["forces"] = result.forces
            if result.stress is not None:
                self.results["stress"] = result.stress

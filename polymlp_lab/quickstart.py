"""Quick start: real published potentials evaluated by our engine beside pypolymlp.

Run: ``python -m polymlp_lab.quickstart`` (or ``bash scripts/quickstart.sh`` on a fresh
machine). Uses the published potentials that ship with the lab (``polymlp_lab.data``), so nothing
is downloaded.
"""

import time

import numpy as np
from ase import Atoms
from ase.build import bulk

from . import PolymlpCalculator, load_potential
from . import data
from .units import EV_PER_A3_IN_GPA


def cubic_srtio3(a: float = 3.905) -> Atoms:
    """Cubic perovskite SrTiO3 (5 atoms, lattice constant ``a`` in Å; experiment 3.905 Å)."""
    return Atoms("SrTiO3",
                 scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5],
                                   [0, 0.5, 0.5]],
                 cell=np.eye(3) * a, pbc=True)


def _structures():
    """A rattled supercell for every potential that ships with the lab."""
    perovskite = cubic_srtio3().repeat(3)
    tial = bulk("Ti", "hcp", a=2.95, c=4.68).repeat((4, 4, 3))
    tial.symbols[::4] = "Al"
    alcu = bulk("Al", "fcc", a=3.95, cubic=True).repeat(3)
    alcu.symbols[::3] = "Cu"
    structures = {name: data.structure(name).repeat(3) for name in ("Al", "Si", "Ti", "MgO")}
    structures.update({"Al-Cu": alcu, "SrTiO3": perovskite, "Ti-Al": tial})
    for atoms in structures.values():
        atoms.rattle(0.03, seed=0)
    return structures


def _time(function, repeat=5):
    function()  # first call compiles (or loads Numba's cache)
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


def main():
    from pypolymlp.calculator.properties import Properties
    from pypolymlp.calculator.utils.ase_utils import ase_atoms_to_structure

    print("polymlp-lab quick start: published potentials, our Numba engine vs pypolymlp\n")
    for name, atoms in _structures().items():
        path = data.potential(name)
        potential = load_potential(path)
        atoms.calc = PolymlpCalculator(potential)
        energy = atoms.get_potential_energy()
        stress = atoms.get_stress() * EV_PER_A3_IN_GPA
        reference = Properties(pot=str(path))
        structure = ase_atoms_to_structure(atoms)
        e_ref, f_ref, _ = reference.eval(structure)
        ours = _time(lambda: potential.evaluate(atoms))
        peer = _time(lambda: reference.eval(structure))
        n = len(atoms)
        print(f"{name}: {potential.elements}, cutoff {potential.cutoff} Å, "
              f"{potential.n_coefficients} coefficients, {n} atoms")
        print(f"  energy {energy / n:.6f} eV/atom   |ΔE| vs pypolymlp {abs(energy - e_ref) / n:.1e} eV/atom"
              f"   max|ΔF| {np.abs(atoms.get_forces() - np.asarray(f_ref).T).max():.1e} eV/Å")
        print(f"  pressure {-stress[:3].mean():.3f} GPa")
        print(f"  time/step: ours {ours * 1e3:.2f} ms, pypolymlp {peer * 1e3:.2f} ms "
              f"(ratio {ours / peer:.2f})\n")
    print("Next: the lab, with  bash scripts/lab.sh  (JupyterLab on notebooks/)")


if __name__ == "__main__":
    main()

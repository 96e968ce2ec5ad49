"""Property workflows through our calculator against the same workflows through pypolymlp.

The functions of :mod:`polymlp_lab.properties` (relax, equation_of_state, lattice_constants,
elastic_constants, phonon_properties) take any ASE calculator. Here each is run twice on the
published fcc-Al potential of ../shared: once with :class:`polymlp_lab.PolymlpCalculator` and
once with a minimal ASE adapter over pypolymlp's own ``Properties.eval``. Relative agreement
1e-4 is required for a0, B0, C11, C12, C44 and the phonon DOS (on the same frequency grid).
The wall time of each route is printed. Skips with the reason when ../shared is absent.
"""

import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from polymlp_lab import data
from polymlp_lab import PolymlpCalculator
from polymlp_lab.properties.mechanics import (
    elastic_constants, equation_of_state, lattice_constants, relax,
)
from polymlp_lab.properties.phonons import phonon_properties


pytestmark = pytest.mark.conformance

RTOL = 1e-4


class PypolymlpASECalculator(Calculator):
    """ASE calculator over ``pypolymlp.calculator.properties.Properties.eval``.

    pypolymlp gives energy (eV), forces (3, N) (eV/Å) and stress s = -dE/dε (eV per cell,
    order xx yy zz xy yz zx); ASE wants forces (N, 3) and stress = (1/V) dE/dε = -s/V
    (eV/Å³, order xx yy zz yz xz xy).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential_file, **kwargs):
        from pypolymlp.calculator.properties import Properties

        super().__init__(**kwargs)
        self._properties = Properties(pot=str(potential_file))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from pypolymlp.calculator.utils.ase_utils import ase_atoms_to_structure

        super().calculate(atoms, properties, system_changes)
        energy, forces, stress = self._properties.eval(ase_atoms_to_structure(self.atoms))
        xx, yy, zz, xy, yz, zx = -np.asarray(stress, dtype=float) / self.atoms.get_volume()
        self.results["energy"] = float(energy)
        self.results["free_energy"] = float(energy)
        self.results["forces"] = np.array(forces, dtype=float).T.copy()
        self.results["stress"] = np.array([xx, yy, zz, yz, zx, xy])


def workflow(calc) -> dict:
    """a0, B0, C11, C12, C44 and the phonon DOS of fcc Al with ``calc``; plus wall times."""
    times = {}
    t0 = time.perf_counter()
    relaxed = relax(bulk("Al", "fcc", a=4.05), calc, fmax=1e-4, cell=True)
    assert relaxed.converged
    a0 = lattice_constants(relaxed.atoms).a
    times["relax"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    eos = equation_of_state(relaxed.atoms, calc)
    times["eos"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    C = elastic_constants(relaxed.atoms, calc).C
    times["elastic"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    phonons = phonon_properties(relaxed.atoms, calc, supercell=(3, 3, 3), mesh=(10, 10, 10),
                                band_path=False)
    times["phonons"] = time.perf_counter() - t0
    times["total"] = sum(times.values())
    return dict(a0=a0, b0=eos.b0, C11=C[0, 0], C12=C[0, 1], C44=C[3, 3],
                frequencies=phonons.frequencies_THz, dos=phonons.dos, times=times)


def test_properties_through_ours_equal_properties_through_pypolymlp(capsys):
    potential_file = data.potential("Al")
    pytest.importorskip("pypolymlp")
    ours = workflow(PolymlpCalculator(str(potential_file)))
    theirs = workflow(PypolymlpASECalculator(potential_file))

    lines = []
    for key in ("a0", "b0", "C11", "C12", "C44"):
        rel = abs(ours[key] - theirs[key]) / abs(theirs[key])
        lines.append(f"  {key:4s} ours {ours[key]:.8f}  pypolymlp {theirs[key]:.8f}  rel diff {rel:.2e}")
    dos_diff = np.abs(ours["dos"] - theirs["dos"]).max() if ours["dos"].shape == theirs["dos"].shape else np.inf
    lines.append(f"  DOS  max|diff| {dos_diff:.2e}  max dos {theirs['dos'].max():.4f}"
                 f"  ({len(theirs['dos'])} points)")
    for route, result in (("ours", ours), ("pypolymlp", theirs)):
        lines.append(f"  time {route:9s} " + "  ".join(f"{k} {v:.2f} s" for k, v in result["times"].items()))
    report = "\n".join(lines)
    with capsys.disabled():
        print("\nfcc-Al properties, PolymlpCalculator vs pypolymlp Properties adapter:\n" + report)

    for key in ("a0", "b0", "C11", "C12", "C44"):
        assert ours[key] == pytest.approx(theirs[key], rel=RTOL), f"{key}\n{report}"
    assert ours["frequencies"].shape == theirs["frequencies"].shape, report
    np.testing.assert_allclose(ours["frequencies"], theirs["frequencies"], rtol=0,
                               atol=RTOL * np.abs(theirs["frequencies"]).max(), err_msg=report)
    assert dos_diff <= RTOL * theirs["dos"].max(), report

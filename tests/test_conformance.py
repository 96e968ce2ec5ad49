"""Our engine against pypolymlp's own calculator on the published potentials of ../shared.

Tolerances: energy 1e-6 eV/atom, forces 1e-6 eV/Å, stress 1e-6 eV/Å³. These tests skip with
the reason when ../shared/conformance is absent.
"""

import zlib

import numpy as np
import pytest
from ase import Atoms
from ase.io import read

from polymlp_lab import PolymlpCalculator, load_potential

from conftest import CONFORMANCE_POTENTIALS, conformance_dir

pytestmark = pytest.mark.conformance


def pypolymlp_reference(potential_files, atoms):
    """(energy eV, forces (n,3) eV/Å, stress ASE Voigt eV/Å³) from pypolymlp.

    pypolymlp returns stress as -dE/dε in eV per cell, order xx yy zz xy yz zx.
    """
    from pypolymlp.calculator.properties import Properties
    from pypolymlp.calculator.utils.ase_utils import ase_atoms_to_structure

    energy, forces, stress = Properties(pot=potential_files).eval(ase_atoms_to_structure(atoms))
    xx, yy, zz, xy, yz, zx = -np.asarray(stress) / atoms.get_volume()
    return energy, np.asarray(forces).T, np.array([xx, yy, zz, yz, zx, xy])


def assert_matches_pypolymlp(potential_files, atoms):
    ours = load_potential(potential_files).evaluate(atoms)
    energy, forces, stress = pypolymlp_reference(potential_files, atoms)
    n = len(atoms)
    assert abs(ours.energy - energy) / n < 1e-6
    np.testing.assert_allclose(ours.forces, forces, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.stress, stress, rtol=0, atol=1e-6)
    assert abs(ours.energies.sum() - ours.energy) < 1e-9 * n


def structures(name):
    """Rattled+strained supercell, a one-atom cell and a skewed triclinic cell."""
    folder = conformance_dir(name)
    base = read(folder / "POSCAR")
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    supercell = base.repeat((2, 2, 2))
    supercell.rattle(0.05, seed=int(rng.integers(1 << 30)))
    strain = np.eye(3) + 0.02 * rng.uniform(-1, 1, size=(3, 3))
    supercell.set_cell(supercell.cell.array @ strain, scale_atoms=True)

    volume_per_atom = base.get_volume() / len(base)
    a = (4 * volume_per_atom) ** (1 / 3)  # fcc primitive cell with that volume per atom
    one_atom = Atoms(
        base.get_chemical_symbols()[:1],
        cell=0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]]),
        pbc=True,
    )

    symbols = list(dict.fromkeys(base.get_chemical_symbols()))
    n = 3
    side = (n * volume_per_atom) ** (1 / 3)
    skew = side * np.array([[1.0, 0.0, 0.0], [0.8, 0.9, 0.0], [-0.5, 0.6, 1.1]])
    skew *= side / np.abs(np.linalg.det(skew)) ** (1 / 3)
    frac = np.array([[0.0, 0.0, 0.0], [0.33, 0.52, 0.41], [0.71, 0.18, 0.83]])
    triclinic = Atoms(
        [symbols[i % len(symbols)] for i in range(n)], scaled_positions=frac, cell=skew, pbc=True
    )
    return {"supercell": supercell, "one-atom": one_atom, "triclinic": triclinic}


@pytest.mark.parametrize("name", sorted(CONFORMANCE_POTENTIALS))
@pytest.mark.parametrize("kind", ["supercell", "one-atom", "triclinic"])
def test_equals_pypolymlp(name, kind):
    atoms = structures(name)[kind]
    assert_matches_pypolymlp(str(conformance_dir(name) / CONFORMANCE_POTENTIALS[name]), atoms)


def test_triclinic_cell_is_thinner_than_cutoff():
    """The skewed cell really exercises images beyond the first shell."""
    folder = conformance_dir("bcc-Ti")
    atoms = structures("bcc-Ti")["triclinic"]
    cutoff = load_potential(folder / "polymlp.yaml").cutoff
    cell = atoms.cell.array
    heights = atoms.get_volume() / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    assert heights.min() < cutoff / 2


def test_hybrid_equals_pypolymlp_hybrid():
    files = [
        str(conformance_dir("bcc-Ti") / "polymlp.yaml"),
        str(conformance_dir("Ti-legacy") / "polymlp.lammps"),
    ]
    atoms = structures("bcc-Ti")["supercell"]
    assert_matches_pypolymlp(files, atoms)
    single = load_potential(files[0]).evaluate(atoms).energy
    assert abs(load_potential(files).evaluate(atoms).energy - 2 * single) < 1e-8


def test_calculator_gives_pypolymlp_numbers():
    folder = conformance_dir("rocksalt-MgO")
    atoms = structures("rocksalt-MgO")["supercell"]
    atoms.calc = PolymlpCalculator(folder / "polymlp.yaml")
    energy, forces, stress = pypolymlp_reference(str(folder / "polymlp.yaml"), atoms)
    assert abs(atoms.get_potential_energy() - energy) / len(atoms) < 1e-6
    np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-6)
    np.testing.assert_allclose(atoms.get_stress(), stress, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CONFORMANCE_POTENTIALS))
@pytest.mark.parametrize("fmt", ["yaml", "lammps"])
def test_saved_file_reads_back_in_pypolymlp(name, fmt, tmp_path):
    """Potential.save writes files that pypolymlp evaluates to the same numbers as ours."""
    path = conformance_dir(name) / CONFORMANCE_POTENTIALS[name]
    target = tmp_path / f"polymlp.{fmt}"
    load_potential(path).save(target, format=fmt)
    atoms = structures(name)["supercell"]
    ours = load_potential(path).evaluate(atoms)
    energy, forces, _ = pypolymlp_reference(str(target), atoms)
    assert abs(ours.energy - energy) / len(atoms) < 1e-9
    np.testing.assert_allclose(ours.forces, forces, atol=1e-9)

"""Equality with pypolymlp on the real potentials pypolymlp ships (runs anywhere)."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import read

from polymlp_lab import load_potential
from polymlp_lab.data import packaged_potential, packaged_potentials
from polymlp_lab.errors import PotentialFileError

from test_conformance import assert_matches_pypolymlp


def perovskite():
    cubic = Atoms(
        "SrTiO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=np.eye(3) * 3.905,
        pbc=True,
    )
    atoms = cubic.repeat((2, 2, 1))
    atoms.rattle(0.04, seed=3)
    atoms.set_cell(atoms.cell.array @ np.array([[1.01, 0.02, 0], [0, 0.99, 0.01], [0, 0, 1.0]]),
                   scale_atoms=True)
    return atoms


def test_both_potentials_are_found():
    assert {"SrTiO3", "Ti-Al"} <= set(packaged_potentials())
    assert load_potential(packaged_potential("SrTiO3")).elements == ("Sr", "Ti", "O")


def test_ternary_srtio3_equals_pypolymlp():
    assert_matches_pypolymlp(str(packaged_potential("SrTiO3")), perovskite())


@pytest.mark.parametrize("poscar", ["POSCAR-TiAl", "POSCAR-Al", "POSCAR-Ti"])
def test_binary_tial_equals_pypolymlp(poscar):
    path = packaged_potential("Ti-Al")
    atoms = read(path.parent / poscar)
    if len(atoms) < 4:
        atoms = atoms.repeat((2, 2, 2))
    atoms.rattle(0.04, seed=4)
    assert_matches_pypolymlp(str(path), atoms)


def test_tial_on_a_cell_with_one_species_missing_from_the_structure():
    atoms = bulk("Al", "fcc", a=4.04).repeat((2, 1, 1))
    atoms.rattle(0.02, seed=5)
    assert_matches_pypolymlp(str(packaged_potential("Ti-Al")), atoms)


def test_unknown_packaged_name_is_a_clear_error():
    with pytest.raises(PotentialFileError, match="no potential 'Cu'"):
        packaged_potential("Cu")

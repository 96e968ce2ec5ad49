"""Physical properties of the engine on small self-made potentials (no ../shared needed).

Forces and stress against finite differences of the energy; invariance of the energy under
rotation, translation, atom permutation and supercell replication; per-atom energies.
"""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from scipy.spatial.transform import Rotation

from polymlp_lab import PolymlpCalculator, Potential

from conftest import random_potential


def random_crystal(symbols, seed, spacing=2.6):
    """Rattled, sheared cell with atoms kept apart (≥ 1.5 Å), for any symbol list."""
    rng = np.random.default_rng(seed)
    n = len(symbols)
    side = spacing * n ** (1 / 3)
    cell = side * (np.eye(3) + 0.15 * rng.uniform(-1, 1, size=(3, 3)))
    atoms = Atoms(symbols, cell=cell, pbc=True)
    frac = []
    while len(frac) < n:
        trial = rng.random(3)
        test = Atoms("X" * (len(frac) + 1), scaled_positions=frac + [trial], cell=cell, pbc=True)
        if len(frac) == 0 or test.get_distances(len(frac), range(len(frac)), mic=True).min() > 1.5:
            frac.append(trial)
    atoms.set_scaled_positions(frac)
    return atoms


@pytest.fixture(params=["al", "mgo"])
def case(request, al_potential, mgo_potential):
    if request.param == "al":
        return al_potential, random_crystal(["Al"] * 5, seed=3)
    return mgo_potential, random_crystal(["Mg", "O", "O", "Mg", "Mg", "O"], seed=4)


def test_forces_are_minus_energy_gradient(case):
    potential, atoms = case
    atoms.calc = PolymlpCalculator(potential)
    numeric = calculate_numerical_forces(atoms, 1e-5)
    analytic = atoms.get_forces()
    assert np.abs(analytic).max() > 1e-3  # a test on zero forces would prove nothing
    np.testing.assert_allclose(analytic, numeric, atol=1e-6 * max(1, np.abs(analytic).max()))


def test_stress_is_strain_derivative(case):
    potential, atoms = case
    atoms.calc = PolymlpCalculator(potential)
    numeric = calculate_numerical_stress(atoms, 1e-6)
    analytic = atoms.get_stress()
    assert np.abs(analytic).max() > 1e-5
    np.testing.assert_allclose(analytic, numeric, atol=1e-6 * max(1, np.abs(analytic).max()))


def test_rotation_and_translation_invariance(case):
    potential, atoms = case
    reference = potential.evaluate(atoms)
    rotation = Rotation.from_euler("zyx", [0.7, -1.1, 2.3]).as_matrix()
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    moved.set_positions(atoms.positions @ rotation.T + np.array([0.31, -4.2, 7.7]))
    result = potential.evaluate(moved)
    assert abs(result.energy - reference.energy) < 1e-9 * len(atoms)
    np.testing.assert_allclose(result.forces, reference.forces @ rotation.T, atol=1e-9)
    stress = lambda v: np.array([[v[0], v[5], v[4]], [v[5], v[1], v[3]], [v[4], v[3], v[2]]])
    np.testing.assert_allclose(
        stress(result.stress), rotation @ stress(reference.stress) @ rotation.T, atol=1e-10
    )


def test_permutation_invariance(case):
    potential, atoms = case
    reference = potential.evaluate(atoms)
    order = np.random.default_rng(0).permutation(len(atoms))
    result = potential.evaluate(atoms[order])
    assert abs(result.energy - reference.energy) < 1e-9 * len(atoms)
    np.testing.assert_allclose(result.forces, reference.forces[order], atol=1e-10)
    np.testing.assert_allclose(result.energies, reference.energies[order], atol=1e-10)


def test_supercell_replication(case):
    potential, atoms = case
    reference = potential.evaluate(atoms)
    big = atoms.repeat((2, 1, 3))
    result = potential.evaluate(big)
    assert abs(result.energy - 6 * reference.energy) < 1e-9 * len(big)
    np.testing.assert_allclose(result.forces, np.tile(reference.forces, (6, 1)), atol=1e-9)
    np.testing.assert_allclose(result.stress, reference.stress, atol=1e-10)


def test_per_atom_energies_sum_and_distinguish_sites(case):
    potential, atoms = case
    result = potential.evaluate(atoms)
    assert result.energies.shape == (len(atoms),)
    assert abs(result.energies.sum() - result.energy) < 1e-10 * len(atoms)
    assert np.ptp(result.energies) > 1e-6  # inequivalent sites get different energies


def test_one_atom_cell_smaller_than_cutoff(al_potential):
    """fcc primitive cell (one atom, 2.86 Å neighbours, cutoff 5 Å) equals its 3x3x3 copy."""
    atoms = bulk("Al", "fcc", a=4.05)
    one = al_potential.evaluate(atoms)
    many = al_potential.evaluate(atoms.repeat(3))
    assert abs(many.energy - 27 * one.energy) < 1e-9
    assert np.abs(one.forces).max() < 1e-12
    np.testing.assert_allclose(one.stress[3:], 0, atol=1e-12)


def test_cluster_without_periodicity(al_potential):
    """A free cluster: forces are the gradient, and no image interactions appear."""
    rng = np.random.default_rng(5)
    cluster = Atoms("Al" * 4, positions=[[0, 0, 0], [2.6, 0.2, 0], [0.3, 2.5, 0.4], [1.2, 1.1, 2.4]])
    cluster.positions += rng.normal(scale=0.05, size=(4, 3))
    cluster.calc = PolymlpCalculator(al_potential)
    np.testing.assert_allclose(
        cluster.get_forces(), calculate_numerical_forces(cluster, 1e-5), atol=1e-6
    )
    boxed = cluster.copy()
    boxed.set_cell([30.0, 30.0, 30.0])
    boxed.pbc = True
    assert abs(al_potential.evaluate(boxed).energy - cluster.get_potential_energy()) < 1e-10
    with pytest.raises(Exception, match="stress"):
        cluster.get_stress()


def test_slab_periodic_in_two_directions(al_potential):
    slab = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 2))
    slab.rattle(0.03, seed=1)
    slab.pbc = (True, True, False)
    slab.calc = PolymlpCalculator(al_potential)
    np.testing.assert_allclose(slab.get_forces(), calculate_numerical_forces(slab, 1e-5), atol=1e-6)
    vacuum = slab.copy()
    vacuum.center(vacuum=10.0, axis=2)
    vacuum.pbc = True
    assert abs(al_potential.evaluate(vacuum).energy - slab.get_potential_energy()) < 1e-10


def test_pair_feature_model_forces():
    potential = random_potential(("Al", "Cu"), feature_type="pair", model_type=2, max_p=3, seed=7)
    atoms = random_crystal(["Al", "Cu", "Cu", "Al"], seed=8)
    atoms.calc = PolymlpCalculator(potential)
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, 1e-5), atol=1e-6)


@pytest.mark.parametrize("model_type,max_p,order,maxl", [(1, 1, 4, (4, 2, 2)), (3, 3, 3, (4, 2))])
def test_model_types_and_orders(model_type, max_p, order, maxl):
    potential = random_potential(
        ("Al",), model_type=model_type, max_p=max_p, gtinv_order=order, gtinv_maxl=maxl, seed=9
    )
    atoms = random_crystal(["Al"] * 3, seed=10)
    atoms.calc = PolymlpCalculator(potential)
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, 1e-5), atol=1e-6)


def test_hybrid_is_sum_of_its_files(al_potential, tmp_path):
    other = random_potential(("Al",), seed=11, cutoff=4.0)
    al_potential.save(tmp_path / "a.yaml")
    other.save(tmp_path / "b.yaml", format="lammps")
    from polymlp_lab import load_potential

    hybrid = load_potential([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    assert hybrid.is_hybrid and hybrid.cutoff == 5.0
    atoms = random_crystal(["Al"] * 4, seed=12)
    total = hybrid.evaluate(atoms)
    parts = [al_potential.evaluate(atoms), other.evaluate(atoms)]
    assert abs(total.energy - sum(p.energy for p in parts)) < 1e-10
    np.testing.assert_allclose(total.forces, parts[0].forces + parts[1].forces, atol=1e-12)


@pytest.mark.parametrize("fmt", ["yaml", "lammps"])
def test_save_load_round_trip(mgo_potential, fmt, tmp_path):
    from polymlp_lab import load_potential

    mgo_potential.save(tmp_path / "p", format=fmt)
    again = load_potential(tmp_path / "p")
    atoms = random_crystal(["Mg", "O", "Mg", "O"], seed=13)
    assert again.elements == ("Mg", "O")
    np.testing.assert_allclose(again.evaluate(atoms).forces, mgo_potential.evaluate(atoms).forces, atol=1e-12)


def test_potential_rejects_empty_component_list():
    with pytest.raises(ValueError):
        Potential([])

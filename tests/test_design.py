"""Design rows (features and derivatives for fitting) against the engine and finite differences.

The design rows are computed by their own kernels (per-feature Jacobians times density
derivatives). Their plain twins here: the engine evaluated with coefficients picking one
feature (``e_k``), finite differences of the energy row, and the rows contracted with a
model's coefficients, which must give that model's energy, forces and stress.
"""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from polymlp_lab import Potential
from polymlp_lab.engine import design
from polymlp_lab.engine.design import build_feature_tables, design_rows

from conftest import random_potential
from test_properties import random_crystal

# pypolymlp's stress order (xx yy zz xy yz zx) -> ASE Voigt (xx yy zz yz xz xy)
POLYMLP_TO_ASE = [0, 1, 2, 4, 5, 3]

MODELS = {
    "Al gtinv order 3, model_type 4": dict(elements=("Al",), seed=1),
    "MgO pair-dependent radial, max_p 3": dict(
        elements=("Mg", "O"), seed=2, model_type=2, max_p=3, gtinv_order=2, gtinv_maxl=(4,),
        distance={("Mg", "O"): [2.1, 3.0], ("Mg", "Mg"): [3.0], ("O", "O"): [3.0]},
    ),
    "MgO model_type 3, order 4": dict(
        elements=("Mg", "O"), seed=5, model_type=3, max_p=2, gtinv_order=4,
        gtinv_maxl=(4, 2, 2), gaussian_params2=(0.0, 4.0, 3),
    ),
    "pair features, model_type 1": dict(
        elements=("Mg", "O"), seed=6, feature_type="pair", model_type=1, max_p=3,
    ),
}


def rows_of(potential, atoms, **kw):
    component = potential.components[0]
    tables = build_feature_tables(component.params)
    type_ids = component.type_ids(atoms.numbers)
    return tables, design_rows(tables, atoms.cell.array, atoms.positions, type_ids, atoms.pbc, **kw)


def structure_for(elements, seed):
    symbols = ["Al"] * 6 if elements == ("Al",) else ["Mg", "O", "O", "Mg", "Mg", "O", "O"]
    return random_crystal(symbols, seed=seed)


@pytest.mark.parametrize("name", MODELS)
def test_rows_times_coefficients_give_energy_forces_stress(name):
    choices = dict(MODELS[name])
    potential = random_potential(choices.pop("elements"), **choices)
    atoms = structure_for(potential.elements, seed=11)
    _, (energy_row, force_rows, stress_rows, _) = rows_of(potential, atoms)
    coeffs = potential.components[0].coeffs
    reference = potential.evaluate(atoms)
    assert abs(reference.energy) > 1e-4 and np.abs(reference.forces).max() > 1e-4
    np.testing.assert_allclose(energy_row @ coeffs, reference.energy, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose((force_rows @ coeffs).reshape(-1, 3), reference.forces, atol=1e-10)
    ase_stress = -(stress_rows @ coeffs)[POLYMLP_TO_ASE] / atoms.get_volume()
    np.testing.assert_allclose(ase_stress, reference.stress, atol=1e-11)


def test_each_column_is_the_engine_with_one_coefficient(mgo_potential):
    """Column k equals the engine evaluating the model whose only coefficient is k."""
    atoms = structure_for(("Mg", "O"), seed=12)
    tables, (energy_row, force_rows, stress_rows, _) = rows_of(mgo_potential, atoms)
    params = mgo_potential.components[0].params
    rng = np.random.default_rng(0)
    picks = list(rng.choice(tables.n_linear, 6, replace=False))
    picks += list(tables.n_linear + rng.choice(tables.n_features - tables.n_linear, 4, replace=False))
    for k in picks:
        unit = np.zeros(tables.n_features)
        unit[k] = 1.0
        one = Potential.from_params(params, unit).evaluate(atoms)
        np.testing.assert_allclose(energy_row[k], one.energy, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(force_rows[:, k].reshape(-1, 3), one.forces, atol=1e-10)


def test_force_and_stress_rows_are_finite_differences_of_the_energy_row(al_potential):
    atoms = structure_for(("Al",), seed=13)
    _, (energy_row, force_rows, stress_rows, _) = rows_of(al_potential, atoms)
    h = 1e-5
    for atom, axis in [(0, 0), (3, 2), (5, 1)]:
        rows = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * h
            rows.append(rows_of(al_potential, moved, derivatives=False)[1][0])
        numeric = -(rows[0] - rows[1]) / (2 * h)
        np.testing.assert_allclose(force_rows[3 * atom + axis], numeric,
                                   atol=1e-6 * np.abs(numeric).max())
    # stress rows: -dX/dε for a symmetric strain (xx, then xy as ε_xy = ε_yx)
    for component, (a, b) in [(0, (0, 0)), (3, (0, 1))]:
        rows = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * h / (1 if a == b else 2)
            strain[b, a] = strain[a, b]
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            rows.append(rows_of(al_potential, strained, derivatives=False)[1][0])
        numeric = -(rows[0] - rows[1]) / (2 * h)
        np.testing.assert_allclose(stress_rows[component], numeric,
                                   atol=1e-6 * np.abs(numeric).max())


def test_chunked_centres_give_the_same_rows(mgo_potential, monkeypatch):
    atoms = structure_for(("Mg", "O"), seed=14)
    _, whole = rows_of(mgo_potential, atoms)
    monkeypatch.setattr(design, "CHUNK_BYTES", 1)  # one centre per chunk
    _, chunked = rows_of(mgo_potential, atoms)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


def test_rows_are_invariant_to_rotation_and_follow_permutation(mgo_potential):
    atoms = structure_for(("Mg", "O"), seed=15)
    _, (e0, f0, s0, x0) = rows_of(mgo_potential, atoms)
    rotation = Rotation.from_rotvec([0.3, -1.1, 0.7]).as_matrix()
    turned = atoms.copy()
    turned.set_cell(atoms.cell.array @ rotation.T, scale_atoms=True)
    _, (e1, f1, _, x1) = rows_of(mgo_potential, turned)
    np.testing.assert_allclose(e1, e0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x1, x0, rtol=1e-10, atol=1e-12)
    # forces rotate as vectors: F' = R F for every column
    f0v = f0.reshape(len(atoms), 3, -1)
    f1v = f1.reshape(len(atoms), 3, -1)
    np.testing.assert_allclose(f1v, np.einsum("ab,nbk->nak", rotation, f0v), atol=1e-10)
    order = np.random.default_rng(1).permutation(len(atoms))
    _, (e2, f2, s2, x2) = rows_of(mgo_potential, atoms[order])
    np.testing.assert_allclose(e2, e0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s2, s0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x2, x0[order], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(f2.reshape(len(atoms), 3, -1), f0v[order], atol=1e-12)


def test_energy_only_rows_match_full_rows(al_potential):
    atoms = structure_for(("Al",), seed=16)
    _, (e_full, _, _, x_full) = rows_of(al_potential, atoms)
    _, (e_only, f_none, s_none, x_only) = rows_of(al_potential, atoms, derivatives=False)
    assert f_none is None and s_none is None
    np.testing.assert_allclose(e_only, e_full, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x_only, x_full, rtol=1e-12, atol=1e-14)

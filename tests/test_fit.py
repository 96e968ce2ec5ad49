"""Fitting: normal equations, ridge selection, outputs, datasets, and agreement with pypolymlp.

Synthetic data come from a random-coefficient potential of the same model, so a good fit
must reproduce it; the shared VASP data are compared with pypolymlp's own fit.
"""

import os
import shutil

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from polymlp_lab import load_potential
from polymlp_lab.engine.design import build_feature_tables
from polymlp_lab.fitting import (
    Dataset, PolymlpFit, plot_parity, read_dataset, read_polymlp_in, split_indices,
)
from polymlp_lab.fitting.gram import NormalEquations, block_of, structure_rows

from conftest import SHARED, random_potential
from test_properties import random_crystal

MODEL = dict(elements=("Mg", "O"), cutoff=5.0, model_type=3, max_p=2, gtinv_order=2,
             gtinv_maxl=(4,), gaussian_params2=(0.0, 4.0, 4))
ATOMIC = {"Mg": -0.25, "O": -1.5}


def labelled(potential, n, seed, symbols=("Mg", "O", "O", "Mg", "Mg", "O")):
    """Structures labelled by ``potential`` (plus isolated-atom energies)."""
    out = []
    for k in range(n):
        atoms = random_crystal(list(symbols), seed=seed + k)
        result = potential.evaluate(atoms)
        energy = result.energy + sum(ATOMIC[s] for s in atoms.get_chemical_symbols())
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=result.forces,
                                           stress=result.stress)
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def truth():
    model = dict(MODEL)
    return random_potential(model.pop("elements"), seed=21, scale=3e-3, **model)


@pytest.fixture(scope="module")
def synthetic(truth):
    return Dataset("synthetic", labelled(truth, 24, seed=100))


@pytest.fixture(scope="module")
def fitted(synthetic):
    return PolymlpFit(**MODEL, atomic_energy=ATOMIC, alphas=(1e-6, 1e-4, 1e-2, 1.0),
                      progress=False).fit(synthetic)


def test_fit_recovers_the_model_that_made_the_data(fitted, truth, synthetic):
    assert fitted.n_features_ == len(truth.components[0].coeffs)
    test_errors = [e for e in fitted.errors_ if e.kind == "test"]
    assert test_errors and all(e.n_structures > 0 for e in test_errors)
    force_scale = max(np.abs(a.calc.results["forces"]).max() for a in synthetic.structures)
    for e in fitted.errors_:
        assert e.rmse_energy < 1e-3  # meV/atom, against a spread of ~1.6 meV/atom
        assert e.rmse_force < 1e-3 * force_scale
    fresh = labelled(truth, 3, seed=500)
    for atoms in fresh:
        predicted = fitted.potential_.evaluate(atoms)
        np.testing.assert_allclose(predicted.forces, atoms.calc.results["forces"],
                                   atol=1e-3 * force_scale)


def test_fit_returns_self_and_selects_the_lowest_test_rmse(synthetic):
    estimator = PolymlpFit(**MODEL, atomic_energy=ATOMIC, alphas=(1e-3, 10.0), progress=False)
    assert not hasattr(estimator, "coef_")  # nothing learned in __init__
    assert estimator.fit(synthetic) is estimator
    assert estimator.alpha_ == estimator.alphas[int(np.argmin(estimator.rmse_test_))]
    assert estimator.rmse_train_.shape == (2,) and np.all(np.isfinite(estimator.rmse_test_))


def test_normal_equations_equal_the_explicit_weighted_system(truth, synthetic):
    tables = build_feature_tables(truth.components[0].params)
    structures = synthetic.structures[:5]
    parts, e_rows = [], []
    for atoms in structures:
        type_ids = np.array([tables.elements.index(s) for s in atoms.get_chemical_symbols()])
        p, e_row = structure_rows(tables, atoms, type_ids, atomic_energy=ATOMIC, min_energy=-2.0,
                                  weight=0.7, include_force=True, include_stress=True,
                                  weight_stress=0.1)
        parts.append(p)
        e_rows.append(e_row)
    x = np.vstack([rows * w[:, None] for p in parts for rows, _, w in p])
    y = np.concatenate([t * w for p in parts for _, t, w in p])
    sums = NormalEquations.zeros(tables.n_features)
    sums.add(block_of(parts[:2], np.array(e_rows[:2])))
    sums.add(block_of(parts[2:], np.array(e_rows[2:])))
    np.testing.assert_allclose(sums.full_xtx(), x.T @ x, rtol=1e-12, atol=1e-12 * np.abs(x).max() ** 2)
    np.testing.assert_allclose(sums.xty, x.T @ y, rtol=1e-12, atol=1e-14)
    assert sums.yty == pytest.approx(y @ y, rel=1e-12)
    assert sums.n_energy == 5
    # 6 atoms: 1 energy + 18 force + 6 stress rows per structure
    assert len(y) == 5 * (1 + 18 + 6)


def test_saved_yaml_is_read_by_pypolymlp_to_the_same_numbers(fitted, synthetic, tmp_path):
    from pypolymlp.calculator.properties import Properties
    from pypolymlp.calculator.utils.ase_utils import ase_atoms_to_structure

    path = fitted.save(tmp_path / "polymlp.yaml")[0]
    ours = load_potential(path)
    reference = Properties(pot=str(path))
    atoms = synthetic.structures[0]
    energy, forces, _ = reference.eval(ase_atoms_to_structure(atoms))
    result = ours.evaluate(atoms)
    assert energy == pytest.approx(result.energy, abs=1e-8)
    np.testing.assert_allclose(np.asarray(forces).T, result.forces, atol=1e-8)
    np.testing.assert_allclose(ours.components[0].coeffs, fitted.coef_, rtol=1e-14)


def test_error_yaml_and_parity_outputs(fitted, tmp_path):
    import yaml

    path = fitted.save_errors(tmp_path / "polymlp_error.yaml")
    data = yaml.safe_load(path.read_text())
    assert data["units"]["energy"] == "meV/atom"
    blocks = data["prediction_errors"]
    assert [b["dataset"] for b in blocks] == [e.dataset for e in fitted.errors_]
    assert blocks[0]["rmse_energy"] == pytest.approx(fitted.errors_[0].rmse_energy)
    fig = plot_parity(fitted.errors_)
    points = sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections)
    n_e = sum(e.n_structures for e in fitted.errors_)
    assert points >= n_e + 18 * n_e  # energies and force components at least


def test_extxyz_round_trip(synthetic, tmp_path):
    path = tmp_path / "data.extxyz"
    write(path, synthetic.structures[:4], format="extxyz")
    back = read_dataset(path)
    assert len(back) == 4
    for a, b in zip(synthetic.structures[:4], back.structures):
        assert b.calc.results["energy"] == pytest.approx(a.calc.results["energy"], rel=1e-12)
        # extxyz stores 8 decimals
        np.testing.assert_allclose(b.calc.results["forces"], a.calc.results["forces"], atol=1e-8)
        np.testing.assert_allclose(b.calc.results["stress"], a.calc.results["stress"], atol=1e-8)


@pytest.mark.parametrize("n", [1, 9, 20, 66, 1000])
def test_split_follows_pypolymlp(n):
    from pypolymlp.core.utils import split_ids_train_test

    train, test = split_indices(n, 0.9)
    ref_train, ref_test = split_ids_train_test(n, 0.9)
    assert list(train) == list(ref_train) and list(test) == list(ref_test)


def _shared_dataset(name):
    path = SHARED / "datasets" / name
    if not (path / "polymlp.in").is_file():
        pytest.skip(f"conformance data absent: {path} (set POLYMLP_LAB_SHARED)")
    return path


def test_md_vasprun_matches_pypolymlp_parser():
    from pypolymlp.core.interface_vasp import parse_properties_from_vaspruns

    path = _shared_dataset("Cu-md") / "vasprun.xml"
    data = read_dataset(path)
    structures, (energies, forces, stresses) = parse_properties_from_vaspruns([str(path)])
    assert len(data) == len(structures) > 10
    for atoms, e, f, s in zip(data.structures, energies, forces, stresses):
        assert atoms.calc.results["energy"] == pytest.approx(e, abs=1e-10)
        np.testing.assert_allclose(atoms.calc.results["forces"], np.asarray(f).T, atol=1e-12)
        sigma = -atoms.get_volume() * atoms.calc.results["stress"]  # eV/cell, Voigt
        np.testing.assert_allclose(sigma[[0, 1, 2]], np.diag(s), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(sigma[[3, 4, 5]], [s[1][2], s[0][2], s[0][1]], rtol=1e-9, atol=1e-9)


def test_small_mgo_fit_equals_pypolymlp(tmp_path):
    """30 + 6 MgO structures: same alpha, coefficients and errors as pypolymlp's fit."""
    from pypolymlp.mlp_dev.pypolymlp import Pypolymlp

    source = _shared_dataset("MgO")
    files = sorted((source / "dataset").glob("vasprun-*.xml.polymlp"))[:36]
    for name, chosen in (("train", files[:30]), ("test", files[30:])):
        (tmp_path / name).mkdir()
        for f in chosen:
            os.symlink(f, tmp_path / name / f.name)
    text = (source / "polymlp.in").read_text().replace(
        "data dataset/vasprun-*.xml.polymlp",
        "train_data train/*.xml.polymlp\ntest_data test/*.xml.polymlp")
    (tmp_path / "polymlp.in").write_text(text)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        reference = Pypolymlp(verbose=False)
        reference.load_parameter_file("polymlp.in")
        reference.fit()
        spec = read_polymlp_in("polymlp.in")
    finally:
        os.chdir(cwd)
    assert [len(d) for d in spec.train] == [30] and [len(d) for d in spec.test] == [6]
    fit = PolymlpFit(params=spec.params, alphas=spec.alphas, atomic_energy=spec.atomic_energy,
                     progress=False).fit(spec.train, spec.test)
    assert fit.alpha_ == reference.summary.alpha
    ref_coef = reference.summary.coeffs / reference.summary.scales
    assert np.abs(fit.coef_ - ref_coef).max() < 1e-5 * np.abs(ref_coef).max()
    ref_potential = fit.potential_.from_params(spec.params, ref_coef)
    from polymlp_lab.fitting import dataset_errors

    for ours in fit.errors_:
        dataset = (spec.train + spec.test)[fit.errors_.index(ours)]
        theirs = dataset_errors(ref_potential, dataset, spec.atomic_energy, ours.kind)
        for key in ("rmse_energy", "rmse_force", "rmse_stress"):
            assert getattr(ours, key) == pytest.approx(getattr(theirs, key), rel=1e-4)
    shutil.rmtree(tmp_path / "train")

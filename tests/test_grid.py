"""Grid search: candidates as pypolymlp enumerates them, Pareto front and lower convex hull,
cost timing, a small real grid on Dask, and resuming the command line after a kill.

The Dask runs use the shared MgO data (skipped without it): one in-process run_grid
(module fixture ``mgo_grid``) and two runs of ``python -m polymlp_lab.cli grid``.
"""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from itertools import product
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from hypothesis import given, settings
from hypothesis import strategies as st

from polymlp_lab import data, load_potential
from polymlp_lab.errors import UnknownElementError
from polymlp_lab.fitting import Dataset, dataset_errors
from polymlp_lab.grid import (
    GridModel, ModelSpec, cost_structure, default_cutoffs, enumerate_models, gtinv_maxl_lists,
    lower_convex_hull_mask, measure_cost, pareto_mask, pareto_rows, plot_pareto, read_results,
    run_grid,
)
from polymlp_lab.grid.cost import cost_yaml
from polymlp_lab.grid.search import table_columns
from polymlp_lab.models import n_features

from conftest import random_potential

MGO_ATOMIC = data.atomic_energy("MgO")  # polymlp.in of the MgO data: Mg -0.0004, O -1.85321219
# 10 binary candidates: 4 pair, 4 gtinv model_type 3, and 2 gtinv model_type 2 of order 3
# (87210 and 154684 coefficients: too large for any memory, so they must fail cleanly)
SMALL_GRID = dict(cutoffs=(5.0,), n_gaussians=(3, 4), model_types=(2, 3), pair_max_ps=(2, 3),
                  gtinv_order_max=3, gtinv_maxl_max=(4, 4))
SPEC_COLUMNS = ["name", "feature_type", "cutoff", "n_gaussians", "model_type", "max_p",
                "gtinv_order", "gtinv_maxl"]
RESULT_COLUMNS = ["n_features", "alpha", "rmse_energy", "rmse_force", "mae_energy", "mae_force",
                  "rmse_energy_train", "rmse_force_train", "cost", "cost_median", "cost_max",
                  "fit_s", "status"]
FIT_FILES = {"polymlp.yaml", "polymlp_error.yaml", "polymlp_cost.yaml", "polymlp_extrapolation.npz"}


# ---------------------------------------------------------------------------------------
# Pareto front and lower convex hull


def brute_pareto(cost, error) -> np.ndarray:
    """Non-dominated finite points, by comparing every pair."""
    finite = np.isfinite(cost) & np.isfinite(error)
    n = len(cost)
    return np.array([
        finite[i] and not any(
            finite[j] and cost[j] <= cost[i] and error[j] <= error[i]
            and (cost[j] < cost[i] or error[j] < error[i]) for j in range(n))
        for i in range(n)
    ], dtype=bool)


def brute_lower_hull(x, y) -> set:
    """Vertices (as points) of the lower hull of the Pareto points, exactly, for small
    integer coordinates: a Pareto point is a vertex iff it lies strictly below every chord
    between two other Pareto points on either side of it (the end points always are)."""
    points = sorted({(x[i], y[i]) for i in np.flatnonzero(brute_pareto(x, y))})
    vertices = set()
    for p in points:
        below = all(
            (r[0] - q[0]) * (p[1] - q[1]) - (r[1] - q[1]) * (p[0] - q[0]) < 0
            for q in points for r in points if q[0] < p[0] < r[0])
        if below:
            vertices.add(p)
    return vertices


value = st.one_of(st.integers(0, 5).map(float), st.just(math.nan),
                  st.floats(0.0, 10.0, allow_nan=False))
cloud = st.lists(st.tuples(value, value), max_size=30)


@settings(max_examples=300, deadline=None)
@given(cloud)
def test_pareto_mask_is_brute_force_dominance(points):
    cost = np.array([p[0] for p in points], dtype=float)
    error = np.array([p[1] for p in points], dtype=float)
    mask = pareto_mask(cost, error)
    assert mask.dtype == bool and mask.shape == cost.shape
    np.testing.assert_array_equal(mask, brute_pareto(cost, error))
    # duplicates share their verdict; a NaN never makes the front
    for i, j in product(range(len(cost)), repeat=2):
        if cost[i] == cost[j] and error[i] == error[j]:
            assert mask[i] == mask[j]
    assert not mask[np.isnan(cost) | np.isnan(error)].any()


integer_cloud = st.lists(st.tuples(st.integers(1, 12), st.integers(0, 12)), min_size=1, max_size=25)


@settings(max_examples=300, deadline=None)
@given(integer_cloud)
def test_lower_hull_vertices_are_the_exact_ones(points):
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    hull = lower_convex_hull_mask(x, y, log_cost=False)
    optimal = pareto_mask(x, y)
    assert not (hull & ~optimal).any()  # every hull point is Pareto optimal
    assert {(x[i], y[i]) for i in np.flatnonzero(hull)} == brute_lower_hull(x, y)

    # the hull runs from the cheapest to the most accurate Pareto point, convex and falling
    # (duplicates of one point count once: see test_identical_models_get_the_same_hull_flag)
    hx, hy = np.array(sorted({(x[i], y[i]) for i in np.flatnonzero(hull)})).T
    assert hx[0] == x[optimal].min() and hx[-1] == x[optimal].max()
    slopes = np.diff(hy) / np.diff(hx)
    assert np.all(slopes < 0) and np.all(np.diff(slopes) > 0)
    # no Pareto point lies strictly below the chord between its hull neighbours
    for px, py in zip(x[optimal], y[optimal]):
        k = min(np.searchsorted(hx, px, side="right"), len(hx) - 1)
        if k == 0 or hx[k - 1] == px:
            continue
        chord = hy[k - 1] + (hy[k] - hy[k - 1]) * (px - hx[k - 1]) / (hx[k] - hx[k - 1])
        assert py >= chord


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-4, 1e2), st.floats(0.0, 50.0)), max_size=20))
def test_lower_hull_uses_log10_cost(points):
    cost = np.array([p[0] for p in points], dtype=float)
    error = np.array([p[1] for p in points], dtype=float)
    np.testing.assert_array_equal(lower_convex_hull_mask(cost, error),
                                  lower_convex_hull_mask(np.log10(cost), error, log_cost=False))


def test_lower_hull_matches_scipy_convex_hull_on_random_fronts():
    """Qhull's facets facing down (outward normal with y < 0) on (log10 cost, error)."""
    from scipy.spatial import ConvexHull

    rng = np.random.default_rng(7)
    above_chord = 0
    for _ in range(40):
        x = rng.uniform(-3.0, 0.0, 60)
        cost = 10.0**x
        error = 10.0 * np.exp(-1.5 * (x + 3.0)) + rng.uniform(0.0, 3.0, 60)
        optimal = np.flatnonzero(pareto_mask(cost, error))
        assert len(optimal) >= 3
        points = np.column_stack([np.log10(cost[optimal]), error[optimal]])
        qhull = ConvexHull(points)
        lower = qhull.simplices[qhull.equations[:, 1] < 0]
        expected = np.zeros(len(cost), dtype=bool)
        expected[optimal[np.unique(lower)]] = True
        hull = lower_convex_hull_mask(cost, error)
        np.testing.assert_array_equal(hull, expected)
        above_chord += int(len(optimal) - hull.sum())
    assert above_chord > 10  # the fronts do have Pareto points above a hull chord


def test_pareto_but_not_on_hull_example():
    """pypolymlp's hull selection drops (3, 4.5) between (2, 5) and (4, 3); it is Pareto."""
    cost = np.array([2.0, 3.0, 4.0, 5.0, 2.5])
    error = np.array([5.0, 4.5, 3.0, 6.0, 5.5])
    assert pareto_mask(cost, error).tolist() == [True, True, True, False, False]
    for log_cost in (True, False):
        assert lower_convex_hull_mask(cost, error, log_cost=log_cost).tolist() == [
            True, False, True, False, False]
    rows = [GridModel(f"m{k}", status="ok", cost=c, rmse_energy=e, rmse_force=1.0 / c)
            for k, (c, e) in enumerate(zip(cost, error))]
    rows.append(GridModel("broken", status="failed: ModelTooLargeError: ...", cost=None,
                          rmse_energy=None, rmse_force=None))
    rows.append(GridModel("cheap-no-error", status="ok", cost=0.1, rmse_energy=None,
                          rmse_force=0.1))
    front = pareto_rows(rows)
    assert [r.name for r in front] == ["m0", "m1", "m2"]  # sorted by cost
    assert [r.on_convex_hull for r in front] == [True, False, True]
    assert rows[0].on_convex_hull is None  # the input rows are left alone
    by_force = pareto_rows(rows, "force")  # needs only a force error: (0.1, 0.1) beats all
    assert [r.name for r in by_force] == ["cheap-no-error"]
    assert pareto_rows([rows[-2]]) == []


def test_identical_models_get_the_same_hull_flag():
    cost = np.array([1.0, 2.0, 2.0, 4.0])
    error = np.array([4.0, 1.0, 1.0, 0.5])
    assert pareto_mask(cost, error).tolist() == [True, True, True, True]
    hull = lower_convex_hull_mask(cost, error, log_cost=False)
    assert hull[1] == hull[2]


# ---------------------------------------------------------------------------------------
# candidate models


def _pypolymlp_grid(elements, **kwargs) -> list:
    from pypolymlp.utils.grid_search.api_grid_search import PolymlpGridSearch

    grid = PolymlpGridSearch(tuple(elements))
    grid.set_params(**kwargs)
    grid.run()
    keys = []
    for p in grid.grid:
        m = p.model
        order = m.gtinv.order if m.gtinv is not None else 0
        maxl = tuple(int(v) for v in m.gtinv.max_l) if m.gtinv is not None else ()
        keys.append((m.feature_type, float(m.cutoff), int(m.n_gaussians), int(m.model_type),
                     int(m.max_p), int(order), maxl))
    return keys


def _key(spec: ModelSpec):
    return (spec.feature_type, float(spec.cutoff), int(spec.n_gaussians), int(spec.model_type),
            int(spec.max_p), int(spec.gtinv_order), tuple(int(v) for v in spec.gtinv_maxl))


def test_default_grid_is_pypolymlps_186_models():
    theirs = _pypolymlp_grid(("Cu",))
    ours = [_key(m) for m in enumerate_models(("Cu",))]
    assert len(ours) == len(set(ours)) == 186
    assert set(ours) == set(theirs)
    count = Counter((k[0], k[3], k[4]) for k in ours)
    assert count == {("pair", 2, 2): 6, ("pair", 2, 3): 6, ("gtinv", 2, 2): 18,
                     ("gtinv", 3, 2): 78, ("gtinv", 4, 2): 78}
    assert default_cutoffs(("Cu",)) == (6.0, 8.0)
    assert gtinv_maxl_lists() == [
        (4,), (8,), (12,), (4, 4), (8, 4), (8, 8), (12, 4), (12, 8),
        (4, 4, 2), (8, 4, 2), (8, 8, 2), (12, 4, 2), (12, 8, 2)]


@pytest.mark.parametrize("elements, ours, theirs", [
    (("Mg", "O"), {}, {}),  # automatic cutoffs 7 and 9 Å
    (("Cs", "K", "Li"), {}, {}),  # large atoms: 10 and 13 Å
    (("Mg", "O"), SMALL_GRID,
     dict(cutoffs=(5.0,), nums_gaussians=(3, 4), model_types=(2, 3), maxps=(2, 3),
          gtinv_order_ub=3, gtinv_maxl_ub=(4, 4))),
    (("Al",), dict(cutoffs=(5.0, 7.0), pair_max_ps=(3,)), dict(cutoffs=(5.0, 7.0), maxps=(3,))),
    (("Al",), dict(feature_types=("pair",), model_types=(1, 2, 3, 4)),
     dict(gtinv=False, model_types=(1, 2, 3, 4))),
    (("Ti",), dict(gtinv_order_max=3, gtinv_maxl_max=(8, 4), gtinv_maxl_step=(2, 2)),
     dict(gtinv_order_ub=3, gtinv_maxl_ub=(8, 4), gtinv_maxl_int=(2, 2))),
])
def test_narrowed_grids_match_pypolymlp(elements, ours, theirs):
    mine = [_key(m) for m in enumerate_models(elements, **ours)]
    reference = _pypolymlp_grid(elements, **theirs)
    assert len(mine) == len(set(mine)) and set(mine) == set(reference)


def test_models_come_in_pypolymlps_order():
    assert [_key(m) for m in enumerate_models(("Cu",))] == _pypolymlp_grid(("Cu",))


def test_narrowing_keywords():
    models = enumerate_models(("Cu",), cutoffs=(5.0,))
    assert {m.cutoff for m in models} == {5.0}
    assert {m.n_gaussians for m in models} == {6, 8, 9}  # rint(6 r), r = 1, 1.25, 1.5
    models = enumerate_models(("Cu",), n_gaussians=(5,))
    assert {(m.cutoff, m.n_gaussians) for m in models} == {(6.0, 5), (8.0, 5)}
    assert len(models) == 2 * 2 + 2 * 29
    pair = enumerate_models(("Cu",), feature_types=("pair",))
    assert len(pair) == 12 and {m.feature_type for m in pair} == {"pair"}
    gtinv = enumerate_models(("Cu",), feature_types=("gtinv",))
    assert len(gtinv) == 174 and {m.max_p for m in gtinv} == {2}
    assert {m.model_type for m in enumerate_models(("Cu",), model_types=(4,))} == {2, 4}
    assert max(m.gtinv_order for m in enumerate_models(("Cu",), gtinv_order_max=3)) == 3
    with pytest.raises(UnknownElementError):
        enumerate_models(("Xx",))


def test_max_features_drops_the_large_models():
    everything = enumerate_models(("Cu",), cutoffs=(6.0,), n_gaussians=(7,))
    counts = {m.name: n_features(m.params(("Cu",))) for m in everything}
    limit = 1000
    kept = enumerate_models(("Cu",), cutoffs=(6.0,), n_gaussians=(7,), max_features=limit)
    assert kept == [m for m in everything if counts[m.name] <= limit]
    assert 0 < len(kept) < len(everything)
    assert enumerate_models(("Cu",), cutoffs=(6.0,), n_gaussians=(7,),
                            max_features=max(counts.values())) == everything


def test_model_names_are_unique_and_stable():
    models = enumerate_models(("Cu",)) + enumerate_models(("Cu",), cutoffs=(5.5,))
    names = [m.name for m in models]
    assert len(set(names)) == len(names) == len(set(models))
    again = enumerate_models(("Cu",)) + enumerate_models(("Cu",), cutoffs=(5.5,))
    assert names == [m.name for m in again]
    assert ModelSpec("gtinv", 6.0, 7, 3, 2, 3, (8, 4)).name == "gtinv-c6-g7-m3-p2-o3-l8_4"
    assert ModelSpec("pair", 5.5, 7, 2, 3).name == "pair-c5.5-g7-m2-p3"
    assert ModelSpec("gtinv", 8.0, 14, 4, 2, 4, (12, 8, 2)).as_row() == dict(
        name="gtinv-c8-g14-m4-p2-o4-l12_8_2", feature_type="gtinv", cutoff=8.0, n_gaussians=14,
        model_type=4, max_p=2, gtinv_order=4, gtinv_maxl="12 8 2")


def test_two_models_with_one_name_are_refused(tmp_path):
    atoms = Atoms("Mg", cell=np.eye(3) * 3.0, pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.zeros((1, 3)),
                                       stress=np.zeros(6))
    spec = ModelSpec("pair", 5.0, 3, 2, 2)
    with pytest.raises(ValueError, match="same name"):
        run_grid(("Mg",), Dataset("one", [atoms]), models=[spec, spec], out=tmp_path / "out",
                 progress=False)
    assert not (tmp_path / "out").exists()  # refused before anything is written


@pytest.mark.parametrize("cutoff, n", [(6.0, 7), (8.0, 7), (5.0, 4)])
def test_model_gaussians_follow_pypolymlps_n_gaussians_rule(cutoff, n):
    from pypolymlp.core.params_utils import set_gaussian_params

    params = ModelSpec("gtinv", cutoff, n, 3, 2, 3, (4, 4)).params(("Mg", "O"))
    expected = set_gaussian_params(n_gaussians=n, cutoff=cutoff)
    np.testing.assert_allclose(np.array(params.model.pair_params, dtype=float),
                               np.array(expected, dtype=float), rtol=0, atol=1e-12)
    assert params.model.cutoff == cutoff and tuple(params.model.gtinv.max_l) == (4, 4)


# ---------------------------------------------------------------------------------------
# cost


@pytest.mark.parametrize("elements, counts", [
    (("Cu",), {"Cu": 256}),
    (("Mg", "O"), {"Mg": 128, "O": 128}),
    (("Ti", "Al", "O"), {"Ti": 64, "Al": 64, "O": 128}),
    (("Li", "Na", "K", "Rb"), {"Li": 64, "Na": 64, "K": 64, "Rb": 64}),
])
def test_cost_structure_is_pypolymlps(elements, counts):
    from pypolymlp.postproc.count_time import PolymlpCost

    atoms = cost_structure(elements)
    assert len(atoms) == 256 and Counter(atoms.get_chemical_symbols()) == counts
    np.testing.assert_allclose(atoms.cell.array, np.eye(3) * 16.0)
    assert atoms.pbc.all()
    # pypolymlp's own structure (built without a potential file)
    reference = PolymlpCost.__new__(PolymlpCost)
    reference._poscar, reference._elements, reference._supercell_size = None, elements, (4, 4, 4)
    sc = reference._set_structure()
    theirs = sorted(zip(np.round((np.asarray(sc.axis) @ np.asarray(sc.positions)).T, 8).tolist(),
                        sc.elements))
    ours = sorted(zip(np.round(atoms.positions, 8).tolist(), atoms.get_chemical_symbols()))
    assert [(tuple(p), e) for p, e in ours] == [(tuple(p), e) for p, e in theirs]


def test_cost_structure_refuses_five_elements():
    with pytest.raises(ValueError):
        cost_structure(("H", "He", "Li", "Be", "B"))


def test_measure_cost_spread_and_model_size():
    from numba import get_num_threads

    small = random_potential(("Mg", "O"), seed=3, feature_type="pair", model_type=2, max_p=2,
                             gaussian_params2=(0.0, 4.0, 4))  # 110 coefficients
    big = random_potential(("Mg", "O"), seed=4, cutoff=6.0, model_type=3, max_p=2,
                           gtinv_order=3, gtinv_maxl=(4, 4), gaussian_params2=(0.0, 5.0, 8))  # 1899
    sizes = [len(p.components[0].coeffs) for p in (small, big)]
    assert sizes[1] > 10 * sizes[0]
    threads = get_num_threads()
    costs = [measure_cost(p, repeats=3, steps=2) for p in (small, big)]
    assert get_num_threads() == threads  # restored
    for c in costs:
        assert 0 < c.cost <= c.cost_median <= c.cost_max
        assert c.n_atoms == 256 and c.repeats == 3 and c.steps >= 2 and c.threads == 1
    assert costs[1].cost_median > 1.5 * costs[0].cost_median  # seen: 4x to 8x

    text = yaml.safe_load(cost_yaml(costs[0], ("Mg", "O"), costs[1]))
    assert text["system"] == "Mg-O" and text["units"]["time"] == "msec/atom/step"
    assert text["costs"]["single_core"] == costs[0].cost
    assert text["costs"]["openmp"] == costs[1].cost
    assert text["measurement"]["median"] == costs[0].cost_median


# ---------------------------------------------------------------------------------------
# a small real grid on Dask


@pytest.fixture(scope="module")
def mgo_grid(tmp_path_factory):
    """run_grid on 45 + 5 MgO structures with the 10 SMALL_GRID models, 2 workers."""
    train, test = data.dataset("MgO", indices=range(0, 1000, 20)).split(0.9)
    models = enumerate_models(("Mg", "O"), **SMALL_GRID)
    out = tmp_path_factory.mktemp("grid") / "out"
    rows = run_grid(("Mg", "O"), train, test, models=models, out=out, n_workers=2,
                    atomic_energy=MGO_ATOMIC, cost_repeats=3, progress=False)
    return dict(rows=rows, models=models, out=out, train=train, test=test)


def _csv(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def test_grid_records_every_model_and_the_failures(mgo_grid):
    rows, models, out = mgo_grid["rows"], mgo_grid["models"], mgo_grid["out"]
    assert len(models) >= 8 and len(mgo_grid["train"]) == 45 and len(mgo_grid["test"]) == 5
    assert [r.name for r in rows] == [m.name for m in models]  # in candidate order
    assert sorted(rows, key=lambda r: r.name) == read_results(out)
    failed = [r for r in rows if r.status != "ok"]
    assert {r.name for r in failed} == {
        m.name for m in models if m.feature_type == "gtinv" and m.model_type == 2}
    for r in failed:
        assert r.status.startswith("failed: ModelTooLargeError")
        assert r.rmse_energy is None and r.cost is None
        assert not (out / "models" / r.name).exists()
    ok = [r for r in rows if r.status == "ok"]
    assert len(ok) == 8
    for r in ok:
        spec = next(m for m in models if m.name == r.name)
        assert r.n_features == n_features(spec.params(("Mg", "O")))
        assert 0 < r.cost <= r.cost_median <= r.cost_max
        assert r.rmse_energy > 0 and r.rmse_force > 0 and r.alpha > 0
        assert {p.name for p in (out / "models" / r.name).iterdir()} == FIT_FILES
    # bigger models of one family fit the training data better
    by_name = {r.name: r for r in ok}
    assert (by_name["gtinv-c5-g4-m3-p2-o3-l4_4"].rmse_energy_train
            < by_name["pair-c5-g3-m2-p2"].rmse_energy_train)


def test_grid_tables(mgo_grid):
    rows, out = mgo_grid["rows"], mgo_grid["out"]
    columns, table = _csv(out / "models.csv")
    assert columns == SPEC_COLUMNS + RESULT_COLUMNS
    assert [t["name"] for t in table] == [r.name for r in rows]
    for t, r in zip(table, rows):
        assert t["status"] == r.status
        if r.status == "ok":
            assert float(t["rmse_energy"]) == r.rmse_energy and float(t["cost"]) == r.cost
            assert int(t["n_features"]) == r.n_features

    front = pareto_rows(rows)
    assert front and len(front) < 8
    columns, table = _csv(out / "pareto.csv")
    assert columns == SPEC_COLUMNS + RESULT_COLUMNS + ["on_convex_hull"]
    assert [t["name"] for t in table] == [r.name for r in front]
    for t, r in zip(table, front):
        assert t["on_convex_hull"] == str(r.on_convex_hull)
        assert float(t["cost"]) == r.cost and float(t["rmse_energy"]) == r.rmse_energy
    ok = [r for r in rows if r.status == "ok"]
    mask = pareto_mask([r.cost for r in ok], [r.rmse_energy for r in ok])
    assert {r.name for r in front} == {r.name for r, m in zip(ok, mask) if m}

    summary = json.loads((out / "summary.json").read_text())
    assert summary["pareto"] == [r.name for r in front]
    assert summary["convex_hull"] == [r.name for r in front if r.on_convex_hull]
    assert [m["name"] for m in summary["models"]] == [r.name for r in rows]

    chosen = sorted(p.name for p in (out / "polymlps").iterdir())
    assert chosen == sorted(r.name for r in front)
    for r in front:
        directory = out / "polymlps" / r.name
        assert {p.name for p in directory.iterdir()} == FIT_FILES
        errors = yaml.safe_load((directory / "polymlp_error.yaml").read_text())
        test_entries = [e for e in errors["prediction_errors"] if e["dataset"].startswith("Test_")]
        assert len(test_entries) == 1 and test_entries[0]["rmse_energy"] == r.rmse_energy
        cost = yaml.safe_load((directory / "polymlp_cost.yaml").read_text())
        assert cost["costs"]["single_core"] == r.cost
        assert cost["measurement"]["n_atoms"] == 256


def test_saved_potentials_reproduce_the_recorded_test_errors(mgo_grid):
    out, test = mgo_grid["out"], mgo_grid["test"]
    for r in pareto_rows(mgo_grid["rows"]):
        potential = load_potential(out / "polymlps" / r.name / "polymlp.yaml")
        assert len(potential.components[0].coeffs) == r.n_features
        again = dataset_errors(potential, test, MGO_ATOMIC, "test")
        assert again.rmse_energy == pytest.approx(r.rmse_energy, rel=1e-8)
        assert again.rmse_force == pytest.approx(r.rmse_force, rel=1e-8)
        assert again.mae_energy == pytest.approx(r.mae_energy, rel=1e-8)


def test_rerun_of_a_finished_grid_recomputes_nothing(mgo_grid, monkeypatch):
    import distributed

    def no_cluster(*args, **kwargs):
        raise AssertionError("a finished grid started Dask again")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    monkeypatch.setattr(distributed, "Client", no_cluster)
    out = mgo_grid["out"]
    before = {p.name: p.stat().st_mtime_ns for p in (out / "records").glob("*.json")}
    rows = run_grid(("Mg", "O"), mgo_grid["train"], mgo_grid["test"], models=mgo_grid["models"],
                    out=out, n_workers=2, atomic_energy=MGO_ATOMIC, cost_repeats=3,
                    progress=False)  # the fixture's cost protocol: another would be refused
    assert rows == mgo_grid["rows"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "records").glob("*.json")} == before


def test_pypolymlp_find_optimal_reads_the_model_directories(mgo_grid, tmp_path, monkeypatch):
    from pypolymlp.utils.grid_optimal import find_optimal_mlps

    out = mgo_grid["out"]
    ok = [r for r in mgo_grid["rows"] if r.status == "ok"]
    monkeypatch.chdir(tmp_path)
    summary, convex, system = find_optimal_mlps([str(out / "models" / r.name) for r in ok],
                                                "Test_")
    assert system == "Mg-O" and len(summary) == len(ok)
    by_name = {r.name: r for r in ok}
    for line in summary:
        assert float(line[0]) == by_name[line[6]].cost
        assert float(line[2]) == by_name[line[6]].rmse_energy


# ---------------------------------------------------------------------------------------
# plot


def test_plot_pareto_has_one_panel_per_system_and_draws_the_front(mgo_grid):
    import matplotlib.pyplot as plt

    toy = [GridModel(f"m{k}", status="ok", cost=c, rmse_energy=e, rmse_force=f)
           for k, (c, e, f) in enumerate([(2.0, 5.0, 0.3), (3.0, 4.5, 0.1), (4.0, 3.0, 0.2),
                                          (5.0, 6.0, 0.05)])]
    toy.append(GridModel("x", status="failed: RuntimeError: no", cost=None, rmse_energy=None))
    systems = {"MgO": mgo_grid["rows"], "toy": toy}
    for error in ("energy", "force"):
        fig = plot_pareto(systems, error=error)
        try:
            assert len(fig.axes) == 2
            for ax, (system, rows) in zip(fig.axes, systems.items()):
                assert ax.get_title() == system and ax.get_xscale() == "log"
                front = pareto_rows(rows, error)
                (line,) = ax.get_lines()
                np.testing.assert_array_equal(line.get_xdata(), [r.cost for r in front])
                np.testing.assert_array_equal(line.get_ydata(), [r.rmse(error) for r in front])
                everything, hull = ax.collections
                ok = [r for r in rows if r.status == "ok"]
                assert len(everything.get_offsets()) == len(ok)
                np.testing.assert_array_equal(
                    hull.get_offsets(),
                    [[r.cost, r.rmse(error)] for r in front if r.on_convex_hull])
        finally:
            plt.close(fig)
    toy_front = pareto_rows(toy, "force")
    assert [r.name for r in toy_front] == ["m0", "m1", "m3"]


# ---------------------------------------------------------------------------------------
# the command line, killed and resumed


def _live_members(pgid: int) -> list:
    """Processes (not zombies) of process group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _wait_group_gone(pgid: int, timeout: float = 15.0) -> list:
    deadline = time.monotonic() + timeout
    while (alive := _live_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def test_cli_grid_resumes_after_a_kill(tmp_path):
    from ase.io import write

    structures = tmp_path / "MgO.extxyz"  # 40 of the shipped MgO structures, as any user file
    write(structures, data.dataset("MgO", indices=range(0, 1000, 25)).structures)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "polymlp_lab.cli", "grid", "--elements", "Mg", "O",
        "--data", str(structures), "--out", str(out), "--workers", "2",
        "--atomic-energy", "Mg=-0.0004", "O=-1.85321219", "--cutoffs", "5",
        "--n-gaussians", "3", "4", "--model-types", "2", "3", "--pair-max-ps", "2", "3",
        "--gtinv-order-max", "3", "--gtinv-maxl-max", "4", "4", "--alphas", "-4", "1", "6",
        "--quiet",
    ]
    names = sorted(m.name for m in enumerate_models(("Mg", "O"), **SMALL_GRID))
    results = out / "records"

    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while len(list(results.glob("*.json"))) < 2:
            assert first.poll() is None, first.stdout.read().decode()
            assert time.monotonic() < deadline, "no results within 120 s"
            time.sleep(0.02)
    finally:
        _kill_group(first)
        first.stdout.close()
    assert first.returncode == -signal.SIGKILL
    assert _wait_group_gone(first.pid) == [], "processes of the killed grid are still running"
    finished = {p.stem: (p.stat().st_mtime_ns, p.read_bytes()) for p in results.glob("*.json")}
    assert 2 <= len(finished) < len(names), "the kill came too late to test resuming"
    fitted_files = {  # fits done before the kill (costs are measured after all fits)
        name: {f.name: (f.stat().st_mtime_ns, f.read_bytes())
               for f in (out / "models" / name).iterdir()}
        for name in finished if (out / "models" / name).is_dir()}
    assert fitted_files, "no fitted model before the kill"

    second = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        output, _ = second.communicate(timeout=180)
    finally:
        if second.returncode is None:
            _kill_group(second)
    assert second.returncode == 0, output.decode()
    assert _wait_group_gone(second.pid) == [], "the finished grid left processes behind"
    output = output.decode()
    assert f"{len(names)} models (2 failed)" in output

    rows = read_results(out)
    by_name = {r.name: r for r in rows}
    for name, (mtime, content) in finished.items():  # not refitted
        before = json.loads(content)
        if before["status"] == "fitted":  # only timed now
            after = by_name[name]
            assert after.status == "ok" and after.cost > 0 and before["cost"] is None
            assert {k: v for k, v in after.as_dict().items()
                    if not k.startswith("cost") and k != "status"} \
                == {k: v for k, v in before.items() if not k.startswith("cost") and k != "status"}
        else:  # "ok" or "failed": left alone
            path = results / f"{name}.json"
            assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content
    for name, files in fitted_files.items():
        for file, (mtime, content) in files.items():
            path = out / "models" / name / file
            assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content
    assert sorted(r.name for r in rows) == names
    assert sum(r.status == "ok" for r in rows) == 8
    _, table = _csv(out / "models.csv")
    assert sorted(t["name"] for t in table) == names
    front = pareto_rows(rows)
    assert sorted(p.name for p in (out / "polymlps").iterdir()) == sorted(r.name for r in front)
    for r in front:
        assert r.name in output


def al_structures() -> list:
    """8 rattled fcc Al cells labelled by a random potential."""
    potential = random_potential(("Al",), seed=3, scale=1e-3)
    structures = []
    for k in range(8):
        atoms = Atoms("Al4", scaled_positions=[[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]],
                      cell=np.eye(3) * (4.0 + 0.03 * k), pbc=True)
        atoms.rattle(0.05, seed=k)
        result = potential.evaluate(atoms)
        atoms.calc = SinglePointCalculator(atoms, energy=result.energy, forces=result.forces,
                                           stress=result.stress)
        structures.append(atoms)
    return structures


AL_MODELS = dict(cutoffs=(4.0,), n_gaussians=(3,), feature_types=("pair",), pair_max_ps=(2, 3))


def test_a_grid_model_round_trips_through_json(tmp_path):
    """A model of a real (tiny) grid: as_dict is its record and its row of models.csv (the
    same keys, in order), from_dict reads it back; a front's model keeps on_convex_hull."""
    out = tmp_path / "g"
    rows = run_grid(("Al",), Dataset("Al", al_structures()), models=enumerate_models(
        ("Al",), **AL_MODELS), out=out, n_workers=1, progress=False, cost_repeats=2, cost_steps=1)
    front = pareto_rows(rows)
    assert [r.status for r in rows] == ["ok", "ok"] and front
    for m in rows + front:
        again = GridModel.from_dict(json.loads(json.dumps(m.as_dict(), allow_nan=False)))
        assert again == m and type(again) is GridModel
    columns, table = _csv(out / "models.csv")
    assert columns == table_columns() == SPEC_COLUMNS + RESULT_COLUMNS
    for m, t in zip(rows, table):
        assert list(m.as_dict()) == columns and t["name"] == m.name
        assert json.loads((out / "records" / f"{m.name}.json").read_text()) == m.as_dict()
    assert list(front[0].as_dict()) == columns + ["on_convex_hull"]
    assert [m.rmse("energy") for m in rows] == [m.rmse_energy for m in rows]
    with pytest.raises(TypeError):  # not a row: read_results skips it
        GridModel.from_dict({**rows[0].as_dict(), "unknown": 1})


def test_run_grid_on_an_existing_scheduler(tmp_path):
    """--scheduler: the search runs on a cluster it did not start, and leaves it running."""
    from distributed import Client, LocalCluster

    models = enumerate_models(("Al",), **AL_MODELS)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        rows = run_grid(("Al",), Dataset("Al", al_structures()), models=models, out=tmp_path / "g",
                        scheduler=cluster.scheduler_address, progress=False)
        assert client.run_on_scheduler(lambda: True)  # still up after the search
    assert [r.status for r in rows] == ["ok", "ok"]
    assert all(r.cost > 0 for r in rows)

"""Model panels, headless: ModelBuilder, ParetoExplorer and RepositoryBrowser.

Widgets are driven as a person would (values set, buttons clicked), then ``panel.wait()``.
The data: a few rattled, strained fcc Al cells labelled by ASE's EMT (no shared data).
"""

import json
import math
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from plotly.callbacks import InputDeviceState, Points

from polymlp_lab import Potential, load_potential
from polymlp_lab.fitting import Dataset
from polymlp_lab.grid import ModelSpec, read_results
from polymlp_lab.models import model_params, n_features
from polymlp_lab.widgets.model_builder import ModelBuilder
from polymlp_lab.widgets.pareto import ParetoExplorer
from polymlp_lab.widgets.repository import RepositoryBrowser

from conftest import random_potential

TINY = dict(cutoff=5.0, n_gaussians=4, feature_type="gtinv", model_type=3, max_p=2,
            gtinv_order=2)
GRID_MODELS = [ModelSpec("pair", 4.0, 3, 2, 2), ModelSpec("pair", 5.0, 4, 2, 2),
               ModelSpec("gtinv", 4.0, 3, 3, 2, 2, (2,)), ModelSpec("gtinv", 5.0, 4, 3, 2, 2, (4,))]
SMALL_CARD = dict(prototypes=("fcc", "bcc"), n_detailed=1, phonon_supercell=(2, 2, 2),
                  phonon_mesh=(4, 4, 4), relax_steps=60)


@pytest.fixture(scope="module", autouse=True)
def shell():
    """The IPython shell that widget outputs format with, made here in the main thread
    (made first in a panel's worker thread, its history database fails at exit)."""
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


@pytest.fixture(scope="module")
def al_data():
    """(train, test, atomic_energy): 12 cells of 8 Al atoms labelled by EMT, 10 % test."""
    rng = np.random.default_rng(0)
    structures = []
    for _ in range(12):
        atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 1, 1))
        strain = np.eye(3) + rng.normal(scale=0.015, size=(3, 3))
        atoms.set_cell(atoms.cell.array @ (0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
        atoms.calc = EMT()
        labels = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                      stress=atoms.get_stress())
        atoms.calc = SinglePointCalculator(atoms, **labels)
        structures.append(atoms)
    lone = bulk("Al", "sc", a=12.0)
    lone.calc = EMT()
    train, test = Dataset("Al-EMT", structures).split(0.9)
    return train, test, {"Al": lone.get_potential_energy()}


def probe():
    """A rattled Al cell none of the panels saw."""
    atoms = bulk("Al", "fcc", a=4.0, cubic=True).repeat((1, 1, 2))
    atoms.rattle(0.05, seed=3)
    return atoms


def set_tiny(panel):
    for name, value in TINY.items():
        getattr(panel, name).value = value
    panel.maxl[0].value = 4


# ---------------------------------------------------------------------------------------
# ModelBuilder


def test_features_and_cost_follow_every_control():
    panel = ModelBuilder(elements=("Al",))
    assert panel.n_features == n_features(model_params(**panel.choices()))

    def direct(**choices):
        return n_features(model_params(("Al",), **choices))

    panel.cutoff.value = 5.0
    panel.n_gaussians.value = 5
    panel.gtinv_order.value = 2
    panel.maxl[0].value = 4
    order2 = direct(cutoff=5.0, n_gaussians=5, model_type=3, max_p=2, gtinv_order=2,
                    gtinv_maxl=(4,))
    assert panel.n_features == order2 and panel.error is None
    cost_short = panel.cost_estimate

    panel.cutoff.value = 7.0  # more Gaussians' centres move, the count stays; more neighbours
    assert panel.n_features == direct(cutoff=7.0, n_gaussians=5, model_type=3, max_p=2,
                                      gtinv_order=2, gtinv_maxl=(4,))
    assert panel.cost_estimate > cost_short

    panel.gtinv_order.value = 3
    assert [s.layout.display for s in panel.maxl] == ["", "", "none", "none", "none"]
    order3 = direct(cutoff=7.0, n_gaussians=5, model_type=3, max_p=2, gtinv_order=3,
                    gtinv_maxl=(4, 4))
    assert panel.n_features == order3 > order2

    panel.maxl[1].value = 2
    assert panel.n_features == direct(cutoff=7.0, n_gaussians=5, model_type=3, max_p=2,
                                      gtinv_order=3, gtinv_maxl=(4, 2)) < order3

    panel.feature_type.value = "pair"
    panel.model_type.value = 2
    assert all(s.layout.display == "none" for s in [panel.gtinv_order, *panel.maxl])
    assert panel.n_features == direct(cutoff=7.0, n_gaussians=5, feature_type="pair",
                                      model_type=2, max_p=2)
    assert f"{panel.n_features} features" in panel.summary.value
    assert "ms/atom/step" in panel.status.value and panel.cost_estimate > 0


@pytest.mark.parametrize("control, value, words", [
    ("elements", "Al Xx", "unknown element 'Xx'"),
    ("elements", "Al, Al", "Al given more than once"),
    ("elements", " ", "no elements"),
    ("cutoff", 0.0, "cutoff 0 Å"),
    ("model_type", 3, "pair features allow model_type 1 or 2"),  # pypolymlp would exit(8)
])
def test_invalid_choices_are_reported_inline(control, value, words):
    panel = ModelBuilder(elements=("Al",))
    if control == "model_type":
        panel.feature_type.value = "pair"
    else:
        getattr(panel, control).value = value
    assert panel.error is not None and words in panel.error
    assert panel.n_features is None and panel.cost_estimate is None
    assert words in panel.status.value.replace("&#x27;", "'")
    panel.train_button.click()  # no data and an invalid model: a message, no exception
    assert panel.error is not None
    panel.elements.value = "Al"
    panel.cutoff.value = 6.0
    panel.feature_type.value = "gtinv"
    assert panel.error is None and panel.n_features > 0


def test_train_without_data_or_save_before_training_says_so():
    panel = ModelBuilder(elements=("Cu",))
    assert panel.train_button.disabled
    panel.guarded(panel.train)
    assert "no training data" in panel.error
    panel.guarded(panel.save, "x.yaml")
    assert "train the model first" in panel.error


def test_train_shows_errors_and_saves_a_potential(al_data, tmp_path):
    train, test, atomic_energy = al_data
    panel = ModelBuilder(train, test, atomic_energy=atomic_energy)
    assert panel.elements.value == "Al"
    set_tiny(panel)
    assert panel.n_features == n_features(model_params(("Al",), gtinv_maxl=(4,), **TINY))
    panel.train_button.click()
    panel.wait()
    assert panel.error is None, panel.error
    fit = panel.fit_
    assert fit.n_features_ == panel.n_features and panel.potential is fit.potential_
    assert len(panel.output.outputs) == 2  # parity plots and the error table
    text = panel.output_text()
    for e in fit.errors_:
        assert math.isfinite(e.rmse_energy) and math.isfinite(e.rmse_force)
        assert f"{e.rmse_energy:.3f}" in text and f"{e.rmse_force:.4f}" in text
    assert "meV/atom" in text and "eV/Å" in text and "fitted" in panel.status.value

    panel.save_path.value = str(tmp_path / "fit" / "polymlp.yaml")
    panel.save_button.click()
    assert panel.error is None and (tmp_path / "fit" / "polymlp_error.yaml").is_file()
    loaded = load_potential(tmp_path / "fit" / "polymlp.yaml")
    atoms = probe()
    assert loaded.evaluate(atoms).energy == pytest.approx(fit.potential_.evaluate(atoms).energy,
                                                          rel=1e-12, abs=1e-12)


def test_time_it_measures_the_chosen_model():
    panel = ModelBuilder(elements=("Al",))
    set_tiny(panel)
    panel.time_button.click()
    panel.wait()
    assert panel.error is None and panel.measured_cost > 0
    # a rough prediction: within 10x of a timing even on a busy machine
    assert 0.1 < panel.cost_estimate / panel.measured_cost < 10
    assert "measured cost" in panel.status.value


# ---------------------------------------------------------------------------------------
# ParetoExplorer


@pytest.fixture(scope="module")
def grid(al_data, tmp_path_factory):
    """A ParetoExplorer that ran a 4-model grid on an in-process Dask cluster (1 worker)."""
    from distributed import LocalCluster

    train, test, atomic_energy = al_data
    out = tmp_path_factory.mktemp("grid") / "Al"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        panel = ParetoExplorer(out, train=train, test=test, models=GRID_MODELS,
                               poll_seconds=0.2, card_settings=SMALL_CARD,
                               scheduler=cluster.scheduler_address, atomic_energy=atomic_energy,
                               cost_repeats=2, cost_steps=1)
        assert "no results yet" in panel.status.value and not panel.figure.data[0].x
        panel.points_seen = []  # number of points after each redraw
        panel.figure.data[0].on_change(lambda trace, x: panel.points_seen.append(len(x)), "x")
        panel.run_button.click()
        panel.wait()
    assert panel.error is None, panel.error
    return panel


def test_scatter_has_every_model_and_marks_the_front(grid):
    rows = read_results(grid.out)
    assert sorted(r.name for r in rows) == sorted(m.name for m in GRID_MODELS)
    assert all(r.status == "ok" for r in rows), [r.status for r in rows]
    models, line = grid.figure.data
    assert sorted(models.customdata) == sorted(r.name for r in rows)
    assert len(models.x) == len(models.y) == len(rows)
    front = {r.name for r in grid.front}
    assert front and set(line.customdata) == front
    marked = {name for name, symbol in zip(models.customdata, models.marker.symbol)
              if symbol == "diamond"}
    assert marked == front
    labels = [label for label, _ in grid.model_choice.options]
    assert all(label.startswith("★") for label in labels[: len(front)])
    assert f"grid search finished: 4 models, {len(front)} Pareto-optimal" in grid.status.value
    # drawn while the search ran: the points came in steps (models are timed one by one)
    assert any(0 < n < len(rows) for n in grid.points_seen), grid.points_seen


def test_select_by_list_and_by_click_show_the_model(grid):
    rows = {r.name: r for r in read_results(grid.out)}
    name = grid.model_choice.options[-1][1]
    grid.model_choice.value = name
    assert grid.selected.name == name and grid.error is None
    text = grid.output_text()
    assert name in text and f"{rows[name].rmse_energy:.4g}" in text
    assert f"{rows[name].cost:.3g}" in text and not grid.card_button.disabled

    models = grid.figure.data[0]
    index = next(k for k, n in enumerate(models.customdata) if n != name)
    models._dispatch_on_click(Points(point_inds=[index], trace_index=0), InputDeviceState())
    clicked = models.customdata[index]
    assert grid.selected.name == clicked == grid.model_choice.value
    assert f"{rows[clicked].rmse_force:.4g}" in grid.output_text()


def test_refresh_and_watch_add_new_results(grid):
    results = grid.out / "records"
    template = json.loads(next(results.glob("*.json")).read_text())
    cheapest = min(r.cost for r in grid.rows)

    def add(name, cost):
        (results / f"{name}.json").write_text(json.dumps(dict(template, name=name, cost=cost)))

    before = len(grid.figure.data[0].x)
    add("extra-1", 0.5 * cheapest)
    assert len(grid.figure.data[0].x) == before  # nothing read yet
    grid.refresh_button.click()
    assert len(grid.figure.data[0].x) == before + 1
    # extra-1 is cheaper than the template's model with the same error: it replaces it
    assert "extra-1" in {r.name for r in grid.front}
    assert template["name"] not in {r.name for r in grid.front}
    models = grid.figure.data[0]
    symbols = dict(zip(models.customdata, models.marker.symbol))
    assert symbols["extra-1"] == "diamond" and symbols[template["name"]] == "circle"
    assert grid.model_choice.options[0] == ("★ extra-1", "extra-1")

    grid.watch.value = True
    try:
        add("extra-2", 0.25 * cheapest)
        deadline = time.monotonic() + 10
        while len(grid.figure.data[0].x) < before + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        grid.watch.value = False
    assert len(grid.figure.data[0].x) == before + 2
    for name in ("extra-1", "extra-2"):
        (results / f"{name}.json").unlink()
    grid.refresh()
    assert len(grid.figure.data[0].x) == before


def test_save_and_card_of_a_selected_model(grid, tmp_path):
    name = grid.front[0].name
    grid.select(name)
    grid.save_folder.value = str(tmp_path / "repo")
    grid.save_button.click()
    saved = tmp_path / "repo" / name / "polymlp.yaml"
    assert grid.error is None and saved.is_file()
    assert (saved.parent / "polymlp_cost.yaml").is_file()
    original = load_potential(grid.out / "models" / name / "polymlp.yaml")
    atoms = probe()
    assert load_potential(saved).evaluate(atoms).energy == original.evaluate(atoms).energy

    grid.card_button.click()
    grid.wait()
    assert grid.error is None, grid.error
    assert set(grid.card.energies) <= {"fcc", "bcc"} and grid.card.energies
    text = grid.output_text()
    assert name in text and "Property card" in text  # the details stay above the card
    images = [o for o in grid.output.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 1 and len(grid.output.outputs) == 2 + len(images)


# ---------------------------------------------------------------------------------------
# RepositoryBrowser


@pytest.fixture
def repository(tmp_path):
    """Two small Al potentials, one with error and cost files."""
    folder = tmp_path / "polymlps"
    potentials = {"a-small": random_potential(("Al",), seed=1, scale=1e-3),
                  "b-pair": random_potential(("Al",), seed=2, scale=1e-3, feature_type="pair",
                                             model_type=2, cutoff=4.5)}
    for name, potential in potentials.items():
        (folder / name).mkdir(parents=True)
        potential.save(folder / name / "polymlp.yaml")
    (folder / "a-small" / "polymlp_error.yaml").write_text(
        "prediction_errors:\n- dataset: Train_x\n  rmse_energy: 1.5\n  rmse_force: 0.05\n"
        "- dataset: Test_x\n  rmse_energy: 2.25\n  rmse_force: 0.0625\n")
    (folder / "a-small" / "polymlp_cost.yaml").write_text("costs:\n  single_core: 0.0375\n")
    return folder, potentials


def test_repository_lists_details_and_loads(repository):
    folder, potentials = repository
    panel = RepositoryBrowser(folder, card_settings=SMALL_CARD)
    panel.wait()
    assert panel.error is None, panel.error
    assert [r["name"] for r in panel.rows] == ["a-small", "b-pair"]
    assert list(panel.choice.options) == ["a-small", "b-pair"] and panel.choice.value is None
    assert "2 potentials" in panel.status.value
    table = panel.table.value
    for expected in ("a-small", "b-pair", "2.25", "0.0625", "0.0375", "4.5"):
        assert expected in table
    assert str(len(potentials["b-pair"].components[0].coeffs)) in table
    assert panel.load_button.disabled

    panel.choice.value = "b-pair"
    assert panel.selected["name"] == "b-pair"
    text = panel.output_text()
    assert "b-pair" in text and "pair" in text and "4.5" in text
    panel.load_button.click()
    panel.wait()
    assert isinstance(panel.potential, Potential)
    atoms = probe()
    assert panel.potential.evaluate(atoms).energy == pytest.approx(
        potentials["b-pair"].evaluate(atoms).energy, rel=1e-12, abs=1e-12)

    panel.choice.value = "a-small"
    assert "2.25" in panel.output_text() and "0.0375" in panel.output_text()


def test_repository_missing_or_empty_folder_is_a_message(tmp_path):
    panel = RepositoryBrowser(tmp_path / "nowhere")
    panel.wait()
    assert "no such folder" in panel.error and panel.rows == []
    assert "nowhere" in panel.status.value
    panel.guarded(panel.compute_card)
    assert "choose a potential first" in panel.error
    panel.folder.value = str(tmp_path)
    panel.scan_button.click()
    panel.wait()
    assert panel.error is None and panel.rows == [] and panel.choice.options == ()
    assert "no potentials" in panel.status.value

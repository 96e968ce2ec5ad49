"""Grids made elsewhere: read, select, draw (``polymlp_lab.grid.external``, ``polymlp-lab
pareto``, ``ParetoExplorer.from_folder``).

Two sources. A small grid of 5 model folders written here (runs on every machine), and the
real pypolymlp grid search of Ti (285 models + ``polymlp-empty``), found through
``polymlp_lab.data.grid("Ti")`` or ``../shared/conformance/grids/Ti`` (skipped without it).
The Ti selection is compared with pypolymlp's own (``PypolymlpUtils.find_optimal_mlps``, the
code behind ``pypolymlp-utils --find_optimal``), both on the same dataset key.
"""

import csv
import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import yaml

from polymlp_lab.cli import main
from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.grid import lower_convex_hull_mask, pareto_mask, pareto_rows
from polymlp_lab.grid.external import GridFolderError, check_output, grid_layout, read_grid

from conftest import SHARED, random_potential

PNG = b"\x89PNG\r\n\x1a\n"
TI_DATASET = "/home/seko/mlip/1-unary/Ti/dataset-2024/3-dft/{}/*.polymlp"


def ti_grid() -> Path:
    """The Ti grid: from the package when it ships it, else ../shared; or skip."""
    try:
        from polymlp_lab.data import grid

        folder = Path(grid("Ti"))
    except (ImportError, AttributeError, LookupError, OSError, PolymlpLabError):
        folder = SHARED / "grids" / "Ti"  # polymlp_lab.data.grid is not there (yet)
    if not (folder / "polymlp-00001" / "polymlp_error.yaml").is_file():
        pytest.skip(f"Ti grid absent: {folder} (polymlp_lab.data.grid('Ti'), or set "
                    "POLYMLP_LAB_SHARED)")
    return folder


@pytest.fixture(scope="module")
def ti():
    return ti_grid()


@pytest.fixture(scope="module", autouse=True)
def shell():
    """The IPython shell widget outputs format with, made in the main thread."""
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


def names(rows, flag=None) -> set:
    return {r.name for r in rows if flag is None or getattr(r, flag)}


def read_csv(path) -> list:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------------------------
# A small grid written here: 5 models, one with a potential file


SMALL = {  # name: (cost ms/atom/step, Test_ energy, Test_ force, test_other energy)
    "m1": (1.0, 10.0, 0.30, 1.0),
    "m2": (2.0, 5.0, 0.20, 2.0),
    "m3": (4.0, 4.6, 0.15, 3.0),  # Pareto-optimal, above the chord m2-m4 (log cost)
    "m4": (8.0, 1.0, 0.10, 0.5),
    "m5": (3.0, 9.0, 0.40, 0.1),  # dominated by m2 on Test_ energy
}


def error_yaml(energy, force, other) -> str:
    return ("units:\n  energy: meV/atom\n  force:  eV/angstrom\n\nprediction_errors:\n"
            "- dataset: Train_data/*.xml\n  rmse_energy: 0.5\n  rmse_force: 0.01\n\n"
            f"- dataset: Test_data/*.xml\n  rmse_energy: {energy!r}\n  rmse_force: {force!r}\n"
            f"  mae_energy: {energy / 2!r}\n\n"
            f"- dataset: test_other/*.xml\n  rmse_energy: {other!r}\n  rmse_force: 0.5\n")


@pytest.fixture
def small(tmp_path):
    """(folder, potential of m2): 5 model folders in pypolymlp's layout."""
    folder = tmp_path / "small"
    for name, (cost, energy, force, other) in SMALL.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "polymlp_error.yaml").write_text(error_yaml(energy, force, other))
        (folder / name / "polymlp_cost.yaml").write_text(
            f"units:\n  time: msec/atom/step\n\ncosts:\n  single_core: {cost!r}\n"
            f"  openmp: {cost / 4!r}\n")
    potential = random_potential(("Al",), seed=2, scale=1e-3, feature_type="pair",
                                 model_type=2, cutoff=4.5)
    potential.save(folder / "m2" / "polymlp.yaml")
    return folder, potential


def test_small_grid_rows_front_and_hull(small):
    folder, potential = small
    assert grid_layout(folder) == "pypolymlp"
    rows = read_grid(folder)
    assert [r.name for r in rows] == sorted(SMALL)
    by = {r.name: r for r in rows}
    for name, (cost, energy, force, _) in SMALL.items():
        r = by[name]
        assert r.status == "ok"
        assert (r.cost, r.rmse_energy, r.rmse_force) == (cost, energy, force)
        assert r.mae_energy == energy / 2 and r.cost_openmp == cost / 4
        assert r.error_dataset == "Test_data/*.xml"  # default: first test set, any case
    # parameters come from the potential file where there is one
    model = potential.components[0].params.model
    m2 = by["m2"]
    assert m2.potential == str(folder / "m2" / "polymlp.yaml")
    assert (m2.feature_type, m2.cutoff, m2.model_type, m2.max_p) == ("pair", 4.5, 2, 2)
    assert m2.n_features == potential.n_coefficients
    assert m2.n_gaussians == len(model.pair_params) and m2.gtinv_order == 0
    assert by["m1"].potential is None and by["m1"].feature_type is None
    assert "no polymlp.yaml or polymlp.lammps" in by["m1"].potential_note

    front = pareto_rows(rows)
    assert [r.name for r in front] == ["m1", "m2", "m3", "m4"]  # by cost; m5 dominated
    assert names(front, "on_convex_hull") == {"m1", "m2", "m4"}
    # on force, m5 is dominated too
    assert names(pareto_rows(rows, "force")) == {"m1", "m2", "m3", "m4"}


def test_small_grid_error_key_is_pypolymlps_first_match(small):
    folder, _ = small
    rows = {r.name: r for r in read_grid(folder, error_key="test_other")}
    assert {n: r.rmse_energy for n, r in rows.items()} == {n: v[3] for n, v in SMALL.items()}
    assert all(r.error_dataset == "test_other/*.xml" for r in rows.values())
    # on that dataset m1 is cheapest and m5 the most accurate: they are the whole front
    assert names(pareto_rows(list(rows.values()))) == {"m1", "m5"}
    # pypolymlp's rule is case-sensitive: "Test" only matches Test_data
    assert read_grid(folder, error_key="Test")[0].rmse_energy == SMALL["m1"][1]
    assert read_grid(folder, error_key="Train")[0].rmse_energy == 0.5
    missing = read_grid(folder, error_key="validation")
    assert all(r.status == "no dataset matching 'validation' (has: Train_data/*.xml, "
               "Test_data/*.xml, test_other/*.xml)" for r in missing)
    assert all(r.rmse_energy is None and r.cost is not None for r in missing)
    assert pareto_rows(missing) == []


def test_small_grid_broken_files_are_listed_with_their_status(small):
    folder, _ = small
    (folder / "m1" / "polymlp_error.yaml").unlink()
    (folder / "m3" / "polymlp_error.yaml").write_text("prediction_errors: [unclosed\n")
    (folder / "m4" / "polymlp_cost.yaml").write_text("costs:\n  single_core: fast\n")
    (folder / "m5" / "polymlp_cost.yaml").unlink()
    (folder / "m5" / "polymlp_error.yaml").write_text(
        "prediction_errors:\n- dataset: Test_data\n  rmse_force: 0.1\n")
    (folder / "m2" / "polymlp.yaml").write_text("elements: [Al]\nno model here\n")
    (folder / "notes").mkdir()  # not a model: ignored
    rows = {r.name: r for r in read_grid(folder)}
    assert set(rows) == set(SMALL)
    assert rows["m1"].status == "no polymlp_error.yaml" and rows["m1"].cost == 1.0
    assert rows["m3"].status.startswith("unreadable: polymlp_error.yaml: ")
    assert rows["m4"].status == ("unreadable: polymlp_cost.yaml: single_core is 'fast', "
                                    "not a number")
    assert rows["m4"].rmse_energy == SMALL["m4"][1]  # what could be read is kept
    assert rows["m5"].status == ("unreadable: polymlp_error.yaml: dataset Test_data: "
                                    "rmse_energy is None, not a number; no polymlp_cost.yaml")
    # an unreadable potential leaves the errors and cost usable, and says why it is not used
    assert rows["m2"].status == "ok" and rows["m2"].potential is None
    assert rows["m2"].potential_note.startswith("unreadable polymlp.yaml: ")
    assert [r.name for r in pareto_rows(list(rows.values()))] == ["m2"]


@pytest.mark.parametrize("make", ["empty", "missing", "unrelated"])
def test_a_folder_without_models_is_a_typed_error(tmp_path, make):
    folder = tmp_path / "grid"
    if make != "missing":
        folder.mkdir()
    if make == "unrelated":
        (folder / "data").mkdir()
        (folder / "data" / "vasprun.xml").write_text("<xml/>")
    with pytest.raises(GridFolderError) as info:
        read_grid(folder)
    assert isinstance(info.value, PolymlpLabError)
    assert str(folder) in str(info.value)
    assert ("no such folder" if make == "missing" else "polymlp_error.yaml") in str(info.value)


def test_pareto_command_on_the_small_grid(small, tmp_path, capsys):
    folder, _ = small
    out = tmp_path / "front"
    assert main(["pareto", "--from", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "5 models" in printed and "4 Pareto optimal, 3 on the convex hull" in printed
    assert "Test_data" in printed
    models = read_csv(out / "models.csv")
    assert [r["name"] for r in models] == sorted(SMALL)
    pareto = read_csv(out / "pareto.csv")
    assert [(r["name"], r["on_convex_hull"]) for r in pareto] == [
        ("m1", "True"), ("m2", "True"), ("m3", "False"), ("m4", "True")]
    assert float(pareto[1]["cutoff"]) == 4.5 and pareto[0]["cutoff"] == ""
    assert (out / "pareto.png").read_bytes()[:8] == PNG
    summary = json.loads((out / "summary.json").read_text())
    assert summary["convex_hull"] == ["m1", "m2", "m4"] and summary["layout"] == "pypolymlp"
    assert not list(out.glob("*.tmp")) and not (out / "polymlps").exists()
    # the grid itself is untouched
    assert sorted(p.name for p in folder.iterdir()) == sorted(SMALL)

    assert main(["pareto", "--from", str(folder), "--out", str(out), "--error", "force",
                 "--error-key", "test_other"]) == 0
    pareto = read_csv(out / "pareto.csv")
    assert {r["name"] for r in pareto} == {"m1"}  # every test_other force RMSE is 0.5
    assert json.loads((out / "summary.json").read_text())["error"] == "force"


def test_pareto_command_refuses_bad_folders(small, tmp_path, capsys):
    folder, _ = small
    assert main(["pareto", "--from", str(folder), "--out", str(folder / "m2" / "x")]) == 2
    assert "belongs to the grid" in capsys.readouterr().err
    assert not (folder / "m2" / "x").exists()
    assert main(["pareto", "--from", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_our_own_layout_is_read_too(tmp_path):
    """results/<model>.json (run_grid's rows); --error-key reads models/<model>/ instead."""
    out = tmp_path / "grid"
    (out / "results").mkdir(parents=True)
    for name, (cost, energy, force, other) in SMALL.items():
        row = {"name": name, "feature_type": "pair", "cutoff": 5.0, "n_gaussians": 4,
               "model_type": 2, "max_p": 2, "gtinv_order": 0, "gtinv_maxl": "",
               "n_features": 10, "rmse_energy": energy, "rmse_force": force, "cost": cost,
               "status": "ok"}
        (out / "results" / f"{name}.json").write_text(json.dumps(row))
        (out / "models" / name).mkdir(parents=True)
        (out / "models" / name / "polymlp_error.yaml").write_text(error_yaml(energy, force, other))
    assert grid_layout(out) == "polymlp-lab"
    rows = read_grid(out)
    assert [(r.name, r.cost, r.n_features) for r in rows] == [
        (n, SMALL[n][0], 10) for n in sorted(SMALL)]
    assert names(pareto_rows(rows)) == {"m1", "m2", "m3", "m4"}
    assert all(r.error_dataset == "every test set (combined)" for r in rows)
    assert all(r.potential is None and "no polymlp.yaml" in r.potential_note for r in rows)
    keyed = read_grid(out, error_key="test_other")
    assert [r.rmse_energy for r in keyed] == [SMALL[n][3] for n in sorted(SMALL)]
    assert names(pareto_rows(keyed)) == {"m1", "m5"}
    with pytest.raises(GridFolderError, match="belongs to the grid"):
        check_output(out, out)  # the grid's own tables are run_grid's
    check_output(out, tmp_path / "elsewhere")
    (out / "results" / "m3.json").write_text('{"name": "m3", "cost": ')  # cut short
    (out / "results" / "m5.json").write_text('{"name": "m5", "cost": 1.0, "other": 2}')
    rows = {r.name: r for r in read_grid(out)}
    assert rows["m3"].status.startswith("unreadable: results/m3.json: JSONDecodeError")
    assert rows["m5"].status.startswith("unreadable: results/m5.json: TypeError")  # not a row
    assert names(pareto_rows(list(rows.values()))) == {"m1", "m2", "m4"}


def test_panel_on_the_small_grid(small, tmp_path):
    from polymlp_lab.widgets.pareto import ParetoExplorer

    folder, potential = small
    panel = ParetoExplorer.from_folder(folder)
    assert panel.error is None, panel.error
    assert panel.run_button.disabled  # nothing to run: the models are made
    models, line = panel.figure.data
    assert sorted(models.customdata) == sorted(SMALL)
    assert list(line.customdata) == ["m1", "m2", "m3", "m4"]
    assert "5 models timed, 4 Pareto-optimal" in panel.status.value
    assert "Test_data" in panel.status.value

    panel.select("m1")  # errors and cost only
    assert panel.card_button.disabled and panel.save_button.disabled
    assert "no potential file" in panel.card_button.tooltip
    assert "no polymlp.yaml or polymlp.lammps" in panel.why.value  # said beside the buttons
    text = panel.output_text()
    assert "m1" in text and "10" in text and "0.3" in text and "card and save disabled" in text
    panel.card_button.click()  # a click that got through anyway: a message, no traceback
    assert "has no potential file" in panel.error

    panel.select("m2")
    assert not panel.card_button.disabled and not panel.save_button.disabled
    assert "4.5" in panel.output_text() and str(potential.n_coefficients) in panel.output_text()
    panel.save_folder.value = str(tmp_path / "saved")
    panel.save_button.click()
    assert panel.error is None, panel.error
    assert (tmp_path / "saved" / "m2" / "polymlp.yaml").read_text() == (
        folder / "m2" / "polymlp.yaml").read_text()
    assert (tmp_path / "saved" / "m2" / "polymlp_cost.yaml").is_file()

    panel.error_key_box.value = "test_other"
    assert list(panel.figure.data[1].customdata) == ["m1", "m5"]
    # a model added to the folder shows after a refresh
    shutil.copytree(folder / "m4", folder / "m6")
    (folder / "m6" / "polymlp_cost.yaml").write_text("costs:\n  single_core: 0.5\n")
    panel.refresh_button.click()
    assert "m6" in panel.figure.data[0].customdata
    assert list(panel.figure.data[1].customdata) == ["m6", "m5"]  # m6 beats m1 on both


def test_panel_from_a_folder_without_models_says_so(tmp_path):
    from polymlp_lab.widgets.pareto import ParetoExplorer

    with pytest.raises(GridFolderError, match="no models found"):
        ParetoExplorer.from_folder(tmp_path)


# ---------------------------------------------------------------------------------------
# The Ti grid made by pypolymlp


def ti_yaml(ti, name, key):
    """(rmse_energy, rmse_force) of the first dataset containing ``key``, read plainly."""
    data = yaml.safe_load((ti / name / "polymlp_error.yaml").read_text())
    entry = next(e for e in data["prediction_errors"] if key in e["dataset"])
    return entry["rmse_energy"], entry["rmse_force"]


def test_ti_grid_is_read_whole(ti):
    rows = read_grid(ti)
    assert len(rows) == 286
    ok = [r for r in rows if r.status == "ok"]
    assert len(ok) == 285 and {r.name for r in ok} == {f"polymlp-{k:05d}" for k in range(1, 286)}
    empty = next(r for r in rows if r.name == "polymlp-empty")
    assert empty.status == "no polymlp_error.yaml"
    assert empty.cost == 12.267401348799467 and empty.rmse_energy is None
    first = rows[0]
    # default: the first dataset whose name holds "test", as pypolymlp --key test would
    assert first.error_dataset == TI_DATASET.format("test_vasprun_high")
    assert (first.rmse_energy, first.rmse_force) == (104.42275072620635, 0.5697348022537383)
    assert first.cost == 0.027806637808680534 and first.cost_openmp == 0.0028401007875800133
    # no potential files in this grid: no parameters, and the reason
    assert all(r.potential is None and r.feature_type is None for r in rows)
    assert all("no polymlp.yaml or polymlp.lammps" in r.potential_note for r in rows)


@pytest.mark.parametrize("key", ["test_vasprun_low", "test_vasprun_selected", "train_vasprun_4",
                                 "test_vasprun_high_woforce2"])
def test_ti_error_key_selects_the_dataset(ti, key):
    rows = [r for r in read_grid(ti, error_key=key) if r.status == "ok"]
    assert len(rows) == 285
    assert {r.error_dataset for r in rows} == {TI_DATASET.format(key)}
    for r in rows[::40]:
        assert (r.rmse_energy, r.rmse_force) == ti_yaml(ti, r.name, key)


def test_ti_missing_and_corrupt_files_in_a_copy(ti, tmp_path):
    copy = tmp_path / "Ti"
    shutil.copytree(ti, copy)
    (copy / "polymlp-00035" / "polymlp_error.yaml").unlink()
    (copy / "polymlp-00064" / "polymlp_cost.yaml").write_text(":\n  - [unbalanced\n")
    lines = (copy / "polymlp-00067" / "polymlp_error.yaml").read_text().splitlines()
    (copy / "polymlp-00067" / "polymlp_error.yaml").write_text("\n".join(lines[:20]))
    rows = {r.name: r for r in read_grid(copy, error_key="test_vasprun_low")}
    assert len(rows) == 286
    assert rows["polymlp-00035"].status == "no polymlp_error.yaml"
    assert rows["polymlp-00064"].status.startswith("unreadable: polymlp_cost.yaml: ")
    assert rows["polymlp-00064"].rmse_energy is not None
    # cut within the train sets: the low test set is not there any more
    assert rows["polymlp-00067"].status.startswith("no dataset matching 'test_vasprun_low'")
    assert "train_vasprun_0" in rows["polymlp-00067"].status
    front = {r.name for r in pareto_rows(list(rows.values()))}
    assert front.isdisjoint({"polymlp-00035", "polymlp-00064", "polymlp-00067"})
    intact = {r.name for r in pareto_rows(read_grid(ti, error_key="test_vasprun_low"))}
    assert {"polymlp-00035", "polymlp-00064", "polymlp-00067"} <= intact  # they were on it


def test_ti_pareto_command(ti, tmp_path, capsys):
    out = tmp_path / "Ti-front"
    assert main(["pareto", "--from", str(ti), "--error-key", "test_vasprun_low",
                 "--out", str(out)]) == 0
    assert "286 models" in capsys.readouterr().out
    models = read_csv(out / "models.csv")
    assert len(models) == 286
    pareto = read_csv(out / "pareto.csv")
    expected = pareto_rows(read_grid(ti, error_key="test_vasprun_low"))
    assert [r["name"] for r in pareto] == [r.name for r in expected]
    assert {r["name"] for r in pareto if r["on_convex_hull"] == "True"} == TI_LOW_HULL
    assert {r["on_convex_hull"] for r in pareto} == {"True", "False"}
    assert [float(r["cost"]) for r in pareto] == sorted(float(r["cost"]) for r in pareto)
    assert (out / "pareto.png").read_bytes()[:8] == PNG
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error_key"] == "test_vasprun_low"
    assert summary["error_datasets"] == [TI_DATASET.format("test_vasprun_low")]


# Found on this grid (test_vasprun_low energy, log cost), and by pypolymlp the same ones
# below its 30 meV/atom cut (polymlp-00001 and -00002 are at 37.5 and 35.6 meV/atom).
TI_LOW_HULL = {f"polymlp-{k:05d}" for k in (1, 2, 35, 64, 67, 68, 74, 103, 105, 284)}


def pypolymlp_selection(ti, key, *, use_force, log_cost, workdir):
    """pypolymlp's own: PypolymlpUtils.find_optimal_mlps (pypolymlp-utils --find_optimal),
    which writes its summaries into the working directory. Returns (all, convex) as
    {name: (cost, rmse_energy, rmse_force)}."""
    from pypolymlp.api.pypolymlp_utils import PypolymlpUtils

    dirs = sorted(str(p) for p in ti.iterdir() if p.is_dir())
    summary_all, summary_convex, _ = PypolymlpUtils(verbose=False).find_optimal_mlps(
        dirs, key, use_force=use_force, use_logscale_time=log_cost)
    assert (workdir / "polymlp_summary_convex.yaml").is_file()

    def table(rows):
        return {str(r[6]): (float(r[0]), float(r[2]), float(r[3])) for r in rows}

    return table(summary_all), table(summary_convex)


@pytest.mark.parametrize("key, error, log_cost", [
    ("test_vasprun_low", "energy", True),
    ("test_vasprun_low", "energy", False),
    ("test_vasprun_low", "force", True),
    ("test", "energy", True),  # "test": our default's dataset (test_vasprun_high)
    ("test_vasprun_selected", "force", False),
])
def test_ti_selection_agrees_with_pypolymlp(ti, tmp_path, monkeypatch, key, error, log_cost):
    """Both on the RMSE of the first dataset whose name contains ``key``.

    pypolymlp keeps the vertices of the whole convex hull of (cost, error) that no other
    vertex beats in cost, energy and force at once, with energy RMSE < 30 meV/atom. On the
    Pareto front this is exactly our convex hull below 30 meV/atom; it may add models that
    are not Pareto-optimal (another model is cheaper and more accurate on this error) but
    whose other error no cheaper hull vertex beats.
    """
    monkeypatch.chdir(tmp_path)
    everything, convex = pypolymlp_selection(ti, key, use_force=error == "force",
                                             log_cost=log_cost, workdir=tmp_path)
    rows = [r for r in read_grid(ti, error_key=None if key == "test" else key)
            if r.status == "ok"]
    # the same models with the same numbers (pypolymlp skips the one without errors)
    assert everything == {r.name: (r.cost, r.rmse_energy, r.rmse_force) for r in rows}
    cost = np.array([r.cost for r in rows])
    err = np.array([r.rmse(error) for r in rows])
    pareto = {r.name for r, o in zip(rows, pareto_mask(cost, err)) if o}
    hull = {r.name for r, h in zip(rows, lower_convex_hull_mask(cost, err, log_cost=log_cost))
            if h}
    if log_cost:  # what pareto.csv holds
        front = pareto_rows(rows, error)
        assert names(front) == pareto and names(front, "on_convex_hull") == hull
    energy = {r.name: r.rmse_energy for r in rows}
    below_cut = {n for n in hull if energy[n] < 30}
    assert set(convex) & pareto == below_cut
    extra = set(convex) - pareto
    for name in extra:  # kept by pypolymlp for its other error: dominated on this one
        c, e = everything[name][0], everything[name][1 if error == "energy" else 2]
        assert any(r.cost <= c and r.rmse(error) < e for r in rows)
    expected_extra = {("test_vasprun_low", "force"): {"polymlp-00284"},
                      ("test", "energy"): {"polymlp-00284"}}.get((key, error), set())
    assert extra == expected_extra
    if key == "test_vasprun_low" and error == "energy":  # the whole of both selections
        linear_extra = {"polymlp-00004", "polymlp-00076", "polymlp-00097", "polymlp-00281"}
        assert hull == (TI_LOW_HULL if log_cost else TI_LOW_HULL | linear_extra)
        assert set(convex) == hull - {"polymlp-00001", "polymlp-00002", "polymlp-00004"}


def test_ti_panel_shows_the_front_without_running(ti):
    from polymlp_lab.widgets.pareto import ParetoExplorer

    panel = ParetoExplorer.from_folder(ti, error_key="test_vasprun_low")
    assert panel.error is None, panel.error
    models, line = panel.figure.data
    assert len(models.x) == 285
    expected = pareto_rows(read_grid(ti, error_key="test_vasprun_low"))
    assert list(line.customdata) == [r.name for r in expected]
    symbols = dict(zip(models.customdata, models.marker.symbol))
    assert {n for n, s in symbols.items() if s == "diamond"} == names(expected)
    assert "285 models timed, 34 Pareto-optimal" in panel.status.value
    assert "1 without energy error or cost" in panel.status.value
    assert "test_vasprun_low" in panel.status.value
    labels = dict((value, label) for label, value in panel.model_choice.options)
    assert labels["polymlp-empty"] == "polymlp-empty (no polymlp_error.yaml)"

    panel.select("polymlp-00105")
    assert panel.card_button.disabled and panel.save_button.disabled
    assert "no potential file" in panel.card_button.tooltip
    text = panel.output_text()
    assert "3.997" in text and "1.77" in text and "on the convex hull" in text
    assert "test_vasprun_low" in text

    panel.error_key_box.value = ""  # the default: the first test set, test_vasprun_high
    assert "test_vasprun_high" in panel.status.value
    assert list(panel.figure.data[1].customdata) == [r.name for r in pareto_rows(read_grid(ti))]
    assert panel.selected.name == "polymlp-00105"  # kept, with its new numbers
    assert panel.selected.rmse_energy == ti_yaml(ti, "polymlp-00105", "test_vasprun_high")[0]

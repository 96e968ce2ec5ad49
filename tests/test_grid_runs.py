"""The grid search on the run layer: a grid of other elements, alphas or data in the same
folder is refused (``--restart`` starts afresh), a record cut short is redone, a lost task is
retried, only the grid's own ``polymlps/`` folders are ever removed, and a grid where every
model fails says so.

Small and quick: two pair models of Al (or Cu) on 8 structures labelled by a random
potential, fitted in this process (``n_workers=1`` / ``--workers 1``).
"""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from polymlp_lab import load_potential
from polymlp_lab.cli import main
from polymlp_lab.fitting import Dataset
from polymlp_lab.grid import enumerate_models, pareto_rows, plot_pareto, read_grid, run_grid
from polymlp_lab.grid.external import GridFolderError, check_output
from polymlp_lab.runs import RunMismatchError

from conftest import random_potential

MODELS = dict(cutoffs=(4.0,), n_gaussians=(3,), feature_types=("pair",), model_types=(2,),
              pair_max_ps=(2, 3))
OPTIONS = ["--workers", "1", "--cutoffs", "4", "--n-gaussians", "3", "--feature-types", "pair",
           "--model-types", "2", "--pair-max-ps", "2", "3", "--quiet"]
QUICK = dict(n_workers=1, progress=False, cost_repeats=2, cost_steps=1)


def structures(element="Al", a=4.0, n=8, seed=3):
    potential = random_potential((element,), seed=seed, scale=1e-3)
    found = []
    for k in range(n):
        atoms = Atoms(f"{element}4", cell=np.eye(3) * (a + 0.03 * k), pbc=True,
                      scaled_positions=[[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
        atoms.rattle(0.05, seed=k)
        result = potential.evaluate(atoms)
        atoms.calc = SinglePointCalculator(atoms, energy=result.energy, forces=result.forces,
                                           stress=result.stress)
        found.append(atoms)
    return found


def grid_command(element, data, out, *extra):
    return ["grid", "--elements", element, "--data", str(data), "--out", str(out), *OPTIONS,
            *extra]


def record_file(out, name):
    """The JSON file that holds ``name``'s result, wherever the grid keeps it."""
    (path,) = [p for p in out.glob(f"*/{name}.json")]
    return path


@pytest.fixture
def al(tmp_path):
    path = tmp_path / "Al.extxyz"
    write(path, structures("Al", 4.0))
    return path


@pytest.fixture
def al_grid(tmp_path):
    """A finished two-model Al grid (run_grid) and its arguments."""
    train = Dataset("Al", structures("Al", 4.0))
    models = enumerate_models(("Al",), **MODELS)
    out = tmp_path / "grid"
    rows = run_grid(("Al",), train, models=models, out=out, **QUICK)
    assert [r.status for r in rows] == ["ok", "ok"]
    return dict(train=train, models=models, out=out, rows=rows)


def test_a_grid_of_other_elements_alphas_or_data_is_refused_and_restart_starts_afresh(
        tmp_path, al, capsys):
    out = tmp_path / "out"
    assert main(grid_command("Al", al, out)) == 0
    capsys.readouterr()
    table = (out / "models.csv").read_bytes()
    (out / "notes.txt").write_text("mine")

    cu = tmp_path / "Cu.extxyz"
    write(cu, structures("Cu", 3.6, seed=5))
    # a Cu grid into the Al grid's folder: refused, naming the elements (was: Al's results)
    assert main(grid_command("Cu", cu, out)) == 2
    error = capsys.readouterr().err
    assert "elements: was ['Al'], now ['Cu']" in error and "--restart" in error
    assert "Traceback" not in error
    # other alphas, other data: refused too, naming them
    assert main(grid_command("Al", al, out, "--alphas", "-3", "1", "5")) == 2
    assert "alphas: was" in capsys.readouterr().err
    other = structures("Al", 4.0)
    other[3].calc.results["energy"] += 0.01
    changed = tmp_path / "Al-changed.extxyz"
    write(changed, other)
    assert main(grid_command("Al", changed, out)) == 2
    error = capsys.readouterr().err
    assert "input train: was" in error and "input test" not in error
    assert (out / "models.csv").read_bytes() == table  # nothing of the Al grid touched

    # --restart: the Cu grid afresh; the user's file kept
    assert main(grid_command("Cu", cu, out, "--restart")) == 0
    assert (out / "notes.txt").read_text() == "mine"
    rows = read_grid(out)
    assert len(rows) == 2 and all(r.status == "ok" for r in rows)
    for r in rows:
        assert load_potential(r.potential).elements == ("Cu",)
    summary = json.loads((out / "summary.json").read_text())
    assert {m["name"] for m in summary["models"]} == {r.name for r in rows}
    assert (out / "pareto.png").is_file()
    # the same command again resumes (nothing refused, nothing refitted)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*.json")}
    assert main(grid_command("Cu", cu, out)) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.json")} == stamps


def test_run_grid_refuses_other_settings_and_treats_no_atomic_energy_as_zero(al_grid):
    train, models, out = al_grid["train"], al_grid["models"], al_grid["out"]
    with pytest.raises(RunMismatchError, match="alphas"):
        run_grid(("Al",), train, models=models, out=out, alphas=(0.1, 1.0), **QUICK)
    with pytest.raises(RunMismatchError, match="atomic_energy"):
        run_grid(("Al",), train, models=models, out=out, atomic_energy={"Al": -0.5}, **QUICK)
    with pytest.raises(RunMismatchError, match="cost"):  # another cost protocol
        run_grid(("Al",), train, models=models, out=out, **{**QUICK, "cost_repeats": 5})
    # None and {} and {"Al": 0.0} are one setting; error is only the drawing
    again = run_grid(("Al",), train, models=models, out=out, atomic_energy={"Al": 0.0},
                     error="force", **QUICK)
    assert again == al_grid["rows"]


def test_more_models_extend_the_grid(al_grid):
    train, models, out = al_grid["train"], al_grid["models"], al_grid["out"]
    stamps = {m.name: record_file(out, m.name).stat().st_mtime_ns for m in models}
    more = models + enumerate_models(("Al",), cutoffs=(4.5,), n_gaussians=(3,),
                                     feature_types=("pair",), model_types=(2,), pair_max_ps=(2,))
    rows = run_grid(("Al",), train, models=more, out=out, **QUICK)
    assert [r.name for r in rows] == [m.name for m in more]
    assert all(r.status == "ok" for r in rows)
    assert {m.name: record_file(out, m.name).stat().st_mtime_ns for m in models} == stamps
    saved = json.loads((out / "run.json").read_text())
    assert saved["kind"] == "grid" and saved["settings"]["elements"] == ["Al"]
    # read_grid (the pareto command, the panel) reads what the grid writes
    read = {r.name: r for r in read_grid(out)}
    assert list(read) == sorted(m.name for m in more)
    for r in rows:
        assert read[r.name].cost == r.cost and read[r.name].status == "ok"
        assert read[r.name].potential.endswith(f"models/{r.name}/polymlp.yaml")
    for inside in (out / "records", out / "models", out / "polymlps"):
        with pytest.raises(GridFolderError, match="belongs to the grid"):
            check_output(out, inside / "x")


def _set_record(out, name, **values):
    path = record_file(out, name)
    path.write_text(json.dumps({**json.loads(path.read_text()), **values}))


def test_only_the_grids_own_polymlps_folders_are_removed(al_grid):
    train, models, out, rows = (al_grid[k] for k in ("train", "models", "out", "rows"))
    polymlps = out / "polymlps"
    front = pareto_rows(rows)
    assert sorted(p.name for p in polymlps.iterdir()) == sorted(r.name for r in front)
    first, second = (r.name for r in rows)
    # both models on the front (the measured costs alone need not put them there):
    # the more accurate one the more expensive
    _set_record(out, first, cost=1.0, rmse_energy=1.0)
    _set_record(out, second, cost=0.1, rmse_energy=2.0)
    rows = run_grid(("Al",), train, models=models, out=out, **QUICK)
    assert {p.name for p in polymlps.iterdir()} == {first, second}
    (polymlps / "mine").mkdir()
    (polymlps / "mine" / "polymlp.yaml").write_text("my own potential")
    (polymlps / "notes.txt").write_text("my notes")
    # now the first is dominated: the grid removes its own folder of it, and nothing else
    _set_record(out, first, cost=10.0, rmse_energy=20.0)
    rows = run_grid(("Al",), train, models=models, out=out, **QUICK)
    front = {r.name for r in pareto_rows(rows)}
    assert front == {second} and not (polymlps / first).exists()
    assert (polymlps / "mine" / "polymlp.yaml").read_text() == "my own potential"
    assert (polymlps / "notes.txt").read_text() == "my notes"
    assert {p.name for p in polymlps.iterdir()} == front | {"mine", "notes.txt"}


def test_a_record_cut_short_is_redone(al_grid):
    train, models, out = al_grid["train"], al_grid["models"], al_grid["out"]
    broken, kept = models[0].name, models[1].name
    record_file(out, broken).write_text('{"name": "' + broken + '", "cost": ')  # half-written
    stamp = record_file(out, kept).stat().st_mtime_ns
    rows = run_grid(("Al",), train, models=models, out=out, **QUICK)
    by_name = {r.name: r for r in rows}
    assert by_name[broken].status == "ok" and by_name[broken].cost > 0
    assert by_name[broken].rmse_energy == pytest.approx(
        next(r for r in al_grid["rows"] if r.name == broken).rmse_energy, rel=1e-9)
    assert record_file(out, kept).stat().st_mtime_ns == stamp
    assert json.loads(record_file(out, broken).read_text())["status"] == "ok"


def test_a_lost_task_is_recorded_and_retried(tmp_path, monkeypatch):
    from polymlp_lab.grid import search

    train = Dataset("Al", structures("Al", 4.0))
    models = enumerate_models(("Al",), **MODELS)
    real = search.train_model

    def lost(spec, *args, **kwargs):
        if spec.name == models[0].name:
            raise RuntimeError("worker lost")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(search, "train_model", lost)
    rows = run_grid(("Al",), train, models=models, out=tmp_path / "g", **QUICK)
    assert rows[0].status.startswith("failed: task: RuntimeError: worker lost")
    assert rows[1].status == "ok"
    monkeypatch.setattr(search, "train_model", real)
    rows = run_grid(("Al",), train, models=models, out=tmp_path / "g", **QUICK)
    assert [r.status for r in rows] == ["ok", "ok"]


def test_a_grid_where_every_model_fails_says_so(tmp_path, al, capsys):
    out = tmp_path / "out"
    # an isolated-atom energy of an element not in the models: every fit refuses it
    assert main(grid_command("Al", al, out, "--atomic-energy", "Cu=-1.0")) == 2
    captured = capsys.readouterr()
    assert "every one of the 2 models failed" in captured.err
    assert "atomic_energy names Cu" in captured.err
    assert "Traceback" not in captured.err + captured.out
    rows = read_grid(out)
    assert len(rows) == 2 and all(r.status.startswith("failed: ") for r in rows)
    assert (out / "models.csv").is_file()

    import matplotlib.pyplot as plt

    figure = plot_pareto({"Al": rows, "none": []})
    try:
        figure.savefig(tmp_path / "empty.png")
        assert "2 of 2 failed" in figure.axes[0].texts[0].get_text()
    finally:
        plt.close(figure)

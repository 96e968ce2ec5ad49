"""Grid search: train and time every candidate, keep results as they come, find the front.

The search is a run of the run layer (:mod:`polymlp_lab.runs`, kind "grid"): ``DIR/run.json``
holds its settings (elements, ridge alphas, atomic energies, the cost protocol) and the
digests of its training and test data; a rerun resumes or extends it (see :func:`run_grid`).
Each candidate model is one task of :func:`~polymlp_lab.runs.map_tasks` (fit with
:class:`~polymlp_lab.fitting.PolymlpFit`, test errors), on Dask or in this process; its files
and record are written here as it finishes. When every fit is done, each model's cost is
measured (:func:`~polymlp_lab.grid.cost.measure_cost`), one model at a time with nothing
else running, so that all costs come from one protocol:

- ``DIR/records/<name>.json``: the row, status "fitted" then "ok" once timed (an interrupted
  search refits only missing models and times only untimed ones; a record cut short by a
  crash is removed and its model done again);
- ``DIR/models/<name>/``: polymlp.yaml, polymlp_error.yaml, polymlp_cost.yaml;
- ``DIR/models.csv`` (every model), ``DIR/pareto.csv`` (the non-dominated ones, with
  ``on_convex_hull``), ``DIR/summary.json``, and ``DIR/polymlps/<name>/`` for the current
  Pareto-optimal models (pypolymlp's layout). Only the ``polymlps/`` folders the grid wrote
  itself (listed in run.json) are ever removed; anything else there is left alone.

A failing model (too large, singular fit, ...) gets ``status`` "failed: ..." and never stops
the search; it is final (the same model fails the same way). A task that failed outside the
model (its worker lost, ...) is recorded "failed: task: ..." and tried again on a rerun.
``scheduler`` is the address of an existing Dask cluster; otherwise a LocalCluster of
``n_workers`` single-threaded processes runs here (``n_workers=1``: this process).
"""

import csv
import io
import json
import shutil
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import PolymlpLabError
from ..files import AsDict, atomic_path, write_bytes_atomic, write_text_atomic
from ..runs import RECORDS, RUN_FILE, dataset_digest, map_tasks, open_run, reopen_run
from .candidates import ModelSpec, enumerate_models
from .pareto import lower_convex_hull_mask, pareto_mask

KIND = "grid"
TASK_FAILED = "failed: task: "  # the task, not the model, failed: retried on a rerun
COST_PROTOCOL = "pypolymlp's fcc 4x4x4 cell (256 atoms), energy + forces + stress, 1 thread"
UNITS = {"rmse_energy": "meV/atom", "rmse_force": "eV/Å", "cost": "ms/atom/step"}


@dataclass(frozen=True)
class GridModel(AsDict):
    """One model of a grid: its parameters, test errors and cost (a row of models.csv).

    :meth:`ModelSpec.as_row`'s parameters (cutoff Å); rmse_energy, mae_energy meV/atom and
    rmse_force, mae_force eV/Å on the test sets (``*_train``: training sets); cost, cost_median,
    cost_max ms/atom/step (one thread); fit_s s; status "fitted", "ok" or "failed: ...";
    ``on_convex_hull`` only on a front's models (:func:`pareto_rows`)."""

    name: str
    feature_type: Optional[str] = None
    cutoff: Optional[float] = None
    n_gaussians: Optional[int] = None
    model_type: Optional[int] = None
    max_p: Optional[int] = None
    gtinv_order: Optional[int] = None
    gtinv_maxl: Optional[str] = None
    n_features: Optional[int] = None
    alpha: Optional[float] = None
    rmse_energy: Optional[float] = None
    rmse_force: Optional[float] = None
    mae_energy: Optional[float] = None
    mae_force: Optional[float] = None
    rmse_energy_train: Optional[float] = None
    rmse_force_train: Optional[float] = None
    cost: Optional[float] = None
    cost_median: Optional[float] = None
    cost_max: Optional[float] = None
    fit_s: Optional[float] = None
    status: Optional[str] = None
    on_convex_hull: Optional[bool] = None

    @classmethod
    def from_dict(cls, record: dict) -> "GridModel":
        """The model of a row (:meth:`as_dict`); TypeError if ``record`` is not one."""
        return cls(**record)

    def as_dict(self) -> dict:
        """The row, JSON-ready; ``on_convex_hull`` only when set."""
        return {k: v for k, v in super().as_dict().items()
                if k != "on_convex_hull" or v is not None}

    def rmse(self, error: str) -> Optional[float]:
        """The test RMSE of ``error``: "energy" (meV/atom) or "force" (eV/Å)."""
        return getattr(self, f"rmse_{error}")


def _combined(errors, kind):
    """Energy (meV/atom) and force (eV/Å) RMSE and MAE over every dataset of one kind."""
    out = {}
    for key, parity, scale in (("energy", "energy_per_atom_eV", 1000.0),
                               ("force", "force_eV_per_A", 1.0)):
        pairs = [e.parity[parity] for e in errors if e.kind == kind]
        diff = np.concatenate([dft - mlp for dft, mlp in pairs]) if pairs else np.zeros(0)
        out[f"rmse_{key}"] = float(scale * np.sqrt(np.mean(diff**2))) if len(diff) else None
        out[f"mae_{key}"] = float(scale * np.mean(np.abs(diff))) if len(diff) else None
    return out


def train_model(spec: ModelSpec, elements, train, test, *, alphas, atomic_energy) -> dict:
    """One model's fit and test errors. Returns {"row": GridModel, "files": {name: bytes}}.

    Runs single-threaded (Numba and BLAS) so that tasks on one machine do not compete. The
    model's status is "fitted" (its cost is measured afterwards, see :func:`time_models`) or
    "failed: ..." with the reason.
    """
    import tempfile

    from numba import get_num_threads, set_num_threads
    from threadpoolctl import threadpool_limits

    from ..fitting import PolymlpFit

    values, files = {}, {}
    start = time.perf_counter()
    threads = get_num_threads()  # restored: with n_workers=1 this is the caller's process
    try:
        set_num_threads(1)
        with threadpool_limits(limits=1):
            fit = PolymlpFit(params=spec.params(elements), alphas=alphas,
                             atomic_energy=atomic_energy, n_workers=1, progress=False)
            fit.fit(train, test)
        test_errors = _combined(fit.errors_, "test")
        train_errors = _combined(fit.errors_, "train")
        values.update(n_features=fit.n_features_, alpha=fit.alpha_, **test_errors,
                      rmse_energy_train=train_errors["rmse_energy"],
                      rmse_force_train=train_errors["rmse_force"], status="fitted")
        with tempfile.TemporaryDirectory() as tmp:
            fit.save(Path(tmp) / "polymlp.yaml")
            fit.save_errors(Path(tmp) / "polymlp_error.yaml")
            files = {path.name: path.read_bytes() for path in Path(tmp).iterdir()}
    except Exception as exc:  # recorded for this model; the search goes on
        values["status"] = f"failed: {type(exc).__name__}: {exc}".replace("\n", " ")[:500]
    finally:
        set_num_threads(threads)
    model = GridModel(**spec.as_row(), **values, fit_s=time.perf_counter() - start)
    return {"row": model, "files": files}


def time_models(out, elements, *, repeats=5, steps=3, progress=True, run=None) -> None:
    """Measure the cost of every fitted, untimed model of the grid in ``out``, one at a time
    in this process (one thread, nothing else running: one protocol for all); mark them "ok".
    ``run``: the open grid run (default: the one recorded in ``out``)."""
    from numba import config
    from tqdm.auto import tqdm

    from ..potential import load_potential
    from .cost import cost_yaml, measure_cost

    run = run if run is not None else reopen_run(out, KIND)
    out = run.path
    pending = [m for m in read_results(out) if m.status == "fitted"]
    for model in tqdm(pending, desc="cost", unit="model", disable=not progress or not pending):
        directory = out / "models" / model.name
        try:
            potential = load_potential(directory / "polymlp.yaml")
            cost = measure_cost(potential, elements, repeats=repeats, steps=steps)
            parallel = measure_cost(potential, elements, repeats=max(1, repeats // 2),
                                    steps=steps, threads=config.NUMBA_NUM_THREADS)
        except Exception as exc:
            reason = f"failed: cost: {type(exc).__name__}: {exc}".replace("\n", " ")[:500]
            model = replace(model, status=reason)
        else:
            write_text_atomic(directory / "polymlp_cost.yaml", cost_yaml(cost, elements, parallel))
            model = replace(model, cost=cost.cost, cost_median=cost.cost_median,
                            cost_max=cost.cost_max, status="ok")
        run.write_record(model.name, model.as_dict())


def _write_csv(path: Path, rows, columns):
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row.as_dict())


def result_files(out) -> list:
    """The record files of the grid in ``out``, sorted by name: ``records/*.json`` (a grid
    run), else ``results/*.json`` (the layout of grids made before the run layer)."""
    out = Path(out)
    try:
        kind = json.loads((out / RUN_FILE).read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        kind = None
    return sorted(out.joinpath(RECORDS if kind == KIND else "results").glob("*.json"))


def read_results(out) -> list:
    """GridModels of every finished model of the grid in ``out`` (sorted by name); a record
    that cannot be read (cut short by a crash, not a row) is skipped, and redone by a rerun."""
    rows = []
    for path in result_files(out):
        try:
            rows.append(GridModel.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return rows


def pareto_rows(rows, error: str = "energy") -> list:
    """The Pareto-optimal successful GridModels in (cost, test rmse_<error>), sorted by cost,
    each with ``on_convex_hull`` (lower convex hull of log10 cost against error)."""
    ok = [r for r in rows if r.status == "ok" and r.rmse(error) is not None]
    if not ok:
        return []
    cost = np.array([r.cost for r in ok])
    err = np.array([r.rmse(error) for r in ok])
    optimal = pareto_mask(cost, err)
    hull = lower_convex_hull_mask(cost, err)
    chosen = [replace(r, on_convex_hull=bool(h)) for r, o, h in zip(ok, optimal, hull) if o]
    return sorted(chosen, key=lambda r: r.cost)


def table_columns() -> list:
    """The columns of models.csv: the fields of :class:`GridModel` but on_convex_hull."""
    return [f.name for f in fields(GridModel) if f.name != "on_convex_hull"]


def write_front(out, rows, error: str = "energy", *, columns=None, summary=None) -> list:
    """models.csv (every row), pareto.csv (the front, with ``on_convex_hull``) and
    summary.json (``summary`` adds keys) in ``out``, each written atomically; returns the
    front. Nothing else in ``out`` is touched."""
    out = Path(out)
    columns = list(columns or table_columns())
    _write_csv(out / "models.csv", rows, columns)
    front = pareto_rows(rows, error)
    _write_csv(out / "pareto.csv", front, columns + ["on_convex_hull"])
    summary = {"units": UNITS, "error": error, **(summary or {}),
               "models": [r.as_dict() for r in rows], "pareto": [r.name for r in front],
               "convex_hull": [r.name for r in front if r.on_convex_hull]}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1))
    return front


def write_tables(run, rows, error: str = "energy") -> list:
    """:func:`write_front` in the run's folder, and ``polymlps/<name>/`` (copied from
    models/) for the current front. Only folders of ``polymlps/`` that the run wrote itself
    (noted in its owned list) are replaced or removed; anything else there is left alone."""
    out = run.path
    front = write_front(out, rows, error)
    chosen = {r.name for r in front}
    polymlps = out / "polymlps"
    polymlps.mkdir(exist_ok=True)
    ours = {name.split("/", 1)[1] for name in run.owned
            if name.startswith("polymlps/") and name.count("/") == 1}
    for name in sorted(ours - chosen):
        target = polymlps / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
    for name in sorted(chosen):
        source, target = out / "models" / name, polymlps / name
        if not source.is_dir():
            continue
        if target.exists() or target.is_symlink():
            if name not in ours:
                continue  # not ours: never touched
            real_dir = target.is_dir() and not target.is_symlink()
            if real_dir and {p.name for p in target.iterdir()} == {p.name for p in source.iterdir()}:
                continue
            if real_dir:
                shutil.rmtree(target)  # ours, cut short by a crash while copying
            else:
                target.unlink()
        run.owns(f"polymlps/{name}")
        shutil.copytree(source, target)
    return front


def _save_fit(run, result: dict) -> None:
    """A finished fit: its files in models/<name>/ (owned by the run), then its record."""
    model, files = result["row"], result["files"]
    if files:
        run.owns(f"models/{model.name}")
        directory = run.path / "models" / model.name
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            write_bytes_atomic(directory / name, data)
    run.write_record(model.name, model.as_dict())


def _settled(model: GridModel) -> bool:
    """A model that needs no new fit: fitted, timed, or failed by itself (deterministic);
    a task lost outside the model (TASK_FAILED) is tried again."""
    status = str(model.status or "")
    return status in ("fitted", "ok") or (status.startswith("failed:")
                                          and not status.startswith(TASK_FAILED))


def _fit_task(train, test, task) -> dict:
    """One task of :func:`map_tasks`: ``task`` is (spec, elements, alphas, atomic_energy);
    the datasets are shared (sent once to every worker)."""
    spec, elements, alphas, atomic_energy = task
    return train_model(spec, elements, train, test, alphas=alphas, atomic_energy=atomic_energy)


def grid_settings(elements, *, alphas, atomic_energy, cost_repeats, cost_steps) -> dict:
    """What decides a grid's results (run.json's settings): a rerun with others is refused.
    The error drawn (energy or force) is not one: it only chooses the front."""
    energies = {e: 0.0 for e in elements}
    energies.update({str(k): float(v) for k, v in dict(atomic_energy or {}).items()})
    return {"elements": list(elements), "alphas": [float(a) for a in alphas],
            "atomic_energy": dict(sorted(energies.items())),
            "cost": {"protocol": COST_PROTOCOL, "repeats": int(cost_repeats),
                     "steps": int(cost_steps)}}


def run_grid(elements, train, test=None, *, models=None, out="grid", scheduler=None,
             n_workers=None, alphas=(1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0), atomic_energy=None,
             cost_repeats=5, cost_steps=3, error="energy", progress=True, restart=False,
             stop=None) -> list:
    """Train and time ``models`` (default: :func:`enumerate_models`) on ``train`` (a Dataset
    or a list; ``test`` split from it when None); returns the GridModels of every model of the
    run (finished earlier or now), as written to ``out/models.csv``. ``error`` ("energy" or
    "force") is the test RMSE the Pareto front is drawn on.

    A rerun into ``out`` trains only the models not finished, and new candidates extend it;
    other elements, alphas, atomic energies, cost protocol or data are refused
    (:class:`~polymlp_lab.runs.RunMismatchError` naming what differs) unless ``restart``,
    which deletes what an earlier grid wrote there (only that). ``stop`` is called after each
    fit; True ends the search early (untimed models wait for a rerun).
    """
    from ..fitting import Dataset
    from ..models import n_features

    elements = tuple(elements)
    train = [train] if isinstance(train, Dataset) else list(train)
    test = [test] if isinstance(test, Dataset) else list(test or [])
    if not test:
        pairs = [d.split(0.9) for d in train]
        train, test = [a for a, _ in pairs], [b for _, b in pairs if len(b)]
    models = list(models) if models is not None else enumerate_models(elements)
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError("two candidate models have the same name")
    alphas = tuple(float(a) for a in alphas)
    settings = grid_settings(elements, alphas=alphas, atomic_energy=atomic_energy,
                             cost_repeats=cost_repeats, cost_steps=cost_steps)
    run = open_run(out, kind=KIND, settings=settings, restart=restart,
                   inputs={"train": dataset_digest(train), "test": dataset_digest(test)})
    run.owns("models.csv", "pareto.csv", "summary.json")
    run.read_records()  # removes a record cut short by a crash: its model is done again
    settled = {m.name for m in read_results(run.path) if _settled(m)}
    todo = [m for m in models if m.name not in settled]
    by_name = {m.name: m for m in models}
    order = {name: k for k, name in enumerate(names)}

    def ordered():
        return sorted(read_results(run.path), key=lambda r: (order.get(r.name, len(order)), r.name))

    def on_result(name, result, failure):
        if failure is not None:  # the task itself (its worker, ...): tried again on a rerun
            status = f"{TASK_FAILED}{type(failure).__name__}: {failure}".replace("\n", " ")
            model = GridModel(**by_name[name].as_row(), status=status[:500])
            run.write_record(name, model.as_dict())
        else:
            _save_fit(run, result)
        write_tables(run, ordered(), error)

    if todo:
        # largest models first, so that no worker is left with a long fit at the end
        sizes = {m.name: n_features(m.params(elements)) for m in todo}
        task = (elements, alphas, dict(atomic_energy or {}))
        map_tasks(_fit_task, {m.name: (m, *task) for m in todo}, on_result=on_result,
                  scheduler=scheduler, n_workers=n_workers, shared=(train, test),
                  priority=sizes, progress=progress, desc="models", total=len(models),
                  stop=stop)
    if stop is None or not stop():
        time_models(out, elements, repeats=cost_repeats, steps=cost_steps, progress=progress,
                    run=run)
    rows = ordered()
    write_tables(run, rows, error)
    return rows


def write_figure(out, rows, *, error: str = "energy", system: str = "") -> Path:
    """``out/pareto.png`` (:func:`plot_pareto` of ``rows``), written atomically and noted as
    the grid's own (a restart removes it)."""
    import matplotlib.pyplot as plt

    out = Path(out)
    figure = plot_pareto({system: rows}, error=error)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=150)
    finally:
        plt.close(figure)
    try:
        reopen_run(out, KIND).owns("pareto.png")
    except PolymlpLabError:
        pass  # not a grid run's folder: nothing to note
    return write_bytes_atomic(out / "pareto.png", buffer.getvalue())


def plot_pareto(systems: dict, *, error: str = "energy"):
    """Figure like Figure 1 of Seko and Wakai's Repository paper: test RMSE against cost (log) for every model,
    the Pareto front and the convex-hull models, one panel per system ({name: rows})."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, len(systems), figsize=(4.5 * len(systems), 4), squeeze=False,
                             constrained_layout=True)
    for ax, (system, rows) in zip(axes[0], systems.items()):
        ok = [r for r in rows if r.status == "ok" and _drawable(r, error)]
        ax.set_xlabel("cost (ms/atom/step, 1 thread)")
        ax.set_ylabel(f"test RMSE {error} ({UNITS[f'rmse_{error}']})")
        ax.set_title(system)
        if not ok:  # nothing to draw on a log axis: say why instead of failing
            failed = sum(str(r.status).startswith("failed") for r in rows)
            ax.text(0.5, 0.5, f"no model with a cost and a {error} error"
                    + (f"\n({failed} of {len(rows)} failed)" if failed else ""),
                    transform=ax.transAxes, ha="center", va="center", color="tab:red")
            continue
        ax.scatter([r.cost for r in ok], [r.rmse(error) for r in ok], s=10, color="0.5",
                   label=f"{len(ok)} models")
        front = pareto_rows(rows, error)
        ax.plot([r.cost for r in front], [r.rmse(error) for r in front], "o-",
                color="tab:blue", ms=4, label="Pareto optimal")
        hull = [r for r in front if r.on_convex_hull]
        ax.scatter([r.cost for r in hull], [r.rmse(error) for r in hull], s=60,
                   facecolors="none", edgecolors="tab:red", label="convex hull")
        ax.set_xscale("log")
        costs = [r.cost for r in ok if r.cost and r.cost > 0]
        if costs and max(costs) / min(costs) < 100:  # two decades or less: label 1, 2, 5 x 10^k
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=9)
    return fig


def _drawable(row, error) -> bool:
    """A positive, finite cost and a finite error."""
    try:
        cost, value = float(row.cost), float(row.rmse(error))
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(cost) and cost > 0 and np.isfinite(value))

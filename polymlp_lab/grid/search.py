"""Grid search on Dask: train and time every candidate, keep results as they come, find the front.

Each model is one Dask task (fit with :class:`~polymlp_lab.fitting.PolymlpFit`, test errors);
it returns its row and file contents, and the client writes them at once. When every fit is
done, the client measures each model's cost (:func:`~polymlp_lab.grid.cost.measure_cost`), one
model at a time with nothing else running, so that all costs come from one protocol:

- ``DIR/results/<name>.json``: the row, status "fitted" then "ok" once timed (an interrupted
  search refits only missing models and times only untimed ones);
- ``DIR/models/<name>/``: polymlp.yaml, polymlp_error.yaml, polymlp_cost.yaml;
- ``DIR/models.csv`` (every model), ``DIR/pareto.csv`` (the non-dominated ones, with
  ``on_convex_hull``), ``DIR/summary.json``, and ``DIR/polymlps/<name>/`` for the current
  Pareto-optimal models (pypolymlp's layout).

A failing model (too large, singular fit, ...) gets ``status`` "failed: ..." and never stops
the search. ``scheduler`` is the address of an existing Dask cluster; otherwise a LocalCluster
of ``n_workers`` single-threaded processes runs here.
"""

import csv
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from ..files import write_text_atomic
from .candidates import ModelSpec
from .pareto import lower_convex_hull_mask, pareto_mask

RESULT_COLUMNS = [
    "n_features", "alpha", "rmse_energy", "rmse_force", "mae_energy", "mae_force",
    "rmse_energy_train", "rmse_force_train", "cost", "cost_median", "cost_max", "fit_s", "status",
]
UNITS = {"rmse_energy": "meV/atom", "rmse_force": "eV/Å", "cost": "ms/atom/step"}


def _combined(errors, kind):
    """Energy (meV/atom) and force (eV/Å) RMSE and MAE over every dataset of one kind."""
    e_dft, e_mlp, f_dft, f_mlp = [], [], [], []
    for e in errors:
        if e["kind"] != kind:
            continue
        a, b = e["parity"]["energy_per_atom_eV"]
        e_dft.append(a)
        e_mlp.append(b)
        a, b = e["parity"]["force_eV_per_A"]
        f_dft.append(a)
        f_mlp.append(b)
    out = {}
    for key, dft, mlp, scale in (("energy", e_dft, e_mlp, 1000.0), ("force", f_dft, f_mlp, 1.0)):
        diff = np.concatenate(dft) - np.concatenate(mlp) if dft else np.zeros(0)
        out[f"rmse_{key}"] = float(scale * np.sqrt(np.mean(diff**2))) if len(diff) else None
        out[f"mae_{key}"] = float(scale * np.mean(np.abs(diff))) if len(diff) else None
    return out


def train_model(spec: ModelSpec, elements, train, test, *, alphas, atomic_energy) -> dict:
    """One model's fit and test errors. Returns {"row": ..., "files": {name: text}}.

    Runs single-threaded (Numba and BLAS) so that tasks on one machine do not compete. The
    row's status is "fitted" (its cost is measured afterwards, see :func:`time_models`) or
    "failed: ..." with the reason.
    """
    import tempfile

    from numba import set_num_threads
    from threadpoolctl import threadpool_limits

    from ..fitting import PolymlpFit
    from ..fitting.report import write_error_yaml

    row = {**spec.as_row(), **{k: None for k in RESULT_COLUMNS}}
    files = {}
    start = time.perf_counter()
    try:
        set_num_threads(1)
        with threadpool_limits(limits=1):
            fit = PolymlpFit(params=spec.params(elements), alphas=alphas,
                             atomic_energy=atomic_energy, n_workers=1, progress=False)
            fit.fit(train, test)
        test_errors = _combined(fit.errors_, "test")
        train_errors = _combined(fit.errors_, "train")
        row.update(n_features=fit.n_features_, alpha=fit.alpha_, **test_errors,
                   rmse_energy_train=train_errors["rmse_energy"],
                   rmse_force_train=train_errors["rmse_force"], status="fitted")
        with tempfile.TemporaryDirectory() as tmp:
            fit.save(Path(tmp) / "polymlp.yaml")
            files["polymlp.yaml"] = (Path(tmp) / "polymlp.yaml").read_text()
            write_error_yaml(Path(tmp) / "polymlp_error.yaml", fit.errors_)
            files["polymlp_error.yaml"] = (Path(tmp) / "polymlp_error.yaml").read_text()
    except Exception as exc:  # recorded for this model; the search goes on
        row["status"] = f"failed: {type(exc).__name__}: {exc}".replace("\n", " ")[:500]
    row["fit_s"] = time.perf_counter() - start
    return {"row": row, "files": files}


def time_models(out, elements, *, repeats=5, steps=3, progress=True) -> None:
    """Measure the cost of every fitted, untimed model under ``out``, one at a time in this
    process (one thread, nothing else running: one protocol for all); mark them "ok"."""
    from numba import config
    from tqdm.auto import tqdm

    from ..potential import load_potential
    from .cost import cost_yaml, measure_cost

    out = Path(out)
    pending = [r for r in read_results(out) if r["status"] == "fitted"]
    for row in tqdm(pending, desc="cost", unit="model", disable=not progress or not pending):
        directory = out / "models" / row["name"]
        try:
            potential = load_potential(directory / "polymlp.yaml")
            cost = measure_cost(potential, elements, repeats=repeats, steps=steps)
            parallel = measure_cost(potential, elements, repeats=max(1, repeats // 2),
                                    steps=steps, threads=config.NUMBA_NUM_THREADS)
        except Exception as exc:
            row["status"] = f"failed: cost: {type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        else:
            (directory / "polymlp_cost.yaml").write_text(cost_yaml(cost, elements, parallel))
            row.update(cost=cost["cost"], cost_median=cost["cost_median"],
                       cost_max=cost["cost_max"], status="ok")
        _record(out, {"row": row, "files": {}})


def _write_csv(path: Path, rows, columns):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    tmp.replace(path)


def read_results(out) -> list:
    """Rows of every finished model under ``out/results`` (sorted by name)."""
    rows = []
    for path in sorted(Path(out, "results").glob("*.json")):
        rows.append(json.loads(path.read_text()))
    return rows


def pareto_rows(rows, error: str = "energy") -> list:
    """The Pareto-optimal successful rows in (cost, test rmse_<error>), sorted by cost, each
    with ``on_convex_hull`` (lower convex hull of log10 cost against error)."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get(f"rmse_{error}") is not None]
    if not ok:
        return []
    cost = np.array([r["cost"] for r in ok])
    err = np.array([r[f"rmse_{error}"] for r in ok])
    optimal = pareto_mask(cost, err)
    hull = lower_convex_hull_mask(cost, err)
    chosen = [dict(r, on_convex_hull=bool(h)) for r, o, h in zip(ok, optimal, hull) if o]
    return sorted(chosen, key=lambda r: r["cost"])


def table_columns() -> list:
    """The columns of models.csv: the model's parameters, then RESULT_COLUMNS."""
    return list(ModelSpec("pair", 0.0, 0, 0, 0).as_row()) + RESULT_COLUMNS


def write_front(out, rows, error: str = "energy", *, columns=None, summary=None) -> list:
    """models.csv (every row), pareto.csv (the front, with ``on_convex_hull``) and
    summary.json (``summary`` adds keys) in ``out``, each written atomically; returns the
    front. Nothing else in ``out`` is touched."""
    out = Path(out)
    columns = list(columns or table_columns())
    _write_csv(out / "models.csv", rows, columns)
    front = pareto_rows(rows, error)
    _write_csv(out / "pareto.csv", front, columns + ["on_convex_hull"])
    summary = {"units": UNITS, "error": error, **(summary or {}), "models": rows,
               "pareto": [r["name"] for r in front],
               "convex_hull": [r["name"] for r in front if r["on_convex_hull"]]}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1))
    return front


def write_tables(out, rows, error: str = "energy") -> list:
    """:func:`write_front`, and polymlps/<name>/ (copied from models/) for the current front."""
    out = Path(out)
    front = write_front(out, rows, error)
    chosen = {r["name"] for r in front}
    polymlps = out / "polymlps"
    polymlps.mkdir(exist_ok=True)
    for old in polymlps.iterdir():
        if old.name not in chosen:
            shutil.rmtree(old)
    for name in chosen:
        if not (polymlps / name).exists() and (out / "models" / name).is_dir():
            shutil.copytree(out / "models" / name, polymlps / name)
    return front


def _record(out: Path, result: dict) -> None:
    row, files = result["row"], result["files"]
    if files:
        directory = out / "models" / row["name"]
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (directory / name).write_text(text)
    write_text_atomic(out / "results" / f"{row['name']}.json", json.dumps(row, indent=1))


def run_grid(elements, train, test=None, *, models=None, out="grid", scheduler=None,
             n_workers=None, alphas=(1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0), atomic_energy=None,
             cost_repeats=5, cost_steps=3, error="energy", progress=True) -> list:
    """Train and time ``models`` (default: :func:`enumerate_models`) on Dask; returns the rows
    of every model (finished earlier or now), as written to ``out/models.csv``.

    train, test : Dataset or list of Datasets (test: split from train when None).
    error : "energy" or "force", the test RMSE the Pareto front is drawn on.
    """
    from distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    from ..fitting import Dataset
    from .candidates import enumerate_models

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
    out = Path(out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    finished = {r["name"] for r in read_results(out)}
    todo = [m for m in models if m.name not in finished]

    if todo:
        if scheduler:
            client = Client(scheduler)
            cluster = None
        else:
            import os

            workers = int(n_workers or os.cpu_count() or 1)
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
            client = Client(cluster)
        bar = tqdm(total=len(models), initial=len(models) - len(todo), desc="models",
                   unit="model", disable=not progress)
        try:
            data = client.scatter([train, test], broadcast=True)
            # largest models first, so that no worker is left with a long fit at the end
            from ..models import n_features

            sizes = {m.name: n_features(m.params(elements)) for m in todo}
            futures = [
                client.submit(train_model, m, elements, data[0], data[1], alphas=tuple(alphas),
                              atomic_energy=atomic_energy, pure=False, priority=sizes[m.name],
                              key=f"polymlp-{m.name}-{time.time_ns()}")
                for m in todo
            ]
            for future in as_completed(futures):
                _record(out, future.result())
                write_tables(out, read_results(out), error)
                bar.update(1)
        finally:
            bar.close()
            client.close()
            if cluster is not None:
                cluster.close()
    time_models(out, elements, repeats=cost_repeats, steps=cost_steps, progress=progress)
    rows = read_results(out)
    order = {name: k for k, name in enumerate(names)}
    rows.sort(key=lambda r: order.get(r["name"], len(order)))
    write_tables(out, rows, error)
    return rows


def plot_pareto(systems: dict, *, error: str = "energy"):
    """Figure like the seed paper's Figure 1: test RMSE against cost (log) for every model,
    the Pareto front and the convex-hull models, one panel per system ({name: rows})."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, len(systems), figsize=(4.5 * len(systems), 4), squeeze=False,
                             constrained_layout=True)
    for ax, (system, rows) in zip(axes[0], systems.items()):
        ok = [r for r in rows if r.get("status") == "ok"]
        ax.scatter([r["cost"] for r in ok], [r[f"rmse_{error}"] for r in ok], s=10, color="0.5",
                   label=f"{len(ok)} models")
        front = pareto_rows(rows, error)
        ax.plot([r["cost"] for r in front], [r[f"rmse_{error}"] for r in front], "o-",
                color="tab:blue", ms=4, label="Pareto optimal")
        hull = [r for r in front if r["on_convex_hull"]]
        ax.scatter([r["cost"] for r in hull], [r[f"rmse_{error}"] for r in hull], s=60,
                   facecolors="none", edgecolors="tab:red", label="convex hull")
        ax.set_xscale("log")
        costs = [r["cost"] for r in ok if r["cost"] and r["cost"] > 0]
        if costs and max(costs) / min(costs) < 100:  # two decades or less: label 1, 2, 5 x 10^k
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("cost (ms/atom/step, 1 thread)")
        ax.set_ylabel(f"test RMSE {error} ({UNITS[f'rmse_{error}']})")
        ax.set_title(system)
        ax.legend(fontsize=8)
    return fig

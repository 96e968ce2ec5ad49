"""Grids of models made elsewhere: read a folder, draw its Pareto front and convex hull.

Two layouts are read:

- **pypolymlp's** (a grid made by ``pypolymlp`` and ``pypolymlp-utils --calc_cost``, our own
  ``DIR/models/`` or ``DIR/polymlps/``, a Repository download): one folder per model holding
  ``polymlp_error.yaml`` (RMSE per dataset), ``polymlp_cost.yaml`` (ms/atom/step,
  ``costs: single_core`` is the cost used) and, when present, the potential
  (``polymlp.yaml`` or ``polymlp.lammps``, whose model parameters are then read);
- **ours** (``DIR/records/<model>.json`` of a grid run, what :func:`~polymlp_lab.grid.run_grid`
  writes; ``DIR/results/<model>.json`` in grids made before the run layer).

The error of a model. pypolymlp's own selection (``pypolymlp-utils --find_optimal DIRS
--key KEY``, :func:`pypolymlp.utils.grid_optimal.find_optimal_mlps`) takes the RMSE of the
*first* dataset whose name contains KEY, from the ``prediction_errors`` list of
polymlp_error.yaml (else ``prediction_errors_test``). It has no default: ``--key`` must be
given (its documentation uses ``test-disp1``; its Repository workflow
``dataset/vasprun-*.xml.polymlp``), and the test sets cannot be combined from the file (it
holds an RMSE per dataset, not the counts). We follow the same rule for ``error_key``
(case-sensitive substring, first match). The default, ``error_key=None``, is the key
``"test"`` (in any case, so our own ``Test_<name>`` datasets match too): the first test
dataset listed. On the shared Ti grid that is ``test_vasprun_high``; give
``error_key="test_vasprun_low"`` for the low-energy test set. In our layout without
``error_key`` the error is our combined test RMSE (every test set of the fit); with one,
the matching dataset of ``models/<name>/polymlp_error.yaml``.

How our selection relates to pypolymlp's (same key, same error, log or linear cost alike):
pypolymlp takes the vertices of the whole convex hull of (cost, error), drops those that
another vertex beats in cost, energy RMSE *and* force RMSE together, then those with an
energy RMSE of 30 meV/atom or more. On the Pareto front the two agree exactly: the Pareto-
optimal models pypolymlp selects are our convex-hull models below 30 meV/atom. pypolymlp may
keep, in addition, a model that is not Pareto-optimal in (cost, error) but whose force (or
energy) error no cheaper hull vertex beats (on Ti by ``test_vasprun_high`` energy:
polymlp-00284, the most expensive model).
"""

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from ..errors import PolymlpLabError
from ..files import check_output_dir
from ..io import error_dataset_entry, read_potential_file
from ..properties.repository import read_yaml
from .search import GridModel, result_files, table_columns, write_figure, write_front

ERROR_FILE = "polymlp_error.yaml"
COST_FILE = "polymlp_cost.yaml"
POTENTIAL_FILES = ("polymlp.yaml", "polymlp.lammps")
MODEL_FILES = (ERROR_FILE, COST_FILE, *POTENTIAL_FILES)
# more than run_grid's tables: where the numbers come from
EXTRA_COLUMNS = ["error_dataset", "cost_openmp", "potential", "potential_note"]


class GridFolderError(PolymlpLabError):
    """A folder that holds no grid of models (or cannot be written to as asked)."""


@dataclass(frozen=True)
class GridModelFromFolder(GridModel):
    """A :class:`GridModel` read by :func:`read_grid`, with the dataset of its RMSEs, its cost on
    all threads (ms/atom/step), its potential file (or why there is none) and its folder."""

    error_dataset: Optional[str] = None
    cost_openmp: Optional[float] = None
    potential: Optional[str] = None
    potential_note: Optional[str] = None
    folder: Optional[str] = None


def grid_layout(folder):
    """"polymlp-lab" (``records/*.json`` of a grid run, or ``results/*.json``), "pypolymlp"
    (model folders with polymlp_error.yaml, polymlp_cost.yaml or a potential) or None (no
    models)."""
    folder = Path(folder)
    if result_files(folder):
        return "polymlp-lab"
    if _model_folders(folder):
        return "pypolymlp"
    return None


def _model_folders(folder: Path) -> list:
    if not folder.is_dir():
        return []
    return sorted((d for d in folder.iterdir()
                   if d.is_dir() and any((d / f).is_file() for f in MODEL_FILES)),
                  key=lambda d: d.name)


def read_grid(folder, *, error_key=None) -> list:
    """:class:`GridModelFromFolder` of every model of ``folder`` (the :class:`GridModel` of
    :func:`~polymlp_lab.grid.run_grid`, and where its numbers come from).

    error_key : the RMSE of the first dataset whose name contains it (pypolymlp's ``--key``
        rule); None: the first test dataset (see the module's notes).

    A model whose file is missing or unreadable is listed with its status ("no
    polymlp_error.yaml", "no dataset matching 'KEY' (has: ...)", "unreadable: ...") and its
    other numbers; only status "ok" rows enter the front. Raises :class:`GridFolderError`
    when ``folder`` holds no model at all.
    """
    folder = Path(folder)
    layout = grid_layout(folder)
    if layout == "polymlp-lab":
        return [_our_row(folder, path, error_key) for path in result_files(folder)]
    if layout == "pypolymlp":
        return [_pypolymlp_row(d, error_key) for d in _model_folders(folder)]
    if not folder.is_dir():
        raise GridFolderError(f"{folder}: no such folder (expected a grid of models)")
    raise GridFolderError(
        f"{folder}: no models found; expected model folders holding "
        f"{ERROR_FILE} and {COST_FILE} (pypolymlp's layout: {folder}/<model>/{ERROR_FILE}) "
        f"or a polymlp-lab grid ({folder}/records/<model>.json)")


# --- one model ---------------------------------------------------------------------------
def _short(exc: Exception) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def _number(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} is {value!r}")
    return number


def _read_errors(directory: Path, row: dict, error_key, problems: list) -> None:
    path = directory / ERROR_FILE
    if not path.is_file():
        problems.append(f"no {ERROR_FILE}")
        return
    try:
        entry = error_dataset_entry(read_yaml(path)[0], error_key)
    except LookupError as exc:
        problems.append(exc.args[0])
        return
    except Exception as exc:  # unreadable yaml, wrong layout
        problems.append(f"unreadable: {ERROR_FILE}: {_short(exc)}")
        return
    try:
        row["rmse_energy"] = _number(entry.get("rmse_energy"), "rmse_energy")
        for key in ("rmse_force", "mae_energy", "mae_force"):  # pypolymlp omits some
            if entry.get(key) is not None:
                row[key] = _number(entry[key], key)
    except ValueError as exc:
        problems.append(f"unreadable: {ERROR_FILE}: dataset {entry['dataset']}: {exc}")
        return
    row["error_dataset"] = str(entry["dataset"])


def _read_cost(directory: Path, row: dict, problems: list) -> None:
    path = directory / COST_FILE
    if not path.is_file():
        problems.append(f"no {COST_FILE}")
        return
    try:
        data = read_yaml(path)[0]
        costs = data.get("costs") if isinstance(data, dict) else None
        if not isinstance(costs, dict) or "single_core" not in costs:
            raise ValueError("no 'costs: single_core'")
        cost = _number(costs["single_core"], "single_core")
        if cost <= 0:
            raise ValueError(f"single_core is {cost!r}, not a positive time")
        if costs.get("openmp") is not None:
            row["cost_openmp"] = _number(costs["openmp"], "openmp")
    except Exception as exc:
        reason = str(exc) if type(exc) is ValueError else _short(exc)
        problems.append(f"unreadable: {COST_FILE}: {reason}")
        return
    row["cost"] = cost


def _yaml_header(path: Path) -> dict:
    """The model keys of a polymlp.yaml: the lines before its coefficients (quick to read
    for any model size; the whole file is checked when the potential is loaded)."""
    lines = []
    with open(path, encoding="utf-8") as handle:
        while True:
            line = handle.readline(65536)  # not the whole coefficient line
            if not line:
                raise ValueError("no 'coeffs:' list")
            if line.startswith("coeffs"):
                break
            lines.append(line)
    import yaml

    header = yaml.safe_load("".join(lines))
    if not isinstance(header, dict):
        raise ValueError("not a polymlp.yaml header")
    missing = [k for k in ("feature_type", "cutoff", "model_type", "max_p", "n_pair_params",
                           "n_coeffs") if k not in header]
    if header.get("feature_type") == "gtinv":
        missing += [k for k in ("gtinv_order", "gtinv_maxl") if k not in header]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    return header


def _read_potential(directory: Path, row: dict) -> None:
    """``potential`` (the file) and the model's parameters read from it; otherwise
    ``potential_note`` says why there is none."""
    files = [directory / f for f in POTENTIAL_FILES if (directory / f).is_file()]
    if not files:
        row["potential_note"] = f"no {' or '.join(POTENTIAL_FILES)} in {directory}"
        return
    path = files[0]
    try:
        if path.suffix == ".yaml":
            h = _yaml_header(path)
            values = (h["feature_type"], h["cutoff"], h["n_pair_params"], h["model_type"],
                      h["max_p"], h.get("gtinv_order"), h.get("gtinv_maxl"), h["n_coeffs"])
        else:  # the legacy text format: small, read and checked whole
            params, coeffs = read_potential_file(path)
            m = params.model
            gtinv = (m.gtinv.order, m.gtinv.max_l) if m.feature_type == "gtinv" else (0, ())
            values = (m.feature_type, m.cutoff, len(m.pair_params), m.model_type, m.max_p,
                      *gtinv, len(coeffs))
        feature_type, cutoff, n_gaussians, model_type, max_p, order, max_l, n_features = values
        gtinv = str(feature_type) == "gtinv"
        model = dict(feature_type=str(feature_type), cutoff=float(cutoff),
                     n_gaussians=int(n_gaussians), model_type=int(model_type), max_p=int(max_p),
                     n_features=int(n_features), gtinv_order=int(order) if gtinv else 0,
                     gtinv_maxl=" ".join(str(int(v)) for v in max_l) if gtinv else "")
    except Exception as exc:
        row["potential_note"] = f"unreadable {path.name}: {_short(exc)}"
        return
    row["potential"] = str(path)
    row.update(model)


def _pypolymlp_row(directory: Path, error_key) -> GridModelFromFolder:
    row, problems = {"name": directory.name, "folder": str(directory)}, []
    _read_errors(directory, row, error_key, problems)
    _read_cost(directory, row, problems)
    _read_potential(directory, row)
    return GridModelFromFolder(**row, status="; ".join(problems) or "ok")


def _our_row(folder: Path, path: Path, error_key) -> GridModelFromFolder:
    """One records/<name>.json (results/ in older grids; what read_results gives), or its
    status if unreadable (not a row)."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(result, dict):
            raise ValueError("not a JSON object")
        model = GridModelFromFolder.from_dict({"name": path.stem, **result})
    except Exception as exc:
        return GridModelFromFolder(
            path.stem, status=f"unreadable: {path.parent.name}/{path.name}: {_short(exc)}")
    directory = folder / "models" / str(model.name)
    row = {"folder": str(directory), "error_dataset": "every test set (combined)"}
    if error_key is not None:
        row.update(rmse_energy=None, rmse_force=None, mae_energy=None, mae_force=None,
                   error_dataset=None)
        problems = []
        _read_errors(directory, row, error_key, problems)
        if problems and model.status == "ok":
            row["status"] = "; ".join(problems)
    if (directory / "polymlp.yaml").is_file():  # ours: its parameters are in the row
        row["potential"] = str(directory / "polymlp.yaml")
    else:
        row["potential_note"] = f"no polymlp.yaml in {directory}"
    return replace(model, **row)


# --- tables and figure -------------------------------------------------------------------
def dataset_label(name: str) -> str:
    """A dataset's short name: the last part of its path that is not a pattern
    (``.../3-dft/test_vasprun_high/*.polymlp`` -> ``test_vasprun_high``)."""
    parts = [p for p in str(name).replace("\\", "/").split("/") if p and not set("*?[") & set(p)]
    return parts[-1] if parts else str(name)


def check_output(folder, out) -> None:
    """Refuse an ``out`` that is, or lies in, one of ``folder``'s model folders (or is our
    grid's own folder, whose tables belong to the grid)."""
    folder, out = Path(folder).resolve(), Path(out).resolve()
    owned = [folder] if grid_layout(folder) == "polymlp-lab" else _model_folders(folder)
    for path in owned:  # the grid's own folder holds its records, models and tables
        if out.is_relative_to(path.resolve()):
            raise GridFolderError(
                f"--out {out} is inside {path}, which belongs to the grid read from {folder}; "
                "choose a folder of its own")


def write_pareto(folder, out, *, error_key=None, error="energy", system=None):
    """Read the grid of ``folder`` (:func:`read_grid`) and write ``out/models.csv``,
    ``out/pareto.csv`` (with ``on_convex_hull``), ``out/summary.json`` and
    ``out/pareto.png``, each file atomically. Returns (rows, front)."""
    if error not in ("energy", "force"):
        raise PolymlpLabError(f"error must be 'energy' or 'force', not {error!r}")
    folder, out = Path(folder), Path(out)
    check_output(folder, out)
    check_output_dir(out)  # a file or a read-only folder is refused before any work
    rows = read_grid(folder, error_key=error_key)
    out.mkdir(parents=True, exist_ok=True)
    datasets = sorted({r.error_dataset for r in rows if r.error_dataset})
    key = error_key if error_key is not None else "test (default)"
    front = write_front(out, rows, error, columns=table_columns() + EXTRA_COLUMNS,
                        summary={"source": str(folder), "layout": grid_layout(folder),
                                 "error_key": key, "error_datasets": datasets})
    drawable = [r for r in rows if r.rmse(error) is not None]
    title = system or folder.resolve().name
    if len(datasets) == 1 and error_key is None and grid_layout(folder) == "pypolymlp":
        title += f": {dataset_label(datasets[0])}"
    elif error_key is not None:
        title += f": datasets matching '{error_key}'"
    write_figure(out, drawable, error=error, system=title)
    return rows, front

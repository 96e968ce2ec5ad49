"""Entries of the Kyoto Polynomial MLP Repository: their MLPs, the Repository's predictions,
and our property card beside them.

pypolymlp writes an entry itself (``api/pypolymlp_repository.py``: ``PypolymlpRepository``,
``calculator/auto/autocalc_prototypes.py`` and ``autocalc_distribution.py``)::

    <system>/polymlps/<mlp>/polymlp.yaml[.<suffix>]     (or polymlp.lammps[.<suffix>])
                            polymlp_error.yaml          prediction_errors: rmse_energy meV/atom,
                                                        rmse_force eV/Å, per dataset
                            polymlp_cost.yaml           costs: single_core, openmp (ms/atom/step)
    <system>/predictions/<mlp>/polymlp_<prototype>/polymlp_predictions.yaml
                              polymlp_comparison[_<suffix>].dat      DFT vs MLP, eV/atom
                              polymlp_formation_energy.yaml          DFT and MLP convex hulls

A grid search's ``polymlps/`` (``<name>/polymlp.yaml`` beside the error and cost files) is the
same layout without predictions. :func:`index_repository` lists the MLPs of either;
:func:`read_predictions` reads the predictions of one;
:mod:`polymlp_lab.properties.repository_compare` puts our card beside them.

Bad input raises :class:`RepositoryError` subclasses naming the file (and line where known):
:class:`RepositoryFileError` (malformed YAML or .dat), :class:`EmptyRepositoryError` (a folder
holding no MLP). A missing error, cost or prediction file is not an error: the value is None
and the row's ``status`` (or the predictions' ``missing``) says what is absent.

Units: energies eV/atom, volumes Å³/atom, lengths Å, angles degrees, moduli and elastic
constants GPa (6x6 Voigt, xx yy zz yz xz xy), errors meV/atom and eV/Å, costs ms/atom/step.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import FileContentError
from ..files import jsonable
from ..io import error_dataset_entry


EXPECTED_LAYOUT = ("<system>/polymlps/<mlp>/polymlp.yaml[.<system>] (or polymlp.lammps"
                   "[.<system>]) beside polymlp_error.yaml and polymlp_cost.yaml, or "
                   "<name>/polymlp.yaml")


# ---------------------------------------------------------------------------------------
# Errors


class RepositoryError(FileContentError):
    """A Repository entry cannot be used. Attributes: ``path``, ``line`` (1-based or None),
    ``key`` (or None); the message starts with them."""

    unnamed = "<repository>"


class RepositoryFileError(RepositoryError):
    """A file of the entry is malformed: unreadable, not YAML, wrong fields, a bad .dat row."""


class EmptyRepositoryError(RepositoryError):
    """The folder holds no MLP in any of the layouts :func:`index_repository` reads."""


# ---------------------------------------------------------------------------------------
# Small readers


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RepositoryFileError(f"not UTF-8 text (byte {exc.start})", path=path) from exc
    except OSError as exc:
        raise RepositoryFileError(f"cannot be read ({exc.strerror})", path=path) from exc


def read_yaml(path: Path):
    """(data, text) of a YAML file; an unreadable file or malformed YAML raises
    RepositoryFileError naming the file (and line)."""
    import yaml

    text = _read_text(path)
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), text
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed"
        raise RepositoryFileError(f"malformed YAML ({problem})", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise RepositoryFileError(f"malformed YAML ({exc})", path=path) from exc


def _line_of(text: str, key: str, value=None) -> Optional[int]:
    """1-based line of ``key:`` in ``text`` (a mapping key or a list item's): the first one
    followed by ``value`` when given and found, else the first one."""
    pattern = re.compile(rf"^\s*(-\s+)?{re.escape(key)}\s*:(.*)$")
    first = None
    for number, line in enumerate(text.splitlines(), 1):
        match = pattern.match(line)
        if match:
            if value is None or str(value) in match[2]:
                return number
            first = first or number
    return first


def _fail(message, path, text, key, value=None):
    return RepositoryFileError(message, path=path,
                               line=_line_of(text, key, value) if text else None, key=key)


def _number(value, path, text, key) -> Optional[float]:
    """A float from a YAML value; None for None/'None'/NaN (pypolymlp prints None)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() in ("none", "null", "nan", "~", ""):
            return None
        wrapped = re.fullmatch(r"\s*np\.float(?:64|32)\((.*)\)\s*", value)  # numpy 2 repr
        try:
            value = float(wrapped[1] if wrapped else value)
        except ValueError:
            raise _fail(f"'{value}' is not a number", path, text, key, value) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(f"{value!r} is not a number", path, text, key)
    value = float(value)
    return None if math.isnan(value) else value


def _mapping(value, path, text, key, what) -> dict:
    if not isinstance(value, dict):
        raise _fail(f"expected {what}, found {type(value).__name__}", path, text, key)
    return value


# ---------------------------------------------------------------------------------------
# The MLPs of an entry

_SKIPPED_SUFFIXES = (".tmp", "~", ".bak", ".gz", ".xz", ".bz2", ".zip", ".tar")


def find_potential_files(folder) -> list:
    """The potential files of one MLP folder, by pypolymlp's rule (``core.io_polymlp.find_mlps``):
    every ``polymlp.yaml*`` file, sorted, else every ``polymlp.lammps*``; several files are the
    parts of a hybrid (``polymlp.yaml.1``, ``polymlp.yaml.2``). Temporary and archive files are
    skipped. Returns a list of Paths (empty when there is none)."""
    folder = Path(folder)
    for stem in ("polymlp.yaml", "polymlp.lammps"):
        files = sorted(p for p in folder.glob(stem + "*")
                       if p.is_file() and not p.name.endswith(_SKIPPED_SUFFIXES)
                       and (p.name == stem or p.name.startswith(stem + ".")))
        if files:
            return files
    return []


_PREDICTION_FILES = ("polymlp_*/polymlp_predictions.yaml", "polymlp_comparison*.dat",
                     "polymlp_formation_energy.yaml")


def _has_predictions(folder: Path) -> bool:
    return folder.is_dir() and any(next(folder.glob(p), None) is not None
                                   for p in _PREDICTION_FILES)


@dataclass
class RepositoryEntry:
    """Where the MLPs and predictions of an entry are.

    folder : the folder given. mlps : {name: MLP folder}, sorted by name.
    predictions : {name: predictions/<name> folder} for the MLPs that have predictions.
    """

    folder: Path
    mlps: dict
    predictions: dict = field(default_factory=dict)


def open_entry(folder) -> RepositoryEntry:
    """Find the MLPs of ``folder``: a Repository entry (``<system>`` holding ``polymlps/``),
    its ``polymlps/`` folder, one ``polymlps/<mlp>/`` folder, or a folder of
    ``<name>/polymlp.yaml`` (a grid search's ``polymlps/``).

    Raises :class:`RepositoryError` (no such folder) or :class:`EmptyRepositoryError` (no MLP:
    names the folder and the layouts expected).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise RepositoryError("no such folder", path=folder)
    if find_potential_files(folder):  # one MLP: <system>/polymlps/<mlp>/
        mlps, root = {folder.name: folder}, folder.parent.parent
    else:
        base = folder / "polymlps" if (folder / "polymlps").is_dir() else folder
        root = folder if base != folder else folder.parent
        mlps = {d.name: d for d in sorted(base.iterdir(), key=lambda p: p.name)
                if d.is_dir() and find_potential_files(d)}
    if not mlps:
        archives = sorted(p.name for p in [*folder.glob("*.tar.*"), *folder.glob("*/*.tar.*")])[:3]
        hint = (f"; found archives ({', '.join(archives)}): extract them first"
                if archives else "")
        raise EmptyRepositoryError(f"no MLPs found: expected {EXPECTED_LAYOUT}{hint}",
                                   path=folder)
    predictions = {name: root / "predictions" / name for name in mlps
                   if _has_predictions(root / "predictions" / name)}
    return RepositoryEntry(folder=folder, mlps=mlps, predictions=predictions)


def _read_errors(path: Path, notes: list) -> dict:
    """rmse/mae of the test dataset of a polymlp_error.yaml (pypolymlp ``write_error_yaml``:
    ``prediction_errors`` list of ``dataset``, ``rmse_energy`` meV/atom, ``rmse_force`` eV/Å,
    ``mae_*``): :func:`~polymlp_lab.io.error_dataset_entry`'s test dataset, else the last one
    (noted in ``notes``)."""
    data, text = read_yaml(path)
    try:
        block = error_dataset_entry(data, last_if_none=True)
    except ValueError as exc:
        raise _fail(f"{exc} (dataset, rmse_energy, rmse_force)", path, text,
                    "prediction_errors") from None
    values = {name: _number(block.get(name), path, text, name)
              for name in ("rmse_energy", "rmse_force", "mae_energy", "mae_force")}
    values["error_dataset"] = str(block["dataset"])
    if "test" not in values["error_dataset"].lower() and "prediction_errors" in data:
        notes.append(f"no test dataset in {path.name}: {values['error_dataset']} used")
    return values


def _read_cost(path: Path) -> dict:
    """single_core and openmp costs (ms/atom/step) and system of a polymlp_cost.yaml
    (pypolymlp ``PolymlpCost._write_single_yaml``)."""
    data, text = read_yaml(path)
    data = _mapping(data, path, text, "costs", "a mapping with costs")
    costs = _mapping(data.get("costs"), path, text, "costs",
                     "a mapping (single_core, openmp)")
    system = data.get("system")
    return {"cost": _number(costs.get("single_core"), path, text, "single_core"),
            "cost_openmp": _number(costs.get("openmp"), path, text, "openmp"),
            "system": None if system is None else str(system)}


def index_repository(folder) -> list:
    """The MLPs of a Repository entry or of a folder of ``<name>/polymlp.yaml`` (see
    :func:`open_entry`), sorted by name: one dict each with

    ``name``, ``path`` (the potential file; the first one of a hybrid), ``paths`` (all its
    files), ``n_components``, ``elements``, ``cutoff`` (Å, the largest of a hybrid),
    ``feature_type``, ``model_type``, ``max_p``, ``n_coeffs`` (all components), test
    ``rmse_energy`` and ``mae_energy`` (meV/atom), ``rmse_force`` and ``mae_force`` (eV/Å),
    ``error_dataset``, ``cost`` and ``cost_openmp`` (ms/atom/step; ``cost`` single core),
    ``system``, ``predictions`` (the predictions/<mlp> folder or None) and ``status`` ("ok", or
    what is missing: the values it would give are None).

    Raises :class:`EmptyRepositoryError` for a folder without MLPs, :class:`RepositoryFileError`
    for a malformed error or cost file, :class:`~polymlp_lab.errors.PotentialFileError` for a
    malformed potential.
    """
    from ..potential import load_potential

    entry = open_entry(folder)
    rows = []
    for name, mlp_dir in entry.mlps.items():
        paths = find_potential_files(mlp_dir)
        potential = load_potential(paths)
        components = potential.components
        model = components[0].params.model
        row = {"name": name, "path": str(paths[0]), "paths": [str(p) for p in paths],
               "n_components": len(components), "elements": list(potential.elements),
               "cutoff": max(float(c.params.model.cutoff) for c in components),
               "feature_type": model.feature_type, "model_type": int(model.model_type),
               "max_p": int(model.max_p), "n_coeffs": sum(len(c.coeffs) for c in components),
               "rmse_energy": None, "rmse_force": None, "mae_energy": None, "mae_force": None,
               "error_dataset": None, "cost": None, "cost_openmp": None,
               "system": "-".join(potential.elements),
               "predictions": str(entry.predictions[name]) if name in entry.predictions else None}
        notes = []
        errors = mlp_dir / "polymlp_error.yaml"
        if errors.is_file():
            row.update(_read_errors(errors, notes))
        else:
            notes.append("no polymlp_error.yaml")
        cost = mlp_dir / "polymlp_cost.yaml"
        if cost.is_file():
            values = _read_cost(cost)
            row.update(values, system=values["system"] or row["system"])
            if values["cost"] is None:
                notes.append(f"no single_core cost in {cost.name}")
        else:
            notes.append("no polymlp_cost.yaml")
        row["status"] = "; ".join(notes) if notes else "ok"
        rows.append(row)
    return rows


def load_row_potential(row):
    """The Potential of an :func:`index_repository` row (a hybrid when it has several files)."""
    from ..potential import load_potential

    return load_potential(row.get("paths") or [row["path"]])


# ---------------------------------------------------------------------------------------
# Predictions


@dataclass
class PrototypePrediction:
    """One ``polymlp_<prototype>/polymlp_predictions.yaml`` (pypolymlp
    ``Prototype.save_properties``): the MLP's properties of a relaxed prototype.

    name : the Repository's structure_type ("fcc", "fcc_Ti", "AuCu3(L12)(x=0.25)").
    species : {element: atoms in the cell}. energy : eV/atom after relaxation of cell and
    positions. volume : Å³/atom after relaxation. eos_energy (eV/atom), eos_volume
    (Å³/atom), bulk_modulus (GPa): the EOS fit. lattice : a, b, c (Å), alpha, beta, gamma
    (degrees) of the relaxed cell as written (not standardised). lattice_dft : the same of
    the DFT structure, when given; volume_dft_cell : its volume, Å³ per cell (pypolymlp
    writes the cell's). elastic : 6x6 GPa, Voigt xx yy zz yz xz xy in the cell's frame.
    eos_points : [[volume Å³/atom, energy eV/atom], ...].
    """

    name: str
    path: str
    icsd_id: Optional[str] = None
    species: dict = field(default_factory=dict)
    energy: Optional[float] = None
    volume: Optional[float] = None
    eos_energy: Optional[float] = None
    eos_volume: Optional[float] = None
    bulk_modulus: Optional[float] = None
    lattice: Optional[dict] = None
    lattice_dft: Optional[dict] = None
    volume_dft_cell: Optional[float] = None
    elastic: Optional[list] = None
    eos_points: list = field(default_factory=list)

    def composition_x(self, elements) -> Optional[float]:
        """Fraction of ``elements[1]`` in the cell (0 for a one-element entry)."""
        total = sum(self.species.values())
        if not total:
            return None
        return self.species.get(elements[1], 0) / total if len(elements) > 1 else 0.0


@dataclass
class DFTComparison:
    """``polymlp_comparison[_<suffix>].dat`` (pypolymlp ``AutoCalcDistribution.compare_with_dft``):
    DFT and MLP energies (eV/atom, both relative to isolated atoms) of DFT equilibrium
    structures, one row each: ``DFT MLP ID``.

    label : the file's suffix ('' for polymlp_comparison.dat, else e.g. "Ti-Al" or "Ti").
    ids : structure names ("ICSD-52914-[fcc]" or vasprun paths). dft, mlp : arrays, eV/atom.
    """

    path: str
    label: str
    ids: list
    dft: np.ndarray
    mlp: np.ndarray

    @property
    def errors_meV(self) -> np.ndarray:
        """MLP − DFT, meV/atom."""
        return (self.mlp - self.dft) * 1000.0

    @property
    def rmse(self) -> float:
        """Root-mean-square MLP − DFT error, meV/atom."""
        return float(np.sqrt(np.mean(self.errors_meV ** 2)))

    def summary(self) -> dict:
        """n, rmse/mae/max error (meV/atom) and the file, as plain data."""
        errors = np.abs(self.errors_meV)
        return {"file": self.path, "label": self.label, "n": len(self.ids),
                "rmse_meV_per_atom": self.rmse, "mae_meV_per_atom": float(errors.mean()),
                "max_abs_error_meV_per_atom": float(errors.max()),
                "worst": self.ids[int(np.argmax(errors))]}


@dataclass
class FormationEnergies:
    """``polymlp_formation_energy.yaml`` (pypolymlp ``FormationEnergyData.save_data``).

    Each list holds dicts ``prototype``, ``composition`` (fractions of each element, the
    entry's order) and ``energy`` (formation energy, eV/atom): ``dft`` and ``mlp`` for every
    DFT structure, ``hull_dft`` and ``hull_mlp`` the structures on each convex hull;
    ``mlp_relaxed`` and ``hull_mlp_relaxed`` after MLP relaxation, when computed (else None).
    """

    path: str
    dft: list
    mlp: list
    hull_dft: list
    hull_mlp: list
    mlp_relaxed: Optional[list] = None
    hull_mlp_relaxed: Optional[list] = None


@dataclass
class RepositoryPredictions:
    """The Repository's predictions for one MLP (``predictions/<mlp>/``).

    prototypes : {name: PrototypePrediction}, in file order. comparisons : {label:
    DFTComparison}. formation : FormationEnergies or None. missing : notes on what is absent
    (prototype folders without predictions: pypolymlp writes none when a relaxation fails).
    """

    folder: str
    prototypes: dict
    comparisons: dict
    formation: Optional[FormationEnergies]
    missing: list

    def as_dict(self) -> dict:
        """Plain JSON-ready data (arrays as lists)."""
        return jsonable({"folder": self.folder,
                         "prototypes": {k: asdict(v) for k, v in self.prototypes.items()},
                         "comparisons": {k: {**c.summary(), "ids": c.ids, "dft": c.dft, "mlp": c.mlp}
                                         for k, c in self.comparisons.items()},
                         "formation": None if self.formation is None else asdict(self.formation),
                         "missing": self.missing})


def _lattice(block, path, text, key) -> Optional[dict]:
    if block is None:
        return None
    block = _mapping(block, path, text, key, "a mapping a, b, c, alpha, beta, gamma")
    return {k: _number(block.get(k), path, text, k)
            for k in ("a", "b", "c", "alpha", "beta", "gamma")}


def _matrix(value, path, text, key, shape=None) -> list:
    want = f"{shape[0]}x{shape[1]} numbers" if shape else "[volume, energy] pairs"
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):  # not numbers, or rows of different lengths
        raise _fail(f"expected {want}", path, text, key) from None
    if array.ndim != 2 or array.shape != (shape or (len(array), 2)):
        raise _fail(f"expected {want}, found shape {array.shape}", path, text, key)
    return array.tolist()


def read_prototype_prediction(path) -> PrototypePrediction:
    """One polymlp_predictions.yaml; see :class:`PrototypePrediction`."""
    path = Path(path)
    data, text = read_yaml(path)
    data = _mapping(data, path, text, "structure_type", "a mapping (unitcell, structure_type, ...)")
    name = data.get("structure_type")
    if name is None:
        name = path.parent.name.removeprefix("polymlp_")
    cell = data.get("unitcell")
    species = {}
    if cell is not None:
        cell = _mapping(cell, path, text, "unitcell", "a mapping (axis, positions, elements)")
        elements = cell.get("elements")
        if not isinstance(elements, list):
            raise _fail("expected a list of elements", path, text, "elements")
        for element in elements:
            species[str(element)] = species.get(str(element), 0) + 1
    eq = _mapping(data.get("equilibrium_properties") or {}, path, text,
                  "equilibrium_properties", "a mapping (energy, volume)")
    eos = _mapping(data.get("eosfit_properties") or {}, path, text, "eosfit_properties",
                   "a mapping (energy, volume, bulk_modulus)")
    elastic = data.get("elastic_constants")
    points = data.get("eos_data_mlp")
    icsd = data.get("icsd_id")
    return PrototypePrediction(
        name=str(name), path=str(path), icsd_id=None if icsd is None else str(icsd),
        species=species,
        energy=_number(eq.get("energy"), path, text, "energy"),
        volume=_number(eq.get("volume"), path, text, "volume"),
        eos_energy=_number(eos.get("energy"), path, text, "eosfit_properties"),
        eos_volume=_number(eos.get("volume"), path, text, "eosfit_properties"),
        bulk_modulus=_number(eos.get("bulk_modulus"), path, text, "bulk_modulus"),
        lattice=_lattice(data.get("lattice_constants"), path, text, "lattice_constants"),
        lattice_dft=_lattice(data.get("lattice_constants_dft"), path, text,
                             "lattice_constants_dft"),
        volume_dft_cell=_number(data.get("volume_dft"), path, text, "volume_dft"),
        elastic=None if elastic is None else _matrix(elastic, path, text, "elastic_constants",
                                                     (6, 6)),
        eos_points=[] if points is None else _matrix(points, path, text, "eos_data_mlp"),
    )


def read_comparison(path) -> DFTComparison:
    """One polymlp_comparison[_<suffix>].dat; see :class:`DFTComparison`. A row that is not
    ``<DFT> <MLP> <ID>`` with finite numbers raises RepositoryFileError naming its line."""
    path = Path(path)
    ids, dft, mlp = [], [], []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        try:
            if len(parts) < 2:
                raise ValueError
            values = float(parts[0]), float(parts[1])
        except ValueError:
            raise RepositoryFileError(
                f"expected 'DFT MLP ID' (eV/atom, eV/atom, name), found {line[:60]!r}",
                path=path, line=number) from None
        if not all(map(math.isfinite, values)):
            raise RepositoryFileError(f"non-finite energy in {line[:60]!r}", path=path,
                                      line=number)
        dft.append(values[0])
        mlp.append(values[1])
        ids.append(parts[2].strip() if len(parts) > 2 else f"line {number}")
    if not ids:
        raise RepositoryFileError("no data rows (expected 'DFT MLP ID' lines)", path=path)
    label = path.stem.removeprefix("polymlp_comparison").removeprefix("_")
    return DFTComparison(path=str(path), label=label, ids=ids, dft=np.array(dft),
                         mlp=np.array(mlp))


def _formation_rows(value, path, text, key, hull: bool) -> list:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _fail("expected a list of entries", path, text, key)
    rows = []
    for item in value:
        if hull:
            composition, energy = item.get("composition"), item.get("delta")
        else:
            data = item.get("data")
            if not isinstance(data, list) or len(data) < 2:
                raise _fail("expected data: [composition..., formation energy]", path, text, key)
            composition, energy = data[:-1], data[-1]
        if not isinstance(composition, list) or not composition:
            raise _fail("expected a list of composition fractions", path, text, key)
        rows.append({"prototype": str(item.get("prototype")),
                     "composition": [_number(c, path, text, key) for c in composition],
                     "energy": _number(energy, path, text, key)})
    return rows


def read_formation_energies(path) -> FormationEnergies:
    """polymlp_formation_energy.yaml; see :class:`FormationEnergies`."""
    path = Path(path)
    data, text = read_yaml(path)
    data = _mapping(data, path, text, "convex_hull_dft", "a mapping (convex_hull_dft, ...)")
    for key in ("convex_hull_dft", "formation_energies_dft"):
        if key not in data:
            raise _fail("missing", path, None, key)

    def rows(key, hull, optional=False):
        if optional and data.get(key) is None:
            return None
        return _formation_rows(data.get(key), path, text, key, hull)

    return FormationEnergies(
        path=str(path), dft=rows("formation_energies_dft", False),
        mlp=rows("formation_energies_mlp", False, True) or [],
        hull_dft=rows("convex_hull_dft", True),
        hull_mlp=rows("convex_hull_mlp", True, True) or [],
        mlp_relaxed=rows("formation_energies_mlp_geometry_optimization", False, True),
        hull_mlp_relaxed=rows("convex_hull_mlp_geometry_optimization", True, True))


def read_predictions(folder) -> RepositoryPredictions:
    """The predictions/<mlp> folder of an entry (``row["predictions"]`` of
    :func:`index_repository`); see :class:`RepositoryPredictions`. Malformed files raise
    :class:`RepositoryFileError` naming the file (and line)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RepositoryError("no such predictions folder", path=folder)
    prototypes, missing = {}, []
    for sub in sorted(p for p in folder.glob("polymlp_*") if p.is_dir()):
        file = sub / "polymlp_predictions.yaml"
        if not file.is_file():
            missing.append(f"{sub.name}: no polymlp_predictions.yaml")
            continue
        prediction = read_prototype_prediction(file)
        prototypes[prediction.name] = prediction
    comparisons = {c.label: c for c in map(read_comparison,
                                           sorted(folder.glob("polymlp_comparison*.dat")))}
    formation_file = folder / "polymlp_formation_energy.yaml"
    formation = read_formation_energies(formation_file) if formation_file.is_file() else None
    missing += [f"no {name}" for found, name in (
        (prototypes, "polymlp_<prototype>/polymlp_predictions.yaml"),
        (comparisons, "polymlp_comparison.dat"),
        (formation, "polymlp_formation_energy.yaml")) if not found]
    return RepositoryPredictions(folder=str(folder), prototypes=prototypes,
                                 comparisons=comparisons, formation=formation, missing=missing)

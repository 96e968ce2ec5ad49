"""Random structure search (AIRSS-like) for unary and binary systems, with any ASE calculator.

The driver: each trial builds a random cell with atoms at random positions
(:mod:`.random_cells`) and relaxes positions and cell
(:func:`~polymlp_lab.properties.mechanics.relax`, no symmetry kept) as one task of
:func:`~polymlp_lab.runs.map_tasks` (Dask, or this process for ``n_workers=1``); each result
is saved as soon as it finishes, and the unique structures go on the convex hull
(:mod:`.search_hull`). The search directory ``OUT`` is a run (:mod:`polymlp_lab.runs`):

- ``OUT/run.json``: the settings and the calculator input: the potential file's content
  digest (not its path) or the calculator's class;
- ``OUT/records/trial-NNNNN.json``: one record per trial, ``status`` "ok" or "failed: ...";
- ``OUT/trials/trial-NNNNN.extxyz``: the relaxed structure with energy, forces and stress;
- ``OUT/hull.json``: the unique structures with formation energy, energy above the convex
  hull, space group, volume and (when the calculator gives one) extrapolation grade; the
  stable and the metastable ones.

A rerun with the same ``OUT`` runs only the trials without an "ok" record: failed trials and
records a crash cut short are done again; more ``trials`` extend the search. Other settings,
or a potential file whose content changed (refitted in place), are refused naming what
differs; ``restart=True`` starts afresh. A failing trial (calculator exception, non-finite
energy, atoms collapsing, no room for the atoms) is recorded with its reason and never stops
the search. The calculator is pickled to the workers, except a polymlp file path: each
worker loads it (and checks its digest).

:func:`active_learning_step` labels the structures near the hull with a reference
calculator (DFT, or a stand-in), adds them to the training set and refits a polymlp.

Units: Å, eV; energies per atom in eV/atom, windows above the hull in meV/atom.
"""

from __future__ import annotations

import io
import os
import json
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.singlepoint import SinglePointCalculator
from ase.formula import Formula
from ase.io import read, write
from ase.neighborlist import neighbor_list

from ..errors import PolymlpLabError
from ..extrapolation import calculator_grade
from ..files import write_text_atomic
from ..properties.mechanics import relax
from ..runs import calculator_inputs, file_digest, map_tasks, open_run
from . import _count, _positive
from .random_cells import (MIN_DISTANCE_FACTOR, _check_elements, _formula, _pair_thresholds,
                           _volume_range, enumerate_compositions, random_structure)
from .search_hull import HullEntry, SearchResult, hull_from_structures, unique_structures

__all__ = [
    "ActiveLearningStep", "HullEntry", "SearchResult", "active_learning_step",
    "enumerate_compositions", "hull_from_structures", "plot_hull", "random_structure",
    "run_search", "run_trial", "select_near_hull", "unique_structures",
]

KIND = "structure-search"
TRIALS = "trials"  # folder of the relaxed structures
HULL_FILE = "hull.json"
COLLAPSE_FACTOR = 0.5  # relaxed atoms closer than this × (r_i + r_j) fail the trial
CELL_FILTER = "unit"  # relax's cell filter: the Fréchet one spends 85% of a trial in scipy's logm


# ----------------------------------------------------------------------------- one trial


@lru_cache(maxsize=4)
def _cached_potential(paths: tuple, digest: str):
    """The potential of ``paths``, checked to be the content the run recorded."""
    from ..potential import load_potential

    found = "+".join(file_digest(p) for p in paths)
    if found != digest:
        raise PolymlpLabError(
            f"the potential file {', '.join(paths)} changed since the search started "
            "(its content digest differs): rerun the search")
    return load_potential(list(paths))


def _calculator_from(spec):
    """A fresh calculator of this task: loaded from polymlp files, or unpickled."""
    if spec[0] == "potential":
        from ..calculator import PolymlpCalculator

        return PolymlpCalculator(_cached_potential(spec[1], spec[2]))
    import cloudpickle

    return cloudpickle.loads(spec[1])


def _check_relaxed(atoms: Atoms) -> None:
    """Raise PolymlpLabError for a non-finite energy or atoms that collapsed together."""
    energy = atoms.get_potential_energy()
    if not np.isfinite(energy):
        raise PolymlpLabError(f"non-finite energy {energy} eV after relaxation")
    thresholds = _pair_thresholds(atoms.get_chemical_symbols(), COLLAPSE_FACTOR)
    i, j, d = neighbor_list("ijd", atoms, float(thresholds.max()))
    close = np.flatnonzero(d < thresholds[i, j])
    if len(close):
        k = close[np.argmin(d[close])]
        raise PolymlpLabError(f"atoms {i[k]} and {j[k]} collapsed to {d[k]:.3f} Å after "
                              f"relaxation (allowed {thresholds[i[k], j[k]]:.3f} Å)")


def _trial_name(trial: int) -> str:
    return f"trial-{trial:05d}"


def _new_record(trial: int, elements, counts) -> dict:
    return dict(trial=trial, name=_trial_name(trial), formula=_formula(elements, counts),
                counts=dict(zip(elements, (int(n) for n in counts))), status=None,
                energy_per_atom=None, volume_per_atom=None, converged=None, steps=None,
                max_force=None, seconds=None, file=None)


def run_trial(calculator_spec, elements, counts, *, seed: int, trial: int, fmax: float,
              steps: int, volume_per_atom=None, min_distance=None) -> dict:
    """One trial, as a task: random structure, then relaxation of positions and cell.

    The random structure comes from the seed sequence ``[seed, trial]``. Failures of the
    trial are recorded, not raised. Returns {``record``: trial, name, formula, counts, status
    "ok" or "failed: <reason>", energy_per_atom eV/atom, volume_per_atom Å³/atom, converged,
    steps, max_force eV/Å, seconds, file, and extrapolation_grade (the calculator's grade of
    the relaxed cell, also in the structure's info) only when the calculator gives one;
    ``extxyz``: the relaxed structure's file text, None on failure}.
    """
    from numba import get_num_threads, set_num_threads

    record = _new_record(trial, elements, counts)
    text = None
    start = time.perf_counter()
    threads = get_num_threads()  # restored: a trial may run in the caller's process
    try:
        set_num_threads(1)
        calc = _calculator_from(calculator_spec)
        atoms = random_structure(elements, counts, rng=np.random.default_rng([seed, trial]),
                                 volume_per_atom=volume_per_atom, min_distance=min_distance)
        result = relax(atoms, calc, fmax=fmax, steps=steps, cell=True, keep_symmetry=False,
                       cell_filter=CELL_FILTER)
        _check_relaxed(result.atoms)
        grade = calculator_grade(calc, result.atoms)
        if grade is not None:
            result.atoms.info["extrapolation_grade"] = record["extrapolation_grade"] = grade
        buffer = io.StringIO()
        write(buffer, result.atoms, format="extxyz")
        text = buffer.getvalue()
        record.update(status="ok", energy_per_atom=float(result.energy_per_atom),
                      volume_per_atom=float(result.atoms.get_volume() / len(result.atoms)),
                      converged=result.converged, steps=result.steps, max_force=result.max_force,
                      file=f"{TRIALS}/{record['name']}.extxyz")
    except Exception as exc:  # recorded for this trial; the search goes on
        record["status"] = _failure(exc)
    finally:
        set_num_threads(threads)
    record["seconds"] = time.perf_counter() - start
    return {"record": record, "extxyz": text}


def _failure(exc: BaseException) -> str:
    return f"failed: {type(exc).__name__}: {exc}".replace("\n", " ")[:500]


# ----------------------------------------------------------------------------- the search


def _calculator_spec(calc, elements) -> tuple:
    """(spec for the tasks, the run's inputs): polymlp files are checked to load here, and
    to know ``elements``, before any trial."""
    inputs = calculator_inputs(calc)
    digest = inputs.get("potential", "polymlp:")
    if not digest.startswith("polymlp:"):  # polymlp file(s), a path or a list of them
        paths = [calc] if isinstance(calc, (str, os.PathLike)) else calc
        paths = tuple(str(Path(p).resolve()) for p in paths)
        potential = _cached_potential(paths, digest)
        missing = [e for e in elements if e not in potential.elements]
        if missing:
            raise PolymlpLabError(f"the potential does not know {', '.join(missing)} "
                                  f"(it knows {', '.join(potential.elements)})")
        return ("potential", paths, digest), inputs
    import cloudpickle

    try:
        payload = cloudpickle.dumps(calc)
    except Exception as exc:
        raise PolymlpLabError(f"the calculator ({type(calc).__name__}) cannot be pickled for "
                              f"the Dask workers: {exc}; pass a picklable calculator or a "
                              "polymlp file path") from exc
    return ("pickled", payload), inputs


def _trial_task(spec, task: dict) -> dict:
    """One task of :func:`~polymlp_lab.runs.map_tasks`: :func:`run_trial` of ``task``."""
    return run_trial(spec, **task)


def run_search(calc_or_potential_path, elements, *, max_atoms: int, trials: int,
               composition_range=(0.0, 1.0), out="search", seed: int = 0, fmax: float = 0.05,
               steps: int = 300, scheduler: Optional[str] = None, n_workers: Optional[int] = None,
               volume_per_atom=None, min_distance=None, references=None,
               window_meV: float = 50.0, symprec: float = 0.1, energy_tol: float = 1e-3,
               volume_tol: float = 0.02, progress: bool = True,
               restart: bool = False) -> SearchResult:
    """Random structure search on Dask, resumable; returns the hull of the unique structures.

    Trial ``i`` relaxes a random structure of composition ``enumerate_compositions(...)[i %
    n]`` (every composition in turn), drawn from the seed sequence ``[seed, i]``.

    calc_or_potential_path : a picklable ASE calculator (giving stress), or polymlp file(s),
        a str / Path or a list of them, that each worker loads.
    elements, max_atoms, composition_range : one or two chemical symbols, A (then B); the
        largest cell (atoms); the range of x_B of the cells.
    trials : trials of the search (those finished under ``out``, the search directory (see
        the module's docstring), are not run again; more than before extend the search).
    seed : seed (>= 0) of the random structures.
    fmax, steps : force (eV/Å) and cell-force criterion, and largest number of optimizer
        steps, of each relaxation.
    scheduler : address of a running Dask scheduler; None starts a LocalCluster here of
        ``n_workers`` single-threaded processes (default: CPU count); ``n_workers=1`` runs
        the trials in this process, without Dask.
    volume_per_atom, min_distance : random structures, see :func:`random_structure`.
    references, window_meV, symprec, energy_tol, volume_tol : hull and duplicates, see
        :func:`hull_from_structures`.
    restart : start afresh, deleting what an earlier search wrote in ``out`` (``--restart``).

    Returns the SearchResult, also written to ``out/hull.json``. Raises PolymlpLabError for
    bad arguments, a potential file that does not load, ``out`` holding a search with other
    settings or another potential (:class:`~polymlp_lab.runs.RunMismatchError`), or a hull
    impossible to build (e.g. every trial of an element failed and no reference is given).
    """
    elements = _check_elements(elements)
    compositions = enumerate_compositions(elements, max_atoms, composition_range)
    trials = _count("trials", trials, 1)
    seed = _count("seed", seed, 0)
    steps = _count("steps", steps, 0)
    fmax = _positive("fmax (eV/Å)", fmax)
    # bad arguments raise here, not in every trial
    volume_range = (None if volume_per_atom is None
                    else list(_volume_range(elements, volume_per_atom)))
    _pair_thresholds(elements, MIN_DISTANCE_FACTOR, min_distance)
    spec, inputs = _calculator_spec(calc_or_potential_path, elements)
    settings = dict(
        elements=elements, max_atoms=max_atoms,
        composition_range=[float(v) for v in composition_range] if len(elements) == 2 else None,
        seed=seed, fmax=fmax, steps=steps, volume_per_atom=volume_range,
        min_distance=None if min_distance is None else float(min_distance), trials=trials,
        cell_filter=CELL_FILTER)
    run = open_run(out, kind=KIND, settings=settings, inputs=inputs, counts=("trials",),
                   restart=restart)
    run.owns(TRIALS, HULL_FILE)
    out = run.path
    (out / TRIALS).mkdir(exist_ok=True)

    def done(record) -> bool:  # "ok", with its structure file
        return record.get("status") == "ok" and (out / str(record.get("file"))).is_file()

    finished = {name for name, record in run.read_records().items() if done(record)}
    tasks = {_trial_name(i): dict(elements=elements, counts=compositions[i % len(compositions)],
                                  seed=seed, trial=i, fmax=fmax, steps=steps,
                                  volume_per_atom=volume_per_atom, min_distance=min_distance)
             for i in range(trials) if _trial_name(i) not in finished}

    def on_result(name, result, error):
        if error is not None:  # the task itself failed (worker lost, ...)
            task = tasks[name]
            record = _new_record(task["trial"], elements, task["counts"])
            record["status"] = _failure(error)
            result = {"record": record, "extxyz": None}
        record = result["record"]
        if result["extxyz"] is not None:  # the structure first: an "ok" record has its file
            write_text_atomic(out / record["file"], result["extxyz"])
        run.write_record(name, record)

    map_tasks(_trial_task, tasks, on_result=on_result, scheduler=scheduler,
              n_workers=n_workers, shared=(spec,), progress=progress, desc="trials",
              total=trials, priority={name: sum(t["counts"]) for name, t in tasks.items()})

    saved = run.read_records()
    records = [saved[_trial_name(i)] for i in range(trials) if _trial_name(i) in saved]
    structures = []
    for r in records:
        if done(r):
            atoms = read(out / r["file"], format="extxyz")
            atoms.info.update(name=r["name"], file=r["file"])
            structures.append(atoms)
    result = hull_from_structures(structures, elements, references=references,
                                  window_meV=window_meV, symprec=symprec,
                                  energy_tol=energy_tol, volume_tol=volume_tol)
    result = replace(result, trials=tuple(records))
    write_text_atomic(out / HULL_FILE, json.dumps(result.as_dict(), indent=1))
    return result


def plot_hull(result: SearchResult, ax=None):
    """Formation energy (meV/atom) against x_B: the hull, stable (labelled), metastable and
    other unique structures. Returns the matplotlib Axes."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
    window = result.window_meV / 1000.0
    others = [e for e in result.entries if e.e_above_hull > window]
    ax.scatter([e.x_B for e in others], [1000 * e.formation_energy for e in others], s=12,
               color="0.6", label="other")
    ax.scatter([e.x_B for e in result.metastable],
               [1000 * e.formation_energy for e in result.metastable], s=30, facecolors="none",
               edgecolors="tab:orange", label=f"within {result.window_meV:g} meV/atom")
    ax.plot(result.hull_x, 1000 * result.hull_formation_energy, "-", color="k", lw=1)
    ax.scatter([e.x_B for e in result.stable], [1000 * e.formation_energy for e in result.stable],
               s=40, color="tab:blue", zorder=3, label="stable")
    for e in result.stable:
        ax.annotate(str(Formula(e.formula).reduce()[0]), (e.x_B, 1000 * e.formation_energy),
                    textcoords="offset points", xytext=(0, -13), ha="center", fontsize=9)
    a, b = result.elements[0], result.elements[-1]
    ax.set_xlabel(f"x in {a}$_{{1-x}}${b}$_x$" if len(result.elements) == 2 else a)
    ax.set_ylabel("formation energy (meV/atom)")
    ax.legend(fontsize=9)
    return ax


# ----------------------------------------------------------------------------- active learning


def select_near_hull(result: SearchResult, window_meV: Optional[float] = None) -> list:
    """Entries at most ``window_meV`` (meV/atom; default: the result's) above the hull, the
    closest first."""
    window = (result.window_meV if window_meV is None else float(window_meV)) / 1000.0
    near = [e for e in result.entries if e.e_above_hull <= window]
    return sorted(near, key=lambda e: (e.e_above_hull, e.x_B))


@dataclass(frozen=True)
class ActiveLearningStep:
    """Outcome of :func:`active_learning_step`.

    fit : the new PolymlpFit (``fit.potential_``, ``fit.errors_``); dataset : the training
    set with the new structures appended; new : the new structures, labelled by the
    reference calculator (a Dataset); errors : of the new potential on the new structures
    (a :class:`~polymlp_lab.fitting.report.DatasetErrors`: rmse_energy meV/atom, rmse_force
    eV/Å, ...).
    """

    fit: object
    dataset: object
    new: object
    errors: object


def _labelled(atoms: Atoms, calc, source: str) -> Atoms:
    """A copy of ``atoms`` with the energy (eV), forces (eV/Å) and stress (eV/Å³) of ``calc``
    in a SinglePointCalculator."""
    copy = Atoms(atoms.numbers, cell=atoms.cell, positions=atoms.positions, pbc=atoms.pbc)
    copy.calc = calc
    energy, forces = float(copy.get_potential_energy()), copy.get_forces()
    try:
        stress = copy.get_stress()
    except PropertyNotImplementedError:
        stress = None
    copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces, stress=stress)
    copy.info["source"] = source
    return copy


def active_learning_step(result: SearchResult, reference_calc, dataset_or_structures, *,
                         fit_kwargs: dict, window_meV: Optional[float] = None,
                         max_new: int = 10) -> ActiveLearningStep:
    """Label the structures near the hull of a search (e.g. with the current polymlp) with a
    reference calculator, add them to the training set and refit: an ActiveLearningStep.

    reference_calc : the reference (DFT, or a potential standing in for it, as notebook 09
        does).
    dataset_or_structures : the current training set, a Dataset or structures with
        SinglePointCalculator results.
    fit_kwargs : keywords of :class:`~polymlp_lab.fitting.PolymlpFit`.
    window_meV, max_new : at most ``max_new`` structures at most ``window_meV`` (meV/atom;
        default: the result's window) above the hull are taken, closest first.

    Raises PolymlpLabError when no structure is within the window, or ``max_new`` < 1 (and
    the fit's own errors).
    """
    from ..fitting import Dataset, PolymlpFit
    from ..fitting.report import dataset_errors

    if int(max_new) < 1:
        raise PolymlpLabError(f"max_new must be >= 1, got {max_new!r}")
    window_meV = result.window_meV if window_meV is None else float(window_meV)
    chosen = select_near_hull(result, window_meV)[:int(max_new)]
    if not chosen:
        raise PolymlpLabError(f"no structure within {window_meV:g} meV/atom of the hull")
    dataset = (dataset_or_structures if isinstance(dataset_or_structures, Dataset)
               else Dataset(name="training", structures=list(dataset_or_structures)))
    labelled = [_labelled(e.atoms, reference_calc, f"near_hull:{e.name}") for e in chosen]
    new = replace(dataset, name="near_hull", structures=labelled,
                  sources=[a.info["source"] for a in labelled])
    grown = replace(dataset, structures=dataset.structures + labelled,
                    sources=dataset.sources + new.sources)
    fit = PolymlpFit(**fit_kwargs).fit(grown)
    atomic_energy = dict(zip(fit.params_.elements, fit.params_.atomic_energy))
    errors = dataset_errors(fit.potential_, new, atomic_energy, "near_hull")
    return ActiveLearningStep(fit=fit, dataset=grown, new=new, errors=errors)

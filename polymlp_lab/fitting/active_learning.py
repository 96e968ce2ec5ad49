"""Active learning on the extrapolation grade: label what the potential does not know, refit.

One generation (:func:`active_learning_step`): the current potential grades candidate
structures (e.g. MD snapshots it made), those above a threshold (highest first, at most
``max_new``) are labelled by a reference calculator (DFT, or any ASE calculator), added to the
training set, and the potential is refitted; its grade, recalibrated on the grown training
set, trusts them afterwards. :func:`active_learning` repeats this with an ``explore``
function until no candidate exceeds the threshold, recording each generation as it finishes
so that an interrupted loop resumes without asking the reference again.
"""

import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import PolymlpLabError
from ..extrapolation import GRADE_WARNING, ExtrapolationError
from ..files import AsDict, check_output_dir, write_text_atomic
from ..runs import calculator_inputs, dataset_digest, open_run
from ..structures import labelled_copy
from .datasets import Dataset
from .fit import PolymlpFit


class ReferenceCalculationError(PolymlpLabError):
    """The reference calculator failed on a structure; ``index`` says which (0-based)."""

    def __init__(self, message, *, index):
        super().__init__(message)
        self.index = index


def select_by_grade(potential, candidates, *, threshold: float = GRADE_WARNING,
                    max_new: int = 10) -> list:
    """``[(index, grade), ...]`` of the ``candidates`` (ase.Atoms) whose structure grade (the
    largest atom grade) under ``potential`` exceeds ``threshold``: highest grade first, at most
    ``max_new``. ExtrapolationError when the potential has no grade."""
    return _select(structure_grades(potential, candidates), threshold, max_new)


def structure_grades(potential, structures) -> list:
    """The grade of each structure (largest atom grade); ExtrapolationError without one."""
    if potential.extrapolation is None:
        raise ExtrapolationError(f"selection by grade needs a potential with an extrapolation "
                                 f"grade; {potential.extrapolation_note}")
    return [float(potential.evaluate(atoms, forces=False, grade=True).extrapolation_grade)
            for atoms in structures]


def _select(grades, threshold, max_new) -> list:
    if not np.isfinite(threshold):
        raise PolymlpLabError(f"threshold must be a finite number, not {threshold}")
    if int(max_new) != max_new or max_new < 1:
        raise PolymlpLabError(f"max_new must be a positive integer, not {max_new}")
    above = sorted(((i, g) for i, g in enumerate(grades) if g > threshold),
                   key=lambda pair: (-pair[1], pair[0]))
    return above[: int(max_new)]


def label(structures, reference) -> list:
    """Copies of ``structures`` carrying a SinglePointCalculator with the energy (eV; the free
    energy, which the forces are the derivative of, when the reference gives one: DFT with
    smearing), forces (eV/Å) and, for cells periodic in all three directions, stress (eV/Å³,
    Voigt) of the ``reference`` ASE calculator. ReferenceCalculationError names the structure
    that failed."""
    labelled = []
    for i, atoms in enumerate(structures):
        copy = atoms.copy()  # drops any calculator attached
        copy.calc = reference
        try:
            energy = copy.get_potential_energy(  # with smearing: the energy of the forces
                force_consistent="free_energy" in getattr(reference, "implemented_properties", ()))
            forces = copy.get_forces()
            stress = copy.get_stress(voigt=True) if copy.pbc.all() else None
        except Exception as exc:
            raise ReferenceCalculationError(
                f"the reference calculator failed on structure {i} ({copy.get_chemical_formula()}): "
                f"{type(exc).__name__}: {exc}", index=i) from exc
        labelled.append(labelled_copy(atoms, energy=energy, forces=forces, stress=stress))
    return labelled


@dataclass(frozen=True)
class ActiveLearningStep(AsDict):
    """One generation of :func:`active_learning_step`.

    generation : its number (1 for the first refit). converged : no candidate exceeded the
    threshold (then nothing was refitted: ``fit`` is the current one, "after" = "before").
    n_candidates, max_grade : candidates graded and their largest grade (None without any).
    selected, grades : indices of the candidates added (highest grade first) and their grades
    under the current potential; grades_after : under the refitted one (≤ 1: now trusted).
    n_train_before, n_train_after : training structures.
    rmse_energy_before/after (meV/atom), rmse_force_before/after (eV/Å) : on the test set.
    train : the grown training Dataset; fit : the refitted PolymlpFit (neither in as_dict).
    """

    not_json = ("train", "fit")

    generation: int
    converged: bool
    threshold: float
    n_candidates: int
    max_grade: Optional[float]
    selected: tuple
    grades: tuple
    grades_after: tuple
    n_train_before: int
    n_train_after: int
    rmse_energy_before: Optional[float]
    rmse_energy_after: Optional[float]
    rmse_force_before: Optional[float]
    rmse_force_after: Optional[float]
    train: Dataset
    fit: PolymlpFit


def clone_fit(fit: PolymlpFit) -> PolymlpFit:
    """A fresh, unfitted PolymlpFit with the keyword settings of ``fit``."""
    names = [n for n in inspect.signature(type(fit).__init__).parameters if n != "self"]
    return type(fit)(**{name: getattr(fit, name) for name in names})


def current_fit(fit: PolymlpFit, train: Dataset, test: Dataset) -> PolymlpFit:
    """``fit`` when it is fitted (on ``train`` and ``test``: checked by dataset names and
    sizes), else a clone of it fitted on them."""
    if fit.checkpoint is not None:
        raise PolymlpLabError("active learning refits on a growing training set, and a "
                              "checkpoint run directory belongs to one fit: use checkpoint=None")
    for what, data in (("train", train), ("test", test)):
        if not isinstance(data, Dataset):
            raise PolymlpLabError(f"{what} must be one Dataset, not {type(data).__name__}")
    if not hasattr(fit, "potential_"):
        return clone_fit(fit).fit(train, test)
    fitted_on = {e.kind: (e.dataset, e.n_structures) for e in fit.errors_}
    given = {"train": (train.name, len(train)), "test": (test.name, len(test))}
    if fitted_on != given:
        raise PolymlpLabError(f"the fitted PolymlpFit was fitted on {fitted_on}, not on the "
                              f"{given} given: pass an unfitted one, or the one fitted on them")
    return fit


def held_out_errors(fit: PolymlpFit):
    """(rmse_energy meV/atom, rmse_force eV/Å) of ``fit`` on its (single) test set."""
    errors = [e for e in fit.errors_ if e.kind == "test"]
    return (errors[0].rmse_energy, errors[0].rmse_force) if errors else (None, None)


def _grown(train: Dataset, new: list, generation: int, indices) -> Dataset:
    """``train`` with the labelled structures ``new`` (candidates ``indices``) added, named
    "<name>+al<generation>"."""
    return Dataset(f"{re.sub(r'[+]al[0-9]+$', '', train.name)}+al{generation}",
                   list(train.structures) + list(new), train.weight, train.include_force,
                   train.include_stress,
                   list(train.sources) + [f"al{generation}: candidate {i}" for i in indices])


def active_learning_step(fit: PolymlpFit, train: Dataset, test: Dataset, candidates, reference,
                         *, threshold: float = GRADE_WARNING, max_new: int = 10,
                         generation: int = 1) -> ActiveLearningStep:
    """Select ``candidates`` (ase.Atoms) above ``threshold`` with the current potential, label
    them with ``reference`` (an ASE calculator), add them to ``train`` and refit.

    fit : the settings template (unfitted: fitted here on ``train`` and ``test`` first), or
        the PolymlpFit already fitted on them (as the previous step returns), used as is.
        Refits are fresh PolymlpFit objects with its keyword settings.
    train, test : one Dataset each; the test set stays fixed so errors compare across steps.
    generation : numbers the step and names the grown training set "<name>+al<generation>".
    """
    fit = current_fit(fit, train, test)
    candidates = list(candidates)
    grades = structure_grades(fit.potential_, candidates)
    chosen = _select(grades, threshold, max_new)
    max_grade = max(grades) if grades else None
    rmse_energy, rmse_force = held_out_errors(fit)
    if not chosen:
        return ActiveLearningStep(
            generation, True, float(threshold), len(candidates), max_grade, (), (), (),
            len(train), len(train), rmse_energy, rmse_energy, rmse_force, rmse_force, train, fit)
    indices = tuple(i for i, _ in chosen)
    new = label([candidates[i] for i in indices], reference)
    grown = _grown(train, new, generation, indices)
    refit = clone_fit(fit).fit(grown, test)
    after = (tuple(structure_grades(refit.potential_, new))
             if refit.potential_.extrapolation is not None else ())
    rmse_energy_after, rmse_force_after = held_out_errors(refit)
    return ActiveLearningStep(
        generation, False, float(threshold), len(candidates), max_grade, indices,
        tuple(g for _, g in chosen), after, len(train), len(grown), rmse_energy,
        rmse_energy_after, rmse_force, rmse_force_after, grown, refit)


KIND = "active-learning"
RUN_CONTROL = ("n_workers", "batch_size", "checkpoint", "restart", "progress")


def active_learning(fit: PolymlpFit, train: Dataset, test: Dataset, explore, reference, *,
                    threshold: float = GRADE_WARNING, max_new: int = 10,
                    max_generations: int = 5, out=None, restart: bool = False,
                    progress: bool = False) -> list:
    """Generations of :func:`active_learning_step` until one selects nothing (its
    ``converged``) or ``max_generations`` have run; returns the ActiveLearningStep list.

    explore : ``explore(potential) -> list of ase.Atoms``, the candidates of the current
        potential (e.g. MD snapshots run with it). fit, train, test, reference : as in
        :func:`active_learning_step`.
    out : run directory receiving the initial potential in ``generation-00/`` and each
        refitted one in ``generation-NN/`` (polymlp.yaml, polymlp_extrapolation.npz,
        polymlp_error.yaml), ``generations.json`` (each step's as_dict and its folder) and a
        record per generation with the structures the reference labelled, written as each
        generation finishes. A rerun into ``out`` with the same fit settings, threshold,
        max_new, data and reference resumes: the recorded generations are refitted from their
        recorded labels (the reference is not asked again) and the loop goes on; a larger
        ``max_generations`` extends it; anything else is refused (RunMismatchError naming it;
        ``restart=True`` starts afresh).
    progress : a tqdm bar over generations.
    """
    from tqdm.auto import tqdm

    if int(max_generations) != max_generations or max_generations < 1:
        raise PolymlpLabError(f"max_generations must be a positive integer, not {max_generations}")
    run = None if out is None else _open_loop(out, fit, train, test, reference, threshold,
                                              max_new, max_generations, restart)
    fit = current_fit(fit, train, test)
    if run is not None:
        _save_generation(run.path, 0, fit)
    recorded = {} if run is None else run.read_records()
    steps, summaries = [], []
    with tqdm(total=int(max_generations), desc="active learning", unit="generation",
              disable=not progress) as bar:
        for generation in range(1, int(max_generations) + 1):
            record = recorded.get(_generation_name(generation))
            if record is not None:  # done before: refit from its labels
                step = _replayed(fit, train, test, record)
            else:
                step = active_learning_step(fit, train, test, explore(fit.potential_), reference,
                                            threshold=threshold, max_new=max_new,
                                            generation=generation)
            steps.append(step)
            if run is not None:
                folder = None if step.converged else _save_generation(run.path, generation,
                                                                      step.fit)
                if record is None:
                    new = step.train.structures[step.n_train_before:]
                    run.write_record(_generation_name(generation),
                                     {**step.as_dict(), "status": "ok", "directory": folder,
                                      "labelled": [_structure_record(a) for a in new]})
                summaries.append({**step.as_dict(), "directory": folder})
                write_text_atomic(run.path / "generations.json",
                                  json.dumps(summaries, indent=1) + "\n")
            bar.update(1)
            bar.set_postfix(selected=len(step.selected), max_grade=step.max_grade)
            if step.converged:
                break
            fit, train = step.fit, step.train
    return steps


def _open_loop(out, fit, train, test, reference, threshold, max_new, max_generations, restart):
    """The loop's run directory: its settings and the digests of its data and reference."""
    names = [n for n in inspect.signature(type(fit).__init__).parameters
             if n not in ("self",) + RUN_CONTROL]
    settings = {"fit": {n: getattr(fit, n) for n in names if n != "params"},
                "threshold": float(threshold), "max_new": int(max_new),
                "max_generations": int(max_generations)}
    if getattr(fit, "params", None) is not None:
        settings["fit"]["params"] = fit.model_params().as_dict()
    inputs = {"train": dataset_digest(train), "test": dataset_digest(test),
              **{f"reference {k}": v for k, v in calculator_inputs(reference).items()}}
    run = open_run(check_output_dir(out), kind=KIND, settings=settings, inputs=inputs,
                   counts=("max_generations",), restart=restart)
    run.owns("generations.json", *(_generation_name(g) for g in range(int(max_generations) + 1)))
    return run


def _generation_name(generation: int) -> str:
    return f"generation-{generation:02d}"


def _structure_record(atoms) -> dict:
    """A labelled structure, exactly (JSON floats round-trip): atoms, energy, forces, stress."""
    stress = atoms.calc.results.get("stress")
    return {"numbers": atoms.numbers, "positions": atoms.positions, "cell": atoms.cell.array,
            "pbc": atoms.pbc, "energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
            "stress": stress}


def _structure_from(record: dict):
    from ase import Atoms

    atoms = Atoms(numbers=record["numbers"], positions=record["positions"], cell=record["cell"],
                  pbc=record["pbc"])
    return labelled_copy(atoms, energy=record["energy"], forces=record["forces"],
                         stress=record["stress"])


def _replayed(fit, train, test, record: dict) -> ActiveLearningStep:
    """A recorded generation again: its labelled structures added to ``train`` and refitted
    (the reference is not asked); the numbers of the record, the new fit's objects."""
    fields = {k: record[k] for k in ActiveLearningStep.__dataclass_fields__
              if k not in ActiveLearningStep.not_json}
    fields.update({k: tuple(fields[k]) for k in ("selected", "grades", "grades_after")})
    if record["converged"]:
        return ActiveLearningStep(**fields, train=train, fit=fit)
    new = [_structure_from(r) for r in record["labelled"]]
    grown = _grown(train, new, record["generation"], fields["selected"])
    return ActiveLearningStep(**fields, train=grown, fit=clone_fit(fit).fit(grown, test))


def _save_generation(out: Optional[Path], generation: int, fit: PolymlpFit) -> Optional[str]:
    """Save ``fit`` in ``out/generation-NN/`` and return that folder's name (None: no out)."""
    if out is None:
        return None
    name = _generation_name(generation)
    (out / name).mkdir(parents=True, exist_ok=True)
    fit.save(out / name / "polymlp.yaml")
    fit.save_errors(out / name / "polymlp_error.yaml")
    return name

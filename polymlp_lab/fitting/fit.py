"""PolymlpFit: ridge regression of a polynomial MLP on DFT data, in scikit-learn's shape.

Configure with keywords, call ``fit(train, test)``; results end in ``_``. The design rows come
from our engine (``polymlp_lab.engine.design``), a batch of structures per task, in threads or
on a Dask cluster; only the normal equations are kept (memory ~ features², see ``gram``),
summed in task order (``accumulate``), so that every way of running gives the same bits. The
columns are scaled by the standard deviation of the training energy rows, ridge solutions are
computed for every alpha and the one with the lowest weighted test RMSE is kept, as pypolymlp
does.
"""

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from ..engine.design import FeatureTables, build_feature_tables
from ..errors import PolymlpLabError
from ..extrapolation import (
    GRADE_FILE, ExtrapolationError, calibrate_extrapolation, potential_digest,
)
from ..files import atomic_path
from ..models import model_params
from ..potential import Potential, load_potential
from ..runs import dataset_digest, open_run
from .accumulate import sums_in_order
from .datasets import Dataset, validate_dataset
from .gram import NormalEquations, RowBlock, block_of, reference_energy, structure_rows
from .infile import read_polymlp_in
from .report import dataset_errors, write_error_yaml, write_predictions

DEFAULT_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # pypolymlp's reg_alpha_params -3 1 5
# keywords passed on to polymlp_lab.models.model_params
MODEL_KEYS = ("cutoff", "model_type", "max_p", "feature_type", "gaussian_params1",
              "gaussian_params2", "n_gaussians", "gtinv_order", "gtinv_maxl", "gtinv_version",
              "distance")


class ModelTooLargeError(PolymlpLabError):
    """The normal equations of the model would not fit in the memory available."""


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (bytes), or a large number where unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 50


class PolymlpFit:
    """Fit a polynomial MLP to DFT energies, forces and stresses.

    Parameters (keyword only)
    ----------
    elements : element symbols in the model's order; model keywords as in
        :func:`polymlp_lab.models.model_params` (``cutoff`` Å, ``model_type``, ``max_p``,
        ``gtinv_order``, ``gtinv_maxl``, ``gaussian_params2`` ...), or ``params``, a pypolymlp
        ``PolymlpParamsSingle`` that replaces them all.
    alphas : ridge regularisation strengths tried (selection on the test RMSE).
    atomic_energy : {element: isolated-atom energy (eV)} subtracted from DFT energies.
    weight_stress : weight of stress rows relative to energies (pypolymlp's 0.1).
    train_ratio : share of each dataset used for training when no test set is given.
    n_workers : threads computing tasks in parallel (default: Numba's thread count); not
        used with a scheduler.
    scheduler : address of a Dask scheduler ("tcp://host:8786") or a cluster object
        (``distributed.LocalCluster``): the tasks run on its workers, the data sent to each
        once; None: in threads here. The result is the same to the bit either way.
    batch_size : structures per task (a task's rows are summed into partial normal equations
        that are then added in task order: the last bits of the result depend on it).
    checkpoint : run directory keeping the sums of finished structures (``run.json``,
        ``normal_equations.npz``); a rerun of the same fit (model, data, weights and
        batch_size) resumes from it, to the same bits as an uninterrupted fit; another is
        refused with :class:`~polymlp_lab.runs.RunMismatchError` naming what differs.
    restart : start the checkpoint's run afresh instead.
    progress : show a tqdm progress bar.

    Attributes after ``fit``
    ------------------------
    coef_ : coefficients of the features (pypolymlp's order; written to polymlp.yaml).
    alpha_ : the chosen alpha. rmse_train_, rmse_test_ : weighted RMSE per alpha.
    scales_ : column scales. potential_ : the fitted :class:`~polymlp_lab.Potential`.
    extrapolation_ : its :class:`~polymlp_lab.extrapolation.ExtrapolationGrade` (training atoms
    trusted; attached to ``potential_`` and saved beside it), or None.
    errors_ : list of per-dataset :class:`~polymlp_lab.fitting.report.DatasetErrors`.
    n_features_ : number of coefficients. timings_ : seconds per stage.
    """

    def __init__(
        self, *, elements=None, params=None, cutoff=6.0, model_type=4, max_p=2,
        feature_type="gtinv", gaussian_params1=(1.0, 1.0, 1), gaussian_params2=(0.0, 5.0, 7),
        n_gaussians=None, gtinv_order=3, gtinv_maxl=(4, 4), gtinv_version=1, distance=None,
        alphas=DEFAULT_ALPHAS, atomic_energy=None, weight_stress=0.1, train_ratio=0.9,
        n_workers=None, scheduler=None, batch_size=8, checkpoint=None, restart=False,
        progress=True,
    ):
        self.elements = elements
        self.params = params
        self.cutoff = cutoff
        self.model_type = model_type
        self.max_p = max_p
        self.feature_type = feature_type
        self.gaussian_params1 = gaussian_params1
        self.gaussian_params2 = gaussian_params2
        self.n_gaussians = n_gaussians
        self.gtinv_order = gtinv_order
        self.gtinv_maxl = gtinv_maxl
        self.gtinv_version = gtinv_version
        self.distance = distance
        self.alphas = alphas
        self.atomic_energy = atomic_energy
        self.weight_stress = weight_stress
        self.train_ratio = train_ratio
        self.n_workers = n_workers
        self.scheduler = scheduler
        self.batch_size = batch_size
        self.checkpoint = checkpoint
        self.restart = restart
        self.progress = progress

    def model_params(self):
        """The pypolymlp ``PolymlpParamsSingle`` this fit makes (with the atomic energies)."""
        params = self.params
        if params is None:
            if not self.elements:
                raise PolymlpLabError("PolymlpFit needs elements=... (or params=...)")
            params = model_params(self.elements, **{k: getattr(self, k) for k in MODEL_KEYS})
        energies = self._atomic_energy(params.elements)
        params.atomic_energy = tuple(energies[e] for e in params.elements)
        return params

    def _atomic_energy(self, elements) -> dict:
        given = dict(self.atomic_energy or {})
        unknown = sorted(set(given) - set(elements))
        if unknown:
            raise PolymlpLabError(
                f"atomic_energy names {', '.join(unknown)}, not in the model ({', '.join(elements)})"
            )
        return {e: float(given.get(e, 0.0)) for e in elements}

    @staticmethod
    def _as_list(datasets):
        if datasets is None:
            return []
        if isinstance(datasets, Dataset):
            return [datasets]
        return list(datasets)

    def _check_memory(self, n_features: int, n_atom_max: int, n_threads: int) -> None:
        """Refuse a model whose sums need more memory than this process has (bytes: 8 per
        number). n_threads: tasks computed here at once (their rows, and up to twice as many
        partial sums in flight); 0 on Dask, where the client holds one partial at a time."""
        gram = 8.0 * n_features**2
        rows = 8.0 * n_features * self.batch_size * (3 * n_atom_max + 7)
        # train and test XᵀX, the symmetric copy, the factorisation and the scaled matrix
        need = 5 * gram + max(2 * n_threads, 1) * gram + n_threads * rows
        have = available_memory_bytes()
        if need > 0.9 * have:
            raise ModelTooLargeError(
                f"the model has {n_features} features: its normal equations need about "
                f"{need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB are available; choose a smaller "
                "model (fewer Gaussians, lower gtinv_maxl or gtinv_order, smaller max_p)"
            )

    def _open_checkpoint(self, params, sets):
        """The fit's run directory (``checkpoint``): settings and data digests recorded once,
        so that a rerun resumes only the same fit (alphas, workers and scheduler may change;
        the batch size may not: the sums' last bits depend on it)."""
        model = params.as_dict()["model"]
        settings = {key: model[key] for key in (
            "cutoff", "model_type", "max_p", "max_l", "feature_type", "pair_type", "pair_params")}
        settings["gtinv"] = {k: model["gtinv"][k] for k in ("order", "max_l", "version")}
        settings.update(elements=list(params.elements),
                        atomic_energy=self._atomic_energy(params.elements),
                        weight_stress=self.weight_stress, batch_size=int(self.batch_size),
                        datasets=[[kind, d.name, len(d)] for kind, ds in sets for d in ds])
        inputs = {f"{kind} data {k} ({d.name})": dataset_digest(d)
                  for kind, ds in sets for k, d in enumerate(ds)}
        return open_run(self.checkpoint, kind="fit", settings=settings, inputs=inputs,
                        restart=self.restart)

    def fit(self, train, test=None) -> "PolymlpFit":
        """Fit on ``train`` (Dataset or list), select alpha on ``test`` (default: split)."""
        from numba import config

        t_start = time.perf_counter()
        train = self._as_list(train)
        test = self._as_list(test)
        if not train:
            raise PolymlpLabError("no training data")
        if not test:
            pairs = [d.split(self.train_ratio) for d in train]
            train = [a for a, _ in pairs]
            test = [b for _, b in pairs if len(b)]
        params = self.model_params()
        elements = tuple(params.elements)
        for d in train + test:
            validate_dataset(d, elements)
        atomic_energy = self._atomic_energy(elements)
        tables = build_feature_tables(params)
        n_workers = int(self.n_workers or max(1, int(config.NUMBA_NUM_THREADS)))
        n_atom_max = max(len(a) for d in train + test for a in d.structures)
        self._check_memory(tables.n_features, n_atom_max,
                           n_workers if self.scheduler is None else 0)

        min_energy = min(
            (a.calc.results["energy"] - reference_energy(a, atomic_energy)) / len(a)
            for d in train for a in d.structures
        )
        sets = [("train", train), ("test", test)]
        run = self._open_checkpoint(params, sets) if self.checkpoint is not None else None
        sums, done = _load_state(run, tables.n_features, sets)
        self.resumed_structures_ = int(sum(m.sum() for m in done.values()))

        todo = {key: np.flatnonzero(~mask) for key, mask in done.items()}  # in sets' order
        tasks = [(kind, k, indices[start:start + self.batch_size])
                 for (kind, k), indices in todo.items()
                 for start in range(0, len(indices), self.batch_size)]
        rows = TaskRows(tables, dict(sets), atomic_energy, min_energy, self.weight_stress)
        t_rows = time.perf_counter()
        self._accumulate(rows, tasks, sums, done, n_workers, run)
        t_solve = time.perf_counter()
        self._solve(sums["train"], sums["test"])
        self.n_features_ = tables.n_features
        self.params_ = params
        self.potential_ = Potential.from_params(params, self.coef_)
        t_errors = time.perf_counter()
        self.errors_ = [dataset_errors(self.potential_, d, atomic_energy, kind)
                        for kind, datasets in sets for d in datasets]
        t_grade = time.perf_counter()
        self._calibrate_extrapolation(train)
        self.timings_ = {
            "setup_s": t_rows - t_start, "rows_s": t_solve - t_rows,
            "solve_s": t_errors - t_solve, "errors_s": t_grade - t_errors,
            "extrapolation_s": time.perf_counter() - t_grade,
        }
        return self

    def _calibrate_extrapolation(self, train) -> None:
        """The extrapolation grade of the fitted potential, its training atoms trusted (None,
        with the reason in the potential's ``extrapolation_note``, when they cannot give one)."""
        source = "training set: " + ", ".join(d.name for d in train)
        try:
            self.extrapolation_ = calibrate_extrapolation(
                self.potential_, [a for d in train for a in d.structures], source=source)
        except ExtrapolationError as exc:
            self.extrapolation_ = None
            self.potential_.extrapolation_note = f"no extrapolation grade: {exc}"
        else:
            self.potential_.attach_extrapolation(self.extrapolation_)

    def _accumulate(self, rows, tasks, sums, done, n_workers, run) -> None:
        """Merge the tasks' partial sums into ``sums`` in task order (the same bits however
        they ran), saving the state to the run every 30 s and when the work ends or is
        interrupted (the finished tasks are then a prefix of ``tasks``). No task: nothing
        runs (a finished checkpoint needs no cluster)."""
        from tqdm.auto import tqdm

        if not tasks:
            return
        bar = tqdm(total=sum(len(t[2]) for t in tasks), desc="features", unit="structure",
                   disable=not self.progress)
        last_save = time.perf_counter()
        consistent = True  # False while a partial is half merged (an interrupt there: no save)
        try:
            with sums_in_order(rows, tasks, scheduler=self.scheduler,
                               n_workers=n_workers) as results:
                for (kind, k, indices), partial in results:
                    consistent = False
                    sums[kind].merge(partial)
                    done[(kind, k)][indices] = True
                    consistent = True
                    bar.update(len(indices))
                    if run is not None and time.perf_counter() - last_save > 30.0:
                        _save_state(run, sums, done)
                        last_save = time.perf_counter()
        finally:
            bar.close()
            if run is not None and consistent:
                _save_state(run, sums, done)

    def _solve(self, train: NormalEquations, test: NormalEquations) -> None:
        from scipy.linalg import LinAlgError, cho_factor, cho_solve

        mean = train.energy_sum / max(train.n_energy, 1)
        variance = train.energy_sq_sum / max(train.n_energy, 1) - mean**2
        variance[variance < 0] = 1.0
        scales = np.sqrt(variance)
        zero = np.abs(scales) < 1e-10
        scales[zero] = 1.0
        keep = ~zero
        a = train.full_xtx()[np.ix_(keep, keep)] / np.outer(scales[keep], scales[keep])
        b = train.xty[keep] / scales[keep]
        a_test = test.full_xtx()[np.ix_(keep, keep)] / np.outer(scales[keep], scales[keep])
        b_test = test.xty[keep] / scales[keep]

        def rmse(eq, mat, vec, c):
            if eq.sum_w2 <= 0:
                return float("nan")
            mse = (c @ mat @ c - 2.0 * c @ vec + eq.yty) / eq.sum_w2
            return float(np.sqrt(max(mse, 0.0)))

        solutions, rmse_train, rmse_test = [], [], []
        diagonal = np.arange(len(b))
        for alpha in self.alphas:
            m = a.copy()
            m[diagonal, diagonal] += alpha
            try:
                c = cho_solve(cho_factor(m, overwrite_a=True, check_finite=False), b)
            except LinAlgError:
                c = np.full(len(b), np.nan)
            solutions.append(c)
            rmse_train.append(rmse(train, a, b, c) if np.all(np.isfinite(c)) else np.inf)
            rmse_test.append(rmse(test, a_test, b_test, c) if np.all(np.isfinite(c)) else np.inf)
        rmse_test_arr = np.array(rmse_test)
        select = rmse_test_arr if np.any(np.isfinite(rmse_test_arr)) and test.sum_w2 > 0 else np.array(rmse_train)
        if not np.any(np.isfinite(select)):
            raise PolymlpLabError("every ridge solve failed (singular normal equations); raise alpha")
        best = int(np.nanargmin(np.where(np.isfinite(select), select, np.nan)))
        coef = np.zeros(len(train.xty))
        coef[keep] = solutions[best] / scales[keep]
        self.alpha_ = float(self.alphas[best])
        self.coef_ = coef
        self.scales_ = scales
        self.rmse_train_ = np.array(rmse_train)
        self.rmse_test_ = rmse_test_arr

    def save(self, path="polymlp.yaml", format="yaml"):
        """Write the fitted potential (pypolymlp reads it back to the same numbers) and, beside
        it, its extrapolation grade (polymlp_extrapolation.npz). Returns the paths written."""
        self._check_fitted()
        written = self.potential_.save(path, format=format)
        if self.extrapolation_ is not None:  # tied to the coefficients as the file holds them
            digest = potential_digest(load_potential(written))
            grade = dataclasses.replace(self.extrapolation_, potential_digest=digest)
            written.append(grade.save(Path(path).with_name(GRADE_FILE)))
        return written

    def save_errors(self, path="polymlp_error.yaml"):
        """Write polymlp_error.yaml in pypolymlp's layout."""
        self._check_fitted()
        write_error_yaml(path, self.errors_)
        return Path(path)

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise PolymlpLabError("call fit() first")


STATE_FILE = "normal_equations.npz"  # the sums of a fit's run directory so far


@dataclasses.dataclass(frozen=True)
class TaskRows:
    """What makes the weighted rows of a task (sent once to each Dask worker)."""

    tables: FeatureTables
    datasets: dict  # {kind: [Dataset, ...]}
    atomic_energy: dict  # {element: eV}
    min_energy: float  # lowest training energy per atom above the isolated atoms (eV)
    weight_stress: float

    def __call__(self, task) -> RowBlock:
        """The RowBlock of a task (kind, dataset number, structure indices)."""
        kind, k, indices = task
        d = self.datasets[kind][k]
        parts, e_rows = [], []
        for i in indices:
            atoms = d.structures[i]
            type_ids = self.tables.type_ids(atoms.numbers)  # validate_dataset: all known
            p, e_row = structure_rows(
                self.tables, atoms, type_ids, atomic_energy=self.atomic_energy,
                min_energy=self.min_energy, weight=d.weight, include_force=d.include_force,
                include_stress=d.include_stress, weight_stress=self.weight_stress,
            )
            parts.append(p)
            e_rows.append(e_row)
        return block_of(parts, np.array(e_rows))


def _load_state(run, n_features, sets):
    """(sums, done) of the run so far, or zero sums when there is none (or it is unreadable:
    then every structure is computed again)."""
    sums = {kind: NormalEquations.zeros(n_features) for kind, _ in sets}
    done = {(kind, k): np.zeros(len(d), dtype=bool) for kind, ds in sets for k, d in enumerate(ds)}
    path = None if run is None else run.path / STATE_FILE
    if path is None or not path.is_file():
        return sums, done
    try:
        with np.load(path) as state:
            loaded = {kind: NormalEquations.from_state(state, kind) for kind in sums}
            masks = {key: np.array(state[f"done_{key[0]}_{key[1]}"], dtype=bool) for key in done}
    except Exception as exc:  # cut short or damaged: start again rather than fail
        warnings.warn(f"{path}: unreadable ({exc}); every structure is computed again")
        return sums, done
    return loaded, masks


def _save_state(run, sums, done) -> None:
    state = {f"done_{kind}_{k}": mask for (kind, k), mask in done.items()}
    for kind, eq in sums.items():
        state.update(eq.state(kind))
    run.owns(STATE_FILE)
    with atomic_path(run.path / STATE_FILE) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **state)


def fit_polymlp_in(path, *, output_dir: Optional[str] = None, checkpoint=None, restart=False,
                   progress=True, n_workers=None, scheduler=None) -> PolymlpFit:
    """Fit what a pypolymlp ``polymlp.in`` describes; write polymlp.yaml, polymlp_error.yaml
    and parity data into ``output_dir`` (default: the working directory). ``scheduler``: a
    Dask scheduler's address to compute on (see :class:`PolymlpFit`)."""
    spec = read_polymlp_in(path)
    fit = PolymlpFit(
        params=spec.params, alphas=spec.alphas, atomic_energy=spec.atomic_energy,
        checkpoint=checkpoint, restart=restart, progress=progress, n_workers=n_workers,
        scheduler=scheduler,
    ).fit(spec.train, spec.test)
    out = Path(output_dir or ".")
    out.mkdir(parents=True, exist_ok=True)
    fit.save(out / "polymlp.yaml")
    fit.save_errors(out / "polymlp_error.yaml")
    write_predictions(out / "predictions", fit.errors_)
    return fit

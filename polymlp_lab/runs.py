"""Long runs that resume, extend or refuse, never mixing results made under other settings.

A run directory holds ``run.json``: what kind of run it is, its settings and the content
digests of its inputs (potential files, structures, datasets), written once. A rerun into
the same directory

- **resumes** when settings and inputs are the same (finished records are kept),
- **extends** when only a count grew (more trials, more steps),
- is **refused** otherwise, with a :class:`RunMismatchError` naming each setting or input
  that differs; ``restart=True`` (``--restart``) starts afresh, deleting only what the run
  wrote (listed in ``run.json``), never a file of the user's.

Each finished task is one record, ``records/<name>.json``, written atomically; a record that a
crash left half-written is found unreadable, removed and its task done again. A failed task
is recorded with ``status`` other than "ok" and retried on the next rerun.
:func:`map_tasks` runs the tasks, on Dask (a LocalCluster or a scheduler's address) or in
this process, with a progress bar, recording each as it finishes; a ``stop`` callback ends
the run early (the panels' Stop button).
"""

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from .errors import PolymlpLabError
from .files import check_output_dir, jsonable, write_text_atomic

__all__ = ["Run", "RunMismatchError", "SchedulerUnreachableError", "file_digest", "atoms_digest",
           "dataset_digest", "open_run", "reopen_run", "map_tasks", "dask_client",
           "calculator_inputs"]

RUN_FILE = "run.json"
RECORDS = "records"
CONNECT_TIMEOUT_S = 10.0  # how long a Dask scheduler's address is tried


class RunMismatchError(PolymlpLabError):
    """The run directory holds a run made under other settings or inputs; ``differences``
    lists them ("key: was X, now Y")."""

    def __init__(self, path, differences):
        self.path, self.differences = Path(path), list(differences)
        super().__init__(
            f"{path} holds a run made under other settings or inputs ({'; '.join(differences)}):"
            " rerun with restart (--restart) to start afresh, or choose another output folder")


class SchedulerUnreachableError(PolymlpLabError):
    """No Dask scheduler answers at ``address`` (``reason``: what the attempt raised)."""

    def __init__(self, address, reason):
        self.address, self.reason = address, reason
        super().__init__(f"cannot reach the Dask scheduler at {address!r}: {reason}")


def file_digest(path) -> str:
    """SHA-256 of a file's bytes (a potential, a dataset file): its identity for a run."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atoms_digest(atoms) -> str:
    """SHA-256 of what a calculation reads from ``ase.Atoms``: numbers, positions, cell, pbc
    (and momenta when set), as float64/int64 bytes."""
    digest = hashlib.sha256()
    for array in (atoms.numbers.astype(np.int64), atoms.positions, atoms.cell.array,
                  np.asarray(atoms.pbc, dtype=np.int64), atoms.get_momenta()):
        digest.update(np.ascontiguousarray(array, dtype=array.dtype).tobytes())
    return digest.hexdigest()


def calculator_inputs(calc_or_paths) -> dict:
    """A run's inputs for what computes its energies: potential file(s), a path or a list, by
    their bytes (``{"potential": digest}``, several joined by "+"; a file refitted in place is
    another input); a :class:`~polymlp_lab.Potential` or a calculator holding one by its
    parameters and coefficients (``{"potential": "polymlp:<digest>"}``); any other ASE
    calculator by its class and ``parameters`` (``{"calculator": "module.Class:<digest>"}``).
    A potential's extrapolation grade (attached, or the grade file beside a potential file) is
    an input too (``"extrapolation"``): records made with and without grades never mix."""
    from .extrapolation import GRADE_FILE
    from .potential import Potential

    paths = [calc_or_paths] if isinstance(calc_or_paths, (str, os.PathLike)) else calc_or_paths
    if isinstance(paths, (list, tuple)) and paths and all(
            isinstance(p, (str, os.PathLike)) for p in paths):
        missing = [str(p) for p in paths if not Path(p).is_file()]
        if missing:
            raise PolymlpLabError(f"potential file not found: {', '.join(missing)}")
        inputs = {"potential": "+".join(file_digest(p) for p in paths)}
        grades = [Path(p).parent / GRADE_FILE for p in paths]
        if any(g.is_file() for g in grades):
            inputs["extrapolation"] = "+".join(file_digest(g) if g.is_file() else "none"
                                               for g in grades)
        return inputs
    potential = calc_or_paths if isinstance(calc_or_paths, Potential) else getattr(
        calc_or_paths, "potential", None)
    digest = hashlib.sha256()
    if isinstance(potential, Potential):
        for component in potential.components:
            digest.update(repr(component.params).encode())
            digest.update(np.ascontiguousarray(component.coeffs, dtype=np.float64).tobytes())
        inputs = {"potential": f"polymlp:{digest.hexdigest()}"}
        if potential.extrapolation is not None:
            inputs["extrapolation"] = potential.extrapolation.digest()
        return inputs
    parameters = dict(getattr(calc_or_paths, "parameters", None) or {})
    digest.update(json.dumps(jsonable(parameters), sort_keys=True, default=repr).encode())
    kind = type(calc_or_paths)
    return {"calculator": f"{kind.__module__}.{kind.__qualname__}:{digest.hexdigest()}"}


def dataset_digest(datasets) -> str:
    """SHA-256 of training data: every structure (:func:`atoms_digest`) with its DFT energy,
    forces and stress, and each dataset's weight and flags; a Dataset or a list of them."""
    from .fitting import Dataset

    digest = hashlib.sha256()
    for dataset in [datasets] if isinstance(datasets, Dataset) else list(datasets):
        digest.update(json.dumps([dataset.weight, dataset.include_force,
                                  dataset.include_stress]).encode())
        for atoms in dataset.structures:
            digest.update(atoms_digest(atoms).encode())
            results = atoms.calc.results if atoms.calc is not None else {}
            for key in ("energy", "forces", "stress"):
                value = results.get(key)
                if value is not None:
                    digest.update(np.asarray(value, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _differences(saved: dict, now: dict, prefix: str) -> list:
    keys = sorted(set(saved) | set(now))
    return [f"{prefix}{k}: was {saved.get(k)!r}, now {now.get(k)!r}"
            for k in keys if saved.get(k) != now.get(k)]


class Run:
    """An open run directory (made by :func:`open_run`).

    Attributes: ``path``; ``status`` ("new", "resumed", "extended" or "restarted");
    ``settings`` and ``inputs`` as recorded.
    """

    def __init__(self, path: Path, record: dict, status: str):
        self.path, self._record, self.status = path, record, status

    @property
    def settings(self) -> dict:
        return self._record["settings"]

    @property
    def inputs(self) -> dict:
        return self._record["inputs"]

    @property
    def owned(self) -> list:
        """Files and folders (relative to the run directory) that the run wrote."""
        return list(self._record["owned"])

    def _save(self) -> None:
        write_text_atomic(self.path / RUN_FILE, json.dumps(self._record, indent=1))

    def owns(self, *names: str) -> None:
        """Note files or folders (relative to the run directory) that the run writes, so that
        a restart removes them and nothing else."""
        new = [n for n in names if n not in self._record["owned"]]
        if new:
            self._record["owned"].extend(new)
            self._save()

    def write_record(self, name: str, record: dict) -> Path:
        """``records/<name>.json``, atomically (NaN and inf written as null)."""
        (self.path / RECORDS).mkdir(exist_ok=True)
        return write_text_atomic(self.path / RECORDS / f"{name}.json",
                                 json.dumps(jsonable(record), indent=1))

    def read_records(self) -> dict:
        """{name: record} of every readable record; an unreadable one (half-written by a
        crash) is removed, so that its task runs again."""
        found = {}
        for path in sorted((self.path / RECORDS).glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, UnicodeDecodeError):
                path.unlink()
                continue
            found[path.stem] = record
        return found

    def finished(self) -> set:
        """Names of the records whose task succeeded (status "ok"); failed ones are retried."""
        return {name for name, r in self.read_records().items() if r.get("status") == "ok"}


def open_run(path, *, kind: str, settings: dict, inputs: Optional[dict] = None,
             counts: Iterable[str] = (), restart: bool = False) -> Run:
    """Create, resume or extend the run in ``path``, or refuse (:class:`RunMismatchError`).

    kind : what the run is ("grid", "md", ...); another kind in ``path`` is refused.
    settings : JSON-ready values that decide the results.
    inputs : {name: digest} of the input files or structures (:func:`file_digest`,
        :func:`atoms_digest`).
    counts : settings that may grow on a rerun (extending the run), never shrink.
    restart : delete what an earlier run wrote here and start afresh.
    """
    path = check_output_dir(path)
    path.mkdir(parents=True, exist_ok=True)
    now = {"kind": kind, "settings": jsonable(dict(settings)), "inputs": dict(inputs or {}),
           "owned": [RUN_FILE, RECORDS]}
    now = json.loads(json.dumps(now))  # tuples as lists, as they come back from the file
    saved_path = path / RUN_FILE
    status = "new"
    if saved_path.is_file():
        try:
            saved = json.loads(saved_path.read_text(encoding="utf-8"))
        except ValueError:
            saved = None  # a run.json cut short: nothing was recorded under it yet
        if saved is not None and restart:
            _remove_owned(path, saved.get("owned", []))
            status = "restarted"
        elif saved is not None:
            differences = _differences({"kind": saved.get("kind")}, {"kind": kind}, "")
            growable = set(counts)
            fixed_saved = {k: v for k, v in saved.get("settings", {}).items() if k not in growable}
            fixed_now = {k: v for k, v in now["settings"].items() if k not in growable}
            differences += _differences(fixed_saved, fixed_now, "")
            differences += _differences(saved.get("inputs", {}), now["inputs"], "input ")
            for key in growable:
                before, after = saved.get("settings", {}).get(key), now["settings"].get(key)
                if before is not None and after is not None and after < before:
                    differences.append(f"{key}: was {before!r}, now {after!r} (it may only grow)")
            if differences:
                raise RunMismatchError(path, differences)
            grew = any(saved["settings"].get(k) != now["settings"].get(k) for k in growable)
            status = "extended" if grew else "resumed"
            now["owned"] = list(dict.fromkeys(saved.get("owned", []) + now["owned"]))
    run = Run(path, now, status)
    run._save()
    return run


def reopen_run(path, kind: str) -> Run:
    """The run of ``kind`` already recorded in ``path`` (to add records or files to it), as
    it is: no settings to compare. Raises PolymlpLabError when there is none."""
    path = Path(path)
    try:
        record = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or record.get("kind") != kind:
        raise PolymlpLabError(f"{path}: no {kind} run here (no {RUN_FILE} of one)")
    record.setdefault("owned", [])
    return Run(path, record, "resumed")


def _remove_owned(path: Path, owned) -> None:
    for name in owned:
        target = (path / name).resolve()
        if path.resolve() not in target.parents:  # only inside the run directory
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def map_tasks(function: Callable, tasks: dict, *, on_result: Callable, scheduler=None,
              n_workers: Optional[int] = None, shared: tuple = (), priority=None,
              progress: bool = True, desc: str = "tasks", total: Optional[int] = None,
              stop: Optional[Callable[[], bool]] = None) -> int:
    """Run ``function(*shared, task)`` for each ``{name: task}`` and call
    ``on_result(name, result, error)`` as each finishes (``error`` the exception of a failed
    task, else None): failures never abort the rest. Returns how many finished.

    scheduler : a Dask scheduler address; else n_workers single-threaded processes of a
        LocalCluster, or, for ``n_workers=1``, this process (no Dask).
    shared : large arguments sent once to every worker (datasets, a potential).
    priority : {name: number}, larger first (e.g. the largest models first).
    total : the run's whole size for the progress bar (default: these tasks).
    stop : called after each result; True ends the run (remaining tasks cancelled).
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=total or len(tasks), initial=(total or len(tasks)) - len(tasks),
               desc=desc, unit="task", disable=not progress)
    done = 0
    try:
        if not tasks:
            return 0
        if scheduler is None and n_workers == 1:
            for name, task in tasks.items():
                try:
                    result, error = function(*shared, task), None
                except Exception as exc:  # recorded, never aborts the run
                    result, error = None, exc
                on_result(name, result, error)
                done += 1
                bar.update(1)
                if stop is not None and stop():
                    break
            return done
        return _map_dask(function, tasks, on_result, scheduler, n_workers, shared, priority,
                         bar, stop)
    finally:
        bar.close()


def _map_dask(function, tasks, on_result, scheduler, n_workers, shared, priority, bar, stop):
    from distributed import as_completed

    done = 0
    with dask_client(scheduler, n_workers) as client:
        scattered = client.scatter(list(shared), broadcast=True) if shared else []
        futures = {
            client.submit(function, *scattered, task, pure=False,
                          priority=(priority or {}).get(name, 0),
                          key=f"polymlp-lab-{name}-{time.time_ns()}"): name
            for name, task in tasks.items()
        }
        completed = as_completed(futures)
        for future in completed:
            try:
                result, error = future.result(), None
            except Exception as exc:  # the task failed, or its worker was lost
                result, error = None, exc
            on_result(futures[future], result, error)
            done += 1
            bar.update(1)
            if stop is not None and stop():
                for pending in futures:
                    pending.cancel()
                break
    return done


@contextlib.contextmanager
def dask_client(scheduler=None, n_workers: Optional[int] = None):
    """A Dask ``distributed.Client``, closed after the block.

    scheduler : the address of a running scheduler ("tcp://host:8786") or a cluster object
        (``LocalCluster``), left running; None: a new LocalCluster of ``n_workers``
        (default: all cores) single-threaded worker processes, closed after the block.
    Raises :class:`SchedulerUnreachableError` when no scheduler answers within
    ``CONNECT_TIMEOUT_S`` seconds.
    """
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, ValueError) as exc:  # OSError: timed out; ValueError: bad address
            raise SchedulerUnreachableError(scheduler, exc) from exc
    else:
        cluster = LocalCluster(n_workers=int(n_workers or os.cpu_count() or 1),
                               threads_per_worker=1, processes=True, dashboard_address=":0",
                               # CRITICAL: at close, workers log "Stream is closed" errors
                               # that mean nothing (task failures are recorded, not logged)
                               silence_logs=logging.CRITICAL)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

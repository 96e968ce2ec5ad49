"""Molecular dynamics with any ASE calculator: NVE, NVT and NPT, saved as it runs.

The integrators are ASE's: velocity Verlet (NVE); Langevin, Nosé–Hoover chain or Bussi
(NVT); isotropic or fully flexible MTK, or Berendsen (NPT). With a
:class:`~polymlp_lab.PolymlpCalculator` the neighbour list is kept across steps (its skin).

Runs with an output folder go through :mod:`polymlp_lab.runs`: a rerun resumes, extends
(more steps) or is refused when the settings, the potential or the starting structure
differ. The liquid workflow (``melt_and_quench``) is in :mod:`polymlp_lab.simulations.liquid`.

Units: time fs (settings) and ps (records), energies eV per cell, temperature K, pressure
GPa, volume Å³.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from ase import units
from ase.constraints import FixCom
from ase.io import Trajectory
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.nose_hoover_chain import MTKNPT, IsotropicMTKNPT, NoseHooverChainNVT
from ase.md.nptberendsen import NPTBerendsen
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from ..errors import PolymlpLabError
from ..extrapolation import calculator_grade, grade_warning
from ..files import atomic_path, write_text_atomic
from ..runs import RUN_FILE, atoms_digest, calculator_inputs, open_run
from ..structures import check_structure
from ..units import EV_PER_A3_IN_GPA

ENSEMBLES = ("nve", "nvt", "npt")
THERMOSTATS = ("nose-hoover", "langevin", "bussi")
BAROSTATS = ("mtk", "mtk-aniso", "berendsen")
RECORD_FIELDS = (
    "step", "time_ps", "potential_energy_eV", "kinetic_energy_eV", "total_energy_eV",
    "temperature_K", "volume_A3", "pressure_GPa",
)
GRADE_FIELD = "extrapolation_grade"  # recorded when the calculator gives it (else None)


@dataclass(frozen=True)
class MDSettings:
    """What ``run_md`` integrates; all keyword choices of :func:`run_md`."""

    ensemble: str = "nve"
    temperature_K: float = 300.0
    steps: int = 1000
    timestep_fs: float = 1.0
    thermostat: str = "nose-hoover"
    barostat: str = "mtk"
    pressure_GPa: float = 0.0
    tdamp_fs: float = 100.0
    pdamp_fs: float = 1000.0
    friction_per_fs: float = 0.01
    interval: int = 10
    seed: int = 0

    def check(self) -> "MDSettings":
        """Raise PolymlpLabError naming the first bad setting; return self."""
        choices = {"ensemble": ENSEMBLES, "thermostat": THERMOSTATS, "barostat": BAROSTATS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise PolymlpLabError(f"{name} must be one of {', '.join(allowed)}, "
                                      f"not {getattr(self, name)!r}")
        for name in ("timestep_fs", "tdamp_fs", "pdamp_fs", "friction_per_fs"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise PolymlpLabError(f"{name} must be a positive number, not {value!r}")
        if not (np.isfinite(self.temperature_K) and self.temperature_K >= 0):
            raise PolymlpLabError(f"temperature_K must be >= 0, not {self.temperature_K!r}")
        if self.ensemble != "nve" and self.temperature_K <= 0:
            raise PolymlpLabError(f"{self.ensemble.upper()} needs a temperature above 0 K")
        if int(self.steps) != self.steps or self.steps < 0:
            raise PolymlpLabError(f"steps must be a whole number >= 0, not {self.steps!r}")
        if int(self.interval) != self.interval or self.interval < 1:
            raise PolymlpLabError(f"interval must be a whole number >= 1, not {self.interval!r}")
        if not np.isfinite(self.pressure_GPa):
            raise PolymlpLabError(f"pressure_GPa must be finite, not {self.pressure_GPa!r}")
        return self


@dataclass
class MDResult:
    """Records of a run (one per ``interval`` steps, step 0 included) and its final state.

    ``records`` maps each of RECORD_FIELDS and ``extrapolation_grade`` (the structure's grade
    where the calculator gives one, else None) to a list; ``atoms`` is the final structure with
    its momenta; ``trajectory`` the ASE trajectory file (or None without ``out``).
    ``stopped``: the ``stop`` callback ended the run; ``run_status``: "new", "resumed",
    "extended" or "restarted" (see :func:`polymlp_lab.runs.open_run`).
    """

    settings: MDSettings
    n_atoms: int
    records: dict
    atoms: object
    trajectory: Optional[Path] = None
    resumed_from_step: int = 0
    failed: Optional[str] = None
    stopped: bool = False
    run_status: str = "new"

    def array(self, name: str) -> np.ndarray:
        """One record as a float array (e.g. ``"temperature_K"``)."""
        return np.asarray(self.records[name], dtype=float)

    @property
    def extrapolation_warning(self) -> Optional[str]:
        """Where the grade first passed GRADE_WARNING (1.5), or None."""
        return grade_warning(self.records.get("step", []), self.records.get(GRADE_FIELD, []))

    def as_dict(self) -> dict:
        """JSON-ready summary (what ``md.json`` holds)."""
        return {
            "settings": asdict(self.settings),
            "n_atoms": self.n_atoms,
            "resumed_from_step": self.resumed_from_step,
            "failed": self.failed,
            "stopped": self.stopped,
            "extrapolation_warning": self.extrapolation_warning,
            "trajectory": None if self.trajectory is None else self.trajectory.name,
            "records": self.records,
        }


def make_integrator(atoms, settings: MDSettings):
    """The ASE integrator for ``settings`` acting on ``atoms`` (which carry the calculator)."""
    s = settings.check()
    dt = s.timestep_fs * units.fs
    tdamp, pdamp = s.tdamp_fs * units.fs, s.pdamp_fs * units.fs
    if s.ensemble == "nve":
        return VelocityVerlet(atoms, timestep=dt)
    rng = np.random.default_rng(s.seed + 1)
    if s.ensemble == "nvt" and s.thermostat == "langevin":
        # the centre of mass is held by a constraint, as ASE recommends since 3.28
        if not any(isinstance(c, FixCom) for c in atoms.constraints):
            atoms.set_constraint(list(atoms.constraints) + [FixCom()])
        return Langevin(atoms, timestep=dt, temperature_K=s.temperature_K,
                        friction=s.friction_per_fs / units.fs, fixcm=False, rng=rng)
    if s.ensemble == "nvt" and s.thermostat == "bussi":
        return Bussi(atoms, dt, s.temperature_K, taut=tdamp, rng=rng)
    if s.ensemble == "nvt":
        return NoseHooverChainNVT(atoms, timestep=dt, temperature_K=s.temperature_K, tdamp=tdamp)
    if not all(atoms.pbc):
        raise PolymlpLabError("NPT needs a cell periodic in 3 directions")
    pressure_au = s.pressure_GPa * units.GPa
    if s.barostat == "berendsen":
        return NPTBerendsen(atoms, timestep=dt, temperature_K=s.temperature_K,
                            pressure_au=pressure_au, taut=tdamp, taup=pdamp,
                            compressibility_au=1.0 / (100.0 * units.GPa))
    kind = IsotropicMTKNPT if s.barostat == "mtk" else MTKNPT
    return kind(atoms, timestep=dt, temperature_K=s.temperature_K, pressure_au=pressure_au,
                tdamp=tdamp, pdamp=pdamp)


def initial_velocities(atoms, temperature_K: float, seed: int = 0) -> None:
    """Maxwell–Boltzmann momenta at ``temperature_K`` with zero total momentum (in place)."""
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K, exact_temperature=True, rng=rng)
    Stationary(atoms)


def _record(atoms, step: int, timestep_fs: float, wants_pressure: bool) -> dict:
    # the stress first: its evaluation gives the energy too (the other way round is two)
    pressure = (float(-atoms.get_stress(include_ideal_gas=True)[:3].mean() * EV_PER_A3_IN_GPA)
                if wants_pressure else None)
    epot = float(atoms.get_potential_energy())
    ekin = float(atoms.get_kinetic_energy())
    values = (
        step, step * timestep_fs * 1e-3, epot, ekin, epot + ekin,
        float(atoms.get_temperature()), float(atoms.get_volume()) if all(atoms.pbc) else None,
        pressure,
    )
    for name, value in zip(RECORD_FIELDS, values):
        if isinstance(value, float) and not np.isfinite(value):
            raise PolymlpLabError(f"MD step {step}: {name} is {value}; the run has blown up")
    return {**dict(zip(RECORD_FIELDS, values)), GRADE_FIELD: calculator_grade(atoms.calc, atoms)}


def read_log(path: Path) -> list:
    """The complete records of ``md.jsonl`` (its first line: the settings). Reading stops at
    the first line that is not a whole record: the one being written (the MD panel follows a
    running log), or one a crash cut short (a resumed run does it again)."""
    if not path.is_file():
        return []
    lines = path.read_bytes().decode("utf-8", errors="replace").split("\n")
    try:
        if not isinstance(json.loads(lines[0]).get("settings"), dict):
            return []
    except (ValueError, AttributeError):
        return []
    records = []
    for line in lines[1:]:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            break
        if not isinstance(record, dict) or not set(RECORD_FIELDS) <= set(record):
            break
        records.append(record)
    return records


def _resume_point(out: Path) -> tuple:
    """(records, frames) of the earlier run in ``out``: the complete records of ``md.jsonl``
    that have their frame in ``md.traj`` (up to a frame a crash cut short)."""
    records, frames = read_log(out / "md.jsonl"), []
    if records and (out / "md.traj").is_file():
        try:
            with Trajectory(out / "md.traj") as traj:
                for index in range(min(len(traj), len(records))):
                    frames.append(traj[index])
        except Exception:  # a frame cut short by the interruption: the ones before it stay
            pass
    return records[:len(frames)], frames


def run_md(atoms, calc, *, out=None, resume: bool = True, restart: bool = False,
           progress: bool = True, initialize: Optional[bool] = None,
           stop: Optional[Callable[[], bool]] = None, **settings) -> MDResult:
    """Integrate the equations of motion of a copy of ``atoms`` with ``calc`` (any ASE
    calculator, e.g. :class:`~polymlp_lab.PolymlpCalculator`).

    atoms : the starting structure, not modified; its momenta are used when present. A cell
        not periodic in 3 directions (a cluster) runs NVE or NVT, with no pressure or volume.
    out : a folder: ``md.traj`` (ASE trajectory with momenta, one frame per record),
        ``md.jsonl`` (settings, then one record per line, appended as the run goes),
        ``md.json`` (settings, n_atoms, records; at the end, on failure or stop) and
        ``run.json`` (the settings and the digests of the potential and the starting
        structure; see :mod:`polymlp_lab.runs`).
    resume : a rerun into ``out`` with the same settings, potential and starting structure
        continues the earlier run from its last frame, and extends it when only ``steps``
        grew; the thermostat's internal state and random stream restart, the trajectory and
        records continue. Other settings or inputs are refused
        (:class:`~polymlp_lab.runs.RunMismatchError`, naming what differs). A record cut
        short by a crash is done again.
    restart : start afresh, deleting the earlier run's files (only those it wrote);
        ``resume=False`` means the same.
    initialize : draw Maxwell–Boltzmann velocities at ``temperature_K`` (default: when the
        atoms have no momenta).
    stop : called after each record; True ends the run there (``stopped`` set), the records
        and trajectory complete up to it.
    **settings : the fields of :class:`MDSettings`.

    Returns an MDResult; a calculator failure mid-run ends the run early with ``failed`` set
    and the records up to it kept. A failure on the starting structure (step 0) raises a
    PolymlpLabError.
    """
    unknown = set(settings) - set(MDSettings.__dataclass_fields__)
    if unknown:
        raise PolymlpLabError(f"unknown MD setting(s) {', '.join(sorted(unknown))} "
                              f"(known: {', '.join(MDSettings.__dataclass_fields__)})")
    s = MDSettings(**settings).check()
    check_structure(atoms)
    state = atoms.copy()
    state.calc = calc
    draw = bool(initialize or (initialize is None and not state.get_momenta().any()))
    records, frames, start, run = [], [], 0, None
    out = None if out is None else Path(out)
    if out is not None:
        run = open_run(out, kind="md", settings={**asdict(s), "initialize": draw},
                       inputs={**calculator_inputs(calc), "structure": atoms_digest(atoms)},
                       counts=("steps",), restart=restart or not resume)
        run.owns("md.jsonl", "md.json", "md.traj")
        if run.status in ("resumed", "extended"):
            records, frames = _resume_point(out)
    if frames:
        state.set_cell(frames[-1].cell, scale_atoms=False)
        state.set_positions(frames[-1].positions)
        state.set_momenta(frames[-1].get_momenta())
        start = records[-1]["step"]
    elif draw:
        initial_velocities(state, s.temperature_K, s.seed)
    # a cluster has no stress to ask for: its pressure is recorded as None
    wants_pressure = all(state.pbc) and (
        s.ensemble == "npt" or "stress" in getattr(calc, "implemented_properties", ()))
    dyn = make_integrator(state, s)
    if not frames:
        try:
            first = _record(state, 0, s.timestep_fs, wants_pressure)
        except Exception as exc:  # atoms too close, an element the potential lacks, ...
            if run is not None and run.status in ("new", "restarted"):
                # it recorded nothing: a corrected rerun must not be refused
                (out / RUN_FILE).unlink(missing_ok=True)
            if isinstance(exc, PolymlpLabError):
                raise
            raise PolymlpLabError(f"MD cannot start: the calculator fails on the starting "
                                  f"structure ({type(exc).__name__}: {exc})") from exc
    log = traj = None
    if out is not None:
        lines = [{"settings": asdict(s)}] + records  # the settings line, then what is kept
        write_text_atomic(out / "md.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
        if frames:  # md.traj rewritten to hold exactly the frames kept
            with atomic_path(out / "md.traj") as temporary, Trajectory(temporary, "w") as kept:
                for frame in frames:
                    kept.write(frame)
        traj = Trajectory(out / "md.traj", "a" if frames else "w", state)
        log = (out / "md.jsonl").open("a")

    def save(record):
        records.append(record)
        if log is not None:
            log.write(json.dumps(record) + "\n")
            log.flush()
            traj.write()

    result = MDResult(s, len(state), {}, state, None if out is None else out / "md.traj", start)
    result.run_status = "new" if run is None else run.status
    try:
        if not frames:
            save(first)
        from tqdm.auto import tqdm

        bar = tqdm(total=s.steps, initial=start, desc=f"MD {s.ensemble}", disable=not progress)
        step = start
        while step < s.steps:
            if stop is not None and stop():
                result.stopped = True
                break
            chunk = min(s.interval, s.steps - step)
            dyn.run(chunk)
            step += chunk
            save(_record(state, step, s.timestep_fs, wants_pressure))
            bar.update(chunk)
        bar.close()
    except (PolymlpLabError, ValueError, RuntimeError, FloatingPointError) as exc:
        result.failed = f"{type(exc).__name__}: {exc}"
    finally:
        if log is not None:
            log.close()
            traj.close()
        result.records = {name: [r.get(name) for r in records]
                          for name in RECORD_FIELDS + (GRADE_FIELD,)}
        if out is not None:
            write_text_atomic(out / "md.json", json.dumps(result.as_dict(), indent=1))
    return result

"""Molecular dynamics with any ASE calculator: NVE, NVT and NPT, saved as it runs.

The integrators are ASE's: velocity Verlet (NVE); Langevin, Nosé–Hoover chain or Bussi
(NVT); isotropic or fully flexible MTK, or Berendsen (NPT). With a
:class:`~polymlp_lab.PolymlpCalculator` the neighbour list is kept across steps (its skin).

Units: time fs (settings) and ps (records), energies eV per cell, temperature K, pressure
GPa, volume Å³.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from ase import units
from ase.io import Trajectory, read
from ase.md.langevin import Langevin
from ase.md.verlet import VelocityVerlet

from ..errors import PolymlpLabError
from ..units import EV_PER_A3_IN_GPA

ENSEMBLES = ("nve", "nvt", "npt")
THERMOSTATS = ("nose-hoover", "langevin", "bussi")
BAROSTATS = ("mtk", "mtk-aniso", "berendsen")
RECORD_FIELDS = (
    "step", "time_ps", "potential_energy_eV", "kinetic_energy_eV", "total_energy_eV",
    "temperature_K", "volume_A3", "pressure_GPa",
)


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
                raise PolymlpLabError(
                    f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}"
                )
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

    ``records`` maps each of RECORD_FIELDS to a list; ``atoms`` is the final structure with
    its momenta; ``trajectory`` the ASE trajectory file (or None without ``out``).
    """

    settings: MDSettings
    n_atoms: int
    records: dict
    atoms: object
    trajectory: Optional[Path] = None
    resumed_from_step: int = 0
    failed: Optional[str] = field(default=None)

    def array(self, name: str) -> np.ndarray:
        """One record as a float array (e.g. ``"temperature_K"``)."""
        return np.asarray(self.records[name], dtype=float)

    def to_json(self) -> dict:
        return {
            "settings": asdict(self.settings),
            "n_atoms": self.n_atoms,
            "resumed_from_step": self.resumed_from_step,
            "failed": self.failed,
            "trajectory": None if self.trajectory is None else self.trajectory.name,
            "records": self.records,
        }


def make_integrator(atoms, settings: MDSettings):
    """The ASE integrator for ``settings`` acting on ``atoms`` (which carry the calculator)."""
    s = settings.check()
    dt = s.timestep_fs * units.fs
    if s.ensemble == "nve":
        return VelocityVerlet(atoms, timestep=dt)
    rng = np.random.default_rng(s.seed + 1)
    if s.ensemble == "nvt":
        if s.thermostat == "langevin":
            # the centre of mass is held by a constraint, as ASE recommends since 3.28
            from ase.constraints import FixCom

            if not any(isinstance(c, FixCom) for c in atoms.constraints):
                atoms.set_constraint(list(atoms.constraints) + [FixCom()])
            return Langevin(
                atoms, timestep=dt, temperature_K=s.temperature_K,
                friction=s.friction_per_fs / units.fs, fixcm=False, rng=rng,
            )
        if s.thermostat == "bussi":
            from ase.md.bussi import Bussi

            return Bussi(atoms, dt, s.temperature_K, taut=s.tdamp_fs * units.fs, rng=rng)
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(
            atoms, timestep=dt, temperature_K=s.temperature_K, tdamp=s.tdamp_fs * units.fs
        )
    if not all(atoms.pbc):
        raise PolymlpLabError("NPT needs a cell periodic in 3 directions")
    pressure_au = s.pressure_GPa * units.GPa
    if s.barostat == "berendsen":
        from ase.md.nptberendsen import NPTBerendsen

        return NPTBerendsen(
            atoms, timestep=dt, temperature_K=s.temperature_K, pressure_au=pressure_au,
            taut=s.tdamp_fs * units.fs, taup=s.pdamp_fs * units.fs,
            compressibility_au=1.0 / (100.0 * units.GPa),
        )
    from ase.md.nose_hoover_chain import IsotropicMTKNPT, MTKNPT

    kind = IsotropicMTKNPT if s.barostat == "mtk" else MTKNPT
    return kind(
        atoms, timestep=dt, temperature_K=s.temperature_K, pressure_au=pressure_au,
        tdamp=s.tdamp_fs * units.fs, pdamp=s.pdamp_fs * units.fs,
    )


def initial_velocities(atoms, temperature_K: float, seed: int = 0) -> None:
    """Maxwell–Boltzmann momenta at ``temperature_K`` with zero total momentum (in place)."""
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K, exact_temperature=True, rng=rng)
    Stationary(atoms)


def _record(atoms, step: int, timestep_fs: float, wants_pressure: bool) -> dict:
    epot = float(atoms.get_potential_energy())
    ekin = float(atoms.get_kinetic_energy())
    pressure = None
    if wants_pressure:
        stress = atoms.get_stress(include_ideal_gas=True)
        pressure = float(-stress[:3].mean() * EV_PER_A3_IN_GPA)
    values = (
        step, step * timestep_fs * 1e-3, epot, ekin, epot + ekin,
        float(atoms.get_temperature()), float(atoms.get_volume()) if all(atoms.pbc) else None,
        pressure,
    )
    for name, value in zip(RECORD_FIELDS, values):
        if isinstance(value, float) and not np.isfinite(value):
            raise PolymlpLabError(f"MD step {step}: {name} is {value}; the run has blown up")
    return dict(zip(RECORD_FIELDS, values))


def _has_stress(calc) -> bool:
    return "stress" in getattr(calc, "implemented_properties", ())


def _same_run(saved, settings: MDSettings) -> bool:
    """True when ``saved`` settings differ from ``settings`` at most in the step count."""
    if not isinstance(saved, dict):
        return False
    wanted = asdict(settings)
    return {k: v for k, v in saved.items() if k != "steps"} == {
        k: v for k, v in wanted.items() if k != "steps"
    }


def _resume_point(out: Path, settings: MDSettings):
    """(records so far, last saved Atoms) of a matching earlier run in ``out``, or None."""
    log, traj = out / "md.jsonl", out / "md.traj"
    if not (log.is_file() and traj.is_file()):
        return None
    lines = log.read_text().splitlines()
    if not lines or not _same_run(json.loads(lines[0]).get("settings"), settings):
        return None
    records = [json.loads(line) for line in lines[1:] if line.strip()]
    try:
        frames = read(traj, index=":")
    except Exception:  # a frame cut short by the interruption: start again
        return None
    n = min(len(records), len(frames))
    if n == 0:
        return None
    return records[:n], frames[n - 1]


def run_md(atoms, calc, *, out=None, resume: bool = True, progress: bool = True,
           initialize: Optional[bool] = None, **settings) -> MDResult:
    """Integrate the equations of motion of a copy of ``atoms`` with ``calc``.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure; not modified. Its momenta are used when present.
    calc : ASE calculator (e.g. :class:`~polymlp_lab.PolymlpCalculator`).
    out : folder, optional
        Writes ``md.traj`` (ASE trajectory with momenta, one frame per record),
        ``md.jsonl`` (settings, then one record per line, appended as the run goes) and,
        at the end or on interruption, ``md.json`` (settings, n_atoms, records).
    resume : continue a run of the same settings (the step count may differ, to extend a
        run) found in ``out`` from its last frame; the thermostat's internal state and
        random stream restart, the trajectory and records continue.
    initialize : draw Maxwell–Boltzmann velocities at ``temperature_K`` (default: when the
        atoms have no momenta).
    **settings : the fields of :class:`MDSettings` (ensemble, temperature_K, steps,
        timestep_fs, thermostat, barostat, pressure_GPa, tdamp_fs, pdamp_fs,
        friction_per_fs, interval, seed).

    Returns
    -------
    MDResult; a calculator failure mid-run ends the run early with ``failed`` set and the
    records up to it kept.
    """
    unknown = set(settings) - set(MDSettings.__dataclass_fields__)
    if unknown:
        raise PolymlpLabError(
            f"unknown MD setting(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(MDSettings.__dataclass_fields__)})"
        )
    s = MDSettings(**settings).check()
    if len(atoms) == 0:
        raise PolymlpLabError("the structure has no atoms")
    state = atoms.copy()
    state.calc = calc
    records, start, traj = [], 0, None
    out = None if out is None else Path(out)
    found = _resume_point(out, s) if (out is not None and resume) else None
    if found is not None:
        records, last = found
        state.set_cell(last.cell, scale_atoms=False)
        state.set_positions(last.positions)
        state.set_momenta(last.get_momenta())
        start = records[-1]["step"]
    else:
        if initialize or (initialize is None and not state.get_momenta().any()):
            initial_velocities(state, s.temperature_K, s.seed)
    wants_pressure = s.ensemble == "npt" or _has_stress(calc)
    dyn = make_integrator(state, s)
    log = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if found is None:
            (out / "md.jsonl").write_text(json.dumps({"settings": asdict(s)}) + "\n")
            traj_mode = "w"
        else:
            _rewrite_log(out / "md.jsonl", s, records)
            _truncate_trajectory(out / "md.traj", len(records))
            traj_mode = "a"
        traj = Trajectory(out / "md.traj", traj_mode, state)
        log = (out / "md.jsonl").open("a")

    def save(record):
        records.append(record)
        if log is not None:
            log.write(json.dumps(record) + "\n")
            log.flush()
            traj.write()

    result = MDResult(s, len(state), {}, state, None if out is None else out / "md.traj", start)
    try:
        if found is None:
            save(_record(state, 0, s.timestep_fs, wants_pressure))
        from tqdm.auto import tqdm

        bar = tqdm(total=s.steps, initial=start, desc=f"MD {s.ensemble}", disable=not progress)
        step = start
        while step < s.steps:
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
        result.records = {name: [r[name] for r in records] for name in RECORD_FIELDS}
        if out is not None:
            (out / "md.json").write_text(json.dumps(result.to_json(), indent=1))
    return result


def _rewrite_log(path: Path, settings: MDSettings, records) -> None:
    lines = [json.dumps({"settings": asdict(settings)})] + [json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")


def _truncate_trajectory(path: Path, n_frames: int) -> None:
    frames = read(path, index=f":{n_frames}")
    with Trajectory(path, "w") as traj:
        for frame in frames:
            traj.write(frame)


AMU_PER_A3_IN_G_PER_CM3 = 1.66053906660  # 1 amu/Å³ in g/cm³


def set_density(atoms, density_g_cm3: float):
    """A copy of ``atoms`` with its cell (and positions) scaled to ``density_g_cm3``."""
    if not (np.isfinite(density_g_cm3) and density_g_cm3 > 0):
        raise PolymlpLabError(f"density_g_cm3 must be positive, not {density_g_cm3!r}")
    scaled = atoms.copy()
    volume = scaled.get_masses().sum() * AMU_PER_A3_IN_G_PER_CM3 / density_g_cm3
    scaled.set_cell(scaled.cell * (volume / scaled.get_volume()) ** (1.0 / 3.0), scale_atoms=True)
    return scaled


def density_g_cm3(atoms) -> float:
    """Mass density of a periodic structure, g/cm³."""
    return float(atoms.get_masses().sum() * AMU_PER_A3_IN_G_PER_CM3 / atoms.get_volume())


def diffusion_coefficient(frames, time_ps) -> float:
    """Self-diffusion coefficient (Å²/ps) from the mean square displacement, MSD = 6 D t.

    Positions must be unwrapped (as ASE's integrators leave them); the slope is fitted on
    the second half of the frames, past the ballistic start.
    """
    origin = frames[0].positions
    msd = np.array([((f.positions - origin) ** 2).sum(axis=1).mean() for f in frames])
    t = np.asarray(time_ps, dtype=float) - float(time_ps[0])
    half = len(t) // 2
    if len(t) - half < 2:
        raise PolymlpLabError("need at least 4 frames for a diffusion coefficient")
    return float(np.polyfit(t[half:], msd[half:], 1)[0] / 6.0)


@dataclass
class LiquidState:
    """Structure of one temperature of :func:`melt_and_quench` (production frames).

    temperature_K : target; mean_temperature_K : measured. potential_energy_eV : mean per
    atom. density_g_cm3. rdf : :class:`~polymlp_lab.simulations.liquid.RDF`;
    coordination : neighbours within the first minimum of g (``r_cut`` Å). q (1/Å), s_q :
    S(q) by the Fourier route (Lorch window). angles_deg, p_angle : bond-angle distribution
    within ``r_cut``. diffusion_A2_per_ps : from the mean square displacement.
    """

    temperature_K: float
    mean_temperature_K: float
    potential_energy_eV: float
    density_g_cm3: float
    rdf: object
    r_cut: float
    coordination: float
    q: np.ndarray
    s_q: np.ndarray
    angles_deg: np.ndarray
    p_angle: np.ndarray
    diffusion_A2_per_ps: float
    n_frames: int

    def to_json(self) -> dict:
        return {
            "temperature_K": self.temperature_K,
            "mean_temperature_K": self.mean_temperature_K,
            "potential_energy_eV_per_atom": self.potential_energy_eV,
            "density_g_cm3": self.density_g_cm3,
            "r_A": self.rdf.r.tolist(),
            "g": self.rdf.g.tolist(),
            "r_cut_A": self.r_cut,
            "coordination": self.coordination,
            "q_per_A": self.q.tolist(),
            "s_q": self.s_q.tolist(),
            "angles_deg": self.angles_deg.tolist(),
            "p_angle_per_deg": self.p_angle.tolist(),
            "diffusion_A2_per_ps": self.diffusion_A2_per_ps,
            "n_frames": self.n_frames,
        }


def _liquid_state(result: MDResult, frames, temperature_K: float, r_max) -> LiquidState:
    from .liquid import (
        bond_angle_distribution,
        coordination_number,
        first_minimum,
        radial_distribution,
        structure_factor,
    )

    rdf = radial_distribution(frames, r_max=r_max)
    r_cut = first_minimum(rdf)
    q, s_q = structure_factor(rdf)
    angles, p_angle = bond_angle_distribution(frames, r_cut=r_cut)
    return LiquidState(
        temperature_K=float(temperature_K),
        mean_temperature_K=float(result.array("temperature_K").mean()),
        potential_energy_eV=float(result.array("potential_energy_eV").mean() / result.n_atoms),
        density_g_cm3=density_g_cm3(frames[-1]),
        rdf=rdf, r_cut=r_cut, coordination=coordination_number(rdf, r_cut), q=q, s_q=s_q,
        angles_deg=angles, p_angle=p_angle,
        diffusion_A2_per_ps=diffusion_coefficient(frames, result.records["time_ps"]),
        n_frames=len(frames),
    )


def melt_and_quench(atoms, calc, *, temperatures_K, melt_temperature_K: float,
                    density_g_cm3: Optional[float] = None, melt_ps: float = 5.0,
                    equilibrate_ps: float = 2.0, production_ps: float = 5.0,
                    timestep_fs: float = 2.0, sample_fs: float = 40.0,
                    thermostat: str = "nose-hoover", tdamp_fs: float = 100.0, seed: int = 0,
                    r_max: Optional[float] = None, out=None, progress: bool = True) -> list:
    """The seed's liquid recipe: melt well above the melting point, then run each temperature.

    1. the cell of ``atoms`` is scaled to ``density_g_cm3`` (e.g. the liquid at the melting
       point; default: keep it), 2. NVT at ``melt_temperature_K`` for ``melt_ps``, 3. for each
       of ``temperatures_K`` in the order given (highest first for a quench): NVT
       equilibration for ``equilibrate_ps`` from the previous state, then NVT production for
       ``production_ps`` sampled every ``sample_fs``; its frames give RDF, coordination,
       S(q), bond angles and the diffusion coefficient.

    Each stage is a :func:`run_md` in ``out/<stage>/`` (a temporary folder when ``out`` is
    None), so an interrupted recipe resumes where it stopped; ``out/liquid.json`` collects
    the per-temperature results. Returns a list of :class:`LiquidState`.
    """
    import tempfile

    temperatures = [float(t) for t in np.atleast_1d(temperatures_K)]
    if not temperatures or min(temperatures) <= 0 or melt_temperature_K <= 0:
        raise PolymlpLabError("temperatures_K and melt_temperature_K must be positive")
    interval = max(1, int(round(sample_fs / timestep_fs)))

    def steps(ps):
        n = int(round(ps * 1000.0 / timestep_fs / interval)) * interval
        if n <= 0:
            raise PolymlpLabError(f"{ps} ps is shorter than one sample ({sample_fs} fs)")
        return n

    common = dict(ensemble="nvt", timestep_fs=timestep_fs, thermostat=thermostat,
                  tdamp_fs=tdamp_fs, interval=interval, seed=seed)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(out) if out is not None else Path(scratch)
        start = atoms if density_g_cm3 is None else set_density(atoms, density_g_cm3)
        state = run_md(start, calc, out=folder / "melt", steps=steps(melt_ps),
                       temperature_K=melt_temperature_K, progress=progress, **common).atoms
        states = []
        for temperature in temperatures:
            stage = folder / f"T{temperature:g}K"
            state = run_md(state, calc, out=stage / "equilibrate", initialize=False,
                           steps=steps(equilibrate_ps), temperature_K=temperature,
                           progress=progress, **common).atoms
            result = run_md(state, calc, out=stage / "production", initialize=False,
                            steps=steps(production_ps), temperature_K=temperature,
                            progress=progress, **common)
            if result.failed:
                raise PolymlpLabError(f"MD at {temperature:g} K failed: {result.failed}")
            frames = read(stage / "production" / "md.traj", index=":")
            states.append(_liquid_state(result, frames, temperature, r_max))
            state = result.atoms
            (folder / "liquid.json").write_text(
                json.dumps([s.to_json() for s in states], indent=1)
            )
    return states

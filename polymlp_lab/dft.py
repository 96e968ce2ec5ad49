"""Density-functional reference calculations with GPAW: plane waves, PBE.

The reference that labels structures (energy, forces, stress) for training sets and active
learning: ``DFTSettings(...).calculator()`` is an ASE calculator for
:func:`polymlp_lab.fitting.active_learning.label` and ``active_learning``;
:func:`label_with_dft` labels a list of structures resumably in a run directory (and on Dask);
:func:`converge_settings` chooses the plane-wave cutoff and the k-point density for a system;
:func:`isolated_atom_energies` gives the energies to subtract for cohesive energies.

GPAW is optional: ``pip install "polymlp-lab[dft]"`` builds it from source (a compiler that
takes C++, ``CC=g++``, and the headers of libxc, FFTW and BLAS; on Debian ``apt-get install
g++ libxc-dev libfftw3-dev libopenblas-dev``); ``bash scripts/setup.sh`` installs it where it
can. The PAW setups come from the ``gpaw-data`` package: nothing is downloaded at run time.

Energies are GPAW's, relative to its spin-paired reference atoms: differences between
structures are the physical ones. The calculations are spin-paired (no magnetism: Fe, Co, Ni,
Mn and Cr need more than this), with Marzari–Vanderbilt smearing; the energy given is the free
energy, the one the forces and stress are derivatives of.
"""

import time
from dataclasses import dataclass, replace

import numpy as np
from ase.calculators.calculator import kptdensity2monkhorstpack
from ase.io import write

from .errors import PolymlpLabError
from .files import AsDict
from .runs import atoms_digest, map_tasks, open_run
from .structures import labelled_copy

__all__ = ["DFTSettings", "DFTUnavailableError", "DFTCalculationError", "Convergence",
           "ConvergencePoint", "converge_settings", "label_with_dft", "isolated_atom_energies",
           "gpaw_version"]

KIND = "dft"
LABELLED_FILE = "labelled.extxyz"
INSTALL_HINT = ('install it with `pip install "polymlp-lab[dft]"` (it builds from source: '
                "CC=g++ and the headers of libxc, FFTW and BLAS, on Debian `apt-get install g++ "
                "libxc-dev libfftw3-dev libopenblas-dev`), or run `bash scripts/setup.sh`, "
                "which installs it where it can")


class DFTUnavailableError(PolymlpLabError):
    """GPAW (the optional ``dft`` extra) is not installed."""


class DFTCalculationError(PolymlpLabError):
    """A GPAW calculation failed (no SCF convergence, atoms too close, ...); ``index`` is the
    structure's position in the list given."""

    def __init__(self, message, *, index):
        super().__init__(message)
        self.index = index


def gpaw_version() -> str:
    """``"GPAW x.y.z, gpaw-data a.b.c"``; DFTUnavailableError when GPAW is not installed."""
    try:
        import gpaw
    except ImportError as exc:
        raise DFTUnavailableError(f"GPAW is not installed ({exc}): {INSTALL_HINT}") from None
    try:
        from importlib.metadata import version

        setups = f"gpaw-data {version('gpaw-data')}"
    except Exception:  # setups from GPAW_SETUP_PATH or a distribution's package
        setups = "setups from GPAW_SETUP_PATH"
    return f"GPAW {gpaw.__version__}, {setups}"


@dataclass(frozen=True)
class DFTSettings(AsDict):
    """What decides a GPAW calculation's numbers.

    cutoff_eV : plane-wave cutoff (eV).
    kpoint_density : k-points per Å⁻¹ along each reciprocal vector (ASE's measure,
        ``kptdensity2monkhorstpack``, Γ-centred); 1 along a non-periodic direction.
    smearing_eV : Marzari–Vanderbilt smearing width (eV).
    xc : exchange-correlation functional (libxc name as GPAW takes it).
    scf_energy_eV : SCF convergence of the energy (eV per valence electron).

    The defaults are a starting point for small cells of sp metals and oxides; choose them for
    a system with :func:`converge_settings` (1 meV/atom) before a production data set.
    """

    cutoff_eV: float = 350.0
    kpoint_density: float = 4.0
    smearing_eV: float = 0.1
    xc: str = "PBE"
    scf_energy_eV: float = 1e-6

    def check(self) -> "DFTSettings":
        """Self, or PolymlpLabError naming the setting out of range."""
        for name, low, high in (("cutoff_eV", 100.0, 3000.0), ("kpoint_density", 0.0, 50.0),
                                ("smearing_eV", 0.0, 2.0), ("scf_energy_eV", 1e-10, 1e-2)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not low <= value <= high \
                    or (name == "kpoint_density" and value == 0):
                raise PolymlpLabError(f"DFT setting {name}={value!r} is outside "
                                      f"{'(' if name == 'kpoint_density' else '['}{low:g}, {high:g}]")
        if not isinstance(self.xc, str) or not self.xc:
            raise PolymlpLabError(f"DFT setting xc={self.xc!r} is not a functional's name")
        return self

    def kpoints(self, atoms) -> tuple:
        """The Monkhorst–Pack mesh these settings give ``atoms`` (1 along non-periodic axes)."""
        mesh = kptdensity2monkhorstpack(atoms, self.kpoint_density, even=False)
        return tuple(int(k) if periodic else 1 for k, periodic in zip(mesh, atoms.pbc))

    def calculator(self, atoms=None, *, txt=None):
        """A GPAW calculator with these settings (an ASE calculator: give it to ``label``).

        Its k-point mesh is fixed for ``atoms`` when given; otherwise GPAW applies the density
        to each structure it is given (the same rule). ``txt``: GPAW's log file (None: none).
        """
        self.check()
        gpaw_version()
        from gpaw import GPAW, PW

        kpts = ({"size": self.kpoints(atoms), "gamma": True} if atoms is not None
                else {"density": self.kpoint_density, "gamma": True})
        return GPAW(mode=PW(self.cutoff_eV), xc=self.xc, kpts=kpts, txt=txt,
                    occupations={"name": "marzari-vanderbilt", "width": self.smearing_eV},
                    convergence={"energy": self.scf_energy_eV})


def _single_point(settings: dict, atoms) -> dict:
    """One GPAW calculation of ``atoms``: a JSON-ready record (free energy eV, forces eV/Å,
    stress eV/Å³ Voigt for a cell periodic in three directions, mesh, SCF iterations, s)."""
    dft = DFTSettings(**settings)
    work = atoms.copy()
    work.calc = dft.calculator(work)
    start = time.perf_counter()
    energy = work.get_potential_energy(force_consistent=True)
    forces = work.get_forces()
    stress = work.get_stress(voigt=True) if work.pbc.all() else None
    return {"status": "ok", "formula": work.get_chemical_formula(), "energy_eV": float(energy),
            "forces_eV_A": np.asarray(forces, dtype=float).tolist(),
            "stress_eV_A3": None if stress is None else np.asarray(stress).tolist(),
            "kpoints": list(dft.kpoints(work)),
            "scf_iterations": int(work.calc.get_number_of_iterations()),
            "seconds": time.perf_counter() - start}


def label_with_dft(structures, settings: DFTSettings = DFTSettings(), *, out, restart=False,
                   n_workers: int = 1, scheduler=None, progress: bool = True, stop=None) -> list:
    """Copies of ``structures`` carrying GPAW's energy (eV), forces (eV/Å) and stress (eV/Å³),
    computed into the run directory ``out`` as they finish.

    Each structure is one record (named by the digest of its atoms), so a rerun, after an
    interruption or with more structures, computes only those not yet done; a run under
    other settings or another GPAW is refused (RunMismatchError naming the difference;
    ``restart=True`` starts afresh). ``out/labelled.extxyz`` holds the labelled structures of
    the last call, in the order given. ``n_workers`` GPAW processes of one core each (Dask),
    or a Dask ``scheduler``. DFTCalculationError names the first structure that failed (the
    others are kept; a rerun retries it).
    """
    structures = list(structures)
    settings.check()
    run = open_run(out, kind=KIND, settings={**settings.as_dict(), "code": gpaw_version()},
                   restart=restart)
    run.owns(LABELLED_FILE)
    names = [atoms_digest(atoms)[:20] for atoms in structures]
    done = run.finished()
    tasks = {name: atoms for name, atoms in zip(names, structures) if name not in done}
    failures = {}

    def on_result(name, record, error):
        if error is not None:
            failures[name] = f"{type(error).__name__}: {error}"
            record = {"status": "failed", "error": failures[name]}
        run.write_record(name, record)

    map_tasks(_single_point, tasks, on_result=on_result, shared=(settings.as_dict(),),
              n_workers=n_workers, scheduler=scheduler, progress=progress, desc="GPAW",
              total=len(set(names)), stop=stop)
    for index, name in enumerate(names):
        if name in failures:
            raise DFTCalculationError(
                f"GPAW failed on structure {index} ({structures[index].get_chemical_formula()}): "
                f"{failures[name]}", index=index)
    records = run.read_records()
    missing = [i for i, name in enumerate(names) if records.get(name, {}).get("status") != "ok"]
    if missing:  # stopped early
        raise DFTCalculationError(f"the run stopped before structure {missing[0]} was labelled "
                                  f"({len(missing)} not done); run again to go on",
                                  index=missing[0])
    labelled = [labelled_copy(atoms, energy=records[name]["energy_eV"],
                              forces=records[name]["forces_eV_A"],
                              stress=records[name]["stress_eV_A3"])
                for atoms, name in zip(structures, names)]
    write(run.path / LABELLED_FILE, labelled, format="extxyz")
    return labelled


@dataclass(frozen=True)
class ConvergencePoint(AsDict):
    """One calculation of :func:`converge_settings`: ``scan`` ("cutoff" or "kpoints"), the
    structure's name, the settings' cutoff (eV) and k-point density (Å⁻¹), the mesh, the free
    energy per atom (eV) and the time (s)."""

    scan: str
    structure: str
    cutoff_eV: float
    kpoint_density: float
    kpoints: tuple
    energy_per_atom_eV: float
    seconds: float


@dataclass(frozen=True)
class Convergence(AsDict):
    """What :func:`converge_settings` found.

    settings : the chosen DFTSettings. points : every calculation. tolerance_meV : the goal
    (meV/atom). at_limit : the scans ("cutoff", "kpoints") whose largest value was the only one
    within the tolerance, so that the choice is not shown to be converged (try larger values).
    """

    settings: DFTSettings
    points: tuple
    tolerance_meV: float
    at_limit: tuple

    def as_dict(self) -> dict:
        """JSON-ready: the settings and every point as dicts."""
        return {"settings": self.settings.as_dict(), "points": [p.as_dict() for p in self.points],
                "tolerance_meV": self.tolerance_meV, "at_limit": list(self.at_limit)}

    def error_meV(self, point: ConvergencePoint) -> float:
        """|E − E(largest value of the scan)| per atom (meV) of ``point``."""
        same = [p for p in self.points if p.scan == point.scan and p.structure == point.structure]
        key = "cutoff_eV" if point.scan == "cutoff" else "kpoint_density"
        best = max(same, key=lambda p: getattr(p, key))
        return abs(point.energy_per_atom_eV - best.energy_per_atom_eV) * 1e3

    def table(self) -> str:
        """The scans as text, one calculation a line, and the choice."""
        lines = [f"{'scan':8s} {'structure':14s} {'cutoff eV':>9s} {'k /Å⁻¹':>7s} {'mesh':>9s} "
                 f"{'E eV/atom':>12s} {'|ΔE| meV':>9s} {'s':>6s}"]
        for p in self.points:
            lines.append(f"{p.scan:8s} {p.structure:14s} {p.cutoff_eV:9g} {p.kpoint_density:7g} "
                         f"{'x'.join(map(str, p.kpoints)):>9s} {p.energy_per_atom_eV:12.6f} "
                         f"{self.error_meV(p):9.3f} {p.seconds:6.1f}")
        chosen = self.settings
        lines.append(f"chosen: cutoff {chosen.cutoff_eV:g} eV, k-point density "
                     f"{chosen.kpoint_density:g} per Å⁻¹ (within {self.tolerance_meV:g} meV/atom)"
                     + (f"; NOT shown converged: {', '.join(self.at_limit)} at the largest value "
                        "tried" if self.at_limit else ""))
        return "\n".join(lines)


def _smallest_converged(values, energies, tolerance_eV) -> float:
    """The smallest value whose energy, and that of every larger value, is within the
    tolerance of the largest value's energy."""
    order = np.argsort(values)
    values, energies = np.asarray(values)[order], np.asarray(energies)[order]
    within = np.abs(energies - energies[-1]) <= tolerance_eV
    first = len(values) - 1
    while first > 0 and within[first - 1]:
        first -= 1
    return float(values[first])


def converge_settings(structures, *, cutoffs_eV=(250, 300, 350, 400, 450, 500, 600),
                      kpoint_densities=(2, 3, 4, 5, 6, 8), tolerance_meV: float = 1.0,
                      base: DFTSettings = DFTSettings(), progress: bool = True) -> Convergence:
    """Choose the cutoff, then the k-point density, for ``structures`` ({name: Atoms}, or a
    list named by formula): for each, the smallest value whose free energy per atom, and that
    of every larger value tried, is within ``tolerance_meV`` of the largest value's, for every
    structure. The cutoff is scanned at ``base.kpoint_density``, the k-points at the chosen
    cutoff; the other settings are ``base``'s. Cost: one GPAW calculation per structure and
    value, the largest values the dearest.
    """
    from tqdm.auto import tqdm

    if not isinstance(structures, dict):
        structures = {f"{a.get_chemical_formula()}-{i}": a for i, a in enumerate(structures)}
    if not structures:
        raise PolymlpLabError("converge_settings needs at least one structure")
    for name, values in (("cutoffs_eV", cutoffs_eV), ("kpoint_densities", kpoint_densities)):
        if len(values) < 2:
            raise PolymlpLabError(f"{name} needs at least two values to compare, got {values!r}")
    base.check()
    points = []
    bar = tqdm(total=len(structures) * (len(cutoffs_eV) + len(kpoint_densities)),
               desc="convergence", disable=not progress)

    def scan(kind, values, settings_of):
        chosen = []
        for name, atoms in structures.items():
            energies = []
            for value in values:
                settings = settings_of(value).check()
                record = _single_point(settings.as_dict(), atoms)
                energies.append(record["energy_eV"] / len(atoms))
                points.append(ConvergencePoint(kind, name, settings.cutoff_eV,
                                               settings.kpoint_density, tuple(record["kpoints"]),
                                               energies[-1], record["seconds"]))
                bar.update(1)
            chosen.append(_smallest_converged(values, energies, tolerance_meV * 1e-3))
        return max(chosen)

    try:
        cutoff = scan("cutoff", cutoffs_eV, lambda c: replace(base, cutoff_eV=float(c)))
        density = scan("kpoints", kpoint_densities,
                       lambda d: replace(base, cutoff_eV=cutoff, kpoint_density=float(d)))
    finally:
        bar.close()
    at_limit = tuple(kind for kind, value, values in (("cutoff", cutoff, cutoffs_eV),
                                                      ("kpoints", density, kpoint_densities))
                     if value == max(values))
    return Convergence(replace(base, cutoff_eV=cutoff, kpoint_density=density), tuple(points),
                       float(tolerance_meV), at_limit)


def isolated_atom_energies(symbols, settings: DFTSettings = DFTSettings(), *,
                           box_A=(11.0, 12.0, 13.0), txt=None) -> dict:
    """{symbol: energy (eV)} of each isolated atom, spin-polarised with its Hund's-rule moment,
    in a ``box_A`` box at the Γ point with the cutoff and functional of ``settings`` (integer
    occupations): subtract them from a structure's energy for its cohesive energy, or give them
    to ``PolymlpFit(atomic_energy=...)``."""
    from ase import Atoms
    from ase.data import atomic_numbers, ground_state_magnetic_moments

    settings.check()
    gpaw_version()
    from gpaw import GPAW, PW

    energies = {}
    for symbol in dict.fromkeys(symbols):
        if symbol not in atomic_numbers:
            raise PolymlpLabError(f"'{symbol}' is not an element")
        moment = float(ground_state_magnetic_moments[atomic_numbers[symbol]])
        atom = Atoms(symbol, positions=[np.asarray(box_A) / 2], cell=box_A, pbc=True,
                     magmoms=[moment])
        atom.calc = GPAW(mode=PW(settings.cutoff_eV), xc=settings.xc, kpts=(1, 1, 1), txt=txt,
                         spinpol=True, hund=moment > 0, symmetry="off",
                         occupations={"name": "fermi-dirac", "width": 0.0},
                         convergence={"energy": settings.scf_energy_eV})
        energies[symbol] = float(atom.get_potential_energy(force_consistent=True))
    return energies

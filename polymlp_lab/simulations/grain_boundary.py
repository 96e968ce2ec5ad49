"""FCC <110> symmetric tilt grain boundaries with any ASE calculator.

A <110> symmetric tilt boundary (STGB) has the tilt axis [1-10] in its plane (h h l); the
tilt angle is θ = 2·atan(l / (√2 h)), so θ = 0° is the (110) plane and θ = 180° the (001)
plane (both Σ1: a perfect crystal), and Σ is 2h² + l² halved while even.

Bicrystal (:func:`build_bicrystal`): x ∥ [1-10] (tilt axis), y ∥ [l l -2h], z ∥ [h h l].
Grain 1 fills 0 ≤ z ≤ L and holds the atomic planes of both boundaries, z = 0 and z = L;
grain 2 (L < z < 2L) is the grain-1 lattice mirrored across the plane z = L, translated
rigidly in the boundary plane by (t_x, t_y) and moved up by an expansion. The cell vector
across the boundaries, (0, 2·t_y·P_y mod the cell width, 2L + 2·expansion) with P_y the y
period of the 1×1 cell, is tilted by twice the y translation so
that the boundary at z = 0 is the same as the one at z = L whatever the translation.

Energy (:func:`gb_energy`): γ = (E − N e_bulk) / (2A), two boundaries of area A each.

Units: lengths Å, angles degrees, energies eV (eV/atom for e_bulk), γ mJ/m².
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np
from ase import Atoms, units
from ase.build import bulk, make_supercell
from ase.calculators.singlepoint import SinglePointCalculator
from ase.filters import UnitCellFilter
from ase.io import read, write
from ase.neighborlist import neighbor_list
from ase.optimize import LBFGS

from ..errors import PolymlpLabError
from ..extrapolation import calculator_grade
from ..files import write_text_atomic
from ..runs import calculator_inputs, map_tasks, open_run
from . import _positive

__all__ = [
    "EV_PER_A2_IN_MJ_PER_M2", "TiltBoundary", "BulkReference", "Trial", "GBResult",
    "tilt_boundaries", "tilt_boundary", "build_bicrystal", "bulk_reference", "gb_energy",
    "search_boundary", "search_boundaries", "plot_gb_energies",
]

EV_PER_A2_IN_MJ_PER_M2 = units._e * 1e23  # 16021.766...: 1 eV/Å² = e J / 1e-20 m² in mJ/m²
DEFAULT_MAX_SIGMA = 33
RESULTS_FILE = "gb.json"
KIND = "grain-boundary"  # of the run (polymlp_lab.runs)
REFERENCE_RECORD = "bulk-reference"  # the record of the relaxed crystal
UNITS = dict(a="Å", energy_per_atom="eV", angle_deg="degree", energy_mJ_m2="mJ/m²")


class TiltBoundary(NamedTuple):
    """One <110> symmetric tilt boundary: Σ, plane (h, h, l) and tilt angle (degrees)."""

    sigma: int
    plane: tuple
    angle_deg: float

    @property
    def label(self) -> str:
        """Σ and plane, e.g. "Σ3(111)" (indices space-separated when one has two digits)."""
        return f"Σ{self.sigma}({_indices(self.plane, ' ')})"

    @property
    def slug(self) -> str:
        """ASCII name for files and JSON keys, e.g. "sigma3_111"."""
        return f"sigma{self.sigma}_{_indices(self.plane, '-')}"


def _indices(plane, separator: str) -> str:
    return (separator if max(plane) > 9 else "").join(str(i) for i in plane)


class BulkReference(NamedTuple):
    """Relaxed fcc crystal: lattice constant ``a`` (Å) and ``energy_per_atom`` (eV)."""

    a: float
    energy_per_atom: float


@dataclass(frozen=True)
class Trial:
    """One start of :func:`search_boundary`.

    translation : fractions of the in-plane periods (x, y) of the 1×1 boundary cell.
    expansion : Å added normal to each boundary.
    n_atoms : after deleting close pairs.
    energy_mJ_m2 : γ after relaxation, None if the trial failed.
    converged, steps : whether the relaxation reached fmax, and its optimizer steps.
    error : why it failed (exception type and message), None otherwise.
    """

    translation: tuple
    expansion: float
    n_atoms: int
    energy_mJ_m2: Optional[float]
    converged: bool
    steps: int
    error: Optional[str]


@dataclass(frozen=True)
class GBResult:
    """Lowest-energy structure of one boundary found by :func:`search_boundary`.

    energy_mJ_m2 : γ, mJ/m². atoms : the relaxed bicrystal (energy and forces attached).
    trials : every start, failed ones included. extrapolation_grade : the calculator's grade
    of the relaxed bicrystal (largest γ of its atoms, ≤ 1 like the trusted ones), or None.
    """

    sigma: int
    plane: tuple
    angle_deg: float
    energy_mJ_m2: float
    n_atoms: int
    atoms: Atoms
    trials: tuple
    extrapolation_grade: Optional[float] = None

    @property
    def label(self) -> str:
        """Σ and plane, e.g. "Σ3(111)"."""
        return TiltBoundary(self.sigma, self.plane, self.angle_deg).label

    def as_dict(self) -> dict:
        """JSON-ready summary (the structure left out: it is written as a file; the grade
        only when there is one)."""
        grade = ({} if self.extrapolation_grade is None
                 else dict(extrapolation_grade=self.extrapolation_grade))
        return dict(label=self.label, sigma=self.sigma, plane=list(self.plane),
                    angle_deg=self.angle_deg, energy_mJ_m2=self.energy_mJ_m2,
                    n_atoms=self.n_atoms, **grade, trials=[asdict(t) for t in self.trials])


# --- the table of boundaries --------------------------------------------------------------

def _sigma(h: int, l: int) -> int:
    sigma = 2 * h * h + l * l
    while sigma % 2 == 0:
        sigma //= 2
    return sigma


def _record(h: int, l: int) -> TiltBoundary:
    angle = math.degrees(2.0 * math.atan2(l, math.sqrt(2.0) * h))
    return TiltBoundary(_sigma(h, l), (h, h, l), angle)


def _planes(sigma: int) -> list:
    """The boundaries of one Σ, by angle: coprime (h, l) with 2h² + l² = Σ or 2Σ."""
    found = []
    for h in range(math.isqrt(sigma) + 1):
        for l_squared in (sigma - 2 * h * h, 2 * sigma - 2 * h * h):
            l = math.isqrt(max(l_squared, 0))
            if l * l == l_squared and math.gcd(h, l) == 1 and _sigma(h, l) == sigma:
                found.append(_record(h, l))
    return sorted(found, key=lambda b: b.angle_deg)


def tilt_boundaries(sigmas: Optional[Sequence[int]] = None,
                    max_sigma: int = DEFAULT_MAX_SIGMA) -> list:
    """The <110> symmetric tilt boundaries of FCC up to Σ ``max_sigma``, as TiltBoundary
    records sorted by tilt angle; only those of ``sigmas`` when given (each Σ has planes at θ
    and 180° − θ).

    Raises PolymlpLabError for a Σ that is not a <110> STGB with Σ ≤ ``max_sigma``; the
    message lists the allowed Σ.
    """
    table = sorted((b for sigma in range(3, int(max_sigma) + 1) for b in _planes(sigma)),
                   key=lambda b: b.angle_deg)
    if sigmas is None:
        return table
    allowed = sorted({b.sigma for b in table})
    for sigma in sigmas:
        if sigma not in allowed:
            beyond = (isinstance(sigma, (int, np.integer)) and sigma > max_sigma
                      and _planes(int(sigma)))
            raise PolymlpLabError(
                f"Σ{sigma} is not a <110> symmetric tilt boundary of FCC with Σ ≤ {max_sigma}"
                + (" (it is one beyond the table: raise max_sigma)" if beyond else "")
                + f"; allowed Σ: {', '.join(map(str, allowed))}"
            )
    return [b for b in table if b.sigma in set(sigmas)]


def tilt_boundary(sigma_or_plane) -> TiltBoundary:
    """The boundary named by a TiltBoundary or a plane (h, h, l).

    A plane in non-lowest terms is reduced; (1, 1, 0) and (0, 0, 1) are the Σ1 "boundaries"
    of a perfect crystal (θ = 0° and 180°). A bare Σ is ambiguous (two planes) and raises
    PolymlpLabError naming its planes.
    """
    if isinstance(sigma_or_plane, TiltBoundary):
        return sigma_or_plane
    if isinstance(sigma_or_plane, (int, np.integer)):
        sigma = int(sigma_or_plane)
        choices = _planes(sigma) if sigma > 1 else []
        raise PolymlpLabError(
            f"Σ{sigma} names {len(choices)} boundaries, pass one plane: "
            + ", ".join(f"{b.plane} ({b.angle_deg:.2f}°)" for b in choices)
            if choices else f"Σ{sigma} is not a <110> symmetric tilt boundary of FCC"
        )
    try:
        h, k, l = (int(i) for i in sigma_or_plane)
        exact = all(int(i) == i for i in sigma_or_plane)
    except (TypeError, ValueError):
        raise PolymlpLabError(f"expected a TiltBoundary or a plane (h, h, l), "
                              f"got {sigma_or_plane!r}") from None
    if not exact or h != k or h < 0 or l < 0 or h == l == 0:
        raise PolymlpLabError("a <110> tilt boundary plane is (h, h, l) with integers h, l >= 0, "
                              f"not {tuple(sigma_or_plane)}")
    common = math.gcd(h, l)
    return _record(h // common, l // common)


# --- geometry -----------------------------------------------------------------------------

def _fcc_element(symbol_or_atoms, a) -> tuple:
    """(symbol, a) from a symbol and a, or from a one-element fcc crystal (a from its volume)."""
    if isinstance(symbol_or_atoms, str):
        symbol = symbol_or_atoms
        if a is None:
            raise PolymlpLabError("the lattice constant a (Å) is needed with an element symbol")
    elif isinstance(symbol_or_atoms, Atoms):
        from ase.spacegroup.symmetrize import check_symmetry

        symbols = set(symbol_or_atoms.get_chemical_symbols())
        if len(symbols) != 1 or check_symmetry(symbol_or_atoms, 1e-3).number != 225:
            raise PolymlpLabError(f"expected a one-element fcc crystal, "
                                  f"got {symbol_or_atoms.get_chemical_formula()}")
        symbol = symbols.pop()
        if a is None:
            a = (4.0 * symbol_or_atoms.get_volume() / len(symbol_or_atoms)) ** (1.0 / 3.0)
    else:
        raise PolymlpLabError(f"expected an element symbol or ase.Atoms, got {symbol_or_atoms!r}")
    return symbol, _positive("the lattice constant a (Å)", a)


def _grain_period(symbol: str, a: float, plane: tuple) -> tuple:
    """Smallest orthogonal period of grain 1 and the spacing of its (h h l) planes, Å.

    x ∥ [1-10], y ∥ [l l -2h], z ∥ [h h l]; each edge is the shortest fcc lattice vector
    along its direction (half the direction if its index sum is even).
    """
    h, _, l = plane
    directions = np.array([[1, -1, 0], [l, l, -2 * h], [h, h, l]])
    directions //= np.gcd.reduce(directions, axis=1)[:, None]
    edges = a * directions * np.where(directions.sum(axis=1) % 2 == 0, 0.5, 1.0)[:, None]
    prim = bulk(symbol, "fcc", a=a)
    crystal = make_supercell(prim, np.rint(edges @ np.linalg.inv(prim.cell.array)).astype(int))
    lengths = np.linalg.norm(edges, axis=1)
    crystal.positions = crystal.positions @ (edges / lengths[:, None]).T
    crystal.cell = np.diag(lengths)
    crystal.wrap()
    n_squared = int((directions[2] ** 2).sum())
    all_odd = bool(np.all(directions[2] % 2 == 1))
    return crystal, a / math.sqrt(n_squared) / (1 if all_odd else 2)


def _remove_overlaps(atoms: Atoms, min_distance: float) -> int:
    """Delete the later atom of each pair closer than ``min_distance`` (Å); the number deleted."""
    if min_distance <= 0:
        return 0
    first, second = neighbor_list("ij", atoms, min_distance)
    removed = set()
    for i, j in zip(first, second):
        if i < j and i not in removed and j not in removed:
            removed.add(j)
    del atoms[sorted(removed)]
    return len(removed)


def build_bicrystal(symbol_or_atoms, a, sigma_or_plane, *, min_thickness: float = 20.0,
                    repeats: tuple = (1, 1), translation: tuple = (0.0, 0.0),
                    expansion: float = 0.0, overlap: float = 0.6) -> Atoms:
    """Periodic bicrystal with two <110> symmetric tilt boundaries.

    symbol_or_atoms, a : an element symbol and its cubic lattice constant (Å), or a one-element
        fcc crystal (its lattice constant is used when ``a`` is None).
    sigma_or_plane : the boundary (see :func:`tilt_boundary`); (1, 1, 0) and (0, 0, 1) give a
        perfect crystal.
    min_thickness : minimum thickness L of each grain (Å), a whole number of periods along
        [h h l].
    repeats : of the smallest boundary cell along x [1-10] and y [l l -2h].
    translation : rigid in-plane shift of grain 2, as fractions of the x and y periods of the
        1×1 boundary cell (so it means the same boundary whatever ``repeats``).
    expansion : extra gap added normal to each boundary (Å, ≥ 0); the cell is
        2(L + expansion) long.
    overlap : of each pair of atoms closer than ``overlap`` × the nearest-neighbour distance
        a/√2, the grain-2 atom is deleted (0 keeps all).

    Returns fully periodic ase.Atoms: cell a = (nx·Px, 0, 0), b = (0, ny·Py, 0),
    c = (0, 2·t_y·Py mod ny·Py, 2L + 2·expansion) with Px, Py the 1×1 periods. Grain 1 atoms
    first (tag 1), then grain 2 (tag 2): 2 × n_z × nx × ny × (atoms of one Px·Py·Pz period)
    less the deleted ones, with L = n_z·Pz. ``info``: sigma, plane, angle_deg, area (Å², one
    boundary), grain_thickness L (Å), translation, expansion (Å), n_removed,
    n_bulk_equivalent (the N of γ = (E − N e_bulk)/2A: the number of atoms).
    """
    symbol, a = _fcc_element(symbol_or_atoms, a)
    boundary = tilt_boundary(sigma_or_plane)
    nx, ny = (int(n) for n in repeats)
    if nx < 1 or ny < 1 or (nx, ny) != tuple(repeats):
        raise PolymlpLabError(f"repeats must be two positive integers, got {repeats!r}")
    min_thickness = _positive("min_thickness (Å)", min_thickness)
    if not (np.isfinite(expansion) and expansion >= 0):
        raise PolymlpLabError(f"expansion must be >= 0 Å, got {expansion!r}")
    if not 0 <= overlap < 1:
        raise PolymlpLabError(f"overlap must be a fraction in [0, 1), got {overlap!r}")
    tx, ty = (float(t) for t in translation)

    period, spacing = _grain_period(symbol, a, boundary.plane)
    px, py, pz = np.diag(period.cell.array)
    n_z = max(1, math.ceil(min_thickness / pz - 1e-9))
    grain = period.repeat((nx, ny, n_z))
    thickness = n_z * pz
    n_planes = round(thickness / spacing)
    plane_index = np.rint(grain.positions[:, 2] / spacing).astype(int) % n_planes
    lateral = grain.positions[:, :2]
    width = np.array([nx * px, ny * py])
    bottom = plane_index == 0  # repeated at z = L: grain 1 holds both boundary planes
    grain_1 = np.vstack([np.column_stack([lateral, plane_index * spacing]),
                         np.column_stack([lateral[bottom], np.full(bottom.sum(), thickness)])])
    # grain 2: the grain-1 lattice mirrored across z = L (plane k at z = 2L - k d), translated
    inner = ~bottom
    grain_2 = np.column_stack([np.mod(lateral[inner] + (tx * px, ty * py), width),
                               2 * thickness - plane_index[inner] * spacing + expansion])
    # the y tilt 2·ty of the normal cell vector makes the boundary at z = 0 the same as at z = L
    atoms = Atoms(
        symbols=[symbol] * (len(grain_1) + len(grain_2)),
        positions=np.vstack([grain_1, grain_2]),
        cell=[[width[0], 0, 0], [0, width[1], 0],
              [0, np.mod(2 * ty * py, width[1]), 2 * (thickness + expansion)]],
        pbc=True,
        tags=np.repeat([1, 2], [len(grain_1), len(grain_2)]),
    )
    n_removed = _remove_overlaps(atoms, overlap * a / math.sqrt(2.0))
    atoms.info.update(
        sigma=boundary.sigma, plane=boundary.plane, angle_deg=boundary.angle_deg,
        area=float(width[0] * width[1]), grain_thickness=float(thickness),
        translation=(tx, ty), expansion=float(expansion), n_removed=n_removed,
        n_bulk_equivalent=len(atoms),
    )
    return atoms


# --- energies -----------------------------------------------------------------------------

def _gamma(atoms: Atoms, energy: float, e_bulk: float) -> float:
    """γ (mJ/m²) of a bicrystal of ``energy`` (eV): two boundaries of area |a × b| each."""
    area = float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))
    return (energy - len(atoms) * e_bulk) / (2.0 * area) * EV_PER_A2_IN_MJ_PER_M2


def gb_energy(atoms: Atoms, calc, e_bulk_per_atom: float) -> float:
    """Grain-boundary energy γ = (E − N e_bulk) / (2A) of a bicrystal, mJ/m².

    ``atoms``: a periodic bicrystal with two boundaries parallel to the cell's a–b plane (not
    modified); E (eV) by ``calc``; ``e_bulk_per_atom``: energy per atom (eV) of the perfect
    crystal with the same calculator.
    """
    work = atoms.copy()
    work.calc = calc
    return _gamma(work, float(work.get_potential_energy()), e_bulk_per_atom)


def bulk_reference(symbol: str, a: float, calc, *, fmax: float = 1e-4) -> BulkReference:
    """Relax the fcc crystal of ``symbol`` from lattice constant ``a`` (Å) with ``calc``: its
    BulkReference, relaxed lattice constant (Å) and energy per atom (eV)."""
    from ..properties.mechanics import relax

    result = relax(bulk(symbol, "fcc", a=float(a), cubic=True), calc, fmax=fmax,
                   hydrostatic=True)
    if not result.converged:
        raise PolymlpLabError(f"fcc {symbol} did not relax to fmax {fmax} eV/Å "
                              f"(max force {result.max_force:.2g})")
    return BulkReference(float(np.cbrt(result.atoms.get_volume())), result.energy_per_atom)


def _relaxed(atoms: Atoms, calc, *, fmax: float, steps: int, relax_cell_normal: bool) -> tuple:
    """Relax positions (and the cell length along z at zero normal stress) in place.

    Returns (energy eV, converged, steps); the atoms keep a SinglePointCalculator, and
    ``info["extrapolation_grade"]`` when the calculator gives one.
    """
    from threadpoolctl import threadpool_limits

    atoms.calc = calc
    # only zz free: the linear strain of UnitCellFilter reaches the same zero normal stress
    # as ASE's log-strain FrechetCellFilter without its 3×3 matrix functions, which cost more
    # than the MLP on a 100-atom bicrystal
    target = UnitCellFilter(atoms, mask=[0, 0, 1, 0, 0, 0]) if relax_cell_normal else atoms
    optimizer = LBFGS(target, logfile=None)  # memory O(N), unlike BFGS's 3N × 3N Hessian
    with threadpool_limits(limits=1, user_api="blas"):  # small linear algebra: one thread
        converged = bool(optimizer.run(fmax=fmax, steps=steps))
    energy = float(atoms.get_potential_energy())
    if not np.isfinite(energy):
        raise PolymlpLabError(f"the calculator returned a non-finite energy ({energy})")
    grade = calculator_grade(calc, atoms)
    if grade is not None:
        atoms.info["extrapolation_grade"] = grade
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=atoms.get_forces())
    return energy, converged, int(optimizer.nsteps)


def search_boundary(symbol: str, a: float, calc, sigma_or_plane, *, grid: tuple = (3, 3),
                    expansions: Sequence[float] = (0.0, 0.5), fmax: float = 0.005,
                    steps: int = 500, relax_cell_normal: bool = True,
                    min_thickness: float = 20.0, repeats: tuple = (1, 1), overlap: float = 0.6,
                    reference: Optional[BulkReference] = None,
                    progress: bool = True) -> GBResult:
    """Lowest-energy relaxed structure of one boundary over rigid translations and expansions.

    Every in-plane translation (i/gx, j/gy) of the ``grid`` (fractions of the boundary cell)
    and every expansion (Å) is built with :func:`build_bicrystal` at the relaxed lattice
    constant, then relaxed with LBFGS to ``fmax`` (eV/Å) in at most ``steps``: atomic
    positions and, with ``relax_cell_normal``, the cell length normal to the boundaries
    (zero normal stress, ASE's UnitCellFilter with only zz free). A trial whose calculator
    or relaxation raises is recorded as failed and skipped; one that runs out of steps is
    kept with ``converged`` False.

    symbol, a : element and a starting lattice constant (Å), relaxed by
        :func:`bulk_reference` unless ``reference`` is given.
    calc : any ASE calculator (needs stress when ``relax_cell_normal``).
    sigma_or_plane : TiltBoundary or plane (h, h, l).
    min_thickness, repeats, overlap : passed to :func:`build_bicrystal`.

    Returns a GBResult; raises PolymlpLabError when every trial failed (the message holds the
    first error).
    """
    from tqdm.auto import tqdm

    boundary = tilt_boundary(sigma_or_plane)
    gx, gy = (int(n) for n in grid)
    if gx < 1 or gy < 1:
        raise PolymlpLabError(f"grid must be two positive integers, got {grid!r}")
    if not expansions:
        raise PolymlpLabError("expansions must hold at least one value (Å)")
    if reference is None:
        reference = bulk_reference(symbol, a, calc)
    starts = [((i / gx, j / gy), float(e))
              for i in range(gx) for j in range(gy) for e in expansions]
    best, trials = None, []
    for translation, expansion in tqdm(starts, desc=boundary.label, disable=not progress,
                                       leave=False):
        atoms = build_bicrystal(symbol, reference.a, boundary, min_thickness=min_thickness,
                                repeats=repeats, translation=translation,
                                expansion=expansion, overlap=overlap)
        try:
            energy, converged, n_steps = _relaxed(atoms, calc, fmax=fmax, steps=steps,
                                                  relax_cell_normal=relax_cell_normal)
        except Exception as error:  # any calculator or optimizer failure skips this trial
            trials.append(Trial(translation, expansion, len(atoms), None, False, 0,
                                f"{type(error).__name__}: {error}"))
            continue
        gamma = _gamma(atoms, energy, reference.energy_per_atom)
        trials.append(Trial(translation, expansion, len(atoms), gamma, converged, n_steps, None))
        if best is None or gamma < best[0]:
            best = (gamma, atoms)
    if best is None:
        raise PolymlpLabError(f"{boundary.label}: all {len(trials)} trials failed; "
                              f"first error: {trials[0].error}")
    gamma, atoms = best
    atoms.info["energy_mJ_m2"] = gamma
    return GBResult(boundary.sigma, boundary.plane, boundary.angle_deg, gamma, len(atoms),
                    atoms, tuple(trials), atoms.info.get("extrapolation_grade"))


# --- many boundaries, resumable -----------------------------------------------------------

def _boundaries(sigmas, max_sigma: int) -> list:
    if sigmas is None:
        return tilt_boundaries(max_sigma=max_sigma)
    chosen = []
    for item in sigmas:
        found = (tilt_boundaries([int(item)], max_sigma) if isinstance(item, (int, np.integer))
                 else [tilt_boundary(item)])
        chosen += [b for b in found if b not in chosen]
    return sorted(chosen, key=lambda b: b.angle_deg)


def result_from_record(folder: Path, boundary: TiltBoundary, record: dict) -> GBResult:
    """A finished boundary read back from its record and structure file."""
    return GBResult(
        boundary.sigma, boundary.plane, boundary.angle_deg, record["energy_mJ_m2"],
        record["n_atoms"], read(folder / record["structure"]),
        tuple(Trial(**{**t, "translation": tuple(t["translation"])}) for t in record["trials"]),
        record.get("extrapolation_grade"),  # absent: no grade, or written before grades
    )


def _write_summary(run, settings: dict) -> None:
    """gb.json: the settings, the bulk reference and every finished boundary, by tilt angle."""
    records = run.read_records()
    reference = records.pop(REFERENCE_RECORD, None)
    boundaries = sorted(((name, r) for name, r in records.items() if r.get("status") == "ok"),
                        key=lambda item: item[1]["angle_deg"])
    saved = dict(settings=settings, units=UNITS, boundaries=dict(boundaries))
    if reference is not None:
        saved["reference"] = {k: reference[k] for k in BulkReference._fields}
    failed = {name: r.get("status") for name, r in records.items() if r.get("status") != "ok"}
    if failed:
        saved["failed"] = failed
    write_text_atomic(run.path / RESULTS_FILE, json.dumps(saved, indent=1, ensure_ascii=False))


def search_boundaries(symbol: str, a: float, calc, sigmas=None, *, out=None,
                      max_sigma: int = DEFAULT_MAX_SIGMA, grid: tuple = (3, 3),
                      expansions: Sequence[float] = (0.0, 0.5), fmax: float = 0.005,
                      steps: int = 500, relax_cell_normal: bool = True,
                      min_thickness: float = 20.0, repeats: tuple = (1, 1),
                      overlap: float = 0.6, progress: bool = True,
                      restart: bool = False) -> list:
    """:func:`search_boundary` over a set of boundaries, saved as each one finishes; a list of
    GBResult sorted by tilt angle (resumed ones carry the structures read back from extxyz).

    sigmas : Σ values (every plane of each) and/or single boundaries (TiltBoundary or plane);
        default: the whole table up to ``max_sigma``. These are the run's tasks: more of
        them extend a run in ``out``.
    out : a run folder (:mod:`polymlp_lab.runs`): ``run.json`` (the settings, and the
        calculator input: the potential's digest or the calculator's class), one record per
        boundary and the bulk reference in ``records/``, one extxyz file per relaxed
        boundary, and ``gb.json`` (settings, bulk reference, and per boundary: label, sigma,
        plane, angle_deg, energy_mJ_m2, n_atoms, extrapolation_grade (only when the
        calculator gives one), structure file, trials). A rerun with the
        same folder skips the finished boundaries and redoes failed ones; other settings or
        another potential are refused (:class:`~polymlp_lab.runs.RunMismatchError`, naming
        what differs) unless ``restart``, which deletes what an earlier run wrote there.
    Other parameters: as :func:`search_boundary`.

    Raises PolymlpLabError when ``out`` holds a run with other settings or inputs, or every
    trial of a boundary failed (after the other boundaries were searched and saved; the
    message names the failed ones).
    """
    todo = _boundaries(sigmas, max_sigma)
    options = dict(grid=list(grid), expansions=[float(e) for e in expansions], fmax=float(fmax),
                   steps=int(steps), min_thickness=float(min_thickness),
                   relax_cell_normal=bool(relax_cell_normal), repeats=list(repeats),
                   overlap=float(overlap))
    settings = dict(element=symbol, a=float(a), **options)
    run, records = None, {}
    if out is not None:
        run = open_run(out, kind=KIND, settings=settings, inputs=calculator_inputs(calc),
                       restart=restart)
        run.owns(RESULTS_FILE)
        records = run.read_records()
    results = {b: result_from_record(run.path, b, records[b.slug]) for b in todo
               if records.get(b.slug, {}).get("status") == "ok"  # finished, structure kept
               and (run.path / records[b.slug]["structure"]).is_file()}
    pending = {b.slug: b for b in todo if b not in results}
    reference = None
    if pending:
        saved = records.get(REFERENCE_RECORD, {})
        if saved.get("status") == "ok":
            reference = BulkReference(*(saved[k] for k in BulkReference._fields))
        else:
            reference = bulk_reference(symbol, a, calc)
            if run is not None:
                run.write_record(REFERENCE_RECORD, dict(status="ok", **reference._asdict()))

    def one(boundary):
        started = time.perf_counter()
        result = search_boundary(symbol, a, calc, boundary, reference=reference,
                                 progress=progress, **options)
        return result, time.perf_counter() - started

    failures = []

    def on_result(slug, outcome, error):
        boundary = pending[slug]
        if error is not None:  # every trial failed, or the calculator broke
            reason = f"{type(error).__name__}: {error}"
            failures.append(str(error) if boundary.label in str(error)
                            else f"{boundary.label}: {reason}")
            if run is not None:
                run.write_record(slug, dict(status=f"failed: {reason}",
                                            label=boundary.label, sigma=boundary.sigma,
                                            plane=list(boundary.plane),
                                            angle_deg=boundary.angle_deg))
                _write_summary(run, settings)
            return
        result, seconds = outcome
        results[boundary] = result
        if run is not None:
            structure = f"{slug}.extxyz"
            run.owns(structure)
            write(run.path / structure, result.atoms)
            run.write_record(slug, dict(status="ok", **result.as_dict(), structure=structure,
                                        seconds=seconds))
            _write_summary(run, settings)

    map_tasks(one, pending, on_result=on_result, n_workers=1, progress=progress,
              desc="boundaries", total=len(todo))
    if run is not None and not pending:
        _write_summary(run, settings)
    if failures:
        raise PolymlpLabError(f"{len(failures)} of {len(todo)} boundaries failed (the others "
                              f"are saved): {'; '.join(failures)}")
    return [results[b] for b in todo]


def plot_gb_energies(results, ax=None):
    """γ (mJ/m²) of GBResults against tilt angle (degrees), each point labelled Σ(hkl), on
    ``ax`` (default: a new figure); returns the matplotlib Axes.

    The curve starts and ends at γ = 0 at 0° and 180° (the perfect crystal).
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    points = sorted(results, key=lambda r: r.angle_deg)
    angles = [0.0] + [r.angle_deg for r in points] + [180.0]
    energies = [0.0] + [r.energy_mJ_m2 for r in points] + [0.0]
    ax.plot(angles, energies, "o-", ms=4)
    for k, result in enumerate(points):  # labels alternately above and below: no overlaps
        ax.annotate(result.label, (result.angle_deg, result.energy_mJ_m2),
                    textcoords="offset points", xytext=(0, 8 if k % 2 == 0 else -10),
                    va="bottom" if k % 2 == 0 else "top", ha="center", fontsize=9, zorder=5,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    ax.set_xlim(0, 180)
    ax.set_xticks(range(0, 181, 30))
    ax.set_xlabel("tilt angle about [1-10] (°)")
    ax.set_ylabel("grain-boundary energy (mJ/m²)")
    return ax

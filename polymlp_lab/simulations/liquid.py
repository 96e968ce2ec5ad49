"""Structure of liquids (and any periodic configuration) from MD trajectories.

Radial distribution functions g(r) (total and partial), coordination numbers, the static
structure factor S(q) by the Fourier route and by the direct (Debye) route, and bond-angle
distributions. Frames are an ``ase.Atoms`` or a sequence of them, periodic in 3 directions,
with cells of any shape; every result is averaged over the frames.

Neighbours are all periodic images within the cutoff (the same pairs as
:func:`ase.neighborlist.neighbor_list`, found faster with a k-d tree over as many image
cells as the cutoff needs), so ``r_max`` may exceed half the cell: a one-atom primitive cell
gives the g(r) of the crystal.

The liquid workflow :func:`melt_and_quench` (melt, then equilibrate and sample each
temperature; every stage a resumable :func:`~polymlp_lab.simulations.md.run_md`) collects
these per temperature, with the diffusion coefficient from the mean square displacement.

Units: distances Å, densities atoms/Å³, wave vectors q 1/Å, angles degrees.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
from ase import Atoms
from ase.io import read
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import cKDTree

from ..errors import InvalidStructureError, PolymlpLabError
from ..files import write_text_atomic
from ..runs import atoms_digest, calculator_inputs, open_run
from ..structures import check_structure
from ..units import G_PER_CM3_PER_AMU_PER_A3
from . import _count, _positive
from .md import MDResult, run_md

__all__ = ["RDF", "radial_distribution", "first_peak", "first_minimum", "coordination_number",
           "structure_factor", "debye_structure_factor", "bond_angle_distribution",
           "melt_and_quench", "LiquidState", "set_density", "density_g_cm3",
           "diffusion_coefficient"]

#: Largest default r_max (Å).
MAX_DEFAULT_R_MAX = 10.0
#: Default r_max in mean interatomic spacings (V/N)^(1/3): ~900 neighbours per atom at most.
DEFAULT_R_MAX_SPACINGS = 6.0
#: Default q grid (1/Å) of the structure factors.
DEFAULT_Q = np.linspace(0.5, 12.0, 461)


@dataclass(frozen=True)
class RDF:
    """A radial distribution function averaged over ``n_frames`` frames.

    r : bin centres (Å) of ``len(r)`` equal bins on [0, r_max]; g : g(r), dimensionless (→ 1
    at large r in a liquid); density : number density (atoms/Å³) of the neighbour species,
    all atoms for the total g, B for the partial g_AB (averaged over frames, weighted by the
    number of A atoms); total_density : that of all atoms, averaged alike; r_max : upper end
    (Å) of the last bin; elements : (A, B) of a partial g_AB, None for the total g.
    """

    r: np.ndarray
    g: np.ndarray
    density: float
    total_density: float
    n_frames: int
    r_max: float
    elements: Optional[Tuple[str, str]] = None

    @property
    def edges(self) -> np.ndarray:
        """Bin edges (Å), ``len(r) + 1`` of them from 0 to r_max."""
        return np.linspace(0.0, self.r_max, len(self.r) + 1)


def _frames(frames) -> list:
    """The frames as a list of periodic, finite, non-empty Atoms, or a typed error."""
    frames = [frames] if isinstance(frames, Atoms) else list(frames)
    if not frames:
        raise PolymlpLabError("frames is empty: pass an ase.Atoms or a non-empty list of them")
    for n, atoms in enumerate(frames):
        check_structure(atoms, periodic=True, label=f"frame {n}")
    return frames


def _pairs(atoms: Atoms, cutoff: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordered pairs (i, j, vector j − i in Å) over all periodic images closer than cutoff."""
    cell = atoms.cell.array
    positions = (atoms.cell.scaled_positions(atoms.positions) % 1.0) @ cell
    widths = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)  # between opposite faces
    reach = [range(-k, k + 1) for k in np.ceil(cutoff / widths).astype(int)]
    shifts = np.array(list(itertools.product(*reach)), dtype=float) @ cell
    images = (shifts[:, None, :] + positions[None]).reshape(-1, 3)
    found = cKDTree(positions).sparse_distance_matrix(cKDTree(images), cutoff,
                                                      output_type="ndarray")
    i, k = found["i"].astype(np.intp), found["j"].astype(np.intp)
    self_image = k == (len(shifts) // 2) * len(atoms) + i  # the unshifted copy of atom i
    i, k = i[~self_image], k[~self_image]
    return i, k % len(atoms), images[k] - positions[i]


def _r_max(frames: list, r_max) -> float:
    """``r_max`` checked, or the default min(10 Å, 6 (V/N)^(1/3)) over the frames' mean V/N."""
    if r_max is not None:
        return _positive("r_max", r_max)
    volume_per_atom = np.mean([atoms.get_volume() / len(atoms) for atoms in frames])
    return float(min(MAX_DEFAULT_R_MAX, DEFAULT_R_MAX_SPACINGS * volume_per_atom ** (1 / 3)))


def _q(q) -> np.ndarray:
    q = DEFAULT_Q.copy() if q is None else np.atleast_1d(np.asarray(q, dtype=float))
    if q.ndim != 1 or q.size == 0 or not (np.isfinite(q).all() and (q > 0).all()):
        raise PolymlpLabError("q must be a non-empty 1-D array of positive, finite values (1/Å)")
    return q


def _check_window(window) -> None:
    if window not in ("lorch", None):
        raise PolymlpLabError(f"window must be 'lorch' or None, got {window!r}")


def _window(window, r: np.ndarray, r_max: float) -> np.ndarray:
    """The Lorch window sin(πr/R)/(πr/R) (R = r_max), or ones."""
    return np.sinc(r / r_max) if window == "lorch" else np.ones_like(r)


def radial_distribution(frames, *, r_max: Optional[float] = None, n_bins: int = 200,
                        elements: Optional[Sequence[str]] = None) -> RDF:
    """Radial distribution function g(r), total or partial, averaged over frames: an RDF.

    g(r) = ⟨number of B neighbours of an A atom in [r_lo, r_hi)⟩ / (ρ_B (4π/3)(r_hi³ − r_lo³)),
    with A = B = all atoms for the total g, (A, B) = ``elements`` for the partial g_AB (= g_BA).
    Sums run over all periodic images, so g_AB → 1 at large r for an ideal gas
    (g_AA → (N_A − 1)/N_A). Frames may differ in size and cell shape.

    r_max : largest distance (Å), ``n_bins`` equal bins on [0, r_max]; it may exceed half the
        cell. Default: min(10 Å, 6 (V/N)^(1/3)), about six mean interatomic spacings (the
        first few shells of a liquid) and at most ~900 neighbours per atom.

    Raises PolymlpLabError for empty frames, r_max not positive, n_bins < 1, elements not a
    pair of symbols present in the frames; InvalidStructureError (a subclass) for
    non-periodic, empty or singular frames.
    """
    frames = _frames(frames)
    r_max = _r_max(frames, r_max)
    n_bins = _count("n_bins", n_bins, 1)
    if elements is not None:
        pair = () if isinstance(elements, str) or not np.iterable(elements) else tuple(elements)
        if len(pair) != 2:
            raise PolymlpLabError(f"elements must be a pair of element symbols (A, B), "
                                  f"got {elements!r}")
        elements = tuple(str(e) for e in pair)
        present = set().union(*(atoms.get_chemical_symbols() for atoms in frames))
        for element in elements:
            if element not in present:
                raise PolymlpLabError(f"element '{element}' is not in the frames "
                                      f"(they hold {', '.join(sorted(present))})")
    counts = np.zeros(n_bins)
    pair_norm = total_norm = n_centres = 0.0  # Σ N_A ρ_B, Σ N_A ρ, Σ N_A over frames
    for atoms in frames:
        i, j, vectors = _pairs(atoms, r_max)
        d = np.linalg.norm(vectors, axis=1)
        volume = atoms.get_volume()
        if elements is None:
            n_a = n_b = len(atoms)
        else:
            symbols = np.array(atoms.get_chemical_symbols())
            is_a, is_b = symbols == elements[0], symbols == elements[1]
            n_a, n_b = int(is_a.sum()), int(is_b.sum())
            d = d[is_a[i] & is_b[j]]
        counts += np.histogram(d, bins=n_bins, range=(0.0, r_max))[0]
        pair_norm += n_a * n_b / volume
        total_norm += n_a * len(atoms) / volume
        n_centres += n_a
    edges = np.linspace(0.0, r_max, n_bins + 1)
    shells = 4.0 * np.pi / 3.0 * np.diff(edges**3)
    g = counts / (pair_norm * shells)
    r = 0.5 * (edges[1:] + edges[:-1])
    r.setflags(write=False)
    g.setflags(write=False)
    return RDF(r=r, g=g, density=pair_norm / n_centres, total_density=total_norm / n_centres,
               n_frames=len(frames), r_max=r_max, elements=elements)


def _first_shell(rdf: RDF, smooth: float) -> Tuple[int, float]:
    """Index of the first peak and position (Å) of the first minimum of the smoothed g."""
    try:
        smooth = float(smooth)
    except (TypeError, ValueError):
        smooth = float("nan")
    if not (np.isfinite(smooth) and smooth >= 0):
        raise PolymlpLabError(f"smooth must be >= 0 Å, got {smooth!r}")
    dr = rdf.r_max / len(rdf.r)
    gs = gaussian_filter1d(rdf.g, smooth / dr, mode="nearest") if smooth > 0 else rdf.g
    above = np.flatnonzero(gs > 1.0)
    if above.size == 0:
        raise PolymlpLabError("g(r) never exceeds 1 below r_max: no first coordination shell "
                              "(increase r_max or pass r_cut)")
    start = above[0]
    below = np.flatnonzero(gs[start:] < 1.0)
    if below.size == 0:
        raise PolymlpLabError("g(r) does not fall below 1 after its first peak: increase r_max")
    drop = start + below[0]
    peak = start + int(np.argmax(gs[start:drop]))
    rise = np.flatnonzero(gs[drop:] > 1.0)
    stop = drop + rise[0] if rise.size else len(gs)
    segment = gs[drop:stop]
    lo = int(np.argmin(segment))
    tie = np.append(segment[lo + 1:] <= segment[lo] + 1e-9 * gs[peak], False)
    hi = lo + int(np.argmin(tie))  # the last of the run of ties from lo
    if drop + hi == len(gs) - 1:
        raise PolymlpLabError("the first minimum of g(r) is not below r_max: increase r_max")
    return peak, float(0.5 * (rdf.r[drop + lo] + rdf.r[drop + hi]))


def first_peak(rdf: RDF, *, smooth: float = 0.1) -> float:
    """Position (Å) of the first peak of g(r): the maximum of the first run of g above 1,
    g smoothed by a Gaussian of standard deviation ``smooth`` (Å) against bin noise.

    Raises PolymlpLabError when g never exceeds 1 or never falls back below 1 within r_max.
    """
    return float(rdf.r[_first_shell(rdf, smooth)[0]])


def first_minimum(rdf: RDF, *, smooth: float = 0.1) -> float:
    """Position (Å) of the first minimum of g(r) after its first peak.

    g is smoothed by a Gaussian of standard deviation ``smooth`` (Å). After the first run of
    smoothed g above 1 (the first peak), the minimum is the lowest smoothed g before g rises
    above 1 again (the second shell); noise that does not cross 1 cannot fake it. On a flat
    minimum (g = 0 between the shells of a crystal) its middle is returned.

    Raises PolymlpLabError when there is no first peak, or no minimum below r_max.
    """
    return _first_shell(rdf, smooth)[1]


def coordination_number(rdf: RDF, r_cut: Optional[float] = None) -> float:
    """Mean number of neighbours within r_cut: N_c = 4πρ ∫_0^r_cut r² g(r) dr.

    g is taken as constant in each bin (the histogram it is), so N_c is exactly the mean count
    of neighbours when r_cut is a bin edge. ρ is ``rdf.density`` (for a partial g_AB the B
    atoms around an A atom). r_cut (Å), at most ``rdf.r_max``, defaults to
    :func:`first_minimum` of ``rdf``.

    Raises PolymlpLabError for r_cut not in (0, r_max], or no first minimum when r_cut is not
    given.
    """
    r_cut = first_minimum(rdf) if r_cut is None else _positive("r_cut", r_cut)
    if r_cut > rdf.r_max * (1 + 1e-12):
        raise PolymlpLabError(f"r_cut = {r_cut:g} Å exceeds the RDF range r_max = {rdf.r_max:g} Å")
    edges = np.minimum(rdf.edges, r_cut)
    shells = 4.0 * np.pi / 3.0 * np.diff(edges**3)
    return float(rdf.density * np.sum(rdf.g * shells))


def structure_factor(rdf: RDF, q=None, *, window: Optional[str] = "lorch"
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Static structure factor by the Fourier route: (q in 1/Å, S(q) dimensionless).

    S(q) = 1 + 4πρ ∫_0^R r² (g(r) − 1) sin(qr)/(qr) W(r) dr, R = ``rdf.r_max``, integrated
    over the bins of g with their exact shell volumes; ρ is ``rdf.total_density`` (for a
    partial g_AB this is the Faber–Ziman S_AB). W (``window``) is the Lorch window
    sin(πr/R)/(πr/R), which damps the ripples of the truncation at R, or 1 (None). q: positive
    wave numbers (1/Å), default 0.5 to 12 1/Å. Raises PolymlpLabError for a q not positive or
    an unknown window.
    """
    q = _q(q)
    _check_window(window)
    shells = 4.0 * np.pi / 3.0 * np.diff(rdf.edges**3)
    weights = (rdf.g - 1.0) * shells * _window(window, rdf.r, rdf.r_max)
    sinc = np.sinc(np.outer(q, rdf.r) / np.pi)
    return q, 1.0 + rdf.total_density * (sinc @ weights)


def _ideal_integral(q: np.ndarray, r_max: float, window) -> np.ndarray:
    """4π ∫_0^R r² sin(qr)/(qr) W(r) dr, analytically."""
    if window is None:
        return 4.0 * np.pi * (np.sin(q * r_max) - q * r_max * np.cos(q * r_max)) / q**3
    k = np.pi / r_max
    near = np.abs(q - k) < 1e-6 * k
    safe = np.where(near, 2.0 * k, q)
    integral = np.sin(safe * r_max) / (safe * (k**2 - safe**2))
    return 4.0 * np.pi * np.where(near, r_max / (2.0 * k**2), integral)


def debye_structure_factor(frames, q=None, r_max: Optional[float] = None, *,
                           window: Optional[str] = "lorch") -> Tuple[np.ndarray, np.ndarray]:
    """Static structure factor directly from pair distances (Debye formula).

    S(q) = 1 + (1/N) Σ_{i≠j, r_ij<R} sin(q r_ij)/(q r_ij) W(r_ij)
             − 4πρ ∫_0^R r² sin(qr)/(qr) W(r) dr,

    summed over all periodic images and averaged over frames; the last term (analytic) removes
    the continuum (forward-scattering) part. This is the unbinned counterpart of
    :func:`structure_factor` with the same R (``r_max``, Å, default as in
    :func:`radial_distribution`), q and window: the two differ only by the binning of g(r).
    Returns (q in 1/Å, S dimensionless); raises PolymlpLabError for bad frames (as
    :func:`radial_distribution`), q, r_max or window.
    """
    frames = _frames(frames)
    r_max = _r_max(frames, r_max)
    q = _q(q)
    _check_window(window)
    pair_sum = np.zeros_like(q)
    n_atoms = density_sum = 0.0
    for atoms in frames:
        d = np.linalg.norm(_pairs(atoms, r_max)[2], axis=1)
        w = _window(window, d, r_max)
        step = max(1, 2**20 // max(d.size, 1))  # ~8 MB blocks of q × pairs
        for start in range(0, q.size, step):
            x = np.outer(q[start:start + step], d)
            with np.errstate(invalid="ignore", divide="ignore"):
                pair_sum[start:start + step] += np.where(x > 0, np.sin(x) / x, 1.0) @ w
        n_atoms += len(atoms)
        density_sum += len(atoms) ** 2 / atoms.get_volume()
    density = density_sum / n_atoms
    return q, 1.0 + pair_sum / n_atoms - density * _ideal_integral(q, r_max, window)


def bond_angle_distribution(frames, *, r_cut: float, n_bins: int = 180
                            ) -> Tuple[np.ndarray, np.ndarray]:
    """Distribution of the bond angles j–i–k, j and k neighbours of i within ``r_cut`` (Å,
    typically the first minimum of g(r)), in ``n_bins`` equal bins on [0°, 180°].

    Every unordered pair of neighbours of every atom counts once; images count as neighbours.
    Returns (θ, p): bin centres (degrees) and p(θ) (1/degree) with ∫ p dθ = 1. Raises
    PolymlpLabError for r_cut not positive, n_bins < 1, or no atom with two neighbours within
    r_cut; InvalidStructureError (a subclass) for bad frames or two coincident atoms.
    """
    frames = _frames(frames)
    r_cut = _positive("r_cut", r_cut)
    n_bins = _count("n_bins", n_bins, 1)
    counts = np.zeros(n_bins)
    for atoms in frames:
        i, _, vectors = _pairs(atoms, r_cut)
        order = np.argsort(i, kind="stable")
        lengths = np.linalg.norm(vectors[order], axis=1)
        if (lengths == 0).any():
            raise InvalidStructureError("two atoms coincide (distance 0 Å): their bond angles "
                                        "are undefined")
        units = vectors[order] / lengths[:, None]
        degree = np.bincount(i, minlength=len(atoms))
        first = np.concatenate(([0], np.cumsum(degree)[:-1]))
        for n in np.unique(degree[degree >= 2]):
            rows = first[degree == n][:, None] + np.arange(n)
            u = units[rows]  # (atoms of degree n, n, 3)
            a, b = np.triu_indices(n, 1)
            cos = np.einsum("mpx,mpx->mp", u[:, a], u[:, b])
            angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
            counts += np.histogram(angles, bins=n_bins, range=(0.0, 180.0))[0]
    if counts.sum() == 0:
        raise PolymlpLabError(f"no atom has two neighbours within r_cut = {r_cut:g} Å")
    width = 180.0 / n_bins
    theta = (np.arange(n_bins) + 0.5) * width
    return theta, counts / (counts.sum() * width)


def set_density(atoms, density_g_cm3: float):
    """A copy of ``atoms`` with its cell (and positions) scaled to ``density_g_cm3``."""
    density = _positive("density_g_cm3", density_g_cm3)
    scaled = atoms.copy()
    volume = scaled.get_masses().sum() * G_PER_CM3_PER_AMU_PER_A3 / density
    scaled.set_cell(scaled.cell * (volume / scaled.get_volume()) ** (1.0 / 3.0), scale_atoms=True)
    return scaled


def density_g_cm3(atoms) -> float:
    """Mass density of a periodic structure, g/cm³."""
    return float(atoms.get_masses().sum() * G_PER_CM3_PER_AMU_PER_A3 / atoms.get_volume())


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

    def as_dict(self) -> dict:
        """JSON-ready summary (one entry of ``liquid.json``)."""
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
                    r_max: Optional[float] = None, out=None, progress: bool = True,
                    restart: bool = False) -> list:
    """The paper's liquid recipe: melt well above the melting point, then run each temperature.

    1. the cell of ``atoms`` is scaled to ``density_g_cm3`` (e.g. the liquid at the melting
       point; default: keep it), 2. NVT at ``melt_temperature_K`` for ``melt_ps``, 3. for each
       of ``temperatures_K`` in the order given (highest first for a quench): NVT
       equilibration for ``equilibrate_ps`` from the previous state, then NVT production for
       ``production_ps`` sampled every ``sample_fs``; its frames give RDF, coordination,
       S(q), bond angles and the diffusion coefficient.

    ``out`` is a run (:mod:`polymlp_lab.runs`, kind "liquid": the recipe's settings, the
    potential and the starting structure), and each stage a :func:`run_md` in
    ``out/<stage>/`` (a temporary folder when ``out`` is None) with its own run record, its
    input the state the previous stage ended in: an interrupted recipe resumes where it
    stopped; more temperatures, or a longer ``production_ps``, extend it; other settings, a
    potential or a structure are refused (RunMismatchError naming what differs), unless
    ``restart`` (which deletes the recipe's earlier files, nothing else). ``out/liquid.json``
    collects the per-temperature results. Returns a list of :class:`LiquidState`.
    """
    temperatures = [float(t) for t in np.atleast_1d(temperatures_K)]
    if not temperatures or min(temperatures) <= 0 or melt_temperature_K <= 0:
        raise PolymlpLabError("temperatures_K and melt_temperature_K must be positive")
    interval = max(1, int(round(sample_fs / timestep_fs)))

    def steps(ps):
        n = int(round(ps * 1000.0 / timestep_fs / interval)) * interval
        if n <= 0:
            raise PolymlpLabError(f"{ps} ps is shorter than one sample ({sample_fs} fs)")
        return n

    for ps in (melt_ps, equilibrate_ps, production_ps):
        steps(ps)
    common = dict(ensemble="nvt", timestep_fs=timestep_fs, thermostat=thermostat,
                  tdamp_fs=tdamp_fs, interval=interval, seed=seed)
    recipe = dict(density_g_cm3=density_g_cm3, melt_temperature_K=float(melt_temperature_K),
                  melt_ps=melt_ps, equilibrate_ps=equilibrate_ps, production_ps=production_ps,
                  timestep_fs=timestep_fs, sample_fs=sample_fs, thermostat=thermostat,
                  tdamp_fs=tdamp_fs, seed=seed, r_max=r_max)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(out) if out is not None else Path(scratch)
        inputs = {**calculator_inputs(calc), "structure": atoms_digest(atoms)}
        run = open_run(folder, kind="liquid", settings=recipe, inputs=inputs,
                       counts=("production_ps",), restart=restart)
        run.owns("liquid.json", "melt")

        def stage(name, start, temperature, ps, **kw):
            result = run_md(start, calc, out=folder / name, steps=steps(ps),
                            temperature_K=temperature, progress=progress, **common, **kw)
            if result.failed:
                raise PolymlpLabError(f"MD stage {name} ({temperature:g} K) failed at step "
                                      f"{result.records['step'][-1]}: {result.failed}")
            return result

        start = atoms if density_g_cm3 is None else set_density(atoms, density_g_cm3)
        state = stage("melt", start, melt_temperature_K, melt_ps).atoms
        states = []
        for temperature in temperatures:
            name = f"T{temperature:g}K"
            run.owns(name)
            state = stage(f"{name}/equilibrate", state, temperature, equilibrate_ps,
                          initialize=False).atoms
            result = stage(f"{name}/production", state, temperature, production_ps,
                           initialize=False)
            frames = read(folder / name / "production" / "md.traj", index=":")
            states.append(_liquid_state(result, frames, temperature, r_max))
            state = result.atoms
            write_text_atomic(folder / "liquid.json",
                              json.dumps([s.as_dict() for s in states], indent=1))
    return states

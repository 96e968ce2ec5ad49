"""A fast embedded-atom (EAM) calculator for any LAMMPS setfl (``.eam.alloy``) file.

The model is the usual EAM of the *alloy* form::

    E = Σ_i E_i,   E_i = ½ Σ_{j≠i} φ_{t_i t_j}(r_ij) + F_{t_i}(ρ_i),   ρ_i = Σ_{j≠i} f_{t_j}(r_ij),

with the tables of the file (``F`` on the ρ grid, ``f`` and ``r·φ`` on the r grid) turned into
functions exactly as :class:`ase.calculators.eam.EAM` does it, so that the two calculators
agree to rounding: each table becomes a cubic interpolating spline with not-a-knot ends
(SciPy's ``InterpolatedUnivariateSpline(x, y, k=3)``, FITPACK), extrapolated with its end
pieces outside the grid; φ is splined from ``r·φ / r`` on the r grid *without its first point*
(r = 0). Only the pairs closer than the file's cutoff count (a pair at the cutoff to the last
bit, e.g. a periodic image one cubic cell away when the cell edge equals the cutoff, may be
kept by one calculator and dropped by the other through rounding; where the tables vanish at
the cutoff that changes nothing beyond the splines' residue there). Here every spline is stored as
one cubic polynomial per grid interval (Taylor coefficients at the interval's left point, taken
from the FITPACK spline itself), so an evaluation is one index computation and a Horner
step.

Bonds come from the engine's half neighbour list (:mod:`polymlp_lab.engine.neighbors`: any
periodic or partly periodic cell, triclinic, thinner than the cutoff), kept across steps with a
skin like :class:`polymlp_lab.calculator.PolymlpCalculator`; the three passes (densities and
pair energies, embedding, forces and virial) are Numba kernels.

Units: energies eV, forces eV/Å, stress eV/Å³ (ASE's Voigt order xx yy zz yz xz xy,
``(1/V) ∂E/∂ε``, positive = tensile), distances Å.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np
from ase.calculators.calculator import Calculator
from ase.data import atomic_numbers
from ase.stress import full_3x3_to_voigt_6_stress
from numba import njit

from ..calculator import EngineCalculator
from ..engine.neighbors import NeighborCache, half_neighbor_list
from ..errors import PolymlpLabError, PotentialFileError, UnknownElementError
from ..structures import check_structure


_OTHER_FORMATS = {".fs": "Finnis-Sinclair (.eam.fs)", ".adp": "ADP (.adp)",
                  ".eam": "single-element funcfl (.eam)"}


class EAMFileError(PotentialFileError):
    """An EAM file is missing, unreadable, truncated, of another format, or inconsistent.
    ``path`` names it (a :class:`polymlp_lab.errors.PotentialFileError`)."""


class EAMElementError(UnknownElementError):
    """The EAM file does not describe an element that is needed. ``missing`` lists them
    (``element`` is the first), ``known`` the file's elements, ``path`` the file (a
    :class:`polymlp_lab.errors.UnknownElementError`, so a PolymlpLabError)."""

    def __init__(self, missing, known, path):
        missing = tuple(missing)
        PolymlpLabError.__init__(
            self,
            f"{path}: the EAM file has no {'element' if len(missing) == 1 else 'elements'} "
            f"{', '.join(missing)} (it describes {', '.join(known)})",
        )
        self.element, self.missing, self.known, self.path = missing[0], missing, tuple(known), path


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------

class _Table(NamedTuple):
    """Piecewise cubic on a uniform grid: on [x_k, x_{k+1}], y = Σ_m coef[k, m] (x − x_k)^m."""

    knots: np.ndarray  # (n,)
    step: float
    coef: np.ndarray  # (n - 1, 4)


def _spline_table(x: np.ndarray, y: np.ndarray) -> _Table:
    """ASE's spline (InterpolatedUnivariateSpline, k=3) as per-interval Taylor coefficients.

    The coefficients are the spline's derivatives at each grid point (FITPACK evaluates at a
    knot with the piece to its right), so the table is the spline itself, to rounding."""
    from scipy.interpolate import InterpolatedUnivariateSpline

    spline = InterpolatedUnivariateSpline(x, y, k=3)
    coef = np.column_stack([spline(x[:-1], m) / factorial
                            for m, factorial in enumerate((1.0, 1.0, 2.0, 6.0))])
    return _Table(np.ascontiguousarray(x, dtype=np.float64), float(x[1] - x[0]), coef)


def _stacked(tables) -> _Table:
    """Tables on one grid as one, the coefficients stacked (first index: the table's)."""
    return _Table(tables[0].knots, tables[0].step,
                  np.ascontiguousarray(np.stack([t.coef for t in tables])))


class EAMPotential:
    """The tables of one ``.eam.alloy`` file, ready for the kernels (see :func:`read_eam_alloy`).

    Attributes: ``path``, ``elements`` (tuple, the file's order), ``cutoff`` (Å), ``nr``,
    ``dr`` (Å), ``nrho``, ``drho``, ``masses`` (amu), ``header`` (the three comment lines).
    """

    def __init__(self, path, elements, cutoff, nr, dr, nrho, drho, masses, header,
                 embedding, density, pair):
        self.path = path
        self.elements = tuple(elements)
        self.cutoff = float(cutoff)
        self.nr, self.dr, self.nrho, self.drho = int(nr), float(dr), int(nrho), float(drho)
        self.masses = np.asarray(masses, dtype=float)
        self.header = list(header)
        # the tables of each kind stacked, element index first (they share one grid)
        self._embedding = _stacked(embedding)
        self._density = _stacked(density)
        self._pair = _stacked([_stacked(row) for row in pair])

    def __repr__(self):
        return (f"EAMPotential({str(self.path)!r}, elements={self.elements}, "
                f"cutoff={self.cutoff:g})")

    def check_elements(self, elements: Sequence[str]) -> None:
        """Raise :class:`EAMElementError` naming every element of ``elements`` the file lacks."""
        missing = [e for e in dict.fromkeys(str(e) for e in elements) if e not in self.elements]
        if missing:
            raise EAMElementError(missing, self.elements, self.path)

    def evaluate(self, atoms, *, forces: bool = True, neighbors: Optional[NeighborCache] = None):
        """(energy eV, per-atom energies (N,) eV, forces (N, 3) eV/Å or None, stress (6,)
        eV/Å³ or None) of ``atoms``; stress only for cells periodic in 3 directions.
        ``neighbors``: a NeighborCache to take the bonds from (reused across calls)."""
        cell, positions, _, pbc = check_structure(atoms)
        symbols = atoms.get_chemical_symbols()
        self.check_elements(symbols)
        types = np.array([self.elements.index(s) for s in symbols], dtype=np.int64)
        n_atom = len(positions)
        bonds = half_neighbor_list if neighbors is None else neighbors.bonds
        bond_i, bond_j, bond_d = bonds(cell, positions, pbc, self.cutoff)
        n_bond = len(bond_i)
        rho = np.zeros(n_atom)
        energies = np.zeros(n_atom)
        d_pair = np.empty((n_bond, 3))  # φ', f'_{t_j}, f'_{t_i} of each bond
        _density_pass(bond_i, bond_j, bond_d, types, self.cutoff, *self._density, *self._pair,
                      rho, energies, d_pair)
        d_embed = np.zeros(n_atom)
        _embedding_pass(types, rho, *self._embedding, energies, d_embed)
        energy = float(energies.sum())
        if not forces:
            return energy, energies, None, None
        force_array = np.zeros((n_atom, 3))
        virial = np.zeros((3, 3))
        _force_pass(bond_i, bond_j, bond_d, self.cutoff, d_pair, d_embed, force_array, virial)
        stress = (full_3x3_to_voigt_6_stress(0.5 * (virial + virial.T) / abs(np.linalg.det(cell)))
                  if np.all(pbc) else None)
        return energy, energies, force_array, stress


def read_eam_alloy(path, *, elements: Optional[Sequence[str]] = None) -> EAMPotential:
    """Read a LAMMPS setfl (``.eam.alloy``) file into an :class:`EAMPotential`.

    The numbers are parsed by ASE's EAM reader (so both calculators see the same tables).
    ``elements``, when given, must all be in the file. Raises :class:`EAMFileError` (missing,
    unreadable, truncated, non-finite or inconsistent file; another EAM format) and
    :class:`EAMElementError` (elements the file lacks), both naming the file."""
    from ase.calculators.eam import EAM

    if isinstance(path, EAMPotential):
        if elements is not None:
            path.check_elements(elements)
        return path
    if not isinstance(path, (str, os.PathLike)):
        raise EAMFileError(f"an EAM file path is a str or a Path, not {type(path).__name__}",
                           path=path)
    path = Path(path)
    if not path.exists():
        raise EAMFileError("no such EAM file", path=path)
    if not path.is_file():
        raise EAMFileError("not a file (an .eam.alloy file was expected)", path=path)
    suffix = path.suffix.lower()
    if suffix in _OTHER_FORMATS:
        raise EAMFileError(f"a {_OTHER_FORMATS[suffix]} file; only the setfl format "
                           "(.eam.alloy) is read", path=path)
    try:
        eam = EAM(potential=str(path), form="alloy")
    except Exception as exc:  # ASE raises what its parsing happens to hit
        raise EAMFileError(f"cannot read it as an .eam.alloy (setfl) file "
                           f"({type(exc).__name__}: {exc})", path=path) from exc
    file_elements = tuple(str(e) for e in eam.elements)
    problems = [f"{e!r} is not a chemical symbol" for e in file_elements
                if atomic_numbers.get(e, 0) == 0]
    if len(set(file_elements)) != len(file_elements):
        problems.append(f"repeated element in {list(file_elements)}")
    if eam.nr < 5 or eam.nrho < 4:
        problems.append(f"grids too short for cubic splines (nr={eam.nr}, nrho={eam.nrho})")
    for name in ("dr", "drho", "cutoff"):
        value = getattr(eam, name)
        if not (np.isfinite(value) and value > 0):
            problems.append(f"{name} must be positive, got {value}")
    for name in ("embedded_data", "density_data", "rphi_data"):
        if not np.all(np.isfinite(getattr(eam, name))):
            problems.append(f"the {name.split('_')[0]} tables hold non-finite numbers")
    if problems:
        raise EAMFileError("; ".join(problems), path=path)
    ne = len(file_elements)
    r, rho = eam.r, eam.rho
    embedding = [_spline_table(rho, eam.embedded_data[a]) for a in range(ne)]
    density = [_spline_table(r, eam.density_data[a]) for a in range(ne)]
    pair = [[None] * ne for _ in range(ne)]
    for a in range(ne):
        for b in range(a, ne):  # ASE: the upper triangle of rphi_data, without r = 0
            pair[a][b] = pair[b][a] = _spline_table(r[1:], eam.rphi_data[a, b][1:] / r[1:])
    potential = EAMPotential(path, file_elements, eam.cutoff, eam.nr, eam.dr, eam.nrho,
                             eam.drho, eam.mass, getattr(eam, "header", []),
                             embedding, density, pair)
    if elements is not None:
        potential.check_elements(elements)
    return potential


# --------------------------------------------------------------------------------------------
# kernels (module level, cached; float64 / int64 arrays only)
# --------------------------------------------------------------------------------------------

@njit(cache=True)
def _spline_value(knots, step, coef, x):
    """Value and derivative of a piecewise cubic table at x (end pieces extrapolate)."""
    n = knots.shape[0]
    k = int(math.floor((x - knots[0]) / step))
    if k < 0:
        k = 0
    elif k > n - 2:
        k = n - 2
    t = x - knots[k]
    c0 = coef[k, 0]
    c1 = coef[k, 1]
    c2 = coef[k, 2]
    c3 = coef[k, 3]
    return c0 + t * (c1 + t * (c2 + t * c3)), c1 + t * (2.0 * c2 + 3.0 * t * c3)


@njit(cache=True)
def _density_pass(bond_i, bond_j, bond_d, types, cutoff, rho_knots, rho_step, rho_coef,
                  phi_knots, phi_step, phi_coef, rho, energies, d_pair):
    """ρ_i, ½φ per atom, and per bond (φ', f'_{t_j}, f'_{t_i}) (zero beyond the cutoff)."""
    for b in range(bond_i.shape[0]):
        i = bond_i[b]
        j = bond_j[b]
        r = math.sqrt(bond_d[b, 0] ** 2 + bond_d[b, 1] ** 2 + bond_d[b, 2] ** 2)
        if r >= cutoff:
            d_pair[b, :] = 0.0
            continue
        ti = types[i]
        tj = types[j]
        f_j, df_j = _spline_value(rho_knots, rho_step, rho_coef[tj], r)
        f_i, df_i = _spline_value(rho_knots, rho_step, rho_coef[ti], r)
        phi, dphi = _spline_value(phi_knots, phi_step, phi_coef[ti, tj], r)
        rho[i] += f_j
        rho[j] += f_i
        energies[i] += 0.5 * phi
        energies[j] += 0.5 * phi
        d_pair[b, 0] = dphi
        d_pair[b, 1] = df_j
        d_pair[b, 2] = df_i


@njit(cache=True)
def _embedding_pass(types, rho, f_knots, f_step, f_coef, energies, d_embed):
    for i in range(types.shape[0]):
        value, slope = _spline_value(f_knots, f_step, f_coef[types[i]], rho[i])
        energies[i] += value
        d_embed[i] = slope


@njit(cache=True)
def _force_pass(bond_i, bond_j, bond_d, cutoff, d_pair, d_embed, forces, virial):
    """g = ∂E/∂r_ij = φ' + F'_i f'_{t_j} + F'_j f'_{t_i}; F_i += g d/r, F_j −= g d/r,
    virial += g d⊗d/r (d = r_j − r_i)."""
    for b in range(bond_i.shape[0]):
        i = bond_i[b]
        j = bond_j[b]
        d = bond_d[b]
        r = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        if r >= cutoff:
            continue
        g = (d_pair[b, 0] + d_embed[i] * d_pair[b, 1] + d_embed[j] * d_pair[b, 2]) / r
        for x in range(3):
            forces[i, x] += g * d[x]
            forces[j, x] -= g * d[x]
            for y in range(3):
                virial[x, y] += g * d[x] * d[y]


# --------------------------------------------------------------------------------------------
# the ASE calculator
# --------------------------------------------------------------------------------------------

class EAMCalculator(EngineCalculator):
    """ASE calculator for an ``.eam.alloy`` potential (a path or an :class:`EAMPotential`),
    equal to :class:`ase.calculators.eam.EAM` on the same file (to rounding) and much faster.

    ``elements`` are checked now (:class:`EAMElementError` names those the file lacks);
    ``skin`` (Å) is that of :class:`~polymlp_lab.calculator.PolymlpCalculator`, and so are the
    results, with energies per atom ½ Σ_j φ + F(ρ_i).
    """

    def __init__(self, potential, *, elements: Optional[Sequence[str]] = None,
                 skin: float = 1.0, **kwargs):
        self.potential = read_eam_alloy(potential, elements=elements)
        super().__init__(**kwargs)
        self.neighbors = NeighborCache(skin) if skin > 0 else None

    @property
    def elements(self):
        return self.potential.elements

    def _evaluate(self, atoms, forces: bool):
        return (*self.potential.evaluate(atoms, forces=forces, neighbors=self.neighbors), {})


def peer_calculator(peer, elements: Sequence[str]):
    """(calculator, label, source) of a property card's peer.

    ``peer`` is an ``.eam.alloy`` path (str or Path) or an :class:`EAMPotential`: an
    :class:`EAMCalculator`, checked now to describe every one of ``elements`` (so a bad file
    is refused before any work); or any ASE calculator, used as it is."""
    if isinstance(peer, (str, os.PathLike, EAMPotential)):
        peer = EAMCalculator(peer, elements=elements)
    elif not isinstance(peer, Calculator) and not callable(getattr(peer, "get_property", None)):
        raise PolymlpLabError(
            f"a card's peer is an .eam.alloy path or an ASE calculator, not {type(peer).__name__}")
    if isinstance(peer, EAMCalculator):
        peer.potential.check_elements(elements)
        return peer, f"EAM ({Path(peer.potential.path).name})", str(peer.potential.path)
    name = type(peer).__name__
    source = getattr(peer, "parameters", {}).get("potential") if name == "EAM" else None
    label = f"EAM ({Path(source).name}, ASE)" if isinstance(source, str) else name
    return peer, label, str(source) if source else name

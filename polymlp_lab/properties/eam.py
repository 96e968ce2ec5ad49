"""An empirical peer for the MLPs: the Sutton–Chen potential written as an ``.eam.alloy`` file.

The Sutton–Chen (SC) many-body potential [SC90]_ is an embedded-atom model::

    E = Σ_i [ ½ Σ_{j≠i} φ(r_ij) + F(ρ_i) ],   φ(r) = ε (a/r)^n,
    ρ_i = Σ_{j≠i} (a/r_ij)^m,                 F(ρ) = −c ε √ρ,

so it can be tabulated in LAMMPS' *setfl* format (``.eam.alloy``) and evaluated by
:class:`ase.calculators.eam.EAM` (or LAMMPS ``pair_style eam/alloy``). Nothing is downloaded:
the tables are computed here from the published parameters in :data:`SUTTON_CHEN`.

What differs from the original, infinitely long-ranged SC potential
--------------------------------------------------------------------
* **Cutoff and taper.** φ and the density function f are multiplied by the quintic switch
  ``S(x) = 1 − 10x³ + 15x⁴ − 6x⁵``, ``x = (r − (r_c − w)) / w`` on the last ``w`` (default
  0.5 Å) before the cutoff ``r_c`` (default ``2 × max a`` of the elements in the file), so that
  energy, forces and force constants are continuous. SC potentials are long-ranged
  (ρ ~ r^−6): with ``r_c = 2a`` the fcc lattice constant moves by < 0.1 % but the cohesive
  energy is 1–3 % less bound than the infinite-range value (e.g. Cu −3.45 instead of
  −3.50 eV/atom). Pass a larger ``cutoff`` (e.g. ``3 × a``: ~0.5 %) when that matters; the
  ASE calculator gets slower with the cube of the cutoff.
* **Short-range continuation.** Below ``r_in = a_X / (2√2)`` (half the fcc nearest-neighbour
  distance of the function's own ``a``), φ and f continue linearly (value and slope
  continuous) instead of diverging, so the tables stay finite. No physical configuration
  gets there.
* **Alloys** (mixing of Rafii-Tabar & Sutton [RTS91]_): the pair term between A and B uses
  ``ε_AB = √(ε_A ε_B)``, ``a_AB = (a_A + a_B)/2``, ``n_AB = (n_A + n_B)/2``; the embedding of
  an A atom is ``F_A(ρ) = −c_A ε_A √ρ``. In RTS the density that a B neighbour gives an A atom
  is the *pair* function ``(a_AB/r)^m_AB``; ``.eam.alloy`` can only hold one density function
  per *neighbour* element, so here a B neighbour always contributes ``f_B(r) = (a_B/r)^m_B``
  (its own pure-SC density), whatever the central atom. Pure elements are exact SC (apart
  from the cutoff); for alloys this is an approximation of RTS (the ``.eam.fs`` format could
  express the pair densities exactly; it is not written here). Treat alloy results as
  qualitative.
* **Tables.** The embedding table spans ``0 … rho_max`` (default ten times the largest density
  of an ideal fcc crystal of any element of the file, with each element as neighbour in
  turn). With the default grids (5000 r points, 10000 ρ points, ~1 MB for two elements)
  ASE's cubic splines reproduce the analytic energies to ~1e-10 eV/atom and forces to ~1e-7
  eV/Å in bulk, surfaces and compressed dimers. Only at very low density (ρ ≲ 1: an atom with
  no neighbour closer than ~4 Å, e.g. a stretched dimer) is √ρ poorly splined near ρ = 0:
  errors up to a few 1e-2 eV there.

:func:`sutton_chen_energy` evaluates exactly the same (tapered, mixed) potential analytically
with NumPy; the tests use it as the reference for the written file.

.. [SC90] A. P. Sutton and J. Chen, "Long-range Finnis–Sinclair potentials",
   Phil. Mag. Lett. 61, 139–146 (1990).
.. [RTS91] H. Rafii-Tabar and A. P. Sutton, "Long-range Finnis–Sinclair potentials for f.c.c.
   metallic alloys", Phil. Mag. Lett. 63, 217–224 (1991).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers
from ase.neighborlist import neighbor_list

from ..errors import PolymlpLabError, UnknownElementError
from ..files import atomic_path


class SuttonChenParams(NamedTuple):
    """Parameters of one element: exponents ``n`` (pair) and ``m`` (density), energy ``epsilon``
    (eV), dimensionless ``c`` and length ``a`` (Å, the fcc lattice constant the fit reproduces)."""

    n: float
    m: float
    epsilon: float
    c: float
    a: float


#: Sutton & Chen, Phil. Mag. Lett. 61, 139 (1990), Table 1 (fcc metals).
#: Checks done when transcribing: for every element ``c`` equals the fcc equilibrium condition
#: ``c = n S_n / (m √S_m)`` (S_k = fcc lattice sums in units of a) to 5 digits, and the
#: infinite-range cohesive energies are 4.44 (Ni), 3.50 (Cu), 5.75 (Rh), 3.94 (Pd), 2.96 (Ag),
#: 6.93 (Ir), 5.86 (Pt), 3.78 (Au), 3.34 (Al), 2.04 (Pb) eV/atom, i.e. the experimental values
#: the fit used, to 0.01 eV.
SUTTON_CHEN: Dict[str, SuttonChenParams] = {
    "Ni": SuttonChenParams(9, 6, 1.5707e-2, 39.432, 3.52),
    "Cu": SuttonChenParams(9, 6, 1.2382e-2, 39.432, 3.61),
    "Rh": SuttonChenParams(12, 6, 4.9371e-3, 144.41, 3.80),
    "Pd": SuttonChenParams(12, 7, 4.1790e-3, 108.27, 3.89),
    "Ag": SuttonChenParams(12, 6, 2.5415e-3, 144.41, 4.09),
    "Ir": SuttonChenParams(14, 6, 2.4489e-3, 334.94, 3.84),
    "Pt": SuttonChenParams(10, 8, 1.9833e-2, 34.408, 3.92),
    "Au": SuttonChenParams(10, 8, 1.2793e-2, 34.408, 4.08),
    "Al": SuttonChenParams(7, 6, 3.3147e-2, 16.399, 4.05),
    "Pb": SuttonChenParams(10, 7, 5.5765e-3, 45.778, 4.95),
}

DEFAULT_TAPER_WIDTH = 0.5  # Å


class UnknownSuttonChenElementError(UnknownElementError):
    """No Sutton–Chen parameters for an element; ``element`` names it, ``known`` lists the
    supported ones. A :class:`polymlp_lab.errors.UnknownElementError` (so a PolymlpLabError)."""

    def __init__(self, element, known):
        PolymlpLabError.__init__(
            self,
            f"no Sutton-Chen parameters for element {element!r}; "
            f"supported elements: {', '.join(known)}",
        )
        self.element, self.known = element, tuple(known)


# --------------------------------------------------------------------------------------------
# the analytic functions (shared by the writer and the NumPy reference)
# --------------------------------------------------------------------------------------------

def _check_elements(elements, params) -> Tuple[Tuple[str, ...], Mapping[str, SuttonChenParams]]:
    params = SUTTON_CHEN if params is None else params
    elements = (elements,) if isinstance(elements, str) else tuple(str(e) for e in elements)
    if not elements:
        raise PolymlpLabError("no elements given for the Sutton-Chen potential")
    if len(set(elements)) != len(elements):
        raise PolymlpLabError(f"repeated element in {list(elements)}")
    for el in elements:
        if el not in params:
            raise UnknownSuttonChenElementError(el, sorted(params))
        if atomic_numbers.get(el, 0) == 0:
            raise PolymlpLabError(f"{el!r} is not a chemical symbol")
        p = params[el]
        if not (p.n > 3 and p.m > 0 and p.epsilon > 0 and p.c > 0 and p.a > 0):
            raise PolymlpLabError(f"unphysical Sutton-Chen parameters for {el}: {p}")
    return elements, params


def default_cutoff(elements: Sequence[str], params: Optional[Mapping] = None) -> float:
    """The default cutoff: ``2 × max a`` over ``elements`` (Å)."""
    elements, params = _check_elements(elements, params)
    return 2.0 * max(params[e].a for e in elements)


def _switch(r, cutoff, width):
    """Quintic switch S and dS/dr: 1 below cutoff − width, 0 beyond cutoff, C² in between."""
    x = np.clip((r - (cutoff - width)) / width, 0.0, 1.0)
    s = 1.0 - x**3 * (10.0 - 15.0 * x + 6.0 * x * x)
    ds = -30.0 * x * x * (1.0 - x) ** 2 / width
    return s, ds


def _power_function(prefactor, a, k, cutoff, width) -> tuple:
    """g(r) = prefactor (a/r)^k · S(r), continued linearly below r_in = a/(2√2); and g'."""
    r_in = a / (2.0 * np.sqrt(2.0))
    g_in = prefactor * (a / r_in) ** k
    dg_in = -k * g_in / r_in

    def value(r):
        r = np.asarray(r, dtype=float)
        rr = np.maximum(r, r_in)
        s, _ = _switch(rr, cutoff, width)
        return np.where(r < r_in, g_in + dg_in * (r - r_in), prefactor * (a / rr) ** k * s)

    def deriv(r):
        r = np.asarray(r, dtype=float)
        rr = np.maximum(r, r_in)
        s, ds = _switch(rr, cutoff, width)
        return np.where(r < r_in, dg_in, prefactor * (a / rr) ** k * (ds - k * s / rr))

    return value, deriv


def _mixed(pa: SuttonChenParams, pb: SuttonChenParams) -> SuttonChenParams:
    """Rafii-Tabar & Sutton (1991) mixing of the pair parameters."""
    return SuttonChenParams(
        n=0.5 * (pa.n + pb.n), m=0.5 * (pa.m + pb.m), epsilon=float(np.sqrt(pa.epsilon * pb.epsilon)),
        c=float("nan"), a=0.5 * (pa.a + pb.a),
    )


class _Model:
    """The tapered Sutton–Chen functions of a set of elements (analytic, vectorised)."""

    def __init__(self, elements, params, cutoff, taper_width):
        self.elements, self.params = _check_elements(elements, params)
        p = [self.params[e] for e in self.elements]
        self.cutoff = float(default_cutoff(self.elements, self.params) if cutoff is None else cutoff)
        self.taper_width = float(taper_width)
        if not np.isfinite(self.taper_width) or self.taper_width <= 0:
            raise PolymlpLabError(f"taper_width must be positive, got {self.taper_width}")
        smallest_nn = min(q.a for q in p) / np.sqrt(2.0)
        if not np.isfinite(self.cutoff) or self.cutoff - self.taper_width <= smallest_nn:
            raise PolymlpLabError(
                f"cutoff {self.cutoff} Å minus taper width {self.taper_width} Å must exceed the "
                f"smallest fcc nearest-neighbour distance ({smallest_nn:.3f} Å)")
        ne = len(p)
        self.density = [_power_function(1.0, q.a, q.m, self.cutoff, self.taper_width) for q in p]
        self.embed_coeff = np.array([q.c * q.epsilon for q in p])  # F(ρ) = −coeff √ρ
        self.pair = [[None] * ne for _ in range(ne)]
        for i in range(ne):
            for j in range(i + 1):
                q = p[i] if i == j else _mixed(p[i], p[j])
                self.pair[i][j] = self.pair[j][i] = _power_function(
                    q.epsilon, q.a, q.n, self.cutoff, self.taper_width)

    def embedding(self, i, rho):
        return -self.embed_coeff[i] * np.sqrt(np.maximum(rho, 0.0))

    def d_embedding(self, i, rho):
        return -0.5 * self.embed_coeff[i] / np.sqrt(rho)

    def fcc_density(self, host: int, neighbour: int) -> float:
        """ρ of a ``host`` atom in an ideal fcc crystal (lattice constant a_host) whose every
        site holds a ``neighbour`` atom."""
        a = self.params[self.elements[host]].a
        nmax = int(np.ceil(self.cutoff / (a / 2.0))) + 1
        g = np.arange(-nmax, nmax + 1)
        sites = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        sites = sites[sites.sum(axis=1) % 2 == 0]
        r = np.linalg.norm(sites, axis=1) * (a / 2.0)
        r = r[(r > 0) & (r < self.cutoff)]
        return float(np.sum(self.density[neighbour][0](r)))


# --------------------------------------------------------------------------------------------
# the setfl writer
# --------------------------------------------------------------------------------------------

def _write_block(fd, values, per_line=5):
    values = np.asarray(values, dtype=float)
    for start in range(0, len(values), per_line):
        fd.write(" ".join(f"{v:.16e}" for v in values[start:start + per_line]))
        fd.write("\n")


def write_sutton_chen_eam_alloy(
    elements: Union[str, Sequence[str]],
    path: Union[str, os.PathLike],
    *,
    cutoff: Optional[float] = None,
    taper_width: float = DEFAULT_TAPER_WIDTH,
    nr: int = 5000,
    dr: Optional[float] = None,
    nrho: int = 10000,
    drho: Optional[float] = None,
    params: Optional[Mapping[str, SuttonChenParams]] = None,
) -> Path:
    """Write the Sutton–Chen potential of ``elements`` as a LAMMPS setfl (``.eam.alloy``) file.

    ``path`` is the file (it must end in ``.alloy``: ASE chooses the format by the extension)
    or an existing directory, in which ``SuttonChen_<elements>.eam.alloy`` is written.
    ``cutoff`` (Å) defaults to ``2 × max a``; φ and f are tapered to zero over the last
    ``taper_width`` Å. The distance grid is ``r_k = k·dr``, ``k = 0 … nr−1`` with ``dr``
    defaulting to ``cutoff / (nr − 1)``; the density grid ``ρ_k = k·drho``, ``k = 0 … nrho−1``
    with ``drho`` defaulting to ``rho_max / (nrho − 1)`` (see the module docstring).
    ``params`` replaces :data:`SUTTON_CHEN` (element → :class:`SuttonChenParams`).
    The element order of the file is the order of ``elements``. Returns the path written.

    Raises :class:`UnknownSuttonChenElementError` for an element without parameters and
    :class:`polymlp_lab.errors.PolymlpLabError` for inconsistent grids.
    """
    model = _Model(elements, params, cutoff, taper_width)
    elements, cutoff = model.elements, model.cutoff
    path = Path(path)
    if path.is_dir():
        path = path / f"SuttonChen_{''.join(elements)}.eam.alloy"
    if path.suffix != ".alloy":
        raise PolymlpLabError(
            f"{path}: an .eam.alloy file must end in '.alloy' (ASE picks the EAM format from "
            "the file extension)")

    nr, nrho = int(nr), int(nrho)
    if nr < 100 or nrho < 100:
        raise PolymlpLabError(f"nr and nrho must be at least 100, got nr={nr}, nrho={nrho}")
    if dr is None:
        dr = cutoff / (nr - 1)
    if not (np.isfinite(dr) and dr > 0) or (nr - 1) * dr < cutoff * (1 - 1e-12):
        raise PolymlpLabError(
            f"the r grid (nr={nr}, dr={dr}) must reach the cutoff {cutoff} Å")
    if drho is None:
        ne = len(elements)
        rho_ref = max(model.fcc_density(i, j) for i in range(ne) for j in range(ne))
        drho = 10.0 * rho_ref / (nrho - 1)  # rho_max: ten times the largest fcc density
    if not (np.isfinite(drho) and drho > 0):
        raise PolymlpLabError(f"drho must be positive, got {drho}")

    r = np.arange(nr) * dr
    rho = np.arange(nrho) * drho
    p = [model.params[e] for e in elements]
    header = [
        "Sutton-Chen (1990) potential, Phil. Mag. Lett. 61, 139; alloy mixing: Rafii-Tabar & "
        "Sutton, Phil. Mag. Lett. 63, 217 (1991), with per-element densities",
        f"written by polymlp_lab.properties.eam; cutoff {cutoff:.6g} A, quintic taper over the "
        f"last {model.taper_width:.6g} A",
        "; ".join(f"{e}: n={q.n:g} m={q.m:g} eps={q.epsilon:g} eV c={q.c:g} a={q.a:g} A"
                  for e, q in zip(elements, p)),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w") as fd:
        for line in header:
            fd.write(line.replace("\n", " ") + "\n")
        fd.write(f"{len(elements)} {' '.join(elements)}\n")
        fd.write(f"{nrho} {drho:.16e} {nr} {dr:.16e} {cutoff:.16e}\n")
        for i, (el, q) in enumerate(zip(elements, p)):
            z = atomic_numbers[el]
            fd.write(f"{z} {atomic_masses[z]:.6f} {q.a:.6f} fcc\n")
            _write_block(fd, model.embedding(i, rho))
            _write_block(fd, model.density[i][0](r))
        for i in range(len(elements)):
            for j in range(i + 1):
                _write_block(fd, r * model.pair[i][j][0](r))
    return path


def sutton_chen_calculator(elements: Union[str, Sequence[str]], directory, **kwargs):
    """Write ``SuttonChen_<elements>.eam.alloy`` into ``directory`` (created if needed) and
    return an :class:`ase.calculators.eam.EAM` reading it. ``kwargs`` go to
    :func:`write_sutton_chen_eam_alloy` (``cutoff``, ``taper_width``, grids, ``params``)."""
    from ase.calculators.eam import EAM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = write_sutton_chen_eam_alloy(elements, directory, **kwargs)
    return EAM(potential=str(path))  # ASE's reader wants a str (a Path is taken for a file object)


# --------------------------------------------------------------------------------------------
# NumPy reference
# --------------------------------------------------------------------------------------------

def sutton_chen_energy(
    atoms: Atoms,
    elements: Optional[Union[str, Sequence[str]]] = None,
    *,
    cutoff: Optional[float] = None,
    taper_width: float = DEFAULT_TAPER_WIDTH,
    params: Optional[Mapping[str, SuttonChenParams]] = None,
) -> Tuple[float, np.ndarray]:
    """Energy (eV) and forces (eV/Å, shape (N, 3)) of the tapered Sutton–Chen potential.

    Analytic, no tables: the reference for files written by
    :func:`write_sutton_chen_eam_alloy`. Pass the same ``elements`` (they set the default
    cutoff, ``2 × max a``), ``cutoff``, ``taper_width`` and ``params`` as for the file;
    ``elements`` defaults to the elements of ``atoms``.
    """
    symbols = atoms.get_chemical_symbols()
    if elements is None:
        elements = list(dict.fromkeys(symbols))
    model = _Model(elements, params, cutoff, taper_width)
    index = {e: k for k, e in enumerate(model.elements)}
    for s in dict.fromkeys(symbols):
        if s not in index:
            raise UnknownElementError(s, model.elements)
    t = np.array([index[s] for s in symbols], dtype=int)
    n = len(atoms)
    i, j, d, D = neighbor_list("ijdD", atoms, model.cutoff)
    ne = len(model.elements)

    rho = np.zeros(n)
    drho_dr = np.zeros(len(d))  # f_{t_j}'(r_ij)
    for b in range(ne):
        sel = t[j] == b
        rho += np.bincount(i[sel], weights=model.density[b][0](d[sel]), minlength=n)
        drho_dr[sel] = model.density[b][1](d[sel])
    phi = np.zeros(len(d))
    dphi = np.zeros(len(d))
    for a in range(ne):
        for b in range(ne):
            sel = (t[i] == a) & (t[j] == b)
            phi[sel] = model.pair[a][b][0](d[sel])
            dphi[sel] = model.pair[a][b][1](d[sel])

    energy = 0.5 * phi.sum()
    dF = np.zeros(n)
    for a in range(ne):
        sel = t == a
        energy += model.embedding(a, rho[sel]).sum()
        with np.errstate(divide="ignore"):
            dF[sel] = np.where(rho[sel] > 0, model.d_embedding(a, np.maximum(rho[sel], 1e-300)), 0.0)

    # E depends on r_ij through ½φ(r_ij) (each ordered pair) and F_i(ρ_i) via f_{t_j}(r_ij)
    g = 0.5 * dphi + dF[i] * drho_dr  # ∂E/∂r_ij for the ordered pair (i, j)
    pull = (g / d)[:, None] * D  # ∂E/∂x_j = g û_ij = −∂E/∂x_i
    forces = np.column_stack([np.bincount(i, weights=pull[:, k], minlength=n)
                              - np.bincount(j, weights=pull[:, k], minlength=n) for k in range(3)])
    return float(energy), forces

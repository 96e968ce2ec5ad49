"""Relaxation, equation of state, lattice constants and elastic constants from any ASE calculator.

Every function takes an :class:`ase.Atoms` and an ASE calculator (ours,
:class:`polymlp_lab.PolymlpCalculator`, or an empirical one such as EMT or EAM), works on a
copy and returns a dataclass: the caller's atoms are never modified. Units: eV, Å, eV/Å, GPa.

Strain conventions (used by :func:`elastic_constants`): Voigt order xx, yy, zz, yz, xz, xy
(ASE's), *engineering* shear strains (γ_yz = 2 ε_yz, ...), so that σ_i = Σ_j C_ij e_j with
σ the ASE stress (positive = tensile; ASE's stress is (1/V) ∂E/∂ε).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixSymmetry
from ase.filters import FrechetCellFilter, UnitCellFilter

from ..errors import InvalidStructureError, PolymlpLabError
from ..files import AsDict
from ..structures import check_structure
from ..units import EV_PER_A3_IN_GPA
from .symmetry import symmetry_dataset


# Equations of state of ase.eos whose fitted parameters are (E0, B0, B0', V0)
_EOS_WITH_B0_PRIME = ("murnaghan", "birch", "birchmurnaghan", "pouriertarantola", "vinet")


@dataclass(frozen=True)
class RelaxResult:
    """Outcome of :func:`relax`: ``atoms`` (the relaxed copy, without the symmetry constraint,
    with a SinglePointCalculator holding its energy eV, forces eV/Å and, for cell relaxations,
    stress eV/Å³), ``energy_per_atom`` (potential energy, not enthalpy even under pressure,
    eV/atom), ``converged`` (``fmax`` reached within ``steps``), ``steps`` (optimizer steps
    taken) and ``max_force`` (largest atomic force at the end, eV/Å, after symmetrisation)."""

    atoms: Atoms
    energy_per_atom: float
    converged: bool
    steps: int
    max_force: float

    def as_dict(self) -> dict:
        """JSON-ready summary: the scalars, the relaxed cell (Å) and the formula."""
        return {"formula": self.atoms.get_chemical_formula(),
                "cell_A": self.atoms.cell.array.tolist(),
                "energy_per_atom_eV": self.energy_per_atom, "converged": self.converged,
                "steps": self.steps, "max_force_eV_per_A": self.max_force}


@dataclass(frozen=True)
class EquationOfStateResult(AsDict):
    """Outcome of :func:`equation_of_state`: ``volumes`` (Å³/atom) and ``energies`` (eV/atom)
    of the curve as arrays, the fitted ``v0`` (Å³/atom), ``e0`` (eV/atom), ``b0`` (GPa) and
    ``b0_prime`` (dimensionless; NaN for fits without it), ``eos`` (the equation of state's
    name) and ``strains`` (the volumetric strains, array)."""

    volumes: np.ndarray
    energies: np.ndarray
    v0: float
    e0: float
    b0: float
    b0_prime: float
    eos: str
    strains: np.ndarray


@dataclass(frozen=True)
class LatticeConstants(AsDict):
    """Outcome of :func:`lattice_constants`: ``a``, ``b``, ``c`` (Å), ``alpha``, ``beta``,
    ``gamma`` (degrees, angles between b–c, a–c and a–b), ``spacegroup`` (international
    symbol), ``number`` (1–230) and ``n_atoms`` (of the conventional cell)."""

    a: float
    b: float
    c: float
    alpha: float
    beta: float
    gamma: float
    spacegroup: str
    number: int
    n_atoms: int


@dataclass(frozen=True)
class ElasticConstants(AsDict):
    """Outcome of :func:`elastic_constants`, all in GPa: ``C`` (6×6, Voigt order xx yy zz yz
    xz xy), ``asymmetry`` (max |C_ij − C_ji|/2 of the raw differences: numerical noise and
    residual stress), ``bulk_voigt``, ``bulk_reuss``, ``bulk_hill``, ``shear_voigt``,
    ``shear_reuss``, ``shear_hill``, ``eigenvalues`` (of C), ``stable`` (all eigenvalues > 0:
    Born stability; a bool) and ``residual_stress`` (σ₀, Voigt)."""

    C: np.ndarray
    asymmetry: float
    bulk_voigt: float
    bulk_reuss: float
    bulk_hill: float
    shear_voigt: float
    shear_reuss: float
    shear_hill: float
    eigenvalues: np.ndarray
    stable: bool
    residual_stress: np.ndarray


def _positive(name: str, value) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise PolymlpLabError(f"{name} must be a positive number, got {value!r}")
    return value


def _optimizer_class(optimizer):
    if not isinstance(optimizer, str):
        return optimizer
    from ase import optimize

    names = {"bfgs": optimize.BFGS, "fire": optimize.FIRE, "lbfgs": optimize.LBFGS,
             "bfgslinesearch": optimize.BFGSLineSearch}
    try:
        return names[optimizer.lower()]
    except KeyError:
        raise PolymlpLabError(
            f"unknown optimizer '{optimizer}' (choose from {', '.join(sorted(names))} or pass a class)"
        ) from None


def relax(
    atoms: Atoms,
    calc,
    *,
    fmax: float = 1e-4,
    cell: bool = True,
    steps: int = 500,
    hydrostatic: bool = False,
    keep_symmetry: bool = True,
    symprec: float = 0.01,
    pressure: float = 0.0,
    optimizer: Union[str, type] = "BFGS",
    cell_filter: str = "frechet",
) -> RelaxResult:
    """Relax atomic positions (and, with ``cell``, all six cell components; only the volume
    with ``hydrostatic``) of a copy of ``atoms`` with any ASE calculator (giving stress for
    cell relaxations).

    ``fmax`` (eV/Å) bounds the atomic forces and, with ``cell``, the generalised cell forces
    of :class:`ase.filters.FrechetCellFilter` (stress × volume per atom). Running out of
    ``steps`` is not an error: ``converged`` is False. ``keep_symmetry`` constrains forces,
    stress and steps to the initial space group (:class:`ase.constraints.FixSymmetry`,
    ``symprec`` Å). ``pressure`` (GPa, cell relaxations) makes the enthalpy the target.
    ``optimizer``: "BFGS", "FIRE", "LBFGS", "BFGSLineSearch" or an ASE optimizer class.
    ``cell_filter``: "frechet" (ASE's FrechetCellFilter: log strain, steps the same at any
    deformation) or "unit" (UnitCellFilter: linear strain, the same fmax criterion and
    minima, without the 3×3 matrix logarithms that cost a small cell several times its
    MLP evaluation; what the structure search uses).

    Raises InvalidStructureError (no atoms, NaN positions, ``cell`` on a structure that is
    not fully periodic) and PolymlpLabError (``fmax`` not positive, negative ``steps``, an
    unknown optimizer or cell filter).
    """
    check_structure(atoms, periodic=cell)
    fmax = _positive("fmax", fmax)
    steps = int(steps)
    if steps < 0:
        raise PolymlpLabError(f"steps must be >= 0, got {steps}")
    opt_class = _optimizer_class(optimizer)
    filters = {"frechet": FrechetCellFilter, "unit": UnitCellFilter}
    if cell_filter not in filters:
        raise PolymlpLabError(f"unknown cell_filter '{cell_filter}' (choose frechet or unit)")

    work = atoms.copy()
    original_constraints = [c.copy() for c in work.constraints]
    if keep_symmetry:
        work.set_constraint(original_constraints + [FixSymmetry(work, symprec=symprec)])
    work.calc = calc

    target = (filters[cell_filter](work, hydrostatic_strain=hydrostatic,
                                   scalar_pressure=float(pressure) / EV_PER_A3_IN_GPA)
              if cell else work)
    opt = opt_class(target, logfile=None)
    # the cell filter makes hundreds of tiny 3x3 linear-algebra calls, which threaded BLAS
    # slows ~100-fold on a small machine
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        converged = bool(opt.run(fmax=fmax, steps=steps))

    energy = float(work.get_potential_energy())
    forces = work.get_forces()  # with the constraints applied (symmetrised)
    stress = work.get_stress() if cell else None
    work.set_constraint(original_constraints)
    work.calc = SinglePointCalculator(work, energy=energy, forces=forces, stress=stress)
    return RelaxResult(
        atoms=work,
        energy_per_atom=energy / len(work),
        converged=converged,
        steps=int(opt.nsteps),
        max_force=float(np.sqrt((forces**2).sum(axis=1)).max()),
    )


def equation_of_state(
    atoms: Atoms,
    calc,
    *,
    strains: Sequence[float] = tuple(np.linspace(-0.06, 0.06, 9)),
    eos: str = "birchmurnaghan",
    relax_ions: bool = False,
    fmax: float = 1e-4,
) -> EquationOfStateResult:
    """Energy–volume curve and its fit around the volume V_in of ``atoms`` (fully periodic;
    give a relaxed structure for a curve centred on its minimum).

    Each point is the structure scaled uniformly to V = V_in (1 + s) for the *volumetric*
    strain s in ``strains`` (at least 5 distinct, each > -1; cell shape and fractional
    coordinates kept), with ``relax_ions`` its positions relaxed (no symmetry constraint) to
    ``fmax`` eV/Å. ``eos`` is an equation of state of :class:`ase.eos.EquationOfState`
    ("birchmurnaghan", "murnaghan", "birch", "vinet", "pouriertarantola", "sj", ...).

    Returns an :class:`EquationOfStateResult`. Raises InvalidStructureError (empty or
    non-periodic structure) and PolymlpLabError (bad strains, a fit that fails).
    """
    from ase.eos import EquationOfState

    check_structure(atoms, periodic=True)
    strains = np.asarray(strains, dtype=float).reshape(-1)
    if len(np.unique(strains)) < 5 or not np.all(np.isfinite(strains)) or np.any(strains <= -1):
        raise PolymlpLabError(
            f"equation_of_state needs at least 5 distinct finite volumetric strains > -1, got {strains.tolist()}"
        )
    base = atoms.copy()  # a copy has no calculator
    base.set_constraint()
    cell0 = base.cell.array.copy()
    n = len(base)
    volumes, energies = [], []
    for s in strains:
        strained = base.copy()
        strained.set_cell(cell0 * (1.0 + s) ** (1.0 / 3.0), scale_atoms=True)
        if relax_ions:
            energy = relax(strained, calc, fmax=fmax, cell=False, keep_symmetry=False).energy_per_atom
        else:
            strained.calc = calc
            energy = float(strained.get_potential_energy()) / n
        volumes.append(strained.get_volume() / n)
        energies.append(energy)
    volumes, energies = np.array(volumes), np.array(energies)

    fit = EquationOfState(volumes, energies, eos=eos)
    try:
        v0, e0, b0 = fit.fit(warn=False)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        raise PolymlpLabError(f"EOS fit '{eos}' failed: {err}") from err
    b0_prime = float(fit.eos_parameters[2]) if eos in _EOS_WITH_B0_PRIME else float("nan")
    return EquationOfStateResult(
        volumes=volumes, energies=energies, v0=float(v0), e0=float(e0),
        b0=float(b0) * EV_PER_A3_IN_GPA, b0_prime=b0_prime, eos=eos, strains=strains,
    )


def lattice_constants(atoms: Atoms, *, symprec: float = 1e-3) -> LatticeConstants:
    """Lattice parameters of spglib's standardised conventional cell (``std_lattice``, found
    with tolerance ``symprec`` Å and idealised: 4 atoms for fcc, 2 for bcc; hexagonal axes for
    hexagonal and rhombohedral lattices; Niggli-reduced for triclinic).

    Returns :class:`LatticeConstants`. Raises InvalidStructureError for an empty or
    non-periodic structure, or one in which spglib finds no symmetry.
    """
    check_structure(atoms, periodic=True)
    dataset = symmetry_dataset(atoms, symprec=symprec)
    if dataset is None:
        raise InvalidStructureError(f"spglib found no symmetry (symprec={symprec} Å)")
    from ase.geometry import cell_to_cellpar

    cellpar = cell_to_cellpar(np.asarray(dataset.std_lattice))  # a, b, c, alpha, beta, gamma
    return LatticeConstants(*map(float, cellpar), spacegroup=str(dataset.international),
                            number=int(dataset.number), n_atoms=int(len(dataset.std_types)))


def strained(atoms: Atoms, voigt) -> Atoms:
    """Copy of ``atoms`` homogeneously deformed by the Voigt strain ``voigt`` = (e_xx, e_yy,
    e_zz, γ_yz, γ_xz, γ_xy), γ = 2 ε the engineering shears: every cell vector and position
    r → (I + ε) r. No calculator, no constraints."""
    e = np.asarray(voigt, dtype=float).reshape(6)
    epsilon = np.array([[e[0], e[5] / 2, e[4] / 2],
                        [e[5] / 2, e[1], e[3] / 2],
                        [e[4] / 2, e[3] / 2, e[2]]])
    out = atoms.copy()  # a copy has no calculator
    out.set_constraint()
    out.set_cell(atoms.cell.array @ (np.eye(3) + epsilon).T, scale_atoms=True)
    return out


def _moduli(C: np.ndarray) -> dict:
    """Voigt, Reuss and Hill bulk and shear moduli (GPa) of a 6×6 stiffness matrix (GPa)."""
    kv = (C[0, 0] + C[1, 1] + C[2, 2] + 2 * (C[0, 1] + C[1, 2] + C[0, 2])) / 9
    gv = (C[0, 0] + C[1, 1] + C[2, 2] - (C[0, 1] + C[1, 2] + C[0, 2])
          + 3 * (C[3, 3] + C[4, 4] + C[5, 5])) / 15
    try:
        S = np.linalg.inv(C)
        kr = 1.0 / (S[0, 0] + S[1, 1] + S[2, 2] + 2 * (S[0, 1] + S[1, 2] + S[0, 2]))
        gr = 15.0 / (4 * (S[0, 0] + S[1, 1] + S[2, 2]) - 4 * (S[0, 1] + S[1, 2] + S[0, 2])
                     + 3 * (S[3, 3] + S[4, 4] + S[5, 5]))
    except np.linalg.LinAlgError:
        kr = gr = float("nan")
    return dict(bulk_voigt=float(kv), bulk_reuss=float(kr), bulk_hill=float((kv + kr) / 2),
                shear_voigt=float(gv), shear_reuss=float(gr), shear_hill=float((gv + gr) / 2))


def elastic_constants(
    atoms: Atoms,
    calc,
    *,
    delta: float = 0.005,
    relax_ions: bool = True,
    fmax: float = 1e-5,
) -> ElasticConstants:
    """Full 6×6 elastic stiffness (GPa) of a fully periodic, preferably relaxed structure
    from stress–strain central differences, for any crystal class.

    For each Voigt component j the cell and atoms are deformed by strains ±``delta`` (an
    engineering shear for j = 4–6; truncation error O(δ²)) and C_ij = (σ_i(+δ) − σ_i(−δ)) /
    (2δ), σ the ASE stress; the result is symmetrised, (C + Cᵀ)/2. A residual stress σ₀ adds
    O(σ₀) terms. ``relax_ions`` (default) relaxes the positions in each strained cell to
    ``fmax`` eV/Å: relaxed-ion constants, the physical ones where atoms have internal degrees
    of freedom (hcp, diamond, most compounds); False gives clamped-ion constants.

    Returns :class:`ElasticConstants`. Raises InvalidStructureError (empty or non-periodic
    structure) and PolymlpLabError (``delta`` not positive or >= 0.1).
    """
    check_structure(atoms, periodic=True)
    delta = _positive("delta", delta)
    if delta >= 0.1:
        raise PolymlpLabError(f"delta is a small strain; got {delta} (use e.g. 0.005)")

    def stress(voigt) -> np.ndarray:
        work = strained(atoms, voigt)
        if relax_ions:
            work = relax(work, calc, fmax=fmax, cell=False, keep_symmetry=False).atoms
        work.calc = calc
        return np.array(work.get_stress(voigt=True), dtype=float)

    raw = np.zeros((6, 6))
    for j, e in enumerate(np.eye(6) * delta):
        raw[:, j] = (stress(e) - stress(-e)) / (2 * delta)
    raw *= EV_PER_A3_IN_GPA
    C = (raw + raw.T) / 2
    eigenvalues = np.linalg.eigvalsh(C)
    return ElasticConstants(C=C, asymmetry=float(np.abs(raw - raw.T).max() / 2), **_moduli(C),
                            eigenvalues=eigenvalues, stable=bool(eigenvalues.min() > 0),
                            residual_stress=stress(np.zeros(6)) * EV_PER_A3_IN_GPA)

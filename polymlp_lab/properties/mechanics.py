"""Relaxation, equation of state, lattice constants and elastic constants from any ASE calculator.

Every function takes an :class:`ase.Atoms` and an ASE calculator (ours,
:class:`polymlp_lab.PolymlpCalculator`, or an empirical one such as EMT or EAM), works on a
copy and returns plain data: the caller's atoms are never modified. Units: eV, Å, eV/Å, GPa.

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

from ..errors import InvalidStructureError, PolymlpLabError
from ..structures import check_structure
from ..units import EV_PER_A3_IN_GPA
from .symmetry import symmetry_dataset

try:  # ASE >= 3.23
    from ase.filters import FrechetCellFilter as _CellFilter
except ImportError:  # pragma: no cover - older ASE
    from ase.constraints import ExpCellFilter as _CellFilter

__all__ = [
    "RelaxResult", "relax", "equation_of_state", "lattice_constants", "elastic_constants",
    "voigt_strain_matrix",
]

# Equations of state of ase.eos whose fitted parameters are (E0, B0, B0', V0)
_EOS_WITH_B0_PRIME = ("murnaghan", "birch", "birchmurnaghan", "pouriertarantola", "vinet")


@dataclass(frozen=True)
class RelaxResult:
    """Outcome of :func:`relax`.

    Attributes
    ----------
    atoms : ase.Atoms
        The relaxed copy, with a :class:`~ase.calculators.singlepoint.SinglePointCalculator`
        holding its energy (eV), forces (eV/Å) and, for cell relaxations, stress (eV/Å³).
        The symmetry constraint used during the relaxation is removed.
    energy_per_atom : float
        Potential energy (not enthalpy, even under pressure), eV/atom.
    converged : bool
        Whether the optimizer reached ``fmax`` within ``steps``.
    steps : int
        Optimizer steps taken.
    max_force : float
        Largest atomic force at the end, eV/Å (after symmetrisation, if kept).
    """

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
) -> RelaxResult:
    """Relax atomic positions (and the cell) of a copy of ``atoms``.

    Parameters
    ----------
    atoms : ase.Atoms
        Starting structure; not modified.
    calc : ase.calculators.calculator.Calculator
        Any ASE calculator (it must give stress when ``cell`` is True).
    fmax : float
        Convergence criterion, eV/Å: largest atomic force and, with ``cell``, largest
        generalised cell force of :class:`ase.filters.FrechetCellFilter` (virial per atom in eV,
        i.e. stress × volume per atom).
    cell : bool
        Also relax the cell (all six components; needs full periodicity).
    steps : int
        Maximum optimizer steps. Running out is not an error: ``converged`` is False.
    hydrostatic : bool
        Only scale the cell uniformly (shape fixed).
    keep_symmetry : bool
        Constrain forces, stress and steps to the initial space group
        (:class:`ase.constraints.FixSymmetry`, spglib with ``symprec`` Å).
    symprec : float
        Symmetry tolerance, Å.
    pressure : float
        External hydrostatic pressure, GPa (cell relaxations only); the result minimises the
        enthalpy but ``energy_per_atom`` is the potential energy.
    optimizer : str or class
        "BFGS" (default), "FIRE", "LBFGS", "BFGSLineSearch" or an ASE optimizer class.

    Returns
    -------
    RelaxResult
        Relaxed copy, energy per atom (eV), convergence flag, steps and final max force.

    Raises
    ------
    InvalidStructureError
        No atoms, NaN positions, or ``cell=True`` on a structure that is not fully periodic.
    PolymlpLabError
        Non-positive ``fmax``, negative ``steps`` or an unknown optimizer.
    """
    check_structure(atoms, periodic=cell)
    fmax = _positive("fmax", fmax)
    steps = int(steps)
    if steps < 0:
        raise PolymlpLabError(f"steps must be >= 0, got {steps}")
    opt_class = _optimizer_class(optimizer)

    work = atoms.copy()
    original_constraints = [c.copy() for c in work.constraints]
    if keep_symmetry:
        work.set_constraint(original_constraints + [FixSymmetry(work, symprec=symprec)])
    work.calc = calc

    if cell:
        target = _CellFilter(work, hydrostatic_strain=hydrostatic,
                             scalar_pressure=float(pressure) / EV_PER_A3_IN_GPA)
    else:
        target = work
    opt = opt_class(target, logfile=None)
    # the cell filter makes hundreds of tiny 3x3 linear-algebra calls, which threaded BLAS
    # slows ~100-fold on a small machine
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        converged = bool(opt.run(fmax=fmax, steps=steps))

    energy = float(work.get_potential_energy())
    forces = work.get_forces()  # with the constraints applied (symmetrised)
    results = dict(energy=energy, forces=forces)
    if cell:
        results["stress"] = work.get_stress()
    work.calc = None
    work.set_constraint(original_constraints)
    work.calc = SinglePointCalculator(work, **results)
    return RelaxResult(
        atoms=work,
        energy_per_atom=energy / len(work),
        converged=converged,
        steps=int(opt.nsteps),
        max_force=float(np.sqrt((forces**2).sum(axis=1)).max()),
    )


def _energy_per_atom(atoms: Atoms, calc) -> float:
    atoms.calc = calc
    energy = float(atoms.get_potential_energy()) / len(atoms)
    atoms.calc = None
    return energy


def equation_of_state(
    atoms: Atoms,
    calc,
    *,
    strains: Sequence[float] = tuple(np.linspace(-0.06, 0.06, 9)),
    eos: str = "birchmurnaghan",
    relax_ions: bool = False,
    fmax: float = 1e-4,
) -> dict:
    """Energy–volume curve and its fit around the volume of ``atoms``.

    Each point is the structure scaled uniformly to the volume V = V_in (1 + s) for the
    *volumetric* strain s in ``strains`` (cell shape and fractional coordinates kept), where
    V_in is the volume of ``atoms``. Give a relaxed structure for a curve centred on its
    minimum.

    Parameters
    ----------
    atoms : ase.Atoms
        Fully periodic structure; not modified.
    calc : ase.calculators.calculator.Calculator
        Any ASE calculator.
    strains : sequence of float
        Volumetric strains (at least 5 distinct, each > -1).
    eos : str
        Equation of state of :class:`ase.eos.EquationOfState`: "birchmurnaghan" (default),
        "murnaghan", "birch", "vinet", "pouriertarantola", "sj", "taylor", "p3", ...
    relax_ions : bool
        Relax atomic positions at each fixed cell (no symmetry constraint) before taking the
        energy, to ``fmax`` eV/Å.
    fmax : float
        Force criterion of the ionic relaxations, eV/Å.

    Returns
    -------
    dict
        ``volumes`` (Å³/atom) and ``energies`` (eV/atom) as arrays, the fitted ``v0``
        (Å³/atom), ``e0`` (eV/atom), ``b0`` (GPa) and ``b0_prime`` (dimensionless; NaN for
        fits without that parameter), ``eos`` (name) and ``strains``.

    Raises
    ------
    InvalidStructureError
        Empty or non-periodic structure.
    PolymlpLabError
        Fewer than 5 distinct strains, a strain <= -1, or a fit that fails.
    """
    from ase.eos import EquationOfState

    check_structure(atoms, periodic=True)
    strains = np.asarray(strains, dtype=float).reshape(-1)
    if len(np.unique(strains)) < 5 or not np.all(np.isfinite(strains)) or np.any(strains <= -1):
        raise PolymlpLabError(
            f"equation_of_state needs at least 5 distinct finite volumetric strains > -1, got {strains.tolist()}"
        )
    base = atoms.copy()
    base.calc = None
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
            energy = _energy_per_atom(strained, calc)
        volumes.append(strained.get_volume() / n)
        energies.append(energy)
    volumes, energies = np.array(volumes), np.array(energies)

    fit = EquationOfState(volumes, energies, eos=eos)
    try:
        v0, e0, b0 = fit.fit(warn=False)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        raise PolymlpLabError(f"EOS fit '{eos}' failed: {err}") from err
    b0_prime = float("nan")
    if eos in _EOS_WITH_B0_PRIME:
        b0_prime = float(fit.eos_parameters[2])
    return dict(
        volumes=volumes, energies=energies, v0=float(v0), e0=float(e0),
        b0=float(b0) * EV_PER_A3_IN_GPA, b0_prime=b0_prime, eos=eos, strains=strains,
    )


def lattice_constants(atoms: Atoms, *, symprec: float = 1e-3) -> dict:
    """Lattice parameters of the standardised conventional cell (spglib).

    The cell reported is spglib's ``std_lattice``: the conventional cell of the space group
    found with tolerance ``symprec`` (cubic cell of 4 atoms for fcc, 2 for bcc; hexagonal
    axes for hexagonal *and* rhombohedral lattices; for triclinic, the Niggli-reduced cell),
    symmetrised ("idealised"), so that a, b, c, α, β, γ follow the crystal system exactly.

    Parameters
    ----------
    atoms : ase.Atoms
        Fully periodic structure; not modified.
    symprec : float
        Symmetry tolerance, Å.

    Returns
    -------
    dict
        ``a``, ``b``, ``c`` (Å), ``alpha``, ``beta``, ``gamma`` (degrees, angles between b–c,
        a–c and a–b), ``spacegroup`` (international symbol), ``number`` (1–230) and
        ``n_atoms`` (atoms in the conventional cell).

    Raises
    ------
    InvalidStructureError
        Empty or non-periodic structure, or spglib finds no symmetry at this ``symprec``.
    """
    check_structure(atoms, periodic=True)
    dataset = symmetry_dataset(atoms, symprec=symprec)
    if dataset is None:
        raise InvalidStructureError(f"spglib found no symmetry (symprec={symprec} Å)")
    from ase.geometry import cell_to_cellpar

    a, b, c, alpha, beta, gamma = cell_to_cellpar(np.asarray(dataset.std_lattice))
    return dict(a=float(a), b=float(b), c=float(c), alpha=float(alpha), beta=float(beta),
                gamma=float(gamma), spacegroup=str(dataset.international),
                number=int(dataset.number), n_atoms=int(len(dataset.std_types)))


def voigt_strain_matrix(voigt) -> np.ndarray:
    """Symmetric 3×3 strain tensor of a Voigt strain vector with engineering shears.

    ``voigt`` = (e_xx, e_yy, e_zz, γ_yz, γ_xz, γ_xy) with γ = 2 ε (dimensionless).
    """
    e = np.asarray(voigt, dtype=float).reshape(6)
    return np.array([[e[0], e[5] / 2, e[4] / 2],
                     [e[5] / 2, e[1], e[3] / 2],
                     [e[4] / 2, e[3] / 2, e[2]]])


def strained(atoms: Atoms, voigt) -> Atoms:
    """Copy of ``atoms`` homogeneously deformed by the Voigt strain ``voigt`` (engineering
    shears): every cell vector and position r → (I + ε) r. No calculator, no constraints."""
    deformation = np.eye(3) + voigt_strain_matrix(voigt)
    out = atoms.copy()
    out.calc = None
    out.set_constraint()
    out.set_cell(atoms.cell.array @ deformation.T, scale_atoms=True)
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
) -> dict:
    """Full 6×6 elastic stiffness from stress–strain central differences.

    For each Voigt component j the cell (and atoms) are deformed by strains ±``delta`` (an
    engineering shear γ = ±``delta`` for j = 4–6) and C_ij = (σ_i(+δ) − σ_i(−δ)) / (2δ), with σ
    the ASE stress (positive tensile). The result is symmetrised, (C + Cᵀ)/2; valid for any
    crystal class. Give a relaxed structure: with residual stress σ₀ the finite differences
    carry O(σ₀) terms (``residual_stress`` reports σ₀).

    Parameters
    ----------
    atoms : ase.Atoms
        Fully periodic, preferably relaxed, structure; not modified.
    calc : ase.calculators.calculator.Calculator
        Any ASE calculator that gives stress.
    delta : float
        Strain amplitude (dimensionless). Truncation error is O(δ²).
    relax_ions : bool
        Relax atomic positions at each strained cell (default): relaxed-ion constants, the
        physical ones for structures with internal degrees of freedom (hcp, diamond, most
        compounds); for one-atom Bravais lattices the forces vanish and nothing moves. False
        gives clamped-ion constants (cheaper; too stiff when atoms can relax).
    fmax : float
        Force criterion of those ionic relaxations, eV/Å.

    Returns
    -------
    dict
        ``C`` (6×6 GPa, Voigt order xx yy zz yz xz xy), ``asymmetry`` (max |C_ij − C_ji|/2 of the
        raw differences, GPa: a measure of numerical noise and residual stress),
        ``bulk_voigt``, ``bulk_reuss``, ``bulk_hill``, ``shear_voigt``, ``shear_reuss``,
        ``shear_hill`` (GPa), ``eigenvalues`` (of C, GPa), ``stable`` (all eigenvalues > 0:
        Born stability) and ``residual_stress`` (σ of the unstrained structure, Voigt, GPa).

    Raises
    ------
    InvalidStructureError
        Empty or non-periodic structure.
    PolymlpLabError
        Non-positive or too large (>= 0.1) ``delta``.
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
        sigma = np.array(work.get_stress(voigt=True), dtype=float)
        work.calc = None
        return sigma

    raw = np.zeros((6, 6))
    for j in range(6):
        e = np.zeros(6)
        e[j] = delta
        raw[:, j] = (stress(e) - stress(-e)) / (2 * delta)
    raw *= EV_PER_A3_IN_GPA
    C = (raw + raw.T) / 2
    eigenvalues = np.linalg.eigvalsh(C)
    return dict(
        C=C,
        asymmetry=float(np.abs(raw - raw.T).max() / 2),
        **_moduli(C),
        eigenvalues=eigenvalues,
        stable=bool(eigenvalues.min() > 0),
        residual_stress=stress(np.zeros(6)) * EV_PER_A3_IN_GPA,
    )

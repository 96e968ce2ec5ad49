"""Material properties from any ASE calculator (polymlp_lab.properties): relaxation, equation
of state, elastic constants, phonons and the binary convex hull.

The physics checks use ASE's EMT (fast, empirical) and compare each property with an
independent route to it: the relaxed lattice constant with a direct minimisation of E(a),
B0 of the EOS with (C11 + 2 C12)/3, stress–strain constants with second derivatives of the
energy, phonopy's frequencies with ASE's own finite-displacement phonons, the hull with scipy.
One test runs the same functions with our PolymlpCalculator.
"""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar
from scipy.spatial import ConvexHull

from polymlp_lab import PolymlpCalculator
from polymlp_lab.errors import InvalidStructureError, PolymlpLabError
from polymlp_lab.properties.hull import composition_fraction, convex_hull, formation_energies
from polymlp_lab.properties.mechanics import (
    elastic_constants, equation_of_state, lattice_constants, relax, strained,
)
from polymlp_lab.properties.phonons import phonon_properties
from polymlp_lab.units import EV_PER_A3_IN_GPA

from conftest import random_potential


def _emt_energy_per_atom(atoms):
    atoms = atoms.copy()
    atoms.calc = EMT()
    return atoms.get_potential_energy() / len(atoms)


@pytest.fixture(scope="module")
def cu_relaxed():
    """EMT fcc Cu, 4-atom cubic cell, relaxed from a = 3.70 Å."""
    result = relax(bulk("Cu", "fcc", a=3.70, cubic=True), EMT(), fmax=1e-6)
    assert result.converged
    return result


@pytest.fixture(scope="module")
def cu_elastic(cu_relaxed):
    return elastic_constants(cu_relaxed.atoms, EMT())


# ---------------------------------------------------------------- relaxation


def test_relaxed_lattice_constant_is_the_energy_minimum(cu_relaxed):
    # independent route: minimise E(a) of the cubic cell directly (scan to bracket, then Brent)
    def energy(a):
        return _emt_energy_per_atom(bulk("Cu", "fcc", a=a, cubic=True))

    grid = np.linspace(3.4, 3.8, 41)
    a_scan = grid[np.argmin([energy(a) for a in grid])]
    best = minimize_scalar(energy, bounds=(a_scan - 0.01, a_scan + 0.01), method="bounded",
                           options=dict(xatol=1e-7))
    lattice = lattice_constants(cu_relaxed.atoms)
    assert lattice.spacegroup == "Fm-3m" and lattice.number == 225
    assert lattice.n_atoms == 4
    assert lattice.a == pytest.approx(best.x, abs=1e-4)
    assert lattice.b == lattice.a and lattice.c == lattice.a
    assert (lattice.alpha, lattice.beta, lattice.gamma) == (90.0, 90.0, 90.0)
    assert cu_relaxed.energy_per_atom == pytest.approx(best.fun, abs=1e-9)
    assert 3.5 < best.x < 3.7  # EMT's Cu is ~3.59 Å: the scan found the right minimum
    # the primitive cell reports the same conventional lattice
    primitive = relax(bulk("Cu", "fcc", a=3.5), EMT(), fmax=1e-6)
    assert lattice_constants(primitive.atoms).a == pytest.approx(best.x, abs=1e-4)
    assert abs(primitive.atoms.get_stress()).max() * EV_PER_A3_IN_GPA < 1e-3


def test_relax_without_symmetry_restores_the_cubic_cell():
    start = bulk("Cu", "fcc", a=3.6, cubic=True)
    start.set_cell(start.cell.array @ np.diag([1.0, 1.0, 1.03]), scale_atoms=True)
    start.rattle(0.02, seed=3)
    result = relax(start, EMT(), fmax=1e-5, keep_symmetry=False, steps=1000)
    assert result.converged and result.max_force < 1e-5
    a, b, c = result.atoms.cell.lengths()
    assert b == pytest.approx(a, abs=1e-3) and c == pytest.approx(a, abs=1e-3)
    assert lattice_constants(result.atoms, symprec=1e-3).number == 225


def test_relax_with_fixed_cell_and_hydrostatic():
    start = bulk("Cu", "fcc", a=3.65, cubic=True)
    start.rattle(0.05, seed=1)
    fixed = relax(start, EMT(), cell=False, keep_symmetry=False)
    assert fixed.converged and np.allclose(fixed.atoms.cell.array, start.cell.array)
    # hydrostatic relaxation of a tetragonal cell keeps c/a
    tetragonal = bulk("Cu", "fcc", a=3.6, cubic=True)
    tetragonal.set_cell(tetragonal.cell.array @ np.diag([1.0, 1.0, 1.05]), scale_atoms=True)
    result = relax(tetragonal, EMT(), hydrostatic=True, fmax=1e-5)
    lengths = result.atoms.cell.lengths()
    assert lengths[2] / lengths[0] == pytest.approx(1.05, rel=1e-9)
    assert lengths[0] != pytest.approx(3.6, abs=1e-3)  # the volume did change
    # the pressure term: relaxing under 5 GPa gives a smaller cell with stress -5 GPa
    squeezed = relax(bulk("Cu", "fcc", a=3.6), EMT(), pressure=5.0, fmax=1e-6)
    stress = squeezed.atoms.get_stress() * EV_PER_A3_IN_GPA
    assert np.allclose(stress[:3], -5.0, atol=1e-3) and np.allclose(stress[3:], 0.0, atol=1e-6)


def test_relax_never_raises_when_out_of_steps():
    start = bulk("Cu", "fcc", a=3.95)
    before = start.copy()
    result = relax(start, EMT(), steps=1)
    assert result.converged is False and result.steps == 1
    assert np.isfinite(result.energy_per_atom) and result.max_force >= 0
    # the caller's atoms are untouched; the result carries its own (single point) results
    assert start.calc is None and np.array_equal(start.cell.array, before.cell.array)
    assert result.atoms.get_potential_energy() == pytest.approx(result.energy_per_atom)
    assert result.atoms.constraints == []
    assert relax(start, EMT(), steps=0).steps == 0


# ---------------------------------------------------------------- EOS and elastic constants


def test_eos_bulk_modulus_equals_elastic_bulk_modulus(cu_relaxed, cu_elastic):
    eos = equation_of_state(cu_relaxed.atoms, EMT())
    C = cu_elastic.C
    bulk_from_c = (C[0, 0] + 2 * C[0, 1]) / 3
    assert eos.b0 == pytest.approx(bulk_from_c, rel=0.02)
    assert cu_elastic.bulk_voigt == pytest.approx(bulk_from_c, rel=1e-12)
    assert cu_elastic.bulk_reuss == pytest.approx(bulk_from_c, rel=1e-9)  # equal for cubic
    volume = cu_relaxed.atoms.get_volume() / len(cu_relaxed.atoms)
    assert eos.v0 == pytest.approx(volume, rel=1e-3)
    assert eos.e0 == pytest.approx(cu_relaxed.energy_per_atom, abs=1e-5)
    assert eos.volumes.shape == eos.energies.shape == (9,)
    assert eos.volumes == pytest.approx(volume * (1 + np.linspace(-0.06, 0.06, 9)))
    assert 3.0 < eos.b0_prime < 7.0
    # the energies are those of the scaled structures
    scaled = cu_relaxed.atoms.copy()
    scaled.set_cell(scaled.cell * 1.06 ** (1 / 3), scale_atoms=True)
    assert eos.energies[-1] == pytest.approx(_emt_energy_per_atom(scaled), abs=1e-12)
    # fcc has no internal coordinates: relaxing the ions at each volume changes nothing
    relaxed_ions = equation_of_state(cu_relaxed.atoms, EMT(), strains=[-0.03, -0.015, 0, 0.015, 0.03],
                                     relax_ions=True, eos="vinet")
    assert relaxed_ions.energies == pytest.approx(eos.energies[2:7], abs=1e-12)
    assert relaxed_ions.b0 == pytest.approx(eos.b0, rel=0.02)


def test_elastic_constants_have_cubic_symmetry(cu_relaxed, cu_elastic):
    C = cu_elastic.C
    scale = C[0, 0]
    tol = 1e-3 * scale
    assert C[1, 1] == pytest.approx(C[0, 0], abs=tol) and C[2, 2] == pytest.approx(C[0, 0], abs=tol)
    assert C[0, 2] == pytest.approx(C[0, 1], abs=tol) and C[1, 2] == pytest.approx(C[0, 1], abs=tol)
    assert C[4, 4] == pytest.approx(C[3, 3], abs=tol) and C[5, 5] == pytest.approx(C[3, 3], abs=tol)
    zero = np.ones((6, 6), dtype=bool)
    zero[:3, :3] = False
    zero[[3, 4, 5], [3, 4, 5]] = False
    assert np.abs(C[zero]).max() < tol
    assert cu_elastic.asymmetry < tol  # the raw stress–strain differences, before (C + Cᵀ)/2
    assert cu_elastic.stable and cu_elastic.eigenvalues.min() > 0
    assert C[0, 0] > C[0, 1] > 0 and C[3, 3] > 0
    # Voigt >= Hill >= Reuss for the shear modulus of an anisotropic crystal
    assert cu_elastic.shear_voigt > cu_elastic.shear_hill > cu_elastic.shear_reuss > 0
    # the primitive cell, whose vectors are not along the axes, gives the same tensor
    primitive = relax(bulk("Cu", "fcc", a=3.6), EMT(), fmax=1e-6).atoms
    assert elastic_constants(primitive, EMT()).C == pytest.approx(C, abs=1e-3)


def test_stress_strain_equals_energy_second_derivatives(cu_relaxed, cu_elastic):
    atoms = cu_relaxed.atoms
    volume = atoms.get_volume()
    h = 0.004

    def energy(**components):
        # deform the cell here, not with the module's helper: ε_ij symmetric, shears engineering
        eps = np.zeros((3, 3))
        index = dict(xx=(0, 0), yy=(1, 1), zz=(2, 2), yz=(1, 2), xz=(0, 2), xy=(0, 1))
        for name, value in components.items():
            i, j = index[name]
            eps[i, j] = eps[j, i] = value if i == j else value / 2
        work = atoms.copy()
        work.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        work.calc = EMT()
        return work.get_potential_energy()

    e0 = energy()
    c11 = (energy(xx=h) - 2 * e0 + energy(xx=-h)) / h**2 / volume
    c12 = (energy(xx=h, yy=h) - energy(xx=h, yy=-h) - energy(xx=-h, yy=h)
           + energy(xx=-h, yy=-h)) / (4 * h**2) / volume
    c44 = (energy(yz=h) - 2 * e0 + energy(yz=-h)) / h**2 / volume
    c66 = (energy(xy=h) - 2 * e0 + energy(xy=-h)) / h**2 / volume
    C = cu_elastic.C / EV_PER_A3_IN_GPA
    assert C[0, 0] == pytest.approx(c11, rel=0.01)
    assert C[0, 1] == pytest.approx(c12, rel=0.01)
    assert C[3, 3] == pytest.approx(c44, rel=0.01)
    assert C[5, 5] == pytest.approx(c66, rel=0.01)


def test_elastic_constants_of_hcp_with_internal_relaxation():
    hcp = relax(bulk("Cu", "hcp", a=2.55, c=4.16), EMT(), fmax=1e-6).atoms
    clamped = elastic_constants(hcp, EMT(), relax_ions=False).C
    relaxed = elastic_constants(hcp, EMT()).C  # relaxed ions: the default
    for C in (clamped, relaxed):
        tol = 1e-3 * C[0, 0]
        assert C[1, 1] == pytest.approx(C[0, 0], abs=tol)
        assert C[1, 2] == pytest.approx(C[0, 2], abs=tol)
        assert C[4, 4] == pytest.approx(C[3, 3], abs=tol)
        assert C[5, 5] == pytest.approx((C[0, 0] - C[0, 1]) / 2, abs=tol)  # hexagonal isotropy
        assert abs(C[:3, 3:]).max() < tol and abs(C[3, 4:]).max() < tol
    # letting the two sublattices relax softens in-plane shear (C66) a lot, C33 not at all
    assert relaxed[5, 5] < clamped[5, 5] - 5.0
    assert relaxed[2, 2] == pytest.approx(clamped[2, 2], rel=1e-4)
    # relaxed is never stiffer: clamped − relaxed is positive semi-definite (to the ~0.02 GPa
    # noise of the finite differences)
    assert np.linalg.eigvalsh(clamped - relaxed).min() > -0.05


def test_strained_uses_engineering_shear():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    out = strained(atoms, [0, 0, 0, 0, 0, 0.02])
    # γ_xy = 0.02: x gets 0.01·y, y gets 0.01·x
    assert out.cell.array == pytest.approx(atoms.cell.array @ np.array(
        [[1, 0.01, 0], [0.01, 1, 0], [0, 0, 1]]))
    assert out.get_scaled_positions() == pytest.approx(atoms.get_scaled_positions())


# ---------------------------------------------------------------- phonons


def test_phonons_of_fcc_cu(cu_relaxed, tmp_path):
    primitive = relax(bulk("Cu", "fcc", a=3.6), EMT(), fmax=1e-6).atoms
    result = phonon_properties(primitive, EMT(), supercell=(3, 3, 3), mesh=(16, 16, 16))
    assert result.imaginary is False
    assert result.min_frequency_THz > -0.05
    assert np.abs(result.gamma_frequencies_THz).max() < 0.05  # 3 acoustic modes
    assert result.n_atoms_primitive == 1
    f, dos = result.frequencies_THz, result.dos
    assert np.all(dos >= -1e-12)
    assert np.trapezoid(dos, f) == pytest.approx(3 * 1, rel=0.01)
    band = result.band
    assert band["path"].startswith("G")
    assert band["labels"][0] == (0.0, "G") and "X" in [label for _, label in band["labels"]]
    assert band["frequencies"].shape == (len(band["distances"]), 3)
    assert np.all(np.diff(band["distances"]) >= 0)
    assert 7.0 < band["frequencies"].max() < 10.0  # Cu's top (~8.2 THz with EMT)

    # independent route: ASE's own finite-displacement phonons at X
    from ase.phonons import Phonons
    import ase.units

    ase_phonons = Phonons(primitive, EMT(), supercell=(3, 3, 3), delta=0.01,
                          name=str(tmp_path / "phonon"))
    ase_phonons.run()
    ase_phonons.read(acoustic=True)
    thz = 1e-12 * ase.units._e / ase.units._hplanck
    x_ase = np.sort(ase_phonons.band_structure([[0.5, 0.0, 0.5]])[0]) * thz
    x_ours = phonon_properties(primitive, EMT(), band_path="GX", band_npoints=11, mesh=(4, 4, 4))
    assert x_ours.band["qpoints"][-1] == pytest.approx([0.5, 0.0, 0.5])
    x_ours = np.sort(x_ours.band["frequencies"][-1])
    assert x_ours == pytest.approx(x_ase, rel=0.01)
    assert x_ours[0] == pytest.approx(x_ours[1], rel=1e-6)  # transverse modes degenerate at X

    # the conventional cell gives the same DOS per primitive cell
    conventional = phonon_properties(cu_relaxed.atoms, EMT(), supercell=(2, 2, 2),
                                     mesh=(16, 16, 16), band_path=False, dos_sigma=0.1)
    assert conventional.n_atoms_primitive == 1 and conventional.band is None
    assert np.trapezoid(conventional.dos, conventional.frequencies_THz) == pytest.approx(3, rel=0.01)


def test_phonons_flag_imaginary_modes_of_simple_cubic_cu():
    # simple cubic Cu is a stationary point (symmetry) but not a minimum: relaxed under its
    # symmetry it has zero forces and stress, yet soft shear modes
    sc = relax(bulk("Cu", "sc", a=2.4), EMT(), fmax=1e-6)
    assert sc.converged and sc.max_force < 1e-6
    result = phonon_properties(sc.atoms, EMT(), supercell=(3, 3, 3), mesh=(8, 8, 8), band_npoints=30)
    assert result.imaginary is True
    assert result.min_frequency_THz < -1.0
    assert np.abs(result.gamma_frequencies_THz).max() < 0.05  # still acoustic at Γ
    # the same instability in the long-wavelength limit: C44 < 0, so C is not positive definite
    elastic = elastic_constants(sc.atoms, EMT())
    assert elastic.stable is False and elastic.C[3, 3] < 0 < elastic.C[0, 0]


def test_phonons_off_equilibrium_residual_forces():
    # a rattled cell (no symmetry, forces ~0.1 eV/Å): phonopy displaces each atom by ± u, so
    # the residual forces cancel in the differences and subtracting them first changes nothing;
    # the acoustic sum rule still holds at Γ
    atoms = bulk("Cu", "fcc", a=3.59, cubic=True)
    atoms.rattle(0.03, seed=4)
    atoms.calc = EMT()
    assert np.abs(atoms.get_forces()).max() > 0.05
    options = dict(supercell=(2, 2, 2), mesh=(2, 2, 2), band_path=False, primitive_matrix="P")
    subtracted = phonon_properties(atoms, EMT(), **options)
    raw = phonon_properties(atoms, EMT(), subtract_residual_forces=False, **options)
    assert np.abs(subtracted.gamma_frequencies_THz[:3]).max() < 0.05
    assert subtracted.gamma_frequencies_THz == pytest.approx(raw.gamma_frequencies_THz, abs=1e-6)
    assert subtracted.dos == pytest.approx(raw.dos, abs=1e-6)
    assert subtracted.n_atoms_primitive == 4


# ---------------------------------------------------------------- our calculator


def test_properties_with_our_calculator():
    # any calculator: the same functions with PolymlpCalculator (a random, unphysical model:
    # only the invariants hold — cubic pattern of C, acoustic modes at zero frequency at Γ)
    calc = PolymlpCalculator(random_potential(("Al",), seed=1))
    atoms = bulk("Al", "fcc", a=4.05)
    result = elastic_constants(atoms, calc)
    C = result.C
    tol = 1e-6 * abs(C).max()
    assert C[1, 1] == pytest.approx(C[0, 0], abs=tol) and C[4, 4] == pytest.approx(C[3, 3], abs=tol)
    assert C[0, 2] == pytest.approx(C[0, 1], abs=tol) and abs(C[:3, 3:]).max() < tol
    assert result.stable == bool(np.linalg.eigvalsh(C).min() > 0)
    phonons = phonon_properties(atoms, calc, supercell=(2, 2, 2), mesh=(4, 4, 4), band_path=False)
    assert np.abs(phonons.gamma_frequencies_THz).max() < 0.05
    assert relax(atoms, calc, steps=2).steps <= 2


# ---------------------------------------------------------------- bad input


def test_bad_input_raises_typed_errors():
    cu = bulk("Cu", "fcc", a=3.6)
    with pytest.raises(InvalidStructureError):
        relax(Atoms(), EMT())
    with pytest.raises(InvalidStructureError, match="periodic"):
        relax(Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[10, 10, 10]), EMT())
    with pytest.raises(PolymlpLabError, match="fmax"):
        relax(cu, EMT(), fmax=0)
    with pytest.raises(PolymlpLabError, match="optimizer"):
        relax(cu, EMT(), optimizer="newton")
    with pytest.raises(PolymlpLabError, match="delta"):
        elastic_constants(cu, EMT(), delta=0.0)
    with pytest.raises(PolymlpLabError, match="strains"):
        equation_of_state(cu, EMT(), strains=[0.0, 0.01])
    with pytest.raises(PolymlpLabError, match="supercell"):
        phonon_properties(cu, EMT(), supercell=(2, 2))
    with pytest.raises(PolymlpLabError, match="mesh"):
        phonon_properties(cu, EMT(), supercell=(1, 1, 1), mesh=(4, 4))
    with pytest.raises(PolymlpLabError, match="band path"):
        phonon_properties(cu, EMT(), supercell=(2, 2, 2), mesh=(2, 2, 2), band_path="GQ")


# ---------------------------------------------------------------- convex hull


def _scipy_lower_hull(x, e):
    """e_above_hull and vertex coordinates from scipy's Qhull: lower facets only."""
    points = np.column_stack([np.concatenate([x, [0.0, 1.0]]), np.concatenate([e, [0.0, 0.0]])])
    hull = ConvexHull(points)
    lower = hull.equations[hull.equations[:, 1] < -1e-12]  # outward normal pointing down
    # each lower facet n·p + d = 0 gives the line e = -(n_x x + d)/n_e; the hull is their max
    lines = -(np.outer(x, lower[:, 0]) + lower[:, 2]) / lower[:, 1]
    facets = hull.simplices[hull.equations[:, 1] < -1e-12]
    return e - lines.max(axis=1), {tuple(points[i]) for i in np.unique(facets)}


def test_convex_hull_of_hand_built_points():
    #       0     1      2     3     4      5      6     7     8
    x = [0.0, 0.25, 0.5, 0.5, 0.5, 0.75, 0.8, 1.0, 0.1]
    e = [0.0, -0.2, -0.4, -0.4, -0.3, -0.1, -0.25, 0.05, 0.1]
    # hull: (0,0) (0.5,-0.4) (0.8,-0.25) (1,0); 1 sits exactly on the tie line 0–2,
    # 2 and 3 are duplicates, 4 is a polymorph, 7 an unstable B structure
    result = convex_hull(x, e)
    expected = [0.0, 0.0, 0.0, 0.0, 0.1, 0.175, 0.0, 0.05, 0.18]
    assert result.e_above_hull == pytest.approx(expected, abs=1e-12)
    assert result.stable == [0, 1, 2, 3, 6]
    assert result.vertices == [0, 2, 3, 6]
    assert result.hull_x.tolist() == [0.0, 0.5, 0.8, 1.0]
    assert result.hull_e.tolist() == [0.0, -0.4, -0.25, 0.0]
    assert np.all(result.e_above_hull >= 0)
    reference, _ = _scipy_lower_hull(np.array(x), np.array(e))
    assert result.e_above_hull == pytest.approx(np.clip(reference, 0, None), abs=1e-12)


def test_convex_hull_edge_cases():
    everything_above = convex_hull([0.3, 0.6, 0.6], [0.1, 0.0, 0.2])
    assert everything_above.hull_x.tolist() == [0.0, 1.0]
    assert everything_above.stable == [1]  # zero formation energy lies on the 0–1 tie line
    assert everything_above.vertices == []
    assert everything_above.e_above_hull == pytest.approx([0.1, 0.0, 0.2])
    # collinear stable points: all on the hull, only the ends are corners
    line = convex_hull([0.2, 0.4, 0.6], [-0.2, -0.4, -0.6])
    assert line.hull_x.tolist() == [0.0, 0.6, 1.0] and line.stable == [0, 1, 2]
    assert line.vertices == [2]
    # an elemental entry below its reference becomes the end of the hull
    low_end = convex_hull([0.0, 0.5], [-0.1, -0.1])
    assert low_end.hull_e.tolist() == [-0.1, -0.1, 0.0] and low_end.stable == [0, 1]
    assert convex_hull([], []).hull_x.tolist() == [0.0, 1.0]
    with pytest.raises(PolymlpLabError, match="0, 1"):
        convex_hull([1.2], [0.0])
    with pytest.raises(PolymlpLabError, match="finite"):
        convex_hull([0.5], [np.nan])
    with pytest.raises(PolymlpLabError, match="length"):
        convex_hull([0.5, 0.2], [0.0])


@pytest.mark.parametrize("seed", range(5))
def test_convex_hull_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, 30)
    e = rng.normal(-0.1, 0.1, 30)
    result = convex_hull(x, e)
    reference, corners = _scipy_lower_hull(x, e)
    assert result.e_above_hull == pytest.approx(reference, abs=1e-12)
    ours = {(float(a), float(b)) for a, b in zip(result.hull_x, result.hull_e)}
    assert ours == {(float(a), float(b)) for a, b in corners}
    assert set(result.vertices) == {i for i in range(30) if (x[i], e[i]) in ours}


def test_formation_energies():
    references = {"Cu": -0.007, "Au": 0.003}
    cu3au = bulk("Cu", "fcc", a=3.7, cubic=True)
    cu3au.symbols[0] = "Au"
    entries = [(cu3au, -0.05), ("CuAu", -0.04), ({"Cu": 1, "Au": 3}, 0.0), (1.0, 0.003), (0.0, 0.0)]
    out = formation_energies(entries, references)
    assert [x for x, _ in out] == [0.25, 0.5, 0.75, 1.0, 0.0]
    assert [ef for _, ef in out] == pytest.approx(
        [-0.05 - (0.75 * -0.007 + 0.25 * 0.003), -0.04 - (-0.002), 0.0 - (0.25 * -0.007 + 0.75 * 0.003),
         0.0, 0.007])
    # the same with plain fractions and a pair of energies
    plain = formation_energies([(0.25, -0.05)], (-0.007, 0.003))
    assert plain == [pytest.approx(out[0])]
    assert composition_fraction("Cu3Au", ("Cu", "Au")) == 0.25
    with pytest.raises(PolymlpLabError, match="Ag"):
        formation_energies([("CuAg", 0.0)], references)
    with pytest.raises(PolymlpLabError, match="element"):
        formation_energies([("CuAu", 0.0)], (-0.007, 0.003))
    with pytest.raises(PolymlpLabError, match="not in"):
        formation_energies([(1.5, 0.0)], (-0.007, 0.003))
    with pytest.raises(PolymlpLabError, match="two references"):
        formation_energies([(0.5, 0.0)], {"Cu": 0.0})

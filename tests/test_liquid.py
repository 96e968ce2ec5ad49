"""Liquid-structure analysis (polymlp_lab.simulations.liquid) on structures of known answer.

Ideal gas (uniform random points): g = 1 and S = 1 within their statistical errors; fcc, simple
cubic and rocksalt crystals: shell positions, coordination numbers and bond angles; exact
identities (cell-shape invariance, the partial sum rule, the same pairs as ASE); the Fourier
and direct (Debye) routes to S(q) agree; bad input raises typed errors.
"""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

from polymlp_lab.errors import InvalidStructureError, PolymlpLabError
from polymlp_lab.simulations.liquid import (
    bond_angle_distribution,
    coordination_number,
    debye_structure_factor,
    first_minimum,
    first_peak,
    radial_distribution,
    structure_factor,
)

A_CU = 3.6  # fcc lattice constant (Å)
A_NACL = 5.64  # rocksalt lattice constant (Å)
# Bin counts chosen so that no crystal shell distance lies on a bin edge (within 1e-3 Å),
# where rounding could put identical distances in different bins.
FCC_BINS = dict(r_max=7.9, n_bins=383)
NACL_BINS = dict(r_max=7.5, n_bins=373)


def _shells(rdf):
    return 4.0 * np.pi / 3.0 * np.diff(rdf.edges**3)


@pytest.fixture(scope="module")
def ideal_gas():
    """4 frames of 1500 uniform random points (half Ar, half Kr), ρ = 0.05 Å⁻³."""
    n, density = 1500, 0.05
    side = (n / density) ** (1 / 3)
    rng = np.random.default_rng(7)
    symbols = ["Ar", "Kr"] * (n // 2)
    return [
        Atoms(symbols, positions=rng.uniform(0, side, (n, 3)), cell=[side] * 3, pbc=True)
        for _ in range(4)
    ]


@pytest.fixture(scope="module")
def rattled_fcc():
    """3 frames of 256-atom fcc Cu with Gaussian displacements of 0.25 Å per component."""
    rng = np.random.default_rng(3)
    base = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(4)
    frames = []
    for _ in range(3):
        atoms = base.copy()
        atoms.positions += rng.normal(scale=0.25, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


def test_ideal_gas_g_is_one_within_counting_error(ideal_gas):
    n, n_frames = len(ideal_gas[0]), len(ideal_gas)
    rdf = radial_distribution(ideal_gas, r_max=6.0, n_bins=120)
    density = n / ideal_gas[0].get_volume()
    assert rdf.density == pytest.approx(density) and rdf.n_frames == n_frames
    # Ordered pairs: each unordered pair counts twice, so Var(g) = 2 / (N F ρ V_shell);
    # for N uniform points E[g] = (N − 1)/N exactly.
    sigma = np.sqrt(2.0 / (n * n_frames * density * _shells(rdf)))
    expected = (n - 1) / n
    assert np.all(np.abs(rdf.g - expected) < 5 * sigma)
    # All bins together (weights 1/σ²) pin the normalisation to ~0.3 %.
    weights = 1 / sigma**2
    mean = np.sum(weights * rdf.g) / weights.sum()
    assert abs(mean - expected) < 5 / np.sqrt(weights.sum())
    # Coordination number = 4π/3 ρ r_cut³ within its counting error.
    r_cut = 3.0
    ideal = 4 * np.pi / 3 * density * r_cut**3
    assert coordination_number(rdf, r_cut) == pytest.approx(
        ideal, abs=5 * ideal * np.sqrt(2 / (n * n_frames * ideal))
    )


@pytest.mark.parametrize("pair", [("Ar", "Ar"), ("Ar", "Kr"), ("Kr", "Ar")])
def test_ideal_gas_partials_tend_to_one(ideal_gas, pair):
    n_a = len(ideal_gas[0]) // 2
    n_frames = len(ideal_gas)
    rdf = radial_distribution(ideal_gas, r_max=6.0, n_bins=120, elements=pair)
    density_b = n_a / ideal_gas[0].get_volume()
    assert rdf.density == pytest.approx(density_b)
    assert rdf.total_density == pytest.approx(2 * density_b)
    same = pair[0] == pair[1]
    # A-centred counts of B neighbours: doubled (variance ×2) only when A = B.
    sigma = np.sqrt((2.0 if same else 1.0) / (n_a * n_frames * density_b * _shells(rdf)))
    expected = (n_a - 1) / n_a if same else 1.0
    assert np.all(np.abs(rdf.g - expected) < 5 * sigma)
    weights = 1 / sigma**2
    assert abs(np.sum(weights * rdf.g) / weights.sum() - expected) < 5 / np.sqrt(weights.sum())


def test_ideal_gas_structure_factor_is_one(ideal_gas):
    n, n_frames = len(ideal_gas[0]), len(ideal_gas)
    r_max = 6.0
    rdf = radial_distribution(ideal_gas, r_max=r_max, n_bins=300)
    q, s = structure_factor(rdf)
    assert q.min() == pytest.approx(0.5) and q.max() == pytest.approx(12.0)
    # Noise of S: Var = 2ρ/(N F) ∫ 4πr² [sinc(qr) W(r)]² dr (independent pairs), W = Lorch.
    r = np.linspace(1e-6, r_max, 4001)
    f = (np.sinc(np.outer(q, r) / np.pi) * np.sinc(r / r_max)) ** 2 * 4 * np.pi * r**2
    sigma = np.sqrt(2 * rdf.density / (n * n_frames) * np.trapezoid(f, r, axis=1))
    use = q >= 1.0
    assert np.all(np.abs(s[use] - 1) < 5 * sigma[use])


def test_fcc_shells_and_coordination():
    cu = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(3)
    rdf = radial_distribution(cu, **FCC_BINS)
    dr = rdf.r_max / len(rdf.r)
    assert abs(first_peak(rdf) - A_CU / np.sqrt(2)) <= dr / 2
    r_min = first_minimum(rdf)
    # g = 0 between the first (a/√2) and second (a) shells; the symmetric smoothing puts the
    # (flat) minimum in the middle of that gap.
    assert r_min == pytest.approx((A_CU / np.sqrt(2) + A_CU) / 2, abs=dr)
    assert coordination_number(rdf) == pytest.approx(12.0, abs=1e-9)
    assert coordination_number(rdf, r_min) == pytest.approx(12.0, abs=1e-9)
    # Second shell (6 at a) lies between the first minimum and the third shell (a√(3/2)).
    second = coordination_number(rdf, 4.0) - coordination_number(rdf, r_min)
    assert second == pytest.approx(6.0, abs=1e-9)
    # Third shell: 24 at a√(3/2).
    assert coordination_number(rdf, 4.8) - coordination_number(rdf, 4.0) == pytest.approx(24.0, abs=1e-9)


def test_first_minimum_is_robust_to_histogram_noise():
    """Thermal fcc (0.1 Å rattle, 2 frames) in 0.005 Å bins: g is noisy, the shell is not."""
    rng = np.random.default_rng(4)
    base = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(3)
    frames = []
    for _ in range(2):
        atoms = base.copy()
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        frames.append(atoms)
    coarse = radial_distribution(frames, r_max=8.0, n_bins=200)
    fine = radial_distribution(frames, r_max=8.0, n_bins=1600)
    shell = (fine.r > 2.3) & (fine.r < A_CU)
    slope_changes = np.count_nonzero(np.diff(np.sign(np.diff(fine.g[shell]))))
    assert slope_changes > 50  # many spurious local extrema in the raw histogram
    for rdf in (coarse, fine):
        assert 2.9 < first_minimum(rdf) < 3.3  # well inside the gap between the shells
        assert abs(first_peak(rdf) - A_CU / np.sqrt(2)) < 0.05
        assert coordination_number(rdf) == pytest.approx(12.0, abs=0.05)


def test_fcc_g_does_not_depend_on_cell_shape_or_size():
    """Cubic supercell, one-atom triclinic primitive cell, and its repetition; r_max > L/2."""
    cubic = radial_distribution(bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(3), **FCC_BINS)
    primitive_cell = bulk("Cu", "fcc", a=A_CU)
    assert abs(np.linalg.det(primitive_cell.cell.array)) == pytest.approx(A_CU**3 / 4)
    primitive = radial_distribution(primitive_cell, **FCC_BINS)  # r_max ≈ 3 cell widths
    repeated = radial_distribution(primitive_cell.repeat((3, 2, 4)), **FCC_BINS)
    assert cubic.g.max() > 10  # real, sharp shells are compared
    np.testing.assert_allclose(primitive.g, cubic.g, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(repeated.g, cubic.g, rtol=1e-10, atol=1e-10)


def test_pairs_are_those_of_ase_neighbor_list():
    """Rattled, sheared 3-atom cell with r_max = 2.37 × its longest edge: all images counted."""
    rng = np.random.default_rng(11)
    cell = 3.0 * (np.eye(3) + 0.3 * rng.uniform(-1, 1, (3, 3)))
    atoms = Atoms("Cu3", scaled_positions=rng.random((3, 3)), cell=cell, pbc=True)
    r_max = 2.37 * atoms.cell.lengths().max()  # no lattice vector on a bin edge
    rdf = radial_distribution(atoms, r_max=r_max, n_bins=150)
    counts = rdf.g * len(atoms) * rdf.density * _shells(rdf)
    reference = np.histogram(neighbor_list("d", atoms, r_max), bins=150, range=(0, r_max))[0]
    assert reference.sum() > 1000
    np.testing.assert_allclose(counts, reference, atol=1e-8)


def test_rocksalt_partials():
    nacl = bulk("NaCl", "rocksalt", a=A_NACL, cubic=True).repeat(2)
    dr = NACL_BINS["r_max"] / NACL_BINS["n_bins"]
    na_cl = radial_distribution(nacl, elements=("Na", "Cl"), **NACL_BINS)
    na_na = radial_distribution(nacl, elements=("Na", "Na"), **NACL_BINS)
    assert na_cl.elements == ("Na", "Cl")
    assert abs(first_peak(na_cl) - A_NACL / 2) <= dr / 2
    assert abs(first_peak(na_na) - A_NACL / np.sqrt(2)) <= dr / 2
    assert coordination_number(na_cl) == pytest.approx(6.0, abs=1e-9)  # Cl around Na
    assert coordination_number(na_na) == pytest.approx(12.0, abs=1e-9)
    assert np.all(na_cl.g[na_cl.r < A_NACL / 2 - dr] == 0)


def test_partials_sum_to_total_and_are_symmetric():
    rng = np.random.default_rng(5)
    base = bulk("NaCl", "rocksalt", a=A_NACL, cubic=True).repeat(2)
    base = base[[0, 1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15]]  # unequal counts: 6 Na, 8 Cl
    frames = []
    for _ in range(2):
        atoms = base.copy()
        atoms.positions += rng.normal(scale=0.3, size=atoms.positions.shape)
        frames.append(atoms)
    symbols = frames[0].get_chemical_symbols()
    c = {e: symbols.count(e) / len(symbols) for e in ("Na", "Cl")}
    assert c["Na"] != c["Cl"]
    total = radial_distribution(frames, **NACL_BINS)
    partial = {
        (a, b): radial_distribution(frames, elements=(a, b), **NACL_BINS).g
        for a in c for b in c
    }
    np.testing.assert_allclose(partial["Na", "Cl"], partial["Cl", "Na"], rtol=1e-12)
    weighted = sum(c[a] * c[b] * g for (a, b), g in partial.items())
    assert total.g.max() > 1
    np.testing.assert_allclose(weighted, total.g, rtol=1e-12, atol=1e-12)


def test_structure_factor_fourier_route_matches_debye(rattled_fcc):
    r_max, n_bins = 8.0, 400
    rdf = radial_distribution(rattled_fcc, r_max=r_max, n_bins=n_bins)
    q = np.linspace(2.0, 4.5, 51)
    _, s_fourier = structure_factor(rdf, q)
    _, s_debye = debye_structure_factor(rattled_fcc, q, r_max=r_max)
    # The first peak: the (111)/(200) reflections of fcc, broadened by the window and disorder.
    assert 2.8 < q[np.argmax(s_debye)] < 3.6 and s_debye.max() > 1.5
    # Same pairs, R and window: the Fourier route only moves each distance to its bin centre
    # (midpoint rule), error ≈ dr²/24 · f'' per pair, f = sinc(qr)W(r), |f''| ≲ q/r. Summed
    # over the n_R = 4π/3 ρ R³ pairs per atom (⟨1/r⟩ = 3/(2R)) and the continuum term alike:
    # |ΔS| ≲ 2 n_R dr²/24 · q_max · 3/(2R) ≈ 0.005 here.
    dr = r_max / n_bins
    n_r = 4 * np.pi / 3 * rdf.density * r_max**3
    tolerance = 2 * n_r * dr**2 / 24 * q.max() * 3 / (2 * r_max)
    assert tolerance < 0.01
    np.testing.assert_allclose(s_fourier, s_debye, rtol=0, atol=tolerance)


def test_structure_factor_tends_to_one_at_large_q(rattled_fcc):
    rdf = radial_distribution(rattled_fcc, r_max=8.0, n_bins=400)
    q, s = structure_factor(rdf)
    peak = s.max() - 1
    assert peak > 0.5
    # Thermal (Debye–Waller) damping exp(−q²σ²) with σ = 0.25 Å kills structure beyond ~10/Å.
    assert np.all(np.abs(s[q > 10] - 1) < 0.05 * peak)
    _, s_direct = debye_structure_factor(rattled_fcc, q[q > 10], r_max=8.0, window=None)
    assert np.all(np.abs(s_direct - 1) < 0.05 * peak)


def _fractions(theta, p, centres, half_width=1.5):
    width = theta[1] - theta[0]
    return [p[np.abs(theta - c) < half_width].sum() * width for c in centres]


def test_fcc_bond_angles():
    cu = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(2)
    theta, p = bond_angle_distribution(cu, r_cut=3.0)  # between 1st (2.55) and 2nd (3.6) shells
    width = theta[1] - theta[0]
    assert len(theta) == 180 and p.sum() * width == pytest.approx(1.0)
    # 12 neighbours, 66 pairs: 24 at 60°, 12 at 90°, 24 at 120°, 6 at 180°.
    fractions = _fractions(theta, p, (60, 90, 120, 180))
    np.testing.assert_allclose(fractions, np.array([24, 12, 24, 6]) / 66, atol=1e-12)
    assert sum(fractions) == pytest.approx(1.0)  # nothing elsewhere


def test_simple_cubic_bond_angles_and_normalisation():
    sc = Atoms("Po", cell=[2.5] * 3, pbc=True)
    theta, p = bond_angle_distribution(sc, r_cut=3.0, n_bins=90)  # 6 neighbours, 15 pairs
    np.testing.assert_allclose(_fractions(theta, p, (90, 180)), [12 / 15, 3 / 15], atol=1e-12)
    rng = np.random.default_rng(2)
    liquid_like = sc.repeat(3)
    liquid_like.positions += rng.normal(scale=0.3, size=liquid_like.positions.shape)
    theta, p = bond_angle_distribution(liquid_like, r_cut=3.2, n_bins=90)
    assert np.all(p >= 0) and p.sum() * (theta[1] - theta[0]) == pytest.approx(1.0)
    assert np.count_nonzero(p) > 30  # disorder spreads the angles


def test_default_r_max():
    cu = bulk("Cu", "fcc", a=A_CU, cubic=True)
    assert radial_distribution(cu).r_max == pytest.approx(10.0)
    dense = Atoms("H", cell=[1.0] * 3, pbc=True)  # V/N = 1 Å³: six spacings
    assert radial_distribution(dense).r_max == pytest.approx(6.0)


def _cu():
    return bulk("Cu", "fcc", a=A_CU, cubic=True)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: radial_distribution([]), PolymlpLabError, "frames is empty"),
        (lambda: radial_distribution([_cu(), "x"]), PolymlpLabError, "frame 1 is a str"),
        (lambda: radial_distribution(_cu(), r_max=-1.0), PolymlpLabError, "r_max must be positive"),
        (lambda: radial_distribution(_cu(), r_max="far"), PolymlpLabError, "r_max must be"),
        (lambda: radial_distribution(_cu(), n_bins=0), PolymlpLabError, "n_bins must be an integer"),
        (lambda: radial_distribution(_cu(), elements=("Cu", "X")), PolymlpLabError,
         "element 'X' is not in the frames"),
        (lambda: radial_distribution(_cu(), elements="Cu"), PolymlpLabError, "pair of element"),
        (lambda: radial_distribution(Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]])),
         InvalidStructureError, "periodic in all three directions"),
        (lambda: radial_distribution(Atoms(cell=[3] * 3, pbc=True)), InvalidStructureError, "no atoms"),
        (lambda: radial_distribution(Atoms("Cu", cell=np.zeros((3, 3)), pbc=True)),
         InvalidStructureError, "singular cell"),
        (lambda: radial_distribution(Atoms("Cu", positions=[[np.nan] * 3], cell=[3] * 3, pbc=True)),
         InvalidStructureError, "non-finite position"),
        (lambda: coordination_number(radial_distribution(_cu(), r_max=5.0), 6.0), PolymlpLabError,
         "exceeds the RDF range"),
        (lambda: coordination_number(radial_distribution(_cu(), r_max=2.0)), PolymlpLabError,
         "no first coordination shell"),
        (lambda: first_minimum(radial_distribution(_cu(), r_max=3.0)), PolymlpLabError,
         "increase r_max"),
        (lambda: structure_factor(radial_distribution(_cu(), r_max=5.0), window="hann"),
         PolymlpLabError, "window must be 'lorch' or None"),
        (lambda: structure_factor(radial_distribution(_cu(), r_max=5.0), q=[0.0, 1.0]),
         PolymlpLabError, "q must be"),
        (lambda: debye_structure_factor(_cu(), q=[-1.0]), PolymlpLabError, "q must be"),
        (lambda: bond_angle_distribution(_cu(), r_cut=0.0), PolymlpLabError, "r_cut must be positive"),
        (lambda: bond_angle_distribution(_cu(), r_cut=2.0), PolymlpLabError, "no atom has two neighbours"),
    ],
)
def test_bad_input_raises_typed_error(call, error, message):
    with pytest.raises(error, match=message):
        call()

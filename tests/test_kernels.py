"""Each Numba kernel against a plain NumPy/SciPy twin of the same step."""

from typing import get_type_hints

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list
from numba import njit, types
from scipy.special import sph_harm_y

from polymlp_lab.engine import kernels
from polymlp_lab.engine.design import build_feature_tables
from polymlp_lab.engine.harmonics import (
    gradient_coefficients,
    gradient_contraction,
    legendre_recursion,
    n_lm_half,
    normalisation_table,
    spherical_harmonics,
    spherical_harmonics_gradient,
)
from polymlp_lab.engine.model import Bonds, Products, frozen_bundle
from polymlp_lab.engine.neighbors import half_neighbor_list
from polymlp_lab.engine.radial import gaussian_radial, gaussian_radial_derivative
from polymlp_lab.models import model_params

from conftest import random_potential

DIRECTIONS = np.array(
    [[0.3, -0.5, 0.7], [0.0, 0.0, 1.0], [0.0, 0.0, -2.0], [1.0, 0.0, 0.0], [-0.2, 0.9, -0.1]]
)


def harmonics(d, lmax):
    norm = normalisation_table(lmax)
    q = np.empty((lmax + 1, lmax + 2))
    y = np.empty(n_lm_half(lmax), dtype=complex)
    g = np.empty((3, n_lm_half(lmax)), dtype=complex)
    rec = legendre_recursion(lmax)
    spherical_harmonics_gradient(d[0], d[1], d[2], lmax, norm, rec, q, y, g)
    y_only = np.empty_like(y)
    spherical_harmonics(d[0], d[1], d[2], lmax, norm, rec, q, y_only)
    np.testing.assert_allclose(y, y_only, rtol=0, atol=1e-14)
    return y, g


@pytest.mark.parametrize("d", DIRECTIONS)
def test_spherical_harmonics_match_scipy(d):
    lmax = 12
    y, _ = harmonics(d, lmax)
    r = np.linalg.norm(d)
    theta, phi = np.arccos(d[2] / r), np.arctan2(d[1], d[0])
    for l in range(lmax + 1):
        for m in range(l + 1):
            assert abs(y[l * (l + 1) // 2 + m] - sph_harm_y(l, m, theta, phi)) < 1e-12


@pytest.mark.parametrize("d", DIRECTIONS)
def test_spherical_harmonics_gradient_is_derivative(d):
    lmax, h = 8, 1e-6
    _, grad = harmonics(d, lmax)
    for a in range(3):
        step = np.zeros(3)
        step[a] = h
        numeric = (harmonics(d + step, lmax)[0] - harmonics(d - step, lmax)[0]) / (2 * h)
        np.testing.assert_allclose(grad[a], numeric, atol=1e-7)


@pytest.mark.parametrize("d", DIRECTIONS)
@pytest.mark.parametrize("lmax", [0, 1, 2, 4, 12])
def test_gradient_from_the_harmonics_equals_the_direct_gradient(d, lmax):
    """The bond-force kernel's dY/dd from the Y themselves (solid-harmonic ladder relations)
    against the direct Cartesian gradient, contracted with random complex weights."""
    y, grad = harmonics(d, lmax)
    rng = np.random.default_rng(lmax)
    weights = rng.normal(size=len(y)) + 1j * rng.normal(size=len(y))
    px, py, pz, sl = gradient_contraction(weights.view(np.float64), y.view(np.float64), lmax,
                                          gradient_coefficients(lmax))
    r = np.linalg.norm(d)
    got = np.array([px, py, pz]) / r - sl * d / r**2
    np.testing.assert_allclose(got, np.real(grad @ weights), rtol=1e-11, atol=1e-12)


def test_gaussian_radial_functions():
    params = np.array([[1.0, 0.0], [0.5, 2.0], [0.0, 0.0]])
    cutoff = 5.0
    r = np.linspace(0.5, 6.0, 23)
    expected = np.exp(-params[:, 0] * (r[:, None] - params[:, 1]) ** 2)
    expected *= np.where(r < cutoff, 0.5 * (np.cos(np.pi * r / cutoff) + 1), 0.0)[:, None]
    f = np.empty(3)
    df = np.empty(3)
    for k, rk in enumerate(r):
        gaussian_radial(rk, cutoff, params, f)
        np.testing.assert_allclose(f, expected[k], atol=1e-15)
        gaussian_radial_derivative(rk, cutoff, params, f, df)
        fp, fm = np.empty(3), np.empty(3)
        gaussian_radial(rk + 1e-6, cutoff, params, fp)
        gaussian_radial(rk - 1e-6, cutoff, params, fm)
        if abs(rk - cutoff) > 1e-3:
            np.testing.assert_allclose(df, (fp - fm) / 2e-6, atol=1e-8)


def bond_set(i, j, d):
    return sorted((int(a), int(b), *np.round(v, 8)) for a, b, v in zip(i, j, d))


@pytest.mark.parametrize(
    "cell,pbc",
    [
        (np.diag([2.0, 2.5, 3.1]), (True, True, True)),
        ([[2.2, 0, 0], [1.9, 1.6, 0], [-1.0, 0.7, 1.8]], (True, True, True)),
        ([[4.0, 0, 0], [0, 4.5, 0], [0, 0, 0]], (True, True, False)),
        (np.zeros((3, 3)), (False, False, False)),
    ],
)
def test_half_neighbour_list_matches_ase(cell, pbc):
    rng = np.random.default_rng(0)
    while True:  # random atoms, none closer than 0.8 Å (also to periodic images)
        atoms = Atoms("X5", positions=rng.uniform(0, 3, size=(5, 3)), cell=cell, pbc=pbc)
        distances = atoms.get_all_distances(mic=any(pbc)) + 9 * np.eye(5)
        if distances.min() > 0.8:
            break
    cutoff = 4.3
    bi, bj, bd = half_neighbor_list(atoms.cell.array, atoms.positions, atoms.pbc, cutoff)
    ai, aj, ad = neighbor_list("ijD", atoms, cutoff)
    # ASE's full list holds each bond twice (i->j and j->i); keep our orientation of it
    full = bond_set(np.r_[bi, bj], np.r_[bj, bi], np.r_[bd, -bd])
    assert full == bond_set(ai, aj, ad)
    assert len(bi) * 2 == len(ai)


def reference_density(atoms, tables, type_ids):
    """a[i, tp, n, l, m>=0] by direct sums over ASE's full neighbour list (NumPy/SciPy)."""
    i, j, d = neighbor_list("ijD", atoms, tables.cutoff)
    r = np.linalg.norm(d, axis=1)
    beta, r0 = tables.basis.radial_params.T
    fc = 0.5 * (np.cos(np.pi * r / tables.cutoff) + 1)
    f = np.exp(-beta * (r[:, None] - r0) ** 2) * fc[:, None]
    theta, phi = np.arccos(d[:, 2] / r), np.arctan2(d[:, 1], d[:, 0])
    lmax = tables.lmax
    y = np.array(
        [sph_harm_y(l, m, theta, phi) for l in range(lmax + 1) for m in range(l + 1)]
    ).T
    n_fn = len(beta)
    a = np.zeros((len(atoms), tables.n_type_pairs, n_fn, n_lm_half(lmax)), dtype=complex)
    tp = tables.basis.type_pairs[type_ids[i], type_ids[j]]
    for b in range(len(i)):
        a[i[b], tp[b]] += np.outer(f[b], y[b])
    return a.reshape(len(atoms), -1)


def test_density_kernel_matches_direct_sum(mgo_potential):
    tables = mgo_potential.components[0].tables
    atoms = Atoms("MgO2Mg", positions=[[0, 0, 0], [2.1, 0.1, 0], [0.2, 2.0, 0.3], [1.9, 2.2, 1.5]],
                  cell=[[4.2, 0, 0], [0.5, 4.0, 0], [0.3, -0.4, 4.4]], pbc=True)
    type_ids = np.array([tables.elements.index(s) for s in atoms.get_chemical_symbols()])
    bonds = Bonds(*half_neighbor_list(atoms.cell.array, atoms.positions, atoms.pbc, tables.cutoff))
    a = np.full((len(atoms), tables.n_slots_half), np.nan, dtype=complex)  # overwritten
    kernels.compute_densities(bonds, type_ids, tables.basis, 2, a)
    np.testing.assert_allclose(a, reference_density(atoms, tables, type_ids), atol=1e-12)


@pytest.mark.parametrize("share", [0.0, 0.4, 1.0])
def test_forces_are_the_same_whether_the_bond_basis_is_kept_or_computed_again(mgo_potential,
                                                                             share):
    """The density pass keeps the basis of the first bonds (as many as a memory budget
    allows) for the force pass, which computes the others again: any share, same numbers."""
    from polymlp_lab.engine.model import bond_basis

    tables = mgo_potential.components[0].tables
    atoms = Atoms("MgO2Mg", positions=[[0, 0, 0], [2.1, 0.1, 0], [0.2, 2.0, 0.3], [1.9, 2.2, 1.5]],
                  cell=[[4.2, 0, 0], [0.5, 4.0, 0], [0.3, -0.4, 4.4]], pbc=True)
    type_ids = np.array([tables.elements.index(s) for s in atoms.get_chemical_symbols()])
    bonds = Bonds(*half_neighbor_list(atoms.cell.array, atoms.positions, atoms.pbc, tables.cutoff))

    def forces(kept):
        a = np.zeros((len(atoms), tables.n_slots_half), dtype=complex)
        kernels.compute_densities(bonds, type_ids, tables.basis, 2, a, kept)
        energies = np.zeros(len(atoms))
        kernels.atomic_energies(a, type_ids, tables.lmax, tables.products, tables.triples,
                                tables.features, tables.polynomial, True, 2, energies, a,
                                np.zeros((0, 1)))
        f, virial = np.zeros((len(atoms), 3)), np.zeros((3, 3))
        kernels.bond_forces(bonds, type_ids, tables.basis, a, 2, f, virial, kept)
        return f, virial

    n_kept = int(share * len(bonds.i))
    kept = bond_basis(n_kept, n_lm_half(tables.lmax), tables.basis.radial_params.shape[0])
    f_kept, v_kept = forces(kept)
    f_again, v_again = forces(None)
    assert np.abs(f_again).max() > 0.1
    np.testing.assert_array_equal(f_kept, f_again)
    np.testing.assert_array_equal(v_kept, v_again)


def reference_energies(params, coeffs, a_half, type_ids, lmax):
    """Per-atom energies straight from pypolymlp's enumeration, one term at a time.

    No product sharing, no merging of conjugate partners, all m taken explicitly.
    """
    from pypolymlp.mlp_dev.core.features_attr import get_features_attr

    features, polynomials, tp_types = get_features_attr(params)
    n_fn = len(params.model.pair_params)
    n_lmh = n_lm_half(lmax)
    members = {tp: {t for pair in pairs for t in pair} for tp, pairs in tp_types.items()}
    a = a_half.reshape(len(type_ids), -1, n_fn, n_lmh)

    def density(i, tp, n, l, m):
        v = a[i, tp, n, l * (l + 1) // 2 + abs(m)]
        return v if m >= 0 else (-1) ** m * np.conj(v)

    gtinv = params.model.gtinv
    energies = np.zeros(len(type_ids))
    for i, t in enumerate(type_ids):
        d = np.zeros(len(features))
        for k, feature in enumerate(features):
            if params.model.feature_type == "pair":
                n, (tp,) = feature
                d[k] = np.sqrt(4 * np.pi) * density(i, tp, n, 0, 0).real if t in members[tp] else 0
                continue
            n, gid, tcomb = feature
            if not all(t in members[tp] for tp in tcomb):
                continue
            total = 0j
            for lm_list, c in zip(gtinv.lm_seq[gid], gtinv.lm_coeffs[gid]):
                term = c
                for lm, tp in zip(lm_list, tcomb):
                    l = int(np.sqrt(lm))
                    term = term * density(i, tp, n, l, lm - l * l - l)
                total += term
            d[k] = total.real
        e = coeffs[: len(features)] @ d
        for p, comb in enumerate(polynomials):
            e += coeffs[len(features) + p] * np.prod(d[list(comb)])
        energies[i] = e
    return energies


@pytest.mark.parametrize("which", ["al", "mgo", "pair"])
def test_atomic_energy_kernel_matches_plain_reference(which, al_potential, mgo_potential):
    potential = {
        "al": al_potential,
        "mgo": mgo_potential,
        "pair": random_potential(("Al", "Cu"), feature_type="pair", model_type=2, max_p=3, seed=3),
    }[which]
    component = potential.components[0]
    tables = component.tables
    rng = np.random.default_rng(1)
    n_atom = 4
    a_half = (rng.normal(size=(n_atom, tables.n_slots_half))
              + 1j * rng.normal(size=(n_atom, tables.n_slots_half))) * 0.3
    # m = 0 densities of a real field are real
    lms = np.array([m for l in range(tables.lmax + 1) for m in range(l + 1)])
    a_half.reshape(n_atom, -1, len(lms))[:, :, lms == 0] = a_half.reshape(
        n_atom, -1, len(lms))[:, :, lms == 0].real
    type_ids = rng.integers(0, len(tables.elements), size=n_atom)
    energies = np.zeros(n_atom)
    g = np.zeros_like(a_half)
    kernels.atomic_energies(
        a_half, type_ids, tables.lmax, tables.products, tables.triples, tables.features,
        tables.polynomial, True, 2, energies, g, np.zeros((0, 1)),
    )
    expected = reference_energies(component.params, component.coeffs, a_half, type_ids, tables.lmax)
    np.testing.assert_allclose(energies, expected, rtol=1e-10, atol=1e-10)
    assert np.abs(expected).max() > 1e-3

    # the adjoint g is the Wirtinger-style gradient: dE = Re sum g da over m >= 0 slots
    h = 1e-6
    direction = rng.normal(size=a_half.shape) + 1j * rng.normal(size=a_half.shape)
    direction.reshape(n_atom, -1, len(lms))[:, :, lms == 0] = direction.reshape(
        n_atom, -1, len(lms))[:, :, lms == 0].real
    shifted = [
        reference_energies(component.params, component.coeffs, a_half + s * h * direction,
                           type_ids, tables.lmax)
        for s in (1, -1)
    ]
    numeric = (shifted[0] - shifted[1]) / (2 * h)
    analytic = np.real(np.sum(g * direction, axis=1))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_bundles_are_typed_and_refuse_swapped_or_cast_arrays(mgo_potential):
    """The kernels take NamedTuples of arrays whose dtype and ndim are declared: the tables'
    bundles have them, and a bundle made with a swapped or cast array is refused."""
    component = mgo_potential.components[0]
    tables = component.tables
    features = build_feature_tables(component.params)
    for bundle in (tables.basis, tables.products, tables.triples, tables.features,
                   tables.polynomial, features.terms, features.factors, features.rows,
                   features.blocks):
        for name, hint in get_type_hints(type(bundle), include_extras=True).items():
            value = getattr(bundle, name)
            if hasattr(hint, "__metadata__"):
                assert (value.dtype, value.ndim) == hint.__metadata__, name
                assert value.flags.c_contiguous and not value.flags.writeable, name
            else:
                assert type(value) is hint, name
    assert tables.products.factors.dtype == np.int32 and tables.triples.pair.shape[1] == 2
    p, t, f = tables.products, tables.triples, features.factors
    bad = {
        "Products.factors": p._replace(factors=p.factors.astype(np.int64)),
        "Products.ptr": p._replace(ptr=p.off, off=p.ptr),  # swapped
        "Triples.pair": t._replace(pair=t.x, x=t.pair),  # swapped
        "Features.ptr": tables.features._replace(ptr=tables.features.coef),
        "Basis.lmax": tables.basis._replace(lmax=float(tables.lmax)),
        "Factors.sign": f._replace(sign=f.lmh),
    }
    for field, bundle in bad.items():
        with pytest.raises(TypeError, match=field):
            frozen_bundle(type(bundle), **bundle._asdict())
    again = frozen_bundle(Products, **p._asdict())  # a good one passes unchanged
    assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(again, p))


def test_params_helper_builds_requested_model():
    params = model_params(("Ti",), cutoff=6.0, gtinv_order=4, gtinv_maxl=(6, 4, 2))
    assert params.model.cutoff == 6.0
    assert max(len(lc) for lc in params.model.gtinv.l_comb) == 4


@njit(nogil=True)
def _count_chunk(c, n_chunks, bonds, scale, out):
    """Test kernel: out[c] += scale * (c + 1) + bonds.d[0, 0] for chunk c (a bundle inside)."""
    out[c] += scale * (c + 1) + bonds.d[0, 0]


@njit
def _returns_a_value(c, n_chunks, out):
    out[c] = 1.0
    return c


@pytest.mark.parametrize("n_chunks", [1, 2, 3, 7])
def test_run_chunks_runs_each_chunk_once(n_chunks):
    """The parallel driver calls the kernel through its address, its arguments (a bundle
    among them) passed on by address: each chunk exactly once, whatever the thread count.
    (The bundle is the engine's own: the driver's on-disk cache lists the argument types.)"""
    out = np.zeros(n_chunks)
    bonds = Bonds(np.zeros(1, np.int64), np.zeros(1, np.int64), np.full((1, 3), 0.5))
    for _ in range(2):
        kernels.run_chunks(_count_chunk, n_chunks, (bonds, 2.0, out))
    np.testing.assert_array_equal(out, 2 * (2.0 * np.arange(1, n_chunks + 1) + 0.5))


def test_run_chunks_refuses_a_kernel_that_returns_a_value():
    with pytest.raises(TypeError, match="_returns_a_value must return nothing"):
        kernels.run_chunks(_returns_a_value, 2, (np.zeros(2),))


def test_chunk_counts_give_the_same_numbers(mgo_potential):
    """Density, energies and forces from 1 chunk (the kernel called in this thread) and from
    2 and 5 (the parallel driver) agree to rounding (chunks add in another order)."""
    tables = mgo_potential.components[0].tables
    atoms = Atoms("MgO2Mg", positions=[[0, 0, 0], [2.1, 0.1, 0], [0.2, 2.0, 0.3], [1.9, 2.2, 1.5]],
                  cell=[[4.2, 0, 0], [0.5, 4.0, 0], [0.3, -0.4, 4.4]], pbc=True).repeat(2)
    type_ids = np.array([tables.elements.index(s) for s in atoms.get_chemical_symbols()])
    bonds = Bonds(*half_neighbor_list(atoms.cell.array, atoms.positions, atoms.pbc, tables.cutoff))
    results = []
    for n_chunks in (1, 2, 5):
        a = np.zeros((len(atoms), tables.n_slots_half), dtype=complex)
        kernels.compute_densities(bonds, type_ids, tables.basis, n_chunks, a)
        energies = np.zeros(len(atoms))
        kernels.atomic_energies(a, type_ids, tables.lmax, tables.products, tables.triples,
                                tables.features, tables.polynomial, True, n_chunks, energies, a,
                                np.zeros((0, 1)))
        f, virial = np.zeros((len(atoms), 3)), np.zeros((3, 3))
        kernels.bond_forces(bonds, type_ids, tables.basis, a, n_chunks, f, virial)
        results.append((energies, f, virial))
    for energies, f, virial in results[1:]:
        np.testing.assert_allclose(energies, results[0][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(f, results[0][1], rtol=0, atol=1e-12)
        np.testing.assert_allclose(virial, results[0][2], rtol=0, atol=1e-11)
    assert np.abs(results[0][1]).max() > 0.1


def test_kernels_compile_for_their_own_argument_types_only(mgo_potential):
    """A kernel called with prange's unsigned index or a constant argument is compiled once
    more for it (with all its callees: seconds of a first compile); none of ours is."""
    from numba.core.registry import CPUDispatcher

    from polymlp_lab.engine import design_kernels, harmonics, neighbors, radial

    atoms = Atoms("MgO", positions=[[0, 0, 0], [2.1, 0.1, 0.2]], cell=np.eye(3) * 4.2, pbc=True)
    mgo_potential.evaluate(atoms.repeat(2))
    for module in (kernels, neighbors, harmonics, radial, design_kernels):
        for name, function in vars(module).items():
            if isinstance(function, CPUDispatcher):
                for signature in function.signatures:
                    assert not any(isinstance(t, types.Literal) or t == types.uint64
                                   for t in signature), (name, signature)


def test_threads_evaluating_at_once_get_their_own_results(al_potential):
    """Kernels run without the GIL (one chunk) and the engine's work arrays are per thread:
    structures evaluated in 4 threads at once give the numbers of one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from ase.build import bulk

    structures = []
    for seed in range(8):
        atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 1 + seed % 3))
        atoms.rattle(0.05, seed=seed)
        structures.append(atoms)
    alone = [al_potential.evaluate(atoms) for atoms in structures]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(al_potential.evaluate, structures * 3))
    for k, result in enumerate(together):  # same up to the order chunks add in
        expected = alone[k % len(structures)]
        assert abs(result.energy - expected.energy) < 1e-11
        np.testing.assert_allclose(result.forces, expected.forces, rtol=0, atol=1e-12)
        np.testing.assert_allclose(result.stress, expected.stress, rtol=0, atol=1e-13)

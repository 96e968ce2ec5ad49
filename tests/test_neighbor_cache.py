"""The neighbour list reused with a skin gives the bonds of a fresh list, and rebuilds when
it must; the Gaussian grid recurrence equals the direct formula."""

import numpy as np
import pytest
from ase.build import bulk

from polymlp_lab import AtomsTooCloseError, PolymlpCalculator
from polymlp_lab.engine.neighbors import NeighborCache, half_neighbor_list
from polymlp_lab.engine.radial import (
    gaussian_radial,
    gaussian_radial_derivative,
    gaussian_radial_grid,
    gaussian_radial_grid_derivative,
    uniform_grid_prefix,
)

CUTOFF = 5.0


def bond_set(bonds, decimals=9):
    """Bonds as a sorted array of (i, j, dx, dy, dz), order-free."""
    i, j, d = bonds
    rows = np.column_stack([i, j, np.round(d, decimals)])
    return rows[np.lexsort(rows.T[::-1])]


def assert_same_bonds(cache_bonds, fresh_bonds):
    assert len(cache_bonds[0]) == len(fresh_bonds[0])
    np.testing.assert_allclose(bond_set(cache_bonds), bond_set(fresh_bonds), atol=1e-8)


def triclinic_cell():
    atoms = bulk("Cu", "fcc", a=3.6).repeat((3, 2, 2))
    atoms.set_cell(atoms.cell.array + [[0, 0.3, 0.1], [0.2, 0, -0.2], [0.1, 0.4, 0]],
                   scale_atoms=True)
    atoms.rattle(0.05, seed=1)
    return atoms


@pytest.mark.parametrize("pbc", [(True, True, True), (True, True, False), (False, False, False)])
def test_reused_list_has_the_bonds_of_a_fresh_list(pbc):
    atoms = triclinic_cell()
    atoms.pbc = pbc
    cache = NeighborCache(skin=1.0)
    rng = np.random.default_rng(0)
    positions = atoms.positions.copy()
    for _ in range(12):
        positions = positions + rng.normal(scale=0.04, size=positions.shape)
        got = cache.bonds(atoms.cell.array, positions, atoms.pbc, CUTOFF)
        assert_same_bonds(got, half_neighbor_list(atoms.cell.array, positions, atoms.pbc, CUTOFF))
    assert 1 <= cache.builds < 12  # reused some of the time


def test_rebuilds_once_atoms_moved_half_the_skin():
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    cache = NeighborCache(skin=0.4)
    cache.bonds(atoms.cell.array, atoms.positions, atoms.pbc, CUTOFF)
    moved = atoms.positions.copy()
    moved[3] += [0.19, 0.0, 0.0]  # 2 x 0.19 < skin: still complete
    cache.bonds(atoms.cell.array, moved, atoms.pbc, CUTOFF)
    assert cache.builds == 1
    moved[3] += [0.02, 0.0, 0.0]  # 2 x 0.21 > skin: rebuilt
    got = cache.bonds(atoms.cell.array, moved, atoms.pbc, CUTOFF)
    assert cache.builds == 2
    assert_same_bonds(got, half_neighbor_list(atoms.cell.array, moved, atoms.pbc, CUTOFF))


def test_follows_a_deforming_cell_and_rebuilds_on_compression():
    atoms = triclinic_cell()
    cache = NeighborCache(skin=1.0)
    cache.bonds(atoms.cell.array, atoms.positions, atoms.pbc, CUTOFF)
    for strain in (0.01, 0.03, 0.05):  # expansion: the list stays complete
        deformation = np.eye(3) + strain * np.array([[1, 0.2, 0], [0, 1, 0.1], [0, 0, 1]])
        cell = atoms.cell.array @ deformation
        positions = atoms.positions @ deformation
        got = cache.bonds(cell, positions, atoms.pbc, CUTOFF)
        assert_same_bonds(got, half_neighbor_list(cell, positions, atoms.pbc, CUTOFF))
    assert cache.builds == 1
    cell = atoms.cell.array * 0.8  # compression by 20 %: 0.8 (cutoff + skin) < cutoff
    got = cache.bonds(cell, atoms.positions * 0.8, atoms.pbc, CUTOFF)
    assert cache.builds == 2
    assert_same_bonds(got, half_neighbor_list(cell, atoms.positions * 0.8, atoms.pbc, CUTOFF))


def test_changed_atoms_or_cutoff_rebuild():
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    cache = NeighborCache(skin=1.0)
    cache.bonds(atoms.cell.array, atoms.positions, atoms.pbc, CUTOFF)
    fewer = atoms[:-1]
    got = cache.bonds(fewer.cell.array, fewer.positions, fewer.pbc, CUTOFF)
    assert cache.builds == 2
    assert_same_bonds(got, half_neighbor_list(fewer.cell.array, fewer.positions, fewer.pbc, CUTOFF))
    got = cache.bonds(fewer.cell.array, fewer.positions, fewer.pbc, 4.0, reach=6.0)
    assert cache.builds == 3
    assert_same_bonds(got, half_neighbor_list(fewer.cell.array, fewer.positions, fewer.pbc, 4.0))


def test_too_close_atoms_named_through_the_cache():
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    cache = NeighborCache(skin=2.0)
    cache.bonds(atoms.cell.array, atoms.positions, atoms.pbc, CUTOFF)
    positions = atoms.positions.copy()
    positions[2] = positions[1] + [0.3, 0.0, 0.0]  # far beyond the skin: rebuilt, then caught
    with pytest.raises(AtomsTooCloseError, match="atoms 1 and 2") as info:
        cache.bonds(atoms.cell.array, positions, atoms.pbc, CUTOFF)
    assert info.value.distance == pytest.approx(0.3)


def test_negative_skin_rejected():
    with pytest.raises(ValueError, match="skin"):
        NeighborCache(skin=-0.1)


def test_calculator_with_skin_equals_fresh_lists(al_potential):
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    with_skin = PolymlpCalculator(al_potential, skin=0.8)
    fresh = PolymlpCalculator(al_potential, skin=0.0)
    rng = np.random.default_rng(3)
    for _ in range(6):
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = with_skin, fresh
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-10)
        np.testing.assert_allclose(a.get_stress(), b.get_stress(), atol=1e-12)
    assert with_skin.neighbors.builds < 6 and fresh.neighbors is None


def test_calculator_sees_every_change():
    """The fast state check still notices positions, cell, numbers and pbc changes."""
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    calc = PolymlpCalculator.__new__(PolymlpCalculator)
    calc.atoms = atoms.copy()
    assert calc.check_state(atoms) == []
    moved = atoms.copy()
    moved.positions[0, 0] += 1e-12
    assert calc.check_state(moved) == ["positions"]
    strained = atoms.copy()
    strained.cell[0, 0] += 1e-9
    assert calc.check_state(strained) == ["cell"]
    other = atoms.copy()
    other.numbers[1] = 29
    other.pbc = (True, True, False)
    assert calc.check_state(other) == ["numbers", "pbc"]


@pytest.mark.parametrize(
    "params",
    [
        [[1.0, 0.0], [1.0, 0.5555555555555556], [1.0, 1.111111111111111], [1.0, 5.0 / 3.0],
         [0.0, 0.0]],  # pypolymlp's grid with a constant function after it
        [[2.5, 1.0], [2.5, 1.5], [2.5, 2.0], [2.5, 2.5], [2.5, 3.0]],
        [[1.0, 0.0], [1.0, 1.0], [0.7, 2.0], [1.0, 3.0]],  # no uniform run of 3: direct
    ],
)
def test_gaussian_grid_recurrence_equals_the_direct_formula(params):
    params = np.array(params)
    m = uniform_grid_prefix(params, 6.0)
    assert m == (0 if params[2, 0] == 0.7 else 4 if params[-1, 0] == 0.0 else len(params))
    n = len(params)
    for r in np.linspace(0.3, 6.2, 37):
        direct, direct_d = np.empty(n), np.empty(n)
        grid, grid_d = np.empty(n), np.empty(n)
        gaussian_radial_derivative(r, 6.0, params, direct, direct_d)
        gaussian_radial_grid_derivative(r, 6.0, params, m, grid, grid_d)
        np.testing.assert_allclose(grid, direct, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(grid_d, direct_d, rtol=1e-11, atol=1e-300)
        values = np.empty(n)
        gaussian_radial_grid(r, 6.0, params, m, values)
        plain = np.empty(n)
        gaussian_radial(r, 6.0, params, plain)
        np.testing.assert_allclose(values, plain, rtol=1e-12, atol=1e-300)


def test_grid_recurrence_refused_where_it_could_underflow():
    sharp = np.array([[400.0, 0.0], [400.0, 0.5], [400.0, 1.0], [400.0, 1.5]])
    assert uniform_grid_prefix(sharp, 6.0) == 0
    assert uniform_grid_prefix(np.array([[1.0, 0.0], [1.0, 1.0]]), 6.0) == 0  # too short


def test_image_limit_counts_the_images_that_exist(monkeypatch):
    """The cap on ghost images applies to the images within reach of the cell, which grow
    with the atoms (about (1 + 2 cutoff/height)^3 each), not to atoms x translations (27 x
    the atoms of any large cell: a 10^6-atom cell used to be refused)."""
    from polymlp_lab import InvalidStructureError
    from polymlp_lab.engine import neighbors

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(6)  # 864 atoms, 21.6 Å cell
    cell, positions, pbc = atoms.cell.array, atoms.positions, atoms.pbc
    expected = half_neighbor_list(cell, positions, pbc, CUTOFF)
    frac = positions @ np.linalg.inv(cell)
    delta = CUTOFF / np.diag(cell)
    none_i, none_d = np.empty(0, dtype=np.int64), np.empty((0, 3))
    n_images = neighbors._ghost_images(frac, cell, np.ones(3, dtype=np.int64), delta, False,
                                       none_d, none_d, none_i, none_i)
    assert len(atoms) < n_images < 27 * len(atoms) // 2
    monkeypatch.setattr(neighbors, "MAX_IMAGES", n_images)
    assert_same_bonds(half_neighbor_list(cell, positions, pbc, CUTOFF), expected)
    monkeypatch.setattr(neighbors, "MAX_IMAGES", n_images - 1)
    with pytest.raises(InvalidStructureError, match=f"{n_images} periodic images"):
        half_neighbor_list(cell, positions, pbc, CUTOFF)

"""A large structure evaluated slab by slab (engine.sweep) gives the whole-structure results,
for any periodicity, cell shape, atom order and number of chunks; its slabs are such that a
bond joins atoms of one slab or of neighbouring ones."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from polymlp_lab import AtomsTooCloseError
from polymlp_lab.engine import evaluate, sweep
from polymlp_lab.engine.evaluate import evaluate_model
from polymlp_lab.engine.neighbors import NeighborCache, half_neighbor_list


def rock_salt(repeat=(12, 2, 2), pbc=(True, True, True), seed=0):
    """Rattled, sheared rock-salt MgO, atoms in a shuffled order (not the slab order)."""
    atoms = bulk("MgO", "rocksalt", a=4.21, cubic=True).repeat(repeat)
    atoms.set_cell(atoms.cell.array + [[0, 0.4, 0.2], [0.3, 0, 0], [0, 0.2, 0]],
                   scale_atoms=True)
    atoms.rattle(0.08, seed=seed)
    atoms = atoms[np.random.default_rng(seed).permutation(len(atoms))]
    atoms.pbc = pbc
    if not all(pbc):
        atoms.center(vacuum=2.0, axis=[k for k in range(3) if not pbc[k]])
    return atoms


def inputs(potential, atoms):
    c = potential.components[0]
    return (c.tables, atoms.cell.array, atoms.positions, c.type_ids(atoms.numbers),
            np.asarray(atoms.pbc, dtype=bool))


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False)])
@pytest.mark.parametrize("threads", [1, 3])
def test_sweep_gives_the_whole_structure_results(mgo_potential, monkeypatch, pbc, threads):
    tables, cell, positions, types, pbc = inputs(mgo_potential, rock_salt(pbc=pbc))
    plan = sweep.plan_slabs(cell, positions, pbc, tables.cutoff)
    assert plan is not None and len(plan.start) - 1 >= sweep.MIN_SLABS
    whole = evaluate_model(tables, cell, positions, types, pbc, features=True)
    monkeypatch.setattr(sweep, "get_num_threads", lambda: threads)
    slabs = sweep.evaluate_in_slabs(tables, cell, positions, types, pbc, plan, features=True)
    for name, a, b in zip(("energies", "forces", "virial", "features"), whole, slabs):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10 * max(1.0, np.abs(a).max()),
                                   err_msg=name)
    energies = sweep.evaluate_in_slabs(tables, cell, positions, types, pbc, plan,
                                       forces=False)
    assert energies[1] is None and energies[2] is None
    np.testing.assert_allclose(energies[0], whole[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("pbc", [(True, True, True), (False, True, True)])
def test_bonds_join_atoms_of_one_slab_or_of_neighbouring_ones(mgo_potential, pbc):
    tables, cell, positions, _, pbc = inputs(mgo_potential, rock_salt(pbc=pbc))
    plan = sweep.plan_slabs(cell, positions, pbc, tables.cutoff)
    n_slab = len(plan.start) - 1
    slab = np.repeat(np.arange(n_slab), np.diff(plan.start))  # of the atoms in slab order
    bond_i, bond_j, _ = half_neighbor_list(cell, positions[plan.order], pbc, tables.cutoff)
    step = slab[bond_j] - slab[bond_i]  # j >= i: the half list's partners come later
    allowed = (step == 0) | (step == 1) | ((slab[bond_i] == 0) & (slab[bond_j] == n_slab - 1))
    assert allowed.all()
    assert np.array_equal(np.sort(plan.order), np.arange(len(positions)))
    assert (np.diff(plan.start) > 0).all()


def test_too_few_slabs_and_no_atoms_give_no_plan(mgo_potential):
    tables, cell, positions, _, pbc = inputs(mgo_potential, rock_salt(repeat=(3, 3, 3)))
    assert sweep.plan_slabs(cell, positions, pbc, tables.cutoff) is None
    assert sweep.plan_slabs(cell, positions[:0], pbc, tables.cutoff) is None


def test_evaluate_model_sweeps_large_structures_unless_a_cache_is_given(mgo_potential,
                                                                         monkeypatch):
    tables, cell, positions, types, pbc = inputs(mgo_potential, rock_salt())
    calls = []
    real = sweep.evaluate_in_slabs
    monkeypatch.setattr(evaluate, "evaluate_in_slabs",
                        lambda *args, **kw: calls.append(1) or real(*args, **kw))
    monkeypatch.setattr(evaluate, "_SWEEP_BYTES", 0)
    swept = evaluate_model(tables, cell, positions, types, pbc)
    assert calls == [1]
    cached = evaluate_model(tables, cell, positions, types, pbc, neighbors=NeighborCache())
    assert calls == [1]
    for a, b in zip(swept[:3], cached[:3]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * max(1.0, np.abs(b).max()))


def test_too_close_atoms_are_named_as_given(al_potential):
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((10, 2, 2))
    atoms = atoms[np.random.default_rng(1).permutation(len(atoms))]
    atoms = atoms + Atoms("Al", positions=[atoms.positions[17] + [0.2, 0.0, 0.0]])
    tables, cell, positions, types, pbc = inputs(al_potential, atoms)
    plan = sweep.plan_slabs(cell, positions, pbc, tables.cutoff)
    with pytest.raises(AtomsTooCloseError, match="0.200 Å apart") as caught:
        sweep.evaluate_in_slabs(tables, cell, positions, types, pbc, plan)
    assert sorted(caught.value.pair) == [17, len(atoms) - 1]
    assert str(caught.value).startswith(f"atoms {caught.value.pair[0]} and ")


def test_empty_slabs_are_passed_over(mgo_potential):
    """Two blocks of atoms 25 Å apart in an open cell: the slabs between them hold no atom."""
    block = bulk("MgO", "rocksalt", a=4.21, cubic=True).repeat((3, 2, 2))
    block.rattle(0.05, seed=3)
    far = block.copy()
    far.positions += [3 * 4.21 + 25.0, 0.0, 0.0]
    atoms = block + far
    atoms.pbc = False
    tables, cell, positions, types, pbc = inputs(mgo_potential, atoms)
    plan = sweep.plan_slabs(cell, positions, pbc, tables.cutoff)
    assert plan is not None and (np.diff(plan.start) == 0).any()
    whole = evaluate_model(tables, cell, positions, types, pbc)
    slabs = sweep.evaluate_in_slabs(tables, cell, positions, types, pbc, plan)
    for a, b in zip(whole[:3], slabs[:3]):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-10 * max(1.0, np.abs(a).max()))

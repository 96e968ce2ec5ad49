"""Active learning on the extrapolation grade: selection, labelling, one step, the loop.

The reference calculator is the shipped Al potential, a stand-in for DFT (fast and
deterministic); a small model is fitted to cold cells (small rattle and strain) and meets hot
ones (larger rattle, ±5 % strain) as candidates and as the held-out test set.
"""

import json

import numpy as np
import pytest
from ase import Atoms

from polymlp_lab import data, load_potential
from polymlp_lab.calculator import PolymlpCalculator
from polymlp_lab.errors import OutputDirectoryError, PolymlpLabError, UnknownElementError
from polymlp_lab.extrapolation import GRADE_WARNING, ExtrapolationError
from polymlp_lab.fitting import Dataset, PolymlpFit
from polymlp_lab.fitting.active_learning import (
    ReferenceCalculationError, active_learning, active_learning_step, label, select_by_grade,
)
from polymlp_lab.runs import RunMismatchError

MODEL = dict(elements=("Al",), cutoff=5.0, model_type=3, max_p=2, gtinv_order=2,
             gtinv_maxl=(4,), gaussian_params2=(0.0, 4.0, 4), progress=False)
N_COLD_CANDIDATES = 6  # candidates 0-5 are like the training cells, 6-15 hot


def al_cells(n, seed, rattle, strain):
    """fcc Al supercells of 32 atoms, strained by up to ``strain`` and rattled (Å)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        atoms = data.structure("Al").repeat(2)
        deformation = np.eye(3) + rng.uniform(-strain, strain, size=(3, 3))
        atoms.set_cell(atoms.cell.array @ deformation, scale_atoms=True)
        atoms.rattle(rattle, seed=int(rng.integers(1 << 30)))
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def reference():
    """Stand-in for DFT: the shipped Al potential as an ASE calculator."""
    return PolymlpCalculator(load_potential(data.potential("Al")))


@pytest.fixture(scope="module")
def train(reference):
    return Dataset("cold", label(al_cells(12, seed=0, rattle=0.05, strain=0.01), reference))


@pytest.fixture(scope="module")
def test_set(reference):
    return Dataset("hot", label(al_cells(6, seed=1, rattle=0.12, strain=0.05), reference))


@pytest.fixture(scope="module")
def candidates():
    return (al_cells(N_COLD_CANDIDATES, seed=3, rattle=0.04, strain=0.01)
            + al_cells(10, seed=2, rattle=0.12, strain=0.05))


@pytest.fixture(scope="module")
def fitted(train, test_set):
    return PolymlpFit(**MODEL).fit(train, test_set)


def grade(potential, atoms):
    return potential.evaluate(atoms, forces=False, grade=True).extrapolation_grade


def test_select_by_grade_keeps_candidates_above_the_threshold_highest_first(fitted, candidates):
    grades = [grade(fitted.potential_, a) for a in candidates]
    assert max(grades[:N_COLD_CANDIDATES]) < GRADE_WARNING < min(grades[N_COLD_CANDIDATES:])

    everything = select_by_grade(fitted.potential_, candidates, max_new=100)
    assert sorted(i for i, _ in everything) == list(range(N_COLD_CANDIDATES, len(candidates)))
    assert [g for _, g in everything] == sorted((g for _, g in everything), reverse=True)
    assert all(g == pytest.approx(grades[i]) for i, g in everything)

    capped = select_by_grade(fitted.potential_, candidates, max_new=3)
    assert capped == everything[:3]
    threshold = everything[4][1]  # strictly above: the 5th is left out
    assert select_by_grade(fitted.potential_, candidates, threshold=threshold,
                           max_new=100) == everything[:4]


def test_select_by_grade_refuses_a_potential_without_grade_and_bad_settings(fitted, candidates):
    with pytest.raises(ExtrapolationError, match="needs a potential with an extrapolation grade"):
        select_by_grade(load_potential(data.potential("Al")), candidates)
    with pytest.raises(PolymlpLabError, match="max_new"):
        select_by_grade(fitted.potential_, candidates, max_new=0)
    with pytest.raises(PolymlpLabError, match="threshold"):
        select_by_grade(fitted.potential_, candidates, threshold=float("nan"))


def test_label_copies_the_reference_numbers(reference, candidates):
    structures = candidates[:2] + [Atoms("Al2", positions=[(0, 0, 0), (2.6, 0, 0)])]
    labelled = label(structures, reference)
    truth = load_potential(data.potential("Al"))
    for original, copy in zip(structures, labelled):
        assert copy is not original and original.calc is None
        assert np.allclose(copy.positions, original.positions)
        expected = truth.evaluate(original)
        assert copy.calc.results["energy"] == pytest.approx(expected.energy, abs=1e-10)
        assert np.allclose(copy.calc.results["forces"], expected.forces, atol=1e-10)
        if original.pbc.all():
            assert np.allclose(copy.calc.results["stress"], expected.stress, atol=1e-12)
        else:
            assert copy.calc.results.get("stress") is None


def test_label_names_the_structure_the_reference_fails_on(reference, candidates):
    copper = candidates[0].copy()
    copper[3].symbol = "Cu"
    with pytest.raises(ReferenceCalculationError, match="structure 1 ") as info:
        label([candidates[1], copper], reference)
    assert info.value.index == 1
    assert isinstance(info.value.__cause__, UnknownElementError)


def test_step_adds_the_selected_structures_and_refits(fitted, train, test_set, candidates,
                                                      reference):
    template = PolymlpFit(**MODEL)
    step = active_learning_step(template, train, test_set, candidates, reference, max_new=4)
    assert not hasattr(template, "coef_")  # the template is not fitted
    before = select_by_grade(fitted.potential_, candidates, max_new=4)
    assert not step.converged and step.generation == 1
    assert list(step.selected) == [i for i, _ in before]
    assert np.allclose(step.grades, [g for _, g in before])
    assert step.n_candidates == len(candidates) and step.max_grade == pytest.approx(before[0][1])

    assert step.train.name == "cold+al1" and len(train) == 12
    assert (step.n_train_before, step.n_train_after) == (12, 16) == (12, len(step.train))
    assert step.train.structures[:12] == train.structures
    for i, added in zip(step.selected, step.train.structures[12:]):
        assert np.allclose(added.positions, candidates[i].positions)
        assert added.calc.results["energy"] == pytest.approx(
            reference.get_potential_energy(candidates[i].copy()))

    # the refit trusts what it was given: every grade drops to at most 1
    assert len(step.grades_after) == 4
    assert all(g <= 1 + 1e-9 for g in step.grades_after)
    assert all(g < g0 for g, g0 in zip(step.grades_after, step.grades))
    assert np.allclose(step.grades_after,
                       [grade(step.fit.potential_, candidates[i]) for i in step.selected])
    # the held-out hot structures are predicted better
    assert step.rmse_energy_before == pytest.approx(
        next(e.rmse_energy for e in fitted.errors_ if e.kind == "test"))
    assert step.rmse_energy_after < step.rmse_energy_before
    assert step.rmse_force_after < step.rmse_force_before
    record = json.loads(json.dumps(step.as_dict()))
    assert "fit" not in record and "train" not in record and record["selected"] == list(step.selected)
    print(f"\ngrades before {np.round(step.grades, 1)} after {np.round(step.grades_after, 3)}; "
          f"test RMSE energy {step.rmse_energy_before:.3f} -> {step.rmse_energy_after:.3f} "
          f"meV/atom, force {step.rmse_force_before:.4f} -> {step.rmse_force_after:.4f} eV/Å")


def test_step_above_every_grade_converges_without_refit(fitted, train, test_set, candidates,
                                                        reference):
    highest = max(grade(fitted.potential_, a) for a in candidates)
    step = active_learning_step(fitted, train, test_set, candidates, reference,
                                threshold=highest * 1.01)
    assert step.converged and step.selected == () and step.grades_after == ()
    assert step.fit is fitted and step.train is train
    assert step.n_train_after == step.n_train_before == len(train)
    assert step.rmse_energy_after == step.rmse_energy_before
    assert step.max_grade == pytest.approx(highest)


def test_step_refuses_a_fit_made_on_other_data(fitted, train, test_set, candidates, reference):
    with pytest.raises(PolymlpLabError, match="was fitted on"):
        active_learning_step(fitted, train.subset(range(6)), test_set, candidates, reference)
    with pytest.raises(PolymlpLabError, match="checkpoint"):
        active_learning_step(PolymlpFit(**MODEL, checkpoint="run"), train, test_set,
                             candidates, reference)


def test_loop_writes_each_generation_and_stops_at_convergence(train, test_set, candidates,
                                                              reference, tmp_path):
    seen = []

    def explore(potential):
        seen.append(potential)
        return candidates

    out = tmp_path / "al"
    steps = active_learning(PolymlpFit(**MODEL), train, test_set, explore, reference,
                            threshold=GRADE_WARNING, max_new=4, max_generations=5, out=out)
    assert [s.generation for s in steps] == list(range(1, len(steps) + 1))
    assert 2 <= len(steps) < 5 and steps[-1].converged
    assert not any(s.converged for s in steps[:-1])
    assert seen[1:] == [s.fit.potential_ for s in steps[:-1]]  # explores with each refit
    for before, after in zip(steps, steps[1:]):
        assert after.n_train_before == before.n_train_after

    records = json.loads((out / "generations.json").read_text())
    folders = [f"generation-{s.generation:02d}" for s in steps[:-1]] + [None]
    assert records == [{**s.as_dict(), "directory": d} for s, d in zip(steps, folders)]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == (
        ["generation-00"] + folders[:-1] + ["records"])  # records: the run layer's, to resume
    for s, folder in zip(steps[:-1], folders):
        files = {p.name for p in (out / folder).iterdir()}
        assert files == {"polymlp.yaml", "polymlp_extrapolation.npz", "polymlp_error.yaml"}
        saved = load_potential(out / folder / "polymlp.yaml")
        assert saved.extrapolation is not None  # its grade is picked up
        assert grade(saved, candidates[s.selected[0]]) == pytest.approx(s.grades_after[0])


def test_loop_stops_after_max_generations(train, test_set, candidates, reference):
    steps = active_learning(PolymlpFit(**MODEL), train, test_set, lambda p: candidates,
                            reference, max_new=1, max_generations=2)
    assert len(steps) == 2 and not any(s.converged for s in steps)
    assert [s.n_train_after for s in steps] == [13, 14]
    assert steps[1].train.name == "cold+al2"


def test_loop_refuses_an_output_file_before_any_work(train, test_set, reference, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")

    def explore(potential):
        raise AssertionError("explored despite a bad out")

    with pytest.raises(OutputDirectoryError, match="existing file"):
        active_learning(PolymlpFit(**MODEL), train, test_set, explore, reference,
                        out=blocker / "al")
    with pytest.raises(PolymlpLabError, match="max_generations"):
        active_learning(PolymlpFit(**MODEL), train, test_set, explore, reference,
                        max_generations=0)


class CountingReference(PolymlpCalculator):
    """The stand-in reference, counting the structures it labels."""

    def __init__(self, potential):
        super().__init__(potential)
        self.labelled = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        self.labelled += bool(system_changes)
        super().calculate(atoms, properties, system_changes)


def test_an_interrupted_loop_resumes_without_asking_the_reference_again(
        train, test_set, candidates, tmp_path):
    reference = CountingReference(load_potential(data.potential("Al")))
    explored = []

    def explore(potential):
        explored.append(potential)
        return candidates

    out = tmp_path / "al"
    settings = dict(max_new=2, out=out)
    first = active_learning(PolymlpFit(**MODEL), train, test_set, explore, reference,
                            max_generations=1, **settings)
    assert reference.labelled == 2 and len(explored) == 1

    # a rerun with more generations: generation 1 comes from its record, 2 is new
    steps = active_learning(PolymlpFit(**MODEL), train, test_set, explore, reference,
                            max_generations=2, **settings)
    assert reference.labelled == 4 and len(explored) == 2  # two more labels, one exploration
    assert steps[0].as_dict() == first[0].as_dict()
    np.testing.assert_array_equal(steps[0].fit.coef_, first[0].fit.coef_)  # the same refit
    assert explored[1] is steps[0].fit.potential_  # generation 2 explored with the replayed fit
    assert [s.n_train_after for s in steps] == [14, 16]
    records = json.loads((out / "generations.json").read_text())
    assert [r["generation"] for r in records] == [1, 2]

    again = active_learning(PolymlpFit(**MODEL), train, test_set, explore, reference,
                            max_generations=2, **settings)  # all done: nothing asked
    assert reference.labelled == 4 and len(explored) == 2
    assert [s.as_dict() for s in again] == [s.as_dict() for s in steps]

    with pytest.raises(RunMismatchError, match="max_new"):
        active_learning(PolymlpFit(**MODEL), train, test_set, explore, reference,
                        max_generations=2, max_new=3, out=out)
    with pytest.raises(RunMismatchError, match="max_generations"):
        active_learning(PolymlpFit(**MODEL), train, test_set, explore, reference,
                        max_generations=1, **settings)
    with pytest.raises(RunMismatchError, match="cutoff"):
        active_learning(PolymlpFit(**{**MODEL, "cutoff": 5.5}), train, test_set, explore,
                        reference, max_generations=2, **settings)
    other = PolymlpCalculator(load_potential(data.potential("Al")))
    other.potential.components[0].coeffs[0] += 1e-3  # another reference
    with pytest.raises(RunMismatchError, match="reference potential"):
        active_learning(PolymlpFit(**MODEL), train, test_set, explore, other,
                        max_generations=2, **settings)

"""Extrapolation grade: the engine's per-atom features, calibration, invariances, the
polymlp_extrapolation.npz file, errors, the calculator, fits and hybrids."""

import json
import shutil

import numpy as np
import pytest
from ase.io import read
from scipy.spatial.transform import Rotation

from polymlp_lab import data, load_potential
from polymlp_lab.calculator import PolymlpCalculator
from polymlp_lab.engine.design import build_feature_tables, design_rows
from polymlp_lab.engine.evaluate import evaluate_model
from polymlp_lab.errors import UnknownElementError
from polymlp_lab.extrapolation import (
    GRADE_FILE, ExtrapolationError, ExtrapolationFileError, ExtrapolationGrade,
    calibrate_extrapolation, potential_digest,
)
from polymlp_lab.fitting import Dataset, PolymlpFit
from polymlp_lab.io import read_potential_file
from polymlp_lab.potential import Potential
from polymlp_lab.structures import check_structure

from conftest import random_potential

CALIBRATION = range(0, 1000, 20)  # every 20th MgO structure (50 cells of 64 atoms)
FIT_MODEL = dict(elements=("Mg", "O"), cutoff=5.0, model_type=3, max_p=2, gtinv_order=2,
                 gtinv_maxl=(4,), gaussian_params2=(0.0, 4.0, 4))


# --- shared data ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mgo_data():
    return data.dataset("MgO", indices=CALIBRATION)


@pytest.fixture(scope="module")
def mgo_grade(mgo_data):
    return calibrate_extrapolation(load_potential(data.potential("MgO")), mgo_data,
                                   source="MgO every 20th")


@pytest.fixture
def mgo(mgo_grade):
    """The shipped MgO potential with its grade attached (a fresh object per test)."""
    potential = load_potential(data.potential("MgO"))
    potential.attach_extrapolation(mgo_grade)
    return potential


@pytest.fixture(scope="module")
def probe():
    """An MgO cell not among the calibration structures, rattled a little."""
    atoms = data.dataset("MgO", indices=[10]).structures[0]
    atoms.calc = None
    atoms.rattle(0.1, seed=3)
    return atoms


def al_structures(n, seed=0):
    """Rattled, strained fcc Al supercells (32 atoms): varied environments."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        atoms = data.structure("Al").repeat(2)
        strain = np.eye(3) + rng.uniform(-0.04, 0.04, size=(3, 3))
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms.rattle(0.05 + 0.02 * k, seed=int(rng.integers(1 << 30)))
        out.append(atoms)
    return out


def grades_of(potential, atoms):
    return potential.evaluate(atoms, forces=False, grade=True).extrapolation_grades


def element_mask(atoms, element):
    return np.array(atoms.get_chemical_symbols()) == element


# --- 1. the kernel's features --------------------------------------------------------------

def kernel_case(name):
    potential = load_potential(data.potential(name))
    if name == "MgO":
        atoms = data.dataset("MgO", indices=[0]).structures[0]
    else:
        atoms = data.structure(name).repeat(2)
        atoms.rattle(0.08, seed=7)
    return potential.components[0], atoms


@pytest.mark.parametrize("name", ["MgO", "Al"])
def test_kernel_features_are_columns_of_the_linear_design_features(name):
    c, atoms = kernel_case(name)
    cell, positions, numbers, pbc = check_structure(atoms)
    types = c.type_ids(numbers)
    phi = evaluate_model(c.tables, cell, positions, types, pbc, forces=False, features=True)[3]
    linear = design_rows(build_feature_tables(c.params), cell, positions, types, pbc,
                         derivatives=False)[3]
    ptr = c.tables.features.ptr
    assert phi.shape == (len(atoms), np.diff(ptr).max())
    assert np.abs(phi).max() > 0
    for t in range(len(c.elements)):
        mine = types == t
        n_t = ptr[t + 1] - ptr[t]
        assert n_t > 0 and mine.any()
        assert np.all(phi[mine, n_t:] == 0)  # the unused tail of a row stays zero
        columns = set()
        for j in range(n_t):
            column = phi[mine, j]
            scale = max(np.abs(column).max(), 1e-300)
            error = np.abs(linear[mine] - column[:, None]).max(axis=0)
            matches = np.flatnonzero(error <= 1e-10 * scale)
            assert len(matches), f"type {t} feature {j} is no linear feature"
            columns.add(int(matches[0]))
        distinct = len({phi[mine, j].round(12).tobytes() for j in range(n_t)})
        assert len(columns) >= distinct  # distinct features come from distinct columns


@pytest.mark.parametrize("name", ["MgO", "Al"])
def test_asking_for_features_leaves_energies_and_forces_bit_for_bit(name):
    c, atoms = kernel_case(name)
    cell, positions, numbers, pbc = check_structure(atoms)
    types = c.type_ids(numbers)
    plain = evaluate_model(c.tables, cell, positions, types, pbc, forces=True)
    with_features = evaluate_model(c.tables, cell, positions, types, pbc, forces=True,
                                   features=True)
    assert plain[3] is None and with_features[3] is not None
    for a, b in zip(plain[:3], with_features[:3]):
        assert np.array_equal(a, b)
    e_plain = evaluate_model(c.tables, cell, positions, types, pbc, forces=False)[0]
    e_feat = evaluate_model(c.tables, cell, positions, types, pbc, forces=False, features=True)[0]
    assert np.array_equal(e_plain, e_feat) and np.array_equal(e_plain, plain[0])


# --- 2. calibration ------------------------------------------------------------------------

def test_calibration_atoms_grade_at_most_one_and_the_largest_is_one(mgo, mgo_data):
    largest = {"Mg": 0.0, "O": 0.0}
    for atoms in mgo_data.structures:
        grades = grades_of(mgo, atoms)
        assert grades.max() <= 1 + 1e-9
        assert np.all(grades >= 0)
        for element in largest:
            largest[element] = max(largest[element], grades[element_mask(atoms, element)].max())
    assert largest == pytest.approx({"Mg": 1.0, "O": 1.0}, abs=1e-9)
    assert mgo.extrapolation.n_atoms == ((32 * len(CALIBRATION), 32 * len(CALIBRATION)),)
    assert mgo.extrapolation.source == "MgO every 20th"


def test_grade_is_the_documented_leverage(mgo, mgo_data, probe):
    """γ = (φ − μ)ᵀ A⁻¹ (φ − μ) / γ_max, recomputed in plain NumPy from the features."""
    c = mgo.components[0]

    def features(atoms):
        cell, positions, numbers, pbc = check_structure(atoms)
        types = c.type_ids(numbers)
        return types, evaluate_model(c.tables, cell, positions, types, pbc, forces=False,
                                     features=True)[3]

    trusted = [features(a) for a in mgo_data.structures]
    types, phi = features(probe)
    expected = np.zeros(len(probe))
    for t in range(2):
        n_t = c.tables.features.ptr[t + 1] - c.tables.features.ptr[t]
        x = np.concatenate([f[ty == t, :n_t] for ty, f in trusted])
        mean = x.mean(axis=0)
        scatter = (x - mean).T @ (x - mean)
        a = scatter + 1e-9 * np.trace(scatter) / n_t * np.eye(n_t)
        gamma_max = np.einsum("ij,ji->i", x - mean, np.linalg.solve(a, (x - mean).T)).max()
        d = phi[types == t, :n_t] - mean
        expected[types == t] = np.einsum("ij,ji->i", d, np.linalg.solve(a, d.T)) / gamma_max
    np.testing.assert_allclose(grades_of(mgo, probe), expected, rtol=1e-6)


@pytest.mark.parametrize("factor", [0.85, 1.2])
def test_compressed_or_expanded_cell_extrapolates(mgo, mgo_data, factor):
    atoms = mgo_data.structures[3].copy()
    atoms.calc = None
    assert grades_of(mgo, atoms).max() <= 1 + 1e-9
    atoms.set_cell(atoms.cell.array * factor, scale_atoms=True)
    result = mgo.evaluate(atoms)  # grade=None: graded because the potential has one
    assert result.extrapolation_grade > 1
    assert result.extrapolation_grade == result.extrapolation_grades.max()


# --- 3. invariance -------------------------------------------------------------------------

def assert_same_grades(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=1e-10)


def test_grades_are_invariant_under_rotation_translation_permutation_supercell(mgo, probe):
    reference = grades_of(mgo, probe)
    assert np.ptp(reference) > 0.1 * reference.max() > 0  # not a trivial comparison

    rotation = Rotation.random(random_state=5).as_matrix()
    rotated = probe.copy()
    rotated.set_cell(probe.cell.array @ rotation.T, scale_atoms=False)
    rotated.positions = probe.positions @ rotation.T
    assert_same_grades(grades_of(mgo, rotated), reference)

    moved = probe.copy()
    moved.positions += [3.1, -7.4, 11.9]
    moved.wrap()
    assert not np.allclose(moved.positions, probe.positions + [3.1, -7.4, 11.9])  # wrapped
    assert_same_grades(grades_of(mgo, moved), reference)

    order = np.random.default_rng(0).permutation(len(probe))
    assert_same_grades(grades_of(mgo, probe[order]), reference[order])

    assert_same_grades(grades_of(mgo, probe.repeat((2, 1, 1))), np.tile(reference, 2))


# --- 4. the file ---------------------------------------------------------------------------

def copied_potential(folder, source=None):
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "polymlp.yaml"
    shutil.copy(source or data.potential("MgO"), target)
    return target


def test_save_and_read_give_the_same_grade(mgo_grade, tmp_path):
    path = mgo_grade.save(tmp_path / GRADE_FILE)
    assert path == tmp_path / GRADE_FILE and path.is_file()
    back = ExtrapolationGrade.read(path)
    assert back.potential_digest == mgo_grade.potential_digest
    assert back.source == mgo_grade.source and back.n_atoms == mgo_grade.n_atoms
    for name in ("means", "whitening"):
        for ours, theirs in zip(getattr(mgo_grade, name), getattr(back, name)):
            assert len(ours) == len(theirs) == 2
            for a, b in zip(ours, theirs):
                assert a.dtype == b.dtype and np.array_equal(a, b)


def test_load_potential_picks_up_the_grade_beside_the_file(mgo, mgo_grade, probe, tmp_path):
    target = copied_potential(tmp_path)
    mgo_grade.save(tmp_path / GRADE_FILE)
    loaded = load_potential(target)
    assert loaded.extrapolation is not None
    assert loaded.extrapolation.potential_digest == potential_digest(loaded)
    assert np.array_equal(grades_of(loaded, probe), grades_of(mgo, probe))
    assert loaded.evaluate(probe, grade=False).extrapolation_grades is None


def changed_potential(folder):
    """The MgO potential with one coefficient changed, saved in ``folder``."""
    params, coeffs = read_potential_file(data.potential("MgO"))
    coeffs = np.array(coeffs, dtype=float)
    coeffs[5] += 1e-6
    folder.mkdir(parents=True, exist_ok=True)
    return Potential.from_params(params, coeffs).save(folder / "polymlp.yaml")[0]


@pytest.mark.parametrize("other", ["changed coefficient", "random potential"])
def test_a_grade_of_another_potential_is_not_used(other, mgo_grade, probe, tmp_path):
    if other == "changed coefficient":
        target = changed_potential(tmp_path / "p")
    else:
        target = tmp_path / "p" / "polymlp.yaml"
        target.parent.mkdir()
        random_potential(("Mg", "O"), seed=4, cutoff=5.0, gtinv_order=2,
                         gtinv_maxl=(4,)).save(target)
    npz = mgo_grade.save(target.parent / GRADE_FILE)
    loaded = load_potential(target)
    assert loaded.extrapolation is None
    assert str(npz) in loaded.extrapolation_note
    assert loaded.evaluate(probe).extrapolation_grades is None  # grade=None: quietly none
    with pytest.raises(ExtrapolationError) as info:
        loaded.evaluate(probe, grade=True)
    assert str(npz) in str(info.value)
    with pytest.raises(ExtrapolationError):
        loaded.attach_extrapolation(mgo_grade)
    assert loaded.extrapolation is None


def test_without_a_grade_file_grade_true_says_how_to_make_one(probe, tmp_path):
    loaded = load_potential(copied_potential(tmp_path))
    assert loaded.extrapolation is None
    assert loaded.evaluate(probe).extrapolation_grades is None
    assert loaded.evaluate(probe, grade=False).extrapolation_grades is None
    with pytest.raises(ExtrapolationError, match="calibrate_extrapolation"):
        loaded.evaluate(probe, grade=True)


@pytest.mark.parametrize("content", [b"\x00garbage\xff" * 10, b""])
def test_a_corrupt_grade_file_is_named_at_load(content, tmp_path):
    target = copied_potential(tmp_path)
    npz = tmp_path / GRADE_FILE
    npz.write_bytes(content)
    with pytest.raises(ExtrapolationFileError) as info:
        load_potential(target)
    assert str(npz) in str(info.value) and info.value.path == npz


def test_a_grade_file_missing_arrays_is_an_extrapolation_file_error(tmp_path):
    npz = tmp_path / GRADE_FILE
    np.savez(npz, format_version=1, potential_digest="0" * 64)
    with pytest.raises(ExtrapolationFileError, match=str(npz)):
        ExtrapolationGrade.read(npz)


def test_attach_refuses_the_grade_of_another_potential(mgo_grade, tmp_path):
    other = load_potential(changed_potential(tmp_path))
    with pytest.raises(ExtrapolationError, match="another potential"):
        other.attach_extrapolation(mgo_grade)
    assert other.extrapolation is None
    assert potential_digest(other) != mgo_grade.potential_digest


# --- 5. unusable calibration data ----------------------------------------------------------

def test_structures_without_an_element_are_refused(mgo_data):
    only_mg = [a[element_mask(a, "Mg")] for a in mgo_data.structures[:3]]
    with pytest.raises(ExtrapolationError, match=r"\bO\b"):
        calibrate_extrapolation(load_potential(data.potential("MgO")), only_mg)


def test_an_element_the_potential_does_not_know_is_refused_not_skipped(mgo_data):
    """As evaluation refuses it: a grade calibrated while silently dropping atoms would
    trust environments it never saw whole."""
    with_al = mgo_data.structures[0].copy()
    with_al[0].symbol = "Al"
    with pytest.raises(UnknownElementError, match="Al"):
        calibrate_extrapolation(load_potential(data.potential("MgO")), [with_al])


def test_no_structures_is_an_extrapolation_error():
    with pytest.raises(ExtrapolationError, match="no structures"):
        calibrate_extrapolation(load_potential(data.potential("MgO")), [])


@pytest.mark.parametrize("name, repeat, element", [
    ("MgO", 1, "Mg"), ("MgO", 2, "Mg"), ("Al", 1, "Al"), ("Al", 3, "Al")])
def test_one_perfect_crystal_is_refused(name, repeat, element):
    """All atoms of an element alike: no spread to calibrate on (the features differ only
    by rounding, which must not count as varied environments)."""
    crystal = data.structure(name).repeat(repeat)
    with pytest.raises(ExtrapolationError, match=element):
        calibrate_extrapolation(load_potential(data.potential(name)), [crystal])


# --- 6. calculator and as_dict -------------------------------------------------------------

def test_calculator_reports_the_grades(mgo, probe):
    atoms = probe.copy()
    atoms.calc = PolymlpCalculator(mgo)
    atoms.get_potential_energy()
    expected = mgo.evaluate(probe).extrapolation_grades
    results = atoms.calc.results
    np.testing.assert_allclose(results["extrapolation_grades"], expected, rtol=1e-12, atol=1e-14)
    assert results["extrapolation_grade"] == pytest.approx(expected.max(), rel=1e-12)
    atoms.get_forces()
    assert "extrapolation_grades" in atoms.calc.results

    plain = probe.copy()
    plain.calc = PolymlpCalculator(load_potential(data.potential("MgO")))
    plain.get_forces()
    assert "extrapolation_grades" not in plain.calc.results
    assert "extrapolation_grade" not in plain.calc.results


def test_as_dict_has_grades_only_when_computed(mgo, probe):
    graded = mgo.evaluate(probe).as_dict()
    text = json.dumps(graded, allow_nan=False)
    assert json.loads(text)["extrapolation_grade"] == pytest.approx(
        mgo.evaluate(probe).extrapolation_grade, rel=1e-15)
    assert len(graded["extrapolation_grades"]) == len(probe)
    for result in (mgo.evaluate(probe, grade=False),
                   load_potential(data.potential("MgO")).evaluate(probe)):
        values = result.as_dict()
        json.dumps(values, allow_nan=False)
        assert "extrapolation_grade" not in values and "extrapolation_grades" not in values
        assert result.extrapolation_grade is None


# --- 7. fits -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_fit():
    structures = data.dataset("MgO", indices=range(5, 1000, 50)).structures  # 20 cells
    train = Dataset("MgO-train", structures[:16])
    test = Dataset("MgO-test", structures[16:])
    fit = PolymlpFit(**FIT_MODEL, atomic_energy=data.atomic_energy("MgO"),
                     alphas=(1e-4, 1e-2), progress=False).fit(train, test)
    return fit, train


def test_a_fit_calibrates_its_grade_on_the_training_set(small_fit):
    fit, train = small_fit
    assert fit.extrapolation_ is not None
    assert fit.potential_.extrapolation is fit.extrapolation_
    assert fit.extrapolation_.potential_digest == potential_digest(fit.potential_)
    assert "MgO-train" in fit.extrapolation_.source
    n = sum(len(a) for a in train.structures) // 2
    assert fit.extrapolation_.n_atoms == ((n, n),)
    top = max(grades_of(fit.potential_, a).max() for a in train.structures)
    assert top == pytest.approx(1.0, abs=1e-9)


def test_a_saved_fit_loads_with_its_grade(small_fit, tmp_path):
    fit, train = small_fit
    written = fit.save(tmp_path / "polymlp.yaml")
    assert [p.name for p in written] == ["polymlp.yaml", GRADE_FILE]
    assert all(p.is_file() for p in written)
    loaded = load_potential(tmp_path / "polymlp.yaml")
    assert loaded.extrapolation is not None
    atoms = train.structures[0]
    np.testing.assert_allclose(grades_of(loaded, atoms), grades_of(fit.potential_, atoms),
                               rtol=1e-8, atol=1e-10)
    for atoms in train.structures:
        assert grades_of(loaded, atoms).max() <= 1 + 1e-9
    assert fit.potential_.extrapolation is fit.extrapolation_  # save changes nothing in memory


def test_a_fit_saved_as_lammps_loads_with_its_grade(small_fit, tmp_path):
    fit, train = small_fit
    written = fit.save(tmp_path / "polymlp.lammps", format="lammps")
    assert (tmp_path / GRADE_FILE) in written
    loaded = load_potential(tmp_path / "polymlp.lammps")
    assert loaded.extrapolation is not None
    assert grades_of(loaded, train.structures[1]).max() <= 1 + 1e-9


def test_a_grid_model_folder_holds_its_grade(tmp_path):
    from polymlp_lab.grid import ModelSpec
    from polymlp_lab.grid.search import train_model

    structures = data.dataset("MgO", indices=range(5, 1000, 50)).structures
    train = Dataset("MgO-train", structures[:12])
    result = train_model(ModelSpec("pair", 5.0, 4, 2, 2), ("Mg", "O"), [train],
                         [Dataset("MgO-test", structures[12:16])], alphas=(1e-3,),
                         atomic_energy=data.atomic_energy("MgO"))
    assert result["row"].status == "fitted"
    assert {"polymlp.yaml", GRADE_FILE} <= set(result["files"])
    for name, content in result["files"].items():
        (tmp_path / name).write_bytes(content)
    loaded = load_potential(tmp_path / "polymlp.yaml")
    assert loaded.extrapolation is not None
    assert max(grades_of(loaded, a).max() for a in train.structures) == pytest.approx(1.0, abs=1e-9)


# --- 8. hybrids ----------------------------------------------------------------------------

def test_a_hybrid_grade_is_the_largest_over_its_files(tmp_path):
    first = copied_potential(tmp_path / "a", data.potential("Al"))
    second = tmp_path / "b" / "polymlp.yaml"
    second.parent.mkdir()
    random_potential(("Al",), seed=11, cutoff=4.0).save(second)
    trusted = al_structures(6)
    hybrid = load_potential([first, second])
    assert hybrid.is_hybrid
    grade = calibrate_extrapolation(hybrid, trusted)
    assert len(grade.means) == 2
    hybrid.attach_extrapolation(grade)

    probe = al_structures(1, seed=99)[0]
    probe.rattle(0.15, seed=4)
    singles = []
    for path in (first, second):
        single = load_potential(path)
        single.attach_extrapolation(calibrate_extrapolation(single, trusted))
        singles.append(grades_of(single, probe))
    assert not np.allclose(singles[0], singles[1])
    np.testing.assert_allclose(grades_of(hybrid, probe), np.maximum(*singles), rtol=1e-12)
    assert max(grades_of(hybrid, a).max() for a in trusted) == pytest.approx(1.0, abs=1e-9)

    grade.save(first.parent / GRADE_FILE)
    reloaded = load_potential([first, second])
    assert reloaded.extrapolation is not None
    assert np.array_equal(grades_of(reloaded, probe), grades_of(hybrid, probe))
    alone = load_potential(first)  # the file by itself is another potential than the hybrid
    assert alone.extrapolation is None and GRADE_FILE in alone.extrapolation_note



def test_a_linear_model_has_no_grade_and_says_why():
    linear = random_potential(("Al",), seed=2, model_type=1, max_p=1)
    atoms = data.structure("Al").repeat(2)
    atoms.rattle(0.05, seed=1)
    with pytest.raises(ExtrapolationError, match="element Al: .*linear model"):
        calibrate_extrapolation(linear, [atoms])


def test_md_records_the_grade_and_warns_when_it_passes_the_threshold(mgo, tmp_path):
    from polymlp_lab.extrapolation import GRADE_WARNING, grade_warning
    from polymlp_lab.simulations.md import GRADE_FIELD, run_md

    start = data.dataset("MgO", indices=[10]).structures[0]
    start.calc = None
    start.set_cell(start.cell * 0.85, scale_atoms=True)  # far below the trained volumes
    result = run_md(start, PolymlpCalculator(mgo), ensemble="nve", temperature_K=300, steps=20,
                    interval=10, progress=False, out=tmp_path / "md")
    grades = result.records[GRADE_FIELD]
    frames = read(tmp_path / "md" / "md.traj", index=":")
    assert len(grades) == len(frames) == 3
    for frame, grade in zip(frames, grades):  # the grade of each recorded structure
        assert grade == pytest.approx(mgo.evaluate(frame, forces=False).extrapolation_grade,
                                      rel=1e-9)
    assert min(grades) > GRADE_WARNING
    saved = json.loads((tmp_path / "md" / "md.json").read_text())
    assert saved["extrapolation_warning"] == result.extrapolation_warning
    assert "from step 0" in result.extrapolation_warning
    assert grade_warning([0, 10], [0.5, None]) is None

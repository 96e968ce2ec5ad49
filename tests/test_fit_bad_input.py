"""Training on bad input: the fitting code raises our exceptions, naming what is wrong.

Every case checks the exception type (DatasetError, PotentialFileError, ModelTooLargeError,
RunMismatchError: all PolymlpLabError) and that the message names the file, the structure,
the element, the line or the key. The datasets are made here: small fcc-Cu cells labelled
with a random-coefficient potential (``conftest.random_potential``), so the tests run
anywhere and fast; one vasprun test also uses ../shared/conformance when present.
"""

import re
import threading
import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from conftest import SHARED, random_potential

import polymlp_lab.fitting.fit as fit_module
from polymlp_lab.cli import main
from polymlp_lab.errors import PolymlpLabError, PotentialFileError
from polymlp_lab.runs import RunMismatchError
from polymlp_lab.units import KBAR_PER_EV_PER_A3
from polymlp_lab.fitting import (
    Dataset,
    DatasetError,
    ModelTooLargeError,
    PolymlpFit,
    read_dataset,
    read_polymlp_in,
)
from polymlp_lab.fitting.datasets import read_vasprun, validate_dataset
from polymlp_lab.fitting.fit import STATE_FILE
from polymlp_lab.models import n_features

# ---------------------------------------------------------------------------------------
# helpers

MODEL = dict(cutoff=4.0, gtinv_order=2, gtinv_maxl=(2,), gaussian_params2=(0.0, 3.0, 3))
ORIGINAL_STRUCTURE_ROWS = fit_module.structure_rows


def make_fit(**options) -> PolymlpFit:
    """The tiny one-element model every test fits."""
    return PolymlpFit(elements=("Cu",), **MODEL, progress=False, **options)


@pytest.fixture(scope="module")
def cu_potential():
    return random_potential(("Cu",), seed=3, **MODEL)


@pytest.fixture(scope="module")
def cuag_potential():
    return random_potential(("Cu", "Ag"), seed=4, **MODEL)


def label(atoms, potential):
    """Attach the potential's energy, forces and stress as DFT results."""
    result = potential.evaluate(atoms)
    atoms.calc = SinglePointCalculator(
        atoms, energy=result.energy, forces=result.forces, stress=result.stress
    )
    return atoms


def cu_cells(potential, n, seed, rattle=0.05, strain=0.0):
    """n rattled (and strained by up to ``strain``) 4-atom fcc Cu cells with their labels."""
    rng = np.random.default_rng(seed)
    cells = []
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=3.6 * (1.0 + strain * rng.uniform(-1.0, 1.0)), cubic=True)
        atoms.rattle(rattle, seed=1000 * seed + i)
        cells.append(label(atoms, potential))
    return cells


def relabel(atoms, **results):
    """A copy of ``atoms`` whose DFT results are replaced by ``results`` (others kept)."""
    copy = atoms.copy()
    merged = dict(atoms.calc.results)
    merged.update(results)
    copy.calc = SinglePointCalculator(copy, **merged)
    return copy


def without(message: str, *paths) -> str:
    """The message with the paths cut out (tmp_path holds the test's name, which may
    contain the very word a test looks for)."""
    for path in sorted(map(str, paths), key=len, reverse=True):
        message = message.replace(path, "<path>")
    return message


def single_line(err: str) -> str:
    """The CLI's stderr must be exactly one line, without a traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"stderr is not one line:\n{err}"
    assert "Traceback" not in err
    return lines[0]


def rows(array) -> str:
    return "".join(f"   <v> {' '.join(f'{x:.8f}' for x in r)} </v>\n" for r in np.atleast_2d(array))


def vasprun_xml(atoms, *, forces=True, n_force_rows=None, energy=None) -> str:
    """A minimal single-point vasprun.xml of ``atoms`` (the elements pypolymlp reads),
    laid out like ../shared/conformance/datasets/MgO/dataset/vasprun-*.xml.polymlp.
    forces=False leaves out the forces varray; n_force_rows writes that many rows."""
    results = atoms.calc.results
    e = results["energy"] if energy is None else energy
    f = np.asarray(results["forces"])
    s = results["stress"]
    kbar = -KBAR_PER_EV_PER_A3 * np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])
    symbols = atoms.get_chemical_symbols()
    kinds = list(dict.fromkeys(symbols))
    out = [
        '<?xml version="1.0" ?><modeling><calculation><energy>',
        f'   <i name="e_fr_energy"> {e:.8f} </i>',
        f'   <i name="e_wo_entrp"> {e:.8f} </i>',
        '   <i name="e_0_energy"> 0.00000000 </i>',
        "  </energy>",
    ]
    if forces:
        out += ['  <varray name="forces">', rows(f[: n_force_rows or len(f)]), "  </varray>"]
    out += ['  <varray name="stress">', rows(kbar), "  </varray>"]
    out += [
        '  <structure name="finalpos">', "  <crystal>", '   <varray name="basis">',
        rows(atoms.cell.array), "   </varray>", f'   <i name="volume"> {atoms.get_volume():.8f} </i>',
        "  </crystal>", '  <varray name="positions">', rows(atoms.get_scaled_positions()),
        "  </varray>", " </structure>", '<array name="atomtypes">', "   <set>",
    ]
    out += [
        f"    <rc><c>{symbols.count(k)}</c><c>{k}</c><c>1.0</c><c>1.0</c><c>PAW_PBE {k}</c></rc>"
        for k in kinds
    ]
    out += ["   </set>", "  </array>", ' <array name="atoms">', "   <set>"]
    out += [f"    <rc><c>{s}</c><c>{kinds.index(s) + 1}</c></rc>" for s in symbols]
    out += ["   </set>", "  </array>", "  </calculation></modeling>"]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------
# 1. vasprun.xml without forces


def test_vasprun_builder_reads_back(tmp_path, cu_potential):
    """Control: the hand-made vasprun.xml is read, so the failures below are about forces."""
    atoms = cu_cells(cu_potential, 1, seed=1)[0]
    path = tmp_path / "vasprun.xml"
    path.write_text(vasprun_xml(atoms))
    (read,) = read_vasprun(path)
    assert read.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(read.calc.results["energy"], atoms.calc.results["energy"], atol=1e-7)
    np.testing.assert_allclose(read.calc.results["forces"], atoms.calc.results["forces"], atol=1e-7)
    np.testing.assert_allclose(read.get_scaled_positions(), atoms.get_scaled_positions(), atol=1e-6)


def test_vasprun_without_forces_names_the_file(tmp_path, cu_potential):
    atoms = cu_cells(cu_potential, 1, seed=1)[0]
    path = tmp_path / "vasprun.xml"
    path.write_text(vasprun_xml(atoms, forces=False))
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(path) in str(info.value)


def test_vasprun_without_forces_says_forces_are_missing(tmp_path, cu_potential):
    atoms = cu_cells(cu_potential, 1, seed=1)[0]
    path = tmp_path / "vasprun.xml"
    path.write_text(vasprun_xml(atoms, forces=False))
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert "forces" in without(str(info.value), path), str(info.value)


def test_glob_of_vasprun_files_names_the_one_without_forces(tmp_path, cu_potential):
    good, bad = cu_cells(cu_potential, 2, seed=2)
    (tmp_path / "vasprun-1.xml").write_text(vasprun_xml(good))
    (tmp_path / "vasprun-2.xml").write_text(vasprun_xml(bad, forces=False))
    (tmp_path / "vasprun-3.xml").write_text(vasprun_xml(good))
    with pytest.raises(DatasetError) as info:
        read_dataset(tmp_path / "vasprun-*.xml")
    message = str(info.value)
    assert "vasprun-2.xml" in message
    assert "vasprun-1.xml" not in message and "vasprun-3.xml" not in message


def test_shared_vasprun_without_forces(tmp_path):
    """A real pypolymlp dataset file with its forces varray cut out."""
    source = SHARED / "datasets" / "MgO" / "dataset" / "vasprun-00001.xml.polymlp"
    if not source.is_file():
        pytest.skip(f"conformance data absent: {source} (set POLYMLP_LAB_SHARED)")
    text = source.read_text()
    complete = tmp_path / "complete-vasprun.xml.polymlp"
    complete.write_text(text)
    (atoms,) = read_vasprun(complete)  # control: the untouched copy reads
    assert atoms.calc.results["forces"].shape == (len(atoms), 3)
    stripped, n = re.subn(r'<varray name="forces">.*?</varray>', "", text, flags=re.S)
    assert n == 1
    path = tmp_path / "vasprun.xml.polymlp"
    path.write_text(stripped)
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------------
# 2. forces whose number of rows is not the number of atoms


def test_forces_with_missing_rows_name_the_structure(cu_potential):
    good = cu_cells(cu_potential, 3, seed=3)
    short = relabel(good[1], forces=good[1].calc.results["forces"][:-1])
    dataset = Dataset("mixed", [good[0], short, good[2]])
    with pytest.raises(DatasetError) as info:
        validate_dataset(dataset)
    message = str(info.value)
    assert "mixed[1]" in message
    assert "mixed[0]" not in message and "mixed[2]" not in message
    assert str(len(short)) in message  # the atom count


def test_fit_rejects_forces_with_extra_rows_before_computing(cu_potential, monkeypatch):
    calls = []
    monkeypatch.setattr(fit_module, "structure_rows", lambda *a, **k: calls.append(1))
    cells = cu_cells(cu_potential, 4, seed=4)
    forces = cells[2].calc.results["forces"]
    cells[2] = relabel(cells[2], forces=np.vstack([forces, forces[:1]]))
    sources = [f"run.extxyz:{i}" for i in range(len(cells))]
    with pytest.raises(DatasetError) as info:
        make_fit().fit(Dataset("run", cells, sources=sources))
    assert "run.extxyz:2" in str(info.value)
    assert not calls, "features were computed before the dataset was checked"


def test_vasprun_with_too_few_force_rows_names_the_file(tmp_path, cu_potential):
    atoms = cu_cells(cu_potential, 1, seed=5)[0]
    path = tmp_path / "vasprun.xml"
    path.write_text(vasprun_xml(atoms, n_force_rows=len(atoms) - 1))
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(path) in str(info.value)
    assert f"{len(atoms)} atoms" in str(info.value)


def test_truncated_extxyz_names_the_file(tmp_path, cu_potential):
    """The atom-count line promises more atoms than the frame has."""
    path = tmp_path / "md.extxyz"
    write(path, cu_cells(cu_potential, 2, seed=6), format="extxyz")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------------
# 3. an element the model does not have


@pytest.mark.parametrize("where", ["train", "test"])
def test_unknown_element_names_element_and_structure(cu_potential, cuag_potential, where, monkeypatch):
    calls = []
    monkeypatch.setattr(fit_module, "structure_rows", lambda *a, **k: calls.append(1))
    cells = cu_cells(cu_potential, 4, seed=7)
    alloy = bulk("Cu", "fcc", a=3.6, cubic=True)
    alloy.symbols[3] = "Ag"
    cells[2] = label(alloy, cuag_potential)
    train, test = Dataset("pure", cu_cells(cu_potential, 3, seed=8)), Dataset("alloy", cells)
    if where == "train":
        train, test = test, train
    with pytest.raises(DatasetError) as info:
        make_fit().fit(train, test)
    message = str(info.value)
    assert "Ag" in message
    assert "alloy[2]" in message
    assert not calls


# ---------------------------------------------------------------------------------------
# 4. NaN energies, forces, stresses


def _nan_forces(atoms):
    f = np.array(atoms.calc.results["forces"])
    f[1, 2] = np.nan
    return {"forces": f}


def _inf_forces(atoms):
    f = np.array(atoms.calc.results["forces"])
    f[0, 0] = np.inf
    return {"forces": f}


def _nan_stress(atoms):
    s = np.array(atoms.calc.results["stress"])
    s[3] = np.nan
    return {"stress": s}


@pytest.mark.parametrize(
    "bad, word",
    [
        (lambda a: {"energy": float("nan")}, "energy"),
        (_nan_forces, "forces"),
        (_inf_forces, "forces"),
        (_nan_stress, "stress"),
    ],
    ids=["nan-energy", "nan-forces", "inf-forces", "nan-stress"],
)
def test_non_finite_labels_name_the_structure(cu_potential, bad, word, monkeypatch):
    calls = []
    monkeypatch.setattr(fit_module, "structure_rows", lambda *a, **k: calls.append(1))
    cells = cu_cells(cu_potential, 4, seed=9)
    cells[3] = relabel(cells[3], **bad(cells[3]))
    dataset = Dataset("scan", cells)
    with pytest.raises(DatasetError) as info:
        validate_dataset(dataset)
    assert "scan[3]" in str(info.value) and word in str(info.value)
    with pytest.raises(DatasetError) as info:
        make_fit().fit(Dataset("scan", cells[:3]), Dataset("scan-test", cells[3:]))
    assert "scan-test[0]" in str(info.value) and word in str(info.value)
    assert not calls


def test_nan_energy_in_extxyz_names_the_frame(tmp_path, cu_potential):
    cells = cu_cells(cu_potential, 3, seed=10)
    cells[1] = relabel(cells[1], energy=float("nan"))
    path = tmp_path / "frames.extxyz"
    write(path, cells, format="extxyz")
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert f"{path}:1" in str(info.value)
    assert f"{path}:0" not in str(info.value) and f"{path}:2" not in str(info.value)


def test_nan_energy_in_vasprun_names_the_file(tmp_path, cu_potential):
    atoms = cu_cells(cu_potential, 1, seed=11)[0]
    path = tmp_path / "vasprun.xml"
    path.write_text(vasprun_xml(atoms, energy=float("nan")))
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(path) in str(info.value) and "energy" in without(str(info.value), path)


# ---------------------------------------------------------------------------------------
# 5. empty datasets, globs that match nothing


def test_empty_dataset_names_the_dataset():
    with pytest.raises(DatasetError, match="'nothing'"):
        validate_dataset(Dataset("nothing", []))
    with pytest.raises(DatasetError, match="nothing'"):  # named Train_nothing after the split
        make_fit().fit(Dataset("nothing", []))


def test_fit_without_datasets():
    with pytest.raises(PolymlpLabError, match="no training data"):
        make_fit().fit([])


def test_glob_without_match_names_the_pattern(tmp_path, cu_potential):
    pattern = tmp_path / "no-such-*.extxyz"
    with pytest.raises(DatasetError) as info:
        read_dataset(pattern)
    assert str(pattern) in str(info.value)
    existing = tmp_path / "here.extxyz"
    write(existing, cu_cells(cu_potential, 1, seed=12), format="extxyz")
    with pytest.raises(DatasetError) as info:
        read_dataset([existing, pattern])
    assert str(pattern) in str(info.value) and str(existing) not in str(info.value)


def test_empty_file_names_the_file(tmp_path):
    path = tmp_path / "empty.extxyz"
    path.write_text("")
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    assert str(path) in str(info.value)


def test_empty_list_of_paths():
    with pytest.raises(DatasetError):
        read_dataset([])


# ---------------------------------------------------------------------------------------
# 6. a model whose normal equations do not fit in memory


def test_model_too_large_names_the_number_of_features(cu_potential, monkeypatch):
    calls = []
    monkeypatch.setattr(fit_module, "available_memory_bytes", lambda: 4096)
    monkeypatch.setattr(fit_module, "structure_rows", lambda *a, **k: calls.append(1))
    fit = make_fit()
    features = n_features(fit.model_params())
    with pytest.raises(ModelTooLargeError) as info:
        fit.fit(Dataset("cu", cu_cells(cu_potential, 3, seed=13)))
    assert re.search(rf"\b{features} features\b", str(info.value)), str(info.value)
    assert not calls, "features were computed before the memory check"


# ---------------------------------------------------------------------------------------
# 7. polymlp.in problems

INFILE_HEAD = """\
n_type 1
elements Cu
feature_type gtinv
cutoff 4.0
model_type 4
max_p 2
gtinv_order 2
gtinv_maxl 2
gaussian_params1 1.0 1.0 1
gaussian_params2 0.0 3.0 3
reg_alpha_params -3 1 5
atomic_energy 0.0
"""


@pytest.fixture
def cu_files(tmp_path, cu_potential):
    """tmp_path with cu.extxyz (6 cells) to be named in polymlp.in files."""
    write(tmp_path / "cu.extxyz", cu_cells(cu_potential, 6, seed=14), format="extxyz")
    return tmp_path


def write_infile(folder, *data_lines, head=INFILE_HEAD):
    text = head + "".join(line + "\n" for line in data_lines)
    path = folder / "polymlp.in"
    path.write_text(text)
    return path, text


def line_number(text, line):
    return text.splitlines().index(line) + 1


def test_valid_infile_reads(cu_files):
    """Control: the header and data lines used below are accepted."""
    path, _ = write_infile(cu_files, "train_data cu.extxyz", "test_data cu.extxyz True 2.0")
    spec = read_polymlp_in(path)
    assert [len(d) for d in spec.train] == [6] and [len(d) for d in spec.test] == [6]
    assert spec.test[0].weight == 2.0 and spec.test[0].include_force


BAD_DATA_LINES = [
    ("training_data cu.extxyz", PotentialFileError, "training_data"),
    ("test_data cu.extxyz maybe", PotentialFileError, "maybe"),
    ("test_data cu.extxyz True heavy", PotentialFileError, "heavy"),
    ("test_data missing-*.extxyz", DatasetError, "missing-*.extxyz"),
    ("test_data cu.extxyz True -2", DatasetError, "-2"),
]


@pytest.mark.parametrize(
    "bad, error, fragment", BAD_DATA_LINES,
    ids=["unknown-tag", "non-boolean-include-force", "weight-not-a-number", "missing-file",
         "negative-weight"],
)
def test_bad_dataset_line_names_file_and_line(cu_files, bad, error, fragment):
    path, text = write_infile(cu_files, "train_data cu.extxyz", bad, "data cu.extxyz")
    n = line_number(text, bad)
    with pytest.raises(error) as info:
        read_polymlp_in(path)
    message = str(info.value)
    assert type(info.value) is error
    assert str(path) in message and re.search(rf"\bline {n}\b", message), message
    assert fragment in without(message, path)
    if error is PotentialFileError:
        assert info.value.line == n and str(info.value.path) == str(path)


def test_missing_infile_names_it(tmp_path):
    path = tmp_path / "polymlp.in"
    with pytest.raises(PotentialFileError) as info:
        read_polymlp_in(path)
    assert str(path) in str(info.value)


def test_infile_without_data_lines_names_it(cu_files):
    path, _ = write_infile(cu_files)
    with pytest.raises(PotentialFileError) as info:
        read_polymlp_in(path)
    assert str(path) in str(info.value) and "no training data" in str(info.value)


def test_non_boolean_include_force_key_names_key_or_line(cu_files):
    path, text = write_infile(cu_files, "include_force maybe", "train_data cu.extxyz")
    n = line_number(text, "include_force maybe")
    with pytest.raises(PotentialFileError) as info:
        read_polymlp_in(path)
    message = str(info.value)
    assert str(path) in message
    assert "include_force" in without(message, path) or re.search(rf"\bline {n}\b", message), message


# ---------------------------------------------------------------------------------------
# 8. checkpoints: an interrupted fit resumes; a foreign checkpoint is refused


@pytest.fixture(scope="module")
def ck_data(cu_potential):
    """Varied cells, so that the normal equations are not too ill-conditioned (see below)."""
    return (
        Dataset("train", cu_cells(cu_potential, 8, seed=15, rattle=0.15, strain=0.05)),
        Dataset("test", cu_cells(cu_potential, 3, seed=16, rattle=0.15, strain=0.05)),
    )


# Sums are added in task order, so a resumed fit equals an uninterrupted one to the bit
# (tests/test_fit_scheduler.py checks that); these tests check what the checkpoint keeps and
# redoes. Alpha 10 on varied cells keeps the ridge system well conditioned (~1e4), so the
# 1e-10 comparisons below would still hold if a rounding difference crept in; one alpha: no
# selection that rounding could flip.
RESUME_FIT = dict(batch_size=1, n_workers=1, alphas=(10.0,))


def positions_of(train, test):
    """id(atoms) -> (kind, index) for every structure of the fit."""
    where = {id(a): ("train", i) for i, a in enumerate(train.structures)}
    where.update({id(a): ("test", i) for i, a in enumerate(test.structures)})
    return where


def done_in(checkpoint):
    with np.load(checkpoint / STATE_FILE) as state:
        assert set(k for k in state.files if k.startswith("done_")) == {"done_train_0", "done_test_0"}
        return {(kind, int(i)) for kind in ("train", "test")
                for i in np.flatnonzero(state[f"done_{kind}_0"])}


def test_interrupted_fit_resumes_without_losing_finished_structures(tmp_path, ck_data, monkeypatch):
    train, test = ck_data
    where = positions_of(train, test)
    reference = make_fit(**RESUME_FIT).fit(train, test).coef_
    checkpoint = tmp_path / "ck"
    k = 3
    lock = threading.Lock()
    finished, calls = [], [0]

    def interrupting(tables, atoms, *args, **kwargs):
        with lock:
            calls[0] += 1
            interrupt = calls[0] > k
        if interrupt:
            # let the main thread merge the finished structure first: a finished and a failed
            # structure returned by the same wait() is the race tested below
            time.sleep(0.3)
            raise KeyboardInterrupt
        out = ORIGINAL_STRUCTURE_ROWS(tables, atoms, *args, **kwargs)
        finished.append(where[id(atoms)])
        return out

    monkeypatch.setattr(fit_module, "structure_rows", interrupting)
    with pytest.raises(KeyboardInterrupt):
        make_fit(**RESUME_FIT, checkpoint=checkpoint).fit(train, test)
    assert (checkpoint / STATE_FILE).is_file()
    assert not list(checkpoint.glob("*.tmp*")), "temporary checkpoint left behind"
    assert len(finished) == k
    assert done_in(checkpoint) == set(finished)

    computed = []

    def counting(tables, atoms, *args, **kwargs):
        with lock:
            computed.append(where[id(atoms)])
        return ORIGINAL_STRUCTURE_ROWS(tables, atoms, *args, **kwargs)

    monkeypatch.setattr(fit_module, "structure_rows", counting)
    resumed = make_fit(**RESUME_FIT, checkpoint=checkpoint).fit(train, test)
    everything = set(where.values())
    assert resumed.resumed_structures_ == k
    assert len(computed) == len(everything) - k
    assert set(computed) == everything - set(finished)
    np.testing.assert_allclose(
        resumed.coef_, reference, rtol=1e-10, atol=1e-10 * np.abs(reference).max()
    )
    assert done_in(checkpoint) == everything


def test_structure_finishing_during_interrupt_is_kept(tmp_path, ck_data, monkeypatch):
    """The first structure is still being computed when the next ones are interrupted: it is
    merged and saved before the interrupt leaves fit(). (Sums are added in task order, so a
    structure finishing after an interrupted earlier one is computed again on resume.)"""
    train, test = ck_data
    where = positions_of(train, test)
    checkpoint = tmp_path / "ck"
    first_running = threading.Event()
    finished = []

    def slow_then_interrupt(tables, atoms, *args, **kwargs):
        if where[id(atoms)] != ("train", 0):
            first_running.wait(10)
            raise KeyboardInterrupt  # the other worker is interrupted at once
        first_running.set()
        time.sleep(0.5)
        out = ORIGINAL_STRUCTURE_ROWS(tables, atoms, *args, **kwargs)
        finished.append(where[id(atoms)])
        return out

    monkeypatch.setattr(fit_module, "structure_rows", slow_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        make_fit(batch_size=1, n_workers=2, checkpoint=checkpoint).fit(train, test)
    assert finished == [("train", 0)]  # it finished before fit() returned and wrote the checkpoint
    assert done_in(checkpoint) == set(finished)


@pytest.fixture(scope="module")
def finished_checkpoint(tmp_path_factory, ck_data):
    """A checkpoint of a completed fit on ck_data."""
    checkpoint = tmp_path_factory.mktemp("ck") / "ck"
    make_fit(batch_size=4, n_workers=1, checkpoint=checkpoint).fit(*ck_data)
    assert (checkpoint / STATE_FILE).is_file()
    return checkpoint


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _other_energies(train, potential):
    return Dataset("train", cu_cells(potential, len(train), seed=17)), {}, "input train data 0"


def _other_model(train, potential):
    return train, {"gaussian_params2": (0.0, 3.0, 4)}, "pair_params: "


def _other_weight(train, potential):
    return Dataset("train", train.structures, weight=2.0), {}, "input train data 0"


@pytest.mark.parametrize("change", [_other_energies, _other_model, _other_weight],
                         ids=["other-structures", "other-model", "other-weight"])
def test_checkpoint_of_another_fit_is_refused(finished_checkpoint, ck_data, cu_potential, change, monkeypatch):
    calls = []
    monkeypatch.setattr(fit_module, "structure_rows", lambda *a, **k: calls.append(1))
    train, test = ck_data
    train, model, named = change(train, cu_potential)
    before = folder_bytes(finished_checkpoint)
    options = dict(MODEL, **model)
    fit = PolymlpFit(elements=("Cu",), **options, progress=False, checkpoint=finished_checkpoint)
    with pytest.raises(RunMismatchError) as info:
        fit.fit(train, test)
    assert str(finished_checkpoint) in str(info.value)
    assert any(d.startswith(named) for d in info.value.differences), info.value.differences
    assert folder_bytes(finished_checkpoint) == before, "the refused checkpoint was modified"
    assert not calls


def test_checkpoint_of_data_with_other_forces_is_refused(finished_checkpoint, ck_data):
    train, test = ck_data
    changed = [relabel(a, forces=2.0 * np.asarray(a.calc.results["forces"])) for a in train.structures]
    with pytest.raises(RunMismatchError) as info:
        make_fit(batch_size=4, n_workers=1, checkpoint=finished_checkpoint).fit(
            Dataset("train", changed), test
        )
    assert [d.split(":")[0] for d in info.value.differences] == ["input train data 0 (train)"]


def test_checkpoint_with_other_alphas_resumes_everything(finished_checkpoint, ck_data, monkeypatch):
    """The sums do not depend on alpha: another alpha list solves again, computing nothing."""
    calls = []
    monkeypatch.setattr(fit_module, "structure_rows", lambda *a, **k: calls.append(1))
    fit = make_fit(batch_size=4, n_workers=1, alphas=(0.5,), checkpoint=finished_checkpoint)
    fit.fit(*ck_data)
    assert not calls
    assert fit.resumed_structures_ == sum(len(d) for d in ck_data)
    assert fit.alpha_ == 0.5


def test_restart_discards_the_other_fit(tmp_path, ck_data, cu_potential):
    checkpoint = tmp_path / "ck"
    make_fit(batch_size=4, n_workers=1, checkpoint=checkpoint).fit(*ck_data)
    other = Dataset("train", cu_cells(cu_potential, 5, seed=21))
    fit = make_fit(batch_size=4, n_workers=1, checkpoint=checkpoint, restart=True)
    fit.fit(other, ck_data[1])
    assert fit.resumed_structures_ == 0
    with np.load(checkpoint / STATE_FILE) as state:
        assert state["done_train_0"].shape == (5,) and state["done_train_0"].all()


def test_damaged_checkpoint_is_computed_again(tmp_path, ck_data):
    """A state file cut short (a crash outside our atomic write, a full disk) is redone."""
    checkpoint = tmp_path / "ck"
    reference = make_fit(**RESUME_FIT, checkpoint=checkpoint).fit(*ck_data).coef_
    state = checkpoint / STATE_FILE
    state.write_bytes(state.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable"):
        fit = make_fit(**RESUME_FIT, checkpoint=checkpoint).fit(*ck_data)
    assert fit.resumed_structures_ == 0
    np.testing.assert_allclose(fit.coef_, reference, rtol=1e-10, atol=1e-10 * np.abs(reference).max())


def test_checkpoint_that_is_a_file_names_the_file(tmp_path, ck_data):
    checkpoint = tmp_path / "ck.npz"
    checkpoint.write_text("not a checkpoint\n")
    with pytest.raises(PolymlpLabError) as info:
        make_fit(checkpoint=checkpoint).fit(*ck_data)
    assert str(checkpoint) in str(info.value)
    assert checkpoint.read_text() == "not a checkpoint\n"


# ---------------------------------------------------------------------------------------
# 9. CLI: exit status 2 and a one-line error


def _infile(folder, cuag_potential, cu_potential, case):
    """polymlp.in for a CLI case, and the fragments the error line must contain."""
    if case == "missing-infile":
        path = folder / "absent.in"
        return path, [str(path)]
    if case == "unknown-tag":
        path, text = write_infile(folder, "train_data cu.extxyz", "validation_data cu.extxyz")
        return path, [str(path), f"line {line_number(text, 'validation_data cu.extxyz')}", "validation_data"]
    if case == "missing-data":
        path, text = write_infile(folder, "train_data nowhere/*.extxyz")
        return path, [str(path), f"line {line_number(text, 'train_data nowhere/*.extxyz')}", "nowhere"]
    if case == "bad-boolean":
        path, text = write_infile(folder, "train_data cu.extxyz yes-please")
        return path, [str(path), f"line {line_number(text, 'train_data cu.extxyz yes-please')}", "yes-please"]
    if case == "unknown-element":
        cells = cu_cells(cu_potential, 3, seed=18)
        alloy = bulk("Cu", "fcc", a=3.6, cubic=True)
        alloy.symbols[0] = "Ag"
        cells.append(label(alloy, cuag_potential))
        write(folder / "alloy.extxyz", cells, format="extxyz")
        path, _ = write_infile(folder, "train_data cu.extxyz", "test_data alloy.extxyz")
        return path, ["alloy.extxyz:3", "Ag"]
    if case == "nan-forces":
        cells = cu_cells(cu_potential, 3, seed=19)
        cells[1] = relabel(cells[1], **_nan_forces(cells[1]))
        write(folder / "nan.extxyz", cells, format="extxyz")
        path, _ = write_infile(folder, "train_data cu.extxyz", "test_data nan.extxyz")
        return path, ["nan.extxyz:1", "forces"]
    if case == "model-too-large":
        path, _ = write_infile(folder, "data cu.extxyz")
        params = read_polymlp_in(path).params
        return path, [f"{n_features(params)} features"]
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["missing-infile", "unknown-tag", "missing-data", "bad-boolean", "unknown-element",
             "nan-forces", "model-too-large"],
)
def test_cli_fit_bad_input_exits_2_with_one_line(cu_files, cuag_potential, cu_potential, case,
                                                  capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(fit_module, "structure_rows", lambda *a, **k: calls.append(1))
    if case == "model-too-large":
        monkeypatch.setattr(fit_module, "available_memory_bytes", lambda: 4096)
    infile, fragments = _infile(cu_files, cuag_potential, cu_potential, case)
    out_dir = cu_files / "out"
    code = main(["fit", str(infile), "--quiet", "--output", str(out_dir), "--workers", "1"])
    out, err = capsys.readouterr()
    line = single_line(err)
    assert code == 2
    assert line.startswith("polymlp-lab: error: ")
    for fragment in fragments:
        # paths must appear as they are; other words outside the tmp folder's name
        where = line if fragment.startswith(str(cu_files)) else without(line, cu_files)
        assert fragment in where, f"{fragment!r} not in {line!r}"
    assert not (out_dir / "polymlp.yaml").exists()
    assert not calls

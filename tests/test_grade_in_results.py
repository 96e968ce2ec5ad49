"""Extrapolation grades in the grain-boundary and structure-search results (issue 18, point
3): each relaxed structure carries the calculator's grade, saved, read back and resumed; a
potential without a grade leaves the files as before (no key)."""

import json
import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import read

from polymlp_lab import data, load_potential
from polymlp_lab.calculator import PolymlpCalculator
from polymlp_lab.extrapolation import calibrate_extrapolation
from polymlp_lab.simulations import grain_boundary as gb
from polymlp_lab.simulations.structure_search import run_search, select_near_hull

GRADE = "extrapolation_grade"
# the smallest settings of tests/test_grain_boundary.py and tests/test_search_runs.py
QUICK_GB = dict(grid=(1, 1), expansions=(0.0,), fmax=0.02, steps=60, min_thickness=10.0,
                progress=False)
QUICK_SEARCH = dict(max_atoms=2, trials=5, seed=2, fmax=0.05, steps=60, n_workers=1,
                    progress=False)  # compositions Al, Cu, Al2, AlCu, Cu2
BOUNDARIES = [(1, 1, 1), (1, 1, 2)]  # Σ3(111) and Σ3(112)


def _varied(atoms, n, rng):
    """``n`` strained (±4 %) and rattled copies of ``atoms``: varied environments."""
    out = []
    for k in range(n):
        copy = atoms.copy()
        copy.set_cell(copy.cell.array @ (np.eye(3) + rng.uniform(-0.04, 0.04, (3, 3))),
                      scale_atoms=True)
        copy.rattle(0.05 + 0.02 * k, seed=int(rng.integers(1 << 30)))
        out.append(copy)
    return out


def _calibrated(name, structures):
    potential = load_potential(data.potential(name))
    potential.attach_extrapolation(calibrate_extrapolation(potential, structures))
    return potential


@pytest.fixture(scope="module")
def al():
    """The shipped Al potential, calibrated on rattled, strained fcc Al supercells."""
    return _calibrated("Al", _varied(data.structure("Al").repeat(2), 6,
                                     np.random.default_rng(0)))


@pytest.fixture(scope="module")
def alcu():
    """The shipped Al-Cu potential, calibrated on fcc Al, fcc Cu, L1_2 Al3Cu and B2 AlCu."""
    l12 = bulk("Al", "fcc", a=3.9, cubic=True)
    l12.symbols[0] = "Cu"
    b2 = Atoms("AlCu", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[2.95] * 3, pbc=True)
    cells = [bulk("Al", "fcc", a=4.04, cubic=True), bulk("Cu", "fcc", a=3.63, cubic=True),
             l12, b2]
    rng = np.random.default_rng(1)
    return _calibrated("Al-Cu", [s for c in cells for s in _varied(c.repeat(2), 3, rng)])


# --- grain boundaries -----------------------------------------------------------------------

def test_grain_boundaries_carry_the_grade(tmp_path, al, monkeypatch):
    results = gb.search_boundaries("Al", 4.04, PolymlpCalculator(al), BOUNDARIES, out=tmp_path,
                                   **QUICK_GB)
    saved = json.loads((tmp_path / "gb.json").read_text(encoding="utf-8"))
    for result in results:
        expected = al.evaluate(result.atoms, forces=False).extrapolation_grade
        assert math.isfinite(result.extrapolation_grade) and result.extrapolation_grade > 0
        assert result.extrapolation_grade == pytest.approx(expected, rel=1e-9)
        assert result.as_dict()[GRADE] == result.extrapolation_grade
        slug = gb.tilt_boundary(result.plane).slug
        record = json.loads((tmp_path / "records" / f"{slug}.json").read_text())
        assert record[GRADE] == saved["boundaries"][slug][GRADE] == result.extrapolation_grade
        assert read(tmp_path / record["structure"]).info[GRADE] == result.extrapolation_grade

    # read back: a finished run never calls its calculator and keeps the grades
    monkeypatch.setattr(gb, "search_boundary", lambda *a, **k: pytest.fail("recomputed"))
    again = gb.search_boundaries("Al", 4.04, PolymlpCalculator(al), BOUNDARIES, out=tmp_path,
                                 **QUICK_GB)
    assert [r.extrapolation_grade for r in again] == [r.extrapolation_grade for r in results]
    assert [r.as_dict() for r in again] == [r.as_dict() for r in results]

    # a record written before grades (no key) reads back with None
    slug = gb.tilt_boundary(BOUNDARIES[0]).slug
    old = {k: v for k, v in saved["boundaries"][slug].items() if k != GRADE}
    assert gb.result_from_record(tmp_path, gb.tilt_boundary(BOUNDARIES[0]),
                                 old).extrapolation_grade is None


def test_grain_boundary_without_a_grade_writes_no_key(tmp_path):
    plain = load_potential(data.potential("Al"))
    assert plain.extrapolation is None
    (result,) = gb.search_boundaries("Al", 4.04, PolymlpCalculator(plain), BOUNDARIES[:1],
                                     out=tmp_path, **QUICK_GB)
    assert result.extrapolation_grade is None and GRADE not in result.as_dict()
    slug = gb.tilt_boundary(BOUNDARIES[0]).slug
    record = json.loads((tmp_path / "gb.json").read_text())["boundaries"][slug]
    assert GRADE not in record and GRADE not in read(tmp_path / record["structure"]).info
    assert gb.result_from_record(tmp_path, gb.tilt_boundary(BOUNDARIES[0]),
                                 record).extrapolation_grade is None


# --- structure search -----------------------------------------------------------------------

def test_structure_search_carries_the_grade(tmp_path, alcu):
    out = tmp_path / "rss"
    result = run_search(PolymlpCalculator(alcu), ("Al", "Cu"), out=out, **QUICK_SEARCH)
    records = {r["name"]: r for r in result.trials}
    assert len(records) == 5 and all(r["status"] == "ok" for r in records.values())
    for r in records.values():
        saved = read(out / r["file"], format="extxyz")
        assert math.isfinite(r[GRADE]) and r[GRADE] > 0 and saved.info[GRADE] == r[GRADE]
        # the file keeps positions to 1e-8 Å: the grade of the structure read back agrees
        # with the one of the relaxed structure to that precision
        assert r[GRADE] == pytest.approx(alcu.evaluate(saved, forces=False).extrapolation_grade,
                                         rel=1e-6)
        assert json.loads((out / "records" / f"{r['name']}.json").read_text())[GRADE] == r[GRADE]
    # the unique structures (hull.json and the entries, near the hull too) keep their grade
    hull = json.loads((out / "hull.json").read_text())
    for entry, written in zip(result.entries, hull["structures"]):
        assert entry.extrapolation_grade == records[entry.name][GRADE] == written[GRADE]
    assert all(e.extrapolation_grade == records[e.name][GRADE]
               for e in select_near_hull(result, 1e6))

    # a finished search read back (its calculator not called) keeps them
    again = run_search(PolymlpCalculator(alcu), ("Al", "Cu"), out=out, **QUICK_SEARCH)
    assert again.as_dict() == result.as_dict() and again.trials == result.trials
    assert [e.extrapolation_grade for e in again.entries] == [
        e.extrapolation_grade for e in result.entries]


def test_structure_search_without_a_grade_writes_no_key(tmp_path):
    out = tmp_path / "rss"
    result = run_search(PolymlpCalculator(load_potential(data.potential("Al-Cu"))),
                        ("Al", "Cu"), out=out, **{**QUICK_SEARCH, "max_atoms": 1, "trials": 2})
    assert all(GRADE not in r for r in result.trials)
    assert all(e.extrapolation_grade is None for e in result.entries)
    hull = json.loads((out / "hull.json").read_text())
    assert all(GRADE not in s for s in hull["structures"])
    assert all(GRADE not in read(out / r["file"]).info for r in result.trials)


def test_a_run_made_without_a_grade_does_not_resume_with_one(al, tmp_path):
    """The grade is an input of a run: records with and without grades never mix."""
    from polymlp_lab.extrapolation import GRADE_FILE
    from polymlp_lab.runs import RunMismatchError, calculator_inputs
    from polymlp_lab.simulations.md import run_md

    plain = load_potential(data.potential("Al"))
    assert "extrapolation" not in calculator_inputs(plain)
    assert calculator_inputs(al)["extrapolation"] == al.extrapolation.digest()
    assert calculator_inputs(PolymlpCalculator(al)) == calculator_inputs(al)
    other = _calibrated("Al", _varied(data.structure("Al").repeat(2), 3,
                                      np.random.default_rng(1)))
    assert calculator_inputs(other)["extrapolation"] != calculator_inputs(al)["extrapolation"]
    assert calculator_inputs(other)["potential"] == calculator_inputs(al)["potential"]

    crystal = data.structure("Al").repeat(2)
    settings = dict(ensemble="nve", steps=4, interval=2, progress=False, out=tmp_path / "md")
    run_md(crystal, PolymlpCalculator(plain), **settings)
    with pytest.raises(RunMismatchError, match="extrapolation"):
        run_md(crystal, PolymlpCalculator(al), **settings)
    graded = run_md(crystal, PolymlpCalculator(al), restart=True, **settings)
    assert None not in graded.records[GRADE]

    folder = tmp_path / "potential"  # files: the grade file beside the potential counts
    folder.mkdir()
    potential_file = folder / "polymlp.yaml"
    potential_file.write_bytes(data.potential("Al").read_bytes())
    before = calculator_inputs(potential_file)
    al.extrapolation.save(folder / GRADE_FILE)
    assert "extrapolation" not in before and calculator_inputs(potential_file)["extrapolation"]

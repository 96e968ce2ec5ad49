"""The run layer: resume, extend or refuse; restart removes only what the run wrote; records
atomic and half-written ones redone; tasks mapped serially or on Dask, failures recorded."""

import json

import numpy as np
import pytest
from ase.build import bulk

from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.runs import (RunMismatchError, atoms_digest, dataset_digest, file_digest,
                              map_tasks, open_run)

SETTINGS = dict(temperature_K=300.0, steps=100, ensemble="nvt")


def test_a_new_run_records_its_settings_and_inputs(tmp_path):
    run = open_run(tmp_path / "run", kind="md", settings=SETTINGS, inputs={"potential": "abc"})
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run.status == "new"
    assert saved["kind"] == "md" and saved["settings"] == SETTINGS
    assert saved["inputs"] == {"potential": "abc"}


def test_same_settings_resume_and_keep_the_records(tmp_path):
    run = open_run(tmp_path, kind="md", settings=SETTINGS)
    run.write_record("a", {"status": "ok", "value": 1.5})
    again = open_run(tmp_path, kind="md", settings=dict(SETTINGS))
    assert again.status == "resumed"
    assert again.read_records() == {"a": {"status": "ok", "value": 1.5}}


def test_a_grown_count_extends_a_shrunk_one_is_refused(tmp_path):
    open_run(tmp_path, kind="md", settings=SETTINGS, counts=("steps",))
    grown = open_run(tmp_path, kind="md", settings={**SETTINGS, "steps": 200}, counts=("steps",))
    assert grown.status == "extended" and grown.settings["steps"] == 200
    with pytest.raises(RunMismatchError, match=r"steps: was 200, now 50 \(it may only grow\)"):
        open_run(tmp_path, kind="md", settings={**SETTINGS, "steps": 50}, counts=("steps",))


def test_other_settings_inputs_or_kind_are_refused_with_what_differs(tmp_path):
    open_run(tmp_path, kind="md", settings=SETTINGS, inputs={"potential": "abc"})
    with pytest.raises(RunMismatchError, match="temperature_K: was 300.0, now 600.0") as info:
        open_run(tmp_path, kind="md", settings={**SETTINGS, "temperature_K": 600.0},
                 inputs={"potential": "abc"})
    assert isinstance(info.value, PolymlpLabError) and "--restart" in str(info.value)
    with pytest.raises(RunMismatchError, match="input potential: was 'abc', now 'xyz'"):
        open_run(tmp_path, kind="md", settings=SETTINGS, inputs={"potential": "xyz"})
    with pytest.raises(RunMismatchError, match="kind: was 'md', now 'grid'"):
        open_run(tmp_path, kind="grid", settings=SETTINGS, inputs={"potential": "abc"})


def test_restart_removes_what_the_run_wrote_and_nothing_of_the_users(tmp_path):
    run = open_run(tmp_path, kind="md", settings=SETTINGS)
    run.write_record("a", {"status": "ok"})
    (tmp_path / "md.traj").write_text("frames")
    run.owns("md.traj")
    (tmp_path / "notes.txt").write_text("mine")
    fresh = open_run(tmp_path, kind="md", settings={**SETTINGS, "temperature_K": 600.0},
                     restart=True)
    assert fresh.status == "restarted" and fresh.read_records() == {}
    assert not (tmp_path / "md.traj").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_half_written_record_is_redone_and_failed_tasks_retried(tmp_path):
    run = open_run(tmp_path, kind="grid", settings=SETTINGS)
    run.write_record("good", {"status": "ok"})
    run.write_record("failed", {"status": "error: singular"})
    (tmp_path / "records" / "cut.json").write_text('{"status": "o')
    assert run.finished() == {"good"}
    assert set(run.read_records()) == {"good", "failed"}
    assert not (tmp_path / "records" / "cut.json").exists()


def test_records_never_hold_bare_nan(tmp_path):
    run = open_run(tmp_path, kind="grid", settings=SETTINGS)
    path = run.write_record("x", {"status": "ok", "energy": np.float64("nan"),
                                  "forces": np.array([1.0, np.inf])})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"status": "ok", "energy": None, "forces": [1.0, None]}


def test_an_output_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(PolymlpLabError, match="out"):
        open_run(tmp_path / "out", kind="md", settings=SETTINGS)


def test_digests_follow_content(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("coeffs: [1, 2]")
    second.write_text("coeffs: [1, 2]")
    assert file_digest(first) == file_digest(second)
    second.write_text("coeffs: [1, 3]")
    assert file_digest(first) != file_digest(second)
    atoms = bulk("Al", "fcc", a=4.05).repeat(2)
    assert atoms_digest(atoms) == atoms_digest(atoms.copy())
    moved = atoms.copy()
    moved.positions[3, 0] += 1e-9
    assert atoms_digest(moved) != atoms_digest(atoms)


def test_dataset_digest_follows_structures_and_labels():
    from polymlp_lab import data

    part = data.dataset("Cu-md", indices=range(5))
    same = data.dataset("Cu-md", indices=range(5))
    assert dataset_digest(part) == dataset_digest([same])
    assert dataset_digest(part) != dataset_digest(data.dataset("Cu-md", indices=range(1, 6)))
    same.structures[2].calc.results["energy"] += 1e-6
    assert dataset_digest(part) != dataset_digest(same)


def _square(x):
    if x == 3:
        raise ValueError("three is refused")
    return x * x


def test_map_tasks_in_process_records_failures_and_stops_on_request():
    seen = {}

    def on_result(name, result, error):
        seen[name] = (result, None if error is None else str(error))

    done = map_tasks(_square, {f"t{i}": i for i in range(5)}, on_result=on_result, n_workers=1,
                     progress=False)
    assert done == 5
    assert seen["t2"] == (4, None) and seen["t3"] == (None, "three is refused")
    stopped = {}
    done = map_tasks(_square, {f"t{i}": i for i in range(5)}, n_workers=1, progress=False,
                     on_result=lambda n, r, e: stopped.setdefault(n, r),
                     stop=lambda: len(stopped) >= 2)
    assert done == 2 and len(stopped) == 2


def _scaled(factor, x):
    return factor * x


def test_map_tasks_on_dask_with_a_shared_argument():
    results = {}
    done = map_tasks(_scaled, {f"t{i}": i for i in range(6)}, shared=(10,), n_workers=2,
                     progress=False, priority={"t5": 10},
                     on_result=lambda n, r, e: results.__setitem__(n, (r, e)))
    assert done == 6
    assert results == {f"t{i}": (10 * i, None) for i in range(6)}

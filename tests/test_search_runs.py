"""Structure search and grain boundaries on the run layer (polymlp_lab.runs): a potential
refitted in place is another input (refused, or started afresh with restart), failed trials
are retried once their cause is gone, corrupt records are redone, more trials or boundaries
extend a run, and other settings are refused naming what differs."""

import json
from pathlib import Path

import pytest
from ase.calculators.emt import EMT

from polymlp_lab import data
from polymlp_lab.cli import main
from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.potential import Potential, load_potential
from polymlp_lab.runs import RunMismatchError, file_digest
from polymlp_lab.simulations import grain_boundary as gb
from polymlp_lab.simulations.structure_search import run_search

CUAU = ("Cu", "Au")
QUICK_SEARCH = dict(max_atoms=2, trials=5, seed=2, fmax=0.05, steps=60, n_workers=1,
                    progress=False)  # trials in this process: compositions Cu, Au, Cu2, CuAu, Au2
QUICK_GB = dict(grid=(1, 1), expansions=(0.0,), fmax=0.02, steps=60, min_thickness=10.0,
                progress=False)


def _records(out: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))}


def _mtimes(out: Path) -> dict:
    return {f"{p.parent.name}/{p.name}": p.stat().st_mtime_ns
            for folder in ("records", "trials") for p in (out / folder).iterdir()}


def _same_trial(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items()
                                                               if k != "seconds"}


class FailsWhileMarked(EMT):
    """EMT that raises for the formula ``formula`` while the file ``marker`` exists (a cause
    outside the run's settings and inputs, later removed)."""

    def __init__(self, marker, formula):
        super().__init__()
        self.marker, self.formula = str(marker), formula

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if Path(self.marker).exists() and atoms.get_chemical_formula() == self.formula:
            raise RuntimeError(f"{self.marker} is in the way")
        super().calculate(atoms, properties, system_changes)


# --- structure search ----------------------------------------------------------------------

def test_potential_refitted_in_place_is_refused_and_restart_starts_afresh(tmp_path):
    path = tmp_path / "polymlp.yaml"
    potential = load_potential(data.potential("Ti-Al"))
    potential.save(path)
    out = tmp_path / "rss"
    kwargs = dict(max_atoms=1, trials=2, out=out, fmax=0.05, steps=30, n_workers=1,
                  progress=False)
    first = run_search(str(path), ("Al",), **kwargs)
    assert [r["status"] for r in first.trials] == ["ok", "ok"]
    before = _records(out)

    # active learning refits the file in place: the same path, other coefficients
    component = potential.components[0]
    Potential.from_params(component.params, component.coeffs * 1.01).save(path)
    with pytest.raises(RunMismatchError, match="input potential: was") as info:
        run_search(str(path), ("Al",), **kwargs)
    assert "--restart" in str(info.value)
    assert _records(out) == before  # nothing of the old potential was touched or mixed

    fresh = run_search(str(path), ("Al",), restart=True, **kwargs)
    saved = json.loads((out / "run.json").read_text())
    assert saved["inputs"] == {"potential": file_digest(path)}
    after = _records(out)
    assert set(after) == set(before)
    for name in before:  # every trial relaxed again with the refitted potential
        assert after[name]["energy_per_atom"] != pytest.approx(before[name]["energy_per_atom"],
                                                               abs=1e-6)
    hull = json.loads((out / "hull.json").read_text())
    assert hull["references"]["Al"] == pytest.approx(
        min(e.energy_per_atom for e in fresh.entries))


def test_a_failed_trial_is_retried_once_its_cause_is_gone(tmp_path):
    marker = tmp_path / "broken"
    marker.write_text("in the way")
    out = tmp_path / "search"
    calc = FailsWhileMarked(marker, "AuCu")
    first = run_search(calc, CUAU, out=out, **QUICK_SEARCH)
    status = {r["formula"]: r["status"] for r in first.trials}
    assert status["CuAu"] == f"failed: RuntimeError: {marker} is in the way"
    assert all(s == "ok" for f, s in status.items() if f != "CuAu")
    before = _mtimes(out)

    marker.unlink()
    second = run_search(calc, CUAU, out=out, **QUICK_SEARCH)
    assert not second.failed and len(second.trials) == 5
    after = _mtimes(out)
    assert set(after) - set(before) == {"trials/trial-00003.extxyz"}  # the CuAu structure
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {"records/trial-00003.json"}  # only the failed trial ran again
    assert "CuAu" in {e.formula for e in second.entries}


def test_corrupt_records_are_redone_and_more_trials_extend(tmp_path):
    out = tmp_path / "search"
    first = run_search(EMT(), CUAU, out=out, **QUICK_SEARCH)
    before = _records(out)
    # a crash cut one record short; another lost its structure file
    (out / "records" / "trial-00001.json").write_text('{"trial": 1, "status": "o')
    (out / "trials" / "trial-00004.extxyz").unlink()
    mtimes = _mtimes(out)

    again = run_search(EMT(), CUAU, out=out, **QUICK_SEARCH)
    after = _records(out)
    assert _same_trial(after["trial-00001"], before["trial-00001"])
    assert _same_trial(after["trial-00004"], before["trial-00004"])
    assert (out / "trials" / "trial-00004.extxyz").is_file()
    untouched = {"records/trial-00000.json", "records/trial-00002.json",
                 "records/trial-00003.json", "trials/trial-00000.extxyz"}
    assert all(_mtimes(out)[name] == mtimes[name] for name in untouched)
    assert again.as_dict() == first.as_dict()  # the same seed, the same hull

    grown = run_search(EMT(), CUAU, out=out, **{**QUICK_SEARCH, "trials": 7})
    assert [r["trial"] for r in grown.trials] == list(range(7))
    assert all(_same_trial(_records(out)[n], after[n]) for n in after)
    with pytest.raises(RunMismatchError, match=r"trials: was 7, now 5 \(it may only grow\)"):
        run_search(EMT(), CUAU, out=out, **QUICK_SEARCH)


def test_another_calculator_is_refused_naming_the_input(tmp_path):
    out = tmp_path / "search"
    run_search(EMT(), CUAU, out=out, **{**QUICK_SEARCH, "trials": 2})
    with pytest.raises(RunMismatchError, match="input calculator: was 'ase.calculators.emt.EMT:"):
        run_search(FailsWhileMarked(tmp_path / "none", "Cu"), CUAU, out=out,
                   **{**QUICK_SEARCH, "trials": 2})


def test_rss_command_refuses_other_settings_and_restarts(tmp_path, capsys):
    out = tmp_path / "rss"
    command = ["rss", "--pot", str(data.potential("Ti-Al")), "--elements", "Al",
               "--max-atoms", "1", "--trials", "2", "--steps", "30", "--workers", "1",
               "--out", str(out), "--quiet"]
    assert main(command) == 0
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main([*command, "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "seed: was 0, now 1" in err and "--restart" in err and "Traceback" not in err
    assert main([*command, "--seed", "1", "--restart"]) == 0
    assert json.loads((out / "run.json").read_text())["settings"]["seed"] == 1
    assert (out / "notes.txt").read_text() == "mine"


# --- grain boundaries ----------------------------------------------------------------------

class FailsOnPlane(EMT):
    """EMT that raises on the bicrystal of ``plane`` while the file ``marker`` exists."""

    def __init__(self, marker, plane):
        super().__init__()
        self.marker, self.plane = str(marker), tuple(plane)

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if Path(self.marker).exists() and tuple(atoms.info.get("plane", ())) == self.plane:
            raise RuntimeError(f"{self.plane} is in the way")
        super().calculate(atoms, properties, system_changes)


@pytest.fixture(scope="module")
def cu():
    return gb.bulk_reference("Cu", 3.6, EMT())


def test_gb_other_settings_are_refused_naming_them_and_restart_runs_afresh(tmp_path, cu):
    out = tmp_path / "gb"
    first = gb.search_boundaries("Cu", cu.a, EMT(), [(1, 1, 1)], out=out, **QUICK_GB)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunMismatchError, match=r"fmax: was 0.02, now 0.01") as info:
        gb.search_boundaries("Cu", cu.a, EMT(), [(1, 1, 1)], out=out,
                             **{**QUICK_GB, "fmax": 0.01})
    assert "grid" not in str(info.value)  # only what differs is named
    with pytest.raises(RunMismatchError, match="input calculator"):
        gb.search_boundaries("Cu", cu.a, FailsOnPlane(out / "none", (1, 1, 1)), [(1, 1, 1)],
                             out=out, **QUICK_GB)

    fresh = gb.search_boundaries("Cu", cu.a, EMT(), [(1, 1, 1)], out=out, restart=True,
                                 **{**QUICK_GB, "fmax": 0.01})
    saved = json.loads((out / "gb.json").read_text(encoding="utf-8"))
    assert saved["settings"]["fmax"] == 0.01 and list(saved["boundaries"]) == ["sigma3_111"]
    assert fresh[0].trials[0].steps >= first[0].trials[0].steps  # relaxed again, further
    assert (out / "notes.txt").read_text() == "mine"


def test_gb_more_boundaries_extend_and_a_failed_one_is_retried(tmp_path, cu):
    out = tmp_path / "gb"
    marker = tmp_path / "broken"
    marker.write_text("in the way")
    calc = FailsOnPlane(marker, (1, 1, 1))
    with pytest.raises(PolymlpLabError, match=r"1 of 2 boundaries failed.*Σ3\(111\)"):
        gb.search_boundaries("Cu", cu.a, calc, [3], out=out, **QUICK_GB)
    records = _records(out)
    assert records["sigma3_111"]["status"].startswith("failed: PolymlpLabError")
    assert records["sigma3_112"]["status"] == "ok"  # the failure did not stop the others
    done_112 = (out / "records" / "sigma3_112.json").stat().st_mtime_ns

    marker.unlink()
    computed = []
    search_boundary = gb.search_boundary

    def recording(*args, **kwargs):
        computed.append(gb.tilt_boundary(args[3]).label)
        return search_boundary(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gb, "search_boundary", recording)
        results = gb.search_boundaries("Cu", cu.a, calc, [3, 9], out=out, **QUICK_GB)
    assert sorted(computed) == ["Σ3(111)", "Σ9(114)", "Σ9(221)"]  # retried, and the new Σ
    assert (out / "records" / "sigma3_112.json").stat().st_mtime_ns == done_112
    assert [r.label for r in results] == ["Σ9(221)", "Σ3(111)", "Σ3(112)", "Σ9(114)"]
    saved = json.loads((out / "gb.json").read_text(encoding="utf-8"))
    assert "failed" not in saved and len(saved["boundaries"]) == 4

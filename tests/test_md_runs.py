"""MD and melt-and-quench on the run layer: a rerun resumes, extends or is refused naming what
differs; restart starts afresh; a record cut short by a crash is redone; step-0 failures are
typed command errors; clusters run NVE/NVT; a ``stop`` callback ends a run at a record."""

import json
import shutil

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

from polymlp_lab import PolymlpCalculator, data
from polymlp_lab.cli import main
from polymlp_lab.runs import RunMismatchError
from polymlp_lab.simulations.md import run_md

NVT = dict(ensemble="nvt", thermostat="bussi", temperature_K=400.0, interval=10,
           progress=False)
NVE = dict(ensemble="nve", temperature_K=400.0, interval=10, progress=False)


@pytest.fixture(scope="module")
def tial_calc():
    return PolymlpCalculator(data.potential("Ti-Al"))


def fcc_al(repeat=2, a=4.04):
    return bulk("Al", "fcc", a=a, cubic=True).repeat(repeat)


def test_another_temperature_is_refused_and_the_run_kept(tial_calc, tmp_path):
    run_md(fcc_al(), tial_calc, steps=20, out=tmp_path, **NVT)
    before = (tmp_path / "md.jsonl").read_text()
    with pytest.raises(RunMismatchError, match="temperature_K: was 400.0, now 600.0"):
        run_md(fcc_al(), tial_calc, steps=20, out=tmp_path, **{**NVT, "temperature_K": 600.0})
    assert (tmp_path / "md.jsonl").read_text() == before


def test_another_potential_or_structure_of_the_same_size_is_refused(tial_calc, tmp_path):
    run_md(fcc_al(), tial_calc, steps=20, out=tmp_path, **NVE)
    other = PolymlpCalculator(data.potential("Al"))
    with pytest.raises(RunMismatchError, match="input potential"):
        run_md(fcc_al(), other, steps=40, out=tmp_path, **NVE)
    with pytest.raises(RunMismatchError, match="input structure"):
        run_md(fcc_al(a=4.10), tial_calc, steps=40, out=tmp_path, **NVE)
    # the same potential read from another file of the same content: the same run
    copy = tmp_path.parent / "copy-of-polymlp.yaml"
    shutil.copy(data.potential("Ti-Al"), copy)
    again = run_md(fcc_al(), PolymlpCalculator(copy), steps=40, out=tmp_path, **NVE)
    assert again.run_status == "extended" and again.resumed_from_step == 20
    assert again.records["step"] == [0, 10, 20, 30, 40]


def test_run_json_records_settings_and_input_digests(tial_calc, tmp_path):
    result = run_md(fcc_al(), tial_calc, steps=20, out=tmp_path, **NVE)
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["kind"] == "md" and saved["settings"]["steps"] == 20
    assert saved["settings"]["ensemble"] == "nve"
    assert saved["inputs"]["potential"].startswith("polymlp:")
    assert len(saved["inputs"]["structure"]) == 64
    assert {"md.jsonl", "md.json", "md.traj"} <= set(saved["owned"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["md.json", "md.jsonl", "md.traj",
                                                          "run.json"]
    assert result.run_status == "new"
    same = run_md(fcc_al(), tial_calc, steps=20, out=tmp_path, **NVE)
    assert same.run_status == "resumed" and same.records == result.records


def test_restart_starts_afresh_and_keeps_the_users_files(tial_calc, tmp_path):
    run_md(fcc_al(), tial_calc, steps=40, out=tmp_path, **NVT)
    (tmp_path / "notes.txt").write_text("mine")
    fresh = run_md(fcc_al(), tial_calc, steps=20, out=tmp_path, restart=True,
                   **{**NVT, "temperature_K": 600.0})
    assert fresh.run_status == "restarted" and fresh.resumed_from_step == 0
    assert fresh.records["step"] == [0, 10, 20]
    assert json.loads((tmp_path / "run.json").read_text())["settings"]["temperature_K"] == 600.0
    assert len(read(tmp_path / "md.traj", index=":")) == 3
    assert (tmp_path / "notes.txt").read_text() == "mine"
    # resume=False means the same
    again = run_md(fcc_al(), tial_calc, steps=20, out=tmp_path, resume=False, **NVT)
    assert again.run_status == "restarted"


@pytest.mark.parametrize("cut", ["half-line", "garbage-line"])
def test_a_record_cut_short_by_a_crash_is_redone(tial_calc, tmp_path, cut):
    whole = run_md(fcc_al(), tial_calc, steps=60, out=tmp_path / "whole", **NVE)
    out = tmp_path / "crashed"
    run_md(fcc_al(), tial_calc, steps=60, out=out, **NVE)
    log = out / "md.jsonl"
    lines = log.read_text().split("\n")
    if cut == "half-line":  # killed while writing the last record
        log.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][: len(lines[-2]) // 2])
    else:  # a garbled last line
        log.write_text("\n".join(lines[:-2]) + "\n{not json\n")
    again = run_md(fcc_al(), tial_calc, steps=60, out=out, **NVE)
    assert again.failed is None and again.resumed_from_step == 50
    assert again.records["step"] == whole.records["step"]
    np.testing.assert_allclose(again.records["total_energy_eV"],
                               whole.records["total_energy_eV"], atol=1e-9)
    np.testing.assert_allclose(again.atoms.positions, whole.atoms.positions, atol=1e-9)
    assert len(read(out / "md.traj", index=":")) == 7
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()[1:]] == \
        whole.records["step"]


def _broken(kind):
    atoms = fcc_al(1)
    if kind == "overlap":
        atoms.positions[1] = atoms.positions[0] + 0.01
    elif kind == "element":
        atoms.symbols[0] = "Cu"
    else:  # a zero-volume cell
        atoms.cell[2] = atoms.cell[0]
    return atoms


@pytest.mark.parametrize("kind, message", [
    ("overlap", "apart"), ("element", "'Cu' is not in the potential"),
    ("volume", "cell vectors are zero or linearly dependent")])
def test_md_command_reports_a_structure_that_cannot_start(tmp_path, capsys, kind, message):
    structure = tmp_path / f"{kind}.vasp"
    _broken(kind).write(structure, format="vasp")
    out = tmp_path / "run"
    pot = str(data.potential("Ti-Al"))
    code = main(["md", "--pot", pot, "--structure", str(structure), "--steps", "20",
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "polymlp-lab: error:" in err and message in err
    assert not (out / "run.json").exists() and not (out / "md.json").exists()
    # nothing recorded: the corrected structure runs into the same folder
    good = tmp_path / "good.vasp"
    fcc_al(1).write(good, format="vasp")
    assert main(["md", "--pot", pot, "--structure", str(good), "--steps", "20",
                 "--interval", "10", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "md.json").read_text())["records"]["step"] == [0, 10, 20]


@pytest.mark.parametrize("ensemble", ["nve", "nvt"])
def test_a_cluster_runs_without_pressure(tial_calc, tmp_path, ensemble):
    cluster = fcc_al(2)
    cluster.pbc = False
    cluster.center(vacuum=6.0)
    result = run_md(cluster, tial_calc, ensemble=ensemble, temperature_K=300.0, steps=200,
                    interval=20, progress=False, out=tmp_path)
    assert result.failed is None
    assert result.records["step"] == list(range(0, 201, 20))
    assert all(p is None for p in result.records["pressure_GPa"])
    assert all(v is None for v in result.records["volume_A3"])
    if ensemble == "nve":
        energy = result.array("total_energy_eV") / result.n_atoms
        assert np.ptp(energy) < 1e-3
    saved = json.loads((tmp_path / "md.json").read_text())
    assert saved["records"]["pressure_GPa"] == [None] * 11


def test_stop_callback_ends_the_run_at_a_record_and_a_rerun_resumes(tial_calc, tmp_path):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) >= 3

    whole = run_md(fcc_al(), tial_calc, steps=60, **NVE)
    stopped = run_md(fcc_al(), tial_calc, steps=60, out=tmp_path, stop=stop, **NVE)
    assert stopped.stopped and stopped.failed is None
    assert stopped.records["step"] == [0, 10, 20]
    assert json.loads((tmp_path / "md.json").read_text())["stopped"] is True
    assert len(read(tmp_path / "md.traj", index=":")) == 3
    rest = run_md(fcc_al(), tial_calc, steps=60, out=tmp_path, **NVE)
    assert not rest.stopped and rest.resumed_from_step == 20
    np.testing.assert_allclose(rest.atoms.positions, whole.atoms.positions, atol=1e-9)


def test_md_panel_stops_through_the_stop_callback(tial_calc, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    import polymlp_lab.widgets.md_panel as md_panel

    InteractiveShell.instance()
    seen = {}

    def spy(atoms, calc, **kwargs):
        seen.update(kwargs, calc=calc)
        panel.stop()  # the Stop button, pressed as the run starts
        return run_md(atoms, calc, **kwargs)

    monkeypatch.setattr(md_panel, "run_md", spy)
    panel = md_panel.MDPanel(tial_calc, fcc_al(1))
    panel.steps.value = 1000
    panel.interval.value = 10
    panel.run_button.click()
    panel.wait(120)
    assert panel.error is None, panel.error
    assert seen["calc"] is tial_calc and callable(seen["stop"])
    assert panel.result["step"] == [0]
    assert "stopped" in panel.status.value


def test_melt_and_quench_lives_in_liquid_and_refuses_other_inputs(tial_calc, tmp_path):
    from polymlp_lab.simulations import liquid, md

    assert not hasattr(md, "melt_and_quench")  # md.py keeps MD only
    settings = dict(temperatures_K=[1500], melt_temperature_K=2500, density_g_cm3=2.375,
                    melt_ps=0.08, equilibrate_ps=0.08, production_ps=0.16, progress=False,
                    out=tmp_path)
    first = liquid.melt_and_quench(fcc_al(), tial_calc, **settings)
    with pytest.raises(RunMismatchError, match="input potential"):
        liquid.melt_and_quench(fcc_al(), PolymlpCalculator(data.potential("Al")), **settings)
    with pytest.raises(RunMismatchError, match="melt_temperature_K"):
        liquid.melt_and_quench(fcc_al(), tial_calc, **{**settings, "melt_temperature_K": 3000})
    # a longer production extends only the production stage
    longer = liquid.melt_and_quench(fcc_al(), tial_calc, **{**settings, "production_ps": 0.24})
    assert longer[0].n_frames == first[0].n_frames + 2
    melt = json.loads((tmp_path / "melt" / "md.json").read_text())
    assert melt["records"]["step"][-1] == 40 and melt["resumed_from_step"] == 40
    # restart: afresh, the recipe's files replaced
    (tmp_path / "notes.txt").write_text("mine")
    again = liquid.melt_and_quench(fcc_al(), tial_calc, restart=True,
                                   **{**settings, "melt_temperature_K": 3000})
    assert json.loads((tmp_path / "run.json").read_text())["settings"]["melt_temperature_K"] == 3000
    assert again[0].n_frames == first[0].n_frames
    assert (tmp_path / "notes.txt").read_text() == "mine"

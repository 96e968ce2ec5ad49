"""Headless tests of the simulation panels: viewer, MD, phonons, grain boundaries, search.

Panels are driven as a student would (widget values, button clicks) and checked through
their attributes, status and output area. Potentials: the packaged Ti-Al polymlp on fcc Al;
EMT Cu (and Cu-Au) where any ASE calculator will do.
"""

import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from polymlp_lab.calculator import PolymlpCalculator
from polymlp_lab import data
from polymlp_lab.widgets.gb_panel import GBPanel
from polymlp_lab.widgets.md_panel import MDPanel
from polymlp_lab.widgets.phonon_panel import PhononPanel
from polymlp_lab.widgets.search_panel import SearchPanel
from polymlp_lab.widgets.viewer import StructureViewer

TIMEOUT_S = 120


@pytest.fixture(scope="module", autouse=True)
def shell():
    """The IPython shell that widget outputs format with, made here in the main thread
    (made first in a panel's worker thread, its history database fails at exit)."""
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


@pytest.fixture(scope="module")
def tial_calc():
    return PolymlpCalculator(data.potential("Ti-Al"))


def fcc_al():
    return bulk("Al", "fcc", a=4.04, cubic=True)


def finish(panel):
    """Wait for the panel's background work; fail if it is still going."""
    panel.wait(TIMEOUT_S)
    assert not panel.busy, "the panel's work did not finish in time"


def n_images(panel) -> int:
    return sum("image/png" in item.get("data", {}) for item in panel.output.outputs)


class CountingEMT(EMT):
    """EMT that counts its calculations."""

    calls = 0

    def calculate(self, *args, **kwargs):
        self.calls += 1
        super().calculate(*args, **kwargs)


# --- StructureViewer ----------------------------------------------------------------------

def test_viewer_plays_a_trajectory_file_and_reports_a_bad_one(tmp_path):
    frames = []
    for shift in range(5):
        atoms = fcc_al()
        atoms.positions[0] += (0.05 * shift, 0.0, 0.0)
        frames.append(atoms)
    write(tmp_path / "run.traj", frames)

    viewer = StructureViewer(tmp_path / "run.traj")
    assert viewer.error is None
    assert viewer.n_frames == 5 and viewer.view.max_frame == 4
    assert viewer.frame_slider.max == 4 and viewer.play.max == 4
    viewer.frame_slider.value = 3
    assert viewer.view.frame == 3 and viewer.frame == 3
    viewer.play.value = 1
    assert viewer.view.frame == 1

    viewer.representation.value = "spacefill"
    viewer.repeat.value = (2, 1, 1)  # a new view of the repeated frames, still linked
    assert viewer.error is None and viewer.view.max_frame == 4
    viewer.frame_slider.value = 2
    assert viewer.view.frame == 2

    viewer.set_structure(tmp_path / "missing.traj")
    assert "missing.traj" in viewer.error
    (tmp_path / "garbage.traj").write_text("not a trajectory")
    viewer.set_structure(tmp_path / "garbage.traj")
    assert viewer.error is not None
    assert viewer.n_frames == 5  # the last good trajectory stays

    viewer.set_structure(frames[0])
    assert viewer.error is None and viewer.n_frames == 1 and "Al4" in viewer.status.value


# --- MDPanel ------------------------------------------------------------------------------

def test_md_nvt_run_plots_live_and_plays_the_trajectory():
    panel = MDPanel(data.potential("Ti-Al"), fcc_al(), refresh_s=0.1)
    assert panel.error is None
    panel.ensemble.value = "nvt"
    panel.temperature.value = 300.0
    # 256 atoms, 200 steps: long enough (a few ms a step) for several redraws at 0.1 s; at 50
    # steps the run could end before the second redraw on a loaded machine
    panel.steps.value = 200
    panel.interval.value = 20
    panel.supercell.value = (4, 4, 4)
    panel.run_button.click()
    assert panel.run_button.disabled and not panel.stop_button.disabled
    finish(panel)

    assert panel.error is None, panel.error
    records = panel.result
    assert records["step"] == list(range(0, 201, 20))  # steps / interval + 1 records
    assert 30.0 < np.mean(records["temperature_K"]) < 3000.0
    assert sum(n < 11 for n in panel.redraws) >= 2, panel.redraws  # redrawn during the run
    assert panel.redraws[-1] == 11 and panel.figure is not None
    assert n_images(panel) == 1  # each redraw replaces the plot
    assert panel.viewer.n_frames == 11 and panel.viewer.frame_slider.max == 10
    assert len(panel.viewer.frames[0]) == 256
    assert "200 steps" in panel.status.value
    assert not panel.run_button.disabled and panel.stop_button.disabled


def test_md_stop_ends_the_run_at_a_record(tial_calc):
    panel = MDPanel(tial_calc, fcc_al(), refresh_s=0.1)
    panel.steps.value = 5000
    panel.interval.value = 10
    panel.supercell.value = (2, 2, 2)
    panel.run_button.click()
    deadline = time.monotonic() + TIMEOUT_S
    while len(panel.redraws) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    panel.stop_button.click()
    finish(panel)

    assert panel.error is None, panel.error
    steps = panel.result["step"]
    assert 2 <= len(steps) < 501 and steps == list(range(0, steps[-1] + 1, 10))
    assert panel.viewer.n_frames == len(steps)  # every record has its frame
    assert "stopped" in panel.status.value


def test_md_bad_input_is_shown_in_the_panel(tial_calc):
    panel = MDPanel(tial_calc, fcc_al())
    panel.timestep.value = -1.0
    panel.run_button.click()
    finish(panel)
    assert "timestep_fs" in panel.error and panel.result is None

    broken = MDPanel("no/such/polymlp.lammps", fcc_al())
    assert "no/such/polymlp.lammps" in broken.error and broken.run_button.disabled


# --- PhononPanel --------------------------------------------------------------------------

def test_phonons_of_relaxed_fcc_al(tial_calc):
    panel = PhononPanel(tial_calc, bulk("Al", "fcc", a=4.1))
    panel.supercell.value = (2, 2, 2)
    panel.mesh.value = (8, 8, 8)
    panel.relax_first.value = True
    panel.run_button.click()
    finish(panel)

    assert panel.error is None, panel.error
    result = panel.result
    assert result.n_atoms_primitive == 1 and not result.imaginary
    dos_integral = np.trapezoid(result.dos, result.frequencies_THz)
    assert dos_integral == pytest.approx(3 * result.n_atoms_primitive, rel=0.02)
    assert panel.structure.cell.cellpar()[0] == pytest.approx(2.866, abs=0.01)  # relaxed
    assert n_images(panel) == 1 and "no imaginary modes" in panel.output_text()


def test_phonons_of_a_stretched_crystal_are_flagged(tial_calc):
    panel = PhononPanel(tial_calc, bulk("Al", "fcc", a=4.6))
    panel.supercell.value = (2, 2, 2)
    panel.mesh.value = (6, 6, 6)
    panel.relax_first.value = False
    panel.run_button.click()
    finish(panel)

    assert panel.error is None and panel.result.imaginary
    assert "imaginary modes: the lowest frequency is -" in panel.output_text()


# --- GBPanel ------------------------------------------------------------------------------

def test_gb_panel_fills_the_plot_and_resumes(tmp_path):
    calc = CountingEMT()
    panel = GBPanel(calc, "Cu", 3.6, out=tmp_path / "gb", min_thickness=10.0, fmax=0.02,
                    refresh_s=0.1)
    panel.boundaries.label = ("Σ3(111) 70.5°", "Σ3(112) 109.5°")
    panel.grid.value = (1, 1)
    panel.expansions.value = "0"
    panel.steps.value = 60
    panel.run_button.click()
    finish(panel)

    assert panel.error is None, panel.error
    assert [r.label for r in panel.results] == ["Σ3(111)", "Σ3(112)"]
    twin, other = panel.results
    assert twin.energy_mJ_m2 < other.energy_mJ_m2
    assert panel.redraws[-1] == 2 and n_images(panel) == 1
    assert panel.chooser.choice.options == ("Σ3(111)", "Σ3(112)")
    assert len(panel.chooser.viewer.frames[0]) == twin.n_atoms
    assert (tmp_path / "gb" / "gb.json").is_file()

    calls = calc.calls
    panel.run_button.click()
    finish(panel)
    assert panel.error is None and calc.calls == calls  # all read back, nothing recomputed
    assert [r.energy_mJ_m2 for r in panel.results] == [twin.energy_mJ_m2, other.energy_mJ_m2]
    assert n_images(panel) == 1

    panel.expansions.value = "0, a"
    panel.run_button.click()
    assert "expansions" in panel.error


# --- SearchPanel --------------------------------------------------------------------------

def test_search_panel_hull_table_and_live_updates(tmp_path):
    panel = SearchPanel(EMT(), ("Cu", "Au"), out=tmp_path / "search", refresh_s=0.1)
    panel.max_atoms.value = 2
    panel.trials.value = 4
    panel.workers.value = 1
    panel.run_button.click()
    finish(panel)

    assert panel.error is None, panel.error
    result = panel.result
    assert len(result.trials) == 4 and not result.failed
    stable = {e.formula for e in result.stable}
    assert {"Au"} <= stable and stable & {"Cu", "Cu2"}
    table = panel.output_text()
    for entry in (*result.stable, *result.metastable):
        assert entry.name in table and entry.formula in table
    assert n_images(panel) == 1  # the hull
    assert any(n < 4 for n in panel.redraws), panel.redraws  # updated before the end
    assert len(panel.chooser.choice.options) == len(result.stable) + len(result.metastable)
    assert panel.chooser.viewer.n_frames == 1

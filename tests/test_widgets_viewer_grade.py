"""Headless tests of the structure viewer's colours: by element, by extrapolation grade and by
energy per atom, evaluated by a potential (or its calculator) for the frame shown; and of the
MD panel's plot of the grade along a run."""

import numpy as np
import pytest
from matplotlib.colors import to_hex

from polymlp_lab import data, load_potential
from polymlp_lab.calculator import PolymlpCalculator
from polymlp_lab.extrapolation import GRADE_WARNING, calibrate_extrapolation
from polymlp_lab.widgets.md_panel import MDPanel
from polymlp_lab.widgets.viewer import COLORMAP, StructureViewer


@pytest.fixture(scope="module", autouse=True)
def shell():
    """The IPython shell that widget outputs format with, made here in the main thread."""
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


@pytest.fixture(scope="module")
def mgo_grade():
    return calibrate_extrapolation(load_potential(data.potential("MgO")),
                                   data.dataset("MgO", indices=range(0, 1000, 20)))


@pytest.fixture
def mgo(mgo_grade):
    """The shipped MgO potential with its grade attached (a fresh object per test)."""
    potential = load_potential(data.potential("MgO"))
    potential.attach_extrapolation(mgo_grade)
    return potential


@pytest.fixture
def cell():
    """An MgO cell of the data set (64 atoms): like the training atoms, γ ≤ 1."""
    atoms = data.dataset("MgO", indices=[10]).structures[0]
    atoms.calc = None
    return atoms


def compressed(atoms, factor=0.85):
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell * factor, scale_atoms=True)
    return atoms


def drawn(viewer) -> list:
    """The parameters of the atom representations drawn since the view was last cleared."""
    messages = viewer.view._ngl_msg_archive
    cleared = max(i for i, m in enumerate(messages)
                  if m.get("methodName") == "removeAllRepresentations")
    return [m["kwargs"] for m in messages[cleared:]
            if m.get("methodName") == "addRepresentation" and m["args"] != ["unitcell"]]


def atom_colours(viewer) -> dict:
    """{atom index: colour}: every representation drawn has a colour and its own atoms."""
    colours = {}
    for representation in drawn(viewer):
        for index in representation["sele"].lstrip("@").split(","):
            assert int(index) not in colours
            colours[int(index)] = representation["color"]
    return colours


def by_element(viewer) -> bool:
    """The atoms are drawn with one representation of all of them, in element colours."""
    return drawn(viewer) == [{"sele": "all"}] and viewer.colour_values is None


def test_the_viewer_colours_a_compressed_cell_by_extrapolation_grade(mgo, cell):
    atoms = compressed(cell)
    viewer = StructureViewer(atoms, potential=mgo)
    assert viewer.colour.value == "element" and by_element(viewer)

    viewer.colour.value = "extrapolation grade"
    grades = mgo.evaluate(atoms).extrapolation_grades
    assert viewer.error is None
    np.testing.assert_allclose(viewer.colour_values, grades, rtol=1e-12)
    above = int(np.sum(grades > 1.5))
    assert above > 0  # a cell compressed by 15 % is far from the training cells
    assert f"{int(np.sum(grades > 1))} atoms above 1, {above} above 1.5" in viewer.status.value
    colours = atom_colours(viewer)
    assert sorted(colours) == list(range(len(atoms)))
    assert colours[int(np.argmax(grades))] == to_hex(COLORMAP(1.0))  # the scale's top


def test_the_viewer_colours_by_energy_per_atom_in_every_repeat(mgo, cell):
    viewer = StructureViewer(cell, potential=mgo)
    viewer.repeat.value = (2, 1, 1)
    viewer.colour.value = "energy per atom"
    energies = mgo.evaluate(cell).energies
    assert viewer.error is None
    np.testing.assert_allclose(viewer.colour_values, energies, rtol=1e-12)
    assert "energy per atom" in viewer.status.value
    colours = atom_colours(viewer)
    n = len(cell)
    assert sorted(colours) == list(range(2 * n))
    assert [colours[i] for i in range(n)] == [colours[n + i] for i in range(n)]
    assert colours[int(np.argmin(energies))] == to_hex(COLORMAP(0.0))
    assert colours[int(np.argmax(energies))] == to_hex(COLORMAP(1.0))


def test_without_a_grade_the_viewer_says_why_and_keeps_element_colours(cell):
    potential = load_potential(data.potential("MgO"))  # no grade file beside it
    viewer = StructureViewer(cell, potential=potential)
    viewer.colour.value = "extrapolation grade"
    assert potential.extrapolation_note in viewer.error
    assert "calibrate_extrapolation" in viewer.status.value
    assert by_element(viewer)

    viewer.potential = None
    assert "potential=" in viewer.error and by_element(viewer)

    viewer.colour.value = "element"  # the error goes, the structure is described again
    assert viewer.error is None and "64 atoms" in viewer.status.value and by_element(viewer)


def test_switching_frames_or_potential_recolours(mgo, cell):
    frames = [cell, compressed(cell)]
    viewer = StructureViewer(frames)
    viewer.colour.value = "extrapolation grade"
    assert viewer.error is not None and by_element(viewer)  # no potential yet

    viewer.potential = PolymlpCalculator(mgo)  # a calculator's potential does as well
    assert viewer.error is None
    np.testing.assert_allclose(viewer.colour_values, mgo.evaluate(frames[0]).extrapolation_grades,
                               rtol=1e-12)
    assert "0 atoms above 1, 0 above 1.5" in viewer.status.value
    first = atom_colours(viewer)

    viewer.frame_slider.value = 1
    grades = mgo.evaluate(frames[1]).extrapolation_grades
    np.testing.assert_allclose(viewer.colour_values, grades, rtol=1e-12)
    assert f"{np.sum(grades > 1.5)} above 1.5" in viewer.status.value
    assert atom_colours(viewer) != first and viewer.view.frame == 1

    viewer.colour.value = "element"
    assert by_element(viewer)


def finished_nve_run(potential, atoms, *, steps, interval):
    """An MD panel after an NVE run of ``steps`` from its button, checked to have ended well."""
    panel = MDPanel(potential, atoms, refresh_s=0.1)
    panel.ensemble.value = "nve"
    panel.steps.value = steps
    panel.interval.value = interval
    panel.run_button.click()
    panel.wait(120)
    assert not panel.busy and panel.error is None, panel.error
    return panel


def test_the_md_panel_plots_the_grade_along_the_run_and_warns(mgo, cell):
    # a cell the potential never saw
    panel = finished_nve_run(mgo, compressed(cell), steps=6, interval=2)
    grades = panel.result["extrapolation_grade"]
    assert len(grades) == 4 and min(grades) > GRADE_WARNING
    energy_ax, temperature_ax, grade_ax = panel.figure.axes  # a third panel: the grade
    assert grade_ax.get_yscale() == "log" and "grade" in grade_ax.get_ylabel()
    line = grade_ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), grades, rtol=1e-12)
    np.testing.assert_allclose(line.get_xdata(), panel.result["time_ps"], rtol=1e-12)
    thresholds = sorted(ln.get_ydata()[0] for ln in grade_ax.get_lines()[1:])
    assert thresholds == [1.0, GRADE_WARNING]
    assert "Warning: extrapolation grade above 1.5 from step 0" in panel.status.value


def test_the_md_panel_plots_no_grade_panel_without_one(cell):
    panel = finished_nve_run(load_potential(data.potential("MgO")), cell, steps=2, interval=1)
    assert panel.result["extrapolation_grade"] == [None] * 3
    assert len(panel.figure.axes) == 2 and "Warning" not in panel.status.value

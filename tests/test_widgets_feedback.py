"""What a class meets first in every panel: "running …" the instant a button is pressed,
no old result under a new error, errors in plain words, out-of-range values refused with a
message (kept as typed, never snapped back), and disabled buttons saying why beside them."""

import threading

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from polymlp_lab.widgets.base import UNEXPECTED, Panel
from polymlp_lab.widgets.gb_panel import GBPanel
from polymlp_lab.widgets.md_panel import MDPanel
from polymlp_lab.widgets.model_builder import ModelBuilder
from polymlp_lab.widgets.pareto import ParetoExplorer
from polymlp_lab.widgets.phonon_panel import PhononPanel
from polymlp_lab.widgets.search_panel import SearchPanel

TIMEOUT_S = 120


@pytest.fixture(scope="module", autouse=True)
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


class BlockingEMT(EMT):
    """EMT that waits for ``release`` before its first calculation."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def calculate(self, *args, **kwargs):
        assert self.release.wait(TIMEOUT_S)
        super().calculate(*args, **kwargs)


class BrokenEMT(EMT):
    """A calculator failing with an internal message a student should never see."""

    def calculate(self, *args, **kwargs):
        raise ValueError("arange: cannot compute length")


def cu():
    return bulk("Cu", "fcc", a=3.6)


def run_phonons(panel, supercell):
    """Press Run on a phonon panel of fcc Cu (4×4×4 q-mesh, no relaxation) and wait."""
    panel.supercell.value = supercell
    panel.mesh.value = (4, 4, 4)
    panel.relax_first.value = False
    panel.run_button.click()
    panel.wait(TIMEOUT_S)
    return panel


def test_running_shows_at_once_and_the_old_output_goes():
    calc = BlockingEMT()
    panel = PhononPanel(calc, cu())
    panel.show_html("<p>an earlier result</p>")
    panel.supercell.value = (2, 2, 2)
    panel.mesh.value = (4, 4, 4)
    panel.relax_first.value = False
    shown = []  # what the status line said, in order
    panel.status.observe(lambda change: shown.append(change.new), names="value")
    panel.run_button.click()
    try:  # the calculator has not started: what the student sees right after the click
        assert panel.busy
        assert "running" in shown[0] and "2×2×2" in shown[0], shown
        assert panel.progress.layout.visibility == "visible"
        assert panel.output.outputs == ()
    finally:
        calc.release.set()
        panel.wait(TIMEOUT_S)
    assert panel.error is None and panel.result is not None


def test_an_error_clears_the_previous_result_and_speaks_plainly():
    panel = run_phonons(PhononPanel(EMT(), cu()), (2, 2, 2))
    assert "no imaginary modes" in panel.output_text()

    panel.calc = BrokenEMT()
    panel.run_button.click()
    panel.wait(TIMEOUT_S)
    assert panel.error == UNEXPECTED
    assert "ValueError" not in panel.status.value and "arange" not in panel.status.value
    assert panel.output.outputs == (), "the old plot and 'no imaginary modes' stayed"
    assert "arange: cannot compute length" in panel.last_traceback  # kept for the teacher


def test_our_errors_keep_their_words_without_the_class_name():
    panel = MDPanel("no/such/polymlp.lammps", cu())
    assert "no/such/polymlp.lammps" in panel.error
    assert "Error" not in panel.status.value.split("⚠", 1)[1]


def test_out_of_range_values_are_refused_with_a_message_not_changed():
    panel = PhononPanel(EMT(), cu())
    panel.supercell._boxes[1].value = 0
    assert panel.supercell._boxes[1].value == 0, "the typed value was changed"
    assert panel.supercell.value == (3, 3, 3)
    assert "supercell" in panel.error and "from 1 to 99" in panel.error
    panel.run_button.click()
    assert not panel.busy and panel.result is None  # refused, nothing started
    panel.supercell._boxes[1].value = 2
    assert panel.error is None and panel.supercell.value == (3, 2, 3)

    md = MDPanel(EMT(), cu())
    md.steps.value = 0
    assert md.steps.value == 0 and "steps: 0 is out of range" in md.error
    md.run_button.click()
    assert not md.busy and md.result is None

    search = SearchPanel(EMT(), ("Cu",), out="unused")
    search.max_atoms.value = 500
    assert search.max_atoms.value == 500 and "max atoms" in search.error and "64" in search.error


def test_disabled_buttons_say_why_beside_them(tmp_path):
    md = MDPanel("no/such/polymlp.lammps", cu())
    assert md.run_button.disabled and "no calculator" in md.why.value
    assert any(md.why in getattr(child, "children", ()) for child in md.children)

    gb = GBPanel("no/such/polymlp.lammps", "Cu", 3.6, out=tmp_path / "gb")
    assert gb.run_button.disabled and "no calculator" in gb.why.value

    grid = ParetoExplorer(tmp_path / "grid")
    assert grid.run_button.disabled and "training data" in grid.run_why.value
    assert grid.card_button.disabled and "choose a model first" in grid.why.value

    builder = ModelBuilder(elements=("Cu",))
    assert builder.train_button.disabled and "training data" in builder.train_why.value
    assert builder.save_button.disabled and "train the model first" in builder.why.value


def test_a_second_start_while_busy_is_refused_in_plain_words():
    panel = Panel([], title="t")
    release = threading.Event()
    assert panel.start(lambda: release.wait(TIMEOUT_S))
    assert not panel.start(lambda: None)
    assert "still working" in panel.error
    release.set()
    panel.wait(TIMEOUT_S)


def test_a_trajectory_gets_one_set_of_play_controls():
    from polymlp_lab.widgets.viewer import StructureViewer

    frames = []
    for shift in range(3):
        atoms = cu().repeat((2, 2, 2))
        atoms.positions[0, 0] += 0.1 * shift
        frames.append(atoms)
    viewer = StructureViewer(frames)
    assert viewer.player.layout.display == "flex"  # ours, linked to the view
    assert viewer.view._iplayer.layout.display == "none"  # nglview's own, hidden


def test_the_viewer_frames_a_bicrystal_along_its_tilt_axis():
    """Looking along the shortest cell vector (the tilt axis, x), the longest (z, normal to
    the boundaries) upright: the columns of the basis NGL aligns the view to."""
    import numpy as np

    from polymlp_lab.simulations.grain_boundary import build_bicrystal
    from polymlp_lab.widgets.viewer import StructureViewer

    bicrystal = build_bicrystal("Al", 4.05, (1, 1, 3))
    assert np.argmin(bicrystal.cell.lengths()) == 0 and np.argmax(bicrystal.cell.lengths()) == 2
    viewer = StructureViewer(bicrystal)
    aligns = [m for m in viewer.view._ngl_msg_archive if m.get("methodName") == "align"]
    basis = np.array(aligns[-1]["args"][0]).reshape(4, 4).T  # NGL's column-major 4x4
    right, up, depth = basis[:3, 0], basis[:3, 1], basis[:3, 2]
    np.testing.assert_allclose(np.abs(depth), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(np.abs(up), [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(np.cross(right, up), depth, atol=1e-12)  # a rotation
    assert viewer.view.camera == "orthographic"


def test_a_one_cell_phonon_supercell_is_explained_not_an_internal_error():
    panel = run_phonons(PhononPanel(EMT(), cu()), (1, 1, 1))
    assert "1×1×1 supercell" in panel.error and "larger supercell" in panel.error
    assert "arange" not in panel.error and panel.error != UNEXPECTED


def test_a_style_change_keeps_the_view_the_user_turned():
    from polymlp_lab.widgets.viewer import StructureViewer

    viewer = StructureViewer(cu().repeat((2, 2, 2)))
    aligned = sum(m.get("methodName") == "align" for m in viewer.view._ngl_msg_archive)
    viewer.representation.value = "spacefill"
    assert sum(m.get("methodName") == "align" for m in viewer.view._ngl_msg_archive) == aligned == 1

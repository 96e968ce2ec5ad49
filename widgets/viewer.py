"""An nglview structure and trajectory viewer, embedded by the other panels.

Also holds what the panels share: :class:`StructureChooser` (a drop-down of structures with
a viewer), :class:`IntTuple` (a supercell, a mesh, a grid) and :func:`as_calculator`.
"""

import numbers
import os
from pathlib import Path

import ipywidgets as w
import numpy as np
import traitlets
from ase import Atoms
from ase.io import read

from polymlp_lab.calculator import PolymlpCalculator
from polymlp_lab.potential import Potential

from .base import InputError, Panel

REPRESENTATIONS = ("ball+stick", "spacefill")


def as_calculator(potential_or_calc):
    """An ASE calculator: a Potential or potential file(s) become a PolymlpCalculator.

    Anything else is taken to be an ASE calculator already (ours, EMT, EAM ...).
    """
    paths = (str, os.PathLike)
    if isinstance(potential_or_calc, (Potential, *paths)) or (
        isinstance(potential_or_calc, (list, tuple)) and potential_or_calc
        and all(isinstance(p, paths) for p in potential_or_calc)
    ):
        return PolymlpCalculator(potential_or_calc)
    if not hasattr(potential_or_calc, "get_potential_energy"):
        raise InputError(
            "expected a Potential, a potential file or an ASE calculator, "
            f"got {type(potential_or_calc).__name__}"
        )
    return potential_or_calc


class IntTuple(w.HBox):
    """A few positive integers as one control (a supercell, a q-mesh, a search grid).

    ``value`` is a tuple of ints; setting it updates the boxes, editing a box updates it. A
    box out of 1..``maximum`` leaves ``value`` as it was and sets ``problem`` (the message a
    panel shows; see :meth:`Panel.limit`) until it is corrected.
    """

    value = traitlets.Tuple()
    problem = traitlets.Unicode(None, allow_none=True)

    def __init__(self, description: str, value=(1, 1, 1), *, maximum: int = 99):
        self.description, self.maximum = description, int(maximum)
        self._boxes = [w.IntText(value=int(v), layout=w.Layout(width="5em")) for v in value]
        self._syncing = False
        super().__init__([w.Label(description, layout=w.Layout(width="9em")), *self._boxes])
        self.value = tuple(int(v) for v in value)
        for box in self._boxes:
            box.observe(self._from_boxes, names="value")
        self.observe(self._to_boxes, names="value")

    def _out_of_range(self, values):
        if len(values) != len(self._boxes) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool)
            and 1 <= v <= self.maximum for v in values
        ):
            return (f"{self.description}: {' × '.join(map(str, values))} is out of range; "
                    f"enter {len(self._boxes)} whole numbers from 1 to {self.maximum}")
        return None

    @traitlets.validate("value")
    def _check(self, proposal):
        problem = self._out_of_range(tuple(proposal["value"]))
        if problem:
            raise traitlets.TraitError(problem)
        return tuple(int(v) for v in proposal["value"])

    def _from_boxes(self, _change):
        if self._syncing:
            return
        values = tuple(box.value for box in self._boxes)
        self.problem = self._out_of_range(values)
        if self.problem is None:
            self.value = values

    def _to_boxes(self, change):
        self._syncing = True
        try:
            for box, number in zip(self._boxes, change["new"]):
                box.value = number
            self.problem = None
        finally:
            self._syncing = False


def read_frames(atoms_or_frames) -> list:
    """A list of ase.Atoms from one Atoms, a sequence of them, or a file ase.io can read."""
    if isinstance(atoms_or_frames, Atoms):
        return [atoms_or_frames]
    if isinstance(atoms_or_frames, (str, Path)):
        path = Path(atoms_or_frames)
        if not path.is_file():
            raise InputError(f"no structure file {path}")
        try:
            frames = read(path, index=":")
        except Exception:  # ase raises many types for files it cannot read
            raise InputError(f"{path}: not a structure file that ASE can read") from None
    else:
        frames = list(atoms_or_frames)
    if not frames:
        raise InputError("there is no structure to show")
    if not all(isinstance(frame, Atoms) for frame in frames):
        raise InputError("expected ase.Atoms, a list of them or a structure file")
    if len({len(frame) for frame in frames}) > 1:
        raise InputError("the frames of a trajectory must all have the same number of atoms")
    return frames


class StructureViewer(Panel):
    """nglview view of a structure or a trajectory, with its unit cell.

    ``atoms_or_frames`` (optional) is what to show: ase.Atoms, a list of them or a path
    readable by ase.io such as an ASE ``.traj`` file (see :meth:`set_structure`);
    ``representation`` is "ball+stick" or "spacefill".

    Attributes: ``view`` (the current nglview.NGLWidget, a new one for each structure),
    ``frames`` (the ase.Atoms shown, before the repeat), ``representation`` (ToggleButtons),
    ``repeat`` (IntTuple: supercell shown, n1 × n2 × n3), ``play`` and ``frame_slider`` (the
    trajectory player and its slider, linked to ``view.frame``).
    """

    def __init__(self, atoms_or_frames=None, *, representation: str = "ball+stick",
                 title: str = "Structure"):
        self.representation = w.ToggleButtons(options=REPRESENTATIONS, value=representation,
                                              description="style")
        self.repeat = IntTuple("repeat", (1, 1, 1), maximum=10)
        self.play = w.Play(min=0, max=0, interval=200, description="play")
        self.frame_slider = w.IntSlider(min=0, max=0, description="frame")
        w.link((self.play, "value"), (self.frame_slider, "value"))
        self.player = w.HBox([self.play, self.frame_slider],
                             layout=w.Layout(display="none"))
        import nglview  # here, not at import: nglview's import displays a widget of its own

        self.view = nglview.NGLWidget()
        self._frame_link = None
        self._stage = w.Box([self.view])
        self.frames = []
        super().__init__([w.HBox([self.representation, self.repeat]), self._stage,
                          self.player], title=title)
        self.representation.observe(self.guard(self._style), names="value")
        self.repeat.observe(self.guard(self._render), names="value")
        if atoms_or_frames is not None:
            self.set_structure(atoms_or_frames)

    @property
    def n_frames(self) -> int:
        """Number of frames shown (1 for a structure, 0 before any)."""
        return len(self.frames)

    @property
    def frame(self) -> int:
        """Index of the frame shown."""
        return self.view.frame

    def set_structure(self, atoms_or_frames) -> None:
        """Show an ase.Atoms, a list of them (a trajectory) or a file ase.io can read.

        An unreadable input leaves the current view and shows the error in the panel.
        """
        self.guarded(self._show, atoms_or_frames)

    def _show(self, atoms_or_frames) -> None:
        self.frames = read_frames(atoms_or_frames)
        self._render()
        atoms = self.frames[0]
        self.say(f"{atoms.get_chemical_formula()}: {len(atoms)} atoms"
                 + (f", {self.n_frames} frames" if self.n_frames > 1 else ""))

    def _render(self) -> None:
        if not self.frames:
            return
        shown = [frame.repeat(self.repeat.value) for frame in self.frames]
        if self._frame_link is not None:
            self._frame_link.unlink()
        self.view.close()
        import nglview

        self.view = nglview.NGLWidget(nglview.ASETrajectory(shown))
        if self.view._iplayer is not None:  # nglview's own player: ours (below) replaces it
            self.view._iplayer.layout.display = "none"
        self._style()
        self._frame_cell(shown[0].cell.array)  # a new view only; a style change keeps it
        last = len(shown) - 1
        self.play.value = self.frame_slider.value = 0
        self.play.max = self.frame_slider.max = last
        self._frame_link = w.link((self.frame_slider, "value"), (self.view, "frame"))
        self.player.layout.display = "flex" if last > 0 else "none"
        self._stage.children = [self.view]

    def _style(self) -> None:
        if not self.frames:
            return
        self.view.clear_representations()
        self.view.add_representation(self.representation.value)
        self.view.add_unitcell()

    def _frame_cell(self, cell) -> None:
        """Look along the cell's shortest vector with its longest one upright (a bicrystal
        along its tilt axis, boundaries horizontal), orthographic, zoomed to fit."""
        lengths = np.linalg.norm(cell, axis=1)
        if not np.all(lengths > 0):  # a cluster without a cell: NGL's own view
            self.view.center()
            return
        depth = cell[np.argmin(lengths)] / lengths.min()
        up = cell[np.argmax(lengths)] - np.dot(cell[np.argmax(lengths)], depth) * depth
        if np.linalg.norm(up) < 1e-8:  # all vectors equal and parallel: any upright axis
            up = np.cross(depth, [1.0, 0.0, 0.0] if abs(depth[0]) < 0.9 else [0.0, 1.0, 0.0])
        up /= np.linalg.norm(up)
        right = np.cross(up, depth)
        basis = np.eye(4)
        basis[:3, :3] = np.column_stack([right, up, depth])
        self.view.camera = "orthographic"
        self.view.control.align(basis.T.ravel().tolist())  # NGL reads 4x4 column-major
        self.view.center()


class StructureChooser(w.VBox):
    """A drop-down of named structures and a :class:`StructureViewer` of the chosen one.

    Attributes: ``choice`` (Dropdown of the labels), ``viewer`` (StructureViewer).
    """

    def __init__(self, *, description: str = "structure", title: str = "Structure"):
        self.choice = w.Dropdown(description=description, options=[])
        self.viewer = StructureViewer(title=title)
        self._structures = {}
        self._shown = None
        self._offering = False
        super().__init__([self.choice, self.viewer])
        self.choice.observe(self._show, names="value")

    def set_structures(self, structures: dict) -> None:
        """Offer ``structures`` ({label: ase.Atoms}); the chosen label stays while offered."""
        chosen = self.choice.value
        self._structures = dict(structures)
        labels = list(self._structures)
        self._offering = True
        try:
            self.choice.options = labels
            self.choice.value = chosen if chosen in labels else (labels[0] if labels else None)
        finally:
            self._offering = False
        self._show()

    def _show(self, _change=None) -> None:
        atoms = self._structures.get(self.choice.value)
        if self._offering or atoms is None or atoms is self._shown:
            return
        self._shown = atoms
        self.viewer.set_structure(atoms)

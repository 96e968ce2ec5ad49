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
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex

from polymlp_lab.calculator import PolymlpCalculator
from polymlp_lab.extrapolation import GRADE_WARNING
from polymlp_lab.potential import Potential

from .base import InputError, Panel

REPRESENTATIONS = ("ball+stick", "spacefill")
COLOURS = ("element", "extrapolation grade", "energy per atom")
COLORMAP = colormaps["viridis"].resampled(16)  # 16 colours: one nglview representation each


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
    ``representation`` is "ball+stick" or "spacefill"; ``potential`` (optional, settable:
    a Potential or a PolymlpCalculator) gives the per-atom values that ``colour`` can show.

    Attributes: ``view`` (the current nglview.NGLWidget, a new one for each structure),
    ``frames`` (the ase.Atoms shown, before the repeat), ``representation`` (ToggleButtons),
    ``colour`` (Dropdown of COLOURS: by element, or the frame shown by its atoms' extrapolation
    grade or energy, evaluated by ``potential``; ``colour_values`` holds these values, None
    when coloured by element; the status line gives their range and the scale),
    ``repeat`` (IntTuple: supercell shown, n1 × n2 × n3), ``play`` and ``frame_slider`` (the
    trajectory player and its slider, linked to ``view.frame``).
    """

    potential = traitlets.Any(None)

    def __init__(self, atoms_or_frames=None, *, representation: str = "ball+stick",
                 title: str = "Structure", potential=None):
        self.representation = w.ToggleButtons(options=REPRESENTATIONS, value=representation,
                                              description="style")
        self.colour = w.Dropdown(options=COLOURS, description="colour")
        self.colour_values = None
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
        super().__init__([w.HBox([self.representation, self.colour, self.repeat]),
                          self._stage, self.player], title=title)
        self.potential = potential
        self.representation.observe(self.guard(self._style), names="value")
        self.colour.observe(self.guard(self._style), names="value")
        self.frame_slider.observe(self.guard(self._recolour), names="value")
        self.observe(self.guard(self._recolour), names="potential")
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
        last = len(shown) - 1
        self.play.value = self.frame_slider.value = 0
        self.play.max = self.frame_slider.max = last
        self._style()
        self._frame_cell(shown[0].cell.array)  # a new view only; a style change keeps it
        self._frame_link = w.link((self.frame_slider, "value"), (self.view, "frame"))
        self.player.layout.display = "flex" if last > 0 else "none"
        self._stage.children = [self.view]

    def _style(self) -> None:
        if not self.frames:
            return
        self.view.clear_representations()
        atoms = self.frames[0]
        summary = (f"{atoms.get_chemical_formula()}: {len(atoms)} atoms"
                   + (f", {self.n_frames} frames" if self.n_frames > 1 else ""))
        self.colour_values = (None if self.colour.value == "element"
                              else self.guarded(self._colour_atoms, summary))
        if self.colour_values is None:  # by element (when colouring failed, the status says why)
            self.view.add_representation(self.representation.value)
        if self.colour.value == "element":
            self.say(summary)
        self.view.add_unitcell()

    def _recolour(self) -> None:
        if self.colour.value != "element":  # element colours stay from frame to frame
            self._style()

    def _colour_atoms(self, summary: str) -> np.ndarray:
        """Colour the atoms of the frame shown by ``colour``'s per-atom values; return them."""
        potential = getattr(self.potential, "potential", self.potential)  # a calculator's
        if not isinstance(potential, Potential):
            raise InputError(f"colouring by {self.colour.value} needs a polymlp potential: "
                             "StructureViewer(..., potential=...) or viewer.potential = ...")
        grade = self.colour.value == "extrapolation grade"
        result = potential.evaluate(self.frames[self.frame_slider.value], forces=False,
                                    grade=grade)
        values = result.extrapolation_grades if grade else result.energies
        low = 0.0 if grade else values.min()
        high = max(GRADE_WARNING, values.max()) if grade else values.max()
        shown = COLORMAP(Normalize(low, high)(np.tile(values, np.prod(self.repeat.value))))
        colours = np.array([to_hex(c) for c in shown])
        for colour in np.unique(colours):
            self.view.add_representation(self.representation.value, color=colour,
                                         selection=np.flatnonzero(colours == colour))
        scale = f"viridis: purple {low:.4g} → yellow {high:.4g}"
        self.say(f"{summary}; " + (
            f"extrapolation grade {values.min():.3g} to {values.max():.3g} ({scale}): "
            f"{np.sum(values > 1)} atoms above 1, {np.sum(values > GRADE_WARNING)} above "
            f"{GRADE_WARNING:g}" if grade else f"energy per atom ({scale} eV)"))
        return values

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

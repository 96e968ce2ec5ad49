"""Grain-boundary panel: ``search_boundaries`` in the background, γ(θ) filling in as it runs.

The search (a run, :mod:`polymlp_lab.runs`) saves a record, ``gb.json`` and one extxyz file
per boundary in its folder as each boundary finishes; a follower thread reads them every
``refresh_s`` to redraw the energy-vs-angle plot. A rerun with the same folder and settings
skips the boundaries already there (more boundaries extend it); other settings or another
potential are refused unless "restart" is ticked.
"""

import json
from pathlib import Path

import ipywidgets as w
from matplotlib.figure import Figure

from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.simulations.grain_boundary import (
    RESULTS_FILE,
    plot_gb_energies,
    result_from_record,
    search_boundaries,
    tilt_boundaries,
)

from .base import LivePanel
from .viewer import IntTuple, StructureChooser, as_calculator


def parse_lengths(text: str, name: str) -> list:
    """Numbers (Å, >= 0) from text such as "0, 0.5"; PolymlpLabError naming ``name``."""
    try:
        values = [float(item) for item in text.replace(",", " ").split()]
    except ValueError:
        raise PolymlpLabError(
            f"{name} must be numbers in Å such as '0, 0.5', not {text!r}"
        ) from None
    if not values or min(values) < 0:
        raise PolymlpLabError(f"{name} must be one or more numbers >= 0 (Å), not {text!r}")
    return values


def saved_results(folder: Path, boundaries) -> list:
    """The results of ``boundaries`` already in ``folder``'s gb.json, by tilt angle."""
    path = folder / RESULTS_FILE
    if not path.is_file():
        return []
    saved = json.loads(path.read_text(encoding="utf-8"))["boundaries"]
    return sorted((result_from_record(folder, b, saved[b.slug]) for b in boundaries if b.slug in saved),
                  key=lambda r: r.angle_deg)


class GBPanel(LivePanel):
    """FCC <110> symmetric tilt boundaries: lowest-energy structures and γ against angle.

    ``potential_or_calc`` is a Potential, potential file(s) or any ASE calculator giving
    stress; ``element`` the fcc metal and ``a`` its starting lattice constant (Å, relaxed first
    with the calculator). ``out`` is where ``gb.json`` and the structures go: a rerun there
    resumes (other settings need "restart"). ``min_thickness`` is the smallest grain thickness
    (Å), ``fmax`` the force criterion of the relaxations (eV/Å), ``refresh_s`` the number of
    seconds between two looks at ``gb.json`` during a run.

    Attributes: ``results`` (list of GBResult: the selected boundaries finished so far, all of
    them after a run, by tilt angle), ``figure`` (Matplotlib Figure of the last plot),
    ``redraws`` (number of boundaries each redraw of the last run showed), ``chooser``
    (StructureChooser of the relaxed boundaries), ``calc`` (None if ``potential_or_calc``
    could not be loaded).
    """

    def __init__(self, potential_or_calc, element: str, a: float, *, out="grain_boundaries",
                 min_thickness: float = 20.0, fmax: float = 0.005, refresh_s: float = 1.0,
                 title: str = "Grain boundaries"):
        self.element, self.a = element, a
        self.min_thickness, self.fmax = min_thickness, fmax
        table = tilt_boundaries()
        self.boundaries = w.SelectMultiple(
            options=[(f"{b.label} {b.angle_deg:.1f}°", b) for b in table],
            value=[b for b in table if b.sigma == 3], rows=8, description="boundaries")
        self.grid = IntTuple("translation grid", (3, 3))
        self.expansions = w.Text("0, 0.5", description="expansions (Å)",
                                 style={"description_width": "auto"})
        self.steps = w.IntText(500, description="relax steps",
                               style={"description_width": "auto"})
        self.folder = w.Text(str(out), description="folder")
        self.restart = w.Checkbox(False, description="restart (delete the earlier run)",
                                  indent=False)
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.chooser = StructureChooser(description="boundary", title="Relaxed boundary")
        self.results = []
        super().__init__([self.boundaries, self.grid, w.HBox([self.expansions, self.steps]),
                          w.HBox([self.folder, self.run_button, self.restart, self.why])],
                         title=title, refresh_s=refresh_s, below=self.chooser)
        self.limit(self.grid)
        self.limit(self.steps, "relax steps", low=1, high=100_000)
        self.calc = self.guarded(as_calculator, potential_or_calc)
        self.set_available(self.run_button, None if self.calc is not None
                           else "no calculator: see the message below")
        self.run_button.on_click(self.guard(self.run))

    def run(self) -> None:
        """Search the chosen boundaries in the background (what the Run button does)."""
        chosen = list(self.boundaries.value)
        if not chosen:
            raise PolymlpLabError("choose at least one boundary")
        settings = dict(grid=self.grid.value,
                        expansions=parse_lengths(self.expansions.value, "expansions"),
                        steps=self.steps.value, fmax=self.fmax,
                        min_thickness=self.min_thickness, restart=self.restart.value)
        folder = Path(self.folder.value)
        self.redraws = []
        if self.start(lambda: self._search(chosen, folder, settings), done=self._finish,
                      message=f"running: {len(chosen)} boundaries in {folder} …"):
            self.restart.value = False  # once: a second click resumes

    def _search(self, chosen, folder: Path, settings: dict) -> list:
        shown = 0

        def look():  # at the end, the search's result is shown instead
            nonlocal shown
            results = saved_results(folder, chosen)
            if len(results) > shown:
                shown = len(results)
                self.report(shown / len(chosen), f"{shown} of {len(chosen)} boundaries done")
                self._show(results)

        return self.follow(lambda: search_boundaries(self.element, self.a, self.calc, chosen,
                                                     out=folder, progress=False, **settings),
                           look)

    def _show(self, results: list) -> None:
        self.results = results
        figure = Figure(figsize=(6, 4), layout="constrained")
        plot_gb_energies(results, ax=figure.subplots())
        self.redraw(figure, len(results))
        self.chooser.set_structures({r.label: r.atoms for r in results})

    def _finish(self, results: list) -> None:
        self._show(results)
        lowest = min(results, key=lambda r: r.energy_mJ_m2)
        self.say(f"{len(results)} boundaries in {self.folder.value}/{RESULTS_FILE}; "
                 f"lowest: {lowest.label} {lowest.energy_mJ_m2:.0f} mJ/m²")

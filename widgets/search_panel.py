"""Structure-search panel: ``run_search`` on Dask in the background, the hull filling in.

The search (a run, :mod:`polymlp_lab.runs`) writes one ``records/trial-NNNNN.json`` (and the
relaxed ``trials/trial-NNNNN.extxyz``) per finished trial; a follower thread reads them every
``refresh_s`` and redraws the hull of the structures relaxed so far. At the end: the hull, a
table of the stable and metastable structures and a viewer of the chosen one. A folder
holding a search with other settings or another potential is refused unless "restart" is
ticked.
"""

import json
import os
from pathlib import Path

import ipywidgets as w
from ase.io import read
from matplotlib.figure import Figure

from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.properties.hull import composition_fraction
from polymlp_lab.simulations.structure_search import hull_from_structures, plot_hull, run_search

from .base import LivePanel, html_table
from .viewer import StructureChooser

TABLE_COLUMNS = ("", "structure", "formula", "x({B})", "E_f (meV/atom)", "above hull (meV/atom)",
                 "space group", "V (Å³/atom)", "found")  # x of the second element, by name


def relaxed_structures(folder: Path, trials: int, known: dict = None) -> dict:
    """{trial name: relaxed ase.Atoms} of the successful trials below ``trials`` in ``folder``.

    The structures in ``known`` (a result of an earlier call) are not read again.
    """
    found = dict(known or {})
    for path in sorted((folder / "records").glob("trial-*.json")):
        if path.stem in found:
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):  # being replaced, or cut short by a crash
            continue
        if (record.get("trial", trials) < trials and record.get("status") == "ok"
                and (folder / str(record.get("file"))).is_file()):
            atoms = read(folder / record["file"], format="extxyz")
            atoms.info.update(name=record["name"], file=record["file"])
            found[record["name"]] = atoms
    return found


def hull_table(result) -> str:
    """HTML table of the stable and metastable entries of a SearchResult."""
    rows = [("stable", e) for e in result.stable] + [("metastable", e) for e in result.metastable]
    return html_table(
        [c.format(B=result.elements[-1]) for c in TABLE_COLUMNS],
        [(kind, e.name, e.formula, f"{e.x_B:.3f}", f"{1000 * e.formation_energy:.1f}",
          f"{1000 * e.e_above_hull:.1f}", f"{e.spacegroup} ({e.spacegroup_number})",
          f"{e.volume_per_atom:.2f}", e.n_found) for kind, e in rows])


class SearchPanel(LivePanel):
    """Random structure search of a unary or binary system and its convex hull.

    ``potential_path_or_calc`` is polymlp file path(s) or a picklable ASE calculator giving
    stress (as :func:`~polymlp_lab.simulations.structure_search.run_search`); ``elements`` one
    or two chemical symbols, A (then B). ``out`` is the search directory: a rerun there with
    the same settings runs only the missing and the failed trials (more trials extend it),
    other settings need "restart". ``seed`` seeds the random structures; ``fmax`` (eV/Å) and
    ``steps`` (optimizer steps) bound each relaxation; metastable structures lie at most
    ``window_meV`` (meV/atom) above the hull; ``refresh_s`` is the number of seconds between
    two looks at the finished trials during a run.

    Attributes: ``result`` (SearchResult of the last finished run, or None), ``figure``
    (Matplotlib Figure of the last plot), ``redraws`` (number of relaxed structures each
    redraw of the hull in the last run showed), ``chooser`` (StructureChooser of the stable
    and metastable structures), ``calc`` (``potential_path_or_calc``).
    """

    def __init__(self, potential_path_or_calc, elements, *, out="structure_search",
                 seed: int = 0, fmax: float = 0.05, steps: int = 300, window_meV: float = 50.0,
                 refresh_s: float = 1.0, title: str = "Random structure search"):
        self.calc = potential_path_or_calc
        self.elements = (elements,) if isinstance(elements, str) else tuple(elements)
        self.seed, self.fmax, self.steps, self.window_meV = seed, fmax, steps, window_meV
        self.max_atoms = w.IntText(4, description="max atoms")
        self.trials = w.IntText(20, description="trials")
        self.composition = w.FloatRangeSlider(
            value=(0.0, 1.0), min=0.0, max=1.0, step=0.05, description=f"x_{self.elements[-1]}",
            layout=w.Layout(display="flex" if len(self.elements) == 2 else "none"))
        cores = os.cpu_count() or 1
        self.workers = w.IntText(cores, description="workers")
        self.folder = w.Text(str(out), description="folder")
        self.restart = w.Checkbox(False, description="restart (delete the earlier search)",
                                  indent=False)
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.chooser = StructureChooser(title="Structure")
        self.result = None
        super().__init__([w.HBox([self.max_atoms, self.trials]), self.composition,
                          w.HBox([self.workers, self.folder]),
                          w.HBox([self.run_button, self.restart])],
                         title=title, refresh_s=refresh_s, below=self.chooser)
        self.limit(self.max_atoms, "max atoms", low=1, high=64)
        self.limit(self.trials, "trials", low=1, high=100_000)
        self.limit(self.workers, "workers", low=1, high=max(cores, 64))
        self.run_button.on_click(self.guard(self.run))

    def run(self) -> None:
        """Start the search in the background (what the Run button does)."""
        folder = Path(self.folder.value)
        settings = dict(max_atoms=self.max_atoms.value, trials=self.trials.value,
                        composition_range=self.composition.value,
                        n_workers=self.workers.value, seed=self.seed, fmax=self.fmax,
                        steps=self.steps, window_meV=self.window_meV,
                        restart=self.restart.value)
        self.redraws = []
        if self.start(lambda: self._search(folder, settings), done=self._finish,
                      message=f"running: {settings['trials']} trials in {folder} …"):
            self.restart.value = False  # once: a second click resumes

    def _search(self, folder: Path, settings: dict):
        trials = settings["trials"]
        structures = {}

        def look():  # at the end, the search's result is shown instead
            nonlocal structures
            shown = len(structures)
            structures = relaxed_structures(folder, trials, structures)
            if len(structures) > shown:
                self._show_partial(list(structures.values()), trials)

        return self.follow(lambda: run_search(self.calc, self.elements, out=folder,
                                              progress=False, **settings), look)

    def _show_partial(self, structures: list, trials: int) -> None:
        """Redraw the hull of the trials relaxed so far (their energies before a hull exists)."""
        done = len(structures)
        self.report(done / trials, f"{done} of {trials} trials relaxed")
        try:
            partial = hull_from_structures(structures, self.elements, window_meV=self.window_meV)
        except PolymlpLabError as exc:  # e.g. no pure element relaxed yet
            self.report(done / trials, f"{done} of {trials} trials relaxed; no hull yet: {exc}")
            self._plot(lambda ax: self._plot_energies(structures, ax), done)
        else:
            self._plot(lambda ax: plot_hull(partial, ax=ax), done)

    def _plot_energies(self, structures: list, ax) -> None:
        """Energy per atom (eV/atom) against x_B of relaxed structures, before a hull exists."""
        x = [composition_fraction(atoms, self.elements) if len(self.elements) == 2 else 0.0
             for atoms in structures]
        ax.scatter(x, [atoms.get_potential_energy() / len(atoms) for atoms in structures])
        ax.set_xlabel(f"x_{self.elements[-1]}")
        ax.set_ylabel("energy (eV/atom)")
        ax.set_title("relaxed so far (no hull yet)", fontsize=9)

    def _plot(self, draw, n_structures: int) -> None:
        """A new figure drawn by ``draw(ax)``, shown; ``n_structures`` goes to ``redraws``."""
        figure = Figure(figsize=(5, 4), layout="constrained")
        draw(figure.subplots())
        self.redraw(figure, n_structures)

    def _finish(self, result) -> None:
        self.result = result
        self._plot(lambda ax: plot_hull(result, ax=ax), len(result.trials) - len(result.failed))
        self.show_html(hull_table(result))
        self.chooser.set_structures(
            {f"{e.name} {e.formula} {e.spacegroup}": e.atoms
             for e in (*result.stable, *result.metastable)})
        self.say(f"{len(result.trials)} trials ({len(result.failed)} failed), "
                 f"{len(result.entries)} unique structures, {len(result.stable)} on the hull")

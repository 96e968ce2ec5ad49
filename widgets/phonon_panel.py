"""Phonon panel: ``phonon_properties`` in the background, band structure and DOS in THz."""

import html

import ipywidgets as w
import numpy as np
from matplotlib.figure import Figure

from polymlp_lab.properties.mechanics import relax
from polymlp_lab.properties.phonons import phonon_properties

from .base import ERROR_STYLE, OK_STYLE, Panel
from .viewer import IntTuple, as_calculator


def band_segments(distances, frequencies):
    """(distances, frequencies) of each continuous piece of a band path: it breaks where the
    distance does not advance."""
    breaks = np.flatnonzero(np.diff(distances) <= 0) + 1
    return zip(np.split(distances, breaks), np.split(frequencies, breaks))


def phonon_figure(result):
    """Band structure (left) and density of states (right) of a ``phonon_properties`` result."""
    figure = Figure(figsize=(8, 4), layout="constrained")
    band_ax, dos_ax = figure.subplots(1, 2, sharey=True, width_ratios=(3, 1))
    band = result.band
    for distances, frequencies in band_segments(band["distances"], band["frequencies"]):
        band_ax.plot(distances, frequencies, color="tab:blue", lw=1)
    ticks = {}  # the two ends of a break in the path share one position: "K|U"
    for x, label in band["labels"]:
        name = "Γ" if label == "G" else label
        ticks[x] = f"{ticks[x]}|{name}" if x in ticks else name
    positions, names = list(ticks), list(ticks.values())
    for x in positions:
        band_ax.axvline(x, color="0.7", lw=0.5)
    band_ax.set_xticks(positions, names)
    band_ax.set_xlim(positions[0], positions[-1])
    band_ax.set_ylabel("frequency (THz)")
    dos_ax.plot(result.dos, result.frequencies_THz, color="tab:blue", lw=1)
    dos_ax.set_xlabel("DOS (states/THz)")
    dos_ax.set_xlim(left=0)
    for ax in (band_ax, dos_ax):
        ax.axhline(0.0, color="k", lw=0.5)
    return figure


class PhononPanel(Panel):
    """Phonon band structure and density of states by finite displacements (phonopy).

    ``potential_or_calc`` is a Potential, potential file(s) or any ASE calculator giving
    forces; ``atoms`` a fully periodic unit cell (primitive or conventional; not modified).

    Attributes: ``result`` (the :class:`~polymlp_lab.properties.phonons.PhononResult` of the
    last run or None: frequencies in THz, ``imaginary`` flags unstable modes),
    ``structure`` (the structure of the last run, relaxed if "Relax first" was ticked, or
    None), ``calc`` (None if ``potential_or_calc`` could not be loaded).
    """

    def __init__(self, potential_or_calc, atoms, *, title: str = "Phonons"):
        self.atoms = atoms
        self.supercell = IntTuple("supercell", (3, 3, 3))
        self.mesh = IntTuple("q-mesh", (20, 20, 20))
        self.relax_first = w.Checkbox(value=True, description="Relax first")
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.result = None
        self.structure = None
        super().__init__([self.supercell, self.mesh,
                          w.HBox([self.relax_first, self.run_button, self.why])], title=title)
        self.limit(self.supercell)
        self.limit(self.mesh)
        self.calc = self.guarded(as_calculator, potential_or_calc)
        self.set_available(self.run_button, None if self.calc is not None
                           else "no calculator: see the message below")
        self.run_button.on_click(self.guard(self.run))

    def run(self) -> None:
        """Compute in the background with the chosen settings (what the Run button does)."""
        supercell, mesh, relax_first = self.supercell.value, self.mesh.value, self.relax_first.value
        self.start(lambda: self._compute(supercell, mesh, relax_first), done=self._finish,
                   message=f"running: phonons of a {'×'.join(map(str, supercell))} supercell …")

    def _compute(self, supercell, mesh, relax_first: bool) -> tuple:
        atoms, note = self.atoms, ""
        if relax_first:
            self.report(0.05, "relaxing positions and cell …")
            relaxed = relax(atoms, self.calc)
            atoms = relaxed.atoms
            if not relaxed.converged:
                note = ("; the relaxation did not converge "
                        f"(max force {relaxed.max_force:.2g} eV/Å)")
        self.report(0.3, "forces of the displaced supercells, force constants, bands and DOS …")
        return atoms, phonon_properties(atoms, self.calc, supercell=supercell, mesh=mesh), note

    def _finish(self, outcome: tuple) -> None:
        self.structure, self.result, note = outcome
        lowest = round(self.result.min_frequency_THz, 3) + 0.0  # no "-0.000"
        self.show_figure(phonon_figure(self.result))
        if self.result.imaginary:
            style, message = ERROR_STYLE, (
                f"⚠ imaginary modes: the lowest frequency is {lowest:.3f} THz. The structure "
                "is dynamically unstable, not relaxed, or the supercell is too small.")
        else:
            style, message = OK_STYLE, f"no imaginary modes (lowest frequency {lowest:.3f} THz)"
        self.show_html(f"<span style='{style}'>{html.escape(message)}</span>")
        n_atoms = self.result.n_atoms_primitive
        self.say(f"{n_atoms} atom{'s' if n_atoms != 1 else ''} in the primitive cell, q-mesh "
                 f"{'×'.join(map(str, self.result.mesh))}{note}")

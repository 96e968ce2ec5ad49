"""Molecular dynamics panel: ``run_md`` in the background with a live energy/temperature plot
(and the extrapolation grade, when the potential has one).

The run writes ``md.jsonl`` as it goes; a follower thread reads it every ``refresh_s`` and
redraws the plot. Stop makes the run end at its next record (``run_md``'s ``stop`` callback);
the trajectory then plays in the embedded viewer.
"""

import tempfile
import threading
from dataclasses import asdict
from pathlib import Path

import ipywidgets as w
from ase.io import read
from matplotlib.figure import Figure

from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.extrapolation import GRADE_WARNING, grade_warning
from polymlp_lab.simulations.md import (ENSEMBLES, GRADE_FIELD, THERMOSTATS, MDSettings, read_log,
                                        run_md)

from .base import LivePanel
from .viewer import IntTuple, StructureViewer, as_calculator


class MDPanel(LivePanel):
    """NVE / NVT / NPT molecular dynamics of ``atoms`` with a live plot and a viewer.

    ``potential_or_calc`` is a Potential, potential file(s) or any ASE calculator; ``atoms``
    the starting structure (repeated by the supercell control, not modified). ``out`` keeps
    ``md.traj``, ``md.jsonl``, ``md.json`` and ``run.json`` of the last run (each run restarts
    it; default: a temporary folder, removed after the run); ``refresh_s`` is the number of
    seconds between two looks at the records for the live plot.

    Attributes: ``result`` (records of the last run or None, each a list: ``step``,
    ``time_ps``, ``potential_energy_eV``, ``kinetic_energy_eV``, ``total_energy_eV``,
    ``temperature_K``, ``volume_A3``, ``pressure_GPa``, ``extrapolation_grade``), ``figure``
    (Matplotlib Figure of the last plot: energies, temperature and, when the calculator gives
    one, the extrapolation grade on a log scale with the warning threshold), ``redraws`` (number of records each redraw of the last run showed), ``calc``
    (None if ``potential_or_calc`` could not be loaded), ``viewer`` (StructureViewer playing
    the trajectory after a run).
    """

    def __init__(self, potential_or_calc, atoms, *, out=None, refresh_s: float = 0.5,
                 title: str = "Molecular dynamics"):
        self.atoms = atoms
        self.out = out
        self.ensemble = w.Dropdown(options=ENSEMBLES, value="nvt", description="ensemble")
        self.thermostat = w.Dropdown(options=THERMOSTATS, description="thermostat")
        self.temperature = w.FloatText(300.0, description="T (K)")
        self.pressure = w.FloatText(0.0, description="P (GPa)")
        self.timestep = w.FloatText(1.0, description="Δt (fs)")
        self.steps = w.IntText(1000, description="steps")
        self.interval = w.IntText(10, description="record every",
                                  style={"description_width": "auto"})
        self.supercell = IntTuple("supercell", (1, 1, 1))
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.viewer = StructureViewer(atoms, title="Trajectory")
        self.result = None
        self._stop = threading.Event()
        super().__init__([
            w.HBox([self.ensemble, self.thermostat]),
            w.HBox([self.temperature, self.pressure]),
            w.HBox([self.timestep, self.steps, self.interval]),
            self.supercell,
            w.HBox([self.run_button, self.stop_button, self.why]),
        ], title=title, refresh_s=refresh_s, below=self.viewer)
        self.limit(self.supercell)
        self.limit(self.temperature, "T (K)", low=0.0)
        self.limit(self.timestep, "Δt (fs)", low=0.01, high=20.0)
        self.limit(self.steps, "steps", low=1)
        self.limit(self.interval, "record every", low=1)
        self.calc = self.guarded(as_calculator, potential_or_calc)
        self.viewer.potential = self.calc  # the viewer colours the frames by its grades
        self._set_running(False)
        self._enable_choices()
        self.ensemble.observe(self._enable_choices, names="value")
        self.run_button.on_click(self.guard(self.run))
        self.stop_button.on_click(lambda _: self.stop())

    def _enable_choices(self, _change=None) -> None:
        self.thermostat.disabled = self.ensemble.value != "nvt"
        self.pressure.disabled = self.ensemble.value != "npt"

    def settings(self) -> MDSettings:
        """The run's settings from the controls; PolymlpLabError names a bad one."""
        return MDSettings(
            ensemble=self.ensemble.value, thermostat=self.thermostat.value,
            temperature_K=self.temperature.value, pressure_GPa=self.pressure.value,
            timestep_fs=self.timestep.value, steps=self.steps.value,
            interval=self.interval.value,
        ).check()

    def run(self) -> None:
        """Start the run in the background (what the Run button does)."""
        if self.busy:
            raise PolymlpLabError("a run is going on: stop it first")
        settings = self.settings()
        supercell = self.supercell.value
        self._stop.clear()
        self.redraws = []
        self._set_running(True)
        if not self.start(lambda: self._simulate(settings, supercell), done=self._finish,
                          message=f"running: {settings.steps} steps of "
                                  f"{settings.ensemble.upper()} MD …"):
            self._set_running(False)

    def stop(self) -> None:
        """End the running simulation at its next recorded step."""
        if self.busy:
            self._stop.set()
            self.say("stopping at the next recorded step …")

    def _set_running(self, running: bool) -> None:
        if self.calc is None:
            self.set_available(self.run_button, "no calculator: see the message below")
        else:
            self.set_available(self.run_button, "a run is going on" if running else None)
        self.stop_button.disabled = not running

    def _simulate(self, settings: MDSettings, supercell) -> tuple:
        try:
            with tempfile.TemporaryDirectory(prefix="polymlp-md-") as scratch:
                folder = Path(self.out if self.out is not None else scratch)
                folder.mkdir(parents=True, exist_ok=True)
                log = folder / "md.jsonl"
                log.unlink(missing_ok=True)  # the follower reads only this run
                atoms = self.atoms.repeat(supercell)
                target_K = None if settings.ensemble == "nve" else settings.temperature_K
                shown = 0

                def look():
                    nonlocal shown
                    records = read_log(log)
                    if len(records) > shown:
                        shown = len(records)
                        step = records[-1]["step"]
                        self.report(step / max(settings.steps, 1),
                                    f"MD step {step} of {settings.steps}"
                                    + _grade_note(records))
                        self._plot(records, len(atoms), target_K)

                # a structure the calculator cannot start from raises here
                result = self.follow(
                    lambda: run_md(atoms, self.calc, out=folder, restart=True, progress=False,
                                   stop=self._stop.is_set, **asdict(settings)),
                    look, last_look=True)
                frames = read(folder / "md.traj", index=":")
        finally:
            self._set_running(False)
        return result.records, frames, result.failed, result.stopped, result.extrapolation_warning

    def _plot(self, records: list, n_atoms: int, target_K) -> None:
        time_ps = [r["time_ps"] for r in records]
        graded = any(r.get(GRADE_FIELD) is not None for r in records)
        figure = Figure(figsize=(7, 6.0 if graded else 4.5), layout="constrained")
        axes = figure.subplots(3 if graded else 2, 1, sharex=True)
        energy_ax, temperature_ax = axes[:2]
        for key, label in (("potential_energy_eV", "potential"), ("total_energy_eV", "total")):
            energy_ax.plot(time_ps, [r[key] / n_atoms for r in records], label=label)
        energy_ax.set_ylabel("energy (eV/atom)")
        energy_ax.legend(fontsize=9)
        temperature_ax.plot(time_ps, [r["temperature_K"] for r in records], color="tab:red")
        if target_K is not None:
            temperature_ax.axhline(target_K, color="0.5", ls="--", lw=1)
        temperature_ax.set_ylabel("temperature (K)")
        if graded:
            _plot_grade(axes[2], time_ps, [r.get(GRADE_FIELD) for r in records])
        axes[-1].set_xlabel("time (ps)")
        self.redraw(figure, len(records))

    def _finish(self, outcome: tuple) -> None:
        records, frames, failed, stopped, warning = outcome
        self.result = records
        self.viewer.set_structure(frames)
        last = records["step"][-1]
        if failed:
            self.show_error(PolymlpLabError(f"the run ended at step {last}: {failed}"))
        elif stopped:
            self.say(f"stopped at step {last}; {len(frames)} frames")
        else:
            mean_t = sum(records["temperature_K"]) / len(records["temperature_K"])
            self.say(f"{last} steps done; mean temperature {mean_t:.0f} K; {len(frames)} frames"
                     + (f". Warning: {warning}" if warning else ""))


def _plot_grade(ax, time_ps: list, grades: list) -> None:
    """The structure's extrapolation grade along the run (log scale), with 1 (the largest
    trusted atom) and the warning threshold GRADE_WARNING marked."""
    shown = [(t, g) for t, g in zip(time_ps, grades) if g is not None]
    ax.semilogy([t for t, _ in shown], [max(g, 1e-3) for _, g in shown], color="tab:purple",
                marker=".", ms=3)
    ax.axhline(1.0, color="0.5", ls=":", lw=1, label="1: largest trusted atom")
    ax.axhline(GRADE_WARNING, color="tab:orange", ls="--", lw=1,
               label=f"{GRADE_WARNING:g}: warning")
    ax.set_ylabel("extrapolation grade")
    ax.legend(fontsize=8, loc="upper left")


def _grade_note(records: list) -> str:
    """The live message's part on the grade: the last value, and a warning once it passed
    the threshold; empty for a calculator without a grade."""
    grade = records[-1].get(GRADE_FIELD)
    if grade is None:
        return ""
    warning = grade_warning([r["step"] for r in records], [r.get(GRADE_FIELD) for r in records])
    return f"; extrapolation grade {grade:.2f}" + (f". Warning: {warning}" if warning else "")

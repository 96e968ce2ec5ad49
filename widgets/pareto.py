"""ParetoExplorer: a grid search's models in cost against test error, the Pareto front, live.

The panel reads ``out/records/*.json`` (what :func:`~polymlp_lab.grid.run_grid` writes as
models finish; ``results/*.json`` in older grids), or a grid made elsewhere in pypolymlp's
layout (``out/<model>/`` polymlp_error.yaml and polymlp_cost.yaml, see
:mod:`polymlp_lab.grid.external`; open it with :meth:`ParetoExplorer.from_folder`). It can
start the search itself ("Run", in the background) or watch a folder another process fills
("Watch" polls it; "Refresh" reads it once). Click a point, or choose a model in the list, to
see its parameters, errors and cost, compute its property card or save its potential (when
the folder holds one).
"""

import html
import shutil
import threading
import time
from pathlib import Path

import ipywidgets as w

from .base import InputError, Panel, html_table, number
from .model_builder import data_elements
from .repository import CARD_SETTINGS, CardActions

MODEL_FILES = ("polymlp.yaml", "polymlp_error.yaml", "polymlp_cost.yaml")


class ParetoExplorer(CardActions, Panel):
    """Scatter of a grid search (cost ms/atom/step against test RMSE) with its Pareto front.

    ``out`` is the grid-search folder (``out/records``, ``out/models``); ``elements``,
    ``train``, ``test`` and ``models`` are what "Run" passes to
    :func:`~polymlp_lab.grid.run_grid` (elements default to the training data's, models to
    ``enumerate_models``), ``grid_options`` its further keywords (n_workers, scheduler,
    atomic_energy, alphas, cost_repeats, ...). ``error`` is the test RMSE on the vertical
    axis, "energy" (meV/atom) or "force" (eV/Å), of the first dataset whose name contains
    ``error_key`` (pypolymlp's ``--key`` rule, :func:`~polymlp_lab.grid.external.read_grid`;
    None: the first test dataset of pypolymlp's files, our combined test RMSE for our grids).
    ``poll_seconds``: how often the folder is read while a search runs or "Watch" is on;
    ``card_settings``: keywords of ``compute_card`` replacing the small ``CARD_SETTINGS``.

    Attributes: ``rows`` (every model, a :class:`~polymlp_lab.grid.GridModelFromFolder`),
    ``front`` (the Pareto-optimal ones, by cost), ``selected`` (the chosen one), ``figure``."""

    def __init__(self, out, *, elements=None, train=None, test=None, models=None,
                 error="energy", error_key=None, poll_seconds=2.0, card_settings=None,
                 **grid_options):
        import plotly.graph_objects as go

        self.out = Path(out)
        self.error_key = error_key or None
        self.elements = tuple(elements) if elements else None
        self.train_set = train
        self.test_set = test
        self.models = models
        self.poll_seconds = float(poll_seconds)
        self.card_settings = {**CARD_SETTINGS, **(card_settings or {})}
        self.grid_options = grid_options
        self.rows = []
        self.front = []
        self.selected = None
        self._lock = threading.RLock()
        self._poller = None
        self._seen = None  # (name, mtime) of the result files last drawn
        self._total = 0  # models of the running search

        self.run_button = w.Button(description="Run", icon="play")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.watch = w.ToggleButton(description="Watch", icon="eye",
                                    tooltip=f"read the folder every {self.poll_seconds:g} s")
        self.error_kind = w.Dropdown(options=["energy", "force"], value=error,
                                     description="test RMSE")
        self.error_key_box = w.Text(value=error_key or "", description="dataset",
                                    placeholder="first test set", continuous_update=False,
                                    tooltip="RMSE of the first dataset whose name contains this")
        self.figure = go.FigureWidget(
            data=[go.Scatter(mode="markers", name="models", hoverinfo="text"),
                  go.Scatter(mode="lines+markers", name="Pareto front", hoverinfo="text",
                             line=dict(color="#1f77b4"), marker=dict(size=9))],
            layout=dict(xaxis=dict(type="log", title=dict(text="cost (ms/atom/step, one thread)")),
                        height=380, margin=dict(l=60, r=20, t=30, b=50), clickmode="event"))
        for trace in self.figure.data:
            trace.on_click(self.on_point_click)
        self.model_choice = w.Dropdown(options=[], description="model",
                                       layout=w.Layout(width="45%"))
        self.card_button = w.Button(description="Card", icon="table")
        self.save_folder = w.Text(value="polymlps", description="save in")
        self.save_button = w.Button(description="Save", icon="save")
        self.run_why = w.HTML("")

        self.run_button.on_click(self.guard(self.run))
        self.refresh_button.on_click(self.guard(self.refresh))
        self.watch.observe(lambda change: change.new and self._start_polling(), names="value")
        self.error_kind.observe(self.guard(self.refresh), names="value")
        self.error_key_box.observe(lambda change: self.guarded(self.set_error_key, change.new),
                                   names="value")
        self.model_choice.observe(
            lambda change: self._quiet or self.guarded(self.select, change.new), names="value")
        self.card_button.on_click(self.guard(self.compute_card))
        self.save_button.on_click(lambda _: self.guarded(self.save, self.save_folder.value))
        controls = [w.HBox([self.run_button, self.refresh_button, self.watch, self.error_kind,
                            self.error_key_box, self.run_why]),
                    self.figure,
                    w.HBox([self.model_choice, self.card_button, self.save_folder,
                            self.save_button]), self.why]
        super().__init__(controls, title=f"Grid search: {self.out}")
        self.run_button.disabled = train is None
        self.run_why.value = ("" if train is not None else
                              "<i>Run needs training data: ParetoExplorer(out, train=...)</i>")
        self._enable_actions()
        self.guarded(self.refresh)

    @classmethod
    def from_folder(cls, folder, *, error_key=None, error="energy", **options):
        """The panel on a grid made elsewhere (pypolymlp's ``<model>/polymlp_error.yaml``,
        ``polymlp_cost.yaml``; or one of ours), drawn at once: no "Run" needed."""
        from polymlp_lab.grid.external import read_grid

        read_grid(folder, error_key=error_key)  # no models: GridFolderError, naming the folder
        return cls(folder, error_key=error_key, error=error, **options)

    # --- reading and drawing ------------------------------------------------------------
    def _signature(self):
        from polymlp_lab.grid.external import MODEL_FILES
        from polymlp_lab.grid.search import result_files

        paths = result_files(self.out)
        if not paths:
            paths = sorted(p for name in MODEL_FILES for p in self.out.glob(f"*/{name}"))
        return tuple((str(p), p.stat().st_mtime_ns) for p in paths if p.exists())

    def set_error_key(self, key) -> None:
        """Draw the RMSE of the datasets whose name contains ``key`` ('' or None: default)."""
        self.error_key = (key or "").strip() or None
        if self.error_key_box.value != (self.error_key or ""):
            self.error_key_box.value = self.error_key or ""  # the observer comes back here
            return
        self.refresh()

    def refresh(self) -> None:
        """Read the results, redraw the scatter and the front, update the model list."""
        from polymlp_lab.grid import pareto_rows
        from polymlp_lab.grid.external import dataset_label, grid_layout, read_grid

        with self._lock:
            self._seen = self._signature()
            error = self.error_kind.value
            rows = []
            if grid_layout(self.out) is not None:  # else nothing yet (a search not started)
                rows = read_grid(self.out, error_key=self.error_key)
            front = pareto_rows(rows, error)
            on_front = {r.name for r in front}
            timed = [r for r in rows if r.status == "ok" and r.cost and r.rmse(error) is not None]
            self.rows, self.front = rows, front
            if self.selected is not None:  # the same model, with what has been added since
                self.selected = next((r for r in rows if r.name == self.selected.name), None)
                self._enable_actions()
            unit = "meV/atom" if error == "energy" else "eV/Å"
            with self.figure.batch_update():
                models, line = self.figure.data
                models.x = [r.cost for r in timed]
                models.y = [r.rmse(error) for r in timed]
                models.customdata = [r.name for r in timed]
                models.text = [r.name + (f"<br>{r.n_features} features" if r.n_features else "")
                               for r in timed]
                models.marker.symbol = ["diamond" if r.name in on_front else "circle"
                                        for r in timed]
                models.marker.color = ["#1f77b4" if r.name in on_front else "#999999"
                                       for r in timed]
                line.x = [r.cost for r in front]
                line.y = [r.rmse(error) for r in front]
                line.customdata = [r.name for r in front]
                line.text = [r.name for r in front]
                self.figure.layout.yaxis.title.text = f"test RMSE {error} ({unit})"
            self._update_choices(front, rows)
            failed = sum(str(r.status).startswith("failed") for r in rows)
            waiting = sum(r.status == "fitted" for r in rows)
            other = len(rows) - len(timed) - failed - waiting
            datasets = sorted({r.error_dataset for r in timed if r.error_dataset})
            if not self.busy:
                if not rows:
                    self.say(f"no results yet in {self.out}")
                else:
                    self.say(f"{len(timed)} models timed, {len(front)} Pareto-optimal, "
                             f"{waiting} waiting for their cost, {failed} failed"
                             + (f", {other} without {error} error or cost" if other else "")
                             + (f"; test RMSE of {', '.join(map(dataset_label, datasets))}"
                                if datasets else "") + f" ({self.out})")

    def _update_choices(self, front, rows) -> None:
        """Pareto models first (by cost), then the timed ones by cost, then the others."""
        on_front = {r.name for r in front}
        rest = sorted((r for r in rows if r.name not in on_front),
                      key=lambda r: (r.cost is None, r.cost or 0.0, r.name))
        options = [(f"★ {r.name}", r.name) for r in front]
        options += [(r.name + ("" if r.status == "ok" else f" ({r.status[:40]})"), r.name)
                    for r in rest]
        if tuple(options) == tuple(self.model_choice.options):
            return
        current = self.model_choice.value
        # a new list selects its first entry: keep the selection instead
        self.set_quietly(self.model_choice, options,
                         current if current in {o[1] for o in options} else None)

    # --- live updates -------------------------------------------------------------------
    def _start_polling(self) -> None:
        if self._poller is not None and self._poller.is_alive():
            return
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        """Redraw whenever the result files change, while a search runs or Watch is on."""
        while self.busy or self.watch.value:
            self.guarded(self._redraw_if_changed)
            time.sleep(self.poll_seconds)
        if not self.busy:
            self.progress.layout.visibility = "hidden"

    def _redraw_if_changed(self) -> None:
        if self._signature() != self._seen:
            self.refresh()
            if self.busy and self._total:
                self.report(len(self.rows) / self._total,
                            f"{len(self.rows)} of {self._total} models finished")

    # --- actions ------------------------------------------------------------------------
    def run(self) -> None:
        """Start the grid search in the background; the scatter follows its results."""
        from polymlp_lab.grid import enumerate_models, run_grid

        if self.train_set is None:
            raise InputError("no training data: give ParetoExplorer(out, train=...)")
        elements = self.elements or data_elements(self.train_set)
        models = list(self.models) if self.models is not None else enumerate_models(elements)
        self._total = len(models)

        def work():
            self.report(0.0, f"training {len(models)} models, then timing them")
            return run_grid(elements, self.train_set, self.test_set, models=models, out=self.out,
                            progress=False, **self.grid_options)

        def done(rows):
            self.refresh()
            self.say(f"grid search finished: {len(rows)} models, {len(self.front)} Pareto-optimal")

        self.start(work, done=done)
        self._start_polling()

    def on_point_click(self, trace, points, state=None) -> None:
        """plotly click handler: select the model of the first clicked point."""
        if points.point_inds:
            self.guarded(self.select, trace.customdata[points.point_inds[0]])

    def select(self, name) -> None:
        """Choose the model ``name`` (None: none) and show its parameters, errors and cost."""
        if name is None:
            return
        if self.model_choice.value != name:
            self.model_choice.value = name  # the observer comes back here
            return
        self.selected = next(r for r in self.rows if r.name == name)
        self._enable_actions()
        self.show_details()

    def _no_potential(self):
        """Why Card and Save cannot work on the selection (no potential file), or None."""
        r = self.selected
        if r is None:
            return "choose a model first"
        if not r.potential:
            return (f"{r.name} has no potential file, only its errors and cost"
                    f" ({r.potential_note or 'no polymlp.yaml'})")
        return None

    def _enable_actions(self) -> None:
        """Card and Save need the selected model's potential file; the note below them says
        why they are disabled."""
        reason = self._no_potential()
        self.set_available(self.card_button, reason and f"Card and Save: {reason}")
        self.save_button.disabled = self.card_button.disabled

    def show_details(self) -> None:
        """The selected model's parameters, test and train errors and cost (output area)."""
        r = self.selected.as_dict()
        on_front = {f.name: f for f in self.front}
        pareto = ("yes" + (", on the convex hull" if on_front[r["name"]].on_convex_hull else "")
                  if r["name"] in on_front else "no")
        gtinv = (f"order {r['gtinv_order']}, max l {r['gtinv_maxl']}"
                 if r["feature_type"] == "gtinv" else "–")
        known = (lambda v: "–" if v is None else v)
        spread = (f" (median {number(r['cost_median'], 3)}, slowest {number(r['cost_max'], 3)})"
                  if r["cost_median"] is not None else "")
        fields = [
            ("features", known(r["feature_type"])), ("cutoff (Å)", number(r["cutoff"], 6)),
            ("Gaussians", known(r["n_gaussians"])), ("model_type", known(r["model_type"])),
            ("max_p", known(r["max_p"])), ("invariants", gtinv),
            ("coefficients", known(r["n_features"])),
            ("ridge α", number(r["alpha"], 3)),
            ("test RMSE energy (meV/atom)", number(r["rmse_energy"], 4)),
            ("test RMSE force (eV/Å)", number(r["rmse_force"], 4)),
            ("test MAE energy (meV/atom)", number(r["mae_energy"], 4)),
            ("train RMSE energy (meV/atom)", number(r["rmse_energy_train"], 4)),
            ("train RMSE force (eV/Å)", number(r["rmse_force_train"], 4)),
            ("cost (ms/atom/step, one thread)", number(r["cost"], 3) + spread),
            ("Pareto-optimal", pareto), ("fit time (s)", number(r["fit_s"], 3)),
            ("status", r["status"]),
        ]
        if r.get("error_dataset"):
            fields.insert(8, ("errors of", r["error_dataset"]))
        if r.get("cost_openmp") is not None:
            fields.insert(-3, ("cost, all threads", number(r["cost_openmp"], 3)))
        fields.append(("potential", r.get("potential") or
                       f"none: {r.get('potential_note') or 'no file'} (card and save disabled)"))
        self.show_html(f"<h4>{html.escape(r['name'])}</h4>" + html_table(["", ""], fields),
                       replace=True)

    def compute_card(self) -> None:
        """The property card of the selected model, computed in the background."""
        self._require_potential()
        self.start_card(self.selected.potential, self.selected.name)

    def _require_potential(self) -> Path:
        reason = self._no_potential()
        if reason:
            raise InputError(reason)
        return Path(self.selected.potential)

    def save(self, folder) -> Path:
        """Copy the selected model's potential (with its error and cost files) to
        ``folder/<name>/``, a Repository layout; returns the potential file written."""
        potential = self._require_potential()
        if not potential.is_file():
            raise InputError(f"{potential}: the model's potential file is gone")
        name = self.selected.name
        target = Path(folder).expanduser() / name
        target.mkdir(parents=True, exist_ok=True)
        for file in {potential.name, *MODEL_FILES}:
            if (potential.parent / file).is_file():
                shutil.copy2(potential.parent / file, target / file)
        self.say(f"saved {name} in {target}")
        return target / potential.name

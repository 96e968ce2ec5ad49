"""ParetoExplorer: a grid search's models in cost against test error, the Pareto front, live.

The panel reads ``out/results/*.json`` (what :func:`~polymlp_lab.grid.run_grid` writes as
models finish). It can start the search itself ("Run", in the background) or watch a folder
another process fills ("Watch" polls it; "Refresh" reads it once). Click a point, or choose a
model in the list, to see its parameters, errors and cost, compute its property card or save
its polymlp.yaml.
"""

import html
import shutil
import threading
import time
from pathlib import Path

import ipywidgets as w

from .base import Panel
from .repository import CARD_SETTINGS, CardActions, html_table, number

MODEL_FILES = ("polymlp.yaml", "polymlp_error.yaml", "polymlp_cost.yaml")


class ParetoExplorer(CardActions, Panel):
    """Scatter of a grid search (cost ms/atom/step against test RMSE) with its Pareto front.

    Parameters
    ----------
    out : the grid-search folder (``out/results``, ``out/models``).
    elements, train, test, models : what "Run" passes to :func:`~polymlp_lab.grid.run_grid`
        (elements default to the training data's; models to ``enumerate_models``).
    error : "energy" (meV/atom) or "force" (eV/Å): the test RMSE on the vertical axis.
    poll_seconds : how often the folder is read while a search runs or "Watch" is on.
    card_settings : keywords of ``compute_card`` replacing the small ``CARD_SETTINGS``.
    grid_options : further keywords of ``run_grid`` (n_workers, scheduler, atomic_energy,
        alphas, cost_repeats, ...).

    Attributes
    ----------
    rows : every result row; front : the Pareto-optimal rows (sorted by cost).
    selected : the chosen row (dict). figure : the plotly FigureWidget.
    """

    def __init__(self, out, *, elements=None, train=None, test=None, models=None,
                 error="energy", poll_seconds=2.0, card_settings=None, **grid_options):
        import plotly.graph_objects as go

        self.out = Path(out)
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
        self._quiet = False  # True while the model list is rebuilt

        self.run_button = w.Button(description="Run", icon="play", disabled=train is None,
                                   tooltip="run the grid search" if train is not None
                                   else "no training data: ParetoExplorer(out, train=...)")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.watch = w.ToggleButton(description="Watch", icon="eye",
                                    tooltip=f"read the folder every {self.poll_seconds:g} s")
        self.error_kind = w.Dropdown(options=["energy", "force"], value=error,
                                     description="test RMSE")
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
        self.card_button = w.Button(description="Card", icon="table", disabled=True)
        self.save_folder = w.Text(value="polymlps", description="save in")
        self.save_button = w.Button(description="Save", icon="save", disabled=True)

        self.run_button.on_click(lambda _: self.guarded(self.run))
        self.refresh_button.on_click(lambda _: self.guarded(self.refresh))
        self.watch.observe(lambda change: change.new and self._start_polling(), names="value")
        self.error_kind.observe(lambda _: self.guarded(self.refresh), names="value")
        self.model_choice.observe(
            lambda change: self._quiet or self.guarded(self.select, change.new), names="value")
        self.card_button.on_click(lambda _: self.guarded(self.compute_card))
        self.save_button.on_click(lambda _: self.guarded(self.save, self.save_folder.value))
        controls = [w.HBox([self.run_button, self.refresh_button, self.watch, self.error_kind]),
                    self.figure,
                    w.HBox([self.model_choice, self.card_button, self.save_folder,
                            self.save_button])]
        super().__init__(controls, title=f"Grid search: {self.out}")
        self.guarded(self.refresh)

    # --- reading and drawing ------------------------------------------------------------
    def _signature(self):
        return tuple((p.name, p.stat().st_mtime_ns)
                     for p in sorted(self.out.joinpath("results").glob("*.json")))

    def refresh(self) -> None:
        """Read the results, redraw the scatter and the front, update the model list."""
        from polymlp_lab.grid import pareto_rows, read_results

        with self._lock:
            self._seen = self._signature()
            error = self.error_kind.value
            key = f"rmse_{error}"
            rows = read_results(self.out)
            front = pareto_rows(rows, error)
            on_front = {r["name"] for r in front}
            timed = [r for r in rows
                     if r.get("status") == "ok" and r.get("cost") and r.get(key) is not None]
            self.rows, self.front = rows, front
            if self.selected is not None:  # the same model, with what has been added since
                self.selected = next((r for r in rows if r["name"] == self.selected["name"]),
                                     None)
                if self.selected is None:
                    self.card_button.disabled = self.save_button.disabled = True
            unit = "meV/atom" if error == "energy" else "eV/Å"
            with self.figure.batch_update():
                models, line = self.figure.data
                models.x = [r["cost"] for r in timed]
                models.y = [r[key] for r in timed]
                models.customdata = [r["name"] for r in timed]
                models.text = [f"{r['name']}<br>{r['n_features']} features" for r in timed]
                models.marker.symbol = ["diamond" if r["name"] in on_front else "circle"
                                        for r in timed]
                models.marker.color = ["#1f77b4" if r["name"] in on_front else "#999999"
                                       for r in timed]
                line.x = [r["cost"] for r in front]
                line.y = [r[key] for r in front]
                line.customdata = [r["name"] for r in front]
                line.text = [r["name"] for r in front]
                self.figure.layout.yaxis.title.text = f"test RMSE {error} ({unit})"
            self._update_choices(front, rows)
            failed = sum(str(r.get("status", "")).startswith("failed") for r in rows)
            waiting = sum(r.get("status") == "fitted" for r in rows)
            if not self.busy:
                self.say(f"{len(timed)} models timed, {len(front)} Pareto-optimal, "
                         f"{waiting} waiting for their cost, {failed} failed ({self.out})"
                         if rows else f"no results yet in {self.out / 'results'}")

    def _update_choices(self, front, rows) -> None:
        """Pareto models first (by cost), then the timed ones by cost, then the others."""
        on_front = {r["name"] for r in front}
        rest = sorted((r for r in rows if r["name"] not in on_front),
                      key=lambda r: (r.get("cost") is None, r.get("cost") or 0.0, r["name"]))
        options = [(f"★ {r['name']}", r["name"]) for r in front]
        options += [(f"{r['name']}" + ("" if r.get("status") == "ok" else f" ({r['status'][:40]})"),
                     r["name"]) for r in rest]
        if tuple(options) == tuple(self.model_choice.options):
            return
        current = self.model_choice.value
        self._quiet = True  # a new list selects its first entry: keep the selection instead
        try:
            self.model_choice.options = options
            self.model_choice.value = current if current in {o[1] for o in options} else None
        finally:
            self._quiet = False

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
        from polymlp_lab.fitting import Dataset
        from polymlp_lab.grid import enumerate_models, run_grid

        if self.train_set is None:
            raise ValueError("no training data: give ParetoExplorer(out, train=...)")
        sets = [self.train_set] if isinstance(self.train_set, Dataset) else self.train_set
        elements = self.elements or tuple(dict.fromkeys(
            s for d in sets for a in d.structures for s in a.get_chemical_symbols()))
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
        self.selected = next(r for r in self.rows if r["name"] == name)
        has_file = (self.out / "models" / name / "polymlp.yaml").is_file()
        self.card_button.disabled = self.save_button.disabled = not has_file
        self.show_details()

    def show_details(self) -> None:
        """The selected model's parameters, test and train errors and cost (output area)."""
        r = self.selected
        on_front = {f["name"]: f for f in self.front}
        pareto = ("yes" + (", on the convex hull" if on_front[r["name"]]["on_convex_hull"] else "")
                  if r["name"] in on_front else "no")
        gtinv = (f"order {r['gtinv_order']}, max l {r['gtinv_maxl']}"
                 if r["feature_type"] == "gtinv" else "–")
        fields = [
            ("features", r["feature_type"]), ("cutoff (Å)", f"{r['cutoff']:g}"),
            ("Gaussians", r["n_gaussians"]), ("model_type", r["model_type"]),
            ("max_p", r["max_p"]), ("invariants", gtinv), ("coefficients", r["n_features"]),
            ("ridge α", number(r["alpha"], 3)),
            ("test RMSE energy (meV/atom)", number(r["rmse_energy"], 4)),
            ("test RMSE force (eV/Å)", number(r["rmse_force"], 4)),
            ("test MAE energy (meV/atom)", number(r["mae_energy"], 4)),
            ("train RMSE energy (meV/atom)", number(r["rmse_energy_train"], 4)),
            ("train RMSE force (eV/Å)", number(r["rmse_force_train"], 4)),
            ("cost (ms/atom/step, one thread)",
             f"{number(r['cost'], 3)} (median {number(r['cost_median'], 3)}, "
             f"slowest {number(r['cost_max'], 3)})"),
            ("Pareto-optimal", pareto), ("fit time (s)", number(r["fit_s"], 3)),
            ("status", r["status"]),
        ]
        self.show_html(f"<h4>{html.escape(r['name'])}</h4>" + html_table(["", ""], fields),
                       replace=True)

    def compute_card(self) -> None:
        """The property card of the selected model, computed in the background."""
        if self.selected is None:
            raise ValueError("choose a model first")
        name = self.selected["name"]
        self.start_card(self.out / "models" / name / "polymlp.yaml", name)

    def save(self, folder) -> Path:
        """Copy the selected model's polymlp.yaml (with its error and cost files) to
        ``folder/<name>/``, a Repository layout; returns the polymlp.yaml written."""
        if self.selected is None:
            raise ValueError("choose a model first")
        name = self.selected["name"]
        source = self.out / "models" / name
        if not (source / "polymlp.yaml").is_file():
            raise FileNotFoundError(f"{source / 'polymlp.yaml'}: the model has no potential file")
        target = Path(folder).expanduser() / name
        target.mkdir(parents=True, exist_ok=True)
        for file in MODEL_FILES:
            if (source / file).is_file():
                shutil.copy2(source / file, target / file)
        self.say(f"saved {name} in {target}")
        return target / "polymlp.yaml"

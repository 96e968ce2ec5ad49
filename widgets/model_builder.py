"""ModelBuilder: choose a polynomial MLP model, see its size and cost, train and save it.

Every control change recomputes the number of features (pypolymlp's enumeration) and a rough
cost prediction; invalid choices are reported in the status line before pypolymlp sees them
(its C++ code ends the whole Python process on some of them, e.g. pair features with
model_type 3). Training runs :class:`~polymlp_lab.fitting.PolymlpFit` in the background.
"""

import html
import math
import re
import time
from pathlib import Path

import ipywidgets as w
import numpy as np

from .base import InputError, Panel, html_table

MAX_ORDER = 6  # highest gtinv order offered (the engine's limit)
DEFAULT_MAXL = (4, 4, 2, 1, 1)  # max_l of orders 2..6 (pypolymlp's grid bounds go 12, 8, 2, 1, 1)

# Rough cost model of one energy + forces + stress evaluation by our engine, per atom, on
# pypolymlp's cost structure (fcc, 4 atoms per 64 Å³): every neighbour adds n_radial x (lmax+1)²
# density terms (and their derivatives), every atom evaluates the harmonic products of its
# invariants and the polynomial terms. One least-squares fit of 18 models timed by
# measure_cost (one thread, 2-core machine, 2026) gave these two numbers; predictions were
# within a factor of 2 of the timings (median error 26 %), feature counts alone were off by
# up to 9x. "Time it" measures the real cost.
MS_PER_OPERATION = 2.1e-6  # ms per operation counted below
OVERHEAD_MS = 0.014  # ms/atom/step of neighbour lists and bookkeeping
COST_STRUCTURE_DENSITY = 4 / 64.0  # atoms per Å³ in pypolymlp's cost structure


def parse_elements(text: str) -> tuple:
    """Element symbols from text such as "Al", "Mg O", "Ti-Al" or "Sr, Ti, O"."""
    from ase.data import chemical_symbols

    symbols = tuple(s for s in re.split(r"[\s,;\-]+", text.strip()) if s)
    if not symbols:
        raise InputError("no elements given (type symbols such as 'Al' or 'Mg O')")
    for symbol in symbols:
        if symbol not in chemical_symbols[1:]:
            raise InputError(f"unknown element '{symbol}'")
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise InputError(f"element {', '.join(repeated)} given more than once")
    return symbols


def predicted_cost(params, features) -> float:
    """Rough cost (ms/atom/step, one thread) of a model from its operation count; ``features``
    is its :func:`~polymlp_lab.models.feature_lists`."""
    model = params.model
    linear, polynomial = features
    gtinv = model.feature_type == "gtinv"
    lmax = int(model.max_l) if gtinv else 0
    neighbours = 4.0 / 3.0 * math.pi * model.cutoff**3 * COST_STRUCTURE_DENSITY
    density = neighbours * len(model.pair_params) * (lmax + 1) ** 2
    products = sum(len(model.gtinv.lm_seq[f[1]]) for f in linear) if gtinv else len(linear)
    return OVERHEAD_MS + MS_PER_OPERATION * (density + products + len(polynomial))


def errors_table(errors) -> str:
    """HTML table of per-dataset RMSEs (energy meV/atom, force eV/Å, stress meV/atom)."""
    def cell(value, digits):
        return "–" if value is None else f"{value:.{digits}f}"

    return html_table(
        ["set", "dataset", "structures", "RMSE energy (meV/atom)", "RMSE force (eV/Å)",
         "RMSE stress (meV/atom)"],
        [[e.kind, e.dataset, e.n_structures, cell(e.rmse_energy, 3), cell(e.rmse_force, 4),
          cell(e.rmse_stress, 3)] for e in errors])


def data_elements(train) -> tuple:
    """Elements of training data (a Dataset, a list of them or None), in order of appearance."""
    from polymlp_lab.fitting import Dataset

    if train is None:
        return ()
    sets = [train] if isinstance(train, Dataset) else train
    return tuple(dict.fromkeys(
        s for d in sets for a in d.structures for s in a.get_chemical_symbols()))


class ModelBuilder(Panel):
    """Choose a model, see its number of features and cost, train it, save polymlp.yaml.

    ``train`` and ``test`` are a Dataset or a list of them (test: split from train when
    None); ``elements`` the model's symbols, e.g. ("Mg", "O") or "Mg O" (default: those of the
    training data, else Al); ``atomic_energy`` {element: isolated-atom energy (eV)} is
    subtracted from the data energies.

    Attributes (None while the choice is invalid or before the work): ``n_features`` (number of
    coefficients of the chosen model), ``cost_estimate`` (rough predicted cost, ms/atom/step
    on one thread), ``measured_cost`` (measured by :meth:`time_model`, same unit), ``fit_``
    (the fitted :class:`~polymlp_lab.fitting.PolymlpFit`), ``potential`` (its Potential).
    """

    def __init__(self, train=None, test=None, *, elements=None, atomic_energy=None):
        self.train_set = train
        self.test_set = test
        self.atomic_energy = atomic_energy
        self.n_features = None
        self.cost_estimate = None
        self.measured_cost = None
        self.fit_ = None
        self.potential = None
        self._descriptions = {}  # (features, cost) by control values: recounting is slow

        style = {"description_width": "9em"}
        symbols = elements or data_elements(train) or ("Al",)
        self.elements = w.Text(value=symbols if isinstance(symbols, str) else " ".join(symbols),
                               description="elements", style=style)
        self.cutoff = w.FloatSlider(value=6.0, min=0.0, max=12.0, step=0.5,
                                    description="cutoff (Å)", continuous_update=False, style=style)
        self.n_gaussians = w.IntSlider(value=7, min=3, max=20, description="Gaussians",
                                       continuous_update=False, style=style)
        self.feature_type = w.Dropdown(options=["gtinv", "pair"], value="gtinv",
                                       description="features", style=style)
        self.model_type = w.Dropdown(options=[1, 2, 3, 4], value=3, description="model_type",
                                     style=style)
        self.max_p = w.Dropdown(options=[1, 2, 3], value=2, description="max_p", style=style)
        self.gtinv_order = w.IntSlider(value=3, min=2, max=MAX_ORDER, description="gtinv order",
                                       continuous_update=False, style=style)
        self.maxl = [w.IntSlider(value=value, min=0, max=12, description=f"max l, order {order}",
                                 continuous_update=False, style=style)
                     for order, value in zip(range(2, MAX_ORDER + 1), DEFAULT_MAXL)]
        self.log_alpha = w.IntRangeSlider(value=(-3, 1), min=-8, max=3,
                                          description="log10 α range", style=style)
        self.summary = w.HTML()
        self.train_button = w.Button(description="Train", icon="play",
                                     disabled=train is None)
        self.time_button = w.Button(description="Time it", icon="clock-o",
                                    tooltip="measure the cost with random coefficients")
        self.save_path = w.Text(value="polymlp.yaml", description="save to")
        self.save_button = w.Button(description="Save", icon="save", disabled=True)
        self.train_why = w.HTML("" if train is not None else
                                "<i>Train needs training data: ModelBuilder(train=...)</i>")

        self.train_button.on_click(self.guard(self.train))
        self.time_button.on_click(self.guard(self.time_model))
        self.save_button.on_click(lambda _: self.guarded(self.save, self.save_path.value))
        self._model_controls = (self.elements, self.cutoff, self.n_gaussians, self.feature_type,
                                self.model_type, self.max_p, self.gtinv_order, *self.maxl)
        for control in self._model_controls:
            control.observe(lambda _: self.update(), names="value")

        controls = [
            w.HBox([self.elements, self.cutoff, self.n_gaussians]),
            w.HBox([self.feature_type, self.model_type, self.max_p]),
            self.gtinv_order, *self.maxl, self.log_alpha, self.summary,
            w.HBox([self.train_button, self.time_button, self.save_path, self.save_button]),
            w.HBox([self.train_why, self.why]),
        ]
        super().__init__(controls, title="Model builder")
        self.set_available(self.save_button, "Save: train the model first")
        self.update()

    # --- choices ------------------------------------------------------------------------
    def choices(self) -> dict:
        """Keyword choices of :func:`polymlp_lab.models.model_params`; ValueError when invalid."""
        from polymlp_lab.io import CUTOFF_RANGE

        elements = parse_elements(self.elements.value)
        cutoff = float(self.cutoff.value)
        low, high = CUTOFF_RANGE  # and pypolymlp spreads the Gaussians over [0, cutoff - 1 Å]
        if not low < cutoff <= high:
            raise InputError(f"cutoff {cutoff:g} Å: it must be above {low:g} Å and at most "
                             f"{high:g} Å")
        feature_type = self.feature_type.value
        if feature_type == "pair" and self.model_type.value > 2:
            raise InputError(f"model_type {self.model_type.value} needs gtinv features: "
                             "pair features allow model_type 1 or 2")
        choices = dict(elements=elements, cutoff=cutoff, n_gaussians=int(self.n_gaussians.value),
                       feature_type=feature_type, model_type=int(self.model_type.value),
                       max_p=int(self.max_p.value))
        if feature_type == "gtinv":
            order = int(self.gtinv_order.value)
            choices.update(gtinv_order=order,
                           gtinv_maxl=tuple(int(s.value) for s in self.maxl[: order - 1]))
        return choices

    def params(self):
        """pypolymlp's ``PolymlpParamsSingle`` of the chosen model (ValueError when invalid)."""
        from polymlp_lab.models import model_params

        choices = self.choices()
        return model_params(choices.pop("elements"), **choices)

    @property
    def alphas(self) -> tuple:
        """Ridge strengths tried: one per decade of the α range."""
        low, high = self.log_alpha.value
        return tuple(10.0**k for k in range(low, high + 1))

    def update(self) -> None:
        """Show or hide the max l sliders and recompute ``n_features`` and ``cost_estimate``."""
        gtinv = self.feature_type.value == "gtinv"
        self.gtinv_order.layout.display = "" if gtinv else "none"
        for order, slider in zip(range(2, MAX_ORDER + 1), self.maxl):
            slider.layout.display = "" if gtinv and order <= self.gtinv_order.value else "none"
        self.n_features = self.cost_estimate = None
        self.summary.value = "features: –, cost: –"
        self.guarded(self._describe)

    def _describe(self) -> None:
        from polymlp_lab.models import feature_lists, n_features

        key = tuple(control.value for control in self._model_controls)
        if key not in self._descriptions:
            params = self.params()
            features = feature_lists(params)
            self._descriptions[key] = (n_features(params, features),
                                       predicted_cost(params, features))
        self.n_features, self.cost_estimate = self._descriptions[key]
        text = (f"{self.n_features} features, cost ≈ {self.cost_estimate:.3g} ms/atom/step "
                "(rough prediction, one thread; 'Time it' measures it)")
        self.summary.value = f"<b>{html.escape(text)}</b>"
        self.say(text)

    # --- actions ------------------------------------------------------------------------
    def train(self) -> None:
        """Fit the chosen model in the background; then show the errors and parity plots."""
        from polymlp_lab.fitting import PolymlpFit

        if self.train_set is None:
            raise InputError("no training data: give ModelBuilder(train=...)")
        fit = PolymlpFit(params=self.params(), alphas=self.alphas,
                         atomic_energy=self.atomic_energy, progress=False)
        n_features = self.n_features

        def work():
            start = time.perf_counter()
            self.report(0.1, f"fitting {n_features} coefficients: design rows, then ridge "
                             f"solutions for {len(fit.alphas)} α values")
            fit.fit(self.train_set, self.test_set)
            self.report(0.9, "drawing the parity plots")
            return fit, time.perf_counter() - start

        self.start(work, done=self._show_fit)

    def _show_fit(self, result) -> None:
        from polymlp_lab.fitting import plot_parity

        fit, seconds = result
        self.fit_ = fit
        self.potential = fit.potential_
        self.set_available(self.save_button)
        self.show_figure(plot_parity(fit.errors_))
        self.show_html(errors_table(fit.errors_))
        test = [e for e in fit.errors_ if e.kind == "test"] or fit.errors_
        self.say(f"fitted {fit.n_features_} coefficients in {seconds:.1f} s, α = {fit.alpha_:g}; "
                 f"{test[0].kind} RMSE {test[0].rmse_energy:.3f} meV/atom, "
                 f"{test[0].rmse_force:.4f} eV/Å")

    def time_model(self) -> None:
        """Measure the chosen model's cost (ms/atom/step, one thread) in the background, with
        random coefficients (the cost does not depend on their values)."""
        from polymlp_lab import Potential
        from polymlp_lab.grid import measure_cost

        params = self.params()
        n_features = self.n_features

        def work():
            self.report(0.1, f"building the tables of {n_features} features")
            coeffs = np.random.default_rng(0).normal(scale=1e-3, size=n_features)
            potential = Potential.from_params(params, coeffs)
            self.report(0.5, "timing energy + forces + stress on 256 atoms")
            return measure_cost(potential, params.elements, repeats=3)

        def done(cost):
            self.measured_cost = cost.cost
            self.say(f"measured cost {cost.cost:.3g} ms/atom/step (one thread, fastest of "
                     f"{cost.repeats}; median {cost.cost_median:.3g}); predicted "
                     f"{self.cost_estimate:.3g}")

        self.start(work, done=done)

    def save(self, path="polymlp.yaml") -> Path:
        """Write the fitted potential (polymlp.yaml) and polymlp_error.yaml beside it."""
        if self.fit_ is None:
            raise InputError("nothing to save yet: train the model first")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fit_.save(path)
        self.fit_.save_errors(path.with_name("polymlp_error.yaml"))
        self.say(f"saved {path} and {path.with_name('polymlp_error.yaml').name}")
        return path

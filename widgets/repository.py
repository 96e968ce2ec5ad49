"""RepositoryBrowser: the potentials of a Repository entry or a Repository-like folder, their
details, the Repository's predictions and our cards beside them.

It reads what :func:`polymlp_lab.properties.repository.index_repository` reads: a Kyoto
Repository entry (``<system>/polymlps/<mlp>/polymlp.yaml[.<system>]`` with
``polymlp_error.yaml``, ``polymlp_cost.yaml`` and ``<system>/predictions/<mlp>/``), its
``polymlps/``, or a folder of ``<name>/polymlp.yaml`` (what a grid search writes under
``polymlps/``). The panel is a thin layer over that module.
Also here: :class:`CardActions`, the property-card button work shared with the Pareto explorer.
"""

import html
import tempfile
from pathlib import Path

import ipywidgets as w

from .base import InputError, Panel, html_table, number

# Small settings: a card in seconds to a minute for a small potential (compute_card's keywords).
CARD_SETTINGS = dict(prototypes=("fcc", "bcc", "hcp", "sc"), n_detailed=1,
                     phonon_supercell=(2, 2, 2), phonon_mesh=(8, 8, 8), relax_steps=100,
                     progress=False)


class CardActions:
    """Property cards for a :class:`Panel` with ``card_settings``, ``selected`` and
    ``show_details()``: computed in the background, shown below the details of the selected
    potential; the last one is ``card``."""

    card = None

    def start_card(self, path, title: str) -> None:
        """Compute the card of the potential file ``path`` in the background, then show it."""
        from polymlp_lab import load_potential
        from polymlp_lab.properties.card import compute_card

        settings = dict(self.card_settings)
        count = len(settings.get("prototypes") or ()) or "every"

        def work():
            self.report(0.05, f"{title}: loading the potential")
            potential = load_potential(path)
            self.report(0.15, f"{title}: relaxing {count} prototypes, then EOS, elastic "
                              "constants and phonons of the lowest")
            return compute_card(potential, **settings)

        self.start(work, done=lambda card: self.show_card(card, title))

    def show_card(self, card, title: str) -> None:
        """Details, then the card's table (eV/atom, Å, Å³/atom, GPa) and plot_card's PNGs."""
        from polymlp_lab.properties.card import plot_card

        self.card = card
        if self.selected is not None:  # still listed
            self.show_details()
        else:
            self.clear()
        rows = []
        for key, energy in sorted(card.energies.items(), key=lambda kv: kv[1]):
            lattice = card.lattice.get(key, {})
            eos = card.eos.get(key, {})
            rows.append([key, f"{energy:.4f}",
                         " ".join(number(lattice.get(k), 4) for k in ("a", "b", "c")),
                         number(eos.get("v0"), 4), number(eos.get("b0"), 4)])
        failures = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>"
                           for k, v in card.failures.items())
        self.show_html(
            f"<h4>Property card of {html.escape(title)}</h4>"
            + html_table(["structure", "E (eV/atom)", "a b c (Å)", "V0 (Å³/atom)", "B0 (GPa)"],
                         rows)
            + (f"<p>Failures and warnings:</p><ul>{failures}</ul>" if failures else ""))
        with tempfile.TemporaryDirectory() as folder:
            for path in plot_card(card, folder):
                self.show_image(path)
        self.say(f"card of {title}: {len(card.energies)} structures relaxed in "
                 f"{card.timings['total_s']:.1f} s, "
                 f"{len(card.failures)} failures or warnings")


class RepositoryBrowser(CardActions, Panel):
    """Browse the potentials of a Repository entry or folder, show the Repository's
    predictions, compute a card (beside the Repository's numbers), load one.

    ``folder`` is a Repository entry (``<system>/`` holding ``polymlps/`` and
    ``predictions/``), its ``polymlps/``, or a folder of ``<name>/polymlp.yaml`` (+
    polymlp_error.yaml, polymlp_cost.yaml); ``card_settings`` are keywords of
    :func:`~polymlp_lab.properties.card.compute_card` replacing the small ``CARD_SETTINGS``.

    Attributes: ``rows`` (one dict per potential, as
    :func:`~polymlp_lab.properties.repository.index_repository` gives: elements, cutoff Å,
    n_coeffs, test rmse_energy meV/atom, rmse_force eV/Å, cost ms/atom/step, predictions
    folder, status), ``selected`` (the chosen row), ``potential`` (the loaded Potential),
    ``predictions`` (the selected MLP's
    :class:`~polymlp_lab.properties.repository.RepositoryPredictions`, or None), ``card`` (the
    last property card computed), ``comparison`` (that card beside the Repository's
    predictions, :func:`~polymlp_lab.properties.repository_compare.compare_with_repository`,
    or None when the MLP has no predictions).
    """

    def __init__(self, folder, *, card_settings=None):
        self.card_settings = {**CARD_SETTINGS, **(card_settings or {})}
        self.rows = []
        self.selected = None
        self.potential = None
        self.predictions = None
        self.comparison = None
        self._predictions = {}  # name -> RepositoryPredictions, read once
        self._card_row = None  # the row whose card is being computed
        self.folder = w.Text(value=str(folder), description="folder",
                             layout=w.Layout(width="60%"))
        self.scan_button = w.Button(description="Scan", icon="refresh")
        self.table = w.HTML()
        self.choice = w.Select(options=[], description="potential", rows=6,
                               layout=w.Layout(width="60%"))
        self.card_button = w.Button(description="Card", icon="table")
        self.load_button = w.Button(description="Load", icon="upload")

        self.scan_button.on_click(self.guard(self.scan))
        self.choice.observe(
            lambda change: self._quiet or self.guarded(self.select, change.new), names="value")
        self.card_button.on_click(self.guard(self.compute_card))
        self.load_button.on_click(self.guard(self.load))
        controls = [w.HBox([self.folder, self.scan_button]), self.table,
                    w.HBox([self.choice, w.VBox([self.card_button, self.load_button, self.why])])]
        super().__init__(controls, title="Potential repository")
        self.guarded(self.scan)

    def scan(self) -> None:
        """List the folder's potentials (in the background: each file is read and checked)."""
        from polymlp_lab.properties.repository import EmptyRepositoryError, index_repository

        folder = Path(self.folder.value).expanduser()
        self._show_rows([])  # a scan that fails lists nothing
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder")
        self._predictions = {}
        empty = []

        def work():
            self.report(0.1, f"reading the potentials in {folder}")
            try:
                return index_repository(folder)
            except EmptyRepositoryError as exc:  # an empty folder is news, not a fault
                empty.append(exc)
                return []

        def done(rows):
            self._show_rows(rows)
            if rows:
                with_predictions = sum(1 for r in rows if r["predictions"])
                self.say(f"{len(rows)} potentials in {folder}"
                         + (f", {with_predictions} with the Repository's predictions"
                            if with_predictions else ""))
            else:
                self.say(f"no potentials in {folder}: "
                         + (str(empty[0]).split(": ", 1)[-1] if empty else "none found"))

        self.start(work, done=done)

    def _show_rows(self, rows) -> None:
        self.rows = rows
        self.selected = None
        self.set_available(self.card_button, "Card and Load: choose a potential first")
        self.load_button.disabled = True
        self.table.value = html_table(
            ["name", "elements", "cutoff (Å)", "coefficients", "test RMSE E (meV/atom)",
             "test RMSE F (eV/Å)", "cost (ms/atom/step)", "predictions", "status"],
            [[r["name"], " ".join(r["elements"]), f"{r['cutoff']:g}", r["n_coeffs"],
              number(r["rmse_energy"], 4), number(r["rmse_force"], 4), number(r["cost"], 3),
              "yes" if r.get("predictions") else "–", r.get("status", "ok")]
             for r in rows]) if rows else ""
        # a new list selects its first entry: start with none instead
        self.set_quietly(self.choice, [r["name"] for r in rows], None)

    def select(self, name) -> None:
        """Choose the potential ``name`` (None: none) and show its details."""
        if name is None:
            return
        if self.choice.value != name:
            self.choice.value = name  # the observer comes back here
            return
        self.selected = next(r for r in self.rows if r["name"] == name)
        self.predictions = None
        self.set_available(self.card_button)
        self.load_button.disabled = False
        self.show_details()
        if self.selected.get("predictions"):
            self.predictions = self._read_predictions(self.selected)  # errors: status line
            self.show_details()

    def _read_predictions(self, row):
        """The Repository's predictions of ``row`` (read once per scan)."""
        from polymlp_lab.properties.repository import read_predictions

        if row["name"] not in self._predictions:
            self._predictions[row["name"]] = read_predictions(row["predictions"])
        return self._predictions[row["name"]]

    def show_details(self) -> None:
        """The selected potential's model, errors and cost in the output area."""
        r = self.selected
        fields = [("file", r["path"]), ("elements", " ".join(r["elements"])),
                  ("cutoff (Å)", f"{r['cutoff']:g}"), ("features", r["feature_type"]),
                  ("model_type", r["model_type"]), ("max_p", r["max_p"]),
                  ("coefficients", r["n_coeffs"]),
                  ("test RMSE energy (meV/atom)", number(r["rmse_energy"], 4)),
                  ("test RMSE force (eV/Å)", number(r["rmse_force"], 4)),
                  ("cost (ms/atom/step, one thread)", number(r["cost"], 3))]
        if r.get("status", "ok") != "ok":
            fields.append(("status", r["status"]))
        self.show_html(f"<h4>{html.escape(r['name'])}</h4>" + html_table(["", ""], fields),
                       replace=True)
        if self.predictions is not None:
            from polymlp_lab.properties.repository_compare import predictions_html

            self.show_html(predictions_html(self.predictions))

    def compute_card(self) -> None:
        """The property card of the selected potential, computed in the background."""
        if self.selected is None:
            raise InputError("choose a potential first")
        self._card_row = self.selected
        paths = self.selected.get("paths") or [self.selected["path"]]
        self.start_card(paths if len(paths) > 1 else paths[0], self.selected["name"])

    def show_card(self, card, title: str) -> None:
        """The card (see :meth:`CardActions.show_card`), then, when the MLP has the
        Repository's predictions, ours beside them: a table per matched prototype, the
        unmatched ones, the DFT parity plot(s) and the hull."""
        from polymlp_lab.properties.repository_compare import (
            comparison_html, compare_with_repository, repository_figures)

        self.comparison = None
        super().show_card(card, title)
        row = self._card_row
        if row is None or not row.get("predictions"):
            return
        predictions = self._read_predictions(row)
        comparison = compare_with_repository(card, predictions)
        figures = repository_figures(card, predictions, comparison)
        self.comparison = comparison
        self.show_html(f"<h4>{html.escape(title)}: ours / the Repository's</h4>"
                       + comparison_html(comparison))
        for data in figures.values():
            self.show_image(data)
        summary = comparison.summary
        self.say(f"card of {title}: {len(card.energies)} structures relaxed in "
                 f"{card.timings['total_s']:.1f} s; {summary['n_matched']} prototypes "
                 f"beside the Repository's ({summary['n_unmatched_repository']} not matched)")

    def load(self) -> None:
        """Load the selected potential as ``potential`` (in the background)."""
        from polymlp_lab.properties.repository import load_row_potential

        if self.selected is None:
            raise InputError("choose a potential first")
        row = self.selected

        def done(potential):
            self.potential = potential
            self.say(f"loaded {row['name']}: panel.potential ({potential!r})")

        self.start(lambda: load_row_potential(row), done=done)

"""Our property card beside a Repository entry's own predictions: prototype names matched,
numbers compared, the DFT parity plot and hull drawn, the comparison written.

:func:`match_prototype` maps the Repository's prototype names onto our library's;
:func:`compare_with_repository` puts a card of
:func:`~polymlp_lab.properties.card.compute_card` beside the predictions that
:func:`~polymlp_lab.properties.repository.read_predictions` reads;
:func:`write_repository_comparison` writes the comparison (JSON, HTML), a DFT parity plot
and the hull.

Units: energies eV/atom, volumes Å³/atom, lengths Å, moduli and elastic constants GPa.
"""

from __future__ import annotations

import html
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from ase.cell import Cell

from . import prototypes as protos
from ..files import AsDict, write_bytes_atomic, write_text_atomic
from .card import PropertyCard, hull_points, html_page, html_table
from .repository import DFTComparison, FormationEnergies, PrototypePrediction, RepositoryPredictions


# ---------------------------------------------------------------------------------------
# Prototype names: the Repository's (pypolymlp calculator/auto/structures_element.py and
# structures_binary.py) and our library's (prototypes.py)

# Element structures of the same type (space group, Wyckoff sites; checked in the tests
# against pypolymlp's structures). Not matched: Sn(tI2) (bct, c/a 0.9), Bi (C2/m), As (hR1,
# one atom: not A7), Sb(mP4), Ga(Cmcm), Si(I4mm) (tI8): no such structure in our library.
ELEMENT_NAMES = {"fcc": "fcc", "bcc": "bcc", "hcp": "hcp", "diamond": "diamond", "sc": "sc",
                 "Sn": "beta-Sn", "Sm": "alpha-Sm", "La": "dhcp", "P(black)": "black-P",
                 "Se(gamma)": "gamma-Se", "Ga": "alpha-Ga", "In": "bct-In"}
# Compounds are named "<compound>(<Strukturbericht>)(x=<fraction of the second element>)":
# our names are the same designation with an underscore ("L12" -> "L1_2"), except these.
# The binary L2_1 (AlCu2Mn with one element on Al and Mn sites) is our D0_3.
DESIGNATIONS = {"L21": "D0_3"}
_COMPOUND = re.compile(r"(?P<base>.*?)\(x=(?P<x>[0-9.]+)\)$")


def match_prototype(name: str, elements) -> dict:
    """Our counterpart of the Repository's prototype ``name`` for an entry of ``elements``.

    Returns ``{"repository", "library", "decoration", "key", "reason"}``: ``library`` is our
    prototype's name, ``decoration`` the elements on its sites A, B, ``key`` the key of
    :func:`~polymlp_lab.properties.card.compute_card`'s ``energies`` ("fcc", "fcc:Ti",
    "L1_2:TiAl"); for a prototype without counterpart ``library`` and ``key`` are None and
    ``reason`` says why. A compound's decoration follows its composition x (fraction of
    ``elements[1]``); at x = 0.5 the first element takes site A, as in pypolymlp.
    """
    elements = tuple(elements)

    def result(library=None, decoration=None, key=None, reason=None):
        return {"repository": name, "library": library, "decoration": decoration, "key": key,
                "reason": reason}

    match = _COMPOUND.fullmatch(name)
    base, element = name, elements[0]
    if match is None and len(elements) == 2:
        for e in elements:
            if name.endswith("_" + e):
                base, element = name[: -len(e) - 1], e
                break
        else:
            return result(reason=f"no element of {'-'.join(elements)} in the name")
    if match is not None:
        base, x = match["base"], float(match["x"])
        if base in ELEMENT_NAMES:  # fcc(x=0), fcc(x=1): pure elements in a binary's list
            if len(elements) != 2 or x not in (0.0, 1.0):
                return result(reason=f"composition x={x} of an element structure")
            element = elements[int(x)]
        else:
            if len(elements) != 2:
                return result(reason="a compound in a one-element entry")
            designation = re.search(r"\(([^()]*)\)$", base)
            designation = designation[1] if designation else base
            library = DESIGNATIONS.get(designation) or next(
                (n for n in protos.binary_prototypes() if n.replace("_", "") == designation), None)
            if library is None:
                return result(reason=f"no {designation} structure in our library")
            prototype = protos.get_prototype(library)
            counts = prototype.counts
            decorations = [elements, elements[::-1]]
            fractions = [counts[1] / sum(counts), counts[0] / sum(counts)]
            fitting = [d for d, f in zip(decorations, fractions) if abs(f - x) < 0.02]
            if not fitting:
                return result(reason=f"x={x} is not a composition of {library} "
                                     f"({prototype.composition})")
            return result(library, list(fitting[0]), f"{library}:{''.join(fitting[0])}")
    library = ELEMENT_NAMES.get(base) or (base if base in protos.element_prototypes() else None)
    if library is None:
        return result(reason=f"no {base} structure in our library")
    return result(library, [element], f"{library}:{element}" if len(elements) == 2 else library)


# ---------------------------------------------------------------------------------------
# Our card beside the Repository's predictions

_ELASTIC_NAMES = {"C11": (0, 0), "C12": (0, 1), "C13": (0, 2), "C33": (2, 2), "C44": (3, 3),
                  "C66": (5, 5)}


def _pair(ours, repository) -> dict:
    both = ours is not None and repository is not None
    out = {"ours": ours, "repository": repository,
           "difference": ours - repository if both else None}
    out["relative_difference"] = (out["difference"] / abs(repository)
                                  if both and repository else None)
    return out


def _cell_volume_per_atom(lattice) -> Optional[float]:
    """Å³/atom of a card's lattice entry (conventional cell of n_atoms atoms)."""
    if not lattice or not lattice.get("n_atoms"):
        return None
    cellpar = [lattice[k] for k in ("a", "b", "c", "alpha", "beta", "gamma")]
    return Cell.fromcellpar(cellpar).volume / lattice["n_atoms"]


def _compare_one(card, key, prediction: PrototypePrediction) -> dict:
    eos = card.eos.get(key) or {}
    lattice = card.lattice.get(key) or {}
    ours_c = card.elastic.get(key)
    repo_c = prediction.elastic
    elastic = {n: _pair(ours_c[i][j] if ours_c else None, repo_c[i][j] if repo_c else None)
               for n, (i, j) in _ELASTIC_NAMES.items()}
    elastic["ours"], elastic["repository"] = ours_c, repo_c
    elastic["max_abs_difference"] = (float(np.max(np.abs(np.array(ours_c) - np.array(repo_c))))
                                     if ours_c and repo_c else None)
    repo_lattice = prediction.lattice or {}
    return {
        "energy_eV_per_atom": _pair(card.energies.get(key), prediction.energy),
        "volume_A3_per_atom": _pair(_cell_volume_per_atom(lattice), prediction.volume),
        "eos_volume_A3_per_atom": _pair(eos.get("v0"), prediction.eos_volume),
        "bulk_modulus_GPa": _pair(eos.get("b0"), prediction.bulk_modulus),
        "lattice_A": {k: _pair(lattice.get(k), repo_lattice.get(k)) for k in ("a", "b", "c")},
        "elastic_GPa": elastic,
    }


@dataclass(frozen=True)
class RepositoryComparison(AsDict):
    """Of :func:`compare_with_repository`; nested parts are plain data, :meth:`as_dict` is
    repository_comparison.json but its ``plots``. ``elements``; ``predictions`` (the
    Repository's folder); ``prototypes`` (per matched prototype: ``repository`` and ``library``
    names, the card's ``key``, ``icsd_id``, and ours/repository/difference (ours − repository;
    and relative) of ``energy_eV_per_atom``, ``volume_A3_per_atom`` (relaxed),
    ``eos_volume_A3_per_atom`` and ``bulk_modulus_GPa`` (EOS fits), ``lattice_A`` (a, b, c Å:
    our standardised conventional cell, the Repository's cell as written), ``elastic_GPa``
    (C11 C12 C13 C33 C44 C66, both 6x6 matrices, their largest difference));
    ``unmatched_repository`` (name, reason: no counterpart in our library, or not in this
    card); ``ours_only`` (card keys the Repository does not list); ``summary`` (counts, RMSE
    and largest |difference| of the energies, meV/atom); ``dft_comparison`` ({label: n,
    rmse/mae/max meV/atom of the Repository's DFT vs MLP}); ``formation`` (the Repository's
    DFT and MLP hulls, eV/atom; or None); ``missing`` (absent files); ``notes`` (how the two
    sides' numbers are obtained, where they differ by method)."""

    elements: list
    predictions: str
    prototypes: list
    unmatched_repository: list
    ours_only: list
    summary: dict
    dft_comparison: dict
    formation: Optional[dict]
    missing: list
    notes: list


def compare_with_repository(card: PropertyCard,
                            predictions: RepositoryPredictions) -> RepositoryComparison:
    """``card`` beside the Repository's ``predictions`` of its MLP, by :func:`match_prototype`."""
    elements = list(card.elements)
    rows, unmatched, matched_keys = [], [], set()
    for name, prediction in predictions.prototypes.items():
        match = match_prototype(name, elements)
        key = match["key"]
        if key is None:
            unmatched.append({"repository": name, "reason": match["reason"]})
            continue
        if key not in card.energies:
            unmatched.append({"repository": name, "library": match["library"], "key": key,
                              "reason": card.failures.get(key) or "not computed in this card"})
            continue
        matched_keys.add(key)
        rows.append({"repository": name, "library": match["library"], "key": key,
                     "icsd_id": prediction.icsd_id, **_compare_one(card, key, prediction)})
    differences = np.array([r["energy_eV_per_atom"]["difference"] for r in rows
                            if r["energy_eV_per_atom"]["difference"] is not None]) * 1000.0
    formation = predictions.formation
    return RepositoryComparison(
        elements=elements,
        predictions=predictions.folder,
        prototypes=rows,
        unmatched_repository=unmatched,
        ours_only=[k for k in card.energies if k not in matched_keys],
        summary={
            "n_matched": len(rows),
            "n_unmatched_repository": len(unmatched),
            "energy_rmse_meV_per_atom": float(np.sqrt(np.mean(differences ** 2)))
            if len(differences) else None,
            "energy_max_abs_difference_meV_per_atom": float(np.max(np.abs(differences)))
            if len(differences) else None,
        },
        dft_comparison={label: c.summary() for label, c in predictions.comparisons.items()},
        formation=None if formation is None else {
            "file": formation.path, "hull_dft": formation.hull_dft,
            "hull_mlp": formation.hull_mlp, "n_structures": len(formation.dft)},
        missing=list(predictions.missing),
        notes=list(COMPARISON_NOTES),
    )


COMPARISON_NOTES = (
    "energies: both the MLP's energy per atom after relaxation of cell and positions; the same "
    "potential gives the same numbers when both relaxations reach the same minimum",
    "bulk modulus and EOS volume: the Repository fits a Vinet EOS to volumes 0.7-2.0 V0 "
    "(pypolymlp PolymlpEOS), ours a Birch-Murnaghan EOS to +-6 % around V0: expect them to differ",
    "lattice: ours of the standardised conventional cell (spglib), the Repository's of its cell "
    "as relaxed; elastic constants are compared in each one's Cartesian frame",
)


# ---------------------------------------------------------------------------------------
# Plots and files


def plot_dft_parity(comparison: DFTComparison):
    """Parity plot of the Repository's DFT against MLP energies (eV/atom), RMSE in the title.
    Returns the Matplotlib figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    ax.scatter(comparison.dft, comparison.mlp, s=12, color="tab:blue")
    low = float(min(comparison.dft.min(), comparison.mlp.min()))
    high = float(max(comparison.dft.max(), comparison.mlp.max()))
    pad = 0.05 * (high - low or 1.0)
    ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.5", lw=0.8)
    ax.set_xlabel("DFT energy (eV/atom)")
    ax.set_ylabel("MLP energy (eV/atom)")
    label = f" {comparison.label}" if comparison.label else ""
    ax.set_title(f"Repository{label}: RMSE {comparison.rmse:.2f} meV/atom "
                 f"({len(comparison.ids)} structures)", fontsize=9)
    return fig


def plot_repository_hull(formation: FormationEnergies, elements, card=None):
    """Formation energies (eV/atom) against the fraction of ``elements[1]``: the Repository's
    DFT structures and DFT hull, its MLP hull, and our card's hull when ``card`` has one."""
    import matplotlib.pyplot as plt

    def xy(rows):
        rows = [r for r in rows if r["energy"] is not None and len(r["composition"]) > 1]
        rows = sorted(rows, key=lambda r: r["composition"][1])
        return [r["composition"][1] for r in rows], [r["energy"] for r in rows]

    fig, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
    ax.scatter(*xy(formation.dft), s=10, color="0.4", label="DFT structures")
    ax.plot(*xy(formation.hull_dft), "o-", color="tab:red", label="DFT hull")
    if formation.hull_mlp:
        ax.plot(*xy(formation.hull_mlp), "s--", color="tab:blue", ms=4, mfc="none",
                label="Repository MLP hull")
    hull = (card and card.hull) or {}
    if "formation_energies" in hull:
        ax.plot(*hull_points(hull, stable=True), "^:", color="tab:green",
                label="our card's hull (prototypes)")
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_xlabel(f"x ({elements[1]})" if len(elements) > 1 else "x")
    ax.set_ylabel("formation energy (eV/atom)")
    ax.legend(fontsize=9)
    return fig


def plot_property_parity(comparison: RepositoryComparison):
    """Ours against the Repository's, per matched prototype: relaxed energy (eV/atom),
    volume (Å³/atom) and bulk modulus (GPa)."""
    import matplotlib.pyplot as plt

    fields = [("energy_eV_per_atom", "energy (eV/atom)"),
              ("volume_A3_per_atom", "volume (Å³/atom)"),
              ("bulk_modulus_GPa", "bulk modulus (GPa)")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), constrained_layout=True)
    for ax, (name, label) in zip(axes, fields):
        points = [(r[name]["repository"], r[name]["ours"], r["repository"])
                  for r in comparison.prototypes
                  if r[name]["ours"] is not None and r[name]["repository"] is not None]
        if points:
            x, y, labels = zip(*points)
            ax.scatter(x, y, s=14)
            for xi, yi, text in zip(x, y, labels):
                ax.annotate(text, (xi, yi), fontsize=9, xytext=(2, 2), textcoords="offset points")
            low, high = min(x + y), max(x + y)
            pad = 0.05 * (high - low or abs(high) or 1.0)
            ax.plot([low - pad, high + pad], [low - pad, high + pad], color="0.5", lw=0.8)
        else:
            ax.text(0.5, 0.5, "nothing to compare", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_xlabel(f"Repository {label}")
        ax.set_ylabel(f"ours {label}")
    return fig


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def _fmt(value, digits=4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def comparison_rows(comparison: RepositoryComparison) -> list:
    """Table rows (strings) of a comparison: prototype, our key, then ours / Repository of
    E (eV/atom), V (Å³/atom), B0 (GPa), a (Å), C11 C12 C44 (GPa)."""
    def both(pair, digits=5):
        return f"{_fmt(pair['ours'], digits)} / {_fmt(pair['repository'], digits)}"

    def elastic(e, side):
        return " ".join(_fmt(e[n][side], 4) for n in ("C11", "C12", "C44"))

    return [[r["repository"], r["key"], both(r["energy_eV_per_atom"], 6),
             both(r["volume_A3_per_atom"]), both(r["bulk_modulus_GPa"]), both(r["lattice_A"]["a"]),
             f"{elastic(r['elastic_GPa'], 'ours')} / {elastic(r['elastic_GPa'], 'repository')}"]
            for r in comparison.prototypes]


COMPARISON_HEADER = ["Repository prototype", "our card key", "E ours / Repository (eV/atom)",
                     "V (Å³/atom)", "B0 (GPa)", "a (Å)", "C11 C12 C44 (GPa)"]


def comparison_html(comparison: RepositoryComparison, images=()) -> str:
    """An HTML fragment: the matched prototypes (ours / Repository), the Repository's DFT
    errors, the unmatched prototypes; ``images`` are file names shown below."""
    summary = comparison.summary
    parts = [f"<p>{summary['n_matched']} prototypes matched; energy difference ours − "
             f"Repository: RMSE {_fmt(summary['energy_rmse_meV_per_atom'], 3)} meV/atom, "
             f"largest {_fmt(summary['energy_max_abs_difference_meV_per_atom'], 3)} meV/atom."
             "</p>", html_table(COMPARISON_HEADER, comparison_rows(comparison))]
    if comparison.dft_comparison:
        parts.append("<p>The Repository's MLP against DFT: " + "; ".join(
            f"{html.escape(label or 'all')}: RMSE {s['rmse_meV_per_atom']:.2f} meV/atom over "
            f"{s['n']} structures" for label, s in comparison.dft_comparison.items()) + "</p>")
    if comparison.unmatched_repository:
        parts.append("<p>Not matched:</p><ul>" + "".join(
            f"<li>{html.escape(u['repository'])}: {html.escape(str(u['reason']))}</li>"
            for u in comparison.unmatched_repository) + "</ul>")
    if comparison.missing:
        parts.append("<p>Missing in the entry: " + html.escape("; ".join(comparison.missing))
                     + "</p>")
    parts += [f'<img src="{html.escape(name)}" style="max-width:48%">' for name in images]
    return "\n".join(parts)


def repository_figures(card: PropertyCard, predictions: RepositoryPredictions, comparison=None) -> dict:
    """{file name: PNG bytes}: ``repository_properties.png`` (ours vs the Repository's),
    ``repository_parity[_<label>].png`` per DFT comparison, ``repository_hull.png``."""
    comparison = comparison or compare_with_repository(card, predictions)
    figures = {}
    if comparison.prototypes:
        figures["repository_properties.png"] = _png(plot_property_parity(comparison))
    for label, dft in predictions.comparisons.items():
        name = f"repository_parity_{label}.png" if label else "repository_parity.png"
        figures[re.sub(r"[^\w.\-]", "_", name)] = _png(plot_dft_parity(dft))
    if predictions.formation is not None and predictions.formation.dft:
        figures["repository_hull.png"] = _png(
            plot_repository_hull(predictions.formation, card.elements, card))
    return figures


def write_repository_comparison(card: PropertyCard, predictions: RepositoryPredictions, out_dir,
                                *, title: str = "") -> dict:
    """Write, in ``out_dir`` (a card's folder), ``repository_comparison.json``
    (:func:`compare_with_repository` plus the plot names), the plots of
    :func:`repository_figures` and ``repository.html``; each file atomically, after
    everything has been computed. Returns {"json", "html", "plots"} paths and the
    "comparison" (:class:`RepositoryComparison`)."""
    comparison = compare_with_repository(card, predictions)
    figures = repository_figures(card, predictions, comparison)
    text = json.dumps({**comparison.as_dict(), "plots": list(figures)}, indent=1)
    page = html_page(title or "Repository comparison", (
        f"<p>Our card beside the Repository's predictions ({html.escape(predictions.folder)})."
        f"</p>{comparison_html(comparison, figures)}"
        '<p><a href="repository_comparison.json">repository_comparison.json</a></p>'))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = [write_bytes_atomic(out_dir / name, data) for name, data in figures.items()]
    json_path = write_text_atomic(out_dir / "repository_comparison.json", text)
    html_path = write_text_atomic(out_dir / "repository.html", page)
    return {"json": json_path, "html": html_path, "plots": plots, "comparison": comparison}


def prediction_rows(predictions: RepositoryPredictions) -> list:
    """Table rows (strings) of the Repository's prototypes: name, E (eV/atom), V (Å³/atom),
    B0 (GPa), a b c (Å), C11 C12 C44 (GPa)."""
    return [[name, _fmt(p.energy, 6), _fmt(p.volume, 5), _fmt(p.bulk_modulus, 4),
             " ".join(_fmt((p.lattice or {}).get(k), 5) for k in ("a", "b", "c")),
             " ".join(_fmt(p.elastic[i][j], 4) for i, j in ((0, 0), (0, 1), (3, 3)))
             if p.elastic else "–"] for name, p in predictions.prototypes.items()]


PREDICTION_HEADER = ["prototype", "E (eV/atom)", "V (Å³/atom)", "B0 (GPa)", "a b c (Å)",
                     "C11 C12 C44 (GPa)"]


def predictions_html(predictions: RepositoryPredictions) -> str:
    """An HTML fragment: the Repository's prototypes (:func:`prediction_rows`), its MLP's
    errors against DFT and what the entry lacks."""
    errors = "; ".join(
        f"{html.escape(label or 'all')}: RMSE {c.rmse:.2f} meV/atom over {len(c.ids)} "
        "structures" for label, c in predictions.comparisons.items())
    missing = (f"<p>Missing: {html.escape('; '.join(predictions.missing))}</p>"
               if predictions.missing else "")
    return ("<h4>The Repository's predictions</h4>"
            + html_table(PREDICTION_HEADER, prediction_rows(predictions))
            + (f"<p>MLP against DFT: {errors}</p>" if errors else "") + missing)

"""Property card of a potential: what the Repository shows, computed with any ASE calculator.

``compute_card`` relaxes every prototype of the potential's elements (and, for two elements,
every binary prototype), then for the lowest-energy structures computes the equation of
state, lattice constants, elastic constants and the phonon DOS; for binaries formation
energies and the convex hull. A structure that fails (no convergence, an exception) is
recorded under ``failures``, never aborts the card. ``write_card`` writes card.json, plots
and a static index.html.

Units: energies eV/atom, lengths Å, volumes Å³/atom, moduli and Cij GPa, frequencies THz.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from . import prototypes as protos
from . import repository
from ..extrapolation import calculator_grade
from ..files import AsDict, jsonable
from .hull import composition_fraction, convex_hull, formation_energies
from .mechanics import elastic_constants, equation_of_state, lattice_constants, relax
from .phonons import phonon_properties

index_repository = repository.index_repository  # moved to repository.py; importable here too


@dataclass
class PropertyCard(AsDict):
    """A potential's property card. Each part maps a structure key to its value: the key is
    the prototype's name, for a binary "<prototype>:<A><B>" and for one of its elements
    "<prototype>:<A>".

    ``energies`` (eV/atom after relaxation), ``lattice`` (a, b, c Å and angles of the
    standardised conventional cell), ``eos`` (v0 Å³/atom, b0 GPa, b0_prime and the E–V
    points), ``elastic`` (6×6 Cij GPa, Voigt order xx yy zz yz xz xy), ``elastic_moduli``
    (Voigt/Reuss/Hill bulk and shear moduli GPa, stability), ``phonon_dos``
    (frequencies_THz, dos, imaginary flag), ``failures`` (reasons; also unconverged
    relaxations and imaginary phonons), ``timings`` (seconds), ``composition`` (x of the
    second element). ``extrapolation`` (each relaxed structure's extrapolation grade, when the
    potential has one: above 1 it extrapolates, flagged in ``failures``), ``hull`` (binaries: references, formation energies, composition_x,
    e_above_hull, stable keys), ``label`` and ``source`` (of a peer's card) and ``peer`` (a
    second potential's card) are None where absent, and left out of :meth:`as_dict`.
    """

    elements: list
    energies: dict = field(default_factory=dict)
    lattice: dict = field(default_factory=dict)
    eos: dict = field(default_factory=dict)
    elastic: dict = field(default_factory=dict)
    elastic_moduli: dict = field(default_factory=dict)
    phonon_dos: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    composition: dict = field(default_factory=dict)
    extrapolation: dict | None = None
    hull: dict | None = None
    label: str | None = None
    source: str | None = None
    peer: PropertyCard | None = None

    def as_dict(self) -> dict:
        """The card's JSON document (card.json), parts that are None left out."""
        return {f.name: value.as_dict() if f.name == "peer" else jsonable(value)
                for f in fields(self) if (value := getattr(self, f.name)) is not None}

    @classmethod
    def from_dict(cls, document: dict) -> PropertyCard:
        """The card of a JSON document (card.json, :meth:`as_dict`)."""
        peer = document.get("peer")
        return cls(**{**document, "peer": cls.from_dict(peer) if peer else None})


def compute_card(potential, elements=None, *, prototypes=None, n_detailed: int = 3,
                 phonon_supercell=(3, 3, 3), phonon_mesh=(16, 16, 16), relax_steps: int = 300,
                 fmax: float = 1e-3, progress: bool = True, peer=None) -> PropertyCard:
    """The :class:`PropertyCard` of ``potential`` (a Potential or any ASE calculator).

    elements : the potential's elements by default (one or two).
    prototypes : names to relax (default: every element prototype, plus every binary one
        for two elements).
    n_detailed : the lowest-energy structures per composition (element, and each binary
        composition on or near the hull) that get EOS, elastic constants and phonons.

    peer : a second potential to put beside this one: an ``.eam.alloy`` file (str or Path,
        evaluated by :class:`~polymlp_lab.properties.eam_calculator.EAMCalculator`) or any
        ASE calculator. Its card, on the same elements and prototypes with the same settings,
        is ``card.peer`` (with ``label`` and ``source``; ``timings["peer_s"]``). An EAM file
        that is unreadable or lacks an element is refused before any work
        (:class:`~polymlp_lab.properties.eam_calculator.EAMFileError`,
        :class:`~polymlp_lab.properties.eam_calculator.EAMElementError`).
    """
    from tqdm.auto import tqdm

    from ..calculator import PolymlpCalculator
    from ..potential import Potential

    calc = PolymlpCalculator(potential) if isinstance(potential, Potential) else potential
    elements = tuple(getattr(potential, "elements", ()) if elements is None else elements)
    if len(elements) not in (1, 2):
        raise ValueError(f"cards cover one or two elements, not {elements}")
    if peer is not None:
        from .eam_calculator import peer_calculator

        peer_calc, peer_label, peer_source = peer_calculator(peer, elements)
        settings = dict(prototypes=prototypes, n_detailed=n_detailed,
                        phonon_supercell=phonon_supercell, phonon_mesh=phonon_mesh,
                        relax_steps=relax_steps, fmax=fmax, progress=progress)
        card = compute_card(calc, elements, **settings)
        other = compute_card(peer_calc, elements, **settings)
        other.label, other.source = peer_label, peer_source
        card.peer = other
        card.timings["peer_s"] = other.timings["total_s"]
        return card
    jobs = []  # (key, prototype name, decoration)
    names = prototypes or (protos.element_prototypes() + (protos.binary_prototypes() if len(elements) == 2 else []))
    for name in names:
        proto = protos.get_prototype(name)
        if proto.kind == "element":
            jobs += [(f"{name}:{e}" if len(elements) == 2 else name, name, (e,)) for e in elements]
        elif len(elements) == 2:
            jobs += [(f"{name}:{elements[0]}{elements[1]}", name, elements),
                     (f"{name}:{elements[1]}{elements[0]}", name, elements[::-1])]
    card = PropertyCard(list(elements))
    relaxed = {}
    start = time.perf_counter()
    for key, name, decoration in tqdm(jobs, desc="relax", disable=not progress):
        try:
            atoms = protos.build(name, decoration)
            result = relax(atoms, calc, fmax=fmax, steps=relax_steps)
        except Exception as exc:  # recorded in the card
            card.failures[key] = f"{type(exc).__name__}: {exc}"
            continue
        if not result.converged:
            card.failures[key] = f"relaxation not converged in {result.steps} steps (kept)"
        relaxed[key] = result.atoms
        card.energies[key] = result.energy_per_atom
        card.composition[key] = (composition_fraction(result.atoms, elements)
                                    if len(elements) == 2 else 0.0)
        grade = calculator_grade(calc, result.atoms)
        if grade is not None:
            card.extrapolation = {**(card.extrapolation or {}), key: grade}
            if grade > 1:
                card.failures[key + " extrapolation"] = (
                    f"extrapolation grade {grade:.3g} > 1: outside what the potential was "
                    "trained on")
        try:
            card.lattice[key] = lattice_constants(result.atoms).as_dict()
        except Exception as exc:
            card.failures[key + " lattice"] = f"{type(exc).__name__}: {exc}"
    card.timings["relax_s"] = time.perf_counter() - start

    if len(elements) == 2:
        card.hull = _hull(card, elements)
    detailed = _detailed_keys(card, elements, n_detailed)
    start = time.perf_counter()
    for key in tqdm(detailed, desc="properties", disable=not progress):
        atoms = relaxed[key]
        for part, function in (
            ("eos", lambda a: equation_of_state(a, calc)),
            ("elastic", lambda a: elastic_constants(a, calc)),
            ("phonon_dos", lambda a: phonon_properties(a, calc, supercell=phonon_supercell,
                                                       mesh=phonon_mesh, band_path=False)),
        ):
            try:
                value = function(atoms).as_dict()
            except Exception as exc:
                card.failures[f"{key} {part}"] = f"{type(exc).__name__}: {exc}"
                continue
            if part == "elastic":
                card.elastic_moduli[key] = {k: v for k, v in value.items() if k != "C"}
                value = value["C"]
            if part == "phonon_dos":
                value = {k: value[k] for k in ("frequencies_THz", "dos", "imaginary",
                                                "min_frequency_THz") if k in value}
                if value.get("imaginary"):
                    card.failures[f"{key} phonons"] = (
                        f"imaginary modes (lowest {value['min_frequency_THz']:.2f} THz)")
            getattr(card, part)[key] = value
    card.timings["properties_s"] = time.perf_counter() - start
    card.timings["total_s"] = card.timings["relax_s"] + card.timings["properties_s"]
    return PropertyCard.from_dict(card.as_dict())  # plain numbers, as in card.json


def _hull(card, elements) -> dict:
    """Formation energies against the lowest elemental structures, and the convex hull."""
    own = {e: [v for k, v in card.energies.items() if k.endswith(f":{e}")] for e in elements}
    refs = {e: min(values) for e, values in own.items() if values}
    if len(refs) < 2:
        return {"error": "no elemental reference relaxed"}
    keys = list(card.energies)
    points = formation_energies([(card.composition[k], card.energies[k]) for k in keys],
                                [refs[e] for e in elements])
    x, e_form = (np.array(values) for values in zip(*points))
    hull = convex_hull(x, e_form)
    return {
        "references": refs,
        "formation_energies": dict(zip(keys, e_form.tolist())),
        "composition_x": dict(zip(keys, x.tolist())),
        "e_above_hull": dict(zip(keys, hull.e_above_hull.tolist())),
        "stable": [keys[i] for i in hull.stable],
    }


def _detailed_keys(card, elements, n_detailed) -> list:
    """The lowest-energy structures of each element, and the stable binaries; none for
    ``n_detailed`` 0 (a card of energies, and the hull, only)."""
    if n_detailed <= 0:
        return []
    order = {k: n for n, k in enumerate(card.energies)}  # the library's order breaks ties
    chosen = []
    for e in elements:
        own = sorted(((round(v, 4), order[k], k, v) for k, v in card.energies.items()
                      if (k.endswith(f":{e}") if len(elements) == 2 else True)))
        picked = []
        for _, _, k, v in own:
            # many prototypes relax into a higher-symmetry one: keep distinct energies only
            if all(abs(v - card.energies[p]) > 1e-4 for p in picked):
                picked.append(k)
            if len(picked) == n_detailed:
                break
        chosen += picked
    if len(elements) == 2 and "stable" in card.hull:
        chosen += [k for k in card.hull["stable"] if k not in chosen
                   and 0 < card.composition[k] < 1][:n_detailed]
    return chosen


def plot_card(card, out_dir) -> list:
    """PNG plots of a card: energies of the prototypes, E–V curves, phonon DOS, hull."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written = []
    energies = sorted(card.energies.items(), key=lambda kv: kv[1])
    if energies:
        fig, ax = plt.subplots(figsize=(6, 0.28 * len(energies) + 1.2), constrained_layout=True)
        ax.barh([k for k, _ in energies], [v - energies[0][1] for _, v in energies])
        ax.invert_yaxis()
        ax.set_xlabel("energy above the lowest (eV/atom)")
        ax.tick_params(axis="y", labelsize=9)
        written.append(_save(fig, out_dir / "energies.png"))
    for part, x, y, style, xlabel, ylabel in (
            ("eos", "volumes", "energies", "o-", "volume (Å³/atom)", "energy (eV/atom)"),
            ("phonon_dos", "frequencies_THz", "dos", "-", "frequency (THz)", "DOS")):
        if getattr(card, part):
            fig, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
            for key, curve in getattr(card, part).items():
                ax.plot(curve[x], curve[y], style, ms=3, label=key)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=9)
            written.append(_save(fig, out_dir / f"{part}.png"))
    hull = card.hull or {}
    if "formation_energies" in hull:
        fig, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
        ax.scatter(*hull_points(hull), s=10, color="0.5")
        ax.plot(*hull_points(hull, stable=True), "o-", color="tab:red")
        ax.set_xlabel(f"x ({card.elements[1]})")
        ax.set_ylabel("formation energy (eV/atom)")
        written.append(_save(fig, out_dir / "hull.png"))
    return written


def hull_points(hull, stable: bool = False) -> tuple:
    """(x, formation energy eV/atom) of every structure of a card's hull, or with ``stable``
    of those on the hull, in increasing x."""
    keys = (sorted(hull["stable"], key=hull["composition_x"].get) if stable
            else list(hull["formation_energies"]))
    return [hull["composition_x"][k] for k in keys], [hull["formation_energies"][k] for k in keys]


def _save(fig, path):
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_card(card, out_dir, *, title="polymlp-lab card") -> Path:
    """card.json, the plots and a static index.html in ``out_dir``; returns index.html.

    A card with a peer (``compute_card(..., peer=...)``) also gets: the peer's own card in
    ``out_dir/peer`` (card.json, plots, index.html), compare.png (both side by side: prototype
    energies or, for a binary, formation energies and the two convex hulls, V0 and B0, phonon
    DOS) and the peer's energies (and formation energies) beside ours in the table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "card.json").write_text(json.dumps(card.as_dict(), indent=1))
    plots = plot_card(card, out_dir)
    peer = card.peer
    peer_link = ""
    keys = sorted(card.energies, key=card.energies.get)
    columns = [("E (eV/atom)", card.energies)]  # the energies in the table: (header, values)
    if peer is not None:
        peer_label = peer.label or "peer"
        peer_index = write_card(peer, out_dir / "peer", title=peer_label)
        compare_cards({card.label or "MLP": card}, out_dir)
        plots = [out_dir / "compare.png"] + plots
        peer_link = (f'<p>Peer: <a href="peer/{peer_index.name}">{html.escape(peer_label)}</a>'
                     f' ({html.escape(peer.source or "")}), computed in '
                     f'{peer.timings["total_s"]:.1f} s on the same prototypes.</p>')
        columns.append(("E peer (eV/atom)", peer.energies))
        # structures only the peer relaxed come last
        keys += [k for k in sorted(peer.energies, key=peer.energies.get)
                 if k not in card.energies]
    for which, source in (("", card), (" peer", peer)):
        formation = ((source and source.hull) or {}).get("formation_energies")
        if formation is not None:
            columns.append((f"E<sub>f</sub>{which} (eV/atom)", formation))
    if card.extrapolation:
        columns.append(("extrapolation grade (&gt; 1: extrapolates)", card.extrapolation))
    header = (["structure"] + [name for name, _ in columns]
              + ["a b c (Å)", "V0 (Å³/atom)", "B0 (GPa)", "C11 C12 C44 (GPa)"])
    rows = []
    for key in keys:
        lat = card.lattice.get(key, {})
        eos = card.eos.get(key, {})
        c = card.elastic.get(key) or None
        rows.append([key] + ["" if values.get(key) is None else f"{values[key]:.4f}"
                             for _, values in columns]
                    + [" ".join(f"{lat[k]:.3f}" for k in ("a", "b", "c") if lat.get(k) is not None),
                       f"{eos['v0']:.3f}" if eos.get("v0") else "",
                       f"{eos['b0']:.1f}" if eos.get("b0") else "",
                       f"{c[0][0]:.1f} {c[0][1]:.1f} {c[3][3]:.1f}" if c else ""])
    failures = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>"
                       for k, v in card.failures.items())
    images = "".join(f'<img src="{p.name}" style="max-width:{98 if p.name == "compare.png" else 48}%">'
                     for p in plots)
    index = out_dir / "index.html"
    index.write_text(html_page(title, "\n".join([
        f"<p>Elements: {html.escape(' '.join(card.elements))}. Card computed in "
        f"{card.timings['total_s']:.1f} s.</p>",
        peer_link + html_table(header, rows),
        f"{images}<h2>Failures and warnings</h2><ul>{failures or '<li>none</li>'}</ul>",
        '<p><a href="card.json">card.json</a></p>'])))
    return index


def html_table(header, rows) -> str:
    """An HTML table: ``header`` (HTML) above ``rows`` (lists of cells, escaped here)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_page(title: str, body: str) -> str:
    """A static HTML page (UTF-8) titled ``title`` around ``body``, in the style of every page
    we write."""
    title = html.escape(title)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>\n'
            "<style>body{font-family:sans-serif;margin:2em}"
            "td,th{padding:2px 8px;border-bottom:1px solid #ddd}</style>\n"
            f"</head><body><h1>{title}</h1>\n{body}</body></html>")


def compare_cards(cards: dict, out_dir=None):
    """Side-by-side figure of several cards ({label: card}): prototype energies (relative to
    the lowest; for binaries the formation energies), for binaries the formation energies
    against composition with each card's convex hull, equilibrium volumes and bulk moduli,
    phonon DOS (e.g. an MLP against EAM, or the Pareto set of a grid search). A card that holds
    a peer (``compute_card(..., peer=...)``) brings it along, labelled with the peer's label.
    Saved as compare.png in ``out_dir`` when given."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    expanded = {}
    for label, card in cards.items():
        expanded[label] = card
        peer = card.peer
        if peer:
            peer_label = peer.label or "peer"
            if len(cards) > 1 or peer_label in expanded:
                peer_label = f"{label}: {peer_label}"
            expanded[peer_label] = peer
    cards = expanded
    binary = bool(cards) and all("formation_energies" in (c.hull or {}) for c in cards.values())
    keys = list(dict.fromkeys(k for c in cards.values() for k in c.energies))
    # readable at a laptop's 100 % zoom: at most 12 in wide, 9 pt and up; many prototypes get
    # the energy panel to themselves on a row
    if binary:
        panels = ([["E", "E"], ["H", "V"], ["D", "."]] if len(keys) > 12
                  else [["E", "H"], ["V", "D"]])
    else:
        panels = [["E", "E"], ["V", "D"]] if len(keys) > 8 else [["E", "V", "D"]]
    fig_width = 12.0 if len(panels[0]) == 3 else 11.0
    fig, named = plt.subplot_mosaic(panels, figsize=(fig_width, 4.4 * len(panels)),
                                    constrained_layout=True)
    ax_energy, ax_eos, ax_dos = named["E"], named["V"], named["D"]
    axes = [ax_energy, named["H"], ax_eos, ax_dos] if binary else [ax_energy, ax_eos, ax_dos]
    if binary:  # by composition, then by name
        x_of = {k: x for c in cards.values() for k, x in c.hull["composition_x"].items()}
        keys.sort(key=lambda k: (x_of.get(k, 2.0), k))
    else:
        keys.sort()
    width = 0.8 / max(1, len(cards))
    for n, (label, card) in enumerate(cards.items()):
        color = f"C{n % 10}"
        if binary:
            values = [card.hull["formation_energies"].get(k, np.nan) for k in keys]
            axes[1].scatter(*hull_points(card.hull), s=12, color=color, alpha=0.6,
                            label=f"{label}")
            axes[1].plot(*hull_points(card.hull, stable=True), "-", color=color,
                         label=f"{label} hull")
        else:
            lowest = min(card.energies.values()) if card.energies else 0.0
            values = [card.energies.get(k, np.nan) - lowest for k in keys]
        ax_energy.bar(np.arange(len(keys)) + n * width, values, width, label=label, color=color)
        markers = "osD^vP*X"
        for m, (key, eos) in enumerate(card.eos.items()):
            ax_eos.scatter(eos["v0"], eos["b0"], color=color, marker=markers[m % len(markers)],
                           label=f"{label} {key}")
        styles = ["-", "--", ":", "-."]
        for m, (key, dos) in enumerate(card.phonon_dos.items()):
            ax_dos.plot(dos["frequencies_THz"], dos["dos"], styles[m % len(styles)], color=color,
                        label=f"{label} {key}")
    ax_energy.set_xticks(np.arange(len(keys)) + width * (len(cards) - 1) / 2, keys, rotation=90,
                         fontsize=9)
    ax_energy.set_ylabel("formation energy (eV/atom)" if binary
                         else "energy above the lowest (eV/atom)")
    if binary:
        elements = next(iter(cards.values())).elements
        axes[1].axhline(0.0, color="0.7", lw=0.8)
        axes[1].set_xlabel(f"x ({elements[1]}) in {elements[0]}$_{{1-x}}${elements[1]}$_x$")
        axes[1].set_ylabel("formation energy (eV/atom)")
    ax_eos.set_xlabel("V0 (Å³/atom)")
    ax_eos.xaxis.set_major_locator(MaxNLocator(5))
    ax_eos.set_ylabel("B0 (GPa)")
    ax_dos.set_xlabel("frequency (THz)")
    ax_dos.set_ylabel("phonon DOS")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=9)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        _save(fig, Path(out_dir) / "compare.png")
    return fig

"""Figure 5: random structure search in Al–Cu.

The search of Wakai, Seko and Tanaka (J. Ceram. Soc. Jpn. 131, 762 (2023)) on a small scale:
random cells of every Al/Cu count up to 8 atoms relaxed with the Al–Cu potential shipped with
the package (rsspolymlp's example), duplicates removed, the convex hull, and the structures on
and near it named by space group and, where one of the package's prototypes relaxes into the
same structure, by its Strukturbericht name. The search is run twice with different seeds: the
hull must come out the same. Compared with the Materials Project (PBE) hull of Al–Cu.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from .. import PolymlpCalculator, data, load_potential
from ..properties.mechanics import relax
from ..properties.hull import composition_fraction
from ..properties.prototypes import binary_prototypes, build
from ..simulations.random_cells import enumerate_compositions
from ..simulations.structure_search import plot_hull, run_search
from .comparison import Comparison, FigureResult

ELEMENTS = ("Al", "Cu")
MAX_ATOMS = 8
TRIALS = 880            # per seed: 20 per composition (44 compositions of up to 8 atoms)
TRIALS_SCALED = 8800    # 200 per composition
SEEDS = (1, 2)
RELAX = dict(fmax=0.05, steps=300)
SAME_HULL_MEV = 5.0     # largest difference of the two seeds' hulls, meV/atom

MATERIALS_PROJECT = "Materials Project (PBE, GGA/GGA+U), materials {} (energy above hull {})"
# theta' (mp-985806) is on MP's hull at -0.178 eV/atom; theta (C16, mp-998) 0.021 eV/atom above
THETA_PRIME_MP = -0.178
THETA_MP_ABOVE = 0.021
TOLERANCE = 0.03  # eV/atom: PBE of other codes and settings, and the potential's own error
KNOWN_PHASES = {  # of the phases of Al-Cu, those whose primitive cell has at most 8 atoms
    "θ-Al2Cu": ("C16", ("Al", "Cu")),      # I4/mcm, 6 atoms: the stable phase in experiment
    "θ′-Al2Cu": ("C1", ("Cu", "Al")),      # CaF2-like, 3 atoms: the metastable precipitate
    "β-AlCu3": ("D0_3", ("Cu", "Al")),     # bcc-based, 4 atoms: high-temperature phase
}
LARGE_PHASES = ("η-AlCu (C2/m, 10 atoms per primitive cell; on MP's hull, mp-2500)",
                "γ-Al4Cu9 (P-43m, 52 atoms; on MP's hull, mp-593)")


def _potential_file() -> str:
    return str(data.potential("Al-Cu"))


def named_prototypes(calc, compositions) -> list:
    """The package's binary prototypes (both decorations) and fcc Al and Cu whose reduced
    composition is one of ``compositions`` (x_Cu values), relaxed with ``calc``; each with
    ``info["name"]`` like "C16:AlCu"."""
    wanted = {round(float(x), 6) for x in compositions}
    structures = []
    for name in ["fcc"] + binary_prototypes():
        decorations = [("Al",), ("Cu",)] if name == "fcc" else [ELEMENTS, ELEMENTS[::-1]]
        for decoration in decorations:
            atoms = build(name, list(decoration))
            if round(_x_cu(atoms), 6) not in wanted or len(atoms) > 24:
                continue
            result = relax(atoms, calc, fmax=1e-3)
            result.atoms.info["name"] = f"{name}:{''.join(decoration)}"
            structures.append(result.atoms)
    return structures


def same_structure(a, b) -> bool:
    """ASE's symmetry-equivalence check, volumes scaled (relaxed by one potential, within
    its tolerances)."""
    from ase.utils.structure_comparator import SymmetryEquivalenceCheck

    return SymmetryEquivalenceCheck(ltol=0.1, stol=0.1, angle_tol=2.0, vol_tol=0.1,
                                    scale_volume=True).compare(a, b)


def prototype_name(entry, library) -> str:
    """The Strukturbericht name of the first library structure ``entry`` is, or ""."""
    for atoms in library:
        if atoms.get_chemical_formula(empirical=True) == entry.atoms.get_chemical_formula(
                empirical=True) and same_structure(entry.atoms, atoms):
            return atoms.info["name"].split(":")[0]
    return ""


def hull_difference_meV(first, second) -> float:
    """Largest |difference| (meV/atom) of two searches' hulls, piecewise linear in x, over
    the corners of both."""
    x = np.union1d(first.hull_x, second.hull_x)
    return float(1000 * np.max(np.abs(np.interp(x, first.hull_x, first.hull_formation_energy)
                                      - np.interp(x, second.hull_x,
                                                  second.hull_formation_energy))))


def _x_cu(atoms) -> float:
    return composition_fraction(atoms, ELEMENTS)


def _formation(atoms, references) -> tuple:
    x = _x_cu(atoms)
    energy = atoms.get_potential_energy() / len(atoms)
    return x, energy - (1 - x) * references["Al"] - x * references["Cu"]


def _above(hull, x: float, e_f: float) -> float:
    return e_f - float(np.interp(x, hull.hull_x, hull.hull_formation_energy))


def run(*, scale_up: bool = False, workdir=None, progress: bool = False) -> FigureResult:
    """Figure 5 (see the module docstring): two searches of ``TRIALS`` (``TRIALS_SCALED``
    with ``scale_up``) trials each on two Dask workers, resumed from ``workdir`` on a rerun."""
    start = time.perf_counter()
    workdir = Path(workdir or tempfile.mkdtemp(prefix="polymlp_figure5_"))
    trials = TRIALS_SCALED if scale_up else TRIALS
    searches = [run_search(_potential_file(), ELEMENTS, max_atoms=MAX_ATOMS, trials=trials,
                           seed=seed, out=workdir / f"rss-seed{seed}", n_workers=2,
                           progress=progress, **RELAX) for seed in SEEDS]
    result = searches[0]
    calc = PolymlpCalculator(load_potential(_potential_file()))
    near = [e for e in result.entries if e.e_above_hull <= result.window_meV / 1000]
    # the known phases come from the same relaxed library that names the search's structures
    known_x = {_x_cu(build(p, list(d))) for p, d in KNOWN_PHASES.values()}
    library = named_prototypes(calc, {e.x_B for e in near} | known_x)
    names = {e.name: prototype_name(e, library) for e in near}
    by_name = {atoms.info["name"]: atoms for atoms in library}
    placed = {label: _formation(by_name[f"{p}:{''.join(d)}"], result.references)
              for label, (p, d) in KNOWN_PHASES.items()}

    figure, (ax_hull, ax_seeds) = _draw(searches, near, names, placed)

    theta_x, theta = placed["θ-Al2Cu"]
    _, theta_prime = placed["θ′-Al2Cu"]
    comparisons = (
        Comparison("θ′-Al2Cu (C1) formation energy, MLP", theta_prime, THETA_PRIME_MP,
                   TOLERANCE, "eV/atom", MATERIALS_PROJECT.format("mp-985806", "0"),
                   why="PBE of other codes and settings, and the potential's own error"),
        Comparison("θ-Al2Cu (C16) above θ′, MLP", theta - theta_prime, THETA_MP_ABOVE,
                   TOLERANCE, "eV/atom", MATERIALS_PROJECT.format("mp-998", "0.021 eV/atom"),
                   why="as above; the θ/θ′ order at 0 K is the test (Wolverton and Ozoliņš, "
                       "Phys. Rev. Lett. 86, 5518 (2001))"),
    )
    difference = hull_difference_meV(*searches)
    stable_x = [sorted(round(e.x_B, 4) for e in s.stable) for s in searches]
    checks = {
        f"a rerun with another seed finds the same hull (within {SAME_HULL_MEV:g} meV/atom)":
            difference <= SAME_HULL_MEV,
        "every trial relaxed (none failed)": all(not s.failed for s in searches),
        "θ′ lies below θ at 0 K, as in DFT": theta_prime < theta,
        "θ′-Al2Cu lies within 5 meV/atom of the search's hull":
            _above(result, theta_x, theta_prime) <= 0.005,
        "the search's hull is below 0 at every intermediate composition":
            bool(np.all(result.hull_formation_energy[1:-1] < 0)),
    }
    gaps = tuple(f"{p}: larger than the search's cells, so not found here" for p in LARGE_PHASES)
    if not scale_up:
        gaps += (f"{trials} trials per seed; the paper's searches relax thousands of "
                 "structures per composition (SCALE_UP: ten times more)",)
    return FigureResult(
        number=5, title="Random structure search in Al–Cu", figure=figure,
        comparisons=comparisons, checks=checks, gaps=gaps,
        settings={"scale_up": scale_up, "max_atoms": MAX_ATOMS, "trials_per_seed": trials,
                  "seeds": list(SEEDS), "compositions": len(enumerate_compositions(
                      ELEMENTS, MAX_ATOMS)), **RELAX},
        data={"hull_difference_meV": difference, "stable_x": stable_x,
              "near_hull": [dict(e.as_dict(), prototype=names[e.name]) for e in near],
              "known_phases": {k: {"x_Cu": x, "formation_energy": e}
                               for k, (x, e) in placed.items()}},
        seconds=time.perf_counter() - start)


def _draw(searches, near, names, placed):
    import matplotlib.pyplot as plt
    from ase.formula import Formula

    figure, (ax_hull, ax_seeds) = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
    result = searches[0]
    plot_hull(result, ax=ax_hull)
    offsets = {"θ-Al2Cu": (-70, 8), "θ′-Al2Cu": (-70, -16), "β-AlCu3": (10, 10)}
    for label, (x, e_f) in placed.items():
        ax_hull.scatter([x], [1000 * e_f], marker="D", s=40, facecolors="none",
                        edgecolors="tab:green", zorder=4)
        ax_hull.annotate(label, (x, 1000 * e_f), textcoords="offset points",
                         xytext=offsets.get(label, (10, 4)), fontsize=9, color="tab:green")
    ax_hull.scatter([1 / 3], [1000 * THETA_PRIME_MP], marker="*", s=200, color="k",
                    zorder=5, label="θ′-Al2Cu, DFT (Materials Project)")
    ax_hull.set_ylim(min(ax_hull.get_ylim()[0], -280), ax_hull.get_ylim()[1])
    ax_hull.legend(fontsize=9, loc="upper center", ncol=2)
    ax_hull.set_title(f"Al–Cu, seed {SEEDS[0]}: {len(result.trials)} trials, "
                      f"{len(result.entries)} unique structures")
    for search, seed, style in zip(searches, SEEDS, ("-", "--")):
        ax_seeds.plot(search.hull_x, 1000 * search.hull_formation_energy, style, marker="o",
                      label=f"seed {seed}: "
                      f"{sum(0 < e.x_B < 1 for e in search.stable)} compounds on the hull")
    for e in near:  # the compounds of the first seed's hull, named
        if e.e_above_hull == 0.0 and 0 < e.x_B < 1:
            label = f"{Formula(e.formula).reduce()[0]}\n{e.spacegroup}" + (f" ({names[e.name]})" if names[e.name] else "")
            ax_seeds.annotate(label, (e.x_B, 1000 * e.formation_energy), textcoords="offset points",
                              xytext=(0, 10), ha="center", fontsize=9)
    ax_seeds.set_ylim(ax_seeds.get_ylim()[0] - 20, 60)
    ax_seeds.set_xlabel("x in Al$_{1-x}$Cu$_x$")
    ax_seeds.set_ylabel("hull formation energy (meV/atom)")
    ax_seeds.set_title("the same search, two seeds")
    ax_seeds.legend(fontsize=9)
    figure.suptitle("Figure 5: random structure search in Al–Cu (cells up to 8 atoms)",
                    fontsize=12)
    return figure, (ax_hull, ax_seeds)

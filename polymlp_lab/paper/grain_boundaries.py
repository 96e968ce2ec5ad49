"""Figure 3: grain boundaries.

The energies γ of the fcc ⟨110⟩ symmetric tilt boundaries of aluminium against the tilt angle,
Σ3 to Σ19 (both planes of each Σ), with the shipped Al polynomial MLP and, beside it, the
Sutton–Chen EAM of Al, each searched over rigid translations of the grains and relaxed by
:func:`polymlp_lab.simulations.grain_boundary.search_boundaries`. Tilt angles follow that
module: θ = 2·atan(l / (√2 h)) for the plane (h h l), so the coherent twin Σ3(111) is at
70.53° (papers that measure from (001) put it at 109.47°).

Published numbers marked and compared (module constants, each with its citation):

* **DFT**: none. No DFT γ of these Al boundaries could be read in a source while this module
  was written (:data:`DFT_MJ_M2` is empty; the run lists every boundary in ``gaps``). What is
  verified is qualitative: plane-wave DFT puts Σ11(113) and Σ3(112) at about twice the EAM
  values (:data:`WRIGHT_ATLAS_1994`); it is compared as the ratio MLP / EAM, the MLP standing
  in for DFT.
* The (111) and (113) twins of Al from pseudopotential-based pair potentials, 75 and
  180 mJ/m², and 500–700 mJ/m² for the other symmetric tilt boundaries
  (:data:`GUYOT_SIMON_1976`): compared with both potentials.
* Every boundary of the figure with the Ercolessi–Adams EAM of Al, from the supplementary
  data of Olmsted, Foiles and Holm (:data:`OLMSTED_2009`): drawn as marks and kept in
  ``data`` (another EAM than ours, not DFT: it shows what a force-matched EAM gives, it is no
  target for either potential).

Sizes: the default searches 10 boundaries per potential on a 4 × 4 translation grid in grains
of at least 20 Å (one to two minutes on two cores); ``scale_up`` adds Σ27, a 6 × 6 grid, three
expansions and 25 Å grains with tighter forces (roughly half an hour). Units: γ in mJ/m²,
angles in degrees, lengths in Å.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import PolymlpCalculator, data, load_potential
from ..properties.eam import write_sutton_chen_eam_alloy
from ..properties.eam_calculator import EAMCalculator
from ..simulations.grain_boundary import (RESULTS_FILE, bulk_reference, plot_gb_energies,
                                          search_boundaries, tilt_boundaries, tilt_boundary)
from .comparison import Comparison, FigureResult

NUMBER = 3
TITLE = "Al ⟨110⟩ symmetric tilt grain boundaries"
ELEMENT = "Al"
A_START = 4.05  # Å, the experimental lattice constant: only where the bulk relaxation starts
POTENTIALS = ("MLP", "EAM")

# --- sizes ---------------------------------------------------------------------------------

#: Σ of the default figure: both planes of each, 10 boundaries (Σ3(111) ... Σ19(116)).
SIGMAS = (3, 9, 11, 17, 19)
#: scale_up: the whole table up to Σ27 (12 boundaries).
SIGMAS_SCALED = (3, 9, 11, 17, 19, 27)
#: The default search (passed to search_boundaries): 16 rigid translations of the 1×1
#: boundary cell (the 4 × 4 grid holds the half translations, which the 3 × 3 grid misses:
#: Sutton–Chen Σ3(112) 144 instead of 174 mJ/m²), no expansion, grains of at least 20 Å
#: (36–152 atoms). Thinner grains are cheaper but wrong: at 12 Å the Sutton–Chen Σ9(221)
#: relaxes to 107 mJ/m² against 204 mJ/m² in 20 Å grains (the two boundaries interact).
SEARCH = dict(grid=(4, 4), expansions=(0.0,), fmax=0.01, steps=400, min_thickness=20.0)
#: scale_up: 36 translations × 3 expansions, 25 Å grains, forces to 5 meV/Å.
SEARCH_SCALED = dict(grid=(6, 6), expansions=(0.0, 0.25, 0.5), fmax=0.005, steps=1000,
                     min_thickness=25.0)

# --- published numbers ---------------------------------------------------------------------

#: DFT γ of Al boundaries by plane: (γ mJ/m², tolerance mJ/m², citation, why that tolerance).
#: None could be read in a source (see the module docstring): every boundary of the figure
#: goes to ``gaps``. A verified number added here becomes two comparison rows (MLP, EAM).
DFT_MJ_M2: dict = {}
#: Where DFT numbers for exactly these boundaries are (not read here).
DFT_SOURCES_NOT_READ = (
    "T. Nishiyama, A. Seko and I. Tanaka, \"Application of machine learning potentials to "
    "predict grain boundary properties in fcc elemental metals\", arXiv:2007.15944 (2020) "
    "(MLP against DFT for Al and five other fcc metals)",
    "H. Zheng, X.-G. Li, R. Tran, C. Chen, M. Horton, D. Winston, K. A. Persson and "
    "S. P. Ong, \"Grain boundary properties of elemental metals\", Acta Mater. 186, 40–49 "
    "(2020) (the DFT grain boundary database)",
)

WRIGHT_ATLAS_1994 = (
    "A. F. Wright and S. R. Atlas, Phys. Rev. B 50, 15248–15260 (1994), abstract "
    "(plane-wave pseudopotential DFT of Al): for Σ11(113) and Σ3(112) "
    "\"the density functional theory grain boundary energies were twice as large as the "
    "embedded atom method values\"")
#: DFT / EAM for Σ11(113) and Σ3(112) (Wright & Atlas), and how far "twice" is read.
WRIGHT_ATLAS_RATIO = 2.0
WRIGHT_ATLAS_TOLERANCE = 0.5
WRIGHT_ATLAS_PLANES = ((1, 1, 3), (1, 1, 2))

GUYOT_SIMON_1976 = (
    "P. Guyot and J. P. Simon, \"Symmetrical high-angle tilt boundary energy calculation in "
    "aluminium and lithium\", phys. stat. sol. (a) 38, 207–216 (1976), abstract "
    "(pair interactions from pseudopotentials, not DFT)")
#: Guyot & Simon's (111) and (113) twins of Al, mJ/m².
GUYOT_SIMON_MJ_M2 = {(1, 1, 1): 75.0, (1, 1, 3): 180.0}
#: ... and the range of their other ⟨100⟩ and ⟨110⟩ symmetric tilt boundaries, mJ/m²,
#: "fitted reasonably well" to the experiments of the time.
GUYOT_SIMON_OTHERS_MJ_M2 = (500.0, 700.0)

OLMSTED_2009 = (
    "D. L. Olmsted, S. M. Foiles and E. A. Holm, \"Survey of computed grain boundary "
    "properties in face-centered cubic metals: I. Grain boundary energy\", Acta Mater. 57, "
    "3694–3703 (2009), supplementary data, Al column (Ercolessi–Adams EAM, F. Ercolessi and "
    "J. B. Adams, arXiv:cond-mat/9306054), boundaries identified by the survey's index in "
    "its crystallography table")
#: Olmsted et al.'s γ (mJ/m²) with the Ercolessi–Adams EAM of Al, by plane: (survey index, γ).
OLMSTED_EAM_MJ_M2 = {
    (1, 1, 1): (3, 58.0), (1, 1, 2): (4, 324.0), (2, 2, 1): (19, 426.0), (1, 1, 4): (21, 307.0),
    (1, 1, 3): (33, 129.0), (3, 3, 2): (34, 361.0), (2, 2, 3): (50, 331.0),
    (3, 3, 4): (51, 314.0), (3, 3, 1): (63, 419.0), (1, 1, 6): (64, 347.0),
}

SUTTON_CHEN = ("A. P. Sutton and J. Chen, \"Long-range Finnis–Sinclair potentials\", "
               "Phil. Mag. Lett. 61, 139–146 (1990)")


# --- the computation -----------------------------------------------------------------------

def calculators(workdir) -> dict:
    """{"MLP": the shipped Al polymlp, "EAM": the Sutton–Chen EAM of Al}, ASE calculators; the
    EAM's table is written into ``workdir``."""
    eam_file = write_sutton_chen_eam_alloy((ELEMENT,), Path(workdir) / "SuttonChen_Al.eam.alloy")
    return {"MLP": PolymlpCalculator(load_potential(data.potential(ELEMENT))),
            "EAM": EAMCalculator(eam_file)}


def search(calcs: dict, workdir, *, sigmas=SIGMAS, settings=None, progress: bool = False
           ) -> dict:
    """{potential name: (BulkReference, [GBResult by tilt angle])}: the search of every
    boundary of ``sigmas`` (Σ values or planes) with each calculator, in the run folder
    ``workdir/<name lower-case>`` (a rerun with the same settings resumes it)."""
    settings = dict(SEARCH if settings is None else settings)
    found = {}
    for name, calc in calcs.items():
        out = Path(workdir) / name.lower()
        results = search_boundaries(ELEMENT, A_START, calc, list(sigmas), out=out,
                                    progress=progress, **settings)
        found[name] = (_reference(out, calc), results)
    return found


def _reference(out: Path, calc):
    """The bulk reference the search used: from its gb.json, else computed again."""
    from ..simulations.grain_boundary import BulkReference

    try:
        saved = json.loads((out / RESULTS_FILE).read_text(encoding="utf-8"))["reference"]
        return BulkReference(float(saved["a"]), float(saved["energy_per_atom"]))
    except (OSError, KeyError, ValueError):
        return bulk_reference(ELEMENT, A_START, calc)


def _gammas(results) -> dict:
    return {tuple(r.plane): float(r.energy_mJ_m2) for r in results}


def _label(plane) -> str:
    return tilt_boundary(plane).label


def comparisons(gamma: dict) -> tuple:
    """Comparison rows from {"MLP": {plane: γ}, "EAM": {plane: γ}} (mJ/m²)."""
    rows = []
    for plane, (value, tolerance, source, why) in DFT_MJ_M2.items():  # empty (see gaps)
        for name in POTENTIALS:
            if plane in gamma[name]:
                rows.append(Comparison(
                    quantity=f"γ {_label(plane)}, {name} vs DFT", value=gamma[name][plane],
                    reference=value, tolerance=tolerance, unit="mJ/m²", source=source,
                    why=why, asserted=name == "MLP"))
    for plane, published in GUYOT_SIMON_MJ_M2.items():
        for name in POTENTIALS:
            if plane not in gamma[name]:
                continue
            rows.append(Comparison(
                quantity=f"γ {_label(plane)}, {name}", value=gamma[name][plane],
                reference=published, tolerance=round(published / 3.0), unit="mJ/m²",
                source=GUYOT_SIMON_1976,
                why="a third of the value: published calculations of these two twins scatter "
                    "that much (the Ercolessi–Adams EAM gives 58 and 129 mJ/m², Olmsted et al. "
                    "2009, against these 75 and 180); Guyot & Simon is a pair-potential "
                    "calculation, not DFT", asserted=name == "MLP"))
    low, high = GUYOT_SIMON_OTHERS_MJ_M2
    for name in POTENTIALS:
        others = [g for plane, g in gamma[name].items() if plane not in GUYOT_SIMON_MJ_M2]
        if others:
            rows.append(Comparison(
                quantity=f"mean γ of the {len(others)} other boundaries, {name}",
                value=float(np.mean(others)), reference=(low + high) / 2,
                tolerance=(high - low) / 2, unit="mJ/m²", source=GUYOT_SIMON_1976,
                why=f"their range for the other symmetric tilt boundaries, {low:.0f}–"
                    f"{high:.0f} mJ/m², taken whole as the tolerance (a range over ⟨100⟩ and "
                    "⟨110⟩ boundaries, not a value per boundary)", asserted=name == "MLP"))
    for plane in WRIGHT_ATLAS_PLANES:
        if plane in gamma["MLP"] and plane in gamma["EAM"] and gamma["EAM"][plane] > 0:
            rows.append(Comparison(
                quantity=f"γ(MLP) / γ(EAM) {_label(plane)}",
                value=gamma["MLP"][plane] / gamma["EAM"][plane], reference=WRIGHT_ATLAS_RATIO,
                tolerance=WRIGHT_ATLAS_TOLERANCE, unit="ratio", source=WRIGHT_ATLAS_1994,
                why="\"twice\" read as nearer 2 than 1 or 3. Shown, not asserted: the MLP, "
                    "trained on DFT, stands in for DFT, and Wright & Atlas's EAM (not named "
                    "in the abstract) need not be Sutton–Chen's", asserted=False))
    return tuple(rows)


def checks(gamma: dict) -> dict:
    """The paper's claims that the run measures, from {"MLP": {plane: γ}, "EAM": ...}."""
    held = {}
    twin, second = (1, 1, 1), (1, 1, 3)
    for name in POTENTIALS:
        order = sorted(gamma[name], key=gamma[name].get)
        if twin in gamma[name]:
            held[f"Σ3(111) coherent twin is the lowest boundary ({name})"] = order[0] == twin
        if twin in gamma[name] and second in gamma[name]:
            held[f"Σ11(113) is the lowest after the twin: the second cusp ({name})"] = (
                order[1] == second)
    common = set(gamma["MLP"]) & set(gamma["EAM"])
    if common:
        held["the MLP (trained on DFT) puts every boundary above the Sutton–Chen EAM, as DFT "
             "does for Σ11(113) and Σ3(112) (Wright & Atlas 1994)"] = all(
            gamma["MLP"][p] > gamma["EAM"][p] for p in common)
    return held


def gaps(gamma: dict, *, scale_up: bool, unconverged: dict) -> tuple:
    """What the run cannot match or test, in words."""
    planes = sorted(set(gamma["MLP"]) | set(gamma["EAM"]), key=lambda p: tilt_boundary(p).angle_deg)
    missing = [_label(p) for p in planes if p not in DFT_MJ_M2]
    found = []
    if missing:
        found.append(
            f"no DFT value verified for {', '.join(missing)} here: no DFT γ of these Al "
            "boundaries could be read in a source, so no DFT mark is drawn and \"the MLP is "
            "closer to DFT than the EAM\" is not tested (the numbers are in "
            + "; ".join(DFT_SOURCES_NOT_READ) + ")")
    low, high = GUYOT_SIMON_OTHERS_MJ_M2
    mlp_others = [g for p, g in gamma["MLP"].items() if p not in GUYOT_SIMON_MJ_M2]
    if mlp_others and np.mean(mlp_others) < low:
        olmsted = [g for p, (_, g) in OLMSTED_EAM_MJ_M2.items() if p not in GUYOT_SIMON_MJ_M2]
        found.append(
            f"the MLP's high-angle boundaries ({min(mlp_others):.0f}–{max(mlp_others):.0f} "
            f"mJ/m²) lie below Guyot & Simon's {low:.0f}–{high:.0f} mJ/m²; the force-matched "
            f"Ercolessi–Adams EAM is lower still ({min(olmsted):.0f}–{max(olmsted):.0f} "
            "mJ/m², Olmsted et al. 2009), so the 1976 pair potentials are as likely to be "
            "high as the MLP low: without DFT numbers this cannot be settled here")
    if "EAM" in gamma and gamma["EAM"].get((1, 1, 1), 1e9) < 20:
        found.append(
            f"the Sutton–Chen EAM gives the coherent twin almost no energy "
            f"({gamma['EAM'][(1, 1, 1)]:.1f} mJ/m²): it makes fcc and hcp Al nearly degenerate "
            "(notebook 05), a property of the potential that no cell size changes")
    ratio = {p: gamma["MLP"][p] / gamma["EAM"][p] for p in WRIGHT_ATLAS_PLANES
             if p in gamma["MLP"] and gamma["EAM"].get(p, 0) > 0}
    off = {p: r for p, r in ratio.items()
           if abs(r - WRIGHT_ATLAS_RATIO) > WRIGHT_ATLAS_TOLERANCE}
    if off:
        found.append(
            "γ(MLP)/γ(EAM) of " + ", ".join(f"{_label(p)} is {r:.1f}" for p, r in off.items())
            + ", not about 2: the Sutton–Chen EAM is softer than the EAM of Wright & Atlas "
            "(the Ercolessi–Adams EAM gives Σ3(112) 324 and Σ11(113) 129 mJ/m², "
            "Olmsted et al. 2009); and Σ3(112) has several metastable structures whose "
            "order the translation grid and grain thickness can change")
    if any(unconverged.values()):
        found.append("trials that ran out of relaxation steps (kept, not converged): "
                     + ", ".join(f"{name} {n}" for name, n in unconverged.items() if n))
    if not scale_up:
        found.append(
            "default size: a 4 × 4 translation grid without expansion in grains of at least "
            "20 Å, in 1 × 1 boundary cells (no reconstruction along the boundary), so the "
            "lowest structure can be missed: measured once against the lowest of several "
            "searches (3 × 3 and 4 × 4 grids, expansions 0 and 0.5 Å) the default is up to "
            "10 mJ/m² (MLP) and 16 mJ/m² (EAM, Σ19(116)) high; and Σ17(223) relaxes 27 (MLP) "
            "and 42 mJ/m² (EAM) lower in grains of one period (16.7 Å), where the two "
            "boundaries of the cell may interact; scale_up searches finer and thicker")
    return tuple(found)


def plot(gamma_results: dict, *, title: str = TITLE):
    """The figure: γ against tilt angle for each potential, the published marks; returns it."""
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(8.5, 6.0), constrained_layout=True)
    mlp, eam = gamma_results["MLP"], gamma_results["EAM"]
    plot_gb_energies(mlp, ax=ax)  # the MLP line, each boundary labelled
    ax.lines[-1].set(color="tab:blue", label="MLP (published Al polymlp)")
    points = sorted(eam, key=lambda r: r.angle_deg)
    ax.plot([0.0] + [r.angle_deg for r in points] + [180.0],
            [0.0] + [r.energy_mJ_m2 for r in points] + [0.0], "s--", ms=4,
            color="tab:orange", label="EAM (Sutton–Chen)")
    shown = [p for p in OLMSTED_EAM_MJ_M2 if p in {tuple(r.plane) for r in mlp + eam}]
    ax.plot([tilt_boundary(p).angle_deg for p in shown],
            [OLMSTED_EAM_MJ_M2[p][1] for p in shown], "D", ms=6, mfc="none", color="0.3",
            label="published EAM (Ercolessi–Adams; Olmsted et al. 2009), not DFT")
    ax.plot([tilt_boundary(p).angle_deg for p in GUYOT_SIMON_MJ_M2],
            list(GUYOT_SIMON_MJ_M2.values()), "x", ms=8, mew=2, color="tab:red",
            label="published pair potentials (Guyot & Simon 1976)")
    if not DFT_MJ_M2:
        ax.text(0.99, 0.02, "no verified DFT value to mark (see gaps)", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=9, color="0.3")
    ax.set_ylim(-15, 1.12 * max(max(ax.get_ylim()), 1.0))  # room for the labels on top
    ax.tick_params(labelsize=10)
    ax.xaxis.label.set_size(11)
    ax.yaxis.label.set_size(11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=9,
              frameon=False)
    ax.set_title(f"Figure 3: {title}", fontsize=12)
    return figure


def run(*, scale_up: bool = False, workdir=None, progress: bool = False) -> FigureResult:
    """Figure 3 (see the module docstring). ``workdir`` keeps both searches (``mlp/``,
    ``eam/``, resumed by a rerun with the same settings; other settings are refused) and
    the EAM table; a temporary folder when None. Default: 10 boundaries per potential, one
    to two minutes on two cores; ``scale_up``: 12 boundaries searched finer in thicker grains
    (roughly half an hour)."""
    start = time.perf_counter()
    workdir = Path(workdir) if workdir is not None else Path(
        tempfile.mkdtemp(prefix="polymlp_figure3_"))
    workdir.mkdir(parents=True, exist_ok=True)
    sigmas = SIGMAS_SCALED if scale_up else SIGMAS
    settings = SEARCH_SCALED if scale_up else SEARCH
    found = search(calculators(workdir), workdir, sigmas=sigmas, settings=settings,
                   progress=progress)
    results = {name: found[name][1] for name in POTENTIALS}
    gamma = {name: _gammas(results[name]) for name in POTENTIALS}
    unconverged = {name: sum(not t.converged for r in results[name] for t in r.trials)
                   for name in POTENTIALS}
    figure = plot(results)

    boundaries = []
    for r in results["MLP"]:
        plane = tuple(r.plane)
        boundaries.append(dict(
            label=r.label, sigma=r.sigma, plane=list(plane), angle_deg=r.angle_deg,
            mlp_mJ_m2=gamma["MLP"].get(plane), eam_mJ_m2=gamma["EAM"].get(plane),
            dft_mJ_m2=DFT_MJ_M2.get(plane, (None,))[0],
            published_eam_mJ_m2=OLMSTED_EAM_MJ_M2.get(plane, (None, None))[1],
            olmsted_index=OLMSTED_EAM_MJ_M2.get(plane, (None, None))[0],
            pair_potential_mJ_m2=GUYOT_SIMON_MJ_M2.get(plane),
            mlp_atoms=r.n_atoms,
            mlp_trial_spread_mJ_m2=float(np.ptp([t.energy_mJ_m2 for t in r.trials
                                                 if t.energy_mJ_m2 is not None]))))
    references = {name: found[name][0] for name in POTENTIALS}
    rows = comparisons(gamma)
    return FigureResult(
        number=NUMBER, title=TITLE, figure=figure, comparisons=rows, checks=checks(gamma),
        # the MLP's high-angle boundaries below Guyot & Simon's 1976 range (see the gaps)
        expected_misses=tuple(c.quantity for c in rows if c.quantity.startswith("mean γ")
                              and c.quantity.endswith("MLP")),
        gaps=gaps(gamma, scale_up=scale_up, unconverged=unconverged),
        settings={"scale_up": scale_up, "sigmas": list(sigmas), **settings,
                  "a_start": A_START, "workdir": str(workdir)},
        data={"boundaries": boundaries,
              "bulk": {name: {"a": ref.a, "energy_per_atom": ref.energy_per_atom}
                       for name, ref in references.items()},
              "unconverged_trials": unconverged,
              "sources": {"dft": "none verified", "pair_potentials": GUYOT_SIMON_1976,
                          "published_eam": OLMSTED_2009, "dft_vs_eam": WRIGHT_ATLAS_1994,
                          "eam": SUTTON_CHEN}},
        seconds=time.perf_counter() - start)


def tilt_angles(sigmas=SIGMAS) -> dict:
    """{label: tilt angle (°)} of the boundaries of ``sigmas``."""
    return {b.label: b.angle_deg for b in tilt_boundaries(sigmas)}


__all__ = ["run", "calculators", "search", "comparisons", "checks", "gaps", "plot",
           "tilt_angles", "SEARCH", "SEARCH_SCALED", "SIGMAS", "SIGMAS_SCALED", "DFT_MJ_M2",
           "GUYOT_SIMON_1976", "OLMSTED_2009", "WRIGHT_ATLAS_1994", "SUTTON_CHEN"]

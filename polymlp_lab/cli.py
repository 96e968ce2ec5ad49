"""Command line: ``polymlp-lab eval | fit | grid | pareto | card | md | gb | rss | figures |
warmup``."""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .errors import PolymlpLabError
from .files import check_output_dir


def _pot_argument(parser) -> None:
    parser.add_argument("--pot", action="append", required=True,
                        help="potential file (polymlp.yaml or polymlp.lammps); repeat for a hybrid")


def _headless_plots() -> None:
    """The command draws into files: Matplotlib's non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")


def _eval(args) -> int:
    from ase.io import read

    from .potential import load_potential

    potential = load_potential(args.pot)
    records = []
    for path in args.structures:
        try:  # every frame of a trajectory (extxyz, ...), not only the last
            frames = read(path, index=":", format=args.format)
        except Exception as exc:  # ase raises many types for unreadable files
            raise PolymlpLabError(f"{path}: cannot read the structure ({exc})") from exc
        if not frames:
            raise PolymlpLabError(f"{path}: the file holds no structure")
        for frame, atoms in enumerate(frames):
            # NonFiniteResultError for NaN/inf results; with --grade, ExtrapolationError when
            # the potential has no extrapolation grade (the message says why)
            result = potential.evaluate(atoms, grade=args.grade or None)
            records.append({"structure": path if len(frames) == 1 else f"{path}@{frame}",
                            "n_atoms": len(atoms),
                            "energy_per_atom_eV": result.energy / len(atoms),
                            **result.as_dict()})
    if args.json:
        try:  # Potential.evaluate refuses non-finite results; never write bare NaN anyway
            text = json.dumps(records if len(records) > 1 else records[0], indent=1,
                              allow_nan=False)
        except ValueError as exc:
            raise PolymlpLabError(f"a result is not finite, not written as JSON ({exc})") from None
        print(text)
        return 0
    for r in records:
        print(f"# {r['structure']}  ({r['n_atoms']} atoms)")
        print(f"energy         {r['energy_eV']:.10f} eV  ({r['energy_per_atom_eV']:.10f} eV/atom)")
        print("forces (eV/Å)")
        for i, f in enumerate(r["forces_eV_per_A"]):
            print(f"  {i:5d} {f[0]:16.10f} {f[1]:16.10f} {f[2]:16.10f}")
        if r["stress_GPa"] is not None:
            print("stress (GPa, xx yy zz yz xz xy) "
                  + " ".join(f"{v:.6f}" for v in r["stress_GPa"]))
        if "extrapolation_grade" in r:
            worst = int(np.argmax(r["extrapolation_grades"]))
            print(f"extrapolation grade {r['extrapolation_grade']:.4g} (atom {worst}; "
                  f"{'above 1: outside' if r['extrapolation_grade'] > 1 else 'within'} "
                  "what the potential was trained on)")
    return 0


def _eval_arguments(parser) -> None:
    _pot_argument(parser)
    parser.add_argument("--format", default=None, help="ase.io format of the structures (default: guess)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--grade", action="store_true",
                        help="require the extrapolation grade (printed whenever the potential "
                             "has polymlp_extrapolation.npz beside it)")
    parser.add_argument("structures", nargs="+", help="structure files (POSCAR, extxyz, cif, ...)")


def _fit(args) -> int:
    for folder in (args.output, args.checkpoint):  # a file or read-only folder: refused at once
        if folder is not None:
            check_output_dir(folder)
    from .fitting import fit_polymlp_in

    fit = fit_polymlp_in(
        args.infile, output_dir=args.output, checkpoint=args.checkpoint, restart=args.restart,
        progress=not args.quiet, n_workers=args.workers, scheduler=args.scheduler,
    )
    print(f"polymlp-lab: {fit.n_features_} features, alpha = {fit.alpha_:g}")
    for alpha, train, test in zip(fit.alphas, fit.rmse_train_, fit.rmse_test_):
        print(f"  alpha = {alpha:.3e}: weighted rmse (train, test) = {train:.5f} {test:.5f}")
    print(f"{'dataset':48s} {'E meV/atom':>11s} {'F eV/Å':>9s} {'S meV/atom':>11s}")
    for e in fit.errors_:
        cells = ["-" if v is None else f"{v:.4f}" for v in (e.rmse_energy, e.rmse_force, e.rmse_stress)]
        print(f"{e.kind + ' ' + e.dataset:48s} {cells[0]:>11s} {cells[1]:>9s} {cells[2]:>11s}")
    times = ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in fit.timings_.items())
    grade = ", polymlp_extrapolation.npz" if fit.extrapolation_ is not None else ""
    print(f"polymlp-lab: wrote polymlp.yaml{grade}, polymlp_error.yaml, predictions/ in "
          f"{args.output} ({times})")
    return 0


def _fit_arguments(parser) -> None:
    parser.add_argument("infile", help="pypolymlp input file (polymlp.in)")
    parser.add_argument("--output", default=".", help="directory for polymlp.yaml and reports")
    parser.add_argument("--checkpoint", default=None,
                        help="folder keeping the sums of finished structures; rerun the same fit "
                             "to resume it")
    parser.add_argument("--restart", action="store_true",
                        help="start the checkpoint's fit afresh (another fit there is refused)")
    parser.add_argument("--workers", type=int, default=None,
                        help="threads (default: all cores); not used with --scheduler")
    parser.add_argument("--scheduler", default=None,
                        help="address of a running Dask scheduler (tcp://host:8786) whose workers "
                             "compute the normal equations; the result is the same to the bit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _grid(args) -> int:
    check_output_dir(args.out)  # a file or read-only folder is refused before any work
    from .fitting import read_dataset
    from .grid import enumerate_models, run_grid

    train = [read_dataset(pattern, name=pattern) for pattern in args.data]
    test = [read_dataset(pattern, name=pattern) for pattern in args.test_data or []]
    atomic_energy = {}
    for item in args.atomic_energy or []:
        element, _, value = item.partition("=")
        try:
            atomic_energy[element] = float(value)
        except ValueError:
            raise PolymlpLabError(f"--atomic-energy {item!r}: expected ELEMENT=eV") from None
    models = enumerate_models(
        args.elements, cutoffs=args.cutoffs, n_gaussians=args.n_gaussians,
        feature_types=args.feature_types, model_types=args.model_types,
        pair_max_ps=args.pair_max_ps, gtinv_order_max=args.gtinv_order_max,
        gtinv_maxl_max=args.gtinv_maxl_max or (12, 8, 2, 1, 1), max_features=args.max_features,
    )
    if not models:
        raise PolymlpLabError("no candidate model is left by the narrowing options "
                              "(--cutoffs, --model-types, --max-features, ...)")
    print(f"polymlp-lab: {len(models)} candidate models -> {args.out}")
    alphas = tuple(10.0**np.linspace(*args.alphas[:2], int(args.alphas[2])))
    rows = run_grid(args.elements, train, test or None, models=models, out=args.out,
                    scheduler=args.scheduler, n_workers=args.workers, alphas=alphas,
                    atomic_energy=atomic_energy, error=args.error, progress=not args.quiet,
                    restart=args.restart)
    from .grid import pareto_rows
    from .grid.search import write_figure

    failed = [r for r in rows if r.status != "ok"]
    front = pareto_rows(rows, args.error)
    if len(failed) == len(rows):  # every model failed: nothing to draw or choose
        reasons = {}
        for r in failed:
            reasons.setdefault(str(r.status), r.name)
        listed = "; ".join(f"{name}: {status}" for status, name in list(reasons.items())[:3])
        raise PolymlpLabError(
            f"every one of the {len(rows)} models failed, no Pareto front ({listed}"
            f"{'; ...' if len(reasons) > 3 else ''}); statuses in {args.out}/models.csv")
    _headless_plots()
    write_figure(args.out, rows, error=args.error, system="-".join(args.elements))
    print(f"{'model':36s} {'features':>8s} {'E meV/atom':>10s} {'F eV/Å':>8s} {'ms/atom/step':>12s}  hull")
    for r in front:
        print(f"{r.name:36s} {r.n_features:8d} {r.rmse_energy:10.3f} "
              f"{r.rmse_force:8.4f} {r.cost:12.5f}  {'*' if r.on_convex_hull else ''}")
    print(f"polymlp-lab: {len(rows)} models ({len(failed)} failed), {len(front)} Pareto optimal; "
          f"tables in {args.out}/models.csv, {args.out}/pareto.csv, figure {args.out}/pareto.png")
    return 0


def _grid_arguments(parser) -> None:
    parser.add_argument("--elements", nargs="+", required=True, help="element symbols, model order")
    parser.add_argument("--data", nargs="+", required=True, help="training data files or globs")
    parser.add_argument("--test-data", nargs="+", help="test data (default: split from --data)")
    parser.add_argument("--out", required=True, help="output directory (rerun to resume)")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler")
    parser.add_argument("--workers", type=int, help="LocalCluster workers (default: all cores)")
    parser.add_argument("--atomic-energy", nargs="+", metavar="EL=eV", help="isolated-atom energies")
    parser.add_argument("--cutoffs", nargs="+", type=float, help="cutoffs, Å (default: pypolymlp's)")
    parser.add_argument("--n-gaussians", nargs="+", type=int, help="numbers of Gaussians")
    parser.add_argument("--feature-types", nargs="+", default=["pair", "gtinv"], choices=["pair", "gtinv"])
    parser.add_argument("--model-types", nargs="+", type=int, default=[2, 3, 4])
    parser.add_argument("--pair-max-ps", nargs="+", type=int, default=[2, 3])
    parser.add_argument("--gtinv-order-max", type=int, default=4)
    parser.add_argument("--gtinv-maxl-max", nargs="+", type=int, help="largest max_l per order (12 8 2 1 1)")
    parser.add_argument("--max-features", type=int, help="skip models with more coefficients")
    parser.add_argument("--alphas", nargs=3, type=float, default=[-4, 1, 6],
                        metavar=("LOG10_MIN", "LOG10_MAX", "N"), help="ridge alphas (pypolymlp's -4 1 6)")
    parser.add_argument("--error", choices=["energy", "force"], default="energy",
                        help="test RMSE the Pareto front is drawn on")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--restart", action="store_true",
                        help="start afresh in --out, deleting what an earlier grid wrote there "
                        "(a grid of other settings or data is otherwise refused)")


def _pareto(args) -> int:
    _headless_plots()
    from .grid.external import dataset_label, write_pareto

    rows, front = write_pareto(args.source, args.out, error_key=args.error_key, error=args.error)
    ok = [r for r in rows if r.status == "ok"]
    datasets = sorted({dataset_label(r.error_dataset) for r in ok if r.error_dataset})
    print(f"{'model':36s} {'E meV/atom':>10s} {'F eV/Å':>8s} {'ms/atom/step':>12s}  hull")
    for r in front:
        force = f"{r.rmse_force:8.4f}" if r.rmse_force is not None else f"{'–':>8s}"
        print(f"{r.name:36s} {r.rmse_energy:10.3f} {force} {r.cost:12.5f}  "
              f"{'*' if r.on_convex_hull else ''}")
    print(f"polymlp-lab: {len(rows)} models in {args.source} ({len(rows) - len(ok)} not usable, "
          f"see status in models.csv), test RMSE {args.error} of {', '.join(datasets) or '–'}; "
          f"{len(front)} Pareto optimal, {sum(r.on_convex_hull for r in front)} on the "
          f"convex hull; tables in {args.out}/models.csv, {args.out}/pareto.csv, "
          f"figure {args.out}/pareto.png")
    return 0


def _pareto_arguments(parser) -> None:
    parser.add_argument("--from", dest="source", required=True, metavar="DIR",
                        help="folder of model folders (polymlp_error.yaml, polymlp_cost.yaml), "
                        "or a polymlp-lab grid (records/*.json)")
    parser.add_argument("--error-key", metavar="KEY",
                        help="RMSE of the first dataset whose name contains KEY (pypolymlp's --key "
                        "rule; default: the first test dataset)")
    parser.add_argument("--error", choices=["energy", "force"], default="energy",
                        help="test RMSE the Pareto front is drawn on")
    parser.add_argument("--out", required=True, help="output directory (models.csv, pareto.csv, "
                        "summary.json, pareto.png)")


def _card(args) -> int:
    _headless_plots()
    from .potential import load_potential
    from .properties.card import compare_cards, compute_card, index_repository, write_card

    if not args.pot and not args.repository:
        raise PolymlpLabError("give --pot FILE or --repository DIR")
    if args.detailed < 0:
        raise PolymlpLabError(f"--detailed {args.detailed}: give 0 (energies only) or more")
    out = check_output_dir(args.out)  # a file or read-only folder is refused before any work
    kw = dict(prototypes=args.prototypes, n_detailed=args.detailed, progress=not args.quiet)
    if args.repository:
        from .files import write_text_atomic
        from .properties.repository import load_row_potential, read_predictions
        from .properties.repository_compare import write_repository_comparison

        # every file of the entry is read (and a malformed one refused) before any work
        # index_repository (properties.repository's): EmptyRepositoryError when it has no MLP
        rows = index_repository(args.repository)
        predictions = {r["name"]: read_predictions(r["predictions"]) for r in rows
                       if r["predictions"]}
        cards = {}
        for row in rows:
            name = row["name"]
            cards[name] = card = compute_card(load_row_potential(row), **kw)
            write_card(card, out / name, title=name)
            note = ""
            if name in predictions:
                written = write_repository_comparison(card, predictions[name], out / name,
                                                      title=f"{name}: ours and the Repository's")
                summary = written["comparison"].summary
                note = (f", {summary['n_matched']} prototypes beside the Repository's in "
                        f"{written['html']}")
            print(f"polymlp-lab: card of {name} in {out / name}{note}"
                  + ("" if row["status"] == "ok" else f" ({row['status']})"))
        write_text_atomic(out / "repository.json", json.dumps(rows, indent=1))
        compare_cards(cards, out)
        print(f"polymlp-lab: {len(rows)} cards in {out}, comparison {out}/compare.png")
        return 0
    potential = load_potential(args.pot)
    peer = None
    if args.eam_peer is True:  # bare --eam-peer: a Sutton-Chen EAM of the same elements
        from .properties.eam import write_sutton_chen_eam_alloy

        (out / "eam").mkdir(parents=True, exist_ok=True)
        peer = write_sutton_chen_eam_alloy(potential.elements, out / "eam")
    elif args.eam_peer:
        peer = args.eam_peer
    # the peer (our fast EAM calculator) is checked before any work, computed after ours
    card = compute_card(potential, peer=peer, **kw)
    index = write_card(card, out, title=Path(args.pot).name)
    print(f"polymlp-lab: card of {args.pot} in {index} ({card.timings['total_s']:.1f} s, "
          f"{len(card.failures)} failures or warnings)")
    if peer is not None:
        other = card.peer
        print(f"polymlp-lab: peer {other.label} in {out / 'peer' / 'index.html'} "
              f"({other.timings['total_s']:.1f} s, {len(other.failures)} failures or "
              f"warnings); comparison {out / 'compare.png'}")
    return 0


def _card_arguments(parser) -> None:
    parser.add_argument("--pot", help="potential file (polymlp.yaml or polymlp.lammps)")
    parser.add_argument("--repository",
                        help="a Kyoto Repository entry (<system>/ with polymlps/ and predictions/), "
                             "its polymlps/, or a folder of <name>/polymlp.yaml: a card per MLP, "
                             "beside the Repository's predictions where the entry has them")
    parser.add_argument("--out", required=True, help="output directory (card.json, plots, index.html)")
    parser.add_argument("--prototypes", nargs="+", help="prototype names (default: all)")
    parser.add_argument("--detailed", type=int, default=3,
                        help="lowest structures per composition with EOS, elastic and phonons")
    parser.add_argument("--eam-peer", nargs="?", const=True, default=None, metavar="FILE.eam.alloy",
                        help="also the card of an EAM on the same prototypes, compared side by "
                             "side: the given .eam.alloy file, or bare, a Sutton-Chen EAM of the "
                             "same elements (Ni Cu Rh Pd Ag Ir Pt Au Al Pb)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _read_structure(path, format=None):
    from ase.io import read

    try:
        return read(path, format=format)
    except Exception as exc:  # ase raises many types for unreadable files
        raise PolymlpLabError(f"{path}: cannot read the structure ({exc})") from exc


def _md(args) -> int:
    check_output_dir(args.out)  # a file or read-only folder is refused before any work
    import time

    from .calculator import PolymlpCalculator
    from .potential import load_potential
    from .simulations.md import run_md

    atoms = _read_structure(args.structure)
    if args.supercell:
        atoms = atoms.repeat(args.supercell)
    calc = PolymlpCalculator(load_potential(args.pot), skin=args.skin)
    start = time.perf_counter()
    # a rerun resumes or extends; other settings, potential or structure: RunMismatchError;
    # a structure the potential cannot evaluate: a PolymlpLabError before any step
    result = run_md(
        atoms, calc, out=args.out, restart=args.restart, progress=not args.quiet,
        ensemble=args.ensemble, temperature_K=args.temperature, steps=args.steps,
        timestep_fs=args.timestep, thermostat=args.thermostat, barostat=args.barostat,
        pressure_GPa=args.pressure, interval=args.interval, seed=args.seed,
    )
    seconds = time.perf_counter() - start
    if result.run_status in ("resumed", "extended"):
        print(f"polymlp-lab: {result.run_status} the run in {args.out} from step "
              f"{result.resumed_from_step}")
    done = result.records["step"][-1] - result.resumed_from_step
    temperature = result.array("temperature_K")
    energy = result.array("total_energy_eV") / result.n_atoms
    print(f"polymlp-lab: {done} MD steps of {result.n_atoms} atoms in {seconds:.1f} s "
          f"({done / max(seconds, 1e-9):.3g} steps/s); mean T {temperature.mean():.1f} K; "
          f"total energy range {1e3 * np.ptp(energy):.3f} meV/atom; {args.out}/md.json")
    if result.extrapolation_warning:
        print(f"polymlp-lab: warning: {result.extrapolation_warning}", file=sys.stderr)
    if result.failed:
        print(f"polymlp-lab: the run stopped early: {result.failed}", file=sys.stderr)
        return 1
    return 0


def _md_arguments(parser) -> None:
    _pot_argument(parser)
    parser.add_argument("--structure", required=True, help="starting structure (POSCAR, extxyz, ...)")
    parser.add_argument("--supercell", nargs=3, type=int, metavar=("N1", "N2", "N3"),
                        help="repeat the structure first")
    parser.add_argument("--ensemble", choices=["nve", "nvt", "npt"], default="nve")
    parser.add_argument("--temperature", type=float, default=300.0,
                        help="K: thermostat target, and the initial velocities")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--timestep", type=float, default=1.0, help="fs")
    parser.add_argument("--thermostat", choices=["nose-hoover", "langevin", "bussi"],
                        default="nose-hoover", help="for nvt")
    parser.add_argument("--barostat", choices=["mtk", "mtk-aniso", "berendsen"], default="mtk",
                        help="for npt (mtk: isotropic)")
    parser.add_argument("--pressure", type=float, default=0.0, help="GPa, for npt")
    parser.add_argument("--interval", type=int, default=10, help="steps between records and frames")
    parser.add_argument("--seed", type=int, default=0, help="initial velocities and thermostat noise")
    parser.add_argument("--skin", type=float, default=1.0, help="neighbour-list skin, Å")
    parser.add_argument("--out", required=True, help="output directory (rerun to resume or extend)")
    parser.add_argument("--restart", action="store_true",
                        help="start afresh, deleting what an earlier run wrote in --out "
                        "(a run of other settings or inputs is otherwise refused)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _gb(args) -> int:
    from ase.data import atomic_numbers, reference_states

    from .calculator import PolymlpCalculator
    from .potential import load_potential
    from .simulations.grain_boundary import bulk_reference, plot_gb_energies, search_boundaries

    check_output_dir(args.out)  # a file or read-only folder is refused before any work
    potential = load_potential(args.pot)
    element = args.element
    if not element:
        if len(potential.elements) != 1:
            raise PolymlpLabError(f"the potential describes {', '.join(potential.elements)}: "
                                  "choose one with --element")
        element = potential.elements[0]
    if element not in potential.elements:
        raise PolymlpLabError(f"element '{element}' is not in the potential "
                              f"(it knows {', '.join(potential.elements)})")
    try:
        sigmas = [int(s) for s in args.sigma.split(",")] if args.sigma else None
    except ValueError:
        raise PolymlpLabError(f"--sigma takes Σ values separated by commas, not {args.sigma!r}")
    calc = PolymlpCalculator(potential)
    guess = args.a or reference_states[atomic_numbers[element]].get("a") or 4.0
    reference = bulk_reference(element, guess, calc)
    results = search_boundaries(
        element, reference.a, calc, sigmas, out=args.out, max_sigma=args.max_sigma,
        grid=tuple(args.grid), expansions=tuple(args.expansions), fmax=args.fmax,
        steps=args.steps, min_thickness=args.thickness, progress=not args.quiet,
        restart=args.restart,
    )
    _headless_plots()
    ax = plot_gb_energies(results)
    ax.set_title(f"{element} <110> symmetric tilt boundaries, a = {reference.a:.4f} Å")
    ax.figure.savefig(Path(args.out) / "gb.png", dpi=120, bbox_inches="tight")
    listing = ", ".join(f"{r.label} {r.energy_mJ_m2:.0f}" for r in results)
    print(f"polymlp-lab: {element} fcc a = {reference.a:.4f} Å; γ (mJ/m²): {listing}; "
          f"{args.out}/gb.json")
    return 0


def _gb_arguments(parser) -> None:
    _pot_argument(parser)
    parser.add_argument("--sigma", help="Σ values, e.g. 3,9,11 (default: every Σ up to --max-sigma)")
    parser.add_argument("--max-sigma", type=int, default=33, help="largest Σ of the table")
    parser.add_argument("--element", help="the fcc element (default: the potential's only one)")
    parser.add_argument("--a", type=float, help="starting lattice constant, Å (relaxed first)")
    parser.add_argument("--grid", nargs=2, type=int, default=[3, 3], metavar=("NX", "NY"),
                        help="in-plane rigid-body translations tried")
    parser.add_argument("--expansions", nargs="+", type=float, default=[0.0, 0.5],
                        help="normal expansions tried at each boundary, Å")
    parser.add_argument("--fmax", type=float, default=0.005, help="relaxation criterion, eV/Å")
    parser.add_argument("--steps", type=int, default=500, help="largest number of optimizer steps")
    parser.add_argument("--thickness", type=float, default=20.0, help="smallest grain thickness, Å")
    parser.add_argument("--out", required=True,
                        help="output directory (rerun to resume; more --sigma extend)")
    parser.add_argument("--restart", action="store_true",
                        help="start afresh, deleting what an earlier run wrote in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _rss(args) -> int:
    check_output_dir(args.out)  # a file or read-only folder is refused before any work
    from .simulations.structure_search import plot_hull, run_search

    pot = args.pot if len(args.pot) > 1 else args.pot[0]
    result = run_search(
        pot, args.elements, max_atoms=args.max_atoms, trials=args.trials,
        composition_range=tuple(args.composition_range), out=args.out, seed=args.seed,
        fmax=args.fmax, steps=args.steps, scheduler=args.scheduler, n_workers=args.workers,
        window_meV=args.window, progress=not args.quiet, restart=args.restart,
    )
    _headless_plots()
    ax = plot_hull(result)
    ax.figure.savefig(Path(args.out) / "hull.png", dpi=120, bbox_inches="tight")
    stable = ", ".join(f"{e.formula} ({e.spacegroup})" for e in result.stable)
    print(f"polymlp-lab: {len(result.trials)} trials ({len(result.failed)} failed), "
          f"{len(result.entries)} unique structures; stable: {stable}; "
          f"{len(result.metastable)} within {args.window:g} meV/atom; {args.out}/hull.json")
    return 0


def _rss_arguments(parser) -> None:
    _pot_argument(parser)
    parser.add_argument("--elements", nargs="+", required=True, help="one or two element symbols")
    parser.add_argument("--max-atoms", type=int, required=True, help="largest cell, atoms")
    parser.add_argument("--trials", type=int, required=True, help="random structures relaxed")
    parser.add_argument("--composition-range", nargs=2, type=float, default=[0.0, 1.0],
                        metavar=("XMIN", "XMAX"), help="range of the fraction of the second element")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmax", type=float, default=0.05, help="relaxation criterion, eV/Å")
    parser.add_argument("--steps", type=int, default=300, help="largest number of optimizer steps")
    parser.add_argument("--window", type=float, default=50.0,
                        help="metastable window above the hull, meV/atom")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler")
    parser.add_argument("--workers", type=int, help="LocalCluster workers (default: all cores)")
    parser.add_argument("--out", required=True, help="output directory (rerun to resume or extend)")
    parser.add_argument("--restart", action="store_true",
                        help="start afresh, deleting what an earlier search wrote in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _figures(args) -> int:
    check_output_dir(args.out)  # a file or read-only folder is refused before any work
    _headless_plots()
    from .files import write_text_atomic
    from .paper import FIGURES, reproduce

    out = Path(args.out)
    summary = {}
    for number in args.figure or sorted(FIGURES):
        result = reproduce(number, scale_up=args.scale_up, workdir=out / f"runs-figure{number}",
                           progress=not args.quiet)
        result.save(out)
        print(result.table())
        print(f"  ({result.seconds:.0f} s; {out}/figure{number}.png)")
        summary[number] = {"seconds": result.seconds, "holds": result.holds}
    write_text_atomic(out / "figures.json", json.dumps(summary, indent=1))
    failing = [str(n) for n, s in summary.items() if not s["holds"]]
    if failing:
        print(f"polymlp-lab: figure(s) {', '.join(failing)}: a comparison or check does not "
              "hold (OFF / NO above)", file=sys.stderr)
    return 1 if failing else 0


def _figures_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="output directory: figure<N>.png and .json")
    parser.add_argument("--figure", type=int, action="append", choices=[1, 2, 3, 4, 5],
                        help="one figure (repeat for several); default: all five")
    parser.add_argument("--scale-up", action="store_true",
                        help="the larger runs (minutes to hours per figure)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def warmup() -> float:
    """Compile (or load from Numba's on-disk cache) every engine and fitting kernel; seconds.

    The kernels' argument types are the same for every potential, so one small model covers
    them all: afterwards a new process evaluates any potential without compiling.
    """
    import time

    from ase import Atoms
    from ase.build import bulk

    from .engine.neighbors import NeighborCache
    from .models import model_params, n_features
    from .potential import Potential

    start = time.perf_counter()
    params = model_params(("Al",), cutoff=4.0, gtinv_order=4, gtinv_maxl=(2, 2, 2),
                          gaussian_params2=(0.0, 3.0, 3))
    coeffs = np.linspace(-1e-3, 1e-3, n_features(params))
    potential = Potential.from_params(params, coeffs)
    crystal = bulk("Al", "fcc", a=4.05, cubic=True)
    cluster = Atoms("Al3", positions=[[0, 0, 0], [2.6, 0, 0], [0, 2.6, 0]])
    for atoms in (crystal, cluster):
        potential.evaluate(atoms)
        potential.evaluate(atoms, forces=False)
        cache = NeighborCache(1.0)
        for _ in range(2):  # built, then reused
            potential.evaluate(atoms, neighbors=cache)
    from .engine.design import build_feature_tables, design_rows

    tables = build_feature_tables(params)
    for derivatives in (True, False):
        design_rows(tables, crystal.cell.array, crystal.positions, np.zeros(len(crystal), int),
                    crystal.pbc, derivatives=derivatives)
    return time.perf_counter() - start


COMMANDS = {  # name: (help, the function adding its arguments, its handler)
    "eval": ("energy, forces and stress of structures", _eval_arguments, _eval),
    "fit": ("fit a potential from a pypolymlp polymlp.in", _fit_arguments, _fit),
    "grid": ("train and time a grid of models; Pareto front of cost vs error",
             _grid_arguments, _grid),
    "pareto": ("Pareto front and convex hull of a grid made elsewhere (pypolymlp's "
               "polymlp-*/ folders, or ours)", _pareto_arguments, _pareto),
    "card": ("property card: prototypes, EOS, elastic, phonons, hull", _card_arguments, _card),
    "md": ("molecular dynamics: NVE, NVT or NPT; md.json and trajectory", _md_arguments, _md),
    "gb": ("FCC <110> symmetric tilt grain boundaries; energies in gb.json",
           _gb_arguments, _gb),
    "rss": ("random structure search on Dask; convex hull in hull.json",
            _rss_arguments, _rss),
    "figures": ("the five figures of Seko and Wakai's paper, held against published numbers",
                _figures_arguments, _figures),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="polymlp-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text))
    sub.add_parser("warmup", help="compile the Numba kernels into their on-disk cache")
    args = parser.parse_args(argv)
    if args.command == "warmup":
        print(f"polymlp-lab: engine kernels compiled and cached in {warmup():.1f} s")
        return 0
    try:
        return COMMANDS[args.command][2](args)
    except PolymlpLabError as exc:
        print(f"polymlp-lab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

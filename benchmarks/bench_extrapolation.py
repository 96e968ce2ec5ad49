"""Extrapolation grade: its cost per evaluation, and whether it ranks the errors of a fit.

The grade γ of an atom (polymlp_lab.extrapolation) is a per-element leverage of the features
its potential's polynomial is built on, scaled so that the largest over the trusted atoms is
1; a structure's grade is the largest over its atoms. Printed tables (Markdown):

1. Cost, in a child process at --threads (default 1) NUMBA/OMP/BLAS threads: each shipped
   potential (Al, Si, Ti, MgO, Al-Cu, Ti-Al, SrTiO3) on a 135-216-atom periodic cell (the
   published structure repeated; L1_2 Al3Cu, B2 TiAl and cubic perovskite SrTiO3 built with
   ASE), rattled 0.03 Å. A grade is calibrated on 4 copies strained by -2..+2 % and rattled
   0.05 Å, then ``evaluate(atoms)`` (energy + forces + stress, fresh neighbour list) is timed
   with ``grade=False`` and ``grade=True``, single calls alternating for --budget seconds: ms
   of the fastest call of each, the overhead (goal <= 15 %) from the fastest calls and from
   the medians, the features per element n_t (and trusted atoms) and the timed cell's γ
   (above 1 where 4 small copies hold few atoms per feature).
2. MgO (1000 VASP structures of 64 atoms): structures sorted by volume per atom, the central
   80 % train and the 10 % at each end are held out (and choose alpha); fitted with the
   shipped MgO potential's model. For every structure γ and the energy error
   |E_DFT - Σ E_atom - E_MLP| / N: Spearman correlations of γ with the error over all
   structures (goal >= 0.7) and over the held-out ones (goal >= 0.5), the shares of held-out
   and of training structures with γ > 1 (training: 0 by construction), and the MAEs. The
   same for a baseline: the uncentred leverage of all the linear features active for each
   element (design_rows' per-atom values), ridge 1e-8 · tr/n, scaled to training max 1.
3. Cu MD (66 VASP MD steps of 125-atom Cu, fixed cell): how the run's temperature evolves is
   printed (kinetic proxy: mean squared displacement between consecutive steps; configurational
   proxy: mean |F|² per atom); its kinetic temperature stays nearly constant, so two splits are
   fitted with a small Cu model: the 60 % of steps with the smallest mean |F|² train
   (configurationally coolest; the rest held out), and the first 60 % of the steps train (the
   last 40 % held out), alpha chosen on the held-out part. Same statistics and baseline.

    python benchmarks/bench_extrapolation.py          # all 1000 MgO structures (~3.5 min, 2 cores)
    python benchmarks/bench_extrapolation.py --quick  # every 5th MgO structure (~1.5 min)
    python benchmarks/bench_extrapolation.py --sections cost cu --threads 2

The fits use all of Numba's threads. A cost line during which other processes kept > 0.25
cores busy (/proc/stat) is marked `*`.
"""

import argparse
import os
import subprocess
import sys
import time

COST_POTENTIALS = ("Al", "Si", "Ti", "MgO", "Al-Cu", "Ti-Al", "SrTiO3")
REPEATS = {"Al": (4, 4, 3), "Si": (3, 3, 3), "Ti": (5, 5, 4), "MgO": (3, 3, 3),
           "Al-Cu": (4, 4, 3), "Ti-Al": (5, 5, 4), "SrTiO3": (3, 3, 3)}
CELLS = {"Al": "fcc Al", "Si": "diamond Si", "Ti": "bcc Ti", "MgO": "rocksalt MgO",
         "Al-Cu": "L1_2 Al3Cu", "Ti-Al": "B2 TiAl", "SrTiO3": "perovskite SrTiO3"}
CALIBRATION_STRAINS = (-0.02, -0.01, 0.01, 0.02)
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")
MAX_OTHER_LOAD = 0.25  # cores
BASELINE_RIDGE = 1e-8  # relative, as the grade's own ridge: λ = ridge · tr(A) / n
ABOVE_ONE = 1.0 + 1e-9  # γ counted as above 1 (rounding of the training maximum aside)
HELD_OUT_SHARE = 0.2  # MgO: 10 % at each end of the volume range
CU_TRAIN_SHARE = 0.6


# ------------------------------------------------------------------------------- 1. cost


def cost_cell(name):
    """The ~200-atom cell timed for potential ``name`` (unrattled)."""
    from ase import Atoms
    from ase.build import bulk

    from polymlp_lab import data

    if name in ("Al", "Si", "Ti", "MgO"):
        atoms = data.structure(name)
    elif name == "Al-Cu":  # L1_2 Al3Cu: Cu on the cube corners, Al on the face centres
        atoms = bulk("Al", "fcc", a=3.93, cubic=True)
        atoms.symbols[0] = "Cu"
    elif name == "Ti-Al":  # B2 TiAl
        atoms = Atoms("TiAl", scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5)], cell=[3.19] * 3,
                      pbc=True)
    else:  # cubic perovskite SrTiO3
        atoms = Atoms("SrTiO3", cell=[3.905] * 3, pbc=True, scaled_positions=[
            (0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)])
    return atoms.repeat(REPEATS[name])


def calibration_copies(atoms):
    """Strained (isotropically, -2..+2 %) and rattled (0.05 Å) copies of ``atoms``."""
    copies = []
    for k, strain in enumerate(CALIBRATION_STRAINS):
        copy = atoms.copy()
        copy.set_cell(atoms.cell * (1.0 + strain), scale_atoms=True)
        copy.rattle(0.05, seed=10 + k)
        copies.append(copy)
    return copies


def cost_worker(budget: float) -> int:
    """Print the cost table (run with the thread variables already set)."""
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_common import system_busy_seconds

    from polymlp_lab import data, load_potential
    from polymlp_lab.extrapolation import calibrate_extrapolation

    threads = os.environ.get("NUMBA_NUM_THREADS", "default")
    print(f"\n### 1. Cost of the grade: ms per evaluate(atoms) (energy + forces + stress), "
          f"{threads} thread(s), fastest of n alternating calls (goal: overhead <= 15 %)\n")
    print("| potential | cell | atoms | n_t per element (trusted atoms) | n calls | "
          "grade=False ms | grade=True ms | overhead (fastest) | overhead (medians) | "
          "γ of timed cell |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name in COST_POTENTIALS:
        potential = load_potential(data.potential(name))
        base = cost_cell(name)
        grade = calibrate_extrapolation(potential, calibration_copies(base),
                                        source=f"{name}: strained, rattled copies")
        potential.attach_extrapolation(grade)
        atoms = base.copy()
        atoms.rattle(0.03, seed=0)
        potential.evaluate(atoms, grade=False)  # compile / warm the caches
        t0 = time.perf_counter()
        gamma = potential.evaluate(atoms, grade=True).extrapolation_grade
        calls = max(3, int(budget / max(time.perf_counter() - t0, 1e-6)))
        times = {False: [], True: []}
        busy = system_busy_seconds()
        start = time.perf_counter()
        for _ in range(calls):  # alternate single calls: a disturbance hits both modes alike
            for graded in (False, True):
                t0 = time.perf_counter()
                potential.evaluate(atoms, grade=graded)
                times[graded].append(time.perf_counter() - t0)
        wall = time.perf_counter() - start
        other = None if busy is None else max(0.0, (system_busy_seconds() - busy) / wall - 1.0)
        mark = "*" if other is not None and other > MAX_OTHER_LOAD else ""
        best = {graded: min(values) for graded, values in times.items()}
        median = {graded: float(np.median(values)) for graded, values in times.items()}
        sizes = ", ".join(f"{e} {n} ({m})" for k, c in enumerate(potential.components)
                          for e, n, m in zip(c.elements, np.diff(c.tables.features.ptr),
                                             grade.n_atoms[k]))
        overhead = {k: 100.0 * (v[True] / v[False] - 1.0) for k, v in (("best", best),
                                                                         ("median", median))}
        print(f"| {name} | {CELLS[name]} {'x'.join(map(str, REPEATS[name]))} | {len(atoms)} | "
              f"{sizes} | {calls} | {1e3 * best[False]:.2f}{mark} | {1e3 * best[True]:.2f}{mark} | "
              f"{overhead['best']:+.1f} % | {overhead['median']:+.1f} % | {gamma:.2f} |",
              flush=True)
    return 0


def run_cost(args) -> int:
    """The cost table from a new process whose thread counts are set before numba loads."""
    env = dict(os.environ, **{name: str(args.threads) for name in THREAD_VARIABLES})
    command = [sys.executable, os.path.abspath(__file__), "--cost-worker",
               "--budget", str(args.budget)]
    sys.stdout.flush()
    return subprocess.run(command, env=env).returncode


# ------------------------------------------------------------------ 2. and 3. error ranking


def volume_split(structures, held_out_share):
    """(train, held) indices: sorted by volume per atom, the central part trains."""
    import numpy as np

    volumes = np.array([a.get_volume() / len(a) for a in structures])
    order = np.argsort(volumes, kind="stable")
    cut = int(round(len(order) * held_out_share / 2))
    central, ends = order[cut:len(order) - cut], np.r_[order[:cut], order[len(order) - cut:]]
    return np.sort(central), np.sort(ends)


def energy_errors_and_grades(potential, structures, atomic_energy):
    """|E_DFT - Σ E_atom - E_MLP| / N (eV/atom) and the grade γ of each structure."""
    import numpy as np

    errors, grades = [], []
    for atoms in structures:
        result = potential.evaluate(atoms, forces=False, grade=True)
        reference = sum(atomic_energy[s] for s in atoms.get_chemical_symbols())
        errors.append(abs(atoms.get_potential_energy() - reference - result.energy) / len(atoms))
        grades.append(result.extrapolation_grade)
    return np.array(errors), np.array(grades)


def linear_leverage(params, component, structures, train, ridge=BASELINE_RIDGE):
    """Baseline grade of each structure and the number of features of each element: per
    element t, the uncentred leverage of all the linear features active for t, with
    A = Σ φφᵀ + ridge · tr/n · I over the atoms of ``train``, scaled so that the largest over
    them is 1; a structure's grade is the largest over its atoms."""
    import numpy as np
    from scipy.linalg import cholesky, solve_triangular

    from polymlp_lab.engine.design import build_feature_tables, design_rows
    from polymlp_lab.structures import check_structure

    tables = build_feature_tables(params)
    ptr, active = tables.terms.act_ptr, tables.terms.act_idx
    rows = [[] for _ in range(tables.n_type)]  # [t][s]: (atoms of type t in s, n_active_t)
    for atoms in structures:
        cell, positions, numbers, pbc = check_structure(atoms)
        types = component.type_ids(numbers)
        values = design_rows(tables, cell, positions, types, pbc, derivatives=False)[3]
        for t in range(tables.n_type):
            rows[t].append(values[types == t][:, active[ptr[t]:ptr[t + 1]]])
    grades = np.zeros(len(structures))
    for per_structure in rows:
        trusted = np.concatenate([per_structure[s] for s in train])
        scatter = trusted.T @ trusted
        scatter += ridge * np.trace(scatter) / len(scatter) * np.eye(len(scatter))
        lower = cholesky(scatter, lower=True)

        def leverage(phi):
            z = solve_triangular(lower, phi.T, lower=True)
            return np.einsum("ij,ij->j", z, z)

        largest = leverage(trusted).max()
        for s, phi in enumerate(per_structure):
            if len(phi):
                grades[s] = max(grades[s], leverage(phi).max() / largest)
    return grades, np.diff(ptr)


def ranking_row(label, features, grades, errors, train, held):
    """A Markdown row of the ranking statistics of ``grades`` against ``errors``."""
    from scipy.stats import spearmanr

    return (f"| {label} | {features} | {spearmanr(grades, errors)[0]:.2f} | "
            f"{spearmanr(grades[held], errors[held])[0]:.2f} | "
            f"{100 * (grades[held] > ABOVE_ONE).mean():.0f} % | "
            f"{100 * (grades[train] > ABOVE_ONE).mean():.1f} % | "
            f"{1e3 * errors[train].mean():.2f} | {1e3 * errors[held].mean():.2f} |")


RANKING_HEADER = ("| split / grade | features per element | Spearman all | Spearman held-out | "
                  "held-out γ > 1 | train γ > 1 | MAE train meV/atom | MAE held-out meV/atom |\n"
                  "|---|---|---:|---:|---:|---:|---:|---:|")


def fit_and_rank(fit, dataset, train, held, atomic_energy, label):
    """Fit on ``train`` (alpha chosen on ``held``) and return (rows, a note on the fit)."""
    import numpy as np

    t0 = time.perf_counter()
    fit.fit(dataset.subset(train, name="train"), dataset.subset(held, name="held-out"))
    seconds = time.perf_counter() - t0
    structures = dataset.structures
    errors, ours = energy_errors_and_grades(fit.potential_, structures, atomic_energy)
    component = fit.potential_.components[0]
    baseline, active = linear_leverage(fit.params_, component, structures, train)
    ours_n = ", ".join(f"{e} {n}" for e, n in zip(component.elements,
                                                  np.diff(component.tables.features.ptr)))
    base_n = ", ".join(f"{e} {n}" for e, n in zip(component.elements, active))
    rows = [ranking_row(f"{label}: ours (polynomial's features, centred)", ours_n, ours,
                        errors, train, held),
            ranking_row(f"{label}: baseline (all active linear features)", base_n, baseline,
                        errors, train, held)]
    note = (f"{label}: {len(train)} train / {len(held)} held-out structures, "
            f"{fit.n_features_} coefficients, alpha {fit.alpha_:g}, fit {seconds:.0f} s")
    return rows, note


def run_mgo(args) -> int:
    from polymlp_lab import data, load_potential
    from polymlp_lab.fitting import PolymlpFit

    step = 5 if args.quick else 1
    dataset = data.dataset("MgO", indices=range(0, 1000, step))
    atomic_energy = data.atomic_energy("MgO")
    train, held = volume_split(dataset.structures, HELD_OUT_SHARE)
    fit = PolymlpFit(params=load_potential(data.potential("MgO")).components[0].params,
                     atomic_energy=atomic_energy, progress=False)
    rows, note = fit_and_rank(fit, dataset, train, held, atomic_energy, "volume")
    subset = "every 5th structure" if args.quick else "all structures"
    print(f"\n### 2. Does the grade rank the errors? MgO, {len(dataset)} structures ({subset}), "
          "held out: 10 % smallest and largest volume per atom (goal: Spearman all >= 0.7, "
          "held-out >= 0.5)\n")
    print(RANKING_HEADER)
    print("\n".join(rows))
    print(f"\n{note} (alpha chosen on the held-out set); γ > 1 means > 1 + 1e-9", flush=True)
    return 0


def run_cu(args) -> int:
    import numpy as np

    from polymlp_lab import data
    from polymlp_lab.fitting import PolymlpFit

    dataset = data.dataset("Cu-md")
    atomic_energy = data.atomic_energy("Cu-md")
    frames = dataset.structures
    n = len(frames)
    # kinetic proxy: mean squared displacement between consecutive steps (∝ T at a fixed
    # time step; velocities are not stored); configurational proxy: mean |F|² per atom
    kinetic = np.empty(n - 1)
    for k in range(n - 1):
        cell = np.array(frames[k].cell)
        step = frames[k + 1].positions - frames[k].positions
        step -= np.round(step @ np.linalg.inv(cell)) @ cell
        kinetic[k] = (step ** 2).sum(axis=1).mean()
    force_spread = np.array([(a.get_forces() ** 2).sum(axis=1).mean() for a in frames])
    potential_energy = np.array([a.get_potential_energy() / len(a) for a in frames])
    thirds = [slice(0, n // 3), slice(n // 3, 2 * n // 3), slice(2 * n // 3, None)]

    def by_thirds(values, fmt):
        return " / ".join(fmt.format(values[part].mean()) for part in thirds)

    n_train = int(round(CU_TRAIN_SHARE * n))
    splits = {
        "low-F² steps": (np.sort(np.argsort(force_spread, kind="stable")[:n_train]),
                         np.sort(np.argsort(force_spread, kind="stable")[n_train:])),
        "first steps": (np.arange(n_train), np.arange(n_train, n)),
    }
    rows, notes = [], []
    for label, (train, held) in splits.items():
        fit = PolymlpFit(elements=("Cu",), cutoff=6.0, model_type=4, max_p=2, gtinv_order=3,
                         gtinv_maxl=(4, 4), n_gaussians=8, atomic_energy=atomic_energy,
                         progress=False)
        more_rows, note = fit_and_rank(fit, dataset, train, held, atomic_energy, label)
        rows += more_rows
        notes.append(note)
    print(f"\n### 3. Does the grade rank the errors? Cu MD, {n} steps of {len(frames[0])} atoms, "
          f"the {100 * CU_TRAIN_SHARE:.0f} % of the steps that train chosen two ways (goal: "
          "Spearman all >= 0.7, held-out >= 0.5)\n")
    change = kinetic[thirds[2]].mean() / kinetic[thirds[0]].mean() - 1.0
    trend = ("nearly constant: the run neither heats nor cools" if abs(change) < 0.1 else
             "the run heats up" if change > 0 else "the run cools down")
    print(f"Temperature of the run, by thirds of its {n} steps (first / middle / last): kinetic "
          f"proxy, mean squared step between consecutive frames, "
          f"{by_thirds(kinetic, '{:.2e}')} Å² ({change:+.0%} from the first to the last third, "
          f"{trend}); "
          "configurational proxy, mean |F|² per atom, "
          f"{by_thirds(force_spread, '{:.2f}')} eV²/Å²; "
          f"potential energy {by_thirds(potential_energy, '{:.3f}')} eV/atom. Splits used: "
          f"'low-F² steps' = the {n_train} steps with the smallest mean |F|² train "
          f"(configurational temperature), 'first steps' = steps 0 to {n_train - 1} train; "
          "the rest is held out (and chooses alpha).\n")
    print(RANKING_HEADER)
    print("\n".join(rows))
    print("\n" + "; ".join(notes), flush=True)
    return 0


# ---------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="every 5th MgO structure, shorter timings")
    parser.add_argument("--sections", nargs="+", choices=("cost", "mgo", "cu"),
                        default=["cost", "mgo", "cu"])
    parser.add_argument("--threads", type=int, default=1, help="threads of the cost timings")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timed calls per potential and mode (default 4, quick 1.5)")
    parser.add_argument("--cost-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.budget = args.budget or (1.5 if args.quick else 4.0)
    if args.cost_worker:
        return cost_worker(args.budget)
    status = 0
    t0 = time.perf_counter()
    if "cost" in args.sections:
        status |= run_cost(args)
    if "mgo" in args.sections:
        status |= run_mgo(args)
    if "cu" in args.sections:
        status |= run_cu(args)
    print(f"\n(benchmark wall time {time.perf_counter() - t0:.0f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())

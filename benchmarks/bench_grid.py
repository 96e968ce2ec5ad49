"""Benchmark `polymlp-lab grid` on 1 and on 2 Dask workers: the same search, side by side.

Run by hand from anywhere:

    python benchmarks/bench_grid.py                        # 12 MgO models, 300 structures
    python benchmarks/bench_grid.py --structures 100       # a quicker, less telling run
    python benchmarks/bench_grid.py --workers-list 1 2 --keep /tmp/grids   # keep DIR/w<N>/

It needs the shared MgO conformance dataset (``../shared/conformance/datasets/MgO`` next to
the repository, or ``$POLYMLP_LAB_SHARED/conformance/datasets/MgO`` as in tests/conftest.py);
without it it says so and exits 0.

The data are ``--structures`` files of MgO/dataset taken at an even stride (symlinked into one
work directory, so both runs read the same list); the test set is split from them by
pypolymlp's 90 % rule inside run_grid. The candidates are enumerate_models(("Mg", "O"),
cutoffs=(5, 6), n_gaussians=(4, 6), model_types=(2, 3), pair_max_ps=(2,), gtinv_order_max=3,
gtinv_maxl_max=(4, 4), max_features=2000): 12 models, 74 to 1203 coefficients, atomic
energies from MgO/polymlp.in, pypolymlp's alphas 10^-4 .. 10^1.

Each run is a fresh process, ``polymlp-lab grid ... --workers N --out <fresh dir> --quiet``
(a LocalCluster of N single-threaded worker processes fitting the models, then the costs
measured one model at a time in the main process), in this environment unchanged. Before the
timed runs an untimed 3-model grid on 20 structures fills the Numba cache and
the page cache, so the first timed run does not pay for compilation. The 1-minute load
average is printed before each run; a run during which other processes kept > 0.25 cores
busy (/proc/stat minus the run's own CPU time) is marked "*". The times each model's
polymlp.yaml and polymlp_cost.yaml were written split every run into phases: start-up (to
the first fit's start), fits, costs (with the cluster's shutdown), and the rest. The
polymlp_lab modules the command can import are hashed before and after every run: a run
during which they changed, or that ran other sources than the first run, is flagged (rerun).

Printed: Markdown tables to paste into benchmarks/README.md: wall time per run, speed-up
against the first run (goal >= 1.6x for 2 workers against 1, i.e. 80 % efficiency), the
number of models, and whether every run found the same Pareto-optimal models and the same
test RMSEs (to 1e-8 relative; costs are timings and differ). Exit status 1 if a run fails or
the test RMSEs differ; a different Pareto set alone (it can follow from cost noise) does not.
"""

import argparse
import glob
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import executable, shared_conformance_dir, system_busy_seconds  # noqa: E402

from polymlp_lab.grid import GridModel  # noqa: E402

ELEMENTS = ("Mg", "O")
# The grid: enumerate_models(ELEMENTS, cutoffs=(5, 6), n_gaussians=(4, 6), model_types=(2, 3),
# pair_max_ps=(2,), gtinv_order_max=3, gtinv_maxl_max=(4, 4), max_features=2000): 12 models
GRID_OPTIONS = [
    "--cutoffs", "5", "6", "--n-gaussians", "4", "6", "--model-types", "2", "3",
    "--pair-max-ps", "2", "--gtinv-order-max", "3", "--gtinv-maxl-max", "4", "4",
    "--max-features", "2000",
]
# The warm-up: 1 pair and 2 gtinv models (orders 2 and 3) on WARMUP_STRUCTURES, untimed
WARMUP_OPTIONS = [
    "--cutoffs", "5", "--n-gaussians", "4", "--model-types", "3", "--pair-max-ps", "2",
    "--gtinv-order-max", "3", "--gtinv-maxl-max", "4", "4",
]
WARMUP_STRUCTURES = 20
DEFAULT_STRUCTURES = 300
GOAL_EFFICIENCY = 0.8  # speed-up >= 0.8 x (workers / first run's workers): 1.6x for 2 vs 1
RMSE_KEYS = ("rmse_energy", "rmse_force", "rmse_energy_train", "rmse_force_train")
RMSE_REL_TOL = 1e-8
MAX_OTHER_LOAD = 0.25  # cores used by other processes during a run: above, mark it "*"
LOG_TAIL = 30  # lines of a failed run's log to show




def atomic_energies(polymlp_in):
    """["Mg=-0.0004", "O=-1.85..."] from the elements and atomic_energy lines of polymlp.in."""
    values = {}
    for line in Path(polymlp_in).read_text().splitlines():
        words = line.split("#")[0].split()
        if words and words[0] in ("elements", "atomic_energy"):
            values[words[0]] = words[1:]
    elements, energies = values.get("elements", []), values.get("atomic_energy", [])
    if tuple(elements) != ELEMENTS or len(energies) != len(elements):
        sys.exit(f"bench_grid: {polymlp_in}: expected elements Mg O with their atomic_energy")
    return [f"{e}={v}" for e, v in zip(elements, energies)]


def link_slice(files, count, directory):
    """Symlink `count` of `files`, evenly spaced from the first, into `directory`; the glob."""
    stride = max(1, len(files) // count)
    chosen = files[::stride][:count]
    directory.mkdir(parents=True)
    for path in chosen:
        (directory / path.name).symlink_to(path.resolve())
        with open(path, "rb") as handle:  # warm the page cache
            while handle.read(1 << 22):
                pass
    return str(directory / "*.xml.polymlp"), len(chosen), stride


def source_hash():
    """Short hash of the polymlp_lab modules `polymlp-lab` can import (found by modulefinder
    from polymlp_lab.cli, imports inside functions included), so that edits elsewhere in the
    package do not count."""
    import modulefinder

    import polymlp_lab

    root = Path(polymlp_lab.__file__).resolve().parents[1]
    finder = modulefinder.ModuleFinder(path=[str(root)])  # only the project: fast
    finder.import_hook("polymlp_lab.cli")
    digest = hashlib.sha256()
    for name, module in sorted(finder.modules.items()):
        if name.split(".")[0] == "polymlp_lab" and module.__file__:
            digest.update(name.encode() + b"\0" + Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


def git_head():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parents[1],
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"



def grid_command(data_glob, out, workers, energies, options):
    return [executable("polymlp-lab", "bench_grid"), "grid", "--elements", *ELEMENTS, "--data", data_glob,
            "--out", str(out), "--workers", str(workers), "--atomic-energy", *energies,
            *options, "--quiet"]


def run_grid_process(command, log_path):
    """Run one grid search, output to log_path; a dict of what was measured.

    CPU time is the child's and its waited-for descendants' (the Dask nanny and worker
    processes are joined when the cluster closes), from os.wait4.
    """
    sources_before = source_hash()
    load_before = os.getloadavg()[0]
    busy0 = system_busy_seconds()
    with open(log_path, "w") as log:
        start_epoch = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    busy1 = system_busy_seconds()
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "returncode": os.waitstatus_to_exitcode(status),
        "start_epoch": start_epoch,
        "wall_s": wall,
        "cpu_s": cpu,
        "load_before": load_before,
        "other_load": None if busy0 is None else max(0.0, (busy1 - busy0 - cpu) / wall),
        "log": Path(log_path).read_text(errors="replace"),
        "sources": sources_before,
        "sources_changed": source_hash() != sources_before,
    }


def read_run(out, run):
    """Add the models (GridModel), Pareto names and result-file times of a finished run in `out`."""
    summary = json.loads((out / "summary.json").read_text())
    run["rows"] = {r.name: r for r in map(GridModel.from_dict, summary["models"])}
    run["pareto"] = list(summary["pareto"])
    run["phases"] = phases(out, run)
    header = re.search(r"polymlp-lab: (\d+) candidate models", run["log"])
    run["n_candidates"] = int(header[1]) if header else None


def phases(out, run):
    """Seconds of start-up, fits, costs (and cluster shutdown), rest; fit work and occupancy.

    From the files' times: models/<name>/polymlp.yaml is written when its fit returns (fit
    started fit_s earlier), polymlp_cost.yaml when its cost is measured. None if missing.
    """
    t0 = run["start_epoch"]
    fitted, costed, starts, work = [], [], [], 0.0
    for name, row in run["rows"].items():
        model = out / "models" / name
        if row.fit_s is None or not (model / "polymlp.yaml").is_file():
            continue
        end = (model / "polymlp.yaml").stat().st_mtime - t0
        fitted.append(end)
        starts.append(end - row.fit_s)
        work += row.fit_s
        if (model / "polymlp_cost.yaml").is_file():
            costed.append((model / "polymlp_cost.yaml").stat().st_mtime - t0)
    if not fitted or not costed:
        return None
    first, fits_end, costs_end = min(starts), max(fitted), max(costed)
    span = fits_end - first
    return {
        "startup": first, "fits": span, "costs": costs_end - fits_end,
        "rest": run["wall_s"] - costs_end, "fit_work": work,
        "occupancy": work / (run["workers"] * span) if span > 0 else None,
        "longest": max((run["rows"][n].fit_s or 0.0, n) for n in run["rows"]),
    }


# ----------------------------------------------------------------------------- comparison


def rel_diff(a, b):
    if a is None or b is None:
        return 0.0 if a is None and b is None else math.inf
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def compare(ref, other):
    """Differences of `other` from `ref`: lists of printable lines (results, Pareto)."""
    result_diffs, pareto_diffs = [], []
    names_ref, names_other = set(ref["rows"]), set(other["rows"])
    for name in sorted(names_ref ^ names_other):
        where = "only in the first run" if name in names_ref else "only in this run"
        result_diffs.append(f"{name}: {where}")
    for name in sorted(names_ref & names_other):
        a, b = ref["rows"][name], other["rows"][name]
        if a.status != b.status:
            result_diffs.append(f"{name}: status {a.status!r} vs {b.status!r}")
            continue
        for key in RMSE_KEYS:
            x, y = getattr(a, key), getattr(b, key)
            d = rel_diff(x, y)
            if d > RMSE_REL_TOL:
                result_diffs.append(f"{name}: {key} {x!r} vs {y!r} (rel {d:.1e})")
        for key in ("n_features", "alpha"):
            if getattr(a, key) != getattr(b, key):
                result_diffs.append(f"{name}: {key} {getattr(a, key)!r} vs {getattr(b, key)!r}")
    front_ref, front_other = set(ref["pareto"]), set(other["pareto"])
    for name in sorted(front_ref ^ front_other):
        where = "first run only" if name in front_ref else "this run only"
        a, b = ref["rows"].get(name, GridModel(name)), other["rows"].get(name, GridModel(name))
        pareto_diffs.append(
            f"{name}: Pareto optimal in the {where}; test E RMSE {fmt(a.rmse_energy, '.4f')}"
            f" / {fmt(b.rmse_energy, '.4f')} meV/atom, cost {fmt(a.cost, '.5f')}"
            f" / {fmt(b.cost, '.5f')} ms/atom/step"
        )
    if pareto_diffs:
        swapped = cost_order_swaps(ref, other)
        pareto_diffs.append(f"cost order of the models: {swapped} pair(s) swapped between the runs")
    return result_diffs, pareto_diffs


def cost_order_swaps(ref, other):
    ok = [n for n in ref["rows"] if n in other["rows"] and ref["rows"][n].status == "ok"
          and other["rows"][n].status == "ok"]
    swaps = 0
    for i, m in enumerate(ok):
        for n in ok[i + 1:]:
            a = ref["rows"][m].cost - ref["rows"][n].cost
            b = other["rows"][m].cost - other["rows"][n].cost
            swaps += a * b < 0
    return swaps


# ----------------------------------------------------------------------------- report


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def mark(run):
    load = run["other_load"]
    return "*" if load is not None and load > MAX_OTHER_LOAD else ""


def verdict(ok, detail=""):
    return ("PASS" if ok else "FAIL") + (f" ({detail})" if detail else "")


def print_report(runs, meta):
    first = runs[0]
    print(f"\n### Grid search: {meta['models']} MgO models, {meta['structures']} structures,"
          f" 1 to {max(r['workers'] for r in runs)} Dask workers\n")
    print("| workers | load avg before | other load (cores) | wall s | CPU s | speed-up"
          f" | goal >= {GOAL_EFFICIENCY:g} x workers | models ok / failed | Pareto set"
          " | test RMSEs |")
    print("|---:|---:|---:|---:|---:|---:|---|---:|---|---|")
    for run in runs:
        rows = run["rows"].values()
        ok = sum(r.status == "ok" for r in rows)
        if run is first:
            speed, goal, same_front, same_rmse = "1.00", "-", "reference", "reference"
        else:
            speedup = first["wall_s"] / run["wall_s"]
            target = GOAL_EFFICIENCY * run["workers"] / first["workers"]
            speed = f"{speedup:.2f}"
            goal = verdict(speedup >= target, f">= {target:.2f}")
            same_front = "same" if not run["pareto_diffs"] else f"DIFFERS ({len(run['pareto_diffs']) - 1})"
            same_rmse = "same" if not run["result_diffs"] else f"DIFFER ({len(run['result_diffs'])})"
        print(f"| {run['workers']} | {run['load_before']:.2f} | {fmt(run['other_load'], '.2f')}"
              f" | {run['wall_s']:.1f}{mark(run)} | {run['cpu_s']:.1f} | {speed} | {goal}"
              f" | {ok} / {len(run['rows']) - ok} | {same_front} | {same_rmse} |")

    names = list(first["rows"])
    print("\n| model | features | alpha | test E RMSE meV/atom | test F RMSE eV/Å"
          " | cost ms/atom/step " + " / ".join(f"w{r['workers']}" for r in runs)
          + " | Pareto " + " / ".join(f"w{r['workers']}" for r in runs) + " |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in names:
        r = first["rows"][name]
        costs = " / ".join(fmt(run["rows"].get(name, GridModel(name)).cost, ".5f") for run in runs)
        front = " / ".join("yes" if name in run["pareto"] else "-" for run in runs)
        print(f"| {name} | {fmt(r.n_features, 'd')} | {fmt(r.alpha, 'g')}"
              f" | {fmt(r.rmse_energy, '.4f')} | {fmt(r.rmse_force, '.5f')}"
              f" | {costs} | {front} |")

    for run in runs[1:]:
        for title, diffs in (("test RMSE / result", run["result_diffs"]),
                             ("Pareto set", run["pareto_diffs"])):
            if diffs:
                print(f"\n{title} differences, {run['workers']} worker(s) vs"
                      f" {first['workers']}:")
                for line in diffs:
                    print(f"- {line}")

    print("\n| workers | start-up s | fits s | fit speed-up | fit work s (sum of fit_s)"
          " | worker occupancy in fits | costs + shutdown s | rest s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        ph = run["phases"]
        if ph is None:
            print(f"| {run['workers']} | - | - | - | - | - | - | - |")
            continue
        base = first["phases"]
        fit_speed = "-" if run is first or base is None else f"{base['fits'] / ph['fits']:.2f}"
        print(f"| {run['workers']} | {ph['startup']:.1f} | {ph['fits']:.1f} | {fit_speed}"
              f" | {ph['fit_work']:.1f} | {fmt(ph['occupancy'], '.0%')} | {ph['costs']:.1f}"
              f" | {ph['rest']:.1f} |")

    notes = []
    for run in runs[1:]:
        ph, base = run["phases"], first["phases"]
        if ph is None or base is None:
            continue
        ideal = max(base["fit_work"] / run["workers"], base["longest"][0])
        serial = first["wall_s"] - base["fits"]
        notes.append(
            f"{run['workers']} workers: with the first run's fit times ({base['fit_work']:.1f} s"
            f" in all, longest {base['longest'][0]:.1f} s: {base['longest'][1]}) perfectly"
            f" balanced, the fits take >= {ideal:.1f} s; with the first run's other phases"
            f" ({serial:.1f} s) the speed-up is at most {first['wall_s'] / (serial + ideal):.2f}"
        )
    for run in runs:
        if run["sources_changed"] or run["sources"] != first["sources"]:
            notes.append(
                f"WARNING: the polymlp_lab sources changed during or before the {run['workers']}"
                "-worker run (another checkout or edit): the runs compare different code; rerun"
            )
    loads = [r["other_load"] for r in runs if mark(r)]
    if loads:
        notes.append(f"\\* other processes kept up to {max(loads):.1f} cores busy during this run:"
                     " its time, and the speed-up, are unreliable")
    notes.append(
        "wall = whole `polymlp-lab grid` process (start-up: interpreter, data, LocalCluster,"
        " scatter; fits on the workers; costs one model at a time in the main process;"
        " rest: tables, figure, exit); CPU = it and its joined worker processes;"
        " speed-up = first run's wall / this wall; test RMSEs compared to"
        f" {RMSE_REL_TOL:g} relative, costs are timings and are not compared"
    )
    print("\n" + "\n".join(notes))


# ----------------------------------------------------------------------------- driver


def benchmark(args):
    dataset_dir = shared_conformance_dir() / "datasets" / "MgO"
    files = sorted(Path(p) for p in glob.glob(str(dataset_dir / "dataset" / "*.xml.polymlp")))
    if not files or not (dataset_dir / "polymlp.in").is_file():
        print(f"No MgO conformance dataset found under {dataset_dir}; nothing to benchmark."
              " Set POLYMLP_LAB_SHARED to the shared directory (holding conformance/).")
        return 0
    energies = atomic_energies(dataset_dir / "polymlp.in")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if max(args.workers_list) > cores:
        print(f"note: {max(args.workers_list)} workers on {cores} cores", file=sys.stderr)

    if args.keep:
        root = Path(args.keep).resolve()
        if root.exists() and any(root.iterdir()):
            sys.exit(f"bench_grid: {root} exists and is not empty; choose another --keep DIR")
        root.mkdir(parents=True, exist_ok=True)
        context = None
    else:
        context = tempfile.TemporaryDirectory(prefix="polymlp-bench-grid-")
        root = Path(context.name)
    try:
        data_glob, n_structures, stride = link_slice(files, args.structures, root / "data")
        meta = {
            "cores": cores,
            "structures": n_structures,
            "stride": stride,
            "models": None,
            "git": git_head(),
            "sources": source_hash(),
            "python": sys.version.split()[0],
            **{pkg: version(pkg) for pkg in ("polymlp-lab", "distributed", "numba", "numpy")},
        }
        if not args.no_warmup:
            warm_glob, _, _ = link_slice(files[::stride][:WARMUP_STRUCTURES],
                                         WARMUP_STRUCTURES, root / "warmup-data")
            print(f"  warm-up: 3-model grid on {WARMUP_STRUCTURES} structures, 1 worker"
                  " (untimed)", file=sys.stderr, flush=True)
            warm = run_grid_process(
                grid_command(warm_glob, root / "warmup", 1, energies, WARMUP_OPTIONS),
                root / "warmup.log")
            if warm["returncode"] != 0:
                return failed("warm-up", warm, root / "warmup.log")
            print(f"    {warm['wall_s']:.1f} s", file=sys.stderr, flush=True)
        runs = []
        for workers in args.workers_list:
            out = root / f"w{workers}"
            command = grid_command(data_glob, out, workers, energies, GRID_OPTIONS)
            print(f"  {workers} worker(s), load average {os.getloadavg()[0]:.2f}:"
                  f" {Path(command[0]).name} {' '.join(command[1:])}", file=sys.stderr, flush=True)
            run = run_grid_process(command, root / f"w{workers}.log")
            run["workers"] = workers
            if run["returncode"] != 0 or not (out / "summary.json").is_file():
                return failed(f"{workers} worker(s)", run, root / f"w{workers}.log")
            read_run(out, run)
            print(f"    {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU, other load"
                  f" {fmt(run['other_load'], '.2f')} cores", file=sys.stderr, flush=True)
            runs.append(run)
    finally:
        if context is not None:
            context.cleanup()

    meta["models"] = runs[0]["n_candidates"] or len(runs[0]["rows"])
    print(", ".join(f"{k} {v}" for k, v in meta.items()))
    for run in runs[1:]:
        run["result_diffs"], run["pareto_diffs"] = compare(runs[0], run)
    print_report(runs, meta)
    if args.keep:
        print(f"\nwork directories (data/, w<N>/ with models.csv, pareto.csv, summary.json;"
              f" w<N>.log) kept in {root}")
    return 1 if any(run["result_diffs"] for run in runs[1:]) else 0


def failed(what, run, log_path):
    tail = "\n".join(run["log"].splitlines()[-LOG_TAIL:])
    print(f"bench_grid: {what} run FAILED (exit status {run['returncode']}); end of"
          f" {log_path}:\n{tail}", file=sys.stderr)
    return 1


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers-list", nargs="+", type=int, default=[1, 2], metavar="N",
                        help="Dask workers of each run, in order; speed-ups are against the"
                             " first (default: 1 2)")
    parser.add_argument("--structures", type=int, default=DEFAULT_STRUCTURES, metavar="N",
                        help=f"MgO structures, evenly spaced (default {DEFAULT_STRUCTURES})")
    parser.add_argument("--keep", metavar="DIR", help="keep the work directories in DIR")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the untimed warm-up grid (Numba cache already filled)")
    args = parser.parse_args()
    if min(args.workers_list) < 1:
        parser.error("--workers-list: every N must be >= 1")
    if args.structures < 10:
        parser.error("--structures must be >= 10 (the test set is 10 % of them)")
    return args


if __name__ == "__main__":
    sys.exit(benchmark(parse_args()))

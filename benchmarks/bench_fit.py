"""Benchmark `polymlp-lab fit` against `pypolymlp -i`, side by side, on the shared datasets.

Run by hand from anywhere:

    python benchmarks/bench_fit.py                      # MgO and Cu-md, 2 threads
    python benchmarks/bench_fit.py --datasets Cu-md     # one dataset (~15 s)
    python benchmarks/bench_fit.py --threads 1 --keep /tmp/fits   # keep the work directories

It needs the shared conformance datasets (``../shared/conformance/datasets`` next to the
repository, or ``$POLYMLP_LAB_SHARED/conformance/datasets`` as in tests/conftest.py); without
them it says so and exits 0.

Each code fits each dataset's polymlp.in in a fresh process, in a work directory of its own
holding a copy of polymlp.in and symlinks to the (read-only) dataset files:
``polymlp-lab fit polymlp.in --quiet --output .`` and ``pypolymlp -i polymlp.in``. Both get
the same thread count (OMP/NUMBA/OPENBLAS/MKL_NUM_THREADS = --threads). The dataset files
are read once beforehand so that neither code pays for a cold page cache.

Measured per fit: wall time of the whole process (interpreter start, imports, reading the
data, fit, error report) and its peak resident memory, from the kernel's accounting of that
one child (os.wait4, the figure GNU time prints as "Maximum resident set size"). The two
codes' polymlp_error.yaml give the test RMSEs, their logs the chosen alpha and feature count.
Printed: Markdown tables of the figures and of the issue's goals (PASS/FAIL) to paste into
benchmarks/README.md. No goal failing changes the exit status: it is 1 only if a fit fails.
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import executable, shared_conformance_dir, system_busy_seconds  # noqa: E402

DATASETS = ("MgO", "Cu-md")
CODES = ("ours", "pypolymlp")
THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
GB = 1e9  # bytes
# The issue's goals
GOAL_RMSE_REL = 0.02  # test RMSE of energy and of forces within ±2 % of pypolymlp's
GOAL_TIME_RATIO = 0.5  # wall time ours / pypolymlp (issue 19: the MgO fit at half the time)
GOAL_MEMORY_RATIO = 0.5  # peak memory ours / pypolymlp
GOAL_MEMORY_GB = 1.0  # our peak memory, strictly below
MAX_OTHER_LOAD = 0.25  # cores used by other processes during a fit: above, mark it "*"
LOG_TAIL = 30  # lines of a failed fit's log to show




def commands():
    return {
        "ours": [executable("polymlp-lab", "bench_fit"), "fit", "polymlp.in", "--quiet", "--output", "."],
        "pypolymlp": [executable("pypolymlp", "bench_fit"), "-i", "polymlp.in"],
    }


def prepare_workdir(dataset_dir, workdir):
    """workdir with a copy of polymlp.in and symlinks to every other dataset entry."""
    workdir.mkdir(parents=True)
    for entry in sorted(dataset_dir.iterdir()):
        if entry.name == "polymlp.in":
            shutil.copyfile(entry, workdir / entry.name)
        else:
            (workdir / entry.name).symlink_to(entry.resolve())


def warm_page_cache(dataset_dir):
    """Read every dataset file once, so the first fit timed is not the only one reading disk."""
    for path in sorted(dataset_dir.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(1 << 22):
                    pass



def maxrss_bytes(usage):
    return usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def run_fit(command, workdir, threads):
    """Run one fit in workdir, its output to workdir/fit.log; a dict of what was measured.

    The child's peak RSS comes from os.wait4. Linux starts a child's high-water mark at its
    parent's (it is carried over at exec), so the figure is exact only when it exceeds this
    process's own peak; otherwise it is an upper bound ("exact": False).
    """
    env = dict(os.environ, **{var: str(threads) for var in THREAD_VARS})
    parent_peak = maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF))
    busy0 = system_busy_seconds()
    with open(workdir / "fit.log", "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    busy1 = system_busy_seconds()
    cpu = usage.ru_utime + usage.ru_stime
    peak = maxrss_bytes(usage)
    return {
        "returncode": proc.returncode,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_bytes": peak,
        "peak_exact": peak > parent_peak,
        "other_load": None if busy0 is None else max(0.0, (busy1 - busy0 - cpu) / wall),
        "log": (workdir / "fit.log").read_text(errors="replace"),
    }


def parse_log(code, log):
    """(alpha, n_features) the code reports in its output, None where absent."""
    if code == "ours":
        match = re.search(r"polymlp-lab: (\d+) features, alpha = (\S+)", log)
        return (float(match[2]), int(match[1])) if match else (None, None)
    alpha = re.search(r"Regression: best model\s*\n\s*alpha:\s*(\S+)", log)
    features = re.search(r"^n_features:\s*(\d+)", log, re.MULTILINE)
    return (float(alpha[1]) if alpha else None, int(features[1]) if features else None)


def test_errors(error_yaml):
    """{test dataset name: {rmse_energy (meV/atom), rmse_force (eV/Å)}} from polymlp_error.yaml."""
    import yaml

    data = yaml.safe_load(Path(error_yaml).read_text())
    return {
        entry["dataset"]: {k: entry.get(k) for k in ("rmse_energy", "rmse_force")}
        for entry in data["prediction_errors"]
        if str(entry["dataset"]).startswith("Test_")
    }


def benchmark_dataset(name, dataset_dir, root, threads):
    """Fit the dataset with both codes; {code: fit dict} (with "errors", "alpha", "n_features")."""
    warm_page_cache(dataset_dir)
    fits = {}
    for code, command in commands().items():
        workdir = root / name / code
        prepare_workdir(dataset_dir, workdir)
        print(f"  {name}: {code} ({Path(command[0]).name} {' '.join(command[1:])})",
              file=sys.stderr, flush=True)
        fit = run_fit(command, workdir, threads)
        fit["alpha"], fit["n_features"] = parse_log(code, fit["log"])
        fit["failure"] = None
        if fit["returncode"] != 0:
            fit["failure"] = f"exit status {fit['returncode']}"
        else:
            try:
                fit["errors"] = test_errors(workdir / "polymlp_error.yaml")
                if not fit["errors"]:
                    fit["failure"] = "no Test_ dataset in polymlp_error.yaml"
            except (OSError, KeyError, TypeError, ValueError) as exc:
                fit["failure"] = f"unreadable polymlp_error.yaml ({exc})"
        if fit["failure"]:
            tail = "\n".join(fit["log"].splitlines()[-LOG_TAIL:])
            print(f"  {name}: {code} FIT FAILED: {fit['failure']}; end of {workdir}/fit.log:\n"
                  f"{tail}", file=sys.stderr)
        else:
            print(f"    {fit['wall_s']:.1f} s wall, {fit['cpu_s']:.1f} s CPU,"
                  f" peak {fit['peak_bytes'] / GB:.3f} GB, alpha {fit['alpha']:g}",
                  file=sys.stderr, flush=True)
        fits[code] = fit
    return fits


# ----------------------------------------------------------------------------- report


def rel_diff(ours, ref):
    return ours / ref - 1.0


def verdict(ok, detail=""):
    return ("PASS" if ok else "FAIL") + (f" ({detail})" if detail else "")


def rows_for(name, fits):
    """One row per test dataset present in both codes' reports: figures and goal checks."""
    ours, ref = fits["ours"], fits["pypolymlp"]
    shared = [k for k in ours["errors"] if k in ref["errors"]]
    rows = []
    for test_name in shared:
        e_ours, e_ref = (f["errors"][test_name]["rmse_energy"] for f in (ours, ref))
        f_ours, f_ref = (f["errors"][test_name]["rmse_force"] for f in (ours, ref))
        time_ratio = ours["wall_s"] / ref["wall_s"]
        memory_ratio = ours["peak_bytes"] / ref["peak_bytes"]
        d_e = rel_diff(e_ours, e_ref)
        d_f = None if f_ours is None or f_ref is None else rel_diff(f_ours, f_ref)
        goals = {
            "energy": abs(d_e) <= GOAL_RMSE_REL,
            "force": d_f is not None and abs(d_f) <= GOAL_RMSE_REL,
            "time": time_ratio <= GOAL_TIME_RATIO,
            "memory_ratio": memory_ratio <= GOAL_MEMORY_RATIO,
            "memory_gb": ours["peak_bytes"] / GB < GOAL_MEMORY_GB,
        }
        label = name if len(shared) == 1 else f"{name}: {test_name}"
        rows.append({
            "label": label, "ours": ours, "ref": ref, "e": (e_ours, e_ref), "f": (f_ours, f_ref),
            "d_e": d_e, "d_f": d_f, "time_ratio": time_ratio, "memory_ratio": memory_ratio,
            "goals": goals,
        })
    return rows


def mark(fit):
    """'*' when other processes used the CPU during the fit, else ''."""
    load = fit["other_load"]
    return "*" if load is not None and load > MAX_OTHER_LOAD else ""


def peak_gb(fit):
    return ("" if fit["peak_exact"] else "≤") + f"{fit['peak_bytes'] / GB:.3f}"


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_tables(rows, failed, threads):
    print(f"\n### Fit: polymlp-lab vs pypolymlp, {threads} thread(s) each\n")
    print(
        "| dataset | wall s ours / pypolymlp | ratio | peak GB ours / pypolymlp | ratio"
        " | test E RMSE meV/atom ours / pypolymlp | diff"
        " | test F RMSE eV/Å ours / pypolymlp | diff | alpha ours / pypolymlp"
        " | features ours / pypolymlp |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, p = r["ours"], r["ref"]
        print(
            f"| {r['label']}"
            f" | {o['wall_s']:.1f}{mark(o)} / {p['wall_s']:.1f}{mark(p)} | {r['time_ratio']:.2f}"
            f" | {peak_gb(o)} / {peak_gb(p)} | {r['memory_ratio']:.2f}"
            f" | {r['e'][0]:.4f} / {r['e'][1]:.4f} | {100 * r['d_e']:+.2f} %"
            f" | {fmt(r['f'][0], '.5f')} / {fmt(r['f'][1], '.5f')}"
            f" | {'-' if r['d_f'] is None else format(100 * r['d_f'], '+.2f') + ' %'}"
            f" | {fmt(o['alpha'], 'g')} / {fmt(p['alpha'], 'g')}"
            f" | {fmt(o['n_features'], 'd')} / {fmt(p['n_features'], 'd')} |"
        )
    for name, codes in failed:
        print(f"| {name} | fit failed: {', '.join(codes)} |" + " |" * 9)
    print(
        f"\nGoals: test RMSE of energy and of forces within ±{100 * GOAL_RMSE_REL:g} % of"
        f" pypolymlp's; wall time ratio <= {GOAL_TIME_RATIO:g};"
        f" peak memory ratio <= {GOAL_MEMORY_RATIO:g} and ours < {GOAL_MEMORY_GB:g} GB\n"
    )
    print(
        f"| dataset | E RMSE ±{100 * GOAL_RMSE_REL:g} % | F RMSE ±{100 * GOAL_RMSE_REL:g} %"
        f" | wall ratio <= {GOAL_TIME_RATIO:g} | memory ratio <= {GOAL_MEMORY_RATIO:g}"
        f" | ours < {GOAL_MEMORY_GB:g} GB | all |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        g = r["goals"]
        cells = [
            verdict(g["energy"], f"{100 * r['d_e']:+.2f} %"),
            verdict(g["force"], "-" if r["d_f"] is None else f"{100 * r['d_f']:+.2f} %"),
            verdict(g["time"], f"{r['time_ratio']:.2f}"),
            verdict(g["memory_ratio"], f"{r['memory_ratio']:.2f}"),
            verdict(g["memory_gb"], f"{r['ours']['peak_bytes'] / GB:.3f} GB"),
            verdict(all(g.values())),
        ]
        print(f"| {r['label']} | " + " | ".join(cells) + " |")
    for name, codes in failed:
        print(f"| {name} | fit failed: {', '.join(codes)} |" + " |" * 5)
    notes = []
    fits = [f for r in rows for f in (r["ours"], r["ref"])]
    loads = [f["other_load"] for f in fits if mark(f)]
    if loads:
        notes.append(
            f"\\* other processes kept up to {max(loads):.1f} cores busy during this fit:"
            " its time is pessimistic"
        )
    if not all(f["peak_exact"] for f in fits):
        notes.append("≤ peak no higher than this script's own, an upper bound")
    notes.append(
        "wall = whole process (start-up, imports, reading the data, fit, error report);"
        " peak = maximum resident set size; GB = 10^9 bytes; diff = ours / pypolymlp - 1"
    )
    print("\n" + "\n".join(notes))


def benchmark(args):
    datasets_dir = shared_conformance_dir() / "datasets"
    found = {}
    for name in args.datasets:
        path = datasets_dir / name
        if (path / "polymlp.in").is_file():
            found[name] = path
        else:
            print(f"note: skipping {name}: {path / 'polymlp.in'} is missing", file=sys.stderr)
    if not found:
        print(
            f"No conformance datasets found under {datasets_dir}; nothing to benchmark."
            " Set POLYMLP_LAB_SHARED to the shared directory (holding conformance/)."
        )
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if args.threads > cores:
        print(f"note: {args.threads} threads on {cores} cores", file=sys.stderr)
    meta = {
        "cores": cores,
        "threads": args.threads,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
        **{pkg: version(pkg) for pkg in ("polymlp-lab", "pypolymlp", "numba", "numpy")},
    }
    print(", ".join(f"{k} {v}" for k, v in meta.items()), flush=True)

    if args.keep:
        root = Path(args.keep).resolve()
        clashes = [root / name for name in found if (root / name).exists()]
        if clashes:
            names = ", ".join(map(str, clashes))
            sys.exit(f"bench_fit: {names} already exist(s); choose another --keep DIR")
        context = None
    else:
        context = tempfile.TemporaryDirectory(prefix="polymlp-bench-fit-")
        root = Path(context.name)
    try:
        results = {name: benchmark_dataset(name, path, root, args.threads)
                    for name, path in found.items()}
    finally:
        if context is not None:
            context.cleanup()

    rows, failed = [], []
    for name, fits in results.items():
        bad = [code for code in CODES if fits[code]["failure"]]
        if bad:
            failed.append((name, bad))
        else:
            rows.extend(rows_for(name, fits))
    print_tables(rows, failed, args.threads)
    if args.keep:
        print(f"\nwork directories (fit.log, polymlp.yaml, polymlp_error.yaml) kept in {root}")
    return 1 if failed else 0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS),
                        help="datasets to fit (default: all)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for each code (OMP/NUMBA_NUM_THREADS; default 2)")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the work directories in DIR/<dataset>/<code>")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    return args


if __name__ == "__main__":
    sys.exit(benchmark(parse_args()))

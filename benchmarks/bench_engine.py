"""Benchmark the polymlp-lab Numba engine against pypolymlp, side by side.

Run by hand from anywhere:

    python benchmarks/bench_engine.py                  # 3 rounds of 20 steps per measurement
    python benchmarks/bench_engine.py --quick          # 3 rounds of 5 steps
    python benchmarks/bench_engine.py --json out.json  # also save every number as JSON

It needs only the installed packages: seven systems on the potentials that ship with
polymlp-lab (``polymlp_lab.data``), fcc-Al, diamond-Si, bcc-Ti and rocksalt-MgO on their
published example structures, perovskite SrTiO3, L1_0 TiAl and L1_2 Al3Cu built here (see
SYSTEMS), each repeated 3x3x3 and rattled by 0.03 Å with seed 0.

Every measurement runs in a child process (this script with ``--worker`` and the system's
label, from which the child builds the structure) because Numba's and OpenMP's thread counts
are fixed when a process starts. Printed tables:

1. cold start: wall time of a whole new process doing import + load + first
   energy/forces/stress evaluation, and the part of it spent after the interpreter started,
   both without the time the child takes to build its structure from the label, for our
   engine with an empty Numba cache ("cold", fcc-Al) and with that cache filled ("warm",
   fcc-Al then L1_0-TiAl, a legacy polymlp.lammps file), beside pypolymlp. The later runs
   reuse that cache. One more row compiles every engine and fitting kernel from an empty cache
   (``polymlp_lab.cli.warmup`` in a new process) and gives the seconds warmup returned.
2. profile: where one evaluation of ours spends its time, at 1 thread, best of 5 per part, in
   ms/atom and as a share of the whole ``Potential.evaluate``: neighbour list, radial functions
   with their derivatives and spherical harmonics (alone: what the density pass computes per
   bond and keeps for the force pass), the density scatter (accumulation minus those two),
   invariants + polynomial (energy only), the adjoint (energy with adjoint minus energy only),
   bond forces (contraction and dY/dd from the kept Y) and the rest (Python, allocation),
   with the sizes behind them; summed over a hybrid's files. Beside each term, the hardware's
   limit for it (``limits.py``: a count of its arithmetic and memory traffic on one core at
   the clock measured in the same process) and measured / limit.
3. throughput: ms per atom per energy+forces+stress step (best of 3 means) for both engines
   at 1 thread and at all cores, their ratio (ours / pypolymlp), and our speed-up; then the
   geometric mean and the largest of the 1-thread ratios. A run during which other processes
   used the CPU (read from /proc/stat) is retried up to 3 times; a timing disturbed on every
   try is marked "*" and footnoted.
4. agreement: the largest energy/atom, force and stress differences between the two engines
   over the timed runs, so a fast wrong answer cannot hide. Exits 1 if beyond tolerance.
"""

import argparse
import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import system_busy_seconds  # noqa: E402
from limits import clock_hz, limit_cycles  # noqa: E402

START = time.perf_counter()  # zero of the in-process cold-start clock

FACE_CENTRED = ((0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5))
# label: (shipped potential, None for the example structure published with it, or
# (symbols, cell lengths a b c in Å, fractional positions) of a unit cell built here)
SYSTEMS = {
    "fcc-Al": ("Al", None),
    "diamond-Si": ("Si", None),
    "bcc-Ti": ("Ti", None),
    "rocksalt-MgO": ("MgO", None),
    "perovskite-SrTiO3": (
        "SrTiO3",
        ("SrTiO3", (3.905, 3.905, 3.905),
         ((0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5))),
    ),
    "L1_0-TiAl": ("Ti-Al", ("Ti2Al2", (3.99, 3.99, 4.07), FACE_CENTRED)),
    "L1_2-Al3Cu": ("Al-Cu", ("CuAl3", (3.95, 3.95, 3.95), FACE_CENTRED)),
}  # fmt: skip
# (system, Numba cache states for our engine), in order: the cache warmed by the fcc-Al runs
# is the one the L1_0-TiAl run then finds.
COLD_START = (("fcc-Al", ("cold", "warm")), ("L1_0-TiAl", ("warm",)))
ENGINES = ("ours", "pypolymlp")
# imported before the structure is built (with polymlp_lab.data), whose time the cold start
# leaves out: so pypolymlp's child does not count importing polymlp_lab, and ours does
ENGINE_MODULES = {"ours": "polymlp_lab", "pypolymlp": "pypolymlp.calculator.properties"}
SUPERCELL = (3, 3, 3)
RATTLE_STDEV = 0.03  # Å
RATTLE_SEED = 0
ROUNDS = 3
PROFILE_REPEATS = 5
PROFILE_TERMS = (
    "neighbours", "radial functions + derivatives", "spherical harmonics",
    "densities (scatter)", "invariants+polynomial", "adjoint", "bond forces", "other",
)  # fmt: skip
ENERGY_TOL = 1e-6  # eV/atom
FORCE_TOL = 1e-6  # eV/Å
MAX_OTHER_LOAD = 0.25  # cores used by other processes while timing: above, retry then warn
ATTEMPTS = 3  # tries per throughput measurement while other processes disturb it
GOAL_RATIO = "goal (issue 19): geometric mean <= 0.30, none above 0.40"
GOAL_SPEEDUP = "goal: near-linear speed-up on all cores"
GOAL_COLD_START = "goal: cached cold start under 5 s"
GOAL_COMPILE = "goal: first compile from an empty cache <= 15 s (issue 19)"


# ----------------------------------------------------------------------------- worker side


def build_system(label):
    """(potential file, structure) of system ``label``: repeated SUPERCELL and rattled."""
    from ase import Atoms

    from polymlp_lab import data

    name, cell = SYSTEMS[label]
    if cell is None:
        atoms = data.structure(name)
    else:
        symbols, lengths, fractional = cell
        atoms = Atoms(symbols, cell=lengths, scaled_positions=fractional, pbc=True)
    atoms = atoms.repeat(SUPERCELL)
    atoms.rattle(stdev=RATTLE_STDEV, seed=RATTLE_SEED)
    return data.potential(name), atoms


def make_step(engine, potential_file, atoms, threads):
    """Load the potential; return a callable doing one energy+forces+stress evaluation.

    The callable returns (energy eV, forces (n_atom, 3) eV/Å, stress eV/Å³ in ASE's Voigt
    order xx yy zz yz xz xy), whichever engine runs it.
    """
    if engine == "ours":
        import polymlp_lab

        potential = polymlp_lab.load_potential(potential_file)

        def step():
            result = potential.evaluate(atoms)
            return result.energy, result.forces, result.stress

        return step

    from pypolymlp.calculator.properties import Properties
    from pypolymlp.calculator.utils.ase_utils import ase_atoms_to_structure

    properties = Properties(pot=str(potential_file))
    structure = ase_atoms_to_structure(atoms)
    volume = atoms.get_volume()

    def step():
        # forces (3, n_atom); stress eV/cell, xx yy zz xy yz zx, opposite sign to ASE
        energy, forces, stress = properties.eval(structure, use_openmp=threads > 1)
        return energy, forces.T, -stress[[0, 1, 2, 4, 5, 3]] / volume

    return step


def prepare(args):
    """(step, atoms, seconds spent building the structure): the engine imported first."""
    importlib.import_module(ENGINE_MODULES[args.engine])
    t0 = time.perf_counter()
    potential_file, atoms = build_system(args.system)
    setup_s = time.perf_counter() - t0
    return make_step(args.engine, potential_file, atoms, args.threads), atoms, setup_s


def throughput_worker(args):
    """Warm up once, then the best of ROUNDS mean step times over args.repeats steps.

    other_load: cores kept busy by other processes (and the hypervisor) while timing,
    None where /proc/stat is unavailable.
    """
    step, atoms, _ = prepare(args)
    energy, forces, stress = step()
    means = []
    fastest = float("inf")
    busy0, cpu0, wall0 = system_busy_seconds(), time.process_time(), time.perf_counter()
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            t_step = time.perf_counter()
            step()
            fastest = min(fastest, time.perf_counter() - t_step)
        means.append((time.perf_counter() - t0) / args.repeats)
    busy1, cpu1, wall1 = system_busy_seconds(), time.process_time(), time.perf_counter()
    other_load = None if busy0 is None else (busy1 - busy0 - (cpu1 - cpu0)) / (wall1 - wall0)
    return {
        "n_atoms": len(atoms),
        "seconds_per_step": min(means),
        "fastest_step_s": fastest,
        "other_load": other_load,
        "energy": float(energy),
        "forces": forces.tolist(),
        "stress": stress.tolist(),
    }


def cold_start_worker(args):
    """Import, load and evaluate once; seconds since this script started, less the setup."""
    step, _, setup_s = prepare(args)
    step()
    return {"in_process_s": time.perf_counter() - START - setup_s, "setup_s": setup_s}


def warmup_worker(args):
    """Compile every engine and fitting kernel (NUMBA_CACHE_DIR is empty)."""
    from polymlp_lab.cli import warmup

    return {"warmup_s": warmup(), "in_process_s": time.perf_counter() - START}


def best_time(function):
    """The fastest of PROFILE_REPEATS calls (the first call compiles what it needs), seconds."""
    times = []
    for _ in range(PROFILE_REPEATS):
        t0 = time.perf_counter()
        function()
        times.append(time.perf_counter() - t0)
    return min(times)


def basis_loops():
    """Numba loops over the bonds computing only the radial functions with their derivatives
    and only the spherical harmonics: what the density pass computes per bond."""
    import numpy as np
    from numba import njit

    from polymlp_lab.engine.harmonics import spherical_harmonics
    from polymlp_lab.engine.radial import gaussian_radial_grid_derivative

    @njit
    def radial(d, cutoff, params, grid):
        fn = np.empty(params.shape[0])
        dfn = np.empty(params.shape[0])
        total = 0.0
        for b in range(d.shape[0]):
            r = math.sqrt(d[b, 0] ** 2 + d[b, 1] ** 2 + d[b, 2] ** 2)
            gaussian_radial_grid_derivative(r, cutoff, params, grid, fn, dfn)
            total += fn[0] + dfn[0]
        return total

    @njit
    def harmonics(d, lmax, norm, rec):
        ylm = np.empty((lmax + 1) * (lmax + 2) // 2, dtype=np.complex128)
        q = np.empty((lmax + 1, lmax + 2))
        total = 0.0
        for b in range(d.shape[0]):
            spherical_harmonics(d[b, 0], d[b, 1], d[b, 2], lmax, norm, rec, q, ylm)
            total += ylm[0].real
        return total

    return radial, harmonics


def component_sizes(tables, n_atoms, n_bonds):
    """The sizes behind one potential file's profile."""
    import numpy as np

    return {
        "elements": list(tables.elements),
        "atoms": n_atoms,
        "half_bonds": n_bonds,
        "neighbours_per_atom": 2 * n_bonds / n_atoms,
        "radial_functions": int(tables.basis.radial_params.shape[0]),
        "lmax": int(tables.lmax),
        "density_slots": int(tables.n_slots_half),
        "products": len(tables.products.off) - 1,
        "features_per_type": np.diff(tables.features.ptr).tolist(),
    }


def profile_component(component, atoms, radial, harmonics):
    """({term: seconds} but "other", sizes) of one potential file on ``atoms``, as
    Potential.evaluate runs it: on the atoms of its elements, kernels in one chunk."""
    import numpy as np

    from polymlp_lab.engine import kernels
    from polymlp_lab.engine.harmonics import n_lm_half
    from polymlp_lab.engine.model import Bonds, bond_basis
    from polymlp_lab.engine.neighbors import half_neighbor_list

    t, basis = component.tables, component.tables.basis
    params, grid, norm, rec = basis.radial_params, basis.grid, basis.norm, basis.rec
    types = component.type_ids(atoms.numbers)
    mine = np.flatnonzero(types >= 0)
    types, positions = types[mine], np.ascontiguousarray(atoms.positions[mine])
    cell, pbc, n = atoms.cell.array, atoms.pbc, len(mine)
    bonds = Bonds(*half_neighbor_list(cell, positions, pbc, t.cutoff))
    a_half = np.zeros((n, t.n_slots_half), dtype=np.complex128)
    g_half, energies = np.zeros_like(a_half), np.zeros(n)
    forces, virial, features = np.zeros((n, 3)), np.zeros((3, 3)), np.zeros((0, 1))
    # the density pass keeps every bond's basis for the force pass (as evaluate does for
    # structures of this size)
    kept = bond_basis(len(bonds.i), n_lm_half(t.lmax), params.shape[0])

    def densities():
        kernels.compute_densities(bonds, types, basis, 1, a_half, kept)

    def energy(adjoint):
        kernels.atomic_energies(a_half, types, t.lmax, t.products, t.triples, t.features,
                                t.polynomial, adjoint, 1, energies, g_half, features)

    s = {  # in this order: the energies read the densities, the bond forces the adjoint
        "neighbours": best_time(lambda: half_neighbor_list(cell, positions, pbc, t.cutoff)),
        "radial": best_time(lambda: radial(bonds.d, t.cutoff, params, grid)),
        "ylm": best_time(lambda: harmonics(bonds.d, t.lmax, norm, rec)),
        "density": best_time(densities),
        "energy": best_time(lambda: energy(False)),
        "energy+adjoint": best_time(lambda: energy(True)),
        "forces": best_time(
            lambda: kernels.bond_forces(bonds, types, basis, g_half, 1, forces, virial, kept)
        ),
    }  # fmt: skip
    seconds = {
        "neighbours": s["neighbours"],
        "radial functions + derivatives": s["radial"],
        "spherical harmonics": s["ylm"],
        "densities (scatter)": s["density"] - s["radial"] - s["ylm"],
        "invariants+polynomial": s["energy"],
        "adjoint": s["energy+adjoint"] - s["energy"],
        "bond forces": s["forces"],  # contraction and dY/dd from the kept Y
    }
    cycles = {term: per_atom * n for term, per_atom in limit_cycles(t, types, len(bonds.i)).items()}
    return seconds, cycles, component_sizes(t, n, len(bonds.i))


def profile_worker(args):
    """Seconds of each PROFILE_TERMS part of one evaluation (summed over the components)."""
    import polymlp_lab

    potential_file, atoms = build_system(args.system)
    potential = polymlp_lab.load_potential(potential_file)
    radial, harmonics = basis_loops()
    seconds = dict.fromkeys(PROFILE_TERMS, 0.0)
    limit_s = dict.fromkeys(PROFILE_TERMS, 0.0)  # "other" (Python, allocation): no limit
    clock = clock_hz()
    components = []
    for component in potential.components:
        parts, cycles, sizes = profile_component(component, atoms, radial, harmonics)
        for term, value in parts.items():
            seconds[term] += value
            limit_s[term] += cycles[term] / clock
        components.append(sizes)
    whole = best_time(lambda: potential.evaluate(atoms))
    seconds["other"] = whole - sum(seconds.values())
    return {"n_atoms": len(atoms), "evaluate_s": whole, "seconds": seconds,
            "limit_s": limit_s, "clock_ghz": clock / 1e9, "components": components}


WORKERS = {
    "throughput": throughput_worker,
    "cold-start": cold_start_worker,
    "warmup": warmup_worker,
    "profile": profile_worker,
}


# ----------------------------------------------------------------------------- parent side


def core_count():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def run_worker(kind, threads, cache_dir, engine="ours", system=None, repeats=0):
    """Run one measurement in a fresh process; its JSON result plus the process wall time."""
    command = [
        sys.executable, __file__, "--worker", kind, "--engine", engine,
        "--threads", str(threads), "--repeats", str(repeats),
    ]  # fmt: skip
    if system:
        command += ["--system", system]
    env = dict(
        os.environ,
        NUMBA_NUM_THREADS=str(threads),
        OMP_NUM_THREADS=str(threads),
        NUMBA_CACHE_DIR=str(cache_dir),
    )
    print(f"  {kind}: {engine} {system or ''} {threads} thread(s)", file=sys.stderr)
    t0 = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"worker failed: {' '.join(command)}\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def measure_cold_start(cores, cache_dir):
    """Rows {system, engine, cache, wall_s, in_process_s, setup_s}, wall_s without the
    setup; leaves cache_dir warm."""
    rows = []

    def add(label, engine, cache):
        result = run_worker("cold-start", cores, cache_dir, engine, label)
        result["wall_s"] -= result["setup_s"]
        rows.append({"system": label, "engine": engine, "cache": cache, **result})

    for label, caches in COLD_START:
        for cache in caches:
            add(label, "ours", cache)
        add(label, "pypolymlp", "-")
    return rows


def measure_compile(cores):
    """{wall_s, in_process_s, warmup_s} of warmup() in a new process, empty Numba cache."""
    with tempfile.TemporaryDirectory(prefix="polymlp-bench-numba-compile-") as cache_dir:
        return run_worker("warmup", cores, cache_dir)


def measure_profiles(cache_dir):
    """{system: profile worker result}, at 1 thread."""
    return {label: run_worker("profile", 1, cache_dir, system=label) for label in SYSTEMS}


def quietest_throughput_run(engine, label, threads, cache_dir, repeats):
    """A throughput worker result, retried (up to ATTEMPTS) while others used the CPU."""
    attempts = []
    for _ in range(ATTEMPTS):
        attempts.append(run_worker("throughput", threads, cache_dir, engine, label, repeats))
        load = attempts[-1]["other_load"]
        if load is None or load <= MAX_OTHER_LOAD:
            break
    return min(attempts, key=lambda r: r["other_load"] or 0.0)


def measure_throughput(thread_counts, repeats, cache_dir):
    """{(system, engine, threads): worker result}."""
    return {
        (label, engine, threads): quietest_throughput_run(
            engine, label, threads, cache_dir, repeats
        )
        for label in SYSTEMS
        for threads in thread_counts
        for engine in ENGINES
    }


def agreement(results, thread_counts):
    """Rows of the largest ours-vs-pypolymlp differences over thread counts, per system."""
    import numpy as np

    rows = []
    for label in SYSTEMS:
        de = df = ds = 0.0
        for threads in thread_counts:
            ours, ref = results[label, "ours", threads], results[label, "pypolymlp", threads]
            de = max(de, abs(ours["energy"] - ref["energy"]) / ours["n_atoms"])
            df = max(df, np.abs(np.subtract(ours["forces"], ref["forces"])).max())
            ds = max(ds, np.abs(np.subtract(ours["stress"], ref["stress"])).max())
        ok = bool(de <= ENERGY_TOL and df <= FORCE_TOL)
        rows.append(
            {"system": label, "dE_per_atom": de, "dF": float(df), "dstress": float(ds), "ok": ok}
        )
    return rows


def throughput_rows(results, thread_counts):
    """Rows {system, n_atoms, threads: {n: ms/atom/step of each engine, ratio,
    other_load of each engine}, speedup}."""
    rows = []
    for label in SYSTEMS:
        n_atoms = results[label, "ours", 1]["n_atoms"]
        by_threads = {}
        for threads in thread_counts:
            ms = {
                engine: 1e3 * results[label, engine, threads]["seconds_per_step"] / n_atoms
                for engine in ENGINES
            }
            by_threads[threads] = {
                **ms,
                "ratio": ms["ours"] / ms["pypolymlp"],
                "other_load": {e: results[label, e, threads]["other_load"] for e in ENGINES},
            }
        speedup = by_threads[1]["ours"] / by_threads[thread_counts[-1]]["ours"]
        fastest = [results[label, "ours", t]["fastest_step_s"] for t in (1, thread_counts[-1])]
        rows.append(
            {"system": label, "n_atoms": n_atoms, "threads": by_threads, "speedup": speedup,
             "speedup_fastest_step": fastest[0] / fastest[1]}
        )
    return rows


def ratio_summary(rows):
    """Geometric mean and largest of the 1-thread ratios, and the system of the largest."""
    ratios = {r["system"]: r["threads"][1]["ratio"] for r in rows}
    largest = max(ratios, key=ratios.get)
    geometric_mean = math.exp(sum(math.log(x) for x in ratios.values()) / len(ratios))
    return {"geometric_mean": geometric_mean, "largest": ratios[largest], "largest_system": largest}


def print_cold_start(rows, compile_row, cores):
    cell = "x".join(map(str, SUPERCELL))
    print(f"\nCold start: new process, import + load + first evaluate, {cell}, {cores} threads")
    print("  wall = whole process; in-proc = after interpreter start (seconds); both without")
    print("  building the structure from its label")
    print(f"{'system':<19}{'engine':<11}{'numba cache':<13}{'wall':>7}{'in-proc':>9}")
    for r in rows:
        print(
            f"{r['system']:<19}{r['engine']:<11}{r['cache']:<13}"
            f"{r['wall_s']:>7.2f}{r['in_process_s']:>9.2f}"
        )
    print(GOAL_COLD_START)
    c = compile_row
    print(
        f"{'all kernels':<19}{'warmup()':<11}{'cold':<13}{c['wall_s']:>7.2f}"
        f"{c['in_process_s']:>9.2f}  warmup() returned {c['warmup_s']:.2f} s; {GOAL_COMPILE}"
    )


def print_profile(profiles):
    print(
        f"\nProfile of ours: 1 thread, best of {PROFILE_REPEATS} per part; ms/atom and share of"
        " the whole Potential.evaluate; beside them the hardware's limit for each term in ms/atom"
        " (benchmarks/limits.py: a count of arithmetic and memory traffic, at the measured clock)"
        " and measured / limit"
    )
    for label, p in profiles.items():
        print(f"{label} (clock {p['clock_ghz']:.2f} GHz):")
        for c in p["components"]:
            print(
                f"  {'-'.join(c['elements'])}: {c['atoms']} atoms, {c['half_bonds']} half bonds"
                f" ({c['neighbours_per_atom']:.1f} neighbours/atom), {c['radial_functions']}"
                f" radial functions, lmax {c['lmax']}, {c['density_slots']} density slots,"
                f" {c['products']} products, features per type {c['features_per_type']}"
            )
        limits = {**p["limit_s"], "whole evaluate": sum(p["limit_s"].values())}
        print(f"    {'term':<30}{'ms/atom':>9}{'share':>9}{'limit':>9}{'x limit':>9}")
        for term, seconds in {**p["seconds"], "whole evaluate": p["evaluate_s"]}.items():
            share = 100 * seconds / p["evaluate_s"]
            limit = limits[term]
            beside = (f"{1e3 * limit / p['n_atoms']:>9.4f}{seconds / limit:>9.1f}" if limit > 0
                      else f"{'-':>9}{'-':>9}")
            print(f"    {term:<30}{1e3 * seconds / p['n_atoms']:>9.4f}{share:>7.1f} %{beside}")


def disturbed(load):
    return load is not None and load > MAX_OTHER_LOAD


def contention_warning(results):
    """A footnote for timings taken while other processes used the CPU, else ""."""
    loads = [r["other_load"] for r in results.values() if disturbed(r["other_load"])]
    if not loads:
        return ""
    return (
        f"* other processes kept up to {max(loads):.1f} cores busy during this timing, even"
        f" after {ATTEMPTS} tries: it is pessimistic (multi-thread ones most)"
    )


def print_throughput(rows, summary, thread_counts, repeats, warning):
    print(
        f"\nThroughput: ms/atom/step, energy+forces+stress, best of {ROUNDS} means"
        f" of {repeats} steps; ratio = ours / pypolymlp"
    )
    header = f"{'system':<19}{'atoms':>6}"
    for threads in thread_counts:
        header += f"{f'ours {threads}t':>11}{f'pypolymlp {threads}t':>15}{'ratio':>7}"
    header += f"{f'ours 1->{thread_counts[-1]}t':>13}{'(fastest step)':>15}"
    print(header)
    for r in rows:
        line = f"{r['system']:<19}{r['n_atoms']:>6}"
        for threads in thread_counts:
            t = r["threads"][threads]
            mark = {e: "*" if disturbed(t["other_load"][e]) else " " for e in ENGINES}
            line += (
                f"{t['ours']:>10.4f}{mark['ours']}{t['pypolymlp']:>14.4f}{mark['pypolymlp']}"
                f"{t['ratio']:>7.2f}"
            )
        line += f"{r['speedup']:>12.2f}x{r['speedup_fastest_step']:>14.2f}x"
        print(line)
    print(
        f"1-thread ratio: geometric mean {summary['geometric_mean']:.2f}, largest"
        f" {summary['largest']:.2f} ({summary['largest_system']}); {GOAL_RATIO}"
    )
    print(GOAL_SPEEDUP)
    print(
        "speed-up from the means and, beside it, from the fastest single step of each run: on a"
        " shared machine the\nsecond core is at times slow, which the means carry and the"
        " fastest step does not"
    )
    if warning:
        print(warning)


def print_agreement(rows):
    print(
        f"\nAgreement with pypolymlp over the timed runs"
        f" (tolerance {ENERGY_TOL:g} eV/atom, {FORCE_TOL:g} eV/Å)"
    )
    print(f"{'system':<19}{'max|dE|/atom eV':>17}{'max|dF| eV/Å':>14}{'max|dσ| eV/Å³':>15}")
    for r in rows:
        print(
            f"{r['system']:<19}{r['dE_per_atom']:>17.2e}{r['dF']:>14.2e}"
            f"{r['dstress']:>15.2e}  {'ok' if r['ok'] else 'MISMATCH'}"
        )


def save_json(path, meta, **tables):
    Path(path).write_text(json.dumps({"meta": meta, **tables}, indent=2) + "\n")
    print(f"\nsaved {path}")


def benchmark(args):
    cores = core_count()
    thread_counts = sorted({1, cores})
    repeats = 5 if args.quick else 20
    meta = {
        "cores": cores,
        "repeats": repeats,
        "rounds": ROUNDS,
        "supercell": SUPERCELL,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
        **{pkg: version(pkg) for pkg in ("polymlp-lab", "pypolymlp", "numba", "numpy")},
    }
    print(", ".join(f"{k} {v}" for k, v in meta.items()))
    compile_row = measure_compile(cores)
    with tempfile.TemporaryDirectory(prefix="polymlp-bench-numba-") as cache_dir:
        cold_rows = measure_cold_start(cores, cache_dir)
        profiles = measure_profiles(cache_dir)
        results = measure_throughput(thread_counts, repeats, cache_dir)
    speed_rows = throughput_rows(results, thread_counts)
    summary = ratio_summary(speed_rows)
    agree_rows = agreement(results, thread_counts)
    print_cold_start(cold_rows, compile_row, cores)
    print_profile(profiles)
    warning = contention_warning(results)
    print_throughput(speed_rows, summary, thread_counts, repeats, warning)
    print_agreement(agree_rows)
    if args.json:
        save_json(
            args.json, {**meta, "warning": warning}, cold_start=cold_rows, compile=compile_row,
            profile=profiles, throughput=speed_rows, ratio_summary=summary, agreement=agree_rows,
        )  # fmt: skip
    return 0 if all(r["ok"] for r in agree_rows) else 1


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 steps per round, not 20")
    parser.add_argument("--json", metavar="OUT", help="also save the results as JSON")
    worker = parser.add_argument_group("internal (one measurement in a child process)")
    worker.add_argument("--worker", choices=WORKERS)
    worker.add_argument("--engine", choices=ENGINES)
    worker.add_argument("--system", choices=SYSTEMS)
    worker.add_argument("--threads", type=int, default=1)
    worker.add_argument("--repeats", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0
    return benchmark(args)


if __name__ == "__main__":
    sys.exit(main())

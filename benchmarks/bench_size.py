"""Time and memory per atom against system size: our engine beside pypolymlp, fcc Al.

For each size (fcc Al, a = 4.05 Å, the shipped Repository potential, atoms rattled by 0.01 Å)
each engine runs in a fresh process: build the cell, then energy + forces + stress three
times. Printed per size and engine: the best of the last two evaluations in ms per atom, its
ratio to the smallest size's, and the memory the evaluation needs beyond the structure (the
process's peak resident memory during the evaluations minus its resident memory before them,
in bytes per atom; the peak is reset first through /proc/self/clear_refs).

    python benchmarks/bench_size.py                          # 10^3 ... 10^6 atoms, 1 thread
    python benchmarks/bench_size.py --sizes 1000 100000      # chosen sizes
    python benchmarks/bench_size.py --peer-max 100000        # pypolymlp up to this size
    python benchmarks/bench_size.py --threads 2

The issue's goals (19, point 2): time per atom flat from 10^3 to 10^6 atoms (at 10^6 within
1.2x of 10^4), memory at most 2 kB per atom beyond the positions: memory is printed as a
fixed part (work arrays of bounded size) plus a part per atom, from the two largest sizes, and
the goal is checked on the part per atom. Needs no ../shared data.
"""

import argparse
import json
import os
import subprocess
import sys
import time

GOAL_FLAT = 1.2  # ms/atom at the largest size over that at 10^4
GOAL_BYTES_PER_ATOM = 2000.0


def rss_bytes(field: str) -> int:
    """VmRSS or VmHWM of this process (bytes), from /proc/self/status."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(engine: str, n_atoms: int) -> dict:
    """One engine on one size, in this (fresh) process: ms per atom and bytes per atom."""
    import numpy as np
    from ase.build import bulk

    from polymlp_lab import data

    potential_file = str(data.potential("Al"))
    reps = max(1, round((n_atoms / 4) ** (1 / 3)))
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(reps)
    atoms.rattle(0.01, seed=1)
    if engine == "ours":
        from polymlp_lab import load_potential

        potential = load_potential(potential_file)

        def evaluate():
            result = potential.evaluate(atoms)
            return result.energy, result.forces
    else:
        from pypolymlp.calculator.properties import Properties
        from pypolymlp.calculator.utils.ase_utils import ase_atoms_to_structure

        properties = Properties(pot=potential_file)
        structure = ase_atoms_to_structure(atoms)

        def evaluate():
            energy, forces, _ = properties.eval(structure, use_openmp=True)
            return energy, forces.T

    small = bulk("Al", "fcc", a=4.05, cubic=True)  # compile / warm up on a small cell
    if engine == "ours":
        potential.evaluate(small)
    else:
        properties.eval(ase_atoms_to_structure(small))
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # the peak resident size starts again from now
    before = rss_bytes("VmRSS")
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        energy, forces = evaluate()
        seconds.append(time.perf_counter() - start)
    peak = rss_bytes("VmHWM")
    return {"n_atoms": len(atoms), "ms_per_atom": 1e3 * min(seconds[1:]) / len(atoms),
            "first_s": seconds[0], "bytes_per_atom": (peak - before) / len(atoms),
            "energy_per_atom": float(energy) / len(atoms),
            "max_force": float(np.abs(forces).max())}


def run(engine: str, n_atoms: int, threads: int) -> dict:
    env = dict(os.environ, **{k: str(threads) for k in (
        "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    done = subprocess.run([sys.executable, __file__, "--child", engine, str(n_atoms)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000, 1000000])
    parser.add_argument("--peer-max", type=int, default=100000,
                        help="largest size pypolymlp runs at (default 10^5)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return 0

    print(f"fcc Al, shipped potential, energy + forces + stress, {args.threads} thread(s)")
    print(f"{'atoms':>9} {'engine':>10} {'ms/atom':>9} {'x smallest':>10} {'first s':>8} "
          f"{'B/atom':>8} {'E/atom eV':>11}")
    results = {}
    for size in args.sizes:
        for engine in ("ours", "pypolymlp"):
            if engine == "pypolymlp" and size > args.peer_max:
                continue
            r = run(engine, size, args.threads)
            results[engine, size] = r
            if "error" in r:
                print(f"{size:>9} {engine:>10} failed: {r['error']}")
                continue
            first = results[engine, args.sizes[0]]
            scale = r["ms_per_atom"] / first["ms_per_atom"] if "ms_per_atom" in first else float("nan")
            print(f"{r['n_atoms']:>9} {engine:>10} {r['ms_per_atom']:>9.4f} {scale:>10.2f} "
                  f"{r['first_s']:>8.2f} {r['bytes_per_atom']:>8.0f} {r['energy_per_atom']:>11.6f}")
    ours = {s: results.get(("ours", s), {}) for s in args.sizes}
    largest, reference = max(args.sizes), min(args.sizes, key=lambda s: abs(s - 10000))
    if "ms_per_atom" in ours[largest] and "ms_per_atom" in ours[reference]:
        flat = ours[largest]["ms_per_atom"] / ours[reference]["ms_per_atom"]
        print(f"\ngoal: ms/atom at {ours[largest]['n_atoms']} atoms within {GOAL_FLAT}x of "
              f"{ours[reference]['n_atoms']}: {flat:.2f}x {'PASS' if flat <= GOAL_FLAT else 'FAIL'}")
    measured = sorted((r["n_atoms"], r["bytes_per_atom"] * r["n_atoms"]) for r in ours.values()
                      if "bytes_per_atom" in r)
    if len(measured) >= 2:
        # memory = fixed + per_atom * n between the two largest sizes: the fixed part is the
        # work arrays of bounded size (the kept bond basis, at most 64 MiB; densities below
        # the sweep's 64 MiB), the per-atom part what grows with the structure
        (n_small, b_small), (n_large, b_large) = measured[-2:]
        per_atom = (b_large - b_small) / (n_large - n_small)
        fixed = b_large - per_atom * n_large
        print(f"memory beyond the structure = {fixed / 2**20:.0f} MiB + {per_atom:.0f} B/atom "
              f"(from {n_small} and {n_large} atoms)")
        print(f"goal: memory per atom <= {GOAL_BYTES_PER_ATOM:.0f} B/atom beyond the positions: "
              f"{per_atom:.0f} {'PASS' if per_atom <= GOAL_BYTES_PER_ATOM else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

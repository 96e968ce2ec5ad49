"""EAM speed: our EAMCalculator against ASE's EAM, per step and for a Ti-Al card's peer.

1. Steps: energy + forces + stress of rattled Ti-Al cells (fcc cubic cells repeated n x n x n,
   half the sites Ti at random, 0.05 Å rattle, each step moving every atom by ~0.01 Å as MD
   would) with the Zope-Mishin Ti-Al file shipped with pypolymlp and, for Al cells (a = 4.03
   Å), eam.py's Sutton-Chen Al file. ms per step of each calculator, the ratio ASE / ours, and the largest
   differences between them (they must agree to 1e-10).
2. Card: the Ti-Al card of pypolymlp's Ti-Al polymlp.lammps with the Zope EAM as peer on a
   limited prototype list, with the peer evaluated by ASE's EAM (before) and by ours (after):
   seconds of the peer's card and of the whole, and how far the two peers' energies differ.

    python benchmarks/bench_eam.py                 # sizes 2 3 4, card of 7 prototypes
    python benchmarks/bench_eam.py --quick         # sizes 2 3, card of 3 prototypes
    python benchmarks/bench_eam.py --no-card --sizes 2 3 4 5
    python benchmarks/bench_eam.py --threads 1     # NUMBA/OMP threads

A step timing during which other processes kept > 0.25 cores busy (/proc/stat) is marked `*`.
"""

import argparse
import importlib.resources
import os
import sys
import tempfile
import time

CARD_PROTOTYPES = ["fcc", "bcc", "hcp", "B2", "L1_0", "L1_2", "D0_19"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 3, 4],
                        help="n of the n x n x n fcc cubic supercells (4 n^3 atoms)")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="time budget per calculator and size (at least 3 steps)")
    parser.add_argument("--prototypes", nargs="+", default=CARD_PROTOTYPES)
    parser.add_argument("--detailed", type=int, default=3, help="as polymlp-lab card --detailed")
    parser.add_argument("--no-card", action="store_true", help="skip the card timing")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="NUMBA/OMP threads")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.seconds, args.prototypes, args.detailed = [2, 3], 2.0, ["fcc", "hcp", "L1_0"], 1
    if args.threads:
        os.environ["NUMBA_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import numpy as np
    from ase.build import bulk
    from ase.calculators.eam import EAM

    sys.path.insert(0, os.path.dirname(__file__))
    from bench_common import system_busy_seconds

    from polymlp_lab.properties.eam import write_sutton_chen_eam_alloy
    from polymlp_lab.properties.eam_calculator import EAMCalculator

    files = importlib.resources.files("pypolymlp") / "calculator/utils/lammps/tests/files/Ti-Al"
    zope, mlp = str(files / "Zope-Ti-Al-2003.eam.alloy"), str(files / "polymlp.lammps")
    workdir = tempfile.TemporaryDirectory(prefix="bench_eam_")  # removed at exit
    sc_al = str(write_sutton_chen_eam_alloy(["Al"], os.path.join(workdir.name, "SC_Al.eam.alloy")))

    def cell(n, binary):
        # not a = 4.05 Å for Sutton-Chen Al: its cutoff is 2 x 4.05 Å, so the periodic images of
        # a 2x2x2 cell would sit exactly on it, where rounding decides (see eam_calculator.py)
        atoms = bulk("Al", "fcc", a=4.03 if not binary else 4.0, cubic=True).repeat(n)
        if binary:
            rng = np.random.default_rng(0)
            atoms.symbols[rng.choice(len(atoms), len(atoms) // 2, replace=False)] = "Ti"
        atoms.rattle(0.05, seed=1)
        return atoms

    def results(atoms, calc):
        atoms = atoms.copy()
        atoms.calc = calc
        return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()

    def run(atoms, calc, budget):
        """ms per step and the other load (cores) during the run; every step moves each atom
        by ~0.01 Å from the starting cell (as in MD: the results must be recomputed)."""
        atoms = atoms.copy()
        start = atoms.positions.copy()
        atoms.calc = calc
        rng = np.random.default_rng(2)
        steps = 0
        busy = system_busy_seconds()
        t0 = time.perf_counter()
        while steps < 3 or time.perf_counter() - t0 < budget:
            atoms.positions = start + rng.normal(scale=0.01, size=start.shape)
            atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
            steps += 1
        wall = time.perf_counter() - t0
        other = None if busy is None else max(0.0, (system_busy_seconds() - busy) / wall - 1.0)
        return 1e3 * wall / steps, other

    threads = os.environ.get("NUMBA_NUM_THREADS", "default")
    print(f"EAM energy + forces + stress per step (threads: {threads}); ratio = ASE / ours")
    print("| potential | atoms | ours ms/step | ASE ms/step | ratio | max ΔE eV | max ΔF eV/Å | max Δσ eV/Å³ |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for label, path, binary in (("Zope Ti-Al", zope, True), ("Sutton-Chen Al", sc_al, False)):
        ours_calc, ase_calc = EAMCalculator(path), EAM(potential=path)
        warm = cell(1, binary)
        warm.calc = ours_calc
        warm.get_forces()  # load the cached kernels
        for n in args.sizes:
            atoms = cell(n, binary)
            ms_ours, load_ours = run(atoms, ours_calc, args.seconds)
            ms_ase, load_ase = run(atoms, ase_calc, args.seconds)
            r_ours, r_ase = results(atoms, ours_calc), results(atoms, ase_calc)
            de = abs(r_ours[0] - r_ase[0])
            df = float(np.abs(r_ours[1] - r_ase[1]).max())
            ds = float(np.abs(r_ours[2] - r_ase[2]).max())
            worst = max(worst, de, df, ds)
            mark = lambda load: "*" if load is not None and load > 0.25 else ""  # noqa: E731
            print(f"| {label} | {len(atoms)} | {ms_ours:.2f}{mark(load_ours)} | "
                  f"{ms_ase:.1f}{mark(load_ase)} | {ms_ase / ms_ours:.0f}x | {de:.1e} | {df:.1e} | {ds:.1e} |")
    status = 0
    if worst > 1e-10:
        print(f"MISMATCH: the calculators differ by {worst:.1e} (> 1e-10)")
        status = 1

    if args.no_card:
        return status
    from polymlp_lab.potential import load_potential
    from polymlp_lab.properties.card import compute_card

    potential = load_potential(mlp)
    kw = dict(prototypes=args.prototypes, n_detailed=args.detailed, progress=False)
    print(f"\nTi-Al card of {os.path.basename(mlp)} with the Zope EAM as peer: prototypes "
          f"{' '.join(args.prototypes)}, --detailed {args.detailed}, phonons 3x3x3 (card defaults)")
    print("| peer evaluated by | peer card s | MLP card s | whole s |")
    print("|---|---:|---:|---:|")
    cards = {}
    for label, peer in (("ASE EAM (before)", EAM(potential=zope)), ("EAMCalculator (after)", zope)):
        t0 = time.perf_counter()
        card = compute_card(potential, peer=peer, **kw)
        whole = time.perf_counter() - t0
        cards[label] = card
        print(f"| {label} | {card.timings['peer_s']:.1f} | {card.timings['total_s']:.1f} | "
              f"{whole:.1f} |")
    before, after = (c.peer for c in cards.values())
    de = max(abs(before.energies[k] - after.energies[k]) for k in after.energies)
    print(f"peer card speed-up {before.timings['total_s'] / after.timings['total_s']:.1f}x; "
          f"peer energies (after relaxation) differ by at most {de:.1e} eV/atom")
    return status


if __name__ == "__main__":
    sys.exit(main())

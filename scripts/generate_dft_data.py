#!/usr/bin/env python3
"""Generate teaching DFT datasets (Al, Al–Cu) with GPAW, resumably, in ``build/dft-data``.

Not yet run to completion. ``converge`` finds, for fcc Al at 0.2 eV Marzari–Vanderbilt
smearing, a 350 eV cutoff and a k-point density of 10 per Å⁻¹ (ASE's measure; 27³ points for
the primitive cell): coarser meshes are off by up to 30 meV/atom, and Al's total energy
settles slowly. At such meshes one rattled 16-atom cell needs hundreds of irreducible
k-points (at density 8 already 319, about a minute per SCF iteration on one core), so the
~600 structures take tens of CPU-hours: more than a 2-core machine gives in one session.

    apt-get install libxc-dev libopenblas-dev libfftw3-dev && CC=g++ pip install gpaw gpaw-data
    python scripts/generate_dft_data.py converge                # cutoff and k-points, 1 meV/atom
    python scripts/generate_dft_data.py run Al-pbe --workers 2 [--hours 2]
    python scripts/generate_dft_data.py run AlCu-pbe --workers 2
    python scripts/generate_dft_data.py status

PBE, plane waves, Marzari–Vanderbilt smearing; the cutoff and the k-point density are the
smallest whose total energy per atom is within 1 meV/atom of the densest setting tried, for
the fcc crystal of each element of a dataset (and, for the binary, a B2 cell) (``converge``: its table is kept in
``convergence.json`` and ``convergence.log``). Each dataset's structures are made here from a
fixed seed (prototypes over a volume range, strained cells, rattled supercells up to 16
atoms, vacancies, surface-like slabs, random cells; for the binary, ordered compounds and
random decorations over the composition range), in an order that mixes the kinds so that any
finished prefix covers them all.

Every finished structure is written at once to ``<name>.extxyz.xz`` (energy = free energy
consistent with the forces, eV; forces eV/Å; stress eV/Å³; provenance in ``info``) and a line
to ``<name>.log``; a rerun computes only the structures not yet in the file, so an interrupted
run (Ctrl-C, the end of a session) resumes where it stopped. ``--hours`` stops handing out new
structures after that time. Isolated-atom energies (spin-polarised, same settings) are kept in
``<name>.atoms.json``. Nothing is downloaded at run time: the PAW setups come from the
``gpaw-data`` package.
"""

from __future__ import annotations

import argparse
import json
import lzma
import math
import os
import platform
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from ase import Atoms  # noqa: E402
from ase.build import bulk, fcc100, fcc110, fcc111  # noqa: E402
from ase.calculators.calculator import kptdensity2monkhorstpack  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402
from ase.io import read, write  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "build" / "dft-data"
WORK = ROOT / "build" / "dft"

XC = "PBE"
SMEARING_EV = 0.2          # Marzari-Vanderbilt width
TOLERANCE_MEV = 1.0        # convergence goal, meV/atom
CUTOFFS_EV = (250, 300, 350, 400, 450, 500, 550, 600, 700)
KPOINT_DENSITIES = (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0)   # k-points per Å⁻¹ (ASE)
ELEMENTS = ("Al", "Cu")
A_FCC = {"Al": 4.04, "Cu": 3.63}    # Å, PBE-like starting sizes
SYSTEMS = {"Al-pbe": ("Al",), "AlCu-pbe": ("Al", "Cu")}


# --- DFT ------------------------------------------------------------------------------------

def _calculator(cutoff_ev, kpoint_density, txt, *, spin=False, gamma_only=False):
    from gpaw import GPAW, PW

    kpts = (1, 1, 1) if gamma_only else {"density": kpoint_density, "gamma": True}
    occupations = ({"name": "fermi-dirac", "width": 0.0, "fixmagmom": False} if spin
                   else {"name": "marzari-vanderbilt", "width": SMEARING_EV})
    return GPAW(mode=PW(cutoff_ev), xc=XC, kpts=kpts, occupations=occupations, txt=txt,
                convergence={"energy": 1e-6, "density": 1e-5, "forces": 1e-4},
                maxiter=300, symmetry="off" if spin else {})


def single_point(atoms: Atoms, cutoff_ev: float, kpoint_density: float, txt,
                 *, stress=True) -> dict:
    """Energy (free energy, eV), forces (eV/Å), stress (eV/Å³) and timing of one structure."""
    work = atoms.copy()
    work.calc = _calculator(cutoff_ev, kpoint_density, str(txt))
    start = time.perf_counter()
    free = work.get_potential_energy(force_consistent=True)
    extrapolated = work.get_potential_energy()
    forces = work.get_forces()
    sigma = work.get_stress() if stress else None
    calc = work.calc
    return dict(free_energy=float(free), energy_zero_width=float(extrapolated),
                forces=np.asarray(forces).tolist(),
                stress=None if sigma is None else np.asarray(sigma).tolist(),
                kpts=[int(k) for k in kptdensity2monkhorstpack(work, kpoint_density, even=False)],
                n_kpoints=len(calc.get_ibz_k_points()),
                scf_iterations=int(calc.get_number_of_iterations()),
                seconds=time.perf_counter() - start)


def isolated_atom_energy(symbol: str, cutoff_ev: float, txt) -> float:
    """Spin-polarised isolated atom in an 11 × 12 × 13 Å box (Γ point), eV."""
    from ase.data import atomic_numbers, ground_state_magnetic_moments

    magmom = float(ground_state_magnetic_moments[atomic_numbers[symbol]])
    atom = Atoms(symbol, positions=[(5.5, 6.0, 6.5)], cell=(11.0, 12.0, 13.0), pbc=True,
                 magmoms=[magmom])
    atom.calc = _calculator(cutoff_ev, 0.0, str(txt), spin=True, gamma_only=True)
    return float(atom.get_potential_energy(force_consistent=True))


def provenance() -> dict:
    import ase
    import gpaw

    try:
        import gpaw_data
        setups = getattr(gpaw_data, "__version__", "gpaw-data")
    except ImportError:
        setups = "unknown"
    return dict(code=f"GPAW {gpaw.__version__}", ase=ase.__version__, setups=f"gpaw-data {setups}",
                xc=XC, mode="plane waves", smearing=f"Marzari-Vanderbilt {SMEARING_EV} eV",
                python=platform.python_version())


# --- convergence ------------------------------------------------------------------------------

def _convergence_cells() -> dict:
    cells = {f"fcc-{s}": bulk(s, "fcc", a=A_FCC[s]) for s in ELEMENTS}
    cells["B2-AlCu"] = bulk("AlCu", "cesiumchloride", a=2.99)
    return cells


def converge(args) -> dict:
    """Cutoff, then k-point density, each the smallest within 1 meV/atom of the densest."""
    WORK.mkdir(parents=True, exist_ok=True)
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "convergence.json"
    done = json.loads(path.read_text()) if path.is_file() else {"cutoff": {}, "kpoints": {}}
    log = open(DATA / "convergence.log", "a")

    def energy(kind, name, atoms, cutoff, density):
        key = f"{name} {cutoff} {density}"
        if key not in done[kind]:
            result = single_point(atoms, cutoff, density, WORK / f"conv-{name}.txt", stress=False)
            done[kind][key] = dict(e_per_atom=result["free_energy"] / len(atoms),
                                   kpts=result["kpts"], seconds=result["seconds"])
            path.write_text(json.dumps(done, indent=1))
            print(f"{kind:8s} {name:9s} cutoff {cutoff:4d} eV  k-density {density:4.1f}  "
                  f"kpts {result['kpts']}  E {done[kind][key]['e_per_atom']:.6f} eV/atom  "
                  f"{result['seconds']:.1f} s", file=log, flush=True)
        return done[kind][key]["e_per_atom"]

    cells = _convergence_cells()
    done.setdefault("chosen", {}).update(
        {name: _choose(energy, {k: v for k, v in cells.items()
                                if set(v.get_chemical_symbols()) <= set(SYSTEMS[name])})
         for name in args.datasets})
    path.write_text(json.dumps(done, indent=1))
    for name, chosen in done["chosen"].items():
        print(f"{name}: cutoff {chosen['cutoff_ev']} eV, k-point density "
              f"{chosen['kpoint_density']} per Å⁻¹", file=log, flush=True)
    print(json.dumps(done["chosen"], indent=1))
    return done["chosen"]


def _choose(energy, cells) -> dict:
    """The cutoff, then the k-point density, converged for every cell of ``cells``."""
    def smallest(kind, name, atoms, values, setting):
        ref = energy(kind, name, atoms, *setting(values[-1]))
        within = [abs(energy(kind, name, atoms, *setting(v)) - ref) * 1e3 <= TOLERANCE_MEV
                  for v in values]
        return next(v for k, v in enumerate(values) if all(within[k:]))

    cutoff = max(smallest("cutoff", name, atoms, CUTOFFS_EV, lambda c: (c, 5.0))
                 for name, atoms in cells.items())
    density = max(smallest("kpoints", name, atoms, KPOINT_DENSITIES, lambda d: (cutoff, d))
                  for name, atoms in cells.items())
    return dict(cutoff_ev=cutoff, kpoint_density=density, tolerance_mev_per_atom=TOLERANCE_MEV,
                rule="smallest setting whose energy per atom, and that of every larger setting "
                     "tried, is within the tolerance of the largest one (cutoff at k-point "
                     f"density 5, then k-points at that cutoff), for {', '.join(cells)}")


def chosen_settings(name: str) -> dict:
    path = DATA / "convergence.json"
    chosen = json.loads(path.read_text()).get("chosen", {}) if path.is_file() else {}
    if name not in chosen:
        sys.exit(f"run `python scripts/generate_dft_data.py converge {name}` first")
    return chosen[name]


# --- structures -------------------------------------------------------------------------------

def _random_strain(rng, amplitude):
    e = rng.uniform(-amplitude, amplitude, size=(3, 3))
    return np.eye(3) + 0.5 * (e + e.T)


def _strained(atoms, matrix):
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ matrix, scale_atoms=True)
    return out


def _rattled(atoms, rng, sigma, min_distance=2.0):
    """Gaussian displacements of ``sigma`` Å, redrawn until no pair is closer than min_distance."""
    for _ in range(100):
        out = atoms.copy()
        out.positions += rng.normal(0.0, sigma, size=out.positions.shape)
        if _min_distance(out) >= min_distance:
            return out
    raise RuntimeError(f"no rattle of {sigma} Å keeps atoms {min_distance} Å apart")


def _scaled(atoms, volume_per_atom):
    out = atoms.copy()
    factor = (volume_per_atom * len(atoms) / atoms.get_volume()) ** (1.0 / 3.0)
    out.set_cell(atoms.cell.array * factor, scale_atoms=True)
    return out


def _min_distance(atoms) -> float:
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, 4.0)
    return float(d.min()) if len(d) else np.inf


def _slab(builder, symbol, layers, gap):
    slab = builder(symbol, size=(1, 1, layers), a=A_FCC[symbol], vacuum=gap / 2, periodic=True)
    return slab


def _interleave(groups: dict) -> list:
    """Round-robin over the groups, each in its own order: any prefix covers every group."""
    out, queues = [], [list(g) for g in groups.values()]
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def _named(prefix, items):
    return [(f"{prefix}-{i:03d}", atoms) for i, atoms in enumerate(items)]


def element_structures(symbol: str, rng, *, scale: float = 1.0) -> dict:
    """Groups of (id, Atoms) of one element: prototypes over volumes, strain, rattle, defects."""
    from polymlp_lab.properties.prototypes import build
    from polymlp_lab.simulations.structure_search import random_structure

    v0 = A_FCC[symbol] ** 3 / 4
    n = lambda k: max(1, int(round(k * scale)))  # noqa: E731
    groups = {}
    eos = []
    for proto, ratios in (("fcc", np.linspace(0.80, 1.25, 10)), ("bcc", np.linspace(0.80, 1.25, 8)),
                          ("hcp", np.linspace(0.80, 1.25, 8)), ("sc", np.linspace(0.85, 1.35, 6)),
                          ("diamond", np.linspace(1.0, 1.8, 5)), ("sh", np.linspace(0.9, 1.3, 4)),
                          ("dhcp", np.linspace(0.9, 1.15, 3)), ("beta-Sn", np.linspace(0.95, 1.3, 3)),
                          ("omega", np.linspace(0.9, 1.15, 3)), ("beta-W", np.linspace(0.9, 1.15, 3)),
                          ("bct5", np.linspace(0.95, 1.3, 3)), ("graphite", np.linspace(1.3, 2.0, 3))):
        ratios = ratios if scale >= 1 else ratios[:: max(1, int(round(1 / scale)))]
        eos += [(f"{proto}-v{r:.3f}", build(proto, symbol, volume_per_atom=v0 * r)) for r in ratios]
    groups["eos"] = eos
    groups["strain"] = [
        (f"{proto}-strain-{i:02d}",
         _strained(build(proto, symbol, volume_per_atom=v0 * rng.uniform(0.94, 1.06)),
                   _random_strain(rng, 0.05)))
        for proto, k in (("fcc", n(30)), ("bcc", n(16)), ("hcp", n(16))) for i in range(k)]
    supercells = [
        ("fcc4", bulk(symbol, "fcc", a=A_FCC[symbol], cubic=True)),
        ("fcc8", bulk(symbol, "fcc", a=A_FCC[symbol]).repeat(2)),
        ("fcc16", bulk(symbol, "fcc", a=A_FCC[symbol], cubic=True).repeat((2, 2, 1))),
        ("bcc16", _scaled(bulk(symbol, "bcc", a=1.0, cubic=True), v0 * 1.01).repeat(2)),
        ("hcp8", _scaled(bulk(symbol, "hcp", a=1.0, c=1.633), v0).repeat((2, 2, 1))),
        ("hcp16", _scaled(bulk(symbol, "hcp", a=1.0, c=1.633), v0).repeat(2)),
    ]
    rattle = []
    for i in range(n(126)):
        label, cell = supercells[i % len(supercells)]
        sigma = rng.choice([0.03, 0.06, 0.1, 0.15, 0.2])
        strained = _strained(cell, _random_strain(rng, 0.03)
                             * rng.uniform(0.96, 1.04))
        rattle.append((f"{label}-rattle-{i:03d}", _rattled(strained, rng, sigma)))
    groups["rattle"] = rattle
    vacancy = []
    for i in range(n(16)):
        label, cell = supercells[[1, 2, 3, 5][i % 4]]
        defect = cell.copy()
        del defect[int(rng.integers(len(defect)))]
        vacancy.append((f"{label}-vacancy-{i:02d}", _rattled(defect, rng, 0.05)))
    groups["vacancy"] = vacancy
    surface = []
    for builder, name in ((fcc111, "111"), (fcc100, "100"), (fcc110, "110")):
        for layers, gap in ((4, 3.0), (6, 5.0), (5, 8.0)) if scale >= 1 else ((4, 5.0),):
            surface.append((f"slab{name}-{layers}L-gap{gap:g}", _slab(builder, symbol, layers, gap)))
    surface += [(f"{sid}-rattle", _rattled(a, rng, 0.08)) for sid, a in surface[: n(8)]]
    groups["surface"] = surface
    groups["random"] = [
        (f"random-{k}at-{i:02d}",
         random_structure([symbol], [k], rng=rng, volume_per_atom=v0 * rng.uniform(0.95, 1.3),
                          min_distance=0.55 * A_FCC[symbol]))
        for i, k in enumerate(rng.integers(2, 9, size=n(26)))]
    return groups


def _decorate(atoms, symbols):
    out = atoms.copy()
    out.set_chemical_symbols(list(symbols))
    return out


def _vegard_volume(symbols) -> float:
    return float(np.mean([A_FCC[s] ** 3 / 4 for s in symbols]))


def binary_structures(rng, *, scale: float = 1.0) -> dict:
    """Groups of (id, Atoms) over Al–Cu: elements, ordered compounds, random decorations."""
    from polymlp_lab.properties.prototypes import build

    n = lambda k: max(1, int(round(k * scale)))  # noqa: E731
    groups = {}
    elemental = []
    for symbol in ELEMENTS:
        v0 = A_FCC[symbol] ** 3 / 4
        for proto in ("fcc", "bcc", "hcp"):
            elemental += [(f"{symbol}-{proto}-v{r:.3f}", build(proto, symbol, volume_per_atom=v0 * r))
                          for r in np.linspace(0.85, 1.2, 6)]
        cell = bulk(symbol, "fcc", a=A_FCC[symbol], cubic=True)
        elemental += [(f"{symbol}-fcc4-rattle-{i:02d}",
                       _rattled(_strained(cell, _random_strain(rng, 0.03)), rng, 0.1))
                      for i in range(n(6))]
        elemental += [(f"{symbol}-fcc8-rattle-{i:02d}",
                       _rattled(bulk(symbol, "fcc", a=A_FCC[symbol]).repeat(2), rng, 0.12))
                      for i in range(n(4))]
    groups["elements"] = elemental
    compounds = []
    prototypes = ("B2", "B1", "B3", "L1_0", "L1_1", "B_h", "B32", "B11", "B19", "L1_2", "D0_3",
                  "D0_22", "D0_19", "C16", "C1", "C11_b", "C32", "C6", "D0_9", "L6_0", "A15",
                  "D1_a", "C15", "B33")
    for proto in prototypes:
        for order in (("Al", "Cu"), ("Cu", "Al")):
            atoms = build(proto, list(order))
            symbols = atoms.get_chemical_symbols()
            if len(atoms) > 12:
                continue
            v0 = _vegard_volume(symbols)
            ratios = (0.9, 1.0, 1.1) if len(atoms) <= 6 else (0.95, 1.05)
            formula = atoms.get_chemical_formula(empirical=True)
            if any(sid.startswith(f"{proto}-{formula}-") for sid, _ in compounds):
                continue  # AB prototypes: the other decoration is the same compound
            scaled = [(f"{proto}-{formula}-v{r:.2f}", _scaled(atoms, v0 * r)) for r in ratios]
            compounds += [(sid, a) for sid, a in scaled if _min_distance(a) >= 2.1]
    groups["compounds"] = compounds
    strained = []
    for proto, order in (("B2", ("Al", "Cu")), ("L1_2", ("Cu", "Al")), ("L1_2", ("Al", "Cu")),
                         ("L1_0", ("Al", "Cu")), ("C16", ("Al", "Cu")), ("D0_3", ("Cu", "Al"))):
        atoms = build(proto, list(order))
        atoms = _scaled(atoms, _vegard_volume(atoms.get_chemical_symbols()))
        formula = atoms.get_chemical_formula(empirical=True)
        strained += [(f"{proto}-{formula}-strain-{i:02d}",
                      _rattled(_strained(atoms, _random_strain(rng, 0.04)), rng, 0.04))
                     for i in range(n(4))]
    groups["strained"] = strained
    random = []
    lattices = (("fcc4", bulk("Al", "fcc", a=1.0, cubic=True)),
                ("fcc8", bulk("Al", "fcc", a=1.0).repeat(2)),
                ("bcc8", bulk("Al", "bcc", a=1.0, cubic=True).repeat((2, 2, 1))),
                ("hcp8", bulk("Al", "hcp", a=1.0, c=1.633).repeat((2, 2, 1))),
                ("fcc12", bulk("Al", "fcc", a=1.0, cubic=True).repeat((3, 1, 1))))
    for i in range(n(126)):
        label, lattice = lattices[i % len(lattices)]
        n_cu = int(rng.integers(1, len(lattice)))
        symbols = np.array(["Al"] * len(lattice))
        symbols[rng.choice(len(lattice), n_cu, replace=False)] = "Cu"
        atoms = _scaled(_decorate(lattice, symbols), _vegard_volume(symbols) * rng.uniform(0.95, 1.05))
        atoms = _rattled(_strained(atoms, _random_strain(rng, 0.03)), rng,
                         rng.choice([0.03, 0.07, 0.12]))
        random.append((f"{label}-Al{len(lattice) - n_cu}Cu{n_cu}-{i:03d}", atoms))
    groups["random"] = random
    return groups


def structures(name: str, scale: float = 1.0) -> list:
    """(id, Atoms) of a dataset, in computation order (the same every time)."""
    rng = np.random.default_rng({"Al-pbe": 2026, "AlCu-pbe": 2027}[name])
    groups = (element_structures("Al", rng, scale=scale) if name == "Al-pbe"
              else binary_structures(rng, scale=scale))
    items = _interleave(groups)
    ids = [i for i, _ in items]
    assert len(ids) == len(set(ids)), "structure ids must be unique"
    for sid, atoms in items:
        atoms.pbc = True
        atoms.wrap()
        if _min_distance(atoms) < 1.9:
            raise RuntimeError(f"{sid}: atoms closer than 1.9 Å")
    return items


# --- running ----------------------------------------------------------------------------------

def _compute(sid, atoms, settings, txt):
    try:
        return sid, single_point(atoms, settings["cutoff_ev"], settings["kpoint_density"], txt), None
    except Exception as error:  # recorded in the log; the structure is retried next run
        return sid, None, f"{type(error).__name__}: {error}"


def dataset_path(name: str) -> Path:
    return DATA / f"{name}.extxyz.xz"


def read_done(name: str) -> list:
    path = dataset_path(name)
    if not path.is_file():
        return []
    with lzma.open(path, "rt") as handle:
        return read(handle, index=":", format="extxyz")


def _save(name: str, images: list) -> None:
    path = dataset_path(name)
    tmp = path.with_suffix(".tmp")
    with lzma.open(tmp, "wt", preset=9) as handle:
        write(handle, images, format="extxyz")
    os.replace(tmp, path)


def run(args) -> None:
    from tqdm.auto import tqdm

    settings = chosen_settings(args.name)
    WORK.mkdir(parents=True, exist_ok=True)
    DATA.mkdir(parents=True, exist_ok=True)
    name = args.name
    items = structures(name)
    images = read_done(name)
    done = {a.info["id"] for a in images}
    pending = [(sid, atoms) for sid, atoms in items if sid not in done]
    if args.limit:
        pending = pending[: args.limit]
    meta = dict(provenance(), cutoff_ev=settings["cutoff_ev"],
                kpoint_density=settings["kpoint_density"], dataset=name)
    print(f"{name}: {len(items)} structures, {len(done)} done, {len(pending)} to compute "
          f"({args.workers} workers)")
    log = open(DATA / f"{name}.log", "a")
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} start: {len(done)} done, {len(pending)} to go; "
          f"{json.dumps(meta)}", file=log, flush=True)
    deadline = time.time() + args.hours * 3600 if args.hours else math.inf
    order = {sid: k for k, (sid, _) in enumerate(items)}
    by_id = dict(items)
    queue = list(pending)
    bar = tqdm(total=len(pending), desc=name)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        running = set()
        while queue or running:
            while queue and len(running) < args.workers and time.time() < deadline:
                sid, atoms = queue.pop(0)
                running.add(pool.submit(_compute, sid, atoms, settings, WORK / f"{name}-{sid}.txt"))
            if not running:
                break
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                sid, result, error = future.result()
                atoms = by_id[sid]
                bar.update()
                if error is not None:
                    print(f"FAILED {sid}: {error}", file=log, flush=True)
                    continue
                image = atoms.copy()
                image.info = dict(id=sid, **meta,
                                  energy_zero_width=result["energy_zero_width"],
                                  kpts=" ".join(map(str, result["kpts"])),
                                  scf_iterations=result["scf_iterations"],
                                  seconds=round(result["seconds"], 2))
                image.calc = SinglePointCalculator(
                    image, energy=result["free_energy"], forces=np.array(result["forces"]),
                    stress=np.array(result["stress"]))
                images.append(image)
                images.sort(key=lambda a: order.get(a.info["id"], len(order)))
                _save(name, images)
                print(f"{sid:32s} {len(atoms):3d} atoms  kpts {result['kpts']} "
                      f"({result['n_kpoints']} irreducible)  scf {result['scf_iterations']:3d}  "
                      f"{result['seconds']:7.1f} s  E {result['free_energy'] / len(atoms):.5f} "
                      f"eV/atom  fmax {np.abs(result['forces']).max():.3f}", file=log, flush=True)
    bar.close()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} stop: {len(images)} of {len(items)} done",
          file=log, flush=True)
    isolated(name, settings)


def isolated(name: str, settings) -> None:
    """Isolated-atom energies of the dataset's elements, same settings: <name>.atoms.json."""
    path = DATA / f"{name}.atoms.json"
    saved = json.loads(path.read_text()) if path.is_file() else {"energies_ev": {}}
    for symbol in SYSTEMS[name]:
        if symbol not in saved["energies_ev"]:
            txt = WORK / f"{name}-atom-{symbol}.txt"
            saved["energies_ev"][symbol] = isolated_atom_energy(symbol, settings["cutoff_ev"], txt)
            saved["settings"] = dict(provenance(), cutoff_ev=settings["cutoff_ev"],
                                     box="11 x 12 x 13 Å, Γ point, spin-polarised, Fermi-Dirac "
                                         "0 K, Hund's-rule moment")
            path.write_text(json.dumps(saved, indent=1, ensure_ascii=False))


def status(args) -> None:
    for name in SYSTEMS:
        items = structures(name)
        images = read_done(name)
        seconds = sum(a.info.get("seconds", 0) for a in images)
        print(f"{name}: {len(images)} of {len(items)} done, {seconds / 3600:.2f} CPU-hours "
              f"({len(images) and seconds / len(images):.1f} s each)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("converge", help="choose cutoff and k-point density (1 meV/atom)")
    c.add_argument("datasets", nargs="*", choices=sorted(SYSTEMS), default=sorted(SYSTEMS))
    r = sub.add_parser("run", help="compute a dataset (resumes)")
    r.add_argument("name", choices=sorted(SYSTEMS))
    r.add_argument("--workers", type=int, default=1, help="GPAW processes, one core each")
    r.add_argument("--hours", type=float, default=0, help="stop handing out work after this")
    r.add_argument("--limit", type=int, default=0, help="at most this many structures")
    sub.add_parser("status", help="how much of each dataset is done")
    sub.add_parser("list", help="print the structures of each dataset")
    args = parser.parse_args(argv)
    if args.command == "converge":
        converge(args)
    elif args.command == "run":
        run(args)
    elif args.command == "status":
        status(args)
    else:
        for name in SYSTEMS:
            items = structures(name)
            print(name, len(items), "structures,", sum(len(a) for _, a in items), "atoms; sizes",
                  np.bincount([len(a) for _, a in items]).tolist())


if __name__ == "__main__":
    main()

"""Cost of a potential in ms/atom/step, by one protocol for every model.

pypolymlp's structure: a cubic fcc cell (a = 4 Å) with 4 atoms (unary 4 x A; binary 2 + 2;
ternary 1, 1, 2; quaternary 1 each) repeated 4 x 4 x 4 (256 atoms). A step is one energy +
forces + stress evaluation by our engine with a fixed number of threads; the cost is the
fastest of several repeats of the mean step time, with the median and slowest as its spread.
"""

import time
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..files import AsDict

MIN_REPEAT_S = 0.05  # each repeat runs at least this long (more steps for cheap models)
OCCUPANCY = {1: (0, 0, 0, 0), 2: (0, 0, 1, 1), 3: (0, 1, 2, 2), 4: (0, 1, 2, 3)}


@dataclass(frozen=True)
class CostMeasurement(AsDict):
    """Outcome of :func:`measure_cost`, in ms/atom/step: ``cost`` (the fastest repeat: other
    work on the machine only adds time), ``cost_median`` and ``cost_max`` (the spread); and how
    it was measured: ``threads`` (Numba threads), ``repeats``, ``steps`` (per repeat) and
    ``n_atoms`` (of the structure)."""

    cost: float
    cost_median: float
    cost_max: float
    threads: int
    repeats: int
    steps: int
    n_atoms: int


def cost_structure(elements, supercell=(4, 4, 4)) -> Atoms:
    """pypolymlp's cost-measurement structure for ``elements`` (1 to 4 of them)."""
    if len(elements) not in OCCUPANCY:
        raise ValueError(f"cost structure defined for 1-4 elements, not {len(elements)}")
    symbols = [elements[k] for k in OCCUPANCY[len(elements)]]
    cell = Atoms(symbols, scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
                 cell=np.eye(3) * 4.0, pbc=True)
    return cell.repeat(supercell)


def measure_cost(potential, elements=None, *, supercell=(4, 4, 4), steps: int = 3,
                 repeats: int = 5, threads: int = 1) -> CostMeasurement:
    """Time energy + forces + stress in ms/atom/step over ``repeats`` of at least ``steps``
    steps (more, so that each repeat lasts 0.05 s or longer), with ``threads`` Numba threads."""
    from numba import get_num_threads, set_num_threads

    atoms = cost_structure(tuple(elements or potential.elements), supercell)
    previous = get_num_threads()
    set_num_threads(threads)
    try:
        potential.evaluate(atoms)  # warm-up: neighbour-list geometry and first-touch memory
        start = time.perf_counter()
        potential.evaluate(atoms)  # calibration of the number of steps per repeat
        one = time.perf_counter() - start
        steps = max(steps, int(np.ceil(MIN_REPEAT_S / max(one, 1e-6))))
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                potential.evaluate(atoms)
            samples.append((time.perf_counter() - start) * 1000.0 / steps / len(atoms))
    finally:
        set_num_threads(previous)
    return CostMeasurement(cost=float(min(samples)), cost_median=float(np.median(samples)),
                           cost_max=float(max(samples)), threads=threads, repeats=repeats,
                           steps=steps, n_atoms=len(atoms))


def cost_yaml(cost: CostMeasurement, elements, parallel: CostMeasurement) -> str:
    """polymlp_cost.yaml in pypolymlp's layout (single_core: ``cost``, one thread; openmp:
    ``parallel``, all threads), plus how it was measured."""
    return (
        f"system: {'-'.join(elements)}\n"
        "units:\n  time: msec/atom/step\n\n"
        f"costs:\n  single_core: {cost.cost!r}\n  openmp: {parallel.cost!r}\n\n"
        "measurement:\n"
        "  engine: polymlp-lab (Numba)\n"
        f"  threads: {cost.threads}\n  threads_openmp: {parallel.threads}\n"
        f"  n_atoms: {cost.n_atoms}\n"
        f"  repeats: {cost.repeats}\n  steps_per_repeat: {cost.steps}\n"
        f"  fastest: {cost.cost!r}\n  median: {cost.cost_median!r}\n"
        f"  slowest: {cost.cost_max!r}\n"
    )

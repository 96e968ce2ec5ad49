"""The hardware's limit for each term of bench_engine's profile: a rough count of arithmetic
and memory traffic per atom, turned into the fewest cycles one core could spend on it.

The machine model (one x86-64 core with AVX2; Numba without SVML, as installed here):
- vector code: 4 doubles per vector, 2 vector FMAs per cycle (16 flops); scalar code: 2 flops
  per cycle; one vector store per cycle;
- 32 bytes per cycle between L2 and L1, for the rows of densities and adjoints of the other
  atom of a bond (a structure's rows do not fit L1: 2.6 kB per atom for Al);
- 20 cycles per exp, cos or sin (libm, scalar), 6 per sqrt or division;
- the clock is measured: a dependent chain of one-cycle integer operations (xorshift).
These are throughput bounds that ignore latencies and loop overheads: measured over limit says
how far a term is from the hardware, not that the limit can be reached.

Per atom, with B half bonds (bonds per atom / 2), F radial functions, L harmonics (l, m >= 0),
n2 = 2 L floats per (type pair, radial function):
- neighbours: B (3 candidate images at 2 cycles + 5 stores of the bond);
- radial functions + derivatives: B (3 exp + cos + sin + sqrt + 6 scalar flops per function);
- spherical harmonics: B (sqrt + 3 divisions + 2 (lmax + 1)^2 + 6 L scalar flops);
- density scatter: B, each adding f_n Y_lm to the F n2 floats of both atoms, read and written
  through L2: 32 F n2 bytes;
- invariants + polynomial: 6 flops per complex factor multiplication of the products, 8 per
  member of a grouped triple, 2 per feature term, 5 per cubic term (scalar), 2 K^2 for the
  quadratic form of K features (vector);
- adjoint: twice the products' multiplications, and 8 flops per full density slot (expand
  and fold), scalar;
- bond forces: B (6 F n2 flops, vector, or reading the other atom's F n2 adjoint floats
  through L2, whichever is slower, + 10 L scalar flops of dY/dd from the Y).
"""

import time

import numpy as np

TRANSCENDENTAL_CYCLES = 20
ROOT_CYCLES = 6
SCALAR_FLOPS_PER_CYCLE = 2
VECTOR_FLOPS_PER_CYCLE = 16
DOUBLES_PER_STORE = 4
L2_BYTES_PER_CYCLE = 32
CHAIN_STEPS = 50_000_000


def clock_hz() -> float:
    """Cycles per second of this core: the fastest of 3 dependent xorshift chains, each
    step 6 one-cycle operations (shift, xor) that no compiler can shorten."""
    from numba import njit

    @njit
    def chain(n, x):
        for _ in range(n):
            x ^= x << np.uint64(13)
            x ^= x >> np.uint64(7)
            x ^= x << np.uint64(17)
        return x

    seed = np.uint64(88172645463325252)
    chain(10, seed)
    best = min(_timed(chain, seed) for _ in range(3))
    return 6 * CHAIN_STEPS / best


def _timed(chain, seed) -> float:
    start = time.perf_counter()
    chain(CHAIN_STEPS, seed)
    return time.perf_counter() - start


def _per_type_flops(tables, t):
    """(energy scalar flops, adjoint scalar flops, quadratic vector flops) of one atom of
    type t."""
    products, triples, features, polynomial = (
        tables.products, tables.triples, tables.features, tables.polynomial)
    orders = np.diff(products.off)
    multiplications = sum(
        int((orders[products.ptr[t, kind, 0]:products.ptr[t, kind, 5]] - 1).sum())
        for kind in (0, 1))
    groups = range(triples.ptr[t], triples.ptr[t + 1])
    members = sum(int(triples.member_ptr[g + 1] - triples.member_ptr[g]) for g in groups)
    f0, f1 = features.ptr[t], features.ptr[t + 1]
    terms = int(features.term_ptr[f1] - features.term_ptr[f0])
    cubic = int(polynomial.cubic_ptr[t + 1] - polynomial.cubic_ptr[t])
    energy = 6 * multiplications + 8 * members + 2 * terms + 5 * cubic
    n_full = tables.n_blocks * (tables.lmax + 1) ** 2
    adjoint = 12 * multiplications + 8 * n_full
    return energy, adjoint, 2 * (f1 - f0) ** 2


def limit_cycles(tables, type_ids, n_half_bonds) -> dict:
    """{profile term: fewest cycles per atom} of one potential file on a structure whose
    atoms have these type ids and n_half_bonds bonds (the model in the module docstring)."""
    n_atoms = len(type_ids)
    bonds = n_half_bonds / n_atoms
    n_fn = tables.basis.radial_params.shape[0]
    lmax = tables.lmax
    n_lm = (lmax + 1) * (lmax + 2) // 2
    n2 = 2 * n_lm
    row = n_fn * n2  # floats of one (type pair) block of an atom's densities
    counts = np.bincount(type_ids, minlength=len(tables.elements))
    flops = np.array([_per_type_flops(tables, t) for t in range(len(counts))], dtype=float)
    energy, adjoint, quadratic = (counts @ flops) / n_atoms
    return {
        "neighbours": bonds * (3 * 2 + 5),
        "radial functions + derivatives": bonds * (
            5 * TRANSCENDENTAL_CYCLES + ROOT_CYCLES + 6 * n_fn / SCALAR_FLOPS_PER_CYCLE),
        "spherical harmonics": bonds * (
            4 * ROOT_CYCLES + (2 * (lmax + 1) ** 2 + 6 * n_lm) / SCALAR_FLOPS_PER_CYCLE),
        "densities (scatter)": bonds * max(
            32 * row / L2_BYTES_PER_CYCLE, 2 * row / DOUBLES_PER_STORE),
        "invariants+polynomial": (energy / SCALAR_FLOPS_PER_CYCLE
                                  + quadratic / VECTOR_FLOPS_PER_CYCLE),
        "adjoint": adjoint / SCALAR_FLOPS_PER_CYCLE,
        "bond forces": bonds * (
            max(6 * row / VECTOR_FLOPS_PER_CYCLE, 8 * row / L2_BYTES_PER_CYCLE)
            + 10 * n_lm / SCALAR_FLOPS_PER_CYCLE),
    }

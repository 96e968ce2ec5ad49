"""Thin wrapper over the kernels: validate, cast, allocate, run one potential file."""

import numpy as np
from numba import get_num_threads

from . import kernels
from .harmonics import n_lm_half
from .model import BondBasis, Bonds, ModelTables
from .neighbors import half_neighbor_list
from .scratch import scratch
from .sweep import evaluate_in_slabs, plan_slabs

# A structure whose densities would take more than this is evaluated slab by slab (``sweep``:
# memory bounded whatever its size) unless a NeighborCache is given (which keeps every bond).
_SWEEP_BYTES = 64 * 2**20
# Private per-thread density accumulators are used while they stay below this size.
_BUFFER_BYTES = 256 * 2**20
# The density pass keeps the basis of as many bonds as fit in this for the force pass
# (small and middle-sized structures: all of them); the force pass computes the others.
_KEPT_BYTES = 64 * 2**20


def _n_chunks(threads: int, n_atom: int, n_slot: int, n_bond: int) -> int:
    per_chunk = max(1, n_atom * n_slot * 16)
    return int(max(1, min(threads, n_bond, 1 + _BUFFER_BYTES // per_chunk)))


def evaluate_model(
    tables: ModelTables, cell, positions, type_ids, pbc, *, forces=True, neighbors=None, reach=None,
    features=False,
):
    """Energy terms of one potential file for one structure.

    Parameters
    ----------
    cell : (3, 3) float, Å, lattice vectors as rows.
    positions : (n_atom, 3) float, Cartesian, Å.
    type_ids : (n_atom,) int, index into ``tables.elements``.
    pbc : (3,) bool.
    neighbors : NeighborCache to take the bonds from (reused across calls), or None for a
        fresh list; ``reach`` (Å) is passed on to it (the largest cutoff it serves). Without
        one, a structure whose densities exceed 64 MiB (25 000 atoms of fcc Al) is evaluated
        slab by slab (:mod:`~polymlp_lab.engine.sweep`), in bounded memory.

    Returns
    -------
    energies : (n_atom,) eV per atom.
    forces : (n_atom, 3) eV/Å, or None.
    virial : (3, 3) eV, sum over bonds of d ⊗ dE/dd (ASE stress = virial / volume), or None.
    feature_values : with ``features``, (n_atom, n_max) the features each atom's polynomial is
        built on (``tables.features``; row i holds the n_t of its type t first), else None.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    type_ids = np.ascontiguousarray(type_ids, dtype=np.int64)
    n_atom = len(positions)
    if neighbors is None and n_atom * tables.n_slots_half * 16 > _SWEEP_BYTES:
        plan = plan_slabs(cell, positions, pbc, tables.cutoff)
        if plan is not None:
            return evaluate_in_slabs(tables, cell, positions, type_ids, pbc, plan,
                                     forces=forces, features=features)
    if neighbors is None:
        bonds = Bonds(*half_neighbor_list(cell, positions, pbc, tables.cutoff))
    else:
        bonds = Bonds(*neighbors.bonds(cell, positions, pbc, tables.cutoff, reach=reach))
    n_slot = tables.n_slots_half
    threads = get_num_threads()
    # the densities a, then (in place, atom by atom) the adjoints g = dE/da
    densities = scratch("densities", (n_atom, n_slot), np.complex128)  # written by the kernel
    chunks = _n_chunks(threads, n_atom, n_slot, len(bonds.i))
    n_fn, n_lm = tables.basis.radial_params.shape[0], n_lm_half(tables.lmax)
    per_bond = 8 * (2 * n_lm + 2 * n_fn)
    n_kept = min(len(bonds.i), _KEPT_BYTES // per_bond) if forces else 0
    kept = BondBasis(scratch("kept Y", (n_kept, 2 * n_lm)), scratch("kept f", (n_kept, n_fn)),
                     scratch("kept df", (n_kept, n_fn)))
    kernels.compute_densities(bonds, type_ids, tables.basis, chunks, densities, kept)
    energies = np.zeros(n_atom)
    if features:
        feature_values = tables.feature_rows(n_atom)
    else:
        feature_values = np.zeros((0, 1))
    kernels.atomic_energies(
        densities, type_ids, tables.lmax, tables.products, tables.triples, tables.features,
        tables.polynomial, forces, int(max(1, min(threads, n_atom))), energies, densities,
        feature_values,
    )
    feature_values = feature_values if features else None
    if not forces:
        return energies, None, None, feature_values
    force_array = np.zeros((n_atom, 3))
    virial = np.zeros((3, 3))
    chunks = int(max(1, min(threads, len(bonds.i))))
    kernels.bond_forces(bonds, type_ids, tables.basis, densities, chunks, force_array, virial,
                        kept)
    return energies, force_array, virial, feature_values

"""Evaluation of a large structure slab by slab, in memory that does not grow with its size.

The densities (and then the adjoints) of every atom are the largest array of an evaluation:
n_slot complex numbers per atom, 2.6 kB for fcc Al. For a large structure the atoms are
ordered into S slabs along the cell's longest height, each at least a cutoff thick, so that
a bond joins atoms of one slab or of two neighbouring ones (slab S - 1 and slab 0 across the
periodic boundary). The half list keeps partner j >= i; with atoms ordered by slab, the bonds
found for the atoms i of slab s (group s) join slab s to itself or to slab s + 1, and for
s = 0 also to slab S - 1. After group s has been added, the densities of slab s are complete
(for s = S - 1 too: its bonds to slab 0 came with group 0). Then, in turn:

- group s: its bonds (searched for now) add to the densities of slabs s and s + 1 (and, for
  s = 0, S - 1);
- slab s: energies and adjoints (in place of its densities);
- group s - 1: its forces, now that the adjoints of slabs s - 1 and s are known;

and at the end the forces of groups S - 1 and 0. Rows of slabs 0, 1 and S - 1 are kept to
the end; the others go round three rows of slabs: six slabs of rows in all, whatever the
size, and the bonds of three groups. Only the arrays of positions, types, energies and
forces grow with the number of atoms (and the binned images of the neighbour search).

The results equal the whole-structure evaluation's to rounding (the same sums in another
order).
"""

from typing import NamedTuple, Optional

import numpy as np
from numba import get_num_threads

from ..errors import AtomsTooCloseError
from . import kernels
from .model import Bonds, ModelTables
from .neighbors import bond_search, periodic_box, search_bonds

MIN_SLABS = 8  # fewer slabs save too little memory: the whole structure is evaluated at once
# Slabs are this much thicker than the cutoff (Å), so that rounding of the coordinates never
# puts the two atoms of a bond two slabs apart.
MARGIN = 1e-6


class SlabPlan(NamedTuple):
    """Atoms in slab order: atom order[k] is the k-th; slab s is order[start[s]:start[s + 1]]."""

    order: np.ndarray  # (n_atom,) int64
    start: np.ndarray  # (S + 1,) int64


def plan_slabs(cell, positions, pbc, cutoff) -> Optional[SlabPlan]:
    """Slabs along the largest height of the (padded, periodic) cell, each thicker than
    ``cutoff`` (Å); None when fewer than MIN_SLABS fit."""
    if len(positions) == 0:
        return None
    box = periodic_box(cell, positions, pbc, cutoff)
    volume = abs(float(np.linalg.det(box)))
    heights = [volume / float(np.linalg.norm(np.cross(box[(k + 1) % 3], box[(k + 2) % 3])))
               for k in range(3)]
    axis = int(np.argmax(heights))
    n_slab = int(heights[axis] // (cutoff + MARGIN))
    if n_slab < MIN_SLABS:
        return None
    frac = positions @ np.linalg.inv(box)[:, axis]
    frac -= np.floor(frac)
    slab = np.minimum((frac * n_slab).astype(np.int64), n_slab - 1)
    order = np.argsort(slab, kind="stable")
    start = np.searchsorted(slab[order], np.arange(n_slab + 1))
    return SlabPlan(order, start)


def _slot(s: int, n_slab: int) -> int:
    """Rows of slab s: slabs 0, 1 and S - 1 have their own, the others take turns at three."""
    if s in (0, 1):
        return s
    return 2 if s == n_slab - 1 else 3 + s % 3


def evaluate_in_slabs(tables: ModelTables, cell, positions, type_ids, pbc, plan: SlabPlan, *,
                      forces=True, features=False):
    """:func:`~polymlp_lab.engine.evaluate.evaluate_model` of a structure, slab by slab
    (``plan`` from :func:`plan_slabs`); the same results and units."""
    order, start = plan
    n_slab = len(start) - 1
    n_atom = len(order)
    positions = np.ascontiguousarray(positions[order], dtype=np.float64)
    types = np.ascontiguousarray(type_ids[order], dtype=np.int64)
    try:
        search = bond_search(cell, positions, pbc, tables.cutoff)
    except AtomsTooCloseError as error:
        raise _in_given_order(error, order) from None
    threads = get_num_threads()
    chunks = int(max(1, threads))
    n_slot = tables.n_slots_half
    per_slab = int(np.diff(start).max())

    def slab_rows(s):
        """Rows of slab s's atoms in the densities: six slabs of rows (module docstring)."""
        base = _slot(s, n_slab) * per_slab
        return base, base + start[s + 1] - start[s]

    rows = np.empty(n_atom, dtype=np.int64)  # each atom's row
    for s in range(n_slab):
        rows[start[s]:start[s + 1]] = np.arange(*slab_rows(s))
    densities = np.empty((6 * per_slab, n_slot), dtype=np.complex128)
    accumulators = np.empty((chunks - 1, 6 * per_slab, 2 * n_slot))
    energies = np.zeros(n_atom)
    if features:
        feature_values = tables.feature_rows(n_atom)
    force_array = np.zeros((n_atom, 3)) if forces else None
    force_buffers = np.zeros((chunks - 1, n_atom, 3)) if forces else None
    virial = np.zeros((3, 3))
    groups = {}  # bonds of the groups whose forces are still to come

    def group_forces(s):
        bonds = groups.pop(s)
        kernels.bond_forces(bonds, types, tables.basis, densities, int(min(chunks, max(
            1, len(bonds.i)))), force_array, virial, rows=rows, accumulators=force_buffers)

    for s in range(n_slab):
        try:
            bonds = Bonds(*search_bonds(search, int(start[s]), int(start[s + 1])))
        except AtomsTooCloseError as error:
            raise _in_given_order(error, order) from None
        # rows zeroed before this group adds to them: all six at first, then slab s + 1's
        if s == 0:
            zero = (0, 6 * per_slab)
        elif 2 <= s + 1 <= n_slab - 2:
            zero = slab_rows(s + 1)
        else:
            zero = (0, 0)
        kernels.compute_densities(bonds, types, tables.basis, chunks, densities, rows=rows,
                                  accumulators=accumulators, zero=zero)
        lo, hi = slab_rows(s)
        if chunks > 1:
            kernels.add_accumulators(accumulators, densities.view(np.float64), lo, hi, chunks)
        atoms = slice(start[s], start[s + 1])
        block = densities[lo:hi]
        kernels.atomic_energies(
            block, types[atoms], tables.lmax, tables.products, tables.triples,
            tables.features, tables.polynomial, forces, int(max(1, min(chunks, hi - lo))),
            energies[atoms], block,
            feature_values[atoms] if features else np.zeros((0, 1)),
        )
        if forces:
            groups[s] = bonds
            if s >= 2:
                group_forces(s - 1)
            if s == n_slab - 1:
                group_forces(s)
                group_forces(0)
    given = np.empty_like(order)
    given[order] = np.arange(n_atom)
    energies = energies[given]
    feature_values = feature_values[given] if features else None
    if not forces:
        return energies, None, None, feature_values
    if chunks > 1:
        kernels.add_accumulators(force_buffers, force_array, 0, n_atom, chunks)
    return energies, force_array[given], virial, feature_values


def _in_given_order(error: AtomsTooCloseError, order) -> AtomsTooCloseError:
    """The error with the atoms numbered as given (the sweep numbers them in slab order)."""
    i, j = (int(order[k]) for k in error.pair)
    return AtomsTooCloseError(
        f"atoms {i} and {j} are {error.distance:.3f} Å apart"
        + str(error).split("apart", 1)[1], pair=(i, j), distance=error.distance)

"""Periodic half neighbour lists for any cell (triclinic, small, skewed, one atom).

Every bond (i, j, image) with 0 < |d| < cutoff appears once, with ``d = r_j + T - r_i`` (Å).
Images are enumerated from the cell heights, so cells thinner than the cutoff are exact.
The search over the atoms runs in chunks on Numba's threads (``kernels.run_chunks``); the
kernels take the Numba options of ``kernels`` (see there why).
"""

import math
from functools import lru_cache
from typing import NamedTuple, Optional

import numpy as np
from ase.geometry import minkowski_reduce
from numba import get_num_threads, njit

from ..errors import AtomsTooCloseError, InvalidStructureError
from .kernels import run_chunks

MIN_DISTANCE = 0.5  # Å; closer atoms are rejected
BIN_REACH = 2  # bins are >= cutoff / BIN_REACH thick; neighbours lie within ±BIN_REACH bins
MAX_BINS_PER_AXIS = 128  # larger bins stay correct (they only need to be thick enough)
MAX_IMAGES = 50_000_000  # ghost images (atoms and their periodic copies within reach)


def periodic_vectors_independent(cell: np.ndarray, pbc: np.ndarray) -> bool:
    """True when the lattice vectors of the periodic directions span their space."""
    vectors = np.asarray(cell, dtype=np.float64)[np.asarray(pbc, dtype=bool)]
    if len(vectors) == 0:
        return True
    gram = vectors @ vectors.T
    scale = np.prod(np.diag(gram))
    return scale > 1e-24 and np.linalg.det(gram) > 1e-12 * scale


def periodic_box(cell: np.ndarray, positions: np.ndarray, pbc: np.ndarray, cutoff: float):
    """A fully periodic cell equivalent to (cell, pbc) for bonds shorter than ``cutoff``.

    Each non-periodic direction gets a lattice vector orthogonal to the periodic ones (and to
    the padding vectors already made), longer than the extent of the atoms along it plus the
    cutoff, so that no periodic image comes within reach.
    """
    cell = np.array(cell, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    if np.all(pbc):
        return cell
    basis = [cell[a] / np.linalg.norm(cell[a]) for a in range(3) if pbc[a]]
    for a in np.flatnonzero(~pbc):
        # Gram-Schmidt on the coordinate axes against the vectors chosen so far
        for trial in np.eye(3)[np.argsort(-np.abs(cell[a]) if np.any(cell[a]) else [0, 1, 2])]:
            v = trial - sum(np.dot(trial, b) * b for b in basis)
            if np.linalg.norm(v) > 1e-3:
                break
        normal = v / np.linalg.norm(v)
        basis.append(normal)
        extent = float(np.ptp(positions @ normal)) if len(positions) else 0.0
        cell[a] = normal * (extent + cutoff + 1.0)
    return cell


def lattice_translations(cell: np.ndarray, cutoff: float):
    """Image range per axis and the ±T bookkeeping of the translation grid.

    Returns (reps (3,), heights (3,) Å, positive (n_T,) bool): translation index
    t = ((n1 + R1)(2R2 + 1) + n2 + R2)(2R3 + 1) + n3 + R3; ``positive`` marks one of each
    ±T pair (lexicographic), so that self-image bonds are kept once.
    """
    volume = abs(np.linalg.det(cell))
    heights = np.array([volume / np.linalg.norm(np.cross(cell[(a + 1) % 3], cell[(a + 2) % 3]))
                        for a in range(3)])
    reps = np.ceil(cutoff / heights).astype(np.int64)
    grid = np.indices(2 * reps + 1).reshape(3, -1).T - reps  # row-major (n1, n2, n3)
    positive = (grid[:, 0] > 0) | ((grid[:, 0] == 0) & (grid[:, 1] > 0))
    positive |= (grid[:, 0] == 0) & (grid[:, 1] == 0) & (grid[:, 2] > 0)
    return reps, heights, positive


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _ghost_images(frac, cell, reps, delta, fill, pos, fr, atom, trans):
    """The images (atom j, translation t) with fractional coordinates in [-delta, 1 + delta):
    their number, and with ``fill`` the images themselves written into pos, fr, atom and
    trans (arrays of that number of rows). Counting first keeps memory to the images that
    exist (about (1 + 2 delta)^3 per atom), not atoms x translations."""
    n_atom = frac.shape[0]
    k = 0
    t = 0
    for n1 in range(-reps[0], reps[0] + 1):
        for n2 in range(-reps[1], reps[1] + 1):
            for n3 in range(-reps[2], reps[2] + 1):
                for j in range(n_atom):
                    f1 = frac[j, 0] + n1
                    f2 = frac[j, 1] + n2
                    f3 = frac[j, 2] + n3
                    if (
                        f1 < -delta[0] or f1 >= 1.0 + delta[0]
                        or f2 < -delta[1] or f2 >= 1.0 + delta[1]
                        or f3 < -delta[2] or f3 >= 1.0 + delta[2]
                    ):
                        continue
                    if fill:
                        for a in range(3):
                            pos[k, a] = f1 * cell[0, a] + f2 * cell[1, a] + f3 * cell[2, a]
                        fr[k, 0] = f1
                        fr[k, 1] = f2
                        fr[k, 2] = f3
                        atom[k] = j
                        trans[k] = t
                    k += 1
                t += 1
    return k


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def _bin_axis(f, delta, width, n_bins):
    """Bin of fractional coordinate f along one axis (scalars: one compiled version)."""
    v = int(math.floor((f + delta) / width))
    return min(max(v, 0), n_bins - 1)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def _bin_index(f, delta, width, n_bins):
    """(flat bin, its three indices) of fractional coordinates f (no allocation)."""
    b0 = _bin_axis(f[0], delta[0], width[0], n_bins[0])
    b1 = _bin_axis(f[1], delta[1], width[1], n_bins[1])
    b2 = _bin_axis(f[2], delta[2], width[2], n_bins[2])
    return (b0 * n_bins[1] + b1) * n_bins[2] + b2, b0, b1, b2


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _bin_ghosts(fr, delta, width, n_bins):
    """Counting sort of ghost images into fractional bins: (bin_start, order)."""
    n_ghost = fr.shape[0]
    total = n_bins[0] * n_bins[1] * n_bins[2]
    which = np.empty(n_ghost, dtype=np.int64)
    start = np.empty(total + 1, dtype=np.int64)  # zeroed by a loop: np.zeros is one more
    for b in range(total + 1):  # overload to compile
        start[b] = 0
    for g in range(n_ghost):
        which[g] = _bin_index(fr[g], delta, width, n_bins)[0]
        start[which[g] + 1] += 1
    for b in range(total):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    order = np.empty(n_ghost, dtype=np.int64)
    for g in range(n_ghost):
        order[fill[which[g]]] = g
        fill[which[g]] += 1
    return start, order


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _scan_bonds(
    c, n_chunks, positions, frac, g_pos, g_atom, g_trans, positive, bin_start, delta, width,
    n_bins, reach, cutoff, lo, hi, fill, offsets, counts, closest, bond_i, bond_j, bond_d,
):
    """Count (fill=False) or write (fill=True) the half list of the atoms lo <= i < hi of chunk
    c, binned (offsets, counts and closest indexed by i - lo); the ghost arrays are in bin
    order (bin b holds ghosts bin_start[b]:bin_start[b + 1]).

    Chunk c takes every n_chunks-th atom from lo + c: the half list keeps partners j >= i, so
    low indices carry most bonds, and contiguous blocks of atoms would load the chunks
    unevenly.
    """
    cut2 = cutoff * cutoff
    for i in range(lo + c, hi, n_chunks):
        _, b0, b1, b2 = _bin_index(frac[i], delta, width, n_bins)
        k = offsets[i - lo]
        count = 0
        dmin = np.inf
        jmin = -1
        lo0, hi0 = max(b0 - reach, 0), min(b0 + reach + 1, n_bins[0])
        lo1, hi1 = max(b1 - reach, 0), min(b1 + reach + 1, n_bins[1])
        lo2, hi2 = max(b2 - reach, 0), min(b2 + reach + 1, n_bins[2])
        for b0 in range(lo0, hi0):
            for b1 in range(lo1, hi1):
                for b2 in range(lo2, hi2):
                    cell_bin = (b0 * n_bins[1] + b1) * n_bins[2] + b2
                    for g in range(bin_start[cell_bin], bin_start[cell_bin + 1]):
                        j = g_atom[g]
                        if j < i or (j == i and not positive[g_trans[g]]):
                            continue
                        dx = g_pos[g, 0] - positions[i, 0]
                        dy = g_pos[g, 1] - positions[i, 1]
                        dz = g_pos[g, 2] - positions[i, 2]
                        r2 = dx * dx + dy * dy + dz * dz
                        if r2 >= cut2:
                            continue
                        if fill:
                            bond_i[k] = i
                            bond_j[k] = j
                            bond_d[k, 0] = dx
                            bond_d[k, 1] = dy
                            bond_d[k, 2] = dz
                            k += 1
                        else:
                            count += 1
                            if r2 < dmin:
                                dmin = r2
                                jmin = j
        if not fill:
            counts[i - lo] = count
            closest[i - lo, 0] = math.sqrt(dmin)
            closest[i - lo, 1] = jmin


def _lattice(cell, positions, pbc, cutoff):
    """Everything the search derives from the cell: reduced periodic box, its inverse, its
    shortest vector, image ranges, ±T bookkeeping and the bin grid (see half_neighbor_list)."""
    if not periodic_vectors_independent(cell, pbc):
        raise InvalidStructureError("the periodic cell vectors are zero or linearly dependent")
    box = periodic_box(cell, positions, pbc, cutoff)
    # Minkowski-reduce the lattice: same images, fewest translations, and its shortest
    # vector tells whether an atom sits on top of its own periodic image.
    box = np.ascontiguousarray(minkowski_reduce(box)[0], dtype=np.float64)
    shortest = float(np.linalg.norm(box, axis=1).min())
    reps, heights, positive = lattice_translations(box, cutoff)
    delta = cutoff / heights
    n_bins = np.floor(np.minimum((1.0 + 2.0 * delta) * BIN_REACH / delta, MAX_BINS_PER_AXIS))
    n_bins = np.maximum(1, n_bins).astype(np.int64)
    width = (1.0 + 2.0 * delta) / n_bins
    lattice = (box, np.linalg.inv(box), shortest, reps, positive, delta, n_bins, width)
    for item in lattice:
        if isinstance(item, np.ndarray):
            item.setflags(write=False)
    return lattice


@lru_cache(maxsize=16)
def _periodic_lattice(cell_bytes, cutoff):
    cell = np.frombuffer(cell_bytes, dtype=np.float64).reshape(3, 3)
    return _lattice(cell, np.empty((0, 3)), np.ones(3, dtype=bool), cutoff)


class BondSearch(NamedTuple):
    """The binned periodic images of one structure (:func:`bond_search`), searched for the
    half list of a range of its atoms by :func:`search_bonds`."""

    positions: np.ndarray  # (n_atom, 3) Å, wrapped into the box
    frac: np.ndarray  # (n_atom, 3) their fractional coordinates
    g_pos: np.ndarray  # (n_image, 3) Å, the images in bin order
    g_atom: np.ndarray  # (n_image,) atom of each image
    g_trans: np.ndarray  # (n_image,) its translation index
    positive: np.ndarray  # per translation index: T is the one of ±T kept
    bin_start: np.ndarray  # images of bin b: bin_start[b]:bin_start[b + 1]
    delta: np.ndarray
    width: np.ndarray
    n_bins: np.ndarray
    cutoff: float


def bond_search(cell, positions, pbc, cutoff) -> BondSearch:
    """Periodic images within reach of the cell, binned, for bonds shorter than ``cutoff``
    (Å). Raises InvalidStructureError for a degenerate cell or too many images, and
    AtomsTooCloseError when an atom sits on its own image."""
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    cell = np.asarray(cell, dtype=np.float64)
    if np.all(pbc):  # the geometry depends on the cell alone: reuse it while it is unchanged
        lattice = _periodic_lattice(cell.tobytes(), float(cutoff))
    else:
        lattice = _lattice(cell, positions, pbc, float(cutoff))
    box, inverse, shortest, reps, positive, delta, n_bins, width = lattice
    if len(positions) and shortest < MIN_DISTANCE:
        raise AtomsTooCloseError(
            f"atoms 0 and 0 (its own periodic image) are {shortest:.3f} Å apart "
            f"(minimum {MIN_DISTANCE} Å)",
            pair=(0, 0),
            distance=shortest,
        )
    frac = positions @ inverse
    frac -= np.floor(frac)
    wrapped = frac @ box
    none_i, none_d = np.empty(0, dtype=np.int64), np.empty((0, 3))
    n_images = _ghost_images(frac, box, reps, delta, False, none_d, none_d, none_i, none_i)
    if n_images > MAX_IMAGES:
        raise InvalidStructureError(
            f"the cell is too small for the cutoff {cutoff} Å: {n_images} periodic images "
            f"of {len(positions)} atoms would be needed"
        )
    g_pos, g_frac = np.empty((n_images, 3)), np.empty((n_images, 3))
    g_atom, g_trans = np.empty(n_images, dtype=np.int64), np.empty(n_images, dtype=np.int64)
    _ghost_images(frac, box, reps, delta, True, g_pos, g_frac, g_atom, g_trans)
    bin_start, order = _bin_ghosts(g_frac, delta, width, n_bins)
    del g_frac
    g_pos, g_atom, g_trans = g_pos[order], g_atom[order], g_trans[order]  # contiguous bins
    return BondSearch(wrapped, frac, g_pos, g_atom, g_trans, positive, bin_start, delta, width,
                      n_bins, float(cutoff))


def search_bonds(search: BondSearch, lo: int = 0, hi: Optional[int] = None):
    """Half list (bond_i, bond_j, bond_d) of the atoms lo <= i < hi (all by default): every
    bond (i, j, image) with j >= i, d = r_j + T - r_i (Å) shorter than the cutoff, grouped by
    i. Raises AtomsTooCloseError naming the atom pair when two atoms are closer than 0.5 Å.
    """
    hi = len(search.positions) if hi is None else hi
    n = hi - lo
    counts = np.zeros(n, dtype=np.int64)
    closest = np.zeros((n, 2))
    offsets = np.zeros(n + 1, dtype=np.int64)
    chunks = int(max(1, min(get_num_threads(), n)))
    none_i, none_d = np.empty(0, dtype=np.int64), np.empty((0, 3))
    scan = (search.positions, search.frac, search.g_pos, search.g_atom, search.g_trans,
            search.positive, search.bin_start, search.delta, search.width, search.n_bins,
            BIN_REACH, search.cutoff, lo, hi)
    run_chunks(_scan_bonds, chunks, scan + (False, offsets, counts, closest, none_i, none_i,
                                            none_d))
    if n:
        k = int(np.argmin(closest[:, 0]))
        if closest[k, 0] < MIN_DISTANCE:
            raise AtomsTooCloseError(
                f"atoms {lo + k} and {int(closest[k, 1])} are {closest[k, 0]:.3f} Å apart "
                f"(minimum {MIN_DISTANCE} Å)",
                pair=(lo + k, int(closest[k, 1])),
                distance=float(closest[k, 0]),
            )
    np.cumsum(counts, out=offsets[1:])
    n_bond = int(offsets[-1])
    bond_i = np.empty(n_bond, dtype=np.int64)
    bond_j = np.empty(n_bond, dtype=np.int64)
    bond_d = np.empty((n_bond, 3), dtype=np.float64)
    run_chunks(_scan_bonds, chunks, scan + (True, offsets, counts, closest, bond_i, bond_j,
                                            bond_d))
    return bond_i, bond_j, bond_d


def half_neighbor_list(cell, positions, pbc, cutoff):
    """Half list of bonds shorter than ``cutoff`` (Å), for any cell and periodicity.

    Returns (bond_i, bond_j, bond_d) with bond_d[k] = r_j + T - r_i, grouped by i. Raises
    AtomsTooCloseError naming the atom pair when two atoms are closer than 0.5 Å.
    """
    return search_bonds(bond_search(cell, positions, pbc, cutoff))


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _select_bonds(pair_i, pair_j, translations, to_cartesian, positions, cutoff, bond_i, bond_j,
                  bond_d):
    """Copy the candidate pairs shorter than ``cutoff`` (Å) into the bond arrays.

    d = r_j + T - r_i with T = translations[k] @ to_cartesian (the cell for lattice
    coordinates, the identity for Cartesian ones). Returns (number of bonds, the shortest
    distance over all candidates, and its candidate index).
    """
    cut2 = cutoff * cutoff
    n = 0
    dmin2 = np.inf
    kmin = -1
    for k in range(pair_i.shape[0]):
        i = pair_i[k]
        j = pair_j[k]
        t0, t1, t2 = translations[k, 0], translations[k, 1], translations[k, 2]
        dx = positions[j, 0] + (t0 * to_cartesian[0, 0] + t1 * to_cartesian[1, 0]
                                + t2 * to_cartesian[2, 0]) - positions[i, 0]
        dy = positions[j, 1] + (t0 * to_cartesian[0, 1] + t1 * to_cartesian[1, 1]
                                + t2 * to_cartesian[2, 1]) - positions[i, 1]
        dz = positions[j, 2] + (t0 * to_cartesian[0, 2] + t1 * to_cartesian[1, 2]
                                + t2 * to_cartesian[2, 2]) - positions[i, 2]
        r2 = dx * dx + dy * dy + dz * dz
        if r2 < dmin2:
            dmin2 = r2
            kmin = k
        # written always, kept when shorter than the cutoff: no branch to mispredict (a third
        # of the candidates are beyond the cutoff, in no order); n <= k, so within the arrays
        bond_i[n] = i
        bond_j[n] = j
        bond_d[n, 0] = dx
        bond_d[n, 1] = dy
        bond_d[n, 2] = dz
        n += r2 < cut2
    return n, math.sqrt(dmin2), kmin


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _largest_move(positions, reference):
    """max over atoms of |positions - reference| (Å)."""
    largest = 0.0
    for a in range(positions.shape[0]):
        dx = positions[a, 0] - reference[a, 0]
        dy = positions[a, 1] - reference[a, 1]
        dz = positions[a, 2] - reference[a, 2]
        largest = max(largest, dx * dx + dy * dy + dz * dz)
    return math.sqrt(largest)


_IDENTITY = np.eye(3)


class NeighborCache:
    """A half neighbour list built with a skin and reused while it is still complete.

    The candidate pairs are those within ``reach + skin`` (Å) when the list is built. For a
    later structure with the same atoms, the list is reused when no pair can have come
    within ``reach``: with F = cell_ref⁻¹ cell (the homogeneous deformation since the build)
    and u the largest atomic displacement beyond that deformation,
    σ_min(F) (reach + skin) − 2u > reach. Cells that are not periodic in 3 directions reuse
    the list only while the cell is unchanged. Bonds are then exactly those a fresh
    :func:`half_neighbor_list` finds (order within an atom's bonds may differ). The arrays
    :meth:`bonds` returns are reused by its next call (no page faults of fresh arrays per
    step).

    ``builds`` counts the lists built so far.
    """

    def __init__(self, skin: float = 1.0):
        if not skin >= 0.0:
            raise InvalidStructureError(f"the neighbour-list skin must be >= 0 Å, not {skin}")
        self.skin = float(skin)
        self.builds = 0
        self._key = None
        self._out = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 3)))

    def _build(self, cell, positions, pbc, reach):
        bond_i, bond_j, bond_d = half_neighbor_list(cell, positions, pbc, reach + self.skin)
        translations = bond_d - (positions[bond_j] - positions[bond_i])
        if np.all(pbc):  # translations as lattice coordinates, to follow a changing cell
            translations = np.rint(translations @ np.linalg.inv(cell))
        self._key = (len(positions), tuple(pbc), float(reach))
        self._cell = cell.copy()
        self._positions = positions.copy()
        self._pairs = (bond_i, bond_j, np.ascontiguousarray(translations))
        self.builds += 1

    def _still_complete(self, cell, positions, pbc, reach) -> bool:
        if self._key != (len(positions), tuple(pbc), float(reach)):
            return False
        if np.array_equal(cell, self._cell):
            deformation = None
            shrink = 1.0
        elif np.all(pbc):
            deformation = np.linalg.solve(self._cell, cell)
            shrink = float(np.linalg.svd(deformation, compute_uv=False)[-1])
        else:
            return False
        reference = self._positions if deformation is None else self._positions @ deformation
        return shrink * (reach + self.skin) - 2.0 * _largest_move(positions, reference) > reach

    def bonds(self, cell, positions, pbc, cutoff, *, reach=None):
        """(bond_i, bond_j, bond_d) of bonds shorter than ``cutoff`` (Å), as half_neighbor_list
        (but in arrays the next call reuses).

        reach : the largest cutoff (Å) this cache will be asked for (default ``cutoff``);
            a change of reach rebuilds the list.
        """
        cell = np.asarray(cell, dtype=np.float64)
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        pbc = np.asarray(pbc, dtype=bool)
        reach = float(cutoff if reach is None else reach)
        if cutoff > reach:
            raise ValueError(f"cutoff {cutoff} Å exceeds the reach {reach} Å of the cache")
        if self._key is None or not self._still_complete(cell, positions, pbc, reach):
            self._build(cell, positions, pbc, reach)
        pair_i, pair_j, translations = self._pairs
        to_cartesian = cell if np.all(pbc) else _IDENTITY
        n_pair = len(pair_i)
        if len(self._out[0]) < n_pair:
            self._out = (np.empty(n_pair, np.int64), np.empty(n_pair, np.int64),
                         np.empty((n_pair, 3)))
        bond_i, bond_j, bond_d = self._out
        n, closest, k = _select_bonds(
            pair_i, pair_j, translations, to_cartesian, positions, float(cutoff), bond_i,
            bond_j, bond_d,
        )
        if n_pair and closest < MIN_DISTANCE:
            i, j = int(pair_i[k]), int(pair_j[k])
            raise AtomsTooCloseError(
                f"atoms {i} and {j} are {closest:.3f} Å apart (minimum {MIN_DISTANCE} Å)",
                pair=(i, j),
                distance=closest,
            )
        return bond_i[:n], bond_j[:n], bond_d[:n]

"""Design matrix of a polynomial MLP: features of a structure and their derivatives.

For one structure, with X_k = sum_i x_k(i) the summed features (linear ones, then the
polynomial products sum_i x_a(i) x_b(i) ...), in pypolymlp's column order:
- energy row: X (the model energy is coeffs . X, eV);
- force rows: -dX/dr_a,alpha, atom-major (model forces in eV/Å);
- stress rows: -sum_bonds d_a dX/dd_b (eV per cell), order xx yy zz xy yz zx, which is
  pypolymlp's stress convention (-dE/dε; ASE's stress is minus this over the volume).
"""

import functools
import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import PotentialFileError
from . import design_kernels, kernels
from .harmonics import n_lm_half
from .model import (
    Array, Basis, BasisTables, Bonds, frozen_bundle, linear_features, model_layout,
)
from .neighbors import half_neighbor_list

# Centres are processed in chunks so that the Jacobians and density derivatives of one chunk
# stay below this many bytes each (cache-sized: both are rewritten for every chunk).
CHUNK_BYTES = 8 * 2**20

_workspace = threading.local()  # per-thread scratch buffers, reused across calls


def _scratch(name: str, size: int, dtype) -> np.ndarray:
    """A flat per-thread buffer of at least ``size`` elements (contents undefined)."""
    buffer = getattr(_workspace, name, None)
    if buffer is None or buffer.size < size or buffer.dtype != dtype:
        buffer = np.empty(size, dtype=dtype)
        setattr(_workspace, name, buffer)
    return buffer[:size]


class Terms(NamedTuple):
    """Linear features active for each centre type, as sums of terms (products of densities)."""

    act_ptr: Array(np.int64, 1)  # (n_type + 1,) features of type t: act_idx[act_ptr[t]:...]
    act_idx: Array(np.int64, 1)
    ptr: Array(np.int64, 1)  # (n_linear + 1,) terms of linear feature k
    coef: Array(np.float64, 1)  # coefficient of each term


class Factors(NamedTuple):
    """Density factors of every term: term e multiplies the factors ptr[e]:ptr[e+1]."""

    ptr: Array(np.int64, 1)
    slot: Array(np.int64, 1)  # full density slot
    neighbour: Array(np.int64, 2)  # [t, q]: neighbour type s of factor q's pair tp(t, s), or -1
    lmh: Array(np.int64, 1)  # half lm index (l, |m|)
    sign: Array(np.float64, 1)  # 0 for m >= 0, else (-1)^m (conjugated fold)


class Rows(NamedTuple):
    """Jacobian rows of the linear features and of the polynomial terms' factors."""

    lin: Array(np.int64, 1)  # (n_linear,) row of linear feature k
    poly_idx: Array(np.int64, 2)  # (n_poly, max_p) linear features of each product, -1 padded
    poly: Array(np.int64, 2)  # (n_poly, max_p) row of each factor's contribution
    column: Array(np.int64, 1)  # (n_rows,) design-matrix column of each row


class Blocks(NamedTuple):
    """The Jacobian stored by blocks (n, l): radial function n, angular number l (number
    b = n (lmax + 1) + l). A row's densities cover a few blocks only; block b holds its rows'
    (l, m >= 0) entries of every neighbour type, a (rows, centres, n_type, 2 (l + 1)) array."""

    ptr: Array(np.int64, 1)  # (n_blocks + 1,) rows of block b: column[ptr[b]:ptr[b + 1]]
    column: Array(np.int64, 1)  # design-matrix column of each of them
    row_ptr: Array(np.int64, 1)  # (n_rows + 1,) blocks of row r: row_block[row_ptr[r]:...]
    row_block: Array(np.int64, 1)
    row_pos: Array(np.int64, 1)  # the row's place in that block
    unit: Array(np.int64, 1)  # (n_blocks + 1,) offsets of one centre's blocks in the Jacobian


class Neighbours(NamedTuple):
    """Full neighbour list sorted by centre, then neighbour type: centre i has the neighbours
    j[ptr[i]:ptr[i+1]] at d = r_j - r_i (Å)."""

    ptr: Array(np.int64, 1)
    j: Array(np.int64, 1)
    d: Array(np.float64, 2)


@dataclass(frozen=True)
class FeatureTables(BasisTables):
    """Per-feature tables of one model (pypolymlp ``PolymlpParamsSingle``)."""

    elements: tuple
    basis: Basis
    terms: Terms
    factors: Factors
    rows: Rows
    blocks: Blocks
    n_linear: int
    n_features: int

    n_type = property(lambda self: len(self.elements))
    n_fn = property(lambda self: self.basis.radial_params.shape[0])


def _terms_table(linear_terms, active, n_type) -> Terms:
    act = [[k for k in range(len(active)) if t in active[k]] for t in range(n_type)]
    return frozen_bundle(
        Terms, act_ptr=np.cumsum([0] + [len(a) for a in act]),
        act_idx=[k for a in act for k in a],
        ptr=np.cumsum([0] + [len(terms) for terms in linear_terms]),
        coef=[c for terms in linear_terms for c in terms.values()],
    )


def _factors_table(linear_terms, basis, n_type) -> Factors:
    n_fn, n_lmf = basis.radial_params.shape[0], (basis.lmax + 1) ** 2
    other_type = np.full((n_type, basis.type_pairs.max() + 1), -1)  # [t, tp(t, s)] = s
    other_type[np.arange(n_type)[:, None], basis.type_pairs] = np.arange(n_type)
    ptr, slot, tp, lmh, sign = [0], [], [], [], []
    for terms in linear_terms:
        for key in terms:
            for factor in key:
                block, lm = divmod(factor, n_lmf)
                l = int(np.sqrt(lm))
                m = lm - l * l - l
                slot.append(factor)
                tp.append(block // n_fn)
                lmh.append(l * (l + 1) // 2 + abs(m))
                sign.append(0 if m >= 0 else (1 - 2 * (abs(m) % 2)))
            ptr.append(len(slot))
    return frozen_bundle(Factors, ptr=ptr, slot=slot, neighbour=other_type[:, np.array(tp, int)],
                         lmh=lmh, sign=sign)


def _rows_table(feat_n, polynomials, n_fn) -> Rows:
    """Jacobian rows grouped by radial function: linear features of n, then the products'
    contributions through a factor of radial function n (one row per product and n)."""
    max_p = max((len(c) for c in polynomials), default=1)
    if max_p > 3:
        raise PotentialFileError(f"polynomials of order {max_p} are not supported (max_p <= 3)")
    poly_idx = np.full((len(polynomials), max_p), -1, dtype=np.int64)
    poly_row = np.full((len(polynomials), max_p), -1, dtype=np.int64)
    lin_row = np.empty(len(feat_n), dtype=np.int64)
    row_column = []
    for n in range(n_fn):
        for k in np.flatnonzero(feat_n == n):
            lin_row[k] = len(row_column)
            row_column.append(int(k))
        for p, comb in enumerate(polynomials):
            qs = [q for q, k in enumerate(comb) if feat_n[k] == n]
            if qs:
                for q in qs:
                    poly_row[p, q] = len(row_column)
                row_column.append(len(feat_n) + p)
    for p, comb in enumerate(polynomials):
        poly_idx[p, : len(comb)] = comb
    return frozen_bundle(Rows, lin=lin_row, poly_idx=poly_idx, poly=poly_row, column=row_column)


def _blocks_table(feat_n, terms: Terms, factors: Factors, rows: Rows, n_fn, lmax) -> Blocks:
    """Which blocks each Jacobian row covers: a linear feature the angular numbers of its
    density factors (for any centre type), a product's row those of its factors in that row."""
    n_linear, n_l = len(feat_n), lmax + 1
    feature_of_term = np.repeat(np.arange(n_linear), np.diff(terms.ptr))
    feature = feature_of_term[np.repeat(np.arange(len(terms.coef)), np.diff(factors.ptr))]
    l_of = np.concatenate([np.full(l + 1, l) for l in range(n_l)])[factors.lmh]
    support = np.zeros((n_linear, n_l), dtype=bool)  # [k, l]
    for t in range(factors.neighbour.shape[0]):
        active = np.zeros(n_linear, dtype=bool)
        active[terms.act_idx[terms.act_ptr[t]:terms.act_ptr[t + 1]]] = True
        s = factors.neighbour[t]
        keep = active[feature] & (s >= 0)
        support[feature[keep], l_of[keep]] = True
    n_rows = len(rows.column)
    covers = np.zeros((n_rows, n_l), dtype=bool)
    covers[rows.lin] = support
    row_n = np.empty(n_rows, dtype=np.int64)
    row_n[rows.lin] = feat_n
    for p, q in zip(*np.nonzero(rows.poly >= 0)):
        k = rows.poly_idx[p, q]
        covers[rows.poly[p, q]] |= support[k]
        row_n[rows.poly[p, q]] = feat_n[k]
    block_of = row_n[:, None] * n_l + np.arange(n_l)  # [r, l]
    row, local = np.nonzero(covers)
    block = block_of[row, local]
    order = np.lexsort((row, block))  # by block, then row
    n_blocks = n_fn * n_l
    counts = np.bincount(block, minlength=n_blocks)
    pos = np.empty(len(block), dtype=np.int64)
    pos[order] = np.arange(len(block)) - np.repeat(np.cumsum(counts) - counts, counts)
    return frozen_bundle(
        Blocks, ptr=np.concatenate([[0], np.cumsum(counts)]), column=rows.column[row[order]],
        row_ptr=np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n_rows))]),
        row_block=block, row_pos=pos, unit=_block_offsets(counts, factors.neighbour.shape[0], n_l),
    )


def _block_offsets(rows_per_block, n_type, n_l):
    """Offsets of one centre's blocks: block (n, l) holds rows × n_type × 2 (l + 1) floats."""
    widths = 2 * n_type * (np.arange(len(rows_per_block)) % n_l + 1)
    return np.concatenate([[0], np.cumsum(rows_per_block * widths)])


def build_feature_tables(params) -> FeatureTables:
    """FeatureTables from pypolymlp's enumeration (``get_features_attr``) of ``params``."""
    basis, features, polynomials = model_layout(params)
    linear_terms, active = linear_features(params, features, basis)
    feat_n = np.array([feature[0] for feature in features], dtype=np.int64)
    terms = _terms_table(linear_terms, active, params.n_type)
    factors = _factors_table(linear_terms, basis, params.n_type)
    rows = _rows_table(feat_n, polynomials, basis.radial_params.shape[0])
    return FeatureTables(
        elements=tuple(params.elements),
        basis=basis,
        terms=terms,
        factors=factors,
        rows=rows,
        blocks=_blocks_table(feat_n, terms, factors, rows, basis.radial_params.shape[0],
                             basis.lmax),
        n_linear=len(features),
        n_features=len(features) + len(polynomials),
    )


def _full_neighbours(n_atom, bonds, type_ids) -> Neighbours:
    """Directed neighbours of each atom from the half list (both directions of each bond)."""
    centres = np.concatenate([bonds.i, bonds.j])
    atoms = np.concatenate([bonds.j, bonds.i])
    order = np.lexsort((type_ids[atoms], centres))
    ptr = np.zeros(n_atom + 1, dtype=np.int64)
    np.cumsum(np.bincount(centres, minlength=n_atom), out=ptr[1:])
    vectors = np.concatenate([bonds.d, -bonds.d])[order]
    return Neighbours(ptr, np.ascontiguousarray(atoms[order]), np.ascontiguousarray(vectors))


def design_rows(tables: FeatureTables, cell, positions, type_ids, pbc, *, derivatives=True):
    """Design-matrix rows of one structure.

    Returns
    -------
    energy_row : (n_features,) summed features; model energy = coeffs . energy_row (eV).
    force_rows : (3 n_atom, n_features) = -dX/dr (rows atom-major x, y, z), or None.
    stress_rows : (6, n_features) = -virial of X (eV per cell; xx yy zz xy yz zx), or None.
    per_atom : (n_atom, n_linear) linear feature values of each atom.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    type_ids = np.ascontiguousarray(type_ids, dtype=np.int64)
    n_atom = len(positions)
    n_type, n_lmh, n_fn = tables.n_type, n_lm_half(tables.lmax), tables.n_fn
    bonds = Bonds(*half_neighbor_list(cell, positions, pbc, tables.cutoff))
    a_half = np.empty((n_atom, tables.n_blocks * n_lmh), dtype=np.complex128)
    kernels.compute_densities(bonds, type_ids, tables.basis, 1, a_half)
    n_col = 3 * n_atom + 6
    x = np.zeros((n_atom, tables.n_linear))
    if derivatives:
        rows, blocks = tables.rows, tables.blocks
        neighbours = _full_neighbours(n_atom, bonds, type_ids)
        out = np.zeros((tables.n_features, n_col))  # derivatives of the summed features
    else:  # one scratch Jacobian row for all features, stored nowhere
        rows, blocks = _energy_only_rows(tables.n_linear), _NO_BLOCKS
    unit = blocks.unit
    n_deriv = n_fn * n_type * n_lmh * 2 * n_col if derivatives else 0
    chunk = int(max(1, min(n_atom, CHUNK_BYTES // (8 * (unit[-1] + n_deriv + 1)))))
    for start in range(0, n_atom, chunk):
        stop = min(n_atom, start + chunk)
        offset = (stop - start) * unit
        jac = _scratch("jac", int(offset[-1]), np.float64)  # all written
        design_kernels.features_and_jacobians(
            a_half, type_ids, start, stop, tables.lmax, tables.terms, tables.factors, rows,
            blocks, offset, x, jac)
        if derivatives:
            _add_derivatives(tables, start, stop, neighbours, type_ids, jac, offset, out)
    energy_row = np.empty(tables.n_features)
    energy_row[: tables.n_linear] = x.sum(axis=0)
    products = np.ones((n_atom, len(tables.rows.poly_idx)))
    for q in range(tables.rows.poly_idx.shape[1]):
        idx = tables.rows.poly_idx[:, q]
        products *= np.where(idx >= 0, x[:, np.maximum(idx, 0)], 1.0)
    energy_row[tables.n_linear:] = products.sum(axis=0)
    if not derivatives:
        return energy_row, None, None, x
    force_rows = -out[:, : 3 * n_atom].T
    stress_rows = -out[:, 3 * n_atom:].T
    return energy_row, np.ascontiguousarray(force_rows), np.ascontiguousarray(stress_rows), x


def _add_derivatives(tables, start, stop, neighbours, type_ids, jac, offset, out) -> None:
    """out[column] += the derivatives of the summed features over centres
    start..stop: per block (n, l), Re(J D) summed over the centres and neighbour types, one
    matrix product of the block's Jacobian rows with its density derivatives, all in one
    Numba kernel without the GIL (a Python loop over the blocks took it hundreds of times per
    structure, which serialised the fit's threads)."""
    n_centre, n_col = stop - start, out.shape[1]
    n_lmh = n_lm_half(tables.lmax)
    size = tables.n_fn * tables.n_type * 2 * n_lmh * n_col * n_centre
    deriv = _scratch("deriv", size, np.float64)
    deriv.fill(0.0)
    design_kernels.density_derivatives(start, stop, neighbours, type_ids, tables.basis,
                                       deriv.reshape(tables.n_fn, -1))
    design_kernels.add_block_products(jac, offset, deriv, tables.blocks, tables.lmax,
                                      tables.n_type, n_centre, out)


@functools.lru_cache(maxsize=None)
def _energy_only_rows(n_linear) -> Rows:
    """Rows of the energy-only pass: every linear feature in one scratch row, no products."""
    return frozen_bundle(Rows, lin=np.zeros(n_linear, np.int64),
                         poly_idx=np.zeros((0, 1), np.int64), poly=np.zeros((0, 1), np.int64),
                         column=[0])


_NO_BLOCKS = frozen_bundle(Blocks, ptr=[0], column=[], row_ptr=[0, 0], row_block=[],
                           row_pos=[], unit=[0])

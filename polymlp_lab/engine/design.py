"""Design matrix of a polynomial MLP: features of a structure and their derivatives.

For one structure, with X_k = sum_i x_k(i) the summed features (linear ones, then the
polynomial products sum_i x_a(i) x_b(i) ...), in pypolymlp's column order:
- energy row: X (the model energy is coeffs . X, eV);
- force rows: -dX/dr_a,alpha, atom-major (model forces in eV/Å);
- stress rows: -sum_bonds d_a dX/dd_b (eV per cell), order xx yy zz xy yz zx, which is
  pypolymlp's stress convention (-dE/dε; ASE's stress is minus this over the volume).
"""

import threading
from dataclasses import dataclass

import numpy as np

from ..errors import PotentialFileError
from . import design_kernels
from .harmonics import n_lm_half
from .model import _linear_feature_terms, frozen_array, model_layout
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


@dataclass(frozen=True)
class FeatureTables:
    """Per-feature tables of one model (pypolymlp ``PolymlpParamsSingle``)."""

    elements: tuple
    cutoff: float
    radial_params: np.ndarray
    lmax: int
    type_pairs: np.ndarray
    n_type_pairs: int
    norm: np.ndarray
    other_type: np.ndarray  # (n_type, n_tp): neighbour type s with tp(t, s) = tp, or -1
    act_ptr: np.ndarray  # features active for centre type t: act_idx[act_ptr[t]:act_ptr[t+1]]
    act_idx: np.ndarray
    term_ptr: np.ndarray  # terms of linear feature k
    term_coef: np.ndarray
    fac_ptr: np.ndarray  # factors of term e
    fac_slot: np.ndarray  # full density slot
    fac_tp: np.ndarray  # type pair of the factor
    fac_lmh: np.ndarray  # half lm index (l, |m|)
    fac_sign: np.ndarray  # 0 for m >= 0, else (-1)^m (conjugated fold)
    lin_row: np.ndarray  # Jacobian row of linear feature k
    poly_idx: np.ndarray  # (n_poly, max_p) linear features of each product, -1 padded
    poly_row: np.ndarray  # (n_poly, max_p) Jacobian row of each factor's contribution
    block_ptr: np.ndarray  # (n_fn + 1,) Jacobian rows of radial function n
    row_column: np.ndarray  # (n_rows,) design-matrix column of each Jacobian row
    n_linear: int
    n_features: int

    @property
    def n_type(self) -> int:
        return len(self.elements)

    @property
    def n_fn(self) -> int:
        return self.radial_params.shape[0]

    @property
    def n_blocks(self) -> int:
        return self.n_type_pairs * self.n_fn


def build_feature_tables(params) -> FeatureTables:
    """FeatureTables from pypolymlp's enumeration (``get_features_attr``) of ``params``."""
    model = params.model
    n_type = params.n_type
    geometry, tp_members, features, polynomials = model_layout(params)
    lmax, type_pairs = geometry["lmax"], geometry["type_pairs"]
    n_fn = len(geometry["radial_params"])
    n_linear = len(features)
    n_lmf = (lmax + 1) ** 2

    other_type = np.full((n_type, len(tp_members)), -1, dtype=np.int64)
    for t in range(n_type):
        for s in range(n_type):
            other_type[t, type_pairs[t, s]] = s

    feat_n = np.empty(n_linear, dtype=np.int64)
    term_ptr, term_coef, fac_ptr = [0], [], [0]
    fac_slot, fac_tp, fac_lmh, fac_sign = [], [], [], []
    active = [[] for _ in range(n_type)]
    for k, feature in enumerate(features):
        terms, tcomb = _linear_feature_terms(feature, model.feature_type, model.gtinv, n_fn, lmax)
        feat_n[k] = feature[0]
        for t in range(n_type):
            if all(t in tp_members[tp] for tp in tcomb):
                active[t].append(k)
        for key, coef in terms.items():
            term_coef.append(coef)
            for slot in key:
                block, lm = divmod(slot, n_lmf)
                l = int(np.sqrt(lm))
                m = lm - l * l - l
                fac_slot.append(slot)
                fac_tp.append(block // n_fn)
                fac_lmh.append(l * (l + 1) // 2 + abs(m))
                fac_sign.append(0 if m >= 0 else (1 - 2 * (abs(m) % 2)))
            fac_ptr.append(len(fac_slot))
        term_ptr.append(len(term_coef))

    # Jacobian rows grouped by radial function: linear features of n, then the products'
    # contributions through a factor of radial function n (one row per product and n).
    max_p = max((len(c) for c in polynomials), default=1)
    if max_p > 3:
        raise PotentialFileError(f"polynomials of order {max_p} are not supported (max_p <= 3)")
    poly_idx = np.full((len(polynomials), max_p), -1, dtype=np.int64)
    poly_row = np.full((len(polynomials), max_p), -1, dtype=np.int64)
    lin_row = np.empty(n_linear, dtype=np.int64)
    row_column, block_ptr = [], [0]
    for n in range(n_fn):
        for k in np.flatnonzero(feat_n == n):
            lin_row[k] = len(row_column)
            row_column.append(int(k))
        for p, comb in enumerate(polynomials):
            qs = [q for q, k in enumerate(comb) if feat_n[k] == n]
            if qs:
                for q in qs:
                    poly_row[p, q] = len(row_column)
                row_column.append(n_linear + p)
        block_ptr.append(len(row_column))
    for p, comb in enumerate(polynomials):
        poly_idx[p, : len(comb)] = comb

    arr = frozen_array
    act_ptr = np.cumsum([0] + [len(a) for a in active])
    return FeatureTables(
        **geometry,
        other_type=arr(other_type, np.int64),
        act_ptr=arr(act_ptr, np.int64),
        act_idx=arr([k for a in active for k in a], np.int64),
        term_ptr=arr(term_ptr, np.int64),
        term_coef=arr(term_coef, np.float64),
        fac_ptr=arr(fac_ptr, np.int64),
        fac_slot=arr(fac_slot, np.int64),
        fac_tp=arr(fac_tp, np.int64),
        fac_lmh=arr(fac_lmh, np.int64),
        fac_sign=arr(fac_sign, np.float64),
        lin_row=arr(lin_row, np.int64),
        poly_idx=arr(poly_idx, np.int64),
        poly_row=arr(poly_row, np.int64),
        block_ptr=arr(block_ptr, np.int64),
        row_column=arr(row_column, np.int64),
        n_linear=n_linear,
        n_features=n_linear + len(polynomials),
    )


def _full_neighbor_csr(n_atom, bond_i, bond_j, bond_d, type_ids):
    """Directed neighbours of each atom from the half list, sorted by centre then by the
    neighbour's type: (ptr, atom, vector d_ij)."""
    centres = np.concatenate([bond_i, bond_j])
    atoms = np.concatenate([bond_j, bond_i])
    order = np.lexsort((type_ids[atoms], centres))
    atoms = atoms[order]
    vectors = np.concatenate([bond_d, -bond_d])[order]
    ptr = np.zeros(n_atom + 1, dtype=np.int64)
    np.cumsum(np.bincount(centres, minlength=n_atom), out=ptr[1:])
    return ptr, np.ascontiguousarray(atoms), np.ascontiguousarray(vectors)


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
    bond_i, bond_j, bond_d = half_neighbor_list(cell, positions, pbc, tables.cutoff)
    a_half = np.zeros((n_atom, tables.n_blocks * n_lmh), dtype=np.complex128)
    design_kernels.densities(
        bond_i, bond_j, bond_d, type_ids, tables.type_pairs, tables.cutoff,
        tables.radial_params, tables.lmax, tables.norm, a_half,
    )
    n_rows = len(tables.row_column)
    n_col = 3 * n_atom + 6
    per_centre = max(n_rows * n_type * n_lmh * 16, n_fn * n_type * n_lmh * 16 * n_col)
    chunk = int(max(1, min(n_atom, CHUNK_BYTES // per_centre)))
    x = np.zeros((n_atom, tables.n_linear))
    out = np.zeros((tables.n_features, n_col)) if derivatives else None
    if derivatives:
        nb_ptr, nb_atom, nb_vec = _full_neighbor_csr(n_atom, bond_i, bond_j, bond_d, type_ids)
    for start in range(0, n_atom, chunk):
        stop = min(n_atom, start + chunk)
        shape = (n_rows if derivatives else 1, stop - start, n_type, n_lmh)
        jac = _scratch("jac", int(np.prod(shape)), np.complex128).reshape(shape)  # all written
        design_kernels.features_and_jacobians(
            a_half, type_ids, start, stop, tables.n_blocks, tables.lmax, tables.other_type,
            tables.act_ptr, tables.act_idx, tables.term_ptr, tables.term_coef,
            tables.fac_ptr, tables.fac_slot, tables.fac_tp, tables.fac_lmh, tables.fac_sign,
            tables.lin_row if derivatives else np.zeros(tables.n_linear, np.int64),
            tables.poly_idx if derivatives else np.zeros((0, 1), np.int64),
            tables.poly_row, x, jac,
        )
        if not derivatives:
            continue
        shape = (n_fn, n_col, stop - start, n_type, n_lmh, 2)
        deriv_t = _scratch("deriv", int(np.prod(shape)), np.float64).reshape(shape)
        deriv_t.fill(0.0)
        design_kernels.density_derivatives(
            start, stop, nb_ptr, nb_atom, nb_vec, type_ids, tables.cutoff,
            tables.radial_params, tables.lmax, tables.norm, deriv_t,
        )
        width = (stop - start) * n_type * n_lmh * 2
        for n in range(n_fn):
            r0, r1 = tables.block_ptr[n], tables.block_ptr[n + 1]
            if r1 == r0:
                continue
            block = jac[r0:r1].view(np.float64).reshape(r1 - r0, width)
            out[tables.row_column[r0:r1]] += block @ deriv_t[n].reshape(n_col, width).T
    energy_row = np.empty(tables.n_features)
    energy_row[: tables.n_linear] = x.sum(axis=0)
    products = np.ones((n_atom, len(tables.poly_idx)))
    for q in range(tables.poly_idx.shape[1]):
        idx = tables.poly_idx[:, q]
        products *= np.where(idx >= 0, x[:, np.maximum(idx, 0)], 1.0)
    energy_row[tables.n_linear:] = products.sum(axis=0)
    if not derivatives:
        return energy_row, None, None, x
    force_rows = -out[:, : 3 * n_atom].T
    stress_rows = -out[:, 3 * n_atom:].T
    return energy_row, np.ascontiguousarray(force_rows), np.ascontiguousarray(stress_rows), x

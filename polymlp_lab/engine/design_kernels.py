"""Numba kernels of the design matrix: features per atom, their Jacobians, density derivatives.

Per centre atom i (type t) and linear feature k: x_k(i) = Re sum_e c_e prod a(i)[slots of e].
Its Jacobian J with respect to the half densities (m >= 0, as the engine stores them) is
defined by delta x_k(i) = Re sum J[k, i, s, lm] delta a_half(i)[tp(t, s), n_k, lm], where s is
the neighbour type. Densities change with bond vectors as
delta a_half(i)[tp, n, lm] = sum_j G_n,lm(d_ij) . delta d_ij with G = grad (f_n Y_lm).
The derivative of a summed feature is then Re(J @ D) with D the density derivatives per
(centre, neighbour type, lm) and column (atom, direction) or stress component.

The kernels are serial and release the GIL: the fitter runs one structure per thread.
Tables come in the typed bundles of ``design`` and ``model``; Numba options as in ``kernels``.
"""

import math

import numpy as np
from numba import njit
from numba.core import cgutils
from numba.core import types as nbtypes
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic

from .harmonics import spherical_harmonics_gradient
from .kernels import _expand_to_full
from .radial import gaussian_radial_derivative


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def _add_folded(row, s, lmh, sign, v):
    """row[s, lmh] += v folded onto m >= 0: unchanged for m >= 0, (-1)^m conj(v) for m < 0."""
    if sign == 0.0:
        row[s, lmh] += v
    else:
        row[s, lmh] += sign * v.conjugate()


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def _centre_features(a_full, t, terms, factors, lin_row, x_i, j_i):
    """x_i[k] = x_k(i) and J rows j_i[lin_row[k], s, lm] for the features active for type t.

    Factor q belongs to neighbour type factors.neighbour[t, q]; its sign is +-1 for m < 0
    (conjugated fold: (-1)^m conj), 0 for m >= 0.
    """
    act_idx, term_ptr, term_coef = terms.act_idx, terms.ptr, terms.coef
    fac_ptr, fac_slot, fac_s = factors.ptr, factors.slot, factors.neighbour[t]
    fac_lmh, fac_sign = factors.lmh, factors.sign
    for e_k in range(terms.act_ptr[t], terms.act_ptr[t + 1]):
        k = act_idx[e_k]
        row = j_i[lin_row[k]]
        value = 0.0
        for e in range(term_ptr[k], term_ptr[k + 1]):
            c = term_coef[e]
            q = fac_ptr[e]
            order = fac_ptr[e + 1] - q
            if order == 1:
                value += c * a_full[fac_slot[q]].real
                _add_folded(row, fac_s[q], fac_lmh[q], fac_sign[q], complex(c, 0.0))
            elif order == 2:
                a0 = a_full[fac_slot[q]]
                a1 = a_full[fac_slot[q + 1]]
                value += c * (a0 * a1).real
                _add_folded(row, fac_s[q], fac_lmh[q], fac_sign[q], c * a1)
                _add_folded(row, fac_s[q + 1], fac_lmh[q + 1], fac_sign[q + 1], c * a0)
            elif order == 3:
                a0 = a_full[fac_slot[q]]
                a1 = a_full[fac_slot[q + 1]]
                a2 = a_full[fac_slot[q + 2]]
                ca0 = c * a0
                value += (ca0 * a1 * a2).real
                _add_folded(row, fac_s[q], fac_lmh[q], fac_sign[q], c * (a1 * a2))
                _add_folded(row, fac_s[q + 1], fac_lmh[q + 1], fac_sign[q + 1], ca0 * a2)
                _add_folded(row, fac_s[q + 2], fac_lmh[q + 2], fac_sign[q + 2], ca0 * a1)
            else:
                prod = complex(c, 0.0)
                for q1 in range(q, q + order):
                    prod *= a_full[fac_slot[q1]]
                value += prod.real
                for q1 in range(q, q + order):
                    v = complex(c, 0.0)
                    for q2 in range(q, q + order):
                        if q2 != q1:
                            v *= a_full[fac_slot[q2]]
                    _add_folded(row, fac_s[q1], fac_lmh[q1], fac_sign[q1], v)
        x_i[k] = value


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def features_and_jacobians(a_half, types, start, stop, lmax, terms, factors, rows, blocks,
                           offset, x, jac):
    """x[i] for centres start..stop (linear features) and their Jacobian rows, by blocks.

    Row r's entries of block b = (n, l) go to the (rows, centres, n_type, 2 (l + 1)) array at
    jac[offset[b]:] (float pairs re, im, m = 0..l), at the row's place in that block; every
    entry of every block is written. Polynomial rows: for product p of linear features f_q,
    row poly[p, q] += (prod_{q' != q} x_f_q') J[f_q]. Each centre is built in a dense buffer.
    """
    lin_row, poly_idx, poly_row = rows.lin, rows.poly_idx, rows.poly
    n_lmf = (lmax + 1) * (lmax + 1)
    n_l = lmax + 1
    n_blocks = a_half.shape[1] // ((lmax + 1) * (lmax + 2) // 2)
    n_type = factors.neighbour.shape[0]
    n_rows = blocks.row_ptr.shape[0] - 1
    n_centre = stop - start
    a_full = np.empty(n_blocks * n_lmf, dtype=np.complex128)  # all written per centre
    j_i = np.empty((n_rows, n_type, (lmax + 1) * (lmax + 2) // 2), dtype=np.complex128)
    for i in range(start, stop):
        _expand_to_full(a_half[i], n_blocks, lmax, a_full)
        j_i[:] = 0.0
        _centre_features(a_full, types[i], terms, factors, lin_row, x[i], j_i)
        x_i = x[i]
        for p in range(poly_idx.shape[0]):
            for q in range(poly_idx.shape[1]):
                k = poly_idx[p, q]
                if k < 0:
                    break
                w = 1.0
                for q2 in range(poly_idx.shape[1]):
                    k2 = poly_idx[p, q2]
                    if k2 < 0:
                        break
                    if q2 != q:
                        w *= x_i[k2]
                if w != 0.0:
                    dst = j_i[poly_row[p, q]]
                    src = j_i[lin_row[k]]
                    for s in range(src.shape[0]):
                        for lm in range(src.shape[1]):
                            dst[s, lm] += w * src[s, lm]
        c = i - start
        for r in range(n_rows):
            for e in range(blocks.row_ptr[r], blocks.row_ptr[r + 1]):
                b = blocks.row_block[e]
                l = b % n_l
                lm0 = l * (l + 1) // 2
                for s in range(n_type):
                    o = offset[b] + ((blocks.row_pos[e] * n_centre + c) * n_type + s) * 2 * (l + 1)
                    for m in range(l + 1):
                        v = j_i[r, s, lm0 + m]
                        jac[o + 2 * m] = v.real
                        jac[o + 2 * m + 1] = v.imag


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def density_derivatives(start, stop, neighbours, types, basis, deriv):
    """Derivatives of the densities of centres start..stop by blocks (n, l): ``deriv`` has
    shape (n_fn, n_type n2 n_col n_centre), n2 = (lmax + 1)(lmax + 2), and block (n, l) is
    the (columns, centres, n_type, 2 (l + 1)) array in deriv[n] from l (l + 1) n_type n_col
    n_centre on; columns 3a + alpha (atom a, direction alpha), then 6 stress columns xx yy zz
    xy yz zx.

    Stored as (Re G, -Im G) so that a Jacobian block (float pairs) times the block's
    transpose gives Re(J G). Column of a neighbour j: + G(d_ij); column of the centre:
    - sum_j G(d_ij); stress: sum_j d_a G_b (the virial; for xy, yz, zx only d_x G_y,
    d_y G_z, d_z G_x: contracted with a Jacobian, whose features are rotation invariants,
    the virial is symmetric). ``deriv`` is zero on entry. Per centre, harmonics are
    computed once per bond, then each radial function n fills its own blocks.
    """
    nb_ptr, nb_atom, nb_vec = neighbours.ptr, neighbours.j, neighbours.d
    cutoff, radial_params, lmax = basis.cutoff, basis.radial_params, basis.lmax
    norm, rec = basis.norm, basis.rec
    n_fn = radial_params.shape[0]
    n_lmh = (lmax + 1) * (lmax + 2) // 2
    n2 = 2 * n_lmh
    n_centre = stop - start
    n_type = basis.type_pairs.shape[0]
    n_col = deriv.shape[1] // (n_type * n2 * n_centre)
    max_nb = 1
    for i in range(start, stop):
        max_nb = max(max_nb, nb_ptr[i + 1] - nb_ptr[i])
    fn = np.empty(n_fn)
    dfn = np.empty(n_fn)
    ylm = np.empty(n_lmh, dtype=np.complex128)
    grad = np.empty((3, n_lmh), dtype=np.complex128)
    q = np.empty((lmax + 1, lmax + 2))
    f_b = np.empty((max_nb, n_fn))
    df_b = np.empty((max_nb, n_fn))
    harm = np.empty((max_nb, 4, n2))  # conj Y, conj dY/dx, dY/dy, dY/dz as (re, im) floats
    own = np.empty((n_type, 9, n2))  # minus the self column (3), stress (6)
    for i in range(start, stop):
        c = i - start
        e0 = nb_ptr[i]
        n_nb = nb_ptr[i + 1] - e0
        for b in range(n_nb):
            dx, dy, dz = nb_vec[e0 + b, 0], nb_vec[e0 + b, 1], nb_vec[e0 + b, 2]
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            gaussian_radial_derivative(r, cutoff, radial_params, fn, dfn)
            for n in range(n_fn):
                f_b[b, n] = fn[n]
                df_b[b, n] = dfn[n]
            spherical_harmonics_gradient(dx, dy, dz, lmax, norm, rec, q, ylm, grad)
            h = harm[b]
            for lm in range(n_lmh):
                h[0, 2 * lm] = ylm[lm].real
                h[0, 2 * lm + 1] = -ylm[lm].imag
                for a in range(3):
                    h[a + 1, 2 * lm] = grad[a, lm].real
                    h[a + 1, 2 * lm + 1] = -grad[a, lm].imag
        for n in range(n_fn):
            block = deriv[n]
            own[:] = 0.0
            for b in range(n_nb):
                f = f_b[b, n]
                df = df_b[b, n]
                if f == 0.0 and df == 0.0:
                    continue
                e = e0 + b
                j = nb_atom[e]
                s = types[j]
                dx, dy, dz = nb_vec[e, 0], nb_vec[e, 1], nb_vec[e, 2]
                dr = df / math.sqrt(dx * dx + dy * dy + dz * dz)
                fx = dr * dx
                fy = dr * dy
                fz = dr * dz
                h = harm[b]
                acc = own[s]
                for l in range(lmax + 1):
                    width = 2 * (l + 1)
                    k0 = l * (l + 1)
                    o = k0 * n_type * n_col * n_centre + ((3 * j * n_centre + c) * n_type + s) * width
                    step = n_centre * n_type * width  # the next column
                    for k in range(width):
                        kk = k0 + k
                        h0 = h[0, kk]
                        g0 = fx * h0 + f * h[1, kk]
                        g1 = fy * h0 + f * h[2, kk]
                        g2 = fz * h0 + f * h[3, kk]
                        block[o + k] += g0
                        block[o + step + k] += g1
                        block[o + 2 * step + k] += g2
                        acc[0, kk] += g0
                        acc[1, kk] += g1
                        acc[2, kk] += g2
                        acc[3, kk] += dx * g0
                        acc[4, kk] += dy * g1
                        acc[5, kk] += dz * g2
                        acc[6, kk] += dx * g1
                        acc[7, kk] += dy * g2
                        acc[8, kk] += dz * g0
            for s in range(n_type):
                for v in range(9):
                    dst = 3 * i + v if v < 3 else n_col - 9 + v
                    sign = -1.0 if v < 3 else 1.0
                    for l in range(lmax + 1):
                        width = 2 * (l + 1)
                        k0 = l * (l + 1)
                        o = k0 * n_type * n_col * n_centre + ((dst * n_centre + c) * n_type + s) * width
                        for k in range(width):
                            block[o + k] += sign * own[s, v, k0 + k]


@intrinsic
def _matrix_at(typingctx, flat, start, n_rows, n_cols):
    """flat[start:start + n_rows * n_cols] as a C-contiguous (n_rows, n_cols) view, unchecked
    (the caller keeps it in bounds): ``reshape`` would compile its error formatting, 4 s of a
    first compile."""
    matrix = nbtypes.Array(flat.dtype, 2, "C")

    def codegen(context, builder, signature, values):
        flat_value, start_value, rows, cols = values
        source = context.make_array(signature.args[0])(context, builder, flat_value)
        view = context.make_array(matrix)(context, builder)
        itemsize = context.get_constant(nbtypes.intp,
                                        context.get_abi_sizeof(context.get_data_type(flat.dtype)))
        context.populate_array(
            view, data=cgutils.gep_inbounds(builder, source.data, start_value),
            shape=cgutils.pack_array(builder, [rows, cols]),
            strides=cgutils.pack_array(builder, [builder.mul(cols, itemsize), itemsize]),
            itemsize=itemsize, meminfo=source.meminfo, parent=source.parent)
        return impl_ret_borrowed(context, builder, matrix, view._getvalue())

    return matrix(flat, nbtypes.intp, nbtypes.intp, nbtypes.intp), codegen


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def add_block_products(jac, offset, deriv, blocks, lmax, n_type, n_centre, out):
    """out[column of row r] += (J_b D_b^T)[r] for every block b = (n, l): the block's
    Jacobian rows (jac[offset[b]:offset[b + 1]], rows × width floats) times its density
    derivatives (deriv[n] from l (l + 1) n_type n_col n_centre on, n_col × width), width =
    n_centre n_type 2 (l + 1); see features_and_jacobians and density_derivatives for the
    layouts. ``deriv`` is given flat (n_fn equal parts)."""
    n_l = lmax + 1
    n_col = out.shape[1]
    block_ptr, column = blocks.ptr, blocks.column
    per_fn = deriv.shape[0] // ((block_ptr.shape[0] - 1) // n_l)
    for b in range(block_ptr.shape[0] - 1):
        r0, r1 = block_ptr[b], block_ptr[b + 1]
        if r1 == r0:
            continue
        n, l = b // n_l, b % n_l
        width = n_centre * n_type * 2 * (l + 1)
        block_deriv = _matrix_at(deriv, n * per_fn + l * (l + 1) * n_type * n_col * n_centre,
                                 n_col, width)
        block_jac = _matrix_at(jac, offset[b], r1 - r0, width)
        product = np.dot(block_jac, block_deriv.T)
        for r in range(r1 - r0):
            dst = out[column[r0 + r]]
            src = product[r]
            for x in range(n_col):
                dst[x] += src[x]

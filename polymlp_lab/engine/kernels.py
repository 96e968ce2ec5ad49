"""Numba kernels of the polynomial MLP, one step of the math each.

Notation (per centre atom i): a_{tp,n,l,m}(i) = sum_j f_n(r_ij) Y_lm(r̂_ij) over neighbours j
whose type pair with i is tp. Linear features are real parts of sums of products of a's
(rotational invariants); the energy of atom i is a polynomial in its features. Forces and
stress follow by the adjoint method: g = dE_i/da (folded onto m >= 0), then per bond
dE/dd = Re sum g * d(f_n Y_lm)/dd.

Slots: half slot (tp, n, l, m>=0) = (tp*n_fn + n)*n_lmh + l(l+1)/2 + m;
full slot (tp, n, l, m) = (tp*n_fn + n)*n_lmf + l*l + l + m.
"""

import math

import numpy as np
from numba import get_num_threads, njit, prange

from .harmonics import spherical_harmonics, spherical_harmonics_gradient
from .radial import gaussian_radial, gaussian_radial_derivative


@njit(cache=True)
def _chunk_bounds(n_items, n_chunks, c):
    size = (n_items + n_chunks - 1) // n_chunks
    start = min(c * size, n_items)
    return start, min(start + size, n_items)


@njit(cache=True, parallel=True)
def accumulate_density(
    bond_i, bond_j, bond_d, types, type_pairs, cutoff, radial_params, lmax, norm,
    n_chunks, a_half,
):
    """a_half[i, slot] += f_n Y_lm(d) and a_half[j, slot] += (-1)^l f_n Y_lm(d) per bond.

    Bonds are split into ``n_chunks`` blocks with private accumulators (summed at the end).
    """
    n_atom, n_slot = a_half.shape
    n_fn = radial_params.shape[0]
    n_lmh = (lmax + 1) * (lmax + 2) // 2
    n_bond = bond_i.shape[0]
    buffers = np.zeros((n_chunks, n_atom, n_slot), dtype=np.complex128)
    for c in prange(n_chunks):
        start, stop = _chunk_bounds(n_bond, n_chunks, c)
        fn = np.empty(n_fn)
        ylm = np.empty(n_lmh, dtype=np.complex128)
        q = np.empty((lmax + 1, lmax + 2))
        buf = buffers[c]
        for b in range(start, stop):
            i = bond_i[b]
            j = bond_j[b]
            dx, dy, dz = bond_d[b, 0], bond_d[b, 1], bond_d[b, 2]
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            gaussian_radial(r, cutoff, radial_params, fn)
            spherical_harmonics(dx, dy, dz, lmax, norm, q, ylm)
            tp = type_pairs[types[i], types[j]]
            for n in range(n_fn):
                base = (tp * n_fn + n) * n_lmh
                f = fn[n]
                for l in range(lmax + 1):
                    sign = 1.0 - 2.0 * (l % 2)
                    l0 = l * (l + 1) // 2
                    for m in range(l + 1):
                        v = f * ylm[l0 + m]
                        buf[i, base + l0 + m] += v
                        buf[j, base + l0 + m] += sign * v
    for c in range(n_chunks):
        a_half += buffers[c]


@njit(cache=True)
def _expand_to_full(a_half_i, n_blocks, lmax, a_full):
    """a_full over all m from the m >= 0 half: a_{l,-m} = (-1)^m conj(a_{l,m})."""
    n_lmh = (lmax + 1) * (lmax + 2) // 2
    n_lmf = (lmax + 1) * (lmax + 1)
    for blk in range(n_blocks):
        hb = blk * n_lmh
        fb = blk * n_lmf
        for l in range(lmax + 1):
            for m in range(l + 1):
                v = a_half_i[hb + l * (l + 1) // 2 + m]
                a_full[fb + l * l + l + m] = v
                if m > 0:
                    s = 1.0 - 2.0 * (m % 2)
                    a_full[fb + l * l + l - m] = s * v.conjugate()


@njit(cache=True)
def _fold_to_half(g_full, n_blocks, lmax, g_half_i):
    """g_half[l,m] = g[l,m] + (-1)^m conj(g[l,-m]) (m > 0): the adjoint of _expand_to_full."""
    n_lmh = (lmax + 1) * (lmax + 2) // 2
    n_lmf = (lmax + 1) * (lmax + 1)
    for blk in range(n_blocks):
        hb = blk * n_lmh
        fb = blk * n_lmf
        for l in range(lmax + 1):
            for m in range(l + 1):
                v = g_full[fb + l * l + l + m]
                if m > 0:
                    s = 1.0 - 2.0 * (m % 2)
                    v += s * g_full[fb + l * l + l - m].conjugate()
                g_half_i[hb + l * (l + 1) // 2 + m] = v


@njit(cache=True)
def _atom_energy_and_adjoint(
    t, a_full, prod_ptr, prod_factors, prod_order, feat_ptr, feat_coef, term_ptr,
    term_prod, term_coef, poly2_ptr, poly2_idx, poly2_coef, poly3_ptr, poly3_idx,
    poly3_coef, p_val, d, w, big_w, g_full, want_adjoint,
):
    """Energy of one atom of type t from its densities; fills g_full = dE/da_full."""
    p0, p1 = prod_ptr[t], prod_ptr[t + 1]
    for u in range(p0, p1):
        v = a_full[prod_factors[u, 0]]
        for k in range(1, prod_order[u]):
            v *= a_full[prod_factors[u, k]]
        p_val[u - p0] = v
    f0, f1 = feat_ptr[t], feat_ptr[t + 1]
    energy = 0.0
    for k in range(f0, f1):
        v = 0.0
        for e in range(term_ptr[k], term_ptr[k + 1]):
            v += term_coef[e] * p_val[term_prod[e] - p0].real
        d[k - f0] = v
        w[k - f0] = feat_coef[k]
        energy += feat_coef[k] * v
    for e in range(poly2_ptr[t], poly2_ptr[t + 1]):
        x = poly2_idx[e, 0] - f0
        y = poly2_idx[e, 1] - f0
        c = poly2_coef[e]
        energy += c * d[x] * d[y]
        w[x] += c * d[y]
        w[y] += c * d[x]
    for e in range(poly3_ptr[t], poly3_ptr[t + 1]):
        x = poly3_idx[e, 0] - f0
        y = poly3_idx[e, 1] - f0
        z = poly3_idx[e, 2] - f0
        c = poly3_coef[e]
        energy += c * d[x] * d[y] * d[z]
        w[x] += c * d[y] * d[z]
        w[y] += c * d[x] * d[z]
        w[z] += c * d[x] * d[y]
    if not want_adjoint:
        return energy
    for u in range(p1 - p0):
        big_w[u] = 0.0
    for k in range(f0, f1):
        wk = w[k - f0]
        for e in range(term_ptr[k], term_ptr[k + 1]):
            big_w[term_prod[e] - p0] += wk * term_coef[e]
    g_full[:] = 0.0
    for u in range(p0, p1):
        wu = big_w[u - p0]
        if wu == 0.0:
            continue
        order = prod_order[u]
        for k in range(order):
            v = complex(wu, 0.0)
            for k2 in range(order):
                if k2 != k:
                    v *= a_full[prod_factors[u, k2]]
            g_full[prod_factors[u, k]] += v
    return energy


@njit(cache=True, parallel=True)
def atomic_energies(
    a_half, types, n_blocks, lmax, prod_ptr, prod_factors, prod_order, feat_ptr, feat_coef,
    term_ptr, term_prod, term_coef, poly2_ptr, poly2_idx, poly2_coef, poly3_ptr, poly3_idx,
    poly3_coef, want_adjoint, energies, g_half,
):
    """energies[i] (eV) and, when want_adjoint, g_half[i] = dE_i/da_half (folded)."""
    n_atom = a_half.shape[0]
    n_lmf = (lmax + 1) * (lmax + 1)
    max_prod = 1
    max_feat = 1
    for t in range(prod_ptr.shape[0] - 1):
        max_prod = max(max_prod, prod_ptr[t + 1] - prod_ptr[t])
        max_feat = max(max_feat, feat_ptr[t + 1] - feat_ptr[t])
    n_chunks = min(n_atom, get_num_threads())
    for c in prange(n_chunks):
        start, stop = _chunk_bounds(n_atom, n_chunks, c)
        a_full = np.zeros(n_blocks * n_lmf, dtype=np.complex128)
        g_full = np.zeros(n_blocks * n_lmf, dtype=np.complex128)
        p_val = np.empty(max_prod, dtype=np.complex128)
        big_w = np.empty(max_prod)
        d = np.empty(max_feat)
        w = np.empty(max_feat)
        for i in range(start, stop):
            _expand_to_full(a_half[i], n_blocks, lmax, a_full)
            energies[i] = _atom_energy_and_adjoint(
                types[i], a_full, prod_ptr, prod_factors, prod_order, feat_ptr, feat_coef,
                term_ptr, term_prod, term_coef, poly2_ptr, poly2_idx, poly2_coef,
                poly3_ptr, poly3_idx, poly3_coef, p_val, d, w, big_w, g_full, want_adjoint,
            )
            if want_adjoint:
                _fold_to_half(g_full, n_blocks, lmax, g_half[i])


@njit(cache=True, parallel=True)
def bond_forces(
    bond_i, bond_j, bond_d, types, type_pairs, cutoff, radial_params, lmax, norm, g_half,
    n_chunks, forces, virial,
):
    """forces (eV/Å) and virial sum_bonds d ⊗ dE/dd (eV) from the adjoints g_half."""
    n_atom = g_half.shape[0]
    n_fn = radial_params.shape[0]
    n_lmh = (lmax + 1) * (lmax + 2) // 2
    n_bond = bond_i.shape[0]
    f_buf = np.zeros((n_chunks, n_atom, 3))
    v_buf = np.zeros((n_chunks, 3, 3))
    for c in prange(n_chunks):
        start, stop = _chunk_bounds(n_bond, n_chunks, c)
        fn = np.empty(n_fn)
        dfn = np.empty(n_fn)
        ylm = np.empty(n_lmh, dtype=np.complex128)
        grad = np.empty((n_lmh, 3), dtype=np.complex128)
        q = np.empty((lmax + 1, lmax + 2))
        for b in range(start, stop):
            i = bond_i[b]
            j = bond_j[b]
            dx, dy, dz = bond_d[b, 0], bond_d[b, 1], bond_d[b, 2]
            r = math.sqrt(dx * dx + dy * dy + dz * dz)
            gaussian_radial_derivative(r, cutoff, radial_params, fn, dfn)
            spherical_harmonics_gradient(dx, dy, dz, lmax, norm, q, ylm, grad)
            tp = type_pairs[types[i], types[j]]
            gx = 0.0
            gy = 0.0
            gz = 0.0
            gr = 0.0
            for l in range(lmax + 1):
                sign = 1.0 - 2.0 * (l % 2)
                l0 = l * (l + 1) // 2
                for m in range(l + 1):
                    lm = l0 + m
                    sa = complex(0.0, 0.0)
                    sb = complex(0.0, 0.0)
                    for n in range(n_fn):
                        slot = (tp * n_fn + n) * n_lmh + lm
                        h = g_half[i, slot] + sign * g_half[j, slot]
                        sa += h * dfn[n]
                        sb += h * fn[n]
                    gr += (sa * ylm[lm]).real
                    gx += (sb * grad[lm, 0]).real
                    gy += (sb * grad[lm, 1]).real
                    gz += (sb * grad[lm, 2]).real
            inv_r = 1.0 / r
            gx += gr * dx * inv_r
            gy += gr * dy * inv_r
            gz += gr * dz * inv_r
            f_buf[c, i, 0] += gx
            f_buf[c, i, 1] += gy
            f_buf[c, i, 2] += gz
            f_buf[c, j, 0] -= gx
            f_buf[c, j, 1] -= gy
            f_buf[c, j, 2] -= gz
            v_buf[c, 0, 0] += dx * gx
            v_buf[c, 0, 1] += dx * gy
            v_buf[c, 0, 2] += dx * gz
            v_buf[c, 1, 0] += dy * gx
            v_buf[c, 1, 1] += dy * gy
            v_buf[c, 1, 2] += dy * gz
            v_buf[c, 2, 0] += dz * gx
            v_buf[c, 2, 1] += dz * gy
            v_buf[c, 2, 2] += dz * gz
    for c in range(n_chunks):
        forces += f_buf[c]
        virial += v_buf[c]

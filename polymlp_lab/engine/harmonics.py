"""Complex spherical harmonics Y_lm(r̂) for m >= 0 and their Cartesian gradients.

Convention: orthonormal, Condon-Shortley phase (as scipy and pypolymlp). Harmonics are
stored in "half" order ``lm = l(l+1)/2 + m`` for m = 0..l; negative m follow from
``Y_l,-m = (-1)^m conj(Y_lm)``.

They are written as ``Y_lm = N_lm Q_lm(u) s^m`` with ``u = z/r`` and ``s = (x + iy)/r``,
where ``Q_lm = (-1)^m d^m P_l / du^m`` is a polynomial; this form has no pole at the z axis,
so gradients are exact everywhere. Numba options as in ``kernels``.
"""

import math

import numpy as np
from numba import njit


def n_lm_half(lmax: int) -> int:
    """Number of (l, m >= 0) pairs with l <= lmax."""
    return (lmax + 1) * (lmax + 2) // 2


def normalisation_table(lmax: int) -> np.ndarray:
    """N_lm = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!) in half order, shape (n_lm_half,)."""
    table = np.zeros(n_lm_half(lmax))
    for l in range(lmax + 1):
        for m in range(l + 1):
            ratio = math.exp(math.lgamma(l - m + 1) - math.lgamma(l + m + 1))
            table[l * (l + 1) // 2 + m] = math.sqrt((2 * l + 1) / (4.0 * math.pi) * ratio)
    return table


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def legendre_recursion(lmax):
    """Coefficients of Q_lm = c[0,l,m] u Q_l-1,m - c[1,l,m] Q_l-2,m (no division per call)."""
    c = np.zeros((2, lmax + 1, lmax + 1))
    for m in range(lmax + 1):
        for l in range(m + 2, lmax + 1):
            c[0, l, m] = (2.0 * l - 1.0) / (l - m)
            c[1, l, m] = (l + m - 1.0) / (l - m)
    return c


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def legendre_q(u, lmax, rec, q):
    """Fill q[l, m] = (-1)^m d^m P_l/du^m (u) for 0 <= m <= l <= lmax; q[l, l+1] = 0.

    ``rec`` comes from ``legendre_recursion(lmax)``.
    """
    for l in range(lmax + 1):
        q[l, l + 1] = 0.0
    qmm = 1.0
    for m in range(lmax + 1):
        if m > 0:
            qmm *= -(2.0 * m - 1.0)
        q[m, m] = qmm
        if m + 1 <= lmax:
            q[m + 1, m] = (2.0 * m + 1.0) * u * qmm
        for l in range(m + 2, lmax + 1):
            q[l, m] = rec[0, l, m] * u * q[l - 1, m] - rec[1, l, m] * q[l - 2, m]


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def spherical_harmonics(dx, dy, dz, lmax, norm, rec, q, ylm):
    """Y_lm(d/|d|) for m >= 0 in half order into ylm (complex, n_lm_half)."""
    inv_r = 1.0 / math.sqrt(dx * dx + dy * dy + dz * dz)
    sx = dx * inv_r
    sy = dy * inv_r
    legendre_q(dz * inv_r, lmax, rec, q)
    pr, pi = 1.0, 0.0  # s^m, s = (x + iy)/r, as two floats: no complex multiply
    for m in range(lmax + 1):
        for l in range(m, lmax + 1):
            lm = l * (l + 1) // 2 + m
            v = norm[lm] * q[l, m]
            ylm[lm] = complex(v * pr, v * pi)
        pr, pi = pr * sx - pi * sy, pr * sy + pi * sx


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def spherical_harmonics_gradient(dx, dy, dz, lmax, norm, rec, q, ylm, grad):
    """Y_lm and dY_lm/dd_a (a = x, y, z) for m >= 0; grad has shape (3, n_lm_half).

    Derivatives are with respect to the Cartesian vector d itself (units 1/Å).
    """
    r = math.sqrt(dx * dx + dy * dy + dz * dz)
    inv_r = 1.0 / r
    ux = dx * inv_r
    uy = dy * inv_r
    u = dz * inv_r
    s = complex(ux, uy)
    legendre_q(u, lmax, rec, q)
    # du/dd_a = (delta_az - u d̂_a)/r ; ds/dd_a = (e_a - s d̂_a)/r with e = (1, i, 0)
    du_x = -u * ux * inv_r
    du_y = -u * uy * inv_r
    du_z = (1.0 - u * u) * inv_r
    ds_x = (1.0 - s * ux) * inv_r
    ds_y = (1j - s * uy) * inv_r
    ds_z = (-s * u) * inv_r
    sm_minus = complex(0.0, 0.0)  # s^(m-1)
    sm = complex(1.0, 0.0)  # s^m
    for m in range(lmax + 1):
        for l in range(m, lmax + 1):
            lm = l * (l + 1) // 2 + m
            c = norm[lm]
            ylm[lm] = c * q[l, m] * sm
            # dQ_lm/du = -Q_l,m+1
            a = -c * q[l, m + 1] * sm
            b = c * m * q[l, m] * sm_minus
            grad[0, lm] = a * du_x + b * ds_x
            grad[1, lm] = a * du_y + b * ds_y
            grad[2, lm] = a * du_z + b * ds_z
        sm_minus = sm
        sm = sm * s


def gradient_coefficients(lmax: int) -> np.ndarray:
    """(3, n_lm_half) real c with, for the solid harmonics R_lm = r^l Y_lm and m >= 0:
    dR_lm/dz = c[0] R_l-1,m, (d/dx + i d/dy) R_lm = c[1] R_l-1,m+1 and (d/dx - i d/dy) R_lm =
    c[2] R_l-1,m-1 (R_l-1,-1 = -conj R_l-1,1); zero where the partner does not exist.

    With k = sqrt((2l+1)/(2l-1)): c0 = k sqrt((l-m)(l+m)), c1 = k sqrt((l-m)(l-m-1)),
    c2 = -k sqrt((l+m)(l+m-1)) (tests check them against :func:`spherical_harmonics_gradient`).
    """
    coef = np.zeros((3, n_lm_half(lmax)))
    for l in range(1, lmax + 1):
        k = math.sqrt((2 * l + 1) / (2 * l - 1))
        for m in range(l + 1):
            lm = l * (l + 1) // 2 + m
            coef[0, lm] = k * math.sqrt((l - m) * (l + m))
            coef[1, lm] = k * math.sqrt(max((l - m) * (l - m - 1), 0))
            coef[2, lm] = -k * math.sqrt((l + m) * (l + m - 1))
    return coef


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def gradient_contraction(sb, y, lmax, coef):
    """Re sum over (l, m >= 0) of sb_lm dY_lm/dd from the harmonics themselves, as
    (px, py, pz, sl): dE/dd = (px, py, pz) / r - sl d / r^2. ``sb`` and ``y`` are complex
    half-order arrays viewed as interleaved floats; ``coef`` from gradient_coefficients.

    With G_z = sum sb c0 Y_l-1,m, G_± = sum sb c1|c2 Y_l-1,m±1: px = Re(G_+ + G_-)/2,
    py = Im(G_+ - G_-)/2, pz = Re G_z; sl = sum l Re(sb_lm Y_lm) (dY = dR/r^l - l Y d/r^2).
    """
    px = 0.0
    py = 0.0
    pz = 0.0
    sl = 0.0
    c_z, c_up, c_down = coef[0], coef[1], coef[2]
    for l in range(1, lmax + 1):
        h = l * (l + 1) // 2  # (l, 0)
        h1 = (l - 1) * l // 2  # (l - 1, 0)
        for m in range(l + 1):
            lm = h + m
            br = sb[2 * lm]
            bi = sb[2 * lm + 1]
            sl += l * (br * y[2 * lm] - bi * y[2 * lm + 1])
            if m <= l - 1:  # Y_l-1,m
                k = 2 * (h1 + m)
                pz += c_z[lm] * (br * y[k] - bi * y[k + 1])
            if m + 1 <= l - 1:  # Y_l-1,m+1
                k = 2 * (h1 + m + 1)
                c = 0.5 * c_up[lm]
                px += c * (br * y[k] - bi * y[k + 1])
                py += c * (br * y[k + 1] + bi * y[k])
            if m >= 1 or l >= 2:  # Y_l-1,m-1, or -conj(Y_l-1,1) for m = 0
                if m >= 1:
                    k = 2 * (h1 + m - 1)
                    yr = y[k]
                    yi = y[k + 1]
                else:
                    k = 2 * (h1 + 1)
                    yr = -y[k]
                    yi = y[k + 1]
                c = 0.5 * c_down[lm]
                px += c * (br * yr - bi * yi)
                py -= c * (br * yi + bi * yr)
    return px, py, pz, sl

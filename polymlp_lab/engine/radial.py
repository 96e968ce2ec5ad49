"""Gaussian radial functions with the cosine cutoff (pypolymlp's ``pair_type: gaussian``).

f_n(r) = exp(-beta_n (r - r0_n)^2) * fc(r),  fc(r) = (cos(pi r / rc) + 1) / 2 for r < rc.
Distances in Å; ``params`` has one row (beta_n [1/Å²], r0_n [Å]) per radial function.
"""

import math

from numba import njit


@njit(cache=True)
def cosine_cutoff(r, cutoff):
    """fc(r) and dfc/dr (1/Å); zero beyond the cutoff."""
    if r >= cutoff:
        return 0.0, 0.0
    k = math.pi / cutoff
    return 0.5 * (math.cos(k * r) + 1.0), -0.5 * k * math.sin(k * r)


@njit(cache=True)
def gaussian_radial(r, cutoff, params, fn):
    """Fill fn[n] = f_n(r)."""
    fc, _ = cosine_cutoff(r, cutoff)
    for n in range(params.shape[0]):
        dr = r - params[n, 1]
        fn[n] = math.exp(-params[n, 0] * dr * dr) * fc


@njit(cache=True)
def gaussian_radial_derivative(r, cutoff, params, fn, dfn):
    """Fill fn[n] = f_n(r) and dfn[n] = df_n/dr (1/Å)."""
    fc, dfc = cosine_cutoff(r, cutoff)
    for n in range(params.shape[0]):
        dr = r - params[n, 1]
        g = math.exp(-params[n, 0] * dr * dr)
        fn[n] = g * fc
        dfn[n] = g * (dfc - 2.0 * params[n, 0] * dr * fc)

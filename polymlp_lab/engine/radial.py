"""Gaussian radial functions with the cosine cutoff (pypolymlp's ``pair_type: gaussian``).

f_n(r) = exp(-beta_n (r - r0_n)^2) * fc(r),  fc(r) = (cos(pi r / rc) + 1) / 2 for r < rc.
Distances in Å; ``params`` has one row (beta_n [1/Å²], r0_n [Å]) per radial function.
Numba options as in ``kernels``.
"""

import math

from numba import njit


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def cosine_cutoff(r, cutoff):
    """fc(r) and dfc/dr (1/Å); zero beyond the cutoff."""
    if r >= cutoff:
        return 0.0, 0.0
    k = math.pi / cutoff
    return 0.5 * (math.cos(k * r) + 1.0), -0.5 * k * math.sin(k * r)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def gaussian_radial(r, cutoff, params, fn):
    """Fill fn[n] = f_n(r)."""
    fc, _ = cosine_cutoff(r, cutoff)
    for n in range(params.shape[0]):
        dr = r - params[n, 1]
        fn[n] = math.exp(-params[n, 0] * dr * dr) * fc


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def gaussian_radial_derivative(r, cutoff, params, fn, dfn):
    """Fill fn[n] = f_n(r) and dfn[n] = df_n/dr (1/Å)."""
    fc, dfc = cosine_cutoff(r, cutoff)
    for n in range(params.shape[0]):
        dr = r - params[n, 1]
        g = math.exp(-params[n, 0] * dr * dr)
        fn[n] = g * fc
        dfn[n] = g * (dfc - 2.0 * params[n, 0] * dr * fc)


# Largest exponent magnitude the grid recurrence may meet: exp(±600) stays a normal double.
_GRID_EXPONENT_LIMIT = 600.0


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def uniform_grid_prefix(params, cutoff):
    """Length m of the leading run of rows with one width and equally spaced centres.

    For r in [0, cutoff] those m functions follow the recurrence of
    :func:`gaussian_radial_grid`; m is 0 when the run is shorter than 3 rows or when the
    recurrence could leave the normal double range.
    """
    n = params.shape[0]
    if n < 3:
        return 0
    beta = params[0, 0]
    step = params[1, 1] - params[0, 1]
    m = 1
    while m < n and params[m, 0] == beta and abs(params[m, 1] - params[m - 1, 1] - step) <= (
        1e-12 * max(1.0, abs(step))
    ):
        m += 1
    if m < 3 or beta < 0.0:
        return 0
    c0 = params[0, 1]
    reach = max(abs(c0), abs(cutoff - c0))
    if beta * reach * reach > _GRID_EXPONENT_LIMIT:
        return 0
    if beta * abs(step) * (2.0 * reach + abs(step)) > _GRID_EXPONENT_LIMIT:
        return 0
    return m


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def _gaussian_grid_values(r, params, m, fn):
    """fn[n] = exp(-beta (r - r0_n)^2) for n < m, by the ratio recurrence (two exp calls).

    g_n / g_(n-1) = rho_n with rho_1 = exp(beta h (2 (r - r0_0) - h)) and rho_(n+1) =
    rho_n exp(-2 beta h^2), h the centre spacing.
    """
    beta = params[0, 0]
    step = params[1, 1] - params[0, 1]
    dr = r - params[0, 1]
    g = math.exp(-beta * dr * dr)
    ratio = math.exp(beta * step * (2.0 * dr - step))
    kappa = math.exp(-2.0 * beta * step * step)
    fn[0] = g
    for n in range(1, m):
        g *= ratio
        ratio *= kappa
        fn[n] = g


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def gaussian_radial_grid(r, cutoff, params, m, fn):
    """As :func:`gaussian_radial`; the first m rows (``uniform_grid_prefix``) by recurrence."""
    fc, _ = cosine_cutoff(r, cutoff)
    _gaussian_grid_values(r, params, m, fn)
    for n in range(m):
        fn[n] *= fc
    for n in range(m, params.shape[0]):
        dr = r - params[n, 1]
        fn[n] = math.exp(-params[n, 0] * dr * dr) * fc


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def gaussian_radial_grid_derivative(r, cutoff, params, m, fn, dfn):
    """As :func:`gaussian_radial_derivative`; the first m rows by recurrence."""
    fc, dfc = cosine_cutoff(r, cutoff)
    _gaussian_grid_values(r, params, m, fn)
    for n in range(params.shape[0]):
        dr = r - params[n, 1]
        g = fn[n] if n < m else math.exp(-params[n, 0] * dr * dr)
        fn[n] = g * fc
        dfn[n] = g * (dfc - 2.0 * params[n, 0] * dr * fc)

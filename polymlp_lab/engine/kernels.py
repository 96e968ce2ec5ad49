"""Numba kernels of the polynomial MLP, one step of the math each.

Notation (per centre atom i): a_{tp,n,l,m}(i) = sum_j f_n(r_ij) Y_lm(r̂_ij) over neighbours j
whose type pair with i is tp. Linear features are real parts of sums of products of a's
(rotational invariants); the energy of atom i is a polynomial in its features. Forces and
stress follow by the adjoint method: g = dE_i/da (folded onto m >= 0), then per bond
dE/dd = Re sum g * d(f_n Y_lm)/dd.

Slots: half slot (tp, n, l, m>=0) = (tp*n_fn + n)*n_lmh + l(l+1)/2 + m;
full slot (tp, n, l, m) = (tp*n_fn + n)*n_lmf + l*l + l + m.
Tables come in the typed bundles of ``model``; their fields are bound to locals before loops.

Threads: each step is a serial kernel that does chunk c of n_chunks of its work (into
private accumulators where chunks would collide, which ``_add_rows`` then adds up, in chunks
too) and a Python function that allocates those and runs the chunks with :func:`run_chunks`;
``neighbors`` does the same. The one parallel driver, ``_chunks_at`` (Numba's prange over the
chunks), calls a kernel through the address of its compiled code, so it is not compiled again
into the driver (see run_chunks), and is compiled once per kind of kernel arguments.

Floating point: the arithmetic kernels allow fused multiply-add (``fastmath={"contract"}``,
nothing else of fastmath: no reassociation), 10-15 % faster.

Reference counting: the helpers called per bond or per atom allocate nothing and are compiled
without Numba's runtime (``_nrt=False``): with it, each call incremented and decremented the
count of every array argument (atomic operations, ~20 cycles each), 40 of the 80 ns of a
bond's spherical harmonics.

Compile time (the first run compiles everything): every kernel has the same options, so
Numba compiles each overload it uses (np.empty of a shape and dtype, max, ...) once; none has
the C-callable wrapper (unused); callees get no constant arguments (each would compile a
specialization of its own); no kernel is a thin wrapper of another (Numba compiles each
caller with all its callees again).
"""

import math

import numpy as np
from numba import njit, prange, typeof
from numba._dispatcher import compute_fingerprint
from numba.core import cgutils
from numba.core import types as nbtypes
from numba.extending import intrinsic

from .harmonics import gradient_contraction, spherical_harmonics
from .radial import gaussian_radial_grid, gaussian_radial_grid_derivative
from .model import bond_basis
from .scratch import scratch


def _borrowed(context, builder, typ, value):
    """``value`` with the memory-manager pointer of every array in it cleared (recursively in
    tuples): the kernels' reference counting then skips them, as in a prange body, instead of
    the threads contending for the same counters (2 threads ran the bond passes serially)."""
    if isinstance(typ, nbtypes.Array):
        array = context.make_array(typ)(context, builder, value=value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        return array._getvalue()
    if isinstance(typ, nbtypes.BaseTuple):
        for k, item in enumerate(typ):
            part = _borrowed(context, builder, item, builder.extract_value(value, k))
            value = builder.insert_value(value, part, k)
    return value


@intrinsic
def _stack_copy(typingctx, args):
    """Address of a copy of the tuple ``args`` in this function's stack frame, its arrays
    borrowed (the caller keeps them alive)."""

    def codegen(context, builder, signature, values):
        copy = _borrowed(context, builder, args, values[0])
        slot = cgutils.alloca_once_value(builder, copy)
        return builder.ptrtoint(slot, context.get_value_type(nbtypes.intp))

    return nbtypes.intp(args), codegen


@intrinsic
def _type_of(typingctx, value):
    """The type of ``value`` as a value (no data): it tells _call_at what a copy holds."""

    def codegen(context, builder, signature, values):
        return context.get_dummy_value()

    return nbtypes.TypeRef(value)(value), codegen


@intrinsic
def _call_at(typingctx, address, c, n_chunks, copy, args_type):
    """kernel(c, n_chunks, *args) for the compiled kernel at ``address`` and the tuple args at
    ``copy`` (Numba's calling convention: errors propagate as from a direct call)."""
    args = args_type.instance_type
    argtypes = (c, n_chunks) + tuple(args)

    def codegen(context, builder, signature, values):
        pointer, c, n_chunks, copy, _ = values
        packed = builder.load(builder.inttoptr(copy, context.get_value_type(args).as_pointer()))
        values = [c, n_chunks] + [builder.extract_value(packed, k) for k in range(len(args))]
        function_type = context.call_conv.get_function_type(nbtypes.none, argtypes)
        function = builder.inttoptr(pointer, function_type.as_pointer())
        status, _ = context.call_conv.call_function(builder, function, nbtypes.none, argtypes,
                                                    values)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return context.get_dummy_value()

    return nbtypes.none(address, c, n_chunks, copy, args_type), codegen


@njit(cache=True, parallel=True, no_cfunc_wrapper=True)
def _chunks_at(address, n_chunks, args):
    # a prange body cannot take tuples of tuples (the bundles): it gets args by address and type
    copy, args_type = _stack_copy(args), _type_of(args)
    for c in prange(n_chunks):
        # int64, not prange's unsigned index: the kernel's signature
        _call_at(address, np.int64(c), n_chunks, copy, args_type)


_addresses = {}  # (kernel, fingerprint of the argument types) -> address of its machine code


def run_chunks(kernel, n_chunks, args):
    """kernel(c, n_chunks, *args) for c = 0 .. n_chunks - 1, at once on Numba's threads (one
    chunk: in this thread, without the GIL); ``kernel`` is an @njit(nogil=True) function that
    returns nothing. ``args``: arrays, numbers and the engine's bundles (the driver's on-disk
    cache lists every argument type it was compiled for, and each process loads them all: a
    NamedTuple class from elsewhere, a test's, would break that).

    The driver calls the kernel's compiled code through its address instead of linking it in,
    as a call from one @njit function to another would: Numba would then compile the kernel
    with all its callees 4 times more (into the prange body, two gufunc wrappers and the
    driver), a quarter of a first compile.
    """
    if n_chunks == 1:
        kernel(0, 1, *args)
        return
    key = (kernel, compute_fingerprint(args))  # the dispatcher's own fast type key
    address = _addresses.get(key)
    if address is None:
        argtypes = (nbtypes.int64, nbtypes.int64) + tuple(typeof(a) for a in args)
        kernel.compile(argtypes)
        compiled = kernel.overloads[argtypes]
        if compiled.signature.return_type != nbtypes.none:
            raise TypeError(f"{kernel.__name__} must return nothing")
        address = _addresses[key] = compiled.library.get_pointer_to_function(
            compiled.fndesc.llvm_func_name)
    _chunks_at(address, n_chunks, args)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def _chunk_bounds(n_items, n_chunks, c):
    size = (n_items + n_chunks - 1) // n_chunks
    start = min(c * size, n_items)
    return start, min(start + size, n_items)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
def _zero(rows, lo, hi):
    """rows[lo:hi] = 0 for a 2-d float array (a loop: no shape checks to compile)."""
    for i in range(lo, hi):
        for x in range(rows.shape[1]):
            rows[i, x] = 0.0


@njit(cache=True, nogil=True, no_cfunc_wrapper=True)
def _add_rows(c, n_chunks, buffers, out, lo, hi):
    """out[i] += sum over k of buffers[k, i] for the rows lo <= i < hi of chunk c (2-d float
    rows)."""
    start, stop = _chunk_bounds(hi - lo, n_chunks, c)
    for k in range(buffers.shape[0]):
        for i in range(lo + start, lo + stop):
            for x in range(out.shape[1]):
                out[i, x] += buffers[k, i, x]


def add_accumulators(buffers, out, lo, hi, n_chunks):
    """out[lo:hi] += buffers[:, lo:hi].sum(axis=0), in n_chunks chunks of the rows."""
    run_chunks(_add_rows, n_chunks, (buffers, out, lo, hi))


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, fastmath={"contract"})
def _density_of_bonds(c, n_chunks, bonds, types, basis, rows, zero_lo, zero_hi, out, buffers,
                      kept):
    """Chunk c of n_chunks of the bonds: a_i += f_n Y_lm(d), a_j += (-1)^l f_n Y_lm(d) into
    row rows[i] (rows[j]) of ``out`` (chunk 0) or of its private ``buffers[c - 1]``, whose
    rows zero_lo:zero_hi this chunk zeroes first (in parallel, by the thread that then writes
    them); the basis (Y, f, df/dr) of bonds b < len(kept.y) into ``kept`` for the force pass.

    Rows are float64 (re, im interleaved): rows of one float array, unlike per-bond views of
    complex rows, let LLVM vectorise the accumulation loops.
    """
    start, stop = _chunk_bounds(bonds.i.shape[0], n_chunks, c)
    buf = out if c == 0 else buffers[c - 1]
    _zero(buf, zero_lo, zero_hi)
    kept_y, kept_f, kept_df = kept.y, kept.f, kept.df
    n_kept = kept_y.shape[0]
    bond_i, bond_j, bond_d = bonds.i, bonds.j, bonds.d
    type_pairs, cutoff, radial_params, lmax = (
        basis.type_pairs, basis.cutoff, basis.radial_params, basis.lmax
    )
    norm, rec, parity, grid = basis.norm, basis.rec, basis.parity, basis.grid
    n_fn = radial_params.shape[0]
    n_lmh = (lmax + 1) * (lmax + 2) // 2
    n2 = 2 * n_lmh
    fn = np.empty(n_fn)
    dfn = np.empty(n_fn)
    ylm = np.empty(n_lmh, dtype=np.complex128)
    y = ylm.view(np.float64)
    y_j = np.empty(n2)
    q = np.empty((lmax + 1, lmax + 2))
    for b in range(start, stop):
        i = bond_i[b]
        j = bond_j[b]
        dx, dy, dz = bond_d[b, 0], bond_d[b, 1], bond_d[b, 2]
        r = math.sqrt(dx * dx + dy * dy + dz * dz)
        spherical_harmonics(dx, dy, dz, lmax, norm, rec, q, ylm)
        if b < n_kept:
            gaussian_radial_grid_derivative(r, cutoff, radial_params, grid, fn, dfn)
            for k in range(n2):
                kept_y[b, k] = y[k]
            for n in range(n_fn):
                kept_f[b, n] = fn[n]
                kept_df[b, n] = dfn[n]
        else:
            gaussian_radial_grid(r, cutoff, radial_params, grid, fn)
        for k in range(n2):
            y_j[k] = parity[k] * y[k]
        # max(., 0): type pairs are >= 0 already; saying so lets LLVM drop Numba's
        # negative-index wrap-around in the loops below and vectorise them (~3x faster)
        tp = max(type_pairs[types[i], types[j]], 0)
        a_i = buf[rows[i]]
        a_j = buf[rows[j]]
        for n in range(n_fn):
            base = 2 * (tp * n_fn + n) * n_lmh
            f = fn[n]
            for k in range(n2):
                a_i[base + k] += f * y[k]
            for k in range(n2):
                a_j[base + k] += f * y_j[k]


def compute_densities(bonds, types, basis, n_chunks, a_half, kept=None, *, rows=None,
                      accumulators=None, zero=None):
    """a_half[i, slot] = sum over bonds of f_n Y_lm(d) at i and (-1)^l f_n Y_lm(d) at j
    (a_half is overwritten: its contents on entry do not matter); the basis of the first
    bonds into ``kept`` (a :class:`BondBasis`, for :func:`bond_forces`; None: none kept).

    Bonds are split into ``n_chunks`` blocks run at once: the first adds into a_half itself,
    the others into private accumulators added at the end.

    For a sweep over parts of a structure (``sweep``): ``rows`` (int64, per atom) is the row
    of a_half each atom adds into (default: its index); ``accumulators`` (n_chunks - 1,
    len(a_half), 2 n_slot) float64 are the private ones, kept and added by the caller
    (:func:`add_accumulators`); ``zero`` = (lo, hi): only these rows of a_half and of the
    accumulators are zeroed first, the others added to.
    """
    out = a_half.view(np.float64)
    rows = np.arange(len(types)) if rows is None else rows
    lo, hi = (0, len(out)) if zero is None else zero
    buffers = (scratch("density accumulators", (n_chunks - 1,) + out.shape)
               if accumulators is None else accumulators)
    kept = bond_basis(0, 0, 0) if kept is None else kept
    run_chunks(_density_of_bonds, n_chunks,
               (bonds, types, basis, rows, lo, hi, out, buffers, kept))
    if n_chunks > 1 and accumulators is None:
        add_accumulators(buffers, out, 0, len(out), n_chunks)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
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


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, _nrt=False)
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


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, fastmath={"contract"}, _nrt=False)
def _products(a, products, r, p_val):
    """p_val[u - r[0]] = product of the densities a[f[off[u]:off[u+1]]], one loop per order.

    ``r`` holds the starts of orders 1, 2, 3, 4, >= 5 and the end of the range; within the
    range of order k, product u's factors start at off[r_k] + (u - r_k) k.
    """
    off, f = products.off, products.factors
    p0 = r[0]
    for u in range(r[0], r[1]):
        p_val[u - p0] = a[f[off[u]]]
    o = off[r[1]]
    for u in range(r[1], r[2]):
        p_val[u - p0] = a[f[o]] * a[f[o + 1]]
        o += 2
    o = off[r[2]]
    for u in range(r[2], r[3]):
        p_val[u - p0] = a[f[o]] * a[f[o + 1]] * a[f[o + 2]]
        o += 3
    o = off[r[3]]
    for u in range(r[3], r[4]):
        p_val[u - p0] = (a[f[o]] * a[f[o + 1]]) * (a[f[o + 2]] * a[f[o + 3]])
        o += 4
    for u in range(r[4], r[5]):
        v = a[f[off[u]]]
        for k in range(off[u] + 1, off[u + 1]):
            v *= a[f[k]]
        p_val[u - p0] = v


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, fastmath={"contract"}, _nrt=False)
def _high_order_adjoint(a, off, f, u, wu, g):
    for k in range(off[u], off[u + 1]):
        v = complex(wu, 0.0)
        for k2 in range(off[u], off[u + 1]):
            if k2 != k:
                v *= a[f[k2]]
        g[f[k]] += v


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, fastmath={"contract"}, _nrt=False)
def _products_adjoint(a, products, r, big_w, g):
    """g[x] += W_u * d(product u)/d a[x] for every factor x of every product u in range r."""
    off, f = products.off, products.factors
    p0 = r[0]
    for u in range(r[0], r[1]):
        g[f[off[u]]] += big_w[u - p0]
    o = off[r[1]]
    for u in range(r[1], r[2]):
        wu = big_w[u - p0]
        x, y = f[o], f[o + 1]
        g[x] += wu * a[y]
        g[y] += wu * a[x]
        o += 2
    o = off[r[2]]
    for u in range(r[2], r[3]):
        wu = big_w[u - p0]
        x, y, z = f[o], f[o + 1], f[o + 2]
        ax, ay, az = a[x], a[y], a[z]
        g[x] += wu * (ay * az)
        g[y] += wu * (ax * az)
        g[z] += wu * (ax * ay)
        o += 3
    o = off[r[3]]
    for u in range(r[3], r[4]):
        wu = big_w[u - p0]
        x, y, z, v = f[o], f[o + 1], f[o + 2], f[o + 3]
        ax, ay, az, av = a[x], a[y], a[z], a[v]
        xy = wu * (ax * ay)
        zv = wu * (az * av)
        g[x] += ay * zv
        g[y] += ax * zv
        g[z] += av * xy
        g[v] += az * xy
        o += 4
    for u in range(r[4], r[5]):
        _high_order_adjoint(a, off, f, u, big_w[u - p0], g)


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, fastmath={"contract"}, _nrt=False)
def _static_products(a, products, r, g, want_adjoint):
    """sum_u w0_u Re(product u) and, when want_adjoint, g += w0_u d(product u)/da.

    Fuses value and gradient for products of features that enter the energy linearly.
    """
    off, f, w0 = products.off, products.factors, products.w0
    energy = 0.0
    for u in range(r[0], r[1]):
        x = f[off[u]]
        energy += w0[u] * a[x].real
        if want_adjoint:
            g[x] += w0[u]
    o = off[r[1]]
    for u in range(r[1], r[2]):
        x, y = f[o], f[o + 1]
        ax, ay = a[x], a[y]
        wu = w0[u]
        energy += wu * (ax * ay).real
        if want_adjoint:
            g[x] += wu * ay
            g[y] += wu * ax
        o += 2
    o = off[r[2]]
    for u in range(r[2], r[3]):
        x, y, z = f[o], f[o + 1], f[o + 2]
        ax, ay, az = a[x], a[y], a[z]
        yz = ay * az
        wu = w0[u]
        energy += wu * (ax * yz).real
        if want_adjoint:
            g[x] += wu * yz
            g[y] += wu * (ax * az)
            g[z] += wu * (ax * ay)
        o += 3
    o = off[r[3]]
    for u in range(r[3], r[4]):
        x, y, z, v = f[o], f[o + 1], f[o + 2], f[o + 3]
        ax, ay, az, av = a[x], a[y], a[z], a[v]
        wu = w0[u]
        xy = wu * (ax * ay)
        zv = az * av
        energy += (xy * zv).real
        if want_adjoint:
            g[x] += ay * wu * zv
            g[y] += ax * wu * zv
            g[z] += av * xy
            g[v] += az * xy
        o += 4
    for u in range(r[4], r[5]):
        v = a[f[off[u]]]
        for k in range(off[u] + 1, off[u + 1]):
            v *= a[f[k]]
        energy += w0[u] * v.real
        if want_adjoint:
            _high_order_adjoint(a, off, f, u, w0[u], g)
    return energy


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, fastmath={"contract"}, _nrt=False)
def _static_triples(a, t, triples, g, want_adjoint):
    """Grouped static order-3 products: per group E += Re(S a_y a_z), S = sum_x w_x a_x.

    Adjoint: g[x] += w_x a_y a_z, g[y] += S a_z, g[z] += S a_y.
    """
    tri_pair, tri_member_ptr, tri_x, tri_w = triples.pair, triples.member_ptr, triples.x, triples.w
    energy = 0.0
    for grp in range(triples.ptr[t], triples.ptr[t + 1]):
        y = tri_pair[grp, 0]
        z = tri_pair[grp, 1]
        ay = a[y]
        az = a[z]
        yz = ay * az
        s = complex(0.0, 0.0)
        for e in range(tri_member_ptr[grp], tri_member_ptr[grp + 1]):
            x = tri_x[e]
            w = tri_w[e]
            s += w * a[x]
            if want_adjoint:
                g[x] += w * yz
        energy += (s * yz).real
        if want_adjoint:
            g[y] += s * az
            g[z] += s * ay
    return energy


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, fastmath={"contract"})
def _atomic_energies_chunk(
    c, n_chunks, a_half, types, lmax, products, triples, features, polynomial, want_adjoint,
    energies, g_half, feature_values,
):
    """:func:`atomic_energies` of chunk c of n_chunks of the atoms: per atom of type t, its
    energy (eV) from its densities and the adjoint g = dE/da.

    products.ptr[t, 0] ranges the dynamic products (used by features inside polynomial terms),
    products.ptr[t, 1] the static ones (constant weights w0); see ``_static_products``.
    Quadratic terms are d·S·d/2 with the dense symmetric S of type t (``polynomial.quad``).
    """
    prod_w0, feat_coef = products.w0, features.coef
    term_ptr, term_prod, term_coef = features.term_ptr, features.term_prod, features.term_coef
    quad, cubic_idx, cubic_coef = polynomial.quad, polynomial.cubic_idx, polynomial.cubic_coef
    n_atom = a_half.shape[0]
    n_lmf = (lmax + 1) * (lmax + 1)
    n_blocks = a_half.shape[1] // ((lmax + 1) * (lmax + 2) // 2)
    max_prod = 1
    max_feat = 1
    for t in range(products.ptr.shape[0]):
        max_prod = max(max_prod, products.ptr[t, 0, 5] - products.ptr[t, 0, 0])
        max_feat = max(max_feat, features.ptr[t + 1] - features.ptr[t])
    start, stop = _chunk_bounds(n_atom, n_chunks, c)
    a_full = np.empty(n_blocks * n_lmf, dtype=np.complex128)  # all written per atom
    g_full = np.empty(n_blocks * n_lmf, dtype=np.complex128)  # zeroed per atom, if used
    p_val = np.empty(max_prod, dtype=np.complex128)  # values of the dynamic products
    big_w = np.empty(max_prod)  # their weights W_u = dE/d(product u)
    d = np.empty(max_feat)  # dynamic feature values
    w = np.empty(max_feat)  # dE/dd of the dynamic features
    sd = np.empty(max_feat)  # S·d
    want_features = feature_values.shape[0] == n_atom
    for i in range(start, stop):
        t = types[i]
        _expand_to_full(a_half[i], n_blocks, lmax, a_full)
        r = products.ptr[t, 0]
        p0 = r[0]
        _products(a_full, products, r, p_val)
        energy = 0.0
        for u in range(r[0], r[5]):
            energy += prod_w0[u] * p_val[u - p0].real
        f0, f1 = features.ptr[t], features.ptr[t + 1]
        n_t = f1 - f0
        for k in range(f0, f1):
            v = 0.0
            for e in range(term_ptr[k], term_ptr[k + 1]):
                v += term_coef[e] * p_val[term_prod[e] - p0].real
            d[k - f0] = v
            w[k - f0] = feat_coef[k]
            energy += feat_coef[k] * v
        for x in range(n_t):
            sd[x] = 0.0
        q0 = max(polynomial.quad_ptr[t], 0)  # >= 0 already; max() lets LLVM vectorise below
        for y in range(n_t):
            dy = d[y]
            row = q0 + y * n_t
            for x in range(n_t):
                sd[x] += quad[row + x] * dy
        for x in range(n_t):
            energy += 0.5 * d[x] * sd[x]
            w[x] += sd[x]
        for e in range(polynomial.cubic_ptr[t], polynomial.cubic_ptr[t + 1]):
            x = cubic_idx[e, 0] - f0
            y = cubic_idx[e, 1] - f0
            z = cubic_idx[e, 2] - f0
            ce = cubic_coef[e]
            energy += ce * d[x] * d[y] * d[z]
            w[x] += ce * d[y] * d[z]
            w[y] += ce * d[x] * d[z]
            w[z] += ce * d[x] * d[y]
        if want_adjoint:
            for u in range(r[0], r[5]):
                big_w[u - p0] = prod_w0[u]
            for k in range(f0, f1):
                wk = w[k - f0]
                for e in range(term_ptr[k], term_ptr[k + 1]):
                    big_w[term_prod[e] - p0] += wk * term_coef[e]
            g_full[:] = 0.0
            _products_adjoint(a_full, products, r, big_w, g_full)
        energy += _static_products(a_full, products, products.ptr[t, 1], g_full, want_adjoint)
        energy += _static_triples(a_full, t, triples, g_full, want_adjoint)
        energies[i] = energy
        if want_adjoint:
            _fold_to_half(g_full, n_blocks, lmax, g_half[i])
        if want_features:
            for k in range(n_t):
                feature_values[i, k] = d[k]


def atomic_energies(
    a_half, types, lmax, products, triples, features, polynomial, want_adjoint, n_chunks,
    energies, g_half, feature_values,
):
    """energies[i] (eV) and, when want_adjoint, g_half[i] = dE_i/da_half (folded); when
    ``feature_values`` has a row per atom, feature_values[i, :n_t] = the dynamic features of
    atom i (those the polynomial is built on; n_t of its type t). Atoms are split into
    ``n_chunks`` blocks run at once. Row i of a_half is read before row i of g_half is
    written, so g_half may be a_half itself (the densities become the adjoints)."""
    run_chunks(_atomic_energies_chunk, n_chunks, (
        a_half, types, lmax, products, triples, features, polynomial, want_adjoint, energies,
        g_half, feature_values))


@njit(cache=True, nogil=True, no_cfunc_wrapper=True, fastmath={"contract"})
def _forces_of_bonds(c, n_chunks, bonds, types, basis, rows, g_float, forces, f_buf, zero,
                     v_buf, kept):
    """Chunk c of n_chunks of the bonds into the forces (eV/Å): ``forces`` itself (chunk 0)
    or its private ``f_buf[c - 1]`` (zeroed here first when ``zero``), and the virial (eV)
    into v_buf[c]; from the adjoints g_float (atom i's in row rows[i]).

    dE/dd = Re sum_{n,lm} (g_i + (-1)^l g_j)[tp, n, lm] d(f_n Y_lm)/dd for d = r_j - r_i;
    g_float holds the adjoints as float64 rows (re, im interleaved). The basis of bonds
    b < len(kept.y) is read from ``kept`` (the density pass's), the others' computed.
    """
    start, stop = _chunk_bounds(bonds.i.shape[0], n_chunks, c)
    if c > 0:
        forces = f_buf[c - 1]
        if zero:
            _zero(forces, 0, forces.shape[0])
    virial = v_buf[c]
    kept_y, kept_f, kept_df = kept.y, kept.f, kept.df
    n_kept = kept_y.shape[0]
    bond_i, bond_j, bond_d = bonds.i, bonds.j, bonds.d
    type_pairs, cutoff, radial_params, lmax = (
        basis.type_pairs, basis.cutoff, basis.radial_params, basis.lmax
    )
    norm, rec, parity, grid = basis.norm, basis.rec, basis.parity, basis.grid
    grad_coef = basis.grad_coef
    n_fn = radial_params.shape[0]
    n_lmh = (lmax + 1) * (lmax + 2) // 2
    n2 = 2 * n_lmh
    fn = np.empty(n_fn)
    dfn = np.empty(n_fn)
    ylm = np.empty(n_lmh, dtype=np.complex128)
    q = np.empty((lmax + 1, lmax + 2))
    sa = np.empty(n2)
    sb = np.empty(n2)
    y_own = ylm.view(np.float64)
    v00 = v01 = v02 = v10 = v11 = v12 = v20 = v21 = v22 = 0.0
    for b in range(start, stop):
        i = bond_i[b]
        j = bond_j[b]
        dx, dy, dz = bond_d[b, 0], bond_d[b, 1], bond_d[b, 2]
        r = math.sqrt(dx * dx + dy * dy + dz * dz)
        if b < n_kept:
            y = kept_y[b]
            f_b = kept_f[b]
            df_b = kept_df[b]
        else:
            gaussian_radial_grid_derivative(r, cutoff, radial_params, grid, fn, dfn)
            spherical_harmonics(dx, dy, dz, lmax, norm, rec, q, ylm)
            y = y_own
            f_b = fn
            df_b = dfn
        # max(., 0): type pairs are >= 0 already; saying so lets LLVM drop Numba's
        # negative-index wrap-around in the loops below and vectorise them (~3x faster)
        tp = max(type_pairs[types[i], types[j]], 0)
        g_i = g_float[rows[i]]
        g_j = g_float[rows[j]]
        base = 2 * tp * n_fn * n_lmh
        # sa = sum_n h_n df_n, sb = sum_n h_n f_n per (l, m): n outer, (l, m) inner, so that
        # every inner loop runs over contiguous floats (vectorised)
        for k in range(n2):
            sa[k] = 0.0
            sb[k] = 0.0
        for n in range(n_fn):
            o = base + n * n2
            # rows of this n as views: indexed by k >= 0 alone, the loop vectorises (with
            # o + k, Numba's negative-index wrap-around made it a masked gather)
            gi = g_i[o:o + n2]
            gj = g_j[o:o + n2]
            f = f_b[n]
            df = df_b[n]
            for k in range(n2):
                h = gi[k] + parity[k] * gj[k]
                sa[k] += h * df
                sb[k] += h * f
        # dE/dd = Re sum sa Y d/r + Re sum sb dY/dd, the second from the Y themselves
        gr = 0.0
        for k in range(0, n2, 2):
            gr += sa[k] * y[k] - sa[k + 1] * y[k + 1]
        px, py, pz, sl = gradient_contraction(sb, y, lmax, grad_coef)
        inv_r = 1.0 / r
        radial = (gr - sl * inv_r) * inv_r
        gx = px * inv_r + radial * dx
        gy = py * inv_r + radial * dy
        gz = pz * inv_r + radial * dz
        forces[i, 0] += gx
        forces[i, 1] += gy
        forces[i, 2] += gz
        forces[j, 0] -= gx
        forces[j, 1] -= gy
        forces[j, 2] -= gz
        v00 += dx * gx
        v01 += dx * gy
        v02 += dx * gz
        v10 += dy * gx
        v11 += dy * gy
        v12 += dy * gz
        v20 += dz * gx
        v21 += dz * gy
        v22 += dz * gz
    # summed in registers, written once: the chunks' virials share a cache line
    virial[0, 0] += v00
    virial[0, 1] += v01
    virial[0, 2] += v02
    virial[1, 0] += v10
    virial[1, 1] += v11
    virial[1, 2] += v12
    virial[2, 0] += v20
    virial[2, 1] += v21
    virial[2, 2] += v22


def bond_forces(bonds, types, basis, g_half, n_chunks, forces, virial, kept=None, *,
                rows=None, accumulators=None):
    """forces (eV/Å) and virial sum_bonds d ⊗ dE/dd (eV) added from the adjoints g_half;
    ``kept``: the BondBasis the density pass filled (None: every basis computed here).

    Bonds are split into ``n_chunks`` blocks run at once: the first adds into ``forces``
    itself, the others into private accumulators added at the end.

    For a sweep (``sweep``): ``rows`` (int64, per atom) is the row of g_half holding each
    atom's adjoints (default: its index); ``accumulators`` (n_chunks - 1, n_atom, 3), zeroed
    by the caller, are added to here and added up by the caller at the end.
    """
    own = accumulators is None
    f_buf = scratch("force accumulators", (n_chunks - 1,) + forces.shape) if own else accumulators
    v_buf = np.zeros((n_chunks, 3, 3))
    rows = np.arange(len(types)) if rows is None else rows
    kept = bond_basis(0, 0, 0) if kept is None else kept
    run_chunks(_forces_of_bonds, n_chunks, (bonds, types, basis, rows, g_half.view(np.float64),
                                            forces, f_buf, own, v_buf, kept))
    if n_chunks > 1 and own:
        add_accumulators(f_buf, forces, 0, len(forces), n_chunks)
    virial += v_buf.sum(axis=0)

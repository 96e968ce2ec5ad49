"""Tables that drive the Numba kernels, built from pypolymlp's feature enumeration.

pypolymlp owns the enumeration and order of features: ``get_features_attr`` gives the linear
features (radial index n, invariant index, type-pair combination) and the polynomial terms
(pairs and triples of linear features), in the order of the coefficient vector. The invariant
coefficient tables (l combinations, m sequences, coefficients) come from its gtinv data.
Here they are regrouped per centre-atom type into flat arrays: products of densities
(deduplicated, a product and its m -> -m partner merged since their real parts agree), split
into "dynamic" products, feeding features that enter polynomial terms (features as sparse sums
of products; quadratic terms as a dense symmetric matrix, cubic ones as a list), and "static"
products of features that enter the energy linearly, folded into constant weights (order-3
ones grouped by a shared factor pair).

The kernels take these arrays in typed bundles (NamedTuples, read as ``bundle.field``); each
field's dtype and ndim are declared by ``Array(dtype, ndim)``; :func:`frozen_bundle` makes
them and refuses arrays of another dtype or ndim.
"""

from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, NamedTuple, get_type_hints

import numpy as np
from ase.data import atomic_numbers, chemical_symbols

from ..errors import PotentialFileError
from .harmonics import gradient_coefficients, legendre_recursion, n_lm_half, normalisation_table
from .radial import uniform_grid_prefix

MAX_ORDER = 6  # highest invariant order handled by the kernels


def Array(dtype, ndim):
    """Annotation of a bundle field: a C-contiguous array of ``dtype`` with ``ndim`` axes."""
    return Annotated[np.ndarray, np.dtype(dtype), ndim]


class Bonds(NamedTuple):
    """Half neighbour list (each bond once): d[b] = r_j + T - r_i (Å) for j = j[b], i = i[b]."""

    i: Array(np.int64, 1)
    j: Array(np.int64, 1)
    d: Array(np.float64, 2)  # (n_bond, 3)


class BondBasis(NamedTuple):
    """The basis of the first bonds, kept by the density pass for the force pass (as many
    bonds as a memory budget allows; the others are computed again)."""

    y: Array(np.float64, 2)  # (n_kept, 2 n_lm_half): Y_lm(d), re and im interleaved
    f: Array(np.float64, 2)  # (n_kept, n_fn): f_n(r)
    df: Array(np.float64, 2)  # (n_kept, n_fn): df_n/dr (1/Å)


def bond_basis(n_kept: int, n_lm: int, n_fn: int) -> BondBasis:
    """Room for the basis of ``n_kept`` bonds (contents undefined until the density pass)."""
    return BondBasis(np.empty((n_kept, 2 * n_lm)), np.empty((n_kept, n_fn)),
                     np.empty((n_kept, n_fn)))


class Basis(NamedTuple):
    """What the densities a_{tp,n,l,m} are expanded in (density accumulation, bond forces)."""

    type_pairs: Array(np.int64, 2)  # (n_type, n_type) -> type-pair index tp
    cutoff: float  # Å
    radial_params: Array(np.float64, 2)  # (n_fn, 2): beta [1/Å²], r0 [Å]
    lmax: int
    norm: Array(np.float64, 1)  # spherical-harmonic normalisation, half order
    rec: Array(np.float64, 3)  # legendre_recursion(lmax)
    parity: Array(np.float64, 1)  # (-1)^l per half slot, re and im interleaved
    grid: int  # uniform_grid_prefix(radial_params, cutoff)
    grad_coef: Array(np.float64, 2)  # gradient_coefficients(lmax): dY from the Y themselves


class Products(NamedTuple):
    """Products of densities per centre type t; product u is prod a[factors[off[u]:off[u+1]]]."""

    ptr: Array(np.int64, 3)  # (n_type, 2, 6): [dynamic|static] starts of order 1..4, >=5; end
    off: Array(np.int64, 1)  # (n_prod + 1,)
    factors: Array(np.int32, 1)  # full slots of all products
    w0: Array(np.float64, 1)  # (n_prod,) constant weight (eV) of Re(product) in the energy


class Triples(NamedTuple):
    """Static order-3 products grouped by a shared factor pair: E += Re(sum_x w_x a_x a_y a_z)."""

    ptr: Array(np.int64, 1)  # (n_type + 1,) ranges of the groups of each type
    pair: Array(np.int32, 2)  # (n_group, 2) the factor pair (y, z) of a group
    member_ptr: Array(np.int64, 1)  # (n_group + 1,) ranges of each group's members
    x: Array(np.int32, 1)  # third factor of each member
    w: Array(np.float64, 1)  # weight (eV) of each member


class Features(NamedTuple):
    """Dynamic features (those in polynomial terms): d_k = sum_e coef_e Re(product e)."""

    ptr: Array(np.int64, 1)  # (n_type + 1,) ranges of the features of each type
    coef: Array(np.float64, 1)  # linear coefficient (eV) of each feature
    term_ptr: Array(np.int64, 1)  # (n_feature + 1,) ranges of each feature's terms
    term_prod: Array(np.int64, 1)  # product of each term
    term_coef: Array(np.float64, 1)  # coefficient of each term


class Polynomial(NamedTuple):
    """Polynomial terms per type: E2 = d·S·d / 2 (S dense symmetric), E3 = sum c d_x d_y d_z."""

    quad_ptr: Array(np.int64, 1)  # (n_type + 1,) offsets of the flat matrices S
    quad: Array(np.float64, 1)  # S of each type, row-major over its features (eV)
    cubic_ptr: Array(np.int64, 1)  # (n_type + 1,) ranges of the cubic terms of each type
    cubic_idx: Array(np.int64, 2)  # (n_cubic, 3) features (indices into Features) of a term
    cubic_coef: Array(np.float64, 1)  # coefficient (eV) of each cubic term


def frozen_array(x, dtype) -> np.ndarray:
    """A read-only C-contiguous array of ``dtype``."""
    a = np.ascontiguousarray(np.array(x, dtype=dtype))
    a.setflags(write=False)
    return a


def frozen_bundle(cls, **fields):
    """``cls(**fields)`` with read-only C-contiguous copies of its arrays.

    Lists become arrays of the field's declared dtype; an array of another dtype or ndim (a
    swapped or cast one would compile another kernel or give wrong numbers) or a scalar of
    another type raises TypeError naming the field.
    """
    for name, hint in get_type_hints(cls, include_extras=True).items():
        value, spec = fields[name], getattr(hint, "__metadata__", None)
        if spec is None:
            ok, want, got = type(value) is hint, hint.__name__, type(value).__name__
        else:
            value = fields[name] = frozen_array(value, getattr(value, "dtype", spec[0]))
            ok, want = (value.dtype, value.ndim) == spec, f"a {spec[1]}-d {spec[0]} array"
            got = f"a {value.ndim}-d {value.dtype} array"
        if not ok:
            raise TypeError(f"{cls.__name__}.{name} must be {want}, got {got}")
    return cls(**fields)


class BasisTables:
    """Base of the table dataclasses: the facts of their ``basis`` others read."""

    cutoff = property(lambda self: self.basis.cutoff)  # Å
    lmax = property(lambda self: self.basis.lmax)
    n_type_pairs = property(lambda self: int(self.basis.type_pairs.max()) + 1)
    # (type pair, radial function) blocks of the densities, and their half slots
    n_blocks = property(lambda self: self.n_type_pairs * self.basis.radial_params.shape[0])
    n_slots_half = property(lambda self: self.n_blocks * n_lm_half(self.basis.lmax))

    @cached_property
    def _type_lookup(self) -> np.ndarray:
        lookup = np.full(len(chemical_symbols), -1, dtype=np.int64)
        for index, element in enumerate(self.elements):
            lookup[atomic_numbers[element]] = index
        lookup.setflags(write=False)
        return lookup

    def type_ids(self, numbers) -> np.ndarray:
        """Index into ``elements`` for each atomic number; -1 where the tables lack it."""
        return self._type_lookup[np.asarray(numbers)]


@dataclass(frozen=True)
class ModelTables(BasisTables):
    """Everything one potential file contributes to an evaluation (read-only arrays)."""

    elements: tuple
    basis: Basis
    products: Products
    triples: Triples
    features: Features
    polynomial: Polynomial
    n_features: int  # linear + polynomial, = number of coefficients

    def feature_rows(self, n_atom: int) -> np.ndarray:
        """Zeroed (n_atom, n_max) rows for the dynamic features of each atom (n_max: the most
        of any one type, at least 1)."""
        n_max = int(max(1, np.diff(self.features.ptr).max(initial=0)))
        return np.zeros((n_atom, n_max))


def _type_pair_matrix(n_type: int) -> np.ndarray:
    """pypolymlp's type-pair numbering: (i, j), i <= j, row by row."""
    upper = np.zeros((n_type, n_type), dtype=np.int64)
    upper[np.triu_indices(n_type)] = np.arange(n_type * (n_type + 1) // 2)
    return np.maximum(upper, upper.T)


def _canonical_product(slots_lm, sum_m_zero):
    """Sorted factor key, merged with its m -> -m partner when sum(m) = 0."""
    key = tuple(sorted(s for s, _ in slots_lm))
    if not sum_m_zero:
        return key
    partner = tuple(sorted(s - 2 * m for s, m in slots_lm))
    return min(key, partner)


def _linear_feature_terms(feature, feature_type, gtinv, n_fn, lmax):
    """Terms {product key: coefficient} and type pairs of one linear feature."""
    n_lmf = (lmax + 1) ** 2
    terms = {}
    if feature_type == "pair":
        n, tcomb = feature
        tp = tcomb[0]
        slot = (tp * n_fn + n) * n_lmf
        terms[(slot,)] = np.sqrt(4.0 * np.pi)  # a_{n00} = sum f_n / sqrt(4 pi)
        return terms, list(tcomb)
    n, gid, tcomb = feature
    l_comb = gtinv.l_comb[gid]
    if len(l_comb) > MAX_ORDER:
        raise PotentialFileError(f"invariants of order {len(l_comb)} exceed {MAX_ORDER}")
    for lm_list, coef in zip(gtinv.lm_seq[gid], gtinv.lm_coeffs[gid]):
        slots_lm = []
        sum_m = 0
        for lm, tp in zip(lm_list, tcomb):
            l = int(np.sqrt(lm))
            m = lm - l * l - l
            sum_m += m
            slots_lm.append(((tp * n_fn + n) * n_lmf + lm, m))
        key = _canonical_product(slots_lm, sum_m == 0)
        terms[key] = terms.get(key, 0.0) + coef
    return {k: c for k, c in terms.items() if c != 0.0}, list(tcomb)


def linear_features(params, features, basis):
    """Terms {product key: coefficient} of each linear feature and the centre types it is
    active for (those in every type pair of its combination)."""
    model, n_fn = params.model, basis.radial_params.shape[0]
    pairs_of = [set(row.tolist()) for row in basis.type_pairs]  # type pairs of each type
    terms, active = [], []
    for feature in features:
        t_k, tcomb = _linear_feature_terms(feature, model.feature_type, model.gtinv, n_fn,
                                           basis.lmax)
        terms.append(t_k)
        active.append({t for t, pairs in enumerate(pairs_of) if pairs.issuperset(tcomb)})
    return terms, active


def _group_triples(triples, weights, sweeps=2):
    """Group order-3 products by a shared factor pair: sum_x w_x a_x (a_y a_z).

    Each product first joins the pair (of its three) that the most products contain; then,
    for a few sweeps, products move to the largest group among their pairs, so that fewer,
    larger groups remain. One pair product and one weighted sum serve each group.
    Returns [((y, z), [(x, w), ...])] in a deterministic order.
    """
    candidates = [((p[0], p[1]), (p[0], p[2]), (p[1], p[2])) for p in triples]
    count = Counter(pair for pairs in candidates for pair in set(pairs))
    assigned = [max(pairs, key=lambda q: (count[q], q)) for pairs in candidates]
    size = Counter(assigned)
    for _ in range(sweeps):
        for k, pairs in enumerate(candidates):
            current = assigned[k]
            best = max(pairs, key=lambda q: (size[q] + (q != current), q))
            if best != current and size[best] + 1 > size[current]:
                size[current] -= 1
                size[best] += 1
                assigned[k] = best
    groups = {}
    for p, pair in zip(triples, assigned):
        rest = list(p)
        rest.remove(pair[0])
        rest.remove(pair[1])
        groups.setdefault(pair, []).append((rest[0], weights[p]))
    return sorted(groups.items())


def model_layout(params, path=None):
    """What every table of a model starts from, with pypolymlp's feature enumeration.

    Returns (basis, features, polynomials): the :class:`Basis`, pypolymlp's linear features
    and polynomial terms.
    """
    from pypolymlp.mlp_dev.core.features_attr import get_features_attr

    model = params.model
    if model.pair_type != "gaussian":
        raise PotentialFileError(
            f"pair_type '{model.pair_type}' is not supported (only gaussian)",
            path=path, key="pair_type",
        )
    lmax = int(model.max_l) if model.feature_type == "gtinv" else 0
    if model.feature_type == "gtinv" and model.gtinv.l_comb:
        lmax = max(lmax, max(max(lc) for lc in model.gtinv.l_comb))
    try:
        features, polynomials, _ = get_features_attr(params)
    except Exception as exc:  # pypolymlp's C++ enumeration refused the parameters
        raise PotentialFileError(f"pypolymlp cannot enumerate the features: {exc}", path=path) from exc
    radial_params = frozen_array(np.reshape(model.pair_params, (-1, 2)), np.float64)
    cutoff = float(model.cutoff)
    basis = frozen_bundle(  # .py_func: the same code run by Python, no JIT compile at load
        Basis, type_pairs=_type_pair_matrix(params.n_type), cutoff=cutoff,
        radial_params=radial_params, lmax=lmax, norm=normalisation_table(lmax),
        rec=legendre_recursion.py_func(lmax),
        parity=[1.0 - 2.0 * (l % 2) for l in range(lmax + 1) for _ in range(2 * (l + 1))],
        grid=uniform_grid_prefix.py_func(radial_params, cutoff),
        grad_coef=gradient_coefficients(lmax),
    )
    return basis, features, polynomials


class _TypeTerms(NamedTuple):
    """The products of one centre type, as the table builders share them."""

    dynamic: list  # linear features in polynomial terms, ascending
    w0: dict  # product key -> constant weight of Re(product), from the other features
    dynamic_keys: list  # products of the dynamic features, first seen first
    static_keys: list  # other products of nonzero weight, order != 3
    triples: list  # other products of nonzero weight, order 3


def _type_terms(t, linear_terms, active, in_polynomial, coeffs) -> _TypeTerms:
    """Features that enter polynomial terms are "dynamic": their weight dE/dd depends on the
    features. All others enter linearly, so their products carry constant weights (w0)
    and are evaluated with their gradient in one fused pass ("static" products)."""
    features_t = [k for k in range(len(linear_terms)) if t in active[k]]
    dynamic = [k for k in features_t if k in in_polynomial]
    w0 = {}
    for k in features_t:
        if k not in in_polynomial:
            for key, c in linear_terms[k].items():
                w0[key] = w0.get(key, 0.0) + coeffs[k] * c
    dynamic_keys = {}
    for k in dynamic:
        for key in linear_terms[k]:
            dynamic_keys.setdefault(key, len(dynamic_keys))
    static_keys = [key for key in w0 if key not in dynamic_keys and w0[key] != 0.0]
    return _TypeTerms(
        dynamic, w0, list(dynamic_keys),
        [key for key in static_keys if len(key) != 3],
        [key for key in static_keys if len(key) == 3],
    )


def _products_table(groups) -> tuple[Products, list]:
    """Products of every type, dynamic then static, each sorted by order; and per type the
    index of each product key."""
    factors, off, ptr, w0, index = [], [0], [], [], []
    for g in groups:
        ranges, index_t = [], {}
        for keys in (g.dynamic_keys, g.static_keys):
            keys = sorted(keys, key=len)
            start = len(w0)
            orders = np.array([len(key) for key in keys], dtype=np.int64)
            ranges.append([start + int(np.searchsorted(orders, o)) for o in (1, 2, 3, 4, 5)])
            ranges[-1].append(start + len(keys))
            for key in keys:
                index_t[key] = len(w0)
                factors.extend(key)
                off.append(len(factors))
                w0.append(g.w0.get(key, 0.0))
        ptr.append(ranges)
        index.append(index_t)
    return frozen_bundle(Products, ptr=ptr, off=off, factors=factors, w0=w0), index


def _triples_table(groups) -> Triples:
    ptr, pair, member_ptr, x, w = [0], [], [0], [], []
    for g in groups:
        for yz, members in _group_triples(g.triples, g.w0):
            pair.append(yz)
            x.extend(m for m, _ in members)
            w.extend(c for _, c in members)
            member_ptr.append(len(x))
        ptr.append(len(pair))
    pair = np.array(pair, dtype=np.int32).reshape(-1, 2)
    return frozen_bundle(Triples, ptr=ptr, pair=pair, member_ptr=member_ptr, x=x, w=w)


def _features_table(groups, linear_terms, coeffs, index) -> Features:
    ptr, coef, term_ptr, term_prod, term_coef = [0], [], [0], [], []
    for g, index_t in zip(groups, index):
        for k in g.dynamic:
            coef.append(coeffs[k])
            for key, c in linear_terms[k].items():
                term_prod.append(index_t[key])
                term_coef.append(c)
            term_ptr.append(len(term_prod))
        ptr.append(len(coef))
    return frozen_bundle(Features, ptr=ptr, coef=coef, term_ptr=term_ptr, term_prod=term_prod,
                         term_coef=term_coef)


def _polynomial_table(groups, polynomials, coeffs) -> Polynomial:
    """Quadratic terms as a dense symmetric matrix over the dynamic features of each type
    (pypolymlp's pairs cover all of them, so dense costs no more than the list); cubic
    terms as a list of feature triples."""
    n_linear = len(coeffs) - len(polynomials)
    quad, quad_ptr, cubic_idx, cubic_coef, cubic_ptr = [], [0], [], [], [0]
    base = 0
    for g in groups:
        n_t = len(g.dynamic)
        local = {k: base + x for x, k in enumerate(g.dynamic)}  # index into Features
        matrix = np.zeros((n_t, n_t))
        for p, comb in enumerate(polynomials):
            if not all(k in local for k in comb):
                continue
            c = coeffs[n_linear + p]
            if len(comb) == 2:
                x, y = (local[k] - base for k in comb)
                matrix[x, y] += c
                matrix[y, x] += c
            else:
                cubic_idx.append([local[k] for k in comb])
                cubic_coef.append(c)
        quad.append(matrix.ravel())
        quad_ptr.append(quad_ptr[-1] + n_t * n_t)
        cubic_ptr.append(len(cubic_coef))
        base += n_t
    return frozen_bundle(
        Polynomial, quad_ptr=quad_ptr, quad=np.concatenate(quad), cubic_ptr=cubic_ptr,
        cubic_idx=np.array(cubic_idx, dtype=np.int64).reshape(-1, 3), cubic_coef=cubic_coef,
    )


def build_tables(params, coeffs, path=None) -> ModelTables:
    """ModelTables for one pypolymlp ``PolymlpParamsSingle`` and its coefficients."""
    basis, features, polynomials = model_layout(params, path)
    n_total = len(features) + len(polynomials)
    coeffs = np.asarray(coeffs, dtype=np.float64)
    if len(coeffs) != n_total:
        raise PotentialFileError(
            f"{len(coeffs)} coefficients given, the model has {n_total} features",
            path=path, key="coeffs",
        )
    linear_terms, active = linear_features(params, features, basis)
    in_polynomial = {k for comb in polynomials for k in comb}
    groups = [_type_terms(t, linear_terms, active, in_polynomial, coeffs)
              for t in range(params.n_type)]
    products, index = _products_table(groups)
    return ModelTables(
        elements=tuple(params.elements),
        basis=basis,
        products=products,
        triples=_triples_table(groups),
        features=_features_table(groups, linear_terms, coeffs, index),
        polynomial=_polynomial_table(groups, polynomials, coeffs),
        n_features=n_total,
    )

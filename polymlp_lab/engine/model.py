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
"""

from dataclasses import dataclass

import numpy as np

from ..errors import PotentialFileError
from .harmonics import n_lm_half, normalisation_table

MAX_ORDER = 6  # highest invariant order handled by the kernels


@dataclass(frozen=True)
class ModelTables:
    """Everything one potential file contributes to an evaluation (arrays are read-only)."""

    elements: tuple
    cutoff: float
    radial_params: np.ndarray  # (n_fn, 2): beta [1/Å²], r0 [Å]
    lmax: int
    type_pairs: np.ndarray  # (n_type, n_type) -> type-pair index
    n_type_pairs: int
    norm: np.ndarray  # spherical harmonics normalisation, half order
    prod_ptr: np.ndarray  # (n_type, 2, 6): [dynamic|static] starts of order 1, 2, 3, 4, >=5; end
    prod_off: np.ndarray  # (n_prod + 1,) product u has factors prod_factors[off[u]:off[u+1]]
    prod_factors: np.ndarray  # flat int32 full slots of all products
    prod_w0: np.ndarray  # (n_prod,) constant weight of Re(product) in the energy
    feat_ptr: np.ndarray
    feat_coef: np.ndarray
    term_ptr: np.ndarray
    term_prod: np.ndarray
    term_coef: np.ndarray
    tri_ptr: np.ndarray  # (n_type + 1,) ranges of the groups of static order-3 products
    tri_pair: np.ndarray  # (n_group, 2) int32: the factor pair (y, z) shared by a group
    tri_member_ptr: np.ndarray  # (n_group + 1,) ranges of each group's members
    tri_x: np.ndarray  # int32 third factor x of each member
    tri_w: np.ndarray  # constant weight of each member: E += w Re(a_x a_y a_z)
    quad_ptr: np.ndarray  # (n_type + 1,) offsets of the per-type quadratic-form matrices
    quad: np.ndarray  # flat symmetric S per type: E2 = d·S·d / 2 over dynamic features
    poly3_ptr: np.ndarray
    poly3_idx: np.ndarray
    poly3_coef: np.ndarray
    n_features: int  # linear + polynomial, = number of coefficients

    @property
    def n_blocks(self) -> int:
        """Number of (type pair, radial function) blocks of the density arrays."""
        return self.n_type_pairs * self.radial_params.shape[0]

    @property
    def n_slots_half(self) -> int:
        return self.n_blocks * n_lm_half(self.lmax)


def _type_pair_matrix(n_type: int) -> tuple[np.ndarray, list]:
    """pypolymlp's type-pair numbering: (i, j), i <= j, row by row."""
    matrix = np.zeros((n_type, n_type), dtype=np.int64)
    members = []
    for i in range(n_type):
        for j in range(i, n_type):
            matrix[i, j] = matrix[j, i] = len(members)
            members.append({i, j})
    return matrix, members


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


def _group_triples(triples, weights, sweeps=2):
    """Group order-3 products by a shared factor pair: sum_x w_x a_x (a_y a_z).

    Each product first joins the pair (of its three) that the most products contain; then,
    for a few sweeps, products move to the largest group among their pairs, so that fewer,
    larger groups remain. One pair product and one weighted sum serve each group.
    Returns [((y, z), [(x, w), ...])] in a deterministic order.
    """
    candidates = [((p[0], p[1]), (p[0], p[2]), (p[1], p[2])) for p in triples]
    count = {}
    for pairs in candidates:
        for pair in set(pairs):
            count[pair] = count.get(pair, 0) + 1
    assigned = [max(pairs, key=lambda q: (count[q], q)) for pairs in candidates]
    size = {}
    for pair in assigned:
        size[pair] = size.get(pair, 0) + 1
    for _ in range(sweeps):
        for k, pairs in enumerate(candidates):
            current = assigned[k]
            best = max(pairs, key=lambda q: (size.get(q, 0) + (q != current), q))
            if best != current and size.get(best, 0) + 1 > size[current]:
                size[current] -= 1
                size[best] = size.get(best, 0) + 1
                assigned[k] = best
    groups = {}
    for p, pair in zip(triples, assigned):
        rest = list(p)
        rest.remove(pair[0])
        rest.remove(pair[1])
        groups.setdefault(pair, []).append((rest[0], weights[p]))
    return sorted(groups.items())


def frozen_array(x, dtype, shape=None) -> np.ndarray:
    """A read-only C-contiguous array of ``dtype`` (reshaped to ``shape`` when given)."""
    a = np.ascontiguousarray(np.array(x, dtype=dtype))
    if shape is not None:
        a = a.reshape(shape)
    a.setflags(write=False)
    return a


def model_layout(params, path=None):
    """What every table of a model starts from, with pypolymlp's feature enumeration.

    Returns (geometry, tp_members, features, polynomials); ``geometry`` holds the fields every
    table dataclass starts with: elements, cutoff, radial_params (n_fn, 2), lmax, type_pairs,
    n_type_pairs, norm (read-only arrays).
    """
    from pypolymlp.mlp_dev.core.features_attr import get_features_attr

    model = params.model
    if model.pair_type != "gaussian":
        raise PotentialFileError(
            f"pair_type '{model.pair_type}' is not supported (only gaussian)",
            path=path, key="pair_type",
        )
    type_pairs, tp_members = _type_pair_matrix(params.n_type)
    radial_params = np.ascontiguousarray(model.pair_params, dtype=np.float64).reshape(-1, 2)
    lmax = int(model.max_l) if model.feature_type == "gtinv" else 0
    if model.feature_type == "gtinv" and model.gtinv.l_comb:
        lmax = max(lmax, max(max(lc) for lc in model.gtinv.l_comb))
    try:
        features, polynomials, _ = get_features_attr(params)
    except Exception as exc:  # pypolymlp's C++ enumeration refused the parameters
        raise PotentialFileError(f"pypolymlp cannot enumerate the features: {exc}", path=path) from exc
    geometry = dict(
        elements=tuple(params.elements),
        cutoff=float(model.cutoff),
        radial_params=frozen_array(radial_params, np.float64),
        lmax=lmax,
        type_pairs=frozen_array(type_pairs, np.int64),
        n_type_pairs=len(tp_members),
        norm=frozen_array(normalisation_table(lmax), np.float64),
    )
    return geometry, tp_members, features, polynomials


def build_tables(params, coeffs, path=None) -> ModelTables:
    """ModelTables for one pypolymlp ``PolymlpParamsSingle`` and its coefficients."""
    model = params.model
    n_type = params.n_type
    geometry, tp_members, features, polynomials = model_layout(params, path)
    lmax = geometry["lmax"]
    n_fn = len(geometry["radial_params"])
    n_linear = len(features)
    n_total = n_linear + len(polynomials)
    coeffs = np.asarray(coeffs, dtype=np.float64)
    if len(coeffs) != n_total:
        raise PotentialFileError(
            f"{len(coeffs)} coefficients given, the model has {n_total} features",
            path=path, key="coeffs",
        )

    linear_terms, active = [], []
    for feature in features:
        terms, tcomb = _linear_feature_terms(feature, model.feature_type, model.gtinv, n_fn, lmax)
        linear_terms.append(terms)
        active.append({t for t in range(n_type) if all(t in tp_members[tp] for tp in tcomb)})

    # Features that enter polynomial terms are "dynamic": their weight dE/dd depends on the
    # features. All others enter linearly, so their products carry constant weights (w0)
    # and are evaluated with their gradient in one fused pass ("static" products).
    prod_factors, prod_off, prod_ptr, prod_w0 = [], [0], [], []
    feat_coef, term_ptr, term_prod, term_coef, feat_ptr = [], [0], [], [], [0]
    poly3_idx, poly3_coef, poly3_ptr = [], [], [0]
    quad, quad_ptr = [], [0]
    tri_ptr, tri_pair, tri_member_ptr, tri_x, tri_w = [0], [], [0], [], []
    in_polynomial = {k for comb in polynomials for k in comb}
    for t in range(n_type):
        features_t = [k for k in range(n_linear) if t in active[k]]
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
        triples = [key for key in static_keys if len(key) == 3]
        static_keys = [key for key in static_keys if len(key) != 3]
        for pair, members in _group_triples(triples, w0):
            tri_pair.append(pair)
            tri_x.extend(x for x, _ in members)
            tri_w.extend(w for _, w in members)
            tri_member_ptr.append(len(tri_x))
        tri_ptr.append(len(tri_pair))
        ranges = []
        index = {}
        for keys in (list(dynamic_keys), static_keys):
            keys = sorted(keys, key=len)
            start = len(prod_off) - 1
            orders = np.array([len(key) for key in keys], dtype=np.int64)
            ranges.append([start + int(np.searchsorted(orders, o)) for o in (1, 2, 3, 4, 5)])
            ranges[-1].append(start + len(keys))
            for key in keys:
                index[key] = len(prod_off) - 1
                prod_factors.extend(key)
                prod_off.append(len(prod_factors))
                prod_w0.append(w0.get(key, 0.0))
        prod_ptr.append(ranges)
        local_feature = {}
        for k in dynamic:
            local_feature[k] = len(feat_coef)
            feat_coef.append(coeffs[k])
            for key, c in linear_terms[k].items():
                term_prod.append(index[key])
                term_coef.append(c)
            term_ptr.append(len(term_prod))
        feat_ptr.append(len(feat_coef))
        # quadratic terms as a dense symmetric matrix over the dynamic features of type t
        # (pypolymlp's pairs cover all of them, so dense costs no more than the list)
        n_t = len(dynamic)
        base = feat_ptr[-2]
        matrix = np.zeros((n_t, n_t))
        for p, comb in enumerate(polynomials):
            if not all(k in local_feature for k in comb):
                continue
            c = coeffs[n_linear + p]
            if len(comb) == 2:
                x, y = (local_feature[k] - base for k in comb)
                matrix[x, y] += c
                matrix[y, x] += c
            else:
                poly3_idx.append([local_feature[k] for k in comb])
                poly3_coef.append(c)
        quad.append(matrix.ravel())
        quad_ptr.append(quad_ptr[-1] + n_t * n_t)
        poly3_ptr.append(len(poly3_coef))

    arr = frozen_array
    return ModelTables(
        **geometry,
        prod_ptr=arr(prod_ptr, np.int64, (n_type, 2, 6)),
        prod_off=arr(prod_off, np.int64),
        prod_factors=arr(prod_factors, np.int32),
        prod_w0=arr(prod_w0, np.float64),
        feat_ptr=arr(feat_ptr, np.int64),
        feat_coef=arr(feat_coef, np.float64),
        term_ptr=arr(term_ptr, np.int64),
        term_prod=arr(term_prod, np.int64),
        term_coef=arr(term_coef, np.float64),
        tri_ptr=arr(tri_ptr, np.int64),
        tri_pair=arr(tri_pair, np.int32, (-1, 2)),
        tri_member_ptr=arr(tri_member_ptr, np.int64),
        tri_x=arr(tri_x, np.int32),
        tri_w=arr(tri_w, np.float64),
        quad_ptr=arr(quad_ptr, np.int64),
        quad=arr(np.concatenate(quad) if quad else [], np.float64),
        poly3_ptr=arr(poly3_ptr, np.int64),
        poly3_idx=arr(poly3_idx, np.int64, (-1, 3)),
        poly3_coef=arr(poly3_coef, np.float64),
        n_features=n_total,
    )

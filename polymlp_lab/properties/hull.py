"""Formation energies and the lower convex hull of a binary A–B system.

Plain data in, plain data out: compositions are the fraction x of the second element B
(x = 0 is pure A, x = 1 pure B), energies are in eV/atom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from ase import Atoms

from ..errors import PolymlpLabError
from ..files import AsDict


def _counts(composition) -> dict:
    """Element → atom count of an Atoms, a formula string or a mapping."""
    if isinstance(composition, Atoms):
        symbols = composition.get_chemical_symbols()
        return {s: symbols.count(s) for s in set(symbols)}
    if isinstance(composition, str):
        from ase.formula import Formula

        try:
            return dict(Formula(composition).count())
        except ValueError as err:
            raise PolymlpLabError(f"cannot read formula '{composition}': {err}") from err
    if isinstance(composition, Mapping):
        return {str(k): float(v) for k, v in composition.items()}
    raise PolymlpLabError(
        f"composition must be a fraction x_B, ase.Atoms, formula or mapping, got {type(composition).__name__}"
    )


def composition_fraction(composition, elements: Sequence[str]) -> float:
    """Fraction of ``elements[1]`` (x_B) in an Atoms, formula ("Cu3Au") or count mapping.
    Raises PolymlpLabError when it holds an element other than the two, or no atoms."""
    a, b = elements
    counts = {k: v for k, v in _counts(composition).items() if v != 0}
    other = sorted(set(counts) - {a, b})
    if other:
        raise PolymlpLabError(f"composition {counts} holds {', '.join(other)}, not in the system {a}-{b}")
    total = counts.get(a, 0) + counts.get(b, 0)
    if not total > 0:
        raise PolymlpLabError(f"composition {counts} has no atoms")
    return float(counts.get(b, 0) / total)


def formation_energies(entries: Iterable, references) -> list:
    """Formation energies per atom of binary entries: E_f = E − (1 − x) E_A − x E_B.

    ``entries`` are (composition, energy eV/atom) pairs, the composition the fraction x_B in
    [0, 1] of the second element, or an ase.Atoms, a formula string ("Cu3Au") or an
    {element: count} mapping. ``references`` are the energies per atom (eV) of the elements in
    their lowest-energy structures: ``{"A": E_A, "B": E_B}`` (its order defines A and B;
    needed for compositions other than fractions) or ``(E_A, E_B)``.

    Returns (x_B, formation energy eV/atom) per entry, in order. Raises PolymlpLabError for
    not two references, non-finite energies, x outside [0, 1], an element other than the two,
    or a composition other than a fraction with references without element names.
    """
    named = isinstance(references, Mapping)
    elements = [str(e) for e in references] if named else None
    ref = list(references.values() if named else references)
    if len(ref) != 2:
        raise PolymlpLabError(f"a binary needs exactly two references, got {len(ref)}")
    try:
        e_a, e_b = (float(v) for v in ref)
    except (TypeError, ValueError) as err:
        raise PolymlpLabError(f"reference energies must be numbers: {err}") from err
    if not (np.isfinite(e_a) and np.isfinite(e_b)):
        raise PolymlpLabError(f"reference energies must be finite, got {e_a}, {e_b}")

    out = []
    for k, entry in enumerate(entries):
        try:
            composition, energy = entry
        except (TypeError, ValueError):
            raise PolymlpLabError(f"entry {k} must be a (composition, energy per atom) pair, got {entry!r}") from None
        if isinstance(composition, (int, float, np.integer, np.floating)) and not isinstance(composition, bool):
            x = float(composition)
        else:
            if elements is None:
                raise PolymlpLabError(
                    f"entry {k}: give references as {{element: energy}} to use a structure or formula"
                )
            x = composition_fraction(composition, elements)
        energy = float(energy)
        if not (np.isfinite(x) and 0.0 <= x <= 1.0):
            raise PolymlpLabError(f"entry {k}: composition x_B={x} is not in [0, 1]")
        if not np.isfinite(energy):
            raise PolymlpLabError(f"entry {k}: energy {energy} is not finite")
        out.append((x, energy - (1.0 - x) * e_a - x * e_b))
    return out


def lower_hull(x, y) -> list:
    """Indices of the corners of the lower convex hull of the points (x, y), in increasing x
    (Andrew's monotone chain, lower half). Of points with the same x only the lowest can be a
    corner; points on a straight segment between two corners are not corners."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    hull = []
    for i in np.lexsort((y, x)):
        if hull and x[hull[-1]] == x[i]:
            continue  # a higher point at the same x
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross <= 0:  # b lies on or above the chord a-i
                hull.pop()
            else:
                break
        hull.append(int(i))
    return hull


@dataclass(frozen=True)
class ConvexHull(AsDict):
    """Outcome of :func:`convex_hull`: ``e_above_hull`` (array per entry, eV/atom, >= 0),
    ``stable`` (indices on the hull, ascending), ``vertices`` (indices of entries at a hull
    corner, every duplicate of one) and ``hull_x``, ``hull_e`` (the corners in increasing x,
    endpoints included; x_B and eV/atom, arrays)."""

    e_above_hull: np.ndarray
    stable: list
    vertices: list
    hull_x: np.ndarray
    hull_e: np.ndarray


def convex_hull(x: Sequence[float], e_form: Sequence[float], *, tol: float = 1e-8) -> ConvexHull:
    """Lower convex hull of formation energies ``e_form`` (eV/atom) at fractions ``x`` of the
    second element of a binary, with the pure elements at (0, 0) and (1, 0) always included.

    Duplicated points and points on a tie line lie on the hull (``e_above_hull`` 0, listed in
    ``stable``), but only the corners of the hull are ``vertices``; distances up to ``tol``
    eV/atom count as on the hull. Returns a :class:`ConvexHull`. Raises PolymlpLabError for
    lengths that differ, non-finite values or x outside [0, 1].
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    e = np.asarray(e_form, dtype=float).reshape(-1)
    if x.shape != e.shape:
        raise PolymlpLabError(f"x and e_form differ in length ({len(x)} and {len(e)})")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(e))):
        raise PolymlpLabError("x and e_form must be finite")
    if np.any((x < 0) | (x > 1)):
        raise PolymlpLabError(f"compositions must lie in [0, 1], got {x[(x < 0) | (x > 1)].tolist()}")

    px = np.concatenate([x, [0.0, 1.0]])  # the pure elements, at formation energy 0
    pe = np.concatenate([e, [0.0, 0.0]])
    hull = lower_hull(px, pe)
    hull_x, hull_e = px[hull], pe[hull]

    above = e - np.interp(x, hull_x, hull_e)
    above[above <= tol] = 0.0
    corner = {(hx, he) for hx, he in zip(hull_x.tolist(), hull_e.tolist())}
    vertices = [i for i in range(len(x)) if (x[i], e[i]) in corner]
    return ConvexHull(e_above_hull=above, stable=[int(i) for i in np.flatnonzero(above == 0.0)],
                      vertices=vertices, hull_x=hull_x, hull_e=hull_e)

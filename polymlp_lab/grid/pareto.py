"""Pareto-optimal models in cost against error (both minimised), and the lower convex hull.

The selection of Seko and Wakai's Repository paper: models no other model beats on both cost and error, and the
vertices of the lower convex hull of (log10 cost, error) among them (pypolymlp keeps the
hull vertices only, which can miss Pareto-optimal models lying above a hull chord).
"""

import numpy as np

from ..properties.hull import lower_hull


def pareto_mask(cost, error) -> np.ndarray:
    """True for the non-dominated points: no other point has cost <= and error <= with one
    strictly smaller. NaN points are never optimal (and dominate nothing)."""
    cost = np.asarray(cost, dtype=float)
    error = np.asarray(error, dtype=float)
    valid = np.isfinite(cost) & np.isfinite(error)
    mask = np.zeros(len(cost), dtype=bool)
    best = np.inf  # the lowest error at a lower cost
    for value in np.unique(cost[valid]):
        # of the points of one cost, only those with the lowest error can be optimal
        same = np.flatnonzero(valid & (cost == value))
        lowest = error[same].min()
        if lowest < best:
            mask[same[error[same] == lowest]] = True
            best = lowest
    return mask


def lower_convex_hull_mask(cost, error, *, log_cost: bool = True) -> np.ndarray:
    """True for the vertices of the lower-left convex hull of (log10 cost, error): the
    Pareto-optimal points that no straight line between two others lies below."""
    cost = np.asarray(cost, dtype=float)
    error = np.asarray(error, dtype=float)
    optimal = np.flatnonzero(pareto_mask(cost, error))
    # identical models share one hull vertex (and its flag)
    points, group = np.unique(np.column_stack([cost[optimal], error[optimal]]), axis=0,
                              return_inverse=True)
    group = np.asarray(group).reshape(-1)
    x = np.log10(points[:, 0]) if log_cost else points[:, 0]
    hull = lower_hull(x, points[:, 1])
    mask = np.zeros(len(cost), dtype=bool)
    mask[optimal[np.isin(group, hull)]] = True
    return mask

"""Candidate models of a grid search, enumerated by pypolymlp's model generator rules.

Defaults follow ``pypolymlp-utils --generate_models``: cutoffs round([5.5, 7.5] x atomic size)
floored at 6 and 8 Å; n_gaussians = rint((cutoff + 1) r) for r in 1, 1.25, 1.5; pair models
(model_type 2, max_p 2 and 3); gtinv models (max_p 2) for every non-increasing max_l list of
orders 2..4 drawn from [4, 8, 12], [4, 8], [2], model_type 2 only with order 3 and max_l[1] <= 5.
For Cu this gives pypolymlp's 186 models. Every keyword narrows or widens one axis.
"""

import itertools
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import UnknownElementError


@dataclass(frozen=True)
class ModelSpec:
    """One candidate model. cutoff in Å; n_gaussians radial functions (pypolymlp's rule)."""

    feature_type: str
    cutoff: float
    n_gaussians: int
    model_type: int
    max_p: int
    gtinv_order: int = 0
    gtinv_maxl: tuple = ()

    @property
    def name(self) -> str:
        """A stable, readable directory name, e.g. ``gtinv-c6-g7-m3-p2-o3-l8_4``."""
        base = f"{self.feature_type}-c{self.cutoff:g}-g{self.n_gaussians}-m{self.model_type}-p{self.max_p}"
        if self.feature_type == "gtinv":
            base += f"-o{self.gtinv_order}-l{'_'.join(str(v) for v in self.gtinv_maxl)}"
        return base

    def params(self, elements):
        """pypolymlp's ``PolymlpParamsSingle`` of this model for ``elements``."""
        from ..models import model_params

        choices = dict(cutoff=self.cutoff, model_type=self.model_type, max_p=self.max_p,
                       feature_type=self.feature_type, n_gaussians=self.n_gaussians)
        if self.feature_type == "gtinv":
            choices.update(gtinv_order=self.gtinv_order, gtinv_maxl=tuple(self.gtinv_maxl))
        return model_params(tuple(elements), **choices)

    def as_row(self) -> dict:
        row = asdict(self)
        row["gtinv_maxl"] = " ".join(str(v) for v in self.gtinv_maxl)
        return {"name": self.name, **row}


def default_cutoffs(elements) -> tuple:
    """pypolymlp's automatic cutoffs (Å) from the largest atomic size of the elements."""
    from pypolymlp.core.utils import get_atomic_size_scales

    sizes = get_atomic_size_scales()
    unknown = [e for e in elements if e not in sizes]
    if unknown:
        raise UnknownElementError(unknown[0], sorted(sizes))
    largest = max(sizes[e] for e in elements)
    cutoffs = np.maximum(np.round(np.array([5.5, 7.5]) * largest), [6.0, 8.0])
    return tuple(float(c) for c in np.unique(cutoffs))


def gtinv_maxl_lists(order_max: int = 4, maxl_max=(12, 8, 2, 1, 1), maxl_step=(4, 4, 2, 1, 1)):
    """Non-increasing max_l lists for invariant orders 2..order_max (pypolymlp's rule)."""
    # pypolymlp's steps (4, 4, 2, ...); a bound narrowed below its step keeps the bound itself
    choices = [list(range(step, top + 1, step)) or ([top] if top > 0 else [])
               for top, step in zip(maxl_max, maxl_step)]
    lists = []
    for order in range(2, order_max + 1):
        for combo in itertools.product(*choices[: order - 1]):
            if all(a >= b for a, b in zip(combo, combo[1:])):
                lists.append(tuple(combo))
    return lists


def enumerate_models(
    elements: Sequence[str], *, cutoffs: Optional[Sequence[float]] = None,
    n_gaussians: Optional[Sequence[int]] = None, gaussian_ratios=(1.0, 1.25, 1.5),
    feature_types=("pair", "gtinv"), model_types=(2, 3, 4), pair_max_ps=(2, 3),
    gtinv_order_max: int = 4, gtinv_maxl_max=(12, 8, 2, 1, 1), gtinv_maxl_step=(4, 4, 2, 1, 1),
    max_features: Optional[int] = None,
) -> list:
    """Candidate ModelSpecs for ``elements``, in pypolymlp's order (pair models, then gtinv).

    ``n_gaussians`` fixes the counts for every cutoff; otherwise rint((cutoff + 1) r) for each
    ratio r. ``max_features`` drops models with more coefficients (counted by pypolymlp).
    """
    cutoffs = tuple(cutoffs) if cutoffs else default_cutoffs(elements)
    radial = []
    for cutoff in cutoffs:
        counts = n_gaussians or [int(np.rint((cutoff + 1.0) * r)) for r in gaussian_ratios]
        radial += [(float(cutoff), int(n)) for n in counts]
    models = []
    if "pair" in feature_types:
        pair_types = [2] if "gtinv" in feature_types else [m for m in model_types if m < 3]
        for (cutoff, n), model_type, max_p in itertools.product(radial, pair_types, pair_max_ps):
            models.append(ModelSpec("pair", cutoff, n, model_type, max_p))
    if "gtinv" in feature_types:
        lists = gtinv_maxl_lists(gtinv_order_max, gtinv_maxl_max, gtinv_maxl_step)
        for cutoff, n in radial:
            for model_type, maxl in itertools.product(model_types, lists):
                if model_type == 2 and (len(maxl) != 2 or maxl[1] > 5):
                    continue
                models.append(ModelSpec("gtinv", cutoff, n, model_type, 2, len(maxl) + 1, maxl))
    if max_features is not None:
        from ..models import n_features

        models = [m for m in models if n_features(m.params(elements)) <= max_features]
    return models

"""Model parameters (pypolymlp's PolymlpParamsSingle) made from keyword choices."""

import math
from typing import Optional

from .errors import PolymlpLabError


class ModelChoiceError(PolymlpLabError):
    """A model choice pypolymlp cannot build (checked before pypolymlp sees it)."""


def check_model_choices(elements, *, cutoff, model_type, max_p, feature_type, n_gaussians,
                        gtinv_order, gtinv_maxl) -> None:
    """Raise ModelChoiceError naming the first impossible choice.

    pypolymlp itself answers some of these with an IndexError or an assertion, and pair
    features with model_type 3 or 4 with ``exit()`` of the whole process.
    """
    from ase.data import atomic_numbers

    elements = tuple(elements)
    if not elements:
        raise ModelChoiceError("a model needs at least one element")
    for element in elements:
        if element not in atomic_numbers or element == "X":
            raise ModelChoiceError(f"'{element}' is not a chemical element")
    repeated = sorted({e for e in elements if elements.count(e) > 1})
    if repeated:
        raise ModelChoiceError(f"element(s) {', '.join(repeated)} given more than once")
    if not (isinstance(cutoff, (int, float)) and math.isfinite(cutoff) and cutoff > 0):
        raise ModelChoiceError(f"cutoff must be a positive number of Å, not {cutoff!r}")
    if feature_type not in ("pair", "gtinv"):
        raise ModelChoiceError(f"feature_type must be 'pair' or 'gtinv', not {feature_type!r}")
    if model_type not in (1, 2, 3, 4):
        raise ModelChoiceError(f"model_type must be 1, 2, 3 or 4, not {model_type!r}")
    if feature_type == "pair" and model_type > 2:
        raise ModelChoiceError(f"pair features allow model_type 1 or 2, not {model_type}")
    if max_p not in (1, 2, 3):
        raise ModelChoiceError(f"max_p must be 1, 2 or 3, not {max_p!r}")
    if n_gaussians is not None and not (isinstance(n_gaussians, int) and n_gaussians >= 3):
        raise ModelChoiceError(f"n_gaussians must be a whole number >= 3, not {n_gaussians!r}")
    if feature_type == "gtinv":
        if not (isinstance(gtinv_order, int) and 2 <= gtinv_order):
            raise ModelChoiceError(f"gtinv_order must be a whole number >= 2, not {gtinv_order!r}")
        maxl = tuple(gtinv_maxl)
        if len(maxl) < gtinv_order - 1:
            raise ModelChoiceError(
                f"gtinv_maxl needs one max l per order 2..{gtinv_order} "
                f"({gtinv_order - 1} values), got {len(maxl)}: {maxl}"
            )
        if any(not isinstance(l, int) or l < 0 for l in maxl):
            raise ModelChoiceError(f"gtinv_maxl values must be whole numbers >= 0, not {maxl}")


def model_params(
    elements, *, cutoff: float = 6.0, model_type: int = 4, max_p: int = 2,
    feature_type: str = "gtinv", n_gaussians: Optional[int] = None,
    gaussian_params1: tuple = (1.0, 1.0, 1), gaussian_params2: tuple = (0.0, 5.0, 7),
    gtinv_order: int = 3, gtinv_maxl: tuple = (4, 4), gtinv_version: int = 1,
    distance: Optional[dict] = None,
):
    """A pypolymlp ``PolymlpParamsSingle`` for a polynomial MLP model.

    cutoff in Å; Gaussians exp(-beta (r - r0)^2) with beta from ``gaussian_params1`` and
    r0 [Å] from ``gaussian_params2`` (each ``(start, stop, count)`` for np.linspace), or
    ``n_gaussians`` spread over the cutoff. ``distance`` maps element pairs to typical
    distances (Å) to keep only the Gaussians near them for that pair, as pypolymlp does.
    """
    from pypolymlp.core.params_utils import set_all_params

    check_model_choices(elements, cutoff=cutoff, model_type=model_type, max_p=max_p,
                        feature_type=feature_type, n_gaussians=n_gaussians,
                        gtinv_order=gtinv_order, gtinv_maxl=gtinv_maxl)
    return set_all_params(
        elements=tuple(elements), cutoff=cutoff, model_type=model_type, max_p=max_p,
        feature_type=feature_type, gaussian_params1=gaussian_params1,
        gaussian_params2=gaussian_params2, n_gaussians=n_gaussians, distance=distance,
        gtinv_order=gtinv_order, gtinv_maxl=tuple(gtinv_maxl), gtinv_version=gtinv_version,
    )


def feature_lists(params) -> tuple:
    """pypolymlp's enumeration of a model's features: (linear, polynomial), in its order."""
    from pypolymlp.mlp_dev.core.features_attr import get_features_attr

    linear, polynomial, _ = get_features_attr(params)
    return linear, polynomial


def n_features(params, features=None) -> int:
    """Number of features (= coefficients) of a model, in pypolymlp's enumeration.

    ``features``: its :func:`feature_lists` when already made (seconds for large models).
    """
    linear, polynomial = features if features is not None else feature_lists(params)
    return len(linear) + len(polynomial)

"""Model parameters (pypolymlp's PolymlpParamsSingle) made from keyword choices."""

from typing import Optional


def model_params(
    elements,
    *,
    cutoff: float = 6.0,
    model_type: int = 4,
    max_p: int = 2,
    feature_type: str = "gtinv",
    n_gaussians: Optional[int] = None,
    gaussian_params1: tuple = (1.0, 1.0, 1),
    gaussian_params2: tuple = (0.0, 5.0, 7),
    gtinv_order: int = 3,
    gtinv_maxl: tuple = (4, 4),
    gtinv_version: int = 1,
    distance: Optional[dict] = None,
):
    """A pypolymlp ``PolymlpParamsSingle`` for a polynomial MLP model.

    cutoff in Å; Gaussians exp(-beta (r - r0)^2) with beta from ``gaussian_params1`` and
    r0 [Å] from ``gaussian_params2`` (each ``(start, stop, count)`` for np.linspace), or
    ``n_gaussians`` spread over the cutoff. ``distance`` maps element pairs to typical
    distances (Å) to keep only the Gaussians near them for that pair, as pypolymlp does.
    """
    from pypolymlp.core.params_utils import set_all_params

    return set_all_params(
        elements=tuple(elements),
        cutoff=cutoff,
        model_type=model_type,
        max_p=max_p,
        feature_type=feature_type,
        gaussian_params1=gaussian_params1,
        gaussian_params2=gaussian_params2,
        n_gaussians=n_gaussians,
        distance=distance,
        gtinv_order=gtinv_order,
        gtinv_maxl=tuple(gtinv_maxl),
        gtinv_version=gtinv_version,
    )


def n_features(params) -> int:
    """Number of features (= coefficients) of a model, in pypolymlp's enumeration."""
    from pypolymlp.mlp_dev.core.features_attr import get_features_attr

    linear, polynomial, _ = get_features_attr(params)
    return len(linear) + len(polynomial)

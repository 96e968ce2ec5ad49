"""Impossible model choices are refused with a message before pypolymlp sees them (it would
raise an IndexError or an assertion, or exit the whole process for pair + model_type 3/4)."""

import pytest

from polymlp_lab.models import ModelChoiceError, model_params, n_features


@pytest.mark.parametrize(
    "elements, choices, message",
    [
        ((), {}, "at least one element"),
        (("Xx",), {}, "'Xx' is not a chemical element"),
        (("Al", "Al"), {}, "Al given more than once"),
        (("Al",), {"cutoff": 0.0}, "cutoff must be a positive number"),
        (("Al",), {"cutoff": float("nan")}, "cutoff must be a positive number"),
        (("Al",), {"feature_type": "pair", "model_type": 3}, "pair features allow model_type 1 or 2"),
        (("Al",), {"model_type": 5}, "model_type must be 1, 2, 3 or 4"),
        (("Al",), {"max_p": 4}, "max_p must be 1, 2 or 3"),
        (("Al",), {"n_gaussians": 2}, "n_gaussians must be a whole number >= 3"),
        (("Al",), {"feature_type": "graph"}, "feature_type must be 'pair' or 'gtinv'"),
        (("Al",), {"gtinv_order": 3, "gtinv_maxl": (4,)}, "one max l per order 2..3"),
        (("Al",), {"gtinv_maxl": (4, -1)}, "whole numbers >= 0"),
    ],
)
def test_impossible_choices_are_named(elements, choices, message):
    with pytest.raises(ModelChoiceError, match=message):
        model_params(elements, **choices)


def test_the_smallest_valid_choices_build():
    """The limits themselves are accepted: 3 Gaussians, pair with model_type 2, order 2."""
    assert n_features(model_params(("Al",), n_gaussians=3, gtinv_order=2, gtinv_maxl=(4,))) > 0
    assert n_features(model_params(("Al", "Cu"), feature_type="pair", model_type=2)) > 0

"""Random-coefficient models across the model space, against pypolymlp's own calculator.

Every choice a user can make (feature type, model_type 1-4, max_p 1-3, invariant orders 1-6,
gtinv versions 1 and 2, one to three elements, type-pair dependent radial functions) is
evaluated by our engine and by pypolymlp on the same random structure. Runs anywhere.
"""

import numpy as np
import pytest

from conftest import random_potential
from test_properties import random_crystal

MODELS = {
    "pair-mt1": (("Al",), dict(feature_type="pair", model_type=1, max_p=1)),
    "pair-mt2-p3": (("Al", "Cu"), dict(feature_type="pair", model_type=2, max_p=3)),
    "o2-mt1": (("Ti",), dict(model_type=1, max_p=1, gtinv_order=2, gtinv_maxl=(6,))),
    "o3-mt2-p2": (("Ti",), dict(model_type=2, max_p=2, gtinv_order=3, gtinv_maxl=(4, 2))),
    "o3-mt3-p3": (("Mg", "O"), dict(model_type=3, max_p=3, gtinv_order=3, gtinv_maxl=(4, 4))),
    "o4-mt4-p2": (("Si",), dict(model_type=4, max_p=2, gtinv_order=4, gtinv_maxl=(4, 4, 2))),
    "o5-mt2": (("Al",), dict(model_type=2, max_p=2, gtinv_order=5, gtinv_maxl=(4, 2, 2, 2))),
    "o6-mt4": (("Al",), dict(model_type=4, max_p=2, gtinv_order=6, gtinv_maxl=(2, 2, 2, 1, 1))),
    "v2-o3": (("Cu",), dict(gtinv_order=3, gtinv_maxl=(4, 4), gtinv_version=2)),
    "v2-o4-binary": (("Ti", "Al"), dict(gtinv_order=4, gtinv_maxl=(4, 2, 2), gtinv_version=2)),
    "ternary-o3": (("Sr", "Ti", "O"), dict(model_type=4, gtinv_order=3, gtinv_maxl=(4, 2))),
    "conditional-radial": (
        ("Mg", "O"),
        dict(model_type=4, gtinv_order=3, gtinv_maxl=(4, 2),
             distance={("Mg", "O"): [2.1], ("Mg", "Mg"): [3.0, 4.2], ("O", "O"): [2.9]}),
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_random_model_equals_pypolymlp(name):
    from pypolymlp.calculator.properties import Properties
    from pypolymlp.calculator.utils.ase_utils import ase_atoms_to_structure
    from pypolymlp.core.params import PolymlpParams

    elements, choices = MODELS[name]
    potential = random_potential(elements, seed=len(name), **choices)
    component = potential.components[0]
    symbols = [elements[i % len(elements)] for i in range(5)]
    atoms = random_crystal(symbols, seed=len(name) + 1)
    ours = potential.evaluate(atoms)
    reference = Properties(params=PolymlpParams(component.params), coeffs=[component.coeffs])
    energy, forces, stress = reference.eval(ase_atoms_to_structure(atoms))
    xx, yy, zz, xy, yz, zx = -np.asarray(stress) / atoms.get_volume()
    scale = max(1.0, abs(energy))
    assert abs(ours.energy - energy) < 1e-9 * scale
    np.testing.assert_allclose(ours.forces, np.asarray(forces).T, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(ours.stress, [xx, yy, zz, yz, zx, xy], rtol=0, atol=1e-9 * scale)
    assert np.abs(ours.forces).max() > 1e-6  # a structure with zero forces would prove little

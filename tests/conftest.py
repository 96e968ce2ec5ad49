"""Shared fixtures: the conformance data of ../shared and small self-made potentials."""

import os
from pathlib import Path

import numpy as np
import pytest

from polymlp_lab import Potential
from polymlp_lab.models import model_params, n_features

SHARED = Path(
    os.environ.get(
        "POLYMLP_LAB_SHARED", Path(__file__).resolve().parents[1].parent / "shared"
    )
) / "conformance"

CONFORMANCE_POTENTIALS = {
    "fcc-Al": "polymlp.yaml",
    "diamond-Si": "polymlp.yaml",
    "bcc-Ti": "polymlp.yaml",
    "rocksalt-MgO": "polymlp.yaml",
    "Ti-legacy": "polymlp.lammps",
}


def displaced(atoms, atom: int, axis: int, h: float, calc=None) -> tuple:
    """Copies of ``atoms`` with ``atom`` moved by +h and -h (Å) along ``axis``, each given
    ``calc``: the two points of a central finite difference of the energy."""
    pair = []
    for sign in (1, -1):
        moved = atoms.copy()
        moved.positions[atom, axis] += sign * h
        moved.calc = calc
        pair.append(moved)
    return tuple(pair)


def conformance_dir(name: str) -> Path:
    """Directory of a shared conformance potential, or skip the test with the reason."""
    path = SHARED / "potentials" / name
    if not (path / CONFORMANCE_POTENTIALS[name]).is_file():
        pytest.skip(f"conformance data absent: {path} (set POLYMLP_LAB_SHARED)")
    return path


def random_potential(elements, seed=0, scale=1e-2, **choices) -> Potential:
    """A small potential with random coefficients (for property tests, not physics)."""
    defaults = dict(cutoff=5.0, gtinv_order=3, gtinv_maxl=(4, 2), gaussian_params2=(0.0, 4.0, 5))
    defaults.update(choices)
    params = model_params(elements, **defaults)
    coeffs = np.random.default_rng(seed).normal(scale=scale, size=n_features(params))
    return Potential.from_params(params, coeffs)


@pytest.fixture(scope="session")
def al_potential():
    """One element, gtinv order 3, model_type 4, max_p 2."""
    return random_potential(("Al",), seed=1)


@pytest.fixture(scope="session")
def mgo_potential():
    """Two elements with type-pair dependent radial functions, model_type 2, max_p 3."""
    return random_potential(
        ("Mg", "O"), seed=2, model_type=2, max_p=3, gtinv_order=2, gtinv_maxl=(4,),
        distance={("Mg", "O"): [2.1, 3.0], ("Mg", "Mg"): [3.0], ("O", "O"): [3.0]},
        scale=1e-2,
    )

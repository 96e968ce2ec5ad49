"""Every result dataclass turns into JSON-ready data with ``as_dict`` (no NaN, no arrays)."""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from polymlp_lab import PolymlpCalculator, data, load_potential
from polymlp_lab.properties.mechanics import relax
from polymlp_lab.simulations import grain_boundary as gb
from polymlp_lab.simulations.md import run_md


def as_json(result) -> dict:
    """as_dict() of ``result`` through a strict JSON round trip."""
    return json.loads(json.dumps(result.as_dict(), allow_nan=False))


@pytest.fixture(scope="module")
def al():
    return load_potential(data.potential("Al"))


def test_evaluation_as_dict_keeps_the_numbers_and_converts_units(al):
    atoms = bulk("Al", "fcc", a=4.0, cubic=True)
    atoms.rattle(0.05, seed=1)
    result = al.evaluate(atoms)
    values = as_json(result)
    assert values["energy_eV"] == result.energy
    np.testing.assert_array_equal(values["forces_eV_per_A"], result.forces)
    np.testing.assert_allclose(values["stress_GPa"], result.stress * 160.21766208, rtol=1e-9)
    energy_only = al.evaluate(bulk("Al", "fcc", a=4.0) * (2, 2, 2), forces=False)
    assert as_json(energy_only)["forces_eV_per_A"] is None


def test_relax_result_as_dict(al):
    result = relax(bulk("Al", "fcc", a=4.2), PolymlpCalculator(al), fmax=1e-3)
    values = as_json(result)
    assert values["converged"] is True and values["formula"] == "Al"
    assert values["energy_per_atom_eV"] == result.energy_per_atom
    np.testing.assert_array_equal(values["cell_A"], result.atoms.cell.array)


def test_md_result_as_dict_is_what_md_json_holds(al, tmp_path):
    result = run_md(bulk("Al", "fcc", a=4.05, cubic=True), PolymlpCalculator(al), steps=4,
                    interval=2, temperature_K=300, out=tmp_path, progress=False)
    values = as_json(result)
    assert values == json.loads((tmp_path / "md.json").read_text())
    assert values["records"]["step"] == [0, 2, 4]


def test_grain_boundary_result_as_dict():
    cu = gb.bulk_reference("Cu", 3.6, EMT())
    result = gb.search_boundary("Cu", cu.a, EMT(), (1, 1, 1), reference=cu, grid=(1, 1),
                                expansions=(0.0,), steps=50, min_thickness=8.0, progress=False)
    values = as_json(result)
    assert values["label"] == result.label == "Σ3(111)"
    assert values["energy_mJ_m2"] == result.energy_mJ_m2
    assert len(values["trials"]) == len(result.trials) == 1
    assert values["trials"][0]["translation"] == list(result.trials[0].translation)

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


# --- the results of the property, fitting and cost functions -----------------------------

def assert_same(value, expected, where="value"):
    """``value`` (from JSON) holds what ``expected`` (a result attribute) holds: NaN as None,
    arrays and tuples as lists, mappings key by key."""
    if isinstance(expected, dict):
        assert isinstance(value, dict) and set(value) == {str(k) for k in expected}, where
        for key, item in expected.items():
            assert_same(value[str(key)], item, f"{where}[{key!r}]")
    elif isinstance(expected, (np.ndarray, list, tuple)):
        assert isinstance(value, list) and len(value) == len(expected), where
        for k, item in enumerate(expected):
            assert_same(value[k], item, f"{where}[{k}]")
    elif isinstance(expected, (float, np.floating)) and np.isnan(expected):
        assert value is None, where
    else:
        assert type(value) is type(expected.item() if isinstance(expected, np.generic) else expected), where
        assert value == expected, where


def assert_fields_as_json(result, skip=()) -> dict:
    """as_dict() of the dataclass ``result`` through a strict JSON round trip holds every
    field (but ``skip``) with its value."""
    import dataclasses

    values = as_json(result)
    names = [f.name for f in dataclasses.fields(result) if f.name not in skip]
    assert list(values) == names
    for name in names:
        assert_same(values[name], getattr(result, name), name)
    return values


@pytest.fixture(scope="module")
def cu():
    return relax(bulk("Cu", "fcc", a=3.6), EMT(), fmax=1e-5).atoms


def test_equation_of_state_result_as_dict(cu):
    from polymlp_lab.properties.mechanics import equation_of_state

    result = equation_of_state(cu, EMT(), strains=np.linspace(-0.04, 0.04, 5), eos="sj")
    assert isinstance(result.volumes, np.ndarray) and np.isnan(result.b0_prime)  # "sj": no B0'
    values = assert_fields_as_json(result)
    assert values["b0_prime"] is None and values["eos"] == "sj" and len(values["volumes"]) == 5


def test_lattice_constants_as_dict():
    from polymlp_lab.properties.mechanics import lattice_constants

    result = lattice_constants(bulk("Al", "fcc", a=4.05))
    values = assert_fields_as_json(result)
    assert values["a"] == pytest.approx(4.05) and values["number"] == 225
    assert values["spacegroup"] == "Fm-3m" and values["n_atoms"] == 4


def test_elastic_constants_as_dict(cu):
    from polymlp_lab.properties.mechanics import elastic_constants

    result = elastic_constants(cu, EMT(), relax_ions=False)
    values = assert_fields_as_json(result)
    assert np.array(values["C"]).shape == (6, 6) and values["stable"] is True
    assert values["bulk_hill"] == result.bulk_hill > 0 and len(values["residual_stress"]) == 6


def test_phonon_result_as_dict(cu):
    from polymlp_lab.properties.phonons import phonon_properties

    result = phonon_properties(cu, EMT(), supercell=(2, 2, 2), mesh=(4, 4, 4), band_path="GX",
                               band_npoints=6)
    values = assert_fields_as_json(result)
    assert values["mesh"] == [4, 4, 4] and values["supercell"] == (2 * np.eye(3)).astype(int).tolist()
    assert values["band"]["labels"][0] == [0.0, "G"] and values["band"]["path"] == "GX"
    assert values["imaginary"] is False and values["n_atoms_primitive"] == 1


def test_convex_hull_as_dict():
    from polymlp_lab.properties.hull import convex_hull

    result = convex_hull([0.25, 0.5, 0.75], [-0.1, -0.3, 0.05])
    values = assert_fields_as_json(result)
    assert values["stable"] == [1] and values["vertices"] == [1]
    assert values["hull_x"] == [0.0, 0.5, 1.0] and values["e_above_hull"][1] == 0.0


def test_dataset_errors_as_dict(al):
    from ase.calculators.singlepoint import SinglePointCalculator

    from polymlp_lab.fitting import Dataset, dataset_errors

    structures = []
    for seed in (1, 2):
        atoms = bulk("Al", "fcc", a=4.05, cubic=True)
        atoms.rattle(0.05, seed=seed)
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)  # no stress
        structures.append(atoms)
    result = dataset_errors(al, Dataset("rattled", structures), {"Al": 0.0}, "test")
    assert result.rmse_stress is None and result.rmse_stress_gpa is None
    values = assert_fields_as_json(result)
    assert values["rmse_energy"] == result.rmse_energy > 0 and values["kind"] == "test"
    assert values["parity"]["stress_GPa"] == [[], []]
    assert len(values["parity"]["force_eV_per_A"][0]) == 2 * 4 * 3
    assert values["sources"] == ["rattled[0]", "rattled[1]"]


def test_cost_measurement_as_dict(al):
    from polymlp_lab.grid import measure_cost

    result = measure_cost(al, supercell=(2, 2, 2), repeats=2, steps=1)
    values = assert_fields_as_json(result)
    assert values["n_atoms"] == 32 and values["repeats"] == 2 and values["threads"] == 1
    assert 0 < values["cost"] <= values["cost_median"] <= values["cost_max"]

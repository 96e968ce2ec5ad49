"""The published data that ship with the lab (polymlp_lab.data): names, exactness, errors.

Every shipped potential is checked against pypolymlp on its own structure (runs anywhere);
where ../shared is present, the shipped files and datasets are checked to equal the
published originals bit for bit.
"""

import filecmp

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

from polymlp_lab import data, load_potential
from polymlp_lab.data import UnknownDataError
from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.quickstart import cubic_srtio3

from conftest import SHARED
from test_conformance import assert_matches_pypolymlp

PACKAGE_POTENTIALS = {"Al": "fcc-Al", "Si": "diamond-Si", "Ti": "bcc-Ti", "MgO": "rocksalt-MgO",
                      "Al-Cu": "Al-Cu"}


def perovskite():
    atoms = cubic_srtio3().repeat((2, 2, 1))
    atoms.rattle(0.04, seed=3)
    atoms.set_cell(atoms.cell.array @ np.array([[1.01, 0.02, 0], [0, 0.99, 0.01], [0, 0, 1.0]]),
                   scale_atoms=True)
    return atoms


def shared_or_skip(*parts):
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"conformance data absent: {path} (set POLYMLP_LAB_SHARED)")
    return path


def test_available_lists_what_the_issue_promises():
    found = data.available()
    assert set(found) == {"potentials", "datasets", "grids", "eam"}
    assert set(found["potentials"]) == {"Al", "Si", "Ti", "MgO", "Al-Cu", "Ti-Al", "SrTiO3"}
    assert found["datasets"] == ["Cu-md", "MgO"]
    assert found["grids"] == ["Ti"]
    assert found["eam"] == ["Zope-Ti-Al-2003"]


@pytest.mark.parametrize("name, elements", [
    ("Al", ("Al",)), ("Si", ("Si",)), ("Ti", ("Ti",)), ("MgO", ("Mg", "O")),
    ("Al-Cu", ("Al", "Cu")), ("Ti-Al", ("Ti", "Al")), ("SrTiO3", ("Sr", "Ti", "O"))])
def test_every_potential_loads_with_its_elements(name, elements):
    assert load_potential(data.potential(name)).elements == elements


@pytest.mark.parametrize("name", ["Al", "Si", "Ti", "MgO"])
def test_shipped_potential_equals_pypolymlp_on_its_published_structure(name):
    atoms = data.structure(name).repeat((2, 2, 2))
    atoms.rattle(0.03, seed=7)
    assert_matches_pypolymlp(str(data.potential(name)), atoms)


def test_al_cu_equals_pypolymlp_on_an_ordered_alloy():
    atoms = bulk("Al", "fcc", a=3.9, cubic=True).repeat((2, 2, 1))
    atoms.symbols[::3] = "Cu"
    atoms.rattle(0.03, seed=8)
    assert_matches_pypolymlp(str(data.potential("Al-Cu")), atoms)


def test_ternary_srtio3_equals_pypolymlp():
    assert_matches_pypolymlp(str(data.potential("SrTiO3")), perovskite())


@pytest.mark.parametrize("poscar", ["POSCAR-TiAl", "POSCAR-Al", "POSCAR-Ti"])
def test_binary_tial_equals_pypolymlp(poscar):
    path = data.potential("Ti-Al")
    atoms = read(path.parent / poscar)
    if len(atoms) < 4:
        atoms = atoms.repeat((2, 2, 2))
    atoms.rattle(0.04, seed=4)
    assert_matches_pypolymlp(str(path), atoms)


def test_tial_on_a_cell_with_one_species_missing_from_the_structure():
    atoms = bulk("Al", "fcc", a=4.04).repeat((2, 1, 1))
    atoms.rattle(0.02, seed=5)
    assert_matches_pypolymlp(str(data.potential("Ti-Al")), atoms)


@pytest.mark.parametrize("name", sorted(PACKAGE_POTENTIALS))
def test_shipped_potential_files_are_the_published_ones(name):
    path = data.potential(name)
    original = shared_or_skip("potentials", PACKAGE_POTENTIALS[name], path.name)
    assert filecmp.cmp(path, original, shallow=False)


def test_mgo_dataset_is_complete_and_physical():
    mgo = data.dataset("MgO")
    assert len(mgo) == 1000
    assert {len(a) for a in mgo.structures} == {64}
    assert set(mgo.structures[0].get_chemical_symbols()) == {"Mg", "O"}
    energies = np.array([a.get_potential_energy() / len(a) for a in mgo.structures])
    # VASP PBE: the lowest, near equilibrium rocksalt MgO, about -5.95 eV/atom
    assert np.all(np.isfinite(energies)) and -6.1 < energies.min() < -5.8
    forces = mgo.structures[17].get_forces()
    assert forces.shape == (64, 3) and abs(forces.sum(axis=0)).max() < 1e-2
    assert mgo.structures[17].get_stress().shape == (6,)
    assert mgo.sources[0] == "MgO:dataset/vasprun-00001.xml.polymlp"
    assert data.atomic_energy("MgO") == {"Mg": -0.0004, "O": -1.85321219}


def test_dataset_subset_by_indices():
    whole = data.dataset("Cu-md")
    part = data.dataset("Cu-md", indices=range(0, len(whole), 10))
    assert len(part) == len(range(0, len(whole), 10))
    np.testing.assert_array_equal(part.structures[2].positions, whole.structures[20].positions)
    assert part.sources[2] == whole.sources[20]


@pytest.mark.parametrize("name, folder, pattern", [
    ("MgO", "MgO", "dataset/vasprun-*.xml.polymlp"), ("Cu-md", "Cu-md", "vasprun.xml")])
def test_shipped_dataset_equals_read_dataset_of_the_published_files(name, folder, pattern):
    from polymlp_lab.fitting import read_dataset

    original = read_dataset(str(shared_or_skip("datasets", folder) / pattern))
    shipped = data.dataset(name)
    assert len(shipped) == len(original)
    for ours, theirs in zip(shipped.structures, original.structures):
        assert ours.get_chemical_symbols() == theirs.get_chemical_symbols()
        np.testing.assert_array_equal(ours.cell.array, theirs.cell.array)
        np.testing.assert_array_equal(ours.positions, theirs.positions)
        for key in ("energy", "forces", "stress"):
            np.testing.assert_array_equal(ours.calc.results[key], theirs.calc.results[key])
    assert [s.split(":", 1)[1] for s in shipped.sources] == [
        s.split(str(SHARED / "datasets" / folder) + "/", 1)[1] for s in original.sources]


def test_ti_grid_has_every_model_with_errors_and_cost():
    import yaml

    folder = data.grid("Ti")
    models = sorted(p for p in folder.iterdir() if p.is_dir())
    assert len(models) == 286  # 285 models and polymlp-empty (cost only)
    with_errors = [p for p in models if (p / "polymlp_error.yaml").is_file()]
    assert len(with_errors) == 285
    errors = yaml.safe_load((with_errors[0] / "polymlp_error.yaml").read_text())
    assert len(errors["prediction_errors"]) == 13
    assert all((p / "polymlp_cost.yaml").is_file() for p in models)


def test_ti_grid_equals_the_published_one():
    original = shared_or_skip("grids", "Ti")
    comparison = filecmp.dircmp(data.grid("Ti"), original)
    assert comparison.left_only == comparison.right_only == []
    for name in comparison.common_dirs:
        sub = comparison.subdirs[name]
        assert sub.left_only == sub.right_only == [] and not sub.diff_files


def test_zope_eam_is_readable_by_ase_with_ti_and_al():
    from ase.calculators.eam import EAM

    calc = EAM(potential=str(data.eam("Zope-Ti-Al-2003")))
    assert list(calc.elements) == ["Ti", "Al"]


@pytest.mark.parametrize("function, kind", [
    (data.potential, "potential"), (data.dataset, "dataset"), (data.grid, "grid"),
    (data.eam, "EAM potential"), (data.structure, "structure"), (data.atomic_energy, "dataset")])
def test_unknown_name_is_a_typed_error_listing_what_exists(function, kind):
    with pytest.raises(UnknownDataError, match=f"no {kind} named 'Zr'.*it has: ") as info:
        function("Zr")
    assert isinstance(info.value, PolymlpLabError) and isinstance(info.value, KeyError)
    assert info.value.known and "Zr" not in info.value.known


def test_structure_of_a_potential_published_without_one_is_refused():
    with pytest.raises(UnknownDataError, match="'Al-Cu'"):
        data.structure("Al-Cu")


def test_package_data_is_small_and_carries_its_licences():
    from importlib import resources
    from pathlib import Path

    root = Path(str(resources.files("polymlp_lab.data")))
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()
                and "__pycache__" not in p.parts)
    assert total < 10e6
    for licence in ("LICENSE.pypolymlp", "LICENSE.rsspolymlp"):
        assert "Copyright" in (root / licence).read_text()
    readme = (root / "README.md").read_text()
    for name in ("Al", "Si", "Ti", "MgO", "Al-Cu", "Cu-md", "SrTiO3", "Ti-Al", "Zope-Ti-Al-2003"):
        assert f"`{name}`" in readme

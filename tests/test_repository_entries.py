"""Kyoto Repository entries as pypolymlp publishes them: the index of their MLPs, the
Repository's predictions, our card beside them, the card command and the RepositoryBrowser.

Entries are made in tmp_path from the Ti–Al potential that ships inside pypolymlp
(calculator/utils/lammps/tests/files/Ti-Al/polymlp.lammps), with pypolymlp's own writers:
``core.io_polymlp.convert_to_yaml`` (the potential as yaml), ``PolymlpErrorBase.write_error_yaml``
(polymlp_error.yaml), ``PolymlpCost._write_single_yaml`` (polymlp_cost.yaml),
``Prototype.save_properties`` (polymlp_predictions.yaml, after pypolymlp's own relaxation and
EOS of each prototype, as ``AutoCalcPrototypes.run`` does them) and
``FormationEnergyData.save_data`` (polymlp_formation_energy.yaml). polymlp_comparison.dat is
written as ``AutoCalcDistribution.compare_with_dft`` writes it (its ``EnergyData`` rows and
its ``np.savetxt`` call), since that method needs DFT vasprun files. pypolymlp's
``PypolymlpRepository`` itself computes every property of ~50 prototypes (elastic constants
through pymatgen, phonons, QHA): far too heavy for a test.
"""

import html
import importlib
import importlib.util
import json
import math
import re
import shutil
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import pypolymlp

from polymlp_lab.cli import main
from polymlp_lab.errors import PolymlpLabError, PotentialFileError
from polymlp_lab.properties import prototypes as protos
from polymlp_lab.properties.card import PropertyCard
from polymlp_lab.properties.repository import (
    EmptyRepositoryError,
    RepositoryError,
    RepositoryFileError,
    index_repository,
    read_comparison,
    read_formation_energies,
    read_predictions,
)
from polymlp_lab.properties.repository_compare import (
    compare_with_repository,
    match_prototype,
    write_repository_comparison,
)

from conftest import random_potential

TI_AL = Path(pypolymlp.__file__).parent / "calculator/utils/lammps/tests/files/Ti-Al/polymlp.lammps"
ELEMENTS = ("Ti", "Al")
# Ours fixed here so that a test can check the numbers read back
ERRORS = {"data/train-Ti-Al": dict(energy=0.0021, force=0.071, stress=None, energy_mae=0.0015,
                                   force_mae=0.05, stress_mae=None),
          "data/test-Ti-Al": dict(energy=0.0034, force=0.083, stress=None, energy_mae=0.0025,
                                  force_mae=0.06, stress_mae=None)}
COST_SINGLE, COST_OPENMP = 0.0734, 0.0052
ELASTIC_AL = np.array([[110.0, 60, 60, 0, 0, 0], [60, 110, 60, 0, 0, 0], [60, 60, 110, 0, 0, 0],
                       [0, 0, 0, 30, 0, 0], [0, 0, 0, 0, 30, 0], [0, 0, 0, 0, 0, 30]])
# DFT and MLP energies (eV/atom) of the comparison file: errors 1, -2, 3, 0 meV/atom
COMPARISON_DFT = np.array([-7.80, -7.65, -5.20, -3.30])
COMPARISON_MLP = COMPARISON_DFT + np.array([0.001, -0.002, 0.003, 0.0])
COMPARISON_ICSD = ["52914", "76156", "652876", "43211"]


@pytest.fixture(scope="module", autouse=True)
def shell():
    """The IPython shell panel outputs format with, made in the main thread."""
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


@pytest.fixture(scope="module")
def auto_distribution():
    """pypolymlp's calculator.auto.autocalc_distribution (EnergyData, FormationEnergyData).
    It imports seaborn for its plots only: a stand-in module while importing when absent."""
    name = "pypolymlp.calculator.auto.autocalc_distribution"
    if importlib.util.find_spec("seaborn") is None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setitem(sys.modules, "seaborn", types.ModuleType("seaborn"))
            return importlib.import_module(name)
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def repository_prototypes():
    """pypolymlp's Prototype objects of a Ti–Al entry, relaxed (cell and positions) and with
    their EOS by pypolymlp's calculator, as AutoCalcPrototypes.run does it (elastic constants
    need pymatgen: fcc_Al gets ELASTIC_AL instead). Names as in a Repository binary entry."""
    from pypolymlp.api.pypolymlp_calc import PypolymlpCalc
    from pypolymlp.calculator.auto.structures_binary import structure_AuCu3_L12_x025
    from pypolymlp.calculator.auto.structures_binary import structure_Ni3Ti_D024_x025
    from pypolymlp.calculator.auto.structures_element import (structure_bcc, structure_fcc,
                                                              structure_Sn_tI2)
    from pypolymlp.core.utils import get_atomic_size_scales

    scales = get_atomic_size_scales()
    const = (scales["Ag"] + scales["Au"]) / 2
    binary_scale = np.average([scales[e] for e in ELEMENTS]) * 1.1 / const
    prototypes = []
    for element in ELEMENTS:  # AutoCalcPrototypes.load_structures: "<name>_<element>"
        for make in (structure_fcc, structure_bcc, structure_Sn_tI2):
            prototype = make((element,), scale=scales[element] * 1.1)
            prototype.name = f"{prototype.name}_{element}"
            prototypes.append(prototype)
    prototypes += [structure_AuCu3_L12_x025(ELEMENTS, binary_scale),
                   structure_Ni3Ti_D024_x025(ELEMENTS, binary_scale)]
    calc = PypolymlpCalc(pot=str(TI_AL))
    done = {}
    for prototype in prototypes:
        calc.structures = prototype.structure
        calc.init_geometry_optimization(relax_cell=True, relax_volume=True)
        energy, _, success = calc.run_geometry_optimization(method="CG")
        assert success, prototype.name
        prototype.structure_eq = calc.converged_structure
        n_atoms = len(prototype.structure_eq.elements)
        prototype.energy = energy / n_atoms
        prototype.volume = prototype.structure_eq.volume / n_atoms
        calc.structures = prototype.structure_eq
        calc.run_eos(eos_fit=True)
        e0, v0, b0 = calc.eos_fit_data
        prototype.set_eos_data(e0, v0, b0, *calc.eos_curve_data)
        done[prototype.name] = prototype
    done["fcc_Al"].elastic_constants = ELASTIC_AL.copy()
    return done


def write_potential(mlp_dir: Path, file_name: str) -> Path:
    """The Ti–Al potential as ``file_name``: legacy text copied, yaml by pypolymlp's writer."""
    from pypolymlp.core.io_polymlp import convert_to_yaml

    mlp_dir.mkdir(parents=True, exist_ok=True)
    target = mlp_dir / file_name
    if "yaml" in file_name:
        assert convert_to_yaml(str(TI_AL), yaml=str(target))
    else:
        shutil.copy(TI_AL, target)
    return target


def write_errors_and_cost(mlp_dir: Path) -> None:
    """polymlp_error.yaml and polymlp_cost.yaml by pypolymlp's own writers."""
    from pypolymlp.mlp_dev.errors.error_base import PolymlpErrorBase
    from pypolymlp.postproc.count_time import PolymlpCost

    PolymlpErrorBase.write_error_yaml(SimpleNamespace(_errors=ERRORS),
                                      filename=str(mlp_dir / "polymlp_error.yaml"))
    PolymlpCost._write_single_yaml(SimpleNamespace(_system="Ti-Al"), COST_SINGLE, COST_OPENMP,
                                   filename=str(mlp_dir / "polymlp_cost.yaml"))


def write_predictions(folder: Path, prototypes: dict, auto_distribution) -> None:
    """predictions/<mlp>/ as pypolymlp writes it (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, prototype in prototypes.items():  # AutoCalcPrototypes.save_properties
        (folder / f"polymlp_{name}").mkdir()
        prototype.save_properties(filename=str(folder / f"polymlp_{name}" / "polymlp_predictions.yaml"))
    (folder / "polymlp_Bi_Ti").mkdir()  # a relaxation that failed: pypolymlp writes no yaml
    (folder / "polymlp_Bi_Ti" / "POSCAR_eq").write_text("")

    names = auto_distribution.AutoCalcDistribution._set_structure_names(
        None, icsd_ids=COMPARISON_ICSD)  # "ICSD-<id>-[<type>]"
    data = auto_distribution.EnergyData(names=names, energies_dft_per_atom=COMPARISON_DFT,
                                        energies_mlp_per_atom=COMPARISON_MLP)
    np.savetxt(folder / "polymlp_comparison.dat", data.get_comparison_data(), fmt="%s",
               header="DFT (eV/atom), MLP (eV/atom), ID")  # as compare_with_dft

    # formation energies: compositions (x_Ti, x_Al) and ΔE (eV/atom); hulls as pypolymlp's
    names = np.array(["fcc-Ti", "ICSD-Ti3Al", "ICSD-TiAl", "ICSD-TiAl-high", "ICSD-TiAl3",
                      "fcc-Al"])
    dft = np.array([[1.0, 0.0, 0.0], [0.75, 0.25, -0.25], [0.5, 0.5, -0.32], [0.5, 0.5, -0.1],
                    [0.25, 0.75, -0.35], [0.0, 1.0, 0.0]])
    mlp = dft.copy()
    mlp[2, 2] += 0.01  # TiAl: -0.31 from the MLP
    hull = [0, 1, 2, 4, 5]
    with np.printoptions(legacy="1.21"):  # as AutoCalcBase sets them before pypolymlp writes
        auto_distribution.FormationEnergyData(names, dft, dft[hull], mlp, mlp[hull]).save_data(
            str(folder / "polymlp_formation_energy.yaml"))


def make_entry(root: Path, prototypes, auto_distribution, *, file_name="polymlp.yaml.Ti-Al",
               mlps=("polymlp-00001",), predictions=True) -> Path:
    """A Repository entry <root>/Ti-Al/ with ``mlps`` (each the Ti–Al potential as
    ``file_name``, with error and cost files) and their predictions."""
    entry = root / "Ti-Al"
    for name in mlps:
        mlp_dir = entry / "polymlps" / name
        write_potential(mlp_dir, file_name)
        write_errors_and_cost(mlp_dir)
        if predictions:
            write_predictions(entry / "predictions" / name, prototypes, auto_distribution)
    (entry / "summary").mkdir(parents=True, exist_ok=True)
    return entry


@pytest.fixture
def entry(tmp_path, repository_prototypes, auto_distribution):
    return make_entry(tmp_path, repository_prototypes, auto_distribution)


# ---------------------------------------------------------------------------------------
# Index


@pytest.mark.parametrize("file_name", ["polymlp.yaml.Ti-Al", "polymlp.yaml", "polymlp.lammps",
                                       "polymlp.lammps.Ti-Al"])
def test_index_of_each_layout(tmp_path, repository_prototypes, auto_distribution, file_name):
    from pypolymlp.core.io_polymlp_legacy import load_mlp_lammps

    params, coeffs = load_mlp_lammps(str(TI_AL))
    mlps = ("polymlp-00002", "polymlp-00001") if "lammps" in file_name else ("polymlp-00001",)
    entry = make_entry(tmp_path, repository_prototypes, auto_distribution, file_name=file_name,
                       mlps=mlps)
    for folder in (entry, entry / "polymlps"):
        rows = index_repository(folder)
        assert [r["name"] for r in rows] == sorted(mlps)
        row = rows[0]
        assert Path(row["path"]).name == file_name and row["paths"] == [row["path"]]
        assert row["elements"] == list(params.elements) == ["Ti", "Al"]
        assert row["cutoff"] == pytest.approx(params.model.cutoff)
        assert row["n_coeffs"] == len(coeffs) and row["n_components"] == 1
        assert (row["feature_type"], row["model_type"], row["max_p"]) == (
            params.model.feature_type, params.model.model_type, params.model.max_p)
        # the test dataset, meV/atom as pypolymlp writes them (energy × 1000)
        assert row["rmse_energy"] == pytest.approx(3.4) and row["mae_energy"] == pytest.approx(2.5)
        assert row["rmse_force"] == pytest.approx(0.083) and row["error_dataset"] == "data/test-Ti-Al"
        assert row["cost"] == pytest.approx(COST_SINGLE)
        assert row["cost_openmp"] == pytest.approx(COST_OPENMP)
        assert row["system"] == "Ti-Al" and row["status"] == "ok"
        assert row["predictions"] == str(entry / "predictions" / "polymlp-00001")
    single = index_repository(entry / "polymlps" / mlps[0])  # one MLP's folder
    assert [r["name"] for r in single] == [mlps[0]]
    assert single[0]["predictions"] == str(entry / "predictions" / mlps[0])


def test_index_of_a_grid_folder_and_the_card_module_reexport(tmp_path):
    from polymlp_lab.properties.card import index_repository as from_card

    folder = tmp_path / "polymlps"
    potential = random_potential(("Al",), seed=1, scale=1e-3)
    for name in ("b", "a"):
        (folder / name).mkdir(parents=True)
        potential.save(folder / name / "polymlp.yaml")
    (folder / "a" / "polymlp_error.yaml").write_text(
        "prediction_errors:\n- dataset: Train_x\n  rmse_energy: 1.0\n- dataset: Test_x\n  rmse_energy: 2.0\n")
    rows = from_card(folder)
    assert rows == index_repository(folder)
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[0]["rmse_energy"] == 2.0 and rows[0]["rmse_force"] is None
    assert rows[0]["predictions"] is None and rows[0]["status"] == "no polymlp_cost.yaml"
    assert rows[1]["status"] == "no polymlp_error.yaml; no polymlp_cost.yaml"


def test_missing_error_and_cost_files_are_listed_with_a_status(entry):
    mlp_dir = entry / "polymlps" / "polymlp-00001"
    (mlp_dir / "polymlp_error.yaml").unlink()
    (mlp_dir / "polymlp_cost.yaml").write_text("system: Ti-Al\ncosts:\n  openmp: 0.01\n")
    [row] = index_repository(entry)
    assert row["rmse_energy"] is None and row["rmse_force"] is None and row["cost"] is None
    assert row["cost_openmp"] == 0.01
    assert row["status"] == "no polymlp_error.yaml; no single_core cost in polymlp_cost.yaml"
    (mlp_dir / "polymlp_cost.yaml").unlink()
    [row] = index_repository(entry)
    assert row["status"] == "no polymlp_error.yaml; no polymlp_cost.yaml"


def test_a_hybrid_is_every_polymlp_yaml_file_as_pypolymlp_finds_them(tmp_path):
    from pypolymlp.core.io_polymlp import find_mlps

    from polymlp_lab.properties.repository import load_row_potential
    from ase.build import bulk

    mlp_dir = tmp_path / "Ti-Al" / "polymlps" / "hybrid"
    write_potential(mlp_dir, "polymlp.lammps.1")
    write_potential(mlp_dir, "polymlp.lammps.2")
    [row] = index_repository(tmp_path / "Ti-Al")
    assert row["paths"] == find_mlps(str(mlp_dir)) and row["n_components"] == 2
    atoms = bulk("Ti", "hcp", a=2.95, c=4.68) * (2, 2, 2)
    single = write_potential(tmp_path / "one", "polymlp.lammps")
    from polymlp_lab import load_potential

    assert load_row_potential(row).evaluate(atoms).energy == pytest.approx(
        2 * load_potential(single).evaluate(atoms).energy, rel=1e-12)


# ---------------------------------------------------------------------------------------
# Predictions


def test_predictions_read_back_as_pypolymlp_wrote_them(entry, repository_prototypes):
    predictions = read_predictions(entry / "predictions" / "polymlp-00001")
    assert set(predictions.prototypes) == set(repository_prototypes)
    for name, written in repository_prototypes.items():
        read = predictions.prototypes[name]
        assert read.energy == pytest.approx(written.energy, abs=1e-12)
        assert read.volume == pytest.approx(written.volume, abs=1e-12)
        assert read.bulk_modulus == pytest.approx(written.bulk_modulus, abs=1e-12)
        assert read.eos_volume == pytest.approx(written.volume_eos_fit, abs=1e-12)
        a, b, c = written.lattice_constants[:3]
        assert [read.lattice[k] for k in "abc"] == pytest.approx([a, b, c], abs=1e-5)
        assert np.allclose(read.eos_points, written.eos_mlp)
        assert read.icsd_id == str(written.icsd_id)
    assert predictions.prototypes["fcc_Al"].elastic == ELASTIC_AL.tolist()
    assert predictions.prototypes["fcc_Ti"].elastic is None
    assert predictions.prototypes["AuCu3(L12)(x=0.25)"].species == {"Ti": 3, "Al": 1}
    assert predictions.prototypes["AuCu3(L12)(x=0.25)"].composition_x(ELEMENTS) == 0.25
    assert predictions.missing == ["polymlp_Bi_Ti: no polymlp_predictions.yaml"]

    formation = predictions.formation
    assert [r["prototype"] for r in formation.hull_dft] == [
        "fcc-Ti", "ICSD-Ti3Al", "ICSD-TiAl", "ICSD-TiAl3", "fcc-Al"]  # by x(Al), as written
    tial = next(r for r in formation.dft if r["prototype"] == "ICSD-TiAl")
    assert tial["composition"] == [0.5, 0.5] and tial["energy"] == pytest.approx(-0.32)
    assert next(r for r in formation.mlp if r["prototype"] == "ICSD-TiAl")["energy"] == \
        pytest.approx(-0.31)
    assert formation.mlp_relaxed is None


def test_parity_rmse_of_the_comparison_file(entry, tmp_path):
    comparison = read_comparison(entry / "predictions" / "polymlp-00001" / "polymlp_comparison.dat")
    assert comparison.label == ""
    # rows as pypolymlp orders them (by the DFT energy's text): pair them by ICSD id
    assert all(re.fullmatch(r"ICSD-\d+-\[.+\]", i) for i in comparison.ids)
    by_id = {i.split("-")[1]: (d, m) for i, d, m in zip(comparison.ids, comparison.dft,
                                                         comparison.mlp)}
    assert by_id == {i: (d, pytest.approx(m, abs=1e-9)) for i, d, m in
                     zip(COMPARISON_ICSD, COMPARISON_DFT, COMPARISON_MLP)}
    assert comparison.rmse == pytest.approx(math.sqrt((1 + 4 + 9 + 0) / 4), rel=1e-9)
    summary = comparison.summary()
    assert summary["max_abs_error_meV_per_atom"] == pytest.approx(3.0)
    assert summary["worst"].startswith("ICSD-652876-[")  # the 3 meV/atom one
    # a suffixed file (binaries: one per element and the system) gets its label
    shutil.copy(comparison.path, tmp_path / "polymlp_comparison_Ti.dat")
    assert read_comparison(tmp_path / "polymlp_comparison_Ti.dat").label == "Ti"


# ---------------------------------------------------------------------------------------
# Prototype names


def test_repository_names_map_onto_our_library():
    cases = {
        "fcc_Ti": ("fcc", "fcc:Ti"), "bcc_Al": ("bcc", "bcc:Al"), "Sn_Ti": ("beta-Sn", "beta-Sn:Ti"),
        "La_Al": ("dhcp", "dhcp:Al"), "P(black)_Ti": ("black-P", "black-P:Ti"),
        "AuCu3(L12)(x=0.25)": ("L1_2", "L1_2:TiAl"), "AuCu3(L12)(x=0.75)": ("L1_2", "L1_2:AlTi"),
        "MoNi4(D1a)(x=0.20)": ("D1_a", "D1_a:TiAl"), "NiAs(B81)(x=0.50)": ("B8_1", "B8_1:TiAl"),
        "AlCu2Mn(L21)(x=0.75)": ("D0_3", "D0_3:AlTi"), "CrSi2(C40)(x=0.33)": ("C40", "C40:AlTi"),
        "Cu2Sb(C38)(x=0.33)": ("C38", "C38:TiAl"), "fcc(x=1)": ("fcc", "fcc:Al"),
    }
    for name, (library, key) in cases.items():
        match = match_prototype(name, ELEMENTS)
        assert (match["library"], match["key"]) == (library, key), name
    assert match_prototype("Sn", ("Sn",))["key"] == "beta-Sn"
    assert match_prototype("fcc", ("Cu",))["key"] == "fcc"
    for name, words in {"Ni3Ti(D024)(x=0.25)": "no D024 structure", "Bi_Ti": "no Bi structure",
                        "fcc_Cu": "no element of Ti-Al", "AuCu3(L12)(x=0.50)": "not a composition"
                        }.items():
        match = match_prototype(name, ELEMENTS)
        assert match["key"] is None and words in match["reason"], name


def _space_groups(cell, positions, numbers):
    """Space-group numbers at symprec 1e-3 and 1e-2 Å (pypolymlp's cells are DFT-relaxed:
    D0_19 is hexagonal within 1e-2 Å only, its black P orthorhombic Cmce within 1e-3 Å)."""
    import spglib

    return {spglib.get_symmetry_dataset((cell, positions, numbers), symprec=p).number
            for p in (1e-3, 1e-2)}


def test_every_matched_name_is_the_same_structure_as_pypolymlps():
    """Each Repository prototype (pypolymlp's structure lists) that we match builds, from our
    library with the matched decoration, a structure of the same space group and
    composition; the unmatched ones are exactly those our library lacks."""
    from pypolymlp.calculator.auto.structures_binary import get_structure_list_binary
    from pypolymlp.calculator.auto.structures_element import get_structure_list_element

    unmatched = set()
    for elements, structures in (
            (("Ti",), get_structure_list_element(("Ti",))),
            (ELEMENTS, get_structure_list_binary(ELEMENTS))):
        for prototype in structures:
            match = match_prototype(prototype.name, elements)
            if match["key"] is None:
                unmatched.add(prototype.name)
                continue
            st = prototype.structure
            ours = protos.build(match["library"], match["decoration"])
            [number] = _space_groups(ours.cell.array, ours.get_scaled_positions(), ours.numbers)
            assert number in _space_groups(st.axis.T, st.positions.T, st.types), prototype.name
            theirs = {e: st.elements.count(e) / len(st.elements) for e in set(st.elements)}
            symbols = ours.get_chemical_symbols()
            assert {e: symbols.count(e) / len(symbols) for e in set(symbols)} == \
                pytest.approx(theirs), prototype.name
    assert unmatched == {"Sn(tI2)", "Bi", "As", "Sb(mP4)", "Ga(Cmcm)", "Si(I4mm)"} | {
        f"{n}(x={x})" for n, xs in (("Ni3Ti(D024)", ("0.25", "0.75")),
                                    ("InNi2(B82)", ("0.33", "0.67")),
                                    ("Fe2P(C22)", ("0.33", "0.67")),
                                    ("Si2U3(D5a)", ("0.40", "0.60")), ("CoU(Ba)", ("0.50",)))
        for x in xs}


# ---------------------------------------------------------------------------------------
# Our card beside the Repository's


def synthetic_card(predictions):
    """A card as compute_card returns it, its numbers shifted from the Repository's."""
    p = predictions.prototypes
    lattice = {}
    for key, name, n_atoms in (("fcc:Ti", "fcc_Ti", 4), ("bcc:Al", "bcc_Al", 2)):
        lat = p[name].lattice
        lattice[key] = {**{k: lat[k] * 1.01 for k in "abc"}, "alpha": 90.0, "beta": 90.0,
                        "gamma": 90.0, "n_atoms": n_atoms}
    return PropertyCard.from_dict({
        "elements": list(ELEMENTS),
        "energies": {"fcc:Ti": p["fcc_Ti"].energy + 0.002, "bcc:Al": p["bcc_Al"].energy - 0.001,
                     "fcc:Al": p["fcc_Al"].energy, "L1_2:TiAl": p["AuCu3(L12)(x=0.25)"].energy,
                     "hcp:Ti": -7.0},
        "lattice": lattice,
        "eos": {"fcc:Al": {"v0": p["fcc_Al"].eos_volume + 0.1, "b0": p["fcc_Al"].bulk_modulus - 2.0}},
        "elastic": {"fcc:Al": (ELASTIC_AL + np.diag([1.0, 1, 1, 0.5, 0.5, 0.5])).tolist()},
        "failures": {"fcc:Ti": "relaxation not converged in 300 steps (kept)",
                     "L1_2:AlTi": "RuntimeError: boom"},
        "composition": {}, "timings": {"total_s": 1.0},
        "hull": {"formation_energies": {"fcc:Ti": 0.0, "L1_2:TiAl": -0.2, "fcc:Al": 0.0},
                 "composition_x": {"fcc:Ti": 0.0, "L1_2:TiAl": 0.25, "fcc:Al": 1.0},
                 "stable": ["fcc:Ti", "L1_2:TiAl", "fcc:Al"]},
    })


def test_comparison_matched_by_prototype(entry):
    predictions = read_predictions(entry / "predictions" / "polymlp-00001")
    card = synthetic_card(predictions)
    comparison = compare_with_repository(card, predictions)
    rows = {r["repository"]: r for r in comparison.prototypes}
    assert set(rows) == {"fcc_Ti", "bcc_Al", "fcc_Al", "AuCu3(L12)(x=0.25)"}
    assert rows["fcc_Ti"]["key"] == "fcc:Ti"
    assert rows["fcc_Ti"]["energy_eV_per_atom"]["difference"] == pytest.approx(0.002, abs=1e-12)
    assert rows["bcc_Al"]["energy_eV_per_atom"]["difference"] == pytest.approx(-0.001, abs=1e-12)
    a = rows["bcc_Al"]["lattice_A"]["a"]
    assert a["relative_difference"] == pytest.approx(0.01, rel=1e-9)
    volume = rows["bcc_Al"]["volume_A3_per_atom"]
    assert volume["ours"] == pytest.approx(card.lattice["bcc:Al"]["a"] ** 3 / 2, rel=1e-12)
    eos = rows["fcc_Al"]
    assert eos["eos_volume_A3_per_atom"]["difference"] == pytest.approx(0.1, abs=1e-9)
    assert eos["bulk_modulus_GPa"]["difference"] == pytest.approx(-2.0, abs=1e-9)
    assert eos["elastic_GPa"]["C11"] == {"ours": 111.0, "repository": 110.0, "difference": 1.0,
                                         "relative_difference": pytest.approx(1 / 110)}
    assert eos["elastic_GPa"]["C44"]["difference"] == 0.5
    assert eos["elastic_GPa"]["max_abs_difference"] == 1.0
    assert rows["fcc_Ti"]["elastic_GPa"]["C11"]["difference"] is None
    unmatched = {u["repository"]: u["reason"] for u in comparison.unmatched_repository}
    assert unmatched["Ni3Ti(D024)(x=0.25)"] == "no D024 structure in our library"
    assert unmatched["Sn(tI2)_Ti"] == "no Sn(tI2) structure in our library"
    assert "not computed in this card" in unmatched["bcc_Ti"]
    assert comparison.ours_only == ["hcp:Ti"]
    assert comparison.summary["n_matched"] == 4
    assert comparison.summary["energy_rmse_meV_per_atom"] == pytest.approx(
        math.sqrt((4 + 1 + 0 + 0) / 4), rel=1e-6)
    assert comparison.dft_comparison[""]["rmse_meV_per_atom"] == pytest.approx(math.sqrt(3.5))
    assert [r["prototype"] for r in comparison.formation["hull_dft"]][2] == "ICSD-TiAl"
    assert comparison.missing == ["polymlp_Bi_Ti: no polymlp_predictions.yaml"]


def test_comparison_files_are_written_whole(entry, tmp_path):
    predictions = read_predictions(entry / "predictions" / "polymlp-00001")
    out = tmp_path / "card"
    written = write_repository_comparison(synthetic_card(predictions), predictions, out, title="x")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["repository.html", "repository_comparison.json", "repository_hull.png",
                     "repository_parity.png", "repository_properties.png"]
    for png in written["plots"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(written["json"].read_text())
    assert data["summary"]["n_matched"] == 4 and data["plots"][0] == "repository_properties.png"
    page = written["html"].read_text()
    assert "AuCu3(L12)(x=0.25)" in page and "repository_hull.png" in page and "1.87" in page


def test_comparison_as_dict_is_the_written_document(entry, tmp_path):
    predictions = read_predictions(entry / "predictions" / "polymlp-00001")
    written = write_repository_comparison(synthetic_card(predictions), predictions, tmp_path)
    data = json.loads(written["json"].read_text())
    assert list(data) == ["elements", "predictions", "prototypes", "unmatched_repository",
                          "ours_only", "summary", "dft_comparison", "formation", "missing",
                          "notes", "plots"]
    document = json.loads(json.dumps(written["comparison"].as_dict(), allow_nan=False))
    assert {**document, "plots": data["plots"]} == data


# ---------------------------------------------------------------------------------------
# Bad input: a typed error naming the file (and line)


def _rewrite(path: Path, old: str, new: str):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def corrupt_error_yaml(entry):
    path = entry / "polymlps/polymlp-00001/polymlp_error.yaml"
    _rewrite(path, "- dataset: data/test-Ti-Al", "- dataset: [data/test-Ti-Al")
    return path, index_repository, entry


def error_yaml_not_a_number(entry):
    path = entry / "polymlps/polymlp-00001/polymlp_error.yaml"
    text = path.read_text().splitlines()
    number = next(i for i, line in enumerate(text, 1) if "rmse_force" in line
                  and i > next(j for j, l in enumerate(text, 1) if "test" in l))
    text[number - 1] = "  rmse_force:   fast"
    path.write_text("\n".join(text) + "\n")
    return path, index_repository, entry


def cost_yaml_wrong_shape(entry):
    path = entry / "polymlps/polymlp-00001/polymlp_cost.yaml"
    path.write_text("system: Ti-Al\ncosts: 0.07\n")
    return path, index_repository, entry


def prediction_yaml_malformed(entry):
    path = entry / "predictions/polymlp-00001/polymlp_fcc_Ti/polymlp_predictions.yaml"
    _rewrite(path, "eosfit_properties:", "eosfit_properties: [")
    return path, read_predictions, entry / "predictions/polymlp-00001"


def prediction_elastic_wrong_shape(entry):
    path = entry / "predictions/polymlp-00001/polymlp_fcc_Al/polymlp_predictions.yaml"
    _rewrite(path, "elastic_constants:\n- - 110.0", "elastic_constants:\n- - 110.0\n  - 1.0")
    return path, read_predictions, entry / "predictions/polymlp-00001"


def comparison_bad_row(entry):
    path = entry / "predictions/polymlp-00001/polymlp_comparison.dat"
    lines = path.read_text().splitlines()
    lines[2] = "-7.65 oops ICSD-76156"
    path.write_text("\n".join(lines) + "\n")
    return path, read_predictions, entry / "predictions/polymlp-00001"


def comparison_empty(entry):
    path = entry / "predictions/polymlp-00001/polymlp_comparison.dat"
    path.write_text("# DFT (eV/atom), MLP (eV/atom), ID\n")
    return path, read_predictions, entry / "predictions/polymlp-00001"


def formation_without_hull(entry):
    path = entry / "predictions/polymlp-00001/polymlp_formation_energy.yaml"
    _rewrite(path, "convex_hull_dft:", "hull_dft:")
    return path, read_formation_energies, path


BAD_FILES = {  # corruption -> (line in the message or None, words)
    corrupt_error_yaml: (True, "malformed YAML"),
    error_yaml_not_a_number: (True, "'fast' is not a number"),
    cost_yaml_wrong_shape: (True, "expected a mapping (single_core, openmp)"),
    prediction_yaml_malformed: (True, "malformed YAML"),
    prediction_elastic_wrong_shape: (True, "expected 6x6"),
    comparison_bad_row: (3, "expected 'DFT MLP ID'"),
    comparison_empty: (None, "no data rows"),
    formation_without_hull: (None, "key 'convex_hull_dft': missing"),
}


@pytest.mark.parametrize("corrupt", BAD_FILES, ids=lambda f: f.__name__)
def test_a_malformed_file_raises_a_typed_error_naming_it(entry, corrupt):
    path, reader, argument = corrupt(entry)
    line, words = BAD_FILES[corrupt]
    with pytest.raises(RepositoryFileError) as info:
        reader(argument)
    error = info.value
    assert isinstance(error, PolymlpLabError) and Path(error.path) == path
    assert str(path) in str(error) and words in str(error)
    if line is True:
        assert error.line is not None and f"line {error.line}" in str(error)
        assert 1 <= error.line <= len(path.read_text().splitlines())
    elif line is not None:
        assert error.line == line


def test_error_line_points_at_the_bad_value(entry):
    path, _, _ = error_yaml_not_a_number(entry)
    with pytest.raises(RepositoryFileError) as info:
        index_repository(entry)
    assert "fast" in path.read_text().splitlines()[info.value.line - 1]


def test_a_folder_without_mlps_names_the_folder_and_the_layout(tmp_path):
    (tmp_path / "Ti-Al" / "polymlps" / "polymlp-00001").mkdir(parents=True)
    with pytest.raises(EmptyRepositoryError) as info:
        index_repository(tmp_path / "Ti-Al")
    assert str(tmp_path / "Ti-Al") in str(info.value)
    assert "polymlps/<mlp>/polymlp.yaml" in str(info.value) and "polymlp.lammps" in str(info.value)
    (tmp_path / "Ti-Al" / "polymlps" / "polymlp-00001.tar.xz").write_bytes(b"")
    with pytest.raises(EmptyRepositoryError, match="polymlp-00001.tar.xz.*extract them"):
        index_repository(tmp_path / "Ti-Al")
    with pytest.raises(RepositoryError, match="no such folder"):
        index_repository(tmp_path / "nowhere")


def test_a_malformed_potential_names_its_file(entry):
    path = entry / "polymlps/polymlp-00001/polymlp.yaml.Ti-Al"
    path.write_text(path.read_text()[:400])
    with pytest.raises(PotentialFileError) as info:
        index_repository(entry)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------------
# polymlp-lab card --repository


def test_card_command_on_a_repository_entry(entry, tmp_path, capsys, repository_prototypes):
    out = tmp_path / "cards"
    code = main(["card", "--repository", str(entry), "--out", str(out), "--prototypes", "fcc",
                 "bcc", "--detailed", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    folder = out / "polymlp-00001"
    card = json.loads((folder / "card.json").read_text())
    comparison = json.loads((folder / "repository_comparison.json").read_text())
    rows = {r["repository"]: r for r in comparison["prototypes"]}
    assert set(rows) == {"fcc_Ti", "bcc_Ti", "fcc_Al", "bcc_Al"}
    for name, row in rows.items():  # our engine and relaxation against pypolymlp's
        energy = row["energy_eV_per_atom"]
        assert energy["ours"] == card["energies"][row["key"]]
        assert energy["repository"] == pytest.approx(repository_prototypes[name].energy, abs=1e-12)
        assert abs(energy["difference"]) < 1e-5, name  # same potential, same minimum
        assert abs(row["volume_A3_per_atom"]["relative_difference"]) < 1e-3, name
    detailed = [r for r in rows.values() if r["bulk_modulus_GPa"]["ours"] is not None]
    assert len(detailed) == 2  # --detailed 1: one per element
    unmatched = {u["repository"]: u["reason"] for u in comparison["unmatched_repository"]}
    assert unmatched["AuCu3(L12)(x=0.25)"] == "not computed in this card"
    assert "no D024" in unmatched["Ni3Ti(D024)(x=0.25)"]
    assert comparison["dft_comparison"][""]["rmse_meV_per_atom"] == pytest.approx(math.sqrt(3.5))
    for name in ("repository_parity.png", "repository_hull.png", "repository.html", "index.html"):
        assert (folder / name).is_file(), name
    assert not list(out.rglob("*.tmp"))
    [row] = json.loads((out / "repository.json").read_text())
    assert row["name"] == "polymlp-00001" and row["cost"] == pytest.approx(COST_SINGLE)
    assert "beside the Repository's" in capsys.readouterr().out


def test_card_command_refuses_a_corrupted_entry_before_any_work(entry, tmp_path, capsys):
    comparison_bad_row(entry)
    out = tmp_path / "cards"
    assert main(["card", "--repository", str(entry), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "polymlp_comparison.dat, line 3" in err
    assert not out.exists()  # nothing computed, nothing half-written
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["card", "--repository", str(empty), "--out", str(out), "--quiet"]) == 2
    assert "no MLPs found" in capsys.readouterr().err and not out.exists()


# ---------------------------------------------------------------------------------------
# RepositoryBrowser, headless


SMALL_CARD = dict(prototypes=("fcc", "bcc"), n_detailed=1, phonon_supercell=(2, 2, 2),
                  phonon_mesh=(4, 4, 4), relax_steps=100)


def test_browser_shows_the_repository_beside_our_card(entry):
    from polymlp_lab.widgets.repository import RepositoryBrowser

    panel = RepositoryBrowser(entry, card_settings=SMALL_CARD)
    panel.wait()
    assert panel.error is None, panel.error
    assert [r["name"] for r in panel.rows] == ["polymlp-00001"]
    assert "with the Repository's predictions" in html.unescape(panel.status.value)
    assert "3.4" in panel.table.value and "yes" in panel.table.value
    panel.choice.value = "polymlp-00001"
    assert panel.error is None, panel.error
    text = html.unescape(panel.output_text())
    assert "The Repository's predictions" in text and "AuCu3(L12)(x=0.25)" in text
    assert f"{panel.predictions.prototypes['fcc_Al'].energy:.6g}" in text
    assert "1.87 meV/atom" in text  # the Repository's DFT parity RMSE

    panel.card_button.click()
    panel.wait()
    assert panel.error is None, (panel.error, panel.last_traceback)
    assert panel.comparison.summary["n_matched"] == 4
    assert "4 prototypes beside the Repository's" in html.unescape(panel.status.value)
    text = html.unescape(panel.output_text())
    assert "ours / the Repository's" in text and "Ni3Ti(D024)(x=0.25)" in text
    images = [o for o in panel.output.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the card's plots, then ours vs theirs, parity and hull


def test_browser_reports_a_corrupted_entry_in_its_status_line(entry, tmp_path):
    from polymlp_lab.widgets.repository import RepositoryBrowser

    comparison_bad_row(entry)
    panel = RepositoryBrowser(entry)
    panel.wait()
    assert panel.error is None and len(panel.rows) == 1
    panel.choice.value = "polymlp-00001"
    assert "RepositoryFileError" not in panel.error  # plain words: no class names
    assert "polymlp_comparison.dat, line 3" in panel.error
    assert "polymlp_comparison.dat" in panel.status.value
    corrupt_error_yaml(entry)
    panel.scan_button.click()
    panel.wait()
    assert "polymlp_error.yaml, line" in panel.error and panel.rows == []
    panel.folder.value = str(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    panel.scan_button.click()
    panel.wait()
    assert panel.error is None and "no potentials" in panel.status.value
    assert "polymlps/&lt;mlp&gt;/polymlp.yaml" in panel.status.value

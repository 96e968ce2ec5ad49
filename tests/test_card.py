"""Property cards: contents consistent with themselves, failures recorded, files, command."""

import dataclasses
import json

import numpy as np
import pytest
from ase.calculators.emt import EMT

from polymlp_lab.cli import main
from polymlp_lab.properties.card import (PropertyCard, compare_cards, compute_card, index_repository,
                                         write_card)

from conftest import random_potential

SMALL = dict(n_detailed=1, phonon_supercell=(2, 2, 2), phonon_mesh=(6, 6, 6), progress=False)


@pytest.fixture(scope="module")
def cu_card():
    return compute_card(EMT(), elements=("Cu",), prototypes=["fcc", "bcc", "hcp", "sc"],
                        **dict(SMALL, n_detailed=2))


def test_element_card_is_consistent(cu_card):
    energies = cu_card.energies
    assert set(energies) == {"fcc", "bcc", "hcp", "sc"}
    ranked = sorted(energies, key=energies.get)
    assert set(ranked[:2]) == {"fcc", "hcp"} and ranked[-1] == "sc"  # close packed lowest
    assert set(cu_card.eos) == {"fcc", "hcp"}  # the two lowest get the detailed properties
    eos = cu_card.eos["fcc"]
    a = cu_card.lattice["fcc"]["a"]  # conventional cubic cell, 4 atoms
    assert eos["v0"] == pytest.approx(a**3 / 4, rel=2e-3)
    c = np.array(cu_card.elastic["fcc"])
    assert c.shape == (6, 6)
    assert (c[0, 0] + 2 * c[0, 1]) / 3 == pytest.approx(eos["b0"], rel=0.03)
    assert cu_card.elastic_moduli["fcc"]["stable"]
    dos = cu_card.phonon_dos["fcc"]
    assert len(dos["frequencies_THz"]) == len(dos["dos"]) > 10 and not dos["imaginary"]
    assert cu_card.timings["total_s"] > 0


def test_card_files_and_comparison(cu_card, tmp_path):
    index = write_card(cu_card, tmp_path / "card")
    assert json.loads((tmp_path / "card" / "card.json").read_text())["energies"] == cu_card.energies
    page = index.read_text()
    assert "fcc" in page and "energies.png" in page
    for name in ("energies.png", "eos.png", "phonon_dos.png"):
        assert (tmp_path / "card" / name).stat().st_size > 1000
    fig = compare_cards({"EMT": cu_card, "again": cu_card}, tmp_path / "cmp")
    assert (tmp_path / "cmp" / "compare.png").is_file() and len(fig.axes) >= 3


def test_card_json_round_trips_and_leaves_absent_parts_out(cu_card):
    document = json.loads(json.dumps(cu_card.as_dict(), allow_nan=False))
    assert PropertyCard.from_dict(document) == cu_card  # card.json holds the whole card
    assert "hull" not in document and "peer" not in document and "label" not in document
    with_peer = dataclasses.replace(cu_card, peer=dataclasses.replace(cu_card, label="again"))
    document = json.loads(json.dumps(with_peer.as_dict()))
    assert document["peer"]["label"] == "again" and list(document)[-1] == "peer"
    assert PropertyCard.from_dict(document).peer.label == "again"
    with pytest.raises(TypeError, match="energy"):  # a misspelt part is refused
        PropertyCard.from_dict({"elements": ["Cu"], "energy": {}})


def test_binary_card_has_formation_energies_and_hull():
    card = compute_card(EMT(), elements=("Cu", "Au"),
                        prototypes=["fcc", "bcc", "L1_2", "L1_0", "B2"], **SMALL)
    hull = card.hull
    refs = hull["references"]
    assert refs["Cu"] == pytest.approx(card.energies["fcc:Cu"])
    assert hull["formation_energies"]["fcc:Cu"] == pytest.approx(0.0, abs=1e-12)
    assert "fcc:Cu" in hull["stable"] and "fcc:Au" in hull["stable"]
    assert all(v >= -1e-12 for v in hull["e_above_hull"].values())
    assert all(hull["e_above_hull"][k] == pytest.approx(0.0, abs=1e-9) for k in hull["stable"])
    # x is the fraction of the second element: Cu3Au (L1_2:CuAu) has x = 1/4
    assert hull["composition_x"]["L1_2:CuAu"] == pytest.approx(0.25)


class FailingEMT(EMT):
    """EMT that fails on simple cubic cells (one atom per cell)."""

    def calculate(self, atoms=None, *args, **kwargs):
        if atoms is not None and len(atoms) == 1 and np.allclose(atoms.cell.angles(), 90):
            raise RuntimeError("cannot evaluate this one")
        super().calculate(atoms, *args, **kwargs)


def test_a_failing_structure_is_recorded_not_fatal():
    card = compute_card(FailingEMT(), elements=("Cu",), prototypes=["fcc", "sc"], **SMALL)
    assert "fcc" in card.energies and "sc" not in card.energies
    assert "cannot evaluate" in card.failures["sc"]


def test_card_command_and_repository(tmp_path, capsys):
    potential = random_potential(("Al",), seed=1, scale=1e-3)
    repo = tmp_path / "polymlps"
    for name in ("a", "b"):
        (repo / name).mkdir(parents=True)
        potential.save(repo / name / "polymlp.yaml")
    (repo / "a" / "polymlp_cost.yaml").write_text("costs:\n  single_core: 0.02\n")
    (repo / "a" / "polymlp_error.yaml").write_text(
        "prediction_errors:\n- dataset: Train_x\n  rmse_energy: 1.0\n- dataset: Test_x\n  rmse_energy: 2.0\n")
    rows = index_repository(repo)
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[0]["rmse_energy"] == 2.0 and rows[0]["cost"] == 0.02 and rows[1]["cost"] is None
    assert rows[0]["n_coeffs"] == len(potential.components[0].coeffs)
    code = main(["card", "--pot", str(repo / "a" / "polymlp.yaml"), "--out", str(tmp_path / "out"),
                 "--prototypes", "fcc", "bcc", "--detailed", "1", "--quiet"])
    assert code == 0
    card = json.loads((tmp_path / "out" / "card.json").read_text())
    assert set(card["energies"]) <= {"fcc", "bcc"} and "index.html" in capsys.readouterr().out
    assert main(["card", "--out", str(tmp_path / "x")]) == 2


def test_card_flags_the_prototypes_where_the_potential_extrapolates(tmp_path):
    from polymlp_lab import data, load_potential
    from polymlp_lab.calculator import PolymlpCalculator
    from polymlp_lab.extrapolation import calibrate_extrapolation

    potential = load_potential(data.potential("Al"))
    trusted = []  # fcc only, strained, ideal and rattled: sc is outside
    for n, (strain, rattle) in enumerate([(s, r) for s in (0.98, 1.0, 1.02) for r in (0, 0.05)]):
        atoms = data.structure("Al").repeat(2)
        atoms.set_cell(atoms.cell * strain, scale_atoms=True)
        atoms.rattle(rattle, seed=n)
        trusted.append(atoms)
    potential.attach_extrapolation(calibrate_extrapolation(potential, trusted))
    card = compute_card(potential, prototypes=["fcc", "sc"], **dict(SMALL, n_detailed=0))
    calc = PolymlpCalculator(potential)
    for key in ("fcc", "sc"):  # the grade of the relaxed structure, as the calculator gives it
        assert key in card.extrapolation
    assert card.extrapolation["fcc"] < 1 < card.extrapolation["sc"]
    assert "sc extrapolation" in card.failures and "fcc extrapolation" not in card.failures
    assert calc.get_property("extrapolation_grade", data.structure("Al")) < 1
    index = write_card(card, tmp_path / "card")
    assert "extrapolation grade" in index.read_text()
    saved = json.loads((tmp_path / "card" / "card.json").read_text())
    assert saved["extrapolation"] == card.extrapolation
    plain = compute_card(load_potential(data.potential("Al")), prototypes=["fcc"],
                         **dict(SMALL, n_detailed=0))
    assert plain.extrapolation is None and "extrapolation" not in plain.as_dict()

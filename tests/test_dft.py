"""The GPAW reference (polymlp_lab.dft): settings, the convergence rule, resumable labelling.

The tests that run GPAW use tiny cells at a low cutoff (about a second each) and skip, naming
the reason, where GPAW (the optional ``dft`` extra, installed by scripts/setup.sh where it can)
is not installed.
"""

import sys

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from polymlp_lab import dft
from polymlp_lab.dft import (DFTCalculationError, DFTSettings, DFTUnavailableError,
                             converge_settings, isolated_atom_energies, label_with_dft)
from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.fitting.active_learning import label
from polymlp_lab.runs import RunMismatchError

try:
    dft.gpaw_version()
    GPAW = True
except DFTUnavailableError:
    GPAW = False
needs_gpaw = pytest.mark.skipif(not GPAW, reason="GPAW (polymlp-lab[dft]) is not installed")

CHEAP = DFTSettings(cutoff_eV=200.0, kpoint_density=2.0)  # seconds per small cell, not converged


def two_atom_cell(shift=0.0) -> Atoms:
    """Two Al atoms in a 2.9 × 2.9 × 4.1 Å cell, the second moved along x by ``shift`` Å."""
    return Atoms("Al2", cell=[2.9, 2.9, 4.1], pbc=True,
                 positions=[[0.0, 0.0, 0.0], [1.45 + 0.12 + shift, 1.45, 2.05]])


# --- without GPAW ---------------------------------------------------------------------------

@pytest.mark.parametrize("change, named", [
    ({"cutoff_eV": 50.0}, "cutoff_eV"), ({"kpoint_density": 0.0}, "kpoint_density"),
    ({"smearing_eV": -0.1}, "smearing_eV"), ({"xc": ""}, "xc"),
    ({"scf_energy_eV": 1.0}, "scf_energy_eV"), ({"cutoff_eV": "350"}, "cutoff_eV"),
])
def test_bad_settings_are_refused_by_name(change, named):
    with pytest.raises(PolymlpLabError, match=named):
        DFTSettings(**change).check()


def test_the_kpoint_mesh_follows_the_density_and_is_one_along_a_vacuum():
    fcc = bulk("Al", "fcc", a=4.04)
    meshes = [DFTSettings(kpoint_density=d).kpoints(fcc) for d in (2.0, 4.0, 8.0)]
    assert all(len(set(m)) == 1 for m in meshes)  # the three reciprocal vectors are equal
    assert meshes[0][0] < meshes[1][0] < meshes[2][0]
    slab = fcc.repeat((1, 1, 3))
    slab.pbc = (True, True, False)
    assert DFTSettings().kpoints(slab)[2] == 1 and DFTSettings().kpoints(slab)[0] > 1


def test_without_gpaw_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gpaw", None)  # import gpaw now fails
    with pytest.raises(DFTUnavailableError, match=r"polymlp-lab\[dft\]"):
        DFTSettings().calculator()
    with pytest.raises(DFTUnavailableError, match="setup.sh"):
        label_with_dft([bulk("Al")], out=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing started


@pytest.mark.parametrize("energies, chosen", [
    ([0.010, 0.004, 0.0009, 0.0002, 0.0], 300.0),   # converging: the first within 1 meV
    ([0.0005, 0.004, 0.0009, 0.0002, 0.0], 300.0),  # a lucky small value does not count
    ([0.010, 0.008, 0.006, 0.004, 0.0], 500.0),     # only the largest: at the limit
])
def test_the_convergence_rule_takes_the_smallest_value_from_which_all_are_within(energies, chosen):
    values = [200.0, 250.0, 300.0, 400.0, 500.0]
    assert dft._smallest_converged(values, energies, 1e-3) == chosen
    order = [4, 2, 0, 3, 1]  # the order the values come in does not matter
    assert dft._smallest_converged([values[i] for i in order], [energies[i] for i in order],
                                   1e-3) == chosen


def test_converge_settings_needs_structures_and_two_values():
    with pytest.raises(PolymlpLabError, match="at least one structure"):
        converge_settings({})
    with pytest.raises(PolymlpLabError, match="cutoffs_eV"):
        converge_settings([bulk("Al")], cutoffs_eV=(300,))


# --- with GPAW ------------------------------------------------------------------------------

@needs_gpaw
def test_forces_are_the_derivative_of_the_free_energy(tmp_path):
    step = 0.01  # Å
    moved = [two_atom_cell(s) for s in (-step, 0.0, step)]
    settings = DFTSettings(cutoff_eV=200.0, kpoint_density=2.0, scf_energy_eV=1e-8)
    minus, centre, plus = label_with_dft(moved, settings, out=tmp_path / "run", progress=False)
    finite = -(plus.get_potential_energy() - minus.get_potential_energy()) / (2 * step)
    forces = centre.get_forces()
    assert abs(forces[1, 0]) > 0.05  # the displaced atom is pulled back
    assert forces[1, 0] == pytest.approx(finite, abs=2e-3)
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-3)  # Newton's third law
    assert centre.get_stress().shape == (6,)


@needs_gpaw
def test_labelling_resumes_extends_and_refuses_other_settings(tmp_path, monkeypatch):
    run = tmp_path / "run"
    cells = [bulk("Al", "fcc", a=4.04), bulk("Al", "fcc", a=4.20)]
    first = label_with_dft(cells, CHEAP, out=run, progress=False)
    energies = [a.get_potential_energy() for a in first]
    assert energies[0] < energies[1]  # 4.20 Å is stretched beyond PBE's 4.04
    np.testing.assert_allclose(first[0].get_forces(), 0.0, atol=1e-6)  # by symmetry

    computed = []
    single_point = dft._single_point
    monkeypatch.setattr(dft, "_single_point",
                        lambda *args: computed.append(1) or single_point(*args))
    again = label_with_dft(cells, CHEAP, out=run, progress=False)
    assert computed == [] and [a.get_potential_energy() for a in again] == energies
    more = label_with_dft(cells + [bulk("Al", "fcc", a=3.95)], CHEAP, out=run, progress=False)
    assert len(computed) == 1 and len(more) == 3  # only the new structure was computed
    assert more[2].get_potential_energy() > energies[0]  # compressed: higher again

    with pytest.raises(RunMismatchError, match="cutoff_eV"):
        label_with_dft(cells, DFTSettings(cutoff_eV=250.0, kpoint_density=2.0), out=run,
                       progress=False)
    redone = label_with_dft(cells[:1], DFTSettings(cutoff_eV=250.0, kpoint_density=2.0),
                            out=run, restart=True, progress=False)
    assert redone[0].get_potential_energy() != pytest.approx(energies[0], abs=1e-4)
    assert (run / dft.LABELLED_FILE).is_file()


@needs_gpaw
def test_the_calculator_for_active_learning_gives_the_same_numbers(tmp_path):
    cell = two_atom_cell()
    stored = label_with_dft([cell], CHEAP, out=tmp_path / "run", progress=False)[0]
    direct = label([cell], CHEAP.calculator())[0]
    assert direct.get_potential_energy() == pytest.approx(stored.get_potential_energy(), abs=1e-6)
    np.testing.assert_allclose(direct.get_forces(), stored.get_forces(), atol=1e-5)


@needs_gpaw
def test_a_failed_calculation_names_the_structure(tmp_path):
    crushed = Atoms("Al2", positions=[[0, 0, 0], [0.2, 0, 0]], cell=[4, 4, 4], pbc=True)
    with pytest.raises(DFTCalculationError, match="structure 1") as caught:
        label_with_dft([bulk("Al", "fcc", a=4.04), crushed], CHEAP, out=tmp_path / "run",
                       progress=False)
    assert caught.value.index == 1


@needs_gpaw
def test_the_energy_converges_from_above_with_the_cutoff_and_the_choice_is_reported():
    result = converge_settings({"fcc-Al": bulk("Al", "fcc", a=4.04)}, cutoffs_eV=(200, 250, 300),
                               kpoint_densities=(2, 3), tolerance_meV=5.0, base=CHEAP,
                               progress=False)
    cutoff_scan = [p for p in result.points if p.scan == "cutoff"]
    energies = [p.energy_per_atom_eV for p in sorted(cutoff_scan, key=lambda p: p.cutoff_eV)]
    assert energies[0] > energies[1] > energies[2]  # a larger basis lowers the energy
    assert len(result.points) == 3 + 2  # three cutoffs, then two k-point densities
    chosen = result.settings
    assert chosen.cutoff_eV in (200, 250, 300) and chosen.kpoint_density in (2, 3)
    expected = min(c for c in (200, 250, 300)
                   if all(abs(e - energies[-1]) * 1e3 <= 5.0
                          for cc, e in zip((200, 250, 300), energies) if cc >= c))
    assert chosen.cutoff_eV == expected
    assert "chosen: cutoff" in result.table() and result.as_dict()["settings"]["xc"] == "PBE"


@needs_gpaw
def test_the_isolated_atom_is_lower_spin_polarised_than_gpaws_reference():
    energy = isolated_atom_energies(["Al", "Al"], CHEAP, box_A=(7.0, 7.5, 8.0))
    assert list(energy) == ["Al"]
    assert -0.6 < energy["Al"] < -0.05  # Al's 3p¹ moment: a few tenths of an eV of spin energy
    with pytest.raises(PolymlpLabError, match="'Xx'"):
        isolated_atom_energies(["Xx"], CHEAP)

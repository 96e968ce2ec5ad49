"""The fast EAM calculator: equal to ASE's EAM on the Zope-Mishin Ti-Al and Sutton-Chen files
(any cell), forces and stress as derivatives, per-atom energies, bad files refused by name,
and the property card with an EAM peer (Python and command line)."""

import importlib.resources
import json
import shutil

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.eam import EAM
from ase.calculators.emt import EMT
from ase.neighborlist import neighbor_list

from polymlp_lab.cli import main
from polymlp_lab.errors import PolymlpLabError, PotentialFileError, UnknownElementError
from polymlp_lab.properties.card import compare_cards, compute_card, write_card
from polymlp_lab.properties.eam import write_sutton_chen_eam_alloy
from polymlp_lab.properties.eam_calculator import (
    EAMCalculator,
    EAMElementError,
    EAMFileError,
    read_eam_alloy,
)
from conftest import displaced

TIAL = importlib.resources.files("pypolymlp") / "calculator/utils/lammps/tests/files/Ti-Al"
ZOPE = str(TIAL / "Zope-Ti-Al-2003.eam.alloy")
TIAL_MLP = str(TIAL / "polymlp.lammps")
TOL = 1e-10  # eV, eV/Å, eV/Å³
SMALL = dict(n_detailed=1, phonon_supercell=(2, 2, 2), phonon_mesh=(6, 6, 6), progress=False)
TIAL_PROTOTYPES = ["fcc", "bcc", "hcp", "B2", "L1_0"]


@pytest.fixture(scope="module")
def sc_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sc")
    return {"Cu": str(write_sutton_chen_eam_alloy(["Cu"], folder / "Cu.eam.alloy")),
            "CuAu": str(write_sutton_chen_eam_alloy(["Cu", "Au"], folder / "CuAu.eam.alloy")),
            "Al": str(write_sutton_chen_eam_alloy(["Al"], folder / "Al.eam.alloy"))}


def _rattled(atoms, seed, amount=0.08):
    atoms.rattle(amount, seed=seed)
    return atoms


def ti_hcp():
    return _rattled(bulk("Ti", "hcp", a=2.95, c=4.68).repeat((3, 3, 2)), 1)


def al_fcc():
    return _rattled(bulk("Al", "fcc", a=4.05, cubic=True).repeat(2), 2)


def tial_random():
    atoms = bulk("Al", "fcc", a=4.0, cubic=True).repeat((3, 2, 2))
    rng = np.random.default_rng(3)
    atoms.symbols[rng.choice(len(atoms), len(atoms) // 2, replace=False)] = "Ti"
    return _rattled(atoms, 4)


def tial_triclinic():
    atoms = bulk("Al", "fcc", a=4.0).repeat((2, 3, 2))  # primitive fcc: 60° angles
    atoms.set_cell(atoms.cell.array @ np.array([[1.0, 0.05, -0.03], [0.02, 0.97, 0.06],
                                                 [-0.04, 0.01, 1.04]]), scale_atoms=True)
    atoms.symbols[::3] = "Ti"
    return _rattled(atoms, 5)


def tial_thin():
    """B2 TiAl, two atoms: every cell height (3.2 Å) is about half the 6.72 Å cutoff."""
    atoms = Atoms("TiAl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=np.diag([3.2, 3.3, 3.1]),
                  pbc=True)
    atoms.cell[1, 0] = 0.4
    return _rattled(atoms, 6, 0.1)


def al_thin_skewed():
    atoms = bulk("Al", "fcc", a=4.05).repeat((1, 1, 3))
    atoms.cell[2] += atoms.cell[0] * 2  # a long, strongly skewed vector
    return _rattled(atoms, 7)


def cu_rattled():
    # not a = 3.61 Å: its 2a = 7.22 Å periodic images would sit exactly on the cutoff (2a), where
    # either calculator may keep or drop them by rounding (a difference of ~1e-9 eV/Å here)
    return _rattled(bulk("Cu", "fcc", a=3.58, cubic=True).repeat(2), 8)


def cuau_rattled():
    atoms = bulk("Cu", "fcc", a=3.75).repeat((3, 3, 3))
    atoms.symbols[np.random.default_rng(9).choice(len(atoms), 10, replace=False)] = "Au"
    return _rattled(atoms, 10)


def cuau_triclinic_thin():
    atoms = Atoms("CuAu", scaled_positions=[[0, 0, 0], [0.5, 0.45, 0.55]],
                  cell=[[2.6, 0.0, 0.0], [0.9, 2.7, 0.0], [0.5, -0.4, 2.8]], pbc=True)
    return _rattled(atoms, 11, 0.05)


PERIODIC_CASES = {
    "zope-Ti-hcp": ("zope", ti_hcp),
    "zope-Al-fcc": ("zope", al_fcc),
    "zope-TiAl-random": ("zope", tial_random),
    "zope-TiAl-triclinic": ("zope", tial_triclinic),
    "zope-TiAl-thin": ("zope", tial_thin),
    "zope-Al-thin-skewed": ("zope", al_thin_skewed),
    "sc-Cu": ("Cu", cu_rattled),
    "sc-CuAu": ("CuAu", cuau_rattled),
    "sc-CuAu-triclinic-thin": ("CuAu", cuau_triclinic_thin),
}


def _file(name, sc_files):
    return ZOPE if name == "zope" else sc_files[name]


def _results(atoms, calc):
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


@pytest.mark.parametrize("case", list(PERIODIC_CASES))
def test_equal_to_ase_eam(case, sc_files):
    name, build = PERIODIC_CASES[case]
    atoms = build()
    path = _file(name, sc_files)
    e_ours, f_ours, s_ours = _results(atoms, EAMCalculator(path))
    e_ase, f_ase, s_ase = _results(atoms, EAM(potential=path))
    assert abs(e_ours - e_ase) < TOL
    assert np.abs(f_ours - f_ase).max() < TOL
    assert np.abs(s_ours - s_ase).max() < TOL
    assert np.abs(f_ase).max() > 0.05 and np.abs(s_ase).max() > 1e-4  # a real test, not zeros


@pytest.mark.parametrize("pbc", [(True, True, False), (False, False, False)])
def test_equal_to_ase_eam_partly_periodic(pbc):
    if pbc == (False, False, False):
        atoms = _rattled(bulk("Al", "fcc", a=4.05, cubic=True).repeat(2), 12)
        atoms.symbols[::4] = "Ti"
    else:
        atoms = _rattled(fcc111("Al", size=(3, 3, 4), a=4.05, vacuum=6.0), 13)
    atoms.pbc = pbc
    ours, ase = atoms.copy(), atoms.copy()
    ours.calc, ase.calc = EAMCalculator(ZOPE), EAM(potential=ZOPE)
    assert abs(ours.get_potential_energy() - ase.get_potential_energy()) < TOL
    assert np.abs(ours.get_forces() - ase.get_forces()).max() < TOL
    assert np.abs(ase.get_forces()).max() > 0.05


def test_per_atom_energies_are_the_eam_decomposition():
    """E_i = F_{t_i}(ρ_i) + ½ Σ_j φ(r_ij), from ASE's own splines and neighbour list."""
    atoms = tial_random()
    calc = EAMCalculator(ZOPE)
    atoms.calc = calc
    energies = atoms.get_potential_energies()
    ase = EAM(potential=ZOPE)
    index = np.array([ase.elements.index(s) for s in atoms.get_chemical_symbols()])
    i, j, d = neighbor_list("ijd", atoms, ase.cutoff)
    expected = np.zeros(len(atoms))
    rho = np.zeros(len(atoms))
    for k in range(len(i)):
        expected[i[k]] += 0.5 * ase.phi[index[i[k]], index[j[k]]](d[k])
        rho[i[k]] += ase.electron_density[index[j[k]]](d[k])
    for n in range(len(atoms)):
        expected[n] += ase.embedded_energy[index[n]](rho[n])
    assert np.abs(energies - expected).max() < TOL
    assert energies.sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-12)
    assert np.ptp(energies) > 0.1  # Ti and Al atoms differ


def test_forces_and_stress_are_derivatives():
    atoms = tial_triclinic()
    calc = EAMCalculator(ZOPE, skin=0.0)
    atoms.calc = calc
    forces = atoms.get_forces()
    stress = atoms.get_stress()
    h = 1e-5
    for a in (0, 5, 11):
        for x in range(3):
            energies = [moved.get_potential_energy() for moved in displaced(atoms, a, x, h, calc)]
            assert -(energies[0] - energies[1]) / (2 * h) == pytest.approx(forces[a, x], abs=1e-6)
    volume = atoms.get_volume()
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    for v, (p, q) in enumerate(voigt):
        energies = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))  # symmetric: ε_pq = ε_qp = h/2 for a shear
            eps[p, q] = eps[q, p] = sign * h if p == q else sign * h / 2
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            strained.calc = calc
            energies.append(strained.get_potential_energy())
        assert (energies[0] - energies[1]) / (2 * h) / volume == pytest.approx(stress[v], abs=1e-8)
    assert np.abs(forces).max() > 0.1 and np.abs(stress).max() > 1e-3


def test_neighbour_list_reuse_does_not_change_results():
    atoms = tial_random()
    with_skin, fresh = EAMCalculator(ZOPE, skin=1.0), EAMCalculator(ZOPE, skin=0.0)
    rng = np.random.default_rng(14)
    for _ in range(4):
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.set_cell(atoms.cell.array * 1.004, scale_atoms=True)
        e1, f1, s1 = _results(atoms, with_skin)
        e2, f2, s2 = _results(atoms, fresh)
        assert abs(e1 - e2) < 1e-11 and np.abs(f1 - f2).max() < 1e-11 and np.abs(s1 - s2).max() < 1e-13
    assert with_skin.neighbors.builds < 4


def test_sutton_chen_file_equals_its_analytic_model(sc_files):
    """Through our calculator the Sutton-Chen file still reproduces eam.py's analytic model."""
    from polymlp_lab.properties.eam import sutton_chen_energy

    atoms = cuau_rattled()
    atoms.calc = EAMCalculator(sc_files["CuAu"])
    energy, forces = sutton_chen_energy(atoms, ["Cu", "Au"])
    assert atoms.get_potential_energy() == pytest.approx(energy, abs=1e-8)
    assert np.abs(atoms.get_forces() - forces).max() < 1e-6


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------

def _bad_files(tmp_path):
    lines = open(ZOPE).read().splitlines(keepends=True)
    files = {
        "missing": tmp_path / "absent.eam.alloy",
        "empty": tmp_path / "empty.eam.alloy",
        "garbage": tmp_path / "garbage.eam.alloy",
        "truncated": tmp_path / "truncated.eam.alloy",
        "nan": tmp_path / "nan.eam.alloy",
        "other format": tmp_path / "Zope.eam.fs",
        "directory": tmp_path / "folder.eam.alloy",
    }
    files["empty"].write_text("")
    files["garbage"].write_text("this\nis not\nan EAM file\n2 Ti Al\nten 0.1 many 0.1 6.0\n")
    files["truncated"].write_text("".join(lines[: len(lines) // 2]))
    nan = list(lines)
    nan[20] = "nan\n"
    files["nan"].write_text("".join(nan))
    shutil.copy(ZOPE, files["other format"])
    files["directory"].mkdir()
    return files


@pytest.mark.parametrize("kind", ["missing", "empty", "garbage", "truncated", "nan",
                                  "other format", "directory"])
def test_bad_file_is_refused_by_name(kind, tmp_path):
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(EAMFileError) as info:
        EAMCalculator(path)
    assert isinstance(info.value, PotentialFileError) and isinstance(info.value, PolymlpLabError)
    assert str(path) in str(info.value) and info.value.path == path


def test_missing_elements_are_named(sc_files):
    with pytest.raises(EAMElementError) as info:
        EAMCalculator(ZOPE, elements=("Ti", "Ni", "Cu"))
    message = str(info.value)
    assert isinstance(info.value, UnknownElementError)
    assert info.value.missing == ("Ni", "Cu") and info.value.known == ("Ti", "Al")
    assert "Ni, Cu" in message and ZOPE in message and "Ti, Al" in message
    calc = EAMCalculator(sc_files["Cu"])  # unchecked until a structure comes
    atoms = bulk("Au", "fcc", a=4.08)
    atoms.calc = calc
    with pytest.raises(EAMElementError, match="Au"):
        atoms.get_potential_energy()


class CountingEMT(EMT):
    calls = 0

    def calculate(self, *args, **kwargs):
        CountingEMT.calls += 1
        super().calculate(*args, **kwargs)


@pytest.mark.parametrize("peer", ["wrong elements", "missing file"])
def test_card_refuses_a_bad_peer_before_any_work(peer, tmp_path):
    calc = CountingEMT()
    CountingEMT.calls = 0
    path = ZOPE if peer == "wrong elements" else str(tmp_path / "none.eam.alloy")
    error = EAMElementError if peer == "wrong elements" else EAMFileError
    with pytest.raises(error, match="none.eam.alloy" if peer == "missing file" else "Cu, Au"):
        compute_card(calc, elements=("Cu", "Au"), prototypes=["fcc"], peer=path, **SMALL)
    assert CountingEMT.calls == 0


def test_read_keeps_the_header_grids_and_elements():
    potential = read_eam_alloy(ZOPE)
    assert potential.elements == ("Ti", "Al")
    assert (potential.nr, potential.nrho) == (10000, 10000)
    assert potential.cutoff == pytest.approx(6.724884)
    assert potential.masses == pytest.approx([47.867, 26.982])


# ------------------------------------------------------------------------------------------
# the card with a peer
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tial_card():
    from polymlp_lab.potential import load_potential

    return compute_card(load_potential(TIAL_MLP), prototypes=TIAL_PROTOTYPES, peer=ZOPE, **SMALL)


def test_card_holds_the_peer_on_the_same_prototypes(tial_card):
    peer = tial_card.peer
    assert peer.label == "EAM (Zope-Ti-Al-2003.eam.alloy)" and peer.source == ZOPE
    assert set(peer.energies) == set(tial_card.energies) == {
        f"{p}:{e}" for p in ("fcc", "bcc", "hcp") for e in ("Ti", "Al")} | {
        f"{p}:{s}" for p in ("B2", "L1_0") for s in ("TiAl", "AlTi")}
    # Zope & Mishin (2003), Table I: Al fcc a = 4.050 Å, E_c = 3.36 eV; Ti hcp E_c = 4.85 eV
    assert peer.energies["fcc:Al"] == pytest.approx(-3.36, abs=0.005)
    assert peer.lattice["fcc:Al"]["a"] == pytest.approx(4.05, abs=0.005)
    assert peer.energies["hcp:Ti"] == pytest.approx(-4.85, abs=0.005)
    assert peer.hull["formation_energies"]["L1_0:TiAl"] < -0.3
    assert "L1_0:TiAl" in peer.hull["stable"] and "B2:TiAl" not in peer.hull["stable"]
    assert set(peer.eos) == {"hcp:Ti", "fcc:Al", "L1_0:TiAl"}
    assert not peer.phonon_dos["fcc:Al"]["imaginary"]
    assert peer.peer is None and tial_card.timings["peer_s"] == peer.timings["total_s"]
    assert peer.energies != tial_card.energies  # two different potentials


def test_element_card_equals_the_card_computed_with_ase_eam():
    """Our EAM calculator gives the card ASE's EAM gives (same tables, same route)."""
    kw = dict(elements=("Al",), prototypes=["fcc"], **SMALL)
    ours, ase = compute_card(EAMCalculator(ZOPE), **kw), compute_card(EAM(potential=ZOPE), **kw)
    assert ours.energies["fcc"] == pytest.approx(ase.energies["fcc"], abs=1e-9)
    assert ours.lattice["fcc"]["a"] == pytest.approx(ase.lattice["fcc"]["a"], abs=1e-8)
    assert ours.eos["fcc"]["b0"] == pytest.approx(ase.eos["fcc"]["b0"], rel=1e-7)
    assert np.array(ours.elastic["fcc"]) == pytest.approx(np.array(ase.elastic["fcc"]), abs=1e-5)
    assert np.array(ours.phonon_dos["fcc"]["dos"]) == pytest.approx(
        np.array(ase.phonon_dos["fcc"]["dos"]), abs=1e-6)
    assert ours.elastic["fcc"][0][0] > 100  # Zope-Mishin Al: C11 = 114 GPa


def test_written_card_draws_both(tial_card, tmp_path):
    index = write_card(tial_card, tmp_path / "card", title="Ti-Al")
    page = index.read_text()
    assert "E peer (eV/atom)" in page and "compare.png" in page and "peer/index.html" in page
    assert (tmp_path / "card" / "compare.png").stat().st_size > 10_000
    peer = json.loads((tmp_path / "card" / "peer" / "card.json").read_text())
    assert peer["energies"] == tial_card.peer.energies
    assert (tmp_path / "card" / "peer" / "hull.png").is_file()
    fig = compare_cards({"MLP": tial_card})  # the peer comes along
    assert len(fig.axes) == 4  # energies, hull, V0-B0, phonon DOS
    hull_axis = fig.axes[1]
    labels = hull_axis.get_legend_handles_labels()[1]
    assert "MLP hull" in labels and "EAM (Zope-Ti-Al-2003.eam.alloy) hull" in labels


def test_sutton_chen_peer_of_an_element_card(sc_files):
    card = compute_card(EMT(), elements=("Al",), prototypes=["fcc", "bcc"], peer=sc_files["Al"],
                        **SMALL)
    peer = card.peer
    assert peer.label == "EAM (Al.eam.alloy)"
    # eam.py's Sutton-Chen Al: a close to the fitted 4.05 Å, cohesive energy 1-3 % below 3.34 eV
    assert peer.lattice["fcc"]["a"] == pytest.approx(4.05, abs=0.02)
    assert -3.34 < peer.energies["fcc"] < -3.2
    assert peer.energies["fcc"] < peer.energies["bcc"]
    assert peer.hull is None and len(compare_cards({"EMT": card}).axes) == 3


def test_command_card_with_an_eam_file_peer(tmp_path, capsys):
    out = tmp_path / "card"
    code = main(["card", "--pot", TIAL_MLP, "--eam-peer", ZOPE, "--prototypes", *TIAL_PROTOTYPES,
                 "--detailed", "1", "--out", str(out), "--quiet"])
    assert code == 0
    card = json.loads((out / "card.json").read_text())
    assert card["peer"]["label"] == "EAM (Zope-Ti-Al-2003.eam.alloy)"
    assert card["peer"]["energies"]["fcc:Al"] == pytest.approx(-3.36, abs=0.005)
    assert set(card["peer"]["hull"]["stable"]) >= {"fcc:Al", "hcp:Ti", "L1_0:TiAl"}
    for name in ("compare.png", "index.html", "peer/index.html", "peer/hull.png"):
        assert (out / name).is_file(), name
    assert "Zope-Ti-Al-2003.eam.alloy" in capsys.readouterr().out


def test_command_bare_eam_peer_is_sutton_chen(tmp_path):
    from conftest import random_potential

    pot = tmp_path / "al.yaml"
    random_potential(("Al",), seed=1).save(pot)
    out = tmp_path / "card"
    code = main(["card", "--pot", str(pot), "--eam-peer", "--prototypes", "fcc", "bcc",
                 "--detailed", "1", "--out", str(out), "--quiet"])
    assert code == 0
    card = json.loads((out / "card.json").read_text())
    assert card["peer"]["label"] == "EAM (SuttonChen_Al.eam.alloy)"
    assert (out / "eam" / "SuttonChen_Al.eam.alloy").is_file() and (out / "compare.png").is_file()
    assert -3.34 < card["peer"]["energies"]["fcc"] < card["peer"]["energies"]["bcc"]


def test_command_refuses_a_bad_peer(tmp_path, capsys):
    out = tmp_path / "card"
    code = main(["card", "--pot", TIAL_MLP, "--eam-peer", str(tmp_path / "nothing.eam.alloy"),
                 "--prototypes", "fcc", "--out", str(out), "--quiet"])
    assert code == 2 and "nothing.eam.alloy" in capsys.readouterr().err
    assert not (out / "card.json").exists()
    code = main(["card", "--pot", TIAL_MLP, "--eam-peer", "--prototypes", "fcc", "--out", str(out),
                 "--quiet"])  # bare: Sutton-Chen has no Ti
    assert code == 2 and "'Ti'" in capsys.readouterr().err
    assert not (out / "card.json").exists()

"""Prototype library: every prototype's composition, space group (spglib), atom spacing and
size; first-shell coordination and bond lengths of well-known structures; the registry's
errors; user structures written as POSCAR/CIF and read back with substitution."""

import math

import numpy as np
import pytest
import spglib
from ase.build import bulk
from ase.io import write
from ase.neighborlist import neighbor_list

from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.properties import prototypes
from polymlp_lab.properties.prototypes import (
    Prototype,
    PrototypeError,
    UnknownPrototypeError,
    atomic_radius,
    binary_prototypes,
    build,
    element_prototypes,
    element_volume,
    estimate_volume_per_atom,
    get_prototype,
    prototype_names,
    read_prototype,
    register_prototype,
)

ELEMENT_NAMES = element_prototypes()  # the built-in library, collected before any test registers
BINARY_NAMES = binary_prototypes()
pytestmark = pytest.mark.filterwarnings("ignore:Set OLD_ERROR_HANDLING:DeprecationWarning")  # spglib 2.x

DECORATION = {"element": ("Al",), "binary": ("Ni", "Al")}


def spacegroup_number(atoms, symprec=1e-3):
    dataset = spglib.get_symmetry_dataset(
        (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=symprec)
    return dataset.number


def reduced_counts(atoms, elements):
    symbols = atoms.get_chemical_symbols()
    counts = [symbols.count(e) for e in elements]
    divisor = math.gcd(*counts) if len(counts) > 1 else counts[0]
    return tuple(c // divisor for c in counts)


def first_shell(atoms, index, tol=0.05):
    """Neighbours of atom ``index`` within (1 + tol) of its nearest distance: symbols."""
    i, j, d = neighbor_list("ijd", atoms, 3.0 * (atoms.get_volume() / len(atoms)) ** (1 / 3))
    mine = i == index
    shell = d[mine] <= (1 + tol) * d[mine].min()
    return [atoms[k].symbol for k in j[mine][shell]]


@pytest.fixture
def private_registry(monkeypatch):
    """Tests that register prototypes do it in a copy of the registry."""
    monkeypatch.setattr(prototypes, "_REGISTRY", dict(prototypes._REGISTRY))


def test_library_has_enough_distinct_prototypes():
    assert len(ELEMENT_NAMES) >= 15
    assert len(BINARY_NAMES) >= 20
    names = prototype_names()
    assert len(names) == len(set(names)) == len(ELEMENT_NAMES) + len(BINARY_NAMES)
    assert {"fcc", "bcc", "hcp", "dhcp", "sc", "diamond", "beta-Sn", "beta-W"} <= set(ELEMENT_NAMES)
    assert {"L1_2", "L1_0", "B2", "B1", "B3", "D0_3", "D0_19", "D0_22", "C11_b", "C14", "C15",
            "C16", "A15", "C32", "B32", "B19"} <= set(BINARY_NAMES)
    for name in ELEMENT_NAMES + BINARY_NAMES:
        p = get_prototype(name)
        assert p.name == name
        assert p.kind == ("element" if name in ELEMENT_NAMES else "binary")
        assert p.n_species == (1 if p.kind == "element" else 2)
        assert "AFLOW" in p.source or "Strukturbericht" in p.source
        assert 1 <= p.spacegroup <= 230


@pytest.mark.parametrize("name", ELEMENT_NAMES + BINARY_NAMES)
def test_prototype_composition_symmetry_spacing_and_size(name):
    p = get_prototype(name)
    elements = DECORATION[p.kind]
    atoms = build(name, elements)

    assert atoms.pbc.all() and atoms.info["prototype"] == name
    assert reduced_counts(atoms, elements) == p.counts
    assert spacegroup_number(atoms) == p.spacegroup

    # No overlapping atoms: every pair farther apart than 0.6 x the sum of the radii.
    i, j, d = neighbor_list("ijd", atoms, 8.0)
    radii = np.array([atomic_radius(s) for s in atoms.get_chemical_symbols()])
    assert (d / (radii[i] + radii[j])).min() > 0.6

    # Default size: the composition-weighted atomic volume.
    assert atoms.get_volume() / len(atoms) == pytest.approx(
        estimate_volume_per_atom(atoms.get_chemical_symbols()), rel=1e-12)

    # Requested size: the volume changes, the shape and fractional positions do not.
    sized = build(name, elements, volume_per_atom=17.3)
    assert sized.get_volume() / len(sized) == pytest.approx(17.3, rel=1e-12)
    scale = (17.3 * len(atoms) / atoms.get_volume()) ** (1 / 3)
    np.testing.assert_allclose(sized.cell[:], atoms.cell[:] * scale, atol=1e-10)
    shift = sized.get_scaled_positions() - atoms.get_scaled_positions()
    np.testing.assert_allclose(shift - np.round(shift), 0.0, atol=1e-10)  # equal modulo a lattice vector

    # The prototype compound's own elements are the default decoration.
    example = build(name)
    assert reduced_counts(example, p.elements) == p.counts
    assert spacegroup_number(example) == p.spacegroup


def test_swapping_a_and_b_keeps_the_structure():
    ni3al = build("L1_2", ["Ni", "Al"], volume_per_atom=11.5)
    al3ni = build("L1_2", ["Al", "Ni"], volume_per_atom=11.5)
    assert ni3al.get_chemical_formula() == "AlNi3" and al3ni.get_chemical_formula() == "Al3Ni"
    assert spacegroup_number(al3ni) == 221


@pytest.mark.parametrize("name, shells", [
    ("fcc", {"A": 12}), ("bcc", {"A": 8}), ("hcp", {"A": 12}), ("sc", {"A": 6}),
    ("diamond", {"A": 4}), ("lonsdaleite", {"A": 4}), ("bc8", {"A": 4}), ("graphite", {"A": 3}),
    ("gamma-Se", {"A": 2}), ("alpha-As", {"A": 3}), ("black-P", {"A": 3}),
    ("B1", {"A": 6, "B": 6}), ("B2", {"A": 8, "B": 8}), ("B3", {"A": 4, "B": 4}),
    ("B4", {"A": 4, "B": 4}), ("B_k", {"A": 3, "B": 3}), ("B32", {"A": 8, "B": 8}),
    ("D0_3", {"A": 8, "B": 8}), ("L1_2", {"A": 12, "B": 12}), ("C1", {"A": 8, "B": 4}),
    ("C32", {"A": 12, "B": 3}),
])
def test_first_shell_coordination(name, shells):
    """Coordination of every atom in structures whose first shell is textbook knowledge."""
    p = get_prototype(name)
    elements = DECORATION[p.kind]
    atoms = build(name, elements)
    for index, atom in enumerate(atoms):
        letter = "AB"[elements.index(atom.symbol)]
        assert len(first_shell(atoms, index)) == shells[letter], (name, index, atom.symbol)
    if name in ("B1", "B2", "B3", "B4", "C1", "B_k"):  # ionic/covalent: first shell is all unlike
        for index in range(len(atoms)):
            assert atoms[index].symbol not in first_shell(atoms, index)


def test_sizes_and_bond_lengths_of_known_crystals():
    cu = build("fcc", "Cu")  # default volume: ASE's experimental fcc Cu (a = 3.61 Å)
    assert cu.get_volume() == pytest.approx(bulk("Cu").get_volume(), rel=1e-12)
    d = neighbor_list("d", cu, 3.0).min()
    assert d == pytest.approx(3.61 / math.sqrt(2), rel=1e-9)

    si = build("diamond", "Si", volume_per_atom=5.431**3 / 8)
    assert neighbor_list("d", si, 3.0).min() == pytest.approx(5.431 * math.sqrt(3) / 4, rel=1e-9)

    mg = build("hcp", "Mg")
    a, c = mg.cell.lengths()[0], mg.cell.lengths()[2]
    assert c / a == pytest.approx(1.62359, rel=1e-9)

    ni3al = build("L1_2", ["Ni", "Al"], volume_per_atom=3.57**3 / 4)
    assert neighbor_list("d", ni3al, 3.0).min() == pytest.approx(3.57 / math.sqrt(2), rel=1e-9)

    feb = build("B27", ["Fe", "B"], volume_per_atom=5.506 * 2.952 * 4.061 / 8)
    i, j, d = neighbor_list("ijd", feb, 2.5)
    bb = [dist for a_, b_, dist in zip(i, j, d) if feb[a_].symbol == feb[b_].symbol == "B"]
    assert min(bb) == pytest.approx(1.77, abs=0.02)  # the zig-zag boron chains of FeB


def test_atomic_radii_and_volumes():
    assert atomic_radius("Cu") == pytest.approx(3.61 / (2 * math.sqrt(2)), rel=1e-3)  # metallic
    assert atomic_radius("Al") == pytest.approx(4.05 / (2 * math.sqrt(2)), rel=1e-3)
    assert element_volume("Fe") == pytest.approx(2.87**3 / 2, rel=1e-12)  # bcc
    assert element_volume("Si") == pytest.approx(5.43**3 / 8, rel=1e-12)  # diamond
    assert element_volume("Ga") == pytest.approx(19.4, rel=0.01)  # α-Ga, 8 atoms per cell
    assert element_volume("Mn") == pytest.approx(8.89**3 / 58, rel=1e-12)  # α-Mn
    assert element_volume("O") == pytest.approx(4 / 3 * math.pi * 0.66**3 / 0.74, rel=0.01)
    assert estimate_volume_per_atom(["Ni", "Ni", "Ni", "Al"]) == pytest.approx(
        (3 * element_volume("Ni") + element_volume("Al")) / 4, rel=1e-12)


def test_unknown_prototype_lists_the_valid_names():
    with pytest.raises(UnknownPrototypeError) as info:
        get_prototype("L12-ish")
    error = info.value
    assert isinstance(error, KeyError) and isinstance(error, PolymlpLabError)
    assert isinstance(error, ValueError)
    message = str(error)
    assert message.startswith("unknown prototype 'L12-ish'")
    for name in ("fcc", "L1_2", "C15", "D0_22", "beta-Sn"):
        assert name in message
    assert error.known == tuple(prototype_names())
    with pytest.raises(UnknownPrototypeError, match="known prototypes: fcc, bcc"):
        build("nonesuch", ["Cu"])
    assert get_prototype("l1_2") is get_prototype("L1_2")  # case-insensitive fallback


@pytest.mark.parametrize("name, elements, match", [
    ("B2", "Fe", "takes 2 element"),
    ("fcc", ["Cu", "Au"], "takes 1 element"),
    ("fcc", "Xx", "'Xx' is not a chemical symbol"),
    ("B2", ["Fe", "X"], "'X' is not a chemical symbol"),
])
def test_bad_elements(name, elements, match):
    with pytest.raises(PrototypeError, match=match):
        build(name, elements)


@pytest.mark.parametrize("volume", [0.0, -3.0, float("nan"), float("inf"), "big"])
def test_bad_volume(volume):
    with pytest.raises(PrototypeError, match="volume_per_atom"):
        build("fcc", "Cu", volume_per_atom=volume)


def test_register_rejects_duplicates_and_inconsistent_prototypes(private_registry):
    fcc = get_prototype("fcc")
    with pytest.raises(PrototypeError, match="already registered"):
        register_prototype(fcc)
    register_prototype(fcc, overwrite=True)
    bad_kind = Prototype("x", "binary", "A", "test", fcc.builder, 225)
    with pytest.raises(PrototypeError, match="kind 'binary' does not match"):
        register_prototype(bad_kind)
    with pytest.raises(PrototypeError, match="composition 'A2C'"):
        register_prototype(Prototype("y", "binary", "A2C", "test", fcc.builder, 225))
    assert "x" not in prototype_names() and "y" not in prototype_names()


@pytest.mark.parametrize("filename, fmt", [("POSCAR", "vasp"), ("structure.cif", "cif")])
def test_read_prototype_round_trip_with_substitution(tmp_path, private_registry, filename, fmt):
    original = build("C14", ["Mg", "Zn"], volume_per_atom=16.9)
    path = tmp_path / filename
    write(path, original, format=fmt)

    proto = read_prototype(path, name="my-C14", elements=["Ti", "Al"])
    assert (proto.kind, proto.composition, proto.spacegroup) == ("binary", "AB2", 194)
    assert proto.elements == ("Ti", "Al")
    assert "my-C14" not in prototype_names()  # reading does not register
    register_prototype(proto)
    assert "my-C14" in binary_prototypes()

    atoms = build("my-C14", volume_per_atom=16.9)  # default decoration: the substitutes
    assert atoms.get_chemical_symbols() == ["Ti"] * 4 + ["Al"] * 8
    np.testing.assert_allclose(atoms.cell[:], original.cell[:], atol=1e-4)
    shift = atoms.get_scaled_positions() - original.get_scaled_positions()
    np.testing.assert_allclose(shift - np.round(shift), 0.0, atol=1e-4)
    assert atoms.info["prototype"] == "my-C14"

    other = build("my-C14", ["Cu", "Zr"], volume_per_atom=20.0)
    assert other.get_chemical_formula() == "Cu4Zr8"
    assert other.get_volume() / len(other) == pytest.approx(20.0, rel=1e-12)
    assert spacegroup_number(other) == 194

    plain = read_prototype(path)
    assert plain.name == filename and plain.elements == ("Mg", "Zn")
    assert build(plain, volume_per_atom=16.9).get_chemical_formula() == "Mg4Zn8"


def test_read_prototype_orders_species_by_first_appearance(tmp_path):
    cu3au = build("L1_2", ["Cu", "Au"])
    path = tmp_path / "POSCAR"
    write(path, cu3au[[3, 0, 1, 2]], format="vasp")  # Au written first
    proto = read_prototype(path, elements=["Pt", "Ni"])
    assert proto.composition == "AB3" and proto.elements == ("Pt", "Ni")
    assert build(proto).get_chemical_formula() == "Ni3Pt"
    assert proto.spacegroup == 221


def test_read_prototype_bad_input(tmp_path):
    with pytest.raises(PrototypeError, match="no such file"):
        read_prototype(tmp_path / "missing.vasp")
    garbage = tmp_path / "POSCAR"
    garbage.write_text("not a structure\n1.0\nnonsense\n")
    with pytest.raises(PrototypeError, match="cannot read a structure"):
        read_prototype(garbage, format="vasp")
    good = tmp_path / "B2.vasp"
    write(good, build("B2", ["Fe", "Al"]), format="vasp")
    with pytest.raises(PrototypeError, match="2 species .* but 1 substitute"):
        read_prototype(good, elements=["Ti"])
    molecule = tmp_path / "dimer.xyz"
    molecule.write_text("2\n\nH 0 0 0\nH 0 0 0.74\n")
    with pytest.raises(PrototypeError, match="periodic in 3D"):
        read_prototype(molecule)

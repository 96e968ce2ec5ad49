"""Prototype crystal structures of elements and binary compounds, decorated on demand.

The Kyoto Polynomial MLP Repository shows, for each potential, the cohesive energies of many
prototype structures. This module holds such prototypes: 28 of elements and 43 of binary
compounds, each a :class:`Prototype` (name, kind, composition, source, builder, space group),
and :func:`build` turns one into an ``ase.Atoms`` with the elements you choose::

    from polymlp_lab.properties.prototypes import build, binary_prototypes
    atoms = build("L1_2", ["Ni", "Al"])                # Ni3Al, 4 atoms, Pm-3m
    atoms = build("hcp", "Ti", volume_per_atom=17.6)   # Å^3/atom
    [build(name, ["Ti", "Al"]) for name in binary_prototypes()]

Every structure comes from its space group, Wyckoff sites, axis ratios and internal
parameters (``ase.spacegroup.crystal``, primitive cell, standard ITA setting, origin choice
1), with the values of the AFLOW Encyclopedia of Crystallographic Prototypes (Mehl et al.,
Comput. Mater. Sci. 136, S1 (2017)) for the prototype compound named in ``source``. The few
exceptions say so in ``source``: FeB (B27) and BC8 take the literature positions, L1_1 and
lonsdaleite are the ideal fcc/hcp-based structures, ω is ω-Ti. ``composition`` uses A for the
first element passed to :func:`build` and B for the second ("A3B": three A per B).

Sizes: the cell is scaled uniformly (axis ratios and fractional positions fixed) to a volume
per atom, by default the composition-weighted atomic volume (4/3)π r³ / 0.74 of
:func:`atomic_radius` (Zen's law of additive volumes; close-packed metals start at their
experimental size, open or layered prototypes of them start compressed). Pass
``volume_per_atom`` or relax the structure for anything quantitative.

User structures (POSCAR, CIF, any ``ase.io`` format) become prototypes with
:func:`read_prototype` and, once given to :func:`register_prototype`, are built by name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache, reduce
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols, covalent_radii, reference_states

from ..errors import PolymlpLabError
from .symmetry import symmetry_dataset


PACKING_FRACTION = 0.74  # close packing: the volume per atom of a sphere of radius r is (4/3)πr³/0.74
_KINDS = {1: "element", 2: "binary", 3: "ternary", 4: "quaternary"}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class PrototypeError(PolymlpLabError):
    """A prototype cannot be built, read or registered: wrong number of elements, unknown
    chemical symbol, non-positive volume, unreadable structure file, name already taken."""


class UnknownPrototypeError(PrototypeError, KeyError):
    """No prototype has this name. Also a ``KeyError``; ``name`` and ``known`` (all valid
    names) are attributes and the message lists the valid names."""

    def __init__(self, name, known):
        super().__init__(
            f"unknown prototype '{name}'; known prototypes: {', '.join(known)}"
        )
        self.name, self.known = name, tuple(known)

    def __str__(self):  # KeyError would print the message in quotes
        return str(self.args[0])


def _kind(n_species: int) -> str:
    return _KINDS.get(n_species, f"{n_species}-ary")


def _parse_composition(composition: str) -> Tuple[int, ...]:
    """Counts of A, B, ... in a composition string: "A3B" -> (3, 1), "AB5" -> (1, 5)."""
    tokens = re.fullmatch(r"(?:[A-Z]\d*)+", composition or "")
    if tokens is None:
        raise PrototypeError(f"composition '{composition}' is not of the form A, AB, A3B, AB2, ...")
    letters = re.findall(r"([A-Z])(\d*)", composition)
    if "".join(letter for letter, _ in letters) != _LETTERS[: len(letters)]:
        raise PrototypeError(f"composition '{composition}' must name A, B, ... once each, in order")
    counts = tuple(int(n) if n else 1 for _, n in letters)
    if min(counts) < 1:
        raise PrototypeError(f"composition '{composition}' has a zero count")
    return counts


def _composition_string(counts: Sequence[int]) -> str:
    """(3, 1) -> "A3B"; counts are reduced by their greatest common divisor first."""
    divisor = reduce(math.gcd, counts)
    return "".join(
        _LETTERS[k] + (str(n // divisor) if n // divisor != 1 else "") for k, n in enumerate(counts)
    )


@dataclass(frozen=True)
class Prototype:
    """One prototype structure.

    ``name``: registry key ("fcc", "L1_2", "C15"). ``kind``: "element", "binary" (user
    structures with more species: "ternary", "quaternary", "n-ary"). ``composition``: species
    per formula unit, A the first element given to :func:`build` ("A", "AB", "A3B", "AB2").
    ``source``: short citation (Strukturbericht designation and prototype compound, AFLOW
    label). ``builder(symbols) -> ase.Atoms``: the structure with one symbol per species, at
    an arbitrary size that :func:`build` rescales. ``spacegroup``: its number with distinct
    species. ``elements``: the prototype compound's, used when :func:`build` is given none
    (for :func:`read_prototype` the file's species or their substitutes).
    """

    name: str
    kind: str
    composition: str
    source: str
    builder: Callable[[Tuple[str, ...]], Atoms] = field(repr=False, compare=False)
    spacegroup: Optional[int] = None
    elements: Optional[Tuple[str, ...]] = None

    @property
    def counts(self) -> Tuple[int, ...]:
        """Atoms of A, B, ... per formula unit, from ``composition``."""
        return _parse_composition(self.composition)

    @property
    def n_species(self) -> int:
        """Number of elements the prototype takes (1 for elements, 2 for binaries)."""
        return len(self.counts)


@dataclass(frozen=True)
class _Wyckoff:
    """Builder from a space group (ITA number, setting 1), cell parameters with a = 1 and
    one representative position per Wyckoff orbit, tagged with its species index (A = 0)."""

    spacegroup: int
    cellpar: Tuple[float, ...]
    sites: Tuple[Tuple[int, Tuple[float, float, float]], ...]

    def __call__(self, symbols: Sequence[str]) -> Atoms:
        from ase.spacegroup import crystal

        placeholder = [chemical_symbols[k + 1] for k in range(len(self.sites))]  # H, He, ...
        atoms = crystal(placeholder, [pos for _, pos in self.sites], spacegroup=self.spacegroup,
                        cellpar=self.cellpar, primitive_cell=True, onduplicates="error")
        orbit = atoms.get_atomic_numbers() - 1
        species = np.array([self.sites[k][0] for k in orbit])
        order = np.argsort(species, kind="stable")  # A atoms first, then B
        return Atoms([symbols[s] for s in species[order]], cell=atoms.cell,
                     positions=atoms.positions[order], pbc=True)


@dataclass(frozen=True)
class _Template:
    """Builder of a user structure: its cell and fractional positions, species indices."""

    cell: Tuple[Tuple[float, float, float], ...]
    scaled_positions: Tuple[Tuple[float, float, float], ...]
    species: Tuple[int, ...]

    def __call__(self, symbols: Sequence[str]) -> Atoms:
        return Atoms([symbols[s] for s in self.species], cell=self.cell,
                     scaled_positions=self.scaled_positions, pbc=True)


_REGISTRY: dict = {}


def register_prototype(prototype: Prototype, *, overwrite: bool = False) -> Prototype:
    """Add a prototype to the registry so that :func:`build` and :func:`get_prototype`
    find it by name; returns it. Raises PrototypeError when the name is taken (unless
    ``overwrite``) or ``kind``/``composition`` are invalid."""
    if not isinstance(prototype, Prototype):
        raise PrototypeError(f"expected a Prototype, got {type(prototype).__name__}")
    if not prototype.name or not isinstance(prototype.name, str):
        raise PrototypeError("a prototype needs a non-empty name")
    counts = prototype.counts  # validates the composition string
    if prototype.kind != _kind(len(counts)):
        raise PrototypeError(f"prototype '{prototype.name}': kind '{prototype.kind}' does not "
                             f"match composition '{prototype.composition}' ({_kind(len(counts))})")
    if prototype.elements is not None and len(prototype.elements) != len(counts):
        raise PrototypeError(f"prototype '{prototype.name}': {len(prototype.elements)} default "
                             f"elements for composition '{prototype.composition}'")
    if prototype.name in _REGISTRY and not overwrite:
        raise PrototypeError(f"a prototype named '{prototype.name}' is already registered "
                             "(pass overwrite=True to replace it)")
    _REGISTRY[prototype.name] = prototype
    return prototype


def prototype_names(kind: Optional[str] = None) -> list:
    """Registered names in registration order, all or of one ``kind``."""
    return [name for name, p in _REGISTRY.items() if kind is None or p.kind == kind]


def element_prototypes() -> list:
    """Names of the registered one-element prototypes."""
    return prototype_names("element")


def binary_prototypes() -> list:
    """Names of the registered binary prototypes."""
    return prototype_names("binary")


def get_prototype(name: str) -> Prototype:
    """The registered prototype of this name (exact, else the unique case-insensitive match).
    Raises UnknownPrototypeError, listing every registered name, when there is none."""
    if isinstance(name, Prototype):
        return name
    if name in _REGISTRY:
        return _REGISTRY[name]
    folded = [key for key in _REGISTRY if isinstance(name, str) and key.lower() == name.lower()]
    if len(folded) == 1:
        return _REGISTRY[folded[0]]
    raise UnknownPrototypeError(name, list(_REGISTRY))


# ----------------------------------------------------------------------------- sizes

# ASE's reference crystals whose lattice is given without a basis: atoms per cell.
_REFERENCE_CELL_ATOMS = {"B": 50, "S": 128, "Cl": 8, "Mn": 58, "Ga": 8, "Se": 3, "Br": 8,
                         "Te": 3, "I": 8, "Pa": 2, "U": 4, "Np": 8}
_BULK_SYMMETRIES = ("fcc", "bcc", "hcp", "diamond", "sc", "bct", "rhombohedral")


def _check_symbol(symbol) -> str:
    if not isinstance(symbol, str) or symbol not in atomic_numbers or atomic_numbers[symbol] == 0:
        raise PrototypeError(f"'{symbol}' is not a chemical symbol")
    return symbol


@lru_cache(maxsize=None)
def element_volume(symbol: str) -> float:
    """Atomic volume of an element in Å³/atom: that of its experimental reference crystal in
    ``ase.data.reference_states`` (fcc Cu 11.8, bcc Fe 11.8, diamond Si 20.0, α-Ga 19.5);
    elements without crystal data there (H, N, O, F, P, noble-gas-like gaps, most actinides)
    get (4/3)π r³ / 0.74 with their covalent radius r."""
    _check_symbol(symbol)
    z = atomic_numbers[symbol]
    ref = (reference_states[z] if z < len(reference_states) else None) or {}
    symmetry = ref.get("symmetry")
    if symbol in _REFERENCE_CELL_ATOMS and "a" in ref:
        a = ref["a"]
        shape = {"cubic": 1.0, "tetragonal": ref.get("c/a", 1.0),
                 "orthorhombic": ref.get("b/a", 1.0) * ref.get("c/a", 1.0),
                 "hcp": math.sqrt(3) / 2 * ref.get("c/a", 1.0)}.get(symmetry)
        if shape is not None:
            return a**3 * shape / _REFERENCE_CELL_ATOMS[symbol]
    if symmetry in _BULK_SYMMETRIES:
        from ase.build import bulk

        try:
            crystal = bulk(symbol)
            return crystal.get_volume() / len(crystal)
        except (ValueError, RuntimeError, KeyError):
            pass
    return 4 / 3 * math.pi * covalent_radii[z] ** 3 / PACKING_FRACTION


def atomic_radius(symbol: str) -> float:
    """Atomic radius in Å: the sphere that fills :func:`element_volume` at close packing,
    r = (3 · 0.74 · V / 4π)^(1/3) (the metallic radius of fcc and hcp metals: Cu 1.28 Å,
    Al 1.43 Å; the covalent radius for elements without crystal data)."""
    return (3 * PACKING_FRACTION * element_volume(symbol) / (4 * math.pi)) ** (1 / 3)


def estimate_volume_per_atom(symbols: Sequence[str]) -> float:
    """Default volume in Å³/atom of a structure with these atoms (one symbol per atom):
    the mean of (4/3)π r³ / 0.74 over the atoms, r from :func:`atomic_radius`."""
    symbols = list(symbols)
    if not symbols:
        raise PrototypeError("no atoms to estimate a volume for")
    return float(np.mean([element_volume(s) for s in symbols]))


# ----------------------------------------------------------------------------- build


def _as_elements(elements, prototype: Prototype) -> Tuple[str, ...]:
    if elements is None:
        if prototype.elements is None:
            raise PrototypeError(f"prototype '{prototype.name}' ({prototype.composition}) needs "
                                 f"{prototype.n_species} element(s)")
        elements = prototype.elements
    elements = (elements,) if isinstance(elements, str) else tuple(elements)
    if len(elements) != prototype.n_species:
        raise PrototypeError(
            f"prototype '{prototype.name}' ({prototype.kind}, {prototype.composition}) takes "
            f"{prototype.n_species} element(s), got {len(elements)}: {', '.join(map(str, elements))}"
        )
    return tuple(_check_symbol(e) for e in elements)


def build(name, elements=None, *, volume_per_atom: Optional[float] = None) -> Atoms:
    """The prototype ``name`` (a registered name or a :class:`Prototype`) decorated with
    ``elements`` (one symbol per species, A first: "Cu" or ["Ni", "Al"]; default the
    prototype compound's), scaled to ``volume_per_atom`` Å³/atom (default
    :func:`estimate_volume_per_atom`).

    Returns the primitive cell (A atoms first), periodic in 3D, with ``info["prototype"]``
    (the name) and ``info["spacegroup"]``. Raises UnknownPrototypeError (no such name) and
    PrototypeError (wrong number of elements, an unknown symbol, a volume not positive).
    """
    prototype = get_prototype(name)
    symbols = _as_elements(elements, prototype)
    atoms = prototype.builder(symbols)
    if volume_per_atom is None:
        target = estimate_volume_per_atom(atoms.get_chemical_symbols())
    else:
        try:
            target = float(volume_per_atom)
        except (TypeError, ValueError) as exc:
            raise PrototypeError(f"volume_per_atom must be a number, got {volume_per_atom!r}") from exc
        if not math.isfinite(target) or target <= 0:
            raise PrototypeError(f"volume_per_atom must be positive and finite (Å^3/atom), got {target}")
    scale = (target * len(atoms) / atoms.get_volume()) ** (1 / 3)
    atoms.set_cell(atoms.cell[:] * scale, scale_atoms=True)
    atoms.wrap()
    atoms.info = {"prototype": prototype.name, "spacegroup": prototype.spacegroup}
    return atoms


# ----------------------------------------------------------------------------- user structures


def read_prototype(path, name: Optional[str] = None, elements=None, *,
                   format: Optional[str] = None, index=-1) -> Prototype:
    """A prototype from a structure file periodic in 3D (POSCAR, CIF, extxyz, any
    ``ase.io.read`` ``format``; image ``index`` of a multi-image file), named ``name``
    (default the file name). Species are ordered by first appearance (A, B, ...);
    ``elements`` substitutes them and becomes the prototype's default decoration (default
    the file's species). Not registered: give it to :func:`build`, or to
    :func:`register_prototype` to build it by name.

    Raises PrototypeError for a missing or unreadable file, no atoms, a non-periodic or
    singular cell, or a number of substitutes different from the number of species.
    """
    import ase.io

    path = Path(path)
    if path.is_dir():
        raise PrototypeError(f"{path}: is a directory, not a structure file")
    if not path.is_file():
        raise PrototypeError(f"{path}: no such file")
    try:
        atoms = ase.io.read(path, index=index, format=format)
    except Exception as exc:  # ase raises many types for bad files
        raise PrototypeError(f"{path}: cannot read a structure ({type(exc).__name__}: {exc})") from exc
    if isinstance(atoms, list):  # a slice index
        raise PrototypeError(f"{path}: index {index!r} selects several images, give one")
    if len(atoms) == 0:
        raise PrototypeError(f"{path}: the structure has no atoms")
    if not atoms.pbc.all() or abs(atoms.cell.volume) < 1e-6:
        raise PrototypeError(f"{path}: a prototype needs a cell periodic in 3D with a volume "
                             f"(pbc={atoms.pbc.tolist()}, volume={abs(atoms.cell.volume):.3g} Å^3)")
    symbols = atoms.get_chemical_symbols()
    species = list(dict.fromkeys(symbols))
    if elements is None:
        defaults = tuple(species)
    else:
        defaults = (elements,) if isinstance(elements, str) else tuple(elements)
        if len(defaults) != len(species):
            raise PrototypeError(
                f"{path}: {len(species)} species ({', '.join(species)}) but {len(defaults)} "
                f"substitute element(s) ({', '.join(map(str, defaults))})")
        defaults = tuple(_check_symbol(e) for e in defaults)
    species_index = [species.index(s) for s in symbols]
    counts = [symbols.count(s) for s in species]
    dataset = symmetry_dataset(atoms, symprec=1e-3, numbers=[k + 1 for k in species_index])
    template = _Template(cell=tuple(map(tuple, atoms.cell[:].tolist())),
                         scaled_positions=tuple(map(tuple, atoms.get_scaled_positions().tolist())),
                         species=tuple(species_index))
    return Prototype(
        name=name or path.name,
        kind=_kind(len(species)),
        composition=_composition_string(counts),
        source=f"user structure {path.name} ({atoms.get_chemical_formula()})",
        builder=template,
        spacegroup=None if dataset is None else int(dataset.number),
        elements=defaults,
    )


# ----------------------------------------------------------------------------- the library

_A, _B = 0, 1  # species indices of the sites


_CUBIC = (1.0, 1.0, 1.0, 90.0, 90.0, 90.0)  # cell parameters with a = 1


def _hexagonal(c_a):  # also the hexagonal axes of rhombohedral groups
    return (1.0, 1.0, c_a, 90.0, 90.0, 120.0)


def _tetragonal(c_a):
    return (1.0, 1.0, c_a, 90.0, 90.0, 90.0)


def _orthorhombic(b_a, c_a):
    return (1.0, b_a, c_a, 90.0, 90.0, 90.0)


def _add(name, composition, spacegroup, cellpar, sites, source, elements):
    counts = _parse_composition(composition)
    register_prototype(Prototype(
        name=name, kind=_kind(len(counts)), composition=composition, source=source,
        builder=_Wyckoff(spacegroup, tuple(cellpar), tuple((s, tuple(p)) for s, p in sites)),
        spacegroup=spacegroup, elements=tuple(elements)))


# Elements. (name, spacegroup, cell, sites, source, example element)
_ELEMENTS = [
    ("fcc", 225, _CUBIC, [(_A, (0, 0, 0))], "Strukturbericht A1, Cu; AFLOW A_cF4_225_a", "Cu"),
    ("bcc", 229, _CUBIC, [(_A, (0, 0, 0))], "Strukturbericht A2, W; AFLOW A_cI2_229_a", "W"),
    ("hcp", 194, _hexagonal(1.62359), [(_A, (1 / 3, 2 / 3, 1 / 4))],
     "Strukturbericht A3, Mg; AFLOW A_hP2_194_c", "Mg"),
    ("dhcp", 194, _hexagonal(3.21751), [(_A, (0, 0, 0)), (_A, (1 / 3, 2 / 3, 1 / 4))],
     "Strukturbericht A3', α-La (double hcp); AFLOW A_hP4_194_ac", "La"),
    ("sc", 221, _CUBIC, [(_A, (0, 0, 0))], "Strukturbericht A_h, α-Po; AFLOW A_cP1_221_a", "Po"),
    ("sh", 191, _hexagonal(0.9312), [(_A, (0, 0, 0))],
     "Strukturbericht A_f, simple hexagonal (γ-HgSn6-10); AFLOW A_hP1_191_a", "Sn"),
    ("diamond", 227, _CUBIC, [(_A, (0, 0, 0))],
     "Strukturbericht A4, C (diamond); AFLOW A_cF8_227_a", "C"),
    ("lonsdaleite", 194, _hexagonal(math.sqrt(8 / 3)), [(_A, (1 / 3, 2 / 3, 1 / 16))],
     "hexagonal diamond, ideal (c/a = √(8/3), z = 1/16); AFLOW A_hP4_194_f", "C"),
    ("graphite", 194, _hexagonal(2.72362), [(_A, (0, 0, 1 / 4)), (_A, (1 / 3, 2 / 3, 1 / 4))],
     "Strukturbericht A9, C (hexagonal graphite); AFLOW A_hP4_194_bc", "C"),
    ("beta-Sn", 141, _tetragonal(0.54561), [(_A, (0, 0, 0))],
     "Strukturbericht A5, β-Sn; AFLOW A_tI4_141_a", "Sn"),
    ("bct-In", 139, _tetragonal(1.52080), [(_A, (0, 0, 0))],
     "Strukturbericht A6, In (a = 3.2523 Å, c = 4.9461 Å); AFLOW A_tI2_139_a", "In"),
    ("alpha-Pa", 139, _tetragonal(0.8235), [(_A, (0, 0, 0))],
     "Strukturbericht A_a, α-Pa (bct near bcc); AFLOW A_tI2_139_a", "Pa"),
    ("alpha-As", 166, _hexagonal(2.78157), [(_A, (0, 0, 0.22754))],
     "Strukturbericht A7, α-As; AFLOW A_hR2_166_c", "As"),
    ("gamma-Se", 152, _hexagonal(1.13453), [(_A, (0.2254, 0, 1 / 3))],
     "Strukturbericht A8, γ-Se (trigonal); AFLOW A_hP3_152_a", "Se"),
    ("alpha-Hg", 166, _hexagonal(1.92728), [(_A, (0, 0, 0))],
     "Strukturbericht A10, α-Hg; AFLOW A_hR1_166_a", "Hg"),
    ("alpha-Ga", 64, _orthorhombic(1.69379, 1.00022), [(_A, (0, 0.1549, 0.919))],
     "Strukturbericht A11, α-Ga; AFLOW A_oC8_64_f", "Ga"),
    ("alpha-Mn", 217, _CUBIC,
     [(_A, (0, 0, 0)), (_A, (0.18213, 0.18213, 0.18213)), (_A, (0.08958, 0.08958, 0.71806)),
      (_A, (0.03457, 0.35706, 0.64294))],
     "Strukturbericht A12, α-Mn; AFLOW A_cI58_217_ac2g", "Mn"),
    ("beta-Mn", 213, _CUBIC, [(_A, (0.06361, 0.06361, 0.06361)), (_A, (0.04776, 7 / 8, 0.70224))],
     "Strukturbericht A13, β-Mn; AFLOW A_cP20_213_cd", "Mn"),
    ("black-P", 64, _orthorhombic(3.16212, 1.32071), [(_A, (0, 0.10168, 0.91944))],
     "Strukturbericht A17, black P; AFLOW A_oC8_64_f", "P"),
    ("alpha-U", 63, _orthorhombic(2.06332, 1.73379), [(_A, (0, 0.10228, 1 / 4))],
     "Strukturbericht A20, α-U; AFLOW A_oC4_63_c", "U"),
    ("beta-Po", 166, _hexagonal(0.96814), [(_A, (0, 0, 0))],
     "Strukturbericht A_i, β-Po; AFLOW A_hR1_166_a", "Po"),
    ("alpha-Sm", 166, _hexagonal(7.25049), [(_A, (0, 0, 0)), (_A, (0, 0, 0.22222))],
     "Strukturbericht C19, α-Sm; AFLOW A_hR3_166_ac", "Sm"),
    ("beta-W", 223, _CUBIC, [(_A, (0, 0, 0)), (_A, (0, 1 / 2, 1 / 4))],
     "Strukturbericht A15, β-W (Cr3Si type, one element); AFLOW A3B_cP8_223_c_a", "W"),
    ("omega", 191, _hexagonal(2.82 / 4.60), [(_A, (0, 0, 0)), (_A, (1 / 3, 2 / 3, 1 / 2))],
     "hexagonal ω, ω-Ti (a = 4.60 Å, c = 2.82 Å; AlB2 sites, AFLOW AB2_hP3_191_a_d)", "Ti"),
    ("bc8", 206, _CUBIC, [(_A, (0.1003, 0.1003, 0.1003))],
     "BC8, Si-III (x = 0.1003, Kasper and Richards 1964); AFLOW A_cI16_206_c", "Si"),
    ("bct5", 139, _tetragonal(1.94217), [(_A, (0, 0, 0.181))],
     "bct5 Si (theoretical); AFLOW A_tI4_139_e", "Si"),
    ("gamma-Pu", 70, _orthorhombic(1.82613, 3.21715), [(_A, (0, 0, 0))],
     "γ-Pu; AFLOW A_oF8_70_a", "Pu"),
    ("beta-Np", 129, _tetragonal(0.69185), [(_A, (0, 0, 0)), (_A, (0, 1 / 2, 5 / 8))],
     "Strukturbericht A_d, β-Np; AFLOW A_tP4_129_ac", "Np"),
]

# Binaries. (name, composition, spacegroup, cell, sites, source, example elements A, B)
_BINARIES = [
    ("B1", "AB", 225, _CUBIC, [(_A, (0, 0, 0)), (_B, (1 / 2, 1 / 2, 1 / 2))],
     "Strukturbericht B1, NaCl; AFLOW AB_cF8_225_a_b", ("Na", "Cl")),
    ("B2", "AB", 221, _CUBIC, [(_A, (0, 0, 0)), (_B, (1 / 2, 1 / 2, 1 / 2))],
     "Strukturbericht B2, CsCl; AFLOW AB_cP2_221_b_a", ("Cs", "Cl")),
    ("B3", "AB", 216, _CUBIC, [(_A, (0, 0, 0)), (_B, (1 / 4, 1 / 4, 1 / 4))],
     "Strukturbericht B3, ZnS (zincblende); AFLOW AB_cF8_216_c_a", ("Zn", "S")),
    ("B4", "AB", 186, _hexagonal(1.63777), [(_A, (1 / 3, 2 / 3, 1 / 2)), (_B, (1 / 3, 2 / 3, 0.1252))],
     "Strukturbericht B4, ZnS (wurtzite); AFLOW AB_hP4_186_b_b", ("Zn", "S")),
    ("B8_1", "AB", 194, _hexagonal(1.39376), [(_A, (0, 0, 0)), (_B, (1 / 3, 2 / 3, 1 / 4))],
     "Strukturbericht B8_1, NiAs; AFLOW AB_hP4_194_c_a", ("Ni", "As")),
    ("B_h", "AB", 187, _hexagonal(0.97595), [(_A, (0, 0, 0)), (_B, (2 / 3, 1 / 3, 1 / 2))],
     "Strukturbericht B_h, WC; AFLOW AB_hP2_187_d_a", ("W", "C")),
    ("B_k", "AB", 194, _hexagonal(2.66023), [(_A, (1 / 3, 2 / 3, 1 / 4)), (_B, (1 / 3, 2 / 3, 3 / 4))],
     "Strukturbericht B_k, BN (hexagonal); AFLOW AB_hP4_194_c_d", ("B", "N")),
    ("B11", "AB", 129, _tetragonal(1.90505), [(_A, (0, 1 / 2, 0.9)), (_B, (0, 1 / 2, 0.35))],
     "Strukturbericht B11, γ-CuTi; AFLOW AB_tP4_129_c_c", ("Cu", "Ti")),
    ("B19", "AB", 51, _orthorhombic(0.66197, 1.02097), [(_A, (1 / 4, 0, 3 / 16)), (_B, (3 / 4, 1 / 2, 5 / 16))],
     "Strukturbericht B19, AuCd; AFLOW AB_oP4_51_e_f", ("Au", "Cd")),
    ("B20", "AB", 198, _CUBIC, [(_A, (0.13652, 0.13652, 0.13652)), (_B, (0.1576, 0.3424, 0.6576))],
     "Strukturbericht B20, FeSi; AFLOW AB_cP8_198_a_a", ("Fe", "Si")),
    ("B27", "AB", 62, _orthorhombic(0.53612, 0.73758), [(_A, (0.180, 1 / 4, 0.125)), (_B, (0.036, 1 / 4, 0.610))],
     "Strukturbericht B27, FeB (Fe x = 0.180, z = 0.125; B x = 0.036, z = 0.610); "
     "AFLOW AB_oP8_62_c_c", ("Fe", "B")),
    ("B32", "AB", 227, _CUBIC, [(_A, (0, 0, 0)), (_B, (1 / 2, 1 / 2, 1 / 2))],
     "Strukturbericht B32, NaTl; AFLOW AB_cF16_227_a_b", ("Na", "Tl")),
    ("B33", "AB", 63, _orthorhombic(2.64254, 0.98536), [(_A, (0, 0.14525, 1 / 4)), (_B, (0, 0.436, 1 / 4))],
     "Strukturbericht B33, CrB; AFLOW AB_oC8_63_c_c", ("Cr", "B")),
    ("B35", "AB", 191, _hexagonal(0.80691),
     [(_A, (1 / 2, 0, 0)), (_B, (0, 0, 0)), (_B, (1 / 3, 2 / 3, 1 / 2))],
     "Strukturbericht B35, CoSn; AFLOW AB_hP6_191_f_ad", ("Co", "Sn")),
    ("L1_0", "AB", 123, _tetragonal(1.31071), [(_A, (1 / 2, 1 / 2, 1 / 2)), (_B, (0, 0, 0))],
     "Strukturbericht L1_0, CuAu; AFLOW AB_tP2_123_a_d", ("Cu", "Au")),
    ("L1_1", "AB", 166, _hexagonal(2 * math.sqrt(6)), [(_A, (0, 0, 0)), (_B, (0, 0, 1 / 2))],
     "Strukturbericht L1_1, CuPt (ideal fcc ordering, c/a = 2√6); AFLOW AB_hR2_166_a_b", ("Cu", "Pt")),
    ("L1_2", "A3B", 221, _CUBIC, [(_A, (0, 1 / 2, 1 / 2)), (_B, (0, 0, 0))],
     "Strukturbericht L1_2, Cu3Au; AFLOW AB3_cP4_221_a_c", ("Cu", "Au")),
    ("L6_0", "AB3", 123, _tetragonal(0.86436),
     [(_A, (0, 0, 0)), (_B, (1 / 2, 1 / 2, 0)), (_B, (0, 1 / 2, 1 / 2))],
     "Strukturbericht L6_0, CuTi3; AFLOW AB3_tP4_123_a_ce", ("Cu", "Ti")),
    ("D0_3", "A3B", 225, _CUBIC,
     [(_A, (0, 0, 1 / 2)), (_A, (1 / 4, 1 / 4, 1 / 4)), (_B, (0, 0, 0))],
     "Strukturbericht D0_3, Fe3Al (BiF3; the binary L2_1 with B on one site); "
     "AFLOW AB3_cF16_225_a_bc", ("Fe", "Al")),
    ("D0_9", "AB3", 221, _CUBIC, [(_A, (0, 0, 0)), (_B, (0, 0, 1 / 2))],
     "Strukturbericht D0_9, ReO3; AFLOW A3B_cP4_221_d_a", ("Re", "O")),
    ("D0_11", "A3B", 62, _orthorhombic(1.32574, 0.88861),
     [(_A, (0.036, 1 / 4, 0.852)), (_A, (0.186, 0.063, 0.328)), (_B, (0.11, 3 / 4, 0.55))],
     "Strukturbericht D0_11, Fe3C (cementite); AFLOW AB3_oP16_62_c_cd", ("Fe", "C")),
    ("D0_19", "A3B", 194, _hexagonal(0.80208), [(_A, (0.1608, 0.3216, 3 / 4)), (_B, (1 / 3, 2 / 3, 1 / 4))],
     "Strukturbericht D0_19, Ni3Sn; AFLOW A3B_hP8_194_h_c", ("Ni", "Sn")),
    ("D0_22", "A3B", 139, _tetragonal(2.22744),
     [(_A, (0, 0, 1 / 2)), (_A, (0, 1 / 2, 1 / 4)), (_B, (0, 0, 0))],
     "Strukturbericht D0_22, Al3Ti; AFLOW A3B_tI8_139_bd_a", ("Al", "Ti")),
    ("D0_23", "A3B", 139, _tetragonal(4.32151),
     [(_A, (0, 1 / 2, 0)), (_A, (0, 1 / 2, 1 / 4)), (_A, (0, 0, 3 / 8)), (_B, (0, 0, 0.11886))],
     "Strukturbericht D0_23, Al3Zr; AFLOW A3B_tI16_139_cde_e", ("Al", "Zr")),
    ("D0_a", "A3B", 59, _orthorhombic(1.18749, 1.04233),
     [(_A, (0, 1 / 2, 0.329)), (_A, (0, 0.255, 0.826)), (_B, (0, 0, 0.32875))],
     "Strukturbericht D0_a, β-Cu3Ti; AFLOW A3B_oP8_59_bf_a", ("Cu", "Ti")),
    ("A15", "A3B", 223, _CUBIC, [(_A, (0, 1 / 2, 1 / 4)), (_B, (0, 0, 0))],
     "Strukturbericht A15, Cr3Si; AFLOW A3B_cP8_223_c_a", ("Cr", "Si")),
    ("D1_a", "A4B", 87, _tetragonal(0.62308), [(_A, (0.1, 0.7, 1 / 2)), (_B, (0, 0, 0))],
     "Strukturbericht D1_a, Ni4Mo; AFLOW AB4_tI10_87_a_h", ("Ni", "Mo")),
    ("D1_3", "AB4", 139, _tetragonal(2.45033),
     [(_A, (0, 0, 0)), (_B, (0, 1 / 2, 1 / 4)), (_B, (0, 0, 0.38))],
     "Strukturbericht D1_3, BaAl4; AFLOW A4B_tI10_139_de_a", ("Ba", "Al")),
    ("D2_d", "AB5", 191, _hexagonal(0.77391),
     [(_A, (0, 0, 0)), (_B, (1 / 3, 2 / 3, 0)), (_B, (0, 1 / 2, 1 / 2))],
     "Strukturbericht D2_d, CaCu5; AFLOW AB5_hP6_191_a_cg", ("Ca", "Cu")),
    ("C1", "AB2", 225, _CUBIC, [(_A, (0, 0, 0)), (_B, (1 / 4, 1 / 4, 1 / 4))],
     "Strukturbericht C1, CaF2 (fluorite); AFLOW AB2_cF12_225_a_c", ("Ca", "F")),
    ("C2", "AB2", 205, _CUBIC, [(_A, (0, 0, 0)), (_B, (0.3851, 0.3851, 0.3851))],
     "Strukturbericht C2, FeS2 (pyrite); AFLOW AB2_cP12_205_a_c", ("Fe", "S")),
    ("C3", "A2B", 224, _CUBIC, [(_A, (1 / 4, 1 / 4, 3 / 4)), (_B, (0, 0, 0))],
     "Strukturbericht C3, Cu2O (cuprite); AFLOW A2B_cP6_224_b_a", ("Cu", "O")),
    ("C4", "AB2", 136, _tetragonal(0.64401), [(_A, (0, 0, 0)), (_B, (0.30496, 0.30496, 0))],
     "Strukturbericht C4, TiO2 (rutile); AFLOW A2B_tP6_136_f_a", ("Ti", "O")),
    ("C6", "AB2", 164, _hexagonal(1.61321), [(_A, (0, 0, 0)), (_B, (1 / 3, 2 / 3, 0.252))],
     "Strukturbericht C6, CdI2; AFLOW AB2_hP3_164_a_d", ("Cd", "I")),
    ("C11_b", "AB2", 139, _tetragonal(2.44754), [(_A, (0, 0, 0)), (_B, (0, 0, 0.3353))],
     "Strukturbericht C11_b, MoSi2; AFLOW AB2_tI6_139_a_e", ("Mo", "Si")),
    ("C14", "AB2", 194, _hexagonal(1.64005),
     [(_A, (1 / 3, 2 / 3, 0.06286)), (_B, (0, 0, 0)), (_B, (0.83049, 2 * 0.83049, 1 / 4))],
     "Strukturbericht C14, MgZn2 (hexagonal Laves); AFLOW AB2_hP12_194_f_ah", ("Mg", "Zn")),
    ("C15", "AB2", 227, _CUBIC, [(_A, (0, 0, 0)), (_B, (5 / 8, 5 / 8, 5 / 8))],
     "Strukturbericht C15, MgCu2 (cubic Laves); AFLOW A2B_cF24_227_d_a", ("Mg", "Cu")),
    ("C16", "A2B", 140, _tetragonal(0.80464), [(_A, (0.158, 0.342, 0)), (_B, (0, 0, 1 / 4))],
     "Strukturbericht C16, Al2Cu; AFLOW A2B_tI12_140_h_a", ("Al", "Cu")),
    ("C32", "AB2", 191, _hexagonal(1.08276), [(_A, (0, 0, 0)), (_B, (1 / 3, 2 / 3, 1 / 2))],
     "Strukturbericht C32, AlB2; AFLOW AB2_hP3_191_a_d", ("Al", "B")),
    ("C38", "A2B", 129, _tetragonal(1.52585),
     [(_A, (0, 0, 0)), (_A, (0, 1 / 2, 0.73)), (_B, (0, 1 / 2, 0.3))],
     "Strukturbericht C38, Cu2Sb; AFLOW A2B_tP6_129_ac_c", ("Cu", "Sb")),
    ("C40", "AB2", 180, _hexagonal(1.43827), [(_A, (0, 1 / 2, 2 / 3)), (_B, (0.16559, 0.33118, 0))],
     "Strukturbericht C40, CrSi2; AFLOW AB2_hP9_180_d_j", ("Cr", "Si")),
    ("C49", "AB2", 63, _orthorhombic(3.94638, 0.98391),
     [(_A, (0, 0.396, 1 / 4)), (_B, (0, 0.061, 1 / 4)), (_B, (0, 1 / 4, 3 / 4))],
     "Strukturbericht C49, ZrSi2; AFLOW A2B_oC12_63_2c_c", ("Zr", "Si")),
    ("C54", "AB2", 70, _orthorhombic(1.72231, 1.78135), [(_A, (0, 0, 0)), (_B, (0, 0.1635, 1 / 2))],
     "Strukturbericht C54, TiSi2; AFLOW A2B_oF24_70_e_a", ("Ti", "Si")),
]

for _name, _sg, _cell, _sites, _source, _element in _ELEMENTS:
    _add(_name, "A", _sg, _cell, _sites, _source, (_element,))
for _name, _composition, _sg, _cell, _sites, _source, _elements in _BINARIES:
    _add(_name, _composition, _sg, _cell, _sites, _source, _elements)
del _name, _sg, _cell, _sites, _source, _element, _composition, _elements

"""Unique structures and the convex hull of a structure search.

Duplicates (:func:`unique_structures`) share the reduced composition and spglib's space group
and lie within an energy and a volume tolerance; :func:`hull_from_structures` keeps the
lowest of each group, takes formation energies against the elements' references and builds
the lower convex hull (:func:`~polymlp_lab.properties.hull.convex_hull`).

Units: Å, eV; energies per atom in eV/atom, windows above the hull in meV/atom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from ase import Atoms

from ..errors import PolymlpLabError
from ..files import AsDict
from ..properties.hull import convex_hull, formation_energies
from ..properties.symmetry import symmetry_dataset
from .random_cells import _check_elements, _formula

__all__ = ["HullEntry", "SearchResult", "hull_from_structures", "unique_structures", "UNITS"]

UNITS = {
    "energy_per_atom": "eV/atom", "formation_energy": "eV/atom", "e_above_hull": "eV/atom",
    "volume_per_atom": "Å^3/atom", "references": "eV/atom", "window_meV": "meV/atom",
}


@dataclass(frozen=True)
class HullEntry(AsDict):
    """One unique structure of a search.

    name : trial name (``info["name"]`` of a given structure); formula : of its cell, A first;
    x_B : fraction of the second element (0 for an element); energy_per_atom,
    formation_energy, e_above_hull : eV/atom; spacegroup, spacegroup_number : international
    symbol and number (spglib at the search's ``symprec``); volume_per_atom : Å³/atom;
    n_found : structures found to be this one (itself included); file : its extxyz file,
    relative to the search directory, or None; atoms : the structure, with its energy;
    extrapolation_grade : the calculator's grade of the structure (largest γ of its atoms, ≤ 1
    like the trusted ones), or None (then left out of :meth:`as_dict`).
    """

    name: str
    formula: str
    x_B: float
    energy_per_atom: float
    formation_energy: float
    e_above_hull: float
    spacegroup: str
    spacegroup_number: int
    volume_per_atom: float
    n_found: int
    file: Optional[str]
    atoms: Atoms = field(repr=False, compare=False)
    extrapolation_grade: Optional[float] = None
    not_json = ("atoms",)

    def as_dict(self) -> dict:
        """The fields but atoms, JSON-ready; the grade only when there is one."""
        return {k: v for k, v in super().as_dict().items()
                if k != "extrapolation_grade" or v is not None}


@dataclass(frozen=True)
class SearchResult:
    """Unique structures of a search on their convex hull.

    elements : A (and B); references : energy per atom of each element's reference, eV/atom;
    window_meV : metastable structures lie at most this far above the hull, meV/atom;
    entries : the unique structures (HullEntry), by x_B then energy; hull_x,
    hull_formation_energy : compositions (x_B from 0 to 1) and formation energies (eV/atom)
    of the hull corners; trials : trial records of :func:`run_search` (empty for given
    structures).
    """

    elements: tuple
    references: dict
    window_meV: float
    entries: tuple
    hull_x: np.ndarray
    hull_formation_energy: np.ndarray
    trials: tuple = ()

    @property
    def stable(self) -> tuple:
        """Entries on the hull (e_above_hull 0)."""
        return tuple(e for e in self.entries if e.e_above_hull == 0.0)

    @property
    def metastable(self) -> tuple:
        """Entries above the hull by at most ``window_meV``."""
        return tuple(e for e in self.entries if 0.0 < e.e_above_hull <= self.window_meV / 1000.0)

    @property
    def failed(self) -> tuple:
        """Records of the failed trials."""
        return tuple(r for r in self.trials if r["status"] != "ok")

    def as_dict(self) -> dict:
        """The content of hull.json."""
        return {
            "elements": list(self.elements),
            "units": UNITS,
            "references": dict(self.references),
            "window_meV": self.window_meV,
            "n_trials": len(self.trials),
            "n_failed": len(self.failed),
            "n_unique": len(self.entries),
            "structures": [e.as_dict() for e in self.entries],
            "stable": [e.name for e in self.stable],
            "metastable": [e.name for e in self.metastable],
            "hull": {"x_B": self.hull_x.tolist(),
                     "formation_energy": self.hull_formation_energy.tolist()},
            "failed": [{k: r[k] for k in ("name", "formula", "status")} for r in self.failed],
        }


def _describe(atoms, index: int, symprec: float) -> dict:
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise PolymlpLabError(f"structure {index} is not an ase.Atoms with atoms")
    if atoms.calc is None:
        raise PolymlpLabError(f"structure {index} has no energy (attach a SinglePointCalculator)")
    symbols = atoms.get_chemical_symbols()
    counts = {s: symbols.count(s) for s in sorted(set(symbols))}
    divisor = math.gcd(*counts.values())
    dataset = symmetry_dataset(atoms, symprec=symprec)  # None: spglib found none, P1
    return dict(
        index=index, counts=counts, key=tuple((s, n // divisor) for s, n in counts.items()),
        energy_per_atom=float(atoms.get_potential_energy()) / len(atoms),
        volume_per_atom=float(atoms.get_volume() / len(atoms)),
        spacegroup="P1" if dataset is None else str(dataset.international),
        spacegroup_number=1 if dataset is None else int(dataset.number),
    )


def _group_duplicates(described, energy_tol: float, volume_tol: float) -> list:
    """Groups of indices into ``described`` (lowest energy first), by the lowest energy."""
    groups = []
    for d in sorted(described, key=lambda d: d["energy_per_atom"]):
        for group in groups:
            first = described[group[0]]
            if (d["key"] == first["key"]
                    and d["spacegroup_number"] == first["spacegroup_number"]
                    and abs(d["energy_per_atom"] - first["energy_per_atom"]) <= energy_tol
                    and abs(d["volume_per_atom"] - first["volume_per_atom"])
                    <= volume_tol * first["volume_per_atom"]):
                group.append(d["index"])
                break
        else:
            groups.append([d["index"]])
    return groups


def unique_structures(structures, *, symprec: float = 0.1, energy_tol: float = 1e-3,
                      volume_tol: float = 0.02) -> list:
    """Group structures (ase.Atoms, each with its energy, e.g. a SinglePointCalculator) that
    are the same: same reduced composition, same space group (spglib tolerance ``symprec``
    Å), energy within ``energy_tol`` eV/atom and volume within ``volume_tol`` (relative) per
    atom. Returns the indices of each group, lowest energy first; groups by their lowest
    energy.
    """
    described = [_describe(a, k, symprec) for k, a in enumerate(structures)]
    return _group_duplicates(described, energy_tol, volume_tol)


def _references(described, elements, references) -> dict:
    given = dict(references or {})
    unknown = sorted(set(given) - set(elements))
    if unknown:
        raise PolymlpLabError(f"references name {', '.join(unknown)}, "
                              f"not in the system {'-'.join(elements)}")
    out = {}
    for e in elements:
        if e in given:
            value = float(given[e])
            if not np.isfinite(value):
                raise PolymlpLabError(f"reference energy of {e} must be finite, got {value}")
            out[e] = value
            continue
        pure = [d["energy_per_atom"] for d in described if set(d["counts"]) == {e}]
        if not pure:
            raise PolymlpLabError(f"no pure {e} structure among the {len(described)} relaxed "
                                  f"ones: give references={{'{e}': energy in eV/atom}} or run "
                                  "more trials")
        out[e] = min(pure)
    return out


def hull_from_structures(structures, elements, *, references=None, window_meV: float = 50.0,
                         symprec: float = 0.1, energy_tol: float = 1e-3,
                         volume_tol: float = 0.02) -> SearchResult:
    """Unique structures, formation energies and convex hull of relaxed structures (ase.Atoms
    with their energies; ``info["name"]``, ``info["file"]`` and ``info["extrapolation_grade"]``
    are kept when present) of the ``elements`` A (and B): a SearchResult.

    references : {element: energy per atom, eV/atom}; elements left out take the lowest
        energy per atom of their pure structures.
    window_meV : width of the metastable window above the hull, meV/atom.
    symprec, energy_tol, volume_tol : duplicates, see :func:`unique_structures`.

    Raises PolymlpLabError for no structures, a structure without energy or with another
    element, or an element with neither a pure structure nor a reference.
    """
    elements = _check_elements(elements)
    if not float(window_meV) >= 0:
        raise PolymlpLabError(f"window_meV must be >= 0 (meV/atom), got {window_meV!r}")
    structures = list(structures)
    if not structures:
        raise PolymlpLabError("no relaxed structures to build a hull from")
    described = [_describe(a, k, symprec) for k, a in enumerate(structures)]
    for d in described:
        other = sorted(set(d["counts"]) - set(elements))
        if other:
            raise PolymlpLabError(f"structure {d['index']} holds {', '.join(other)}, "
                                  f"not in the system {'-'.join(elements)}")
    groups = _group_duplicates(described, energy_tol, volume_tol)
    chosen = [described[g[0]] for g in groups]
    refs = _references(chosen, elements, references)
    counts = [[d["counts"].get(e, 0) for e in elements] for d in chosen]
    x = [c[1] / sum(c) if len(elements) == 2 else 0.0 for c in counts]
    e_form = [f for _, f in formation_energies(
        zip(x, (d["energy_per_atom"] for d in chosen)),
        (refs[elements[0]], refs[elements[-1]] if len(elements) == 2 else 0.0))]
    hull = convex_hull(x, e_form)
    entries = []
    for d, c, xb, ef, above, group in zip(chosen, counts, x, e_form, hull.e_above_hull, groups):
        atoms = structures[d["index"]]
        entries.append(HullEntry(
            name=str(atoms.info.get("name", f"structure-{d['index']}")),
            formula=_formula(elements, c), x_B=float(xb), energy_per_atom=d["energy_per_atom"],
            formation_energy=float(ef), e_above_hull=float(above), spacegroup=d["spacegroup"],
            spacegroup_number=d["spacegroup_number"], volume_per_atom=d["volume_per_atom"],
            n_found=len(group), file=atoms.info.get("file"), atoms=atoms,
            extrapolation_grade=atoms.info.get("extrapolation_grade"),
        ))
    entries.sort(key=lambda e: (e.x_B, e.energy_per_atom))
    return SearchResult(elements=elements, references=refs, window_meV=float(window_meV),
                        entries=tuple(entries), hull_x=np.asarray(hull.hull_x),
                        hull_formation_energy=np.asarray(hull.hull_e))


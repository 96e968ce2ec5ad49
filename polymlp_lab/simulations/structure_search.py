"""Random structure search (AIRSS-like) for unary and binary systems, with any ASE calculator.

Each trial builds a random cell with atoms at random positions (:func:`random_structure`) and
relaxes positions and cell (:func:`~polymlp_lab.properties.mechanics.relax`, no symmetry
kept) as one Dask task; the client writes its result as soon as it finishes:

- ``OUT/search.json``: the search settings (a rerun with other settings is refused);
- ``OUT/trials/trial-NNNNN.json``: one record per trial, ``status`` "ok" or "failed: ...";
- ``OUT/trials/trial-NNNNN.extxyz``: the relaxed structure with energy, forces and stress;
- ``OUT/hull.json``: the unique structures with formation energy, energy above the convex
  hull, space group and volume; the stable and the metastable ones.

A rerun with the same ``OUT`` skips the recorded trials. A failing trial (calculator
exception, non-finite energy, atoms collapsing, no room for the atoms) is recorded with its
reason and never stops the search. ``scheduler`` is the address of an existing Dask cluster;
otherwise a LocalCluster of ``n_workers`` single-threaded processes runs here. The
calculator is pickled to the workers, except a polymlp file path: each worker loads it.

:func:`active_learning_step` labels the structures near the hull with a reference
calculator (DFT, or a stand-in), adds them to the training set and refits a polymlp.

Units: Å, eV; energies per atom in eV/atom, windows above the hull in meV/atom.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Optional

import numpy as np
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers
from ase.formula import Formula

from ..errors import PolymlpLabError
from ..files import write_text_atomic
from ..properties.hull import convex_hull, formation_energies
from ..properties.mechanics import relax
from ..properties.prototypes import atomic_radius, estimate_volume_per_atom

__all__ = [
    "ActiveLearningStep", "HullEntry", "SearchResult", "active_learning_step",
    "enumerate_compositions", "hull_from_structures", "plot_hull", "random_structure",
    "run_search", "run_trial", "select_near_hull", "unique_structures",
]

ANGLE_RANGE_DEG = (60.0, 120.0)  # angles of a random cell
MAX_ASPECT = 2.0  # longest / shortest length of a random cell
MIN_SHAPE = 0.5  # V / (a b c) of a random cell: flatter ones are redrawn
VOLUME_FACTORS = (1.0, 1.5)  # default volume range, × estimate_volume_per_atom
MIN_DISTANCE_FACTOR = 0.75  # default minimum distance, × (r_i + r_j) of atomic_radius
COLLAPSE_FACTOR = 0.5  # relaxed atoms closer than this × (r_i + r_j) fail the trial
PLACEMENT_ATTEMPTS = 100  # random positions tried per atom in one cell
_IMAGES = np.array(list(product(range(-2, 3), repeat=3)), dtype=float)

UNITS = {
    "energy_per_atom": "eV/atom", "formation_energy": "eV/atom", "e_above_hull": "eV/atom",
    "volume_per_atom": "Å^3/atom", "references": "eV/atom", "window_meV": "meV/atom",
}


# ----------------------------------------------------------------------------- compositions


def _check_symbol(symbol) -> str:
    if not isinstance(symbol, str) or atomic_numbers.get(symbol, 0) == 0:
        raise PolymlpLabError(f"unknown element '{symbol}'")
    return symbol


def _check_elements(elements) -> tuple:
    elements = tuple(_check_symbol(e) for e in ((elements,) if isinstance(elements, str) else elements))
    if not 1 <= len(elements) <= 2 or len(set(elements)) != len(elements):
        raise PolymlpLabError(f"give one or two distinct elements, got {', '.join(elements)}")
    return elements


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise PolymlpLabError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _formula(elements, counts) -> str:
    return str(Formula.from_dict({e: int(n) for e, n in zip(elements, counts) if n}))


def enumerate_compositions(elements, max_atoms: int, composition_range=(0.0, 1.0)) -> list:
    """Atom counts of every cell of 1 to ``max_atoms`` atoms in a composition range.

    Parameters
    ----------
    elements : sequence of str
        One or two chemical symbols, A (then B).
    max_atoms : int
        Largest number of atoms in a cell.
    composition_range : (float, float)
        Bounds of the fraction x_B of the second element, inclusive (binaries only).

    Returns
    -------
    list of tuple of int
        ``(count_A, count_B)`` for a binary, ``(count_A,)`` for an element; by number of
        atoms, then count_B.

    Raises
    ------
    PolymlpLabError
        Unknown elements, ``max_atoms`` < 1, a range outside [0, 1], or no cell of at most
        ``max_atoms`` atoms with x_B in the range.
    """
    elements = _check_elements(elements)
    max_atoms = _check_int("max_atoms", max_atoms, 1)
    if len(elements) == 1:
        return [(n,) for n in range(1, max_atoms + 1)]
    low, high = (float(v) for v in composition_range)
    if not 0.0 <= low <= high <= 1.0:
        raise PolymlpLabError(f"composition_range must satisfy 0 <= low <= high <= 1, got {composition_range}")

    def fits(n):
        return [k for k in range(n + 1) if low - 1e-12 <= k / n <= high + 1e-12]

    found = [(n - k, k) for n in range(1, max_atoms + 1) for k in fits(n)]
    if not found:
        smallest = next((n for n in range(max_atoms + 1, 1001) if fits(n)), None)
        hint = f"; the smallest such cell has {smallest} atoms" if smallest else ""
        raise PolymlpLabError(
            f"no cell of 1 to {max_atoms} atoms has x_{elements[1]} in [{low}, {high}]{hint}: "
            "raise max_atoms or widen composition_range"
        )
    return found


# ----------------------------------------------------------------------------- random structures


def _volume_range(symbols, volume_per_atom) -> tuple:
    if volume_per_atom is None:
        estimate = estimate_volume_per_atom(symbols)
        return VOLUME_FACTORS[0] * estimate, VOLUME_FACTORS[1] * estimate
    values = np.atleast_1d(np.asarray(volume_per_atom, dtype=float)).reshape(-1)
    if values.size == 1:
        values = np.repeat(values, 2)
    if values.size != 2 or not np.all(np.isfinite(values)) or values[0] <= 0 or values[0] > values[1]:
        raise PolymlpLabError(
            f"volume_per_atom must be a positive number or a (low, high) range, Å³/atom, got {volume_per_atom!r}"
        )
    return float(values[0]), float(values[1])


def _pair_thresholds(symbols, factor: float, min_distance=None) -> np.ndarray:
    """(n, n) smallest allowed distances, Å: ``min_distance``, or factor × (r_i + r_j)."""
    if min_distance is not None:
        value = float(min_distance)
        if not math.isfinite(value) or value <= 0:
            raise PolymlpLabError(f"min_distance must be a positive distance in Å, got {min_distance!r}")
        return np.full((len(symbols), len(symbols)), value)
    radii = np.array([atomic_radius(s) for s in symbols])
    return factor * (radii[:, None] + radii[None, :])


def _random_cell(rng, volume: float) -> np.ndarray:
    """A right-handed, Minkowski-reduced cell of ``volume`` Å³ with random shape."""
    from ase.geometry import cellpar_to_cell, minkowski_reduce

    while True:
        angles = rng.uniform(*ANGLE_RANGE_DEG, size=3)
        cos = np.cos(np.radians(angles))
        shape = 1.0 - (cos**2).sum() + 2.0 * cos.prod()  # (V / abc)²
        if shape > MIN_SHAPE**2:
            break
    lengths = rng.uniform(1.0, MAX_ASPECT, size=3)
    lengths *= (volume / (lengths.prod() * math.sqrt(shape))) ** (1 / 3)
    cell, _ = minkowski_reduce(cellpar_to_cell(np.concatenate([lengths, angles])))
    return -cell if np.linalg.det(cell) < 0 else cell


def _place_atoms(rng, cell, thresholds) -> Optional[np.ndarray]:
    """Random fractional positions at least ``thresholds`` apart (all images), or None."""
    placed = np.zeros((0, 3))
    for i in range(len(thresholds)):
        for _ in range(PLACEMENT_ATTEMPTS):
            trial = rng.random(3)
            delta = placed - trial
            delta -= np.round(delta)
            distances = np.linalg.norm((delta[:, None, :] + _IMAGES[None]) @ cell, axis=2).min(axis=1)
            if np.all(distances >= thresholds[i, :len(placed)]):
                placed = np.vstack([placed, trial])
                break
        else:
            return None
    return placed


def random_structure(elements, counts, *, rng, volume_per_atom=None, min_distance=None,
                     max_tries: int = 200) -> Atoms:
    """A random periodic cell holding ``counts[i]`` atoms of ``elements[i]``.

    The cell has random lengths (longest/shortest ≤ 2) and angles (60–120°, not flat), is
    Minkowski-reduced, and has a volume drawn uniformly from the volume range; each atom sits
    at a random position at least the minimum distance from every atom and periodic image.

    Parameters
    ----------
    elements : sequence of str
        Chemical symbols.
    counts : sequence of int
        Atoms of each element (>= 0, at least one atom in all).
    rng : numpy.random.Generator or int
        Random source, or its seed: the same seed gives the same structure.
    volume_per_atom : float or (float, float), optional
        Volume per atom, Å³/atom, or the range it is drawn from. Default: 1.0–1.5 ×
        :func:`~polymlp_lab.properties.prototypes.estimate_volume_per_atom` (Cu 11.8 Å³).
    min_distance : float, optional
        Smallest distance between two atoms, Å. Default: 0.75 × (r_i + r_j) of
        :func:`~polymlp_lab.properties.prototypes.atomic_radius` (Cu–Cu 1.91 Å).
    max_tries : int
        Random cells tried before giving up.

    Returns
    -------
    ase.Atoms
        Periodic in 3D, atoms in the order of ``elements``.

    Raises
    ------
    PolymlpLabError
        Unknown elements, bad counts or volumes, or no placement within ``max_tries`` cells.
    """
    elements = tuple(_check_symbol(e) for e in elements)
    counts = [int(n) for n in counts]
    if len(counts) != len(elements) or min(counts, default=-1) < 0 or sum(counts) < 1:
        raise PolymlpLabError(f"counts must give a number >= 0 per element and >= 1 atom in all, got {counts}")
    rng = np.random.default_rng(rng)
    symbols = [e for e, n in zip(elements, counts) for _ in range(n)]
    low, high = _volume_range(symbols, volume_per_atom)
    thresholds = _pair_thresholds(symbols, MIN_DISTANCE_FACTOR, min_distance)
    for _ in range(max_tries):
        cell = _random_cell(rng, len(symbols) * rng.uniform(low, high))
        if np.linalg.norm(cell, axis=1).min() < thresholds.diagonal().max():
            continue  # an atom would be too close to its own image
        positions = _place_atoms(rng, cell, thresholds)
        if positions is not None:
            return Atoms(symbols, cell=cell, scaled_positions=positions, pbc=True)
    raise PolymlpLabError(
        f"could not place {_formula(elements, counts)} with atoms at least "
        f"{thresholds.min():.3g} Å apart in {max_tries} random cells of {low:.3g}–{high:.3g} "
        "Å³/atom: lower min_distance or raise volume_per_atom"
    )


# ----------------------------------------------------------------------------- one trial


@lru_cache(maxsize=4)
def _cached_potential(paths: tuple, mtimes: tuple):
    from ..potential import load_potential

    return load_potential(list(paths))


def _calculator_from(spec):
    """A fresh calculator of this task: loaded from polymlp files, or unpickled."""
    kind, value = spec
    if kind == "potential":
        from ..calculator import PolymlpCalculator

        return PolymlpCalculator(_cached_potential(value, tuple(os.stat(p).st_mtime_ns for p in value)))
    import cloudpickle

    return cloudpickle.loads(value)


def _check_relaxed(atoms: Atoms) -> None:
    """Raise PolymlpLabError for a non-finite energy or atoms that collapsed together."""
    from ase.neighborlist import neighbor_list

    energy = atoms.get_potential_energy()
    if not np.isfinite(energy):
        raise PolymlpLabError(f"non-finite energy {energy} eV after relaxation")
    thresholds = _pair_thresholds(atoms.get_chemical_symbols(), COLLAPSE_FACTOR)
    i, j, d = neighbor_list("ijd", atoms, float(thresholds.max()))
    close = np.flatnonzero(d < thresholds[i, j])
    if len(close):
        k = close[np.argmin(d[close])]
        raise PolymlpLabError(
            f"atoms {i[k]} and {j[k]} collapsed to {d[k]:.3f} Å after relaxation "
            f"(allowed {thresholds[i[k], j[k]]:.3f} Å)"
        )


def _trial_name(trial: int) -> str:
    return f"trial-{trial:05d}"


def _new_record(trial: int, elements, counts) -> dict:
    return dict(trial=trial, name=_trial_name(trial), formula=_formula(elements, counts),
                counts=dict(zip(elements, (int(n) for n in counts))), status=None,
                energy_per_atom=None, volume_per_atom=None, converged=None, steps=None,
                max_force=None, seconds=None, file=None)


def run_trial(calculator_spec, elements, counts, *, seed: int, trial: int, fmax: float,
              steps: int, volume_per_atom=None, min_distance=None) -> dict:
    """One trial, as a Dask task: random structure, then relaxation of positions and cell.

    The random structure comes from the seed sequence ``[seed, trial]``. Failures of the
    trial are recorded, not raised.

    Returns
    -------
    dict
        ``record`` (trial, name, formula, counts, status "ok" or "failed: <reason>",
        energy_per_atom eV/atom, volume_per_atom Å³/atom, converged, steps, max_force eV/Å,
        seconds, file) and ``extxyz``, the relaxed structure's file text (None on failure).
    """
    from numba import set_num_threads

    record = _new_record(trial, elements, counts)
    text = None
    start = time.perf_counter()
    try:
        set_num_threads(1)
        calc = _calculator_from(calculator_spec)
        atoms = random_structure(elements, counts, rng=np.random.default_rng([seed, trial]),
                                 volume_per_atom=volume_per_atom, min_distance=min_distance)
        result = relax(atoms, calc, fmax=fmax, steps=steps, cell=True, keep_symmetry=False)
        _check_relaxed(result.atoms)
        buffer = io.StringIO()
        from ase.io import write

        write(buffer, result.atoms, format="extxyz")
        text = buffer.getvalue()
        record.update(status="ok", energy_per_atom=float(result.energy_per_atom),
                      volume_per_atom=float(result.atoms.get_volume() / len(result.atoms)),
                      converged=result.converged, steps=result.steps, max_force=result.max_force,
                      file=f"trials/{record['name']}.extxyz")
    except Exception as exc:  # recorded for this trial; the search goes on
        record["status"] = _failure(exc)
    record["seconds"] = time.perf_counter() - start
    return {"record": record, "extxyz": text}


def _failure(exc: BaseException) -> str:
    return f"failed: {type(exc).__name__}: {exc}".replace("\n", " ")[:500]


# ----------------------------------------------------------------------------- unique structures, hull


@dataclass(frozen=True)
class HullEntry:
    """One unique structure of a search.

    Attributes
    ----------
    name : str
        Trial name (``info["name"]`` of a given structure).
    formula : str
        Formula of its cell, A first.
    x_B : float
        Fraction of the second element (0 for an element).
    energy_per_atom, formation_energy, e_above_hull : float
        eV/atom.
    spacegroup : str
        International symbol (spglib at the search's ``symprec``).
    spacegroup_number : int
        1–230.
    volume_per_atom : float
        Å³/atom.
    n_found : int
        Structures found to be this one (itself included).
    file : str or None
        Its extxyz file, relative to the search directory.
    atoms : ase.Atoms
        The structure, with its energy.
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

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in (
            "name", "formula", "x_B", "energy_per_atom", "formation_energy", "e_above_hull",
            "spacegroup", "spacegroup_number", "volume_per_atom", "n_found", "file")}


@dataclass(frozen=True)
class SearchResult:
    """Unique structures of a search on their convex hull.

    Attributes
    ----------
    elements : tuple of str
        A (and B).
    references : dict
        Energy per atom of each element's reference, eV/atom.
    window_meV : float
        Metastable structures lie at most this far above the hull, meV/atom.
    entries : tuple of HullEntry
        Unique structures, by x_B then energy.
    hull_x : numpy.ndarray
        Compositions of the hull corners, x_B from 0 to 1.
    hull_formation_energy : numpy.ndarray
        Formation energies of the hull corners, eV/atom.
    trials : tuple of dict
        Trial records of :func:`run_search` (empty for given structures).
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


def _spacegroup(atoms: Atoms, symprec: float) -> tuple:
    """(international symbol, number) by spglib; ("P1", 1) where it finds none."""
    import warnings

    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            dataset = spglib.get_symmetry_dataset(
                (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=symprec)
        except Exception:  # spglib >= 2.8 raises where older ones return None
            dataset = None
    return ("P1", 1) if dataset is None else (str(dataset.international), int(dataset.number))


def _describe(atoms, index: int, symprec: float) -> dict:
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise PolymlpLabError(f"structure {index} is not an ase.Atoms with atoms")
    if atoms.calc is None:
        raise PolymlpLabError(f"structure {index} has no energy (attach a SinglePointCalculator)")
    symbols = atoms.get_chemical_symbols()
    counts = {s: symbols.count(s) for s in sorted(set(symbols))}
    divisor = math.gcd(*counts.values())
    symbol, number = _spacegroup(atoms, symprec)
    return dict(
        index=index, counts=counts, key=tuple((s, n // divisor) for s, n in counts.items()),
        energy_per_atom=float(atoms.get_potential_energy()) / len(atoms),
        volume_per_atom=float(atoms.get_volume() / len(atoms)), spacegroup=symbol,
        spacegroup_number=number,
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
    """Group structures that are the same: same reduced composition, same space group, energy
    within ``energy_tol`` eV/atom and volume within ``volume_tol`` (relative) per atom.

    Parameters
    ----------
    structures : sequence of ase.Atoms
        Each with its energy (e.g. a SinglePointCalculator).
    symprec : float
        spglib tolerance, Å.
    energy_tol : float
        eV/atom.
    volume_tol : float
        Relative difference of the volumes per atom.

    Returns
    -------
    list of list of int
        Indices of each group, lowest energy first; groups by their lowest energy.
    """
    described = [_describe(a, k, symprec) for k, a in enumerate(structures)]
    return _group_duplicates(described, energy_tol, volume_tol)


def _references(described, elements, references) -> dict:
    given = dict(references or {})
    unknown = sorted(set(given) - set(elements))
    if unknown:
        raise PolymlpLabError(f"references name {', '.join(unknown)}, not in the system {'-'.join(elements)}")
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
            raise PolymlpLabError(
                f"no pure {e} structure among the {len(described)} relaxed ones: give "
                f"references={{'{e}': energy in eV/atom}} or run more trials"
            )
        out[e] = min(pure)
    return out


def hull_from_structures(structures, elements, *, references=None, window_meV: float = 50.0,
                         symprec: float = 0.1, energy_tol: float = 1e-3,
                         volume_tol: float = 0.02) -> SearchResult:
    """Unique structures, formation energies and convex hull of relaxed structures.

    Parameters
    ----------
    structures : sequence of ase.Atoms
        Relaxed structures with their energies; ``info["name"]`` and ``info["file"]`` are
        kept when present.
    elements : sequence of str
        A (and B).
    references : dict, optional
        {element: energy per atom, eV/atom}; elements left out take the lowest energy per atom
        of their pure structures.
    window_meV : float
        Width of the metastable window above the hull, meV/atom.
    symprec, energy_tol, volume_tol : float
        Duplicates, see :func:`unique_structures`.

    Returns
    -------
    SearchResult

    Raises
    ------
    PolymlpLabError
        No structures, a structure without energy or with another element, or an element
        with neither a pure structure nor a reference.
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
            raise PolymlpLabError(
                f"structure {d['index']} holds {', '.join(other)}, not in the system {'-'.join(elements)}")
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
    for d, c, xb, ef, above, group in zip(chosen, counts, x, e_form, hull["e_above_hull"], groups):
        atoms = structures[d["index"]]
        entries.append(HullEntry(
            name=str(atoms.info.get("name", f"structure-{d['index']}")),
            formula=_formula(elements, c), x_B=float(xb), energy_per_atom=d["energy_per_atom"],
            formation_energy=float(ef), e_above_hull=float(above), spacegroup=d["spacegroup"],
            spacegroup_number=d["spacegroup_number"], volume_per_atom=d["volume_per_atom"],
            n_found=len(group), file=atoms.info.get("file"), atoms=atoms,
        ))
    entries.sort(key=lambda e: (e.x_B, e.energy_per_atom))
    return SearchResult(elements=elements, references=refs, window_meV=float(window_meV),
                        entries=tuple(entries), hull_x=np.asarray(hull["hull_x"]),
                        hull_formation_energy=np.asarray(hull["hull_e"]))


# ----------------------------------------------------------------------------- the search


def _calculator_spec(calc) -> tuple:
    """(spec for the tasks, description for search.json)."""
    paths = None
    if isinstance(calc, (str, os.PathLike)):
        paths = [calc]
    elif isinstance(calc, (list, tuple)) and calc and all(isinstance(p, (str, os.PathLike)) for p in calc):
        paths = list(calc)
    if paths is not None:
        paths = tuple(str(Path(p).resolve()) for p in paths)
        missing = [p for p in paths if not Path(p).is_file()]
        if missing:
            raise PolymlpLabError(f"potential file not found: {', '.join(missing)}")
        return ("potential", paths), list(paths)
    import cloudpickle

    try:
        payload = cloudpickle.dumps(calc)
    except Exception as exc:
        raise PolymlpLabError(
            f"the calculator ({type(calc).__name__}) cannot be pickled for the Dask workers: {exc}; "
            "pass a picklable calculator or a polymlp file path"
        ) from exc
    return ("pickled", payload), type(calc).__name__


def _check_settings(out: Path, settings: dict) -> None:
    settings = json.loads(json.dumps(settings))
    path = out / "search.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        differ = [f"{k}: {saved.get(k)!r} now {v!r}" for k, v in settings.items() if saved.get(k) != v]
        if differ:
            raise PolymlpLabError(
                f"{out} holds a search with other settings ({'; '.join(differ)}): use another out")
    else:
        write_text_atomic(path, json.dumps(settings, indent=1))


def _read_trials(out: Path) -> dict:
    """Trial number → record, for every trial recorded under ``out/trials``."""
    records = (json.loads(p.read_text()) for p in sorted((out / "trials").glob("trial-*.json")))
    return {r["trial"]: r for r in records}


def _record(out: Path, result: dict) -> None:
    record = result["record"]
    if result["extxyz"] is not None:
        write_text_atomic(out / record["file"], result["extxyz"])
    write_text_atomic(out / "trials" / f"{record['name']}.json", json.dumps(record, indent=1))


def run_search(calc_or_potential_path, elements, *, max_atoms: int, trials: int,
               composition_range=(0.0, 1.0), out="search", seed: int = 0, fmax: float = 0.05,
               steps: int = 300, scheduler: Optional[str] = None, n_workers: Optional[int] = None,
               volume_per_atom=None, min_distance=None, references=None,
               window_meV: float = 50.0, symprec: float = 0.1, energy_tol: float = 1e-3,
               volume_tol: float = 0.02, progress: bool = True) -> SearchResult:
    """Random structure search on Dask, resumable; returns the hull of the unique structures.

    Trial ``i`` relaxes a random structure of composition ``enumerate_compositions(...)[i %
    n]`` (every composition in turn), drawn from the seed sequence ``[seed, i]``.

    Parameters
    ----------
    calc_or_potential_path : ase Calculator, or str / Path (or a list of them)
        A picklable ASE calculator (giving stress), or polymlp file(s) that each worker loads.
    elements : sequence of str
        One or two chemical symbols, A (then B).
    max_atoms : int
        Largest cell, atoms.
    trials : int
        Trials of the search (those recorded under ``out`` are not run again).
    composition_range : (float, float)
        Range of x_B of the cells.
    out : str or Path
        Search directory (see the module's docstring).
    seed : int
        Seed (>= 0) of the random structures.
    fmax : float
        Force (eV/Å) and cell-force criterion of the relaxations.
    steps : int
        Largest number of optimizer steps per relaxation.
    scheduler : str, optional
        Address of a running Dask scheduler; None starts a LocalCluster here.
    n_workers : int, optional
        Single-threaded worker processes of the LocalCluster (default: CPU count).
    volume_per_atom, min_distance
        Random structures, see :func:`random_structure`.
    references, window_meV, symprec, energy_tol, volume_tol
        Hull and duplicates, see :func:`hull_from_structures`.
    progress : bool
        Show a tqdm progress bar of the trials.

    Returns
    -------
    SearchResult
        Also written to ``out/hull.json``.

    Raises
    ------
    PolymlpLabError
        Bad arguments, ``out`` holding a search with other settings, or a hull impossible to
        build (e.g. every trial of an element failed and no reference is given).
    """
    from tqdm.auto import tqdm

    elements = _check_elements(elements)
    compositions = enumerate_compositions(elements, max_atoms, composition_range)
    trials = _check_int("trials", trials, 1)
    seed = _check_int("seed", seed, 0)
    steps = _check_int("steps", steps, 0)
    if not float(fmax) > 0:
        raise PolymlpLabError(f"fmax must be positive (eV/Å), got {fmax!r}")
    # bad arguments raise here, not in every trial
    volume_range = None if volume_per_atom is None else list(_volume_range(elements, volume_per_atom))
    _pair_thresholds(elements, MIN_DISTANCE_FACTOR, min_distance)
    spec, description = _calculator_spec(calc_or_potential_path)
    out = Path(out)
    (out / "trials").mkdir(parents=True, exist_ok=True)
    _check_settings(out, dict(
        elements=elements, calculator=description, max_atoms=max_atoms,
        composition_range=[float(v) for v in composition_range] if len(elements) == 2 else None,
        seed=seed,
        fmax=float(fmax), steps=steps, volume_per_atom=volume_range,
        min_distance=None if min_distance is None else float(min_distance)))
    todo = [i for i in range(trials) if i not in _read_trials(out)]

    if todo:
        from distributed import Client, LocalCluster, as_completed

        if scheduler:
            client, cluster = Client(scheduler), None
        else:
            cluster = LocalCluster(n_workers=int(n_workers or os.cpu_count() or 1),
                                   threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
            client = Client(cluster)
        bar = tqdm(total=trials, initial=trials - len(todo), desc="trials", unit="trial",
                   disable=not progress)
        failed = 0
        try:
            [shared_spec] = client.scatter([spec], broadcast=True)
            futures = {
                client.submit(run_trial, shared_spec, elements, compositions[i % len(compositions)],
                              seed=seed, trial=i, fmax=float(fmax), steps=steps,
                              volume_per_atom=volume_per_atom, min_distance=min_distance,
                              pure=False, priority=sum(compositions[i % len(compositions)]),
                              key=f"structure-search-{_trial_name(i)}-{time.time_ns()}"): i
                for i in todo
            }
            for future in as_completed(futures):
                try:
                    result = future.result()
                except Exception as exc:  # the task itself failed (worker lost, ...)
                    i = futures[future]
                    record = _new_record(i, elements, compositions[i % len(compositions)])
                    record["status"] = _failure(exc)
                    result = {"record": record, "extxyz": None}
                _record(out, result)
                failed += result["record"]["status"] != "ok"
                bar.set_postfix(failed=failed, refresh=False)
                bar.update(1)
        finally:
            bar.close()
            client.close()
            if cluster is not None:
                cluster.close()

    from ase.io import read

    records = [r for i, r in sorted(_read_trials(out).items()) if i < trials]
    structures = []
    for r in records:
        if r["status"] == "ok":
            atoms = read(out / r["file"], format="extxyz")
            atoms.info.update(name=r["name"], file=r["file"])
            structures.append(atoms)
    result = hull_from_structures(structures, elements, references=references,
                                  window_meV=window_meV, symprec=symprec,
                                  energy_tol=energy_tol, volume_tol=volume_tol)
    result = replace(result, trials=tuple(records))
    write_text_atomic(out / "hull.json", json.dumps(result.as_dict(), indent=1))
    return result


def plot_hull(result: SearchResult, ax=None):
    """Formation energy (meV/atom) against x_B: the hull, stable (labelled), metastable and
    other unique structures. Returns the matplotlib Axes."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
    window = result.window_meV / 1000.0
    others = [e for e in result.entries if e.e_above_hull > window]
    ax.scatter([e.x_B for e in others], [1000 * e.formation_energy for e in others], s=12,
               color="0.6", label="other")
    ax.scatter([e.x_B for e in result.metastable],
               [1000 * e.formation_energy for e in result.metastable], s=30, facecolors="none",
               edgecolors="tab:orange", label=f"within {result.window_meV:g} meV/atom")
    ax.plot(result.hull_x, 1000 * result.hull_formation_energy, "-", color="k", lw=1)
    ax.scatter([e.x_B for e in result.stable], [1000 * e.formation_energy for e in result.stable],
               s=40, color="tab:blue", zorder=3, label="stable")
    for e in result.stable:
        ax.annotate(str(Formula(e.formula).reduce()[0]), (e.x_B, 1000 * e.formation_energy),
                    textcoords="offset points", xytext=(0, -12), ha="center", fontsize=8)
    a, b = result.elements[0], result.elements[-1]
    ax.set_xlabel(f"x in {a}$_{{1-x}}${b}$_x$" if len(result.elements) == 2 else a)
    ax.set_ylabel("formation energy (meV/atom)")
    ax.legend(fontsize=8)
    return ax


# ----------------------------------------------------------------------------- active learning


def select_near_hull(result: SearchResult, window_meV: Optional[float] = None) -> list:
    """Entries at most ``window_meV`` (meV/atom; default: the result's) above the hull, the
    closest first."""
    window = (result.window_meV if window_meV is None else float(window_meV)) / 1000.0
    near = [e for e in result.entries if e.e_above_hull <= window]
    return sorted(near, key=lambda e: (e.e_above_hull, e.x_B))


@dataclass(frozen=True)
class ActiveLearningStep:
    """Outcome of :func:`active_learning_step`.

    Attributes
    ----------
    fit : PolymlpFit
        The new fit (``fit.potential_``, ``fit.errors_``).
    dataset : Dataset
        The training set with the new structures appended.
    new : Dataset
        The new structures, labelled by the reference calculator.
    errors : dict
        Errors of the new potential on the new structures (see
        :func:`~polymlp_lab.fitting.report.dataset_errors`: rmse_energy meV/atom, rmse_force
        eV/Å, ...).
    """

    fit: object
    dataset: object
    new: object
    errors: dict


def _labelled(atoms: Atoms, calc, source: str) -> Atoms:
    """A copy of ``atoms`` with the energy (eV), forces (eV/Å) and stress (eV/Å³) of ``calc``
    in a SinglePointCalculator."""
    copy = Atoms(atoms.numbers, cell=atoms.cell, positions=atoms.positions, pbc=atoms.pbc)
    copy.calc = calc
    energy, forces = float(copy.get_potential_energy()), copy.get_forces()
    try:
        stress = copy.get_stress()
    except PropertyNotImplementedError:
        stress = None
    copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces, stress=stress)
    copy.info["source"] = source
    return copy


def active_learning_step(result: SearchResult, reference_calc, dataset_or_structures, *,
                         fit_kwargs: dict, window_meV: Optional[float] = None,
                         max_new: int = 10) -> ActiveLearningStep:
    """Label the structures near the hull with a reference calculator, add them to the
    training set and refit.

    Parameters
    ----------
    result : SearchResult
        A search (e.g. with the current polymlp).
    reference_calc : ase Calculator
        The reference (DFT, or a potential standing in for it, as notebook 09 does).
    dataset_or_structures : Dataset or sequence of ase.Atoms
        The current training set (structures with SinglePointCalculator results).
    fit_kwargs : dict
        Keywords of :class:`~polymlp_lab.fitting.PolymlpFit`.
    window_meV : float, optional
        Structures at most this far above the hull (meV/atom) are taken, closest first.
        Default: the result's window.
    max_new : int
        Largest number of structures added.

    Returns
    -------
    ActiveLearningStep

    Raises
    ------
    PolymlpLabError
        No structure within the window, or ``max_new`` < 1 (and the fit's own errors).
    """
    from ..fitting import Dataset, PolymlpFit
    from ..fitting.report import dataset_errors

    if int(max_new) < 1:
        raise PolymlpLabError(f"max_new must be >= 1, got {max_new!r}")
    window_meV = result.window_meV if window_meV is None else float(window_meV)
    chosen = select_near_hull(result, window_meV)[:int(max_new)]
    if not chosen:
        raise PolymlpLabError(f"no structure within {window_meV:g} meV/atom of the hull")
    if isinstance(dataset_or_structures, Dataset):
        dataset = dataset_or_structures
    else:
        dataset = Dataset(name="training", structures=list(dataset_or_structures))
    labelled = [_labelled(e.atoms, reference_calc, f"near_hull:{e.name}") for e in chosen]
    new = replace(dataset, name="near_hull", structures=labelled,
                  sources=[a.info["source"] for a in labelled])
    grown = replace(dataset, structures=dataset.structures + labelled,
                    sources=dataset.sources + new.sources)
    fit = PolymlpFit(**fit_kwargs).fit(grown)
    atomic_energy = dict(zip(fit.params_.elements, fit.params_.atomic_energy))
    errors = dataset_errors(fit.potential_, new, atomic_energy, "near_hull")
    return ActiveLearningStep(fit=fit, dataset=grown, new=new, errors=errors)

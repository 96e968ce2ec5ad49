"""The front door: ``load_potential`` and ``Potential``.

A Potential is one polynomial MLP file or a hybrid (several files whose energies add up).
It evaluates ``ase.Atoms`` with the Numba engine and writes itself back in either format.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from ase.data import chemical_symbols

from .engine.evaluate import evaluate_model
from .engine.model import ModelTables, build_tables
from .errors import NonFiniteResultError, PotentialFileError, UnknownElementError
from .extrapolation import GRADE_FILE, ExtrapolationError, ExtrapolationGrade, potential_digest
from .files import jsonable
from .io import read_potential_file, write_lammps, write_yaml
from .structures import check_structure
from .units import EV_PER_A3_IN_GPA


@dataclass(frozen=True)
class Evaluation:
    """Result of one evaluation.

    energy : float, eV (whole structure).
    energies : (n_atom,) eV per atom; they sum to ``energy``.
    forces : (n_atom, 3) eV/Å, or None when not asked for.
    stress : (6,) eV/Å³ in ASE's Voigt order xx yy zz yz xz xy, ``(1/V) dE/dε``; None when
        forces were not asked for or the structure is not periodic in three directions.
    extrapolation_grades : (n_atom,) each atom's extrapolation grade γ (≤ 1: like the trusted
        atoms; :mod:`polymlp_lab.extrapolation`), or None; ``extrapolation_grade`` their largest.
    """

    energy: float
    energies: np.ndarray
    forces: Optional[np.ndarray]
    stress: Optional[np.ndarray]
    extrapolation_grades: Optional[np.ndarray] = None

    @property
    def extrapolation_grade(self) -> Optional[float]:
        grades = self.extrapolation_grades
        return None if grades is None else float(grades.max(initial=0.0))

    def as_dict(self) -> dict:
        """JSON-ready values, units in the keys (stress also in GPa; grades when computed)."""
        gpa = None if self.stress is None else self.stress * EV_PER_A3_IN_GPA
        values = {"energy_eV": self.energy, "energies_eV": self.energies,
                  "forces_eV_per_A": self.forces, "stress_eV_per_A3": self.stress,
                  "stress_GPa": gpa}
        if self.extrapolation_grades is not None:
            values.update(extrapolation_grade=self.extrapolation_grade,
                          extrapolation_grades=self.extrapolation_grades)
        return jsonable(values)


@dataclass(frozen=True)
class PotentialComponent:
    """One potential file: pypolymlp's parameters, its coefficients and the engine tables."""

    path: Optional[Path]
    params: object
    coeffs: np.ndarray
    tables: ModelTables

    @property
    def elements(self) -> tuple:
        return self.tables.elements

    @property
    def type_full(self) -> bool:
        return self.params.type_full is None or bool(self.params.type_full)

    def type_ids(self, numbers: np.ndarray) -> np.ndarray:
        """Index into ``elements`` for each atomic number; -1 where the file lacks it."""
        return self.tables.type_ids(numbers)


class Potential:
    """A polynomial MLP (one file, or a hybrid sum of several) evaluated by the Numba engine.

    Use :func:`load_potential` to make one. ``elements`` lists every element the potential
    describes; ``cutoff`` is the largest cutoff radius (Å) of its files.
    """

    def __init__(self, components):
        if not components:
            raise ValueError("a Potential needs at least one component")
        self.components = tuple(components)
        self.extrapolation = None  # an ExtrapolationGrade, see attach_extrapolation
        self.extrapolation_note = ("no extrapolation grade: calibrate_extrapolation(potential, "
                                   "structures) builds one")

    def attach_extrapolation(self, grade) -> None:
        """Use ``grade`` (:class:`~polymlp_lab.extrapolation.ExtrapolationGrade`) from now on;
        ExtrapolationError when it was made for another potential."""
        if grade.potential_digest != potential_digest(self):
            raise ExtrapolationError(
                f"the extrapolation grade ({grade.source or 'no source'}) belongs to another "
                f"potential than {self!r} (coefficients differ)")
        self.extrapolation = grade

    @classmethod
    def from_params(cls, params, coeffs, path=None) -> "Potential":
        """A single-file potential from a pypolymlp ``PolymlpParamsSingle`` and coefficients."""
        coeffs = np.asarray(coeffs, dtype=np.float64)
        tables = build_tables(params, coeffs, path=path)
        return cls([PotentialComponent(path, params, coeffs, tables)])

    @property
    def elements(self) -> tuple:
        seen = []
        for c in self.components:
            seen += [e for e in c.elements if e not in seen]
        return tuple(seen)

    @property
    def cutoff(self) -> float:
        return max(c.tables.cutoff for c in self.components)

    @property
    def is_hybrid(self) -> bool:
        return len(self.components) > 1

    @property
    def n_coefficients(self) -> int:
        return sum(len(c.coeffs) for c in self.components)

    def __repr__(self):
        files = ", ".join(str(c.path) if c.path else "<in memory>" for c in self.components)
        return f"Potential(elements={self.elements}, cutoff={self.cutoff} Å, files=[{files}])"

    def component_types(self, numbers) -> list:
        """Each file's type index of every atom (atomic numbers; -1 where the file does not
        describe the element). UnknownElementError names an element no file describes, or
        one missing from a file that must describe every element (``type_full``)."""
        type_ids = [c.type_ids(numbers) for c in self.components]
        if min(int(t.min(initial=0)) for t in type_ids) >= 0:
            return type_ids  # every file describes every atom (the usual case, checked once)
        described = np.any([t >= 0 for t in type_ids], axis=0)
        if not described.all():
            raise UnknownElementError(chemical_symbols[numbers[~described][0]], self.elements)
        for c, types in zip(self.components, type_ids):
            if c.type_full and not (types >= 0).all():
                raise UnknownElementError(chemical_symbols[numbers[types < 0][0]], c.elements)
        return type_ids

    def evaluate(self, atoms, *, forces: bool = True, neighbors=None,
                 grade: Optional[bool] = None) -> Evaluation:
        """Energy (eV), per-atom energies, forces (eV/Å) and stress (eV/Å³) of ``atoms``.

        grade : the atoms' extrapolation grades too; None: when the potential has one
            (``extrapolation``), True: ExtrapolationError (saying why) when it has none.

        neighbors : an :class:`~polymlp_lab.engine.neighbors.NeighborCache` whose list (built
            with a skin) is reused across calls, as MD and relaxations do; None builds a
            fresh list. Results are the same either way.

        Raises NonFiniteResultError (naming the potential files) when the energy, a force
        or the stress is NaN or infinite, as an overflowing coefficient gives.
        """
        cell, positions, numbers, pbc = check_structure(atoms)
        n_atom = len(numbers)
        type_ids = self.component_types(numbers)
        if grade and self.extrapolation is None:
            raise ExtrapolationError(self.extrapolation_note)
        graded = self.extrapolation is not None and grade is not False
        grades = np.zeros(n_atom) if graded else None
        energies = np.zeros(n_atom)
        force_sum = np.zeros((n_atom, 3)) if forces else None
        virial = np.zeros((3, 3))
        for k, (c, types) in enumerate(zip(self.components, type_ids)):
            known = types >= 0
            if known.all():
                index = slice(None)
                e, f, v, phi = evaluate_model(
                    c.tables, cell, positions, types, pbc, forces=forces,
                    neighbors=neighbors, reach=self.cutoff, features=graded,
                )
            else:
                index = np.flatnonzero(known)
                if len(index) == 0:
                    continue
                e, f, v, phi = evaluate_model(
                    c.tables, cell, positions[index], types[index], pbc, forces=forces,
                    features=graded,
                )
            energies[index] += e
            if graded:
                mine = self.extrapolation.atom_grades(k, types[index], phi)
                grades[index] = np.maximum(grades[index], mine)
            if forces:
                force_sum[index] += f
                virial += v
        stress = None
        if forces and np.all(pbc):
            volume = abs(np.linalg.det(cell))
            sym = 0.5 * (virial + virial.T) / volume
            stress = np.array([sym[0, 0], sym[1, 1], sym[2, 2], sym[1, 2], sym[0, 2], sym[0, 1]])
        energy = float(energies.sum())  # non-finite whenever a per-atom energy is
        if not np.isfinite(energy):
            self._non_finite("energy", energy)
        if forces and not np.isfinite(force_sum).all():
            self._non_finite("forces", force_sum[~np.isfinite(force_sum)][0])
        if stress is not None and not np.isfinite(stress).all():
            self._non_finite("stress", stress[~np.isfinite(stress)][0])
        return Evaluation(energy, energies, force_sum, stress, grades)

    def _non_finite(self, quantity, value):
        paths = [str(c.path) for c in self.components if c.path is not None]
        source = ", ".join(paths) if paths else "<in-memory potential>"
        raise NonFiniteResultError(
            f"{source}: the {quantity} evaluated to {value} (not finite; a coefficient of the "
            f"potential may be too large or broken)", paths=paths, quantity=quantity,
        )

    def save(self, path, format: str = "yaml"):
        """Write the potential; a hybrid writes ``path``, ``path.2``, ... (one file each).

        format : "yaml" (polymlp.yaml) or "lammps" (legacy polymlp.lammps text format).
        Returns the list of paths written.
        """
        writers = {"yaml": write_yaml, "lammps": write_lammps}
        if format not in writers:
            raise ValueError(f"format must be 'yaml' or 'lammps', not {format!r}")
        path = Path(path)
        written = []
        for n, c in enumerate(self.components):
            target = path if n == 0 else path.with_name(f"{path.name}.{n + 1}")
            writers[format](target, c.params, c.coeffs)
            written.append(target)
        return written


def load_potential(path_or_paths) -> Potential:
    """Load polymlp.yaml, legacy polymlp.lammps, or a list of files forming a hybrid.

    Raises PotentialFileError (naming file, line and key) for unreadable or inconsistent
    files.
    """
    if isinstance(path_or_paths, (str, Path)):
        paths = [Path(path_or_paths)]
    else:
        paths = [Path(p) for p in path_or_paths]
        if not paths:
            raise PotentialFileError("no potential files given")
    components = []
    for path in paths:
        components += Potential.from_params(*read_potential_file(path), path=path).components
    potential = Potential(components)
    grade_file = paths[0].with_name(GRADE_FILE)
    potential.extrapolation_note = (
        f"no extrapolation grade: no {GRADE_FILE} beside {paths[0]} (fits write it); "
        "calibrate_extrapolation(potential, structures) builds one")
    if grade_file.is_file():
        grade = ExtrapolationGrade.read(grade_file)
        if grade.potential_digest == potential_digest(potential):
            potential.extrapolation = grade
        else:
            potential.extrapolation_note = (
                f"{grade_file} belongs to another potential (its coefficients differ from "
                f"{paths[0]}'s): refit, or calibrate_extrapolation(potential, structures)")
    return potential

"""Extrapolation grade: how far an atom's environment lies from those a potential trusts.

For element t of a potential file, the features φ its polynomial is built on (the engine's
per-atom features, :func:`~polymlp_lab.engine.evaluate.evaluate_model`) over trusted atoms
give the mean μ_t and A_t = Σ (φ − μ_t)(φ − μ_t)ᵀ + λ_t I, with λ_t = ``ridge`` · tr/n_t of
the sum. An atom's grade is γ = (φ − μ_t)ᵀ A_t⁻¹ (φ − μ_t) / γ_max,t, γ_max,t the largest over
the trusted atoms: every trusted atom has γ ≤ 1 (interpolation), and a structure's grade is
the largest γ of its atoms. This is a per-element leverage (G-optimality); MTP and ACE use a
MaxVol (D-optimality) grade, roughly the square root of ours (see the README).

``calibrate_extrapolation`` builds the grade from structures; ``PolymlpFit.save`` writes it
beside polymlp.yaml as ``polymlp_extrapolation.npz``, which ``load_potential`` picks up when
it belongs to the potential (a SHA-256 of the coefficients ties them).
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.linalg import solve_triangular

from .errors import FileContentError, PolymlpLabError

GRADE_FILE = "polymlp_extrapolation.npz"
FORMAT_VERSION = 1
RIDGE = 1e-9  # relative: λ_t = RIDGE · tr(Σ (φ − μ)(φ − μ)ᵀ) / n_t
# Runs warn above this grade: every trusted atom is at most 1, so 1.5 is clearly beyond the
# most unusual trusted environment, yet it warns early: pacemaker's default lower bound for
# collecting extrapolative structures is 1.5 on its MaxVol scale, about 2.3 on ours.
GRADE_WARNING = 1.5


def grade_warning(steps, grades, threshold: float = GRADE_WARNING):
    """A sentence saying where ``grades`` (one per step; None where not computed) first pass
    ``threshold`` and how high they go, or None when they never do."""
    above = [(step, g) for step, g in zip(steps, grades) if g is not None and g > threshold]
    if not above:
        return None
    return (f"extrapolation grade above {threshold:g} from step {above[0][0]} (largest "
            f"{max(g for _, g in above):.3g}): the potential is outside what it was trained on")


def calculator_grade(calc, atoms):
    """The extrapolation grade of ``atoms`` from the ASE calculator ``calc`` (a PolymlpCalculator
    whose potential has a grade; its last results when they are of these atoms), or None for
    a calculator that gives none."""
    from ase.calculators.calculator import PropertyNotImplementedError

    if "extrapolation_grade" not in getattr(calc, "implemented_properties", ()):
        return None
    try:
        return float(calc.get_property("extrapolation_grade", atoms))
    except PropertyNotImplementedError:  # a potential without a grade
        return None


class ExtrapolationError(PolymlpLabError):
    """No grade can be given: no calibration for this potential, or unusable calibration data."""


class ExtrapolationFileError(FileContentError):
    """A polymlp_extrapolation.npz is unreadable or belongs to another potential."""

    unnamed = "<extrapolation grade>"


def potential_digest(potential) -> str:
    """SHA-256 (hex) of a potential's elements and coefficients, file by file."""
    digest = hashlib.sha256()
    for c in potential.components:
        digest.update(" ".join(c.elements).encode() + b"\0")
        digest.update(np.ascontiguousarray(c.coeffs, dtype="<f8").tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class ExtrapolationGrade:
    """The grade of one potential: for file k and element t, ``means[k][t]`` (μ, (n_t,)) and
    ``whitening[k][t]`` (R, (n_t, n_t)) with γ = ‖(φ − μ) R‖²; ``n_atoms[k][t]`` trusted atoms;
    ``potential_digest`` (:func:`potential_digest`); ``source`` says what was trusted."""

    potential_digest: str
    means: tuple
    whitening: tuple
    n_atoms: tuple
    source: str = ""

    def atom_grades(self, k: int, types, features) -> np.ndarray:
        """γ of each atom of file k: ``types`` (n_atom,) type ids, ``features`` (n_atom, n_max)."""
        grades = np.zeros(len(types))
        for t, (mean, whitening) in enumerate(zip(self.means[k], self.whitening[k])):
            mine = np.flatnonzero(types == t)
            z = (features[mine, : len(mean)] - mean) @ whitening
            grades[mine] = np.einsum("ij,ij->i", z, z)
        return grades

    def digest(self) -> str:
        """SHA-256 of the calibration's numbers (its identity as an input of a run)."""
        digest = hashlib.sha256(self.potential_digest.encode())
        for means, whitening in zip(self.means, self.whitening):
            for array in (*means, *whitening):
                digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def save(self, path) -> Path:
        """Write the grade as .npz (``polymlp_extrapolation.npz`` beside the potential)."""
        arrays = {"format_version": FORMAT_VERSION, "potential_digest": self.potential_digest,
                  "source": self.source, "n_types": [len(m) for m in self.means]}
        for k, (means, whitening, counts) in enumerate(zip(self.means, self.whitening,
                                                           self.n_atoms)):
            for t, (mean, w, n) in enumerate(zip(means, whitening, counts)):
                arrays.update({f"mean_{k}_{t}": mean, f"whitening_{k}_{t}": w,
                               f"n_atoms_{k}_{t}": n})
        path = Path(path)
        with path.open("wb") as handle:
            np.savez_compressed(handle, **arrays)
        return path

    @classmethod
    def read(cls, path) -> "ExtrapolationGrade":
        """A grade written by :meth:`save`; ExtrapolationFileError names what is wrong."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
            if int(arrays["format_version"]) != FORMAT_VERSION:
                raise ValueError(f"format_version {arrays['format_version']} (expected "
                                 f"{FORMAT_VERSION})")
            n_types = [int(n) for n in arrays["n_types"]]
            parts = [tuple(tuple(arrays[f"{name}_{k}_{t}"] for t in range(n))
                           for k, n in enumerate(n_types))
                     for name in ("mean", "whitening", "n_atoms")]
        except Exception as exc:
            raise ExtrapolationFileError(f"unreadable extrapolation grade: {exc}",
                                         path=path) from None
        return cls(str(arrays["potential_digest"]), parts[0], parts[1],
                   tuple(tuple(int(n) for n in counts) for counts in parts[2]),
                   str(arrays["source"]))


def trusted_features(potential, structures):
    """The per-atom features of ``structures`` (ase.Atoms, or a Dataset) for each file k and
    element t of ``potential``: [k][t] -> (n_atoms, n_t) array. An element the potential
    does not describe is refused (UnknownElementError), as evaluation refuses it."""
    from .engine.evaluate import evaluate_model
    from .structures import check_structure

    structures = list(getattr(structures, "structures", structures))
    if not structures:
        raise ExtrapolationError("no structures to calibrate the grade on")
    found = [[[] for _ in c.elements] for c in potential.components]
    for atoms in structures:
        cell, positions, numbers, pbc = check_structure(atoms)
        type_ids = potential.component_types(numbers)
        for k, (c, types) in enumerate(zip(potential.components, type_ids)):
            known = np.flatnonzero(types >= 0)
            features = evaluate_model(c.tables, cell, positions[known], types[known], pbc,
                                      forces=False, features=True)[3]
            for t in range(len(c.elements)):
                n_t = c.tables.features.ptr[t + 1] - c.tables.features.ptr[t]
                found[k][t].append(features[types[known] == t, :n_t])
    return [[np.concatenate(parts) for parts in per_file] for per_file in found]


def calibrate_extrapolation(potential, structures, *, ridge: float = RIDGE,
                            source: str = "") -> ExtrapolationGrade:
    """The extrapolation grade of ``potential`` with ``structures`` (ase.Atoms or a Dataset,
    e.g. its training set) as what it trusts. Raises ExtrapolationError naming the element
    when the structures hold none of it, or only atoms in one environment."""
    means, whitening, counts = [], [], []
    for c, per_type in zip(potential.components, trusted_features(potential, structures)):
        means.append([]), whitening.append([]), counts.append([])
        for element, features in zip(c.elements, per_type):
            if features.shape[1] == 0:
                raise ExtrapolationError(f"element {element}: the potential's polynomial is built on "
                                         "no feature of it (a linear model): it has no grade")
            mean = features.mean(axis=0) if len(features) else None
            centred = features - mean if len(features) else features
            scatter = centred.T @ centred
            spread = np.trace(scatter)
            # atoms alike by symmetry differ by rounding only (relative 1e-16 per feature)
            if len(features) < 2 or spread <= 1e-20 * len(features) * (mean @ mean):
                what = (f"hold {len(features)} atom(s) of it" if len(features) < 2
                        else f"hold its {len(features)} atoms in one environment only")
                raise ExtrapolationError(f"element {element}: the structures {what}; the grade "
                                         "needs atoms in varied environments (e.g. a training set)")
            lower = np.linalg.cholesky(scatter + ridge * spread / len(scatter) * np.eye(len(scatter)))
            inverse = solve_triangular(lower, np.eye(len(lower)), lower=True).T
            z = centred @ inverse
            largest = np.einsum("ij,ij->i", z, z).max()
            means[-1].append(mean)
            whitening[-1].append(inverse / np.sqrt(largest))
            counts[-1].append(len(features))
    return ExtrapolationGrade(potential_digest(potential), tuple(map(tuple, means)),
                              tuple(map(tuple, whitening)), tuple(map(tuple, counts)), source)

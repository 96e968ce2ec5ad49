"""Weighted design-matrix rows of structures and their normal equations (XᵀX, Xᵀy).

Rows and weights follow pypolymlp, so that the same input gives the same fit:
- energy: y = E_DFT - sum of isolated-atom energies (eV per cell); weight 1, or 0.5, 0.3,
  0.1 as the energy per atom rises above 0.75, 0.5 times the lowest training one and 0;
- forces: y = F (eV/Å); weight min(1, 1/|F|) per component;
- stress: y = -V σ_ASE (eV per cell, xx yy zz xy yz zx); weight
  weight_stress * min(1, 5^-log10|y|);
all times the dataset weight. A weight multiplies both the row and y (least squares in w²).
Only XᵀX, Xᵀy, yᵀy and Σw² are kept, so memory grows with features², not with rows.
"""

from dataclasses import dataclass

import numpy as np

from ..engine.design import FeatureTables, design_rows

# ASE Voigt (xx yy zz yz xz xy) -> pypolymlp's stress order (xx yy zz xy yz zx)
ASE_TO_POLYMLP_STRESS = np.array([0, 1, 2, 5, 3, 4])


@dataclass
class NormalEquations:
    """Running sums of one set of structures (XᵀX symmetric; only its upper triangle is read)."""

    xtx: np.ndarray
    xty: np.ndarray
    yty: float = 0.0
    sum_w2: float = 0.0
    energy_sum: np.ndarray = None  # sum of raw energy rows (for the column scales)
    energy_sq_sum: np.ndarray = None
    n_energy: int = 0

    @classmethod
    def zeros(cls, n_features: int) -> "NormalEquations":
        return cls(
            xtx=np.zeros((n_features, n_features)), xty=np.zeros(n_features),
            energy_sum=np.zeros(n_features), energy_sq_sum=np.zeros(n_features),
        )

    @classmethod
    def from_block(cls, block: "RowBlock") -> "NormalEquations":
        """The sums of one block of rows alone."""
        sums = cls.zeros(block.energy_rows.shape[1])
        sums.add(block)
        return sums

    def add(self, block: "RowBlock") -> None:
        """Add a block of weighted rows (in place; XᵀX by numpy's rank-k update, which
        releases the GIL, unlike scipy's BLAS wrappers, so threads run it at once)."""
        if len(block.y):
            self.xtx += block.x.T @ block.x
            self.xty += block.x.T @ block.y
            self.yty += float(block.y @ block.y)
            self.sum_w2 += float(block.w2)
        self.energy_sum += block.energy_rows.sum(axis=0)
        self.energy_sq_sum += (block.energy_rows**2).sum(axis=0)
        self.n_energy += len(block.energy_rows)

    def merge(self, other: "NormalEquations") -> None:
        """Add the sums of another set of structures (in place, elementwise: merging the same
        sums in the same order gives the same bits, wherever each was computed)."""
        self.xtx += other.xtx
        self.xty += other.xty
        self.yty += other.yty
        self.sum_w2 += other.sum_w2
        self.energy_sum += other.energy_sum
        self.energy_sq_sum += other.energy_sq_sum
        self.n_energy += other.n_energy

    def full_xtx(self) -> np.ndarray:
        """Symmetric XᵀX (a new C-ordered array)."""
        upper = np.triu(self.xtx)
        return upper + np.triu(upper, 1).T

    def state(self, prefix: str) -> dict:
        return {
            f"{prefix}_xtx": self.xtx, f"{prefix}_xty": self.xty,
            f"{prefix}_scalars": np.array([self.yty, self.sum_w2, self.n_energy]),
            f"{prefix}_energy_sum": self.energy_sum, f"{prefix}_energy_sq_sum": self.energy_sq_sum,
        }

    @classmethod
    def from_state(cls, state, prefix: str) -> "NormalEquations":
        yty, sum_w2, n_energy = state[f"{prefix}_scalars"]
        return cls(
            xtx=np.array(state[f"{prefix}_xtx"]), xty=np.array(state[f"{prefix}_xty"]),
            yty=float(yty), sum_w2=float(sum_w2), energy_sum=np.array(state[f"{prefix}_energy_sum"]),
            energy_sq_sum=np.array(state[f"{prefix}_energy_sq_sum"]), n_energy=int(n_energy),
        )


@dataclass
class RowBlock:
    """Weighted rows x (n_rows, n_features), targets y, Σw², raw energy rows."""

    x: np.ndarray
    y: np.ndarray
    w2: float
    energy_rows: np.ndarray


def energy_weight(energy_per_atom: float, min_energy: float) -> float:
    """pypolymlp's energy weight from the cohesive energy per atom (eV) and the lowest one."""
    weight = 1.0
    for threshold, w in ((0.75 * min_energy, 0.5), (0.5 * min_energy, 0.3), (0.0, 0.1)):
        if energy_per_atom > threshold:
            weight = w
    return weight


def stress_weights(stress: np.ndarray, weight_stress: float) -> np.ndarray:
    """weight_stress * min(1, 5^-log10|s|) per component (s in eV per cell)."""
    magnitude = np.abs(stress)
    log = np.where(magnitude > 1e-12, np.log10(np.maximum(magnitude, 1e-300)), -12.0)
    return np.minimum(5.0 ** (-log), 1.0) * weight_stress


def reference_energy(atoms, atomic_energy: dict) -> float:
    """Sum of isolated-atom energies (eV) of the atoms."""
    return float(sum(atomic_energy.get(s, 0.0) for s in atoms.get_chemical_symbols()))


def structure_rows(
    tables: FeatureTables, atoms, type_ids, *, atomic_energy: dict, min_energy: float,
    weight: float, include_force: bool, include_stress: bool, weight_stress: float,
):
    """Weighted rows of one structure: list of (x rows, y, w) and the raw energy row."""
    results = atoms.calc.results
    e_row, f_rows, s_rows, _ = design_rows(
        tables, atoms.cell.array, atoms.positions, type_ids, atoms.pbc, derivatives=include_force
    )
    energy = results["energy"] - reference_energy(atoms, atomic_energy)
    w_e = energy_weight(energy / len(atoms), min_energy) * weight
    parts = [(e_row[None, :], np.array([energy]), np.array([w_e]))]
    if include_force:
        forces = np.asarray(results["forces"], dtype=float).reshape(-1)
        w_f = np.minimum(1.0 / np.maximum(np.abs(forces), 1e-12), 1.0) * weight
        parts.append((f_rows, forces, w_f))
        stress = results.get("stress")
        if include_stress and stress is not None and np.all(atoms.pbc):
            sigma = -atoms.get_volume() * np.asarray(stress)[ASE_TO_POLYMLP_STRESS]
            parts.append((s_rows, sigma, stress_weights(sigma, weight_stress) * weight))
    return parts, e_row


def block_of(parts_list, energy_rows) -> RowBlock:
    """Stack weighted rows of several structures into one RowBlock."""
    n_rows = sum(len(y) for parts in parts_list for _, y, _ in parts)
    n_features = energy_rows.shape[1]
    x = np.empty((n_rows, n_features))
    y = np.empty(n_rows)
    w2 = 0.0
    r = 0
    for parts in parts_list:
        for rows, target, w in parts:
            k = len(target)
            np.multiply(rows, w[:, None], out=x[r:r + k])
            y[r:r + k] = target * w
            w2 += float(w @ w)
            r += k
    return RowBlock(x=x, y=y, w2=w2, energy_rows=energy_rows)

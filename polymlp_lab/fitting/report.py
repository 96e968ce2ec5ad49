"""Prediction errors of a fitted potential per dataset, polymlp_error.yaml, parity data and plots.

Units follow pypolymlp's report: energy RMSE/MAE in meV/atom (energies minus isolated-atom
energies, per atom), forces in eV/Å (all components), stress in meV/atom (the stress
-dE/dε in eV per cell, divided by the number of atoms), plus stress in GPa.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..files import AsDict
from ..units import EV_PER_A3_IN_GPA
from .gram import ASE_TO_POLYMLP_STRESS, reference_energy


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2))) if len(a) else None


def _mae(a, b):
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b)))) if len(a) else None


@dataclass(frozen=True)
class DatasetErrors(AsDict):
    """Outcome of :func:`dataset_errors`: ``dataset`` (its name), ``kind`` (train/test),
    ``n_structures``, ``rmse_energy``, ``mae_energy`` (meV/atom), ``rmse_force``,
    ``mae_force`` (eV/Å), ``rmse_stress``, ``mae_stress`` (meV/atom), ``rmse_stress_gpa``
    (GPa), each None without such data, ``parity``: {quantity: (DFT, MLP) arrays} of energies
    per atom (``energy_per_atom_eV``, eV), force components (``force_eV_per_A``, eV/Å) and
    stresses (``stress_GPa``, GPa, ASE Voigt), and ``sources`` (a name per structure)."""

    dataset: str
    kind: str
    n_structures: int
    rmse_energy: Optional[float]
    mae_energy: Optional[float]
    rmse_force: Optional[float]
    mae_force: Optional[float]
    rmse_stress: Optional[float]
    mae_stress: Optional[float]
    rmse_stress_gpa: Optional[float]
    parity: dict
    sources: list


def dataset_errors(potential, dataset, atomic_energy: dict, kind: str = "") -> DatasetErrors:
    """Errors of ``potential`` on every structure of ``dataset`` (unweighted): a
    :class:`DatasetErrors`."""
    e_dft, e_mlp, f_dft, f_mlp, s_dft, s_mlp, s_dft_atom, s_mlp_atom = ([] for _ in range(8))
    for atoms in dataset.structures:
        results = atoms.calc.results
        n = len(atoms)
        evaluation = potential.evaluate(atoms)
        e_dft.append((results["energy"] - reference_energy(atoms, atomic_energy)) / n)
        e_mlp.append(evaluation.energy / n)
        forces = results.get("forces")
        if forces is not None:
            f_dft.append(np.asarray(forces).reshape(-1))
            f_mlp.append(evaluation.forces.reshape(-1))
        stress = results.get("stress")
        if stress is not None and evaluation.stress is not None:
            volume = atoms.get_volume()
            s_dft.append(np.asarray(stress))
            s_mlp.append(evaluation.stress)
            s_dft_atom.append(-volume * np.asarray(stress)[ASE_TO_POLYMLP_STRESS] / n)
            s_mlp_atom.append(-volume * evaluation.stress[ASE_TO_POLYMLP_STRESS] / n)
    f_dft, f_mlp, s_dft, s_mlp, s_dft_atom, s_mlp_atom = (
        np.concatenate(x) if x else np.zeros(0)
        for x in (f_dft, f_mlp, s_dft, s_mlp, s_dft_atom, s_mlp_atom))
    scale = lambda v: None if v is None else 1000.0 * v  # noqa: E731
    return DatasetErrors(
        dataset=dataset.name, kind=kind, n_structures=len(dataset),
        rmse_energy=scale(_rmse(e_dft, e_mlp)), mae_energy=scale(_mae(e_dft, e_mlp)),
        rmse_force=_rmse(f_dft, f_mlp), mae_force=_mae(f_dft, f_mlp),
        rmse_stress=scale(_rmse(s_dft_atom, s_mlp_atom)),
        mae_stress=scale(_mae(s_dft_atom, s_mlp_atom)),
        rmse_stress_gpa=None if not len(s_dft) else _rmse(s_dft, s_mlp) * EV_PER_A3_IN_GPA,
        parity={"energy_per_atom_eV": (np.array(e_dft), np.array(e_mlp)),
                "force_eV_per_A": (f_dft, f_mlp),
                "stress_GPa": (s_dft * EV_PER_A3_IN_GPA, s_mlp * EV_PER_A3_IN_GPA)},
        sources=list(dataset.sources))


def write_error_yaml(path, errors) -> None:
    """polymlp_error.yaml as pypolymlp writes it: units, then one block per dataset."""
    lines = ["units:", "  energy: meV/atom", "  force:  eV/angstrom", "  stress: meV/atom", "",
             "prediction_errors:"]
    for e in errors:
        prefixed = e.kind and not e.dataset.startswith(("Train_", "Test_"))
        lines.append(f"- dataset: {e.kind.capitalize() + '_' if prefixed else ''}{e.dataset}")
        for measure in ("rmse", "mae"):
            for key in (f"{measure}_energy", f"{measure}_force", f"{measure}_stress"):
                if getattr(e, key) is not None:
                    lines.append(f"  {key + ':':13s} {getattr(e, key)!r}")
            lines.append("")
    Path(path).write_text("\n".join(lines) + "\n")


def _tag(error) -> str:
    return f"{error.kind or 'data'}-{error.dataset.translate(str.maketrans('*./', '---'))}"


def write_predictions(directory, errors) -> list:
    """Parity data files: energy.<kind>-<dataset>.dat (eV/atom) and force.<...>.dat (eV/Å)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for e in errors:
        dft, mlp = e.parity["energy_per_atom_eV"]
        path = directory / f"energy.{_tag(e)}.dat"
        with open(path, "w") as handle:
            handle.write("# DFT(eV/atom), MLP(eV/atom), DFT-MLP(meV/atom), structure\n")
            for a, b, source in zip(dft, mlp, e.sources):
                handle.write(f"{a:.10f} {b:.10f} {1000 * (a - b):.6f} {source}\n")
        written.append(path)
        f_dft, f_mlp = e.parity["force_eV_per_A"]
        if len(f_dft):
            path = directory / f"force.{_tag(e)}.dat"
            np.savetxt(path, np.column_stack([f_dft, f_mlp]), fmt="%.8f",
                       header="DFT(eV/angstrom), MLP(eV/angstrom)")
            written.append(path)
    return written


def plot_parity(errors, *, kinds=("train", "test")):
    """Matplotlib figure: MLP against DFT for energies, forces and stresses."""
    import matplotlib.pyplot as plt

    quantities = [("energy_per_atom_eV", "energy (eV/atom)", "rmse_energy", "meV/atom"),
                  ("force_eV_per_A", "force (eV/Å)", "rmse_force", "eV/Å"),
                  ("stress_GPa", "stress (GPa)", "rmse_stress_gpa", "GPa")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), constrained_layout=True)
    for ax, (key, label, rmse_key, unit) in zip(axes, quantities):
        lo, hi = np.inf, -np.inf
        for e in errors:
            if e.kind not in kinds:
                continue
            dft, mlp = e.parity[key]
            if not len(dft):
                continue
            lo, hi = min(lo, dft.min(), mlp.min()), max(hi, dft.max(), mlp.max())
            ax.scatter(dft, mlp, s=4, alpha=0.5,
                       label=f"{e.kind} {e.dataset}: RMSE {getattr(e, rmse_key):.3g} {unit}")
        if np.isfinite(lo):
            ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
            ax.legend(fontsize=9)
        ax.set_xlabel(f"DFT {label}")
        ax.set_ylabel(f"MLP {label}")
    return fig

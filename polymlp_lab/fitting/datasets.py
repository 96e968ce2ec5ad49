"""DFT datasets: structures with energies, forces and stresses, read from VASP or ase.io files.

Each structure is an ``ase.Atoms`` carrying a SinglePointCalculator with the DFT results in
ASE's units: total energy (eV), forces (eV/Å), stress (eV/Å³, Voigt xx yy zz yz xz xy,
``(1/V) dE/dε``; absent when the file has none). pypolymlp owns the VASP formats: vasprun.xml
(single points and MD runs) and its compressed ``vasprun.xml.polymlp`` are read with its
parsers (energy ``e_wo_entrp``, as pypolymlp fits); anything else goes through ``ase.io``.
"""

import glob as globlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ..errors import PolymlpLabError
from ..units import KBAR_PER_EV_PER_A3


class DatasetError(PolymlpLabError):
    """A dataset file or structure is unusable; the message names the file (and structure)."""


@dataclass
class Dataset:
    """Structures with DFT results, and how a fit uses them.

    name : label used in error reports.
    structures : list of ase.Atoms with a SinglePointCalculator (energy, forces, stress).
    weight : multiplies every row weight of these structures (pypolymlp's dataset weight).
    include_force, include_stress : fit force / stress rows (stress needs forces).
    sources : file (and MD step) of each structure.
    """

    name: str
    structures: list
    weight: float = 1.0
    include_force: bool = True
    include_stress: bool = True
    sources: list = field(default_factory=list)

    def __post_init__(self):
        if not self.sources:
            self.sources = [f"{self.name}[{i}]" for i in range(len(self.structures))]

    def __len__(self) -> int:
        return len(self.structures)

    def subset(self, indices, name=None) -> "Dataset":
        """The structures at ``indices``, with the same weights and flags."""
        return replace(
            self,
            name=name or self.name,
            structures=[self.structures[i] for i in indices],
            sources=[self.sources[i] for i in indices],
        )

    def split(self, train_ratio: float = 0.9):
        """(train, test) by pypolymlp's rule: round(n (1 - ratio)) test structures spread
        evenly, the first and the last included."""
        train_ids, test_ids = split_indices(len(self), train_ratio)
        return (
            self.subset(train_ids, name=f"Train_{self.name}"),
            self.subset(test_ids, name=f"Test_{self.name}"),
        )


def split_indices(n: int, train_ratio: float = 0.9):
    """Train and test indices: test = round(linspace(0, n - 1, n - round(n ratio)))."""
    n_test = n - round(n * train_ratio)
    test = np.round(np.linspace(0, n - 1, num=n_test)).astype(int) if n_test > 0 else []
    test = sorted(set(int(i) for i in test))
    chosen = set(test)
    return [i for i in range(n) if i not in chosen], test


def _from_polymlp_structure(st, energy, forces, stress_kbar, source):
    """ase.Atoms with DFT results of a pypolymlp structure; stress from VASP's kbar
    (positive = compressive)."""
    if forces is None or np.asarray(forces).shape != (3, len(st.elements)):
        shape = None if forces is None else np.asarray(forces).shape
        raise DatasetError(
            f"{source}: forces missing or of shape {shape} for {len(st.elements)} atoms"
        )
    atoms = Atoms(symbols=list(st.elements), cell=np.asarray(st.axis).T,
                  scaled_positions=np.asarray(st.positions).T, pbc=True)
    stress = (None if stress_kbar is None
              else _full_to_voigt(-np.asarray(stress_kbar, dtype=float) / KBAR_PER_EV_PER_A3))
    atoms.calc = SinglePointCalculator(atoms, energy=float(energy), stress=stress,
                                       forces=np.asarray(forces, dtype=float).T.copy())
    atoms.info["source"] = source
    return atoms


def read_vasprun(path) -> list:
    """Structures of one vasprun.xml (every ionic step of an MD run) or vasprun.xml.polymlp."""
    from pypolymlp.core.interface_vasp import Vasprun, VasprunMD, check_vasprun_type

    path = str(path)
    try:
        is_md, _ = check_vasprun_type(path)
        if is_md:
            run = VasprunMD(path)
            steps = zip(run.structures, run.energies, run.forces, run.stresses)
            return [_from_polymlp_structure(st, e, f, s, f"{path}:step {k}")
                    for k, (st, e, f, s) in enumerate(steps)]
        run = Vasprun(path)
        return [_from_polymlp_structure(run.structure, run.energy, run.forces, run.stress, path)]
    except DatasetError:
        raise
    except Exception as exc:  # pypolymlp's XML parsing raises many types
        missing = [name for name in ("forces", "stress") if f'name="{name}"' not in _text(path)]
        if missing:
            raise DatasetError(
                f"{path}: no {' and no '.join(missing)} in the file (pypolymlp needs both)"
            ) from exc
        raise DatasetError(f"{path}: not a readable vasprun file ({type(exc).__name__}: {exc})") from exc


def _text(path) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def read_ase(path, index=":") -> list:
    """Structures of any ase.io file that carries energies and forces (extxyz first)."""
    from ase.io import read

    try:
        images = read(str(path), index=index)
    except Exception as exc:
        raise DatasetError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    images = images if isinstance(images, list) else [images]
    out = []
    for k, atoms in enumerate(images):
        source = f"{path}:{k}"
        if atoms.calc is None:
            raise DatasetError(f"{source}: no energy or forces in the file")
        results = atoms.calc.results
        energy = results.get("energy", results.get("free_energy"))
        if energy is None:
            raise DatasetError(f"{source}: no energy in the file")
        forces = results.get("forces")
        if forces is None:
            raise DatasetError(f"{source}: no forces in the file")
        stress = results.get("stress")
        if stress is not None:
            stress = np.asarray(stress, dtype=float)
            stress = stress.reshape(-1) if stress.size == 6 else _full_to_voigt(stress)
        copy = atoms.copy()
        copy.calc = SinglePointCalculator(
            copy, energy=float(energy), forces=np.asarray(forces, dtype=float), stress=stress
        )
        copy.info["source"] = source
        out.append(copy)
    return out


def _full_to_voigt(stress):
    s = np.asarray(stress, dtype=float).reshape(3, 3)
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def _is_vasprun(path: str) -> bool:
    name = Path(path).name
    return name.endswith(".xml.polymlp") or (name.endswith(".xml") and "vasprun" in name)


def read_dataset(
    paths, *, name=None, weight=1.0, include_force=True, include_stress=True, index=":"
) -> Dataset:
    """A Dataset from files: a path, a glob pattern, or a list of them (sorted per glob).

    vasprun.xml and vasprun.xml.polymlp files go through pypolymlp's parsers; other files
    through ase.io (``index`` selects frames). Every structure must have finite energy and
    forces of the right shape; errors name the file and structure.
    """
    patterns = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not patterns:
        raise DatasetError("no dataset files given")
    files = []
    for pattern in patterns:
        matched = sorted(globlib.glob(str(pattern)))
        if not matched:
            raise DatasetError(f"{pattern}: no such file")
        files.extend(matched)
    structures = [atoms for path in files
                  for atoms in (read_vasprun(path) if _is_vasprun(path) else read_ase(path, index))]
    dataset = Dataset(
        name=name or str(patterns[0]), structures=structures, weight=float(weight),
        include_force=bool(include_force), include_stress=bool(include_stress) and bool(include_force),
        sources=[a.info["source"] for a in structures],
    )
    validate_dataset(dataset)
    return dataset


def validate_dataset(dataset: Dataset, elements=None) -> None:
    """Raise DatasetError for an empty dataset or a structure that cannot be fitted."""
    if len(dataset) == 0:
        raise DatasetError(f"dataset '{dataset.name}' is empty")
    if not np.isfinite(dataset.weight) or dataset.weight < 0:
        raise DatasetError(f"dataset '{dataset.name}': weight {dataset.weight} is not >= 0")
    for atoms, source in zip(dataset.structures, dataset.sources):
        if len(atoms) == 0:
            raise DatasetError(f"{source}: structure without atoms")
        if atoms.calc is None or "energy" not in atoms.calc.results:
            raise DatasetError(f"{source}: no DFT energy")
        energy = atoms.calc.results["energy"]
        if not np.isfinite(energy):
            raise DatasetError(f"{source}: energy is {energy}")
        forces = atoms.calc.results.get("forces")
        if dataset.include_force:
            if forces is None:
                raise DatasetError(f"{source}: no forces (set include_force=False to fit energies only)")
            forces = np.asarray(forces)
            if forces.shape != (len(atoms), 3):
                raise DatasetError(
                    f"{source}: {forces.shape[0] if forces.ndim else 0} force rows for {len(atoms)} atoms"
                )
            if not np.all(np.isfinite(forces)):
                raise DatasetError(f"{source}: forces contain NaN or inf")
        stress = atoms.calc.results.get("stress")
        if stress is not None and not np.all(np.isfinite(stress)):
            raise DatasetError(f"{source}: stress contains NaN or inf")
        if not np.all(np.isfinite(atoms.positions)) or not np.all(np.isfinite(atoms.cell.array)):
            raise DatasetError(f"{source}: positions or cell contain NaN or inf")
        if elements is not None:
            unknown = sorted(set(atoms.get_chemical_symbols()) - set(elements))
            if unknown:
                raise DatasetError(
                    f"{source}: element {', '.join(unknown)} is not in the model "
                    f"(elements {', '.join(elements)})"
                )

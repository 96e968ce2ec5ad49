"""Published data that ship with the lab: potentials, DFT datasets, a grid of models, an EAM.

Everything here is real and needs no download, so notebooks, teaching sessions and Binder
launches work on any machine. Origins and licences (see ``README.md`` in this folder and
the licence files beside it):

- potentials ``Al``, ``Si``, ``Ti``, ``MgO`` (pypolymlp's examples, BSD-3-Clause) and ``Al-Cu``
  (rsspolymlp's structure-search example, MIT), in this package;
- ``SrTiO3`` and ``Ti-Al`` (Repository potentials in the legacy format) and the Zope–Mishin
  Ti–Al EAM, from the installed pypolymlp package (BSD-3-Clause);
- datasets ``MgO`` (1000 VASP single points of 64-atom MgO) and ``Cu-md`` (a VASP MD run of
  Cu), from pypolymlp's examples, stored compactly (the numbers its parsers read);
- grid ``Ti``: 285 models of a pypolymlp grid search of Ti (errors and costs).

>>> from polymlp_lab import data, load_potential
>>> data.available()["potentials"]
['Al', 'Al-Cu', 'MgO', 'Si', 'SrTiO3', 'Ti', 'Ti-Al']
>>> potential = load_potential(data.potential("Al"))
>>> mgo = data.dataset("MgO")            # a Dataset, as read_dataset returns it
"""

from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import PolymlpLabError

__all__ = ["UnknownDataError", "available", "potential", "structure", "dataset",
           "atomic_energy", "grid", "eam"]

# files inside the installed pypolymlp package
_PYPOLYMLP_FILES = ("calculator", "utils", "lammps", "tests", "files")
_PYPOLYMLP_POTENTIALS = {"SrTiO3": "SrTiO3", "Ti-Al": "Ti-Al"}
_PYPOLYMLP_EAM = {"Zope-Ti-Al-2003": ("Ti-Al", "Zope-Ti-Al-2003.eam.alloy")}


class UnknownDataError(PolymlpLabError, KeyError):
    """No shipped item of that kind and name; ``kind``, ``name`` and ``known`` say which."""

    def __init__(self, kind: str, name, known):
        self.kind, self.name, self.known = kind, name, tuple(known)
        PolymlpLabError.__init__(
            self, f"no {kind} named {name!r} ships with polymlp-lab (it has: "
                  f"{', '.join(self.known) or 'none'})")

    __str__ = PolymlpLabError.__str__


def _here() -> Path:
    return Path(str(resources.files(__name__)))


def _pypolymlp_files() -> Path:
    return Path(str(resources.files("pypolymlp").joinpath(*_PYPOLYMLP_FILES)))


def _potential_files() -> dict:
    found = {}
    for folder in sorted((_here() / "potentials").iterdir()):
        files = sorted(folder.glob("polymlp.*"))
        if files:
            found[folder.name] = files[0]
    for name, folder in _PYPOLYMLP_POTENTIALS.items():
        path = _pypolymlp_files() / folder / "polymlp.lammps"
        if path.is_file():
            found[name] = path
    return dict(sorted(found.items()))


def _eam_files() -> dict:
    found = {}
    for name, (folder, file) in _PYPOLYMLP_EAM.items():
        path = _pypolymlp_files() / folder / file
        if path.is_file():
            found[name] = path
    return found


def _dataset_files() -> dict:
    return {p.stem: p for p in sorted((_here() / "datasets").glob("*.npz"))}


def _grid_folders() -> dict:
    return {p.name: p for p in sorted((_here() / "grids").iterdir()) if p.is_dir()}


def _lookup(kind: str, found: dict, name) -> Path:
    if name not in found:
        raise UnknownDataError(kind, name, found)
    return found[name]


def available() -> dict:
    """Names of what ships: ``{"potentials": [...], "datasets": [...], "grids": [...],
    "eam": [...]}``."""
    return {"potentials": list(_potential_files()), "datasets": list(_dataset_files()),
            "grids": list(_grid_folders()), "eam": list(_eam_files())}


def potential(name: str) -> Path:
    """Path of the potential file ``name``: ``Al``, ``Si``, ``Ti``, ``MgO`` (polymlp.yaml),
    ``Al-Cu``, ``SrTiO3``, ``Ti-Al`` (polymlp.lammps)."""
    return _lookup("potential", _potential_files(), name)


def structure(name: str):
    """The example structure (``ase.Atoms``) published with potential ``name``: fcc Al,
    diamond Si, bcc Ti, rocksalt MgO. Potentials published without one raise
    UnknownDataError."""
    from ase.io import read

    found = {p.parent.name: p for p in sorted((_here() / "potentials").glob("*/POSCAR"))}
    return read(_lookup("structure", found, name), format="vasp")


def _arrays(name: str) -> dict:
    with np.load(_lookup("dataset", _dataset_files(), name), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def atomic_energy(name: str) -> dict:
    """Isolated-atom energies (eV) of dataset ``name``, as its ``polymlp.in`` gives them:
    the reference the potentials fitted to it leave out."""
    arrays = _arrays(name)
    return {str(e): float(v) for e, v in zip(arrays["atomic_energy_elements"],
                                             arrays["atomic_energy_eV"])}


def dataset(name: str, *, indices=None):
    """The DFT dataset ``name`` (``MgO``, ``Cu-md``) as the ``Dataset`` that ``read_dataset``
    returns for the published files: every structure with energy (eV), forces (eV/Å) and
    stress (eV/Å³), ``sources`` naming the original file (and MD step). ``indices`` takes a
    subset (e.g. ``range(0, 1000, 10)`` for a teaching-size slice)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from ..fitting.datasets import Dataset, validate_dataset

    arrays = _arrays(name)
    ends = np.concatenate([[0], np.cumsum(arrays["n_atoms"])])
    chosen = range(len(arrays["n_atoms"])) if indices is None else list(indices)
    structures, sources = [], []
    for k in chosen:
        atoms_slice = slice(ends[k], ends[k + 1])
        atoms = Atoms(numbers=arrays["numbers"][atoms_slice], positions=arrays["positions"][atoms_slice],
                      cell=arrays["cell"][k], pbc=True)
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(arrays["energy"][k]), forces=arrays["forces"][atoms_slice].copy(),
            stress=arrays["stress"][k].copy())
        source = f"{name}:{arrays['sources'][k]}"
        atoms.info["source"] = source
        structures.append(atoms)
        sources.append(source)
    result = Dataset(name=name, structures=structures, sources=sources)
    validate_dataset(result)
    return result


def grid(name: str) -> Path:
    """Folder of the grid ``name`` (``Ti``): one ``polymlp-NNNNN/`` per model with
    ``polymlp_error.yaml`` and ``polymlp_cost.yaml``, in pypolymlp's layout."""
    return _lookup("grid", _grid_folders(), name)


def eam(name: str) -> Path:
    """Path of the ``.eam.alloy`` file ``name`` (``Zope-Ti-Al-2003``: Zope and Mishin,
    Phys. Rev. B 68, 024102 (2003), as shipped by pypolymlp)."""
    return _lookup("EAM potential", _eam_files(), name)

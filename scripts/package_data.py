"""Rebuild ``polymlp_lab/data/`` from the shippable files of ``../shared/conformance``.

Run by hand when the shared data change: ``python scripts/package_data.py [SHARED]``.
It copies the files the conformance README marks [ship] (potentials, the Ti grid, the
licences) and stores the two DFT datasets compactly: the numbers pypolymlp's parsers read
(cell, positions, energy, forces, stress) in a compressed ``.npz``,
from which ``polymlp_lab.data.dataset`` rebuilds exactly what ``read_dataset`` returns.
"""

import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "polymlp_lab" / "data"
POTENTIALS = {  # name in the package: (folder in ../shared/conformance/potentials, file)
    "Al": ("fcc-Al", "polymlp.yaml"),
    "Si": ("diamond-Si", "polymlp.yaml"),
    "Ti": ("bcc-Ti", "polymlp.yaml"),
    "MgO": ("rocksalt-MgO", "polymlp.yaml"),
    "Al-Cu": ("Al-Cu", "polymlp.lammps"),
}
DATASETS = {  # name: (folder in datasets/, files read, isolated-atom energies eV)
    "MgO": ("MgO", "dataset/vasprun-*.xml.polymlp", {"Mg": -0.0004, "O": -1.85321219}),
    "Cu-md": ("Cu-md", "vasprun.xml", {"Cu": -0.0004}),
}


def pack_dataset(folder: Path, pattern: str, atomic_energy: dict, out: Path) -> None:
    """The structures of ``folder/pattern`` as arrays (float64, bit for bit as parsed)."""
    from polymlp_lab.fitting.datasets import read_dataset

    dataset = read_dataset(str(folder / pattern))
    structures = dataset.structures
    stress = np.array([a.calc.results["stress"] for a in structures])
    np.savez_compressed(
        out,
        n_atoms=np.array([len(a) for a in structures], dtype=np.int32),
        numbers=np.concatenate([a.numbers for a in structures]).astype(np.int16),
        cell=np.array([a.cell.array for a in structures]),
        positions=np.concatenate([a.positions for a in structures]),
        energy=np.array([a.calc.results["energy"] for a in structures]),
        forces=np.concatenate([a.calc.results["forces"] for a in structures]),
        stress=stress,
        sources=np.array([str(Path(s).relative_to(folder)) if s.startswith(str(folder))
                          else s for s in dataset.sources]),
        atomic_energy_elements=np.array(list(atomic_energy)),
        atomic_energy_eV=np.array(list(atomic_energy.values())),
    )


def main(shared: Path) -> None:
    conformance = shared / "conformance"
    for name, (folder, file) in POTENTIALS.items():
        target = DATA / "potentials" / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(conformance / "potentials" / folder / file, target / file)
        poscar = conformance / "potentials" / folder / "POSCAR"
        if poscar.is_file():
            shutil.copyfile(poscar, target / "POSCAR")
    (DATA / "datasets").mkdir(parents=True, exist_ok=True)
    for name, (folder, pattern, energies) in DATASETS.items():
        pack_dataset(conformance / "datasets" / folder, pattern, energies,
                     DATA / "datasets" / f"{name}.npz")
    grid = DATA / "grids" / "Ti"
    if grid.exists():
        shutil.rmtree(grid)
    shutil.copytree(conformance / "grids" / "Ti", grid, copy_function=shutil.copyfile)
    for licence in ("LICENSE.pypolymlp", "LICENSE.rsspolymlp"):
        shutil.copyfile(conformance / licence, DATA / licence)
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    print(f"polymlp_lab/data: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared")

"""Real Repository potentials that ship inside the installed pypolymlp package.

pypolymlp's distribution carries two published potentials (legacy format) with structures:
SrTiO3 (Sr-Ti-O, cutoff 8 Å) and Ti-Al (cutoff 6 Å). They need no download, so notebooks,
quick-start and tests use them on any machine.
"""

from importlib import resources
from pathlib import Path

from .errors import PotentialFileError

_FOLDER = ("calculator", "utils", "lammps", "tests", "files")


def packaged_potentials() -> dict:
    """{name: folder} of the potentials found in the installed pypolymlp."""
    base = resources.files("pypolymlp").joinpath(*_FOLDER)
    found = {}
    if base.is_dir():
        for entry in base.iterdir():
            if entry.joinpath("polymlp.lammps").is_file():
                found[entry.name] = Path(str(entry))
    return dict(sorted(found.items()))


def packaged_potential(name: str) -> Path:
    """Path of the potential file ``name`` ('SrTiO3' or 'Ti-Al') shipped by pypolymlp."""
    available = packaged_potentials()
    if name not in available:
        raise PotentialFileError(
            f"pypolymlp as installed ships no potential '{name}' "
            f"(it has: {', '.join(available) or 'none'})"
        )
    return available[name] / "polymlp.lammps"

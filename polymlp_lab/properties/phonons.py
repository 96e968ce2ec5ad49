"""Harmonic phonons by finite displacements (phonopy) with forces from any ASE calculator.

:func:`phonon_properties` builds phonopy's supercell displacements, evaluates the forces of
each displaced supercell with the given calculator (ours, EMT, EAM ...), and returns the
density of states on a mesh, a band structure along a high-symmetry path and an
imaginary-mode flag (a :class:`PhononResult`). Units: THz, Å, states/THz.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
from ase import Atoms

from ..errors import PolymlpLabError
from ..files import AsDict
from ..structures import check_structure


@dataclass(frozen=True)
class PhononResult(AsDict):
    """Outcome of :func:`phonon_properties`: ``frequencies_THz`` (DOS grid, THz), ``dos``
    (states/THz per phonopy primitive cell; integrates to 3 × ``n_atoms_primitive``), ``band``
    (None without a path, else a dict: ``distances`` (1/Å, without 2π, ASE's convention),
    ``frequencies`` (n_q × n_branches, THz), ``labels`` ((distance, label) pairs), ``path``
    and ``qpoints`` (reduced coordinates of the primitive reciprocal cell)),
    ``gamma_frequencies_THz`` (ascending), ``min_frequency_THz`` (over the mesh, Γ and the
    path), ``imaginary`` (a mode below ``-imaginary_tolerance``), ``n_atoms_primitive``,
    ``mesh`` (mesh numbers used), ``supercell`` (3×3 int) and ``displacement`` (Å)."""

    frequencies_THz: np.ndarray
    dos: np.ndarray
    band: Optional[dict]
    gamma_frequencies_THz: np.ndarray
    min_frequency_THz: float
    imaginary: bool
    n_atoms_primitive: int
    mesh: np.ndarray
    supercell: np.ndarray
    displacement: float


def _supercell_matrix(supercell) -> np.ndarray:
    matrix = np.asarray(supercell)
    if matrix.shape == (3,):
        matrix = np.diag(matrix)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix.astype(float))):
        raise PolymlpLabError(f"supercell must be 3 integers or a 3×3 integer matrix, got {supercell!r}")
    if not np.allclose(matrix, np.rint(matrix)):
        raise PolymlpLabError(f"supercell matrix must be integer, got {matrix.tolist()}")
    matrix = np.rint(matrix).astype(int)
    if round(np.linalg.det(matrix)) <= 0:
        raise PolymlpLabError(f"supercell matrix must have a positive determinant, got {matrix.tolist()}")
    return matrix


def _to_ase(cell) -> Atoms:
    """ase.Atoms of a PhonopyAtoms (fully periodic)."""
    return Atoms(symbols=list(cell.symbols), cell=np.array(cell.cell),
                 scaled_positions=np.array(cell.scaled_positions), masses=np.array(cell.masses),
                 pbc=True)


def _forces(cell, calc) -> np.ndarray:
    atoms = _to_ase(cell)
    atoms.calc = calc
    return np.array(atoms.get_forces(), dtype=float)


def make_phonopy(
    atoms: Atoms,
    calc,
    *,
    supercell: Union[Sequence[int], Sequence[Sequence[int]]] = (3, 3, 3),
    displacement: float = 0.01,
    primitive_matrix="auto",
    symprec: float = 1e-5,
    subtract_residual_forces: bool = True,
):
    """A :class:`phonopy.Phonopy` with force constants produced from ``calc``.

    Parameters are those of :func:`phonon_properties`. Returns the Phonopy object, for what
    this module does not wrap (thermal properties, irreps, animations ...).
    """
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    check_structure(atoms, periodic=True, label="the structure of a phonon calculation")
    displacement = float(displacement)
    if not np.isfinite(displacement) or displacement <= 0:
        raise PolymlpLabError(f"displacement must be a positive distance in Å, got {displacement!r}")
    matrix = _supercell_matrix(supercell)

    unitcell = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                            scaled_positions=atoms.get_scaled_positions(),
                            masses=atoms.get_masses())
    with warnings.catch_warnings():
        # phonopy >= 4 warns whenever "auto" picks a non-identity primitive cell (its default
        # changed from v3); here "auto" is our documented default, so the warning is noise.
        warnings.filterwarnings("ignore", message="primitive_matrix defaulted to 'auto'")
        phonon = Phonopy(unitcell, supercell_matrix=matrix, primitive_matrix=primitive_matrix,
                         symprec=symprec, log_level=0)
    phonon.generate_displacements(distance=displacement)
    forces = np.array([_forces(cell, calc) for cell in phonon.supercells_with_displacements])
    if subtract_residual_forces:
        # forces of the undisplaced supercell: zero at equilibrium, else removed (phonopy's --fz)
        forces -= _forces(phonon.supercell, calc)[None]
    phonon.forces = forces
    phonon.produce_force_constants()
    return phonon


def _band_path(primitive: Atoms, band_path, npoints: int):
    """ASE BandPath in the reciprocal coordinates of ``primitive``."""
    from ase.dft.kpoints import BandPath

    if isinstance(band_path, BandPath):
        return band_path
    if band_path is None:
        return primitive.cell.bandpath(npoints=npoints)
    if isinstance(band_path, str):
        try:
            return primitive.cell.bandpath(path=band_path, npoints=npoints)
        except (KeyError, ValueError) as err:
            special = "".join(primitive.cell.bandpath(npoints=0).special_points)
            raise PolymlpLabError(
                f"band path '{band_path}' has points this lattice does not define (special points: {special})"
            ) from err
    raise PolymlpLabError(f"band_path must be None, False, a string or an ase BandPath, got {type(band_path).__name__}")


def phonon_properties(
    atoms: Atoms,
    calc,
    *,
    supercell: Union[Sequence[int], Sequence[Sequence[int]]] = (3, 3, 3),
    displacement: float = 0.01,
    mesh: Union[Sequence[int], float] = (20, 20, 20),
    band_path=None,
    band_npoints: int = 100,
    dos_sigma: Optional[float] = None,
    imaginary_tolerance: float = 0.05,
    primitive_matrix="auto",
    symprec: float = 1e-5,
    subtract_residual_forces: bool = True,
) -> PhononResult:
    """Phonon DOS, band structure and stability of ``atoms`` by finite displacements, with
    the forces from any ASE calculator ``calc``. Frequencies are in THz, imaginary ones
    negative; imaginary modes are flagged, never raised.

    ``atoms``: a fully periodic unit cell, primitive or conventional, relaxed (subtracting the
    forces of the undisplaced supercell, ``subtract_residual_forces``, removes a residual-force
    bias, not the effect of a wrong lattice; it matters for one-sided displacements only).
    ``supercell``: 3 ints or a 3×3 int matrix of multiples of the cell vectors, in which
    phonopy displaces the symmetry-distinct atoms by ``displacement`` Å; it limits the
    force-constant range, so take it larger than the potential's. ``mesh``: a Γ-centred
    q-point mesh (3 ints) or a length in Å from which phonopy picks one, for the DOS (Gaussian
    ``dos_sigma`` THz, None: tetrahedra) and the search for modes below
    ``-imaginary_tolerance`` THz (noise of the acoustic modes near Γ is ~1e-3 THz).
    ``band_path``: None for ASE's standard path of the primitive cell's Bravais lattice
    (``ase.cell.Cell.bandpath``), a string of ASE special points ("GXWKGLUWLK,UX"), an ASE
    BandPath in the reciprocal coordinates of phonopy's primitive cell, or False for none;
    ``band_npoints`` q-points along the whole path. ``primitive_matrix``: phonopy's primitive
    cell relative to ``atoms`` ("auto" by symmetry; "P" the cell itself, so that a
    conventional cell gives folded bands; a centring letter or a matrix); ``symprec``:
    phonopy's tolerance, Å.

    Returns a :class:`PhononResult`. Raises InvalidStructureError (empty, non-periodic or
    singular structure) and PolymlpLabError (bad supercell, displacement, mesh or band path).
    """
    band_npoints = int(band_npoints)
    if band_npoints < 2:
        raise PolymlpLabError(f"band_npoints must be >= 2, got {band_npoints}")
    if np.ndim(mesh) == 0:
        mesh_arg = float(mesh)
        if not np.isfinite(mesh_arg) or mesh_arg <= 0:
            raise PolymlpLabError(f"mesh length must be positive, got {mesh!r}")
    else:
        mesh_arg = np.asarray(mesh)
        if mesh_arg.shape != (3,) or not np.allclose(mesh_arg, np.rint(mesh_arg)) or np.any(mesh_arg < 1):
            raise PolymlpLabError(f"mesh must be 3 positive integers or a length in Å, got {mesh!r}")
        mesh_arg = np.rint(mesh_arg).astype(int)
    if dos_sigma is not None and not float(dos_sigma) > 0:
        raise PolymlpLabError(f"dos_sigma must be a positive width in THz or None, got {dos_sigma!r}")

    phonon = make_phonopy(atoms, calc, supercell=supercell, displacement=displacement,
                          primitive_matrix=primitive_matrix, symprec=symprec,
                          subtract_residual_forces=subtract_residual_forces)

    # phonopy 4 deprecates the get_*_dict() accessors: read the result objects instead
    phonon.run_mesh(mesh_arg, is_gamma_center=True)
    mesh_numbers = np.array(phonon.mesh.mesh_numbers, dtype=int)
    lowest = float(np.min(phonon.mesh.frequencies))
    if not np.ptp(phonon.mesh.frequencies) > 0:  # every mode at one frequency: no DOS to draw
        size = "×".join(str(int(n)) for n in np.diag(phonon.supercell_matrix))
        raise PolymlpLabError(
            f"every phonon frequency is {lowest:.3g} THz in the {size} supercell: it is too "
            "small for force constants (an atom and its own images move together); use a "
            "larger supercell, e.g. one at least twice the potential's cutoff across")
    phonon.run_total_dos(sigma=None if dos_sigma is None else float(dos_sigma))
    dos_frequencies = np.array(phonon.total_dos.frequency_points, dtype=float)
    dos = np.array(phonon.total_dos.dos, dtype=float)

    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    gamma = np.sort(np.array(phonon.qpoints.frequencies[0], dtype=float))
    lowest = min(lowest, float(gamma.min()))

    band = None
    if band_path is not False:
        primitive = _to_ase(phonon.primitive)
        path = _band_path(primitive, band_path, band_npoints)
        qpoints = np.asarray(path.kpts, dtype=float)
        phonon.run_qpoints(qpoints)
        frequencies = np.array(phonon.qpoints.frequencies, dtype=float)
        distances, label_positions, labels = path.get_linear_kpoint_axis()
        band = dict(distances=np.asarray(distances), frequencies=frequencies,
                    labels=list(zip((float(x) for x in label_positions), labels)),
                    path=path.path, qpoints=qpoints)
        lowest = min(lowest, float(frequencies.min()))

    return PhononResult(
        frequencies_THz=dos_frequencies, dos=dos, band=band, gamma_frequencies_THz=gamma,
        min_frequency_THz=lowest, imaginary=bool(lowest < -float(imaginary_tolerance)),
        n_atoms_primitive=len(phonon.primitive), mesh=mesh_numbers,
        supercell=np.asarray(phonon.supercell_matrix).astype(int), displacement=float(displacement))

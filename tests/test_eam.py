"""The Sutton–Chen .eam.alloy writer: ASE's EAM reading our file against the analytic NumPy
reference, finite differences, lattice constants, continuity at the cutoff and bad input."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.eam import EAM
from ase.neighborlist import neighbor_list
from scipy.optimize import minimize_scalar

from polymlp_lab.errors import PolymlpLabError, UnknownElementError
from polymlp_lab.properties.eam import (
    SUTTON_CHEN,
    SuttonChenParams,
    UnknownSuttonChenElementError,
    default_cutoff,
    sutton_chen_calculator,
    sutton_chen_energy,
    write_sutton_chen_eam_alloy,
)
from conftest import displaced

# Cohesive energies (eV/atom) of the infinite-range SC potentials at a = the parameter a
# (reproduce the experimental values the fit used, to 0.01 eV)
SC_COHESIVE = {"Ni": 4.44, "Cu": 3.50, "Rh": 5.75, "Pd": 3.94, "Ag": 2.96, "Ir": 6.93,
               "Pt": 5.86, "Au": 3.78, "Al": 3.34, "Pb": 2.04}


@pytest.fixture(scope="module")
def potdir(tmp_path_factory):
    return tmp_path_factory.mktemp("eam")


@pytest.fixture(scope="module")
def cuau(potdir):
    return sutton_chen_calculator(["Cu", "Au"], potdir)


def rattled_cu():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.08, seed=1)
    return atoms


def rattled_cuau():
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True).repeat(2)
    rng = np.random.default_rng(4)
    atoms.symbols[rng.choice(len(atoms), 12, replace=False)] = "Au"
    atoms.rattle(0.08, seed=2)
    return atoms


def rattled_al():
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat(2)
    atoms.rattle(0.08, seed=3)
    atoms.cell[0, 1] += 0.2  # and sheared
    return atoms


CASES = {"Cu": (["Cu"], rattled_cu), "CuAu": (["Cu", "Au"], rattled_cuau), "Al": (["Al"], rattled_al)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ase_eam_matches_numpy_reference(case, potdir):
    elements, make = CASES[case]
    atoms = make()
    atoms.calc = sutton_chen_calculator(elements, potdir)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    ref_energy, ref_forces = sutton_chen_energy(atoms, elements)
    assert abs(energy - ref_energy) / len(atoms) < 1e-4
    assert np.abs(forces - ref_forces).max() < 1e-3
    assert np.abs(ref_forces).max() > 0.1  # the rattle gives real forces
    assert abs(ref_forces.sum(axis=0)).max() < 1e-9  # Newton's third law


def test_forces_are_energy_derivatives(cuau):
    atoms = rattled_cuau()
    atoms.calc = cuau
    forces = atoms.get_forces()
    ref_forces = sutton_chen_energy(atoms, ["Cu", "Au"])[1]
    h = 1e-4
    au = [k for k, s in enumerate(atoms.get_chemical_symbols()) if s == "Au"][0]
    for k in (0, au):
        for c in range(3):
            (ep, rp), (em, rm) = [(moved.get_potential_energy(),
                                   sutton_chen_energy(moved, ["Cu", "Au"])[0])
                                  for moved in displaced(atoms, k, c, h, cuau)]
            assert forces[k, c] == pytest.approx(-(ep - em) / (2 * h), abs=1e-4)
            assert ref_forces[k, c] == pytest.approx(-(rp - rm) / (2 * h), abs=1e-4)


def test_stress_is_strain_derivative(cuau):
    """ASE's EAM stress from our file is (1/V) ∂E/∂ε (what the elastic constants use)."""
    atoms = rattled_cuau()
    atoms.calc = cuau
    stress = atoms.get_stress(voigt=False)
    h = 1e-5
    for a, b in ((0, 0), (1, 2)):
        e = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[a, b] += sign * h / (1 if a == b else 2)
            strain[b, a] = strain[a, b]
            moved = atoms.copy()
            moved.set_cell(atoms.cell @ strain, scale_atoms=True)
            moved.calc = cuau
            e.append(moved.get_potential_energy())
        fd = (e[0] - e[1]) / (2 * h) / atoms.get_volume()  # ε_ab + ε_ba = h
        assert stress[a, b] == pytest.approx(fd, abs=1e-5)


@pytest.mark.parametrize("element", sorted(SUTTON_CHEN))
def test_fcc_lattice_constant_and_cohesive_energy(element, potdir):
    calc = sutton_chen_calculator([element], potdir)
    a0 = SUTTON_CHEN[element].a

    def energy(a):
        atoms = bulk(element, "fcc", a=a)
        atoms.calc = calc
        return atoms.get_potential_energy()

    res = minimize_scalar(energy, bounds=(0.95 * a0, 1.05 * a0), method="bounded",
                          options={"xatol": 1e-4})
    assert abs(res.x / a0 - 1) < 0.02
    # truncation at 2a costs 1-3 % of the cohesive energy of the long-range SC potential
    assert -res.fun == pytest.approx(SC_COHESIVE[element], rel=0.03)
    assert -res.fun < SC_COHESIVE[element]


def test_energy_continuous_across_cutoff(cuau):
    rc = cuau.cutoff
    assert rc == pytest.approx(2 * SUTTON_CHEN["Au"].a)
    delta = 1e-5
    # a Cu-Au dimer pulled across the cutoff
    for d in (rc - delta, rc + delta):
        dimer = Atoms("CuAu", positions=[[0, 0, 0], [d, 0, 0]])
        dimer.calc = cuau
        assert abs(dimer.get_potential_energy()) < 1e-6
        assert abs(sutton_chen_energy(dimer, ["Cu", "Au"])[0]) < 1e-6

    # in the bulk: move an atom so that one pair crosses the cutoff; remove the first-order
    # change of the other pairs with the force
    atoms = rattled_cuau()
    i, j, dist, vec = neighbor_list("ijdD", atoms, rc + 0.3)
    k = np.argmin(abs(dist - rc))
    unit = vec[k] / dist[k]
    atoms.positions[i[k]] += (dist[k] - (rc - delta)) * unit  # the pair is now at rc - delta
    step = -2 * delta * unit  # to rc + delta
    for evaluate in ("ase", "reference"):
        results = []
        for shift in (0.0, 1.0):
            moved = atoms.copy()
            moved.positions[i[k]] += shift * step
            if evaluate == "ase":
                moved.calc = cuau
                results.append((moved.get_potential_energy(), moved.get_forces()))
            else:
                results.append(sutton_chen_energy(moved, ["Cu", "Au"]))
        (e0, f0), (e1, f1) = results
        predicted = -0.5 * (f0[i[k]] + f1[i[k]]) @ step
        assert abs(e1 - e0 - predicted) < 1e-6, evaluate


def test_file_is_setfl(potdir):
    path = write_sutton_chen_eam_alloy(["Cu", "Au"], potdir / "CuAu.eam.alloy", nr=1000, nrho=2000)
    lines = path.read_text().splitlines()
    assert "Sutton" in lines[0]
    assert lines[3].split() == ["2", "Cu", "Au"]
    nrho, drho, nr, dr, cutoff = lines[4].split()
    nrho, nr, drho, dr, cutoff = int(nrho), int(nr), float(drho), float(dr), float(cutoff)
    assert (nrho, nr) == (2000, 1000)
    assert cutoff == pytest.approx(default_cutoff(["Cu", "Au"])) == pytest.approx(8.16)
    assert (nr - 1) * dr >= cutoff * (1 - 1e-12)
    data = " ".join(lines[5:]).split()
    body = 4 + nrho + nr
    for start, (z, mass, a) in ((0, (29, 63.546, 3.61)), (body, (79, 196.9666, 4.08))):
        assert int(data[start]) == z and data[start + 3] == "fcc"
        assert float(data[start + 1]) == pytest.approx(mass, abs=1e-3)
        assert float(data[start + 2]) == a
    assert len(data) == 2 * (4 + nrho + nr) + 3 * nr
    values = np.array(data[4:4 + nrho], dtype=float)
    assert values[0] == 0 and np.all(np.diff(values) < 0)  # F(ρ) = −cε√ρ
    cu = SUTTON_CHEN["Cu"]
    assert values[100] == pytest.approx(-cu.c * cu.epsilon * np.sqrt(100 * drho), rel=1e-12)
    density = np.array(data[4 + nrho:4 + nrho + nr], dtype=float)
    assert density[-1] == 0 and np.all(np.isfinite(density))
    rphi = np.array(data[2 * body:], dtype=float).reshape(3, nr)
    assert np.all(rphi[:, 0] == 0) and np.all(rphi[:, -1] == 0)
    # the Cu-Au pair (second table) follows the mixing rule
    r = 2.8
    k = int(round(r / dr))
    au = SUTTON_CHEN["Au"]
    expected = np.sqrt(cu.epsilon * au.epsilon) * ((cu.a + au.a) / 2 / (k * dr)) ** ((cu.n + au.n) / 2)
    assert rphi[1, k] / (k * dr) == pytest.approx(expected, rel=1e-12)
    calc = EAM(potential=str(path))  # readable by ASE
    assert calc.elements == ["Cu", "Au"]


def test_custom_cutoff_and_params(potdir):
    params = dict(SUTTON_CHEN, X=SuttonChenParams(9, 6, 1.2382e-2, 39.432, 3.61))
    with pytest.raises(PolymlpLabError, match="chemical symbol"):
        write_sutton_chen_eam_alloy(["X"], potdir / "x.eam.alloy", params=params)
    params = {"Cu": SUTTON_CHEN["Cu"]}
    calc = sutton_chen_calculator(["Cu"], potdir, cutoff=9.0, params=params, nr=2000, nrho=4000)
    assert calc.cutoff == 9.0
    atoms = rattled_cu()
    atoms.calc = calc
    ref_energy, ref_forces = sutton_chen_energy(atoms, cutoff=9.0, params=params)
    assert atoms.get_potential_energy() == pytest.approx(ref_energy, abs=1e-4)
    assert np.abs(atoms.get_forces() - ref_forces).max() < 1e-3


def test_unknown_element_is_named(potdir):
    with pytest.raises(UnknownSuttonChenElementError) as info:
        write_sutton_chen_eam_alloy(["Cu", "Fe"], potdir / "CuFe.eam.alloy")
    err = info.value
    assert isinstance(err, UnknownElementError) and isinstance(err, PolymlpLabError)
    assert err.element == "Fe" and "'Fe'" in str(err)
    assert set(err.known) == set(SUTTON_CHEN)
    for element in SUTTON_CHEN:
        assert element in str(err)
    assert not (potdir / "CuFe.eam.alloy").exists()
    with pytest.raises(UnknownSuttonChenElementError, match="Fe"):
        sutton_chen_calculator("Fe", potdir)
    with pytest.raises(UnknownSuttonChenElementError, match="Fe"):
        sutton_chen_energy(bulk("Fe"))
    with pytest.raises(UnknownElementError, match="Au"):  # atoms beyond the given elements
        sutton_chen_energy(rattled_cuau(), ["Cu"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(elements=["Cu", "Cu"]), "repeated"),
        (dict(elements=[]), "no elements"),
        (dict(cutoff=2.5), "cutoff"),
        (dict(taper_width=0.0), "taper_width"),
        (dict(nr=10), "at least 100"),
        (dict(nr=1000, dr=0.001), "reach the cutoff"),
        (dict(name="Cu.eam"), "must end in '.alloy'"),
    ],
)
def test_bad_arguments(kwargs, message, potdir):
    elements = kwargs.pop("elements", ["Cu"])
    name = kwargs.pop("name", "bad.eam.alloy")
    with pytest.raises(PolymlpLabError, match=message):
        write_sutton_chen_eam_alloy(elements, potdir / name, **kwargs)

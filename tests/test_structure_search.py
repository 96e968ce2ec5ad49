"""Random structure search: random cells, compositions, duplicates, the hull, the Dask search
(resume, failing trials) and one active-learning step, with ASE's EMT as the calculator."""

import json
import shutil
from itertools import combinations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read
from ase.neighborlist import neighbor_list

from polymlp_lab import PolymlpLabError
from polymlp_lab.extrapolation import GRADE_FILE
from polymlp_lab.fitting import Dataset
from polymlp_lab.properties.mechanics import relax
from polymlp_lab.properties.prototypes import atomic_radius, estimate_volume_per_atom
from polymlp_lab.runs import file_digest
from polymlp_lab.simulations.structure_search import (
    active_learning_step, enumerate_compositions, hull_from_structures, plot_hull,
    random_structure, run_search, select_near_hull, unique_structures,
)

CUAU = ("Cu", "Au")
ENTRY_FIELDS = {"name", "formula", "x_B", "energy_per_atom", "formation_energy", "e_above_hull",
                "spacegroup", "spacegroup_number", "volume_per_atom", "n_found", "file"}
TINY_MODEL = dict(elements=CUAU, cutoff=5.0, model_type=2, max_p=2, gtinv_order=2,
                  gtinv_maxl=(4,), gaussian_params2=(0.0, 4.0, 4), alphas=(1e-3, 1e-2, 1e-1),
                  n_workers=1, progress=False)


def _cluster():
    from distributed import LocalCluster

    return LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                        dashboard_address=":0")


def _with_emt(atoms, calc=None):
    """A copy with EMT's energy, forces and stress in a SinglePointCalculator."""
    atoms = atoms.copy()
    atoms.calc = calc or EMT()
    results = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                   stress=atoms.get_stress())
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


# ---------------------------------------------------------------------------------------
# random structures and compositions


@pytest.mark.parametrize("counts", [(1, 0), (0, 2), (3, 1), (2, 3), (4, 4)])
def test_random_structure_counts_distances_and_volume(counts):
    for seed in range(5):
        atoms = random_structure(CUAU, counts, rng=seed)
        symbols = atoms.get_chemical_symbols()
        assert [symbols.count(e) for e in CUAU] == list(counts)
        assert all(atoms.pbc) and atoms.cell.handedness == 1
        # default minimum distance 0.75 (r_i + r_j), every pair and periodic image (self too)
        radius = {e: atomic_radius(e) for e in CUAU}
        i, j, d = neighbor_list("ijd", atoms, 0.75 * 2 * max(radius.values()) + 0.1)
        allowed = np.array([0.75 * (radius[symbols[a]] + radius[symbols[b]]) for a, b in zip(i, j)])
        assert np.all(d >= allowed - 1e-9)
        # default volume range 1.0-1.5 x the estimated volume per atom
        estimate = estimate_volume_per_atom(symbols)
        assert estimate - 1e-9 <= atoms.get_volume() / len(atoms) <= 1.5 * estimate + 1e-9


def test_random_structure_options_and_reproducibility():
    a = random_structure(CUAU, (2, 2), rng=np.random.default_rng(7))
    b = random_structure(CUAU, (2, 2), rng=7)
    c = random_structure(CUAU, (2, 2), rng=8)
    assert np.array_equal(a.cell[:], b.cell[:]) and np.array_equal(a.positions, b.positions)
    assert not np.allclose(a.cell[:], c.cell[:])

    atoms = random_structure(CUAU, (3, 1), rng=1, volume_per_atom=20.0, min_distance=2.4)
    assert atoms.get_volume() / 4 == pytest.approx(20.0)
    assert neighbor_list("d", atoms, 2.4).size == 0
    atoms = random_structure(CUAU, (3, 1), rng=1, volume_per_atom=(12.0, 13.0))
    assert 12.0 <= atoms.get_volume() / 4 <= 13.0

    with pytest.raises(PolymlpLabError, match="could not place Cu3Au"):
        random_structure(CUAU, (3, 1), rng=0, volume_per_atom=10.0, min_distance=4.0, max_tries=20)
    with pytest.raises(PolymlpLabError, match="volume_per_atom"):
        random_structure(CUAU, (1, 1), rng=0, volume_per_atom=(5.0, 2.0))
    with pytest.raises(PolymlpLabError, match="counts"):
        random_structure(CUAU, (0, 0), rng=0)
    with pytest.raises(PolymlpLabError, match="unknown element 'Xx'"):
        random_structure(("Cu", "Xx"), (1, 1), rng=0)


def test_enumerate_compositions():
    found = enumerate_compositions(CUAU, 4)
    expected = {(n - k, k) for n in range(1, 5) for k in range(n + 1)}
    assert len(found) == len(set(found)) == len(expected) == 14 and set(found) == expected
    assert [sum(c) for c in found] == sorted(sum(c) for c in found)

    found = enumerate_compositions(CUAU, 6, (0.2, 0.5))
    assert found and all(0.2 <= b / (a + b) <= 0.5 for a, b in found)
    assert set(found) == {(n - k, k) for n in range(1, 7) for k in range(n + 1) if 0.2 <= k / n <= 0.5}
    assert (1, 1) in found and (4, 1) in found and (1, 0) not in found

    assert enumerate_compositions(("Al",), 3) == [(1,), (2,), (3,)]

    with pytest.raises(PolymlpLabError, match=r"1 to 2 atoms.*\[0\.4, 0\.45\].*5 atoms"):
        enumerate_compositions(CUAU, 2, (0.4, 0.45))
    with pytest.raises(PolymlpLabError, match="unknown element 'Qq'"):
        enumerate_compositions(("Cu", "Qq"), 3)
    with pytest.raises(PolymlpLabError, match="one or two distinct"):
        enumerate_compositions(("Cu", "Au", "Ag"), 3)
    with pytest.raises(PolymlpLabError, match="max_atoms"):
        enumerate_compositions(CUAU, 0)
    with pytest.raises(PolymlpLabError, match="composition_range"):
        enumerate_compositions(CUAU, 4, (0.6, 0.2))


# ---------------------------------------------------------------------------------------
# duplicates and the hull of a known binary


def _l12(a, b, lattice):
    return Atoms([a, a, a, b], cell=[lattice] * 3, pbc=True,
                 scaled_positions=[(0, .5, .5), (.5, 0, .5), (.5, .5, 0), (0, 0, 0)])


def _l10(lattice=3.8):
    return Atoms(["Cu", "Cu", "Au", "Au"], cell=[lattice] * 3, pbc=True,
                 scaled_positions=[(0, 0, 0), (.5, .5, 0), (0, .5, .5), (.5, 0, .5)])


@pytest.fixture(scope="module")
def known_cuau():
    """EMT-relaxed Cu–Au structures, each with info["name"]."""
    made = {
        "fcc-Cu": bulk("Cu", "fcc", a=3.6), "hcp-Cu": bulk("Cu", "hcp", a=2.55),
        "fcc-Au": bulk("Au", "fcc", a=4.08), "L12-Cu3Au": _l12("Cu", "Au", 3.75),
        "L10-CuAu": _l10(), "L12-CuAu3": _l12("Au", "Cu", 3.95),
        "B2-CuAu": Atoms(["Cu", "Au"], cell=[3.0] * 3, pbc=True,
                         scaled_positions=[(0, 0, 0), (.5, .5, .5)]),
    }
    relaxed = {}
    for name, atoms in made.items():
        result = relax(atoms, EMT(), fmax=1e-3, steps=200)
        assert result.converged
        result.atoms.info["name"] = name
        relaxed[name] = result.atoms
    return relaxed


def test_duplicates_rotated_translated_permuted(known_cuau):
    base = known_cuau["L10-CuAu"].copy()
    base.set_cell(base.cell[:] * [1.0, 1.02, 0.97], scale_atoms=True)  # lower symmetry
    rotated = base.copy()
    rotated.rotate(37.0, (1, 2, 3), rotate_cell=True)
    translated = base.copy()
    translated.positions += [0.3, -1.1, 0.7]
    translated.wrap()
    permuted = base[[2, 0, 3, 1]]
    all_three = rotated[[3, 1, 0, 2]]
    all_three.positions += [1.0, 0.2, -0.4]
    different = known_cuau["B2-CuAu"]
    structures = [_with_emt(a) for a in (base, rotated, translated, permuted, all_three)]
    structures.append(_with_emt(different))
    energies = [s.get_potential_energy() / len(s) for s in structures]
    assert np.ptp(energies[:5]) < 1e-9

    groups = unique_structures(structures)
    assert sorted(sorted(g) for g in groups) == [[0, 1, 2, 3, 4], [5]]
    # the same structure in a supercell is the same structure
    assert len(unique_structures([structures[0], _with_emt(base.repeat((2, 1, 1)))])) == 1
    # same space group and composition, but another volume: not a duplicate
    squeezed = base.copy()
    squeezed.set_cell(base.cell[:] * 0.97, scale_atoms=True)
    assert len(unique_structures([structures[0], _with_emt(squeezed)], energy_tol=1.0)) == 2


def _lower_envelope(x, e, at):
    """Brute force: the lowest point at ``at`` of every segment between two given points."""
    points = list(zip(x, e)) + [(0.0, 0.0), (1.0, 0.0)]
    best = min(pe for px, pe in points if px == at) if any(px == at for px, _ in points) else np.inf
    for (x1, e1), (x2, e2) in combinations(points, 2):
        if min(x1, x2) < at < max(x1, x2):
            best = min(best, e1 + (e2 - e1) * (at - x1) / (x2 - x1))
    return best


def test_hull_of_known_cuau(known_cuau):
    structures = list(known_cuau.values())
    supercell = _with_emt(known_cuau["L12-Cu3Au"].repeat((1, 1, 2)))
    supercell.info["name"] = "L12-Cu3Au-supercell"
    result = hull_from_structures(structures + [supercell], CUAU, window_meV=3.0)

    by_name = {e.name: e for e in result.entries}
    assert len(result.entries) == len(structures)  # the supercell is a duplicate
    assert by_name["L12-Cu3Au"].n_found == 2
    # EMT puts hcp below fcc for Cu: the references are the lowest pure structures found
    energy = {name: a.get_potential_energy() / len(a) for name, a in known_cuau.items()}
    assert result.references == {"Cu": energy["hcp-Cu"], "Au": energy["fcc-Au"]}
    assert by_name["hcp-Cu"].formation_energy == 0.0 and by_name["fcc-Au"].formation_energy == 0.0
    assert {e.name for e in result.stable} == {"hcp-Cu", "fcc-Au", "L12-Cu3Au", "L10-CuAu"}
    assert {e.name for e in result.metastable} == {"fcc-Cu"}  # 0.9 meV/atom above hcp
    for e in result.entries:
        assert e.e_above_hull >= 0.0
        others = [o for o in result.entries if o is not e]
        envelope = _lower_envelope([o.x_B for o in others], [o.formation_energy for o in others], e.x_B)
        assert e.e_above_hull == pytest.approx(max(0.0, e.formation_energy - envelope), abs=1e-10)
    assert (by_name["L12-Cu3Au"].spacegroup, by_name["L12-Cu3Au"].spacegroup_number) == ("Pm-3m", 221)
    assert by_name["L10-CuAu"].spacegroup_number == 123 and by_name["fcc-Au"].spacegroup_number == 225
    assert [e.x_B for e in result.entries] == sorted(e.x_B for e in result.entries)
    assert select_near_hull(result)[:4] == sorted(result.stable, key=lambda e: e.x_B)

    # given references replace the found ones
    given = hull_from_structures(structures, CUAU, references={"Cu": energy["fcc-Cu"]})
    fcc = next(e for e in given.entries if e.name == "fcc-Cu")
    hcp = next(e for e in given.entries if e.name == "hcp-Cu")
    assert fcc.formation_energy == 0.0 and hcp.formation_energy < 0.0
    assert hcp in given.stable and fcc not in given.stable

    with pytest.raises(PolymlpLabError, match="no pure Au structure"):
        hull_from_structures([known_cuau["fcc-Cu"], known_cuau["L10-CuAu"]], CUAU)
    with pytest.raises(PolymlpLabError, match="not in the system"):
        hull_from_structures(structures, ("Cu", "Ag"))
    with pytest.raises(PolymlpLabError, match="no energy"):
        hull_from_structures([bulk("Cu")], ("Cu",))


# ---------------------------------------------------------------------------------------
# the search on Dask


@pytest.fixture(scope="module")
def cuau_search(tmp_path_factory):
    """Cu–Au, cells of up to 4 atoms, 12 trials, on a LocalCluster of 2 processes."""
    out = tmp_path_factory.mktemp("search") / "cuau"
    kwargs = dict(max_atoms=4, trials=12, out=out, seed=3, fmax=0.03, steps=150, window_meV=20.0,
                  progress=False)
    result = run_search(EMT(), CUAU, n_workers=2, **kwargs)
    return dict(result=result, out=out, kwargs=kwargs)


def test_search_writes_the_hull(cuau_search):
    result, out = cuau_search["result"], cuau_search["out"]
    records = [json.loads(p.read_text()) for p in sorted((out / "records").glob("trial-*.json"))]
    assert [r["trial"] for r in records] == list(range(12))
    assert all(r["status"] == "ok" for r in records), [r["status"] for r in records]
    compositions = enumerate_compositions(CUAU, 4)
    for r in records:
        assert tuple(r["counts"].values()) == compositions[r["trial"] % 14]
        relaxed = read(out / r["file"])
        assert relaxed.get_potential_energy() / len(relaxed) == pytest.approx(r["energy_per_atom"])
        assert sum(r["counts"].values()) == len(relaxed) and r["max_force"] >= 0

    hull = json.loads((out / "hull.json").read_text())
    assert hull == json.loads(json.dumps(result.as_dict()))
    assert hull["units"]["energy_per_atom"] == "eV/atom" and hull["units"]["e_above_hull"] == "eV/atom"
    assert hull["units"]["volume_per_atom"] == "Å^3/atom"
    assert hull["n_trials"] == 12 and hull["n_failed"] == 0
    assert hull["n_unique"] == len(hull["structures"]) <= 12
    assert sum(s["n_found"] for s in hull["structures"]) == 12
    for s in hull["structures"]:
        assert set(s) == ENTRY_FIELDS
        assert 0.0 <= s["x_B"] <= 1.0 and s["e_above_hull"] >= 0.0 and 1 <= s["spacegroup_number"] <= 230
        record = next(r for r in records if r["name"] == s["name"])
        assert s["energy_per_atom"] == pytest.approx(record["energy_per_atom"])
        assert s["volume_per_atom"] == pytest.approx(record["volume_per_atom"])
        assert s["file"] == record["file"] and (out / s["file"]).is_file()
    # references: the lowest pure structures, at formation energy 0, on the hull
    for element, x in (("Cu", 0.0), ("Au", 1.0)):
        pure = [s for s in hull["structures"] if s["x_B"] == x]
        lowest = min(pure, key=lambda s: s["energy_per_atom"])
        assert hull["references"][element] == lowest["energy_per_atom"]
        assert lowest["formation_energy"] == 0.0 and lowest["name"] in hull["stable"]
    stable = [s for s in hull["structures"] if s["name"] in hull["stable"]]
    assert all(s["e_above_hull"] == 0.0 for s in stable)
    assert all(0.0 < s["e_above_hull"] <= 0.020 for s in hull["structures"] if s["name"] in hull["metastable"])
    assert hull["hull"]["x_B"][0] == 0.0 and hull["hull"]["x_B"][-1] == 1.0
    print(f"\n{hull['n_unique']} unique of 12, stable: "
          + ", ".join(f"{s['formula']} {s['spacegroup']}" for s in stable)
          + f"; metastable {len(hull['metastable'])}")

    ax = plot_hull(result)
    assert ax.get_ylabel() == "formation energy (meV/atom)"
    assert len(ax.lines) == 1 and len(ax.collections) == 3
    assert np.allclose(ax.lines[0].get_xdata(), result.hull_x)


def test_rerun_of_a_finished_search_recomputes_nothing(cuau_search, monkeypatch):
    import distributed

    def no_cluster(*args, **kwargs):
        raise AssertionError("a finished search started Dask again")

    out = cuau_search["out"]
    before = _mtimes(out)
    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    monkeypatch.setattr(distributed, "Client", no_cluster)
    again = run_search(EMT(), CUAU, **cuau_search["kwargs"])
    assert again.as_dict() == cuau_search["result"].as_dict()
    assert _mtimes(out) == before

    with pytest.raises(PolymlpLabError, match="other settings.*seed"):
        run_search(EMT(), CUAU, **{**cuau_search["kwargs"], "seed": 4})


def _mtimes(out):
    """{path: mtime} of the trial records and structures of a search."""
    return {f"{p.parent.name}/{p.name}": p.stat().st_mtime_ns
            for folder in ("records", "trials") for p in (out / folder).iterdir()}


def test_interrupted_search_runs_only_the_missing_trials(cuau_search, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(cuau_search["out"], out)
    (out / "hull.json").unlink()
    for name in ("trial-00003", "trial-00010"):
        (out / "records" / f"{name}.json").unlink()
        (out / "trials" / f"{name}.extxyz").unlink()
    before = _mtimes(out)
    with _cluster() as cluster:
        result = run_search(EMT(), CUAU, scheduler=cluster.scheduler_address,
                            **{**cuau_search["kwargs"], "out": out})
    after = _mtimes(out)
    assert set(after) - set(before) == {"records/trial-00003.json", "trials/trial-00003.extxyz",
                                        "records/trial-00010.json", "trials/trial-00010.extxyz"}
    assert all(after[name] == mtime for name, mtime in before.items())
    # the same seed gives the same trials again
    for name in ("trial-00003", "trial-00010"):
        old = json.loads((cuau_search["out"] / "records" / f"{name}.json").read_text())
        new = json.loads((out / "records" / f"{name}.json").read_text())
        assert {k: v for k, v in old.items() if k != "seconds"} == {k: v for k, v in new.items() if k != "seconds"}
    assert result.as_dict() == cuau_search["result"].as_dict()


class FlakyEMT(EMT):
    """EMT that raises for 3-atom cells and gives a NaN energy for Au2."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if len(atoms) == 3:
            raise RuntimeError("injected failure for 3-atom cells")
        super().calculate(atoms, properties, system_changes)
        if atoms.get_chemical_formula() == "Au2":
            self.results["energy"] = float("nan")


def test_failing_trials_are_recorded_and_skipped(tmp_path):
    out = tmp_path / "flaky"
    with _cluster() as cluster:
        result = run_search(FlakyEMT(), CUAU, max_atoms=3, trials=9, out=out, fmax=0.05,
                            steps=60, scheduler=cluster.scheduler_address, progress=False)
    statuses = {r["formula"]: r["status"] for r in result.trials}
    assert len(statuses) == 9
    for formula in ("Cu3", "Cu2Au", "CuAu2", "Au3"):
        assert statuses[formula] == "failed: RuntimeError: injected failure for 3-atom cells"
    assert statuses["Au2"].startswith("failed: PolymlpLabError: non-finite energy nan eV")
    assert all(statuses[f] == "ok" for f in ("Cu", "Au", "Cu2", "CuAu"))

    hull = json.loads((out / "hull.json").read_text())
    assert hull["n_trials"] == 9 and hull["n_failed"] == 5
    assert {f["formula"] for f in hull["failed"]} == {"Cu3", "Cu2Au", "CuAu2", "Au3", "Au2"}
    assert {s["formula"] for s in hull["structures"]} <= {"Cu", "Au", "Cu2", "CuAu"}
    assert not any(p.name.startswith("trial-00005") and p.suffix == ".extxyz"
                   for p in (out / "trials").iterdir())  # trial 5 (Cu3) failed: no structure


# ---------------------------------------------------------------------------------------
# active learning


def _training_set(n=6, seed=0):
    rng = np.random.default_rng(seed)
    structures = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.75, cubic=True)
        atoms.symbols[rng.random(4) < 0.5] = "Au"
        atoms.set_cell(atoms.cell[:] * (1 + rng.uniform(-0.03, 0.03)), scale_atoms=True)
        atoms.rattle(0.05, seed=int(rng.integers(1 << 30)))
        structures.append(_with_emt(atoms))
    return Dataset(name="rattled", structures=structures)


def test_active_learning_step_adds_the_near_hull_structures(cuau_search, tmp_path):
    result = cuau_search["result"]
    training = _training_set()
    near = select_near_hull(result, 20.0)
    assert near and all(e.e_above_hull <= 0.020 for e in near)
    assert [e.e_above_hull for e in near] == sorted(e.e_above_hull for e in near)

    step = active_learning_step(result, EMT(), training, fit_kwargs=TINY_MODEL, window_meV=20.0,
                                max_new=4)
    chosen = near[:4]
    assert len(training) == 6  # the given dataset is not modified
    assert len(step.new) == len(chosen) and len(step.dataset) == 6 + len(chosen)
    assert step.dataset.structures[:6] == training.structures
    for entry, labelled in zip(chosen, step.new.structures):
        expected = _with_emt(entry.atoms)
        assert labelled.get_potential_energy() == pytest.approx(expected.get_potential_energy(), abs=1e-12)
        assert np.allclose(labelled.get_forces(), expected.get_forces())
        assert np.allclose(labelled.get_stress(), expected.get_stress())
        assert labelled.info["source"] == f"near_hull:{entry.name}"
    assert step.dataset.sources[6:] == step.new.sources

    errors = step.errors
    assert errors.n_structures == len(chosen) and errors.kind == "near_hull"
    assert np.isfinite(errors.rmse_energy) and errors.rmse_energy >= 0
    assert np.isfinite(errors.rmse_force)
    evaluation = step.fit.potential_.evaluate(step.new.structures[0])
    assert np.isfinite(evaluation.energy)
    print(f"\nactive learning: {len(chosen)} new structures, RMSE on them "
          f"{errors.rmse_energy:.3g} meV/atom, {errors.rmse_force:.3g} eV/Å, "
          f"{step.fit.n_features_} features, {len(step.dataset)} structures")

    with pytest.raises(PolymlpLabError, match="no structure within"):
        active_learning_step(result, EMT(), training, fit_kwargs=TINY_MODEL, window_meV=-1.0)

    # the new potential drives a search, loaded by the workers from its file with its grade
    # (a few relaxation steps only: this tiny model, fitted to six 4-atom cells, can collapse
    # a one-atom cell when relaxed to the end, depending on the last bits of its fit)
    path = tmp_path / "polymlp.yaml"
    step.fit.save(path)
    with _cluster() as cluster:
        search = run_search(str(path), CUAU, max_atoms=1, trials=2, out=tmp_path / "mlp",
                            fmax=0.05, steps=3, scheduler=cluster.scheduler_address,
                            progress=False)
    run = json.loads((tmp_path / "mlp" / "run.json").read_text())
    assert run["inputs"] == {"potential": file_digest(path),  # its content, not its path
                             "extrapolation": file_digest(tmp_path / GRADE_FILE)}
    assert [r["status"] for r in search.trials] == ["ok", "ok"], search.trials
    assert all(r["extrapolation_grade"] > 1 for r in search.trials)  # one atom: never trained

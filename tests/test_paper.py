"""The paper's figures (polymlp_lab.paper): their bookkeeping, the pieces of figures 1, 2 and 5,
and the `polymlp-lab figures` command. The figures themselves run in notebooks 10 and 11."""

import json
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

from polymlp_lab import PolymlpCalculator, PolymlpLabError, data, load_potential  # noqa: E402
from polymlp_lab.paper import FIGURES, Comparison, FigureResult, reproduce  # noqa: E402
from polymlp_lab.paper import aluminium_copper, titanium_aluminium  # noqa: E402
from polymlp_lab.paper.accuracy_cost import titanium_front  # noqa: E402
from polymlp_lab.properties.mechanics import relax  # noqa: E402
from polymlp_lab.properties.prototypes import build  # noqa: E402
from polymlp_lab.runs import RunMismatchError  # noqa: E402
from polymlp_lab.simulations.search_hull import hull_from_structures  # noqa: E402
from polymlp_lab.simulations.structure_search import run_search  # noqa: E402


def figure_result(comparisons=(), checks=None):
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    return FigureResult(number=9, title="test", figure=figure, comparisons=tuple(comparisons),
                        checks=checks or {}, gaps=("a gap",), data={"x": np.array([1.0, np.nan])})


def test_comparison_agreement_and_asserted_rows():
    inside = Comparison("q", 1.02, 1.0, 0.05, "Å", "a source")
    outside = Comparison("q", 1.2, 1.0, 0.05, "Å", "a source")
    contrast = Comparison("q, peer", 1.2, 1.0, 0.05, "Å", "a source", asserted=False)
    not_finite = Comparison("q", float("nan"), 1.0, 0.05, "Å", "a source")
    assert inside.agrees and not outside.agrees and not not_finite.agrees
    assert outside.difference == pytest.approx(0.2)
    assert figure_result([inside, contrast]).holds
    assert not figure_result([inside, outside]).holds
    assert not figure_result([inside], {"a claim": False}).holds
    table = figure_result([inside, outside, contrast], {"a claim": True}).table()
    assert " ok  q:" in table and " OFF q:" in table and " off q, peer:" in table
    assert "gap: a gap" in table


def test_known_misses_are_shown_not_hidden():
    miss = Comparison("cn", 7.6, 6.3, 0.6, "", "a source")
    other = Comparison("peak", 2.6, 2.45, 0.05, "Å", "a source")
    result = figure_result([miss])
    result.expected_misses = ("cn",)
    assert result.holds and result.disagreements == [miss] and " GAP cn:" in result.table()
    result.comparisons = (miss, other)  # a miss that is not declared still fails
    assert not result.holds and " OFF peak:" in result.table()
    result.comparisons = (Comparison("cn", 6.4, 6.3, 0.6, "", "a source"),)
    assert result.holds and [c.quantity for c in result.closed_gaps] == ["cn"]


def test_figure_result_saves_png_and_strict_json(tmp_path):
    result = figure_result([Comparison("q", float("nan"), 1.0, 0.1, "eV", "src")])
    png, record = result.save(tmp_path / "out")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(record.read_text())
    assert saved == json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert saved["comparisons"][0]["value"] is None and saved["data"]["x"] == [1.0, None]
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_reproduce_refuses_a_figure_the_paper_does_not_have():
    assert sorted(FIGURES) == [1, 2, 3, 4, 5]
    with pytest.raises(PolymlpLabError, match="figures 1 to 5, not 6"):
        reproduce(6)


def test_titanium_selection_is_pypolymlps():
    ti = titanium_front()
    assert len(ti["rows"]) == 286 and len(ti["front"]) == 34
    assert all(ti["checks"].values()), ti["checks"]
    # pypolymlp drops hull models at 30 meV/atom and above: the two cheapest here
    assert ti["selected"] == ti["hull"] - {"polymlp-00001", "polymlp-00002"}


def test_titanium_aluminium_lattice_is_the_two_atom_cell():
    calc = PolymlpCalculator(load_potential(data.potential("Ti-Al")))
    relaxed = relax(build("L1_0", ["Ti", "Al"]), calc, fmax=1e-3).atoms
    lattice = titanium_aluminium._lattice_of_l10(relaxed)
    # spglib's standard cell of L1_0 has a = a_fcc / √2, as MP's mp-1953 cell
    assert lattice["a"] == pytest.approx(titanium_aluminium.DFT_LATTICE["a"], abs=0.05)
    assert lattice["c"] == pytest.approx(titanium_aluminium.DFT_LATTICE["c"], abs=0.05)


def test_unit_and_frechet_cell_filters_reach_the_same_minimum():
    strained = bulk("Cu", "fcc", a=3.7) * (2, 1, 1)
    strained.set_cell(strained.cell.array @ np.array([[1.03, 0.02, 0], [0, 0.98, 0], [0, 0, 1.01]]),
                      scale_atoms=True)
    strained.rattle(0.05, seed=3)
    results = {f: relax(strained, EMT(), fmax=1e-4, keep_symmetry=False, cell_filter=f)
               for f in ("frechet", "unit")}
    assert all(r.converged for r in results.values())
    assert results["unit"].energy_per_atom == pytest.approx(results["frechet"].energy_per_atom,
                                                            abs=1e-6)
    with pytest.raises(PolymlpLabError, match="unknown cell_filter 'log'"):
        relax(strained, EMT(), cell_filter="log")


def test_search_records_its_cell_filter(tmp_path, monkeypatch):
    kwargs = dict(max_atoms=2, trials=2, n_workers=1, progress=False, steps=20)
    run_search(EMT(), ("Cu",), out=tmp_path / "s", **kwargs)
    settings = json.loads((tmp_path / "s" / "run.json").read_text())["settings"]
    assert settings["cell_filter"] == "unit"
    # a search made under another filter is not resumed into this one
    from polymlp_lab.simulations import structure_search

    monkeypatch.setattr(structure_search, "CELL_FILTER", "frechet")
    with pytest.raises(RunMismatchError, match="cell_filter: was 'unit', now 'frechet'"):
        run_search(EMT(), ("Cu",), out=tmp_path / "s", **kwargs)


def _hull(points):
    """A SearchResult of Cu-Au structures with the given (n_Cu, n_Au, energy eV/atom)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    structures = []
    for k, (n_cu, n_au, energy) in enumerate(points):
        atoms = bulk("Cu", "fcc", a=3.8, cubic=True) * (1, 1, 2)
        atoms = atoms[:n_cu + n_au]
        atoms.symbols = ["Cu"] * n_cu + ["Au"] * n_au
        atoms.rattle(0.01 * (k + 1), seed=k)  # no two alike
        atoms.calc = SinglePointCalculator(atoms, energy=energy * len(atoms))
        structures.append(atoms)
    return hull_from_structures(structures, ("Cu", "Au"))


def test_hull_difference_of_two_searches():
    first = _hull([(2, 0, -3.0), (0, 2, -4.0), (1, 1, -3.7)])
    same = _hull([(1, 0, -3.0), (0, 1, -4.0), (2, 2, -3.7)])
    deeper = _hull([(1, 0, -3.0), (0, 1, -4.0), (2, 2, -3.71)])
    assert aluminium_copper.hull_difference_meV(first, same) == pytest.approx(0.0, abs=1e-9)
    assert aluminium_copper.hull_difference_meV(first, deeper) == pytest.approx(10.0, abs=1e-6)


def test_prototype_names_of_found_structures():
    from ase.calculators.singlepoint import SinglePointCalculator

    calc = EMT()
    theta = relax(build("C16", ["Al", "Cu"]), calc, fmax=1e-3).atoms
    library = [relax(build(name, decoration), calc, fmax=1e-3).atoms
               for name, decoration in (("C1", ["Cu", "Al"]), ("C16", ["Al", "Cu"]))]
    for atoms, name in zip(library, ("C1:CuAl", "C16:AlCu")):
        atoms.info["name"] = name
    found = theta.copy()
    found.rotate(30, "z", rotate_cell=True)
    found = found[[3, 0, 5, 1, 4, 2]]  # another order, rotated: the same structure
    found.calc = SinglePointCalculator(found, energy=theta.get_potential_energy())
    entry = hull_from_structures([found], ("Al", "Cu"),
                                 references={"Al": -1.0, "Cu": -1.0}).entries[0]
    assert aluminium_copper.prototype_name(entry, library) == "C16"
    assert aluminium_copper.prototype_name(entry, library[:1]) == ""


def test_figures_command_writes_the_figure_and_its_numbers(tmp_path):
    out = tmp_path / "figures"
    run = subprocess.run([sys.executable, "-m", "polymlp_lab.cli", "figures", "--figure", "2",
                          "--out", str(out), "--quiet"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "Figure 2: Ti–Al" in run.stdout and "MLP formation energies closer" in run.stdout
    saved = json.loads((out / "figure2.json").read_text())
    assert saved["figure"] == 2 and all(saved["checks"].values())
    asserted = [c for c in saved["comparisons"] if c["asserted"]]
    assert asserted and all(c["agrees"] for c in asserted)
    assert json.loads((out / "figures.json").read_text())["2"]["holds"] is True
    assert (out / "figure2.png").stat().st_size > 10_000


def test_figures_command_refuses_a_file_as_output(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("mine")
    run = subprocess.run([sys.executable, "-m", "polymlp_lab.cli", "figures", "--figure", "2",
                          "--out", str(target)], capture_output=True, text=True)
    assert run.returncode == 2 and "not a directory" in run.stderr
    assert target.read_text() == "mine"


# a relaxed Al4Cu3 cell of the Al-Cu search for which spglib's C library prints notes to stderr
NOISY_CELL = dict(
    cell=[[-1.1968182187462149, -3.8641497942791663, -0.01645943772695128],
          [-5.015467984639605, -0.5898559943828063, 0.1713830430809075],
          [-0.8123983267914963, -1.8906379684835137, -5.756081185226222]],
    scaled_positions=[[0.06560982226226786, 0.6320699372179646, 0.2558456358380466],
                      [0.3648579745045629, 0.6347561474590383, 0.6619568818513033],
                      [0.07458743209401053, 0.2212742068743307, 0.6673311543742163],
                      [0.7666637141843747, 0.2332553091547091, 0.2524800422840917],
                      [0.720276381529459, 0.6347714976279484, 0.9447778283358277],
                      [0.38721082677033974, 0.9338356399275023, 0.3102838899843559],
                      [0.42533119715914697, 0.23239412211277918, 0.9481978231122413]],
    numbers=[13, 13, 13, 13, 29, 29, 29])


@pytest.mark.parametrize("imported, noisy", [("spglib", True), ("polymlp_lab, spglib", False)])
def test_spglib_notes_are_silenced_by_importing_the_lab(imported, noisy):
    """The search's hull symmetrises every relaxed cell; spglib's C notes on stderr showed as
    error streams in notebook 11 (in a browser). Importing polymlp_lab turns them off."""
    script = (f"import {imported}\n"
              f"cell = {NOISY_CELL!r}\n"
              "try:\n"
              "    spglib.get_symmetry_dataset((cell['cell'], cell['scaled_positions'], "
              "cell['numbers']), symprec=0.1)\n"
              "except Exception:\n"
              "    pass\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "SPGLIB_WARNING"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert ("ssm_get_exact_positions failed" in run.stderr) is noisy, run.stderr

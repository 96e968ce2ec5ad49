"""Figure 4 (liquid Si): the analysis helpers on synthetic data, and the whole pipeline on a
run a few hundred steps long (the full-size figure is run by the notebook, not here)."""

import json

import matplotlib
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

matplotlib.use("Agg")

from polymlp_lab.errors import PolymlpLabError  # noqa: E402
from polymlp_lab.paper import FIGURES  # noqa: E402
from polymlp_lab.paper import liquid_silicon as fig4  # noqa: E402
from polymlp_lab.paper.comparison import FigureResult  # noqa: E402
from polymlp_lab.simulations.liquid import RDF, coordination_number  # noqa: E402
from polymlp_lab.simulations.md import MDResult, MDSettings  # noqa: E402


def synthetic_rdf(g_of_r, r_max=10.0, n_bins=400, density=0.05) -> RDF:
    edges = np.linspace(0.0, r_max, n_bins + 1)
    r = 0.5 * (edges[1:] + edges[:-1])
    return RDF(r=r, g=np.asarray(g_of_r(r), dtype=float), density=density,
               total_density=density, n_frames=1, r_max=r_max)


def bump(x, centre, width, height):
    return height * np.exp(-0.5 * ((x - centre) / width) ** 2)


def liquid_like(r):
    """A Si-like g: zero below 2 Å, a first peak at 2.45 Å, a small one at 3.9 Å, a broad
    second peak at 5.5 Å."""
    g = 1.0 + bump(r, 2.45, 0.15, 1.3) - bump(r, 3.2, 0.3, 0.15) + bump(r, 3.9, 0.15, 0.08) \
        - bump(r, 4.6, 0.3, 0.1) + bump(r, 5.5, 0.4, 0.1)
    return np.where(r < 2.0, 0.0, g)


def test_running_coordination_of_an_ideal_gas():
    rdf = synthetic_rdf(np.ones_like)
    r, n = fig4.running_coordination(rdf)
    assert np.allclose(n, 4.0 / 3.0 * np.pi * 0.05 * r**3)
    assert fig4.radius_for_coordination(rdf, 6.3) == pytest.approx(
        (6.3 / (4.0 / 3.0 * np.pi * 0.05)) ** (1 / 3), rel=1e-3)
    assert np.isnan(fig4.radius_for_coordination(rdf, 1e6))
    # the running count ends, at each bin edge, on the liquid module's coordination number
    for k in (100, 173):
        assert n[k - 1] == pytest.approx(coordination_number(rdf, rdf.edges[k]))


def test_peaks_of_a_silicon_like_g():
    rdf = synthetic_rdf(liquid_like)
    position, width = fig4.second_peak(rdf)
    assert position == pytest.approx(5.5, abs=0.05)
    assert 0 < width < 1.0
    assert fig4.intermediate_peaks(rdf, 3.2, position) == [pytest.approx(3.9, abs=0.05)]
    plain = synthetic_rdf(lambda r: np.where(r < 2.0, 0.0, 1.0 + bump(r, 2.45, 0.15, 1.3)
                                             - bump(r, 3.4, 0.4, 0.15) + bump(r, 5.5, 0.4, 0.1)))
    assert fig4.intermediate_peaks(plain, 3.2, 5.5) == []
    assert all(np.isnan(fig4.second_peak(rdf, window=(20.0, 30.0))))


def test_angle_maxima():
    angles = np.arange(0.5, 180.0, 1.0)
    p = bump(angles, 57.0, 8.0, 1.0) + bump(angles, 95.0, 15.0, 0.9)
    p /= p.sum()
    found = fig4.angle_maxima(angles, p)
    assert len(found) == 2
    assert found[0] == pytest.approx(57.0, abs=1.0) and found[1] == pytest.approx(95.0, abs=2.0)


def test_peak_skew_sees_a_high_q_hump():
    q = np.linspace(0.5, 8.0, 751)
    symmetric = 1.0 + bump(q, 2.8, 0.3, 0.4) - bump(q, 4.3, 0.4, 0.25)
    skew = fig4.peak_skew(q, symmetric)
    assert skew["q1"] == pytest.approx(2.8, abs=0.01)
    assert skew["ratio"] == pytest.approx(1.0, abs=0.1)
    humped = symmetric + bump(q, 3.3, 0.2, 0.25)
    assert fig4.peak_skew(q, humped)["ratio"] > fig4.SKEW_LIMIT
    low_side = symmetric + bump(q, 2.3, 0.2, 0.25)
    assert fig4.peak_skew(q, low_side)["ratio"] < 1.0
    with pytest.raises(PolymlpLabError):
        fig4.peak_skew(q, 2.0 + 0 * q)


def md_result(times_ps, total_eV, n_atoms=10, temperature=1700.0, volume=None):
    records = {"time_ps": list(times_ps), "step": list(range(len(times_ps))),
               "total_energy_eV": list(total_eV),
               "temperature_K": [temperature] * len(times_ps),
               "volume_A3": list(volume if volume is not None else [100.0] * len(times_ps)),
               "pressure_GPa": [0.0] * len(times_ps)}
    return MDResult(MDSettings(), n_atoms, records, None)


def test_energy_drift_recovers_the_slope():
    t = np.linspace(0.0, 2.0, 41)
    rng = np.random.default_rng(0)
    # 10 atoms, +0.02 eV per ps in all: +2 meV/atom/ps, with noise
    drift = fig4.energy_drift(md_result(t, -40.0 + 0.02 * t + 1e-5 * rng.normal(size=t.size)))
    assert drift["drift_meV_per_atom_per_ps"] == pytest.approx(2.0, rel=0.01)
    assert drift["length_ps"] == 2.0 and drift["mean_temperature_K"] == 1700.0
    assert drift["std_meV_per_atom"] > 0
    with pytest.raises(PolymlpLabError):
        fig4.energy_drift(md_result([0.0, 0.1], [0.0, 0.0]))


def test_npt_density_averages_the_second_half():
    # 8 Si atoms in 160 Å³ after an early 200 Å³: 8 * 28.0855 amu / 160 Å³
    result = md_result(np.arange(10) * 0.1, np.zeros(10), n_atoms=8,
                       volume=[200.0] * 5 + [160.0] * 5)
    own = fig4.npt_density(result, 8 * 28.0855)
    assert own["density_g_cm3"] == pytest.approx(8 * 28.0855 * 1.66053906660 / 160.0)
    assert own["density_std_g_cm3"] == pytest.approx(0.0)


def test_typical_frame_is_the_one_nearest_the_mean_total_energy():
    frames = []
    for energy, speed in ((-10.0, 0.0), (-9.0, 0.0), (-8.0, 0.0), (-9.5, 0.01)):
        atoms = Atoms("Si2", positions=[[0, 0, 0], [2, 0, 0]], cell=[6, 6, 6], pbc=True)
        atoms.set_velocities([[speed, 0, 0], [-speed, 0, 0]])
        atoms.calc = SinglePointCalculator(atoms, energy=energy)
        frames.append(atoms)
    totals = [f.get_potential_energy() + f.get_kinetic_energy() for f in frames]
    assert fig4.typical_frame(frames) == int(np.argmin(np.abs(np.array(totals) - np.mean(totals))))


def test_references_are_the_published_numbers():
    assert FIGURES[4][0] == "liquid_silicon"
    assert fig4.FIRST_PEAK_A == 2.45 and fig4.SECOND_PEAK_A == 5.5
    assert fig4.COORDINATION == {1713.0: 6.3, 1733.0: 5.7, 1793.0: 5.8}
    assert fig4.LIQUID_DENSITY_TM == 2.580 and fig4.MELTING_POINT_K == 1687.0
    assert fig4.FIRST_PEAK_UNDERCOOLED_A == 2.48
    assert "Jpn. J. Appl. Phys. 34, 4124 (1995)" in fig4.WASEDA
    # the states: above the melting point at the X-ray study's temperatures, one undercooled
    assert {1713.0, 1793.0} <= set(fig4.TEMPERATURES_K)
    assert min(fig4.TEMPERATURES_K) < fig4.MELTING_POINT_K < fig4.LIQUID_K
    assert list(fig4.TEMPERATURES_K) == sorted(fig4.TEMPERATURES_K, reverse=True)
    assert fig4.SETTINGS_SCALED["supercell"] >= 3 and fig4.SETTINGS_SCALED["production_ps"] >= 10


TINY = dict(fig4.SETTINGS, melt_ps=0.1, equilibrate_ps=0.04, production_ps=0.2, nve_ps=0.1,
            npt_ps=0.1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """run() on 64 atoms for some 500 steps in all: every stage, analysis and the figure."""
    patch = pytest.MonkeyPatch()
    patch.setattr(fig4, "SETTINGS", TINY)
    workdir = tmp_path_factory.mktemp("figure4")
    try:
        yield fig4.run(workdir=workdir), workdir
    finally:
        patch.undo()


def test_tiny_run_gives_a_complete_figure_result(tiny, tmp_path):
    result, _ = tiny
    assert isinstance(result, FigureResult) and result.number == 4
    record = result.as_dict()
    assert json.loads(json.dumps(record, allow_nan=False))["figure"] == 4
    assert record["settings"]["n_atoms"] == 64
    assert set(record["data"]["states"]) == {"1793", "1713", "1550"}
    quantities = " | ".join(c.quantity for c in result.comparisons)
    for wanted in ("first peak, 1713 K", "coordination number, 1713 K", "density"):
        assert wanted in quantities
    for c in result.comparisons:
        assert c.tolerance > 0 and len(c.why) > 40 and np.isfinite(c.value)
        assert len(c.source) > 60 and ("doi" in c.source or "http" in c.source)
        assert c.asserted  # measurements, not contrast rows
        assert c.agrees == (abs(c.value - c.reference) <= c.tolerance)
    assert len(result.checks) >= 6 and all(isinstance(v, bool) for v in result.checks.values())
    assert any("coordination" in gap for gap in result.gaps)
    assert any("paper" in gap for gap in result.gaps)
    nve = record["data"]["nve"]
    assert np.isfinite(nve["drift_meV_per_atom_per_ps"]) and nve["mean_temperature_K"] > 1000
    assert "Figure 4" in result.table()
    assert len(result.figure.axes) >= 4
    for ax in result.figure.axes:
        assert ax.xaxis.label.get_size() >= 9 and ax.yaxis.label.get_size() >= 9
        for text in ax.get_legend().get_texts():
            assert text.get_fontsize() >= 9
    png, saved = result.save(tmp_path)
    assert png.stat().st_size > 0 and json.loads(saved.read_text())["figure"] == 4


def test_tiny_run_resumes_from_its_workdir(tiny, monkeypatch):
    first, workdir = tiny
    monkeypatch.setattr(fig4, "SETTINGS", TINY)
    again = fig4.run(workdir=workdir)
    assert [c.value for c in again.comparisons] == pytest.approx([c.value for c in first.comparisons])
    assert again.data["nve"] == first.data["nve"]

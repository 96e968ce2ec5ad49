"""Figure 3 (Al ⟨110⟩ symmetric tilt grain boundaries): the published numbers and their
geometry, the comparison rows, checks and gaps built from given energies, and run() on one Σ
with a tiny search (the full-size figure is run by the notebook, not here)."""

import json
import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


from polymlp_lab import PolymlpCalculator  # noqa: E402
from polymlp_lab.paper import FIGURES  # noqa: E402
from polymlp_lab.paper import grain_boundaries as fig3  # noqa: E402
from polymlp_lab.paper.comparison import FigureResult  # noqa: E402
from polymlp_lab.simulations import grain_boundary as gb  # noqa: E402

# Σ and "disorientation" (°) of each boundary in Olmsted et al.'s crystallography table, read
# with the energies (the disorientation is the smaller of θ and 180° − θ)
OLMSTED_GEOMETRY = {(1, 1, 1): (3, 70.5288), (1, 1, 2): (3, 70.5288), (2, 2, 1): (9, 38.9424),
                    (1, 1, 4): (9, 38.9424), (1, 1, 3): (11, 50.4788), (3, 3, 2): (11, 50.4788),
                    (2, 2, 3): (17, 86.6277), (3, 3, 4): (17, 86.6277), (3, 3, 1): (19, 26.5254),
                    (1, 1, 6): (19, 26.5254)}
# a tiny search: one start per boundary, a loose relaxation, thin grains
TINY = dict(grid=(1, 1), expansions=(0.0,), fmax=0.05, steps=60, min_thickness=8.0)


def published_like(scale_mlp=1.3, scale_eam=0.5) -> dict:
    """γ (mJ/m²) of every boundary of the figure: the published EAM numbers scaled."""
    return {"MLP": {p: scale_mlp * g for p, (_, g) in fig3.OLMSTED_EAM_MJ_M2.items()},
            "EAM": {p: scale_eam * g for p, (_, g) in fig3.OLMSTED_EAM_MJ_M2.items()}}


def test_registered_as_figure_3():
    assert FIGURES[3][0] == "grain_boundaries" and fig3.NUMBER == 3
    assert callable(fig3.run)


def test_at_least_the_eight_boundaries_of_the_brief():
    labels = {b.label for b in gb.tilt_boundaries(fig3.SIGMAS)}
    assert {"Σ3(111)", "Σ3(112)", "Σ9(221)", "Σ9(114)", "Σ11(113)", "Σ11(332)"} <= labels
    assert {s for s in fig3.SIGMAS} >= {3, 9, 11, 17, 19} and len(labels) == 10
    assert set(fig3.SIGMAS) < set(fig3.SIGMAS_SCALED)


def test_tilt_angles_match_the_geometry_and_the_published_table():
    angles = fig3.tilt_angles()
    for plane, (sigma, disorientation) in OLMSTED_GEOMETRY.items():
        h, _, l = plane
        boundary = gb.tilt_boundary(plane)
        theta = math.degrees(2 * math.atan(l / (math.sqrt(2) * h)))
        assert angles[boundary.label] == pytest.approx(theta, abs=1e-9)
        # the rotation about [1-10] that maps a (h h l) plane onto its mirror image
        assert min(theta, 180 - theta) == pytest.approx(disorientation, abs=1e-3)
        assert boundary.sigma == sigma
    assert math.cos(math.radians(angles["Σ3(111)"])) == pytest.approx(1 / 3)
    assert angles["Σ3(112)"] == pytest.approx(180 - angles["Σ3(111)"])


def test_published_numbers_are_the_figure_boundaries_with_citations():
    figure_planes = {b.plane for b in gb.tilt_boundaries(fig3.SIGMAS)}
    assert set(fig3.OLMSTED_EAM_MJ_M2) == figure_planes
    indices = [index for index, _ in fig3.OLMSTED_EAM_MJ_M2.values()]
    assert len(set(indices)) == len(indices)
    assert all(0 < g < 1000 for _, g in fig3.OLMSTED_EAM_MJ_M2.values())
    assert set(fig3.GUYOT_SIMON_MJ_M2) <= figure_planes
    assert set(fig3.WRIGHT_ATLAS_PLANES) <= figure_planes
    for citation in (fig3.OLMSTED_2009, fig3.GUYOT_SIMON_1976, fig3.WRIGHT_ATLAS_1994,
                     fig3.SUTTON_CHEN):
        assert any(c.isdigit() for c in citation) and "(" in citation and len(citation) > 60
    assert fig3.DFT_MJ_M2 == {}  # no DFT number verified: nothing may stand in for one


def test_comparisons_cite_sources_and_only_the_mlp_is_asserted():
    gamma = published_like()
    rows = fig3.comparisons(gamma)
    assert rows and all(r.source and r.why and r.unit for r in rows)
    assert all(r.asserted == ("MLP" in r.quantity.split(",")[-1]) for r in rows
               if "/" not in r.quantity)
    assert not any(r.asserted for r in rows if "/" in r.quantity)  # ratios involve the EAM
    twin = next(r for r in rows if r.quantity == "γ Σ3(111), MLP")
    assert twin.reference == 75.0 and twin.value == pytest.approx(1.3 * 58.0)
    assert twin.tolerance == 25 and twin.agrees and twin.source == fig3.GUYOT_SIMON_1976
    ratio = next(r for r in rows if r.quantity == "γ(MLP) / γ(EAM) Σ11(113)")
    assert ratio.value == pytest.approx(1.3 / 0.5) and ratio.reference == 2.0
    assert not ratio.agrees  # 2.6: more than "about twice"
    others = next(r for r in rows if r.quantity.startswith("mean γ") and "MLP" in r.quantity)
    expected = np.mean([1.3 * g for p, (_, g) in fig3.OLMSTED_EAM_MJ_M2.items()
                        if p not in fig3.GUYOT_SIMON_MJ_M2])
    assert others.value == pytest.approx(expected) and others.reference == 600.0
    json.dumps([r.as_dict() for r in rows], allow_nan=False)


def test_a_verified_dft_number_would_become_two_rows(monkeypatch):
    monkeypatch.setattr(fig3, "DFT_MJ_M2", {(1, 1, 3): (150.0, 30.0, "a source", "a why")})
    rows = [r for r in fig3.comparisons(published_like()) if "vs DFT" in r.quantity]
    assert [r.quantity for r in rows] == ["γ Σ11(113), MLP vs DFT", "γ Σ11(113), EAM vs DFT"]
    assert [r.asserted for r in rows] == [True, False]
    gaps = fig3.gaps(published_like(), scale_up=True, unconverged={"MLP": 0, "EAM": 0})
    assert "Σ11(113)" not in gaps[0].split(" here")[0] and "Σ3(111)" in gaps[0]


def test_checks_follow_the_energies():
    gamma = published_like()
    held = fig3.checks(gamma)
    assert all(held.values()) and len(held) == 5
    gamma["EAM"][(1, 1, 2)] = 1.0  # below the twin, and above the MLP nowhere else changes
    gamma["MLP"][(1, 1, 3)] = 500.0  # no longer the second cusp
    held = fig3.checks(gamma)
    assert not held["Σ3(111) coherent twin is the lowest boundary (EAM)"]
    assert held["Σ3(111) coherent twin is the lowest boundary (MLP)"]
    assert not held["Σ11(113) is the lowest after the twin: the second cusp (MLP)"]
    gamma["EAM"][(2, 2, 1)] = 10_000.0
    assert not next(v for k, v in fig3.checks(gamma).items() if k.startswith("the MLP"))


def test_gaps_name_every_boundary_without_a_dft_value():
    gamma = published_like(scale_mlp=1.2, scale_eam=0.05)
    found = fig3.gaps(gamma, scale_up=False, unconverged={"MLP": 2, "EAM": 0})
    text = " ".join(found)
    for b in gb.tilt_boundaries(fig3.SIGMAS):
        assert b.label in found[0]
    assert "no DFT value verified" in found[0] and "arXiv:2007.15944" in found[0]
    assert "Guyot & Simon" in text  # the MLP's mean is below 500 mJ/m²
    assert "coherent twin almost no energy" in text  # 0.05 × 58 mJ/m²
    assert "MLP 2" in text and "default size" in text
    assert not any("default size" in g for g in fig3.gaps(gamma, scale_up=True,
                                                           unconverged={"MLP": 0, "EAM": 0}))


class CountingCalculator(PolymlpCalculator):
    """PolymlpCalculator counting its calculations (over all instances)."""

    calls = 0

    def calculate(self, *args, **kwargs):
        CountingCalculator.calls += 1
        super().calculate(*args, **kwargs)


@pytest.fixture
def tiny(monkeypatch):
    """run() on Σ3 only (the twin and Σ3(112)), one translation, 8 Å grains."""
    monkeypatch.setattr(fig3, "SIGMAS", (3,))
    monkeypatch.setattr(fig3, "SEARCH", dict(TINY))
    made = fig3.calculators

    def counting(workdir):
        calcs = made(workdir)
        calcs["MLP"] = CountingCalculator(calcs["MLP"].potential)
        return calcs

    monkeypatch.setattr(fig3, "calculators", counting)
    CountingCalculator.calls = 0
    return CountingCalculator


def test_run_on_one_sigma_is_a_complete_figure(tiny, tmp_path):
    result = fig3.run(workdir=tmp_path / "work")
    assert isinstance(result, FigureResult) and result.number == 3
    labels = [b["label"] for b in result.data["boundaries"]]
    assert labels == ["Σ3(111)", "Σ3(112)"]  # by tilt angle
    for row in result.data["boundaries"]:
        assert row["angle_deg"] == pytest.approx(gb.tilt_boundary(tuple(row["plane"])).angle_deg)
        assert row["mlp_mJ_m2"] > row["eam_mJ_m2"] > 0 and row["dft_mJ_m2"] is None
        assert row["published_eam_mJ_m2"] == fig3.OLMSTED_EAM_MJ_M2[tuple(row["plane"])][1]
    twin = result.data["boundaries"][0]
    assert twin["mlp_mJ_m2"] < 150 and twin["eam_mJ_m2"] < 20
    assert result.checks["Σ3(111) coherent twin is the lowest boundary (MLP)"]
    assert result.gaps and "no DFT value verified for Σ3(111), Σ3(112)" in result.gaps[0]
    assert result.settings["grid"] == (1, 1) and result.settings["scale_up"] is False
    assert 3.9 < result.data["bulk"]["MLP"]["a"] < 4.2
    assert all(r.source for r in result.comparisons)
    record = json.loads(json.dumps(result.as_dict(), allow_nan=False))
    assert record["figure"] == 3 and len(record["comparisons"]) == len(result.comparisons)
    assert "Figure 3" in result.table() and "Σ3(111)" in result.table()

    ax = result.figure.axes[0]
    texts = [t for t in ax.texts] + ax.get_xticklabels() + ax.get_yticklabels()
    texts += ax.get_legend().get_texts() + [ax.xaxis.label, ax.yaxis.label, ax.title]
    assert min(t.get_fontsize() for t in texts) >= 9
    assert {"MLP (published Al polymlp)", "EAM (Sutton–Chen)"} <= {
        t.get_text() for t in ax.get_legend().get_texts()}
    assert any(t.get_text() == "Σ3(112)" for t in ax.texts)
    png, saved = result.save(tmp_path / "out")
    assert png.stat().st_size > 0 and json.loads(saved.read_text())["figure"] == 3

    # a rerun on the same folder resumes: the MLP is not called again, the numbers are equal
    calls = tiny.calls
    again = fig3.run(workdir=tmp_path / "work")
    assert tiny.calls == calls > 0
    assert again.data["boundaries"] == result.data["boundaries"]


def test_scale_up_searches_more_of_everything():
    small, large = fig3.SEARCH, fig3.SEARCH_SCALED
    assert np.prod(large["grid"]) * len(large["expansions"]) > 4 * np.prod(small["grid"])
    assert large["min_thickness"] > small["min_thickness"] >= 20.0  # thinner grains mislead
    assert large["fmax"] < small["fmax"] and large["steps"] > small["steps"]
    assert set(small) == set(large) <= set(gb.search_boundaries.__code__.co_varnames)

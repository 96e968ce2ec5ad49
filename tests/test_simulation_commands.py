"""The simulation commands: ``polymlp-lab rss`` and ``polymlp-lab gb`` write what the issue
promises, and bad settings end with a clear message (exit status 2), not a traceback."""

import json

import pytest

from polymlp_lab.cli import main
from polymlp_lab import data


def test_rss_command_writes_the_hull(tmp_path, capsys):
    out = tmp_path / "rss"
    code = main(["rss", "--pot", str(data.potential("Ti-Al")), "--elements", "Ti", "Al",
                 "--max-atoms", "2", "--trials", "5", "--steps", "60", "--workers", "1",
                 "--out", str(out), "--quiet"])
    assert code == 0
    hull = json.loads((out / "hull.json").read_text())
    assert hull["elements"] == ["Ti", "Al"]
    assert hull["n_trials"] == 5
    structures = hull["structures"]
    assert structures and len(structures) == hull["n_unique"]
    for s in structures:
        assert s["e_above_hull"] >= 0.0
        assert 0.0 <= s["x_B"] <= 1.0
        assert s["spacegroup"]
    pure = [s for s in structures if s["x_B"] in (0.0, 1.0)]
    assert min(abs(s["formation_energy"]) for s in pure) == 0.0
    assert set(hull["stable"]) <= {s["name"] for s in structures}
    assert (out / "hull.png").stat().st_size > 0
    assert "unique structures; stable:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--elements", "Ti", "Al", "--max-atoms", "2", "--composition-range", "0.4", "0.45"],
         "0.4"),
        (["--elements", "Ti", "Xx", "--max-atoms", "2"], "Xx"),
    ],
)
def test_rss_command_rejects_impossible_settings(tmp_path, capsys, arguments, message):
    code = main(["rss", "--pot", str(data.potential("Ti-Al")), "--trials", "2",
                 "--out", str(tmp_path / "rss"), "--quiet", *arguments])
    assert code == 2
    err = capsys.readouterr().err
    assert "polymlp-lab: error:" in err and message in err
    assert "Traceback" not in err


def test_gb_command_writes_energies_and_the_twin_is_lowest(tmp_path, capsys):
    out = tmp_path / "gb"
    code = main(["gb", "--pot", str(data.potential("Ti-Al")), "--element", "Al",
                 "--sigma", "3", "--grid", "1", "1", "--expansions", "0", "--steps", "100",
                 "--fmax", "0.02", "--thickness", "8", "--out", str(out), "--quiet"])
    assert code == 0
    saved = json.loads((out / "gb.json").read_text())
    boundaries = {b["label"]: b for b in saved["boundaries"].values()}
    assert set(boundaries) == {"Σ3(111)", "Σ3(112)"}
    for b in boundaries.values():
        assert b["sigma"] == 3 and b["n_atoms"] > 0
        assert 0.0 < b["angle_deg"] < 180.0
    assert 0.0 < boundaries["Σ3(111)"]["energy_mJ_m2"] < boundaries["Σ3(112)"]["energy_mJ_m2"]
    assert (out / "gb.png").stat().st_size > 0
    assert "Σ3(111)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--element", "Al", "--sigma", "5"], "Σ5 is not a <110> symmetric tilt boundary"),
        (["--sigma", "3"], "choose one with --element"),
        (["--element", "Cu", "--sigma", "3"], "element 'Cu' is not in the potential"),
        (["--element", "Al", "--sigma", "3,x"], "--sigma takes Σ values"),
    ],
)
def test_gb_command_rejects_bad_settings(tmp_path, capsys, arguments, message):
    code = main(["gb", "--pot", str(data.potential("Ti-Al")), "--out", str(tmp_path / "gb"),
                 "--quiet", *arguments])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err

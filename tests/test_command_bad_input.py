"""Bad input to the commands: output paths refused before any work, ``card --detailed 0``,
every frame of a multi-frame ``eval``, and non-finite results refused."""

import json
import os
from pathlib import Path

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from polymlp_lab import load_potential
from polymlp_lab.cli import main
from polymlp_lab.errors import NonFiniteResultError, OutputDirectoryError, PolymlpLabError
from polymlp_lab.files import check_output_dir
from polymlp_lab.properties.card import compute_card

from conftest import random_potential


class WorkStarted(Exception):
    """Raised by the patched first step of a command's work."""


def _refuse(*args, **kwargs):
    raise WorkStarted("the command started its work despite a bad output directory")


# per command: the arguments before the output option, the option, and what its work
# starts with (patched to raise WorkStarted, so that work before the refusal fails the test)
COMMANDS = {
    "fit": (["fit", "polymlp.in"], "--output", ["polymlp_lab.fitting.fit_polymlp_in"]),
    "fit-checkpoint": (["fit", "polymlp.in", "--output", "{tmp}/fit"], "--checkpoint",
                       ["polymlp_lab.fitting.fit_polymlp_in"]),
    "grid": (["grid", "--elements", "Al", "--data", "data.xyz"], "--out",
             ["polymlp_lab.fitting.read_dataset", "polymlp_lab.grid.run_grid"]),
    "pareto": (["pareto", "--from", "{tmp}"], "--out",
               ["polymlp_lab.grid.external.read_grid"]),
    "card": (["card", "--pot", "{pot}"], "--out",
             ["polymlp_lab.potential.load_potential",
              "polymlp_lab.properties.card.compute_card"]),
    "card-repository": (["card", "--repository", "{tmp}"], "--out",
                        ["polymlp_lab.properties.card.index_repository"]),
    "md": (["md", "--pot", "{pot}", "--structure", "{structure}", "--steps", "2"], "--out",
           ["polymlp_lab.cli._read_structure", "polymlp_lab.potential.load_potential"]),
    "gb": (["gb", "--pot", "{pot}"], "--out", ["polymlp_lab.potential.load_potential"]),
    "rss": (["rss", "--pot", "{pot}", "--elements", "Al", "--max-atoms", "2", "--trials", "1"],
            "--out", ["polymlp_lab.simulations.structure_search.run_search"]),
}


def _bad_output(kind, tmp_path) -> Path:
    if kind == "file":
        path = tmp_path / "taken.txt"
        path.write_text("not a directory\n")
    elif kind == "under-a-file":
        (tmp_path / "taken.txt").write_text("not a directory\n")
        path = tmp_path / "taken.txt" / "out"
    else:  # a directory no one may write into, root included (procfs refuses new files)
        path = Path("/proc/self")
        if not path.is_dir():
            pytest.skip("no /proc: no directory that even root cannot write into")
    return path


@pytest.mark.parametrize("kind", ["file", "under-a-file", "read-only"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_output_directory_is_refused_before_any_work(
        command, kind, al_potential, tmp_path, monkeypatch, capsys):
    pot = tmp_path / "polymlp.yaml"
    al_potential.save(pot)
    structure = tmp_path / "POSCAR"
    write(structure, bulk("Al", "fcc", a=4.05), format="vasp")
    head, option, work = COMMANDS[command]
    for target in work:
        monkeypatch.setattr(target, _refuse)
    out = _bad_output(kind, tmp_path)
    argv = [a.format(tmp=tmp_path, pot=pot, structure=structure) for a in head]
    code = main([*argv, option, str(out), *(["--quiet"] if command != "pareto" else [])])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("polymlp-lab: error: "), captured.err
    assert str(out) in captured.err
    assert "Traceback" not in captured.err
    if kind == "file":
        assert (tmp_path / "taken.txt").read_text() == "not a directory\n"  # left alone


def test_check_output_dir_accepts_a_missing_directory_and_names_bad_ones(tmp_path):
    missing = check_output_dir(tmp_path / "a" / "b")
    assert missing == tmp_path / "a" / "b" and not (tmp_path / "a").exists()  # made later
    assert list(tmp_path.iterdir()) == []  # no probe file left behind
    assert check_output_dir(tmp_path) == tmp_path  # an existing writable directory is fine
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputDirectoryError, match="existing file") as info:
        check_output_dir(tmp_path / "f")
    assert info.value.path == tmp_path / "f"
    assert isinstance(info.value, PolymlpLabError)
    with pytest.raises(OutputDirectoryError, match="inside .*f, which is an existing file"):
        check_output_dir(tmp_path / "f" / "out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod 555 directory")
def test_check_output_dir_refuses_a_read_only_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputDirectoryError, match="not writable"):
            check_output_dir(locked)
    finally:
        locked.chmod(0o755)


# --- card --detailed 0 ------------------------------------------------------------------

def test_card_detailed_zero_gives_energies_and_hull_only():
    card = compute_card(EMT(), elements=("Cu", "Au"), prototypes=["fcc", "L1_2", "B2"],
                        n_detailed=0, progress=False)
    assert len(card.energies) >= 4
    assert card.hull["stable"]  # the hull is still there
    assert card.eos == {} and card.elastic == {} and card.phonon_dos == {}
    assert card.elastic_moduli == {}


def test_cli_card_detailed_zero(tmp_path, capsys):
    from polymlp_lab import data

    pot = data.potential("Al")  # a published potential: the prototypes relax
    out = tmp_path / "card"
    assert main(["card", "--pot", str(pot), "--out", str(out), "--prototypes", "fcc", "bcc",
                 "--detailed", "0", "--quiet"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert set(card["energies"]) == {"fcc", "bcc"}
    assert card["eos"] == {} and card["elastic"] == {} and card["phonon_dos"] == {}


def test_cli_card_negative_detailed_is_refused(al_potential, tmp_path, capsys):
    pot = tmp_path / "polymlp.yaml"
    al_potential.save(pot)
    code = main(["card", "--pot", str(pot), "--out", str(tmp_path / "c"), "--detailed", "-1"])
    assert code == 2 and "--detailed -1" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


# --- eval of a multi-frame file ------------------------------------------------------------

def test_eval_evaluates_every_frame_of_a_trajectory(al_potential, tmp_path, capsys):
    pot = tmp_path / "polymlp.yaml"
    al_potential.save(pot)
    frames = [bulk("Al", "fcc", a=a, cubic=True) for a in (3.9, 4.0, 4.1)]
    path = tmp_path / "traj.xyz"
    write(path, frames, format="extxyz")
    assert main(["eval", "--pot", str(pot), "--json", str(path)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert isinstance(records, list) and len(records) == 3
    potential = load_potential(pot)
    for n, (record, atoms) in enumerate(zip(records, frames)):
        assert record["structure"] == f"{path}@{n}"
        assert abs(record["energy_eV"] - potential.evaluate(atoms).energy) < 1e-9


def test_eval_text_lists_every_frame(al_potential, tmp_path, capsys):
    pot = tmp_path / "polymlp.yaml"
    al_potential.save(pot)
    path = tmp_path / "traj.xyz"
    write(path, [bulk("Al", "fcc", a=a) for a in (3.9, 4.1)], format="extxyz")
    assert main(["eval", "--pot", str(pot), str(path)]) == 0
    out = capsys.readouterr().out
    assert f"# {path}@0" in out and f"# {path}@1" in out and out.count("energy ") == 2


# --- non-finite results -------------------------------------------------------------------

@pytest.fixture()
def overflowing_lammps(al_potential, tmp_path) -> Path:
    """The Al potential as polymlp.lammps with its first coefficient set to 1e308."""
    path = tmp_path / "huge.lammps"
    al_potential.save(path, format="lammps")
    lines = path.read_text().splitlines(keepends=True)
    line = next(n for n, text in enumerate(lines) if "# reg. coeffs" in text)
    lines[line] = "1e308 " + lines[line].split(" ", 1)[1]
    path.write_text("".join(lines))
    return path


def test_non_finite_result_raises_naming_the_file(overflowing_lammps):
    potential = load_potential(overflowing_lammps)  # 1e308 is finite: the file loads
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    with pytest.raises(NonFiniteResultError) as info:
        potential.evaluate(atoms)
    assert "huge.lammps" in str(info.value) and "not finite" in str(info.value)
    assert info.value.quantity in ("energy", "forces", "stress")
    assert info.value.paths == (str(overflowing_lammps),)


def test_non_finite_energy_of_an_in_memory_potential():
    """Every coefficient 1e308: the energy overflows; checked without forces too."""
    potential = random_potential(("Al",), seed=1)
    coeffs = potential.components[0].coeffs.copy()
    coeffs[:] = 1e308
    huge = type(potential).from_params(potential.components[0].params, coeffs)
    with pytest.raises(NonFiniteResultError, match="in-memory"):
        huge.evaluate(bulk("Al", "fcc", a=4.05, cubic=True), forces=False)


def test_cli_eval_json_never_writes_nan(overflowing_lammps, tmp_path, capsys):
    write(tmp_path / "POSCAR", bulk("Al", "fcc", a=4.05, cubic=True), format="vasp")
    code = main(["eval", "--pot", str(overflowing_lammps), "--json", str(tmp_path / "POSCAR")])
    captured = capsys.readouterr()
    assert "NaN" not in captured.out and "Infinity" not in captured.out
    assert code == 2
    assert captured.err.startswith("polymlp-lab: error: ") and "huge.lammps" in captured.err

"""The command line ``polymlp-lab eval`` prints what Potential.evaluate computes."""

import json
import subprocess
import sys

import numpy as np
from ase.build import bulk
from ase.io import write

from polymlp_lab import load_potential
from polymlp_lab.cli import main
from polymlp_lab.units import EV_PER_A3_IN_GPA


def test_eval_json_matches_api(al_potential, tmp_path, capsys):
    pot = tmp_path / "polymlp.yaml"
    al_potential.save(pot)
    atoms = bulk("Al", "fcc", a=4.0, cubic=True)
    atoms.rattle(0.05, seed=2)
    write(tmp_path / "POSCAR", atoms, format="vasp")
    assert main(["eval", "--pot", str(pot), "--json", str(tmp_path / "POSCAR")]) == 0
    record = json.loads(capsys.readouterr().out)
    expected = load_potential(pot).evaluate(atoms)
    assert abs(record["energy_eV"] - expected.energy) < 1e-9
    np.testing.assert_allclose(record["forces_eV_per_A"], expected.forces, atol=1e-9)
    np.testing.assert_allclose(record["stress_GPa"], expected.stress * EV_PER_A3_IN_GPA, atol=1e-7)


def test_eval_text_for_several_structures_and_hybrid(al_potential, tmp_path, capsys):
    pot = tmp_path / "polymlp.yaml"
    al_potential.save(pot)
    for n, a in enumerate((3.9, 4.1)):
        write(tmp_path / f"s{n}.xyz", bulk("Al", "fcc", a=a), format="extxyz")
    paths = [str(tmp_path / "s0.xyz"), str(tmp_path / "s1.xyz")]
    assert main(["eval", "--pot", str(pot), "--pot", str(pot), *paths]) == 0
    out = capsys.readouterr().out
    assert out.count("energy ") == 2
    single = load_potential(pot).evaluate(bulk("Al", "fcc", a=3.9)).energy
    assert f"{2 * single:.10f}" in out  # the hybrid of the file with itself doubles it


def test_console_script_reports_errors_without_traceback(tmp_path):
    missing = tmp_path / "none.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "polymlp_lab.cli", "eval", "--pot", str(missing), str(missing)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "none.yaml" in proc.stderr and "no such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_warmup_fills_numba_cache_for_a_new_process(tmp_path):
    """After `polymlp-lab warmup`, a new process evaluates a potential (fresh list, reused
    list, slab by slab) and computes design rows for fitting without compiling."""
    env = dict(__import__("os").environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    first = subprocess.run([sys.executable, "-m", "polymlp_lab.cli", "warmup"],
                           capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    index_files = list((tmp_path / "cache").rglob("*.nbi"))
    assert len(index_files) >= 5  # every kernel module wrote its cache index
    written = {path: path.stat().st_mtime_ns for path in index_files}
    probe = (
        "import time, numpy as np; from ase.build import bulk; import polymlp_lab;"
        "from polymlp_lab.models import model_params, n_features;"
        "p = model_params(('Cu', 'Zr'), cutoff=5.0, gtinv_order=3, gtinv_maxl=(4, 4));"
        "pot = polymlp_lab.Potential.from_params(p, np.full(n_features(p), 1e-3));"
        "a = bulk('Cu', 'fcc', a=3.6, cubic=True); a.symbols[0] = 'Zr';"
        "from polymlp_lab.engine.design import build_feature_tables, design_rows;"
        "tab = build_feature_tables(p);"
        "t = time.perf_counter(); pot.evaluate(a);"
        "design_rows(tab, a.cell.array, a.positions, np.array([1, 0, 0, 0]), a.pbc);"
        # a neighbour list reused (MD), and a structure evaluated slab by slab
        "from polymlp_lab.engine import evaluate; from polymlp_lab.engine.neighbors import "
        "NeighborCache; c = NeighborCache(); [pot.evaluate(a, neighbors=c) for _ in (1, 2)];"
        "evaluate._SWEEP_BYTES = 0; pot.evaluate(a.repeat((12, 1, 1)));"
        "print(time.perf_counter() - t)"
    )
    second = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stderr
    assert float(second.stdout.split()[-1]) < 5.0  # compiling would take ~20 s
    # nothing new compiled: no new index, and none rewritten with a new entry
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.nbi")} == written

"""What Binder and a fresh machine read: environment.yml, postBuild, the README's links.

Binder builds environment.yml from conda-forge (not reachable from here), so these tests
check it against what pip installs (pyproject.toml) instead of building it.
"""

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower()


def _pins(requirement: str) -> set:
    return set(re.findall(r"[<>=!~]=?\s*[\w.]+", requirement.split(";")[0]))


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_environment_has_every_runtime_dependency_with_the_same_pins():
    conda = {}
    for entry in _environment()["dependencies"]:
        if isinstance(entry, str):
            conda[_name(entry)] = _pins(entry)
    for requirement in _pyproject()["project"]["dependencies"]:
        name = _name(requirement)
        assert name in conda, f"environment.yml lacks {name} (pyproject.toml needs {requirement})"
        assert _pins(requirement) <= conda[name], (
            f"environment.yml pins {name} {conda[name] or 'not at all'}, pyproject {requirement}")


def test_environment_installs_this_checkout_and_jupyterlab():
    dependencies = _environment()["dependencies"]
    pip = next(entry["pip"] for entry in dependencies if isinstance(entry, dict))
    assert "-e ." in pip
    assert "jupyterlab" in {_name(e) for e in dependencies if isinstance(e, str)}
    python = next(e for e in dependencies if isinstance(e, str) and _name(e) == "python")
    minimum = _pyproject()["project"]["requires-python"].lstrip(">=")
    assert tuple(map(int, python.split("=")[-1].split("."))) >= tuple(map(int, minimum.split(".")))


def test_postbuild_warms_the_numba_cache():
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable for Binder"
    assert "polymlp_lab.cli warmup" in post_build.read_text()


def test_readme_links_and_commands_exist():
    readme = (ROOT / "README.md").read_text()
    binder = re.search(r"mybinder\.org/v2/gh/[^)\s]+urlpath=lab/tree/([^)\s]+)", readme)
    assert binder, "README has no Binder badge link"
    assert (ROOT / binder.group(1)).is_file(), binder.group(1)
    for script in re.findall(r"bash (scripts/\w+\.sh)", readme):
        assert (ROOT / script).is_file(), script
    for notebook in re.findall(r"`(\d\d_\w+)`", readme):
        assert (ROOT / "notebooks" / f"{notebook}.ipynb").is_file(), notebook
    listed = set(re.findall(r"`(\d\d_\w+)`", readme))
    assert listed == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_package_data_globs_cover_every_shipped_file():
    from fnmatch import fnmatch

    globs = _pyproject()["tool"]["setuptools"]["package-data"]["polymlp_lab.data"]
    root = ROOT / "polymlp_lab" / "data"
    files = [p.relative_to(root).as_posix() for p in root.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.name != "__init__.py"]
    assert len(files) > 500  # 572 grid files, potentials, datasets, licences
    missed = [f for f in files if not any(fnmatch(f, g) for g in globs)]
    assert not missed, f"not installed by a wheel: {missed[:5]}"


def _chosen_python(python: str) -> str:
    import subprocess

    script = 'source scripts/python.sh; echo "$LAB_PYTHON"'
    return subprocess.run(["bash", "-c", script], cwd=ROOT, env={"PYTHON": python, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=True).stdout.strip()


def test_scripts_use_the_project_venv_for_a_system_python():
    import sys

    system = "/usr/bin/python3"
    if not Path(system).is_file():
        pytest.skip(f"{system} absent")
    assert _chosen_python(system) == str(ROOT / ".venv" / "bin" / "python")
    if sys.prefix != sys.base_prefix:  # the interpreter running the tests is in a venv
        assert _chosen_python(sys.executable) == sys.executable


def test_every_script_runs_the_chosen_interpreter():
    for name in ("setup.sh", "test.sh", "quickstart.sh", "lab.sh"):
        text = (ROOT / "scripts" / name).read_text()
        assert "source scripts/python.sh" in text, name
        assert '"$LAB_PYTHON" -m' in text, name
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()

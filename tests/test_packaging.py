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

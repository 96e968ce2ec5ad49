"""Fuzzing the potential file readers with mutated copies of valid files.

A valid polymlp.yaml / polymlp.lammps (one and two elements) is mutated by one to three
random edits: delete, duplicate or swap lines, truncate at a byte, replace a token with
another token of the file or a random string / number / NaN, insert a random key line,
insert random bytes. The mutated file is loaded and, if it loads, two small structures
(an open cluster and a periodic crystal) are evaluated.

Contract checked: the only exceptions that escape are subclasses of PolymlpLabError, and
whatever loads and evaluates gives finite energies, forces and stresses.

Loading and evaluating run in a separate worker process (restarted when it dies), with a
memory limit and a time limit: some inputs crash the interpreter (a segmentation fault in
the Numba neighbour list) and a crash must be reported as a failing example, not kill the
test session. The worker is a plain ``python -c`` process; helpers are defined here because
tests/conftest.py belongs to another suite.
"""

import difflib
import json
import re
import select
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from polymlp_lab import Potential
from polymlp_lab.models import model_params, n_features

MODEL = dict(cutoff=5.0, gtinv_order=2, gtinv_maxl=(4,), gaussian_params2=(0.0, 4.0, 4))
SYSTEMS = {
    "al": (("Al",), dict(), 0),  # 495 coefficients
    "mgo": (("Mg", "O"), dict(model_type=3), 1),  # 235 coefficients, 3 type pairs
}
WORKER_MEMORY = 4 * 2**30  # bytes of address space for the worker
ANSWER_TIMEOUT = 60.0  # s for one load + evaluation (a few ms when all is well)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),  # reproducible in CI, exploring elsewhere
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# ---------------------------------------------------------------------------------------
# the worker process

WORKER_CODE = r'''
import faulthandler, json, resource, sys, traceback
faulthandler.enable()
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

import numpy as np
from ase import Atoms
from ase.build import bulk
from polymlp_lab import PolymlpLabError, load_potential

PERIODIC_MAX_CUTOFF = 12.0  # Å; larger cutoffs make the periodic image grid huge (slow)


def structures(system):
    if system == "al":
        return [
            ("cluster", Atoms("Al3", positions=[[0, 0, 0], [2.5, 0, 0], [0.3, 2.6, 0.4]])),
            ("crystal", bulk("Al", "fcc", a=4.05)),
        ]
    return [
        ("cluster", Atoms("MgO2", positions=[[0, 0, 0], [2.1, 0, 0], [0.2, 2.1, 0.3]])),
        ("crystal", bulk("MgO", "rocksalt", a=4.21)),
    ]


def foreign(stage, exc):
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    return {"problem": f"{stage} raised {kind}: {str(exc)[:500]}",
            "traceback": traceback.format_exc()[-3000:]}


def handle(request):
    try:
        pot = load_potential(request["path"])
    except PolymlpLabError as exc:
        return {"problem": None, "loaded": False, "error": str(exc)[:300]}
    except Exception as exc:
        return foreign("load_potential", exc)
    evaluated = []
    for name, atoms in structures(request["system"]):
        if atoms.pbc.all() and pot.cutoff > PERIODIC_MAX_CUTOFF:
            continue
        try:
            r = pot.evaluate(atoms)
        except PolymlpLabError:
            continue
        except Exception as exc:
            return foreign(f"evaluate({name})", exc)
        parts = {"energy": [r.energy], "energies": r.energies, "forces": r.forces,
                 "stress": [] if r.stress is None else r.stress}
        bad = [k for k, v in parts.items() if not np.all(np.isfinite(np.asarray(v, dtype=float)))]
        if bad:
            return {"problem": f"evaluate({name}) gave non-finite {', '.join(bad)}: "
                               f"energy={r.energy!r} cutoff={pot.cutoff!r}"}
        evaluated.append(name)
    return {"problem": None, "loaded": True, "evaluated": evaluated}


print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    print(json.dumps(handle(json.loads(line))), flush=True)
'''


class Worker:
    """A ``python -c`` process answering load+evaluate requests, one JSON line each."""

    def __init__(self):
        self.proc = None
        self.stderr = None

    def start(self):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE, str(WORKER_MEMORY)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, bufsize=1,
        )
        answer = self._read(120.0)
        assert answer == {"ready": True}, answer

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.stdin.close()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.stderr.close()
        self.proc = None

    def _stderr_tail(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-3000:]

    def _read(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            answer = {"problem": f"no answer within {timeout} s (hang?)", "stderr": self._stderr_tail()}
            self.stop()
            return answer
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            answer = {"problem": f"the worker process died (exit code {code}; -11: "
                                 f"segmentation fault, -6: abort)", "stderr": self._stderr_tail()}
            self.stop()
            return answer
        return json.loads(line)

    def ask(self, path, system):
        if self.proc is None:
            self.start()
        self.proc.stdin.write(json.dumps({"path": str(path), "system": system}) + "\n")
        self.proc.stdin.flush()
        return self._read(ANSWER_TIMEOUT)


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.stop()


# ---------------------------------------------------------------------------------------
# valid files


class ValidFiles(dict):
    """{(system, fmt): bytes}, with a short repr for Hypothesis' reports."""

    def __repr__(self):
        return f"ValidFiles({sorted(self)})"


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory, worker):
    """{(system, fmt): bytes} of valid files; checked (and the worker warmed up) once."""
    folder = tmp_path_factory.mktemp("fuzz_valid")
    out = ValidFiles()
    for system, (elements, extra, seed) in SYSTEMS.items():
        params = model_params(elements, **MODEL, **extra)
        coeffs = np.random.default_rng(seed).normal(scale=1e-3, size=n_features(params))
        pot = Potential.from_params(params, coeffs)
        yaml_path = folder / f"{system}.yaml"
        pot.save(yaml_path)
        lammps_path = folder / f"{system}.lammps"
        pot.save(lammps_path, format="lammps")
        for fmt, path in (("yaml", yaml_path), ("lammps", lammps_path)):
            answer = worker.ask(path, system)
            assert answer == {"problem": None, "loaded": True, "evaluated": ["cluster", "crystal"]}, answer
            out[(system, fmt)] = path.read_bytes()
    return out


# ---------------------------------------------------------------------------------------
# mutations

TOKEN = re.compile(rb"[A-Za-z0-9_.+\-]+")
KEYS = [
    "elements", "cutoff", "pair_type", "feature_type", "model_type", "max_p", "max_l",
    "n_pair_params", "pair_params", "type_pairs", "coeffs", "n_coeffs", "gtinv_order",
    "gtinv_maxl", "gtinv_version", "gtinv_sym", "mass", "type_full", "type_indices",
    "n_type_pairs", "electrostatic", "atomic_energy", "enable_spins", "dataset_type",
    "atom_type_pair", "pair_params_indices", "ele", "scales",
]
SPECIAL = [
    "nan", "NaN", ".nan", "-nan", "inf", "-inf", ".inf", "-.inf", "1e309", "0", "0.0", "-0.0",
    "1e-300", "5e0", "2.0", "4.0", "-1", "true", "False", "null", "~", "[]", "{}", "[0, 1]",
    "''", '"', "'", "-", "#", ":", "[", "]", ",", "&a", "*a", "!!python/none", "---", "...",
    "gaussian", "gtinv", "pair", "Al", "Mg", "O", "Xx",
]
NUMBERS = st.one_of(
    st.integers(-5, 64).map(str),
    st.floats(-12.0, 12.0).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(SPECIAL),
)
STRINGS = st.text(max_size=12)
OPS = ["delete", "duplicate", "swap", "truncate", "replace", "insert_key", "insert_bytes"]


def header_tokens(data: bytes):
    """Tokens of the short lines (everything but the long coefficient/scale lists)."""
    tokens = set()
    for line in data.splitlines():
        if len(line) < 300:
            tokens.update(TOKEN.findall(line))
    return sorted(tokens)


def short(b: bytes, n=120):
    r = repr(b)
    return r if len(r) <= n else r[: n - 3] + "..."


def mutate(draw, data: bytes, fmt: str, ops=OPS, max_line=None):
    """One to three random edits of ``data``; returns (bytes, descriptions).

    ``ops``: the kinds of edit to choose from; ``max_line``: replace tokens only in lines
    shorter than this (the header fields rather than the long coefficient lists).
    """
    tokens = header_tokens(data)
    done = []
    for _ in range(draw(st.integers(1, 3), label="number of edits")):
        lines = data.splitlines(keepends=True)
        op = draw(st.sampled_from(ops), label="edit")
        if op in ("delete", "duplicate", "swap", "replace") and not lines:
            continue
        if op == "delete":
            i = draw(st.integers(0, len(lines) - 1), label="line")
            done.append(f"delete line {i + 1}: {short(lines[i])}")
            del lines[i]
        elif op == "duplicate":
            i = draw(st.integers(0, len(lines) - 1), label="line")
            done.append(f"duplicate line {i + 1}: {short(lines[i])}")
            lines.insert(i + 1, lines[i])
        elif op == "swap":
            i = draw(st.integers(0, len(lines) - 1), label="line")
            j = draw(st.integers(0, len(lines) - 1), label="other line")
            done.append(f"swap lines {i + 1} and {j + 1}")
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":
            joined = b"".join(lines)
            n = draw(st.integers(0, len(joined)), label="byte")
            done.append(f"truncate at byte {n} of {len(joined)}")
            lines = [joined[:n]]
        elif op == "replace":
            candidates = [
                i for i, line in enumerate(lines)
                if TOKEN.search(line) and (max_line is None or len(line) < max_line)
            ]
            if not candidates:
                continue
            i = draw(st.sampled_from(candidates), label="line")
            matches = list(TOKEN.finditer(lines[i]))
            m = draw(st.sampled_from(matches), label="token")
            new = draw(
                st.one_of(st.sampled_from(tokens).map(bytes.decode), NUMBERS, STRINGS),
                label="replacement",
            ).encode("utf-8")
            done.append(f"line {i + 1}: replace {m.group()!r} by {new!r}")
            lines[i] = lines[i][: m.start()] + new + lines[i][m.end():]
        elif op == "insert_key":
            key = draw(st.one_of(st.sampled_from(KEYS), st.from_regex(r"[a-z_]{1,10}", fullmatch=True)),
                       label="key")
            value = draw(st.one_of(NUMBERS, STRINGS), label="value")
            text = f"{key}: {value}\n" if fmt == "yaml" else f"{value} # {key}\n"
            i = draw(st.integers(0, len(lines)), label="position")
            done.append(f"insert before line {i + 1}: {text!r}")
            lines.insert(i, text.encode("utf-8"))
        elif op == "insert_bytes":
            joined = b"".join(lines)
            n = draw(st.integers(0, len(joined)), label="byte")
            junk = draw(st.binary(min_size=1, max_size=8), label="bytes")
            done.append(f"insert {junk!r} at byte {n}")
            lines = [joined[:n] + junk + joined[n:]]
        data = b"".join(lines)
    return data, done


def describe(original: bytes, mutated: bytes, edits):
    """Readable record of the example: the edits and a diff (long lines shortened)."""
    def cut(b):
        return [line[:200] for line in b.decode("utf-8", errors="replace").splitlines()]

    diff = difflib.unified_diff(cut(original), cut(mutated), "valid", "mutated", lineterm="", n=1)
    return "edits:\n  " + "\n  ".join(edits) + "\n" + "\n".join(list(diff)[:60])


def check(worker, path, system, original, mutated, edits):
    path.write_bytes(mutated)
    record = describe(original, mutated, edits)
    note(record)
    answer = worker.ask(path, system)
    if answer["problem"] is None:  # statistics: pytest --hypothesis-show-statistics
        event("rejected with PotentialFileError" if not answer["loaded"]
              else f"loaded, evaluated {answer['evaluated'] or 'nothing'}")
    if answer["problem"] is not None:
        details = "\n".join(answer.get(k, "") for k in ("traceback", "stderr") if answer.get(k))
        pytest.fail(f"{answer['problem']}\n{record}\n{details}", pytrace=False)


# ---------------------------------------------------------------------------------------
# the fuzz tests


CASES = [("al", "yaml"), ("mgo", "yaml"), ("al", "lammps"), ("mgo", "lammps")]


@pytest.mark.parametrize("system, fmt", CASES)
@FUZZ
@given(data=st.data())
def test_fuzz_file(valid_files, worker, tmp_path, system, fmt, data):
    """Any of the edits, anywhere in the file."""
    original = valid_files[(system, fmt)]
    mutated, edits = mutate(data.draw, original, fmt)
    check(worker, tmp_path / f"polymlp.{fmt}", system, original, mutated, edits)


@pytest.mark.parametrize("system, fmt", CASES)
@FUZZ
@given(data=st.data())
def test_fuzz_header_values(valid_files, worker, tmp_path, system, fmt, data):
    """Token replacements and key insertions in the model fields (not the coefficients)."""
    original = valid_files[(system, fmt)]
    mutated, edits = mutate(data.draw, original, fmt, ops=["replace", "replace", "insert_key"],
                            max_line=300)
    check(worker, tmp_path / f"polymlp.{fmt}", system, original, mutated, edits)


def test_worker_answers_a_clean_rejection(worker, tmp_path):
    """The harness itself: a missing file is rejected with our error, which is no problem."""
    answer = worker.ask(tmp_path / "missing.yaml", "al")
    assert answer["problem"] is None and answer["loaded"] is False
    assert "no such file" in answer["error"]

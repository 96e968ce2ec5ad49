"""Reading and writing polynomial MLP files (polymlp.yaml and the legacy polymlp.lammps).

pypolymlp owns the formats: files are parsed into its ``PolymlpParamsSingle`` by its own
loaders. Before that, this module checks every field so that a bad file raises
PotentialFileError naming the file, line and key, instead of an IndexError or a silent
misread deep inside the loader.
"""

import math
import os
from pathlib import Path

import numpy as np
import yaml
from ase.data import chemical_symbols

from .errors import PotentialFileError

YAML_REQUIRED = (
    "elements", "cutoff", "pair_type", "feature_type", "model_type", "max_p", "max_l",
    "n_pair_params", "pair_params", "type_pairs", "coeffs",
)
YAML_GTINV = ("gtinv_order", "gtinv_maxl", "gtinv_version")
YAML_OPTIONAL = (
    "enable_spins", "dataset_type", "atomic_energy", "electrostatic", "mass", "gtinv_sym",
    "n_type_pairs", "type_full", "type_indices", "n_coeffs",
) + YAML_GTINV
YAML_KNOWN = frozenset(YAML_REQUIRED + YAML_OPTIONAL)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it


def _fail(path, message, line=None, key=None):
    raise PotentialFileError(message, path=path, line=line, key=key)


def _as_int(path, value, key, low=None, high=None, line=None):
    """An integer given as an int (yaml) or as digits (text); 4.0 or '4' in yaml are refused,
    since pypolymlp hands these values to C++ as they are."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            _fail(path, f"expected an integer, found {value!r}", line, key)
    elif isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        _fail(path, f"expected an integer, found {value!r}", line, key)
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(path, f"{value} is out of range [{low}, {high}]", line, key)
    return int(value)


def _as_float(path, value, key, line=None, low=None, high=None, text=False):
    """A finite number: int or float in yaml, any float literal in the text format."""
    if text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            _fail(path, f"expected a number, found {value!r}", line, key)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        _fail(path, f"expected a number, found {value!r}", line, key)
    number = float(value)
    if not math.isfinite(number):
        _fail(path, f"expected a finite number, found {value!r}", line, key)
    if (low is not None and number < low) or (high is not None and number > high):
        _fail(path, f"{number} is out of range [{low}, {high}]", line, key)
    return number


def _as_list(path, value, key, length=None, line=None):
    if not isinstance(value, list):
        _fail(path, f"expected a list, found {value!r}", line, key)
    if length is not None and len(value) != length:
        _fail(path, f"expected {length} values, found {len(value)}", line, key)
    return value


def _check_elements(path, elements, line=None):
    if not isinstance(elements, (list, tuple)) or not elements:
        _fail(path, "expected a non-empty list of element symbols", line, "elements")
    for e in elements:
        if str(e) not in chemical_symbols[1:]:
            _fail(path, f"'{e}' is not a chemical element", line, "elements")
    if len(set(map(str, elements))) != len(elements):
        _fail(path, "elements are repeated", line, "elements")


CUTOFF_RANGE = (1.0, 30.0)  # Å; published potentials use 4-12 Å
BETA_RANGE = (0.0, 100.0)  # 1/Å², Gaussian exponents


def _check_model(path, model, line_of=lambda key: None, text=False):
    """Checks shared by both formats on a dict of model keys."""
    if model["pair_type"] != "gaussian":
        _fail(path, f"pair_type '{model['pair_type']}' is not supported (gaussian only)",
              line_of("pair_type"), "pair_type")
    if model["feature_type"] not in ("gtinv", "pair"):
        _fail(path, f"feature_type must be gtinv or pair, found '{model['feature_type']}'",
              line_of("feature_type"), "feature_type")
    _as_float(path, model["cutoff"], "cutoff", line_of("cutoff"), *CUTOFF_RANGE, text=text)
    mt_max = 4 if model["feature_type"] == "gtinv" else 2
    _as_int(path, model["model_type"], "model_type", 1, mt_max, line_of("model_type"))
    _as_int(path, model["max_p"], "max_p", 1, 3, line_of("max_p"))
    return _as_int(path, model["max_l"], "max_l", 0, 20, line_of("max_l"))


def _check_pair_param_row(path, row, line, text=False):
    if len(row) != 2:
        _fail(path, f"each row must be [beta, r0], found {row!r}", line, "pair_params")
    _as_float(path, row[0], "pair_params", line, *BETA_RANGE, text=text)
    _as_float(path, row[1], "pair_params", line, -30.0, 30.0, text=text)


def _check_type_pairs(path, pairs, n_type, line=None):
    """Every (i, j), i <= j, exactly once."""
    expected = {(i, j) for i in range(n_type) for j in range(i, n_type)}
    seen = set()
    for pair in pairs:
        if len(pair) != 2 or pair[0] > pair[1] or tuple(pair) in seen:
            _fail(path, f"atom_type_pair {list(pair)} must be two types i <= j, each pair once",
                  line, "type_pairs")
        seen.add(tuple(pair))
    if seen != expected:
        missing = sorted(expected - seen)
        _fail(path, f"type pairs {missing} are missing for {n_type} elements", line, "type_pairs")


def validate_yaml(path):
    """Parse and check a polymlp.yaml file; returns the mapping."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        _fail(path, f"not a text file ({exc.reason})")
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # libyaml marks the end of a truncated file one line past its last line
        line = min(mark.line + 1, max(1, len(text.splitlines()))) if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        _fail(path, f"not valid YAML ({problem}); is the file truncated?", line)
    if not isinstance(data, dict):
        _fail(path, "expected a mapping of keys (is this a polymlp.yaml file?)")
    key_line = {}  # top-level key -> its line number
    for n, line in enumerate(text.splitlines(), 1):
        key = line.split(":", 1)[0]
        if ":" in line and key and not line[0].isspace() and not line.startswith(("-", "#")):
            if key in key_line:
                _fail(path, f"key repeated (first on line {key_line[key]})", n, key)
            key_line[key] = n
    line_of = key_line.get

    for key in data:
        if key not in YAML_KNOWN:
            _fail(path, "unknown key", line_of(key), key)
    required = YAML_REQUIRED + (YAML_GTINV if data.get("feature_type") == "gtinv" else ())
    for key in required:
        if key not in data or data[key] is None:
            _fail(path, "required key is missing (is the file truncated?)", None, key)
    _check_elements(path, data["elements"], line_of("elements"))
    max_l = _check_model(path, data, line_of)
    n_type = len(data["elements"])
    if data["feature_type"] == "gtinv":
        order = _as_int(path, data["gtinv_order"], "gtinv_order", 1, 6, line_of("gtinv_order"))
        maxl = _as_list(path, data["gtinv_maxl"], "gtinv_maxl", order - 1, line_of("gtinv_maxl"))
        for v in maxl:
            _as_int(path, v, "gtinv_maxl", 0, max_l, line_of("gtinv_maxl"))
        _as_int(path, data["gtinv_version"], "gtinv_version", 1, 2, line_of("gtinv_version"))
    n_pair = _as_int(path, data["n_pair_params"], "n_pair_params", 1, None, line_of("n_pair_params"))
    rows = _as_list(path, data["pair_params"], "pair_params", n_pair, line_of("pair_params"))
    for row in rows:
        _check_pair_param_row(path, _as_list(path, row, "pair_params"), line_of("pair_params"))
    tp_line = line_of("type_pairs")
    pairs = []
    for tp in _as_list(path, data["type_pairs"], "type_pairs", None, tp_line):
        if not isinstance(tp, dict) or set(tp) != {"atom_type_pair", "pair_params_indices"}:
            _fail(path, "each entry needs atom_type_pair and pair_params_indices", tp_line,
                  "type_pairs")
        pair = _as_list(path, tp["atom_type_pair"], "atom_type_pair", 2, tp_line)
        pairs.append([_as_int(path, t, "atom_type_pair", 0, n_type - 1, tp_line) for t in pair])
        for n in _as_list(path, tp["pair_params_indices"], "pair_params_indices", None, tp_line):
            _as_int(path, n, "pair_params_indices", 0, n_pair - 1, tp_line)
    _check_type_pairs(path, pairs, n_type, tp_line)
    if "type_full" in data:
        _as_int(path, data["type_full"], "type_full", 0, 1, line_of("type_full"))
        if "type_indices" not in data:
            _fail(path, "type_full needs type_indices", line_of("type_full"), "type_indices")
    coeffs = data["coeffs"]
    if not isinstance(coeffs, list) or not coeffs:
        _fail(path, "expected a non-empty list of coefficients", line_of("coeffs"), "coeffs")
    for v in coeffs:
        _as_float(path, v, "coeffs", line_of("coeffs"))
    if "n_coeffs" in data:
        n = _as_int(path, data["n_coeffs"], "n_coeffs", 1, None, line_of("n_coeffs"))
        if n != len(coeffs):
            _fail(path, f"n_coeffs is {n} but {len(coeffs)} coefficients follow",
                  line_of("coeffs"), "coeffs")
    return data


class _Lines:
    """Sequential reader of the legacy format, tracking line numbers for errors."""

    def __init__(self, path):
        self.path = path
        self.lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        self.index = 0

    def peek(self):
        return self.lines[self.index] if self.index < len(self.lines) else ""

    def values(self, key):
        if self.index >= len(self.lines):
            _fail(self.path, "file ends here (truncated?)", self.index + 1, key)
        text = self.lines[self.index].split("#")[0].split()
        self.index += 1
        if not text:
            _fail(self.path, "expected a value", self.index, key)
        return text


def validate_lammps(path):
    """Check a legacy polymlp.lammps file field by field; returns a dict of its model keys."""
    r = _Lines(path)
    elements = r.values("elements")
    _check_elements(path, elements, 1)
    model, lines = {}, {}
    for key in ("cutoff", "pair_type", "feature_type", "model_type", "max_p", "max_l"):
        lines[key] = r.index + 1
        model[key] = r.values(key)[0]
    max_l = _check_model(path, model, lines.get, text=True)
    if model["feature_type"] == "gtinv":
        order = _as_int(path, r.values("gtinv_order")[0], "gtinv_order", 1, 6, r.index)
        maxl = r.values("gtinv_maxl")
        if len(maxl) != order - 1:
            _fail(path, f"expected {order - 1} values for gtinv_order {order}", r.index,
                  "gtinv_maxl")
        for v in maxl:
            _as_int(path, v, "gtinv_maxl", 0, max_l, r.index)
        r.values("gtinv_sym")
    n_coeffs = _as_int(path, r.values("n_coeffs")[0], "n_coeffs", 1, None, r.index)
    for key in ("coeffs", "scales"):
        row = r.values(key)
        if len(row) != n_coeffs:
            _fail(path, f"expected {n_coeffs} values, found {len(row)}", r.index, key)
        for v in row:
            number = _as_float(path, v, key, r.index, text=True)
            if key == "scales" and number <= 0:
                _fail(path, f"scales must be positive, found {v}", r.index, key)
    n_pair = _as_int(path, r.values("n_pair_params")[0], "n_pair_params", 1, None, r.index)
    for _ in range(n_pair):
        _check_pair_param_row(path, r.values("pair_params"), r.index, text=True)
    masses = r.values("mass")
    if len(masses) != len(elements):
        _fail(path, f"expected {len(elements)} masses", r.index, "mass")
    for v in masses:
        _as_float(path, v, "mass", r.index, 0.0, None, text=True)
    r.values("electrostatic")
    if "gtinv_version" in r.peek():
        _as_int(path, r.values("gtinv_version")[0], "gtinv_version", 1, 2, r.index)
    if "n_type_pairs" in r.peek():
        n_tp = _as_int(path, r.values("n_type_pairs")[0], "n_type_pairs", 1, None, r.index)
        start = r.index + 1
        pairs = []
        for _ in range(n_tp):
            pair = r.values("atom_type_pair")
            if len(pair) < 2:
                _fail(path, "expected two atom types", r.index, "atom_type_pair")
            pairs.append([_as_int(path, t, "atom_type_pair", 0, len(elements) - 1, r.index)
                          for t in pair[:2]])
            for n in r.values("pair_params_indices"):
                _as_int(path, n, "pair_params_indices", 0, n_pair - 1, r.index)
        _check_type_pairs(path, pairs, len(elements), start)
    if "type_full" in r.peek():
        r.values("type_full")
        r.values("type_indices")
    for n in range(r.index, len(r.lines)):
        if r.lines[n].split("#")[0].strip():
            _fail(path, "unexpected content after the last field", n + 1)
    return {"elements": elements, **model}


def read_potential_file(path):
    """(pypolymlp PolymlpParamsSingle, coefficients) of one file, after validation."""
    from pypolymlp.core.io_polymlp_legacy import load_mlp_lammps
    from pypolymlp.core.io_polymlp_yaml import load_mlp_yaml

    path = Path(path)
    if path.is_dir():
        raise PotentialFileError("is a directory, not a potential file", path=path)
    if not path.is_file():
        raise PotentialFileError("no such file", path=path)
    try:  # the legacy text format's first line ends with '# ele'
        with open(path, encoding="utf-8", errors="replace") as f:
            legacy = "# ele" in f.readline()
    except OSError as exc:
        raise PotentialFileError(f"cannot be read ({exc.strerror})", path=path) from exc
    validate, loader = ((validate_lammps, load_mlp_lammps) if legacy
                        else (validate_yaml, load_mlp_yaml))
    validate(path)
    try:
        params, coeffs = loader(str(path))
    except Exception as exc:  # the file passed our checks; report pypolymlp's objection
        raise PotentialFileError(f"pypolymlp cannot read it: {exc}", path=path) from exc
    return params, np.asarray(coeffs, dtype=np.float64)


def write_yaml(path, params, coeffs):
    """Write polymlp.yaml with pypolymlp's own writer."""
    from pypolymlp.core.io_polymlp_yaml import save_mlp_yaml

    save_mlp_yaml(params, np.asarray(coeffs), np.ones(len(coeffs)), filename=os.fspath(path))


def write_lammps(path, params, coeffs):
    """Write the legacy polymlp.lammps text format, as pypolymlp's legacy loader reads it."""
    from pypolymlp.core.utils import mass_table

    model = params.model
    lines = [f"{' '.join(params.elements)} # ele"]
    lines += [f"{model.cutoff!r} # cutoff", f"{model.pair_type} # pair_type",
              f"{model.feature_type} # des_type", f"{model.model_type} # model_type",
              f"{model.max_p} # max_p", f"{model.max_l} # max_l"]
    gtinv = model.feature_type == "gtinv"
    if gtinv:
        lines += [f"{model.gtinv.order} # gtinv_order",
                  f"{' '.join(str(v) for v in model.gtinv.max_l)} # gtinv_maxl",
                  f"{' '.join('0' for _ in model.gtinv.max_l)} # gtinv_sym"]
    lines.append(f"{len(coeffs)} # number of regression coefficients")
    lines.append(" ".join(repr(float(c)) for c in coeffs) + " # reg. coeffs")
    lines.append(" ".join("1.0" for _ in coeffs) + " # scales")
    lines.append(f"{len(model.pair_params)} # number of parameters")
    lines += [f"{float(b)!r} {float(r0)!r} # pair func. params" for b, r0 in model.pair_params]
    masses = params.mass if params.mass is not None else [mass_table()[e] for e in params.elements]
    lines.append(" ".join(repr(float(m)) for m in masses) + " # atomic mass")
    lines.append("False # electrostatic")
    if gtinv:
        lines.append(f"{model.gtinv.version} # gtinv_version")
    cond = model.pair_params_conditional
    lines.append(f"{len(cond)} # n_type_pairs")
    for types, indices in cond.items():
        lines.append(f"{types[0]} {types[1]} # atom type pair")
        lines.append(f"{' '.join(str(int(n)) for n in indices)} # pair params indices")
    type_full = True if params.type_full is None else bool(params.type_full)
    type_indices = params.type_indices if params.type_indices is not None else range(params.n_type)
    lines.append(f"{int(type_full)} # type_full")
    lines.append(f"{' '.join(str(int(t)) for t in type_indices)} # type_indices")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def error_dataset_entry(data, error_key=None, *, last_if_none=False) -> dict:
    """The dataset entry of a parsed polymlp_error.yaml (pypolymlp's ``write_error_yaml``)
    that a model's error is taken from: the first of ``prediction_errors`` (else
    ``prediction_errors_test``) whose dataset name contains ``error_key`` (None: 'test' in
    any case; every dataset of ``prediction_errors_test`` is a test set). None found: the
    last entry with ``last_if_none``, else LookupError naming what there is. A file of
    another layout raises ValueError."""
    if not isinstance(data, dict):
        raise ValueError("not a mapping of prediction errors")
    section = "prediction_errors" if "prediction_errors" in data else "prediction_errors_test"
    entries = data.get(section)
    if not isinstance(entries, list) or not entries or not all(
            isinstance(e, dict) and "dataset" in e for e in entries):
        raise ValueError("no list 'prediction_errors' (or 'prediction_errors_test') of "
                         "datasets")
    names = [str(e["dataset"]) for e in entries]
    if error_key is None:
        found = [e for e, n in zip(entries, names) if "test" in n.lower()]
        if not found and section == "prediction_errors_test":
            found = entries
    else:
        found = [e for e, n in zip(entries, names) if error_key in n]
    if not found and last_if_none:
        return entries[-1]
    if not found:
        key = "test" if error_key is None else error_key
        raise LookupError(f"no dataset matching '{key}' (has: {', '.join(names)})")
    return found[0]

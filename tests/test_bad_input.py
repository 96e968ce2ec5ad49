"""Bad input raises our exceptions, with messages that name the problem.

Every case checks the exact exception type (a subclass of PolymlpLabError) and that the
message names the file, the line (where known), the key, the element or the atom pair.
The potentials are made here (random coefficients), so the tests run anywhere.

Helpers are defined in this file on purpose: tests/conftest.py belongs to another suite.
"""

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write

from polymlp_lab import (
    AtomsTooCloseError,
    InvalidStructureError,
    PolymlpCalculator,
    PolymlpLabError,
    Potential,
    PotentialFileError,
    UnknownElementError,
    load_potential,
)
from polymlp_lab.cli import main
from polymlp_lab.models import model_params, n_features

# ---------------------------------------------------------------------------------------
# helpers

MODEL = dict(cutoff=5.0, gtinv_order=2, gtinv_maxl=(4,), gaussian_params2=(0.0, 4.0, 4))
SYSTEMS = {
    "al": (("Al",), dict(), 0),  # model_type 4: 495 coefficients
    "mgo": (("Mg", "O"), dict(model_type=3), 1),  # two elements, 3 type pairs: 235
}
UNSET = object()


def make_potential(system):
    elements, extra, seed = SYSTEMS[system]
    params = model_params(elements, **MODEL, **extra)
    coeffs = np.random.default_rng(seed).normal(scale=1e-3, size=n_features(params))
    return Potential.from_params(params, coeffs)


def line_of(text, prefix):
    """1-based number of the first line starting with ``prefix``."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(prefix):
            return n
    raise AssertionError(f"no line starts with {prefix!r}")


def line_containing(text, fragment):
    for n, line in enumerate(text.splitlines(), 1):
        if fragment in line:
            return n
    raise AssertionError(f"no line contains {fragment!r}")


def offset_of_line(text, n):
    """Character offset where 1-based line ``n`` starts."""
    return sum(len(s) for s in text.splitlines(keepends=True)[: n - 1])


def put(tmp_path, name, content) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def replace_once(text, old, new):
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


def file_error(path, *, line=UNSET, key=UNSET, words=()):
    """Load ``path``, expect exactly PotentialFileError, check attributes and message."""
    with pytest.raises(PotentialFileError) as info:
        load_potential(path)
    err = info.value
    message = str(err)
    assert type(err) is PotentialFileError
    assert Path(err.path).name == path.name
    assert path.name in message, message
    if line is not UNSET:
        assert err.line == line, message
        if line is not None:
            assert f"line {line}" in message, message
    if key is not UNSET:
        assert err.key == key, message
        if key is not None:
            assert f"key '{key}'" in message, message
    for word in words:
        assert word in message, message
    return err


def loads_or_file_error(path):
    """The potential, or None when it is rejected with PotentialFileError (nothing else)."""
    try:
        return load_potential(path)
    except PotentialFileError as err:
        assert path.name in str(err)
        return None


def al_cluster():
    return Atoms("Al3", positions=[[0, 0, 0], [2.5, 0, 0], [0.3, 2.6, 0.4]])


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    """Text of valid files: {"al.yaml", "al.lammps", "mgo.yaml", "mgo.lammps"}."""
    folder = tmp_path_factory.mktemp("valid_potentials")
    out = {}
    for system in SYSTEMS:
        pot = make_potential(system)
        yaml_path = folder / f"{system}.yaml"
        pot.save(yaml_path)
        lammps_path = folder / f"{system}.lammps"
        pot.save(lammps_path, format="lammps")
        out[yaml_path.name] = yaml_path.read_text()
        out[lammps_path.name] = lammps_path.read_text()
    return out


@pytest.fixture(scope="module")
def al_pot(texts, tmp_path_factory):
    path = tmp_path_factory.mktemp("al") / "polymlp.yaml"
    path.write_text(texts["al.yaml"])
    return load_potential(path)


@pytest.fixture(scope="module")
def mgo_pot(texts, tmp_path_factory):
    path = tmp_path_factory.mktemp("mgo") / "polymlp.yaml"
    path.write_text(texts["mgo.yaml"])
    return load_potential(path)


def test_valid_files_load_and_agree(texts, tmp_path):
    """Sanity check of the starting point of every mutation below."""
    for system, atoms in (("al", bulk("Al", "fcc", a=4.05)), ("mgo", bulk("MgO", "rocksalt", a=4.21))):
        y = load_potential(put(tmp_path, f"{system}.yaml", texts[f"{system}.yaml"]))
        l = load_potential(put(tmp_path, f"{system}.lammps", texts[f"{system}.lammps"]))
        assert y.evaluate(atoms).energy == pytest.approx(l.evaluate(atoms).energy, abs=1e-12)


# ---------------------------------------------------------------------------------------
# truncated, empty, binary, missing files


def test_yaml_truncated_half_way_through_coefficients(texts, tmp_path):
    text = texts["al.yaml"]
    start = text.index("coeffs: [")
    path = put(tmp_path, "polymlp.yaml", text[: start + (len(text) - start) // 2])
    file_error(path, line=line_of(text, "coeffs:"), key=None, words=("not valid YAML", "truncated"))


def test_yaml_truncated_right_after_opening_bracket(texts, tmp_path):
    text = texts["al.yaml"]
    path = put(tmp_path, "polymlp.yaml", text[: text.index("coeffs: [") + len("coeffs: [")])
    file_error(path, line=line_of(text, "coeffs:"), key=None, words=("not valid YAML", "truncated"))


@pytest.mark.parametrize(
    "cut_before, missing",
    [
        ("coeffs:", "coeffs"),
        ("n_type_pairs:", "type_pairs"),  # before the type_pairs block
        ("type_pairs:", "type_pairs"),
        ("n_pair_params:", "n_pair_params"),
        ("gtinv_order:", "n_pair_params"),  # required keys are checked in file order
        ("cutoff:", "cutoff"),
        ("enable_spins:", "cutoff"),  # only the elements line is left
    ],
)
def test_yaml_truncated_before_a_key(texts, tmp_path, cut_before, missing):
    text = texts["mgo.yaml"]
    path = put(tmp_path, "polymlp.yaml", text[: offset_of_line(text, line_of(text, cut_before))])
    file_error(path, key=missing, words=("required key is missing", "truncated"))


def test_yaml_truncated_in_the_middle_of_a_key(texts, tmp_path):
    text = texts["al.yaml"]
    cut = text.index("max_l:") + 3  # ends with "max"
    path = put(tmp_path, "polymlp.yaml", text[:cut])
    err = file_error(path, key=None, words=("not valid YAML",))
    assert err.line in (line_of(text, "max_l:"), line_of(text, "max_l:") - 1)


@pytest.mark.parametrize(
    "system, cut, key, words",
    [
        # after the first line, the cutoff is missing
        ("al", lambda t: offset_of_line(t, 2), "cutoff", ("file ends here",)),
        # after "495 # number of regression coefficients"
        ("al", lambda t: offset_of_line(t, 12), "coeffs", ("file ends here",)),
        # after the second pair-function row
        ("al", lambda t: offset_of_line(t, line_containing(t, "# pair func.") + 2), "pair_params",
         ("file ends here",)),
        ("al", lambda t: offset_of_line(t, line_containing(t, "# atomic mass")), "mass",
         ("file ends here",)),
        # inside the type-pairs block of a two-element file
        ("mgo", lambda t: offset_of_line(t, line_containing(t, "# n_type_pairs") + 1),
         "atom_type_pair", ("file ends here",)),
        ("mgo", lambda t: offset_of_line(t, line_containing(t, "# atom type pair") + 1),
         "pair_params_indices", ("file ends here",)),
        ("mgo", lambda t: offset_of_line(t, line_containing(t, "# type_full") + 1),
         "type_indices", ("file ends here",)),
    ],
    ids=["after-elements", "after-n_coeffs", "mid-pair-params", "before-mass",
         "after-n_type_pairs", "after-atom-type-pair", "after-type_full"],
)
def test_lammps_truncated_at_a_line(texts, tmp_path, system, cut, key, words):
    text = texts[f"{system}.lammps"]
    truncated = text[: cut(text)]
    path = put(tmp_path, "polymlp.lammps", truncated)
    file_error(path, line=len(truncated.splitlines()) + 1, key=key, words=words)


def test_lammps_truncated_half_way_through_coefficients(texts, tmp_path):
    text = texts["al.lammps"]
    line = line_containing(text, "# reg. coeffs")
    start = offset_of_line(text, line)
    path = put(tmp_path, "polymlp.lammps", text[: start + len(text.splitlines()[line - 1]) // 2])
    file_error(path, line=line, key="coeffs", words=("expected 495 values, found",))


def test_lammps_truncated_in_the_middle_of_the_n_type_pairs_line(texts, tmp_path):
    text = texts["mgo.lammps"]
    line = line_containing(text, "# n_type_pairs")
    path = put(tmp_path, "polymlp.lammps", text[: offset_of_line(text, line) + 5])  # "3 # n"
    file_error(path, line=line, key=None, words=("unexpected content",))


def test_lammps_without_the_optional_tail_is_the_legacy_format(texts, tmp_path):
    """Cut right before "n_type_pairs": an older legacy file (all pairs use all Gaussians)."""
    text = texts["mgo.lammps"]
    cut = offset_of_line(text, line_containing(text, "# n_type_pairs"))
    short = loads_or_file_error(put(tmp_path, "short.lammps", text[:cut]))
    full = load_potential(put(tmp_path, "full.lammps", text))
    if short is not None:
        atoms = bulk("MgO", "rocksalt", a=4.21)
        assert short.evaluate(atoms).energy == pytest.approx(full.evaluate(atoms).energy, abs=1e-12)


@pytest.mark.parametrize("suffix", ["yaml", "lammps"])
@pytest.mark.parametrize("content", ["", "\n\n", "   \n"], ids=["empty", "newlines", "blanks"])
def test_empty_file(tmp_path, suffix, content):
    path = put(tmp_path, f"polymlp.{suffix}", content)
    file_error(path, line=None, key=None, words=("expected a mapping",))


@pytest.mark.parametrize(
    "content",
    [
        bytes(range(256)) * 4,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd",
        np.random.default_rng(7).integers(128, 256, 4096, dtype=np.uint8).tobytes(),
    ],
    ids=["all-bytes", "png-header", "random-high-bytes"],
)
def test_binary_garbage(tmp_path, content):
    path = put(tmp_path, "polymlp.yaml", content)
    file_error(path, line=None, key=None, words=("not a text file",))


def test_gzipped_yaml(texts, tmp_path):
    path = put(tmp_path, "polymlp.yaml", gzip.compress(texts["al.yaml"].encode()))
    file_error(path, line=None, key=None, words=("not a text file",))


def test_binary_garbage_after_a_legacy_first_line(tmp_path):
    path = put(tmp_path, "polymlp.lammps", b"\xff\xfe\x00 # ele\n" + bytes(range(256)))
    file_error(path, line=1, key="elements", words=("is not a chemical element",))


def test_nonexistent_path(tmp_path):
    file_error(tmp_path / "missing.yaml", line=None, key=None, words=("no such file",))


def test_directory_instead_of_file(tmp_path):
    folder = tmp_path / "potential_dir"
    folder.mkdir()
    file_error(folder, line=None, key=None, words=("is a directory",))


def test_empty_list_of_files():
    with pytest.raises(PotentialFileError, match="no potential files"):
        load_potential([])


def test_hybrid_names_the_bad_file(texts, tmp_path):
    good = put(tmp_path, "good.yaml", texts["al.yaml"])
    bad = put(tmp_path, "bad.yaml", replace_once(texts["al.yaml"], "model_type:    4", "model_type:    7"))
    with pytest.raises(PotentialFileError) as info:
        load_potential([good, bad])
    assert Path(info.value.path).name == "bad.yaml" and "bad.yaml" in str(info.value)
    assert info.value.key == "model_type"


# ---------------------------------------------------------------------------------------
# wrong coefficient counts


def drop_last_yaml_coefficient(text, n):
    text = replace_once(text, f"n_coeffs: {n}\n", f"n_coeffs: {n - 1}\n")
    return re.sub(r",\s*[^,\]]+\]\s*$", "]\n", text)


def test_yaml_one_coefficient_too_few(texts, tmp_path):
    path = put(tmp_path, "polymlp.yaml", drop_last_yaml_coefficient(texts["al.yaml"], 495))
    file_error(path, key="coeffs", words=("494 coefficients given", "495 features"))


def test_yaml_one_coefficient_too_few_two_elements(texts, tmp_path):
    path = put(tmp_path, "polymlp.yaml", drop_last_yaml_coefficient(texts["mgo.yaml"], 235))
    file_error(path, key="coeffs", words=("234 coefficients given", "235 features"))


@pytest.mark.parametrize("n", [494, 496, 1])
def test_yaml_n_coeffs_disagrees_with_the_list(texts, tmp_path, n):
    text = texts["al.yaml"]
    path = put(tmp_path, "polymlp.yaml", replace_once(text, "n_coeffs: 495", f"n_coeffs: {n}"))
    file_error(path, line=line_of(text, "coeffs:"), key="coeffs",
               words=(f"n_coeffs is {n} but 495 coefficients follow",))


def lammps_drop_last_coefficient(text):
    lines = text.splitlines(keepends=True)
    for n, line in enumerate(lines):
        if "# reg. coeffs" in line or "# scales" in line:
            values, comment = line.split("#", 1)
            lines[n] = " ".join(values.split()[:-1]) + " #" + comment
    return replace_once("".join(lines), "495 # number", "494 # number")


def test_lammps_one_coefficient_too_few(texts, tmp_path):
    path = put(tmp_path, "polymlp.lammps", lammps_drop_last_coefficient(texts["al.lammps"]))
    file_error(path, key="coeffs", words=("494 coefficients given", "495 features"))


def test_lammps_n_coeffs_disagrees_with_the_list(texts, tmp_path):
    text = texts["al.lammps"]
    path = put(tmp_path, "polymlp.lammps", replace_once(text, "495 # number", "496 # number"))
    file_error(path, line=line_containing(text, "# reg. coeffs"), key="coeffs",
               words=("expected 496 values, found 495",))


# ---------------------------------------------------------------------------------------
# yaml keys and values


@pytest.mark.parametrize("before", ["max_p:", "elements:", "coeffs:"])
def test_yaml_unknown_key(texts, tmp_path, before):
    text = texts["al.yaml"]
    lines = text.splitlines(keepends=True)
    lines.insert(line_of(text, before) - 1, "bogus_key: 3\n")
    bad = "".join(lines)
    path = put(tmp_path, "polymlp.yaml", bad)
    file_error(path, line=line_of(bad, "bogus_key:"), key="bogus_key", words=("unknown key",))


@pytest.mark.parametrize(
    "key",
    ["elements", "cutoff", "pair_type", "feature_type", "model_type", "max_p", "max_l",
     "n_pair_params", "gtinv_order", "gtinv_maxl", "gtinv_version", "coeffs"],
)
def test_yaml_missing_required_key(texts, tmp_path, key):
    text = texts["al.yaml"]
    lines = text.splitlines(keepends=True)
    del lines[line_of(text, f"{key}:") - 1]
    path = put(tmp_path, "polymlp.yaml", "".join(lines))
    file_error(path, line=None, key=key, words=("required key is missing",))


def test_yaml_key_without_value_is_missing(texts, tmp_path):
    path = put(tmp_path, "polymlp.yaml", replace_once(texts["al.yaml"], "max_p:         2", "max_p:"))
    file_error(path, line=None, key="max_p", words=("required key is missing",))


@pytest.mark.parametrize(
    "old, new, key, found",
    [
        ("cutoff:        5.0", "cutoff:        five", "cutoff", "'five'"),
        ("max_p:         2", "max_p:         two", "max_p", "'two'"),
        ("model_type:    4", "model_type:    abc", "model_type", "'abc'"),
        ("model_type:    4", "model_type:    4.5", "model_type", "4.5"),
        ("n_pair_params: 5", "n_pair_params: x", "n_pair_params", "'x'"),
        ("- [1.0, 4.0]", "- [1.0, abc]", "pair_params", "'abc'"),
        ("coeffs: [", "coeffs: [abc, ", "coeffs", "'abc'"),
        ("cutoff:        5.0", "cutoff:        [5.0]", "cutoff", "[5.0]"),
        ("cutoff:        5.0", "cutoff:        true", "cutoff", "True"),
    ],
    ids=["cutoff", "max_p", "model_type", "model_type-fraction", "n_pair_params",
         "pair_params", "coeffs", "cutoff-list", "cutoff-bool"],
)
def test_yaml_non_numeric_value(texts, tmp_path, old, new, key, found):
    bad = replace_once(texts["al.yaml"], old, new)
    path = put(tmp_path, "polymlp.yaml", bad)
    file_error(path, line=line_of(bad, new.split()[0] if not new.startswith("-") else "pair_params:"),
               key=key, words=(found, "expected"))


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_yaml_non_finite_coefficient(texts, tmp_path, value):
    text = texts["al.yaml"]
    path = put(tmp_path, "polymlp.yaml", replace_once(text, "coeffs: [", f"coeffs: [{value}, "))
    text_bad = path.read_text()
    # the n_coeffs check comes later; the non-finite value is found first
    file_error(path, line=line_of(text_bad, "coeffs:"), key="coeffs", words=("finite",))


@pytest.mark.parametrize("value", ["-5.0", "0.0", "-0.0"])
@pytest.mark.parametrize("fmt", ["yaml", "lammps"])
def test_non_positive_cutoff(texts, tmp_path, fmt, value):
    text = texts[f"al.{fmt}"]
    if fmt == "yaml":
        bad, line = replace_once(text, "cutoff:        5.0", f"cutoff:        {value}"), 9
    else:
        bad, line = replace_once(text, "5.0 # cutoff", f"{value} # cutoff"), 2
    assert bad.splitlines()[line - 1].split("#")[0].split()[-1] == value
    path = put(tmp_path, f"polymlp.{fmt}", bad)
    file_error(path, line=line, key="cutoff", words=("out of range",))


@pytest.mark.parametrize("fmt", ["yaml", "lammps"])
@pytest.mark.parametrize("value", [7, 0, -1])
def test_model_type_out_of_range(texts, tmp_path, fmt, value):
    text = texts[f"al.{fmt}"]
    if fmt == "yaml":
        bad = replace_once(text, "model_type:    4", f"model_type:    {value}")
        line = line_of(text, "model_type:")
    else:
        bad = replace_once(text, "4 # model_type", f"{value} # model_type")
        line = line_containing(text, "# model_type")
    path = put(tmp_path, f"polymlp.{fmt}", bad)
    file_error(path, line=line, key="model_type", words=(f"{value} is out of range [1, 4]",))


def test_pair_feature_model_type_range(texts, tmp_path):
    bad = replace_once(texts["al.yaml"], "feature_type:  gtinv", "feature_type:  pair")
    path = put(tmp_path, "polymlp.yaml", bad)
    file_error(path, line=line_of(bad, "model_type:"), key="model_type",
               words=("4 is out of range [1, 2]",))


@pytest.mark.parametrize("fmt", ["yaml", "lammps"])
@pytest.mark.parametrize("symbol", ["Xx", "al", "X", "Q1"])
def test_bad_element_symbol(texts, tmp_path, fmt, symbol):
    text = texts[f"mgo.{fmt}"]
    if fmt == "yaml":
        bad = replace_once(text, "elements:      [Mg, O]", f"elements:      [Mg, {symbol}]")
    else:
        bad = replace_once(text, "Mg O # ele", f"Mg {symbol} # ele")
    path = put(tmp_path, f"polymlp.{fmt}", bad)
    file_error(path, line=1, key="elements", words=(f"'{symbol}' is not a chemical element",))


@pytest.mark.parametrize("fmt", ["yaml", "lammps"])
def test_repeated_element(texts, tmp_path, fmt):
    text = texts[f"mgo.{fmt}"]
    if fmt == "yaml":
        bad = replace_once(text, "elements:      [Mg, O]", "elements:      [Mg, Mg]")
    else:
        bad = replace_once(text, "Mg O # ele", "Mg Mg # ele")
    file_error(put(tmp_path, f"polymlp.{fmt}", bad), line=1, key="elements", words=("repeated",))


def test_yaml_unsupported_pair_type(texts, tmp_path):
    bad = replace_once(texts["al.yaml"], "pair_type:     gaussian", "pair_type:     sine")
    file_error(put(tmp_path, "polymlp.yaml", bad), line=line_of(bad, "pair_type:"),
               key="pair_type", words=("'sine'", "not supported"))


def test_yaml_gtinv_maxl_count(texts, tmp_path):
    bad = replace_once(texts["al.yaml"], "gtinv_maxl:    [4]", "gtinv_maxl:    [4, 4]")
    file_error(put(tmp_path, "polymlp.yaml", bad), line=line_of(bad, "gtinv_maxl:"),
               key="gtinv_maxl", words=("expected 1 values",))


def test_yaml_n_pair_params_disagrees_with_rows(texts, tmp_path):
    bad = replace_once(texts["al.yaml"], "n_pair_params: 5", "n_pair_params: 6")
    file_error(put(tmp_path, "polymlp.yaml", bad), line=line_of(bad, "pair_params:"),
               key="pair_params", words=("expected 6 values",))


def test_yaml_type_pair_index_out_of_range(texts, tmp_path):
    bad = replace_once(texts["mgo.yaml"], "atom_type_pair:      [1, 1]", "atom_type_pair:      [1, 2]")
    file_error(put(tmp_path, "polymlp.yaml", bad), line=line_of(bad, "type_pairs:"),
               key="atom_type_pair", words=("2 is out of range [0, 1]",))


def test_yaml_top_level_list(tmp_path):
    file_error(put(tmp_path, "polymlp.yaml", "- 1\n- 2\n"), key=None, words=("expected a mapping",))


# ---------------------------------------------------------------------------------------
# lammps fields


def test_lammps_wrong_number_of_scales(texts, tmp_path):
    text = texts["al.lammps"]
    bad = replace_once(text, "1.0 1.0 # scales", "1.0 # scales")
    file_error(put(tmp_path, "polymlp.lammps", bad), line=line_containing(text, "# scales"),
               key="scales", words=("expected 495 values, found 494",))


def test_lammps_zero_scale(texts, tmp_path):
    text = texts["al.lammps"]
    bad = replace_once(text, "1.0 1.0 # scales", "1.0 0.0 # scales")
    file_error(put(tmp_path, "polymlp.lammps", bad), line=line_containing(text, "# scales"),
               key="scales", words=("must be positive",))


def test_lammps_more_pair_params_announced_than_given(texts, tmp_path):
    text = texts["al.lammps"]
    bad = replace_once(text, "5 # number of parameters", "6 # number of parameters")
    # the sixth "row" is the mass line
    file_error(put(tmp_path, "polymlp.lammps", bad), line=line_containing(text, "# atomic mass"),
               key="pair_params", words=("each row must be [beta, r0]", "26.98"))


def test_lammps_fewer_pair_params_announced_than_given(texts, tmp_path):
    text = texts["al.lammps"]
    bad = replace_once(text, "5 # number of parameters", "4 # number of parameters")
    # the fifth row is then read as the masses: the error is on that line
    err = file_error(put(tmp_path, "polymlp.lammps", bad))
    assert err.line == line_containing(text, "0.0 0.0 # pair func.")


@pytest.mark.parametrize("row", ["1.0", "1.0 4.0 7.0"])
def test_lammps_pair_param_row_with_wrong_count(texts, tmp_path, row):
    text = texts["al.lammps"]
    bad = replace_once(text, "1.0 4.0 # pair func.", f"{row} # pair func.")
    file_error(put(tmp_path, "polymlp.lammps", bad), line=line_containing(text, "1.0 4.0 # pair"),
               key="pair_params", words=("each row must be [beta, r0]",))


def test_lammps_wrong_number_of_masses(texts, tmp_path):
    text = texts["mgo.lammps"]
    bad = replace_once(text, "24.31 16.0 # atomic mass", "24.31 # atomic mass")
    file_error(put(tmp_path, "polymlp.lammps", bad), line=line_containing(text, "# atomic mass"),
               key="mass", words=("expected 2 masses",))


def test_lammps_non_numeric_coefficient(texts, tmp_path):
    text = texts["al.lammps"]
    line = line_containing(text, "# reg. coeffs")
    lines = text.splitlines(keepends=True)
    lines[line - 1] = "abc " + lines[line - 1].split(" ", 1)[1]
    file_error(put(tmp_path, "polymlp.lammps", "".join(lines)), line=line, key="coeffs",
               words=("expected a number, found 'abc'",))


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_lammps_non_finite_coefficient(texts, tmp_path, value):
    text = texts["al.lammps"]
    line = line_containing(text, "# reg. coeffs")
    lines = text.splitlines(keepends=True)
    lines[line - 1] = f"{value} " + lines[line - 1].split(" ", 1)[1]
    file_error(put(tmp_path, "polymlp.lammps", "".join(lines)), line=line, key="coeffs",
               words=("finite",))


def test_lammps_content_after_the_last_field(texts, tmp_path):
    text = texts["al.lammps"]
    path = put(tmp_path, "polymlp.lammps", text + "42 # surprise\n")
    file_error(path, line=len(text.splitlines()) + 1, key=None, words=("unexpected content",))


def test_lammps_non_numeric_cutoff(texts, tmp_path):
    bad = replace_once(texts["al.lammps"], "5.0 # cutoff", "five # cutoff")
    file_error(put(tmp_path, "polymlp.lammps", bad), line=2, key="cutoff",
               words=("expected a number, found 'five'",))


# ---------------------------------------------------------------------------------------
# structures


def close_pair():
    return Atoms("Al4", positions=[[0, 0, 0], [3.0, 0, 0], [6.0, 0, 0], [3.3, 0, 0]])


def close_across_boundary():
    return Atoms("Al3", positions=[[0.1, 0, 0], [2.0, 2.0, 2.0], [7.8, 0, 0]], cell=[8, 8, 8], pbc=True)


def close_to_own_image():
    return Atoms("Al", cell=[0.3, 4.0, 4.0], pbc=True)


def nan_position():
    atoms = al_cluster()
    atoms.positions[2, 1] = np.nan
    return atoms


def inf_position():
    atoms = al_cluster()
    atoms.positions[1, 0] = -np.inf
    return atoms


def singular_cell():
    return Atoms("Al2", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[[4, 0, 0], [8, 0, 0], [0, 0, 4]], pbc=True)


def zero_cell():
    return Atoms("Al2", positions=[[0, 0, 0], [2.5, 0, 0]], pbc=True)


def dependent_periodic_vectors():
    """Periodic in x and y, but both lattice vectors point along x."""
    return Atoms("Al2", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[[4, 0, 0], [8, 0, 0], [0, 0, 0]],
                 pbc=[True, True, False])


def nan_cell():
    return Atoms("Al2", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[[np.nan, 0, 0], [0, 4, 0], [0, 0, 4]],
                 pbc=True)


# (structure maker, exact exception type, words of the message, attributes)
STRUCTURE_CASES = {
    "unknown-element": (lambda: Atoms("AlCu", positions=[[0, 0, 0], [2.5, 0, 0]]),
                        UnknownElementError, ("'Cu'", "Al"), {"element": "Cu"}),
    "unknown-element-in-bulk": (lambda: bulk("Cu", "fcc", a=3.6),
                                UnknownElementError, ("'Cu'",), {"element": "Cu"}),
    "too-close": (close_pair, AtomsTooCloseError, ("atoms 1 and 3", "0.300"),
                  {"pair": (1, 3), "distance": pytest.approx(0.3)}),
    "too-close-across-boundary": (close_across_boundary, AtomsTooCloseError,
                                  ("atoms 0 and 2", "0.300"),
                                  {"pair": (0, 2), "distance": pytest.approx(0.3)}),
    "close-to-own-image": (close_to_own_image, AtomsTooCloseError, ("atoms 0 and 0", "0.300"),
                           {"pair": (0, 0), "distance": pytest.approx(0.3)}),
    "empty": (Atoms, InvalidStructureError, ("no atoms",), {}),
    "empty-periodic": (lambda: Atoms(cell=[4, 4, 4], pbc=True), InvalidStructureError,
                       ("no atoms",), {}),
    "nan-position": (nan_position, InvalidStructureError, ("atom 2", "non-finite"), {}),
    "inf-position": (inf_position, InvalidStructureError, ("atom 1", "non-finite"), {}),
    "singular-cell": (singular_cell, InvalidStructureError, (("singular", "linearly dependent"),), {}),
    "zero-cell": (zero_cell, InvalidStructureError, (("singular", "linearly dependent"),), {}),
    "dependent-periodic-vectors": (dependent_periodic_vectors, InvalidStructureError, (("singular", "linearly dependent"),), {}),
    "nan-cell": (nan_cell, InvalidStructureError, ("non-finite",), {}),
}


def check_structure_error(err, expected_type, words, attributes):
    assert type(err) is expected_type, repr(err)
    for word in words:  # a tuple of words: any one of them
        alternatives = word if isinstance(word, tuple) else (word,)
        assert any(w in str(err) for w in alternatives), str(err)
    for name, value in attributes.items():
        assert getattr(err, name) == value, (name, getattr(err, name))


@pytest.mark.parametrize("case", list(STRUCTURE_CASES))
def test_structure_errors(al_pot, case):
    make, expected_type, words, attributes = STRUCTURE_CASES[case]
    with pytest.raises(PolymlpLabError) as info:
        al_pot.evaluate(make())
    check_structure_error(info.value, expected_type, words, attributes)


@pytest.mark.parametrize("case", list(STRUCTURE_CASES))
def test_structure_errors_without_forces(al_pot, case):
    make, expected_type, words, attributes = STRUCTURE_CASES[case]
    with pytest.raises(PolymlpLabError) as info:
        al_pot.evaluate(make(), forces=False)
    check_structure_error(info.value, expected_type, words, attributes)


def test_unknown_element_for_two_element_potential(mgo_pot):
    atoms = Atoms("MgOAl", positions=[[0, 0, 0], [2.1, 0, 0], [0, 2.1, 0]])
    with pytest.raises(UnknownElementError) as info:
        mgo_pot.evaluate(atoms)
    assert info.value.element == "Al"
    assert "'Al'" in str(info.value) and "Mg" in str(info.value) and "O" in str(info.value)


def test_too_close_in_two_element_structure(mgo_pot):
    atoms = Atoms("MgO2", positions=[[0, 0, 0], [2.1, 0, 0], [2.1, 0.4, 0]])
    with pytest.raises(AtomsTooCloseError) as info:
        mgo_pot.evaluate(atoms)
    assert info.value.pair == (1, 2)
    assert "atoms 1 and 2" in str(info.value)


def test_structure_errors_are_value_errors(al_pot):
    with pytest.raises(ValueError):
        al_pot.evaluate(Atoms())


# ---------------------------------------------------------------------------------------
# the ASE calculator


@pytest.mark.parametrize("case", list(STRUCTURE_CASES))
@pytest.mark.parametrize("prop", ["energy", "forces"])
def test_calculator_raises_the_same_errors(al_pot, case, prop):
    make, expected_type, words, attributes = STRUCTURE_CASES[case]
    atoms = make()
    atoms.calc = PolymlpCalculator(al_pot)
    with pytest.raises(PolymlpLabError) as info:
        atoms.get_potential_energy() if prop == "energy" else atoms.get_forces()
    check_structure_error(info.value, expected_type, words, attributes)


def test_calculator_with_bad_file(texts, tmp_path):
    bad = put(tmp_path, "polymlp.yaml", replace_once(texts["al.yaml"], "model_type:    4", "model_type:    7"))
    with pytest.raises(PotentialFileError) as info:
        PolymlpCalculator(bad)
    assert info.value.key == "model_type" and "polymlp.yaml" in str(info.value)


def test_calculator_with_missing_file(tmp_path):
    with pytest.raises(PotentialFileError, match="no such file"):
        PolymlpCalculator(str(tmp_path / "nothere.yaml"))


# ---------------------------------------------------------------------------------------
# the command line


def run_cli(capsys, *argv):
    code = main(["eval", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_cli_error(code, out, err, *words):
    assert code == 2
    assert err.startswith("polymlp-lab: error: "), err
    assert "Traceback" not in err and "Traceback" not in out
    assert err.count("\n") == 1, err  # one line
    for word in words:
        assert word in err, err


def test_cli_bad_potential_file(texts, tmp_path, capsys):
    pot = put(tmp_path, "broken.yaml", replace_once(texts["al.yaml"], "model_type:    4", "model_type:    7"))
    write(tmp_path / "s.xyz", bulk("Al", "fcc", a=4.05), format="extxyz")
    code, out, err = run_cli(capsys, "--pot", pot, tmp_path / "s.xyz")
    assert_cli_error(code, out, err, "broken.yaml", f"line {line_of(texts['al.yaml'], 'model_type:')}",
                     "key 'model_type'", "7 is out of range")


def test_cli_truncated_lammps(texts, tmp_path, capsys):
    text = texts["al.lammps"]
    pot = put(tmp_path, "cut.lammps", text[: offset_of_line(text, 12)])
    write(tmp_path / "s.xyz", bulk("Al", "fcc", a=4.05), format="extxyz")
    code, out, err = run_cli(capsys, "--pot", pot, tmp_path / "s.xyz")
    assert_cli_error(code, out, err, "cut.lammps", "line 12", "key 'coeffs'", "file ends here")


def test_cli_missing_potential(tmp_path, capsys):
    write(tmp_path / "s.xyz", bulk("Al", "fcc", a=4.05), format="extxyz")
    code, out, err = run_cli(capsys, "--pot", tmp_path / "nothere.yaml", tmp_path / "s.xyz")
    assert_cli_error(code, out, err, "nothere.yaml", "no such file")


def test_cli_binary_potential(tmp_path, capsys):
    pot = put(tmp_path, "junk.yaml", bytes(range(256)))
    write(tmp_path / "s.xyz", bulk("Al", "fcc", a=4.05), format="extxyz")
    code, out, err = run_cli(capsys, "--pot", pot, tmp_path / "s.xyz")
    assert_cli_error(code, out, err, "junk.yaml", "not a text file")


@pytest.mark.parametrize(
    "atoms, words",
    [
        (Atoms("AlCu", positions=[[0, 0, 0], [2.5, 0, 0]]), ("element 'Cu'",)),
        (Atoms("Al2", positions=[[0, 0, 0], [0.3, 0, 0]]), ("atoms 0 and 1", "0.300")),
        (close_to_own_image(), ("atoms 0 and 0",)),
    ],
    ids=["unknown-element", "too-close", "own-image"],
)
def test_cli_bad_structure(texts, tmp_path, capsys, atoms, words):
    pot = put(tmp_path, "polymlp.yaml", texts["al.yaml"])
    write(tmp_path / "s.xyz", atoms, format="extxyz")
    code, out, err = run_cli(capsys, "--pot", pot, tmp_path / "s.xyz")
    assert_cli_error(code, out, err, *words)


def test_cli_unreadable_structure(texts, tmp_path, capsys):
    pot = put(tmp_path, "polymlp.yaml", texts["al.yaml"])
    put(tmp_path, "garbage.xyz", "this is not a structure\n")
    code, out, err = run_cli(capsys, "--pot", pot, tmp_path / "garbage.xyz")
    assert_cli_error(code, out, err, "garbage.xyz", "cannot read the structure")


def test_cli_missing_structure(texts, tmp_path, capsys):
    pot = put(tmp_path, "polymlp.yaml", texts["al.yaml"])
    code, out, err = run_cli(capsys, "--pot", pot, tmp_path / "nothere.xyz")
    assert_cli_error(code, out, err, "nothere.xyz", "cannot read the structure")


def test_cli_hybrid_with_one_bad_file(texts, tmp_path, capsys):
    good = put(tmp_path, "good.yaml", texts["al.yaml"])
    bad = put(tmp_path, "bad.yaml", replace_once(texts["al.yaml"], "cutoff:        5.0", "cutoff:        -1"))
    write(tmp_path / "s.xyz", bulk("Al", "fcc", a=4.05), format="extxyz")
    code, out, err = run_cli(capsys, "--pot", good, "--pot", bad, tmp_path / "s.xyz")
    assert_cli_error(code, out, err, "bad.yaml", "key 'cutoff'", "out of range")


def test_in_memory_potential_saves_as_lammps(tmp_path):
    """Regression: params from model_params have no masses; the writer must supply them."""
    pot = make_potential("al")
    path = tmp_path / "polymlp.lammps"
    pot.save(path, format="lammps")
    atoms = bulk("Al", "fcc", a=4.05)
    assert load_potential(path).evaluate(atoms).energy == pytest.approx(pot.evaluate(atoms).energy, abs=1e-12)


# ---------------------------------------------------------------------------------------
# Findings: inputs for which, when these tests were written, the library let a foreign
# exception escape, crashed the interpreter or ran out of memory. Each test states the
# behaviour the documented contract asks for: a PotentialFileError / InvalidStructureError
# (or AtomsTooCloseError), or a correct result. Crash-prone evaluations run in a child
# process so that a segmentation fault fails one test instead of the whole session.


def test_yaml_scalar_atom_type_pair(texts, tmp_path):
    bad = replace_once(texts["al.yaml"], "atom_type_pair:      [0, 0]", "atom_type_pair:      0")
    err = file_error(put(tmp_path, "polymlp.yaml", bad))
    assert err.key in ("type_pairs", "atom_type_pair")


def test_yaml_scalar_pair_params_indices(texts, tmp_path):
    bad = replace_once(texts["al.yaml"], "pair_params_indices: [0, 1, 2, 3, 4]", "pair_params_indices: 3")
    err = file_error(put(tmp_path, "polymlp.yaml", bad))
    assert err.key in ("type_pairs", "pair_params_indices")


@pytest.mark.parametrize(
    "old, new",
    [
        ("max_p:         2", "max_p:         2.0"),
        ("model_type:    4", "model_type:    4.0"),
        ("max_l:         4", "max_l:         4.0"),
        ("max_l:         4", "max_l:         '4'"),
        ("cutoff:        5.0", "cutoff:        5e0"),  # YAML 1.1 reads 5e0 as a string
        ("cutoff:        5.0", "cutoff:        '5.0'"),
        ("- [1.0, 4.0]", "- [1e0, 4.0]"),
        ("pair_params_indices: [0, 1,", "pair_params_indices: [0.0, 1,"),
        ("atom_type_pair:      [0, 0]", "atom_type_pair:      [0.0, 0]"),
        ("gtinv_order:   2", "gtinv_order:   2.0"),
    ],
    ids=["max_p-2.0", "model_type-4.0", "max_l-4.0", "max_l-quoted", "cutoff-5e0",
         "cutoff-quoted", "beta-1e0", "pair_params_indices-0.0", "atom_type_pair-0.0",
         "gtinv_order-2.0"],
)
def test_yaml_equivalent_spellings_load_or_are_rejected(texts, tmp_path, old, new):
    """The validator accepts these as the same numbers; then they must work like them."""
    original = load_potential(put(tmp_path, "orig.yaml", texts["al.yaml"]))
    pot = loads_or_file_error(put(tmp_path, "polymlp.yaml", replace_once(texts["al.yaml"], old, new)))
    if pot is not None:
        atoms = bulk("Al", "fcc", a=4.05)
        assert pot.evaluate(atoms).energy == pytest.approx(original.evaluate(atoms).energy, abs=1e-12)


@pytest.mark.parametrize("new", ["[0, 0]", "[0]", "[0, 1, 1]", "[1, 0]"])
def test_yaml_type_pairs_not_covering_all_pairs(texts, tmp_path, new):
    bad = replace_once(texts["mgo.yaml"], "atom_type_pair:      [0, 1]", f"atom_type_pair:      {new}")
    pot = loads_or_file_error(put(tmp_path, "polymlp.yaml", bad))
    if pot is not None:
        assert np.isfinite(pot.evaluate(bulk("MgO", "rocksalt", a=4.21)).energy)


@pytest.mark.parametrize(
    "old, new",
    [("4 # max_l", "4.0 # max_l"), ("0 0 # atom type pair", "0 # atom type pair")],
    ids=["max_l-4.0", "one-atom-type"],
)
def test_lammps_malformed_values(texts, tmp_path, old, new):
    pot = loads_or_file_error(put(tmp_path, "polymlp.lammps", replace_once(texts["al.lammps"], old, new)))
    if pot is not None:
        assert np.isfinite(pot.evaluate(bulk("Al", "fcc", a=4.05)).energy)


ISOLATED = r"""
import faulthandler, json, resource, sys, traceback
faulthandler.enable()
resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
import numpy as np
from ase import Atoms
from ase.build import bulk
from polymlp_lab import PolymlpLabError, load_potential

pot = load_potential(sys.argv[1])
atoms = eval(sys.argv[2])
try:
    for _ in range(int(sys.argv[3])):  # memory corruption may need a few rounds to crash
        r = pot.evaluate(atoms)
    out = {"energy": r.energy, "forces_finite": bool(np.isfinite(r.forces).all()),
           "forces_zero": bool(np.all(r.forces == 0.0))}
except Exception as exc:
    out = {"error": type(exc).__name__, "ours": isinstance(exc, PolymlpLabError),
           "message": str(exc), "traceback": traceback.format_exc()}
print(json.dumps(out))
"""


def evaluate_isolated(path, atoms_expression, timeout=120, repeat=1):
    """Evaluate (``repeat`` times) in a child process with 4 GB of address space: some
    inputs crash the interpreter.

    Returns the child's answer: {"energy", "forces_finite", "forces_zero"} or
    {"error", "ours", "message", "traceback"}; fails the test on a crash or a hang.
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-c", ISOLATED, str(path), atoms_expression, str(repeat)],
            capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"evaluating {atoms_expression} hangs (> {timeout} s)", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"the interpreter crashed evaluating {atoms_expression} with {path.name} "
            f"(exit code {proc.returncode}; -11: segmentation fault, -6: abort)\n{proc.stderr[-3000:]}",
            pytrace=False,
        )
    return json.loads(proc.stdout.splitlines()[-1])


def assert_no_foreign_error(answer):
    if "error" in answer:
        assert answer["ours"], f"{answer['error']}: {answer['message']}\n{answer['traceback']}"


CLUSTER = "Atoms('Al3', positions=[[0, 0, 0], [2.5, 0, 0], [0.3, 2.6, 0.4]])"
CRYSTAL = "bulk('Al', 'fcc', a=4.05)"


@pytest.mark.parametrize("atoms", [CLUSTER, CRYSTAL], ids=["cluster", "crystal"])
@pytest.mark.parametrize("fmt, cutoff", [("yaml", "0.001"), ("lammps", "1.0e-20")])
def test_tiny_positive_cutoff(texts, tmp_path, fmt, cutoff, atoms):
    """A tiny cutoff passes the validator; evaluation must then see no bonds at all."""
    text = texts[f"al.{fmt}"]
    if fmt == "yaml":
        bad = replace_once(text, "cutoff:        5.0", f"cutoff:        {cutoff}")
    else:
        bad = replace_once(text, "5.0 # cutoff", f"{cutoff} # cutoff")
    path = put(tmp_path, f"polymlp.{fmt}", bad)
    if loads_or_file_error(path) is None:
        return
    # 1e-20: the bin count overflows int64 and the Numba binning writes out of bounds;
    # the segmentation fault (or abort) is not certain on one evaluation, nearly on ten
    answer = evaluate_isolated(path, atoms, repeat=10)
    assert_no_foreign_error(answer)
    if "error" not in answer:
        assert np.isfinite(answer["energy"]) and answer["forces_finite"]


@pytest.mark.parametrize("distance", ["1e9", "1e30"])
def test_far_apart_atoms_in_open_boundaries(texts, tmp_path, al_pot, distance):
    """Two isolated atoms far apart (non-periodic): twice the energy of one atom."""
    path = put(tmp_path, "polymlp.yaml", texts["al.yaml"])
    answer = evaluate_isolated(path, f"Atoms('Al2', positions=[[0, 0, 0], [{distance}, 0, 0]])")
    assert_no_foreign_error(answer)
    assert "error" not in answer, answer["message"]
    assert answer["energy"] == pytest.approx(2 * al_pot.evaluate(Atoms("Al")).energy, abs=1e-12)
    assert answer["forces_zero"]


def test_nearly_flat_cell_is_rejected_quickly(texts, tmp_path):
    """A cell 0.001 Å thin puts the atom 0.0014 Å from its own image: AtomsTooCloseError.

    Today the periodic image grid grows to (2 * 5000 + 1)^2 * 5 translations before any
    distance is checked: tens of seconds and > 7 GB (here: the 4 GB limit of the child).
    """
    path = put(tmp_path, "polymlp.yaml", texts["al.yaml"])
    answer = evaluate_isolated(
        path, "Atoms('Al', cell=[[4, 0, 0], [3.999, 0.001, 0], [0, 0, 4]], pbc=True)", timeout=60
    )
    assert answer.get("error") == "AtomsTooCloseError", answer


@pytest.mark.parametrize("fmt", ["yaml", "lammps"])
def test_negative_gaussian_width(texts, tmp_path, fmt):
    """beta < 0 makes exp(-beta (r - r0)^2) grow with r: reject it, or at least stay finite.

    Today it loads, and beta = -17 gives energy NaN (beta = -1 gives about -2e27 eV).
    """
    text = texts[f"al.{fmt}"]
    if fmt == "yaml":
        bad = replace_once(text, "- [1.0, 0.0]", "- [-17.0, 0.0]")
    else:
        bad = replace_once(text, "1.0 0.0 # pair func.", "-17.0 0.0 # pair func.")
    pot = loads_or_file_error(put(tmp_path, f"polymlp.{fmt}", bad))
    if pot is not None:
        for atoms in (al_cluster(), bulk("Al", "fcc", a=4.05)):
            result = pot.evaluate(atoms)
            assert np.isfinite(result.energy) and np.isfinite(result.forces).all(), result.energy


def test_cli_exit_code_2_for_malformed_type_pair(texts, tmp_path, capsys):
    bad = replace_once(texts["al.yaml"], "atom_type_pair:      [0, 0]", "atom_type_pair:      0")
    pot = put(tmp_path, "polymlp.yaml", bad)
    write(tmp_path / "s.xyz", bulk("Al", "fcc", a=4.05), format="extxyz")
    code, out, err = run_cli(capsys, "--pot", pot, tmp_path / "s.xyz")
    assert_cli_error(code, out, err, "polymlp.yaml")

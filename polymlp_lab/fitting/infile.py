"""pypolymlp's ``polymlp.in`` input files, so that existing users' inputs run unchanged.

pypolymlp parses the model and regression keys (it owns the format); the dataset lines
``<tag> <glob> [include_force] [weight]`` with tags ``train_data``, ``test_data``, ``data``
(split by file) and ``data_md`` (one MD run split by step) are read here with pypolymlp's
rules. Globs are resolved against the working directory, as pypolymlp does, and otherwise
against the directory of the input file.
"""

import glob
from dataclasses import dataclass
from pathlib import Path

from ..errors import PotentialFileError
from .datasets import DatasetError, read_dataset

DATASET_TAGS = ("train_data", "test_data", "data", "data_md")


@dataclass
class FitInput:
    """Everything a polymlp.in asks for: the model, the alphas and the datasets."""

    params: object  # pypolymlp PolymlpParamsSingle
    alphas: tuple
    atomic_energy: dict  # element -> isolated-atom energy (eV)
    train: list  # Dataset
    test: list  # Dataset
    path: Path


def _strtobool(text, path, line_no, key=None):
    low = text.lower()
    if low in ("t", "true", "1"):
        return True
    if low in ("f", "false", "0"):
        return False
    raise PotentialFileError(f"'{text}' is not a boolean", path=path, line=line_no, key=key)


_BOOL_KEYS = ("include_force", "include_stress")
_INT_KEYS = ("n_type", "model_type", "max_p", "gtinv_order", "gtinv_version", "gtinv_maxl")
_FLOAT_KEYS = ("cutoff", "atomic_energy", "reg_alpha_params", "gaussian_params1",
               "gaussian_params2")


def _check_values(path: Path) -> None:
    """Name the line and key of a value pypolymlp's parser would reject without saying where."""
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        tokens = line.split("#")[0].split()
        if len(tokens) < 2:
            continue
        key, values = tokens[0], tokens[1:]
        for value in values:
            if key in _BOOL_KEYS:
                _strtobool(value, path, line_no, key)
                continue
            kind = int if key in _INT_KEYS else float if key in _FLOAT_KEYS else None
            if kind is None:
                continue
            try:
                kind(value) if kind is float else int(float(value))
            except ValueError:
                raise PotentialFileError(
                    f"'{value}' is not {'an integer' if kind is int else 'a number'}",
                    path=path, line=line_no, key=key,
                ) from None


def read_polymlp_in(path, *, train_ratio: float = 0.9) -> FitInput:
    """Model parameters and train/test datasets of a pypolymlp input file."""
    from pypolymlp.core.parser_polymlp_params import ParamsParserSingle

    path = Path(path)
    if not path.is_file():
        raise PotentialFileError("no such input file", path=path)
    _check_values(path)
    try:
        parser = ParamsParserSingle(str(path))
        parser.set_params()
        params = parser.params
    except Exception as exc:  # pypolymlp raises KeyError/ValueError/RuntimeError on bad keys
        raise PotentialFileError(f"pypolymlp cannot read it ({type(exc).__name__}: {exc})",
                                 path=path) from exc
    train, test = [], []
    md_train, md_test = [], []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        tokens = line.split("#")[0].split()
        if len(tokens) < 2 or "data" not in tokens[0] or tokens[0] == "dataset_type":
            continue
        tag = tokens[0]
        if tag not in DATASET_TAGS:
            raise PotentialFileError(
                f"unknown dataset tag '{tag}' (use {', '.join(DATASET_TAGS)})", path=path,
                line=line_no, key=tag,
            )
        include_force = params.include_force
        if len(tokens) > 2:
            include_force = include_force and _strtobool(tokens[2], path, line_no, tag)
        try:
            weight = float(tokens[3]) if len(tokens) > 3 else 1.0
        except ValueError:
            raise PotentialFileError(f"weight '{tokens[3]}' is not a number", path=path,
                                     line=line_no, key=tag) from None
        pattern = tokens[1]
        if not (glob.glob(pattern) or Path(pattern).is_absolute()):
            pattern = str(path.parent / pattern)
        try:
            dataset = read_dataset(
                pattern, name=tokens[1], weight=weight,
                include_force=include_force,
                include_stress=include_force and params.include_stress,
            )
        except DatasetError as exc:
            raise DatasetError(f"{path}, line {line_no}: {exc}") from exc
        if tag == "train_data":
            train.append(dataset)
        elif tag == "test_data":
            test.append(dataset)
        else:
            a, b = dataset.split(train_ratio)
            if tag == "data_md":
                md_train.append(a)
                md_test.append(b)
            else:
                train.append(a)
                test.append(b)
    train += md_train
    if not train:
        raise PotentialFileError("no training data (train_data, data or data_md lines)", path=path)
    test = [d for d in test + md_test if len(d)]
    atomic_energy = dict(zip(params.elements, map(float, params.atomic_energy)))
    return FitInput(
        params=params, alphas=tuple(float(a) for a in params.alphas),
        atomic_energy=atomic_energy, train=train, test=test, path=path,
    )

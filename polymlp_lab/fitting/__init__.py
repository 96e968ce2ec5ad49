"""Training polynomial MLPs: DFT datasets in, ridge fit on the engine's design rows, potentials out."""

from .active_learning import ActiveLearningStep, active_learning, active_learning_step
from .datasets import Dataset, DatasetError, read_dataset, split_indices
from .fit import ModelTooLargeError, PolymlpFit, fit_polymlp_in
from .infile import FitInput, read_polymlp_in
from .report import DatasetErrors, dataset_errors, plot_parity, write_error_yaml, write_predictions

__all__ = [
    "ActiveLearningStep", "active_learning", "active_learning_step", "Dataset", "DatasetError", "DatasetErrors", "FitInput", "ModelTooLargeError", "PolymlpFit",
    "dataset_errors", "fit_polymlp_in", "plot_parity", "read_dataset", "read_polymlp_in",
    "split_indices", "write_error_yaml", "write_predictions",
]

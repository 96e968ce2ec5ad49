"""Model grid search: candidates, training and timing on Dask, Pareto front of cost vs error."""

from .candidates import ModelSpec, default_cutoffs, enumerate_models, gtinv_maxl_lists
from .cost import cost_structure, measure_cost
from .external import GridFolderError, GridModelFromFolder, read_grid, write_pareto
from .pareto import lower_convex_hull_mask, pareto_mask
from .search import GridModel, pareto_rows, plot_pareto, read_results, run_grid, time_models, train_model

__all__ = [
    "GridFolderError", "GridModel", "GridModelFromFolder", "ModelSpec", "cost_structure",
    "default_cutoffs", "enumerate_models", "gtinv_maxl_lists", "lower_convex_hull_mask",
    "measure_cost", "pareto_mask", "pareto_rows", "plot_pareto", "read_grid", "read_results",
    "run_grid", "time_models", "train_model", "write_pareto",
]

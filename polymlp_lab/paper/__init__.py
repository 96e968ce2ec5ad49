"""Seko and Wakai's paper ("Development of Machine Learning Potential Repository and Its
Applications") in five figures, each redone on the package's published potentials and data and
held against published numbers.

One module per figure, each with ``run(*, scale_up=False, workdir=None, progress=False)``
returning a :class:`~polymlp_lab.paper.comparison.FigureResult`; :func:`reproduce` picks one by
number. The default sizes run in minutes on two cores; ``scale_up`` runs the larger, slower
versions.
"""

from importlib import import_module

from ..errors import PolymlpLabError
from .comparison import Comparison, FigureResult

FIGURES = {
    1: ("accuracy_cost", "Accuracy against cost: the Pareto fronts of Ti and MgO"),
    2: ("titanium_aluminium", "Ti–Al: the MLP against the Zope–Mishin EAM"),
    3: ("grain_boundaries", "Al ⟨110⟩ symmetric tilt grain boundaries"),
    4: ("liquid_silicon", "Liquid silicon: melt and quench"),
    5: ("aluminium_copper", "Random structure search in Al–Cu"),
}

__all__ = ["Comparison", "FIGURES", "FigureResult", "reproduce"]


def reproduce(number: int, *, scale_up: bool = False, workdir=None,
              progress: bool = False) -> FigureResult:
    """Figure ``number`` (1–5) of the paper: runs its module's ``run``. ``workdir`` keeps the
    run's files (a temporary folder when None); ``progress`` shows tqdm bars."""
    if number not in FIGURES:
        raise PolymlpLabError(f"the paper has figures 1 to {len(FIGURES)}, not {number!r}")
    module = import_module(f".{FIGURES[number][0]}", __name__)
    return module.run(scale_up=scale_up, workdir=workdir, progress=progress)

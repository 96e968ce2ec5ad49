"""ipywidgets panels of polymlp-lab, installed as ``polymlp_lab.widgets``.

Panels are thin: they collect choices and call the science in ``polymlp_lab``. Each is a
``VBox`` of controls, a status line (user errors appear there, never as tracebacks), a
progress bar and an output area; long work runs in a background thread.
"""

from .base import Panel
from .gb_panel import GBPanel
from .md_panel import MDPanel
from .model_builder import ModelBuilder
from .pareto import ParetoExplorer
from .phonon_panel import PhononPanel
from .repository import RepositoryBrowser
from .search_panel import SearchPanel
from .viewer import StructureViewer

__all__ = [
    "GBPanel",
    "MDPanel",
    "ModelBuilder",
    "Panel",
    "ParetoExplorer",
    "PhononPanel",
    "RepositoryBrowser",
    "SearchPanel",
    "StructureViewer",
]

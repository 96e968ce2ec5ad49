"""ipywidgets panels of polymlp-lab, installed as ``polymlp_lab.widgets``.

Panels are thin: they collect choices and call the science in ``polymlp_lab``.
"""

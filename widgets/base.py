"""What every panel shares: controls, a status line, a progress bar and an Output.

A panel is an ``ipywidgets.VBox``. User errors (bad input, a failing calculation) are shown
in its status line in plain words, never as a traceback or an exception's class name; a
value out of its range is refused with a message (never silently changed). Long work runs
in a background thread so the kernel keeps sending progress to the browser: "running …" and
the progress bar appear the instant a button is pressed, and the previous output goes.
``wait()`` joins the work (tests, scripts).
"""

import html
import threading
import traceback
from pathlib import Path

import ipywidgets as w

from polymlp_lab.errors import PolymlpLabError

ERROR_STYLE = "color:#b00020"
OK_STYLE = "color:#1b5e20"
NOTE_STYLE = "color:#555;font-style:italic"
UNEXPECTED = ("the calculation stopped on an unexpected problem; try other settings (a "
              "smaller structure, supercell or step count). The details are in the panel's "
              "last_traceback.")


class InputError(PolymlpLabError, ValueError):
    """A value typed into a panel that cannot be used; the message names it and what to do."""


def plain_message(exc: BaseException) -> str:
    """What to tell the user about ``exc``: our errors' own words (they name the file, key,
    element ...), a file system error's reason and path, else a plain note."""
    if isinstance(exc, PolymlpLabError):
        return str(exc) or UNEXPECTED
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, MemoryError):
        return "not enough memory: choose a smaller structure, supercell or model"
    return UNEXPECTED


def number(value, digits: int) -> str:
    """``value`` with ``digits`` significant digits, or '–' when unknown."""
    return "–" if value is None else f"{value:.{digits}g}"


def html_table(header, rows) -> str:
    """An HTML table of escaped cells."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


class Panel(w.VBox):
    """Base class: ``controls`` (a list of widgets) above a status line, progress and output.

    Subclasses build their controls, call ``super().__init__(controls, title=...)``, and run
    work through :meth:`guarded` (quick callbacks) or :meth:`start` (long work in a thread).
    Attributes: ``status`` (HTML), ``progress`` (FloatProgress, hidden when idle),
    ``output`` (Output: plots and tables), ``error`` (the last error message or None).
    """

    def __init__(self, controls, *, title: str, **kwargs):
        self.title = w.HTML(f"<b>{html.escape(title)}</b>")
        self.status = w.HTML("")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                        layout=w.Layout(width="60%", visibility="hidden"))
        self.output = w.Output()
        self.error = None
        self.last_traceback = None
        self._thread = None
        self.busy = False  # True while work started by start() runs
        self._checks = []  # callables returning a problem with an input, or None
        # Display data is formatted by IPython's shell: make sure it exists in this (main)
        # thread, not first in a worker thread (headless runs, where no kernel made it).
        from IPython.core.interactiveshell import InteractiveShell

        InteractiveShell.instance()
        super().__init__([self.title, *controls, self.status, self.progress, self.output],
                         **kwargs)

    @property
    def why(self) -> w.HTML:
        """Note beside the buttons saying why one is disabled (see :meth:`set_available`);
        a subclass places it among its controls (it exists before ``__init__``)."""
        if getattr(self, "_why", None) is None:
            self._why = w.HTML("")
        return self._why

    # --- messages -----------------------------------------------------------------------
    def say(self, text: str) -> None:
        """Show an informative message in the status line."""
        self.error = None
        self.status.value = f"<span style='{OK_STYLE}'>{html.escape(text)}</span>"

    def show_error(self, exc: BaseException) -> None:
        """Show ``exc`` in plain words in the status line (:func:`plain_message`) and clear
        the output, so that no earlier result stands under an error."""
        if not isinstance(exc, PolymlpLabError):
            self.last_traceback = "".join(traceback.format_exception(exc))
        self.error = plain_message(exc)
        self.clear()
        self.status.value = f"<span style='{ERROR_STYLE}'>⚠ {html.escape(self.error)}</span>"

    # --- inputs -------------------------------------------------------------------------
    def limit(self, control, name: str = "", low=None, high=None) -> None:
        """Refuse values of ``control`` outside [low, high] with a message naming ``name``,
        as soon as one is typed and again when work starts (the value is kept, not
        changed). ``control`` may also be anything with a ``problem`` attribute (IntTuple)."""
        names = ["value"]
        if hasattr(control, "problem"):
            check = lambda: control.problem  # noqa: E731
            names.append("problem")
        else:
            def check():
                value = control.value
                if (low is not None and value < low) or (high is not None and value > high):
                    span = (f"from {low} to {high}" if high is not None and low is not None
                            else f"at least {low}" if low is not None else f"at most {high}")
                    return f"{name}: {value} is out of range; enter a value {span}"
                return None
        self._checks.append(check)
        control.observe(lambda _change: self._show_input_problem(), names=names)

    def input_problem(self):
        """The first problem with an input, or None."""
        return next((p for p in (check() for check in self._checks) if p), None)

    def _show_input_problem(self) -> None:
        problem = self.input_problem()
        if problem:
            self.error = problem
            self.status.value = f"<span style='{ERROR_STYLE}'>⚠ {html.escape(problem)}</span>"
        elif self.error is not None and not self.busy:
            self.error = None
            self.status.value = ""

    _quiet = False  # True while set_quietly rebuilds a list

    def set_quietly(self, choice, options, value) -> None:
        """Set ``choice``'s options and value, ``_quiet`` meanwhile: its observers skip it."""
        self._quiet = True
        try:
            choice.options = options
            choice.value = value
        finally:
            self._quiet = False

    def set_available(self, button, reason=None) -> None:
        """Enable ``button``, or disable it and say ``reason`` beside it (``self.why``)."""
        button.disabled = reason is not None
        button.tooltip = reason or ""
        self.why.value = (f"<span style='{NOTE_STYLE}'>{html.escape(reason)}</span>"
                          if reason else "")

    def report(self, fraction: float, text: str = "") -> None:
        """Progress of long work, 0..1 (callable from the worker thread; ignored when idle)."""
        if not self.busy:
            return
        self.progress.layout.visibility = "visible"
        self.progress.value = min(max(float(fraction), 0.0), 1.0)
        if text:
            self.status.value = html.escape(text)

    # --- output -------------------------------------------------------------------------
    # Outputs are appended as display data (not printed inside ``with output``), which works
    # from worker threads and without a kernel, so headless tests can read them.
    def clear(self) -> None:
        """Empty the output area."""
        self.output.outputs = ()

    def show_figure(self, figure, *, replace: bool = True) -> None:
        """Show a Matplotlib figure as a PNG in the output area, then close it."""
        import io

        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        self.show_image(buffer.getvalue(), replace=replace)

    def show_image(self, png, *, replace: bool = False) -> None:
        """Append a PNG (bytes, or the path of a .png file) to the output area."""
        from IPython.display import Image

        data = png if isinstance(png, bytes) else Path(png).read_bytes()
        if replace:
            self.clear()
        self.output.append_display_data(Image(data=data, format="png"))

    def show_html(self, markup: str, *, replace: bool = False) -> None:
        """Append HTML (e.g. a table) to the output area."""
        from IPython.display import HTML

        if replace:
            self.clear()
        self.output.append_display_data(HTML(markup))

    def output_text(self) -> str:
        """The text and HTML in the output area (for tests and scripts)."""
        items = [(item.get("text"), item.get("data", {})) for item in self.output.outputs]
        return "\n".join(text or data.get("text/html") or data.get("text/plain", "")
                         for text, data in items)

    # --- running work -------------------------------------------------------------------
    def guarded(self, action, *args, **kwargs):
        """Run ``action``; on any exception show it in the panel and return None."""
        try:
            return action(*args, **kwargs)
        except Exception as exc:  # the panel is the user's error display
            self.show_error(exc)
            return None

    def guard(self, action, *args):
        """A widget callback (its event ignored) running ``action(*args)`` :meth:`guarded`."""
        return lambda _event: self.guarded(action, *args)

    def start(self, work, *, done=None, message: str = "running …") -> bool:
        """Run ``work()`` (long) in a thread, then ``done(result)``; errors go to the panel.

        At once: ``message`` and the progress bar are shown and the previous output cleared.
        Refused (returns False) while earlier work runs or an input is out of range.
        """
        if self.busy:
            self.show_error(InputError("still working on the previous request: wait for it "
                                       "to finish"))
            return False
        problem = self.input_problem()
        if problem:
            self.show_error(InputError(problem))
            return False

        def target():
            try:
                result = work()
                if done is not None:
                    done(result)
            except Exception as exc:  # shown in the panel, kept for debugging
                self.show_error(exc)
            finally:
                self.busy = False
                self.progress.layout.visibility = "hidden"

        self.error = None
        self.busy = True
        self.clear()
        self.progress.value = 0.0
        self.progress.layout.visibility = "visible"
        self.status.value = html.escape(message)
        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float = None) -> None:
        """Block until background work has finished."""
        if self._thread is not None:
            self._thread.join(timeout)


class LivePanel(Panel):
    """A panel whose long run is followed live: meanwhile a thread looks every ``refresh_s``
    seconds at what the run has written and redraws ``figure`` (a Matplotlib Figure);
    ``redraws`` lists how many items each redraw of the last run showed. ``below`` (a viewer)
    goes under the output."""

    def __init__(self, controls, *, title: str, refresh_s: float, below):
        self.refresh_s = float(refresh_s)
        self.figure = None
        self.redraws = []
        super().__init__(controls, title=title)
        self.children = (*self.children, below)

    def follow(self, work, look, *, last_look: bool = False):
        """Return ``work()``, calling ``look()`` every ``refresh_s`` seconds in a thread
        meanwhile (and once more after it when ``last_look``)."""
        finished = threading.Event()

        def follower():
            while not finished.wait(self.refresh_s):
                look()
            if last_look:
                look()

        thread = threading.Thread(target=follower, daemon=True)
        thread.start()
        try:
            return work()
        finally:
            finished.set()
            thread.join()

    def redraw(self, figure, count: int) -> None:
        """Show ``figure``, keep it as ``figure`` and add ``count`` to ``redraws``."""
        self.figure = figure
        self.show_figure(figure)
        self.redraws.append(count)

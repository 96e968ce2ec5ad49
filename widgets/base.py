"""What every panel shares: controls, a status line, a progress bar and an Output.

A panel is an ``ipywidgets.VBox``. User errors (bad input, a failing calculation) are shown
in its status line, never as a traceback. Long work runs in a background thread so the
kernel keeps sending progress to the browser; ``wait()`` joins it (tests, scripts).
"""

import html
import threading
import traceback

import ipywidgets as w

ERROR_STYLE = "color:#b00020"
OK_STYLE = "color:#1b5e20"


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
        self._working = False
        # Display data is formatted by IPython's shell: make sure it exists in this (main)
        # thread, not first in a worker thread (headless runs, where no kernel made it).
        from IPython.core.interactiveshell import InteractiveShell

        InteractiveShell.instance()
        super().__init__([self.title, *controls, self.status, self.progress, self.output],
                         **kwargs)

    # --- messages -----------------------------------------------------------------------
    def say(self, text: str) -> None:
        """Show an informative message in the status line."""
        self.error = None
        self.status.value = f"<span style='{OK_STYLE}'>{html.escape(text)}</span>"

    def show_error(self, exc: BaseException) -> None:
        """Show ``exc`` as one line in the panel (its type and message, no traceback)."""
        message = str(exc) or type(exc).__name__
        self.error = f"{type(exc).__name__}: {message}"
        self.status.value = f"<span style='{ERROR_STYLE}'>⚠ {html.escape(self.error)}</span>"

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
        from IPython.display import Image

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        if replace:
            self.clear()
        self.output.append_display_data(Image(data=buffer.getvalue(), format="png"))

    def show_image(self, png, *, replace: bool = False) -> None:
        """Append a PNG (bytes, or the path of a .png file) to the output area."""
        from IPython.display import Image

        data = png if isinstance(png, bytes) else open(png, "rb").read()
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
        parts = []
        for item in self.output.outputs:
            data = item.get("data", {})
            parts.append(item.get("text") or data.get("text/html") or data.get("text/plain", ""))
        return "\n".join(parts)

    # --- running work -------------------------------------------------------------------
    def guarded(self, action, *args, **kwargs):
        """Run ``action``; on any exception show it in the panel and return None."""
        try:
            return action(*args, **kwargs)
        except Exception as exc:  # the panel is the user's error display
            self.show_error(exc)
            return None

    @property
    def busy(self) -> bool:
        """True while work started by :meth:`start` runs."""
        return self._working

    def start(self, work, *, done=None, background: bool = True) -> None:
        """Run ``work()`` (long) in a thread, then ``done(result)``; errors go to the panel.

        A second start while work runs is refused with a message.
        """
        if self.busy:
            self.show_error(RuntimeError("still working on the previous request"))
            return

        def target():
            try:
                result = work()
                if done is not None:
                    done(result)
            except Exception as exc:  # shown in the panel, kept for debugging
                self.show_error(exc)
                self.last_traceback = traceback.format_exc()
            finally:
                self._working = False
                self.progress.layout.visibility = "hidden"

        self.error = None
        self.progress.value = 0.0
        self._working = True
        if background:
            self._thread = threading.Thread(target=target, daemon=True)
            self._thread.start()
        else:
            target()

    def wait(self, timeout: float = None) -> None:
        """Block until background work has finished."""
        if self._thread is not None:
            self._thread.join(timeout)

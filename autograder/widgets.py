"""Interactive elements that also read on a static page, and progress bars without a widget front end.

A widget needs a running kernel and a front end that draws it (Jupyter, Colab). The book's
HTML has neither, and nor has a notebook viewed on GitHub or in nbgrader's feedback. So every
interactive element here is displayed as one output whose mime bundle holds the widget *and* a
static rendering made by the same code at its starting values (a PNG figure or an HTML table):
a front end that runs widgets shows the widget (the widget view ranks first in Jupyter's and
Colab's order), and the book, whose `_config.yml` drops widget views from its HTML, shows the
rendering. `progress()` does the same for a bar: tqdm's notebook bar, with its text line in the
same output, rewritten when the loop ends, so a static page shows the final line.

Known limitations: ipywidgets 7.7 (Colab's) and 8 APIs only; the static rendering shows the
starting values, not what a reader would choose.
"""
from __future__ import annotations

import base64
import io
import sys
import uuid
from typing import Any, Callable, Iterable

VIEW = "application/vnd.jupyter.widget-view+json"


def _widget_bundle(widget) -> dict:
    """The widget's own display data (ipywidgets 8: _repr_mimebundle_; 7.7: built as it does)."""
    if hasattr(widget, "_repr_mimebundle_"):
        data = widget._repr_mimebundle_()
        data = data[0] if isinstance(data, tuple) else data
        return dict(data or {})
    if hasattr(widget, "_handle_displayed"):    # ipywidgets 7: runs the on_displayed callbacks
        widget._handle_displayed()
    return {"text/plain": repr(widget),
            VIEW: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}


def png(fig) -> dict:
    """A matplotlib figure as display data (and closed, so that it is not shown twice)."""
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=100)
    plt.close(fig)
    return {"image/png": base64.b64encode(buf.getvalue()).decode("ascii")}


class WithStatic:
    """A widget with a static rendering in the same output (see the module's docstring)."""

    def __init__(self, widget, static: dict, text: str = ""):
        self.widget, self.static, self.text = widget, static, text

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = _widget_bundle(self.widget)
        data.update(self.static)
        if self.text:
            data["text/plain"] = self.text
        return data


def interact(fn: Callable[..., Any], start: dict, **controls) -> WithStatic:
    """ipywidgets' `interactive(fn, **controls)`, with `fn(**start)`'s figure as its static
    rendering. `fn` draws one matplotlib figure and returns it (or leaves it current)."""
    import ipywidgets
    import matplotlib.pyplot as plt

    def draw(**kw):
        fig = fn(**kw)
        plt.show()
        return fig
    ui = ipywidgets.interactive(draw, **controls)
    for w in ui.kwargs_widgets:        # the controls start where the static rendering is
        if w.description in start:
            w.value = start[w.description]
    fig = fn(**start)
    fig = fig if fig is not None else plt.gcf()
    settings = ", ".join(f"{k}={v!r}" for k, v in start.items())
    return WithStatic(ui, png(fig), text=f"(interactive; on a static page, at {settings})")


def _in_kernel() -> bool:
    """An IPython kernel with ipywidgets: a front end may draw widgets (Jupyter, Colab, nbclient)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is None or "IPKernelApp" not in getattr(shell, "config", {}):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def progress(iterable: Iterable, desc: str = "", unit: str = "it", total: int | None = None):
    """Iterate with a progress bar: tqdm's widget bar in a kernel (its text line in the same
    output, final when the loop ends), tqdm's text bar anywhere else."""
    if not _in_kernel():
        from tqdm import tqdm
        yield from tqdm(iterable, desc=desc, unit=unit, total=total)
        return
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm
    bar = notebook_tqdm(iterable, desc=desc, unit=unit, total=total, display=False)
    did = uuid.uuid4().hex

    def data():
        text = bar.format_meter(**{**bar.format_dict, "ncols": 60})
        return {**_widget_bundle(bar.container), "text/plain": text}
    display(data(), raw=True, display_id=did)
    try:
        yield from bar
    finally:
        bar.close()
        display(data(), raw=True, display_id=did, update=True)

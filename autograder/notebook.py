"""What an exercise notebook's setup cell does once the package is installed: `start(fallback)`.

It says, in a sentence, which device the notebook runs on and which fallback it uses without a
GPU, and it makes a failed check read as the student's problem, not the course's: the
traceback keeps the cell and the student's own functions, and drops the frames of this
package (and of IPython) between them, so the check's message is what stands out.

How: IPython's `set_custom_exc` for every `Exception`. The handler formats the exception with
IPython's own formatter (same colours, same layout) over a traceback from which the course's
frames are cut, and shows it through the shell, so the cell still ends in an `error` output and
a failed execution: nbgrader grades it as a failure, exactly as before. An exception with no
course frame in its traceback is shown untouched. `%tb` afterwards shows the full traceback.

Known limitations: only in an IPython kernel (Jupyter, Colab, nbgrader's executor); a plain
Python process keeps its usual tracebacks. Exceptions raised in the course's child processes
reach the notebook as messages (they have no frames here to cut).
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

from .device import report

PACKAGE = Path(__file__).resolve().parent
NOTE = "(the course's own frames are hidden; run %tb in a cell to see them)"


def _skipped(filename: str, hidden: tuple[Path, ...]) -> bool:
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return False
    return any(path == h or h in path.parents for h in hidden)


def _hidden_dirs() -> tuple[Path, ...]:
    dirs = [PACKAGE]
    try:
        import IPython
        dirs.append(Path(IPython.__file__).resolve().parent)
    except ImportError:
        pass
    return tuple(dirs)


def trimmed(tb: types.TracebackType | None, hidden: tuple[Path, ...] | None = None):
    """(the traceback without frames in `hidden` directories, whether any frame was cut)."""
    hidden = hidden or _hidden_dirs()
    kept, cut = [], False
    while tb is not None:
        if _skipped(tb.tb_frame.f_code.co_filename, hidden):
            cut = True
        else:
            kept.append(tb)
        tb = tb.tb_next
    out = None
    for t in reversed(kept):
        out = types.TracebackType(out, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return out, cut


def _chain(value: BaseException):
    seen = set()
    while value is not None and id(value) not in seen:
        seen.add(id(value))
        yield value
        value = value.__cause__ or (None if value.__suppress_context__ else value.__context__)


def _show(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: the traceback without the course's frames."""
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb   # for %tb
    hidden = _hidden_dirs()
    first, cut = trimmed(tb, hidden)
    if not cut or first is None:   # nothing of ours in it (or nothing left): IPython's own view
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    else:
        for exc in list(_chain(value))[1:]:   # causes keep the student's frames, lose ours
            exc.__traceback__ = trimmed(exc.__traceback__, hidden)[0]
        stb = shell.InteractiveTB.structured_traceback(etype, value, first, tb_offset=0)
        stb = list(stb) + [NOTE]
    shell._showtraceback(etype, value, stb)
    return None


def install_traceback_filter(shell=None) -> bool:
    """Register `_show` with the running IPython shell; False outside IPython."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    shell.set_custom_exc((Exception,), _show)
    return True


def start(fallback: str = "") -> None:
    """The setup cell: say where the notebook runs (and, without a GPU, the chapter's
    `fallback`), and trim check tracebacks. Returns None, so that a cell ending in it shows
    the sentence and nothing else."""
    install_traceback_filter()
    report(fallback)

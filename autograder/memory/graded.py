"""How a Part III check measures: in this process for feedback, in fresh processes for the grade.

Every memory exercise grades a student's setup against the course's baseline the same way: the
visible check (run in the notebook) builds and measures both steps here, one after the other;
the hidden check (run at grading time, with fresh sizes and seeds the chapter draws) measures
each in its own fresh process, where nothing the notebook changed can reach the figure. With
these two functions a chapter's memory check is a draw, one call, and its own assertions.

Known limitations: the visible path runs in the student's process, so a notebook that patches
the meter fools it (only feedback: the hidden path refuses such a notebook).
"""
from __future__ import annotations

from typing import Callable

from .. import isolation
from ..answers import Remote
from .isolated import measure_isolated
from .meter import Measurement, measure
from .setups import build


def measure_one(setup: Callable | str, *args, hidden: bool, label: str = "",
                like: str | None = None, **kwargs) -> Measurement:
    """setup(*args, **kwargs)'s step, measured here (hidden=False) or in a fresh process.

    `setup`: a function, or a "package.module:function" name (how a course baseline must be
    given: the hidden path imports it in the fresh process). `like` asks for the graded form of
    a setup (see `setups.parse`) on both paths."""
    if not (hidden or isinstance(setup, Remote) or isolation.grading_now()):
        return measure(build(setup, *args, like=like, **kwargs), label=label)
    m = measure_isolated(setup, *args, label=label, like=like, **kwargs)
    if not (isinstance(m, Measurement) and m.isolated):
        raise AssertionError("the hidden measurement did not come from a fresh process")
    return m


def measure_pair(baseline: str, candidate: Callable, *, hidden: bool,
                 labels: tuple[str, str] = ("baseline", "candidate"),
                 **kwargs) -> tuple[Measurement, Measurement]:
    """The baseline's step and the candidate's, built with the same arguments and measured.

    `baseline` is the course's setup by name ("package.module:function"), `candidate` the
    student's setup; both must return the graded form (a dict with step, model and optimizer).
    The baseline is measured first, and nothing of it is alive while the candidate is: a figure
    with everything live included (`total`) compares fairly."""
    like = baseline.rpartition(":")[2]
    base = measure_one(baseline, hidden=hidden, label=labels[0], like=like, **kwargs)
    cand = measure_one(candidate, hidden=hidden, label=labels[1], like=like, **kwargs)
    return base, cand

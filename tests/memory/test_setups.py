"""One parser of what a setup returns, the same in this process and in a fresh one, and the
visible/hidden pair of measurements the Part III checks are made of."""
import pytest
import torch
from torch import nn

from autograder import memory
from autograder.memory import Built, MeterError, build, parse
from autograder.memory.workloads import mlp

SETUP = "autograder.memory.workloads:mlp"


def step_only(batch):
    """A setup that returns the bare step: fine for the meter, not for a graded check."""
    return mlp(batch=batch, width=32, depth=1)["step"]


def apply_to_ones(fn):
    """A setup whose step calls fn (here: a notebook function sent by source) on a copy."""
    x = torch.ones(1000)
    return lambda: fn(x.clone())


def test_the_meters_forms_are_accepted():
    s = mlp(batch=8, width=32, depth=1)
    for spec in (s, (s["step"], s["model"], s["optimizer"]), s["step"]):
        b = parse(spec)
        assert isinstance(b, Built) and b.step is s["step"]
    assert parse((s["step"],)).model is None and parse({"step": s["step"]}).optimizer is None
    with pytest.raises(MeterError, match="setup must return the step"):
        parse({"model": s["model"]})


def test_the_graded_form_names_what_came_back():
    assert isinstance(build(SETUP, like="mlp", batch=8, width=32).model, nn.Module)
    with pytest.raises(AssertionError, match=r"step_only\(batch\) should return a dict with keys "
                                             r"'step', 'model' and 'optimizer'.*like fp32_setup"):
        build(step_only, like="fp32_setup", batch=8)
    s = mlp(batch=8, width=32, depth=1)
    with pytest.raises(AssertionError, match="a torch.optim optimizer"):
        parse({**s, "optimizer": "adam"}, like="fp32_setup")


def test_the_fresh_process_refuses_with_the_same_message():
    with pytest.raises(AssertionError, match=r"step_only\(batch\) should return a dict.*like fp32_setup"):
        memory.measure_one(step_only, hidden=True, like="fp32_setup", batch=8)


def test_a_pair_is_the_same_here_and_in_fresh_processes():
    here = memory.measure_pair(SETUP, mlp, hidden=False, labels=("a", "b"), batch=16, width=64)
    far = memory.measure_pair(SETUP, mlp, hidden=True, labels=("a", "b"), batch=16, width=64)
    assert [m.label for m in here] == ["a", "b"] and all(m.isolated for m in far)
    assert [m.peak for m in here] == [m.peak for m in far]
    assert here[0].persistent == far[1].persistent


def test_a_notebook_function_passed_as_an_argument_travels_by_source(tmp_path):
    src = "def double(x):\n    return x * 2\n"
    path = tmp_path / "cell.py"
    path.write_text(src)
    ns = {"__name__": "__main__"}                   # what a notebook cell's globals look like
    exec(compile(src, str(path), "exec"), ns)
    m = memory.measure_one(apply_to_ones, ns["double"], hidden=True)
    assert m.isolated and m.peak == 2 * 1000 * 4    # the copy and the doubled copy, at once

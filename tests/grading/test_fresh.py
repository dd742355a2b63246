"""`fresh` refuses to grade once anything a hidden check would call has been replaced in the
notebook: a shared workload, a name one module takes from another, a shared constant, a class's
method; a chapter's own baseline cannot reach the fresh copy; nothing untouched is flagged."""
import importlib
import pkgutil

import pytest
import torch

import autograder
from autograder import ch10_lean_optimizers as ch10, grading, memory
from autograder.grading import fresh

REFUSED = "replaced in this notebook: "


def every_course_module():
    for info in pkgutil.walk_packages(autograder.__path__, "autograder."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def test_an_untouched_course_is_not_flagged():
    every_course_module()
    assert grading.replaced() == []


def test_a_replaced_shared_workload_is_refused(monkeypatch):
    """The hole this closes: chapter 10's hidden check measured the course's own optimizers on a
    `make_mlp` the notebook could replace, so an answer of 0 bytes passed with a model of none."""
    def no_model(widths, *a, **k):
        return torch.nn.Sequential()
    monkeypatch.setattr(memory.workloads, "make_mlp", no_model)
    with pytest.raises(AssertionError, match=REFUSED + ".*autograder.memory.workloads.make_mlp"):
        fresh("ch10_lean_optimizers").check_state_bytes(lambda opt: 0, hidden=True)


def test_a_shared_workload_replaced_through_the_package_face_is_refused(monkeypatch):
    monkeypatch.setattr(memory, "make_mlp", lambda *a, **k: torch.nn.Sequential())
    with pytest.raises(AssertionError, match=REFUSED + "autograder.memory.make_mlp"):
        fresh("ch10_lean_optimizers")


def test_a_replaced_chapter_baseline_does_not_reach_the_fresh_copy(monkeypatch):
    """The hidden check runs the fresh copy, whose baseline is its own: nothing to refuse."""
    monkeypatch.setattr(ch10, "adam_setup", ch10.sgd_setup)
    assert grading.replaced() == []
    again = fresh("ch10_lean_optimizers")
    assert again.adam_setup.__code__.co_name == "adam_setup" and again.adam_setup is not ch10.adam_setup
    spec = again.adam_setup(batch=8, seed=0)
    assert isinstance(spec["optimizer"], torch.optim.Adam)


def test_a_changed_shared_constant_is_refused(monkeypatch):
    monkeypatch.setattr(memory.arithmetic, "CUDA_BLOCK", 1)
    assert "autograder.memory.arithmetic.CUDA_BLOCK" in grading.replaced()


def test_a_replaced_method_is_refused(monkeypatch):
    monkeypatch.setattr(memory.meter.Measurement, "figure", lambda self, what: 0)
    assert "autograder.memory.meter.Measurement.figure" in grading.replaced()


def test_fresh_loads_the_chapter_from_its_file(monkeypatch):
    monkeypatch.setattr(ch10, "TARGET", {"adam": 0, "sgd_momentum": 0, "sgd": 0})
    assert fresh("ch10_lean_optimizers").TARGET == {"adam": 2, "sgd_momentum": 1, "sgd": 0}
    with pytest.raises(ValueError, match="no checks module"):
        fresh("ch99_nothing")

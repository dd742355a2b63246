"""Byte predictions graded like with like: the meter's CUDA arithmetic, forced on the CPU.

On a GPU the meter rounds every storage up to the caching allocator's 512-byte block; the
predictions chapters 6 and 10 grade count tensor bytes. These tests run the meter's own
functions with the CUDA rounding on a CPU (the tracker's and `persistent`'s byte counts), label
the result "cuda", and check that correct answers still pass and wrong ones still fail.
"""
import contextlib
import dataclasses
from unittest import mock

import pytest
import torch

from autograder import ch06_where_memory_goes as ch06
from autograder import ch10_lean_optimizers as ch10
from autograder import memory
from autograder.memory import arithmetic, meter, tracker
from conftest import cell, defined, solution

# the exercise's right answers (solutions/ is their only home)
PERSISTENT, SAVED = (defined(cell(solution(ch06.SLUG), gid).source, name)
                     for gid, name in (("persistent_answer", "persistent_bytes"), ("saved_answer", "saved_bytes")))


@contextlib.contextmanager
def cuda_arithmetic():
    """The tracker and `persistent` count each storage as the CUDA allocator holds it."""
    with mock.patch.object(tracker, "storage_bytes", lambda n, backend="cpu": arithmetic.storage_bytes(n, "cuda")), \
            mock.patch.object(meter, "tensor_bytes", lambda ts, backend="cpu": arithmetic.tensor_bytes(ts, "cuda")):
        yield


def as_on_cuda(built, label=""):
    with cuda_arithmetic():
        m = meter.measure(built, label=label)
    return dataclasses.replace(m, backend="cuda", method="CUDA arithmetic forced on the CPU")


@pytest.fixture
def ch06_on_cuda(monkeypatch):
    monkeypatch.setattr(ch06, "_measured", lambda hidden, **kw: as_on_cuda(memory.build(ch06.mlp_setup, **kw)))


def test_the_rounding_the_issue_reports():
    """Widths [48, 32, 16], Adam: 33,536 tensor bytes, 36,864 on the allocator; the bytes saved
    by [64, 128, 32, 8] at batch 4: 3,840 and 4,608 (two 128-byte tensors take a block each)."""
    kw = dict(widths=[48, 32, 16], batch=8)
    m = as_on_cuda(memory.build(ch06.mlp_setup, **kw))
    exact = memory.in_tensor_bytes(m, ch06.mlp_setup, **kw)
    assert (sum(m.persistent.values()), sum(exact.persistent.values())) == (36_864, 33_536)
    assert exact.backend == "cpu" and memory.in_tensor_bytes(exact, ch06.mlp_setup, **kw) is exact
    s = as_on_cuda(memory.build(ch06.mlp_setup, [64, 128, 32, 8], 4))
    assert (s.saved, memory.in_tensor_bytes(s, ch06.mlp_setup, [64, 128, 32, 8], 4).saved) == (4_608, 3_840)


def test_ch06_right_answers_pass_on_cuda_arithmetic(ch06_on_cuda):
    ch06.check_bytes_per_parameter(ch06.bytes_per_parameter)
    ch06.check_persistent(PERSISTENT)
    ch06.check_saved(SAVED)


def test_ch06_wrong_answers_still_fail_and_say_both_figures(ch06_on_cuda):
    with pytest.raises(AssertionError, match=r"36,864 bytes on the cuda allocator"):
        ch06.check_bytes_per_parameter(lambda o, p: 12)
    with pytest.raises(AssertionError, match="predicted"):
        ch06.check_saved(lambda widths, batch, activation: 4 * batch * sum(widths))


def test_ch10_state_bytes_on_cuda_arithmetic(monkeypatch):
    monkeypatch.setattr(memory, "measure", as_on_cuda)
    ch10.check_state_bytes(defined(cell(solution(ch10.SLUG), "state_answer").source, "state_bytes",
                                   torch=torch))
    with pytest.raises(AssertionError, match="optimizer state"):
        ch10.check_state_bytes(lambda opt: 0)

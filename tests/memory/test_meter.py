"""The memory meter against figures computed by hand, and against the ways a step can go wrong.

All on the CPU backend (the storage tracker), so that CI without a GPU proves the arithmetic;
the GPU backend's agreement is recorded by `python -m autograder.memory.agreement`.
"""
from __future__ import annotations

import dataclasses
import sys

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from autograder import memory  # noqa: E402
from autograder.memory import (  # noqa: E402
    MeterError, compare, measure, require_reduction, required_at_most)
from autograder.memory import tracker  # noqa: E402
from autograder.memory.workloads import mlp  # noqa: E402

F32 = 4
F32 = 4
# Linear(1024, 1024): (1024*1024 + 1024) * 4 bytes = 4,198,400
LINEAR_BYTES = (1024 * 1024 + 1024) * F32


def linear_step(optimizer: str = "adam", dtype=torch.float32, batch: int = 64):
    torch.manual_seed(0)
    model = nn.Linear(1024, 1024).to(dtype)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), foreach=True)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.1, foreach=True,
                              momentum=0.9 if optimizer == "momentum" else 0.0)
    x = torch.randn(batch, 1024, dtype=dtype)

    def step():
        opt.zero_grad()
        loss = model(x).square().sum()   # Linear saves x; square (pow) saves its input
        loss.backward()
        opt.step()
    return step, model, opt


# ---------------------------------------------------------------- figures known in advance
def test_linear_adam_parameter_gradient_and_state_bytes():
    step, model, opt = linear_step("adam")
    m = measure(step, model=model, optimizer=opt)
    assert m.backend == "cpu" and "storage tracker" in m.method
    assert m.persistent == {"parameters": LINEAR_BYTES, "gradients": LINEAR_BYTES,
                            "optimizer_state": 2 * LINEAR_BYTES}   # exp_avg + exp_avg_sq
    assert m.breakdown["parameters"] == LINEAR_BYTES
    assert sum(m.breakdown.values()) == m.baseline + m.peak
    # saved for backward: x and the Linear's output, 2 * 64 * 1024 * 4 = 524,288 bytes
    # (the weight is saved too, but it is a parameter)
    assert m.saved == 2 * 64 * 1024 * F32
    assert m.retained == 0                          # steady state: new grads replace old ones
    assert "storage tracker" in str(m) and "MiB" in str(m)


def test_sgd_without_momentum_keeps_no_state_and_momentum_one_copy():
    step, model, opt = linear_step("sgd")
    assert measure(step, model=model, optimizer=opt).persistent["optimizer_state"] == 0
    step, model, opt = linear_step("momentum")
    assert measure(step, model=model, optimizer=opt).persistent["optimizer_state"] == LINEAR_BYTES


def test_bf16_halves_parameter_bytes():
    step, model, opt = linear_step("adam", torch.bfloat16)
    m = measure(step, model=model, optimizer=opt)
    assert m.persistent["parameters"] == LINEAR_BYTES // 2          # 2 bytes per value
    assert m.persistent["optimizer_state"] == 2 * (LINEAR_BYTES // 2)


def test_checkpointing_saves_fewer_bytes_for_backward():
    def m_of(ckpt):
        s = mlp(batch=64, width=512, depth=4, ckpt=ckpt)
        return measure(s["step"], model=s["model"], optimizer=s["optimizer"])
    plain, ckpt = m_of(False), m_of(True)
    act = 64 * 512 * F32   # one (64, 512) float32 activation: 131,072 bytes
    # plain: each of 4 blocks saves the Linear's input and the GELU's input (8), mse_loss its
    # input and target (2) -> 10 activations
    assert plain.saved == 10 * act
    # checkpointed: each block keeps only its input (4), plus mse_loss's 2 -> 6 activations
    assert ckpt.saved == 6 * act
    assert require_reduction(compare(plain, ckpt, what="saved"), at_least=0.4) == pytest.approx(0.4)
    assert ckpt.persistent == plain.persistent


def test_a_view_made_in_the_step_is_counted_once():
    def step():
        a = torch.ones(1024, 1024)                   # 4,194,304 bytes
        keep = [a.view(-1), a[::2], a.t(), a[3:5]]   # views: no new bytes
        b = a.clone()                                # a second storage: 4,194,304 bytes
        del keep, b
    m = measure(step)
    assert m.peak == 2 * 1024 * 1024 * F32
    assert m.breakdown["temporaries"] == 2 * 1024 * 1024 * F32


def test_repeated_measurements_give_identical_cpu_figures():
    s = mlp(batch=32, width=256, depth=2)
    a = measure(s["step"], model=s["model"], optimizer=s["optimizer"])
    b = measure(s["step"], model=s["model"], optimizer=s["optimizer"])
    assert a == b


# ---------------------------------------------------------------- checks that must fail
def test_require_reduction_fails_on_an_unchanged_candidate():
    step, model, opt = linear_step("adam")
    m = measure(step, model=model, optimizer=opt)
    with pytest.raises(AssertionError) as e:
        require_reduction(compare(m, m), at_least=0.3)
    msg = str(e.value)
    need = required_at_most(m.peak, 0.3)
    assert "peak above baseline" in msg and "needs at most" in msg and "30% lower" in msg
    assert f"{m.peak:,} bytes" in msg and f"{need:,} bytes" in msg


def test_cuda_counters_are_refused_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert memory.resolve_backend(None) == "cpu"
    with pytest.raises(MeterError, match="counters would read 0"):
        measure(lambda: None, backend="cuda")
    with pytest.raises(MeterError, match="needs a CUDA GPU"):
        memory.snapshot(lambda: None)


def test_each_tracker_counts_only_its_own_device():
    a = torch.ones(1000)                            # 4,000 bytes on the CPU
    cpu, cuda = tracker.Tracker("cpu"), tracker.Tracker("cuda")
    assert cpu.adopt(a).nbytes == 4000 and cpu.adopt(a[10:]) is cpu.adopt(a)   # a view: same
    assert cuda.adopt(a) is None and cuda.live == 0
    cpu.close()


def test_nothing_measured_shows_no_reduction():
    m = measure(lambda: None)        # returns nothing, allocates nothing
    assert m.peak == 0 and m.saved == 0
    with pytest.raises(AssertionError, match="measured 0 bytes"):
        require_reduction(compare(m, m))


def test_different_backends_are_not_compared():
    step, model, opt = linear_step("sgd")
    m = measure(step, model=model, optimizer=opt)
    with pytest.raises(MeterError, match="same backend"):
        compare(m, dataclasses.replace(m, backend="cuda"))


# ---------------------------------------------------------------- bad input, clean state after
def _clean_state():
    assert torch._C._len_torch_dispatch_stack() == 0
    assert not memory.meter._ACTIVE.locked()


def test_a_step_that_raises_is_reported_and_the_meter_stays_clean():
    step, model, opt = linear_step("sgd")
    before = measure(step, model=model, optimizer=opt)
    calls = []

    def bad():
        calls.append(1)
        step()
        if len(calls) == 2:                          # fails in the measured step, not warm-up
            raise ValueError("boom")
    with pytest.raises(MeterError, match="raised ValueError: boom during the measured step"):
        measure(bad, model=model, optimizer=opt)
    _clean_state()
    assert measure(step, model=model, optimizer=opt) == before


def test_out_of_memory_is_reported():
    def huge():
        torch.empty(2**62, dtype=torch.uint8)
    with pytest.raises(MeterError, match="ran out of memory during the warm-up"):
        measure(huge)
    _clean_state()


def test_a_step_that_keeps_tensors_alive_shows_it():
    kept = []

    def leaky():
        kept.append(torch.ones(256, 1024))          # 256 * 1024 * 4 = 1 MiB per call
    m = measure(leaky)
    assert m.retained == 256 * 1024 * F32 and m.peak == 256 * 1024 * F32
    assert "more alive than before" in str(m)


def test_autograd_in_place_check_still_fires_under_the_meter():
    w = torch.randn(100, requires_grad=True)

    def wrong():
        y = w.exp()          # exp saves its output for backward
        y.add_(1)            # ... which this overwrites
        y.sum().backward()
    with pytest.raises(MeterError, match="modified by an inplace operation"):
        measure(wrong, warmup=0)
    net = nn.Sequential(nn.Linear(16, 16), nn.ReLU(inplace=True), nn.Linear(16, 4))
    x = torch.randn(8, 16)
    assert measure(lambda: net(x).sum().backward(), model=net).peak > 0   # legal in-place ReLU
    _clean_state()


def test_not_callable_and_nested_measurements_are_refused():
    with pytest.raises(TypeError):
        measure(42)
    with pytest.raises(MeterError, match="already running"):
        measure(lambda: measure(lambda: None), warmup=0)
    _clean_state()


# ---------------------------------------------------------------- pictures
def test_plots_draw_every_kind():
    step, model, opt = linear_step("adam")
    m = measure(step, model=model, optimizer=opt, label="Adam")
    ax = m.plot()
    assert "parameters" in [t.get_text() for t in ax.get_legend().get_texts()]
    step, model, opt = linear_step("sgd")
    c = compare(m, measure(step, model=model, optimizer=opt, label="SGD"), what="persistent")
    assert c.ratio == pytest.approx(2 / 4)           # (params + grads) / (params + grads + 2x)
    assert c.plot() is not None and "ratio 0.500" in str(c)
    # two figures, two pictures: "saved" draws the saved bytes, not the breakdown at the peak
    heights = {}
    for what in ("peak", "saved"):
        ax = compare(m, m, what=what).plot()
        heights[what] = sorted(round(p.get_height() * 2**20) for p in ax.patches)
    assert heights["saved"] == [m.saved, m.saved] and heights["saved"] != heights["peak"]
    import matplotlib.pyplot as plt
    plt.close("all")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

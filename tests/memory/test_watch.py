"""The watch against figures computed by hand: what a step's forward pass leaves for backward,
where it lives, what backward runs again, and which gradients differ."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from autograder.memory.watch import gradient_gap, measurement, observe, recomputed, require_same_gradients

ROWS, WIDTH = 256, 64
ACT = ROWS * WIDTH * 4          # one activation: 256 * 64 * 4 bytes = 64 KiB
# Under pack hooks every saved tensor is packed on its own: x (kept by the first Linear), tanh's
# output twice (kept by tanh and by the second Linear), the second Linear's weight (1 x 64
# floats, for the gradient of its input). Outside them: the output `out` (256 floats, alive in
# the step), the loss and its gradient seed (4 bytes each).
OUTSIDE = ROWS * 4 + 4 + 4
PACKED = 3 * ACT + WIDTH * 4


@pytest.fixture(autouse=True)
def one_thread(one_thread):
    yield


def tanh_setup(hooks=None, ckpt=False, seed=0):
    """x -> Linear -> tanh -> Linear -> sum: Linear keeps its input, tanh its output, the second
    Linear its input (tanh's output, the same tensor). Held for backward: the first Linear's
    output is not kept (tanh keeps its own output), so 1 activation; x existed before."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.Tanh(), nn.Linear(WIDTH, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, foreach=True)
    x = torch.randn(ROWS, WIDTH)

    def step():
        opt.zero_grad(set_to_none=True)
        if hooks is not None:
            with torch.autograd.graph.saved_tensors_hooks(*hooks):
                out = model(x)
        elif ckpt:
            out = checkpoint(model, x, use_reentrant=False)
        else:
            out = model(x)
        loss = out.sum()
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


def host_copy(t):                     # what save_on_cpu(pin_memory=True) does without a GPU
    buf = torch.empty(t.size(), dtype=t.dtype, layout=t.layout)
    buf.copy_(t)
    return buf


def test_held_for_backward_by_hand():
    d = observe(tanh_setup)
    # tanh's output (1 activation), the model's output (256 floats), the loss and its gradient seed
    assert d["held"] == [{"device": ACT + OUTSIDE, "host": 0, "pinned": 0}]
    assert d["optimizer_steps"] == 1 and d["rows"] == [ROWS]
    assert isinstance(d["loss"], float) and measurement(d).backend == "cpu"
    assert set(d["grads"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}



@pytest.mark.parametrize("how, device, host", [
    ("host copy", OUTSIDE, PACKED),           # every packed tensor copied to a host buffer
    ("clone", OUTSIDE + PACKED, 0),           # a copy where its input lives: still on the device
    ("cpu", OUTSIDE + ACT, 0),                # t.cpu() of a CPU tensor is t: nothing moved
])
def test_where_saved_tensors_live_without_a_gpu(how, device, host):
    hooks = {"host copy": (host_copy, lambda t: t), "clone": (lambda t: t.clone(), lambda t: t),
             "cpu": (lambda t: t.cpu(), lambda t: t)}[how]
    d = observe(tanh_setup, hooks)
    assert d["held"][0]["device"] == device and d["held"][0]["host"] == host
    assert gradient_gap(d["grads"], observe(tanh_setup)["grads"]) is None


def test_save_on_cpu_with_pinning_copies_and_without_does_not():
    pinned = observe(lambda: _save_on_cpu(True))
    plain = observe(lambda: _save_on_cpu(False))
    assert pinned["held"][0]["host"] >= ACT and pinned["held"][0]["device"] < ACT
    assert plain["held"][0]["host"] == 0 and plain["held"][0]["device"] >= ACT


def _save_on_cpu(pin):
    spec = tanh_setup()
    step = spec["step"]

    def wrapped():
        with torch.autograd.graph.save_on_cpu(pin_memory=pin):
            return step()
    return {**spec, "step": wrapped}


def test_recomputation_is_read_from_backward():
    plain, ckpt = observe(tanh_setup), observe(tanh_setup, ckpt=True)
    # the recomputation stops once it has what backward needs: the second addmm is not rerun
    assert recomputed(ckpt, plain) == {"addmm": 1, "tanh": 1}
    assert recomputed(plain, plain) == {}
    assert ckpt["held"][0]["device"] == OUTSIDE      # the region's input is x, made before


def test_gradient_gap_names_the_first_difference():
    want = {"a": torch.ones(3), "b": torch.tensor([1.0, 2.0])}
    assert gradient_gap(want, want) is None
    assert gradient_gap({"a": torch.ones(3), "b": torch.tensor([1.0, 2.1])}, want) == \
        ("b", pytest.approx(0.05))
    assert gradient_gap({"a": None, "b": want["b"]}, want) == ("a", 1.0)


def test_the_seed_makes_dropout_repeat():
    def drop_setup():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, foreach=True)
        x = torch.randn(16, 8)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(x), x)
            loss.backward()
            opt.step()
            return loss.detach()
        return {"step": step, "model": model, "optimizer": opt}
    a, b, c = observe(drop_setup, rng=1), observe(drop_setup, rng=1), observe(drop_setup, rng=2)
    assert gradient_gap(a["grads"], b["grads"], rtol=0.0) is None
    assert gradient_gap(c["grads"], a["grads"]) is not None


def test_require_same_gradients_words_the_difference():
    want = {"w": torch.ones(4)}
    require_same_gradients({"w": torch.ones(4)}, want, 1e-6, "batch 8", "hint")
    with pytest.raises(AssertionError, match=r"batch 8: the gradient of w differs from the "
                                             r"baseline's by 0.5 .* hint"):
        require_same_gradients({"w": torch.tensor([1.0, 1.5, 1.0, 1.0])}, want, 1e-6, "batch 8", "hint")
    with pytest.raises(AssertionError, match="no gradient at all"):
        require_same_gradients({"w": None}, want, 1e-6, "batch 8", "hint")

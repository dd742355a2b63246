"""Chapter 6: the predictions match the meter, wrong ones fail for the right reason, and
nbgrader grades submissions right (all on the CPU backend, the meter's storage tracker)."""
import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from autograder import ch06_where_memory_goes as ch06, memory  # noqa: E402
from conftest import cell, release, scenario, solved  # noqa: E402

SLUG = "ch06_where_memory_goes"
COPIES = {"adam": 2, "sgd_momentum": 1, "sgd": 0}


# ---------------------------------------------------------------- known-wrong answers
def bpp_no_gradients(optimizer, precision="float32"):
    size = {"float32": 4, "bfloat16": 2}[precision]
    return size * (1 + COPIES[optimizer])                   # value + state, no gradient


def bpp_adam_one_state(optimizer, precision="float32"):
    size = {"float32": 4, "bfloat16": 2}[precision]
    return size * (2 + min(COPIES[optimizer], 1))           # Adam counted as one copy


def persistent_no_gradients(model, optimizer):
    out = ch06.persistent_bytes(model, optimizer)
    return {**out, "gradients": 0}


def persistent_adam_one_state(model, optimizer):
    out = ch06.persistent_bytes(model, optimizer)
    return {**out, "optimizer_state": out["gradients"] if optimizer == "adam" else out["optimizer_state"]}


def persistent_frozen_too(model, optimizer):
    every = sum(p.numel() * 4 for p in model.parameters())  # frozen ones get grads and state?
    return {"parameters": every, "gradients": every, "optimizer_state": COPIES[optimizer] * every}


def saved_linear_outputs(widths, batch):
    return 4 * batch * sum(widths[1:])                      # each Linear's output, nothing else


def saved_double_counted(widths, batch):
    # x, each hidden activation twice (ReLU's output and the next Linear's input), out, y
    return 4 * batch * (widths[0] + 2 * sum(widths[1:-1]) + 2 * widths[-1])


def saved_no_target(widths, batch):
    return 4 * batch * (sum(widths[:-1]) + widths[-1])      # forgot mse_loss's target


# ---------------------------------------------------------------- the checks
# That the checks pass the reference answer, visible and hidden (in a fresh process): the
# round trip at the end, where the solution scores 10. That a notebook which replaces the meter
# in its own kernel changes no grade: the gauntlet (tests/grading/test_gauntlet.py).
@pytest.mark.parametrize("wrong", [bpp_no_gradients, bpp_adam_one_state])
def test_wrong_bytes_per_parameter_fail(wrong):
    with pytest.raises(AssertionError, match=r"bytes_per_parameter\('adam'.*the meter measured"):
        ch06.check_bytes_per_parameter(wrong)


@pytest.mark.parametrize("wrong, message", [
    (persistent_no_gradients, "gradients predicted 0 bytes"),
    (persistent_adam_one_state, r"'adam'.*optimizer state predicted"),
    (persistent_frozen_too, r"1 Linear\(s\) frozen: gradients predicted"),
    (lambda model, optimizer: 5, "should return a dict"),
])
def test_wrong_persistent_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        ch06.check_persistent(wrong)


@pytest.mark.parametrize("wrong", [saved_linear_outputs, saved_double_counted, saved_no_target,
                                   lambda widths, batch: float(ch06.saved_bytes(widths, batch))])
def test_wrong_saved_fail(wrong):
    with pytest.raises(AssertionError, match=r"saved_bytes\(|should return an int"):
        ch06.check_saved(wrong)


# ---------------------------------------------------------------- the page's pieces
def test_calculator_prediction_equals_the_meter():
    # 2 Linear(32, 32): 2 * (32*32 + 32) = 2,112 parameters
    n = ch06.mlp_parameters(32, 2)
    assert n == 2112
    pred = ch06.predict(n, batch=4, seq=8, hidden=32, layers=2, optimizer="adam")
    assert pred["parameters"] == 2112 * 4 and pred["optimizer_state"] == 2 * 2112 * 4
    assert pred["activations"] == 4 * 8 * 32 * 4 * (2 + 2)   # x, one ReLU output, out, y
    m = ch06.measure_mlp([32, 32, 32], 4, seq=8)
    assert {k: pred[k] for k in m.persistent} == m.persistent and pred["activations"] == m.saved
    assert ch06.bytes_per_parameter("adam") == 16 and ch06.bytes_per_parameter("sgd", "bfloat16") == 4
    bf = ch06.predict(n, 4, 8, 32, 2, precision="bfloat16", optimizer="sgd")
    assert bf["optimizer_state"] == 0 and bf["parameters"] == pred["parameters"] // 2
    assert "measured by the meter" in ch06.prediction_rows(pred, m)
    assert ch06.calculator() is not None


def test_gpu_only_pieces_refuse_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="no GPU"):
        ch06.record()
    with pytest.raises(RuntimeError, match="no GPU"):
        ch06.allocator_demo()


# ---------------------------------------------------------------- the notebooks
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=120)
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-adam-one-state": solved(SLUG, **scenario(SLUG, "adam_one_state")),
        "submitted-frozen-outputs-cheat": solved(SLUG, **scenario(SLUG, "frozen_counted"),
                                                 **scenario(SLUG, "linear_outputs_cheat")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-adam-one-state": 4,         # parts 1 and 2 lost, part 3 kept
        "submitted-frozen-outputs-cheat": 2,   # part 2 lost; part 3's patched meter fools
    }                                          # only its own kernel: the grader measures elsewhere
    out = c.output("submitted-solution")
    assert "1 models within 1% of the meter" in out and "storage tracker" in out
    cheat = cell(c.graded("submitted-frozen-outputs-cheat"), "saved_check")
    assert "the meter measured 4,096 bytes saved" in "".join(str(o) for o in cheat.outputs)

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


def _size(p):
    return p.numel() * p.element_size()


def _copies(optimizer, group, amsgrad=1):
    if isinstance(optimizer, torch.optim.Adam):
        return 2 + amsgrad * bool(group["amsgrad"])
    return 1 if group["momentum"] else 0


def _state(optimizer, frozen_too=False, **kw):
    return sum(_copies(optimizer, g, **kw) * sum(_size(p) for p in g["params"] if frozen_too or p.requires_grad)
               for g in optimizer.param_groups)


def persistent_right(model, optimizer):
    return {"parameters": sum(_size(p) for p in model.parameters()),
            "gradients": sum(_size(p) for p in model.parameters() if p.requires_grad),
            "optimizer_state": _state(optimizer)}


def persistent_no_gradients(model, optimizer):
    return {**persistent_right(model, optimizer), "gradients": 0}


def persistent_no_amsgrad(model, optimizer):       # every Adam group counted as two copies
    return {**persistent_right(model, optimizer), "optimizer_state": _state(optimizer, amsgrad=0)}


def persistent_frozen_too(model, optimizer):       # frozen parameters given state too
    return {**persistent_right(model, optimizer), "optimizer_state": _state(optimizer, frozen_too=True)}


def persistent_page(model, optimizer):             # the page's function, the optimizer taken by its class
    return ch06.persistent_bytes(model, "adam" if isinstance(optimizer, torch.optim.Adam) else "sgd_momentum")


def saved_right(widths, batch, activation):
    kept = 2 if activation in ("gelu", "silu") else 1
    return 4 * batch * (widths[0] + kept * sum(widths[1:-1]) + 2 * widths[-1])


def saved_page(widths, batch, activation):         # the page's ReLU count, whatever the activation
    return ch06.saved_bytes(widths, batch)


def saved_inputs_for_all(widths, batch, activation):   # every activation taken to keep its input
    return 4 * batch * (widths[0] + 2 * sum(widths[1:-1]) + 2 * widths[-1])


def saved_linear_outputs(widths, batch, activation):
    return 4 * batch * sum(widths[1:])                 # each Linear's output, nothing else


def saved_no_target(widths, batch, activation):
    return saved_right(widths, batch, activation) - 4 * batch * widths[-1]   # forgot mse_loss's target


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
    (persistent_no_amsgrad, r"amsgrad = \[True, False\]: optimizer state predicted"),
    (persistent_frozen_too, r"1 Linear\(s\) frozen, SGD.*optimizer state predicted"),
    (persistent_page, r"amsgrad = \[True, False\]: optimizer state predicted"),
    (lambda model, optimizer: 5, "should return a dict"),
])
def test_wrong_persistent_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        ch06.check_persistent(wrong)


@pytest.mark.parametrize("wrong, message", [
    (saved_page, r"saved_bytes\(\[32, 64, 16\], batch=8, activation='gelu'\)"),
    (saved_inputs_for_all, r"activation='sigmoid'"),
    (saved_linear_outputs, r"saved_bytes\("),
    (saved_no_target, r"saved_bytes\("),
    (lambda widths, batch, activation: float(saved_right(widths, batch, activation)), "should return an int"),
])
def test_wrong_saved_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        ch06.check_saved(wrong)


def test_right_predictions_pass_other_cases_than_the_page():
    ch06.check_persistent(persistent_right)
    ch06.check_saved(saved_right)
    # the exercise's optimizer: one group per Linear, frozen ones included
    model = memory.make_mlp([8, 4, 2], frozen=1)
    opt = ch06.grouped_optimizer("sgd", model, [{"momentum": 0.9}, {"momentum": 0.0}])
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2] and opt.param_groups[1]["momentum"] == 0.0


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
        "submitted-page-copied": solved(SLUG, **scenario(SLUG, "page_copied")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-adam-one-state": 4,         # parts 1 and 2 lost, part 3 kept
        "submitted-frozen-outputs-cheat": 2,   # part 2 lost; part 3's patched meter fools
        "submitted-page-copied": 2,            # the page's case (part 1) only
    }                                          # only its own kernel: the grader measures elsewhere
    out = c.output("submitted-solution")
    assert "2 models within 1% of the meter" in out and "storage tracker" in out
    cheat = cell(c.graded("submitted-frozen-outputs-cheat"), "saved_check")
    assert "the meter measured 6,144 bytes saved" in "".join(str(o) for o in cheat.outputs)

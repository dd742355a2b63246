"""Chapter 9: the checks pass in-place answers, fail what is not, and nbgrader grades it right."""
import random
import re

import pytest
import torch

from autograder import ch09_inplace as ch09, memory
from autograder.answers import Remote
from autograder.shipping import ship
from conftest import cell, defined, release, scenario, solution, solved

SLUG = "ch09_inplace"
ACT = ch09.ROWS * ch09.COLS * 4       # (a): one activation, 2048 * 256 * 4 bytes = 2 MiB
UNIT = ch09.BATCH * ch09.WIDTH * 4    # (b): one activation, 1024 * 64 * 4 bytes = 256 KiB


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


# ---------------------------------------------------------------- known-wrong answers
def wrong(situation, grade_id):
    """The answer of one situation in tests/scenarios/ch09_inplace/."""
    return scenario(SLUG, situation)[grade_id]


NAMESPACE = {"torch": torch, "CAP": ch09.CAP, "GELU_C": ch09.GELU_C}


def define(src, name):
    ns = dict(NAMESPACE)
    exec(src, ns)
    return ns[name]


def answer(grade_id, name):
    """The solution's answer of one cell (the package holds none of the exercise's answers)."""
    return defined(cell(solution(SLUG), grade_id).source, name, **NAMESPACE)


def writes_from_message(fn, x):
    """The test's own reading of autograd's error: found minus expected version, 0 without it."""
    try:
        fn(x).sum().backward()
    except RuntimeError as exc:
        found, expected = re.search(r"is at version (\d+); expected version (\d+)", str(exc)).groups()
        return int(found) - int(expected)
    return 0


def test_reference_passes_every_check():
    gelu_inplace = answer("inference_answer", "gelu_inplace")
    for hidden in (False, True):
        ch09.check_inference(gelu_inplace, hidden=hidden)
        ch09.check_read_error(answer("read_error_answer", "inplace_writes"), hidden=hidden)
    ch09.check_inference_peak(gelu_inplace)   # hidden: in the round trip, from the notebook
    ch09.check_training(answer("training_answer", "res_forward_inplace"))


def test_the_package_holds_no_answer():
    for name in ("gelu_inplace", "res_forward_inplace", "inplace_writes", "read_inplace_error"):
        assert not hasattr(ch09, name), name


def test_which_peaks_move():
    """The page's cases: in place lowers inference and forward peaks by one activation, and not
    the step's."""
    inf, fwd, step = (ch09.measure_setting(s) for s in ("inference", "forward", "training step"))
    assert (ch09.activation_bytes("inference"), ch09.activation_bytes("forward")) == (ACT, UNIT)
    # x * scale, then h + bias: two activations at once; in place, one
    assert [m.peak for m in inf] == [2 * ACT, ACT]
    # out of place, during tanh: relu's output, clamp's, fc2's and tanh's; in place, no tanh's
    assert [m.peak for m in fwd] == [4 * UNIT, 3 * UNIT]
    # x, relu's (or add_'s) output, clamp's output and tanh's: the same four saved either way
    assert [m.saved for m in fwd] == [4 * UNIT, 4 * UNIT]
    # the step's peak is in backward, and equal to the byte
    assert step[0].peak == step[1].peak > 4 * UNIT


def test_the_exercises_peaks_on_paper():
    """GELU: 0.5 * x waits beside the bracket's two operands (3); in place, one buffer. The
    residual block: sigmoid's output (kept by sigmoid and the product), the product (kept by
    fc2), fc2's output and the sum (4); in place, the sum is fc2's output (3)."""
    gelu = memory.measure(ch09.gelu_setup(ch09.gelu)).peak
    mine = memory.measure(ch09.gelu_setup(answer("inference_answer", "gelu_inplace"))).peak
    assert (gelu, mine) == (3 * ACT, ACT)
    peaks = []
    for fn in (ch09.res_forward, answer("training_answer", "res_forward_inplace")):
        spec = ch09.res_forward_setup(fn)
        peaks.append(memory.measure(spec["step"], model=spec["model"]).peak)
    assert peaks == [4 * UNIT, 3 * UNIT]


def test_no_technique_is_right_but_loses_the_reduction():
    gelu_inplace = define(wrong("no_technique", "inference_answer"), "gelu_inplace")
    ch09.check_inference(gelu_inplace)
    with pytest.raises(AssertionError, match=r"inference \(2048x256\) peak: candidate 6,291,456 "
                                             r"bytes, baseline 6,291,456 bytes; needs at most "
                                             r"2,097,152 bytes \(one activation tensor"):
        ch09.check_inference_peak(gelu_inplace)
    with pytest.raises(AssertionError, match=r"forward pass \(batch 1024\) peak: candidate "
                                             r"1,048,576 bytes, baseline 1,048,576 bytes; needs "
                                             r"at most 786,432 bytes"):
        ch09.check_training(define(wrong("no_technique", "training_answer"), "res_forward_inplace"))


def test_half_in_place_is_not_enough():
    with pytest.raises(AssertionError, match="candidate 6,291,456 bytes"):
        ch09.check_inference_peak(define(wrong("half_infer", "inference_answer"), "gelu_inplace"))


def test_overwriting_the_callers_input_fails():
    for check in (ch09.check_inference, ch09.check_inference_peak):
        with pytest.raises(AssertionError, match="changed its argument x: the caller still uses it"):
            check(define(wrong("overwrites_input", "inference_answer"), "gelu_inplace"))


def test_the_fused_op_is_not_in_place():
    """F.gelu's tanh form is one fused op: right, one buffer, but no in-place op in the call."""
    fused = lambda x: torch.nn.functional.gelu(x, approximate="tanh")  # noqa: E731
    ch09.check_inference(fused)
    with pytest.raises(AssertionError, match="ran no in-place operation"):
        ch09.check_inference_peak(fused)


def test_in_place_on_a_saved_tensor_fails_with_autograd_error():
    with pytest.raises(AssertionError, match=r"backward failed after res_forward_inplace: .* modified "
                                             r"by an inplace operation.* is at version 2; expected "
                                             r"version 1 instead.*keep that op out of place"):
        ch09.check_training(define(wrong("breaks_autograd", "training_answer"), "res_forward_inplace"))
    with pytest.raises(AssertionError, match=r"backward failed .* is at version 1; expected version 0"):
        ch09.check_training(define(wrong("residual_into_x", "training_answer"), "res_forward_inplace"))


def test_dodging_the_error_with_data_changes_the_gradients():
    with pytest.raises(AssertionError, match="the gradient of gain should be a tensor of shape \\(64,\\), got NoneType"):
        ch09.check_training(define(wrong("data_dodge", "training_answer"), "res_forward_inplace"))


def test_checkpointing_with_an_in_place_op_is_another_technique():
    """Its peak is as low and its gradients equal; what autograd saved gives it away."""
    fn = defined(wrong("checkpointed", "training_answer"), "res_forward_inplace", **NAMESPACE)
    for hidden in (False, True):   # hidden: as grading holds it, measured in a fresh process
        with pytest.raises(AssertionError, match=r"autograd saved 262,144 bytes for backward .*the "
                                                 r"baseline 786,432.*another technique"
                                                 if not hidden else "another technique"):
            ch09.check_training(Remote(ship(fn)) if hidden else fn, hidden=hidden)


def test_forward_that_fails_or_leaves_autograd_is_named():
    with pytest.raises(AssertionError, match="raised in the forward pass: a leaf Variable"):
        ch09.check_training(lambda model, x: model.gain.add_(1.0))
    with pytest.raises(AssertionError, match="do not use no_grad"):
        ch09.check_training(torch.no_grad()(ch09.res_forward))


def test_the_pages_code_solves_nothing():
    answers = scenario(SLUG, "the_pages_code")
    with pytest.raises(TypeError, match="missing 2 required positional arguments"):
        ch09.check_inference(define(answers["inference_answer"], "gelu_inplace"))
    with pytest.raises(AssertionError, match="raised in the forward pass: .*shift"):
        ch09.check_training(define(answers["training_answer"], "res_forward_inplace"))
    with pytest.raises(AssertionError, match="should return an int"):
        ch09.check_read_error(define(answers["read_error_answer"], "inplace_writes"))


def test_wrong_counts_of_the_writes_fail():
    with pytest.raises(AssertionError, match=r"case \d+: \d in-place write\(s\) after the save, got \d"):
        ch09.check_read_error(define(wrong("swapped_versions", "read_error_answer"), "inplace_writes"))
    with pytest.raises(AssertionError, match="let this error through: one of the variables"):
        ch09.check_read_error(lambda fn, x: fn(x).sum().backward())
    with pytest.raises(AssertionError, match="should return an int"):
        ch09.check_read_error(lambda fn, x: "version 1")


def test_unwritten_answers_are_named():
    def stub(*args):
        raise NotImplementedError()    # what nbgrader leaves in a released answer cell
    for name, checks in (("gelu_inplace", (ch09.check_inference, ch09.check_inference_peak)),
                         ("res_forward_inplace", (ch09.check_training,)),
                         ("inplace_writes", (ch09.check_read_error,))):
        stub.__name__ = name
        for check in checks:
            with pytest.raises(AssertionError, match=f"{name} is not written yet"):
                check(stub)


def test_error_cases_match_autograd():
    """The generator's counts are what autograd's message says, on many chains, views included."""
    rng, seen = random.Random(0), set()
    for _ in range(200):
        fn, want = ch09.error_case(rng)
        assert writes_from_message(fn, torch.randn(4, 3, requires_grad=True)) == want
        seen.add(want)
    assert seen == {0, 1, 2, 3}


def test_timelines_show_the_same_peaks():
    inf = [max(n for _, n in ch09.timeline(f, *ch09.inference_data(on="cpu")))
           for f in (ch09.infer, ch09.infer_inplace)]
    assert inf == [2 * ACT, ACT]
    for f, fwd in ((ch09.forward, 4), (ch09.forward_inplace, 3)):
        log, marks = ch09.step_timeline(f)
        assert max(n for _, n in log[:marks["loss"]]) == fwd * UNIT
        # backward: the loss's gradient chain, 7 activations and the two Linear gradients' bytes
        assert 7 * UNIT <= max(n for _, n in log[marks["backward"]:]) < 7 * UNIT + 2 * 64 * 65 * 4


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch09.record()


# ---------------------------------------------------------------- the round trip
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=90)
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-no-technique": solved(SLUG, **scenario(SLUG, "no_technique")),
        "submitted-breaks-autograd-swapped-versions": solved(SLUG, **scenario(SLUG, "breaks_autograd"),
                                                             **scenario(SLUG, "swapped_versions")),
        "submitted-overwrites-input-data-dodge": solved(SLUG, **scenario(SLUG, "overwrites_input"),
                                                        **scenario(SLUG, "data_dodge")),
        "submitted-the-pages-code": solved(SLUG, **scenario(SLUG, "the_pages_code")),
        "submitted-checkpointed": solved(SLUG, **scenario(SLUG, "checkpointed")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-no-technique": 4,                      # right (2), counting (2), no reduction
        # backward fails (the forward's 3 lost), the found version returned as the count (2 lost)
        "submitted-breaks-autograd-swapped-versions": 5,
        # the caller's x changed (inference's 5 lost), gradients wrong (3 lost)
        "submitted-overwrites-input-data-dodge": 2,
        # the page's cases answer none of the exercise's
        "submitted-the-pages-code": 0,
        "submitted-checkpointed": 7,                      # another technique: training's 3 lost
    }
    text = c.output("submitted-solution", clean=True)  # the solution ran top to bottom
    assert "inference peak (fresh process" in text and "training forward (fresh process" in text
    assert "inplace_writes: 12 chains read right" in text
    out = c.output("submitted-breaks-autograd-swapped-versions", "training_check")
    assert "is at version 2; expected version 1" in out

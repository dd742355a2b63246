"""Chapter 9: the checks pass in-place answers, fail what is not, and nbgrader grades it right."""
import random

import pytest
import torch

from autograder import ch09_inplace as ch09
from conftest import release, scenario, solved

SLUG = "ch09_inplace"
ACT = ch09.ROWS * ch09.COLS * 4       # (a): one activation, 2048 * 256 * 4 bytes = 2 MiB
UNIT = ch09.BATCH * ch09.WIDTH * 4    # (b): one activation, 1024 * 64 * 4 bytes = 256 KiB


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


# ---------------------------------------------------------------- known-wrong answers
def wrong(situation, grade_id):
    """The answer of one situation in tests/scenarios/ch09_inplace/."""
    return scenario(SLUG, situation)[grade_id]


def define(src, name):
    ns = {"torch": torch, "CAP": ch09.CAP}
    exec(src, ns)
    return ns[name]


def test_reference_passes_every_check():
    for hidden in (False, True):
        ch09.check_inference(ch09.infer_inplace, hidden=hidden)
        ch09.check_read_error(ch09.read_inplace_error, hidden=hidden)
    ch09.check_inference_peak(ch09.infer_inplace)   # hidden: in the round trip, from the notebook
    ch09.check_training(ch09.forward_inplace)


def test_which_peaks_move():
    """In place lowers inference and forward peaks by one activation, and not the step's."""
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


def test_no_technique_is_right_but_loses_the_reduction():
    infer = define(wrong("no_technique", "inference_answer"), "infer_inplace")
    ch09.check_inference(infer)
    with pytest.raises(AssertionError, match=r"inference \(2048x256\) peak: candidate 4,194,304 "
                                             r"bytes, baseline 4,194,304 bytes; needs at most "
                                             r"2,097,152 bytes \(one activation tensor"):
        ch09.check_inference_peak(infer)
    with pytest.raises(AssertionError, match=r"forward pass \(batch 1024\) peak: candidate "
                                             r"1,048,576 bytes, baseline 1,048,576 bytes; needs "
                                             r"at most 786,432 bytes"):
        ch09.check_training(define(wrong("no_technique", "training_answer"), "forward_inplace"))


def test_half_in_place_is_not_enough():
    with pytest.raises(AssertionError, match="candidate 4,194,304 bytes"):
        ch09.check_inference_peak(define(wrong("half_infer", "inference_answer"), "infer_inplace"))


def test_overwriting_the_callers_input_fails():
    for check in (ch09.check_inference, ch09.check_inference_peak):
        with pytest.raises(AssertionError, match="changed its argument x: the caller still uses it"):
            check(define(wrong("overwrites_input", "inference_answer"), "infer_inplace"))


def test_in_place_on_a_saved_tensor_fails_with_autograd_error():
    with pytest.raises(AssertionError, match=r"backward failed after forward_inplace: .* modified "
                                             r"by an inplace operation.* is at version 3; expected "
                                             r"version 2 instead.*keep that op out of place"):
        ch09.check_training(define(wrong("breaks_autograd", "training_answer"), "forward_inplace"))


def test_dodging_the_error_with_data_changes_the_gradients():
    with pytest.raises(AssertionError, match="the gradient of .* differs from the baseline's"):
        ch09.check_training(define(wrong("data_dodge", "training_answer"), "forward_inplace"))


def test_forward_that_fails_or_leaves_autograd_is_named():
    with pytest.raises(AssertionError, match="raised in the forward pass: a leaf Variable"):
        ch09.check_training(lambda model, x: model.shift.add_(1.0))
    with pytest.raises(AssertionError, match="do not use no_grad"):
        ch09.check_training(torch.no_grad()(ch09.forward))


def test_wrong_reading_of_the_error_fails():
    with pytest.raises(AssertionError, match=r"case \d+: expected \(\d, \d\) .* got \(\d, \d\)"):
        ch09.check_read_error(define(wrong("swapped_versions", "read_error_answer"), "read_inplace_error"))
    with pytest.raises(AssertionError, match="let this error through: one of the variables"):
        ch09.check_read_error(lambda fn, x: fn(x).sum().backward())
    with pytest.raises(AssertionError, match="None or two integers"):
        ch09.check_read_error(lambda fn, x: "version 1")


def test_unwritten_answers_are_named():
    def stub(*args):
        raise NotImplementedError()    # what nbgrader leaves in a released answer cell
    for name, checks in (("infer_inplace", (ch09.check_inference, ch09.check_inference_peak)),
                         ("forward_inplace", (ch09.check_training,)),
                         ("read_inplace_error", (ch09.check_read_error,))):
        stub.__name__ = name
        for check in checks:
            with pytest.raises(AssertionError, match=f"{name} is not written yet"):
                check(stub)


def test_error_cases_match_autograd():
    """The generator's expected versions are what autograd reports, on many chains."""
    rng, seen = random.Random(0), set()
    for _ in range(200):
        fn, want = ch09.error_case(rng)
        assert ch09.read_inplace_error(fn, torch.randn(3, requires_grad=True)) == want
        seen.add(want is None)
    assert seen == {True, False}


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
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-no-technique": 4,                      # right (2), reading (2), no reduction
        # backward fails (the forward's 3 lost), versions read the wrong way round (2 lost)
        "submitted-breaks-autograd-swapped-versions": 5,
        # the caller's x changed (inference's 5 lost), gradients wrong (3 lost)
        "submitted-overwrites-input-data-dodge": 2,
    }
    text = c.output("submitted-solution", clean=True)  # the solution ran top to bottom
    assert "inference peak (fresh process" in text and "training forward (fresh process" in text
    assert "read_inplace_error: 12 chains read right" in text
    out = c.output("submitted-breaks-autograd-swapped-versions", "training_check")
    assert "is at version 3; expected version 2" in out

"""Chapter 7: the checks pass mixed precision, fail what is not, and nbgrader grades it right."""
import pytest
import torch
import torch.nn.functional as F

from autograder import ch07_mixed_precision as ch07, memory
from autograder.ch07_mixed_precision import amp_settings, make_data, make_model
from conftest import release, scenario, solved

SLUG = "ch07_mixed_precision"


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


# ---------------------------------------------------------------- known-wrong answers
def wrong(situation, grade_id="amp_answer"):
    """The answer of one situation in tests/scenarios/ch07_mixed_precision/."""
    return scenario(SLUG, situation)[grade_id]


def define(src, name):
    ns = {"torch": torch, "F": F, "amp_settings": amp_settings, "make_model": make_model,
          "make_data": make_data}
    exec(src, ns)
    return ns[name]


def test_reference_passes_every_check():
    for hidden in (False, True):
        ch07.check_parity(ch07.amp_setup, hidden=hidden)
        ch07.check_fp16_roundtrip(ch07.fp16_roundtrip, hidden=hidden)
    ch07.check_reduction(ch07.amp_setup)   # hidden: in the round trip, from the notebook


def test_amp_lowers_the_peak_and_saved_bytes_but_not_persistent_ones():
    (b, a) = (memory.measure(s["step"], model=s["model"], optimizer=s["optimizer"])
              for s in (ch07.fp32_setup(), ch07.amp_setup()))
    assert memory.compare(b, a, what="peak").reduction >= ch07.TARGET
    assert memory.compare(b, a, what="saved").reduction >= ch07.TARGET
    # 9 Linear(64, 64): 9 * (64*64 + 64) * 4 bytes each for parameters and gradients, 2x for Adam
    assert a.persistent == b.persistent == {"parameters": 149_760, "gradients": 149_760,
                                            "optimizer_state": 299_520}


def test_no_technique_keeps_parity_but_loses_the_reduction():
    setup = define(wrong("no_technique"), "amp_setup")
    ch07.check_parity(setup)
    with pytest.raises(AssertionError, match=r"peak above baseline: candidate .* needs at most .*"
                                             r"30% lower\); measured 0% lower"):
        ch07.check_reduction(setup)


def test_autocast_around_backward_only_loses_the_reduction():
    setup = define(wrong("backward_only"), "amp_setup")
    ch07.check_parity(setup)
    with pytest.raises(AssertionError, match="forward pass .* inside torch.autocast"):
        ch07.check_reduction(setup)


def test_returning_the_scaled_loss_is_told_the_scale_factor():
    setup = define(wrong("returns_scaled_loss"), "amp_setup")
    if not amp_settings().scaler:
        pytest.skip("bfloat16 here: no GradScaler, the scale is 1")
    with pytest.raises(AssertionError, match=r"about 65,536 \(2\*\*16\) times the baseline's: the "
                                             r"GradScaler's scale factor. Return the loss itself"):
        ch07.check_parity(setup)


def test_casting_the_model_loses_correctness():
    setup = define(wrong("cast_model"), "amp_setup")
    with pytest.raises(AssertionError, match="loss .* more than 1% apart|parameters are"):
        ch07.check_parity(setup)
    # it lowers the peak, but the measured run is checked too: a float16 model without a
    # scaler overflows, and a step that does not train earns no memory points
    with pytest.raises(AssertionError, match="the measured step must train like the baseline's"):
        ch07.check_reduction(setup)


def test_master_weight_rule_names_the_dtype():
    """A model in another dtype whose losses stay close (float64) still fails, on the rule."""
    setup = define(wrong("float64_model"), "amp_setup")
    with pytest.raises(AssertionError, match="parameters are torch.float64: .* master weights"):
        ch07.check_parity(setup)


def test_wrong_roundtrip_fails_with_a_hint():
    with pytest.raises(AssertionError, match="scale before rounding to float16"):
        ch07.check_fp16_roundtrip(define(wrong("cast_then_scale", "roundtrip_answer"), "fp16_roundtrip"))
    with pytest.raises(AssertionError, match="tensor shaped like grads"):
        ch07.check_fp16_roundtrip(lambda g, s: g.tolist())


def test_setup_that_returns_something_else_is_named():
    with pytest.raises(AssertionError, match="dict with keys 'step'"):
        ch07.check_parity(lambda batch, seed: None)


def test_settings_follow_the_machine():
    amp = amp_settings()
    assert amp.device_type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert amp.scaler == (amp.dtype == torch.float16)
    assert dict((op, out) for op, _, out in ch07.dtype_table())["linear"] == str(amp.dtype)[6:]


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch07.record()


# ---------------------------------------------------------------- the round trip
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=90)
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-no-technique-cheat-wrong-roundtrip": solved(SLUG, **scenario(SLUG, "cheat"),
                                                               **scenario(SLUG, "cast_then_scale")),
        "submitted-cast-model": solved(SLUG, **scenario(SLUG, "cast_model")),
        "submitted-autocast-backward-only": solved(SLUG, **scenario(SLUG, "backward_only")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        # the faked meter fools only its own kernel: the grader measures outside it, so the
        # honest parity keeps its 3 points; the reduction (none) and the roundtrip lose theirs
        "submitted-no-technique-cheat-wrong-roundtrip": 3,
        "submitted-cast-model": 3,                     # less memory, from a step that does not train
        "submitted-autocast-backward-only": 6,         # right, and no reduction
    }
    text = c.output("submitted-solution", clean=True)  # the solution ran top to bottom
    assert "reduction (fresh processes" in text and "fp16_roundtrip: 10 cases right" in text
    assert "parameters + gradients + optimizer state" in text
    out = c.output("submitted-no-technique-cheat-wrong-roundtrip", "reduction_check")
    assert "measured 0% lower" in out               # the real step, measured where no cheat runs

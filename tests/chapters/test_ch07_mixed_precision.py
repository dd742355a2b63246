"""Chapter 7: the checks pass mixed precision, fail what is not, and nbgrader grades it right."""
import linecache

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder import ch07_mixed_precision as ch07, memory
from autograder.ch07_mixed_precision import CLIP_NORM, amp_settings, make_data, make_model
from conftest import cell, release, scenario, solution, solved, unmarked

SLUG = "ch07_mixed_precision"


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


# ---------------------------------------------------------------- known-wrong answers
def wrong(situation, grade_id="amp_answer"):
    """The answer of one situation in tests/scenarios/ch07_mixed_precision/."""
    return scenario(SLUG, situation)[grade_id]


def define(src, name):
    ns = {"torch": torch, "F": F, "amp_settings": amp_settings, "make_model": make_model,
          "make_data": make_data, "CLIP_NORM": CLIP_NORM}
    where = f"<answer {name} {abs(hash(src))}>"       # its source readable, as a notebook cell's
    linecache.cache[where] = (len(src), None, src.splitlines(keepends=True), where)
    exec(compile(src, where, "exec"), ns)
    return ns[name]


def answer(name="amp_clip_setup", grade_id="amp_answer"):
    """The solution's answer (it lives in solutions/ only, not in the package)."""
    return define(unmarked(cell(solution(SLUG), grade_id).source), name)


def test_solution_passes_every_check():
    setup, decide = answer(), answer("scaler_step", "scaler_answer")
    for hidden in (False, True):
        ch07.check_parity(setup, hidden=hidden)
        ch07.check_scaler_step(decide, hidden=hidden)
    ch07.check_reduction(setup)   # hidden: in the round trip, from the notebook


def test_the_package_holds_no_answer():
    assert not hasattr(ch07, "amp_clip_setup") and not hasattr(ch07, "scaler_step")


def test_the_page_s_step_does_not_clip():
    """The chapter's autocast step, pasted under the exercise's name, is not the answer."""
    setup = define(wrong("page_step"), "amp_clip_setup")
    with pytest.raises(AssertionError, match=r"gradients' norm is .* above the clip of 0.005"):
        ch07.check_parity(setup)
    with pytest.raises(AssertionError, match=r"the measured step .*above the clip"):
        ch07.check_reduction(setup)


def test_clipping_the_scaled_gradients_is_told_to_unscale_first():
    if not amp_settings().scaler:
        pytest.skip("bfloat16 here: no GradScaler, nothing to unscale")
    setup = define(wrong("clips_scaled_gradients"), "amp_clip_setup")
    for check in (ch07.check_parity, ch07.check_reduction):
        with pytest.raises(AssertionError, match=r"about 1/[\d,]+ of the baseline's.*scaler.unscale_"):
            check(setup)


def test_the_clip_bites_in_the_graded_steps():
    """The baseline's gradients, where they are compared, are clipped: an unclipped step differs."""
    base = memory.trial(ch07.fp32_setup, steps=ch07.GRADS_AT + 1, measure_at=ch07.GRADS_AT,
                        batch=96, seed=1)
    assert float(np.linalg.norm(base.grad)) > 2 * CLIP_NORM


def test_amp_lowers_the_peak_and_saved_bytes_but_not_persistent_ones():
    (b, a) = (memory.measure(s["step"], model=s["model"], optimizer=s["optimizer"])
              for s in (ch07.fp32_setup(), ch07.amp_setup()))
    assert memory.compare(b, a, what="peak").reduction >= ch07.TARGET
    assert memory.compare(b, a, what="saved").reduction >= ch07.TARGET
    # 9 Linear(64, 64): 9 * (64*64 + 64) * 4 bytes each for parameters and gradients, 2x for Adam
    assert a.persistent == b.persistent == {"parameters": 149_760, "gradients": 149_760,
                                            "optimizer_state": 299_520}


def test_no_technique_keeps_parity_but_loses_the_reduction():
    setup = define(wrong("no_technique"), "amp_clip_setup")
    ch07.check_parity(setup)
    with pytest.raises(AssertionError, match=r"peak above baseline: candidate .* needs at most .*"
                                             r"30% lower\); measured 0% lower"):
        ch07.check_reduction(setup)


def test_autocast_around_backward_only_loses_the_reduction():
    setup = define(wrong("backward_only"), "amp_clip_setup")
    ch07.check_parity(setup)
    with pytest.raises(AssertionError, match="forward pass .* inside torch.autocast"):
        ch07.check_reduction(setup)


def test_returning_the_scaled_loss_is_told_the_scale_factor():
    setup = define(wrong("returns_scaled_loss"), "amp_clip_setup")
    if not amp_settings().scaler:
        pytest.skip("bfloat16 here: no GradScaler, the scale is 1")
    with pytest.raises(AssertionError, match=r"about 65,536 \(2\*\*16\) times the baseline's: the "
                                             r"GradScaler's scale factor. Return the loss itself"):
        ch07.check_parity(setup)


def test_casting_the_model_loses_correctness():
    setup = define(wrong("cast_model"), "amp_clip_setup")
    with pytest.raises(AssertionError, match="loss .* more than 1% apart|parameters are"):
        ch07.check_parity(setup)
    # it lowers the peak, but the measured run is checked too: a float16 model without a
    # scaler overflows, and a step that does not train earns no memory points
    with pytest.raises(AssertionError, match="the measured step .*not finite|the measured step must train like"):
        ch07.check_reduction(setup)


def test_master_weight_rule_names_the_dtype():
    """A model in another dtype whose losses stay close (float64) still fails, on the rule."""
    setup = define(wrong("float64_model"), "amp_clip_setup")
    with pytest.raises(AssertionError, match="parameters are torch.float64: .* master weights"):
        ch07.check_parity(setup)


def test_wrong_scaler_steps_fail_with_a_hint():
    with pytest.raises(AssertionError, match="scale before rounding to float16"):
        ch07.check_scaler_step(define(wrong("cast_then_scale", "scaler_answer"), "scaler_step"))
    with pytest.raises(AssertionError, match="a pair .*one value's trip through float16"):
        ch07.check_scaler_step(define(wrong("page_roundtrip", "scaler_answer"), "scaler_step"))
    with pytest.raises(AssertionError, match="skips this step; return None"):
        ch07.check_scaler_step(define(wrong("never_skips", "scaler_answer"), "scaler_step"))
    with pytest.raises(AssertionError, match="next scale .* expected .*halved"):
        ch07.check_scaler_step(lambda g, s: (None, s) if not torch.isfinite((g * s).half()).all()
                               else ((g * s).half().float() / s, s))
    with pytest.raises(AssertionError, match="tensor shaped like grads"):
        ch07.check_scaler_step(lambda g, s: (None, s / 2) if not torch.isfinite((g * s).half()).all()
                               else (g.tolist(), s))


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
        "submitted-no-technique-cheat-wrong-scaler": solved(SLUG, **scenario(SLUG, "cheat"),
                                                               **scenario(SLUG, "cast_then_scale")),
        "submitted-cast-model": solved(SLUG, **scenario(SLUG, "cast_model")),
        "submitted-autocast-backward-only": solved(SLUG, **scenario(SLUG, "backward_only")),
        # the page's code under the exercise's names: its step does not clip, its scaler step
        # decides nothing
        "submitted-page-code": solved(SLUG, **scenario(SLUG, "page_step"), **scenario(SLUG, "page_roundtrip")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        # the faked meter fools only its own kernel: the grader measures outside it, so the
        # honest parity keeps its 3 points; the reduction (none) and the scaler step lose theirs
        "submitted-no-technique-cheat-wrong-scaler": 3,
        "submitted-cast-model": 3,                     # less memory, from a step that does not train
        "submitted-autocast-backward-only": 6,         # right, and no reduction
        "submitted-page-code": 0,                      # the chapter's case is not the exercise's
    }
    text = c.output("submitted-solution", clean=True)  # the solution ran top to bottom
    assert "reduction (fresh processes" in text and "scaler_step: 10 cases right" in text
    assert "parameters + gradients + optimizer state" in text
    out = c.output("submitted-no-technique-cheat-wrong-scaler", "reduction_check")
    assert "measured 0% lower" in out               # the real step, measured where no cheat runs

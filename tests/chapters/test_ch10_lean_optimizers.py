"""Chapter 10: the checks pass lean SGD, fail what is not, and nbgrader grades it right."""
import math

import pytest
import torch
import torch.nn.functional as F

from autograder import ch10_lean_optimizers as ch10, memory
from autograder.ch10_lean_optimizers import batches, make_model
from conftest import cell, defined, release, scenario, solution, solved

SLUG = "ch10_lean_optimizers"


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


# ---------------------------------------------------------------- known-wrong answers
def wrong(situation, grade_id="sgd_answer"):
    """The answer of one situation in tests/scenarios/ch10_lean_optimizers/."""
    return scenario(SLUG, situation)[grade_id]


NAMESPACE = {"torch": torch, "F": F, "math": math, "make_model": make_model, "batches": batches}


def define(src, name):
    ns = dict(NAMESPACE)
    exec(src, ns)
    return ns[name]


def answer(grade_id, name):
    """The solution's answer of one cell (the package holds none of the exercise's answers)."""
    return defined(cell(solution(SLUG), grade_id).source, name, **NAMESPACE)


def test_reference_passes_the_quick_checks():
    ch10.check_memory(answer("sgd_answer", "warm_sgd_setup"))
    ch10.check_state_bytes(answer("state_answer", "state_bytes"))
    # training, and every hidden check: in the round trip, where the solution scores full marks


def test_the_package_holds_no_answer():
    assert not hasattr(ch10, "warm_sgd_setup")
    with pytest.raises(TypeError, match="no state model for RMSprop"):   # the page's: Adam, SGD
        ch10.check_state_bytes(ch10.state_bytes)


def test_the_schedule_on_paper():
    """steps 200: 20 warm-up steps, 0.05 to 1 x the peak, then 180 of cosine from the peak."""
    lrs = [ch10.warmup_cosine_rate(1.0, t, 200) for t in range(200)]
    assert lrs[0] == 0.05 and lrs[19] == 1.0 and lrs[20] == 1.0 and lrs[110] == pytest.approx(0.5)
    assert ch10.warmup_cosine_rate(1.0, 1, 3) == 1.0     # 3 steps: one of warm-up


def test_state_is_exactly_two_one_and_zero_copies_of_the_parameters():
    # 32*256 + 256 + 256*256 + 256 + 256*10 + 10 = 76,810 parameters * 4 bytes = 307,240 bytes
    params = 307_240
    for name, copies in (("Adam", 2), ("SGD + momentum 0.9, cosine", 1), ("SGD, cosine", 0)):
        s = ch10.variant_setup(name)
        m = memory.measure(s["step"], model=s["model"], optimizer=s["optimizer"])
        assert m.persistent == {"parameters": params, "gradients": params,
                                "optimizer_state": copies * params}, name
        assert ch10.state_bytes(ch10.variant_setup(name)["optimizer"]) == copies * params


def test_update_temporaries_by_implementation():
    """Adam's foreach update holds one copy of all parameters at once (sqrt of exp_avg_sq); the
    for-loop two of the largest tensor (256 x 256 floats here); fused none; SGD none at all."""
    peak = {(k, i): memory.measure(memory.build(ch10.update_setup, k, i)).peak
            for k in ("adam", "sgd") for i in ("foreach", "for-loop", "fused")}
    assert peak["adam", "foreach"] == 307_240
    assert 2 * 256 * 256 * 4 <= peak["adam", "for-loop"] < 2 * 256 * 256 * 4 + 2048
    assert peak["adam", "fused"] == 0
    assert all(peak["sgd", i] == 0 for i in ("foreach", "for-loop", "fused"))


def test_momentum_keeps_accuracy_but_fails_the_state():
    setup = define(wrong("momentum"), "warm_sgd_setup")
    ch10.check_training(setup)
    with pytest.raises(AssertionError, match=r"optimizer state measured 307,240 bytes .*1 x the "
                                             r"parameter bytes.*momentum buffer.*\[cpu: storage"):
        ch10.check_memory(setup)


def test_adam_with_a_schedule_fails_the_state():
    with pytest.raises(AssertionError, match=r"614,480 bytes .*2 x .* needs exactly 0: two copies"):
        ch10.check_memory(define(wrong("adam_cosine"), "warm_sgd_setup"))


def test_sgd_at_adams_rate_saves_memory_but_does_not_learn():
    setup = define(wrong("adam_rate"), "warm_sgd_setup")
    with pytest.raises(AssertionError, match=r"test accuracy .* needs at least 97% of it.*far "
                                             r"larger starting rate"):
        ch10.check_training(setup)
    ch10.check_memory(setup)


def test_no_schedule_is_named():
    with pytest.raises(AssertionError, match=r"before step 1 of 200 the learning rate is 1; with a "
                                             r"peak of 1, a linear warm-up over the first 20 steps "
                                             r".* has it at 0.05"):
        ch10.check_training(define(wrong("no_schedule"), "warm_sgd_setup"))


def test_the_pages_cosine_misses_the_warm_up():
    answers = scenario(SLUG, "the_pages_code")
    setup = define(answers["sgd_answer"], "warm_sgd_setup")
    with pytest.raises(AssertionError, match=r"before step 1 of 200 the learning rate is 1; .*"
                                             r"warm-up over the first 20 steps"):
        ch10.check_training(setup)
    ch10.check_memory(setup)    # the memory half is the same plain SGD's: the page's own lesson
    with pytest.raises(TypeError, match="no state model for RMSprop"):
        ch10.check_state_bytes(define(answers["state_answer"], "state_bytes"))


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_state_hidden_in_a_second_optimizer_fails_the_peak():
    with pytest.raises(AssertionError, match=r"peak including everything live: .* a second "
                                             r"optimizer"):
        ch10.check_memory(define(wrong("hidden_adam"), "warm_sgd_setup"))


def test_gradients_kept_between_steps_fail_the_peak():
    with pytest.raises(AssertionError, match=r"set_to_none=False"):
        ch10.check_memory(define(wrong("grads_kept"), "warm_sgd_setup"))


def test_wrong_predictions_name_the_optimizer():
    with pytest.raises(AssertionError, match=r"state_bytes for rmsprop_centered on .*: predicted "
                                             r"[\d,]+ bytes, the meter measured"):
        ch10.check_state_bytes(define(wrong("no_centered", "state_answer"), "state_bytes"))
    with pytest.raises(AssertionError, match=r"rmsprop_centered .* first 1 Linear\(s\) frozen: predicted"):
        ch10.check_state_bytes(define(wrong("frozen_counted", "state_answer"), "state_bytes"))
    with pytest.raises(AssertionError, match="stepped inside state_bytes"):
        ch10.check_state_bytes(define(wrong("steps_it", "state_answer"), "state_bytes"))
    with pytest.raises(AssertionError, match="should return an int"):
        ch10.check_state_bytes(lambda opt: 1.5)


def test_setup_that_returns_something_else_is_named():
    with pytest.raises(AssertionError, match="dict with keys 'step'"):
        ch10.check_training(lambda batch, seed, steps: None)


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch10.record()


# ---------------------------------------------------------------- the round trip
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=90)
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-momentum": solved(SLUG, **scenario(SLUG, "momentum")),
        "submitted-adam-rate-no-centered": solved(SLUG, **scenario(SLUG, "adam_rate"),
                                                  **scenario(SLUG, "no_centered")),
        "submitted-the-pages-code": solved(SLUG, **scenario(SLUG, "the_pages_code")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-momentum": 6,                 # learns, keeps a velocity per parameter
        "submitted-adam-rate-no-centered": 4,    # no state, but does not learn; wrong prediction
        "submitted-the-pages-code": 4,           # no warm-up (3 lost), Adam and SGD only (3 lost)
    }
    text = c.output("submitted-solution", clean=True)  # the solution ran top to bottom
    assert "memory (fresh processes" in text and "state_bytes: 3 optimizers predicted" in text
    assert text.count("training (seed") == 2
    out = c.output("submitted-momentum", "memory_check")
    assert "SGD's momentum buffer" in out

"""Chapter 12: the checks pass accumulation, fail what is not, and nbgrader grades it right."""
import random

import pytest
import torch
import torch.nn.functional as F

from autograder import ch12_accumulation as ch12
from autograder.ch12_accumulation import PAD, VOCAB, make_data, make_model
from autograder.memory.watch import measurement, observe
from conftest import answer_text, release, scenario, solved

SLUG = "ch12_accumulation"
UNIT = ch12.BATCH * ch12.WIDTH * 4      # the page's activation: 1024 * 256 * 4 bytes = 1 MiB

pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


def define(src, name):
    ns = {"torch": torch, "F": F, "make_model": make_model, "make_data": make_data,
          "VOCAB": VOCAB, "PAD": PAD}
    exec(src, ns)
    return ns[name]


def wrong(situation, name="accum_setup", grade_id="accum_answer"):
    return define(scenario(SLUG, situation)[grade_id], name)


def test_reference_passes_every_check():
    setup = define(answer_text(SLUG, "accum_answer"), "accum_setup")
    ch12.check_gradients(setup)
    ch12.check_memory(setup)
    weights = define(answer_text(SLUG, "weights_answer"), "micro_weights")
    ch12.check_weights(weights, hidden=True)    # the other hidden checks: in the round trip


def test_the_pages_activation_peak_is_one_kth_plus_one_weight_gradient():
    """Big batch: 5 activations held when backward starts (3 ReLU outputs, the output, the CPU
    loss's buffer; and 12 bytes of scalars: the running total, the loss's share, the gradient
    seed), then the output's gradient: 6. Accumulated: 6/k, plus from the second micro-batch a
    weight's and a bias's new gradients (256 * 256 and 256 floats) before they are added."""
    big, acc = observe(ch12.page_setup, 1), observe(ch12.page_setup, 4)
    weight = 256 * 256 * 4
    assert big["held"] == [{"device": 5 * UNIT + 12, "host": 0, "pinned": 0}]
    assert [h["device"] for h in acc["held"]] == [5 * UNIT // 4 + 12] * 4
    assert big["activation_peak"] == 6 * UNIT + 16
    assert acc["activation_peak"] == 6 * UNIT // 4 + weight + 256 * 4 + 12
    assert acc["rows"] == [256] * 4 and acc["optimizer_steps"] == 1
    assert ch12.fixed_costs({256: acc["activation_peak"], 512: observe(ch12.page_setup, 2)["activation_peak"]}) \
        == weight + 256 * 4 + 12
    assert measurement(acc).peak < 0.4 * measurement(big).peak


def test_no_accumulation_keeps_the_gradients_but_not_the_signature():
    setup = wrong("no_technique")
    ch12.check_gradients(setup)
    with pytest.raises(AssertionError, match=r"the model ran on batches of \[32\] rows"):
        ch12.check_memory(setup)


@pytest.mark.parametrize("situation", ["mean_over_k", "unscaled"])
def test_wrong_scaling_fails_both_gradient_checks(situation):
    for check in (ch12.check_gradients, ch12.check_memory):
        with pytest.raises(AssertionError, match=r"differs from the big batch's .* divided by the "
                                                 r"big batch's token count"):
            check(wrong(situation))


def test_one_backward_at_the_end_keeps_every_graph():
    setup = wrong("one_backward")
    ch12.check_gradients(setup)
    with pytest.raises(AssertionError, match=r"activation peak: candidate .* calling backward once"):
        ch12.check_memory(setup)


def test_wrong_weights_are_named():
    for situation in ("ones_over_k", "counts_padding"):
        with pytest.raises(AssertionError, match=r"weight 0 should be .*1/k is right only when"):
            ch12.check_weights(wrong(situation, "micro_weights", "weights_answer"))
    with pytest.raises(AssertionError, match="should return 4 numbers"):
        ch12.check_weights(lambda t, k: None)


def test_what_changes_and_ddp():
    changes = ch12.what_changes()
    assert changes["plain"] < 1e-5
    assert changes["loss not divided by k"] == pytest.approx(3.0, rel=0.05)      # k - 1
    assert changes["BatchNorm1d"] > 0.1 and changes["BatchNorm running_mean"] > 0.1
    assert changes["Dropout(0.1)"] > 0.1
    assert ch12.ddp_allreduces(4) == {"without no_sync": 4, "with no_sync": 1}


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch12.record()


# ---------------------------------------------------------------- the round trip
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=120)
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-mean-over-k-ones-over-k": solved(SLUG, **scenario(SLUG, "mean_over_k"),
                                                    **scenario(SLUG, "ones_over_k")),
        "submitted-one-backward": solved(SLUG, **scenario(SLUG, "one_backward")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-mean-over-k-ones-over-k": 0,   # a micro-batch's memory, the wrong gradients
        "submitted-one-backward": 6,              # right gradients, the big batch's memory
    }
    text = c.output("submitted-solution", clean=True)     # the solution ran top to bottom
    assert "hidden draw" in text and "in fresh processes" in text
    assert "micro_weights: 9 padded batches right" in text
    assert "token count" in c.output("submitted-mean-over-k-ones-over-k", "gradients_check")


def test_a_drawn_batch_always_holds_a_real_token():
    """A draw where every sequence came out empty made the check itself divide by zero (one
    hidden draw in 2000), failing the right answer."""
    class AllEmpty(random.Random):
        def choice(self, seq):
            return seq[0]                       # every length drawn from [0, randint] is 0
    t, want = ch12._weights_case(AllEmpty(1), 12, 2)
    assert (t != ch12.PAD).any() and sum(want) == pytest.approx(1.0)

"""Chapter 8: the checks pass pure bf16, fail what is not, and nbgrader grades it right."""
import math

import pytest
import torch
import torch.nn.functional as F

from autograder import ch08_bf16 as ch08, memory
from autograder.ch08_bf16 import make_data, make_model
from conftest import release, scenario, solved

SLUG = "ch08_bf16"


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


# ---------------------------------------------------------------- known-wrong answers
def wrong(situation, grade_id="bf16_answer"):
    """The answer of one situation in tests/scenarios/ch08_bf16/."""
    return scenario(SLUG, situation)[grade_id]


def define(src, name):
    ns = {"torch": torch, "F": F, "make_model": make_model, "make_data": make_data}
    exec(src, ns)
    return ns[name]


def test_reference_passes_every_check():
    for hidden in (False, True):
        ch08.check_parity(ch08.bf16_setup, hidden=hidden)
        ch08.check_spacing(ch08.spacing, hidden=hidden)
    ch08.check_memory(ch08.bf16_setup)   # hidden: in the round trip, from the notebook


def test_bf16_halves_persistent_bytes_exactly_and_the_peak():
    b, h = (memory.measure(memory.build(s), label="x") for s in (ch08.fp32_setup, ch08.bf16_setup))
    # LayerNorm(64): 2 * 64; 9 Linear(64, 64): 9 * (64*64 + 64); 4 bytes each in float32
    p = (2 * 64 + 9 * (64 * 64 + 64)) * 4
    assert b.persistent == {"parameters": p, "gradients": p, "optimizer_state": 2 * p}
    assert h.persistent == {"parameters": p // 2, "gradients": p // 2, "optimizer_state": p}
    assert (ch08.persistent_bytes(torch.float32), ch08.persistent_bytes(torch.bfloat16)) \
        == (b.persistent, h.persistent)
    assert memory.compare(b, h, what="peak").reduction >= ch08.TARGET


def test_on_a_gpu_the_allocator_blocks_are_counted_not_halved():
    """CUDA rounds each storage up to 512 bytes: a bias is 256 bytes in float32 and 128 in
    bfloat16, one block either way, so the check wants bfloat16's figure, not half of fp32's."""
    # 9 weights: 16,384 -> 8,192 bytes (multiples of 512); 9 biases + LayerNorm's 2: 512 each
    fp32, bf16 = (ch08.persistent_bytes(dt, "cuda") for dt in (torch.float32, torch.bfloat16))
    assert fp32["parameters"] == 9 * 16_384 + 11 * 512 and bf16["parameters"] == 9 * 8_192 + 11 * 512
    assert ch08.not_bf16(bf16, "cuda") == []
    halved = {k: v // 2 for k, v in fp32.items()}
    assert ch08.not_bf16(halved, "cuda")[0] == "parameters 76,544 bytes (bfloat16 needs exactly 79,360)"


def test_formats_agree_with_finfo_and_rounding():
    assert all(r["agrees"] for r in ch08.format_table())
    demo = {r[0]: r[1:] for r in ch08.rounding_demo()}
    assert demo["1 + 1/256"] == (1 + 1 / 256, 1 + 1 / 256, 1.0)     # bf16: a tie, to even
    assert math.isinf(demo["70000"][1]) and demo["70000"][2] == 70144.0
    assert ch08.spacing(1.0, torch.bfloat16) == 2.0 ** -7
    assert ch08.spacing(0.0, torch.float16) == 2.0 ** -24           # smallest subnormal


def test_lost_update_and_its_fixes():
    assert ch08.accumulate("bfloat16") == 1.0                       # every update rounds away
    assert abs(ch08.accumulate("float32") - 1.1) < 1e-3
    for how in ("fp32 master", "kahan"):
        assert abs(ch08.accumulate(how) - 1.1) <= 2.0 ** -7           # within one bf16 spacing


def test_support_by_compute_capability():
    assert ch08.torch_answers((7, 5)) == (True, False)                  # the T4 caveat, by torch
    assert ch08.torch_answers((8, 0)) == (True, True)
    assert not torch.cuda.is_bf16_supported() or torch.cuda.is_available()   # patches undone
    assert [r["bf16"] for r in ch08.support_table()] == ["emulated", "emulated", "native",
                                                          "native", "native"]
    assert ch08.bf16_support((7, 5), emulation_ok=True) == "emulated"     # a T4
    assert ch08.bf16_support((7, 5), emulation_ok=False) == "absent"
    assert ch08.bf16_support((8, 0), emulation_ok=False) == "native"      # an A100
    assert ch08.bf16_support((9, 0), emulation_ok=True) == "native"
    assert ch08.bf16_support(None, emulation_ok=True) == "absent"
    verdict, why = ch08.machine_bf16()
    assert verdict in ("native", "emulated") and verdict in why


def test_no_technique_keeps_parity_but_loses_the_memory():
    setup = define(wrong("no_technique"), "bf16_setup")
    ch08.check_parity(setup)
    with pytest.raises(AssertionError, match=r"persistent bytes not halved .* parameters 150,272 "
                                             r"bytes \(bfloat16 needs exactly 75,136\)"):
        ch08.check_memory(setup)


def test_autocast_lowers_the_peak_but_not_the_persistent_bytes():
    setup = define(wrong("autocast"), "bf16_setup")
    ch08.check_parity(setup)
    with pytest.raises(AssertionError, match="persistent bytes not halved .* optimizer_state 300,544"):
        ch08.check_memory(setup)


def test_float16_overflows_and_earns_no_memory_points_either():
    setup = define(wrong("float16"), "bf16_setup")
    with pytest.raises(AssertionError, match=r"step 1 .* loss nan.* beyond float16's largest value"):
        ch08.check_parity(setup)
    # the same bytes as bf16, but the measured run is checked too: its steps give nan
    with pytest.raises(AssertionError, match="loss nan, the baseline's .* the measured step must train"):
        ch08.check_memory(setup)


def test_inputs_left_fp32_fail_with_a_hint():
    setup = define(wrong("inputs_fp32"), "bf16_setup")
    for check in (ch08.check_parity, ch08.check_memory):
        with pytest.raises(AssertionError, match="mixed types: .* Cast the inputs and targets"):
            check(setup)


def test_a_copied_model_does_not_train():
    setup = define(wrong("copied_model"), "bf16_setup")
    with pytest.raises(AssertionError, match="more than 1% apart.*optimizer hold the parameters"):
        ch08.check_parity(setup)
    with pytest.raises(AssertionError, match="optimizer_state 0 bytes"):
        ch08.check_memory(setup)


def test_wrong_spacing_fails_with_a_hint():
    with pytest.raises(AssertionError, match="power of two"):
        ch08.check_spacing(define(wrong("relative_spacing", "spacing_answer"), "spacing"))
    with pytest.raises(AssertionError, match="below the smallest normal"):
        ch08.check_spacing(define(wrong("no_subnormals", "spacing_answer"), "spacing"))
    with pytest.raises(AssertionError, match="should return a number"):
        ch08.check_spacing(lambda x, dt: [x])


def test_setup_that_returns_something_else_is_named():
    with pytest.raises(AssertionError, match="dict with keys 'step'"):
        ch08.check_parity(lambda batch, seed: None)


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch08.record()


# ---------------------------------------------------------------- the round trip
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=90)
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-no-technique-wrong-spacing": solved(SLUG, **scenario(SLUG, "no_technique"),
                                                       **scenario(SLUG, "relative_spacing")),
        "submitted-float16": solved(SLUG, **scenario(SLUG, "float16")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-no-technique-wrong-spacing": 3,    # right losses, no reduction, wrong spacing
        "submitted-float16": 3,                       # half the bytes, from steps that give nan
    }
    text = c.output("submitted-solution", clean=True)  # the solution ran top to bottom
    assert "memory (fresh processes" in text and "persistent bytes bfloat16's (50% of fp32's)" in text
    assert "spacing: 147 cases right" in text and "float16 losses: [nan" in text

"""Chapter 8: the checks pass pure bf16, fail what is not, and nbgrader grades it right."""
import linecache
import math

import pytest
import torch
import torch.nn.functional as F

from autograder import ch08_bf16 as ch08, memory
from autograder.ch08_bf16 import CLASSES, make_data, make_model
from conftest import cell, release, scenario, solution, solved, unmarked

SLUG = "ch08_bf16"


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


# ---------------------------------------------------------------- known-wrong answers
def wrong(situation, grade_id="bf16_answer"):
    """The answer of one situation in tests/scenarios/ch08_bf16/."""
    return scenario(SLUG, situation)[grade_id]


def define(src, name):
    ns = {"torch": torch, "F": F, "make_model": make_model, "make_data": make_data, "CLASSES": CLASSES}
    where = f"<answer {name} {abs(hash(src))}>"       # its source readable, as a notebook cell's
    linecache.cache[where] = (len(src), None, src.splitlines(keepends=True), where)
    exec(compile(src, where, "exec"), ns)
    return ns[name]


def answer(name="bf16_class_setup", grade_id="bf16_answer"):
    """The solution's answer (it lives in solutions/ only, not in the package)."""
    return define(unmarked(cell(solution(SLUG), grade_id).source), name)


def test_solution_passes_every_check():
    setup, spacing = answer(), answer("layout_spacing", "spacing_answer")
    for hidden in (False, True):
        ch08.check_parity(setup, hidden=hidden)
        ch08.check_spacing(spacing, hidden=hidden)
    ch08.check_memory(setup)   # hidden: in the round trip, from the notebook


def test_the_package_holds_no_answer():
    assert not hasattr(ch08, "bf16_class_setup") and not hasattr(ch08, "layout_spacing")


def test_the_page_s_code_is_not_the_answer():
    """The chapter's bf16 step and spacing, pasted under the exercise's names."""
    setup = define(wrong("page_step"), "bf16_class_setup")
    with pytest.raises(AssertionError, match="more than 2\.5% apart"):
        ch08.check_parity(setup)
    with pytest.raises(AssertionError, match="persistent bytes not halved"):
        ch08.check_memory(setup)
    with pytest.raises(TypeError):
        ch08.check_spacing(define(wrong("page_spacing", "spacing_answer"), "layout_spacing"))


def test_labels_cast_to_bfloat16_are_told_to_stay_integers():
    setup = define(wrong("labels_cast"), "bf16_class_setup")
    for check in (ch08.check_parity, ch08.check_memory):
        with pytest.raises(AssertionError, match="mixed types: .*labels are class indices.* stay int64"):
            check(setup)


def test_float8_values_are_every_byte_of_the_format():
    e5m2, e4m3 = ch08._float8_values((5, 2)), ch08._float8_values((4, 3))
    assert (len(e5m2), float(e5m2[1]), float(e5m2[-1])) == (124, 2.0 ** -16, 57344.0)
    assert (len(e4m3), float(e4m3[1]), float(e4m3[-1])) == (127, 2.0 ** -9, 448.0)


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
    # the exercise's classifier: a last Linear(64, 16), 4,096 bytes -> 2,048, its bias one block
    fp32, bf16 = (ch08.persistent_bytes(dt, "cuda", out=CLASSES) for dt in (torch.float32, torch.bfloat16))
    assert ch08.not_bf16(bf16, "cuda") == []
    halved = {k: v // 2 for k, v in fp32.items()}
    assert ch08.not_bf16(halved, "cuda")[0] == "parameters 70,400 bytes (bfloat16 needs exactly 73,216)"


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
    setup = define(wrong("no_technique"), "bf16_class_setup")
    ch08.check_parity(setup)
    with pytest.raises(AssertionError, match=r"persistent bytes not halved .* parameters 137,792 "
                                             r"bytes \(bfloat16 needs exactly 68,896\)"):
        ch08.check_memory(setup)


def test_autocast_lowers_the_peak_but_not_the_persistent_bytes():
    setup = define(wrong("autocast"), "bf16_class_setup")
    ch08.check_parity(setup)
    with pytest.raises(AssertionError, match="persistent bytes not halved .* optimizer_state 275,584"):
        ch08.check_memory(setup)


def test_float16_overflows_and_earns_no_memory_points_either():
    setup = define(wrong("float16"), "bf16_class_setup")
    with pytest.raises(AssertionError, match=r"step 1 .* loss nan.* beyond float16's largest value"):
        ch08.check_parity(setup)
    # the same bytes as bf16, but the measured run is checked too: its steps give nan
    with pytest.raises(AssertionError, match="loss nan, the baseline's .* the measured step must train"):
        ch08.check_memory(setup)


def test_inputs_left_fp32_fail_with_a_hint():
    setup = define(wrong("inputs_fp32"), "bf16_class_setup")
    for check in (ch08.check_parity, ch08.check_memory):
        with pytest.raises(AssertionError, match="mixed types: .* Cast the inputs to bfloat16"):
            check(setup)


def test_a_copied_model_does_not_train():
    setup = define(wrong("copied_model"), "bf16_class_setup")
    with pytest.raises(AssertionError, match="more than 2\.5% apart.*optimizer hold the parameters"):
        ch08.check_parity(setup)
    with pytest.raises(AssertionError, match="optimizer_state 0 bytes"):
        ch08.check_memory(setup)


def test_wrong_spacing_fails_with_a_hint():
    with pytest.raises(AssertionError, match="power of two"):
        ch08.check_spacing(define(wrong("relative_spacing", "spacing_answer"), "layout_spacing"))
    with pytest.raises(AssertionError, match="below the smallest normal"):
        ch08.check_spacing(define(wrong("no_subnormals", "spacing_answer"), "layout_spacing"))
    with pytest.raises(AssertionError, match="should return a number"):
        ch08.check_spacing(lambda x, e, m: [x])


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
        # the page's code under the exercise's names: the regression's step, a dtype's spacing
        "submitted-page-code": solved(SLUG, **scenario(SLUG, "page_step"), **scenario(SLUG, "page_spacing")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-no-technique-wrong-spacing": 3,    # right losses, no reduction, wrong spacing
        "submitted-float16": 3,                       # half the bytes, from steps that give nan
        "submitted-page-code": 0,                     # the chapter's case is not the exercise's
    }
    text = c.output("submitted-solution", clean=True)  # the solution ran top to bottom
    assert "memory (fresh processes" in text and "persistent bytes bfloat16's (50% of fp32's)" in text
    assert "layout_spacing: 77 cases right" in text and "float16 losses (the chapter's regression): [nan" in text

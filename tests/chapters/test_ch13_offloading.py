"""Chapter 13: the checks pass offloading, fail what is not, and nbgrader grades it right."""
import pytest
import torch
import torch.nn.functional as F

from autograder import ch13_offloading as ch13, memory
from autograder.ch13_offloading import MIN_BYTES, make_data, make_model
from conftest import answer_text, release, scenario, solved

SLUG = "ch13_offloading"
UNIT = ch13.BATCH * ch13.WIDTH * 4      # the page's activation: 512 * 512 * 4 bytes = 1 MiB

pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


def define(*sources):
    """Run answer cells' text in one namespace, as a notebook would; returns the namespace."""
    ns = {"torch": torch, "F": F, "make_model": make_model, "make_data": make_data,
          "MIN_BYTES": MIN_BYTES, "memory": memory}
    for src in sources:
        exec(src, ns)
    return ns


def solution(**replaced):
    """The solution's answers, with some cells replaced by a scenario's."""
    cells = {g: answer_text(SLUG, g) for g in ("hooks_answer", "offload_answer")}
    return define(*{**cells, **replaced}.values())


def test_reference_passes_every_check():
    ns = solution()
    ch13.check_hooks(ns["pack_to_host"], ns["unpack_from_host"], hidden=True)
    ch13.check_gradients(ns["offload_setup"])
    ch13.check_offload(ns["offload_setup"])      # hidden: in the round trip


def test_the_pages_offloading_measured_without_a_gpu():
    """Plain: 15 block activations, the output and the CPU loss's buffer, and the 4-byte seed.
    save_on_cpu() moves nothing here (t.cpu() is t); pinned, or the page's hooks: only the
    loss's buffer and the seed stay, and the host holds 25 u: 8 Linear inputs (the data's copy
    included), 7 weights, 8 GELU inputs, the model's output and the target."""
    hows = ch13.compare_hows()
    assert hows["plain"]["device"] == 17 * UNIT + 4 and hows["plain"]["host"] == 0
    assert hows["save_on_cpu"]["device"] == 17 * UNIT + 4 and hows["save_on_cpu"]["host"] == 0
    for how in ("save_on_cpu, pinned", "own hooks"):
        assert hows[how]["device"] == UNIT + 4 and hows[how]["host"] == 25 * UNIT
        assert hows[how]["gradient_gap"] == 0.0
        assert hows[how]["peak"] > hows["plain"]["peak"]          # the copies: same memory here
    dup = ch13.duplicate_packs()
    assert dup["device, plain"] == 2 * dup["activation"] + 8
    assert dup["host, own hooks"] == 5 * dup["activation"]


def test_host_adam_trains_like_adam():
    losses = ch13.host_adam_losses(steps=3)
    assert losses["Adam on the device"] == losses["Adam on the host"]


def test_no_offloading_keeps_the_gradients_and_fails_the_bytes():
    setup = solution(offload_answer=scenario(SLUG, "no_technique")["offload_answer"])["offload_setup"]
    ch13.check_gradients(setup)
    with pytest.raises(AssertionError, match=r"on the compute device: .* measured 0% lower \[cpu, "
                                             r"no GPU: the compute device is host memory here"):
        ch13.check_offload(setup)


def test_detaching_loses_the_gradients():
    setup = solution(offload_answer=scenario(SLUG, "detaches")["offload_answer"])["offload_setup"]
    for check in (ch13.check_gradients, ch13.check_offload):
        with pytest.raises(AssertionError, match=r"no gradient at all: did something detach"):
            check(setup)


@pytest.mark.parametrize("situation, message", [
    ("copies_small", r"under MIN_BYTES = 65,536\) copied it"),
    ("cpu_hooks", r"keeps the tensor itself: .* t.cpu\(\) and t.to\('cpu'\) return t itself"),
    ("clones", r"returned no host copy of its size .*\(t\.clone\(\)"),
])
def test_wrong_hooks_are_named(situation, message):
    ns = define(scenario(SLUG, situation)["hooks_answer"])
    with pytest.raises(AssertionError, match=message):
        ch13.check_hooks(ns["pack_to_host"], ns["unpack_from_host"])


def test_hooks_that_move_nothing_fail_the_offload_too():
    ns = solution(hooks_answer=scenario(SLUG, "cpu_hooks")["hooks_answer"])
    ch13.check_gradients(ns["offload_setup"])
    with pytest.raises(AssertionError, match=r"measured 0% lower"):
        ch13.check_offload(ns["offload_setup"])
    right = solution()["pack_to_host"]      # and an unpack that hands back the host buffer's first row
    with pytest.raises(AssertionError, match=r"unpack_from_host\(pack_to_host\(t\)\)"):
        ch13.check_hooks(right, lambda p: p if isinstance(p, torch.Tensor) else p[1][:1])


def test_the_pages_code_renamed_fails_every_check():
    """The page's hooks and step, pasted with the exercise's names: they offload, but every
    tensor (the threshold is this exercise's), and the page's MLP (the model is the CNN)."""
    ns = define(*scenario(SLUG, "page_code").values())
    with pytest.raises(AssertionError, match=r"under MIN_BYTES = 65,536\) copied it"):
        ch13.check_hooks(ns["pack_to_host"], ns["unpack_from_host"])
    for check in (ch13.check_gradients, ch13.check_offload):
        with pytest.raises(AssertionError, match=r"gradient|parameter"):
            check(ns["offload_setup"])


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch13.record()


# ---------------------------------------------------------------- the round trip
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=120)
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-copies-small": solved(SLUG, **scenario(SLUG, "copies_small")),
        "submitted-detaches": solved(SLUG, **scenario(SLUG, "detaches")),
        "submitted-page-code": solved(SLUG, **scenario(SLUG, "page_code")),
    }
    scores = c.grade(submissions)
    assert scores == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-copies-small": 7,       # offloaded and right; the small tensors copied too
        "submitted-detaches": 3,           # the hooks right; the graph cut
        "submitted-page-code": 0,          # the page's hooks (no threshold) and its MLP's step
    }, c.output("submitted-solution")[-3000:] + c.output("submitted-detaches")[-3000:]
    text = c.output("submitted-solution", clean=True)     # the solution ran top to bottom
    assert "the meter's saved for backward" in text and "in fresh processes" in text
    assert "the compute device is host memory here" in text
    assert "detach" in c.output("submitted-detaches", "gradients_check")

"""Chapter 11: the checks pass checkpointing, fail what is not, and nbgrader grades it right."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, checkpoint_sequential

from autograder import ch11_checkpointing as ch11
from autograder.ch11_checkpointing import make_data, make_model
from autograder.memory.watch import measurement, observe, recomputed
from conftest import answer_text, release, scenario, solved

SLUG = "ch11_checkpointing"
UNIT = ch11.BATCH * ch11.WIDTH * 4      # the page's activation: 512 * 128 * 4 bytes = 256 KiB

pytestmark = pytest.mark.usefixtures("one_thread")   # tiny steps: see conftest.one_thread


def define(src, name):
    ns = {"torch": torch, "F": F, "checkpoint": checkpoint, "checkpoint_sequential": checkpoint_sequential,
          "CheckpointPolicy": CheckpointPolicy, "make_model": make_model, "make_data": make_data}
    exec(src, ns)
    return ns[name]


def reference(grade_id, name):
    return define(answer_text(SLUG, grade_id), name)


def wrong(situation, name, grade_id="ckpt_answer"):
    return define(scenario(SLUG, situation)[grade_id], name)


def test_reference_passes_every_check():
    ckpt, policy = reference("ckpt_answer", "ckpt_setup"), reference("policy_answer", "policy")
    ch11.check_gradients(ckpt)
    ch11.check_memory(ckpt)
    ch11.check_selective(policy, hidden=True)   # the other hidden checks: in the round trip


def test_the_pages_budget_holds_to_the_byte():
    """Plain: 47 activations of the blocks, 16 x 2 LayerNorm statistics of 512 floats, the
    output and the loss (a 0-dim view of its 256 KiB buffer on a CPU), and the 4-byte gradient
    seed. Every block checkpointed: 15 block inputs, the output, the loss, the seed."""
    plain, each = observe(ch11.page_setup, "plain"), observe(ch11.page_setup, "each")
    assert ch11.held(plain) == 49 * UNIT + 32 * 512 * 4 + 4
    assert ch11.held(each) == 17 * UNIT + 4
    assert recomputed(each, plain) == {"addmm": 16, "gelu": 16, "native_layer_norm": 16}
    assert all(torch.equal(plain["grads"][n], each["grads"][n]) for n in plain["grads"])
    assert measurement(each).peak < 0.4 * measurement(plain).peak


def test_segments_sweep_follows_the_last_plain_segment():
    rows = {r["segments"]: r for r in ch11.segment_sweep([1, 4, 8, 9])}
    assert rows[1]["checkpointed"] == 0 and rows[1]["held"] == 49 * UNIT + 32 * 512 * 4 + 4
    # 4 segments of 4: 12 blocks checkpointed, the last 4 plain: 3 * 4 + 2 inputs + output + loss
    assert rows[4]["held"] == 16 * UNIT + 4 * 2 * 512 * 4 + 4
    assert rows[8]["peak"] < rows[4]["peak"] < rows[9]["peak"]   # 9 segments of 1: 8 left plain


def test_no_technique_keeps_the_gradients_but_not_the_signature():
    setup = wrong("no_technique", "ckpt_setup")
    ch11.check_gradients(setup)
    with pytest.raises(AssertionError, match="nothing was recomputed, so this is not checkpointing"):
        ch11.check_memory(setup)


def test_dropout_without_its_rng_state_fails_the_gradients():
    setup = wrong("no_rng", "ckpt_setup")
    for check in (ch11.check_gradients, ch11.check_memory):
        with pytest.raises(AssertionError, match=r"the gradient of .* differs .*preserve_rng_state|"
                                                 r"the gradient of .* differs .* baseline's work"):
            check(setup)


def test_offloading_is_not_checkpointing():
    setup = wrong("offloaded", "ckpt_setup")
    ch11.check_gradients(setup)
    with pytest.raises(AssertionError, match="nothing was recomputed"):
        ch11.check_memory(setup)


def test_whole_blocks_checkpointed_fail_on_the_attention_recomputed():
    """The page's way (every whole block, or checkpoint_sequential's segments), and the
    package's selective step with a policy that recomputes everything: right gradients, but the
    attention runs again in backward, which this exercise keeps."""
    message = r"the attention ran again during backward \(_scaled_dot_product.*block\.feed alone"
    everything = lambda ctx, op, *a, **k: CheckpointPolicy.PREFER_RECOMPUTE    # noqa: E731
    for setup in (wrong("two_segments", "ckpt_setup"), wrong("page_code", "ckpt_setup"),
                  lambda batch=16, seed=0: ch11.selective_setup(everything, batch, seed)):
        ch11.check_gradients(setup)
        with pytest.raises(AssertionError, match=message):
            ch11.check_memory(setup)
    with pytest.raises(AssertionError, match=r"recomputed in backward: _scaled_dot_product"):
        ch11.check_selective(wrong("page_code", "policy", "policy_answer"))


def test_whole_blocks_checkpointed_selectively_keeping_the_attention_fail():
    """The package's selective step with a policy that saves the attention kernel alone: the
    attention is not recomputed, but its half's norm and projections are."""
    def keep_attention(ctx, op, *a, **k):
        if "scaled_dot_product" in op.overloadpacket.__name__:
            return CheckpointPolicy.MUST_SAVE
        return CheckpointPolicy.PREFER_RECOMPUTE
    with pytest.raises(AssertionError, match=r"16 matrix products and 8 layer norms, more than the "
                                             r"feed-forward halves hold \(8 and 4\)"):
        ch11.check_memory(lambda batch=16, seed=0: ch11.selective_setup(keep_attention, batch, seed))


def test_the_attention_half_checkpointed_instead_fails():
    setup = wrong("attention_half", "ckpt_setup")
    ch11.check_gradients(setup)
    with pytest.raises(AssertionError, match="the attention ran again during backward"):
        ch11.check_memory(setup)


def test_the_blocks_halves_are_its_forward():
    model, _ = make_model(3)
    x, _ = make_data(4, 3)
    torch.manual_seed(1)
    whole = model[0](x)
    torch.manual_seed(1)
    halves = x + model[0].attend(x)
    assert torch.equal(whole, halves + model[0].feed(halves))


def test_wrong_policies_are_named():
    with pytest.raises(AssertionError, match=r"recomputed in backward: _scaled_dot_product"):
        ch11.check_selective(wrong("matmuls_only", "policy", "policy_answer"))
    with pytest.raises(AssertionError, match="mutated.*In-place operations .* recomputed"):
        ch11.check_selective(wrong("save_everything", "policy", "policy_answer"))
    with pytest.raises(AssertionError, match="not recomputed in backward: gelu;"):
        ch11.check_selective(wrong("keeps_gelu", "policy", "policy_answer"))
    with pytest.raises(AssertionError, match=r"recomputed in backward: .*addmm"):
        ch11.check_selective(lambda ctx, op, *a, **k: CheckpointPolicy.PREFER_RECOMPUTE)
    with pytest.raises(AssertionError, match="should return a dict with keys 'step'"):
        ch11.check_gradients(lambda batch, seed: None)


def test_what_goes_wrong_demos():
    rng = ch11.rng_demo()
    assert rng["preserve_rng_state=True"] == 0.0 and rng["preserve_rng_state=False"] > 0.1
    re = ch11.reentrant_demo()
    assert re["use_reentrant=True"]["weight grad"] is None and re["use_reentrant=False"]["weight grad"]
    assert any("requires_grad" in w for w in re["use_reentrant=True"]["warnings"])
    inplace = ch11.inplace_demo()
    assert inplace["plain"] == "backward ran" and "modified by an inplace" in inplace["checkpointed"]


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch11.record()


# ---------------------------------------------------------------- the round trip
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=120)
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-no-technique-matmuls-only": solved(SLUG, **scenario(SLUG, "no_technique"),
                                                      **scenario(SLUG, "matmuls_only")),
        "submitted-no-rng": solved(SLUG, **scenario(SLUG, "no_rng")),
        "submitted-page-code": solved(SLUG, **scenario(SLUG, "page_code")),
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-no-technique-matmuls-only": 3,          # right gradients only
        "submitted-no-rng": 3,                             # less memory, wrong gradients; policy right
        "submitted-page-code": 3,                          # right gradients; attention recomputed
    }
    text = c.output("submitted-solution", clean=True)     # the solution ran top to bottom
    assert "hidden draw, peak again in fresh processes" in text and "recomputed during backward" in text
    assert "no matrix product recomputed" in text
    assert "preserve_rng_state" in c.output("submitted-no-rng", "gradients_check")

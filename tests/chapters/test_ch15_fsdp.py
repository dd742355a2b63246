"""Chapter 15: the checks pass a sharding whose units are small, fail root-only and unsharded
wrappings, and nbgrader grades it right."""
import pytest
from torch.distributed.fsdp import fully_shard

from autograder import ch15_fsdp as ch15
from conftest import cell, defined, release, scenario, solution, solved

SLUG = "ch15_fsdp"


def define(src, name):
    """A class, function or value an answer cell defines, in the notebook's namespace."""
    return defined(src, name, **{"fully_shard": fully_shard})


def reference(grade_id, name):
    return define(cell(solution(SLUG), grade_id).source, name)


def wrong(situation, grade_id="shard_answer", name="shard"):
    return define(scenario(SLUG, situation)[grade_id], name)


def test_reference_passes_the_simulated_checks():
    ch15.check_memory(reference("shard_answer", "shard"))
    ch15.check_traffic(reference("traffic_answer", "fsdp_traffic"))
    # parity on real ranks, and every hidden check: in the round trip


def test_page_wrappings_measured_against_the_budget():
    """8 simulated ranks, the page's MLP: 8 x (512*512 + 512) + 512*16 + 16 = 2,109,456
    parameters, 8,437,824 bytes (P); unsharded persistent bytes 4P."""
    P = 8_437_824
    blocks, root = ch15.page_measure("blocks", 8), ch15.page_measure("root", 8)
    assert blocks["persistent"] == root["persistent"] == 4 * P // 8
    assert root["gathered"] == P                      # the whole model at once
    head = 4 * (512 * 16 + 16)                        # the root's own: gathered for the whole step
    assert blocks["gathered"] == 4 * (512 * 512 + 512) + head   # and one block at a time
    assert blocks["collectives"]["all_gather"] == 2 * P - head
    assert blocks["collectives"]["reduce_scatter"] == P
    assert blocks["peak"] < root["peak"]


def test_root_only_and_the_pages_wrapping_fail_the_gather_limit():
    with pytest.raises(AssertionError, match=r"gathered at once, 100% of the model's .* at most 33%"):
        ch15.check_memory(wrong("root_only"))
    with pytest.raises(AssertionError, match=r"62% of the model's.*units here: \(root\), blocks.0"):
        ch15.check_memory(wrong("blocks_and_root"))


def test_unsharded_parameters_are_named():
    with pytest.raises(AssertionError, match=r"100% of the model's; .* The model itself is not a unit .* "
                                             r"call fully_shard on the model too"):
        ch15.check_memory(wrong("no_root"))
    with pytest.raises(AssertionError, match=r"rank 0 keeps 16,871,424 bytes"):
        ch15.check_memory(wrong("not_sharded"))


def test_training_without_sharding_is_not_unsharded_training():
    with pytest.raises(AssertionError, match=r"step 2: the two ranks' mean loss .* averages the gradients"):
        ch15.check_parity(wrong("not_sharded"))


def test_forward_only_traffic_is_named():
    with pytest.raises(AssertionError, match=r"2 ranks, .* all_gather [\d,]+ bytes, measured"):
        ch15.check_traffic(wrong("forward_only_traffic", "traffic_answer", "fsdp_traffic"))


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch15.record()


def test_autograde_round_trip(course):
    c = course(SLUG, timeout=150)
    assert c.grade({
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-root-only": solved(SLUG, **scenario(SLUG, "root_only"),
                                      **scenario(SLUG, "forward_only_traffic")),
    }) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-root-only": 3,         # trains right; gathers everything; backward forgotten
    }
    text = c.output("submitted-solution", clean=True)
    assert text.count("parity (2 processes, gloo)") == 2
    assert "100% of the model's" in c.output("submitted-root-only", "memory_check")

"""Chapter 14: the checks pass packed documents, fail datasets that still copy on read, and
nbgrader grades it right."""
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from autograder import ch14_data_loading as ch14
from autograder.memory.workers import digest, epoch_memory
from conftest import cell, defined, release, scenario, solution, solved

SLUG = "ch14_data_loading"


def define(src, name):
    """A class, function or value an answer cell defines, in the notebook's namespace."""
    return defined(src, name, **{"np": np, "torch": torch, "Dataset": Dataset, "pad": ch14.pad})


def reference(grade_id, name):
    return define(cell(solution(SLUG), grade_id).source, name)


def wrong(situation, grade_id="packed_answer", name="PackedDocs"):
    return define(scenario(SLUG, situation)[grade_id], name)


@pytest.fixture(scope="module")
def packed():
    return reference("packed_answer", "PackedDocs")


def test_reference_passes_the_quick_checks(packed):
    ch14.check_batches(packed)
    ch14.check_in_flight(reference("inflight_answer", "in_flight"))
    # memory, and every hidden check: in the round trip, where the solution scores full marks


def test_digest_tells_order_dtype_and_values_apart():
    a = [torch.arange(6).reshape(2, 3), torch.tensor([3, 4])]
    assert digest(a) == digest([t.clone() for t in a])
    assert digest(a) != digest(a[::-1])
    assert digest(a) != digest([a[0].to(torch.int32), a[1]])
    assert digest(a) != digest([a[0] + 1, a[1]])


def test_a_list_of_strings_is_copied_into_each_worker_and_an_array_is_not():
    names = ch14.make_names(200_000)
    listed = epoch_memory(ch14.NamesList(names), batch_size=512, num_workers=2)
    arrayed = epoch_memory(ch14.NamesArray(names), batch_size=512, num_workers=2)
    assert listed.digests == arrayed.digests
    assert min(listed.growth) > 8 * 2**20         # ~13 MiB of strings touched per worker
    assert max(arrayed.growth) < 2**20


def test_an_object_array_still_copies_on_read():
    with pytest.raises(AssertionError, match=r"grew by [\d.]+ MiB over the epoch, DocsDataset's by "
                                             r"[\d.]+ MiB; at most 10%.*few flat arrays"):
        ch14.check_memory(wrong("object_array"))


def test_a_wrong_length_is_named_with_the_batch():
    with pytest.raises(AssertionError, match=r"(?s)batch 0 differs from DocsDataset's.*\[4, 8\].*\[4, 10\].*full length"):
        ch14.check_batches(wrong("truncated_length"))


def test_wrong_in_flight_is_named():
    with pytest.raises(AssertionError, match=r"in_flight\(2, 3\): predicted 3, measured 6"):
        ch14.check_in_flight(wrong("wrong_in_flight", "inflight_answer", "in_flight"))
    with pytest.raises(AssertionError, match="should return an int"):
        ch14.check_in_flight(lambda w, p: 2.0 * w)


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch14.record()


def test_autograde_round_trip(course):
    c = course(SLUG, timeout=120)
    scores = c.grade({
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-object-array": solved(SLUG, **scenario(SLUG, "object_array"),
                                         **scenario(SLUG, "wrong_in_flight")),
    })
    assert scores == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-object-array": 3,      # same batches; workers grow; wrong prefetch count
    }, c.output("submitted-solution")[-4000:]     # a measured check is load-sensitive: say why
    text = c.output("submitted-solution", clean=True)
    assert text.count("memory (") == 2 and "in_flight: 5 loaders predicted exactly" in text
    assert "few flat arrays" in c.output("submitted-object-array", "memory_check")

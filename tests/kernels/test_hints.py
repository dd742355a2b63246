"""Hints from the pattern of a wrong result or a race: pure NumPy, no kernel runs."""
import numpy as np

from autograder import kernels
from autograder.kernels import hints


def swapped_result(shape, block, seed=0):
    case = kernels.matrix_cases([(shape, block)], ("A", "B", "out"), np.random.default_rng(seed))[0]
    want = case.expected[2]
    got = np.full(want.shape, np.nan, np.float32)
    mask = hints._patterns(want.shape, case.launch.grid, case.launch.block)["swapped"]
    got[mask] = want[mask]
    return case, got, mask


def test_the_swap_is_named_only_when_the_written_elements_match_it():
    case, got, mask = swapped_result((13, 20), (16, 8))
    idx = kernels.first_mismatch(case.expected[2], got, 1e-4, 1e-5)[0]
    assert "rows and columns swapped" in kernels.matrix_hint(case, idx, got)
    # where inf + -inf makes the expected value nan, that element is no evidence either way
    r, c = np.argwhere(~mask)[0]
    case.expected[2][r, c] = got[0, 0] = case.expected[2][0, 0] = np.nan
    assert "rows and columns swapped" in kernels.matrix_hint(case, idx, got)
    got[1, 1] = np.nan                       # one more element missing: another pattern, no hint
    assert "swapped" not in kernels.matrix_hint(case, (1, 1), got)


def test_a_row_computed_with_blockdim_x_is_named():
    case = kernels.matrix_cases([((20, 14), (32, 8))], ("A", "B", "out"), np.random.default_rng(1))[0]
    want = case.expected[2]
    got = np.where(hints._patterns(want.shape, case.launch.grid, case.launch.block)["row_bdx"], want, np.nan)
    idx = kernels.first_mismatch(want, got, 1e-4, 1e-5)[0]
    assert "computed with blockDim.x (32)" in kernels.matrix_hint(case, tuple(idx), got)


def test_race_advice_reads_thread_coordinates_as_indices():
    """ThreadSanitizer names a thread of a 1-D grid "b0 t4,0": its block is (0, 0, 0), not dim3's (0, 1, 1)."""
    case = kernels.matrix_cases([((3, 3), (16, 8))], ("A", "B", "out", "rows", "cols"), np.random.default_rng(2))[0]
    err = kernels.RaceError("race on out[1, 1]", info={"kind": "race", "index": 4,
                                                      "threads": [((0,), (4, 0)), ((0,), (1, 1))]})
    assert "flattened index" in kernels.one_writer_advice(case, err)
    err = kernels.RaceError("race", info={"kind": "double write", "index": 3,
                                         "threads": [((0, 0, 0), (3, 0, 0)), ((1, 0, 0), (3, 0, 0))]})
    assert "every block works on the same elements" in kernels.one_writer_advice(case, err)

"""The standard checks: wrong kernels fail, each for its own reason, and right ones pass.

Runs on a CPU-only machine (Numba's simulator, the CUDA C shim under ASan/TSan). On a machine
with a GPU, every check test runs a second time with backend="gpu".
The kernels are small files in tests/scenarios/kernels/.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from autograder import kernels
from autograder.device import detect
from autograder.kernels import Launch, LaunchConfigError, OutOfBoundsError, OverBudget, RaceError, WrongResult
from conftest import SCENARIOS
from scenarios.kernels import numba_kernels as nk

BACKENDS = ["cpu"] + (["gpu"] if detect().cuda else [])
# A CPU check of a graded exercise should take under 10 s (about 2-5 s on a 2-core machine);
# the tests allow twice that, so that a busy machine does not fail them.
CHECK_SECONDS = 20


def cu(name: str) -> str:
    return (SCENARIOS / "kernels" / name).read_text()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------- right kernels pass

def test_numba_vector_add_passes(backend):
    report, seconds = timed(kernels.check_vector_add, nk.vector_add, threads_per_block=256, backend=backend)
    assert report.cases >= 8
    assert "simulator" in report.backend
    assert any("PTX" in n for n in report.notes)  # compile_ptx for cc 7.5 ran
    if backend == "cpu":
        assert seconds < CHECK_SECONDS


def test_cuda_vector_add_passes(backend):
    report, seconds = timed(kernels.check_vector_add, cu("vector_add.cu"), name="vector_add", backend=backend)
    assert "AddressSanitizer and ThreadSanitizer" in " ".join([report.backend] + report.notes)
    assert any("NVRTC" in n and "registers" in n for n in report.notes)
    if backend == "cpu":
        assert seconds < CHECK_SECONDS


def test_matrix_add_passes(backend):
    kernels.check_matrix_add(nk.matrix_add, backend=backend)
    kernels.check_matrix_add(cu("matrix_add.cu"), name="matrix_add", backend=backend)


def test_matmul_naive_passes_without_budget(backend):
    kernels.check_matmul(nk.matmul_naive, backend=backend)


def test_tiled_matmul_passes_within_budget(backend):
    report, seconds = timed(kernels.check_matmul, nk.matmul_tiled, block=(16, 16), max_reads_per_output=16,
                            backend=backend)
    # budget shape A 16x48 @ B 48x16, tiles of 16: 3 tiles x 2 loads = 6 reads per output
    assert any("reads 6.0 global elements" in n and "budget 16" in n for n in report.notes), report.notes
    if backend == "cpu":
        assert seconds < CHECK_SECONDS


def test_cuda_tiled_matmul_passes(backend):
    report, seconds = timed(kernels.check_matmul, cu("matmul_tiled.cu"), name="matmul", backend=backend)
    assert any("2048 bytes of static shared memory" in n for n in report.notes)  # 2 tiles x 16*16*4 bytes
    if backend == "cpu":
        assert seconds < CHECK_SECONDS


# ---------------------------------------------------------------- wrong kernels fail, for their reason

def test_vector_add_without_guard_fails_out_of_bounds_numba(backend):
    with pytest.raises(OutOfBoundsError, match=r"out-of-bounds read of a\[1\] \(the array a has 1 element\)"
                                               r".*line \d+ of vector_add_no_guard.*bounds guard"):
        kernels.check_vector_add(nk.vector_add_no_guard, backend=backend)


def test_vector_add_without_guard_fails_out_of_bounds_cuda(backend):
    with pytest.raises(OutOfBoundsError) as err:
        kernels.check_vector_add(cu("vector_add_no_guard.cu"), name="vector_add", backend=backend)
    msg = str(err.value)
    assert "AddressSanitizer" in msg and "out-of-bounds read of a[" in msg and "at line 3" in msg
    assert "bounds guard" in msg


def test_tiled_matmul_without_syncthreads_fails_with_a_race_cuda(backend):
    with pytest.raises(RaceError) as err:
        kernels.check_matmul(cu("matmul_tiled_no_sync.cu"), name="matmul", backend=backend)
    msg = str(err.value)
    assert "ThreadSanitizer" in msg
    assert "__shared__ array `As`" in msg or "__shared__ array `Bs`" in msg
    assert "no __syncthreads() between" in msg


def test_tiled_matmul_without_syncthreads_fails_with_a_race_numba(backend):
    with pytest.raises(RaceError, match=r"race on the shared array s[AB].*no cuda\.syncthreads\(\) between"):
        kernels.check_matmul(nk.matmul_tiled_no_sync, backend=backend)


def test_swapped_rows_and_columns_fail_on_non_square_only(backend):
    for kernel, name in ((nk.matrix_add_swapped, None), (cu("matrix_add_swapped.cu"), "matrix_add")):
        kernels.check_matrix_add(kernel, name=name, shapes=((1, 1), (3, 3), (17, 17), (32, 32)), backend=backend)
        with pytest.raises(WrongResult, match=r"first wrong element out\[.*expected .*got .*exactly those a kernel "
                                              r"with rows and columns swapped writes"):
            kernels.check_matrix_add(kernel, name=name, backend=backend)


def test_kernel_writing_only_the_first_block_fails(backend):
    # every block writes the first 256 elements: two threads write out[0], in either language
    for kernel, name in ((nk.vector_add_first_block_only, None), (cu("vector_add_first_block_only.cu"), "vector_add")):
        with pytest.raises(RaceError, match=r"n=257 .*out\[\d+\].*Thread \d+ of two blocks reached "
                                            r"the same element: every block works on the same elements"):
            kernels.check_vector_add(kernel, name=name, threads_per_block=256, backend=backend)
    # compared by value alone (one writer not asked for), the first block's elements are right
    with pytest.raises(WrongResult, match=r"first wrong element out\[256\]: expected -?[\d.]+, "
                                          r"got nan \(never written\).*first 256 elements \(one block\)"):
        cases = kernels.vector_cases([(257, 256)], ("a", "b", "out"), np.random.default_rng(0))
        kernels.check_kernel(nk.vector_add_first_block_only, lambda size: cases, check_name="first block",
                             hint=kernels.vector_hint, backend=backend)


def test_tiled_matmul_reading_like_the_naive_one_is_over_budget(backend):
    with pytest.raises(OverBudget, match=r"reads 9\d\.\d global elements of A and B per output element.*budget 16"):
        kernels.check_matmul(nk.matmul_tiled_over_budget, max_reads_per_output=16, backend=backend)
    # the naive kernel, by hand: each of 16*16 outputs reads a row of A and a column of B, 2 * 48 = 96
    with pytest.raises(OverBudget, match=r"reads 96\.0 global elements"):
        kernels.check_matmul(nk.matmul_naive, max_reads_per_output=16, backend=backend)


def test_launch_of_2048_threads_per_block_is_refused(backend):
    match = r"at most 1024 threads.*2048 threads per block"
    with pytest.raises(LaunchConfigError, match=match):
        kernels.check_vector_add(nk.vector_add, threads_per_block=2048, backend=backend)
    with pytest.raises(LaunchConfigError, match=match):
        kernels.check_vector_add(cu("vector_add.cu"), name="vector_add", threads_per_block=2048, backend=backend)
    a = np.ones(2048, np.float32)
    t0 = time.perf_counter()
    with pytest.raises(LaunchConfigError, match=match):  # the simulator itself would accept it
        kernels.run_numba(nk.vector_add, [Launch(1, 2048, [a, a, np.empty_like(a)])], backend="cpu")
    with pytest.raises(LaunchConfigError, match=match):
        kernels.run_cuda_c(cu("vector_add.cu"), "vector_add", [Launch(1, (64, 32), [a, a, a, np.int32(2048)])],
                           backend="cpu")
    assert time.perf_counter() - t0 < 1.0  # refused before anything starts
    kernels.check_launch(1, 1024)
    with pytest.raises(LaunchConfigError, match="block dimension z = 128 exceeds the limit 64"):
        kernels.check_launch(1, (1, 1, 128))

"""Kernel runners and checks: wrong kernels fail, each for its own reason, and right ones pass.

Runs on a CPU-only machine (Numba's simulator, the CUDA C shim under ASan/TSan). On a machine
with a GPU, every check test runs a second time with backend="gpu".
The kernels are small files in tests/kernels/.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

from autograder import cuda_c, kernel_checks as kc, numba_runner
from autograder.device import detect
from autograder.kernel_checks import (KernelCompileError, KernelTimeout, Launch, LaunchConfigError,
                                      OutOfBoundsError, OverBudget, RaceError, WrongResult)

KERNELS = Path(__file__).resolve().parent / "kernels"
_spec = importlib.util.spec_from_file_location("numba_kernels", KERNELS / "numba_kernels.py")
nk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nk)

BACKENDS = ["cpu"] + (["gpu"] if detect().cuda else [])
# A CPU check of a graded exercise should take under 10 s (about 2-5 s on a 2-core machine);
# the tests allow twice that, so that a busy machine does not fail them.
CHECK_SECONDS = 20


def cu(name: str) -> str:
    return (KERNELS / name).read_text()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------- right kernels pass

def test_numba_vector_add_passes(backend):
    report, seconds = timed(kc.check_vector_add, nk.vector_add, threads_per_block=256, backend=backend)
    assert report.cases >= 8
    assert "simulator" in report.backend
    assert any("PTX" in n for n in report.notes)  # compile_ptx for cc 7.5 ran
    if backend == "cpu":
        assert seconds < CHECK_SECONDS


def test_cuda_vector_add_passes(backend):
    report, seconds = timed(kc.check_vector_add, cu("vector_add.cu"), name="vector_add", backend=backend)
    assert "AddressSanitizer and ThreadSanitizer" in " ".join([report.backend] + report.notes)
    assert any("NVRTC" in n and "registers" in n for n in report.notes)
    if backend == "cpu":
        assert seconds < CHECK_SECONDS


def test_numba_kernel_given_as_source_text():
    src = '''
@cuda.jit
def add(a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]
'''
    report = kc.check_vector_add(src, backend="cpu", sizes=(1, 30, 257))
    assert report.cases == 3


def test_matrix_add_passes(backend):
    kc.check_matrix_add(nk.matrix_add, backend=backend)
    kc.check_matrix_add(cu("matrix_add.cu"), name="matrix_add", backend=backend)


def test_matmul_naive_passes_without_budget(backend):
    kc.check_matmul(nk.matmul_naive, backend=backend)


def test_tiled_matmul_passes_within_budget(backend):
    report, seconds = timed(kc.check_matmul, nk.matmul_tiled, block=(16, 16), max_reads_per_output=16,
                            backend=backend)
    # budget shape A 16x48 @ B 48x16, tiles of 16: 3 tiles x 2 loads = 6 reads per output
    assert any("reads 6.0 global elements" in n and "budget 16" in n for n in report.notes), report.notes
    if backend == "cpu":
        assert seconds < CHECK_SECONDS


def test_cuda_tiled_matmul_passes(backend):
    report, seconds = timed(kc.check_matmul, cu("matmul_tiled.cu"), name="matmul", backend=backend)
    assert any("2048 bytes of static shared memory" in n for n in report.notes)  # 2 tiles x 16*16*4 bytes
    if backend == "cpu":
        assert seconds < CHECK_SECONDS


# ---------------------------------------------------------------- wrong kernels fail, for their reason

def test_vector_add_without_guard_fails_out_of_bounds_numba(backend):
    with pytest.raises(OutOfBoundsError, match=r"out-of-bounds read of a\[1\] \(the array a has 1 element\)"
                                               r".*line \d+ of vector_add_no_guard.*bounds guard"):
        kc.check_vector_add(nk.vector_add_no_guard, backend=backend)


def test_vector_add_without_guard_fails_out_of_bounds_cuda(backend):
    with pytest.raises(OutOfBoundsError) as err:
        kc.check_vector_add(cu("vector_add_no_guard.cu"), name="vector_add", backend=backend)
    msg = str(err.value)
    assert "AddressSanitizer" in msg and "out-of-bounds read of a[" in msg and "at line 3" in msg
    assert "bounds guard" in msg


def test_tiled_matmul_without_syncthreads_fails_with_a_race_cuda(backend):
    with pytest.raises(RaceError) as err:
        kc.check_matmul(cu("matmul_tiled_no_sync.cu"), name="matmul", backend=backend)
    msg = str(err.value)
    assert "ThreadSanitizer" in msg
    assert "__shared__ array `As`" in msg or "__shared__ array `Bs`" in msg
    assert "no __syncthreads() between" in msg


def test_tiled_matmul_without_syncthreads_fails_with_a_race_numba(backend):
    with pytest.raises(RaceError, match=r"race on the shared array s[AB].*no cuda\.syncthreads\(\) between"):
        kc.check_matmul(nk.matmul_tiled_no_sync, backend=backend)


def test_swapped_rows_and_columns_fail_on_non_square_only(backend):
    for kernel, name in ((nk.matrix_add_swapped, None), (cu("matrix_add_swapped.cu"), "matrix_add")):
        kc.check_matrix_add(kernel, name=name, shapes=((1, 1), (3, 3), (17, 17), (32, 32)), backend=backend)
        with pytest.raises(WrongResult, match=r"first wrong element out\[.*expected .*got .*this one is not square"):
            kc.check_matrix_add(kernel, name=name, backend=backend)


def test_kernel_writing_only_the_first_block_fails(backend):
    for kernel, name in ((nk.vector_add_first_block_only, None), (cu("vector_add_first_block_only.cu"), "vector_add")):
        with pytest.raises(WrongResult, match=r"n=257 .*first wrong element out\[256\]: expected -?[\d.]+, "
                                              r"got nan \(never written\).*first 256 elements \(one block\)"):
            kc.check_vector_add(kernel, name=name, threads_per_block=256, backend=backend)


def test_tiled_matmul_reading_like_the_naive_one_is_over_budget(backend):
    with pytest.raises(OverBudget, match=r"reads 9\d\.\d global elements of A and B per output element.*budget 16"):
        kc.check_matmul(nk.matmul_tiled_over_budget, max_reads_per_output=16, backend=backend)
    # the naive kernel, by hand: each of 16*16 outputs reads a row of A and a column of B, 2 * 48 = 96
    with pytest.raises(OverBudget, match=r"reads 96\.0 global elements"):
        kc.check_matmul(nk.matmul_naive, max_reads_per_output=16, backend=backend)


def test_launch_of_2048_threads_per_block_is_refused(backend):
    match = r"at most 1024 threads.*2048 threads per block"
    with pytest.raises(LaunchConfigError, match=match):
        kc.check_vector_add(nk.vector_add, threads_per_block=2048, backend=backend)
    with pytest.raises(LaunchConfigError, match=match):
        kc.check_vector_add(cu("vector_add.cu"), name="vector_add", threads_per_block=2048, backend=backend)
    a = np.ones(2048, np.float32)
    t0 = time.perf_counter()
    with pytest.raises(LaunchConfigError, match=match):  # the simulator itself would accept it
        numba_runner.run_numba(nk.vector_add, [Launch(1, 2048, [a, a, np.empty_like(a)])], backend="cpu")
    with pytest.raises(LaunchConfigError, match=match):
        cuda_c.run_cuda_c(cu("vector_add.cu"), "vector_add", [Launch(1, (64, 32), [a, a, a, np.int32(2048)])],
                          backend="cpu")
    assert time.perf_counter() - t0 < 1.0  # refused before anything starts
    kc.check_launch(1, 1024)
    with pytest.raises(LaunchConfigError, match="block dimension z = 128 exceeds the limit 64"):
        kc.check_launch(1, (1, 1, 128))


# ---------------------------------------------------------------- compile errors, time limits

def test_cuda_compile_error_names_the_line():
    with pytest.raises(KernelCompileError, match=r'(?s)NVRTC.*line 3: error: expected a ";"\n\s+if \(i < n\)'):
        kc.check_vector_add(cu("compile_error.cu"), name="vector_add", backend="cpu")


def test_cuda_kernel_must_be_extern_c():
    with pytest.raises(KernelCompileError, match=r'mangled.*extern "C" __global__ void vector_add'):
        kc.check_vector_add(cu("not_extern_c.cu"), name="vector_add", backend="cpu")
    with pytest.raises(KernelCompileError, match=r"no __global__ function named 'vector_sum'"):
        cuda_c.check_compiles(cu("vector_add.cu"), "vector_sum")


def test_more_than_48_kib_of_static_shared_memory_is_refused():
    with pytest.raises(KernelCompileError, match=r"65536 bytes of static __shared__ memory.*at most 49152 bytes"):
        cuda_c.check_compiles(cu("too_much_shared.cu"), "big_tile")


def test_nvrtc_reports_registers_and_shared_memory():
    res = cuda_c.check_compiles(cu("matmul_tiled.cu"), "matmul")
    assert res.registers and res.registers > 0
    assert res.shared_bytes == 2 * 16 * 16 * 4  # As and Bs, 16 x 16 floats each
    assert "-ftz=true" in res.options and "-arch=sm_75" in res.options  # CuPy's flags, Colab's T4


def test_numba_typing_error_the_simulator_accepts_fails_the_ptx_compile():
    with pytest.raises(KernelCompileError, match=r"(?s)compile_ptx.*Untyped global name 'add_values'.*line \d+"):
        kc.check_vector_add(nk.vector_add_plain_helper, backend="cpu")


def test_numba_kernel_past_the_time_limit():
    src = '''
@cuda.jit
def spin(out):
    i = cuda.grid(1)
    while out[0] == out[0]:
        i += 1
'''
    out = np.zeros(1, np.float32)
    with pytest.raises(KernelTimeout, match=r"ran past the time limit of 3 s"):
        numba_runner.run_numba(src, [Launch(1, 1, [out])], backend="cpu", timeout=3, compile_check=False)


def test_cuda_kernel_past_the_time_limit():
    a = np.ones(4, np.float32)
    with pytest.raises(KernelTimeout, match=r"ran past the time limit of 3 s"):
        cuda_c.run_cuda_c(cu("endless_loop.cu"), "vector_add", [Launch(1, 4, [a, a, a.copy(), np.int32(4)])],
                          backend="cpu", timeout=3, sanitizers=("address",))


# ---------------------------------------------------------------- counts and shim features

def test_access_counts_match_hand_arithmetic():
    n = 300
    a = np.arange(n, dtype=np.float32)
    run = numba_runner.run_numba(nk.vector_add, [Launch(2, 256, [a, a, np.zeros(n, np.float32)])],
                                 backend="cpu", count_accesses=True, compile_check=False)
    acc = run.accesses[0]
    # 300 guarded threads: one read of a, one of b, one write of out each; 212 threads do nothing
    assert acc.reads == {"a": n, "b": n} and acc.writes == {"out": n}
    assert acc.max_reads_per_thread == 2 and acc.threads == n
    np.testing.assert_array_equal(run.outputs[0][2], 2 * a)


def test_cuda_atomics_device_functions_and_a_global_race():
    x = np.arange(1, 301, dtype=np.float32)
    launch = Launch(2, 256, [x, np.zeros(1, np.float32), np.int32(300)])
    run = kc.run_kernel(cu("sum_atomic.cu"), [launch], name="sum_squares", backend="cpu")
    assert run.outputs[0][1][0] == pytest.approx(float((x.astype(np.float64) ** 2).sum()), rel=1e-5)
    with pytest.raises(RaceError, match=r"on total\[0\] \(global memory\).*atomic"):
        kc.run_kernel(cu("sum_no_atomic.cu"), [launch], name="sum_squares", backend="cpu")


def test_cuda_dynamic_shared_memory_and_dim3():
    n, tpb = 70, 32
    x = np.arange(n, dtype=np.float32)
    launch = Launch(3, tpb, [x, np.full(n, np.nan, np.float32), np.int32(n)], shared_mem=tpb * 4)
    out = kc.run_kernel(cu("reverse_dynamic_shared.cu"), [launch], name="reverse_blocks", backend="cpu").outputs[0][1]
    want = np.full(n, np.nan, np.float32)
    for block in range(3):  # what each block does, in NumPy: reverse its chunk, padded with zeros
        chunk = np.zeros(tpb, np.float32)
        part = x[block * tpb:(block + 1) * tpb]
        chunk[:len(part)] = part
        want[block * tpb:(block + 1) * tpb] = chunk[::-1][:len(part)]
    np.testing.assert_array_equal(out, want)


def test_an_overflow_asan_calls_use_after_free_is_still_out_of_bounds():
    """Past its array a thread may land in a chunk the launcher freed before; ASan then says
    "heap-use-after-free", which for a kernel (it frees nothing) is an out-of-bounds access."""
    src = 'extern "C" __global__ void f(float* x, int n) {\n    x[threadIdx.x] = 1.0f;\n}'
    report = ("@@LAUNCH 0\n@@ARG 0 0x602000000010 100\n@@CUDA_THREAD blockIdx=(0,0,0) threadIdx=(47,0,0)\n"
              "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020000000cc\n"
              "WRITE of size 4 at 0x6020000000cc thread T0\n"
              f"    #0 0x1 in f {cuda_c.SOURCE_NAME}:2\n")
    run = cuda_c._SanRun("address", 86, report, "", False, 0.1)
    launch = Launch(grid=1, block=96, args=[np.zeros(25, np.float32), np.int32(25)])
    msg = cuda_c._asan_message(run, src, launch, ["x", "n"])
    assert msg.startswith("out-of-bounds write of x[47] (x has 25 elements) by the thread"), msg
    assert "bounds guard" in msg

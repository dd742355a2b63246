"""The CUDA C runner: NVRTC's verdicts, time limits, and what the shim and its sanitizers report.

Runs on a CPU-only machine (NVRTC from its wheel, the shim under ASan/TSan with g++).
The kernels are small files in tests/scenarios/kernels/.
"""
from __future__ import annotations

import numpy as np
import pytest

from autograder import kernels
from autograder.kernels import KernelCompileError, KernelTimeout, Launch, RaceError, nvrtc, sanitizers, shim
from conftest import SCENARIOS


def cu(name: str) -> str:
    return (SCENARIOS / "kernels" / name).read_text()


def test_cuda_compile_error_names_the_line():
    with pytest.raises(KernelCompileError, match=r'(?s)NVRTC.*line 3: error: expected a ";"\n\s+if \(i < n\)'):
        kernels.check_vector_add(cu("compile_error.cu"), name="vector_add", backend="cpu")


def test_cuda_kernel_must_be_extern_c():
    with pytest.raises(KernelCompileError, match=r'mangled.*extern "C" __global__ void vector_add'):
        kernels.check_vector_add(cu("not_extern_c.cu"), name="vector_add", backend="cpu")
    with pytest.raises(KernelCompileError, match=r"no __global__ function named 'vector_sum'"):
        kernels.check_compiles(cu("vector_add.cu"), "vector_sum")


def test_more_than_48_kib_of_static_shared_memory_is_refused():
    with pytest.raises(KernelCompileError, match=r"65536 bytes of static __shared__ memory.*at most 49152 bytes"):
        kernels.check_compiles(cu("too_much_shared.cu"), "big_tile")


def test_nvrtc_reports_registers_and_shared_memory():
    res = kernels.check_compiles(cu("matmul_tiled.cu"), "matmul")
    assert res.registers and res.registers > 0
    assert res.shared_bytes == 2 * 16 * 16 * 4  # As and Bs, 16 x 16 floats each
    assert "-ftz=true" in res.options and "-arch=sm_75" in res.options  # CuPy's flags, Colab's T4


def test_cuda_kernel_past_the_time_limit():
    a = np.ones(4, np.float32)
    with pytest.raises(KernelTimeout, match=r"ran past the time limit of 3 s"):
        kernels.run_cuda_c(cu("endless_loop.cu"), "vector_add", [Launch(1, 4, [a, a, a.copy(), np.int32(4)])],
                           backend="cpu", timeout=3, sanitizers=("address",))


def test_cuda_atomics_device_functions_and_a_global_race():
    x = np.arange(1, 301, dtype=np.float32)
    launch = Launch(2, 256, [x, np.zeros(1, np.float32), np.int32(300)])
    run = kernels.run_kernel(cu("sum_atomic.cu"), [launch], name="sum_squares", backend="cpu")
    assert run.outputs[0][1][0] == pytest.approx(float((x.astype(np.float64) ** 2).sum()), rel=1e-5)
    # reported every time, on a busy machine too: no lock of the shim orders one thread's work before another's
    for _ in range(3):
        with pytest.raises(RaceError, match=r"on total\[0\] \(global memory\).*atomic"):
            kernels.run_kernel(cu("sum_no_atomic.cu"), [launch], name="sum_squares", backend="cpu")


def test_cuda_dynamic_shared_memory_and_dim3():
    n, tpb = 70, 32
    x = np.arange(n, dtype=np.float32)
    launch = Launch(3, tpb, [x, np.full(n, np.nan, np.float32), np.int32(n)], shared_mem=tpb * 4)
    out = kernels.run_kernel(cu("reverse_dynamic_shared.cu"), [launch], name="reverse_blocks",
                             backend="cpu").outputs[0][1]
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
    src = cu("write_no_guard.cu")
    report = ("@@LAUNCH 0\n@@ARG 0 0x602000000010 100\n@@CUDA_THREAD blockIdx=(0,0,0) threadIdx=(47,0,0)\n"
              "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020000000cc\n"
              "WRITE of size 4 at 0x6020000000cc thread T0\n"
              f"    #0 0x1 in f {nvrtc.SOURCE_NAME}:2\n")
    run = shim.ShimRun("address", 86, report, "", False, 0.1)
    launch = Launch(grid=1, block=96, args=[np.zeros(25, np.float32), np.int32(25)])
    msg = sanitizers.asan_message(run, src, launch, ["x", "n"])
    assert msg.startswith("out-of-bounds write of x[47] (x has 25 elements) by the thread"), msg
    assert "bounds guard" in msg

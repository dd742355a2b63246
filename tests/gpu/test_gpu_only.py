"""What only a GPU can show: the GPU paths that were written before a GPU was reached.

Skipped without a CUDA GPU; `dev.py gpu-figures` runs this module on the GPU machine (its
gpu_tests step) and keeps the outcomes in results/gpu_tests.json. Each test names the fault it
guards against, found by reading the GPU-only code against the libraries' APIs.
"""
import numpy as np
import pytest

from autograder import device

pytestmark = pytest.mark.skipif(not device.detect().cuda, reason="needs a CUDA GPU")


def test_numba_cuda_imports_and_runs_a_kernel():
    """numba with numba-cuda (the redirector takes over numba.cuda): a kernel on the machine's CUDA."""
    from numba import cuda
    from autograder import kernels
    from autograder.ch02_first_kernels import VECTOR_ADD_NUMBA
    assert device.numba_cuda_mismatch() is None and cuda.is_available()
    a = np.arange(5000, dtype=np.float32)
    run = kernels.run_kernel(VECTOR_ADD_NUMBA, [kernels.Launch(20, 256, [a, a, np.zeros_like(a)])],
                             name="vector_add", backend="gpu")
    assert "GPU" in run.backend and np.array_equal(run.outputs[0][2], 2 * a)


def test_cupy_rawkernel_runs_and_names_outputs_from_the_kernel():
    """cupy.RawKernel through run_cuda_c, a comment naming the kernel first (the output-name regex)."""
    from autograder import kernels
    from tests_gpu_sources import COMMENTED_ADD
    a = np.arange(3000, dtype=np.float32)
    run = kernels.run_kernel(COMMENTED_ADD, [kernels.Launch(12, 256, [a, a, np.zeros_like(a), np.int32(3000)])],
                             name="vector_add", backend="gpu", sanitizers=())
    assert "cupy.RawKernel" in run.backend and np.array_equal(run.outputs[0][2], 2 * a)


def test_a_write_past_the_end_is_named_on_the_gpu():
    from autograder import kernels
    from tests_gpu_sources import UNGUARDED_ADD
    a = np.ones(1000, np.float32)
    with pytest.raises(kernels.OutOfBoundsError, match="past the end of out"):
        kernels.run_kernel(UNGUARDED_ADD, [kernels.Launch(4, 256, [a, a, np.zeros_like(a), np.int32(1000)])],
                           name="vector_add", backend="gpu", sanitizers=())


def test_the_meter_grades_byte_predictions_like_with_like_on_cuda():
    """The allocator rounds each storage to 512 bytes; chapters 6 and 10 grade tensor bytes."""
    from autograder import ch06_where_memory_goes as ch06, ch10_lean_optimizers as ch10, memory
    m = memory.measure(memory.build(ch06.mlp_setup, [48, 32, 16], 8))
    assert m.backend == "cuda" and sum(m.persistent.values()) == 36_864
    from conftest import cell, defined, solution
    persistent, saved = (defined(cell(solution(ch06.SLUG), gid).source, name)       # the exercise's answers
                         for gid, name in (("persistent_answer", "persistent_bytes"), ("saved_answer", "saved_bytes")))
    ch06.check_bytes_per_parameter(ch06.bytes_per_parameter)
    ch06.check_persistent(persistent)
    ch06.check_saved(saved)
    import torch
    ch10.check_state_bytes(defined(cell(solution(ch10.SLUG), "state_answer").source, "state_bytes",
                                   torch=torch))


def test_the_agreement_measures_cuda_with_the_model_on_the_gpu():
    from autograder.memory import agreement
    assert agreement.isolated_peak("cuda") > 1_000_000    # the MLP's step: megabytes, not ~0


def test_kernel_only_timing_checks_the_sum_it_downloads():
    from autograder import ch01_cpu_vs_gpu as ch01
    data = ch01.measure([1000, 100_000], paths=("gpu_kernel",), progress=False)
    assert len(data["gpu_kernel"]) == 2


def test_matmul_record_puts_tf32_back():
    import torch
    from autograder import ch05_matmul_layer as ch05
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        ch05.record(sizes=(128,), repeats=1)
        assert torch.backends.cuda.matmul.allow_tf32 is True
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False


def test_the_bench_times_kernels_with_events():
    from autograder import kernels
    from autograder.ch02_first_kernels import VECTOR_ADD_C
    b = kernels.bench()
    x = b.randn((1 << 20,))
    out = b.xp.zeros_like(x)
    add = b.raw_kernel(VECTOR_ADD_C, "vector_add")
    ms = b.median_ms(lambda: add(4096, 256, (x, x, out, np.int32(1 << 20))), repeats=3)
    assert 0 < ms < 1000 and np.allclose(b.host(out), 2 * b.host(x))


def test_an_illegal_address_ends_the_kernel_s_process_and_the_notebook_goes_on():
    """A write a gigabyte past an array kills a CUDA context for good: it happens in the GPU
    run's child, and the next kernel in this process runs."""
    from autograder import kernels
    wild = ('extern "C" __global__ void wild(float *p, int n) {\n'
            '    p[(size_t)1 << 30] = 1.0f;\n}\n')
    with pytest.raises(kernels.KernelError, match="illegal memory access|crash|failed"):
        kernels.run_kernel(wild, [kernels.Launch(1, 1, [np.zeros(4, np.float32), np.int32(4)])],
                           name="wild", backend="gpu", sanitizers=())
    test_numba_cuda_imports_and_runs_a_kernel()

"""The GPU paths' own logic, checked on a CPU: kernel parameter names, the CPU bench stand-in."""
import numpy as np

from autograder import kernels
from autograder.kernels import shim

COMMENTED = r'''
// vector_add(x, y) is what the exercise asks for; below, the kernel
/* vector_add(p) in a block comment too */
extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i];
}
'''
HELPER_FIRST = r'''
__device__ float scale(float v) { return 2.0f * v; }
extern "C" __global__ void twice(float* data, int n) { int i = threadIdx.x; if (i < n) data[i] = scale(data[i]); }
'''


def test_parameter_names_come_from_the_kernel_not_a_comment():
    """cupy.RawKernel's outputs are named from the kernel's parameters: a comment that names the
    kernel first must not give two names for four arguments."""
    assert shim.param_names(COMMENTED, "vector_add") == ["a", "b", "out", "n"]
    assert shim.param_names(HELPER_FIRST, "twice") == ["data", "n"]
    assert shim.param_names("void f(int x) {}", "f") == ["x"]   # no __global__: the first definition


def test_the_cpu_bench_runs_cuda_c_and_numba_in_place():
    b = kernels.bench(dry=True)
    a, one = np.arange(300, dtype=np.float32), np.ones(300, np.float32)
    out = b.xp.zeros(300, np.float32)
    b.raw_kernel(COMMENTED, "vector_add")(2, 256, (a, one, out, np.int32(300)))
    assert np.array_equal(b.host(out), a + 1)
    from autograder.ch02_first_kernels import VECTOR_ADD_NUMBA
    out[:] = 0
    b.numba_kernel(VECTOR_ADD_NUMBA, "vector_add")(2, 256, (a, one, out))
    assert np.array_equal(out, a + 1)
    start, end = b.event(), b.event()
    start.record(), end.record()
    assert b.elapsed_ms(start, end) >= 0 and b.median_ms(lambda: None, repeats=3) >= 0


def test_an_incompatible_numba_pair_is_named_with_what_to_do(capsys, monkeypatch):
    """numba 0.66 moved NPDatetime: numba-cuda before 0.30.4 breaks `from numba import cuda`."""
    from autograder import device
    said = device.numba_cuda_mismatch("0.68.1", "0.22.2")
    assert "numba-cuda[cu12]>=0.30.4" in said and "restart" in said
    assert device.numba_cuda_mismatch("0.65.1", "0.22.2") is None
    assert device.numba_cuda_mismatch("0.68.1", "0.30.4") is None
    assert device.numba_cuda_mismatch() is None          # the course's own pinned pair
    monkeypatch.setattr(device, "numba_cuda_mismatch", lambda: "numba 9 and numba-cuda 0.1 do not work")
    device.report()
    assert "Warning: numba 9 and numba-cuda 0.1" in capsys.readouterr().out


def test_the_pinned_pair_imports_in_the_simulator():
    import os
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", "from numba import cuda; print(cuda.__file__)"],
                          capture_output=True, text=True, env=dict(os.environ, NUMBA_ENABLE_CUDASIM="1"))
    assert done.returncode == 0, done.stderr[-2000:]


def test_kernel_only_timing_checks_the_sum_it_downloads():
    """ch01's "kernel only" path leaves its sum on the device: the check reads it back first."""
    from autograder import ch01_cpu_vs_gpu as ch01
    from autograder.kernels.arrays import HostArrays
    data = ch01.measure([1000, 3000], paths=("gpu_kernel",), arrays=HostArrays(), progress=False)
    assert len(data["gpu_kernel"]) == 2


def test_the_matmul_record_puts_tf32_back():
    import torch
    from autograder import ch05_matmul_layer as ch05
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        assert ch05.record(dry=True)["tf32"] is False
        assert torch.backends.cuda.matmul.allow_tf32 is True
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False

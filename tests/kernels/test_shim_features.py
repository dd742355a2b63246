"""What the CPU paths run correctly, what they refuse and how: features, warps, parameters, hangs.

The CUDA C shim must run what a correct kernel uses (templates, #pragma unroll, fmaf, __ldg, the
fast-math intrinsics, float4 loads, __launch_bounds__, extern __shared__, warp shuffles and
votes); scalar parameters are checked against what CuPy passes; a kernel that never ends is
reported and leaves no process behind. The Numba simulator has no warp operations and says so.
"""
from __future__ import annotations

import math

import numpy as np
import psutil
import pytest

from autograder import ch05_matmul_layer as ch05
from autograder import kernels
from autograder.kernels import ArgumentTypeError, KernelTimeout, Launch, NotOnThisBackend

FEATURES_C = r"""
template <int N> __device__ __forceinline__ float dot4(const float4 a, const float4 b) {
    return fmaf(a.x, b.x, fmaf(a.y, b.y, fmaf(a.z, b.z, a.w * b.w))) * (N / 4);
}

extern "C" __global__ void __launch_bounds__(128) features(const float* __restrict__ x, float* __restrict__ out, int n) {
    extern __shared__ float stage[];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    stage[threadIdx.x] = (4 * i + 3 < 4 * n) ? __ldg(&x[4 * i]) : 0.0f;
    __syncthreads();
    if (i < n) {
        float4 v = reinterpret_cast<const float4*>(x)[i];
        float acc = 0.0f;
#pragma unroll
        for (int k = 0; k < 4; ++k) acc += stage[threadIdx.x] * (float)k;
        out[i] = dot4<4>(v, v) + __fdividef(acc, 6.0f) + __expf(0.0f);
    }
}
"""

WARPS_C = r"""
extern "C" __global__ void warps(const int* x, int* out, int n) {
    int t = threadIdx.x, lane = t % 32, i = blockIdx.x * blockDim.x + t;
    int v = i < n ? x[i] : 0;
    int sum = v;
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_down_sync(0xffffffff, sum, off);
    int total = __shfl_sync(0xffffffff, sum, 0);            // lane 0's sum, to every lane
    int up = __shfl_up_sync(0xffffffff, v, 1);               // lane 0 keeps its own value
    int xr = __shfl_xor_sync(0xffffffff, v, 1);
    unsigned odd = __ballot_sync(0xffffffff, v % 2);
    int any_big = __any_sync(0xffffffff, v > 1000), all_pos = __all_sync(0xffffffff, v >= 0);
    unsigned live = __activemask();
    __syncwarp();
    if (i < n) {
        out[6 * i + 0] = total;
        out[6 * i + 1] = up;
        out[6 * i + 2] = xr;
        out[6 * i + 3] = (int)__popc(odd);
        out[6 * i + 4] = any_big * 2 + all_pos;
        out[6 * i + 5] = (int)__popc(live);
    }
}
"""

WARP_LAYER_C = r"""
extern "C" __global__ void matvec_warp(const float* W, const float* x, float* z, int rows, int cols) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    float s = 0.0f;
    if (row < rows)
        for (int c = lane; c < cols; c += 32) s += W[row * cols + c] * x[c];
    for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffff, s, off);
    if (lane == 0 && row < rows) atomicAdd(&z[row], s);
}
"""


def bias_sigmoid_text():
    return ("@cuda.jit\ndef bias_sigmoid(z, b, y):\n    i = cuda.grid(1)\n    if i < y.size:\n"
            "        y[i] = 1.0 / (1.0 + math.exp(-(z[i] + b[i])))\n")


def test_cuda_c_features_a_correct_kernel_uses_run_on_the_shim():
    n, tpb = 70, 32
    x = np.random.default_rng(0).standard_normal(4 * n).astype(np.float32)
    launch = Launch(math.ceil(n / tpb), tpb, [x, np.full(n, np.nan, np.float32), np.int32(n)], shared_mem=tpb * 4)
    out = kernels.run_kernel(FEATURES_C, [launch], name="features", backend="cpu").outputs[0][1]
    v = x.reshape(n, 4).astype(np.float64)
    want = (v * v).sum(1) + v[:, 0] * 6 / 6 + 1.0                    # stage = x[4i]; 0+1+2+3 = 6
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_warp_shuffles_and_votes_meet_as_a_warp_does():
    n, tpb = 100, 64                                  # two blocks of two warps; threads past n bring 0
    x = np.arange(n, dtype=np.int32) * 3
    launches = [Launch(2, tpb, [x, np.zeros(6 * n, np.int32), np.int32(n)]),
                Launch(3, 48, [x, np.zeros(6 * n, np.int32), np.int32(n)])]   # a warp of 16 lanes in each block
    run = kernels.run_kernel(WARPS_C, launches, name="warps", backend="cpu")
    partial = run.outputs[1][1].reshape(n, 6)
    assert [partial[i, 5] for i in (0, 31, 32, 47, 48)] == [32, 32, 16, 16, 32]   # __activemask: the live lanes
    out = run.outputs[0][1].reshape(n, 6)
    for i in range(n):
        b, t = divmod(i, tpb)
        w0 = b * tpb + (t // 32) * 32                # the first element of this thread's warp
        lanes = min(32, tpb - (t // 32) * 32)
        vals = [3 * j if j < n else 0 for j in range(w0, w0 + lanes)]
        lane = t % 32
        assert out[i, 0] == sum(vals), i
        assert out[i, 1] == (vals[lane - 1] if lane else vals[lane])
        assert out[i, 2] == (vals[lane ^ 1] if (lane ^ 1) < lanes else vals[lane])
        assert out[i, 3] == sum(v % 2 for v in vals)
        assert out[i, 4] == (2 if max(vals) > 1000 else 0) + 1
        assert out[i, 5] == lanes


def test_a_layer_with_one_warp_per_row_passes_on_a_cpu():
    def layer(W, x, b):
        rows, cols = W.shape
        z = np.zeros(rows, np.float32)
        run = kernels.run_kernel(WARP_LAYER_C, [Launch(math.ceil(rows / 4), 128, [W, x, z, np.int32(rows),
                                                                                   np.int32(cols)])],
                                 name="matvec_warp")
        z = run.outputs[0][2]
        y = np.zeros(rows, np.float32)
        return kernels.run_kernel(bias_sigmoid_text(), [Launch(math.ceil(rows / 32), 32, [z, b, y])]).outputs[0][2]

    ch05.check_layer(layer, bias_sigmoid_text(), hidden=True, verbose=False)


def test_the_simulator_says_it_has_no_warp_operations():
    src = ("@cuda.jit\ndef warp_sum(a, b, out):\n    i = cuda.grid(1)\n    v = a[i] if i < a.size else 0.0\n"
           "    v += cuda.shfl_down_sync(0xffffffff, v, 1)\n    if i < out.size:\n        out[i] = v\n")
    with pytest.raises(NotOnThisBackend, match=r"cuda\.shfl_down_sync at line 5.*warp-level operation.*simulator "
                                                r"has none.*checked on a CPU.*GPU"):
        kernels.run_numba(src, [Launch(1, 32, [np.ones(8, np.float32)] * 2 + [np.zeros(8, np.float32)])],
                          backend="cpu", compile_check=False)


@pytest.mark.parametrize("decl, passed, message", [
    ("size_t n", np.int32(8), r"`size_t n` receives np.int32, 4 bytes.*8 bytes on a GPU: declare `int n`, or pass "
                              r"np.uint64\(n\)"),
    ("int n", 8, r"`int n` receives a Python int \(CuPy passes it as 8 bytes, int64\).*declare `long long n`, or "
                 r"pass np.int32\(n\)"),
    ("float n", np.int32(8), r"`float n` receives np.int32.*a floating-point number of 4 bytes.*np.float32\(n\)"),
    ("const float* n", np.int32(8), r"is a pointer, but the launch passes a scalar"),
])
def test_scalar_parameters_are_checked_as_cupy_passes_them(decl, passed, message):
    src = f'extern "C" __global__ void k(float* out, {decl}) {{ out[0] = 1.0f; }}'
    with pytest.raises(ArgumentTypeError, match=message):
        kernels.run_kernel(src, [Launch(1, 1, [np.zeros(1, np.float32), passed])], name="k", backend="cpu")


def test_matching_scalars_pass_and_typedefs_are_read_from_ptx():
    src = ('typedef long long index_t;\n'
           'extern "C" __global__ void k(float* out, index_t n, double s) { if (threadIdx.x < n) out[threadIdx.x] = s; }')
    run = kernels.run_kernel(src, [Launch(1, 4, [np.zeros(4, np.float32), np.int64(4), np.float64(2.5)])], name="k",
                             backend="cpu")
    np.testing.assert_array_equal(run.outputs[0][0], 2.5)
    with pytest.raises(ArgumentTypeError, match="`index_t n` receives np.int32"):
        kernels.run_kernel(src, [Launch(1, 4, [np.zeros(4, np.float32), np.int32(4), np.float64(2.5)])], name="k",
                           backend="cpu")


def _course_children(before=frozenset()):
    """Processes this test process started that are still alive (the shim binaries, the simulator),
    bar the isolation's zygote, which serves every later job by design, and those alive `before`
    (an earlier test's on this worker: torch's compile workers, say), and multiprocessing's own
    helpers (its resource tracker or fork server lives as long as the process that started it).
    Each as (pid, command line), so that a failure says what was left."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
            if p.status() != "zombie" and p.pid not in before and "_zygote_main" not in cmd \
                    and "from multiprocessing." not in cmd:
                out.append((p.pid, cmd[:300]))
        except psutil.Error:          # ended meanwhile
            continue
    return out


def test_a_hang_is_reported_and_leaves_no_process():
    src = ('extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {\n'
           '    volatile int k = 0;\n    while (k < n) { k = k * 2; }   // never grows\n'
           '    int i = blockIdx.x * blockDim.x + threadIdx.x;\n    if (i < n) out[i] = a[i] + b[i];\n}')
    spin = "@cuda.jit\ndef spin(a, b, out):\n    k = 0\n    while k < out.size:\n        k = k * 2\n"
    before = {pid for pid, _ in _course_children()}
    for kernel, name in ((src, "vector_add"), (spin, None)):
        with pytest.raises(KernelTimeout, match=r"ran past the time limit of \d+ s.*endless loop"):
            kernels.check_vector_add(kernel, name=name, backend="cpu", sizes=(5, 300))
        assert _course_children(before) == []

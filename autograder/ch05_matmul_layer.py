"""Chapter 5, matrix multiplication and a neural layer: naive and tiled matmul, y = sigmoid(Wx + b).

Layers, as elsewhere in the package: pure arithmetic (`flops`, `naive_reads`, `tiled_reads`),
measurement (`reads_per_output` in the simulator, `record` on a GPU), and the checks the
exercise calls. The checks are thin wrappers over `kernels.check_matmul` with the
chapter's own shapes: every one non-square, so that swapped rows and columns show, and with
sizes that are not multiples of the block, so that a missing guard shows.

Known limitations: on a CPU the Numba kernels run in the simulator (about 0.5 ms per CUDA
thread), so the shapes stay at a few thousand threads; read budgets are counted in the
simulator only, so the CUDA C tiled kernel is graded by its values and the race check, and its
source must declare `__shared__` arrays; the layer check compares with torch on the
CPU and cannot tell a kernel from a torch call inside `layer`, so the sigmoid kernel is also
checked on its own.
"""
from __future__ import annotations

import math
import random
import re

import numpy as np

from . import kernels

SLUG = "ch05_matmul_layer"
FALLBACK = ("Numba kernels run in Numba's CUDA simulator (which also counts global-memory reads) "
            "and CUDA C kernels in a CPU shim under AddressSanitizer and ThreadSanitizer, so every "
            "check grades as on a GPU; matmul timings against torch come from a GPU run, when one "
            "is recorded.")
TILE = 16                     # tile width of the tiled kernels: blocks of TILE x TILE threads
NAIVE_BLOCK = (8, 8)          # the naive checks' block: small, so the simulator stays quick
LAYER_RTOL, LAYER_ATOL = 1e-4, 1e-5   # |y - torch| <= atol + rtol * |torch|, y in (0, 1)

# The reference kernels `record()` times on a GPU (the page and the exercise write their own).
NAIVE_C = r'''
extern "C" __global__ void matmul_naive(const float* A, const float* B, float* C, int M, int K, int N) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < M && col < N) {
        float acc = 0.0f;
        for (int k = 0; k < K; ++k) acc += A[row * K + k] * B[k * N + col];
        C[row * N + col] = acc;
    }
}
'''
TILED_C = r'''
#define TILE 16
extern "C" __global__ void matmul_tiled(const float* A, const float* B, float* C, int M, int K, int N) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
    float acc = 0.0f;
    for (int t = 0; t < K; t += TILE) {
        As[ty][tx] = (row < M && t + tx < K) ? A[row * K + t + tx] : 0.0f;
        Bs[ty][tx] = (col < N && t + ty < K) ? B[(t + ty) * N + col] : 0.0f;
        __syncthreads();
        for (int k = 0; k < TILE; ++k) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < M && col < N) C[row * N + col] = acc;
}
'''


# ---------------------------------------------------------------- the arithmetic
def flops(m: int, k: int, n: int) -> int:
    """Floating-point operations of C = A @ B: one multiply and one add per (row, col, k)."""
    return 2 * m * k * n


def naive_reads(k: int) -> int:
    """Global elements one output of the naive kernel reads: a row of A and a column of B."""
    return 2 * k


def tiled_reads(k: int, tile: int = TILE) -> float:
    """Global elements per output of a tiled kernel: each of the block's tile*tile threads loads
    one element of A and one of B per tile step, and there are ceil(k / tile) steps."""
    return 2 * math.ceil(k / tile)


def reads_per_output(kernel, shapes, block=(TILE, TILE)) -> list[float]:
    """Global reads of A and B per element of C, counted by the simulator, for each (M, K, N)."""
    cases = kernels.matmul_cases(shapes, block, ("A", "B", "C"), np.random.default_rng(0))
    run = kernels.run_kernel(kernel, [c.launch for c in cases], backend="cpu", count_accesses=True)
    out = []
    for (m, _, n), acc in zip(shapes, run.accesses):
        out.append(sum(acc.reads.values()) / (m * n))
    return out


# ---------------------------------------------------------------- the checks
def _random_shapes(r: random.Random, count: int, k_range=(1, 24), mn_range=(1, 20)):
    """`count` (M, K, N) with M != N, neither a multiple of 8, so swaps and missing guards show."""
    shapes = []
    while len(shapes) < count:
        m, n = r.randint(*mn_range), r.randint(*mn_range)
        if m != n and m % 8 and n % 8:
            shapes.append((m, r.randint(*k_range), n))
    return shapes


def check_naive(kernel, name=None, hidden=False, verbose=True):
    """C = A @ B, one thread per element of C, blocks of 8 x 8, on non-square shapes.

    Numba kernel(A, B, C); CUDA C kernel(const float* A, const float* B, float* C, int M, int K,
    int N), row-major; x walks along the columns of C, y along its rows.
    """
    kernels.need_name(kernel, name, "check_naive")
    shapes = ((1, 1, 1), (4, 4, 4), (3, 5, 2), (2, 7, 9), (13, 6, 11))   # square first: a swap shows after
    if hidden:
        shapes = ((5, 5, 5),) + tuple(_random_shapes(random.Random(), 3))
    return kernels.check_matmul(kernel, NAIVE_BLOCK, name=name, shapes=shapes, verbose=verbose)


def _bias_sigmoid_cases(sizes, rng):
    cases = []
    for n in sizes:
        z = rng.standard_normal(n).astype(np.float32) * 4
        b = rng.standard_normal(n).astype(np.float32)
        want = (1 / (1 + np.exp(-(z.astype(np.float64) + b)))).astype(np.float32)
        launch = kernels.Launch(math.ceil(n / 32), 32, [z, b, np.full(n, np.nan, np.float32)], label=f"n={n}")
        cases.append(kernels.Case(launch, {2: want}, names=["z", "b", "y"]))
    return cases


def check_layer(layer, bias_sigmoid, hidden=False, verbose=True):
    """The Numba kernel bias_sigmoid(z, b, y): y[i] = sigmoid(z[i] + b[i]), blocks of 32; then
    layer(W, x, b) against torch.sigmoid(W @ x + b) within LAYER_ATOL + LAYER_RTOL * |y|.

    W is (out, in), x (in,), b (out,), all float32; layer returns y of shape (out,).
    """
    import torch
    r = random.Random() if hidden else random.Random(5)
    rng = np.random.default_rng(r.randrange(2**32))
    sizes = (1, 5, 33, 100) if not hidden else (r.randint(1, 31), r.randint(33, 200))
    kernels.check_kernel(bias_sigmoid, lambda size: _bias_sigmoid_cases(sizes, rng), check_name="bias + sigmoid",
                         hint=lambda case, idx, got: "y[i] = 1 / (1 + exp(-(z[i] + b[i])))", verbose=verbose)
    shapes = [(20, 7)] if not hidden else [(r.randint(2, 30), r.randint(2, 30))]
    for out_f, in_f in shapes:
        W = rng.standard_normal((out_f, in_f)).astype(np.float32)
        x = rng.standard_normal(in_f).astype(np.float32)
        b = rng.standard_normal(out_f).astype(np.float32)
        want = torch.sigmoid(torch.from_numpy(W) @ torch.from_numpy(x) + torch.from_numpy(b)).numpy()
        got = layer(W.copy(), x.copy(), b.copy())
        if hasattr(got, "detach"):
            got = got.detach().cpu().numpy()
        got = np.asarray(got)
        if got.size != out_f:
            raise AssertionError(f"layer with W {out_f}x{in_f} should return {out_f} values (one per row "
                                 f"of W), got shape {got.shape}")
        found = kernels.first_mismatch(want, got.reshape(want.shape), LAYER_RTOL, LAYER_ATOL)
        if found is not None:
            (i,), nbad = found
            raise AssertionError(
                f"layer with W {out_f}x{in_f}: y[{i}] = {float(got.ravel()[i]):.6g}, torch gives "
                f"{float(want[i]):.6g} ({nbad} of {out_f} wrong). z = W @ x is a matmul with x as an "
                f"{in_f}x1 matrix (M={out_f}, K={in_f}, N=1), then y = sigmoid(z + b)")
    text = (f"layer: sigmoid(W @ x + b) matches torch within {LAYER_ATOL:g} + {LAYER_RTOL:g} * |y| "
            f"for W of shape{'s' * (len(shapes) > 1)} {', '.join(f'{o}x{i}' for o, i in shapes)}")
    if verbose:
        print(text)
    return text


def _tiled_shapes(hidden):
    if not hidden:
        return ((1, 1, 1), (3, 5, 2), (17, 20, 18), (33, 40, 18))
    return tuple(_random_shapes(random.Random(), 3, k_range=(17, 60), mn_range=(1, 40)))


def check_tiled_c(source, name, hidden=False, verbose=True):
    """A CUDA C matmul with TILE x TILE __shared__ tiles, blocks of 16 x 16, K larger than a tile
    and not a multiple of it; run under the race check, so a missing __syncthreads() fails."""
    kernels.need_name(source, name, "check_tiled_c")
    if not isinstance(source, str):
        raise AssertionError("check_tiled_c takes the CUDA C source text and the kernel's name")
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", source, flags=re.S)   # comments do not count
    if "__shared__" not in code:   # a missing __syncthreads() is left to the race check, which says why
        raise AssertionError("this check grades a tiled kernel and the source has no __shared__: load "
                             "tiles of A and B into __shared__ arrays")
    return kernels.check_matmul(source, (TILE, TILE), name=name, shapes=_tiled_shapes(hidden), verbose=verbose)


def check_tiled_numba(kernel, hidden=False, verbose=True):
    """A Numba matmul with TILE x TILE shared tiles, blocks of 16 x 16, within a global-read budget.

    The budget is twice what a tiled kernel reads, 4 * ceil(K / 16) elements of A and B per
    output, counted in the simulator; a naive kernel reads 2 * K.
    """
    shape = (TILE, 48, TILE)
    if hidden:
        shape = (TILE, random.choice((32, 40, 64)), TILE)
    limit = 2 * tiled_reads(shape[1])
    shapes = ((3, 5, 2), (17, 20, 18))
    if hidden:   # one block row or column fewer than the C check: the simulator is slow
        shapes = _random_shapes(random.Random(), 1, k_range=(17, 40), mn_range=(1, 24))
    return kernels.check_matmul(kernel, (TILE, TILE), shapes=shapes, max_reads_per_output=limit, budget_shape=shape,
                                verbose=verbose)


# ---------------------------------------------------------------- the GPU figures
SIZES = (128, 256, 512, 1024, 2048, 4096)


def record(sizes=SIZES, repeats: int = 5, dry: bool = False) -> dict:
    """Naive kernel, tiled kernel and torch.matmul on square float32 matrices, on the GPU.

    Check before you time: each kernel's result is compared with torch's first. Then one warm-up
    launch and `repeats` timed ones with device events; medians in ms, and GFLOP/s = 2 n^3 / t.
    TF32 is switched off so that torch does the same fp32 arithmetic as the kernels, and put
    back as it was afterwards. dry: the same walk through the CPU stand-in, one small size.
    """
    import torch
    b = kernels.bench(dry)
    if dry:
        sizes, repeats = (24,), 1
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        ms = _matmul_times(b, sizes, repeats)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    gflops = {k: [flops(n, n, n) / (t * 1e-3) / 1e9 for n, t in zip(sizes, v)] for k, v in ms.items()}
    return {"sizes": list(sizes), "ms": ms, "gflops": gflops, "tile": TILE, "tf32": False, "repeats": repeats}


def _matmul_times(b, sizes, repeats) -> dict:
    import torch
    raw = {"naive": b.raw_kernel(NAIVE_C, "matmul_naive"), "tiled": b.raw_kernel(TILED_C, "matmul_tiled")}
    ms = {"naive": [], "tiled": [], "torch": []}
    for n in sizes:
        A, B = b.randn((n, n)), b.randn((n, n))
        At, Bt = torch.as_tensor(A, device=b.torch_device), torch.as_tensor(B, device=b.torch_device)
        want = torch.matmul(At, Bt)
        for kind, kern in raw.items():
            C = b.xp.full((n, n), np.nan, dtype=np.float32)
            grid = ((n + TILE - 1) // TILE, (n + TILE - 1) // TILE)
            args = (A, B, C, np.int32(n), np.int32(n), np.int32(n))
            launch = lambda kern=kern, grid=grid, args=args: kern(grid, (TILE, TILE), args)  # noqa: E731
            launch()
            b.sync()
            err = float((torch.as_tensor(C, device=b.torch_device) - want).abs().max()) / float(want.abs().max())
            if not err < 1e-4:
                raise AssertionError(f"{kind} kernel differs from torch.matmul at n={n}: relative error {err:.2e}")
            ms[kind].append(b.median_ms(launch, repeats))
        ms["torch"].append(b.median_ms(lambda: torch.matmul(At, Bt), repeats))
    return ms

"""Chapter 5, matrix multiplication and a neural layer: naive and tiled matmul, y = sigmoid(Wx + b).

Layers, as elsewhere in the package: pure arithmetic (`flops`, `naive_reads`, `tiled_reads`),
measurement (`reads_per_output` in the simulator, `record` on a GPU), and the checks the
exercise calls. The checks are thin wrappers over `kernels.check_matmul` with the
chapter's own launches (`plan_*`): wide and tall blocks, sizes that are not multiples of the
block, a C past 65,536 elements, so that every known bug fails on every hidden draw.

Known limitations: on a CPU the Numba kernels run in the simulator (about 0.5 ms per CUDA
thread), so the shapes stay at a few thousand threads (of the C past 65,536 elements only the
last two blocks run there); read budgets are counted on the CPU, in the simulator and in the
CUDA C shim's counter; the layer check compares with torch on the CPU and cannot tell a kernel
from a torch call inside `layer`, so the sigmoid kernel is also checked on its own.
"""
from __future__ import annotations

import math
import re

import numpy as np

from . import kernels

SLUG = "ch05_matmul_layer"
FALLBACK = ("Numba kernels run in Numba's CUDA simulator (which also counts global-memory reads) "
            "and CUDA C kernels in a CPU shim under AddressSanitizer and ThreadSanitizer, so every "
            "check grades as on a GPU; matmul timings against torch come from a GPU run, when one "
            "is recorded.")
TILE = 16                     # tile width of the tiled kernels: blocks of TILE x TILE threads
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
# The naive checks' launches: wide and tall blocks, M and N never multiples of them, K both above
# and below N, a tall C narrower than a wide block (rows and columns swapped show), one C past
# 65,536 elements (a 16-bit index); shapes as ((M, K, N), block).
VISIBLE_NAIVE = (((4, 4, 4), (8, 16)), ((3, 5, 2), (16, 8)), ((2, 7, 9), (8, 16)), ((13, 6, 11), (16, 8)),
                 ((20, 3, 9), (16, 4)), ((10, 14, 21), (4, 16)), ((263, 3, 251), (16, 8)))
NUMBA_LIMIT, C_LIMIT = 20, 40


def plan_naive(hidden: bool = False, seed: int | None = None, c_code: bool = False):
    """((M, K, N), block) launches of check_naive: fixed, or drawn from `kernels.plan_2d` with a K
    above N in one case and below it in another (a loop bound taken from the wrong matrix)."""
    if not hidden:
        return list(VISIBLE_NAIVE)
    rng = np.random.default_rng(seed)
    limit = C_LIMIT if c_code else NUMBA_LIMIT
    plan = []
    for j, ((m, n), block) in enumerate(kernels.plan_2d(rng, limit)):
        if m * n > kernels.WIDE_INDEX:
            k = int(rng.integers(2, 6))
        elif j == 1:
            k = n + int(rng.integers(1, 4))
        elif j == 2:
            k = int(rng.integers(1, n)) if n > 1 else 2
        else:
            k = int(rng.integers(1, limit + 1))
        plan.append(((m, k, n), block))
    return plan


def check_naive(kernel, name=None, hidden=False, verbose=True, seed=None):
    """C = A @ B, one thread per element of C, on non-square shapes with wide and tall blocks.

    Numba kernel(A, B, C); CUDA C kernel(const float* A, const float* B, float* C, int M, int K,
    int N), row-major; x walks along the columns of C, y along its rows.
    """
    kernels.need_name(kernel, name, "check_naive")
    plan = plan_naive(hidden, seed, kernels.is_cuda_c(kernel))
    return kernels.check_matmul(kernel, [b for _, b in plan], name=name, shapes=[s for s, _ in plan], seed=seed,
                                verbose=verbose)


def _bias_sigmoid_cases(plan, rng):
    cases = []
    for n, tpb in plan:
        z = kernels.with_extremes(rng.standard_normal(n).astype(np.float32) * 4, rng)
        b = rng.standard_normal(n).astype(np.float32)
        with np.errstate(over="ignore"):
            want = (1 / (1 + np.exp(-(z.astype(np.float64) + b)))).astype(np.float32)
        grid = kernels.grid_1d(n, tpb)
        tail = kernels.tail(grid) if n > kernels.WIDE_INDEX else None
        launch = kernels.Launch(grid, tpb, [z, b, np.full(n, np.nan, np.float32)], label=f"n={n}", blocks=tail)
        cases.append(kernels.Case(launch, {2: want}, names=["z", "b", "y"],
                                  compared={2: kernels.owned((n,), grid, tpb, tail)} if tail else {}))
    return cases


def _bias_sigmoid_hint(case, idx, got) -> str:
    v = float(case.launch.args[0][idx] + case.launch.args[1][idx])
    if np.isnan(got[idx]) and abs(v) > 80:
        return (f"got nan at z + b = {v:g}: exp({v:g}) overflows a float to inf, and inf / inf is nan. "
                f"y[i] = 1 / (1 + exp(-(z[i] + b[i])))")
    return kernels.vector_hint(case, idx, got) or "y[i] = 1 / (1 + exp(-(z[i] + b[i])))"


def plan_layer(hidden: bool = False, seed: int | None = None):
    """(bias_sigmoid's (n, threads per block) launches, the layer's (out, in) shapes)."""
    if not hidden:
        return [(1, 32), (5, 32), (33, 32), (100, 32), (70, 64), (65_601, 32)], [(20, 7)]
    rng = np.random.default_rng(seed)
    return kernels.plan_1d(rng, (32, 64), max_n=200), [(int(rng.integers(2, 31)), int(rng.integers(2, 31)))]


def check_layer(layer, bias_sigmoid, hidden=False, verbose=True, seed=None):
    """The Numba kernel bias_sigmoid(z, b, y): y[i] = sigmoid(z[i] + b[i]), on blocks of 32 and 64
    threads and z holding ±100, ±inf and denormals; then layer(W, x, b) against
    torch.sigmoid(W @ x + b) within LAYER_ATOL + LAYER_RTOL * |y|, one bias at ±100.

    W is (out, in), x (in,), b (out,), all float32; layer returns y of shape (out,).
    """
    import torch
    plan, shapes = plan_layer(hidden, seed)
    rng = np.random.default_rng(seed if hidden else 5)
    kernels.check_kernel(bias_sigmoid, lambda size: _bias_sigmoid_cases(plan, rng), check_name="bias + sigmoid",
                         hint=_bias_sigmoid_hint, verbose=verbose, advice=kernels.one_writer_advice,
                         single_writer=True)
    for out_f, in_f in shapes:
        W = rng.standard_normal((out_f, in_f)).astype(np.float32)
        x = rng.standard_normal(in_f).astype(np.float32)
        b = rng.standard_normal(out_f).astype(np.float32)
        b[rng.choice(out_f, size=2, replace=False)] = (100.0, -100.0)      # saturated outputs: 1 and 0
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
                f"{float(want[i]):.6g} ({nbad} of {out_f} wrong; b[{i}] = {float(b[i]):.4g}). z = W @ x is a "
                f"matmul with x as an {in_f}x1 matrix (M={out_f}, K={in_f}, N=1), then y = sigmoid(z + b)")
    text = (f"layer: sigmoid(W @ x + b) matches torch within {LAYER_ATOL:g} + {LAYER_RTOL:g} * |y| "
            f"for W of shape{'s' * (len(shapes) > 1)} {', '.join(f'{o}x{i}' for o, i in shapes)}")
    if verbose:
        print(text)
    return text


def plan_tiled(hidden: bool = False, seed: int | None = None, c_code: bool = True):
    """(M, K, N) of the tiled checks, blocks of TILE x TILE: K past a tile and not a multiple of
    it, a tall C narrower than a tile and a wide one lower than a tile (rows and columns swapped
    show on the first or the second), M and N never multiples of the tile, one C past 65,536
    elements. Numba's are fewer and smaller: the simulator is slow."""
    if not hidden:
        shapes = [(1, 1, 1), (3, 5, 2), (17, 20, 18), (33, 40, 18), (20, 19, 5), (5, 18, 21), (263, 17, 251)]
        return shapes if c_code else [(3, 5, 2), (17, 20, 18), (20, 19, 5), (5, 18, 21), (263, 17, 251)]
    rng = np.random.default_rng(seed)
    top = 40 if c_code else 24
    k = lambda: kernels.off_multiple(rng, TILE + 1, 60 if c_code else 40, TILE)  # noqa: E731
    tall = (int(rng.integers(TILE + 1, top + 1)), k(), int(rng.integers(1, TILE)))
    wide = (int(rng.integers(1, TILE)), k(), int(rng.integers(TILE + 1, top + 1)))
    rows, cols = kernels.large_shape(rng, (TILE, TILE))
    shapes = [tall, wide, (rows, int(rng.integers(TILE + 1, 20)), cols)]
    if c_code:
        shapes.insert(0, (kernels.off_multiple(rng, TILE + 1, top, TILE), k(), kernels.off_multiple(rng, TILE + 1, top, TILE)))
    return shapes


def _tiled_budget_shape(hidden: bool, seed: int | None):
    return (TILE, 48, TILE) if not hidden else (TILE, int(np.random.default_rng(seed).choice((32, 40, 64))), TILE)


def check_tiled_c(source, name, hidden=False, verbose=True, seed=None):
    """A CUDA C matmul with TILE x TILE __shared__ tiles, blocks of 16 x 16, K larger than a tile
    and not a multiple of it, within a global-read budget counted in the CPU shim; run under the
    race check, so a missing __syncthreads() fails."""
    kernels.need_name(source, name, "check_tiled_c")
    if not isinstance(source, str):
        raise AssertionError("check_tiled_c takes the CUDA C source text and the kernel's name")
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", source, flags=re.S)   # comments do not count
    if "__shared__" not in code:   # a missing __syncthreads() is left to the race check, which says why
        raise AssertionError("this check grades a tiled kernel and the source has no __shared__: load "
                             "tiles of A and B into __shared__ arrays")
    shape = _tiled_budget_shape(hidden, seed)
    return kernels.check_matmul(source, (TILE, TILE), name=name, shapes=plan_tiled(hidden, seed, True),
                                max_reads_per_output=2 * tiled_reads(shape[1]), budget_shape=shape, seed=seed,
                                verbose=verbose)


def check_tiled_numba(kernel, hidden=False, verbose=True, seed=None):
    """A Numba matmul with TILE x TILE shared tiles, blocks of 16 x 16, within a global-read budget.

    The budget is twice what a tiled kernel reads, 4 * ceil(K / 16) elements of A and B per
    output, counted in the simulator; a naive kernel reads 2 * K.
    """
    shape = _tiled_budget_shape(hidden, seed)
    return kernels.check_matmul(kernel, (TILE, TILE), shapes=plan_tiled(hidden, seed, False),
                                max_reads_per_output=2 * tiled_reads(shape[1]), budget_shape=shape, seed=seed,
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

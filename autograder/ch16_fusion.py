"""Chapter 16, compilation and fusion: the exercise's chain, the page's demos, and the checks.

A chain of pointwise operations run eagerly makes one tensor per operation, each written to
memory and read back by the next; fused into one kernel it reads its inputs once and writes
its output once. torch.compile (Inductor) fuses such a chain by itself; a hand-written kernel
(Numba, CUDA C) does it by construction. The page fuses `silu_residual`; the exercise fuses
another chain (x + bias, tanh-approximated GELU written out, dropout by a given uniform tensor
u), given in the notebook with a monitoring line that breaks the graph. The package holds that
chain only as NumPy arithmetic (`reference`), the expected values of every check: a torch
version of it would be the exercise's answer.

Compiled code is measured with `memory.profiled` (the profiler, or the CUDA allocator): under
the meter's tracker, a TorchDispatchMode, compiled code does not run at all. The checks:
(a) a student's `make_fused()` returns a function equal to the eager chain on several shapes;
(b) in one measured call, compiled code ran, the output is right, and the peak holds no
intermediate (at most the output's bytes, plus SLACK; the same function's eager peak, measured
beside it, is shown for comparison); (c) a student's CUDA C kernel `bias_gelu_dropout` is
right on many shapes, under the CPU shim's sanitizers; (d) that kernel computes the chain on
one small case, and its compiled code (PTX) keeps no intermediate in global memory: it stores
only to `out`, never reads `out` back, and writes it no more often than it reads x.

Known limitations: the eager peak depends on how the chain is written (locals keep their
tensors alive); the CPU kernel Inductor writes is C++ with OpenMP, a GPU's is Triton; speed
figures are one machine's, never graded.
"""
from __future__ import annotations

import functools
import random
import time

import numpy as np
import torch

from . import kernels
from .answers import probe
from .kernels.traffic import global_traffic
from .memory.backend import resolve_backend
from .memory.profiled import profile_call

SLUG = "ch16_fusion"
FALLBACK = ("torch.compile runs on the CPU here (Inductor writes C++); the CUDA C kernel runs on "
            "the course's CPU shim under sanitizers, and its PTX is read for memory traffic.")
DROP_P, SLACK = 0.1, 0.10
KERNEL, THREADS = "bias_gelu_dropout", 256


# ---------------------------------------------------------------- the exercise's chain, in NumPy
def reference(x, bias, u, p: float = DROP_P) -> np.ndarray:
    """The exercise's chain in NumPy float32: h = x + bias; GELU (tanh form); keep where u >= p,
    scaled by 1 / (1 - p). The expected values of every check."""
    h = (x + bias).astype(np.float32)
    g = np.float32(0.5) * h * (1 + np.tanh(np.float32(0.7978845608) * (h + np.float32(0.044715) * h ** 3)))
    return np.where(u >= p, g / np.float32(1 - p), np.float32(0)).astype(np.float32)


def expected(rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    """The chain's output on `inputs(rows, cols, seed)`, computed by `reference`."""
    return torch.from_numpy(reference(*(t.numpy() for t in inputs(rows, cols, seed, "cpu"))))


def inputs(rows: int, cols: int, seed: int = 0, device: str | None = None):
    """x (rows, cols) ~ N(0, 2), bias (cols,), u (rows, cols) ~ U(0, 1), on the meter's device."""
    g = torch.Generator().manual_seed(30_000 + seed)
    x, bias, u = 2 * torch.randn(rows, cols, generator=g), torch.randn(cols, generator=g), torch.rand(rows, cols, generator=g)
    dev = device or resolve_backend()
    return x.to(dev), bias.to(dev), u.to(dev)


# ---------------------------------------------------------------- the page's chain and kernels
def silu_residual(x, bias, residual):
    """The page's chain: residual + SiLU(x + bias), SiLU written out."""
    h = x + bias
    return residual + h / (1 + torch.exp(-h))


@functools.lru_cache(maxsize=None)
def compiled(**options):
    """One torch.compile of the page's chain per process, shared by the page's cells and the tests."""
    return torch.compile(silu_residual, **options)


def scripted():
    """TorchScript's version of the page's chain (deprecated since torch 2.10: it warns)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(silu_residual)


def median_seconds(fn, *args, repeat: int = 15) -> float:
    """Median time of fn(*args) after two warm-up calls (synchronised on a GPU)."""
    sync = torch.cuda.synchronize if args[0].is_cuda else (lambda: None)
    for _ in range(2):
        fn(*args)
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        fn(*args)
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


PAGE_CUDA = r'''
extern "C" __global__ void silu_residual(const float* x, const float* bias, const float* res,
                                         float* out, int rows, int cols) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < rows * cols) {
        float h = x[i] + bias[i % cols];          // one read of each input
        out[i] = res[i] + h / (1.0f + expf(-h));  // one write, no intermediate in memory
    }
}
'''
PAGE_CUDA_UNFUSED = r'''
extern "C" __global__ void silu_residual(const float* x, const float* bias, const float* res,
                                         float* out, int rows, int cols) {
    int n = rows * cols, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    out[i] = x[i] + bias[i % cols];                    // stage 1 writes h into out ...
    out[i] = out[i] / (1.0f + expf(-out[i]));          // stage 2 reads it back, writes SiLU
    out[i] = res[i] + out[i];                          // stage 3 again
}
'''
PAGE_NUMBA = '''
from numba import cuda
import math

@cuda.jit
def silu_residual(x, bias, res, out):
    i = cuda.grid(1)
    if i < x.size:
        h = x[i] + bias[i % bias.size]
        out[i] = res[i] + h / (1.0 + math.exp(-h))
'''
PAGE_NUMBA_STAGES = '''
from numba import cuda
import math

@cuda.jit
def silu_residual(x, bias, res, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = x[i] + bias[i % bias.size]           # what eager's add writes
        out[i] = out[i] / (1.0 + math.exp(-out[i]))    # exp, add and div, fused here
        out[i] = res[i] + out[i]
'''


def page_kernel_launch(rows: int, cols: int, seed: int = 0, flat: bool = False) -> kernels.Launch:
    """One launch of a page kernel over (rows, cols) float32 inputs; flat: Numba's 1-D arrays."""
    r = np.random.default_rng(seed)
    x, res = (r.standard_normal((rows, cols), dtype=np.float32) for _ in range(2))
    bias, out = r.standard_normal(cols, dtype=np.float32), np.zeros((rows, cols), np.float32)
    args = [a.reshape(-1) for a in (x, bias, res, out)] if flat else [x, bias, res, out, np.int32(rows), np.int32(cols)]
    return kernels.Launch(-(-rows * cols // THREADS), THREADS, args)


# ---------------------------------------------------------------- probes (run where the answer lives)
def _build(make_fused):
    fn = make_fused()
    if not callable(fn):
        raise AssertionError(f"make_fused() should return a function, got {fn!r:.80}")
    return fn


def _probe_outputs(make_fused, shapes, seed: int = 0) -> list:
    fn = _build(make_fused)
    return [fn(*inputs(r, c, seed + k)).detach().cpu() for k, (r, c) in enumerate(shapes)]


def _probe_fused(make_fused, rows: int, cols: int, seed: int = 0) -> dict:
    """The returned function called once to compile, then once profiled: its output, its peak,
    and which compiled graphs ran; and the peak of the function torch.compile was given, run
    eagerly (None if it is not a compiled function). If no compiled code ran, Dynamo's caches
    are reset and it tries again (a function once called under a dispatch mode stays eager
    until then)."""
    reset = False
    for attempt in (1, 2):
        fn = _build(make_fused)
        args = inputs(rows, cols, seed)
        fn(*args)
        out, prof = profile_call(fn, *args)
        if prof.compiled or prof.dispatch_mode or attempt == 2:
            break
        torch._dynamo.reset()
        reset = True
    plain = getattr(fn, "_torchdynamo_orig_callable", None)
    eager = profile_call(plain, *args)[1].peak if callable(plain) else None
    return {"out": out.detach().cpu(), "peak": prof.peak, "eager": eager, "regions": prof.compiled_regions,
            "graphs": list(prof.graphs), "dispatch_mode": prof.dispatch_mode, "method": prof.method,
            "backend": prof.backend, "reset": reset}


# ---------------------------------------------------------------- the checks
def _same(got, want, what: str) -> None:
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        raise AssertionError(f"{what}: expected a tensor of shape {tuple(want.shape)}, got {got!r:.100}")
    bad = ~torch.isclose(got.float(), want, rtol=1e-4, atol=1e-5)
    if bad.any():
        i = tuple(int(v) for v in bad.nonzero()[0])
        raise AssertionError(f"{what}: first wrong element {list(i)}: expected {want[i].item():.6g}, got "
                             f"{got[i].item():.6g} ({int(bad.sum())} of {want.numel()} wrong)")


def check_compiled(make_fused, hidden=False):
    """(a) make_fused()'s function equals the chain (NumPy's `reference`) on several shapes."""
    r = random.Random(None if hidden else 0)
    shapes = [(64, 128), (33, 70)] if not hidden else [(r.randint(2, 200), r.randint(2, 300)) for _ in range(2)]
    seed = r.randrange(10**6)
    outs = probe(make_fused, _probe_outputs, shapes=shapes, seed=seed)
    for k, ((rows, cols), got) in enumerate(zip(shapes, outs)):
        _same(got, expected(rows, cols, seed + k), f"shape ({rows}, {cols})")
    print(f"outputs: {len(shapes)} shapes equal to the chain's NumPy reference")


def check_fused_memory(make_fused, hidden=False):
    """(b) One measured call: compiled code ran, right output, no intermediate in the peak."""
    rows, cols = (512, 256) if not hidden else (random.choice([384, 512, 640]), random.choice([192, 256, 320]))
    seed = random.randrange(10**6) if hidden else 0
    got = probe(make_fused, _probe_fused, rows=rows, cols=cols, seed=seed)
    where = f"shape ({rows}, {cols}) [{got['backend']}: {got['method']}]"
    _same(got["out"], expected(rows, cols, seed), f"the measured call, {where}")
    if got["dispatch_mode"]:
        raise AssertionError(f"{where}: a TorchDispatchMode was active, so no compiled code could run")
    if not got["regions"]:
        raise AssertionError(f"{where}: no compiled code ran in the measured call: every operation ran "
                             "eagerly. Return torch.compile(...) of the chain from make_fused")
    tensor = rows * cols * 4
    eager = ("" if got["eager"] is None else
             f"; the same function run eagerly {got['eager']:,} ({got['eager'] / tensor:.2f})")
    if got["peak"] > (1 + SLACK) * tensor:
        graphs = len(set(got["graphs"]))
        raise AssertionError(
            f"{where}: the compiled call's peak is {got['peak']:,} bytes, {got['peak'] / tensor:.2f} "
            f"tensors of {tensor:,}{eager}. A fused chain holds only its output (at most "
            f"{1 + SLACK:.2f} tensors)"
            + (f"; {graphs} compiled graphs ran: a graph break (.item(), print, NumPy) splits the chain "
               "and each part hands an intermediate to the next" if graphs > 1 else ""))
    print(f"fused memory ({where}): compiled code ran ({len(set(got['graphs']))} graph); peak "
          f"{got['peak'] / tensor:.2f} tensors"
          + ("" if got["eager"] is None else f" against {got['eager'] / tensor:.2f} eagerly"))


def kernel_cases(hidden: bool, shapes=None):
    r = np.random.default_rng(None if hidden else 5)
    if shapes is None and hidden:
        shapes = [(int(r.integers(1, 80)), int(r.integers(1, 400))) for _ in range(4)] + [(1, int(r.integers(1, 3000)))]
    elif shapes is None:
        shapes = [(1, 1), (3, 5), (33, 100), (64, 257), (7, 1031)]

    def cases(size):
        out = []
        for rows, cols in shapes:
            x = (2 * r.standard_normal((rows, cols))).astype(np.float32)
            bias = r.standard_normal(cols).astype(np.float32)
            u = r.random((rows, cols)).astype(np.float32)
            launch = kernels.Launch(-(-rows * cols // THREADS), THREADS,
                                    [x, bias, u, np.full((rows, cols), np.nan, np.float32),
                                     np.int32(rows), np.int32(cols), np.float32(DROP_P)], label=f"({rows}, {cols})")
            out.append(kernels.Case(launch, {3: reference(x, bias, u)}, names=["x", "bias", "u", "out"]))
        return out
    return cases


def check_kernel(source, hidden=False):
    """(c) The CUDA C kernel equals the NumPy chain on many shapes (CPU shim: sanitizers)."""
    kernels.check_kernel(source, kernel_cases(hidden), check_name="bias_gelu_dropout kernel", name=KERNEL,
                         hint=kernels.vector_hint, atol=1e-5, rtol=1e-4)


def check_traffic(source, hidden=False):
    """(d) The kernel computes the chain (one small case), and its compiled code keeps nothing
    in global memory between the chain's steps."""
    r = random.Random()
    shape = (2 * r.randint(1, 20) + 1, 2 * r.randint(1, 150) + 1) if hidden else (9, 71)   # odd: a partial block
    try:
        kernels.check_kernel(source, kernel_cases(hidden, [shape]), check_name="chain", name=KERNEL,
                             hint=kernels.vector_hint, atol=1e-5, rtol=1e-4, verbose=False)
    except AssertionError as e:
        raise AssertionError(f"traffic is graded on a kernel that computes this exercise's chain, and "
                             f"this one does not yet (check (c) says more): {str(e)[:300]}") from None
    t = global_traffic(source, KERNEL)
    if t is None:
        print("traffic: NVRTC is not installed here, so the kernel's PTX was not read (check skipped)")
        return
    names = list(t.stores)                      # the parameters, in order: x, bias, u, out, ...
    if len(names) < 4:
        raise AssertionError(f"{KERNEL} should take (x, bias, u, out, rows, cols, p), found {names}")
    x, out = names[0], names[3]
    elsewhere = {k: v for k, v in t.stores.items() if v and k != out}
    if elsewhere:
        raise AssertionError(f"the kernel stores to {', '.join(elsewhere)} as well as to {out} "
                             f"({t.describe()}): an intermediate kept in global memory")
    if t.loads.get(out):
        raise AssertionError(f"the kernel reads {out} back ({t.loads[out]} global loads of it; {t.describe()}): "
                             "each step of the chain writes its result to global memory and the next "
                             "reads it again. Keep the intermediates in registers (local variables)")
    if not t.stores.get(out) or t.stores[out] > max(1, t.loads.get(x, 0)):
        raise AssertionError(f"the kernel writes {out} {t.stores.get(out, 0)} times in its code but reads "
                             f"{x} {t.loads.get(x, 0)} time(s) ({t.describe()}): write each element once, "
                             "when the whole chain is computed")
    print(f"traffic: {t.describe()} (read from the PTX NVRTC made)")


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores: the page's chain eager, TorchScript and compiled on the
    GPU (peak by the allocator, median time). (dry: the same walk on this CPU's meter, for `--dry-run`.)"""
    if not dry and resolve_backend(None) != "cuda":
        raise RuntimeError("no GPU: chapter 16 records nothing on a CPU-only machine")
    out, dev = {}, "cpu" if dry else "cuda"
    for rows in (1024, 8192):
        x, b, r = (torch.randn(rows, 1024, device=dev), torch.randn(1024, device=dev),
                   torch.randn(rows, 1024, device=dev))
        for name, fn in (("eager", silu_residual), ("torchscript", scripted()), ("compiled", compiled())):
            fn(x, b, r)
            _, p = profile_call(fn, x, b, r)
            out[f"{name} {rows}x1024"] = {"peak": p.peak, "tensor": x.nbytes, "compiled": p.compiled,
                                          "seconds": median_seconds(fn, x, b, r)}
    return out

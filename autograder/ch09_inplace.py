"""Chapter 9, in-place operations: the page's cases, the exercise's baselines, the checks.

An in-place op (`h.relu_()`, `h.add_(b)`, `nn.ReLU(inplace=True)`, `out=`) writes its result
into an existing buffer instead of a new one. What it saves is the moment when an op's input
and output are both alive: the step's *transient* peak. Under `torch.no_grad` a chain of
pointwise ops done in place keeps one buffer where the out-of-place chain keeps two. In
training, autograd keeps the tensors that backward needs whatever the forward pass does, so
the step's peak, set by those saved tensors and the gradients, often does not move; and an
in-place op on a saved tensor breaks backward (autograd's version counter catches it).

The page works on `infer` and `forward` (its in-place versions are here, for its plots); the
exercise asks other cases, whose answers live in solutions/ only. The checks grade (a)
`gelu_inplace(x)`: tanh-GELU written out (x is read three times), outputs equal to `gelu`'s, x
left as it was, and the meter's peak down to one activation tensor, the output's (hidden:
measured in a fresh process on a fresh shape and seed); (b) `res_forward_inplace(model, x)` on
a residual block with a sigmoid and a learned gain: output and every gradient equal to
`res_forward`'s, and the forward pass's peak (autograd on) lower by one activation tensor; (c)
`inplace_writes(fn, x)`: from autograd's error, how many in-place writes reached a saved tensor
after it was saved, on fresh random chains (some written through views). Every expected value
comes from the out-of-place baselines or from how the random chain was built.

Known limitations: the CPU tracker sees tensors only; on a GPU the caching allocator rounds
each block up to 512 bytes (the sizes graded here are multiples of 512). Hidden checks measure
the candidate in a fresh process, on input values drawn after its warm-up call, and the
baseline, the module's own out-of-place function, in the grading process. `timeline` and
`step_timeline` (the page's plots) follow CPU tensors only, whatever the device.
"""
from __future__ import annotations

import math
import os
import random

import torch
from torch import nn

from . import isolation, memory
from .answers import Remote, answer_int, probe

SLUG = "ch09_inplace"
FALLBACK = ("Everything runs on the CPU here; the meter's CPU storage tracker counts the same "
            "tensor bytes a GPU would hold, so the graded reductions are real.")
ROWS, COLS = 2048, 256     # (a): one activation is ROWS * COLS * 4 bytes = 2 MiB
CAP = 1.0                  # the clip of both chains: it clips about 4% of the block's activations
BATCH, WIDTH = 1024, 64    # (b): one activation is BATCH * WIDTH * 4 bytes = 256 KiB
GELU_C = math.sqrt(2 / math.pi)
TOL = 1e-6                 # outputs and gradients: equal within 1e-6 (in place is exact here)


# ---------------------------------------------------------------- (a) inference
def infer(x, scale, bias):
    """x: (rows, cols); scale, bias: (cols,). Scale, shift, ReLU, clip."""
    with torch.no_grad():
        h = x * scale          # a new buffer
        h = h + bias           # another; the first is freed after the add
        h = torch.relu(h)
        return h.clamp(max=CAP)


def infer_inplace(x, scale, bias):
    """infer with one new buffer (x is the caller's: not written to)."""
    with torch.no_grad():
        h = x * scale          # the one new buffer
        return h.add_(bias).relu_().clamp_(max=CAP)


def device() -> str:
    """Where the exercise's tensors live: the GPU the meter measures, else the CPU."""
    return memory.resolve_backend(None)


def inference_data(rows=ROWS, cols=COLS, seed=0, on=None):
    g = torch.Generator().manual_seed(seed)
    ts = (torch.randn(rows, cols, generator=g), torch.rand(cols, generator=g) + 0.5,
          torch.randn(cols, generator=g))
    return tuple(t.to(on or device()) for t in ts)


def inference_setup(fn, rows=ROWS, cols=COLS, seed=0):
    """A setup in the meter's sense: the step calls fn on fresh data (made once)."""
    x, scale, bias = inference_data(rows, cols, seed)
    return lambda: fn(x, scale, bias)


# ---------------------------------------------------------------- (b) a training forward pass
class Block(nn.Module):
    """Two Linear layers and a learned shift; `forward` below is its forward pass."""

    def __init__(self, width=WIDTH, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        self.shift = nn.Parameter(0.1 * torch.randn(width))
        self.to(device())


def forward(model, x):
    """The baseline; what each op keeps for backward is commented."""
    h = model.fc1(x)           # fc1 keeps its input x, not h
    h = h + model.shift        # add keeps nothing
    h = torch.relu(h)          # relu keeps its output
    h = h.clamp(max=CAP)       # clamp keeps its input: relu's output
    h = model.fc2(h)           # fc2 keeps its input and its weight
    return torch.tanh(h)       # tanh keeps its output


def forward_inplace(model, x):
    """In place wherever no kept tensor is overwritten."""
    h = model.fc1(x)
    h.add_(model.shift).relu_()    # nobody kept fc1's output
    h = h.clamp(max=CAP)           # relu kept h: not in place
    return model.fc2(h).tanh_()    # nobody kept fc2's output


def forward_unsafe(model, x):
    """Every op in place: clamp_ overwrites what relu kept."""
    h = model.fc1(x)
    h.add_(model.shift).relu_().clamp_(max=CAP)
    return model.fc2(h).tanh_()


def training_data(batch=BATCH, width=WIDTH, seed=0):
    g = torch.Generator().manual_seed(10_000 + seed)
    return torch.randn(batch, width, generator=g).to(device())


def forward_setup(fn, batch=BATCH, width=WIDTH, seed=0):
    """A setup: the step is one forward pass with autograd on; its graph dies with its output."""
    model, x = Block(width, seed), training_data(batch, width, seed)
    return {"step": lambda: fn(model, x), "model": model}


def training_setup(fn, batch=BATCH, width=WIDTH, seed=0):
    """A setup: forward with fn, a squared loss, backward, SGD; the whole training step."""
    model, x = Block(width, seed), training_data(batch, width, seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, foreach=True)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = fn(model, x).square().mean()
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


# ---------------------------------------------------------------- the exercise's cases
def gelu(x):
    """(a) x: (rows, cols) -> GELU's tanh form, out of place: each line keeps two buffers alive."""
    with torch.no_grad():
        return 0.5 * x * (1 + torch.tanh(GELU_C * (x + 0.044715 * x ** 3)))


def gelu_data(rows=ROWS, cols=COLS, seed=0, on=None):
    return inference_data(rows, cols, seed, on)[:1]


def gelu_setup(fn, rows=ROWS, cols=COLS, seed=0):
    """A setup in the meter's sense: the step calls fn on fresh data (made once)."""
    (x,) = gelu_data(rows, cols, seed)
    return lambda: fn(x)


class ResBlock(nn.Module):
    """(b) Two Linear layers, a sigmoid, a learned per-feature gain and a residual connection."""

    def __init__(self, width=WIDTH, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        self.gain = nn.Parameter(1 + 0.1 * torch.randn(width))
        self.to(device())


def res_forward(model, x):
    """The exercise's baseline, out of place (what each op keeps is the student's to work out)."""
    h = torch.sigmoid(model.fc1(x))
    h = model.fc2(h * model.gain)
    return h + x


def res_forward_setup(fn, batch=BATCH, width=WIDTH, seed=0):
    """A setup: one forward pass of ResBlock with autograd on."""
    model, x = ResBlock(width, seed), training_data(batch, width, seed)
    return {"step": lambda: fn(model, x), "model": model}


def error_case(rng: random.Random):
    """(c) A random chain on a leaf x: `before` in-place ops on h, one op that saves a tensor for
    backward, then `after` in-place writes to the saved tensor, each through the whole tensor or
    a view of it (views share its version counter). Returns (fn, writes after the save)."""
    before, after = rng.randint(0, 3), rng.choice([0, 1, 1, 2, 3])
    saver = rng.choice(["relu_", "sigmoid", "tanh", "exp", "pow"])
    views = [rng.choice(["all", "column", "row", "transpose"]) for _ in range(after)]

    def write(t, view):
        {"all": t, "column": t[:, :1], "row": t[0], "transpose": t.t()}[view].mul_(0.9)

    def fn(x):
        h = x * 2.0                          # a fresh tensor at version 0
        for _ in range(before):
            h.add_(0.5)                      # each in-place op bumps h._version by one
        if saver == "pow":
            out = h.pow(3)                   # pow keeps its input: h, at version `before`
            for view in views:
                write(h, view)
            return out
        if saver == "relu_":
            h.relu_()                        # in place (one more bump); keeps h itself
        else:
            h = getattr(torch, saver)(h)     # keeps its output: a new h, version 0
        for view in views:
            write(h, view)
        return h
    fn.saved_at = {"pow": before, "relu_": before + 1}.get(saver, 0)   # h's version when saved
    return fn, after


# ---------------------------------------------------------------- a timeline of live bytes
def timeline(fn, *args):
    """[(op name, live bytes above the inputs after it)] for one call of fn(*args), on the CPU."""
    with memory.live_bytes(keep=[a for a in args if isinstance(a, torch.Tensor)]) as log:
        fn(*args)
    return log


def step_timeline(fn, batch=BATCH, seed=0):
    """The same for forward with fn, the squared loss and backward (training_setup's step
    without the optimizer), above the model and its input, on the CPU. Returns (log, marks):
    marks["loss"] and marks["backward"] index the first op of each phase in log."""
    model, x = Block(WIDTH, seed).cpu(), training_data(batch, WIDTH, seed).cpu()
    marks = {}
    with memory.live_bytes(keep=[x, *model.parameters()]) as log:
        out = fn(model, x)
        marks["loss"] = len(log)
        loss = out.square().mean()
        del out
        marks["backward"] = len(log)
        loss.backward()
        del loss
    return log, marks


# ---------------------------------------------------------------- the checks
def _answer(fn, *args):
    """fn(*args), with an unwritten answer (nbgrader's `raise NotImplementedError()`) named."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise AssertionError(f"{getattr(fn, '__name__', 'the answer')} is not written yet: its "
                             "cell still raises NotImplementedError") from None


def _same(got, want, what, tol=TOL):
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        kind = got if isinstance(got, str) else type(got).__name__    # a probe's description
        raise AssertionError(f"{what} should be a tensor of shape {tuple(want.shape)}, got "
                             f"{kind} {tuple(getattr(got, 'shape', ()))}")
    if not torch.allclose(got, want, rtol=0.0, atol=tol):
        err = (got - want).abs().max().item()
        raise AssertionError(f"{what} differs from the baseline's by up to {err:.3g} (allowed "
                             f"{tol:g}): an in-place op changed the result")


GELU_TOL = 1e-5     # the same formula in another order (x * x * x, or 0.5 last) rounds apart


def _tensor(x):
    """What a probe hands back of an answer's result: the tensor itself, or its description."""
    return x.detach().cpu() if isinstance(x, torch.Tensor) else f"{type(x).__name__}"


def _inference_probe(fn, rows, cols, seed) -> dict:
    """Where the answer runs: its output, and whether it changed its argument."""
    (x,) = gelu_data(rows, cols, seed)
    copy = x.clone()
    out = _answer(fn, x)
    return {"out": _tensor(out), "changed": not torch.equal(x, copy)}


def _inference_ok(fn, rows, cols, seed):
    seen = probe(fn, _inference_probe, rows, cols, seed)
    if seen["changed"]:
        raise AssertionError("gelu_inplace changed its argument x: the caller still uses it, and "
                             "so does the formula (x appears three times). Make one new buffer "
                             "from x and work in place on that, reading x where the formula does")
    _same(seen["out"], gelu(*gelu_data(rows, cols, seed, on="cpu")), f"the output ({rows}x{cols}, "
          f"seed {seed})", GELU_TOL)


def _fresh_shape(hidden, rows, cols):
    if not hidden:
        return rows, cols, 0
    rows = random.randrange(rows // 2, 3 * rows // 2, 64)    # multiples of 64: of 512 bytes
    return rows, random.choice([cols // 2, cols]), random.randrange(1, 10**6)


def check_inference(fn, hidden=False):
    """(a1) Outputs equal to gelu's, and x unchanged, on several shapes."""
    cases = [(ROWS, COLS, 0), (3, 5, 1)] + [_fresh_shape(True, ROWS, COLS) for _ in range(3 if hidden else 0)]
    for rows, cols, seed in cases:
        _inference_ok(fn, rows, cols, seed)
    print(f"inference: {len(cases)} cases equal to the baseline, x untouched")


def _require_lower(base, cand, need, what, why, hint):
    """cand's peak at most `need` bytes (why: what that is), with in-place ops in the call, and
    (autograd on) no less saved for backward than the baseline saves: writing in place changes
    where results go, not what backward keeps, so a lower saved figure is another technique's."""
    c = memory.compare(base, cand, what="peak")
    kept, want = sum(cand.saved_dtypes.values()), sum(base.saved_dtypes.values())
    if kept < want:
        raise AssertionError(f"{what}: autograd saved {kept:,} bytes for backward "
                             f"({', '.join(f'{k} {v:,}' for k, v in cand.saved_dtypes.items()) or 'none'}), "
                             f"the baseline {want:,}: in-place ops change where results are written, "
                             "not what backward keeps, so the lower peak comes from another technique "
                             "(checkpointing, a lower precision). Keep every op's saved tensors as they are.")
    if cand.peak > need:
        raise AssertionError(f"{what} peak: candidate {cand.peak:,} bytes, baseline {base.peak:,} "
                             f"bytes; needs at most {need:,} bytes ({why}) [{base.backend}: "
                             f"{base.method}]. {hint}")
    if not any(op.endswith("_") for op in cand.ops):
        raise AssertionError(f"{what}: the measured call ran no in-place operation (ops ending in "
                             f"_ such as add_ or mul_; it ran {', '.join(sorted(cand.ops)) or 'none'}): "
                             "its lower peak comes from another technique")
    return c


def _measure(setup_fn, fn, hidden, label, **kw):
    """setup_fn(fn, **kw)'s step measured in this process, or (hidden) in a fresh one, where
    the setup is imported by name and a notebook's fn arrives by source."""
    return memory.measure_one(f"autograder.{SLUG}:{setup_fn.__name__}", fn, hidden=hidden,
                              label=label, **kw)


def _measured_call(fn, kind: str, size: tuple, seed: int) -> dict:
    """One measured call of the answer, on inputs whose values are drawn afresh after its warm-up
    call (so that nothing of the warm-up can stand in for it); the inputs and output come back."""
    if kind == "inference":
        args = list(gelu_data(*size, seed))
    else:
        args = [ResBlock(size[1], seed), training_data(*size, seed)]
    _answer(fn, *args)                                    # the warm-up call, dropped
    fresh = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
    data = args[0] if kind == "inference" else args[1]
    with torch.no_grad():
        data.copy_(torch.randn(data.shape, generator=fresh).to(data.device))
    box = {}
    m = memory.measure(lambda: box.setdefault("out", _answer(fn, *args)), model=args[0] if kind != "inference"
                       else None, warmup=0, label="in place")
    out = box.get("out")
    return {"measurement": m.__dict__, "out": _tensor(out), "grad": bool(getattr(out, "requires_grad", False)),
            "input": data.detach().cpu()}


def _call_measured(fn, kind, size, seed, hidden):
    """_measured_call here (the notebook's feedback) or in a fresh process (the grade)."""
    if hidden or isolation.grading_now() or isinstance(fn, Remote):
        seen = isolation.run(_probe_job, fn, kind, size, seed)
    else:
        seen = _measured_call(fn, kind, size, seed)
    seen["measurement"] = memory.Measurement(**{**seen["measurement"], "isolated": hidden or isinstance(fn, Remote)})
    return seen


def _probe_job(fn, kind, size, seed):
    torch.set_num_threads(1)
    return _measured_call(fn, kind, size, seed)


def check_inference_peak(fn, hidden=False):
    """(a2) Right on the measured call itself (fresh input values after the warm-up), and that
    call's peak down to one activation tensor (the output's), with in-place ops in it. Hidden:
    the candidate measured in a fresh process on a fresh shape and seed."""
    rows, cols, seed = _fresh_shape(hidden, ROWS, COLS)
    _inference_ok(fn, rows, cols, seed)
    base = memory.measure(gelu_setup(gelu, rows, cols, seed), label="out of place")
    seen = _call_measured(fn, "inference", (rows, cols), seed, hidden)
    _same(seen["out"], gelu(seen["input"]), f"the output of the measured call ({rows}x{cols})", GELU_TOL)
    act = rows * cols * 4
    c = _require_lower(base, seen["measurement"], act, f"inference ({rows}x{cols})",
                       f"one activation tensor, {act:,} bytes: the output's own buffer",
                       "Under no_grad, every op after the one that makes the new buffer can write "
                       "into it (mul_, add_, tanh_), with x as the other operand where the formula "
                       "reads x.")
    print(f"inference peak ({'fresh process' if c.candidate.isolated else 'this process'}, {rows}x{cols}): "
          f"{c.candidate.peak:,} bytes against {c.baseline.peak:,} ({c.reduction:.0%} lower, "
          f"{c.baseline.backend} backend)")


def _training_probe(fn, batch, seed) -> dict:
    """Where the answer runs: its output, and the gradients of a squared loss of it."""
    model, x = ResBlock(WIDTH, seed), training_data(batch, WIDTH, seed)
    copy = x.clone()
    try:
        out = _answer(fn, model, x)
    except (RuntimeError, AttributeError) as exc:
        return {"error": f"{getattr(fn, '__name__', 'the answer')} raised in the forward pass: {exc}"}
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        return {"error": "res_forward_inplace should return the output with autograd on (a tensor "
                         "that requires grad): do not use no_grad in training"}
    try:
        out.square().mean().backward()
    except RuntimeError as exc:
        return {"error": f"backward failed after res_forward_inplace: {exc} An in-place op "
                         "overwrote a tensor autograd saved; keep that op out of place"}
    if not torch.equal(x, copy):
        return {"error": "res_forward_inplace changed its input x: the caller's, and the residual's"}
    return {"out": out.detach().cpu(), "grads": {n: _tensor(p.grad) for n, p in model.named_parameters()}}


def check_training(fn, hidden=False):
    """(b) Output and every gradient equal to res_forward's; the forward peak (autograd on) lower
    by one activation tensor, on a measured call that is right itself (fresh input values after
    the warm-up) and has in-place ops. Hidden: fresh batch and seed, measured in a fresh process."""
    batch, _, seed = _fresh_shape(hidden, BATCH, WIDTH)
    want, got = _training_probe(res_forward, batch, seed), probe(fn, _training_probe, batch, seed)
    if "error" in got:
        raise AssertionError(got["error"])
    _same(got["out"], want["out"], "the output")
    for n in want["grads"]:
        _same(got["grads"].get(n), want["grads"][n], f"the gradient of {n}")
    base = memory.measure(memory.build(res_forward_setup, res_forward, batch, WIDTH, seed), label="out of place")
    seen = _call_measured(fn, "forward", (batch, WIDTH), seed, hidden)
    if not seen["grad"]:
        raise AssertionError("the measured call's output does not require grad: keep autograd on")
    ref = res_forward(ResBlock(WIDTH, seed).cpu(), seen["input"])
    _same(seen["out"], ref.detach(), "the output of the measured call")
    act = batch * WIDTH * 4
    c = _require_lower(base, seen["measurement"], base.peak - act, f"forward pass (batch {batch})",
                       f"one activation tensor, {act:,} bytes, lower",
                       "Which ops write into a buffer that no op has saved for backward?")
    print(f"training forward ({'fresh process' if c.candidate.isolated else 'this process'}, batch {batch}): "
          f"gradients equal; peak {c.candidate.peak:,} bytes against {c.baseline.peak:,} "
          f"({c.reduction:.0%} lower, {c.baseline.backend} backend)")


def _read_probe(fn, chain_seed: int, cases: int) -> dict:
    """Where the answer runs: what it read from each random chain's error (or its failure)."""
    rng, got = random.Random(chain_seed), []
    for _ in range(cases):
        chain, _want = error_case(rng)
        try:
            v = _answer(fn, chain, torch.randn(4, 3, requires_grad=True))
        except RuntimeError as exc:
            return {"got": got, "leaked": str(exc)}
        got.append(v if isinstance(v, (int, float, str, type(None))) else repr(v)[:100])
    return {"got": got}


def _telling_seed(n: int) -> int:
    while True:
        seed = random.randrange(2**31)
        rng = random.Random(seed)
        cases = [error_case(rng) for _ in range(n)]
        if any(w == 0 for _, w in cases) and any(w and f.saved_at and w != f.saved_at for f, w in cases):
            return seed


def check_read_error(fn, hidden=False):
    """(c) How many in-place writes reached the saved tensor after it was saved, on random chains
    (0 where backward works), as the generator of the chain knows it. Every draw holds a chain
    that works and one saved at a version above 0, so that neither the found version nor the
    expected one passes for the count."""
    seed, n = (_telling_seed(12), 12) if hidden else (19, 8)
    seen = probe(fn, _read_probe, seed, n)
    rng = random.Random(seed)
    for i in range(n):
        _chain, want = error_case(rng)
        if i == len(seen["got"]):
            raise AssertionError(f"case {i + 1}: inplace_writes let this error through: "
                                 f"{seen.get('leaked')} Catch the RuntimeError and read its two "
                                 "version numbers")
        got = answer_int(seen["got"][i], f"inplace_writes (case {i + 1})")
        if got != want:
            raise AssertionError(f"case {i + 1}: {want} in-place write(s) after the save, got {got} "
                                 "(0 when backward works; writes before the save, the one that "
                                 "made the tensor included, do not count)")
    print(f"inplace_writes: {n} chains read right")


# ---------------------------------------------------------------- the three peaks
SETTINGS = {   # name: (setup, out-of-place function, in-place function)
    "inference": (inference_setup, infer, infer_inplace),
    "forward": (forward_setup, forward, forward_inplace),
    "training step": (training_setup, forward, forward_inplace),
}


def activation_bytes(setting: str) -> int:
    """One activation tensor of a setting: the unit the targets are counted in."""
    return ROWS * COLS * 4 if setting == "inference" else BATCH * WIDTH * 4


def measure_setting(setting: str, isolated: bool = False):
    """(out of place, in place) Measurements of one setting, in this process or fresh ones."""
    setup, base, cand = SETTINGS[setting]
    return tuple(_measure(setup, f, isolated, label)
                 for f, label in ((base, "out of place"), (cand, "in place")))


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores: the three peaks (inference, forward, training step)
    and the bytes saved for backward, out of place and in place, each measured in a fresh
    process with the CUDA caching allocator."""
    if not dry and memory.resolve_backend(None) != "cuda":   # dry: the same walk on the CPU
        raise RuntimeError("no GPU: chapter 9 records nothing on a CPU-only machine")
    out = {}
    for name in SETTINGS:
        base, cand = measure_setting(name, isolated=True)
        out[name] = {"out_of_place": base.peak, "in_place": cand.peak, "saved_out_of_place": base.saved,
                     "saved_in_place": cand.saved, "activation": activation_bytes(name),
                     "device": base.device}
    return out

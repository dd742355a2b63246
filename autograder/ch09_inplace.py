"""Chapter 9, in-place operations: the exercise's baselines, the reference answers, the checks.

An in-place op (`h.relu_()`, `h.add_(b)`, `nn.ReLU(inplace=True)`, `out=`) writes its result
into an existing buffer instead of a new one. What it saves is the moment when an op's input
and output are both alive: the step's *transient* peak. Under `torch.no_grad` a chain of
pointwise ops done in place keeps one buffer where the out-of-place chain keeps two. In
training, autograd keeps the tensors that backward needs whatever the forward pass does, so
the step's peak, set by those saved tensors and the gradients, often does not move; and an
in-place op on a saved tensor breaks backward (autograd's version counter catches it).

The checks grade (a) `infer_inplace(x, scale, bias)`: outputs equal to `infer`, the caller's
tensors left as they were, and the meter's peak lower by at least one activation tensor
(hidden: measured in a fresh process on a fresh shape and seed); (b) `forward_inplace(model,
x)`: output and every gradient equal to `forward`'s, and the forward pass's peak (with
autograd on) lower by one activation tensor; (c) `read_inplace_error(fn, x)`: the two version
numbers of autograd's error message, on fresh random chains.

Known limitations: the CPU tracker sees tensors only; on a GPU the caching allocator rounds
each block up to 512 bytes (the sizes graded here are multiples of 512). Hidden checks measure
the candidate in a fresh process, on input values drawn after its warm-up call, and the
baseline, the module's own function, in the grading process. `timeline` and
`step_timeline` (the page's plots) follow CPU tensors only, whatever the device.
"""
from __future__ import annotations

import os
import random

import torch
from torch import nn

from . import isolation, memory
from .answers import Remote, probe

SLUG = "ch09_inplace"
FALLBACK = ("Everything runs on the CPU here; the meter's CPU storage tracker counts the same "
            "tensor bytes a GPU would hold, so the graded reductions are real.")
ROWS, COLS = 2048, 256     # (a): one activation is ROWS * COLS * 4 bytes = 2 MiB
CAP = 1.0                  # the clip of both chains: it clips about 4% of the block's activations
BATCH, WIDTH = 1024, 64    # (b): one activation is BATCH * WIDTH * 4 bytes = 256 KiB
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


# ---------------------------------------------------------------- (c) reading the error
def read_inplace_error(fn, x):
    """Run fn(x).sum().backward(); None if it works, else (found, expected) from the message."""
    import re
    try:
        fn(x).sum().backward()
    except RuntimeError as exc:
        m = re.search(r"is at version (\d+); expected version (\d+)", str(exc))
        if m is None:
            raise
        return int(m[1]), int(m[2])
    return None


def error_case(rng: random.Random):
    """A random chain on a leaf x: `before` in-place ops on h, one op that saves a tensor for
    backward, then `after` in-place ops on the saved tensor. Returns (fn, want): want is
    (found, expected) versions, or None when after == 0 (nothing saved was touched)."""
    before, after = rng.randint(0, 3), rng.choice([0, 1, 1, 2, 3])
    saver = rng.choice(["relu_", "sigmoid", "tanh", "exp", "pow"])

    def fn(x):
        h = x * 2.0                          # a fresh tensor at version 0
        for _ in range(before):
            h.add_(0.5)                      # each in-place op bumps h._version by one
        if saver == "pow":
            out = h.pow(3)                   # pow keeps its input: h, at version `before`
            for _ in range(after):
                h.mul_(0.9)                  # ... which we now modify
            return out
        if saver == "relu_":
            h.relu_()                        # in place (version before + 1); keeps h itself
        else:
            h = getattr(torch, saver)(h)     # keeps its output: a new h, version 0
        for _ in range(after):
            h.mul_(0.9)
        return h
    saved_at = {"pow": before, "relu_": before + 1}.get(saver, 0)
    return fn, ((saved_at + after, saved_at) if after else None)


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


def _same(got, want, what):
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        raise AssertionError(f"{what} should be a tensor of shape {tuple(want.shape)}, got "
                             f"{type(got).__name__} {tuple(getattr(got, 'shape', ()))}")
    if not torch.allclose(got, want, rtol=0.0, atol=TOL):
        err = (got - want).abs().max().item()
        raise AssertionError(f"{what} differs from the baseline's by up to {err:.3g} (allowed "
                             f"{TOL:g}): an in-place op changed the result")


def _tensor(x):
    """What a probe hands back of an answer's result: the tensor itself, or its description."""
    return x.detach().cpu() if isinstance(x, torch.Tensor) else f"{type(x).__name__}"


def _inference_probe(fn, rows, cols, seed) -> dict:
    """Where the answer runs: its output, and which of its arguments it changed."""
    x, scale, bias = inference_data(rows, cols, seed)
    copies = [t.clone() for t in (x, scale, bias)]
    out = _answer(fn, x, scale, bias)
    return {"out": _tensor(out), "changed": [n for n, t, c in zip(("x", "scale", "bias"), (x, scale, bias), copies)
                                             if not torch.equal(t, c)]}


def _inference_ok(fn, rows, cols, seed):
    seen = probe(fn, _inference_probe, rows, cols, seed)
    for name in seen["changed"]:
        raise AssertionError(f"infer_inplace changed its argument {name}: the caller still "
                             f"uses it. Make one new buffer (x * scale) and work in place "
                             "on that, never on the inputs")
    _same(seen["out"], infer(*inference_data(rows, cols, seed, on="cpu")), f"the output ({rows}x{cols}, seed {seed})")


def _fresh_shape(hidden, rows, cols):
    if not hidden:
        return rows, cols, 0
    rows = random.randrange(rows // 2, 3 * rows // 2, 64)    # multiples of 64: of 512 bytes
    return rows, random.choice([cols // 2, cols]), random.randrange(1, 10**6)


def check_inference(fn, hidden=False):
    """(a1) Outputs equal to infer's, and x, scale, bias unchanged, on several shapes."""
    cases = [(ROWS, COLS, 0), (3, 5, 1)] + [_fresh_shape(True, ROWS, COLS) for _ in range(3 if hidden else 0)]
    for rows, cols, seed in cases:
        _inference_ok(fn, rows, cols, seed)
    print(f"inference: {len(cases)} cases equal to the baseline, inputs untouched")


def _require_one_less(base, cand, act, what, hint):
    c = memory.compare(base, cand, what="peak")
    need = base.peak - act
    if cand.peak > need:
        raise AssertionError(f"{what} peak: candidate {cand.peak:,} bytes, baseline {base.peak:,} "
                             f"bytes; needs at most {need:,} bytes (one activation tensor, {act:,} "
                             f"bytes, lower) [{base.backend}: {base.method}]. {hint}")
    if not any(op.endswith("_") for op in cand.ops):
        raise AssertionError(f"{what}: the measured call ran no in-place operation (ops ending in "
                             f"_ such as add_ or relu_; it ran {', '.join(sorted(cand.ops)) or 'none'}): "
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
        args = list(inference_data(*size, seed))
    else:
        args = [Block(size[1], seed), training_data(*size, seed)]
    _answer(fn, *args)                                    # the warm-up call, dropped
    fresh = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
    with torch.no_grad():
        for t in ([args[0]] if kind == "inference" else [args[1]]):
            t.copy_(torch.randn(t.shape, generator=fresh).to(t.device))
    box = {}
    m = memory.measure(lambda: box.setdefault("out", _answer(fn, *args)), model=args[0] if kind != "inference"
                       else None, warmup=0, label="in place")
    out = box.get("out")
    return {"measurement": m.__dict__, "out": _tensor(out), "grad": bool(getattr(out, "requires_grad", False)),
            "inputs": [t.detach().cpu() for t in (args if kind == "inference" else args[1:])]}


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
    call's peak lower by one activation tensor, with in-place ops in it. Hidden: the candidate
    measured in a fresh process on a fresh shape and seed."""
    rows, cols, seed = _fresh_shape(hidden, ROWS, COLS)
    _inference_ok(fn, rows, cols, seed)
    base = memory.measure(inference_setup(infer, rows, cols, seed), label="out of place")
    seen = _call_measured(fn, "inference", (rows, cols), seed, hidden)
    _same(seen["out"], infer(*seen["inputs"]), f"the output of the measured call ({rows}x{cols})")
    c = _require_one_less(base, seen["measurement"], rows * cols * 4, f"inference ({rows}x{cols})",
                          "Under no_grad, ops with a trailing underscore reuse h's buffer.")
    print(f"inference peak ({'fresh process' if c.candidate.isolated else 'this process'}, {rows}x{cols}): "
          f"{c.candidate.peak:,} bytes against {c.baseline.peak:,} ({c.reduction:.0%} lower, "
          f"{c.baseline.backend} backend)")


def _training_probe(fn, batch, seed) -> dict:
    """Where the answer runs: its output, and the gradients of a squared loss of it."""
    model, x = Block(WIDTH, seed), training_data(batch, WIDTH, seed)
    try:
        out = _answer(fn, model, x)
    except RuntimeError as exc:
        return {"error": f"{getattr(fn, '__name__', 'the answer')} raised in the forward pass: {exc}"}
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        return {"error": "forward_inplace should return the output with autograd on (a tensor that "
                         "requires grad): do not use no_grad in training"}
    try:
        out.square().mean().backward()
    except RuntimeError as exc:
        return {"error": f"backward failed after forward_inplace: {exc} An in-place op overwrote a "
                         "tensor autograd saved; keep that op out of place"}
    return {"out": out.detach().cpu(), "grads": {n: p.grad.cpu() for n, p in model.named_parameters()}}


def check_training(fn, hidden=False):
    """(b) Output and every gradient equal to forward's; the forward peak (autograd on) lower by
    one activation tensor, on a measured call that is right itself (fresh input values after
    the warm-up) and has in-place ops. Hidden: fresh batch and seed, measured in a fresh process."""
    batch, _, seed = _fresh_shape(hidden, BATCH, WIDTH)
    want, got = _training_probe(forward, batch, seed), probe(fn, _training_probe, batch, seed)
    if "error" in got:
        raise AssertionError(got["error"])
    _same(got["out"], want["out"], "the output")
    for n in want["grads"]:
        _same(got["grads"].get(n), want["grads"][n], f"the gradient of {n}")
    base = memory.measure(memory.build(forward_setup, forward, batch, WIDTH, seed), label="out of place")
    seen = _call_measured(fn, "forward", (batch, WIDTH), seed, hidden)
    if not seen["grad"]:
        raise AssertionError("the measured call's output does not require grad: keep autograd on")
    ref = forward(Block(WIDTH, seed).cpu(), seen["inputs"][0])
    _same(seen["out"], ref.detach(), "the output of the measured call")
    c = _require_one_less(base, seen["measurement"], batch * WIDTH * 4, f"forward pass (batch {batch})",
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
        got.append(list(v) if isinstance(v, (tuple, list)) else v if v is None else repr(v))
    return {"got": got}


def check_read_error(fn, hidden=False):
    """(c) (found, expected) versions of autograd's message, or None, on random chains."""
    seed, n = (random.randrange(2**31), 12) if hidden else (9, 6)
    seen = probe(fn, _read_probe, seed, n)
    rng = random.Random(seed)
    for i in range(n):
        _chain, want = error_case(rng)
        if i == len(seen["got"]):
            raise AssertionError(f"case {i + 1}: read_inplace_error let this error through: "
                                 f"{seen.get('leaked')} Catch the RuntimeError and read its two "
                                 "version numbers")
        got = seen["got"][i]
        if got is not None:
            try:
                got = tuple(int(v) for v in got)
            except (TypeError, ValueError):
                raise AssertionError("read_inplace_error should return None or two integers, "
                                     f"got {got!r}") from None
        if got != want:
            raise AssertionError(f"case {i + 1}: expected {want} (None when backward works, else "
                                 f"(found version, expected version)), got {got}")
    print(f"read_inplace_error: {n} chains read right")


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

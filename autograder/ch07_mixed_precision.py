"""Chapter 7, automatic mixed precision: the exercise's baseline, the technique, and the checks.

Mixed precision runs the matrix products of the forward pass in a 16-bit type and keeps the
weights, their gradients and the optimizer's state in float32. What shrinks is what the
forward pass makes and autograd keeps for backward (activations); what does not is the
persistent state. `amp_settings()` picks the device and the 16-bit type once, from the
machine: CUDA uses float16 with a GradScaler; a CPU uses float16 too where its autocast
supports it (torch 2.4 and later), else bfloat16, which needs no scaler.

The page's case is a plain step (`amp_setup`); the exercise asks another one: the same step
with its gradients' norm clipped at `CLIP_NORM`, which under a GradScaler must see the unscaled
gradients (`scaler.unscale_` first). The checks grade a student's `amp_clip_setup(batch, seed)`
(a setup function in the meter's sense: it returns {"step", "model", "optimizer"}) against this
module's float32 `fp32_clip_setup`, never against the notebook's copy: (a) the gradients the
optimizer receives are the clipped float32 ones, the losses stay within `LOSS_RTOL` of the
fp32 ones and the persistent state stays float32, byte for byte; (b) the meter measures the
step's peak above its baseline at least `TARGET` lower, in a run that also did (a)'s work
(hidden: in a fresh process, fresh seed and batch); (c) a student's `scaler_step`, one
GradScaler decision (unscaled gradients or a skipped step, and the next scale), against
NumPy's float16 rounding.

Known limitations: on a CPU the 16-bit kernels are emulated and slower than float32, so the
page shows memory, never speed; the CPU and CUDA autocast op lists differ (softmax, sums and
layer norm follow their input's type on a CPU, but run in float32 under CUDA autocast).
"""
from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import memory

SLUG = "ch07_mixed_precision"
FALLBACK = ("Autocast runs on the CPU here; the meter's CPU storage tracker measures the same "
            "bytes a GPU would hold for tensors, so the graded reductions are real.")
WIDTH, DEPTH, BATCH, LR = 64, 8, 256, 3e-3    # 8 hidden Linear-GELU blocks, then a Linear
TARGET = 0.30          # COURSE.md: peak above the baseline step lowered by at least 30%
LOSS_RTOL = 0.01       # each step's loss within 1% of the fp32 baseline's loss at that step
PARITY_STEPS, PARITY_BATCH = 15, 128
CLIP_NORM = 0.005      # the exercise's clip: about a third of its gradients' norm in the first steps
GRAD_RTOL = 0.02       # the clipped gradients' norm within 2% of fp32's, and their cosine >= 0.999
                       # (autocast's: 0.99999; the step before's, a step that did nothing: 0.99)
GRADS_AT = 3           # the parity run's step whose gradients are compared (0-based: the fourth)


# ---------------------------------------------------------------- the machine's settings
@dataclass(frozen=True)
class AmpSettings:
    device_type: str       # "cuda" or "cpu": torch.autocast's first argument, and the device
    dtype: torch.dtype     # the 16-bit type autocast computes in
    scaler: bool           # a GradScaler is needed (float16's narrow range), or not (bfloat16)

    def __str__(self) -> str:
        kind = str(self.dtype).replace("torch.", "")
        return (f"autocast on {self.device_type} with {kind}"
                + (", loss scaled by a GradScaler" if self.scaler else ", no GradScaler needed"))


@functools.lru_cache(maxsize=None)
def amp_settings() -> AmpSettings:
    """CUDA: float16 + GradScaler. CPU: float16 + GradScaler if this torch's CPU autocast
    makes float16 (it did not before torch 2.4), else bfloat16 without a scaler."""
    if memory.resolve_backend(None) == "cuda":
        return AmpSettings("cuda", torch.float16, True)
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            ok = F.linear(torch.ones(2, 2), torch.ones(2, 2)).dtype == torch.float16
        torch.amp.GradScaler("cpu")
    except Exception:   # older torch: the dtype is refused (a warning) or no CPU GradScaler
        ok = False
    return AmpSettings("cpu", torch.float16, True) if ok else AmpSettings("cpu", torch.bfloat16, False)


# ---------------------------------------------------------------- the exercise's baseline
def make_model(seed: int = 0):
    """An MLP of DEPTH Linear-GELU blocks and a last Linear, and its Adam; on the AMP device."""
    torch.manual_seed(seed)
    layers = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH), nn.GELU()]
    model = nn.Sequential(*layers, nn.Linear(WIDTH, WIDTH)).to(amp_settings().device_type)
    return model, torch.optim.Adam(model.parameters(), lr=LR, foreach=True)


def make_data(batch: int = BATCH, seed: int = 0):
    """x: (batch, WIDTH) Gaussian; y = a fixed random teacher network of x, plus a little noise."""
    g = torch.Generator().manual_seed(10_000 + seed)
    a = torch.randn(WIDTH, WIDTH, generator=g) / math.sqrt(WIDTH)
    b = torch.randn(WIDTH, WIDTH, generator=g) / math.sqrt(WIDTH)
    x = torch.randn(batch, WIDTH, generator=g)
    y = torch.tanh(x @ a) @ b + 0.05 * torch.randn(batch, WIDTH, generator=g)
    dev = amp_settings().device_type
    return x.to(dev), y.to(dev)


def fp32_setup(batch: int = BATCH, seed: int = 0) -> dict:
    """The baseline: one float32 step (forward, MSE loss, backward, Adam)."""
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


def fp32_clip_setup(batch: int = BATCH, seed: int = 0) -> dict:
    """The exercise's baseline: fp32_setup's step with the gradients' norm clipped at CLIP_NORM."""
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


def amp_setup(batch: int = BATCH, seed: int = 0) -> dict:
    """Forward pass and loss under autocast; a GradScaler for float16."""
    amp = amp_settings()
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)
    scaler = torch.amp.GradScaler(amp.device_type, enabled=amp.scaler)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(amp.device_type, dtype=amp.dtype):
            # the linears run in 16 bits, the loss in float32
            loss = F.mse_loss(model(x), y)
        # outside autocast: backward follows the forward's types
        scaler.scale(loss).backward()
        scaler.step(opt)    # unscales; skips the step on an inf
        scaler.update()     # lowers the scale after an inf
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


# ---------------------------------------------------------------- what autocast does to each op
def dtype_table(amp: AmpSettings | None = None) -> list[tuple[str, str, str]]:
    """(operation, input dtype, output dtype) for common ops under autocast on this machine."""
    amp = amp or amp_settings()
    dev, name = amp.device_type, (lambda t: str(t.dtype).replace("torch.", ""))
    torch.manual_seed(0)
    lin, conv, norm = nn.Linear(16, 16).to(dev), nn.Conv2d(3, 4, 3).to(dev), nn.LayerNorm(16).to(dev)
    x, img = torch.randn(8, 16, device=dev), torch.randn(2, 3, 8, 8, device=dev)
    rows = []
    with torch.autocast(dev, dtype=amp.dtype):
        h = lin(x)                                   # 16-bit: the input to every op below
        for op, inp, fn in [
            ("linear", x, lin), ("matmul (x @ x.T)", x, lambda t: t @ t.T),
            ("conv2d", img, conv), ("gelu", h, F.gelu), ("softmax", h, lambda t: t.softmax(-1)),
            ("log_softmax", h, lambda t: t.log_softmax(-1)), ("layer_norm", h, norm),
            ("sum", h, torch.sum), ("exp", h, torch.exp),
            ("mse_loss", h, lambda t: F.mse_loss(t, x)),
            ("cross_entropy", h, lambda t: F.cross_entropy(t, torch.zeros(8, dtype=torch.long, device=dev))),
        ]:
            rows.append((op, name(inp), name(fn(inp))))
    return rows


def fp16_roundtrip(grads: torch.Tensor, scale: float) -> torch.Tensor:
    """The page's model of loss scaling: multiply by scale in float32, round to float16, back to
    float32, divide by scale. Scale 1 is no loss scaling: values under ~6e-8 become 0."""
    return (grads.float() * scale).half().float() / scale


def master_weight_demo(updates: int = 100, lr_update: float = 1e-4) -> dict[str, float]:
    """A weight of 1.0 after `updates` additions of lr_update, kept in each dtype."""
    out = {}
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        w = torch.ones((), dtype=dt)
        for _ in range(updates):
            w += torch.tensor(lr_update, dtype=dt)
        out[str(dt).replace("torch.", "")] = float(w)
    return out


def underflow_demo(scale: float = 2.0**16, seed: int = 0) -> dict[str, torch.Tensor]:
    """A real fp16 backward whose weight gradient underflows: the loss is tiny, so is every
    gradient. Returns the weight gradient in float32, in float16 unscaled and scaled."""
    torch.manual_seed(seed)
    lin = nn.Linear(64, 64)
    x = torch.randn(256, 64)
    grads = {}
    for name, dt, s in [("float32", None, 1.0), ("float16", torch.float16, 1.0),
                        ("float16, loss scaled", torch.float16, scale)]:
        lin.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dt or torch.float32, enabled=dt is not None):
            loss = lin(x).float().square().mean() * 1e-6      # a loss this small is not rare late in training
        (loss * s).backward()
        grads[name] = lin.weight.grad / s
    return grads


# ---------------------------------------------------------------- the checks
def _draw(hidden: bool, batches, default: int):
    return (random.choice(batches), random.randrange(1, 10**6)) if hidden else (default, 0)


def check_parity(setup, hidden=False):
    """(a) The clipped float32 gradients reach the optimizer, the losses follow the fp32
    baseline's step by step, and the master weights stay float32."""
    batch, seed = _draw(hidden, [96, 128, 160], PARITY_BATCH)
    kw = dict(steps=PARITY_STEPS, measure_at=GRADS_AT, hidden=hidden, like="fp32_clip_setup",
              batch=batch, seed=seed)
    runs = {who: memory.trial(s, label=who, **kw)
            for who, s in (("fp32", f"autograder.{SLUG}:fp32_clip_setup"), ("amp", setup))}
    ref, got = runs["fp32"], runs["amp"]
    bad = [d for d in got.dtypes if d != "float32"]
    if bad:
        raise AssertionError(f"the model's parameters are {', '.join('torch.' + d for d in bad)}: mixed "
                             "precision keeps float32 master weights (autocast casts copies for each "
                             "op); casting the model itself is pure low-precision training, not this "
                             "technique")
    for i, (have, want) in enumerate(zip(got.losses, ref.losses)):
        if have is None:
            raise AssertionError("the step should return the loss (a scalar)")
        times = have / want if want else 0.0
        power = round(math.log2(times)) if 0 < times < math.inf else 0
        if power >= 1 and abs(times / 2**power - 1) <= LOSS_RTOL:
            raise AssertionError(f"step {i + 1} (batch {batch}, seed {seed}): loss {have:.6f}, fp32 "
                                 f"baseline {want:.6f}; yours is about {2**power:,} (2**{power}) times the "
                                 "baseline's: the GradScaler's scale factor. Return the loss itself "
                                 "(loss.detach()), not scaler.scale(loss)")
    require_clipped(got, ref, f"step {GRADS_AT + 1} (batch {batch}, seed {seed})")
    for i, (have, want) in enumerate(zip(got.losses, ref.losses)):
        if not abs(have - want) <= LOSS_RTOL * abs(want):
            raise AssertionError(f"step {i + 1} (batch {batch}, seed {seed}): loss {have:.6f}, fp32 "
                                 f"baseline {want:.6f}, more than {LOSS_RTOL:.0%} apart: mixed "
                                 "precision should train like the fp32 step")
    if got.persistent != ref.persistent:
        raise AssertionError(f"persistent bytes (parameters, gradients, optimizer state) are "
                             f"{got.persistent}, the fp32 baseline's are {ref.persistent}: under mixed "
                             "precision they must not change")
    print(f"parity: {PARITY_STEPS} steps within {LOSS_RTOL:.0%} of the fp32 losses "
          f"(last {have:.4f} vs {want:.4f}); gradients clipped at {CLIP_NORM} as fp32's; "
          "master weights float32")


def require_clipped(got, ref, where: str) -> None:
    """The gradients left after the measured step (what the optimizer used) are the baseline's
    clipped float32 ones: their norm within GRAD_RTOL, their direction the same."""
    gc, gb = got.grad.astype(np.float64), ref.grad.astype(np.float64)
    if gc.shape != gb.shape:
        raise AssertionError(f"{where}: {gc.size:,} gradient values after the step, the baseline's "
                             f"{gb.size:,}: every parameter of the model should have its gradient")
    nc, nb = float(np.linalg.norm(gc)), float(np.linalg.norm(gb))
    cos = float(gc @ gb) / (nc * nb) if nc and nb else 0.0
    ratio = nc / nb if nb else math.inf
    if abs(ratio - 1) <= GRAD_RTOL and cos >= 0.999:
        return
    if not math.isfinite(nc):
        hint = "they are not finite (inf or nan); the baseline's are"
    elif 0 < nc < 1e-3 * nb:
        hint = (f"about 1/{nb / nc:,.0f} of the baseline's. They were clipped while still multiplied "
                "by the GradScaler's scale, and scaler.step divided them by it afterwards: clip "
                "after scaler.unscale_(optimizer), which divides them by the scale once")
    elif nc > (1 + GRAD_RTOL) * CLIP_NORM:
        hint = (f"above the clip of {CLIP_NORM}: clip the gradients' norm "
                "(torch.nn.utils.clip_grad_norm_) between backward and the optimizer's step, as "
                "the baseline does")
    elif abs(ratio - 1) <= GRAD_RTOL:
        hint = ("the norm is right, the direction not: the gradients after a step should be that "
                "step's, of this batch's loss")
    else:
        hint = "clip the unscaled float32 gradients at CLIP_NORM, as the baseline does"
    raise AssertionError(f"{where}: after the step the gradients' norm is {nc:.3e}, the fp32 "
                         f"baseline's {nb:.3e} (cosine {cos:.3f}): {hint}")


def check_reduction(setup, hidden=False):
    """(b) The meter's peak above the baseline step at least TARGET lower than fp32's, in a run
    that also shows the measured step clipped and trained like fp32's (from the same noise) and
    saved 16-bit tensors for backward. Hidden: both runs in fresh processes, fresh seed and batch."""
    batch, seed = _draw(hidden, list(range(192, 385, 64)), BATCH)
    kw = dict(steps=3, measure_at=2, hidden=hidden, like="fp32_clip_setup", batch=batch, seed=seed)
    cand = memory.trial(setup, perturb="draw", label="autocast", **kw)
    base = memory.trial(f"autograder.{SLUG}:fp32_clip_setup", perturb=cand.perturb, label="fp32", **kw)
    require_clipped(cand, base, f"the measured step (batch {batch})")
    memory.require_same_work(cand, base, loss_rtol=LOSS_RTOL, min_cosine=0.95)
    c = memory.compare(base.measurement, cand.measurement, what="peak")
    try:
        got = memory.require_reduction(c, at_least=TARGET)
    except AssertionError as exc:
        raise AssertionError(f"batch {batch}: {exc}. Mixed precision lowers the peak when the "
                             "forward pass (model and loss) runs inside torch.autocast") from None
    saved = cand.measurement.saved_dtypes
    half = sum(v for k, v in saved.items() if k in ("float16", "bfloat16"))
    if half < 0.5 * sum(saved.values()):
        raise AssertionError(f"the step saved {half:,} of {sum(saved.values()):,} bytes for backward in "
                             "16 bits: under autocast the matrix products save 16-bit inputs; a lower "
                             "peak from another technique is not mixed precision")
    print(f"reduction ({'fresh processes' if cand.isolated else 'this process'}, batch {batch}): peak "
          f"{got:.0%} lower (target {TARGET:.0%}), saved for backward "
          f"{memory.compare(base.measurement, cand.measurement, what='saved').reduction:.0%} lower, "
          f"{half / sum(saved.values()):.0%} of it 16-bit; the measured step clipped and trained like "
          "fp32's")


def _scaler_cases(hidden: bool) -> list[tuple[list[float], float]]:
    r = random.Random(None if hidden else 7)
    small = [1e-3, 1e-6, 1e-8, 1e-10, -3e-9, 0.5, 2.0]
    cases = [(small, 1.0), (small, 2.0**10), (small, 2.0**13), (small, 2.0**16),
             ([1000.0, 1e-9], 2.0**16), ([1e-4, math.nan, 1e-9], 2.0**8), ([-40.0, 1e-7], 2.0**11)]
    for _ in range(8 if hidden else 3):
        cases.append(([r.choice([-1, 1]) * 10 ** r.uniform(-12, -1) for _ in range(50)],
                      2.0 ** r.randint(0, 24)))
    return cases


def _fp16(vals, s: float) -> np.ndarray:
    """The values times s in float32, rounded to float16 by NumPy (inf where they overflow)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return (np.asarray(vals, np.float32) * np.float32(s)).astype(np.float16)


def check_scaler_step(fn, hidden=False):
    """(c) One GradScaler decision against NumPy's float16 rounding: the float32 gradients the
    optimizer gets and the same scale, or None and half the scale when a scaled value is not
    finite in float16 (the step is skipped)."""
    cases, skipped = _scaler_cases(hidden), 0
    for vals, s in cases:
        half = _fp16(vals, s)
        skip = not bool(np.isfinite(half).all())
        skipped += skip
        got = fn(torch.tensor(vals), s)
        case = f"gradients {', '.join(f'{v:.3g}' for v in vals[:3])}{', ...' if len(vals) > 3 else ''} with scale {s:g}"
        if not (isinstance(got, tuple) and len(got) == 2):
            raise AssertionError(f"scaler_step should return a pair (gradients or None, next scale), got "
                                 f"{type(got).__name__}" + (": a tensor alone is one value's trip through "
                                 "float16; the GradScaler also decides whether the optimizer steps at "
                                 "all, and with which scale next" if isinstance(got, torch.Tensor) else ""))
        grads, nxt = got
        if skip and grads is not None:
            raise AssertionError(f"{case}: once scaled, a value is inf or nan in float16 (largest "
                                 "65504): the GradScaler skips this step; return None as the gradients")
        if not skip and grads is None:
            raise AssertionError(f"{case}: every scaled value fits float16 (largest 65504), so the "
                                 "optimizer steps: return the gradients")
        want_scale = s / 2 if skip else s
        if not isinstance(nxt, (int, float, torch.Tensor)) or float(nxt) != want_scale:
            raise AssertionError(f"{case}: next scale {nxt!r}, expected {want_scale:g}: " + (
                "after a skipped step the scale is halved" if skip else
                "a good step keeps the scale (a GradScaler raises it only after 2000 good steps)"))
        if skip:
            continue
        if not isinstance(grads, torch.Tensor) or grads.shape != (len(vals),):
            raise AssertionError(f"{case}: the gradients should be a tensor shaped like grads, got {grads!r:.100}")
        want = torch.from_numpy(half.astype(np.float32) / np.float32(s))
        ok = torch.isclose(grads.float(), want, rtol=1e-3, atol=0.0)
        if not bool(ok.all()):
            i = int((~ok).nonzero()[0])
            unscaled = float(_fp16(vals[i:i + 1], 1.0)[0])
            hint = (": that is the value rounded to float16 without the scale's help; scale before "
                    "rounding to float16, the scale is what lifts small gradients out of float16's "
                    "underflow" if s != 1 and math.isclose(float(grads[i]), unscaled, rel_tol=1e-3) else "")
            raise AssertionError(f"{case}: gradient {vals[i]:.3e} should reach the optimizer as "
                                 f"{float(want[i]):.6e}, got {float(grads[i]):.6e}{hint}")
    print(f"scaler_step: {len(cases)} cases right, {skipped} of them skipped steps")


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores for this chapter: the CUDA dtype table, fp32 vs AMP
    bytes (peak, saved, persistent) and the two loss curves, all measured on the GPU."""
    if not dry and memory.resolve_backend(None) != "cuda":   # dry: the same walk on the CPU
        raise RuntimeError("no GPU: chapter 7 records nothing on a CPU-only machine")
    base, amp = (memory.measure_isolated(f"{__name__}:{n}", label=n) for n in ("fp32_setup", "amp_setup"))
    fig = lambda m: {"peak": m.peak, "saved": m.saved, "persistent": m.persistent,  # noqa: E731
                     "breakdown": m.breakdown, "device": m.device}
    return {"settings": str(amp_settings()), "dtype_table": dtype_table(), "fp32": fig(base),
            "amp": fig(amp), "peak_ratio": amp.peak / base.peak, "saved_ratio": amp.saved / base.saved,
            "losses": {"fp32": memory.train(fp32_setup, 4 if dry else 40, PARITY_BATCH),
                       "amp": memory.train(amp_setup, 4 if dry else 40, PARITY_BATCH)}}

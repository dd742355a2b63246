"""Chapter 11, gradient checkpointing: the page's model and demos, the exercise's baseline, the checks.

Checkpointing keeps only the input of a region of the forward pass and runs the region again in
backward to get what its backward formulas need. What it lowers is the bytes the forward pass
leaves alive for backward, and with them the step's peak; what it costs is that second forward
pass. Always non-reentrant (`use_reentrant=False`): it handles inputs that need no gradient,
keyword arguments and `torch.autograd.grad`, and refuses an input changed in place.

The page's model is an MLP of DEPTH blocks Linear-GELU-LayerNorm (`page_setup`: plain, every
block checkpointed, `checkpoint_sequential` in some segments, or selectively, saving the matrix
products). The exercise's baseline (`baseline_setup`) is a stack of LAYERS pre-norm transformer
blocks with dropout, each the sum of two halves (`Block.attend`, `Block.feed`); a student
checkpoints the feed-forward half of every block and leaves the attention half as it is (the
page checkpoints whole blocks). The baseline's observation is kept per draw
(`_reference`), so that the checks of one notebook run it once.

The checks grade a student's `ckpt_setup(batch, seed)` (a setup: {"step", "model", "optimizer"})
against `baseline_setup`, both observed by `memory.watch.observe` (the meter's measurement, and
inside the same measured step, the gradients, the ops run in backward, the bytes held for
backward): (a) the gradients equal the baseline's, torch's generator seeded alike before each
step (dropout draws the same masks); (b) in the measured run: the same gradients, the
feed-forward half's ops run again during backward (GELU: the recomputation) and the attention
not, the bytes held for backward at least SAVED_TARGET lower and the step's peak at least
EX_PEAK_TARGET lower (hidden: fresh seed and batch, and the peak measured again in fresh
processes); (c) a student's selective-checkpointing `policy` applied to
every block (`selective_setup`): the same gradients, no matrix product or attention recomputed,
GELU and layer norm recomputed, fewer bytes held than without checkpointing.

Known limitations: the meter's own `saved` figure does not see what a checkpoint keeps under its
own saved-tensor hooks (selective checkpointing's saved matrix products), so the checks read the
watch's `held`, which counts storages, whoever holds them. Times on the page are the CPU's; a
GPU's ratio of recomputation to step time differs, and no time is graded.
"""
from __future__ import annotations

import functools
import math
import random
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import (CheckpointPolicy, checkpoint, checkpoint_sequential,
                                    create_selective_checkpoint_contexts)

from . import memory
from .answers import probe
from .memory.timing import step_times
from .memory.watch import measurement, observe, recomputed, require_same_gradients

SLUG = "ch11_checkpointing"
FALLBACK = ("Everything runs on the CPU here; the meter's storage tracker and the course's watch "
            "count the same tensor bytes a GPU would hold, so the graded reductions are real. "
            "Times are the CPU's.")
SAVED_TARGET = 0.50                       # COURSE.md: saved for backward -50% (step peak -40%)
# The exercise checkpoints only the feed-forward halves: measured here (CPU, batch 8-24) held for
# backward 55% lower and the peak 39-44% lower (whole blocks: 93% and 67%); the peak's target is
# set below what the halves give on every hidden batch, so under COURSE.md's 40%.
EX_PEAK_TARGET = 0.30
GRAD_RTOL = 1e-4                          # of each gradient's largest magnitude
WIDTH, DEPTH, BATCH = 128, 16, 512        # the page's MLP: one activation is 256 KiB
D_MODEL, HEADS, SEQ, LAYERS, DROPOUT, EX_BATCH = 64, 4, 32, 4, 0.1, 16   # the exercise's
MATMULS = frozenset({"mm", "addmm", "bmm", "baddbmm", "matmul", "linear"})
POINTWISE = frozenset({"gelu", "native_layer_norm"})   # what selective checkpointing must recompute


def device() -> str:
    return memory.resolve_backend(None)


# ---------------------------------------------------------------- the page's model
def make_mlp(seed: int = 0, width: int = WIDTH) -> nn.Sequential:
    """DEPTH blocks Linear(width, width) - GELU - LayerNorm, on the meter's device."""
    torch.manual_seed(seed)
    blocks = [nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.LayerNorm(width))
              for _ in range(DEPTH)]
    return nn.Sequential(*blocks).to(device())


def mlp_data(batch: int = BATCH, seed: int = 0, width: int = WIDTH):
    g = torch.Generator().manual_seed(10_000 + seed)
    x, y = torch.randn(batch, width, generator=g), torch.randn(batch, width, generator=g)
    return x.to(device()), y.to(device())


def save_matmuls(ctx, op, *args, **kwargs):
    """The page's selective policy: keep the matrix products' outputs, recompute the rest."""
    if op.overloadpacket.__name__ in MATMULS:
        return CheckpointPolicy.MUST_SAVE
    return CheckpointPolicy.PREFER_RECOMPUTE


def forward(model, x, how: str = "plain", segments: int = 4, policy=save_matmuls):
    """The page's forward pass, as it is (plain) or checkpointed: every block ("each"), in
    `segments` segments by checkpoint_sequential ("sequential"), or every block selectively."""
    if how == "plain":
        return model(x)
    if how == "sequential":
        return checkpoint_sequential(model, segments, x, use_reentrant=False)
    context = (functools.partial(create_selective_checkpoint_contexts, policy)
               if how == "selective" else None)
    for block in model:
        if context is None:
            x = checkpoint(block, x, use_reentrant=False)
        else:
            x = checkpoint(block, x, use_reentrant=False, context_fn=context)
    return x


def page_setup(how: str = "plain", segments: int = 4, batch: int = BATCH, seed: int = 0,
               width: int = WIDTH) -> dict:
    """The page's step: forward (`forward(how)`), MSE loss, backward, SGD."""
    model, (x, y) = make_mlp(seed, width), mlp_data(batch, seed, width)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, foreach=True)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(forward(model, x, how, segments), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


def held(data: dict) -> int:
    """The bytes the forward pass left alive for backward, wherever they are (the most, over
    the step's backward passes)."""
    return max((h["device"] + h["host"] for h in data["held"]), default=0)


def segment_sweep(counts=None, batch: int = BATCH) -> list[dict]:
    """checkpoint_sequential over the page's MLP, for each number of segments: peak and bytes
    held for backward. segments=1 checkpoints nothing (the last segment is never checkpointed)."""
    rows = []
    for s in counts or range(1, DEPTH + 1):
        d = observe(page_setup, "sequential", s, batch)
        rows.append({"segments": s, "checkpointed": (DEPTH // s) * (s - 1),
                     "peak": measurement(d).peak, "held": held(d)})
    return rows


# ---------------------------------------------------------------- the exercise's baseline
class Block(nn.Module):
    """A pre-norm transformer block: x + attend(x), then x + feed(x); each half with its norm
    and its dropout."""

    def __init__(self, d: int = D_MODEL, heads: int = HEADS, p: float = DROPOUT):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.drop = nn.Dropout(p)

    def attend(self, x):                                    # x: (batch, seq, d)
        """The attention half: drop(proj(causal attention(ln1(x))))."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)    # (batch, heads, seq, d/heads)
        return self.drop(self.proj(a.transpose(1, 2).reshape(b, t, d)))

    def feed(self, x):
        """The feed-forward half: drop(fc2(gelu(fc1(ln2(x))))), 4 * d wide inside."""
        return self.drop(self.fc2(F.gelu(self.fc1(self.ln2(x)))))

    def forward(self, x):
        x = x + self.attend(x)
        return x + self.feed(x)


def make_model(seed: int = 0):
    """LAYERS Blocks in an nn.Sequential, and its Adam; on the meter's device."""
    torch.manual_seed(seed)
    model = nn.Sequential(*[Block() for _ in range(LAYERS)]).to(device())
    return model, torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)


def make_data(batch: int = EX_BATCH, seed: int = 0):
    """x, y: (batch, SEQ, D_MODEL); y a fixed smooth function of x plus noise."""
    g = torch.Generator().manual_seed(20_000 + seed)
    x = torch.randn(batch, SEQ, D_MODEL, generator=g)
    y = torch.tanh(x.roll(1, dims=1)) + 0.1 * torch.randn(batch, SEQ, D_MODEL, generator=g)
    return x.to(device()), y.to(device())


def baseline_setup(batch: int = EX_BATCH, seed: int = 0) -> dict:
    """The exercise's baseline: forward through the blocks, MSE loss, backward, Adam."""
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)
    return memory.mse_step(model, opt, x, y)


def selective_setup(policy, batch: int = EX_BATCH, seed: int = 0) -> dict:
    """The baseline with every block checkpointed selectively by `policy` (a student's)."""
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(forward(model, x, "selective", policy=policy), y)   # the page's forward
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


# ---------------------------------------------------------------- what goes wrong (the page)
def _dropout_grads(preserve: bool | None, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    block = nn.Sequential(nn.Linear(32, 32), nn.Dropout(0.5), nn.Linear(32, 32)).to(device())
    x = torch.randn(64, 32, device=device())
    torch.manual_seed(seed + 1)
    out = (block(x) if preserve is None
           else checkpoint(block, x, use_reentrant=False, preserve_rng_state=preserve))
    out.square().mean().backward()
    return block[0].weight.grad


def rng_demo(seed: int = 0) -> dict[str, float]:
    """Largest gradient difference from the plain block, relative to the largest gradient, for
    a checkpointed Linear-Dropout-Linear with and without preserve_rng_state."""
    want = _dropout_grads(None, seed)
    scale = float(want.abs().max())
    return {f"preserve_rng_state={p}": float((_dropout_grads(p, seed) - want).abs().max()) / scale
            for p in (True, False)}


def reentrant_demo() -> dict[str, object]:
    """Checkpoint the first block, whose input needs no gradient, both ways: does the block's
    weight get a gradient, and what did torch warn?"""
    out = {}
    for reentrant in (True, False):
        torch.manual_seed(0)
        first, rest = nn.Linear(16, 16), nn.Linear(16, 1)
        x = torch.randn(8, 16)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h = checkpoint(first, x, use_reentrant=reentrant)
            rest(torch.relu(h)).sum().backward()
        out[f"use_reentrant={reentrant}"] = {
            "weight grad": None if first.weight.grad is None else "computed",
            "warnings": [str(w.message).split(". ")[0] for w in caught]}
    return out


def inplace_demo() -> dict[str, str]:
    """An op that changes a checkpointed region's input in place: fine without the checkpoint,
    refused with it (the checkpoint keeps that input to run the region again)."""
    def region(h):
        h.mul_(2.0)            # in place, on the region's input
        return torch.sin(h)
    out = {}
    for name in ("plain", "checkpointed"):
        a = torch.randn(8, requires_grad=True)
        h = a * 1.0
        try:
            y = region(h) if name == "plain" else checkpoint(region, h, use_reentrant=False)
            y.sum().backward()
            out[name] = "backward ran"
        except RuntimeError as exc:
            out[name] = str(exc).split(". Hint")[0]
    return out


# ---------------------------------------------------------------- the checks
def _draw(hidden: bool) -> tuple[int, int]:
    return (random.choice([8, 12, 16, 24]), random.randrange(1, 10**6)) if hidden else (EX_BATCH, 0)


def _probe_step(setup, batch: int, seed: int) -> dict:
    """Runs in the measuring process: the setup observed (measured, watched), as data."""
    return observe(setup, batch=batch, seed=seed, rng=seed, like="baseline_setup")


@functools.lru_cache(maxsize=4)
def _reference(batch: int, seed: int) -> dict:
    """The baseline observed, once per draw (the checks only read it)."""
    return _probe_step(baseline_setup, batch, seed)


def _probe_selective(policy, batch: int, seed: int) -> dict:
    return observe(selective_setup, policy, batch=batch, seed=seed, rng=seed)


def _where(data: dict, hidden: bool) -> str:
    m = measurement(data)
    return (f"[{m.backend}: {m.method}; held for backward read by the course's watch"
            f"{', hidden draw' if hidden else ''}]")


def _same_gradients(cand: dict, base: dict, batch: int, seed: int, hint: str) -> None:
    require_same_gradients(cand["grads"], base["grads"], GRAD_RTOL, f"batch {batch}, seed {seed}",
                           f"torch's generator was seeded alike before each step. {hint}")


def check_gradients(setup, hidden=False):
    """(a) After one step and in the second, every gradient equals the baseline's."""
    batch, seed = _draw(hidden)
    base = _reference(batch, seed)
    cand = probe(setup, _probe_step, batch=batch, seed=seed)
    _same_gradients(cand, base, batch, seed,
                    "Checkpointing changes no number: is the RNG state preserved for dropout "
                    "(preserve_rng_state=True, the default), and does every block still run?")
    print(f"gradients (batch {batch}{', hidden draw' if hidden else ''}): all "
          f"{len(base['grads'])} equal to the baseline's; loss {cand['loss']:.5f}")


def check_memory(setup, hidden=False):
    """(b) In the measured run: the same gradients, the feed-forward halves recomputed in
    backward and the attention not, bytes held for backward at least SAVED_TARGET lower, peak at
    least EX_PEAK_TARGET lower. Hidden: fresh draw, and the peak measured again, both setups in
    fresh processes."""
    batch, seed = _draw(hidden)
    base = _reference(batch, seed)
    cand = probe(setup, _probe_step, batch=batch, seed=seed)
    where = _where(base, hidden)
    _same_gradients(cand, base, batch, seed, "The measured step must do the baseline's work.")
    again = recomputed(cand, base)
    if not again:
        raise AssertionError(
            f"no forward operation ran again during backward: nothing was recomputed, so this is "
            f"not checkpointing {where}. Run each block's feed-forward half through "
            "torch.utils.checkpoint.checkpoint(block.feed, h, use_reentrant=False)")
    attention = sorted(op for op in again if "scaled_dot_product" in op)
    if attention:
        raise AssertionError(
            f"the attention ran again during backward ({', '.join(attention)}): this exercise "
            f"checkpoints only each block's feed-forward half and keeps what the attention half "
            f"saves {where}. Add the attention half plainly (h = h + block.attend(h)) and "
            "checkpoint block.feed alone")
    if "gelu" not in again:
        raise AssertionError(
            f"recomputed during backward: {', '.join(sorted(again))}, but not the GELU of the "
            f"feed-forward half {where}: checkpoint block.feed, the whole half")
    products = sum(n for op, n in again.items() if op in MATMULS)
    norms = again.get("native_layer_norm", 0)
    if products > 2 * LAYERS or norms > LAYERS:      # the feed-forward half: fc1, fc2 and ln2
        raise AssertionError(
            f"recomputed during backward: {products} matrix products and {norms} layer norms, "
            f"more than the feed-forward halves hold ({2 * LAYERS} and {LAYERS}) {where}: the "
            "attention half's norm and projections ran again too. Checkpoint block.feed alone")
    hb, hc = held(base), held(cand)
    need = memory.required_at_most(hb, SAVED_TARGET)
    if hc > need:
        raise AssertionError(
            f"bytes held for backward: candidate {hc:,}, baseline {hb:,}; needs at most {need:,} "
            f"({SAVED_TARGET:.0%} lower), measured {1 - hc / hb:.0%} lower {where}. Is the "
            "feed-forward half of every block checkpointed?")
    c = memory.compare(measurement(base), measurement(cand), what="peak")
    try:
        got = memory.require_reduction(c, at_least=EX_PEAK_TARGET)
        if hidden:    # the same figure, both setups measured in fresh processes
            b2, c2 = memory.measure_pair(f"autograder.{SLUG}:baseline_setup", setup, hidden=True,
                                         labels=("baseline", "checkpointed"), batch=batch, seed=seed)
            memory.require_reduction(memory.compare(b2, c2, what="peak"), at_least=EX_PEAK_TARGET)
    except AssertionError as exc:
        raise AssertionError(f"batch {batch}: {exc}") from None
    ops = ", ".join(f"{n} {op}" for op, n in list(again.items())[:4])
    print(f"memory (batch {batch}{', hidden draw, peak again in fresh processes' if hidden else ''}): "
          f"gradients equal; recomputed in backward: {ops}, ...; held for backward "
          f"{1 - hc / hb:.0%} lower (target {SAVED_TARGET:.0%}), peak {got:.0%} lower "
          f"(target {EX_PEAK_TARGET:.0%}) [{c.baseline.backend}]")


def check_selective(policy, hidden=False):
    """(c) Every block checkpointed with `policy`: the same gradients as the baseline; no matrix
    product or attention op recomputed; pointwise ops recomputed; fewer bytes held."""
    batch, seed = _draw(hidden)
    base = _reference(batch, seed)
    try:
        cand = probe(policy, _probe_selective, batch=batch, seed=seed)
    except (TypeError, ValueError, RuntimeError) as exc:
        hint = (" In-place operations (dropout's bernoulli_ and div_) change what they would "
                "save: let them be recomputed." if "mutated" in str(exc) else "")
        raise AssertionError(f"the step with your policy raised {type(exc).__name__}: {exc}.{hint} "
                             "A policy is called as policy(ctx, op, *args, **kwargs) and returns "
                             "a CheckpointPolicy") from None
    _same_gradients(cand, base, batch, seed, "A policy only chooses what to keep.")
    again = recomputed(cand, base)
    heavy = sorted(op for op in again if op in MATMULS or "scaled_dot_product" in op)
    if heavy:
        raise AssertionError(f"recomputed in backward: {', '.join(heavy)}; the policy should save "
                             "the output of every matrix product and of the attention kernel "
                             "(CheckpointPolicy.MUST_SAVE)")
    kept = sorted(POINTWISE - set(again))
    if kept:
        raise AssertionError(f"not recomputed in backward: {', '.join(kept)}; the policy should "
                             "save only matrix products and attention, and let pointwise "
                             "operations and normalisations be recomputed "
                             "(CheckpointPolicy.PREFER_RECOMPUTE)")
    hb, hc = held(base), held(cand)
    if hc >= hb:
        raise AssertionError(f"bytes held for backward: {hc:,}, no fewer than the baseline's "
                             f"{hb:,} {_where(base, hidden)}")
    print(f"selective (batch {batch}{', hidden draw' if hidden else ''}): gradients equal; "
          f"recomputed {', '.join(sorted(again))}; no matrix product recomputed; held for "
          f"backward {1 - hc / hb:.0%} lower")


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores: the page's four steps (peak, held, step time) and the
    segment sweep, measured with the CUDA caching allocator. (dry: the same walk on this CPU's meter, for `--dry-run`.)"""
    if not dry and memory.resolve_backend(None) != "cuda":
        raise RuntimeError("no GPU: chapter 11 records nothing on a CPU-only machine")
    steps = {}
    for how in ("plain", "each", "sequential", "selective"):
        d = observe(page_setup, how)
        m = measurement(d)
        steps[how] = {"peak": m.peak, "held": held(d), "device": m.device}
    times = step_times({h: (page_setup, (h,), {}) for h in steps})
    for how, seconds in times.items():
        steps[how]["seconds"] = seconds
    return {"steps": steps, "sweep": segment_sweep(), "sqrt_depth": math.sqrt(DEPTH)}

"""Chapter 12, gradient accumulation: the page's model and demos, the exercise's baseline, the checks.

Accumulation runs a big batch as k micro-batches, one forward and backward each, and lets the
gradients add up in `.grad` before the optimizer's one step. Each micro-batch's graph is freed
by its backward, so the activations alive at once are those of one micro-batch: about 1/k of
the big batch's. The gradients are the big batch's when each micro-batch's loss is weighted by
its share of the big batch's loss: 1/k for a mean over equal micro-batches, and for a mean over
tokens of padded sequences, the micro-batch's real tokens over the big batch's.

The page's model is chapter 6's MLP (`memory.make_mlp`) on an MSE loss (`page_setup`, k
micro-batches of batch/k rows); its demos measure memory against the micro-batch size, what
BatchNorm and dropout change, and DistributedDataParallel's `no_sync`. The exercise's baseline
(`baseline_setup`) is a small token model (embedding, MLP, a head over VOCAB tokens) trained on
padded sequences with the mean cross-entropy over real tokens; sequences come sorted by length,
as a bucketing loader hands them out, so that micro-batches hold very different token counts.

The checks grade a student's `accum_setup(batch, seed, k)` against `baseline_setup`, both
observed by `memory.watch.observe`: (a) every gradient equals the big batch's; (b) in the
measured step: the same gradients, the model run on k micro-batches of batch/k rows, one
optimizer step, and the activation peak (the most bytes of the step's own tensors alive at
once, gradients left out) within ACT_SLACK of 1/k of the big batch's, plus the fixed costs
(measured: the baseline's activation peak extrapolated to a batch of 0 from batch and batch/2);
hidden: fresh draws, and the meter's peak measured again in fresh processes. (c) a student's
`micro_weights(targets, k)`: the weight of each micro-batch's mean token loss, n_i / N.

Known limitations: gradients are compared after the second step, so an optimizer that differs
from the baseline's also fails (a); BatchNorm's and dropout's effects are shown on the page,
not graded.
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import random
import shutil

import torch
import torch.nn.functional as F
from torch import nn

from . import memory
from .answers import probe
from .memory.timing import step_times
from .memory.watch import gradient_gap, measurement, observe, require_same_gradients

SLUG = "ch12_accumulation"
FALLBACK = ("Everything runs on the CPU here; the meter's storage tracker and the course's watch "
            "count the same tensor bytes a GPU would hold, so the graded reductions are real. "
            "Times are the CPU's.")
ACT_SLACK = 0.10          # COURSE.md: the activation peak within 10% of 1/k, plus fixed costs
GRAD_RTOL = 1e-4          # of each gradient's largest magnitude
WIDTH, DEPTH, BATCH = 256, 4, 1024                 # the page's MLP; one activation is 1 MiB
VOCAB, D_MODEL, HIDDEN, SEQ, PAD = 512, 64, 128, 32, 0
EX_BATCH, EX_K = 32, 4
DRAWS = ((24, 3), (32, 4), (48, 4), (32, 2), (48, 3))   # hidden (batch, k): batch/k of 8 to 16


def device() -> str:
    return memory.resolve_backend(None)


# ---------------------------------------------------------------- the page's model
def page_model(seed: int = 0, norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """Chapter 6's MLP, DEPTH Linear(WIDTH, WIDTH) with ReLU between; optionally a BatchNorm1d
    after the first ReLU, or a Dropout after every ReLU (the page's what-changes demos)."""
    model = memory.make_mlp([WIDTH] * (DEPTH + 1), device=device(), seed=seed)
    if norm:
        model.insert(2, nn.BatchNorm1d(WIDTH).to(device()))
    if dropout:
        for i in range(2 * DEPTH - 3, 0, -2):          # after each ReLU, last first
            model.insert(i + 1, nn.Dropout(dropout))
    return model


def page_data(batch: int = BATCH, seed: int = 0):
    g = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(batch, WIDTH, generator=g)
    return x.to(device()), torch.tanh(x.flip(1)).to(device())


def page_setup(k: int = 1, batch: int = BATCH, seed: int = 0, scale: bool = True,
               norm: bool = False, dropout: float = 0.0) -> dict:
    """One optimizer step over `batch` rows, as k micro-batches of batch/k rows: each one's MSE
    loss (times 1/k when `scale`) backward into the same .grad, then Adam steps once."""
    model = page_model(seed, norm, dropout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    x, y = page_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=x.device)
        for xb, yb in zip(x.chunk(k), y.chunk(k)):
            loss = F.mse_loss(model(xb), yb)
            (loss / k if scale else loss).backward()     # adds into .grad
            total += loss.detach() / k
        opt.step()
        return total
    return {"step": step, "model": model, "optimizer": opt}


def sweep(ks=(1, 2, 4, 8, 16, 32), batch: int = BATCH) -> list[dict]:
    """For each k: the meter's peak, the watch's activation peak, what one backward finds held,
    and the step's time (CPU time on a CPU, the least of several)."""
    times = step_times({k: (page_setup, (k, batch), {}) for k in ks}, repeat=5)
    rows = []
    for k in ks:
        d = observe(page_setup, k, batch)
        m = measurement(d)
        rows.append({"k": k, "micro": batch // k, "peak": m.peak, "activation_peak": d["activation_peak"],
                     "held": max(h["device"] for h in d["held"]), "gradients": m.persistent["gradients"],
                     "seconds": times[k]})
    return rows


def fixed_costs(peaks: dict[int, int]) -> int:
    """The bytes that do not grow with the batch: a straight line through the activation peaks
    at two batch sizes {batch: bytes}, read at a batch of 0."""
    (b1, p1), (b2, p2) = sorted(peaks.items())[:2]
    return round(p1 - (p2 - p1) * b1 / (b2 - b1))


def what_changes(k: int = 4, seed: int = 0) -> dict[str, float]:
    """Largest gradient difference from the big batch's (relative to its largest value) with k
    micro-batches, for the plain MLP, the loss left unscaled, a BatchNorm and a Dropout; and how
    far BatchNorm's running mean moves from the big batch's."""
    out = {}
    for name, kw in (("plain", {}), ("loss not divided by k", {"scale": False}),
                     ("BatchNorm1d", {"norm": True}), ("Dropout(0.1)", {"dropout": 0.1})):
        model_kw = {key: v for key, v in kw.items() if key != "scale"}
        big = observe(page_setup, 1, 256, seed, rng=seed, **model_kw)
        acc = observe(page_setup, k, 256, seed, rng=seed, **kw)
        gap = gradient_gap(acc["grads"], big["grads"], rtol=0.0)
        out[name] = 0.0 if gap is None else gap[1]
    means = []
    for kk in (1, k):
        spec = memory.build(page_setup, kk, 256, seed, norm=True)
        spec.step()
        means.append(spec.model[2].running_mean.detach().cpu())
    out["BatchNorm running_mean"] = float((means[1] - means[0]).abs().max() / means[0].abs().max())
    return out


def ddp_allreduces(k: int = 4) -> dict[str, int]:
    """All-reduces DistributedDataParallel launches for one accumulated step of k micro-batches,
    without and with `no_sync()` on all but the last; a one-process gloo group on this machine."""
    import tempfile

    import torch.distributed as dist
    # a file store, not a TCP port: a port found free can be taken by another process before
    # the group binds it (seen once: the page's build waited on it for 10 minutes)
    store = tempfile.mkdtemp(prefix="ddp-")
    dist.init_process_group("gloo", init_method=f"file://{store}/store", rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=60))
    try:
        torch.manual_seed(0)
        ddp = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(16, 16), nn.ReLU(),
                                                                nn.Linear(16, 1)))
        calls = []

        def counted(state, bucket):
            calls.append(bucket.buffer().numel())
            fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
            return fut.then(lambda f: f.value()[0])
        ddp.register_comm_hook(None, counted)
        x, out = torch.randn(8 * k, 16), {}
        for name, skip in (("without no_sync", False), ("with no_sync", True)):
            calls.clear()
            for i, xb in enumerate(x.chunk(k)):
                with ddp.no_sync() if skip and i < k - 1 else contextlib.nullcontext():
                    (ddp(xb).sum() / k).backward()
            out[name] = len(calls)
        return out
    finally:
        dist.destroy_process_group()
        shutil.rmtree(store, ignore_errors=True)


# ---------------------------------------------------------------- the exercise's baseline
def make_model(seed: int = 0):
    """Embedding(VOCAB, D_MODEL), Linear, GELU, Linear to VOCAB logits, and its Adam."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Embedding(VOCAB, D_MODEL), nn.Linear(D_MODEL, HIDDEN), nn.GELU(),
                          nn.Linear(HIDDEN, VOCAB)).to(device())
    return model, torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)


def make_data(batch: int = EX_BATCH, seed: int = 0):
    """x, y: (batch, SEQ) token ids, y the next token of x; each sequence has a random length
    from SEQ/8 to SEQ and is padded with PAD after it; sequences sorted longest first."""
    g = torch.Generator().manual_seed(30_000 + seed)
    lengths = torch.randint(SEQ // 8, SEQ + 1, (batch,), generator=g).sort(descending=True).values
    tokens = torch.randint(1, VOCAB, (batch, SEQ + 1), generator=g)
    tokens = tokens * (torch.arange(SEQ + 1) <= lengths[:, None])      # PAD (0) after the end
    return tokens[:, :-1].contiguous().to(device()), tokens[:, 1:].contiguous().to(device())


def baseline_setup(batch: int = EX_BATCH, seed: int = 0, k: int = EX_K) -> dict:
    """The exercise's baseline: the whole batch at once (k is unused: the candidate's split).
    Loss: cross-entropy averaged over the real (non-PAD) target tokens of the batch."""
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(x)                                         # (batch, SEQ, VOCAB)
        loss = F.cross_entropy(logits.view(-1, VOCAB), y.view(-1), ignore_index=PAD)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


# ---------------------------------------------------------------- the checks
def _draw(hidden: bool) -> tuple[int, int, int]:
    if not hidden:
        return EX_BATCH, EX_K, 0
    batch, k = random.choice(DRAWS)
    return batch, k, random.randrange(1, 10**6)


def _probe_step(setup, batch: int, seed: int, k: int) -> dict:
    """Runs in the measuring process: the setup observed (measured, watched), as data."""
    return observe(setup, batch=batch, seed=seed, k=k, rng=seed, like="baseline_setup")


@functools.lru_cache(maxsize=8)
def _reference(batch: int, seed: int) -> dict:
    return _probe_step(baseline_setup, batch, seed, 1)


def _same_gradients(cand: dict, base: dict, batch: int, k: int, seed: int) -> None:
    require_same_gradients(
        cand["grads"], base["grads"], GRAD_RTOL, f"batch {batch} in {k} micro-batches, seed {seed}",
        "The big batch's loss is a mean over its real tokens: each micro-batch's summed token loss "
        "must be divided by the big batch's token count, not averaged and divided by k",
        of="the big batch's")


def check_gradients(setup, hidden=False):
    """(a) After one step and in the second, every gradient equals the big batch's."""
    batch, k, seed = _draw(hidden)
    base, cand = _reference(batch, seed), probe(setup, _probe_step, batch=batch, seed=seed, k=k)
    _same_gradients(cand, base, batch, k, seed)
    print(f"gradients (batch {batch} in {k} micro-batches{', hidden draw' if hidden else ''}): "
          f"all {len(base['grads'])} equal to the big batch's; loss {cand['loss']:.5f} "
          f"(big batch: {base['loss']:.5f})")


def check_memory(setup, hidden=False):
    """(b) In the measured step: the same gradients, k forward passes of batch/k rows, one
    optimizer step, and the activation peak within ACT_SLACK of 1/k of the big batch's plus
    the fixed costs. Hidden: a fresh draw, and the meter's peak again in fresh processes."""
    batch, k, seed = _draw(hidden)
    base, cand = _reference(batch, seed), probe(setup, _probe_step, batch=batch, seed=seed, k=k)
    _same_gradients(cand, base, batch, k, seed)
    micro = batch // k
    if cand["rows"] != [micro] * k:
        raise AssertionError(f"the model ran on batches of {cand['rows']} rows; accumulation runs it "
                             f"on {k} micro-batches of {micro} rows each (x.chunk(k)), one backward each")
    if cand["optimizer_steps"] != 1:
        raise AssertionError(f"the optimizer stepped {cand['optimizer_steps']} times; it steps once, "
                             "after the last micro-batch's backward")
    half = _reference(batch // 2, seed)
    fixed = max(0, fixed_costs({batch: base["activation_peak"], batch // 2: half["activation_peak"]}))
    want = (base["activation_peak"] - fixed) / k
    need = int((1 + ACT_SLACK) * want + fixed)
    got = cand["activation_peak"]
    where = (f"[{measurement(base).backend}: the course's watch, the step's own tensors without "
             f"gradients{', hidden draw' if hidden else ''}]")
    if got > need:
        raise AssertionError(
            f"activation peak: candidate {got:,} bytes, big batch {base['activation_peak']:,}; with "
            f"{k} micro-batches it should be at most {need:,} (1/{k} of the big batch's, plus "
            f"{ACT_SLACK:.0%}, plus {fixed:,} bytes of fixed costs) {where}. Does each micro-batch's "
            "backward run before the next forward? Keeping the losses and calling backward once "
            "at the end keeps every micro-batch's graph alive")
    line = ""
    if hidden:    # the meter's own figure, both setups measured in fresh processes
        b2, c2 = memory.measure_pair(f"autograder.{SLUG}:baseline_setup", setup, hidden=True,
                                     labels=("big batch", "accumulated"), batch=batch, seed=seed, k=k)
        limit = int((1 + ACT_SLACK) * b2.peak / k + b2.persistent["gradients"])
        if c2.peak > limit:
            raise AssertionError(f"peak above baseline (fresh processes): candidate {c2.peak:,} "
                                 f"bytes, big batch {b2.peak:,}; needs at most {limit:,} (1/{k} "
                                 "plus 10%, plus one copy of the gradients)")
        line = f"; the meter's peak {c2.peak / b2.peak:.2f} of the big batch's in fresh processes"
    print(f"memory (batch {batch} in {k} micro-batches of {micro}{', hidden draw' if hidden else ''}): "
          f"gradients equal, one optimizer step; activation peak {got:,} bytes = {got / base['activation_peak']:.3f} "
          f"of the big batch's (1/{k} = {1 / k:.3f}; at most {need:,}){line}")


def _weights_case(rng: random.Random, batch: int, k: int):
    """Padded targets (batch, SEQ) with random lengths, some sequences empty, never all (a batch
    without a real token has no mean loss to weigh); the reference."""
    lengths = [rng.choice([0, rng.randint(1, SEQ)]) for _ in range(batch)]
    if not any(lengths):
        lengths[0] = rng.randint(1, SEQ)
    lengths.sort(reverse=True)
    t = torch.tensor([[rng.randint(1, VOCAB - 1) if j < n else PAD for j in range(SEQ)] for n in lengths])
    counts = [int((c != PAD).sum()) for c in t.chunk(k)]
    return t, [c / sum(counts) for c in counts]


def check_weights(fn, hidden=False):
    """(c) fn(targets, k): the weight of each of the k micro-batches' mean token losses (their
    weighted sum is the big batch's mean), on random padded targets."""
    rng = random.Random(None if hidden else 5)
    cases = [(32, 4), (24, 3), (16, 2)] + [(rng.choice([12, 20, 40]), rng.choice([2, 4])) for _ in range(6 if hidden else 2)]
    for batch, k in cases:
        t, want = _weights_case(rng, batch, k)
        got = fn(t.clone(), k)
        try:
            got = [float(w) for w in got]
        except (TypeError, ValueError):
            raise AssertionError(f"micro_weights should return {k} numbers, got {got!r:.100}") from None
        if len(got) != k:
            raise AssertionError(f"micro_weights should return {k} numbers (one per micro-batch), got {len(got)}")
        for i, (g, w) in enumerate(zip(got, want)):
            if not abs(g - w) <= 1e-6:
                hint = (" (1/k is right only when every micro-batch has as many real tokens)"
                        if abs(g - 1 / k) < 1e-6 else "")
                raise AssertionError(f"batch {batch} in {k} micro-batches: weight {i} should be "
                                     f"{w:.6f} (its real tokens over the batch's), got {g:.6f}{hint}")
    print(f"micro_weights: {len(cases)} padded batches right")


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores: the page's sweep over k, measured with the CUDA caching
    allocator, step times on the GPU. (dry: the same walk on this CPU's meter, for `--dry-run`.)"""
    if not dry and memory.resolve_backend(None) != "cuda":
        raise RuntimeError("no GPU: chapter 12 records nothing on a CPU-only machine")
    return {"sweep": sweep(), "device": "cpu (dry run)" if dry else torch.cuda.get_device_name()}

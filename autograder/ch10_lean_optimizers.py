"""Chapter 10, leaner optimizers: the baseline, the page's technique, and the exercise's checks.

An optimizer's state is persistent: made on the first step, kept to the last. Adam keeps two
running averages per trained parameter (2x the parameter bytes; 3x with amsgrad), SGD with
momentum one velocity (1x), plain SGD nothing (0). The swap is a memory technique only if the
model still learns: plain SGD needs a larger learning rate than Adam's, and a cosine schedule
that anneals it to zero lets it settle at the end of a short run.

The task: classify points of a Gaussian mixture (CLASSES classes, BLOBS blobs each, in IN
dimensions; the blobs overlap, so no model reaches 100%) with an MLP
IN -> HIDDEN -> HIDDEN -> CLASSES, trained for STEPS steps on mini-batches drawn from a fixed
training set, and tested on held-out points. All of it depends on `seed` only.

The page swaps Adam for plain SGD on a cosine schedule (`sgd_setup`) and predicts the state of
Adam and SGD (`state_bytes`); the exercise asks other cases, whose answers live in solutions/
only. The checks grade a student's `warm_sgd_setup(batch, seed, steps)` (a setup in the meter's
sense: {"step", "model", "optimizer"}) against this module's `adam_setup`, never the notebook's
copy: (a) the learning rate rises linearly over a warm-up, the first steps // WARMUP_SHARE
steps, to its peak, then falls along a cosine to 0 by `steps`, and the test accuracy keeps at
least ACC_KEPT of Adam's on the same seed (hidden: a fresh seed and step count);
(b) the meter measures optimizer state of exactly 0 bytes where Adam's is exactly 2x the
parameter bytes, and the step's peak, everything live included, lower by at least Adam's state
(hidden: in fresh processes, fresh seed and batch); (c) a student's `state_bytes(optimizer)`
predicts, before any step, the state bytes the meter measures after one, exactly, for the
optimizers the page does not count (RMSprop and its variants, Adamax, NAdam, RAdam, Adadelta,
Rprop, and Adafactor, whose second moment is factored); hidden: fresh random models and
optimizers; the answer runs where the student's code runs, the measurement of the course's
own setup where the check runs. The expected figures are the meter's, never a formula's.

Why "the peak with everything live" (the meter's `total`) and not the peak above the
baseline: state is persistent, so it is live before the step and sits in the baseline. Where
the step's peak falls in backward (batch 128 and up here), Adam and SGD add the same bytes
above their baselines; the totals differ by the state (and Adam's update temporaries, where
the update is the peak). Comparing totals in one process is fair only with nothing of one
setup alive while the other is measured: the checks measure Adam first and drop it.

Known limitations: the meter counts state tensors of at least one dimension, so Adam's
per-tensor `step` counters (0-dim, 4 or 8 bytes each, on the CPU unless capturable or fused)
are "other", not optimizer state; accuracies are from one seed at a time, not averages.
"""
from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F
from torch import nn

from . import memory
from .answers import answer_int, probe

SLUG = "ch10_lean_optimizers"
FALLBACK = ("The optimizers run on the CPU here; the meter's CPU storage tracker counts the "
            "same state tensors a GPU would hold, so the graded bytes are exact.")
IN, HIDDEN, CLASSES, BLOBS, SPREAD = 32, 256, 10, 4, 1.5
N_TRAIN, N_TEST = 4096, 2048
BATCH, STEPS = 128, 200
ADAM_LR, SGD_LR = 1e-3, 1.0
ACC_KEPT = 0.97     # the article: "about 97% accuracy kept"; here at least 97% of Adam's
TARGET = {"adam": 2, "sgd_momentum": 1, "sgd": 0}   # COURSE.md: state = copies x parameter bytes
WARMUP_SHARE = 10   # the exercise's warm-up: the first steps // 10 steps (at least one)


# ---------------------------------------------------------------- the task
def make_model(seed: int = 0) -> nn.Sequential:
    """IN -> HIDDEN -> HIDDEN -> CLASSES with ReLU between, on the meter's device."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, CLASSES)).to(memory.resolve_backend())


def make_data(seed: int = 0):
    """(x_train, y_train, x_test, y_test): a mixture of CLASSES * BLOBS Gaussian blobs, blob k
    labelled k % CLASSES. Centers ~ N(0, I), points = center + SPREAD * N(0, I)."""
    g = torch.Generator().manual_seed(10_000 + seed)
    centers = torch.randn(CLASSES * BLOBS, IN, generator=g)
    which = torch.randint(0, CLASSES * BLOBS, (N_TRAIN + N_TEST,), generator=g)
    x = centers[which] + SPREAD * torch.randn(N_TRAIN + N_TEST, IN, generator=g)
    y = which % CLASSES
    dev = memory.resolve_backend()
    return (x[:N_TRAIN].to(dev), y[:N_TRAIN].to(dev), x[N_TRAIN:].to(dev), y[N_TRAIN:].to(dev))


def batches(batch: int = BATCH, seed: int = 0):
    """A function that returns the next mini-batch (x, y) of the training set, each call."""
    x, y, _, _ = make_data(seed)
    g = torch.Generator().manual_seed(seed)

    def next_batch():
        idx = torch.randint(0, N_TRAIN, (batch,), generator=g).to(x.device)
        return x[idx], y[idx]
    return next_batch


def adam_setup(batch: int = BATCH, seed: int = 0, steps: int = STEPS) -> dict:
    """The baseline: cross-entropy on a mini-batch, backward, Adam at a constant rate."""
    model = make_model(seed)
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR, foreach=True)
    next_batch = batches(batch, seed)

    def step():
        x, y = next_batch()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


def sgd_setup(batch: int = BATCH, seed: int = 0, steps: int = STEPS) -> dict:
    """The technique: plain SGD (no momentum: no state) at a larger rate, annealed to 0 by a
    cosine schedule over `steps` steps."""
    model = make_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=SGD_LR, momentum=0.0, foreach=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    next_batch = batches(batch, seed)

    def step():
        x, y = next_batch()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sched.step()   # after the optimizer: the rate for the next step
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


# the page's runs: (label, optimizer from params, cosine schedule or not)
VARIANTS = {
    "Adam": (lambda ps: torch.optim.Adam(ps, lr=ADAM_LR, foreach=True), False),
    "Adam, 3x the rate": (lambda ps: torch.optim.Adam(ps, lr=3 * ADAM_LR, foreach=True), False),
    "SGD, cosine": (lambda ps: torch.optim.SGD(ps, lr=SGD_LR, foreach=True), True),
    "SGD, constant rate": (lambda ps: torch.optim.SGD(ps, lr=SGD_LR, foreach=True), False),
    "SGD at Adam's rate, cosine": (lambda ps: torch.optim.SGD(ps, lr=ADAM_LR, foreach=True), True),
    "SGD + momentum 0.9, cosine": (
        lambda ps: torch.optim.SGD(ps, lr=SGD_LR / 10, momentum=0.9, foreach=True), True),
}


def _setup(make_opt, cosine: bool, batch: int, seed: int, steps: int) -> dict:
    model = make_model(seed)
    opt = make_opt(model.parameters())
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if cosine else None
    next_batch = batches(batch, seed)

    def step():
        x, y = next_batch()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}


def variant_setup(name: str, batch: int = BATCH, seed: int = 0, steps: int = STEPS) -> dict:
    """One of the page's VARIANTS, built like adam_setup and sgd_setup."""
    return _setup(*VARIANTS[name], batch, seed, steps)


# the page's tuning: both optimizers over one grid of rates, each constant and on a cosine schedule
RATES = [10 ** (k / 2) for k in range(-8, 2)]     # 1e-4, 3.2e-4, ..., 1, 3.2


def rate_setup(optimizer: str, lr: float, cosine: bool, batch: int = BATCH, seed: int = 0,
               steps: int = STEPS) -> dict:
    """"Adam" or plain "SGD" (no momentum) at rate `lr`, constant or annealed by a cosine
    schedule over `steps`: one run of the page's tuning, built like adam_setup."""
    make = {"Adam": torch.optim.Adam, "SGD": torch.optim.SGD}[optimizer]
    return _setup(lambda ps: make(ps, lr=lr, foreach=True), cosine, batch, seed, steps)


def accuracy(model: nn.Module, seed: int = 0) -> float:
    """The fraction of the held-out points of `seed`'s task the model labels right."""
    _, _, x, y = make_data(seed)
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train(setup, steps: int = STEPS, batch: int = BATCH, seed: int = 0, progress=None) -> dict:
    """Run `steps` steps of a setup; return its losses, learning rates and test accuracy (and
    nothing that keeps the model alive: a later in-process measurement would count it)."""
    spec = memory.build(setup, batch=batch, seed=seed, steps=steps)
    losses, lrs = [], []
    for _ in memory.progress_range(steps, progress):
        lrs.append(spec.optimizer.param_groups[0]["lr"])
        losses.append(float(spec.step()))
    acc = accuracy(spec.model, seed)
    if progress:    # the summary line also shows on a static page
        print(f"{progress}: loss {losses[0]:.3f} -> {losses[-1]:.3f}, test accuracy {acc:.1%}")
    return {"losses": losses, "lrs": lrs, "accuracy": acc}


# ---------------------------------------------------------------- optimizer state on paper
def _groups(params, trunk_momentum: float, head_momentum: float) -> list[dict]:
    """Two parameter groups: the first Linear (trunk) and the rest (head)."""
    params = list(params)
    return [{"params": params[:2], "momentum": trunk_momentum},
            {"params": params[2:], "momentum": head_momentum}]


# kind -> the optimizer over model.parameters(); foreach=True everywhere (CUDA's default)
OPTIMIZERS = {
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01, foreach=True),
    "adam_amsgrad": lambda ps: torch.optim.Adam(ps, lr=1e-3, amsgrad=True, foreach=True),
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=True),
    "sgd_weight_decay": lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=1e-4, foreach=True),
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, foreach=True),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                               foreach=True),
    "sgd_two_groups": lambda ps: torch.optim.SGD(_groups(ps, 0.0, 0.9), lr=0.1, foreach=True),
}


# the exercise's optimizers (part c): none of them is on the page
OTHERS = {
    "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=1e-3, foreach=True),
    "rmsprop_momentum": lambda ps: torch.optim.RMSprop(ps, lr=1e-3, momentum=0.9, foreach=True),
    "rmsprop_centered": lambda ps: torch.optim.RMSprop(ps, lr=1e-3, centered=True, foreach=True),
    "rmsprop_two_groups": lambda ps: torch.optim.RMSprop(_groups(ps, 0.9, 0.0), lr=1e-3,
                                                         centered=True, foreach=True),
    "adamax": lambda ps: torch.optim.Adamax(ps, lr=1e-3, foreach=True),
    "nadam": lambda ps: torch.optim.NAdam(ps, lr=1e-3, foreach=True),
    "radam": lambda ps: torch.optim.RAdam(ps, lr=1e-3, weight_decay=0.01, foreach=True),
    "adadelta": lambda ps: torch.optim.Adadelta(ps, foreach=True),
    "rprop": lambda ps: torch.optim.Rprop(ps, lr=1e-3, foreach=True),
    "adafactor": lambda ps: torch.optim.Adafactor(ps, lr=1e-2, foreach=True),
}


def optimizer_setup(kind: str, widths=(48, 32, 16), frozen: int = 0, precision: str = "float32",
                    batch: int = 8, seed: int = 0, device: str | None = None) -> dict:
    """The shared MLP of Linear `widths` (chapter 6's; the first `frozen` Linears frozen, still
    handed to the optimizer) with optimizer `kind`, and an MSE step: a setup for the meter, on
    its device unless told."""
    dev = device or memory.resolve_backend()
    model = memory.make_mlp(list(widths), frozen, True, precision, dev, seed)
    opt = {**OPTIMIZERS, **OTHERS}[kind](model.parameters())
    x = torch.randn(batch, widths[0], device=dev, dtype=memory.DTYPES[precision])
    y = torch.randn(batch, widths[-1], device=dev, dtype=memory.DTYPES[precision])
    return memory.mse_step(model, opt, x, y)


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """The page's prediction, for Adam and SGD (the exercise asks other optimizers): bytes of state (tensors of at least one dimension) that
    `optimizer` will hold after its first step, predicted before it. Each trained parameter
    (requires_grad) gets `copies` tensors of its own shape and dtype; a frozen one gets none."""
    total = 0
    for group in optimizer.param_groups:
        if isinstance(optimizer, torch.optim.Adam):          # AdamW is an Adam
            copies = 3 if group["amsgrad"] else 2            # exp_avg, exp_avg_sq (+ max)
        elif isinstance(optimizer, torch.optim.SGD):
            copies = 1 if group["momentum"] != 0 else 0      # momentum_buffer
        else:
            raise TypeError(f"no state model for {type(optimizer).__name__}")
        total += copies * sum(p.numel() * p.element_size() for p in group["params"]
                              if p.requires_grad)
    return total


# ---------------------------------------------------------------- update temporaries
def update_setup(kind: str = "adam", impl: str = "foreach", widths=(IN, HIDDEN, HIDDEN, CLASSES),
                 seed: int = 0) -> dict:
    """The optimizer's update alone: Linear `widths` with fixed random gradients, and a step
    that is only `opt.step()`. impl: "foreach" (one op over all tensors), "for-loop" (one
    tensor at a time), "fused" (one kernel per group, no temporaries) or "default" (what torch
    picks when not told: foreach for CUDA tensors, the for-loop otherwise)."""
    torch.manual_seed(seed)
    dev = memory.resolve_backend()
    model = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])]).to(dev)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    kw = {"fused": {"fused": True}, "foreach": {"foreach": True}, "for-loop": {"foreach": False},
          "default": {}}[impl]
    make = {"adam": lambda ps: torch.optim.Adam(ps, lr=1e-3, **kw),
            "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, **kw),
            "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1, **kw)}[kind]
    opt = make(model.parameters())
    return {"step": opt.step, "model": model, "optimizer": opt}


# ---------------------------------------------------------------- the checks
def _fmt(n: int) -> str:
    return f"{n:,} bytes ({n / 2**20:.2f} MiB)"


def cosine_rate(lr0: float, t: int, steps: int) -> float:
    """The rate a cosine schedule from lr0 to 0 over `steps` steps gives step t (0-based)."""
    return lr0 * (1 + math.cos(math.pi * t / steps)) / 2


def warmup_cosine_rate(peak: float, t: int, steps: int) -> float:
    """The exercise's rate for step t (0-based): up a straight line over the first
    w = max(1, steps // WARMUP_SHARE) steps, peak * (t + 1) / w, then from the peak down half a
    cosine to 0 over the remaining steps - w."""
    w = max(1, steps // WARMUP_SHARE)
    if t < w:
        return peak * (t + 1) / w
    return cosine_rate(peak, t - w, steps - w)


def _training_probe(setup, seed: int, steps: int) -> dict:
    """Where the setup runs: the learning rate before each step, and the test accuracy after."""
    spec = memory.build(setup, like="adam_setup", batch=BATCH, seed=seed, steps=steps)
    lrs = []
    for _ in range(steps):
        lrs.append(float(spec.optimizer.param_groups[0]["lr"]))
        spec.step()
    return {"lrs": lrs, "accuracy": accuracy(spec.model, seed)}


def check_training(setup, hidden=False):
    """(a) The rate rises over the warm-up to its peak, then follows a cosine to 0 by `steps`;
    the test accuracy keeps at least ACC_KEPT of Adam's, from the same weights and batches."""
    seed, steps = (0, STEPS) if not hidden else (random.randrange(1, 10**6), random.choice([160, 200]))
    base = train(adam_setup, steps=steps, seed=seed)["accuracy"]
    run = probe(setup, _training_probe, seed, steps)
    w = max(1, steps // WARMUP_SHARE)
    lr0 = max(run["lrs"])
    for t, lr in enumerate(run["lrs"]):
        want = warmup_cosine_rate(lr0, t, steps)
        if not abs(lr - want) <= 1e-6 * lr0:
            raise AssertionError(
                f"before step {t + 1} of {steps} the learning rate is {lr:.6g}; with a peak of "
                f"{lr0:g}, a linear warm-up over the first {w} steps (peak x step / {w}) and a "
                f"cosine from the peak to 0 over the other {steps - w} has it at {want:.6g}. "
                "Make the schedule in the setup (a LambdaLR of that factor, or a SequentialLR "
                "of a LinearLR and a CosineAnnealingLR) and call its step() after opt.step(), "
                "once per training step")
    got = run["accuracy"]
    need = ACC_KEPT * base
    if got < need:
        raise AssertionError(
            f"test accuracy {got:.1%} after {steps} steps (seed {seed}), Adam's {base:.1%}: "
            f"needs at least {ACC_KEPT:.0%} of it, {need:.1%}. Plain SGD moves each weight by "
            "lr x gradient, with no per-weight scaling: it needs a far larger starting rate "
            f"than Adam's {ADAM_LR:g} (this task trains well from about {SGD_LR:g})")
    print(f"training (seed {seed}, {steps} steps): warm-up over {w} steps to {lr0:g}, then cosine; test accuracy "
          f"{got:.1%} against Adam's {base:.1%} ({got / base:.0%} of it, needs {ACC_KEPT:.0%})")


def _plain_sgd(run: memory.Trial) -> float:
    """How far the measured step's update is from plain SGD's, -lr x gradient (0: exactly it),
    beyond the rounding of a float32 parameter (up to one unit in its last place per update:
    at a small rate that is a visible share of the update itself)."""
    want = -run.lr * run.grad
    if run.after.shape != want.shape or not want.size:
        return float("inf")
    scale = float(abs(want).max()) or 1.0
    rounding = 2.0 ** -23 * abs(run.after)
    return float((abs(run.after - run.before - want) - rounding).max()) / scale


def check_memory(setup, hidden=False):
    """(b) Optimizer state: Adam's exactly 2x the parameter bytes, the candidate's exactly 0;
    the peak, everything live included, lower by at least Adam's state; and the measured step is
    plain SGD's update (parameters moved by exactly -lr x gradient). Hidden: both runs in fresh
    processes, on a fresh seed and batch."""
    batch, seed = (BATCH, 0) if not hidden else (random.choice([64, 96, 160, 192, 256]),
                                                 random.randrange(1, 10**6))
    kw = dict(steps=3, measure_at=2, hidden=hidden, like="adam_setup", batch=batch, seed=seed)
    # Adam first, then the candidate, each run with nothing of the other alive: the figure
    # compared is the peak with everything live in the process included
    ref = memory.trial(f"autograder.{SLUG}:adam_setup", perturb="draw", label="Adam", **kw)
    run = memory.trial(setup, perturb=ref.perturb, label="SGD", **kw)
    adam, cand = ref.measurement, run.measurement
    if run.extra.get("untrained"):
        raise AssertionError("the optimizer returned does not hold every parameter of the model: "
                             "return the optimizer that trains it")
    where = f"[{adam.backend}: {adam.method}{', fresh processes' if run.isolated else ''}]"
    params, state = adam.persistent["parameters"], adam.persistent["optimizer_state"]
    if state != TARGET["adam"] * params:    # the course's own figure; a failure is ours
        raise AssertionError(f"Adam's state measured {_fmt(state)}, not 2 x the parameter bytes "
                             f"{_fmt(params)}: the baseline is not what the course says {where}")
    if cand.persistent["parameters"] != params:
        raise AssertionError(f"parameters measured {_fmt(cand.persistent['parameters'])}, the "
                             f"baseline's {_fmt(params)}: keep the model as make_model builds it")
    got = cand.persistent["optimizer_state"]
    if got != 0:
        copies = got / params
        why = {1.0: ": one copy of the parameters, SGD's momentum buffer; plain SGD "
                    "(momentum=0) keeps none",
               2.0: ": two copies of the parameters, Adam's moments; replace Adam by SGD"}
        raise AssertionError(f"optimizer state measured {_fmt(got)} ({copies:g} x the parameter "
                             f"bytes {params:,}), needs exactly 0{why.get(copies, '')} {where}")
    need = adam.total - state
    if cand.total > need:
        raise AssertionError(
            f"peak including everything live: candidate {_fmt(cand.total)}, Adam's "
            f"{_fmt(adam.total)}; without Adam's {_fmt(state)} of state it should be at most "
            f"{_fmt(need)} (measured {adam.total - cand.total:,} bytes lower). Something else "
            "stays alive between steps: a second optimizer, or gradients kept by "
            f"zero_grad(set_to_none=False)? {where}")
    memory.require_same_work(run, ref, loss_rtol=None, update=False)
    off = _plain_sgd(run)
    if not off <= 1e-3:
        raise AssertionError(f"the measured step did not move the parameters by -lr x gradient "
                             f"(off by {off:.2g} of the update): with no optimizer state the update "
                             "must be plain SGD's, and it must be done by the optimizer in the step")
    print(f"memory ({'fresh processes' if run.isolated else 'this process'}, batch {batch}): optimizer "
          f"state 0 bytes, Adam's {state:,} = 2 x {params:,} parameter bytes; peak including "
          f"everything live {cand.total:,} bytes, Adam's {adam.total:,} "
          f"({1 - cand.total / adam.total:.0%} lower); the measured step is plain SGD's")


def _describe(kind, widths, frozen, precision) -> str:
    return (f"{kind} on Linear widths {list(widths)} in {precision}"
            + (f", first {frozen} Linear(s) frozen" if frozen else ""))


def _state_probe(fn, kind, widths, frozen, precision) -> dict:
    """Where the answer runs: its prediction for a fresh optimizer, and whether it stepped it."""
    opt = optimizer_setup(kind=kind, widths=widths, frozen=frozen, precision=precision)["optimizer"]
    before = [p.detach().clone() for g in opt.param_groups for p in g["params"]]
    got = fn(opt)
    after = [p for g in opt.param_groups for p in g["params"]]
    stepped = bool(opt.state) or any(not torch.equal(a, b) for a, b in zip(after, before))
    plain = isinstance(got, (int, float, str, type(None))) or type(got).__module__ == "numpy"
    return {"got": got if plain else repr(got)[:100], "stepped": stepped}


def check_state_bytes(fn, hidden=False):
    """(c) fn(optimizer), asked before the first step, equals the optimizer state bytes the
    meter measures after a step, exactly. Hidden: fresh random models and optimizers."""
    cases = [("rmsprop", (48, 32, 16), 0, "float32"), ("rmsprop_momentum", (40, 24, 24, 8), 0, "float32"),
             ("rmsprop_centered", (32, 64, 16), 1, "bfloat16"),
             ("rmsprop_two_groups", (40, 24, 24, 8), 0, "float32"), ("adamax", (48, 32, 16), 0, "float32"),
             ("nadam", (32, 64, 16), 0, "bfloat16"), ("radam", (16, 48, 8), 1, "float32"),
             ("adadelta", (40, 24, 24, 8), 0, "float32"), ("rprop", (16, 48, 8), 0, "bfloat16"),
             ("adafactor", (48, 32, 16), 0, "float32"), ("adafactor", (40, 24, 24, 8), 1, "bfloat16")]
    if hidden:
        r = random.Random()
        cases = [(r.choice(list(OTHERS)), tuple(8 * r.randint(1, 12) for _ in range(r.randint(3, 5))),
                  r.randint(0, 1), r.choice(["float32", "bfloat16"])) for _ in range(3)]
    for kind, widths, frozen, precision in cases:
        kw = dict(kind=kind, widths=widths, frozen=frozen, precision=precision)
        what = f"state_bytes for {_describe(**kw)}"
        seen = probe(fn, _state_probe, kind, widths, frozen, precision)
        if seen["stepped"]:
            raise AssertionError(f"{what}: the optimizer was stepped inside state_bytes; predict "
                                 "from param_groups and the parameters, before any step")
        got = answer_int(seen["got"], what)
        m = memory.measure(memory.build(optimizer_setup, **kw), label=kind)
        exact = memory.in_tensor_bytes(m, optimizer_setup, **kw)   # a GPU rounds to 512 bytes
        want = exact.persistent["optimizer_state"]
        if got != want:
            raise AssertionError(f"{what}: predicted {got:,} bytes, the meter measured {want:,} "
                                 f"bytes of optimizer state after a step ({exact.persistent})"
                                 f"{memory.also_on(m, exact, lambda x: x.persistent['optimizer_state'])} "
                                 f"[{m.backend}]")
    print(f"state_bytes: {len(cases)} optimizers predicted exactly")


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores for this chapter: Adam, SGD with and without momentum
    measured on the GPU's allocator, and the update's temporaries by implementation."""
    if not dry and memory.resolve_backend(None) != "cuda":   # dry: the same walk on the CPU
        raise RuntimeError("no GPU: chapter 10 records nothing on a CPU-only machine")
    fig = lambda m: {"total": m.total, "peak": m.peak, "persistent": m.persistent,  # noqa: E731
                     "breakdown": m.breakdown, "device": m.device}
    steps = {k: fig(memory.measure_isolated(f"{__name__}:variant_setup", k, label=k))
             for k in ("Adam", "SGD, cosine", "SGD + momentum 0.9, cosine")}
    updates = {f"{k} {i}": memory.measure_isolated(f"{__name__}:update_setup", k, i).peak
               for k in ("adam", "sgd_momentum", "sgd") for i in ("foreach", "for-loop", "fused")}
    return {"steps": steps, "updates": updates}

"""A setup trained for a few steps, one of them measured: the measured run is the checked run.

A memory check must know that the step it measured did the work, not only how many bytes it
took. `trial` trains a setup for `steps` steps in one run and measures step `measure_at`; before
that step it moves every parameter by noise drawn at that moment (`perturb`), so that no loss,
no update can have been computed in advance; it hands back every step's loss, the parameters
just before and after the measured step with their gradients, the optimizer's learning rate, and
what the meter cannot see: CPU time spent by other threads during the measured step, and the
peak of memory allocated outside torch's storages (NumPy arrays, Python objects; tracemalloc).
A check then compares the trial with the baseline's trial on the same noise (`perturb=seed`).

In the notebook (a live setup, `hidden=False`) it runs here; for the grade (`hidden=True`, or
the grader's Remote answer) in a fresh process, with one torch thread so that any other busy
thread is a sign of work hidden from the meter.

Known limitations: a step whose loss is not a scalar gets None; parameters travel flattened to
float32 NumPy vectors (their bytes and dtypes are reported separately), which in the notebook
stay out of any later measurement's baseline.
"""
from __future__ import annotations

import os
import time
import tracemalloc
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import isolation
from ..answers import Remote
from .isolated import _send, _target
from .meter import Measurement, measure, persistent
from .setups import build, resolve


@dataclass(frozen=True)
class Trial:
    losses: list                      # each step's loss (float), None where it was not a scalar
    measurement: Measurement | None   # of step `measure_at`
    dtypes: list[str]                 # the parameters' dtypes after the run
    persistent: dict[str, int]        # parameters, gradients, optimizer state after the run
    perturb: int | None = None        # the seed of the noise added before the measured step
    before: np.ndarray | None = None      # parameters just before the measured step (flat float32)
    after: np.ndarray | None = None       # and just after it
    grad: np.ndarray | None = None        # their gradients after it
    lr: float | None = None           # the optimizer's first learning rate at the measured step
    main_cpu: float = 0.0             # seconds of CPU the measured step's thread used
    other_cpu: float = 0.0            # seconds of CPU other threads used meanwhile
    outside_peak: int = 0             # bytes allocated outside torch's storages at most (tracemalloc)
    isolated: bool = False
    extra: dict = field(default_factory=dict)


def trial(setup, *args, steps: int, measure_at: int | None = None, perturb=None, hidden: bool = False,
          like: str | None = None, label: str = "", timeout: float = 300.0, **kwargs) -> Trial:
    """Train `setup(*args, **kwargs)` for `steps` steps, measuring step `measure_at` (or none).

    perturb: None (no noise), "draw" (noise from a seed drawn in the run, reported back), or a
    seed (the baseline's trial, to repeat the candidate's noise)."""
    if not (hidden or isinstance(setup, Remote) or isolation.grading_now()):
        setup = resolve(setup) if isinstance(setup, str) else setup
        return Trial(**_run(setup, args, kwargs, steps, measure_at, perturb, like, label))
    target = _target(setup, None)
    data = isolation.run(_job, target, [_send(a) for a in args], {k: _send(v) for k, v in kwargs.items()},
                         steps, measure_at, perturb, like, label, timeout=timeout)
    if data.get("measurement") is not None:
        data["measurement"] = Measurement(**{**data["measurement"], "isolated": True})
    return Trial(**{**data, "isolated": True})


def _job(target, args, kwargs, steps, measure_at, perturb, like, label) -> dict:
    """In the child: one torch thread, then the run."""
    torch.set_num_threads(1)
    setup = resolve(*target) if isinstance(target, tuple) else target
    out = _run(setup, args, kwargs, steps, measure_at, perturb, like, label)
    if out["measurement"] is not None:
        out["measurement"] = dict(out["measurement"].__dict__)
    return out


def _loss(out) -> float | None:
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        return float(out.detach().float())
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        return float(out)
    return None


def _flat(tensors) -> np.ndarray:
    """Tensors as one float32 NumPy vector: NumPy memory, which no later measurement counts."""
    ts = [t.detach().reshape(-1).float().cpu().numpy() for t in tensors]
    return np.concatenate(ts) if ts else np.zeros(0, np.float32)


def _noise(params, seed: int) -> None:
    """Move each parameter by Gaussian noise of 5% of its mean magnitude, from `seed`."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in params:
            scale = 0.05 * (float(p.detach().float().abs().mean()) + 1e-3)
            p.add_((torch.randn(p.shape, generator=g) * scale).to(device=p.device, dtype=p.dtype))


def _run(setup, args, kwargs, steps, measure_at, perturb, like, label) -> dict:
    built = build(setup, *args, like=like, **kwargs)
    params = list(built.model.parameters()) if built.model is not None else []
    losses, m, extra = [], None, {}
    seed = int.from_bytes(os.urandom(4), "little") if perturb == "draw" else perturb
    for i in range(steps):
        if i != measure_at:
            losses.append(_loss(built.step()))
            continue
        if seed is not None:
            _noise(params, seed)
        opt = built.optimizer
        extra["lr"] = float(opt.param_groups[0]["lr"]) if opt is not None and opt.param_groups else None
        extra["before"] = _flat(params)
        box: dict = {}

        def measured():
            p0, t0 = time.process_time(), time.thread_time()
            tracemalloc.start()
            try:
                box["loss"] = _loss(built.step())
            finally:
                box["outside"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                box["main"] = time.thread_time() - t0
                box["all"] = time.process_time() - p0

        m = measure(measured, model=built.model, optimizer=built.optimizer, warmup=0, label=label)
        losses.append(box.get("loss"))
        extra.update(after=_flat(params), grad=_flat([p.grad for p in params if p.grad is not None]),
                     main_cpu=box["main"], other_cpu=max(0.0, box["all"] - box["main"]),
                     outside_peak=int(box["outside"]))
    opt = built.optimizer
    held = {id(p) for g in (opt.param_groups if opt is not None else []) for p in g["params"]}
    return {"losses": losses, "measurement": m, "perturb": seed,
            "extra": {"untrained": sum(id(p) not in held for p in params)},
            "dtypes": sorted({str(p.dtype).replace("torch.", "") for p in params}),
            "persistent": persistent(built.model, built.optimizer), **extra}


def require_same_work(candidate: Trial, baseline: Trial, *, loss_rtol: float | None, min_cosine: float = 0.9,
                      update: bool = True, outside_limit: int | None = None) -> None:
    """Raise AssertionError unless the candidate's measured run did the baseline's work: every
    step's loss within `loss_rtol`, the measured step's update pointing the baseline's way
    (`update`: cosine at least `min_cosine`, norm within a factor 2), no other thread busy during
    it, and no more memory outside torch's storages than the step's own peak. `loss_rtol=None`:
    another algorithm than the baseline's (the losses differ by design); each must still be a number.
    `outside_limit`: the most bytes outside torch's storages allowed (default: 256 KiB or the
    step's peak, whichever is more), for steps whose Python objects outweigh a tiny peak."""
    for i, (have, want) in enumerate(zip(candidate.losses, baseline.losses)):
        if have is None:
            raise AssertionError("the step should return the loss (a scalar tensor or a float)")
        if loss_rtol is None:
            if have != have:
                raise AssertionError(f"step {i + 1} of the measured run gave a loss of nan")
        elif not abs(have - want) <= loss_rtol * abs(want):
            raise AssertionError(f"step {i + 1} of the measured run: loss {have:.6f}, the baseline's "
                                 f"{want:.6f}, more than {loss_rtol:.0%} apart: the measured step must "
                                 "train like the baseline's")
    m = candidate.measurement
    if m is None:
        return
    busy = candidate.other_cpu
    if busy > 0.002 and busy > 0.1 * candidate.main_cpu:
        raise AssertionError(f"another thread used {busy * 1e3:.0f} ms of CPU during the measured step "
                             f"(the step's own thread {candidate.main_cpu * 1e3:.0f} ms): the meter sees "
                             "only the thread that runs the step, so work elsewhere is refused; run the "
                             "step in the calling thread")
    if candidate.outside_peak > max(outside_limit or 256 * 1024, m.peak):
        raise AssertionError(f"the measured step allocated {candidate.outside_peak:,} bytes outside "
                             f"torch's tensors (NumPy arrays or Python objects), more than its own "
                             f"measured peak of {m.peak:,} bytes: keep the step's data in torch tensors")
    if update:
        dc, db = candidate.after - candidate.before, baseline.after - baseline.before
        if dc.shape != db.shape:
            raise AssertionError(f"the model has {dc.size:,} parameter values, the baseline's "
                                 f"{db.size:,}: train the same model")
        nc, nb = float(np.linalg.norm(dc)), float(np.linalg.norm(db))
        cos = float(dc.astype(np.float64) @ db) / (nc * nb) if nc and nb else 0.0
        if cos < min_cosine or not 0.5 <= (nc / nb if nb else 0.0) <= 2.0:
            raise AssertionError(f"the measured step did not update the parameters as the baseline's "
                                 f"did (cosine {cos:.2f} of the two updates, size ratio "
                                 f"{nc / nb if nb else 0:.2f}): the step that is measured must be the "
                                 "one that trains the model")

"""How many bytes one training step needs, on a GPU or a CPU: `measure`, `compare`, the checks' assert.

Every chapter of Part III grades "measured memory reduction" through this module, so that the
pages, the exercises' checks and the hidden grading read the same kind of figure on a Colab GPU,
a grading GPU and a CPU-only CI machine.

    m = measure(step, model=model, optimizer=opt)     # warm-up step, then the measured step
    print(m)                                          # a short table, says which backend it used
    require_reduction(compare(m_plain, m_ckpt, what="saved"), at_least=0.5)

"cuda": the caching allocator's counters (`max_memory_allocated` after a peak reset, minus
`memory_allocated` before the step, synchronised), with the tracker alongside to split the peak.
"cpu": the storage tracker alone (`tracker`). Breakdown at the peak, each storage in the first
kind that claims it: parameters (of the model and the optimizer), gradients, optimizer_state
(tensors in `optimizer.state` of at least one dimension), activations (held by autograd for
backward at that moment), other (live before the step), temporaries; on CUDA "unattributed" is
what the allocator counted and no tensor explains (cuBLAS workspaces, rounding).

Known limitations: Adam's 0-dim `step` counters count as "other", not optimizer state; the
garbage collector is paused during the measured step, so figures repeat; measuring protects the
figure only when done in a fresh process (`isolated`): code in this process can replace it.
"""
from __future__ import annotations

import gc
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .arithmetic import FIGURES, fmt, required_at_most, tensor_bytes
from .backend import MeterError, resolve_backend
from .display import format_comparison, format_measurement, plot_breakdown, plot_comparison
from .setups import Built
from .tracker import GRAD, OPT, PARAM, Tracker, tracking

_ACTIVE = threading.Lock()


@dataclass(frozen=True)
class Measurement:
    """One step's memory, in integer bytes. `breakdown` is what was live at the peak."""
    backend: str                  # "cpu" or "cuda"
    method: str                   # how the peak was measured
    device: str
    baseline: int                 # bytes live before the step
    peak: int                     # peak bytes above the baseline during the step
    breakdown: dict[str, int]     # live bytes at the peak by kind; sums to baseline + peak
    saved: int                    # most bytes saved for backward (activations) alive at once
    persistent: dict[str, int]    # parameters, gradients, optimizer_state after the step
    retained: int                 # live after the step minus baseline (> 0: the step leaks)
    tracked_peak: int             # the tracker's own peak above its baseline (== peak on CPU)
    reserved_peak: int | None = None  # CUDA: most bytes the allocator reserved, above baseline
    isolated: bool = False        # measured in a fresh subprocess
    label: str = ""
    saved_dtypes: dict[str, int] = field(default_factory=dict)   # saved for backward, by dtype
    ops: dict[str, int] = field(default_factory=dict)            # ops the step dispatched, by name

    @property
    def total(self) -> int:
        return self.baseline + self.peak

    def figure(self, what: str) -> int:
        """One figure by name: peak, total, saved, persistent, retained, or a breakdown kind."""
        if what == "persistent":
            return sum(self.persistent.values())
        if what in ("peak", "total", "saved", "retained"):
            return getattr(self, what)
        if what in self.breakdown or what in FIGURES:
            return self.breakdown.get(what, 0)
        raise ValueError(f"unknown figure {what!r}; choose from {sorted(FIGURES)}")

    def __str__(self) -> str:
        return format_measurement(self)

    def plot(self, ax=None):
        return plot_breakdown(self, ax=ax)


def _params(model, optimizer) -> list[torch.Tensor]:
    ps: dict[int, torch.Tensor] = {}
    if model is not None:
        ps.update((id(p), p) for p in model.parameters())
    if optimizer is not None:
        for g in optimizer.param_groups:
            ps.update((id(p), p) for p in g["params"])
    return list(ps.values())


def _state_tensors(optimizer) -> list[torch.Tensor]:
    if optimizer is None:
        return []
    return [v for s in optimizer.state.values() for v in s.values()
            if isinstance(v, torch.Tensor) and v.dim() > 0]


def persistent(model=None, optimizer=None, backend: str = "cpu") -> dict[str, int]:
    """Bytes of parameters (the model's and the optimizer's), gradients and optimizer state
    now, counted as the meter counts them."""
    params = _params(model, optimizer)
    grads = [p.grad for p in params if p.grad is not None]
    return {"parameters": tensor_bytes(params, backend), "gradients": tensor_bytes(grads, backend),
            "optimizer_state": tensor_bytes(_state_tensors(optimizer), backend)}


def _classify(tracker: Tracker, params, optimizer) -> None:
    for p in params:
        tracker.adopt(p, PARAM)
        if p.grad is not None:
            tracker.adopt(p.grad, GRAD)
    for s in _state_tensors(optimizer):
        tracker.adopt(s, OPT)


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in str(exc)


def _fail(exc: BaseException, when: str, backend: str) -> MeterError:
    """A MeterError naming what the step did; frees the failed step's frames (their tensors)."""
    kind = "ran out of memory" if _is_oom(exc) else f"raised {type(exc).__name__}: {exc}"
    if exc.__traceback__ is not None:
        traceback.clear_frames(exc.__traceback__)
    gc.collect()
    if backend == "cuda":
        torch.cuda.empty_cache()
    msg = f"the step {kind} during the {when}; nothing was measured ({backend} backend)."
    if _is_oom(exc):
        msg += " Try a smaller batch or model, or measure the technique that should save memory."
    return MeterError(msg)


def _call(step: Callable[[], Any], when: str, backend: str) -> None:
    try:
        step()
    except Exception as exc:
        raise _fail(exc, when, backend) from exc


def measure(step: Callable[[], Any] | Built, *, model=None, optimizer=None, warmup: int = 1,
            backend: str | None = None, label: str = "") -> Measurement:
    """Memory of one steady-state call of `step()`: warm-up first, then the measured call.

    Pass the model and optimizer (or a `Built`, which holds all three) so the peak can be split
    into parameters, gradients and optimizer state. The step's return value is dropped before
    the after-step figures.
    """
    if isinstance(step, Built):
        model = step.model if model is None else model
        optimizer = step.optimizer if optimizer is None else optimizer
        step = step.step
    if not callable(step):
        raise TypeError(f"measure() needs a callable step, got {type(step).__name__}")
    backend = resolve_backend(backend)
    cuda = backend == "cuda"
    if not _ACTIVE.acquire(blocking=False):
        raise MeterError("a measurement is already running (measure() inside a measured step?)")
    tracker = Tracker(backend)
    try:
        for i in range(warmup):
            _call(step, f"warm-up step {i + 1}", backend)
        params = _params(model, optimizer)
        gc.collect()
        if cuda:
            torch.cuda.synchronize()
        _classify(tracker, params, optimizer)
        tracker.scan()
        tracker.start()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            base, base_reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
        try:
            with tracking(tracker, params):
                step()  # its return value is dropped here
            if cuda:
                torch.cuda.synchronize()
        except Exception as exc:
            raise _fail(exc, "measured step", backend) from exc
        gc.collect(0)  # the step's own cyclic garbage: all young, the collector was paused
        tracked_peak, t_peak = tracker.peak - tracker.start_live, tracker.t_peak
        tracked_retained = tracker.live - tracker.start_live
        _classify(tracker, params, optimizer)   # kinds known only now (state made in the step)
        breakdown = tracker.breakdown(t_peak)
        if cuda:
            peak = torch.cuda.max_memory_allocated() - base
            reserved = torch.cuda.max_memory_reserved() - base_reserved
            retained = torch.cuda.memory_allocated() - base
            breakdown["unattributed"] = max(0, base + peak - sum(breakdown.values()))
            baseline, method = base, "caching allocator (max_memory_allocated - baseline)"
            device = torch.cuda.get_device_name()
        else:
            from ..device import cpu_name
            peak, reserved, retained = tracked_peak, None, tracked_retained
            baseline, method, device = tracker.start_live, "storage tracker (TorchDispatchMode)", cpu_name()
        return Measurement(backend, method, device, baseline, peak, breakdown, tracker.saved_max(),
                           persistent(model, optimizer, backend), retained, tracked_peak,
                           reserved, False, label, tracker.saved_dtypes(), dict(tracker.ops))
    finally:
        tracker.close()
        _ACTIVE.release()


# ---------------------------------------------------------------- comparisons for the checks
@dataclass(frozen=True)
class Comparison:
    """A baseline and a candidate measured in one run; `ratio` is candidate / baseline."""
    baseline: Measurement
    candidate: Measurement
    what: str = "peak"

    @property
    def ratio(self) -> float:
        b = self.baseline.figure(self.what)
        return self.candidate.figure(self.what) / b if b else float("inf")

    @property
    def reduction(self) -> float:
        return 1.0 - self.ratio

    def __str__(self) -> str:
        return format_comparison(self)

    def plot(self, ax=None):
        return plot_comparison(self, ax=ax)


def compare(baseline: Measurement | Callable[[], Any], candidate: Measurement | Callable[[], Any],
            *, what: str = "peak", **measure_kwargs) -> Comparison:
    """Measure (or take) a baseline and a candidate on one backend; compare one figure."""
    if what not in FIGURES:
        raise ValueError(f"unknown figure {what!r}; choose from {sorted(FIGURES)}")
    b = baseline if isinstance(baseline, Measurement) else measure(baseline, **measure_kwargs)
    c = candidate if isinstance(candidate, Measurement) else measure(candidate, **measure_kwargs)
    if b.backend != c.backend:
        raise MeterError(f"cannot compare a {b.backend} baseline with a {c.backend} candidate: "
                         "measure both on the same backend, in one run.")
    return Comparison(b, c, what)


def require_reduction(comparison: Comparison, at_least: float = 0.3, what: str | None = None) -> float:
    """Assert the candidate's figure is at least `at_least` (a fraction) below the baseline's.

    Returns the measured reduction; raises AssertionError naming the bytes measured and needed.
    """
    what = what or comparison.what
    b, c = comparison.baseline.figure(what), comparison.candidate.figure(what)
    name, where = FIGURES.get(what, what), f"[{comparison.baseline.backend}: {comparison.baseline.method}]"
    if b <= 0:
        raise AssertionError(f"{name}: the baseline measured {b} bytes, so no reduction can be "
                             f"shown; did the step run? {where}")
    limit = required_at_most(b, at_least)
    if c > limit:
        raise AssertionError(f"{name}: candidate {fmt(c)}, baseline {fmt(b)}, needs at most "
                             f"{fmt(limit)} ({at_least:.0%} lower); measured {1 - c / b:.0%} "
                             f"lower {where}")
    return 1.0 - c / b


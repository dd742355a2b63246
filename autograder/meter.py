"""The course's memory meter: how many bytes one training step needs, on a GPU or a CPU.

Every chapter of Part III grades "measured memory reduction" through this module, so that the
pages, the exercises' tests and the hidden grading tests read the same kind of figure on a Colab
GPU, a grading GPU and a CPU-only CI machine. Three layers: pure arithmetic over bytes and
lifetimes; a thin observing layer (`_Tracker`, `measure`); display code in `meter_plot`.

    m = measure(step, model=model, optimizer=opt)     # warm-up step, then the measured step
    print(m)                                          # a short table, says which backend it used
    require_reduction(compare(m_plain, m_ckpt, what="saved"), at_least=0.5)

Backends. "cuda": the caching allocator's counters (`max_memory_allocated` after a peak reset,
minus `memory_allocated` before the step, synchronised). "cpu": a storage-level live-bytes
tracker, a `TorchDispatchMode` that counts each storage once (views share it) and sees it freed
through a weakref callback. On a GPU the same tracker runs alongside to split the peak by kind.
The CUDA counters are never read unless `torch.cuda.is_available()`: they return 0 on a CPU-only
build, and "0 went down to 0" must not pass a check.

Breakdown at the peak, each storage in the first kind that claims it: parameters (storages of
`model.parameters()` and the optimizer's params), gradients (`.grad`), optimizer_state (tensors
in `optimizer.state` with at least one dimension), activations (storages autograd holds for
backward at that moment, seen through `saved_tensors_hooks`), other (live before the step: inputs, buffers,
data), temporaries (everything else). On CUDA, "unattributed" holds what the allocator counted
and no tensor explains (cuBLAS workspaces, rounding).

Known limitations: allocations inside one operator that never become a tensor (kernel workspaces)
are invisible to the CPU tracker; storages made without a dispatched op (`torch.from_numpy`,
tensors from DataLoader workers, `UntypedStorage.resize_`) are counted only once an op returns
them or autograd saves them; tensors held only by C++ before the step (a kept loss's graph) are
missing from the CPU baseline; tensors saved under the step's own saved-tensor hooks
(`save_on_cpu`, a checkpoint's recomputation) are not "saved" to the meter, though their
bytes still count in the peak, as temporaries; Adam's 0-dim `step` counters count as "other",
not optimizer state (on a GPU they live on the CPU); `torch.compile` regions fall back to eager
under the tracker, so measure compiled code on a GPU; the garbage collector is paused during the measured step, so
figures are repeatable. Isolation protects the figure, not the caller: code in the same process
can still replace `measure_isolated` itself.
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import dis
import gc
import importlib
import inspect
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import types
import weakref
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

KINDS = ("parameters", "gradients", "optimizer_state", "activations", "other", "temporaries")
CUDA_BLOCK = 512  # the caching allocator rounds every block up to a multiple of 512 bytes
FIGURES = {  # what= names a check can compare, and how a message calls them
    "peak": "peak above baseline", "total": "peak including baseline",
    "saved": "bytes saved for backward", "persistent": "parameters + gradients + optimizer state",
    "retained": "bytes left alive by the step",
    **{k: f"{k.replace('_', ' ')} at the peak" for k in KINDS + ("unattributed",)},
}


class MeterError(RuntimeError):
    """The meter could not measure what was asked; the message says why."""


# ---------------------------------------------------------------- layer 1: pure arithmetic
def storage_bytes(nbytes: int, backend: str = "cpu") -> int:
    """Bytes one storage occupies: exact on the CPU, rounded to 512 like the CUDA allocator."""
    return -(-nbytes // CUDA_BLOCK) * CUDA_BLOCK if backend == "cuda" else nbytes


def tensor_bytes(tensors: Iterable[torch.Tensor], backend: str = "cpu") -> int:
    """Bytes behind some tensors, each storage counted once (a view adds nothing)."""
    seen: dict[int, int] = {}
    for t in tensors:
        st = t.untyped_storage()
        seen[id(st)] = storage_bytes(st.nbytes(), backend)
    return sum(seen.values())


def live_at(intervals: Iterable[tuple[int, int | None, int]], t: int) -> int:
    """Bytes live at time t, given (allocated_at, freed_at or None, bytes) intervals."""
    return sum(b for a, f, b in intervals if a <= t and (f is None or f > t))


def max_live(intervals: Iterable[tuple[int, int | None, int]]) -> int:
    """The most bytes live at once over (allocated_at, freed_at or None, bytes) intervals."""
    events = []
    for a, f, b in intervals:
        events.append((a, b))
        if f is not None:
            events.append((f, -b))
    live = best = 0
    for _, b in sorted(events):  # at equal times frees (-b) sort first: a freed block is reused
        live += b
        best = max(best, live)
    return best


def required_at_most(baseline: int, at_least: float) -> int:
    """The largest candidate figure that is still `at_least` (a fraction) below the baseline."""
    return int(baseline * (1.0 - at_least) + 1e-6)   # 1e-6: 0.6 is not exact in binary


# ---------------------------------------------------------------- layer 2: observing
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
        from .meter_plot import format_measurement
        return format_measurement(self)

    def plot(self, ax=None):
        from .meter_plot import plot_breakdown
        return plot_breakdown(self, ax=ax)


class _Rec:
    """One storage's life: bytes, clock at allocation and at free, its kind, and the spans of
    clock during which autograd held it for backward."""
    __slots__ = ("nbytes", "raw", "t_alloc", "t_free", "rank", "holds", "spans")

    def __init__(self, nbytes: int, raw: int, t_alloc: int, rank: int):
        self.nbytes, self.raw, self.t_alloc, self.t_free, self.rank = nbytes, raw, t_alloc, None, rank
        self.holds, self.spans = 0, []   # spans: [start, end or None]

    def saved_at(self, t: int) -> bool:
        return any(s <= t and (e is None or e > t) for s, e in self.spans)


class _Held:
    """What the pack hook hands autograd: the tensor, its version (autograd skips its in-place
    check when hooks are on, so `_unpack` does it), and a note of when autograd lets go."""
    __slots__ = ("t", "version", "rec", "tracker")

    def __init__(self, t, rec, tracker):
        self.t, self.version, self.rec, self.tracker = t.detach(), t._version, rec, tracker

    def __del__(self):
        try:
            if self.rec is not None:
                self.tracker.release(self.rec)
        except Exception:   # interpreter shutdown
            pass


_GRAD, _OPT = KINDS.index("gradients"), KINDS.index("optimizer_state")
_ACT, _OTHER, _TEMP = KINDS.index("activations"), KINDS.index("other"), KINDS.index("temporaries")


class _Tracker(TorchDispatchMode):
    """Live bytes of one device's storages: every op's outputs are adopted, frees seen by weakref.

    A clock ticks at each allocation and free, so the live set at the peak can be classified
    after the step, when we know which storages autograd saved and which became gradients.
    """

    def __init__(self, backend: str):
        super().__init__()
        self.backend, self.cuda = backend, backend == "cuda"
        self.clock = self.live = self.peak = self.t_peak = self.start_live = 0
        self.records: list[_Rec] = []
        self.current: dict[int, _Rec] = {}          # id(storage) -> its record while alive
        self.refs: dict[int, weakref.ref] = {}      # keeps the callbacks; cleared by close()
        self.lock = threading.RLock()               # backward may run on another thread (CUDA)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self._see(out)
        return out

    def _see(self, out) -> None:
        if isinstance(out, torch.Tensor):
            self.adopt(out)
        elif isinstance(out, (tuple, list)):
            for o in out:
                self._see(o)

    def adopt(self, t: torch.Tensor, rank: int = _TEMP) -> _Rec | None:
        """The record of t's storage, made now if unseen; rank lowers its kind (0 wins)."""
        if not (t.is_cuda if self.cuda else t.is_cpu):   # only this backend's device
            return None
        try:
            st = t.untyped_storage()
            raw = st.nbytes()
        except (RuntimeError, NotImplementedError, TypeError):  # sparse, mkldnn, fake
            return None
        key = id(st)
        with self.lock:
            rec = self.current.get(key)
            if rec is not None and rec.raw != raw:   # resized in place (out=, resize_)
                self._close(key)
                rec = None
            if rec is None:
                if raw == 0:
                    return None
                self.clock += 1
                rec = _Rec(storage_bytes(raw, self.backend), raw, self.clock, rank)
                self.records.append(rec)
                self.current[key] = rec
                if key not in self.refs:
                    self.refs[key] = weakref.ref(st, partial(self._freed, key))
                self.live += rec.nbytes
                if self.live > self.peak:
                    self.peak, self.t_peak = self.live, self.clock
            elif rank < rec.rank:
                rec.rank = rank
            return rec

    def _close(self, key: int) -> None:
        rec = self.current.pop(key, None)
        if rec is not None:
            self.clock += 1
            rec.t_free = self.clock
            self.live -= rec.nbytes

    def _freed(self, key: int, _ref) -> None:
        with self.lock:
            self.refs.pop(key, None)
            self._close(key)

    def pack(self, t: torch.Tensor):
        """saved_tensors_hooks pack: note the storage as held from now (no tick: an op's output
        is saved right after its allocation). detach() avoids a reference cycle."""
        rec = self.adopt(t)
        if rec is not None:
            with self.lock:
                if rec.holds == 0:
                    rec.spans.append([self.clock, None])
                rec.holds += 1
        return _Held(t, rec, self)

    def release(self, rec: _Rec) -> None:
        with self.lock:
            rec.holds -= 1
            if rec.holds == 0:
                self.clock += 1
                rec.spans[-1][1] = self.clock

    def on_grad(self, p: torch.Tensor) -> None:
        if p.grad is not None:
            self.adopt(p.grad, _GRAD)

    def scan(self, rank: int = _OTHER) -> None:
        """Adopt every tensor Python can reach (the garbage collector's list): the baseline."""
        for obj in gc.get_objects():
            if issubclass(type(obj), torch.Tensor):
                try:
                    if obj.is_meta or obj.untyped_storage().device.type == "meta":
                        continue
                except Exception:   # sparse, fake or otherwise storage-less tensors
                    continue
                self.adopt(obj, rank)

    def start(self) -> None:
        self.start_live = self.peak = self.live
        self.t_peak = self.clock

    def breakdown(self, t: int) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for r in self.records:
            if r.t_alloc <= t and (r.t_free is None or r.t_free > t):
                kind = _ACT if r.rank > _OPT and r.spans and r.saved_at(t) else r.rank
                out[KINDS[kind]] += r.nbytes
        return out

    def saved_max(self) -> int:
        return max_live((s, e, r.nbytes) for r in self.records if r.rank > _OPT for s, e in r.spans)

    def close(self) -> None:
        with self.lock:
            self.refs.clear()   # dropping the weakrefs cancels their callbacks
            self.current.clear()


_ACTIVE = threading.Lock()


def resolve_backend(backend: str | None = None) -> str:
    """"cuda" where torch can use a GPU, else "cpu"; an explicit "cuda" without one is refused."""
    if backend is None:
        from .device import detect
        return "cuda" if detect().cuda and torch.cuda.is_available() else "cpu"
    if backend not in ("cpu", "cuda"):
        raise ValueError(f"backend must be 'cpu', 'cuda' or None, not {backend!r}")
    if backend == "cuda" and not torch.cuda.is_available():
        raise MeterError("backend='cuda' asked for, but this torch sees no CUDA GPU: its memory "
                         "counters would read 0 and show a reduction nobody measured.")
    return backend


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


def _classify(tracker: _Tracker, params, optimizer) -> None:
    for p in params:
        tracker.adopt(p, 0)
        if p.grad is not None:
            tracker.adopt(p.grad, _GRAD)
    for s in _state_tensors(optimizer):
        tracker.adopt(s, _OPT)


def _persistent(params, optimizer, backend: str) -> dict[str, int]:
    grads = [p.grad for p in params if p.grad is not None]
    return {"parameters": tensor_bytes(params, backend), "gradients": tensor_bytes(grads, backend),
            "optimizer_state": tensor_bytes(_state_tensors(optimizer), backend)}


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


@contextlib.contextmanager
def _tracking(tracker: _Tracker, params):
    """The tracker, saved-tensor hooks and gradient hooks on; the garbage collector paused, so
    that no collection of unrelated cycles lands in the middle and figures repeat."""
    hooks = [p.register_post_accumulate_grad_hook(tracker.on_grad) for p in params if p.requires_grad]
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        with tracker, torch.autograd.graph.saved_tensors_hooks(tracker.pack, _unpack):
            yield tracker
    finally:
        for h in hooks:
            h.remove()
        if gc_was_on:
            gc.enable()


def measure(step: Callable[[], Any], *, model=None, optimizer=None, warmup: int = 1,
            backend: str | None = None, label: str = "") -> Measurement:
    """Memory of one steady-state call of `step()`: warm-up first, then the measured call.

    Pass the model and optimizer so the peak can be split into parameters, gradients and
    optimizer state. The step's return value is dropped before the after-step figures.
    """
    if not callable(step):
        raise TypeError(f"measure() needs a callable step, got {type(step).__name__}")
    backend = resolve_backend(backend)
    cuda = backend == "cuda"
    if not _ACTIVE.acquire(blocking=False):
        raise MeterError("a measurement is already running (measure() inside a measured step?)")
    tracker = _Tracker(backend)
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
            with _tracking(tracker, params):
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
            from .device import cpu_name
            peak, reserved, retained = tracked_peak, None, tracked_retained
            baseline, method, device = tracker.start_live, "storage tracker (TorchDispatchMode)", cpu_name()
        return Measurement(backend, method, device, baseline, peak, breakdown, tracker.saved_max(),
                           _persistent(params, optimizer, backend), retained, tracked_peak,
                           reserved, False, label)
    finally:
        tracker.close()
        _ACTIVE.release()


def _unpack(held: _Held) -> torch.Tensor:
    t = held.t
    if t._version != held.version:   # the check autograd makes when no hooks are on
        raise RuntimeError(
            "one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: [{t.type()} {list(t.shape)}] is at version {t._version}; "
            f"expected version {held.version} instead. (Reported by the memory meter's "
            "saved-tensor hook, in place of autograd's own check.)")
    return t


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
        from .meter_plot import format_comparison
        return format_comparison(self)

    def plot(self, ax=None):
        from .meter_plot import plot_comparison
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


def _fmt(n: int) -> str:
    return f"{n / 2**20:.1f} MiB ({n:,} bytes)"


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
        raise AssertionError(f"{name}: candidate {_fmt(c)}, baseline {_fmt(b)}, needs at most "
                             f"{_fmt(limit)} ({at_least:.0%} lower); measured {1 - c / b:.0%} "
                             f"lower {where}")
    return 1.0 - c / b


# ---------------------------------------------------------------- isolation in a subprocess
_ZYGOTE = "import sys; from autograder.meter import _zygote_main; sys.exit(_zygote_main())"


def measure_isolated(setup: Callable[..., Any] | str, *args, backend: str | None = None,
                     warmup: int = 1, label: str = "", timeout: float = 120.0,
                     source: str | None = None, **kwargs) -> Measurement:
    """`measure` run in a fresh process: nothing in this process can alter the figure.

    In the child, `setup(*args, **kwargs)` builds everything and returns the step: a callable,
    a tuple (step, model, optimizer), or a dict with keys step, model, optimizer. `setup` is sent
    by reference when importable (a module function or "module:name"), else by source: its own
    and that of the notebook functions and classes it names, with imports for the modules it
    names (or pass `source=` text that defines it). Arguments must pickle: pass sizes and seeds.
    The child is forked from a clean `python -I` process that has imported torch once (see
    `_Zygote`), so the second measurement of a grading run costs a fork, not a torch import.
    """
    target = _target(setup, source)
    with tempfile.TemporaryDirectory(prefix="meter-") as tmp:
        payload, result, log = (os.path.join(tmp, n) for n in ("payload.pkl", "result.json", "log.txt"))
        try:
            blob = pickle.dumps({"target": target, "args": args, "kwargs": kwargs,
                                 "backend": backend, "warmup": warmup, "label": label})
        except Exception as exc:
            raise MeterError(f"the arguments of the isolated measurement do not pickle ({exc}); "
                             "pass sizes and seeds and build tensors inside setup") from exc
        with open(payload, "wb") as f:
            f.write(blob)
        try:
            code = _Zygote.run(payload, result, log, timeout)
        except subprocess.TimeoutExpired as exc:
            raise MeterError(f"the isolated measurement did not finish in {timeout:.0f} s") from exc
        if code != 0 or not os.path.exists(result):
            why = (f"was killed by signal {-code} (out of memory?)"
                   if code < 0 else f"exited with status {code}")
            with open(log, errors="replace") as f:
                tail = "\n".join(f.read().strip().splitlines()[-15:])
            raise MeterError(f"the isolated measurement {why}:\n{tail}")
        with open(result) as f:
            data = json.load(f)
    return Measurement(**data)


class _Zygote:
    """One clean `python -I` process per caller that imports torch (and torch._dynamo, which
    every optimizer step imports: half the cost) once, then forks a child per measurement.
    Each child starts from that clean state, as a fresh process would, for a fork's price.
    A new one starts when the caller's environment or directory changed (OMP_NUM_THREADS is
    read at import), or when the old one died."""
    _lock = threading.Lock()
    _proc: subprocess.Popen | None = None
    _err: Any = None          # the zygote's stderr, a temporary file
    _key: tuple = ()
    _buf = b""

    @classmethod
    def run(cls, payload: str, result: str, log: str, timeout: float) -> int:
        """The child's exit code (negative: killed by that signal)."""
        with cls._lock:
            for attempt in (1, 2):
                proc = cls._start()
                try:
                    proc.stdin.write(f"{payload}\t{result}\t{log}\n".encode())
                    proc.stdin.flush()
                    pid = int(cls._line(timeout + 120))     # the first call waits for the import
                    break
                except (OSError, EOFError, ValueError):
                    why = cls._stop()
                    if attempt == 2:
                        raise MeterError("the measuring process could not start: " + why) from None
            try:
                return int(cls._line(timeout))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
                with contextlib.suppress(Exception):
                    cls._line(30)
                raise
            except (OSError, EOFError, ValueError):
                raise MeterError("the measuring process died: " + cls._stop()) from None

    @classmethod
    def _start(cls) -> subprocess.Popen:
        key = (sys.executable, os.getcwd(), tuple(sorted(os.environ.items())))
        if cls._proc is not None and (cls._proc.poll() is not None or key != cls._key):
            cls._stop()
        if cls._proc is None:
            cls._err = tempfile.TemporaryFile()
            cls._proc = subprocess.Popen([sys.executable, "-I", "-c", _ZYGOTE], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=cls._err)
            cls._key, cls._buf = key, b""
        return cls._proc

    @classmethod
    def _line(cls, timeout: float) -> str:
        import select
        fd, end = cls._proc.stdout.fileno(), time.monotonic() + timeout
        while b"\n" not in cls._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise subprocess.TimeoutExpired("measuring child", timeout)
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError
            cls._buf += chunk
        line, cls._buf = cls._buf.split(b"\n", 1)
        return line.decode()

    @classmethod
    def _stop(cls) -> str:
        """Ends the zygote; returns the end of what it wrote to stderr (why it died, if it did)."""
        proc, cls._proc, said = cls._proc, None, ""
        if proc is not None:
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(5)
            with contextlib.suppress(Exception), cls._err as f:
                f.seek(0)
                said = f.read().decode(errors="replace")[-2000:]
        return said


def _zygote_main() -> int:
    """The zygote's loop: a line "payload<TAB>result<TAB>log" in, the child's pid and then its
    exit code out. It ends when its caller closes the pipe (exits)."""
    import random
    import warnings
    warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
    import torch._dynamo  # noqa: F401  (imported here once, for every child)
    for line in sys.stdin.buffer:
        payload, result, log = line.decode().rstrip("\n").split("\t")
        pid = os.fork()
        if pid == 0:                                   # the child: a fresh process, but warm
            code = 1
            try:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 1), os.dup2(fd, 2), os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                random.seed()
                if "numpy" in sys.modules:
                    sys.modules["numpy"].random.seed()
                code = _child_main(payload, result)
            except BaseException:
                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush(), sys.stderr.flush()
                os._exit(code)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(f"{os.waitstatus_to_exitcode(status)}\n")
        sys.stdout.flush()
    return 0


def _target(setup, source: str | None) -> dict:
    if isinstance(setup, str):
        module, _, name = setup.partition(":")
        if not name:
            raise ValueError("a setup given by name must read 'package.module:function'")
        return {"kind": "import", "module": module, "name": name, "path": None}
    if not callable(setup):
        raise TypeError(f"setup must be a function, got {type(setup).__name__}")
    name = getattr(setup, "__name__", "")
    if source is not None:
        return {"kind": "source", "source": source, "name": name}
    module = getattr(setup, "__module__", "__main__")
    qual = getattr(setup, "__qualname__", name)
    if module != "__main__" and "<" not in qual:
        mod = sys.modules.get(module)
        path = getattr(mod, "__file__", None)
        if path:
            for _ in module.split("."):
                path = os.path.dirname(path)
        return {"kind": "import", "module": module, "name": qual, "path": path}
    return {"kind": "source", "source": gather_source(setup), "name": name}


def _global_names(code: types.CodeType) -> set[str]:
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _outer_names(src: str) -> set[str]:
    """Names a definition reads outside its function bodies: decorators, bases, class attributes."""
    node = ast.parse(src).body[0]
    parts = list(node.decorator_list)
    if isinstance(node, ast.ClassDef):
        parts += node.bases + [k.value for k in node.keywords]
        parts += [b for b in node.body if not isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef))]
    else:
        parts += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
    return {n.id for p in parts for n in ast.walk(p) if isinstance(n, ast.Name)}


def _source_of(obj) -> str:
    """Source text of a function or class. A notebook class is found through the cell file of
    one of its methods: `inspect` would look in __main__'s file, which a notebook lacks."""
    import linecache
    codes = [getattr(getattr(f, "__func__", f), "__code__", None) for f in vars(obj).values()] \
        if isinstance(obj, type) else []
    for code in filter(None, codes):
        lines = linecache.getlines(code.co_filename)
        pat = re.compile(rf"^\s*class\s+{obj.__name__}\b")
        for i in range(min(code.co_firstlineno, len(lines)) - 1, -1, -1):
            if pat.match(lines[i]):
                return textwrap.dedent("".join(inspect.getblock(lines[i:])))
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as exc:
        raise MeterError(f"cannot find the source of {obj.__name__}; pass source=") from exc


def gather_source(fn: Callable) -> str:
    """Source text that defines fn in a fresh process: imports, constants, notebook definitions."""
    if not isinstance(fn, types.FunctionType):
        raise MeterError(f"cannot send a {type(fn).__name__} by source: pass a plain function")
    if fn.__name__ == "<lambda>" or fn.__code__.co_freevars:
        raise MeterError(f"{fn.__name__} is a lambda or a closure: define it at the top level "
                         "of the notebook, or pass source=")
    head: dict[str, str] = {}
    defs: list[str] = []
    seen: set[str] = set()

    def visit(obj) -> None:
        src = _source_of(obj)
        if isinstance(obj, type):
            funcs = [getattr(v, "__func__", v) for v in vars(obj).values()]
            funcs = [f for f in funcs if isinstance(f, types.FunctionType)]
            g = funcs[0].__globals__ if funcs else vars(sys.modules[obj.__module__])
        else:
            funcs, g = [obj], obj.__globals__
        names = _outer_names(src).union(*(_global_names(f.__code__) for f in funcs))
        for name in sorted(names):
            if name in seen or name not in g:
                continue
            seen.add(name)
            head[name] = _define(name, g[name], visit)
        defs.append(src)

    visit(fn)
    return "\n".join([h for h in head.values() if h] + defs)


def _define(name: str, value, visit) -> str:
    if isinstance(value, types.ModuleType):
        return f"import {value.__name__}" if value.__name__ == name else f"import {value.__name__} as {name}"
    if isinstance(value, (types.FunctionType, type)) and value.__module__ == "__main__":
        visit(value)
        return ""
    module, qual = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if callable(value) and module and qual and "<" not in qual and module != "__main__":
        return f"from {module} import {qual} as {name}"
    if isinstance(value, (int, float, str, bytes, bool, type(None))):
        return f"{name} = {value!r}"
    raise MeterError(f"cannot send global {name!r} ({type(value).__name__}) to the isolated "
                     "measurement: build it inside setup, or pass it as an argument")


def _child_main(payload_path: str, result_path: str) -> int:
    """The child's side of `measure_isolated`: load, build with setup, measure, write JSON."""
    with open(payload_path, "rb") as f:
        job = pickle.load(f)
    t = job["target"]
    if t["kind"] == "import":
        if t["path"]:
            sys.path.append(t["path"])   # after site-packages: cannot shadow torch or autograder
        obj: Any = importlib.import_module(t["module"])
        for part in t["name"].split("."):
            obj = getattr(obj, part)
        setup = obj
    else:
        ns = {"__name__": "__isolated__"}
        exec(compile(t["source"], "<isolated setup>", "exec"), ns)
        setup = ns[t["name"]]
    spec = setup(*job["args"], **job["kwargs"])
    model = optimizer = None
    if isinstance(spec, dict):
        step, model, optimizer = spec.get("step"), spec.get("model"), spec.get("optimizer")
    elif isinstance(spec, tuple):
        step, model, optimizer = (tuple(spec) + (None, None))[:3]
    else:
        step = spec
    if not callable(step):
        raise MeterError(f"setup must return the step (a callable, a tuple (step, model, "
                         f"optimizer) or a dict), got {type(spec).__name__}")
    m = measure(step, model=model, optimizer=optimizer, warmup=job["warmup"],
                backend=job["backend"], label=job["label"])
    with open(result_path, "w") as f:
        json.dump(dataclasses.asdict(dataclasses.replace(m, isolated=True)), f)
    return 0

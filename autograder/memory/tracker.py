"""The meter's observing layer: live bytes of every storage a step makes, and which kind each is.

A CPU has no caching allocator to ask, so the meter watches the step itself: a
`TorchDispatchMode` adopts every op's outputs (each storage once: views share it) and sees them
freed through a weakref callback; saved-tensor hooks say what autograd holds for backward, and
when it lets go. A clock ticks at each allocation and free, so that the live set at the peak can
be classified after the step, when it is known which storages became gradients or state. On a
GPU the same tracker runs beside the allocator's counters to split the peak by kind.

Known limitations: allocations inside one operator that never become a tensor (kernel
workspaces) are invisible; storages made without a dispatched op (`torch.from_numpy`, tensors
from DataLoader workers, `UntypedStorage.resize_`) are counted only once an op returns them or
autograd saves them; tensors held only by C++ before the step (a kept loss's graph) are missing
from the baseline; tensors saved under the step's own saved-tensor hooks (`save_on_cpu`, a
checkpoint's recomputation) are not "saved" to the meter, though their bytes still count in the
peak, as temporaries; `torch.compile` regions fall back to eager under the tracker; it sees only
the thread that runs the step (and backward's), not NumPy memory.
"""
from __future__ import annotations

import contextlib
import gc
import threading
import weakref
from functools import partial

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .arithmetic import KINDS, max_live, storage_bytes

PARAM, GRAD, OPT = 0, KINDS.index("gradients"), KINDS.index("optimizer_state")
_ACT, OTHER, _TEMP = KINDS.index("activations"), KINDS.index("other"), KINDS.index("temporaries")


class _Rec:
    """One storage's life: bytes, clock at allocation and at free, its kind, and the spans of
    clock during which autograd held it for backward."""
    __slots__ = ("nbytes", "raw", "t_alloc", "t_free", "rank", "holds", "spans", "dtype")

    def __init__(self, nbytes: int, raw: int, t_alloc: int, rank: int):
        self.nbytes, self.raw, self.t_alloc, self.t_free, self.rank = nbytes, raw, t_alloc, None, rank
        self.holds, self.spans, self.dtype = 0, [], ""   # spans: [start, end or None]

    def saved_at(self, t: int) -> bool:
        return any(s <= t and (e is None or e > t) for s, e in self.spans)


class _Held:
    """What the pack hook hands autograd: the tensor, its version (autograd skips its in-place
    check when hooks are on, so `unpack` does it), and a note of when autograd lets go."""
    __slots__ = ("t", "version", "rec", "tracker")

    def __init__(self, t, rec, tracker):
        self.t, self.version, self.rec, self.tracker = t.detach(), t._version, rec, tracker

    def __del__(self):
        try:
            if self.rec is not None:
                self.tracker.release(self.rec)
        except Exception:   # interpreter shutdown
            pass


def unpack(held: _Held) -> torch.Tensor:
    """saved_tensors_hooks unpack, with the in-place check autograd makes when no hooks are on."""
    t = held.t
    if t._version != held.version:
        raise RuntimeError(
            "one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: [{t.type()} {list(t.shape)}] is at version {t._version}; "
            f"expected version {held.version} instead. (Reported by the memory meter's "
            "saved-tensor hook, in place of autograd's own check.)")
    return t


class Tracker(TorchDispatchMode):
    """Live bytes of one device's storages: every op's outputs are adopted, frees seen by weakref."""

    def __init__(self, backend: str):
        super().__init__()
        self.backend, self.cuda = backend, backend == "cuda"
        self.clock = self.live = self.peak = self.t_peak = self.start_live = 0
        self.records: list[_Rec] = []
        self.log: list[tuple[str, int]] | None = None   # (op, live above start) after each op
        self.current: dict[int, _Rec] = {}          # id(storage) -> its record while alive
        self.refs: dict[int, weakref.ref] = {}      # keeps the callbacks; cleared by close()
        self.lock = threading.RLock()               # backward may run on another thread (CUDA)
        self.ops: dict[str, int] = {}               # op -> calls, once started: a technique's signature

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self._see(out)
        name = func.overloadpacket.__name__
        self.ops[name] = self.ops.get(name, 0) + 1
        if self.log is not None:
            self.log.append((name, self.live - self.start_live))
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
                rec.dtype = rec.dtype or str(t.dtype).replace("torch.", "")
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
            self.adopt(p.grad, GRAD)

    def scan(self, rank: int = OTHER) -> None:
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
        self.ops = {}

    def breakdown(self, t: int) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for r in self.records:
            if r.t_alloc <= t and (r.t_free is None or r.t_free > t):
                kind = _ACT if r.rank > OPT and r.spans and r.saved_at(t) else r.rank
                out[KINDS[kind]] += r.nbytes
        return out

    def saved_dtypes(self) -> dict[str, int]:
        """Bytes autograd saved for backward during the step, by the dtype they were saved as."""
        out: dict[str, int] = {}
        for r in self.records:
            if r.rank > OPT and r.spans:
                out[r.dtype] = out.get(r.dtype, 0) + r.nbytes
        return out

    def saved_max(self) -> int:
        return max_live((s, e, r.nbytes) for r in self.records if r.rank > OPT for s, e in r.spans)

    def close(self) -> None:
        with self.lock:
            self.refs.clear()   # dropping the weakrefs cancels their callbacks
            self.current.clear()


@contextlib.contextmanager
def tracking(tracker: Tracker, params):
    """The tracker, saved-tensor hooks and gradient hooks on; the garbage collector paused, so
    that no collection of unrelated cycles lands in the middle and figures repeat."""
    hooks = [p.register_post_accumulate_grad_hook(tracker.on_grad) for p in params if p.requires_grad]
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        with tracker, torch.autograd.graph.saved_tensors_hooks(tracker.pack, unpack):
            yield tracker
    finally:
        for h in hooks:
            h.remove()
        if gc_was_on:
            gc.enable()


def held_bytes(backend: str = "cpu") -> int:
    """Bytes of every tensor this process holds now (each storage once), as a measurement's
    baseline scan counts them: what a figure of one setup's total leaves out. Collected first,
    as `measure` does, or cyclic garbage counted here is gone by the measurement's scan."""
    gc.collect()
    tracker = Tracker(backend)
    tracker.scan()
    held = tracker.live
    tracker.close()
    return held


@contextlib.contextmanager
def live_bytes(keep=(), backend: str = "cpu"):
    """A timeline for a page's plot: yields a list that gets (op name, live bytes above `keep`)
    after each op run inside the block, on one device's tensors. Not a measurement: no
    warm-up, no kinds; the graded figures come from `measure`."""
    tracker = Tracker(backend)
    for t in keep:                  # what exists before (inputs): counted from the start
        tracker.adopt(t, OTHER)
    tracker.start()
    tracker.log = []
    try:
        with tracker:
            yield tracker.log
    finally:
        tracker.close()

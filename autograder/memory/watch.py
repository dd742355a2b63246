"""What a graded step did, seen inside the very step the meter measures: its gradients, the ops
it ran in forward and in backward, the bytes its forward pass left alive for backward and where.

Chapters 11 to 13 change *how* a step gets its gradients, not what they are: checkpointing runs
part of the forward pass again during backward, accumulation sums micro-batches, offloading
moves what autograd keeps off the compute device. A check must see, in the run whose memory it
grades, that the step did the baseline's work (the same gradients) and that the technique is
there (its signature). `observe` measures a setup with the meter and, inside the same measured
call, runs a `Watch`: a dispatch mode that sees every op, says whether autograd's engine ran it
(backward) or not (forward), and follows the storages the step makes until they are freed.

    data = observe(setup, batch=64, seed=3, rng=3)   # plain data only: numbers, dicts, CPU tensors
    measurement(data).peak, data["grads"], data["ops"]["backward"], data["held"]

`ops` counts ops by name, in "backward" (run by autograd's engine) and "forward" (all the
rest: the forward pass, the loss, the optimizer).

Figures, in integer bytes, of storages the measured call made (inputs and weights made before
it are not counted; neither are gradients, told apart after the call):
  held             at each moment a backward pass starts, what the forward pass left alive,
                   split by where it lives: "device" (the compute device) and "host"
  activation_peak  the most bytes of such storages alive at once during the call

Where a storage lives. With a GPU: its device (`cuda` or `cpu`), and a host storage is
"pinned" when it is page-locked (`is_pinned()`). On a CPU-only machine the compute
device *is* host memory, so the watch classifies by how a storage was made, with the rule a GPU
machine would follow: a copy made by a factory op (`torch.empty(...)` and the like, which make
host tensors unless told otherwise) and filled by `copy_` from the step's tensors, or made by
`.to("cpu", copy=True)`, counts as host; anything else (a forward result, `clone`,
`empty_like`, which follow their input's device) as device. `t.cpu()` of a CPU tensor is `t`
itself there: nothing moves, and the watch says so.

Known limitations: on a CPU-only machine a copy into `torch.empty(..., device=t.device)` reads
as a host copy (a GPU run sees it stay on the device); storages made without a dispatched op are
not seen; the watch, like the meter, sees the thread that runs the step and autograd's.
"""
from __future__ import annotations

import dataclasses
import weakref
from collections import Counter
from functools import partial

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .arithmetic import max_live, storage_bytes
from .backend import resolve_backend
from .meter import Measurement, measure
from .setups import Built, build

HOST, DEVICE = "host", "device"
COPY_INTO = ("copy_",)        # how a factory-made host buffer gets the step's data
# ops that only look at a tensor differently (or detach it): never a sign of recomputation
VIEWS = frozenset({"detach", "view", "_unsafe_view", "t", "transpose", "permute", "expand",
                   "unsqueeze", "squeeze", "select", "slice", "as_strided", "alias", "split",
                   "split_with_sizes", "unbind", "reshape", "contiguous", "lift_fresh", "_to_copy",
                   "copy_", "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones",
                   "ones_like", "fill_", "zero_", "new_empty", "new_zeros", "clone"})


class _Rec:
    __slots__ = ("nbytes", "made", "freed", "where", "pinned", "born_host", "grad")

    def __init__(self, nbytes, made, where, pinned, born_host):
        self.nbytes, self.made, self.freed, self.where = nbytes, made, None, where
        self.pinned, self.born_host, self.grad = pinned, born_host, False


class Watch(TorchDispatchMode):
    """Ops by phase, and the life of every storage made while it is on (see the module's text)."""

    def __init__(self, backend: str):
        super().__init__()
        self.backend, self.clock, self.backward = backend, 0, False
        self.ops = {"forward": Counter(), "backward": Counter()}
        self.records: dict[int, _Rec] = {}     # id(storage) -> record, while alive
        self.all: list[_Rec] = []
        self.starts: list[int] = []            # clock at each start of a backward pass
        self._refs: dict[int, weakref.ref] = {}

    # ------------------------------------------------------------ seeing ops
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        in_backward = torch._C._current_autograd_node() is not None
        if in_backward and not self.backward:
            self.starts.append(self.clock)
        self.backward = in_backward
        name = func.overloadpacket.__name__
        self.ops["backward" if in_backward else "forward"][name] += 1
        out = func(*args, **kwargs)
        inputs = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        if name in COPY_INTO and inputs:
            self._filled(inputs[0], inputs[1:])
        else:
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self._made(t, name, inputs, kwargs)
        return out

    def _rec(self, t: torch.Tensor) -> _Rec | None:
        try:
            return self.records.get(id(t.untyped_storage()))
        except (RuntimeError, NotImplementedError, TypeError):
            return None

    def _made(self, t, name, inputs, kwargs) -> None:
        if t.device.type not in ("cpu", self.backend):
            return
        try:
            st = t.untyped_storage()
            raw = st.nbytes()
        except (RuntimeError, NotImplementedError, TypeError):
            return
        key = id(st)
        if key in self.records or raw == 0 or any(self._same(st, i) for i in inputs):
            return                                       # a view, or an in-place op's result
        dev = kwargs.get("device")
        pinned = False
        if self.backend == "cpu":
            to_host = name == "_to_copy" and dev is not None and torch.device(dev).type == "cpu"
            born_host = not inputs or to_host
            where = HOST if to_host and any(self.where(i) == DEVICE for i in inputs) else DEVICE
        else:
            born_host = t.device.type == "cpu"
            where, pinned = (HOST, t.is_pinned()) if born_host else (DEVICE, False)
        self.clock += 1
        rec = _Rec(storage_bytes(raw, t.device.type), self.clock, where, pinned, born_host)
        self.records[key] = rec
        self.all.append(rec)
        self._refs[key] = weakref.ref(st, partial(self._freed, key))

    def _filled(self, dst, srcs) -> None:
        """copy_(dst, src): on a CPU-only machine a factory-made buffer filled from the step's
        device tensors becomes a host copy (what `torch.empty(...)` + `copy_` is on a GPU)."""
        rec = self._rec(dst)
        if rec is not None and self.backend == "cpu" and rec.born_host and any(
                self.where(s) == DEVICE for s in srcs):
            rec.where = HOST

    def where(self, t) -> str:
        """HOST or DEVICE: where a tensor lives, by the rule in the module's text (a tensor made
        before the watch started lives where its device says, the compute device on a CPU)."""
        rec = self._rec(t)
        if rec is not None:
            return rec.where
        return HOST if (self.backend != "cpu" and t.device.type == "cpu") else DEVICE

    @staticmethod
    def _same(st, t) -> bool:
        try:
            return t.untyped_storage().data_ptr() == st.data_ptr() and st.data_ptr() != 0
        except (RuntimeError, NotImplementedError, TypeError):
            return False

    def _freed(self, key, _ref) -> None:
        rec = self.records.pop(key, None)
        self._refs.pop(key, None)
        if rec is not None:
            self.clock += 1
            rec.freed = self.clock

    # ------------------------------------------------------------ figures, after the call
    def mark_gradients(self, params) -> None:
        """Storages that ended up as parameters' gradients are not the step's activations."""
        grads = {id(p.grad.untyped_storage()) for p in params if p.grad is not None}
        for key, rec in self.records.items():
            rec.grad = rec.grad or key in grads

    def figures(self) -> dict:
        acts = [r for r in self.all if not r.grad]
        held = []
        for t in self.starts:
            alive = [r for r in acts if r.made <= t and (r.freed is None or r.freed > t)]
            held.append({w: sum(r.nbytes for r in alive if r.where == w) for w in (DEVICE, HOST)}
                        | {"pinned": sum(r.nbytes for r in alive if r.where == HOST and r.pinned)})
        return {"held": held,
                "activation_peak": max_live((r.made, r.freed, r.nbytes) for r in acts if r.where == DEVICE),
                "ops": {k: dict(v) for k, v in self.ops.items()}}

    def close(self) -> None:
        self._refs.clear()
        self.records.clear()


def observe(setup, *args, warmup: int = 1, rng: int = 0, label: str = "", like: str | None = None,
            backend: str | None = None, **kwargs) -> dict:
    """setup(*args, **kwargs) built, measured by the meter (warm-up, then the measured call), and
    watched during the measured call. torch's generator is seeded before every call of the step
    (from `rng` and the call's number), so that setups with dropout draw the same masks. Returns data
    only: the measurement (as a dict), the step's loss, each parameter's gradient after the
    measured call (CPU copies), the rows of each call of the model's forward, the optimizer's
    steps, and the Watch's figures."""
    backend = resolve_backend(backend)
    built = build(setup, *args, like=like, **kwargs)
    model, optimizer = built.model, built.optimizer
    calls, seen = [0], {"loss": None, "rows": [], "steps": 0}
    watch = Watch(backend)

    def rows(_module, inputs):
        first = next((a for a in tree_flatten(inputs)[0] if isinstance(a, torch.Tensor)), None)
        seen["rows"].append(int(first.shape[0]) if first is not None and first.dim() else None)

    def stepped(*_):
        seen["steps"] += 1

    def step():
        calls[0] += 1
        torch.manual_seed(1_000 * rng + calls[0])
        if calls[0] <= warmup:
            return built.step()
        hooks = [model.register_forward_pre_hook(rows)] if isinstance(model, torch.nn.Module) else []
        if isinstance(optimizer, torch.optim.Optimizer):
            hooks.append(optimizer.register_step_post_hook(stepped))
        try:
            with watch:
                out = built.step()
        finally:
            for h in hooks:
                h.remove()
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            seen["loss"] = float(out)
        elif isinstance(out, float):
            seen["loss"] = out
        return out

    try:
        m = measure(Built(step, model, optimizer), warmup=warmup, backend=backend, label=label)
        params = list(model.named_parameters()) if isinstance(model, torch.nn.Module) else []
        watch.mark_gradients([p for _, p in params])
        figures = watch.figures()
    finally:
        watch.close()
    grads = {n: (None if p.grad is None else p.grad.detach().to("cpu", copy=True)) for n, p in params}
    return {"measurement": dataclasses.asdict(m), "loss": seen["loss"], "grads": grads,
            "rows": seen["rows"], "optimizer_steps": seen["steps"], "backend": backend, **figures}


def measurement(data: dict) -> Measurement:
    """The Measurement inside what `observe` returned."""
    return Measurement(**data["measurement"])


def recomputed(candidate: dict, baseline: dict) -> dict[str, int]:
    """Forward ops the candidate's backward ran more often than the baseline's backward did
    (views and copies left out): what a checkpoint recomputed."""
    cb, bb, fw = (candidate["ops"]["backward"], baseline["ops"]["backward"],
                  candidate["ops"]["forward"])
    return {op: n - bb.get(op, 0) for op, n in sorted(cb.items())
            if op in fw and op not in VIEWS and "backward" not in op and n > bb.get(op, 0)}


def gradient_gap(got: dict, want: dict, rtol: float = 1e-4) -> tuple[str, float] | None:
    """The first parameter whose gradient differs from the reference's by more than rtol of the
    reference's largest magnitude, with that relative difference; None when all agree.
    A missing gradient (None) differs by 1.0."""
    for name, w in want.items():
        g = got.get(name)
        if w is None and g is None:
            continue
        if w is None or g is None or g.shape != w.shape:
            return name, 1.0
        scale = float(w.abs().max()) or 1.0
        gap = float((g.double() - w.double()).abs().max()) / scale
        if not gap <= rtol:
            return name, gap
    return None


def require_same_gradients(got: dict, want: dict, rtol: float, context: str, hint: str,
                           of: str = "the baseline's") -> None:
    """AssertionError unless every gradient in `got` is `want`'s within rtol (see
    `gradient_gap`); the message names the parameter, the gap, the draw (`context`) and what to
    look at (`hint`)."""
    gap = gradient_gap(got, want, rtol)
    if gap is not None:
        name, rel = gap
        missing = " (no gradient at all: did something detach the graph?)" if rel == 1.0 else ""
        raise AssertionError(f"{context}: the gradient of {name} differs from {of} by {rel:.2g} of "
                             f"its largest value (allowed {rtol:g}){missing}, in the second step. "
                             f"{hint}")

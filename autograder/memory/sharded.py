"""Memory of a sharded model, one rank's view: local bytes, what is all-gathered, what is sent.

FSDP2 (`torch.distributed.fsdp.fully_shard`) replaces each parameter by a DTensor of which a
rank holds one slice (dim 0 split across the ranks); its gradient and the optimizer's state
are sharded alike. So the bytes a rank keeps are the *local* tensors' (`to_local()`), not
`numel()` (a DTensor reports the global shape). During forward and backward FSDP all-gathers
a unit's parameters (each module given to `fully_shard`) into ordinary tensors and frees them
after; gradients are reduce-scattered back into shards.

    with simulated(world_size=8) as mesh:      # many ranks in one process: the fake group
        ...fully_shard(block, mesh=mesh)...
        with watch_unsharded(model) as seen, collectives() as sent:
            step()
        seen["max"], sent["all_gather"], local_persistent(model, opt)

`simulated` uses PyTorch's fake process group: every collective returns at once and moves no
data, so memory and the sizes of collectives are those of rank 0 of a real run, while the
numbers computed (the loss) are not: check loss parity with real processes (gloo).

Known limitations: `watch_unsharded` samples at each leaf module's forward and backward (the
moments FSDP's hooks gather and free around); the collectives counted are the ones FSDP2
calls in eager mode (`all_gather_single`, `reduce_scatter_single`, `all_reduce`; in older torch
(2.11) `all_gather_into_tensor` and `reduce_scatter_tensor`), by the bytes of their full buffers.
"""
from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Iterable

import torch
import torch.distributed as dist

from .meter import _params, _state_tensors


def _local(t: torch.Tensor) -> torch.Tensor:
    from torch.distributed.tensor import DTensor
    return t.to_local() if isinstance(t, DTensor) else t


def is_sharded(t: torch.Tensor) -> bool:
    from torch.distributed.tensor import DTensor
    return isinstance(t, DTensor)


def local_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes this rank holds of some tensors: a DTensor's local shard, any other tensor whole."""
    return sum(_local(t).numel() * t.element_size() for t in tensors)


def local_persistent(model, optimizer=None) -> dict[str, int]:
    """This rank's bytes of parameters, gradients and optimizer state (state tensors of at
    least one dimension), as the meter's `persistent` counts them on one device."""
    params = _params(model, optimizer)
    return {"parameters": local_bytes(params),
            "gradients": local_bytes(p.grad for p in params if p.grad is not None),
            "optimizer_state": local_bytes(_state_tensors(optimizer))}


@contextlib.contextmanager
def simulated(world_size: int, device: str = "cpu"):
    """Rank 0 of `world_size` ranks in this process (the fake process group); yields the 1-D
    device mesh (on `device`) to shard over, and ends the group after."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.testing._internal.distributed.fake_pg import FakeStore
    if dist.is_initialized():
        raise RuntimeError("a process group is already running in this process; end it "
                           "(torch.distributed.destroy_process_group()) before simulating ranks")
    hook = sys.excepthook          # init_process_group wraps it (a "[rank0]:" prefix) for good
    dist.init_process_group("fake", rank=0, world_size=world_size, store=FakeStore())
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="FSDP2-wrapped module")   # a view returned
            yield init_device_mesh(device, (world_size,))
    finally:
        dist.destroy_process_group()
        sys.excepthook = hook


@contextlib.contextmanager
def watch_unsharded(model: torch.nn.Module):
    """Yields {"max": most parameter bytes held unsharded at once, "samples": how many times it
    looked}, sampled before each leaf module's forward and backward."""
    seen = {"max": 0, "samples": 0}

    def look(*_):
        seen["samples"] += 1
        now = sum(p.numel() * p.element_size() for p in model.parameters() if not is_sharded(p))
        seen["max"] = max(seen["max"], now)

    hooks = []
    for m in model.modules():
        if next(m.children(), None) is None:
            hooks += [m.register_forward_pre_hook(look), m.register_full_backward_pre_hook(look)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        try:
            yield seen
        finally:
            for h in hooks:
                h.remove()


@contextlib.contextmanager
def collectives():
    """Yields {"all_gather": bytes of all-gathered (full) buffers, "reduce_scatter": bytes of
    the full buffers reduce-scattered, "all_reduce": bytes all-reduced, "calls": count} for
    the collectives called inside the block."""
    import inspect
    sent = {"all_gather": 0, "reduce_scatter": 0, "all_reduce": 0, "calls": 0}
    # function -> (what it counts as, the argument whose bytes are the full buffer); FSDP2 calls
    # the *_single names in newer torch (2.13 here), all_gather_into_tensor and reduce_scatter_tensor
    # before (Colab's torch 2.11): only one pair is patched, as the other may call it
    single = hasattr(dist, "all_gather_single")
    names = {"all_gather_single" if single else "all_gather_into_tensor": ("all_gather", "output_tensor"),
             "reduce_scatter_single" if single else "reduce_scatter_tensor": ("reduce_scatter", "input"),
             "all_reduce": ("all_reduce", "tensor")}
    originals = {n: getattr(dist, n) for n in names}

    def counting(name):
        kind, arg = names[name]
        orig, sig = originals[name], inspect.signature(originals[name])

        def call(*args, **kwargs):
            t = sig.bind(*args, **kwargs).arguments[arg]
            sent[kind] += t.numel() * t.element_size()
            sent["calls"] += 1
            return orig(*args, **kwargs)
        return call

    for n in names:
        setattr(dist, n, counting(n))
    try:
        yield sent
    finally:
        for n, f in originals.items():
            setattr(dist, n, f)

"""Memory of DataLoader worker processes: unique set size per worker over an epoch, and prefetching.

A DataLoader with `num_workers > 0` forks its workers from the process that holds the
dataset, so at first they share its pages. Reading a Python object writes to it (its
reference count), and the operating system then copies the whole page into that worker: a
dataset of many Python objects is copied, page by page, into every worker as the epoch touches
it ("copy on read"). Its unique set size (USS: pages no other process shares, read by psutil
from /proc) grows; a dataset held in a few NumPy arrays or tensors is read without writing, and
its workers stay small.

Python's garbage collector writes into every container object it inspects, and a worker's
first full collection copies the pages of everything the parent had made (torch's own objects:
tens of MiB). `epoch_memory` freezes the collector's view of the parent's objects before the
workers start (`gc.freeze`), so that the growth it reports is the dataset's; pass
`freeze=False` to see the collector's share too.

    report = epoch_memory(dataset, batch_size=512, num_workers=2, seed=0)
    report.growth          # bytes each worker's USS grew between its first and last batch
    report.digests         # one checksum per batch, in order: what the loader delivered

`in_flight` counts the batches a loader has made ahead of its consumer (prefetching).

Known limitations: Linux only (fork, /proc); USS is sampled from the parent once each worker
has delivered a batch and after the last (workers may have run ahead of both); other children
of the calling process started meanwhile would be counted as workers.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any

import torch

MiB = 2**20


@dataclass(frozen=True)
class EpochMemory:
    """What one epoch through a DataLoader cost its workers, and what it delivered."""
    num_workers: int
    batches: int
    start: tuple[int, ...]          # USS of each worker once each has delivered a batch (bytes)
    end: tuple[int, ...]            # ... and after the last
    digests: tuple[str, ...]        # one checksum per batch, in delivery order
    first: Any = field(default=None, compare=False)   # the first batch itself, for messages
    seconds: float = 0.0

    @property
    def growth(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.start, self.end))

    def describe(self) -> str:
        grow = ", ".join(f"{a / MiB:.1f} -> {b / MiB:.1f} MiB" for a, b in zip(self.start, self.end))
        return (f"{self.batches} batches in {self.seconds:.1f} s; unique memory per worker: {grow}")


def _uss(pid: int) -> int:
    import psutil
    return psutil.Process(pid).memory_full_info().uss


def _feed(h, obj) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{obj.dtype}{tuple(obj.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(b"D")
        for k in sorted(obj, key=repr):
            h.update(repr(k).encode())
            _feed(h, obj[k])
    elif isinstance(obj, (tuple, list)):
        h.update(f"L{len(obj)}:".encode())
        for item in obj:
            _feed(h, item)
    else:
        h.update(f"V{type(obj).__name__}{obj!r}:".encode())


def digest(batch) -> str:
    """A checksum of a batch (nested tuples, lists, dicts of tensors and numbers): the same for
    equal batches, different for a changed value, order, dtype or shape."""
    import hashlib
    h = hashlib.blake2b(digest_size=12)
    _feed(h, batch)
    return h.hexdigest()


def epoch_memory(dataset, *, batch_size: int, num_workers: int = 2, seed: int = 0,
                 freeze: bool = True, **loader_kwargs) -> EpochMemory:
    """One shuffled epoch of `dataset` through a DataLoader with forked workers: each worker's
    USS once every worker has delivered a batch and after the last, and a checksum of every
    batch delivered."""
    import psutil
    from torch.utils.data import DataLoader
    g = torch.Generator().manual_seed(seed)
    kw = dict(multiprocessing_context="fork") if num_workers else {}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=g,
                        num_workers=num_workers, **kw, **loader_kwargs)
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    gc.collect()
    if freeze:
        gc.freeze()
    t0 = time.perf_counter()
    try:
        it = iter(loader)
        n = len(loader)
        first = next(it)
        digests = [digest(first)]
        # batch i comes from worker i % num_workers: once each has delivered one, each has
        # finished starting up (on a loaded machine a worker may start late), so the growth
        # sampled from here on is the dataset's reads, not a worker's start-up
        for _ in range(min(num_workers, n) - 1):
            digests.append(digest(next(it)))
        pids = [p.pid for p in me.children() if p.pid not in before][:num_workers]
        start = tuple(_uss(p) for p in pids)
        for _ in range(n - len(digests)):
            digests.append(digest(next(it)))
        end = tuple(_uss(p) for p in pids)    # after the last batch, before the workers exit
        del it
    finally:
        if freeze:
            gc.unfreeze()
    return EpochMemory(num_workers, n, start, end, tuple(digests), first, time.perf_counter() - t0)


class _Counted(torch.utils.data.Dataset):
    """A dataset of `n` small tensors that counts, in shared memory, the items its workers made."""

    def __init__(self, n: int, counter):
        self.n, self.counter = n, counter

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        with self.counter.get_lock():
            self.counter.value += 1
        return torch.full((4,), i)


def in_flight(num_workers: int, prefetch_factor: int | None = None, batch_size: int = 4,
              consumed: int = 3, settle: float = 0.3, limit: float = 10.0) -> int:
    """Batches a DataLoader has made but its consumer has not taken yet, once the consumer has
    taken `consumed` batches and the workers have run ahead as far as they go (no new item for
    `settle` seconds; at most `limit` seconds of waiting)."""
    import multiprocessing as mp
    import warnings
    from torch.utils.data import DataLoader
    ctx = mp.get_context("fork")
    counter = ctx.Value("l", 0)
    kw = {} if num_workers == 0 else dict(multiprocessing_context=ctx, prefetch_factor=prefetch_factor)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This DataLoader will create")
        loader = DataLoader(_Counted(batch_size * (consumed + 64), counter), batch_size=batch_size,
                            num_workers=num_workers, **kw)
        it = iter(loader)
        for _ in range(consumed):
            next(it)
        seen, still, end = counter.value, time.monotonic(), time.monotonic() + limit
        while num_workers and time.monotonic() < end and time.monotonic() - still < settle:
            time.sleep(0.02)
            if counter.value != seen:
                seen, still = counter.value, time.monotonic()
        made = counter.value // batch_size
        del it
    return made - consumed

"""Chapter 14, data loading: the exercise's dataset, the page's demos, and the checks.

A DataLoader's workers are processes forked from the one holding the dataset. A dataset of
many Python objects is copied into each worker page by page as an epoch reads it (reading an
object writes its reference count: "copy on read"); one held in a few NumPy arrays is not.
The exercise's `DocsDataset` holds a list of token lists (ragged documents); a student's
`PackedDocs(docs)` must deliver the same batches in the same order with workers that stay
small. The checks: (a) the batches of a shuffled epoch, with and without workers, equal
DocsDataset's; (b) each worker's unique memory (USS) grows over an epoch by at most
GROWTH_LIMIT of DocsDataset's growth, measured in the same run, the batches checked too;
(c) a student's `in_flight(num_workers, prefetch_factor)` predicts the batches a loader has
made ahead of its consumer, as measured.

Known limitations: Linux only (fork, /proc); USS is sampled after the first and the last
batch; pinned memory and non-blocking copies need a GPU, so on a CPU the page shows them as
recorded on one (or says that none is recorded yet).
"""
from __future__ import annotations

import random
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .answers import answer_int, probe
from .memory.workers import epoch_memory, in_flight as measured_in_flight

SLUG = "ch14_data_loading"
FALLBACK = ("Data loading runs on the CPU here: worker processes, their memory and the "
            "prefetching are measured for real; pinned memory needs a GPU, so its figures are "
            "the ones recorded on one.")
SEQ = 8                      # tokens per item: a document is padded or cut to SEQ
N_DOCS, BATCH, WORKERS = 120_000, 512, 2
GROWTH_LIMIT = 0.10          # a worker may grow by at most 10% of DocsDataset's growth
MIN_BASELINE = 16 * 2**20    # below this the baseline shows no copy on read: the check cannot decide
MiB = 2**20


# ---------------------------------------------------------------- the exercise's dataset
def make_docs(n: int = N_DOCS, seed: int = 0) -> list[list[int]]:
    """n documents: lists of 4 to 12 token ids (ints from 1000 to 50,999), from `seed` alone."""
    r = random.Random(seed)
    docs = []
    for _ in range(n):
        start = r.randrange(1000, 50_000)
        docs.append(list(range(start, start + r.randint(4, 12))))
    return docs


def pad(tokens) -> tuple[torch.Tensor, int]:
    """(the first SEQ tokens, zero-padded to SEQ, as int64; the document's length)."""
    out = torch.zeros(SEQ, dtype=torch.int64)
    n = min(len(tokens), SEQ)
    out[:n] = torch.as_tensor(tokens[:n], dtype=torch.int64)
    return out, len(tokens)


class DocsDataset(Dataset):
    """The baseline: the documents as Python lists; item i is pad(docs[i])."""

    def __init__(self, docs):
        self.docs = docs

    def __len__(self):
        return len(self.docs)

    def __getitem__(self, i):
        return pad(self.docs[i])


# ---------------------------------------------------------------- the page's datasets and demos
def make_names(n: int, seed: int = 0) -> list[str]:
    """n short strings, like file names or captions: 'img-00001234-c07'."""
    r = random.Random(seed)
    return [f"img-{i:08d}-c{r.randrange(100):02d}" for i in range(n)]


def encode(name) -> torch.Tensor:
    """The last 3 characters of a name (str or bytes) as a uint8 tensor: the item a model reads."""
    b = name.encode() if isinstance(name, str) else bytes(name)
    return torch.frombuffer(bytearray(b[-3:]), dtype=torch.uint8)


class NamesList(Dataset):
    """The page's copy-on-read case: a list of Python strings."""

    def __init__(self, names):
        self.names = names

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        return encode(self.names[i])


class NamesArray(NamesList):
    """The same strings in one NumPy array of fixed-width bytes: one object, read without writes."""

    def __init__(self, names):
        self.names = np.array([s.encode() for s in names])


class Slow(Dataset):
    """Items that cost time to make: `io` seconds waiting (a disk or network read) plus `cpu`
    seconds of arithmetic (decoding), for a throughput figure."""

    def __init__(self, n: int, io: float = 0.0, cpu: float = 0.0):
        self.n, self.io, self.cpu = n, io, cpu

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.io:
            time.sleep(self.io)
        end = time.perf_counter() + self.cpu
        x = np.float64(i)
        while time.perf_counter() < end:
            x = np.sqrt(x * x + 1.0)
        return torch.full((64,), float(x))


def throughput(dataset, num_workers: int, batch_size: int = 16, step: float = 0.0) -> float:
    """Items per second through a DataLoader over `dataset`, from its first batch on (starting
    the workers is left out), with a training step of `step` seconds (a sleep) per batch."""
    import warnings
    kw = dict(multiprocessing_context="fork") if num_workers else {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This DataLoader will create")
        it = iter(DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, **kw))
        next(it)
        t0, n = time.perf_counter(), 0
        for xb in it:
            n += len(xb)
            if step:
                time.sleep(step)
    return n / (time.perf_counter() - t0)


def collect_garbage(worker_id: int) -> None:
    """A worker_init_fn that runs a full garbage collection in the worker, as a long epoch does."""
    import gc
    gc.collect()


# ---------------------------------------------------------------- probes (run where the answer lives)
def _probe_epoch(dataset_cls, n: int, seed: int, batch_size: int = BATCH, num_workers: int = WORKERS,
                 shuffle_seed: int = 0) -> dict:
    """Build dataset_cls(make_docs(n, seed)), run one shuffled epoch: per-worker USS, digests."""
    ds = dataset_cls(make_docs(n, seed))
    try:
        size = len(ds)
    except TypeError:
        raise AssertionError(f"{dataset_cls.__name__} has no __len__: a map-style dataset needs one") from None
    r = epoch_memory(ds, batch_size=batch_size, num_workers=num_workers, seed=shuffle_seed)
    short = lambda v: v[:2].tolist() if isinstance(v, torch.Tensor) else repr(v)[:100]  # noqa: E731
    first = [short(v) for v in r.first] if isinstance(r.first, (list, tuple)) else short(r.first)
    return {"len": size, "digests": list(r.digests), "start": list(r.start), "end": list(r.end),
            "first": first, "seconds": r.seconds}


def _same_batches(got: dict, want: dict, where: str) -> None:
    if got["len"] != want["len"]:
        raise AssertionError(f"{where}: the dataset has {got['len']:,} items, DocsDataset {want['len']:,}")
    for i, (a, b) in enumerate(zip(got["digests"], want["digests"])):
        if a != b:
            raise AssertionError(
                f"{where}: batch {i} differs from DocsDataset's (first batch yours: {got['first']!s:.300}; "
                f"DocsDataset's: {want['first']!s:.300}). Item i must be pad(docs[i]): the "
                "first SEQ tokens as int64, zero-padded, and the document's full length")
    if len(got["digests"]) != len(want["digests"]):
        raise AssertionError(f"{where}: {len(got['digests'])} batches, DocsDataset {len(want['digests'])}")


# ---------------------------------------------------------------- the checks
def check_batches(dataset_cls, hidden=False):
    """(a) A shuffled epoch delivers DocsDataset's batches, in order, with 0 and 2 workers."""
    r = random.Random(None if hidden else 0)
    runs = [(20_000, 0, 256, 0), (20_000, 1, 500, 2)] if not hidden else \
        [(r.randrange(10_000, 30_000), r.randrange(10**6), r.choice([128, 300, 512]), w) for w in (0, 2)]
    for n, seed, batch, workers in runs:
        kw = dict(n=n, seed=seed, batch_size=batch, num_workers=workers, shuffle_seed=seed + 1)
        want = _probe_epoch(DocsDataset, **kw)
        got = probe(dataset_cls, _probe_epoch, **kw)
        _same_batches(got, want, f"{n:,} documents, batch {batch}, {workers} workers")
    print(f"batches: {len(runs)} shuffled epochs equal to DocsDataset's, batch by batch")


def check_memory(dataset_cls, hidden=False):
    """(b) Each worker's USS grows over an epoch by at most GROWTH_LIMIT of DocsDataset's; the
    same run delivers DocsDataset's batches."""
    n, seed = (N_DOCS, 0) if not hidden else (random.choice([100_000, 120_000, 150_000]), random.randrange(1, 10**6))
    kw = dict(n=n, seed=seed, shuffle_seed=seed + 7)
    base = _probe_epoch(DocsDataset, **kw)
    got = probe(dataset_cls, _probe_epoch, **kw)
    where = f"{n:,} documents, {WORKERS} workers"
    _same_batches(got, base, where)
    grow_b = [b - a for a, b in zip(base["start"], base["end"])]
    grow = [b - a for a, b in zip(got["start"], got["end"])]
    if min(grow_b) < MIN_BASELINE:
        raise AssertionError(f"{where}: DocsDataset's workers grew by only {min(grow_b) / MiB:.1f} MiB: "
                             "this machine shows no copy on read, so the check cannot decide")
    limit = GROWTH_LIMIT * min(grow_b)
    if max(grow) > limit:
        raise AssertionError(
            f"{where}: a worker's unique memory grew by {max(grow) / MiB:.1f} MiB over the epoch, "
            f"DocsDataset's by {min(grow_b) / MiB:.1f} MiB; at most {GROWTH_LIMIT:.0%} of it "
            f"({limit / MiB:.1f} MiB). Every Python object a worker reads (a list, an int, a NumPy "
            "array of its own, an object array's items) is copied into it: keep the tokens in a "
            "few flat arrays")
    print(f"memory ({where}): each worker grew by at most {max(grow) / MiB:.1f} MiB, "
          f"DocsDataset's by {min(grow_b) / MiB:.1f} MiB ({max(grow) / min(grow_b):.0%} of it); "
          "same batches")


def check_in_flight(fn, hidden=False):
    """(c) fn(num_workers, prefetch_factor) equals the batches measured in flight."""
    r = random.Random(None if hidden else 2)
    cases = [(0, None), (1, 2), (2, 3)] + [(r.randint(1, 3), r.randint(1, 4)) for _ in range(2 if hidden else 0)]
    for w, p in cases:
        want = measured_in_flight(w, p)
        got = answer_int(fn(w, p), f"in_flight({w}, {p})")
        if got != want:
            raise AssertionError(f"in_flight({w}, {p}): predicted {got}, measured {want} batches made "
                                 "ahead of the consumer")
    print(f"in_flight: {len(cases)} loaders predicted exactly")


# ---------------------------------------------------------------- figures recorded on a GPU
def record(dry: bool = False) -> dict:
    """What `dev.py gpu-figures` stores: host-to-device copies from pageable and pinned memory,
    and loader throughput with and without pin_memory, by workers. (dry: the same walk on this
    CPU, nothing pinned, a smaller dataset, for `--dry-run`.)"""
    if not dry and not torch.cuda.is_available():
        raise RuntimeError("no GPU: chapter 14 records nothing on a CPU-only machine")
    dev, items = ("cpu", 512) if dry else ("cuda", 4096)
    sync = (lambda: None) if dry else torch.cuda.synchronize
    copies = {}
    for mib in (1, 16, 256):
        for pinned in (False, True):
            x = torch.empty(mib * MiB // 4, pin_memory=pinned and not dry)
            x.to(dev, non_blocking=pinned)
            sync()
            t0 = time.perf_counter()
            for _ in range(5):
                x.to(dev, non_blocking=pinned)
            sync()
            copies[f"{mib} MiB {'pinned' if pinned else 'pageable'}"] = 5 * mib * MiB / (time.perf_counter() - t0)
    loaders = {}
    for workers in (0, 1, 2, 4, 8):
        for pin in (False, True):
            kw = dict(multiprocessing_context="fork") if workers else {}
            loader = DataLoader(Slow(items, cpu=2e-4), batch_size=64, num_workers=workers,
                                pin_memory=pin and not dry, **kw)
            t0 = time.perf_counter()
            for xb in loader:
                xb.to(dev, non_blocking=pin)
            sync()
            loaders[f"{workers} workers{', pinned' if pin else ''}"] = items / (time.perf_counter() - t0)
    return {"copy_bytes_per_s": copies, "items_per_s": loaders}

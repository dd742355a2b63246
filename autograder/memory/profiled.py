"""Peak bytes of one call where the storage tracker cannot look: compiled code, collectives.

The meter's tracker (`tracker`) is a TorchDispatchMode, and torch.compile refuses to run
compiled code under one: the call runs eagerly instead, without a word. Measured here (torch
2.13): a compiled function called once under the tracker stays eager for the rest of the
process, because Dynamo marks its code object to be skipped (even a new `torch.compile` of the
same function runs eagerly; `torch._dynamo.reset()` undoes it). So compiled code is measured
from outside the dispatcher:

  cpu   the profiler's memory records (`profile_memory=True`): every allocation and free
        through c10's CPU allocator, in time order; the peak is the running sum's maximum.
  cuda  the caching allocator's counters (`max_memory_allocated` above the start).

The same profile says whether compiled code ran: one "Torch-Compiled Region" event per call
into a graph that Dynamo compiled. `profile_call` reports both, and whether a dispatch mode
was active (then no compiled code can run), so that a page or a check never reports an eager
figure as the compiled one.

    out, p = profile_call(fn, x, b)
    p.peak, p.compiled_regions, p.graphs

Known limitations: allocations that bypass c10's allocator (NumPy, a library's own malloc)
are not seen on the CPU; the CPU figure counts every thread's allocations during the call;
C++ messages the profiler prints at start and stop are dropped (other stderr output of the
call is passed on).
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .backend import resolve_backend

REGION = "Torch-Compiled Region"
_NOISE = re.compile(r"USDT:|SyncActivityProfilerHandler|allocated before the profiling started")


@dataclass(frozen=True)
class Profiled:
    """One call's memory, measured from outside the dispatcher, and what ran in it."""
    backend: str                # "cpu" or "cuda"
    method: str                 # how the peak was measured
    peak: int                   # most bytes allocated at once above the start of the call
    retained: int               # bytes still allocated after the call, above the start
    compiled_regions: int       # calls into compiled graphs during the call
    graphs: tuple[str, ...]     # the compiled graphs that ran ("0/0", "1/0", ...), in order
    dispatch_mode: bool         # a TorchDispatchMode was active: compiled code could not run

    @property
    def compiled(self) -> bool:
        return self.compiled_regions > 0

    def describe(self) -> str:
        ran = (f"compiled code ran ({self.compiled_regions} call(s) into graph(s) "
               f"{', '.join(dict.fromkeys(self.graphs))})" if self.compiled
               else "no compiled code ran: every op ran eagerly")
        return f"{ran}; peak {self.peak:,} bytes above the start [{self.backend}: {self.method}]"


def dispatch_mode_active() -> bool:
    """Whether a TorchDispatchMode (the course's tracker, say) is active here."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode
    return _get_current_dispatch_mode() is not None


@contextlib.contextmanager
def _quiet_stderr():
    """fd 2 into a file while the profiler runs; what is not the profiler's noise goes on."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):          # no real fd 2 (some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            said = [ln for ln in tmp.read().decode(errors="replace").splitlines(True)
                    if ln.strip() and not _NOISE.search(ln)]
            if said:
                sys.stderr.write("".join(said))


def _cpu_peak(events) -> tuple[int, int]:
    """(peak, end) of the running sum of CPU memory records, above its start."""
    cpu = torch._C._autograd.DeviceType.CPU
    records = sorted((e.start_ns(), e.nbytes()) for e in events
                     if e.name() == "[memory]" and e.device_type() == cpu)
    live = peak = 0
    for _, n in records:
        live += n
        peak = max(peak, live)
    return peak, live


def profile_call(fn: Callable, *args, backend: str | None = None, **kwargs) -> tuple[Any, Profiled]:
    """fn(*args, **kwargs) once, profiled: (its result, what it allocated and what ran).

    Warm a compiled function up first (its first call compiles, and allocates for that);
    the result is kept alive, so `retained` counts the outputs.
    """
    from torch.profiler import ProfilerActivity, profile
    backend = resolve_backend(backend)
    mode = dispatch_mode_active()
    cuda = backend == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    with _quiet_stderr():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=not cuda) as prof:
            out = fn(*args, **kwargs)
            if cuda:
                torch.cuda.synchronize()
    events = list(prof.profiler.kineto_results.events())
    graphs = tuple(e.name().split(":", 1)[1].strip() for e in events if e.name().startswith(REGION))
    if cuda:
        peak, retained = torch.cuda.max_memory_allocated() - base, torch.cuda.memory_allocated() - base
        method = "caching allocator (max_memory_allocated - start)"
    else:
        peak, retained = _cpu_peak(events)
        method = "CPU profiler memory records (profile_memory=True)"
    return out, Profiled(backend, method, peak, retained, len(graphs), graphs, mode)

"""Display for the memory meter: tables in MiB, bar charts, and a GPU memory snapshot.

Kept apart from `meter` so that measuring never imports matplotlib (it is imported inside the
plotting functions), and units appear only here. It reads Measurements by their fields and
imports nothing of the meter, so the meter can use it for `print(m)` and `m.plot()`.

Known limitations: snapshots need a CUDA GPU (the CPU has no caching allocator to record);
the bars show the breakdown at the peak, not its evolution over the step (open a snapshot
in https://pytorch.org/memory_viz for that).
"""
from __future__ import annotations

from typing import Any, Callable

from .arithmetic import FIGURES
from .backend import MeterError, resolve_backend

MiB = 2**20
LABELS = {
    "parameters": "parameters", "gradients": "gradients", "optimizer_state": "optimizer state",
    "activations": "activations (saved for backward)", "other": "other (inputs, buffers, data)",
    "temporaries": "temporaries", "unattributed": "unattributed (allocator workspaces)",
}
COLORS = {
    "parameters": "#4c72b0", "gradients": "#dd8452", "optimizer_state": "#55a868",
    "activations": "#c44e52", "other": "#8c8c8c", "temporaries": "#ccb974",
    "unattributed": "#64b5cd",
}


def mib(n: int) -> str:
    return f"{n / MiB:10.2f} MiB"


def format_measurement(m: "Measurement") -> str:
    """A short table: baseline, peak above it, the breakdown at the peak, and what it used."""
    title = f"Memory of one step{f' ({m.label})' if m.label else ''}"
    rows = [title, f"  measured on {m.backend}: {m.method}; {m.device}"
            + ("; in a fresh process" if m.isolated else ""),
            f"  {'live before the step (baseline)':40s}{mib(m.baseline)}",
            f"  {'peak above the baseline':40s}{mib(m.peak)}",
            "  live at the peak, by kind:"]
    rows += [f"    {LABELS.get(k, k):38s}{mib(v)}" for k, v in m.breakdown.items()
             if v or k != "unattributed"]
    rows.append(f"  {'saved for backward (most at once)':40s}{mib(m.saved)}")
    rows.append(f"  {'params + grads + optimizer state after':40s}{mib(sum(m.persistent.values()))}")
    if m.backend == "cuda":
        rows.append(f"  {'tracked peak (tensors only)':40s}{mib(m.tracked_peak)}")
        if m.reserved_peak is not None:
            rows.append(f"  {'reserved by the allocator, above start':40s}{mib(m.reserved_peak)}")
    if m.retained:
        more = "more" if m.retained > 0 else "less"
        rows.append(f"  the step left {abs(m.retained) / MiB:.2f} MiB {more} alive than before"
                    + (" (kept tensors? memory grows step after step)" if m.retained > 0 else ""))
    return "\n".join(rows)


def format_comparison(c: "Comparison") -> str:
    b, k = c.baseline.figure(c.what), c.candidate.figure(c.what)
    return (f"{FIGURES.get(c.what, c.what)}: baseline {b / MiB:.2f} MiB, candidate "
            f"{k / MiB:.2f} MiB, ratio {c.ratio:.3f} ({c.reduction:.0%} lower) "
            f"[{c.baseline.backend}: {c.baseline.method}]")


def _stack(ax, x: float, m: "Measurement", legend: bool) -> None:
    bottom = 0.0
    for k, v in m.breakdown.items():
        if v == 0 and k == "unattributed":
            continue
        ax.bar(x, v / MiB, bottom=bottom, color=COLORS.get(k), width=0.6,
               label=LABELS.get(k, k) if legend else None)
        bottom += v / MiB
    ax.hlines(m.baseline / MiB, x - 0.35, x + 0.35, colors="black", linestyles="dashed",
              label="baseline (live before the step)" if legend else None)


def plot_breakdown(m: "Measurement", ax=None):
    """A stacked bar of what was live at the peak, with the baseline as a dashed line."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    _stack(ax, 0, m, legend=True)
    ax.set_xticks([0], [m.label or "step"])
    ax.set_ylabel("MiB live at the peak")
    ax.set_title(f"{m.backend}: {m.device}"[:60], fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    return ax


def _bars(ax, x: float, m: "Measurement", what: str, legend: bool) -> None:
    """One bar of figure `what`; persistent bytes stacked by their three kinds."""
    parts = m.persistent if what == "persistent" else {what: m.figure(what)}
    bottom = 0.0
    for k, v in parts.items():
        color = COLORS.get("activations" if k == "saved" else k, "#8c8c8c")
        ax.bar(x, v / MiB, bottom=bottom, color=color, width=0.6,
               label=(LABELS.get(k) or FIGURES.get(k, k)) if legend else None)
        bottom += v / MiB
    ax.annotate(f"{bottom:.2f} MiB", (x, bottom), ha="center", va="bottom", fontsize=8,
                xytext=(0, 2), textcoords="offset points")


def plot_comparison(c: "Comparison", ax=None):
    """Baseline and candidate side by side, the ratio in the title: for "peak" and "total",
    what was live at the peak, stacked by kind; for any other figure (saved, persistent, ...),
    that figure itself, so that two panels of two figures never show the same bars."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for x, m in enumerate((c.baseline, c.candidate)):
        if c.what in ("peak", "total"):
            _stack(ax, x, m, legend=x == 0)
        else:
            _bars(ax, x, m, c.what, legend=x == 0)
    ax.set_xticks([0, 1], [c.baseline.label or "baseline", c.candidate.label or "candidate"])
    ax.set_ylabel("MiB live at the peak" if c.what in ("peak", "total")
                  else f"MiB: {FIGURES.get(c.what, c.what)}")
    ax.set_title(f"{c.what}: ratio {c.ratio:.2f} ({c.baseline.backend})", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    return ax


def snapshot(step: Callable[[], Any], path: str = "memory_snapshot.pickle", warmup: int = 1) -> str:
    """Record one step's allocator history to `path`, for https://pytorch.org/memory_viz.

    GPU only: the CPU has no caching allocator history, and the meter says so instead of
    writing an empty file.
    """
    import torch
    if resolve_backend(None) != "cuda":
        raise MeterError("a memory snapshot needs a CUDA GPU; on the CPU, use "
                         "measure(...).plot() for the breakdown at the peak.")
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.memory._record_memory_history(max_entries=100_000)
    try:
        step()
        torch.cuda.synchronize()
        torch.cuda.memory._dump_snapshot(path)
    finally:
        torch.cuda.memory._record_memory_history(enabled=None)
    return path

"""What does the memory meter cost? A plain script (not a test): prints a table.

    python benchmarks/bench_meter.py [--repeat 15] [--backend cpu|cuda]

Per workload: the median time of a plain training step; the median time of the same step with
the meter's tracking on (dispatch-mode tracker, saved-tensor and gradient hooks) plus the
classification afterwards; the overhead between them (target: under 30%); and the wall time of
one whole `measure()` call, which adds a warm-up step, a full garbage collection and the
baseline scan (a fixed cost, paid once per measurement, not per step).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from autograder import memory
from autograder.memory import tracker as memory_tracker

WORKLOADS = {
    "MLP 64x512, 4 blocks, Adam": lambda dev: memory.mlp(device=dev),
    "MLP 256x1024, 4 blocks, Adam": lambda dev: memory.mlp(batch=256, width=1024, device=dev),
    "transformer block x2, 8x128x256, Adam": lambda dev: memory.transformer_block(device=dev),
}


def _sync(backend: str) -> None:
    if backend == "cuda":
        torch.cuda.synchronize()


def _plain(step, backend: str) -> float:
    _sync(backend)
    t = time.perf_counter()
    step()
    _sync(backend)
    return time.perf_counter() - t


def _tracked(step, params, backend: str) -> tuple[float, int]:
    _sync(backend)
    t = time.perf_counter()
    tracker = memory_tracker.Tracker(backend)
    with memory_tracker.tracking(tracker, params):
        step()
    _sync(backend)
    tracker.breakdown(tracker.t_peak)
    tracker.saved_max()
    tracker.close()
    return time.perf_counter() - t, len(tracker.records)


def run(repeat: int, backend: str) -> list[dict]:
    rows = []
    for name, make in WORKLOADS.items():
        spec = make(backend)
        step, params = spec["step"], list(spec["model"].parameters())
        for _ in range(3):
            step()
        plain, tracked, storages = [], [], 0
        for _ in range(repeat):   # interleaved, so that drifts of the machine hit both alike
            plain.append(_plain(step, backend))
            dt, storages = _tracked(step, params, backend)
            tracked.append(dt)
        t = time.perf_counter()
        memory.measure(step, model=spec["model"], optimizer=spec["optimizer"], backend=backend)
        whole = time.perf_counter() - t
        p, q = statistics.median(plain), statistics.median(tracked)
        rows.append({"workload": name, "step_ms": 1e3 * p, "tracked_ms": 1e3 * q,
                     "overhead": q / p - 1, "measure_ms": 1e3 * whole, "storages": storages})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--backend", choices=["cpu", "cuda"], default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads for torch (1: steadier on a shared machine)")
    args = ap.parse_args()
    backend = memory.resolve_backend(args.backend)
    torch.set_num_threads(args.threads)
    print(f"backend: {backend}; torch {torch.__version__}; {torch.get_num_threads()} threads; "
          f"median of {args.repeat}")
    head = f"{'workload':40s} {'step ms':>9s} {'tracked ms':>11s} {'overhead':>9s} {'measure() ms':>13s} {'storages':>9s}"
    print(head)
    print("-" * len(head))
    for r in run(args.repeat, backend):
        flag = "" if r["overhead"] < 0.30 else "  (above the 30% target)"
        print(f"{r['workload']:40s} {r['step_ms']:9.2f} {r['tracked_ms']:11.2f} "
              f"{r['overhead']:9.1%} {r['measure_ms']:13.1f} {r['storages']:9d}{flag}")


if __name__ == "__main__":
    main()

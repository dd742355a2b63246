"""Does the meter tell the same story on a CPU and on a GPU? Record both, side by side.

    python -m autograder.memory.agreement   # prints; on a GPU also writes autograder/results/meter_agreement.json

The same small workloads (an MLP and a transformer block, with Adam, SGD, bf16, checkpointing)
are measured with the CPU storage tracker and, where a GPU is present, with the CUDA caching
allocator. What must agree is not bytes (the allocator rounds, cuBLAS keeps workspaces) but the
ratios the chapters grade: checkpointing's saved-bytes reduction, Adam vs SGD state, bf16 halving.
The workloads live in `workloads`, importable by name, so `measure_isolated` and the benchmark
use them too.

Known limitations: one GPU (device 0); the CPU figures come from the CPU's own kernels, whose
temporaries differ from CUDA's (foreach optimizers, attention); without a GPU, `record()` returns
the CPU half only and the command writes nothing unless told to.
"""
from __future__ import annotations

import datetime
import json
import platform
import subprocess
import sys

import torch

from .backend import resolve_backend
from .isolated import measure_isolated
from .meter import Measurement, measure
from .setups import build
from .workloads import mlp, transformer_block

WORKLOADS = {
    "mlp_adam": (mlp, {}),
    "mlp_sgd": (mlp, {"optimizer": "sgd"}),
    "mlp_adam_bf16": (mlp, {"dtype": "bfloat16"}),
    "mlp_adam_checkpoint": (mlp, {"ckpt": True}),
    "block_adam": (transformer_block, {}),
    "block_adam_checkpoint": (transformer_block, {"ckpt": True}),
}
# (name, baseline workload, candidate workload, figure): the ratios the chapters grade
PAIRS = [
    ("optimizer_state_sgd_vs_adam", "mlp_adam", "mlp_sgd", "persistent"),
    ("bf16_persistent", "mlp_adam", "mlp_adam_bf16", "persistent"),
    ("bf16_peak", "mlp_adam", "mlp_adam_bf16", "peak"),
    ("checkpoint_saved_mlp", "mlp_adam", "mlp_adam_checkpoint", "saved"),
    ("checkpoint_peak_mlp", "mlp_adam", "mlp_adam_checkpoint", "peak"),
    ("checkpoint_saved_block", "block_adam", "block_adam_checkpoint", "saved"),
    ("checkpoint_peak_block", "block_adam", "block_adam_checkpoint", "peak"),
]


def measure_workload(name: str, backend: str) -> Measurement:
    setup, kwargs = WORKLOADS[name]
    return measure(build(setup, device=backend, **kwargs), backend=backend, label=name)


def isolated_peak(backend: str) -> int:
    """The MLP workload's peak measured in a fresh process, its model built on `backend`'s
    device (built on the CPU, a CUDA measurement would read the allocator's counters at 0)."""
    return measure_isolated("autograder.memory.workloads:mlp", backend=backend, device=backend).peak


def _figures(m: Measurement) -> dict:
    return {"baseline": m.baseline, "peak": m.peak, "tracked_peak": m.tracked_peak,
            "saved": m.saved, "persistent": m.persistent, "breakdown": m.breakdown,
            "reserved_peak": m.reserved_peak, "method": m.method}


def _versions() -> dict:
    v = {"python": platform.python_version(), "torch": torch.__version__,
         "cuda": torch.version.cuda, "cudnn": None, "driver": None}
    if torch.cuda.is_available():
        v["cudnn"] = torch.backends.cudnn.version()
        try:
            v["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
        except Exception:
            pass
    return v


def record(dry: bool = False) -> dict:
    """Measure every workload on the CPU and, where torch sees one, on the GPU; return a dict.
    (dry: the recording's dry run; without a GPU this is the CPU half, as on any CPU machine.)"""
    from ..device import detect
    gpu = resolve_backend(None) == "cuda"
    backends = ["cpu", "cuda"] if gpu else ["cpu"]
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "device": detect().describe(), "gpu": torch.cuda.get_device_name() if gpu else None,
           "versions": _versions(), "workloads": {}, "ratios": {}, "agreement": {}}
    ms = {b: {n: measure_workload(n, b) for n in WORKLOADS} for b in backends}
    for n in WORKLOADS:
        out["workloads"][n] = {b: _figures(ms[b][n]) for b in backends}
    for pair, base, cand, what in PAIRS:
        out["ratios"][pair] = {"figure": what, **{
            b: ms[b][cand].figure(what) / ms[b][base].figure(what) for b in backends}}
    if gpu:
        for n in WORKLOADS:
            c = ms["cuda"][n]
            out["agreement"][n] = {"tracked_over_allocator_peak": c.tracked_peak / c.peak,
                                   "cpu_over_cuda_peak": ms["cpu"][n].peak / c.peak}
    iso = {b: isolated_peak(b) for b in backends}
    out["agreement"]["isolated_equals_in_process_peak"] = {
        b: iso[b] == ms[b]["mlp_adam"].peak for b in backends}
    return out


def main(argv=None) -> int:
    """Print the ratios; on a GPU, save them (as `python3 dev.py gpu-figures` does)."""
    from .. import results
    data = record()
    print(json.dumps(data["ratios"], indent=1))
    if data["gpu"] is None:
        print("No GPU: nothing written (the file records CPU against GPU).")
        return 0
    print(f"wrote {results.save('meter_agreement', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

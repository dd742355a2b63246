"""Figures recorded on a GPU: where they live, what they say about the machine.

One JSON file per chapter slug in autograder/results/, committed, shipped with the package
(so a Colab notebook has them too), written only by `python3 dev.py gpu-figures` on a GPU.
Pages plot them, labelled with the device and the date, when the build has no GPU.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import platform
from pathlib import Path

from .device import cpu_name, detect

DIR = Path(__file__).resolve().parent / "results"
LIBRARIES = ("numpy", "numba", "torch", "cupy-cuda12x", "cupy-cuda13x", "cupy", "nbgrader")


def _driver() -> str | None:
    try:
        from cupy.cuda import runtime
        v = runtime.driverGetVersion()  # e.g. 13000 -> "13.0"
        return f"{v // 1000}.{v % 1000 // 10}"
    except Exception:
        pass
    try:
        import subprocess
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip() or None
    except Exception:
        return None


def environment() -> dict:
    """What a figure depends on: device, driver, host CPU, library versions, date."""
    dev = detect()
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = _md.version(lib)
        except _md.PackageNotFoundError:
            pass
    return {
        "device": dev.name,
        "gpu": dev.cuda,
        "api": dev.api,
        "compute_capability": list(dev.compute_capability) if dev.compute_capability else None,
        "driver": _driver() if dev.cuda else None,
        "host_cpu": cpu_name(),
        "python": platform.python_version(),
        "versions": versions,
        "date": _dt.date.today().isoformat(),
    }


def path(slug: str) -> Path:
    return DIR / f"{slug}.json"


def load(slug: str) -> dict | None:
    """The recorded results of a chapter, or None when no GPU run has recorded any yet."""
    p = path(slug)
    if not p.exists():
        return None
    return json.loads(p.read_text())


def save(slug: str, figures: dict, directory: Path | None = None) -> Path:
    """Write a chapter's figures with the environment they were measured in."""
    p = (directory or DIR) / f"{slug}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"environment": environment(), "figures": figures}, indent=1) + "\n")
    return p


def label(data: dict) -> str:
    """'NVIDIA H100 80GB HBM3, recorded 2026-11-22' for a plot legend or caption."""
    env = data["environment"]
    return f"{env['device']}, recorded {env['date']}"

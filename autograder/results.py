"""Figures recorded on a GPU: where they live, what they say about the machine.

One JSON file per chapter slug in autograder/results/, committed, shipped with the package
(so a Colab notebook has them too), written only by `python3 dev.py gpu-figures` on a GPU.
Pages plot them, labelled with the device and the date, when the build has no GPU.
COURSE_RESULTS_DIR names another folder to read them from (the tests build each page's GPU
half from fixture results, and its CPU half from an empty folder). A dry run's files say
`"dry_run": true` and are never read from autograder/results/.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import os
import platform
from pathlib import Path

from .device import cpu_name, detect

DIR = Path(__file__).resolve().parent / "results"
LIBRARIES = ("numpy", "numba", "numba-cuda", "torch", "cupy-cuda12x", "cupy-cuda13x", "cupy", "nbgrader")


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


def environment(dry: bool = False) -> dict:
    """What a figure depends on: device, driver, host CPU, library versions, date (and whether
    it comes from a dry run on a CPU)."""
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
        "dry_run": dry,
    }


def folder() -> Path:
    """Where recorded figures are read from: COURSE_RESULTS_DIR if set, else autograder/results/."""
    return Path(os.environ.get("COURSE_RESULTS_DIR") or DIR)


def path(slug: str) -> Path:
    return folder() / f"{slug}.json"


def load(slug: str) -> dict | None:
    """The recorded results of a chapter, or None when no GPU run has recorded any yet."""
    p = path(slug)
    if not p.exists():
        return None
    data = json.loads(p.read_text())
    if data["environment"].get("dry_run") and p.parent.resolve() == DIR.resolve():
        return None   # a dry run's CPU figures must never pass for a GPU's
    return data


def save(slug: str, figures: dict, directory: Path | None = None, dry: bool = False) -> Path:
    """Write a chapter's figures with the environment they were measured in."""
    p = Path(directory or DIR) / f"{slug}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"environment": environment(dry), "figures": figures}, indent=1) + "\n")
    return p


def label(data: dict) -> str:
    """'NVIDIA H100 80GB HBM3, recorded 2026-11-22' for a plot legend or caption."""
    env = data["environment"]
    dry = " (a dry run on a CPU, not a GPU's figures)" if env.get("dry_run") else ""
    return f"{env['device']}{dry}, recorded {env['date']}"

"""Record the course's GPU figures: `python3 dev.py gpu-figures` (python -m autograder.grading.record).

On a GPU machine, in one run:
  1. every chapter module with a `record()` measures what its page plots, saved as
     autograder/results/<slug>.json with device, driver, versions and date;
  2. the memory meter's CPU tracker is compared with the CUDA allocator (meter_agreement.json);
  3. every solution notebook is executed top to bottom and its pass/fail and time kept
     (solutions.json), and the kernel and meter tests run on the GPU path (gpu_tests.json).
Commit autograder/results/ afterwards; pages without a GPU plot what it holds.

It refuses to run without a GPU: figures recorded on a CPU would be labelled as a GPU's.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

from .. import device, results

ROOT = Path(__file__).resolve().parents[2]


def chapters() -> list[str]:
    """Slugs of the chapter modules (chNN_name) in this package, in order."""
    pkg = Path(__file__).resolve().parents[1]
    return sorted(m.name for m in pkgutil.iter_modules([str(pkg)]) if m.name[:2] == "ch"
                  and m.name[2:4].isdigit())


def _step(what: str, fn, done: dict):
    print(f"\n== {what}", flush=True)
    t0 = time.time()
    try:
        path = fn()
    except Exception as exc:  # one failing part must not lose the others' figures
        print(f"   FAILED: {type(exc).__name__}: {exc}", flush=True)
        done[what] = f"failed: {type(exc).__name__}: {exc}"
        return
    done[what] = str(path)
    print(f"   wrote {path} in {time.time() - t0:.0f} s", flush=True)


def _solutions() -> Path:
    """Execute every solution notebook; keep whether it ran clean and how long it took."""
    import nbformat
    from nbclient import NotebookClient
    runs = {}
    for nb_path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        t0 = time.time()
        try:
            NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(nb_path.parent)}}).execute()
            runs[nb_path.stem] = {"passed": True, "seconds": round(time.time() - t0, 1)}
        except Exception as exc:
            runs[nb_path.stem] = {"passed": False, "seconds": round(time.time() - t0, 1),
                                  "error": f"{type(exc).__name__}: {str(exc)[-500:]}"}
        print(f"   {nb_path.stem}: {runs[nb_path.stem]}", flush=True)
    return results.save("solutions", runs)


def _gpu_tests() -> Path:
    """The kernel and meter tests, which take their GPU paths on this machine."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rA", "tests/kernels", "tests/memory"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    lines = [l for l in out.stdout.splitlines() if l.startswith(("PASSED", "FAILED", "SKIPPED", "ERROR"))]
    print(out.stdout[-3000:], flush=True)
    return results.save("gpu_tests", {"command": " ".join(cmd[1:]), "returncode": out.returncode,
                                      "outcomes": lines, "summary": out.stdout.strip().splitlines()[-1:]})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="chapter slugs (or meter_agreement, solutions, "
                    "gpu_tests) to record; default: all")
    args = ap.parse_args(argv)
    dev = device.detect()
    if not dev.cuda:
        print(f"No GPU here ({dev.name}): nothing recorded. Run this on a machine with a CUDA GPU;\n"
              "figures measured on a CPU must not be labelled as a GPU's.", file=sys.stderr)
        return 2
    print(dev.describe(), flush=True)
    wanted = set(args.only or [])
    modules = {slug: importlib.import_module(f"autograder.{slug}") for slug in chapters()}
    steps = [(slug, lambda m=m, slug=slug: results.save(slug, m.record()))
             for slug, m in modules.items() if hasattr(m, "record")]
    steps.append(("meter_agreement", lambda: results.save(
        "meter_agreement", importlib.import_module("autograder.memory.agreement").record())))
    if (ROOT / "solutions").is_dir():
        steps.append(("solutions", _solutions))
    if (ROOT / "tests").is_dir():
        steps.append(("gpu_tests", _gpu_tests))
    done: dict = {}
    for what, fn in steps:
        if not wanted or what in wanted:
            _step(what, fn, done)
    failed = [w for w, r in done.items() if r.startswith("failed")]
    print(f"\nRecorded {len(done) - len(failed)} of {len(done)}"
          + (f"; failed: {', '.join(failed)}" if failed else "") + ". Commit autograder/results/.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

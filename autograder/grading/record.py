"""Record the course's GPU figures: `python3 dev.py gpu-figures [--wheels DIR] [--only ...] [--dry-run]`.

On a GPU machine, in one run of a few minutes (a short lease must leave time for a second try):
  1. each chapter module with a `record()` measures what its page plots, in a process of its
     own (a crashed CUDA context or a hang costs that chapter only), saved at once as
     autograder/results/<slug>.json with device, driver, versions and date;
  2. the memory meter's CPU tracker against the CUDA allocator (meter_agreement.json);
  3. where `compute-sanitizer` is on the PATH, a wrong kernel under memcheck and racecheck
     (compute_sanitizer.json);
  4. the GPU-only tests and the kernel and meter tests on the GPU paths (gpu_tests.json), and
     every solution notebook top to bottom, several at a time (solutions.json).
Progress is printed as it goes; a step that fails is reported and the others go on.

--wheels DIR installs the bundle that `dev.py gpu-bundle DIR` made (nbclient, ipykernel, ...)
into DIR/site without network or pip, for this run and every process it starts.
--dry-run walks the same steps on the CPU backends (the bench's CPU stand-in, the meter's
tracker, small sizes) into a temporary folder, files marked "dry_run": CI runs it.
Without a GPU and without --dry-run it refuses: CPU figures must never pass for a GPU's.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import importlib
import json
import os
import pkgutil
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .. import device, results

ROOT = Path(__file__).resolve().parents[2]
STEP_LIMIT = {"gpu": 150, "dry": 300}        # seconds for one chapter's record
TESTS_LIMIT, NOTEBOOK_LIMIT = 300, 300
GPU_TESTS = ("tests/gpu", "tests/kernels", "tests/memory")
DRY_TESTS = ("tests/gpu",)                   # on a CPU: the GPU-only module, to prove it runs (skips)
DRY_NOTEBOOKS = ("ch03_thread_hierarchy",)   # on a CPU the suite runs every notebook already


def chapters() -> list[str]:
    """Slugs of the chapter modules (chNN_name) in this package, in order."""
    pkg = Path(__file__).resolve().parents[1]
    return sorted(m.name for m in pkgutil.iter_modules([str(pkg)]) if m.name[:2] == "ch"
                  and m.name[2:4].isdigit())


def recorders() -> list[str]:
    """The chapters with a `record()`, read from their source (no chapter imported here)."""
    pkg = Path(__file__).resolve().parents[1]
    return [s for s in chapters() if "\ndef record(" in (pkg / f"{s}.py").read_text()]


def wanted(name: str, only: list[str]) -> bool:
    """--only ch01,ch05 selects ch01_cpu_vs_gpu and ch05_matmul_layer; names in full work too."""
    return not only or any(name == o or name.startswith(o + "_") for o in only)


def _env(site: Path | None) -> dict:
    """The environment of every child: the course's root (and the bundle) importable, no buffering."""
    paths = [str(ROOT)] + ([str(site)] if site else [])
    old = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths + ([old] if old else [])), PYTHONUNBUFFERED="1")


def _stream(cmd: list[str], env: dict, limit: float, prefix: str = "   ") -> tuple[int | None, str]:
    """Run cmd, echoing its output line by line as it comes; (exit status or None past `limit`, tail)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    tail: list[str] = []
    killed = threading.Event()

    def kill():
        killed.set()
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    timer = threading.Timer(limit, kill)
    timer.start()
    try:
        for line in proc.stdout:
            print(prefix + line.rstrip("\n"), flush=True)
            tail = (tail + [line.rstrip("\n")])[-400:]
        code = proc.wait()
    finally:
        timer.cancel()
    return (None if killed.is_set() else code), "\n".join(tail)


# ---------------------------------------------------------------- one step, in its own process
def record_one(name: str, out: Path, dry: bool) -> Path:
    """The child's side: one chapter's record() (or the meter's agreement), saved at once."""
    module = "autograder.memory.agreement" if name == "meter_agreement" else f"autograder.{name}"
    figures = importlib.import_module(module).record(dry=dry)
    return results.save(name, figures, out, dry=dry)


def _sanitizer(out: Path, dry: bool) -> Path:
    """A kernel that writes one element past its array, under compute-sanitizer's memcheck, and
    one with a shared-memory race under racecheck: what the tool reports, or that it is absent."""
    tool = shutil.which("compute-sanitizer")
    found: dict = {"tool": tool}
    if tool and not dry:
        for check in ("memcheck", "racecheck"):
            cmd = [tool, "--tool", check, "--error-exitcode", "3", sys.executable, "-m",
                   "autograder.kernels.sanitizer_cases", check]
            done = subprocess.run(cmd, cwd=ROOT, env=_env(None), capture_output=True, text=True, timeout=180)
            said = [l for l in done.stdout.splitlines() if "=========" in l]
            found[check] = {"returncode": done.returncode, "found_errors": done.returncode == 3,
                            "report": said[:40]}
    return results.save("compute_sanitizer", found, out, dry=dry)


def _gpu_tests(out: Path, dry: bool, site: Path | None) -> Path:
    """The GPU-only tests and the kernel and meter tests, which take their GPU paths here."""
    workers = [] if dry else ["-n", str(min(8, os.cpu_count() or 1))]
    cmd = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *workers,
           *(DRY_TESTS if dry else GPU_TESTS)]
    code, tail = _stream(cmd, _env(site), TESTS_LIMIT)
    summary = tail.splitlines()[-1:] if tail else []
    path = results.save("gpu_tests", {"command": " ".join(cmd[2:]), "returncode": code,
                                      "outcomes": [l for l in tail.splitlines() if l.startswith(
                                          ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL"))],
                                      "summary": summary}, out, dry=dry)
    if code not in (0, 5):   # 5: nothing collected
        raise RuntimeError(f"the tests failed ({'past the time limit' if code is None else f'status {code}'}): "
                           + " ".join(summary))
    return path


def _notebook(path: Path, site: Path | None) -> dict:
    code = ("import sys, time, nbformat; from nbclient import NotebookClient\n"
            "nb = nbformat.read(sys.argv[1], as_version=4)\n"
            "NotebookClient(nb, timeout=240, kernel_name='python3',"
            " resources={'metadata': {'path': sys.argv[2]}}).execute()\n")
    t0 = time.time()
    try:
        done = subprocess.run([sys.executable, "-c", code, str(path), str(path.parent)], cwd=ROOT,
                              env=_env(site), capture_output=True, text=True, timeout=NOTEBOOK_LIMIT)
        err = None if done.returncode == 0 else (done.stdout + done.stderr)[-800:]
    except subprocess.TimeoutExpired:
        err = f"did not finish in {NOTEBOOK_LIMIT} s"
    return {"passed": err is None, "seconds": round(time.time() - t0, 1),
            **({"error": err} if err else {})}


def _solutions(out: Path, dry: bool, site: Path | None) -> Path:
    """Every solution notebook top to bottom, four at a time (none of them is timed)."""
    paths = sorted((ROOT / "solutions").glob("*/*.ipynb"))
    if dry:
        paths = [p for p in paths if p.stem in DRY_NOTEBOOKS]
    runs = {}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for p, r in zip(paths, pool.map(lambda p: _notebook(p, site), paths)):
            runs[p.stem] = r
            print(f"   {p.stem}: {'passed' if r['passed'] else 'FAILED'} in {r['seconds']} s"
                  + ("" if r["passed"] else f"\n{r['error']}"), flush=True)
    if not all(r["passed"] for r in runs.values()):
        results.save("solutions", runs, out, dry=dry)
        raise RuntimeError("a solution notebook failed: " + ", ".join(k for k, r in runs.items() if not r["passed"]))
    return results.save("solutions", runs, out, dry=dry)


# ---------------------------------------------------------------- the run
def _child_step(name: str, out: Path, dry: bool, site: Path | None) -> Path:
    cmd = [sys.executable, "-u", "-m", "autograder.grading.record", "--step", name, "--out", str(out)]
    code, tail = _stream(cmd + (["--dry-run"] if dry else []), _env(site), STEP_LIMIT["dry" if dry else "gpu"])
    if code is None:
        raise TimeoutError(f"{name} did not finish in {STEP_LIMIT['dry' if dry else 'gpu']} s")
    if code != 0:
        raise RuntimeError(f"{name} exited with status {code}: {tail.splitlines()[-1] if tail else ''}")
    return out / f"{name}.json"


def steps(out: Path, dry: bool, site: Path | None) -> list[tuple[str, callable]]:
    """(name, function) of every step, in the order they run: timings first, on a quiet GPU."""
    named = [*recorders(), "meter_agreement"]
    todo = [(n, lambda n=n: _child_step(n, out, dry, site)) for n in named]
    todo.append(("compute_sanitizer", lambda: _sanitizer(out, dry)))
    if (ROOT / "tests").is_dir():
        todo.append(("gpu_tests", lambda: _gpu_tests(out, dry, site)))
    if (ROOT / "solutions").is_dir():
        todo.append(("solutions", lambda: _solutions(out, dry, site)))
    return todo


def run(only: list[str], dry: bool, out: Path, site: Path | None) -> dict:
    """Every wanted step, each reported as it ends; {name: path written or 'failed: why'}."""
    done: dict = {}
    t_start = time.time()
    for name, fn in steps(out, dry, site):
        if not wanted(name, only):
            continue
        print(f"\n== {name}  (at {time.time() - t_start:.0f} s)", flush=True)
        t0 = time.time()
        try:
            done[name] = str(fn())
            print(f"   wrote {done[name]} in {time.time() - t0:.0f} s", flush=True)
        except Exception as exc:  # one failing step must not lose the others' figures
            done[name] = f"failed: {type(exc).__name__}: {exc}"
            print(f"   FAILED after {time.time() - t0:.0f} s: {type(exc).__name__}: {exc}", flush=True)
    print(f"\nAll steps in {time.time() - t_start:.0f} s.", flush=True)
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[],
                    help="steps to run, comma-separated: ch01,ch05 (chapter numbers or slugs), "
                         "meter_agreement, compute_sanitizer, gpu_tests, solutions; default: all")
    ap.add_argument("--wheels", type=Path, help="a folder made by `dev.py gpu-bundle` (installed offline)")
    ap.add_argument("--dry-run", action="store_true", help="the same steps on the CPU, into a temporary folder")
    ap.add_argument("--out", type=Path, help="where to write (default: autograder/results/, or a "
                    "temporary folder for a dry run)")
    ap.add_argument("--step", help=argparse.SUPPRESS)   # the child's side of one step
    args = ap.parse_args(argv)
    if args.step:
        print(f"wrote {record_one(args.step, args.out, args.dry_run)}", flush=True)
        return 0
    only = [o.strip() for group in args.only for o in group.split(",") if o.strip()]
    site = None
    if args.wheels:
        from . import bundle
        site = bundle.install(args.wheels)
        sys.path.append(str(site))
        print(f"bundle installed in {site} (offline)", flush=True)
    dev = device.detect()
    if not (dev.cuda or args.dry_run):
        print(f"No GPU here ({dev.name}): nothing recorded. Run this on a machine with a CUDA GPU;\n"
              "figures measured on a CPU must not be labelled as a GPU's (--dry-run walks the steps "
              "on the CPU into a temporary folder).", file=sys.stderr)
        return 2
    out = args.out or (Path(tempfile.mkdtemp(prefix="gpu-figures-dry-")) if args.dry_run else results.DIR)
    print(("DRY RUN on the CPU backends: " if args.dry_run else "") + dev.describe(), flush=True)
    print(f"writing to {out}", flush=True)
    done = run(only, args.dry_run, Path(out), site)
    failed = [w for w, r in done.items() if r.startswith("failed")]
    (Path(out) / "run.json").write_text(json.dumps({"dry_run": args.dry_run, "steps": done}, indent=1) + "\n")
    print(f"Recorded {len(done) - len(failed)} of {len(done)}" + (f"; failed: {', '.join(failed)}" if failed else "")
          + ("." if args.dry_run else f". Commit {out}."), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

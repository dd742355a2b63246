"""Every exercise, solved and unsolved, on Colab's own versions instead of requirements.txt.

    .venv/bin/python benchmarks/colab_stack.py [--venv DIR] [--only ch07_mixed_precision ... [--merge]]

Students run the exercises on what Colab has preinstalled, not on the course's pinned stack.
This script (a benchmark-style check, not a test: it downloads a few GB the first time) builds
a virtual environment with Colab's versions, installs the course package the way the setup
cell does (pip from a git URL: here the committed HEAD of this repository), and runs every
exercise notebook twice through a Jupyter kernel of that environment:

  - unsolved (exercises/ as released): the cells before the first answer run clean; after it,
    errors only follow from the answers not written (NotImplementedError, names not defined,
    failed checks), every graded check fails, and no cell anywhere fails to import or finds an
    attribute missing (the signs of a version that breaks the course);
  - solved (the answers filled in from solutions/, as the tests fill them): every cell runs.

It writes benchmarks/results/colab_stack.json (versions wanted and got, and per notebook the
outcome and seconds) and prints a line per run. Exit status 0 when every notebook behaved.

Versions: COLAB below, as Colab listed them when this was written (torch 2.11, cupy-cuda12x
14.0, numba-cuda 0.22, ipywidgets 7.7.1; IPython 7.34 and ipykernel 6.17, whose traceback and
display code the setup cell and the widgets use). What differs here, and why:
  - Python: whatever runs this script; Colab's is 3.12, this repository's machine has 3.11 only
    (and no way to fetch another), so the committed results say 3.11.
  - torch 2.11.0 from the registry is its CUDA 13 build (Colab's is a CUDA 12 build from
    PyTorch's own index, which this machine cannot reach); it runs on the CPU all the same.
  - numba-cuda therefore takes its [cu13] extra (Colab: [cu12]): `numba-cuda[cu12]` cannot be
    installed beside a CUDA 13 torch (their cuda-bindings conflict).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "colab_stack.json"
# Colab's preinstalled versions that the course touches, and the kernel it runs
COLAB = {
    "torch": "2.11.0",              # Colab: +cu12x from PyTorch's index, not reachable here
    "cupy-cuda12x": "14.0.1",
    "numba-cuda[cu13]": "0.22.2",   # [cu12] on Colab; torch 2.11 from the registry is CUDA 13
    "numba": "0.60.0",
    "numpy": "2.0.2",
    "matplotlib": "3.10.0",
    "tqdm": "4.67.1",
    "ipywidgets": "7.7.1",
    "ipython": "7.34.0",
    "ipykernel": "6.17.1",
}
RUNNER = ["nbclient", "nbformat"]   # to drive a notebook through that kernel
KERNEL = "colab-stack"


def sh(*cmd, **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def build(venv: Path) -> Path:
    """The venv with Colab's versions, the runner, and the course package from git."""
    py = venv / "bin" / "python"
    if not py.exists():
        sh(sys.executable, "-m", "venv", venv)
    pins = [f"{name}=={version}" for name, version in COLAB.items()]
    sh(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins, *RUNNER)
    # as the setup cell does it: pip from a git URL (this repository's committed HEAD)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    sh(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--force-reinstall",
       "--no-deps", f"git+file://{ROOT}@{head}")   # pip takes no "name @ git+file:" form
    sh(py, "-m", "ipykernel", "install", "--prefix", venv, "--name", KERNEL)
    return py


def versions(py: Path) -> dict:
    code = ("import importlib.metadata as m, json, platform\n"
            "names = ['torch', 'cupy-cuda12x', 'numba-cuda', 'numba', 'numpy', 'matplotlib',"
            " 'tqdm', 'ipywidgets', 'ipython', 'ipykernel', 'gpu-course-autograder']\n"
            "out = {'python': platform.python_version()}\n"
            "for n in names:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: out[n] = None\n"
            "print(json.dumps(out))")
    return json.loads(subprocess.run([py, "-c", code], capture_output=True, text=True,
                                     check=True).stdout)


# runs inside the Colab-versions venv: one notebook, one mode; prints one JSON line
RUN = r'''
import json, sys, time, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
path, mode, workdir, kernel = sys.argv[1:5]
nb = nbformat.read(path, as_version=4)
out = {"mode": mode}
client = NotebookClient(nb, timeout=900, kernel_name=kernel, allow_errors=(mode == "unsolved"),
                        resources={"metadata": {"path": workdir}})
t0 = time.time()
try:
    client.execute()
    out["ok"] = True
except CellExecutionError as exc:
    out["ok"], out["error"] = False, str(exc)[-1500:]
out["seconds"] = round(time.time() - t0, 1)
if mode == "unsolved":
    first = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    errors, graded = [], []
    for i, c in enumerate(nb.cells):
        meta = c.metadata.get("nbgrader", {})
        failed = [o for o in c.get("outputs", []) if o.output_type == "error"]
        if meta.get("grade"):
            graded.append(bool(failed))
        errors += [{"cell": i, "grade_id": meta.get("grade_id"), "ename": o.ename,
                    "evalue": o.evalue[:200]} for o in failed]
    early = [e for e in errors if e["cell"] < first]
    broken = [e for e in errors if e["ename"] in ("ImportError", "ModuleNotFoundError",
                                                   "AttributeError", "SyntaxError")]
    out["errors"] = sorted({e["ename"] for e in errors})
    out["graded_failing"] = f"{sum(graded)} of {len(graded)}"
    out["ok"] = out["ok"] and not early and not broken and all(graded)
    if early or broken:
        out["error"] = (early + broken)[:3]
print(json.dumps(out))
'''


def notebooks(only):
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import release, solved    # the tests' own way of filling in the answers
    slugs = sorted(p.name for p in (ROOT / "exercises").iterdir() if (p / f"{p.name}.ipynb").exists())
    for slug in slugs:
        if not only or slug in only:
            yield slug, "unsolved", release(slug)
            yield slug, "solved", solved(slug)


def run_one(py: Path, slug: str, mode: str, nb, env: dict) -> dict:
    import nbformat
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{slug}.ipynb"
        nbformat.write(nb, str(path))
        done = subprocess.run([py, "-c", RUN, path, mode, tmp, KERNEL], capture_output=True,
                              text=True, env=env, timeout=3600)
    if done.returncode:
        return {"mode": mode, "ok": False, "error": done.stderr[-1500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "colab-stack-venv")
    ap.add_argument("--only", nargs="*", help="exercise slugs (default: all, and the results are written)")
    ap.add_argument("--merge", action="store_true",
                    help="with --only: replace those notebooks' runs in the results, and say so")
    ap.add_argument("--install-only", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    py = build(args.venv)
    found = versions(py)
    print(json.dumps(found, indent=1), flush=True)
    if args.install_only:
        return 0
    env = dict(os.environ, JUPYTER_PATH=str(args.venv / "share" / "jupyter"),
               PATH=f"{args.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env.pop("PYTHONPATH", None)
    runs = {}
    for slug, mode, nb in notebooks(args.only):
        r = run_one(py, slug, mode, nb, env)
        runs.setdefault(slug, {})[mode] = r
        print(f"{slug:26s} {mode:9s} {'ok' if r['ok'] else 'FAILED'} {r.get('seconds', '')} s"
              + ("" if r["ok"] else f"\n    {str(r.get('error'))[-600:]}"), flush=True)
    ok = all(r["ok"] for modes in runs.values() for r in modes.values())
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    if not args.only:
        record = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} CPUs, no GPU",
                  "commit": head, "wanted": COLAB, "installed": found, "all_ok": ok,
                  "minutes": round((time.time() - t0) / 60, 1), "runs": runs}
    elif args.merge and RESULTS.exists():    # a fix rerun: its notebooks replace theirs, said so
        record = json.loads(RESULTS.read_text())
        record["runs"].update(runs)
        record.setdefault("rerun", {}).update({slug: {"date": time.strftime("%Y-%m-%d"), "commit": head}
                                               for slug in runs})
        record["all_ok"] = all(r["ok"] for modes in record["runs"].values() for r in modes.values())
    else:
        return 0 if ok else 1
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

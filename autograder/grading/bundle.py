"""The wheels a bare, offline GPU machine lacks for `dev.py gpu-figures`, made beforehand.

A GPU machine may be lent for minutes, with no network: Python 3.12 on x86-64 Linux with torch
(CUDA 13), CuPy, numba and numba-cuda, pytest and matplotlib, but none of what runs notebooks.
So, on a machine with the package registries:

    python3 dev.py gpu-bundle DIR    # pip download for CPython 3.12 manylinux x86-64; DIR/manifest.json

keeps in DIR the wheels of what the run needs (RUN_NEEDS and their dependencies) less what the
GPU machine has (GPU_MACHINE_HAS), and a manifest naming each wheel with its version, size and
sha256. On the GPU machine `gpu-figures --wheels DIR` unzips them into DIR/site (no pip needed:
a wheel is a zip laid out for site-packages) and puts that folder on the path of the run and of
every process it starts. DIR is git-ignored (`/gpu-bundle/` by default).

Known limitations: the dependency list is pip's resolution for the target on the day the bundle
is made; console scripts are not installed (the run starts everything with `python -m`); a
package the GPU machine has in a version too old for a bundled one is not detected here.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PYTHON, PLATFORMS = "3.12", ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "linux_x86_64")
# What the run imports beyond the GPU machine's stack: notebooks run with nbclient in an ipykernel
# (ipywidgets for the pages' and exercises' widgets), the tests' conftest reads notebooks and
# _config.yml, the tests run on every core, and the course package shows progress bars.
RUN_NEEDS = ("nbclient", "nbformat", "ipykernel", "jupyter_client", "ipywidgets", "pyyaml", "tqdm",
             "pytest-xdist")
# Distributions the GPU machine has (torch 2.11 + CUDA 13, cupy-cuda13x 14.2, numba + numba-cuda,
# pytest, matplotlib, each with its own dependencies): never bundled, never replaced.
GPU_MACHINE_HAS = frozenset("""
pip setuptools wheel packaging
torch triton filelock typing-extensions sympy mpmath networkx jinja2 markupsafe fsspec
nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-nccl-cu13
nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx
cupy-cuda13x fastrlock numpy
numba llvmlite numba-cuda cuda-bindings cuda-core cuda-pathfinder cuda-python
pytest iniconfig pluggy pygments
matplotlib contourpy cycler fonttools kiwisolver pillow pyparsing python-dateutil six
""".split())
MANIFEST = "manifest.json"


def canonical(name: str) -> str:
    """A distribution's name as pip compares names: lower case, runs of -_. as one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name(filename: str) -> tuple[str, str]:
    """(canonical name, version) from a wheel's file name."""
    name, version = Path(filename).name.split("-")[:2]
    return canonical(name), version


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


TARGET_MARKERS = {"python_version": PYTHON, "python_full_version": PYTHON + ".0", "sys_platform": "linux",
                  "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                  "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def closure(needs=RUN_NEEDS, has=GPU_MACHINE_HAS) -> set[str]:
    """What the bundle must hold, read from the installed packages' metadata (no network): `needs`
    and everything they require on CPython 3.12 x86-64 Linux, less what the GPU machine has."""
    import importlib.metadata as md
    from packaging.requirements import Requirement
    todo, seen = [canonical(n) for n in needs], set()
    while todo:
        name = todo.pop()
        if name in seen or name in has:
            continue
        seen.add(name)
        for text in md.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({**TARGET_MARKERS, "extra": ""}):
                todo.append(canonical(req.name))
    return seen


def pip_download_command(dest: Path, needs=RUN_NEEDS) -> list[str]:
    """pip download of `needs` and their dependencies as wheels for CPython 3.12 on x86-64 Linux."""
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--dest", str(dest),
           "--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp",
           "--abi", f"cp{PYTHON.replace('.', '')}", "--abi", "abi3", "--abi", "none"]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    return cmd + ["--platform", "any", *needs]


def write_manifest(folder: Path, has=GPU_MACHINE_HAS) -> dict:
    """Drop the wheels of what the GPU machine has; describe the rest in folder/manifest.json."""
    packages = []
    for whl in sorted(folder.glob("*.whl")):
        name, version = wheel_name(whl.name)
        if name in has:
            whl.unlink()
            continue
        packages.append({"name": name, "version": version, "file": whl.name,
                         "bytes": whl.stat().st_size, "sha256": _sha256(whl)})
    manifest = {"python": PYTHON, "platforms": list(PLATFORMS), "needs": list(RUN_NEEDS),
                "gpu_machine_has": sorted(has), "made": _dt.date.today().isoformat(),
                "total_bytes": sum(p["bytes"] for p in packages), "packages": packages}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def make(folder: Path) -> dict:
    """Download the bundle into `folder` (emptied first) and write its manifest."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cmd = pip_download_command(folder)
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip download failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return write_manifest(folder)


def install(folder: Path, target: Path | None = None) -> Path:
    """Unzip the bundle's wheels into `target` (default folder/site), offline and without pip,
    checking each against the manifest; a second call with the same manifest does nothing."""
    folder = Path(folder)
    manifest_text = (folder / MANIFEST).read_text()
    manifest = json.loads(manifest_text)
    target = Path(target or folder / "site")
    stamp = target / ".bundle-manifest.json"
    if stamp.exists() and stamp.read_text() == manifest_text:
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for p in manifest["packages"]:
        whl = folder / p["file"]
        if _sha256(whl) != p["sha256"]:
            raise RuntimeError(f"{whl.name} does not match the manifest's sha256: make the bundle again")
        with zipfile.ZipFile(whl) as z:
            z.extractall(target)
        for data in target.glob("*.data"):       # purelib/platlib go to site-packages itself
            for sub in ("purelib", "platlib"):
                if (data / sub).is_dir():
                    for item in (data / sub).iterdir():
                        shutil.move(str(item), str(target / item.name))
            shutil.rmtree(data)
    stamp.write_text(manifest_text)
    return target


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m autograder.grading.bundle DIR", file=sys.stderr)
        return 2
    m = make(Path(args[0]))
    with tempfile.TemporaryDirectory() as tmp:   # the bundle installs as the GPU machine will
        install(Path(args[0]), Path(tmp) / "site")
    for p in m["packages"]:
        print(f"  {p['name']} {p['version']}  {p['bytes'] / 2**20:.2f} MiB")
    print(f"{len(m['packages'])} wheels, {m['total_bytes'] / 2**20:.1f} MiB in {args[0]} "
          f"(manifest: {Path(args[0]) / MANIFEST})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

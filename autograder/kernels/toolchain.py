"""Where the compilers are, and where their output is kept: the one place that looks.

No driver and no CUDA toolkit are needed: NVRTC, libNVVM, libdevice and cudart come from the
`nvidia-*` pip wheels (or a toolkit, where one is installed), and the CUDA C shim is built by
the system's C++ compiler. Built things (the shim's binaries, the CUDA_HOME of links Numba's
PTX compile needs) go in one cache folder, `$GPU_COURSE_CACHE` or ~/.cache/gpu-course.

Known limitations: only the wheels' Linux and Windows layouts are searched; a CUDA_HOME
already set in the environment is left to Numba for the PTX compile only when no wheels exist.
"""
from __future__ import annotations

import ctypes.util
import functools
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def cache_dir(name: str) -> Path:
    """The course's cache subfolder `name`, made if missing (under the temp folder if the home
    folder is read-only, as in a sandbox)."""
    base = os.environ.get("GPU_COURSE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "gpu-course")
    path = Path(base) / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        uid = os.getuid() if hasattr(os, "getuid") else 0
        path = Path(tempfile.gettempdir()) / f"gpu-course-{uid}" / name
        path.mkdir(parents=True, exist_ok=True)
    return path


def wheel_files(*patterns: str) -> list[Path]:
    """Files of the installed `nvidia-*` wheels matching the glob patterns, in pattern order."""
    try:
        import nvidia  # namespace package of the CUDA wheels
    except ImportError:
        return []
    found: list[Path] = []
    for root in list(getattr(nvidia, "__path__", [])):
        for pattern in patterns:
            found += sorted(Path(p) for p in glob.glob(os.path.join(root, pattern)))
    return found


def nvrtc_libraries() -> list[str]:
    """Candidate NVRTC libraries, best first: the wheel's, a toolkit's, the system's."""
    patterns = ("cuda_nvrtc/lib/libnvrtc.so*", "cu*/lib/libnvrtc.so*", "cuda_nvrtc/bin/nvrtc64_*.dll",
                "cu*/bin/nvrtc64_*.dll")
    found = [str(p) for pattern in patterns for p in reversed(wheel_files(pattern))]   # newest first
    for env in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(env):
            found += sorted(glob.glob(os.path.join(os.environ[env], "lib64", "libnvrtc.so*")), reverse=True)
    found += sorted(glob.glob("/usr/local/cuda/lib64/libnvrtc.so*"), reverse=True)
    lib = ctypes.util.find_library("nvrtc")
    if lib:
        found.append(lib)
    return [f for f in found if "builtins" not in os.path.basename(f) and ".alt." not in os.path.basename(f)]


def cuda_home_from_wheels() -> str | None:
    """A CUDA_HOME made of links into the nvidia-* wheels (libNVVM, libdevice, cudart), or None.

    Numba's built-in CUDA target looks for `$CUDA_HOME/nvvm/lib64/libnvvm.so.<n>`,
    `$CUDA_HOME/nvvm/libdevice` and `$CUDA_HOME/lib64/libcudart.so.<n>`; the wheels lay them out
    differently, so the links bridge the two.
    """
    nvvm = wheel_files("cuda_nvcc/nvvm/lib64/libnvvm.so*", "cu*/nvvm/lib64/libnvvm.so*")
    libdevice = wheel_files("cuda_nvcc/nvvm/libdevice", "cu*/nvvm/libdevice")
    cudart = wheel_files("cuda_runtime/lib/libcudart.so.*", "cu*/lib/libcudart.so.*")
    if not (nvvm and libdevice and cudart):
        return None
    nvvm, libdevice, cudart = nvvm[0], libdevice[0], cudart[0]
    key = hashlib.sha256(f"{nvvm}|{libdevice}|{cudart}".encode()).hexdigest()[:12]
    home = cache_dir("cuda_home") / key
    if not (home / "ok").exists():
        # built aside and renamed into place, so parallel processes never see half a folder
        tmp = Path(tempfile.mkdtemp(prefix=f".{home.name}.", dir=home.parent))
        links = {"nvvm/lib64/libnvvm.so.4": nvvm, "nvvm/libdevice": libdevice, f"lib64/{cudart.name}": cudart}
        for rel, target in links.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).symlink_to(target)
        (tmp / "ok").write_text("")
        if home.exists() and not (home / "ok").exists():
            shutil.rmtree(home, ignore_errors=True)          # left half made by an older version
        try:
            os.rename(tmp, home)
        except OSError:                                       # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return str(home)


def cxx_compiler() -> str | None:
    """The C++20 compiler that builds the CUDA C shim: $CXX, g++ or clang++."""
    for cand in (os.environ.get("CXX"), "g++", "clang++"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    return None


@functools.lru_cache(maxsize=None)
def cxx_version(cxx: str) -> str:
    """The compiler's --version text, part of a shim binary's cache key."""
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    except Exception:
        return ""

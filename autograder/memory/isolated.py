"""`measure` in a fresh process, so that nothing a notebook did to this one can alter the figure.

A graded figure must not come from the process the student's code runs in: there it could patch
the meter, torch, or the step's bookkeeping. The child builds the setup and measures it itself,
and hands back only numbers (JSON). Notebook functions cannot be pickled (they live in
`__main__`), so they travel as source through `shipping`; course functions by name.

Children are forked from one clean `python -I` process per caller (the zygote) that imported
torch once, so the second measurement of a grading run costs a fork, not a torch import.

Known limitations: POSIX only (fork); isolation protects the figure, not the caller: code in the
calling process can still replace `measure_isolated` itself (the hidden checks' loader refuses
to grade when it finds that done).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
from typing import Any, Callable

from ..shipping import Shipment, ShippingError, in_notebook, land, ship, ship_text
from .backend import MeterError
from .meter import Measurement, measure
from .setups import build, resolve

_ZYGOTE = "import sys; from autograder.memory.isolated import _zygote_main; sys.exit(_zygote_main())"


@dataclasses.dataclass(frozen=True)
class _Shipped:
    """An argument that is a notebook function or class: its source, landed in the child."""
    shipment: Shipment


def measure_isolated(setup: Callable[..., Any] | str, *args, backend: str | None = None,
                     warmup: int = 1, label: str = "", timeout: float = 120.0,
                     source: str | None = None, like: str | None = None, **kwargs) -> Measurement:
    """`measure` run in a fresh process: `setup(*args, **kwargs)` is built there and measured.

    What setup may return is what `setups.build` accepts (`like=`: the graded form, refused in
    the child with the same message as in process). `setup` is sent by name when importable (a
    module function or "package.module:function"), else by source with the notebook functions,
    classes and values it uses (or pass `source=` text that defines it). Arguments must pickle,
    bar notebook functions and classes, which are sent by source too: pass sizes and seeds.
    """
    target = _target(setup, source)
    sent_args = tuple(_send(a) for a in args)
    sent_kwargs = {k: _send(v) for k, v in kwargs.items()}
    with tempfile.TemporaryDirectory(prefix="meter-") as tmp:
        payload, result, log = (os.path.join(tmp, n) for n in ("payload.pkl", "result.json", "log.txt"))
        try:
            blob = pickle.dumps({"target": target, "args": sent_args, "kwargs": sent_kwargs,
                                 "backend": backend, "warmup": warmup, "label": label, "like": like})
        except Exception as exc:
            raise MeterError(f"the arguments of the isolated measurement do not pickle ({exc}); "
                             "pass sizes and seeds and build tensors inside setup") from exc
        with open(payload, "wb") as f:
            f.write(blob)
        try:
            code = _Zygote.run(payload, result, log, timeout)
        except subprocess.TimeoutExpired as exc:
            raise MeterError(f"the isolated measurement did not finish in {timeout:.0f} s") from exc
        if code != 0 or not os.path.exists(result):
            why = (f"was killed by signal {-code} (out of memory?)"
                   if code < 0 else f"exited with status {code}")
            with open(log, errors="replace") as f:
                tail = "\n".join(f.read().strip().splitlines()[-15:])
            raise MeterError(f"the isolated measurement {why}:\n{tail}")
        with open(result) as f:
            data = json.load(f)
    if "refused" in data:      # the setup returned what the check cannot grade
        raise AssertionError(data["refused"])
    return Measurement(**data["measurement"])


def _shipment(obj) -> Shipment:
    try:
        return ship(obj, strict=True)
    except ShippingError as exc:
        raise MeterError(f"cannot send {getattr(obj, '__name__', obj)!r} to the isolated "
                         f"measurement: {exc}") from None


def _send(value):
    if isinstance(value, (types.FunctionType, type)) and in_notebook(value):
        return _Shipped(_shipment(value))
    return value


def _receive(value):
    return land(value.shipment)[value.shipment.name] if isinstance(value, _Shipped) else value


def _target(setup, source: str | None) -> dict:
    """How the child finds setup: by name where it can import it, else as a Shipment."""
    if isinstance(setup, str):
        if ":" not in setup:
            raise ValueError("a setup given by name must read 'package.module:function'")
        return {"name": setup, "path": None}
    if not callable(setup):
        raise TypeError(f"setup must be a function, got {type(setup).__name__}")
    name = getattr(setup, "__name__", "")
    if source is not None:
        return {"shipment": ship_text(source, name)}
    module = getattr(setup, "__module__", None) or "__main__"
    qual = getattr(setup, "__qualname__", name)
    if module != "__main__" and "<" not in qual:
        path = getattr(sys.modules.get(module), "__file__", None)
        if path:
            for _ in module.split("."):
                path = os.path.dirname(path)
        return {"name": f"{module}:{qual}", "path": path}
    return {"shipment": _shipment(setup)}


def _child_main(payload_path: str, result_path: str) -> int:
    """The child's side: load setup, build it, measure, write JSON."""
    with open(payload_path, "rb") as f:
        job = pickle.load(f)
    t = job["target"]
    setup = resolve(t["name"], t["path"]) if "name" in t else land(t["shipment"])[t["shipment"].name]
    args = [_receive(a) for a in job["args"]]
    kwargs = {k: _receive(v) for k, v in job["kwargs"].items()}
    try:
        built = build(setup, *args, like=job["like"], **kwargs)
    except AssertionError as exc:
        out = {"refused": str(exc)}
    else:
        m = measure(built, warmup=job["warmup"], backend=job["backend"], label=job["label"])
        out = {"measurement": dataclasses.asdict(dataclasses.replace(m, isolated=True))}
    with open(result_path, "w") as f:
        json.dump(out, f)
    return 0


class _Zygote:
    """One clean `python -I` process per caller that imports torch (and torch._dynamo, which
    every optimizer step imports: half the cost) once, then forks a child per measurement.
    A new one starts when the caller's environment or directory changed (OMP_NUM_THREADS is
    read at import), or when the old one died."""
    _lock = threading.Lock()
    _proc: subprocess.Popen | None = None
    _err: Any = None          # the zygote's stderr, a temporary file
    _key: tuple = ()
    _buf = b""

    @classmethod
    def run(cls, payload: str, result: str, log: str, timeout: float) -> int:
        """The child's exit code (negative: killed by that signal)."""
        with cls._lock:
            for attempt in (1, 2):
                proc = cls._start()
                try:
                    proc.stdin.write(f"{payload}\t{result}\t{log}\n".encode())
                    proc.stdin.flush()
                    pid = int(cls._line(timeout + 120))     # the first call waits for the import
                    break
                except (OSError, EOFError, ValueError):
                    why = cls._stop()
                    if attempt == 2:
                        raise MeterError("the measuring process could not start: " + why) from None
            try:
                return int(cls._line(timeout))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
                with contextlib.suppress(Exception):
                    cls._line(30)
                raise
            except (OSError, EOFError, ValueError):
                raise MeterError("the measuring process died: " + cls._stop()) from None

    @classmethod
    def _start(cls) -> subprocess.Popen:
        key = (sys.executable, os.getcwd(), tuple(sorted(os.environ.items())))
        if cls._proc is not None and (cls._proc.poll() is not None or key != cls._key):
            cls._stop()
        if cls._proc is None:
            cls._err = tempfile.TemporaryFile()
            cls._proc = subprocess.Popen([sys.executable, "-I", "-c", _ZYGOTE], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=cls._err)
            cls._key, cls._buf = key, b""
        return cls._proc

    @classmethod
    def _line(cls, timeout: float) -> str:
        import select
        fd, end = cls._proc.stdout.fileno(), time.monotonic() + timeout
        while b"\n" not in cls._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise subprocess.TimeoutExpired("measuring child", timeout)
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError
            cls._buf += chunk
        line, cls._buf = cls._buf.split(b"\n", 1)
        return line.decode()

    @classmethod
    def _stop(cls) -> str:
        """Ends the zygote; returns the end of what it wrote to stderr (why it died, if it did)."""
        proc, cls._proc, said = cls._proc, None, ""
        if proc is not None:
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait(5)
            with contextlib.suppress(Exception), cls._err as f:
                f.seek(0)
                said = f.read().decode(errors="replace")[-2000:]
        return said


def _zygote_main() -> int:
    """The zygote's loop: a line "payload<TAB>result<TAB>log" in, the child's pid and then its
    exit code out. It ends when its caller closes the pipe (exits)."""
    import random
    import warnings
    warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
    import torch._dynamo  # noqa: F401  (imported here once, for every child)
    for line in sys.stdin.buffer:
        payload, result, log = line.decode().rstrip("\n").split("\t")
        pid = os.fork()
        if pid == 0:                                   # the child: a fresh process, but warm
            code = 1
            try:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 1), os.dup2(fd, 2), os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                random.seed()
                if "numpy" in sys.modules:
                    sys.modules["numpy"].random.seed()
                code = _child_main(payload, result)
            except BaseException:
                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush(), sys.stderr.flush()
                os._exit(code)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(f"{os.waitstatus_to_exitcode(status)}\n")
        sys.stdout.flush()
    return 0

"""A course function run in a fresh process, on a student's code, handing back only data.

Measuring a step, probing a setup, calling a student's function on hidden inputs: each runs in a
child forked from one clean, warm process (the zygote: `python -I`, torch imported once), so it
starts from nothing the notebook did, for the price of a fork. The job names a course function
by "module:qualname"; its arguments may hold a student's code as a `Shipment`, landed (run as
source) in the child only; the reply is `wire` data, which cannot run code when read.

At grading time `use_sandbox(wrap)` makes the zygote (and, through `wrap_command`, every other
child the course starts on a student's code: kernel runners, compilers) start inside the grader's
sandbox; after each job the zygote ends whatever the job left running.

Known limitations: POSIX only (fork); a job's own figures come from the student's process and
can be forged there (see the README: what grading defends against).
"""
from __future__ import annotations

import builtins
import contextlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import Any, Callable

from . import wire
from .shipping import Shipment, land

_ZYGOTE = "import sys; from autograder.isolation import _zygote_main; sys.exit(_zygote_main())"
_SANDBOX: Callable[..., list[str]] | None = None   # (argv, writable, readable) -> argv
_GRADING = False
_VOLATILE = ("TORCHINDUCTOR_", "TRITON_")   # set by torch itself as it runs: no reason to restart


class IsolationError(RuntimeError):
    """The job could not run or did not finish; the message says why."""


def use_sandbox(wrap: Callable[..., list[str]] | None, grading: bool = True) -> None:
    """While grading (`grading`): every job runs isolated, and every later child (and a new
    zygote) starts through `wrap(argv, writable, readable)` if given. use_sandbox(None, False)
    ends it."""
    global _SANDBOX, _GRADING
    _GRADING = grading
    if wrap is _SANDBOX:
        return                                   # the same sandbox: the zygote goes on serving
    _SANDBOX = wrap
    _Zygote.stop()
    _Zygote.forget_folder()


def prestart() -> None:
    """Start the zygote now, so that its imports (seconds: torch) overlap with whatever the caller
    does next (a grader: running the notebook's cells) instead of delaying the first job. One
    that cannot start says why at that first job."""
    with _Zygote._lock, contextlib.suppress(OSError):
        _Zygote._start()


def end_grading() -> None:
    """Grading is over for now; the sandbox stays set, so that the next notebook's jobs reuse it."""
    global _GRADING
    _GRADING = False


def grading_now() -> bool:
    """True while a grader decides a grade: then no student code may run in this process."""
    return _GRADING


def wrap_command(argv: list[str], writable: list[str], readable: list[str] = ()) -> list[str]:
    """argv as the course starts a process that runs a student's code: sandboxed while grading,
    where it may write only in `writable` and read, of the grader's own files, only `readable`
    (a compiled kernel, a folder of compiler links) beside the environment."""
    return list(argv) if _SANDBOX is None else _SANDBOX(list(argv), list(writable), list(readable))


def run(fn: str | Callable, *args, timeout: float = 120.0, **kwargs) -> Any:
    """fn(*args, **kwargs) in a fresh child; its result, as data. `fn` is a course function (or its
    "module:qualname"); a Shipment among the arguments (or a Remote's) arrives as the function it
    defines. An AssertionError in the child (a refusal the check words) is raised again here."""
    ref = fn if isinstance(fn, str) else f"{fn.__module__}:{fn.__qualname__}"
    if _SANDBOX is not None:
        os.makedirs(_Zygote.folder(), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="job-", dir=_Zygote.folder() if _SANDBOX else None) as tmp:
        payload, result, log = (os.path.join(tmp, n) for n in ("payload.pkl", "result.json", "log.txt"))
        try:
            blob = pickle.dumps({"fn": ref, "args": args, "kwargs": kwargs})
        except Exception as exc:
            raise IsolationError(f"the job's arguments do not pickle ({exc}): pass sizes, seeds and "
                                 "data, and build objects inside the job") from None
        with open(payload, "wb") as f:
            f.write(blob)
        try:
            code = _Zygote.run(payload, result, log, timeout)
        except subprocess.TimeoutExpired:
            raise IsolationError(f"did not finish in {timeout:.0f} s") from None
        reply = None
        if os.path.exists(result):
            with open(result, "rb") as f:
                reply = wire.loads(f.read())
        _echo(log)
        if code != 0 or not isinstance(reply, dict):
            why = (f"was killed by signal {-code} ({_signal_name(-code)})" if code < 0
                   else f"exited with status {code}")
            with open(log, errors="replace") as f:
                tail = "\n".join(f.read().strip().splitlines()[-15:])
            raise IsolationError(f"the process {why}" + (f":\n{tail}" if tail else ""))
    if "refused" in reply:
        raise AssertionError(reply["refused"])
    if "error" in reply:
        kind, message = (reply.get("raised") or [None, None])[:2]
        builtin = getattr(builtins, str(kind), None)
        if isinstance(builtin, type) and issubclass(builtin, Exception) and builtin is not AssertionError:
            try:
                exc = builtin(str(message))      # as the notebook would have seen it: ValueError, ...
            except Exception:
                exc = None
            if exc is not None:
                raise exc
        raise IsolationError(str(reply["error"]))
    return reply.get("value")


_ECHOED: set[int] = set()


def _echo(log: str) -> None:
    """What a job printed (a student's prints and warnings), shown once per distinct text."""
    try:
        with open(log, errors="replace") as f:
            text = f.read()
    except OSError:
        return
    if text.strip() and hash(text) not in _ECHOED:
        _ECHOED.add(hash(text))
        sys.stdout.write(text[-2000:] if text.endswith("\n") else text[-2000:] + "\n")


def forget_echoes() -> None:
    """Show again, from now, what jobs print (the grader calls it at each graded cell)."""
    _ECHOED.clear()


def _signal_name(sig: int) -> str:
    try:
        return {"SIGKILL": "killed: out of memory, or past its time", "SIGSEGV": "a segmentation fault",
                "SIGABRT": "aborted"}.get(signal.Signals(sig).name, signal.Signals(sig).name)
    except ValueError:
        return "unknown signal"


def _land(x):
    """An argument as the job sees it: a student's code (a Shipment, or a Remote's) as the function
    or class it defines, inside lists, tuples and dicts too."""
    if isinstance(x, Shipment):
        return land(x)[x.name]
    if isinstance(getattr(x, "shipment", None), Shipment):      # an answers.Remote
        return land(x.shipment)[x.shipment.name]
    if isinstance(x, (list, tuple)):
        return type(x)(_land(v) for v in x)
    if isinstance(x, dict):
        return {k: _land(v) for k, v in x.items()}
    return x


def _child_main(payload: str, result: str) -> int:
    """In the child: the job, its reply as data."""
    with open(payload, "rb") as f:
        job = pickle.load(f)
    try:
        module, _, qual = job["fn"].partition(":")
        fn: Any = __import__(module, fromlist=["_"])
        for part in qual.split("."):
            fn = getattr(fn, part)
        args = [_land(a) for a in job["args"]]
        kwargs = {k: _land(v) for k, v in job["kwargs"].items()}
        reply = {"value": fn(*args, **kwargs)}
    except AssertionError as exc:
        reply = {"refused": str(exc)}
    except Exception as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exc(limit=-4)),
                 "raised": [type(exc).__name__, str(exc)]}
    try:
        text = wire.dumps(reply)
    except wire.WireError as exc:
        text = wire.dumps({"error": f"the result is not data the course reads: {exc}"})
    with open(result, "w") as f:
        f.write(text)
    return 0


class _Zygote:
    """One clean `python -I` process per caller (and per sandbox) that imports torch, and
    torch._dynamo, which every optimizer step imports, once; then forks a child per job. A new
    one starts when the caller's environment, directory or sandbox changed, or the old one died."""
    _lock = threading.RLock()
    _proc: subprocess.Popen | None = None
    _err: Any = None
    _key: tuple = ()
    _buf = b""
    _folder: str | None = None

    @classmethod
    def folder(cls) -> str:
        """Where jobs put their files while a sandbox is on: the one folder the zygote may write."""
        if cls._folder is None:
            cls._folder = tempfile.mkdtemp(prefix="course-jobs-")
        return cls._folder

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
                    why = cls.stop()
                    if attempt == 2:
                        raise IsolationError("the measuring process could not start: " + why) from None
            try:
                return int(cls._line(timeout))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(Exception):
                    proc.stdin.write(f"KILL {pid}\n".encode())
                    proc.stdin.flush()
                    cls._line(30)
                raise
            except (OSError, EOFError, ValueError):
                raise IsolationError("the measuring process died: " + cls.stop()) from None

    @classmethod
    def _start(cls) -> subprocess.Popen:
        env = tuple(sorted((k, v) for k, v in os.environ.items() if not k.startswith(_VOLATILE)))
        key = (sys.executable, os.getcwd(), env, _SANDBOX)
        if cls._proc is not None and (cls._proc.poll() is not None or key != cls._key):
            cls.stop()
        if cls._proc is None:
            cls._err = tempfile.TemporaryFile()
            argv = [sys.executable, "-I", "-c", _ZYGOTE]
            if _SANDBOX is not None:
                argv = _SANDBOX(argv, [cls.folder()], [])
            cls._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=cls._err)
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
    def forget_folder(cls) -> None:
        """Remove the jobs' folder (a new sandbox gets a new one)."""
        with cls._lock:
            if cls._folder is not None:
                import shutil
                shutil.rmtree(cls._folder, ignore_errors=True)
                cls._folder = None

    @classmethod
    def stop(cls) -> str:
        """Ends the zygote; returns the end of what it wrote to stderr (why it died, if it did)."""
        with cls._lock:
            proc, cls._proc, said = cls._proc, None, ""
            if proc is not None:
                with contextlib.suppress(Exception):
                    proc.kill()
                    proc.wait(5)
                with contextlib.suppress(Exception), cls._err as f:
                    f.seek(0)
                    said = f.read().decode(errors="replace")[-2000:]
            return said


def _strays() -> list[int]:
    """Processes a job left behind: in the zygote's sandbox (its own PID namespace), every process
    but the zygote and the sandbox's init; outside one, the zygote's other descendants."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, me):
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if me == 2 or ppid == me:
            found.append(int(entry))
    return found


class _Lines:
    """Lines from a file descriptor, with a wait that can time out (select on the raw fd: a
    buffered reader would hide lines it has read ahead)."""

    def __init__(self, fd: int):
        self.fd, self.buf = fd, b""

    def get(self, timeout: float | None = None) -> str | None:
        """The next line; None on timeout; "" at the end of input."""
        import select
        end = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if end is None else max(0.0, end - time.monotonic())
            if not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return ""
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def _zygote_main() -> int:
    """The zygote's loop: "payload<TAB>result<TAB>log" in, the child's pid and then its exit code
    out ("KILL pid" ends a child past its time). It ends when its caller closes the pipe."""
    import random
    import warnings
    warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
    with contextlib.suppress(ImportError):
        import torch._dynamo  # noqa: F401  (imported here once, for every child)
    lines = _Lines(0)
    while (line := lines.get()):
        if line.startswith("KILL "):
            continue                                   # for a child that has already ended
        payload, result, log = line.split("\t")
        pid = os.fork()
        if pid == 0:                                   # the child: a fresh process, but warm
            code = 1
            try:
                os.setpgid(0, 0)
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
        _wait_or_kill(pid, lines)
    return 0


def _wait_or_kill(pid: int, lines: _Lines) -> None:
    """Wait for the child (a KILL line ends it early), report its exit code, end its strays."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        line = lines.get(timeout=0.05)
        if line == "":
            os.killpg(pid, signal.SIGKILL)             # the caller is gone
        elif line and line.startswith("KILL "):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    for stray in _strays():
        with contextlib.suppress(OSError):
            os.kill(stray, signal.SIGKILL)
    sys.stdout.write(f"{os.waitstatus_to_exitcode(status)}\n")
    sys.stdout.flush()

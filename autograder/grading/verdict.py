"""The grade of each check, decided where no student code runs: nbgrader's Execute, replaced.

`Verdict` runs a submission's cells in a kernel inside the sandbox, as nbgrader's Execute does,
for the feedback they print, but it never runs a graded test cell there. At a test cell it reads
the cell's check calls (`check_parity(amp_setup)`, `...check_parity(amp_setup, hidden=True)`),
asks the kernel for each named answer as data (`collect`: a function's code, a string, a
number), and calls the chapter's check functions here, in nbgrader's own process, with the
answers as `Remote`s, whose code runs only in sandboxed children that hand back data. What the
cell shows and scores is what the checks said here: printed lines, or the error that failed it.
Nothing the kernel printed, skipped or faked reaches a grade.

A kernel that dies (exits, crashes, is stopped by the sandbox) or will not stop after its time
limit loses what it did not do: the checks before it keep their verdicts, the later ones score 0
with a message that says what happened in which cell.

Known limitations: see the README, "What grading defends against, and what it does not".
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade, is_solution

from .. import isolation
from . import sandbox
from .calls import CheckCall, parse_cell
from .collect import answers_from

COLLECT = ('__import__("autograder.grading.collect", fromlist=["collect"]).collect({names!r}, {path!r})')


class _SandboxedKernel(AsyncKernelManager):
    """The notebook's kernel, started through the sandbox; interrupted by message (a signal would
    reach the guard, not the kernel)."""
    box: sandbox.Sandbox

    def format_kernel_cmd(self, extra_arguments=None):
        self.kernel_spec.interrupt_mode = "message"
        cmd = super().format_kernel_cmd(extra_arguments)
        return self.box.command(cmd) if sandbox.required() else cmd


def _output(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=text)


def _error(message: str, ename: str = "AssertionError") -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class Verdict(Execute):
    """nbgrader's Execute, sandboxed, with every graded check decided in this process."""

    def preprocess(self, nb, resources=None, km=None):
        slug = resources["nbgrader"]["notebook"]      # a chapter's notebook is named by its slug
        self.chapter = importlib.import_module(f"autograder.{slug}")
        self.death = ""                          # why the kernel stopped, once it has
        here = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        hide = _hidden(here, resources["nbgrader"].get("db_url", ""))
        if not sandbox.required():
            self.log.warning("grading WITHOUT a sandbox (%s=1)", sandbox.OPT_OUT)
        else:
            sandbox.check()                      # refuses, with the reason, where it cannot start
        self.folder, mine = Path(tempfile.mkdtemp(prefix="submission-")), False
        try:
            for item in here.iterdir():          # the assignment's files, beside the notebook
                if item.suffix != ".ipynb" and item.is_file():
                    shutil.copy(item, self.folder / item.name)
            gpu = sandbox.gpu_devices()
            mine, km = km is None, km or self._kernel_manager(hide, gpu)
            isolation.use_sandbox(_jobs_sandbox(tuple(hide), gpu) if sandbox.required() else None)
            isolation.prestart()                 # warms up while the notebook's cells run
            resources.setdefault("metadata", {})["path"] = str(self.folder)
            return super().preprocess(nb, resources, km=km)
        finally:
            # nbclient shuts down only a kernel it started itself: ours would live (with its
            # sandbox) until nbgrader exits, one per notebook of the batch
            if mine:
                with contextlib.suppress(Exception):
                    run_sync(km.shutdown_kernel)(now=True)
            isolation.end_grading()
            resources["metadata"]["path"] = str(here)
            shutil.rmtree(self.folder, ignore_errors=True)

    def _kernel_manager(self, hide, gpu):
        km = _SandboxedKernel(kernel_name=self.kernel_name or "python3", transport="ipc",
                              ip=str(self.folder / "kernel"), connection_file=str(self.folder / "kernel.json"))
        km.box = sandbox.Sandbox([self.folder], hide=hide, gpu=gpu)
        return km

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if is_grade(cell) and not is_solution(cell):
            cell.outputs = self._decide(cell, index)
            return cell, resources
        if self.death:
            cell.outputs = []                   # not run: the kernel had stopped
            return cell, resources
        try:
            super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError, RuntimeError, OSError) as exc:
            self._stopped(cell, index, exc)
            return cell, resources
        if any(o.get("ename") == self.error_on_timeout.get("ename") for o in cell.outputs) \
                and not self._responds(index):
            self._stopped(cell, index, RuntimeError("it did not stop at its time limit, not even when "
                                                    "interrupted"))
        return cell, resources

    def _responds(self, index: int) -> bool:
        """After a cell was interrupted at its time limit: does the kernel answer again?"""
        ping = NotebookNode(cell_type="code", source="pass", metadata={}, outputs=[])
        cell, timeout = self.nb.cells[index], self.timeout
        self.timeout = 10
        try:
            super().preprocess_cell(ping, self.resources, index)
        except Exception:
            return False
        finally:
            self.timeout, self.nb.cells[index] = timeout, cell
        return not any(o.get("output_type") == "error" for o in ping.outputs)

    def _stopped(self, cell, index: int, exc: BaseException) -> None:
        why = sandbox.stopped_because(self.folder) or _exit_reason(self.km) or str(exc) or type(exc).__name__
        self.death = f"the kernel stopped in cell {index + 1} ({why})"
        cell.outputs = list(cell.get("outputs", [])) + [_error(self.death, "KernelStopped")]
        with contextlib.suppress(Exception):
            run_sync(self.km.shutdown_kernel)(now=True)

    def _decide(self, cell, index: int) -> list:
        """The outputs that grade this test cell: what its checks said, here."""
        try:
            imports, calls = parse_cell(cell.source)
        except ValueError as exc:
            return [_error(f"this test cell cannot be graded outside the notebook: {exc}", "GradingError")]
        if self.death:
            return [_error(f"not graded: {self.death}; checks after that point score 0", "KernelStopped")]
        answers = self._collect(calls, imports, index)
        if isinstance(answers, str):
            return [_error(f"not graded: {answers}", "KernelStopped")]
        outputs = []
        isolation.forget_echoes()
        for call in calls:
            text, failure = self._run(call, answers)
            if text:
                outputs.append(_output(text))
            if failure is not None:
                outputs.append(failure)
                break
        return outputs

    def _collect(self, calls: list[CheckCall], imports: str, index: int):
        """The answers the calls name, from the kernel; or why they could not be had."""
        names = sorted({n for c in calls for n in c.names()})
        path = self.folder / f".answers-{index}.json"
        source = (imports + "\n" if imports else "") + COLLECT.format(names=names, path=str(path))
        probe = NotebookNode(cell_type="code", source=source, metadata={}, outputs=[])
        cell = self.nb.cells[index]
        try:
            super().preprocess_cell(probe, self.resources, index)
        except (DeadKernelError, CellTimeoutError, RuntimeError, OSError) as exc:
            self._stopped(probe, index, exc)
            return self.death
        finally:
            self.nb.cells[index] = cell          # nbclient stores the executed cell at its index
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            raw = {}
        finally:
            path.unlink(missing_ok=True)
        return answers_from(raw, names)

    def _run(self, call: CheckCall, answers: dict):
        """(what the check printed, None) if it passed, else (printed, the error output)."""
        buf = io.StringIO()
        try:
            fn = getattr(self.chapter, call.function)
            args, kwargs = call.bind(answers)
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                fn(*args, **kwargs)
        except AssertionError as exc:             # a failed check: its message, for the student
            return buf.getvalue(), _error(str(exc))
        except Exception as exc:                  # the answer could not be run as the check needs
            return buf.getvalue(), _error(f"{type(exc).__name__}: {exc}", "CheckError")
        return buf.getvalue(), None


@functools.lru_cache(maxsize=None)
def _jobs_sandbox(hide: tuple[Path, ...], gpu: bool):
    """The sandbox of the processes that run answers for the checks: one per grading run, so that
    the warm process they fork from serves every notebook (each job is a fresh fork, its folder
    removed after it, and whatever it left running is ended)."""
    def wrap(argv, writable, readable):
        return sandbox.Sandbox([Path(w) for w in writable], hide=list(hide),
                               readable=[Path(r) for r in readable], gpu=gpu).command(argv)
    return wrap


def _exit_reason(km) -> str:
    proc = getattr(getattr(km, "provisioner", None), "process", None)
    code = proc.poll() if proc is not None else None
    if code is None:
        return ""
    if code > 128:
        with contextlib.suppress(ValueError):
            name = signal.Signals(code - 128).name
            return {"SIGSEGV": "segmentation fault", "SIGKILL": "killed", "SIGABRT": "aborted"}.get(name, name)
    return f"it exited with status {code}"


def _hidden(notebook_dir: Path, db_url: str) -> list[Path]:
    """What a submission must not see: the course folder (gradebook, solutions/, submissions,
    feedback), the repository the course package is installed from, the grader's home; the
    Python environment and the course package come back, read-only."""
    hide = set()
    if db_url.startswith("sqlite:///"):
        hide.add(Path(db_url[len("sqlite:///"):]).resolve().parent)
    if len(notebook_dir.parts) > 3:
        hide.add(notebook_dir.parents[2])          # <course>/autograded/<student>/<assignment>
    hide.add(Path.home().resolve())
    repo = Path(__file__).resolve().parents[2]     # the course's repository, where it is installed from
    if (repo / "solutions").is_dir() or (repo / "nbgrader_config.py").is_file():
        hide.add(repo)
    return sorted(hide)

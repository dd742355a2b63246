"""Grading a kernel: run it over many shapes, compare with NumPy, and say what went wrong.

`check_kernel` takes a kernel and the cases of a check (`Case`: a launch and the arrays it
should leave), runs them on every backend the machine has (the CPU first, on a GPU machine
too, so that a kernel fails for the same reason everywhere), compares each argument with
NumPy, enforces an optional read budget, and prints one line: what passed and on which
backend. A failure is a `WrongResult` naming the first wrong index, expected and actual
values, and a hint where the pattern of wrong elements suggests one (`hints`); a race or an
out-of-bounds access gets the check's own advice where it knows the kernel's intent.

Read budgets are counted on the CPU in both languages: in the Numba simulator, and in the
CUDA C shim's counting build; on a GPU machine too.

Known limitations: values are compared within rtol and atol, NaN equal to NaN; a case of a
tail launch (`Launch.blocks`) compares only the elements those blocks own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .errors import KernelError, OverBudget, WrongResult
from .launch import AccessCount, Launch, on_gpu
from .run import is_cuda_c, run_kernel


def first_mismatch(expected: np.ndarray, got: np.ndarray, rtol: float, atol: float):
    """(index tuple, number wrong) of the first element (row-major) that differs, or None."""
    expected = np.asarray(expected)
    got = np.asarray(got).reshape(expected.shape)
    if np.issubdtype(expected.dtype, np.floating):
        bad = ~np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    else:
        bad = got != expected
    if not bad.any():
        return None
    flat = int(np.flatnonzero(bad.ravel())[0])
    return np.unravel_index(flat, expected.shape), int(bad.sum())


def _fmt_index(name: str, idx) -> str:
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]"


def _fmt_value(v) -> str:
    v = np.asarray(v).item()
    if isinstance(v, float):
        if math.isnan(v):
            return "nan (never written)"
        return f"{v:.6g}"
    return str(v)


@dataclass
class Case:
    """One shape of a check: the launch, and the expected content of some arguments after it."""
    launch: Launch
    expected: dict[int, np.ndarray]            # argument index -> expected array after the kernel
    names: Sequence[str] = ()                  # argument names, for messages
    square: bool | None = None                 # for 2-D checks: is this shape square?
    after_square_pass: bool = False            # set by check_kernel: a square case before it passed
    compared: dict[int, np.ndarray] = field(default_factory=dict)   # argument -> mask of elements compared


@dataclass
class CheckReport:
    name: str
    backend: str
    cases: int
    notes: list[str] = field(default_factory=list)

    def _ipython_display_(self):
        pass  # the check already printed its line; a notebook shows nothing more

    def __str__(self) -> str:
        extra = "; ".join(self.notes)
        return (f"{self.name}: passed on {self.cases} launch configurations, backend: {self.backend}"
                + (f". {extra}" if extra else ""))


def compare_case(case: Case, outputs: list[Any], backend: str, *, rtol=1e-4, atol=1e-5,
                 hint: Callable[[Case, tuple, Any], str] | None = None) -> None:
    """Raise WrongResult naming the first wrong index, expected and actual values."""
    for i, want in case.expected.items():
        want = np.asarray(want)
        got_arr = np.asarray(outputs[i]).reshape(want.shape)
        name = case.names[i] if i < len(case.names) else f"argument {i}"
        mask = case.compared.get(i)
        seen = got_arr if mask is None else np.where(mask, got_arr, want)
        found = first_mismatch(want, seen, rtol, atol)
        if found is None:
            continue
        idx, nbad = found
        of = want.size if mask is None else f"{int(mask.sum())} compared"
        msg = (f"wrong result: first wrong element {_fmt_index(name, idx)}: expected "
               f"{_fmt_value(want[idx])}, got {_fmt_value(got_arr[idx])} ({nbad} of {of} elements wrong)")
        if hint is not None:
            extra = hint(case, idx, got_arr)
            if extra:
                msg += ". " + extra
        raise WrongResult(msg, backend=backend, launch=case.launch.describe())


def check_kernel(kernel, cases: Callable[[str], Sequence[Case]], *, check_name: str, name: str | None = None,
                 backend: str = "auto", options: Sequence[str] = (), timeout: float = 60.0,
                 hint=None, rtol=1e-4, atol=1e-5, budget: Callable[[AccessCount], str] | None = None,
                 budget_cases: Callable[[], Sequence[Case]] | None = None, verbose: bool = True,
                 advice: Callable[[Case, KernelError], str | None] | None = None,
                 single_writer: bool = False) -> CheckReport:
    """Run the cases, compare with NumPy, enforce an optional read budget, print one line.

    `cases(size)` gives the cases for "small" (the Numba simulator: about 0.5 ms per thread) or
    "large" (GPU, CUDA C shim). On a GPU a Numba kernel runs the large cases on the GPU and the
    small ones in the simulator too (out-of-bounds reads, races and budgets are seen only
    there). `budget(accesses)` gets the CPU's counts for `budget_cases()` (either language) and
    returns a message: "over: ..." fails the check, anything else is shown in the report.
    `advice(case, error)` may replace the advice of a race or an out-of-bounds error;
    `single_writer`: each element has one owner, so two threads writing one fail the check.
    """
    gpu = on_gpu(backend)
    c_code = is_cuda_c(kernel)
    notes: list[str] = []
    backends: list[str] = []

    def run_and_compare(case_list, where, count=False):
        try:
            run = run_kernel(kernel, [c.launch for c in case_list], name=name, backend=where, options=options,
                             timeout=timeout, count_accesses=count, single_writer=single_writer)
        except KernelError as e:
            better = _advised(e, case_list, advice)
            if better is None:
                raise
            raise better from None
        square_passed = False
        for c, out in zip(case_list, run.outputs):
            c.after_square_pass = square_passed
            compare_case(c, out, run.backend, rtol=rtol, atol=atol, hint=hint)
            square_passed = square_passed or bool(c.square)
        backends.append(run.backend)
        notes.extend(n for n in run.notes if n not in notes)
        return run

    def enforce(run, first: int, extra: list[Case]) -> None:
        acc = run.accesses[first] if len(run.accesses) > first else None
        if acc is None:
            notes.append("the read budget was not counted on this machine")
            return
        verdict = budget(acc)
        if verdict.startswith("over:"):
            raise OverBudget(verdict[len("over:"):].strip(), backend=run.backend, launch=extra[0].launch.describe())
        notes.append(verdict)

    extra = list(budget_cases()) if (budget is not None and budget_cases is not None) else []
    total = 0
    if c_code:
        main = list(cases("large"))
        run = run_and_compare(main + extra, "gpu" if gpu else "cpu", count=bool(extra))
        total += len(main)
        if extra:
            enforce(run, len(main), extra)
    else:
        # The simulator first, on a GPU machine too, so that a kernel fails for the same reason
        # everywhere (out of bounds, race, budget) before a GPU shows only its wrong values.
        small = list(cases("small"))
        run = run_and_compare(small + extra, "cpu", count=bool(extra))
        total += len(small)
        if extra:
            enforce(run, len(small), extra)
        if gpu:
            main = list(cases("large"))
            run_and_compare(main, "gpu")
            total += len(main)
    report = CheckReport(check_name, " + ".join(dict.fromkeys(backends)), total, notes)
    if verbose:
        print(report)
    return report


def _advised(err: KernelError, case_list: Sequence[Case], advice) -> KernelError | None:
    """The error with the check's advice, when it has some for the launch that failed."""
    if advice is None or not getattr(err, "info", None):
        return None
    case = next((c for c in case_list if c.launch.describe() == err.launch), None)
    text = advice(case, err) if case is not None else None
    return err.with_advice(text) if text else None


def kernel_name(kernel, name=None) -> str:
    """The name a report gives a kernel: `name`, the function's own, or "kernel" for source text."""
    if name:
        return name
    if isinstance(kernel, str):
        return "kernel"
    f = getattr(kernel, "py_func", kernel)
    return getattr(f, "__name__", "kernel")


def need_name(kernel, name, check: str, example: str = "...") -> None:
    """A check of CUDA C source refuses to start without the kernel's name, and says how to give it."""
    if is_cuda_c(kernel) and not name:
        raise AssertionError(f"a CUDA C kernel needs its name too: {check}(SOURCE, name='{example}')")

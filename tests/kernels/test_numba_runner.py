"""The Numba runner: kernels given as text, the PTX compile a GPU would make, time limits, counts.

The kernels are small files in tests/scenarios/kernels/.
"""
from __future__ import annotations

import numpy as np
import pytest

from autograder import kernels
from autograder.kernels import KernelCompileError, KernelTimeout, Launch
from conftest import SCENARIOS
from scenarios.kernels import numba_kernels as nk


def test_numba_kernel_given_as_source_text():
    src = '''
@cuda.jit
def add(a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]
'''
    report = kernels.check_vector_add(src, backend="cpu", sizes=(1, 30, 257))
    assert report.cases == 3


def test_numba_typing_error_the_simulator_accepts_fails_the_ptx_compile():
    with pytest.raises(KernelCompileError, match=r"(?s)compile_ptx.*Untyped global name 'add_values'.*line \d+"):
        kernels.check_vector_add(nk.vector_add_plain_helper, backend="cpu")


def test_numba_kernel_past_the_time_limit():
    src = (SCENARIOS / "kernels" / "spin_as_text.py").read_text()
    out = np.zeros(1, np.float32)
    with pytest.raises(KernelTimeout, match=r"ran past the time limit of 3 s"):
        kernels.run_numba(src, [Launch(1, 1, [out])], backend="cpu", timeout=3, compile_check=False)


def test_access_counts_match_hand_arithmetic():
    n = 300
    a = np.arange(n, dtype=np.float32)
    run = kernels.run_numba(nk.vector_add, [Launch(2, 256, [a, a, np.zeros(n, np.float32)])],
                            backend="cpu", count_accesses=True, compile_check=False)
    acc = run.accesses[0]
    # 300 guarded threads: one read of a, one of b, one write of out each; 212 threads do nothing
    assert acc.reads == {"a": n, "b": n} and acc.writes == {"out": n}
    assert acc.max_reads_per_thread == 2 and acc.threads == n
    np.testing.assert_array_equal(run.outputs[0][2], 2 * a)

"""Chapter 1: the checks fail what they should, and nbgrader grades submissions right."""
import copy
import statistics
import time

import numpy as np
import pytest

from autograder import ch01_cpu_vs_gpu as ch01, results
from conftest import cell, execute, release, scenario, solution, solved

SLUG = "ch01_cpu_vs_gpu"


# ---------------------------------------------------------------- known-wrong answers
def timer_without_sync(fn, sync, repeats=5, warmup=1, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = clock()
        fn()
        samples.append(clock() - start)
    return statistics.median(samples)


def timer_mean(fn, sync, repeats=5, warmup=1, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    sync()
    total = 0.0
    for _ in range(repeats):
        start = clock()
        fn()
        sync()
        total += clock() - start
    return total / repeats


def timer_no_first_sync(fn, sync, repeats=5, warmup=1, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = clock()
        fn()
        sync()
        samples.append(clock() - start)
    return statistics.median(samples)


def timer_wall_clock(fn, sync, repeats=5, warmup=1, clock=time.perf_counter):
    return ch01.time_call(fn, sync, repeats, warmup)   # ignores the clock it is given


def crossover_first_win(sizes, cpu, gpu):
    for n, c, g in zip(sizes, cpu, gpu):
        if g < c:
            return n
    return None


def crossover_ties_win(sizes, cpu, gpu):
    answer = None
    for n, c, g in reversed(list(zip(sizes, cpu, gpu))):
        if g > c:
            break
        answer = n
    return answer


@pytest.mark.parametrize("hidden", [False, True])
def test_reference_answers_pass(hidden):
    ch01.check_bytes(ch01.kernel_bytes, ch01.copy_bytes, hidden=hidden)
    ch01.check_model(ch01.model_seconds, hidden=hidden)
    ch01.check_time_call(ch01.time_call, hidden=hidden)
    ch01.check_crossover(ch01.crossover, hidden=hidden)


@pytest.mark.parametrize("timer, message", [
    (timer_without_sync, "did you synchronise"),
    (timer_mean, "expected"),
    (timer_no_first_sync, "synchronise before starting the clock"),
    (timer_wall_clock, "expected"),
])
def test_wrong_timers_fail(timer, message):
    for hidden in (False, True):
        with pytest.raises(AssertionError, match=message):
            ch01.check_time_call(timer, hidden=hidden)


@pytest.mark.parametrize("wrong", [crossover_first_win, crossover_ties_win])
def test_wrong_crossovers_fail(wrong):
    with pytest.raises(AssertionError, match="crossover"):
        ch01.check_crossover(wrong)


@pytest.mark.parametrize("kernel, copies", [
    (lambda n, s: 2 * n * s, ch01.copy_bytes),          # forgot the write of c
    (ch01.kernel_bytes, lambda n, s: 2 * n * s),        # forgot that c comes back
    (lambda n, s: 3 * n, ch01.copy_bytes),              # elements, not bytes
    (lambda n, s: str(3 * n * s), ch01.copy_bytes),     # not a number
])
def test_wrong_bytes_fail(kernel, copies):
    with pytest.raises(AssertionError):
        ch01.check_bytes(kernel, copies, hidden=True)


def test_model_without_link_fails():
    with pytest.raises(AssertionError, match="link_bandwidth"):
        ch01.check_model(lambda n, s, bw, overhead=0.0, link_bandwidth=None:
                         overhead + ch01.kernel_bytes(n, s) / bw)


def test_hidden_timer_checks_fail_a_timer_without_sync():
    with pytest.raises(AssertionError):
        ch01.check_time_call(timer_without_sync, hidden=True)


# ---------------------------------------------------------------- the page's pieces
class NumpyAsGpu:
    """A stand-in for a GPU in tests of the plumbing only: its figures are never recorded."""
    name = "numpy pretending"

    def empty(self, n, dtype=np.float32):
        return np.empty(n, dtype)

    def upload(self, dst, src):
        dst[:] = src

    download = upload

    def add(self, a, b, out):
        np.add(a, b, out=out)

    def sync(self):
        pass


def test_measure_plot_and_findings_with_recorded_gpu(monkeypatch, tmp_path):
    monkeypatch.setattr(ch01, "gpu", lambda: NumpyAsGpu())
    data = ch01.measure([1000, 10000], progress=False)
    assert set(ch01.GPU_PATHS) <= set(data) and all(len(data[p]) == 2 for p in ch01.GPU_PATHS)
    recorded = {"environment": {"device": "Test GPU", "date": "2026-01-01"},
                "figures": {"vector_add": data}}
    fig = ch01.plot({k: data[k] for k in ("sizes", "dtype", *ch01.CPU_PATHS)}, recorded)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("Test GPU, recorded 2026-01-01" in t for t in legend)
    text = ch01.findings({k: data[k] for k in ("sizes", "dtype", *ch01.CPU_PATHS)}, recorded)
    assert "GPU figures from Test GPU, recorded 2026-01-01" in text


def test_findings_say_when_nothing_is_recorded():
    live = {"sizes": [1000, 2000], "dtype": "float32", "numpy": [1e-6, 2e-6],
            "numba_parallel": [2e-6, 2e-6]}
    assert "No GPU figures are recorded yet" in ch01.findings(live, None)


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch01.record()


def test_recorded_results_name_their_gpu():
    data = results.load(SLUG)
    if data is None:
        pytest.skip("no GPU figures recorded yet")
    env = data["environment"]
    assert env["gpu"] and env["device"] and env["date"]


# ---------------------------------------------------------------- the notebooks
def test_solution_runs_top_to_bottom():
    nb = execute(solution(SLUG))
    out = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "crossover: 20 cases right" in out   # the hidden tests ran too
    assert "No GPU found" in out or "GPU:" in out


def test_autograde_round_trip(course):
    c = course(SLUG, timeout=30)
    without_check = solved(SLUG)
    without_check.cells.remove(cell(without_check, "crossover_check"))
    duplicated = solved(SLUG)   # Jupyter's copy/paste keeps a cell's nbgrader metadata
    for gid in ("model_answer", "crossover_check"):
        i = duplicated.cells.index(cell(duplicated, gid))
        duplicated.cells.insert(i, copy.deepcopy(duplicated.cells[i]))
    del cell(duplicated, "bytes_answer").metadata.nbgrader["grade_id"]   # hand-edited metadata
    warns = (cell(solved(SLUG), "crossover_answer").source + "\n" +   # right, and noisy on stderr
             scenario(SLUG, "warns_on_stderr")["crossover_answer"])
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-warns-on-stderr": solved(SLUG, crossover_answer=warns),
        "submitted-unchanged": release(SLUG),
        "submitted-no-sync-timer": solved(SLUG, **scenario(SLUG, "no_sync_timer")),
        "submitted-cheat-attempt": solved(SLUG, **scenario(SLUG, "cheat_attempt")),
        "submitted-raises": solved(SLUG, **scenario(SLUG, "raises")),
        "submitted-loops-forever": solved(SLUG, **scenario(SLUG, "loops_forever")),
        "submitted-deleted-test-cell": without_check,
        "submitted-tampered-metadata": duplicated,
    }
    assert c.grade(submissions) == {
        "submitted-solution": 10,
        "submitted-warns-on-stderr": 10,   # a warning is not a failed check
        "submitted-unchanged": 0,
        "submitted-no-sync-timer": 7,
        "submitted-cheat-attempt": 7,      # visible check patched away, hidden one still fails
        "submitted-raises": 7,
        "submitted-loops-forever": 8,      # cell stopped at the time limit, the rest graded
        "submitted-deleted-test-cell": 10,  # the check was put back and run
        "submitted-tampered-metadata": 10,  # copies and broken metadata: graded, not lost
    }
    noisy = c.output("submitted-warns-on-stderr", "crossover_check")
    assert "a library deprecation" in noisy and "progress 100%" in noisy   # still shown
    restored = c.graded("submitted-deleted-test-cell")
    assert "was missing from the submission" in cell(restored, "crossover_check").source


def test_model_is_read_off_several_points_and_one_slow_call_does_not_carry_it():
    sizes = ch01.SIZES
    exact = [2e-6 + 12 * n / 20e9 for n in sizes]     # 2 µs overhead, 20 GB/s: 3 x n x 4 bytes
    assert ch01.fit_model(sizes, exact) == pytest.approx((exact[0], 20e9), rel=1e-3)
    busy = [5e-2] + exact[1:]                           # the smallest size hit by a busy machine
    cached = [t / 4 if 1e4 < n < 1e7 else t for n, t in zip(sizes, busy)]   # caches: faster
    overhead, bandwidth = ch01.fit_model(sizes, cached)
    assert overhead == pytest.approx(exact[1]) and bandwidth == pytest.approx(20e9, rel=1e-3)


def test_findings_quote_the_bandwidth_of_the_table():
    live = {"sizes": ch01.SIZES, "dtype": "float32",
            "numpy": [1e-6 + 12 * n / 20e9 for n in ch01.SIZES],
            "numba_parallel": [3e-6 + 12 * n / 23e9 for n in ch01.SIZES]}
    text = ch01.findings(live, None)
    assert "20.0 GB/s for NumPy" in text and "23.0 GB/s for the parallel Numba loop" in text

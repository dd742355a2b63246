"""Chapter 1: the checks fail what they should, and nbgrader grades submissions right."""
import copy
import functools
import math
import statistics

import numpy as np
import pytest

from autograder import ch01_cpu_vs_gpu as ch01, results
from conftest import answer_text, cell, defined, execute, release, scenario, solution, solved

SLUG = "ch01_cpu_vs_gpu"
ANSWERS = ("bytes_answer", "model_answer", "timer_answer", "crossover_answer")


@functools.cache
def solution_answers(slug=SLUG) -> dict:
    """The solution's answers, defined together as the notebook defines them (the roofline calls
    the byte count): the package holds none of them."""
    text = "\n\n".join(answer_text(slug, g) for g in ANSWERS)
    names = ("product_bytes", "product_flops", "roofline_seconds", "time_events", "model_crossover")
    return {n: defined(text, n) for n in names}


# ---------------------------------------------------------------- known-wrong answers
def _events_timer(fn, new_event, repeats=5, warmup=1, wait=True, unit=1e-3, middle=statistics.median):
    """A right event timer, or one with a single slip (as the arguments say)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start, end = new_event(), new_event()
        start.record()
        fn()
        end.record()
        if wait:
            end.synchronize()
        samples.append(start.elapsed_time(end) * unit)
    return middle(samples)


def timer_without_wait(fn, new_event, repeats=5, warmup=1):
    return _events_timer(fn, new_event, repeats, warmup, wait=False)


def timer_in_milliseconds(fn, new_event, repeats=5, warmup=1):
    return _events_timer(fn, new_event, repeats, warmup, unit=1)


def timer_mean(fn, new_event, repeats=5, warmup=1):
    return _events_timer(fn, new_event, repeats, warmup, middle=statistics.mean)


def timer_times_the_warmup(fn, new_event, repeats=5, warmup=1):
    return _events_timer(fn, new_event, repeats + warmup, 0)


def timer_host_clock(fn, new_event, repeats=5, warmup=1):
    """The page's timer, the event's synchronize as its sync: the host's clock, not the device's."""
    def sync():
        e = new_event()
        e.record()
        e.synchronize()
    return ch01.time_call(fn, sync, repeats, warmup)


def crossover_floor(cpu, gpu, itemsize=4):
    (oc, bc), (og, bg) = cpu, gpu
    gained, extra = 3 * itemsize * (1 / bc - 1 / bg), og - oc
    return None if gained <= 0 else max(1, math.floor(extra / gained))   # the tie counted a win


def crossover_first_win(cpu, gpu, itemsize=4):
    (oc, bc), (og, bg) = cpu, gpu
    if og < oc:                                    # wins at n = 1: a crossover, whatever follows
        return 1
    gained = 3 * itemsize * (1 / bc - 1 / bg)
    return None if gained <= 0 else math.floor((og - oc) / gained) + 1


def crossover_float32_only(cpu, gpu, itemsize=4):
    (oc, bc), (og, bg) = cpu, gpu
    gained = 12 * (1 / bc - 1 / bg)
    if gained < 0 or (gained == 0 and og >= oc):
        return None
    return 1 if og < oc else math.floor((og - oc) / gained) + 1


@pytest.mark.parametrize("hidden", [False, True])
def test_solution_answers_pass(hidden):
    answers = solution_answers(SLUG)
    ch01.check_bytes(answers["product_bytes"], answers["product_flops"], hidden=hidden)
    ch01.check_model(answers["roofline_seconds"], hidden=hidden)
    ch01.check_time_events(answers["time_events"], hidden=hidden)
    ch01.check_time_events(_events_timer, hidden=hidden)   # waiting after each call is right too
    ch01.check_crossover(answers["model_crossover"], hidden=hidden)


def test_the_package_holds_no_answer():
    """The exercise asks another case than the page's: the page's own pieces fail every check."""
    assert not {"product_bytes", "product_flops", "roofline_seconds", "time_events",
                "model_crossover"} & set(dir(ch01))
    with pytest.raises(AssertionError):
        ch01.check_bytes(lambda m, k, n, s: ch01.kernel_bytes(n, s), lambda m, k, n: n)
    with pytest.raises(AssertionError, match="expected"):    # bytes over bandwidth: no arithmetic
        ch01.check_model(lambda m, k, n, s, bw, rate, overhead=0.0:
                         overhead + (m * k + k * n + m * n) * s / bw)
    with pytest.raises(AssertionError, match="expected"):
        ch01.check_time_events(timer_host_clock)
    with pytest.raises(Exception):
        ch01.check_crossover(lambda cpu, gpu, itemsize=4: ch01.crossover(cpu, gpu, itemsize))


@pytest.mark.parametrize("timer, message", [
    (timer_without_wait, "end.synchronize"),
    (timer_in_milliseconds, "milliseconds"),
    (timer_mean, "expected"),
    (timer_times_the_warmup, "expected"),
    (timer_host_clock, "expected"),
])
def test_wrong_timers_fail(timer, message):
    for hidden in (False, True):
        with pytest.raises(AssertionError, match=message):
            ch01.check_time_events(timer, hidden=hidden)


@pytest.mark.parametrize("wrong", [crossover_floor, crossover_first_win, crossover_float32_only])
def test_wrong_crossovers_fail(wrong):
    """On the visible cases and on every hidden draw (CI drew a set without a "wins small,
    loses large" case, and a crossover of 1 there passed)."""
    for hidden in (False, *[True] * 50):
        with pytest.raises(AssertionError, match="model_crossover"):
            ch01.check_crossover(wrong, hidden=hidden)


@pytest.mark.parametrize("product, flops", [
    (lambda m, k, n, s: 3 * m * n * s, lambda m, k, n: 2 * m * k * n),        # square only
    (lambda m, k, n, s: (m * k + k * n) * s, lambda m, k, n: 2 * m * k * n),  # forgot C
    (lambda m, k, n, s: m * k + k * n + m * n, lambda m, k, n: 2 * m * k * n),  # elements
    (lambda m, k, n, s: (m * k + k * n + m * n) * s, lambda m, k, n: m * k * n),  # no adds
    (lambda m, k, n, s: str(m), lambda m, k, n: 2 * m * k * n),               # not a number
])
def test_wrong_bytes_fail(product, flops):
    for hidden in (False, True):
        with pytest.raises(AssertionError):
            ch01.check_bytes(product, flops, hidden=hidden)


@pytest.mark.parametrize("combine, message", [
    (lambda memory, arithmetic: memory + arithmetic, "the two overlap"),
    (min, "the faster of the two"),
    (lambda memory, arithmetic: memory, "expected"),
])
def test_wrong_rooflines_fail(combine, message):
    def model(m, k, n, s, bw, rate, overhead=0.0):
        return overhead + combine((m * k + k * n + m * n) * s / bw, 2 * m * k * n / rate)
    for hidden in (False, *[True] * 1000):   # every hidden draw (one in 18 once had no compute-bound case)
        with pytest.raises(AssertionError, match=message):
            ch01.check_model(model, hidden=hidden)


def test_roofline_without_overhead_fails():
    with pytest.raises(AssertionError, match="overhead=5e-06"):
        ch01.check_model(lambda m, k, n, s, bw, rate, overhead=0.0:
                         max((m * k + k * n + m * n) * s / bw, 2 * m * k * n / rate))


def test_a_tie_the_floats_round_either_way_is_taken_both_ways():
    """The lines meet at exactly 10 elements: n = 10 is a tie, so the answer is 11; a float formula
    may land on 10 or 11 and both are taken. 12 is still wrong."""
    cpu, gpu = (1e-6, 12e9), (2e-6, 24e9)        # 1 µs more overhead, 0.5 ns less per element
    for got in (10, 11):
        ch01.check_crossover(lambda c, g, s=4, got=got: got if (c, g) == (cpu, gpu) else
                             solution_answers(SLUG)["model_crossover"](c, g, s))
    with pytest.raises(AssertionError):
        ch01.check_crossover(lambda c, g, s=4: 12 if (c, g) == (cpu, gpu) else None)


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
    assert "model_crossover: 20 cases right" in out   # the hidden tests ran too
    assert "No GPU found" in out or "GPU:" in out


# the duplicated cells keep their ids too, as a copy/paste does: nbformat says so, and renames them
@pytest.mark.filterwarnings("ignore::nbformat.warnings.DuplicateCellId")
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
        "submitted-pastes-the-page": solved(SLUG, **scenario(SLUG, "pastes_the_page")),
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
        "submitted-pastes-the-page": 0,    # the page's pieces answer none of the cases asked
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

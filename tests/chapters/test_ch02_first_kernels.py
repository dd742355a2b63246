"""Chapter 2: the checks pass right kernels, fail wrong ones for the right reason, and nbgrader
grades submissions right."""
import pytest
from numba import cuda

from autograder import ch02_first_kernels as ch02, results
from conftest import execute, release, scenario, solution, solved

SLUG = "ch02_first_kernels"


# ---------------------------------------------------------------- right and wrong answers
# The exercise's kernels as a class writes them; its answers are in solutions/ only.
@cuda.jit
def adjacent_diff(a, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i + 1] - a[i]


@cuda.jit
def diff_guard_on_input(a, out):     # the page's guard on the input: thread n - 1 reads a[n]
    i = cuda.grid(1)
    if i < a.size:
        out[i] = a[i + 1] - a[i]


@cuda.jit
def diff_backwards(a, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] - a[i + 1]


@cuda.jit
def diff_first_block_only(a, out):
    i = cuda.threadIdx.x
    if i < out.size:
        out[i] = a[i + 1] - a[i]


@cuda.jit
def shift(k, fill, a, out):
    i = cuda.grid(1)
    if i < out.size:
        j = i - k
        if 0 <= j < a.size:
            out[i] = a[j]
        else:
            out[i] = fill


@cuda.jit
def shift_upper_guard_only(k, fill, a, out):     # a[-1] wraps to the end on a GPU, no error
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i - k] if i - k < a.size else fill


@cuda.jit
def shift_no_fill(k, fill, a, out):
    i = cuda.grid(1)
    if i < out.size and 0 <= i - k < a.size:
        out[i] = a[i - k]


@cuda.jit
def page_vector_add_renamed(a, b, out):     # the page's kernel pasted as the answer
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]


def define(src, name):
    """What an answer cell defines as `name` (a CUDA C kernel's source text, say)."""
    ns = {"cuda": cuda}
    exec(src, ns)
    return ns[name]


C_DIFF = """
extern "C" __global__ void adjacent_diff(const float* a, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n - 1) out[i] = a[i + 1] - a[i];
}
"""
C_DIFF_NO_GUARD = define(scenario(SLUG, "c_no_guard")["c_diff_answer"], "ADJACENT_DIFF_SRC")
C_DIFF_GUARD_ON_INPUT = define(scenario(SLUG, "c_guard_on_input")["c_diff_answer"], "ADJACENT_DIFF_SRC")
C_DIFF_NO_SEMICOLON = define(scenario(SLUG, "c_no_semicolon")["c_diff_answer"], "ADJACENT_DIFF_SRC")
C_SHIFT = """
extern "C" __global__ void shift(int k, float fill, const float* a, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = (i - k >= 0 && i - k < n) ? a[i - k] : fill;
}
"""
C_SHIFT_WRONG_WAY = define(scenario(SLUG, "c_shift_wrong_way")["shift_answer"], "SHIFT_SRC")
C_SHIFT_LOWER_GUARD_ONLY = C_SHIFT.replace("(i - k >= 0 && i - k < n)", "(i - k >= 0)")
C_SHIFT_FLOAT_K = C_SHIFT.replace("int k,", "float k,").replace("int i = ", "int j = (int)k, i = ").replace("i - k", "i - j")
PAGE_C = define(scenario(SLUG, "page_code_renamed")["c_diff_answer"], "ADJACENT_DIFF_SRC")


def launch_config(n, threads_per_block=256, per_thread=1):
    if not 1 <= threads_per_block <= 1024 or per_thread < 1:
        raise ValueError("no such launch")
    return -(-n // (threads_per_block * per_thread)), threads_per_block


def config_rounds_down(n, threads_per_block=256, per_thread=1):
    return n // (threads_per_block * per_thread), threads_per_block


def config_one_extra(n, threads_per_block=256, per_thread=1):
    launch_config(n, threads_per_block, per_thread)
    return n // (threads_per_block * per_thread) + 1, threads_per_block


def config_allows_2048(n, threads_per_block=256, per_thread=1):
    return -(-n // (threads_per_block * per_thread)), threads_per_block


def config_ignores_per_thread(n, threads_per_block=256, per_thread=1):   # the page's blocks_for
    launch_config(n, threads_per_block)
    return (n + threads_per_block - 1) // threads_per_block, threads_per_block


def config_allows_no_element(n, threads_per_block=256, per_thread=1):
    return launch_config(n, threads_per_block, max(per_thread, 1))


def config_floats(n, threads_per_block=256, per_thread=1):
    launch_config(n, threads_per_block, per_thread)
    return float(-(-n // (threads_per_block * per_thread))), threads_per_block


def config_no_default(n, threads_per_block, per_thread):
    return launch_config(n, threads_per_block, per_thread)


@pytest.mark.parametrize("hidden", [False, True])
def test_right_answers_pass(hidden):
    ch02.check_adjacent_diff(adjacent_diff, hidden=hidden)
    ch02.check_adjacent_diff(C_DIFF, name="adjacent_diff", hidden=hidden)
    ch02.check_shift(shift, hidden=hidden)
    ch02.check_shift(C_SHIFT, name="shift", hidden=hidden)
    ch02.check_launch_config(launch_config, hidden=hidden)


def test_the_package_holds_no_answer():
    assert not hasattr(ch02, "launch_config")          # issue 12: answers live in solutions/ only


@pytest.mark.parametrize("kernel, name, message", [
    (diff_guard_on_input, None, r"out-of-bounds .*out has 1 elements, one fewer than a.*i < out.size"),
    (C_DIFF_GUARD_ON_INPUT, "adjacent_diff", r"AddressSanitizer.*out-of-bounds read of a\[2\] \(a has 2 elements\)"),
    (C_DIFF_NO_GUARD, "adjacent_diff", r"AddressSanitizer.*out-of-bounds.*bounds guard"),
    (diff_backwards, None, r"looks like a\[i\] - a\[i \+ 1\]"),
    (diff_first_block_only, None, "every block works on the same elements"),
    (C_DIFF_NO_SEMICOLON, "adjacent_diff", r"(?s)does not compile.*expected a \";\""),
    (page_vector_add_renamed, None, r"(?i)argument|takes|typing"),
    (PAGE_C, "adjacent_diff", r"(?i)parameters|arguments"),
    (C_DIFF, None, "needs its name"),
])
def test_wrong_adjacent_diffs_fail(kernel, name, message):
    with pytest.raises(AssertionError, match=message):
        ch02.check_adjacent_diff(kernel, name=name)


def test_guard_on_input_fails_hidden_too():
    with pytest.raises(AssertionError, match="out-of-bounds"):
        ch02.check_adjacent_diff(C_DIFF_GUARD_ON_INPUT, name="adjacent_diff", hidden=True)


HIDDEN_SEEDS = 12


@pytest.mark.parametrize("kernel, name, message", [
    (shift_upper_guard_only, None, r"out-of-bounds read of a\[-\d+\].*test both bounds"),
    (shift_no_fill, None, r"never written: write fill there"),
    (C_SHIFT_WRONG_WAY, "shift", r"looks like a\[i \+ k\].*out\[i\] = a\[i - k\]"),
    (C_SHIFT_LOWER_GUARD_ONLY, "shift", r"AddressSanitizer.*out-of-bounds read of a\[\d+\] \(a has \d+ elements\)"),
    (C_SHIFT_FLOAT_K, "shift", r"`float k` receives np.int32"),
])
def test_wrong_shifts_fail(kernel, name, message):
    """With the same message on the visible plan and on several hidden seeds (CI drew k = -113,
    n = 128: the backwards shift's first wrong element was a fill, and its hint said so)."""
    seeds = range(HIDDEN_SEEDS if isinstance(kernel, str) else 2)   # the simulator: ~2 s a run
    for hidden, seed in ((False, None), *((True, s) for s in seeds)):
        with pytest.raises(AssertionError, match=message):
            ch02.check_shift(kernel, name=name, hidden=hidden, seed=seed)


@pytest.mark.parametrize("fn, message", [
    (config_rounds_down, r"launch_config\(1, 1, 2\): got \(0, 1\).*cover only 0, so elements 0..0 get no thread "
                         r"\(the tail is missed"),
    (config_one_extra, r"launch_config\(1, 1, 1\).*fewest blocks"),
    (config_allows_2048, r"launch_config\(1000, 1025, 1\) returned.*at most 1024"),
    (config_ignores_per_thread, r"launch_config\(1, 1, 2\): got \(1, 1\)|each thread handles \d+ elements"),
    (config_allows_no_element, r"launch_config\(1000, 256, 0\) returned.*at least one element"),
    (config_floats, "tuple of two ints"),
    (config_no_default, "per_thread should default to 1"),
])
def test_wrong_launch_configs_fail(fn, message):
    for hidden in (False, True):
        with pytest.raises(AssertionError, match=message if not hidden else None):
            ch02.check_launch_config(fn, hidden=hidden)


def test_hidden_config_cases_cover_the_edges():
    # A config that is wrong only when n is an exact multiple of a block's span is caught by the
    # hidden cases too: they include k * t * p - 1, k * t * p and k * t * p + 1 for a fresh t, p.
    with pytest.raises(AssertionError, match="fewest blocks|each thread handles"):
        ch02.check_launch_config(config_one_extra, hidden=True)


def test_timing_table_without_and_with_figures():
    assert "No GPU figures recorded yet" in ch02.timing_table(None)
    fake = {"environment": {"device": "Test GPU", "date": "2026-01-01"},
            "figures": {"launch_timing": {
                "sizes": [1024], "threads_per_block": 256,
                "numba": [{"returned_us": 5.0, "finished_us": 9.0}],
                "cupy_rawkernel": [{"returned_us": 3.0, "finished_us": 7.5}],
                "copy_in_us": [20.0], "copy_out_us": [11.0]}}}
    text = ch02.timing_table(fake)
    assert "Test GPU, recorded 2026-01-01" in text and "| 1,024 | 5.0 µs | 9.0 µs |" in text


def test_time_launch_separates_return_from_finish():
    now = [0.0]
    pending = [0.0]

    def launch():             # returns after 1 µs, leaves 1 ms of work queued
        now[0] += 1e-6
        pending[0] += 1e-3

    def sync():
        now[0] += pending[0]
        pending[0] = 0.0

    t = ch02.time_launch(launch, sync, repeats=3, warmup=1, clock=lambda: now[0])
    assert t["returned_us"] == pytest.approx(1.0) and t["finished_us"] == pytest.approx(1001.0)


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch02.record()


def test_recorded_results_name_their_gpu():
    data = results.load(SLUG)
    if data is None:
        pytest.skip("no GPU figures recorded yet")
    assert data["environment"]["gpu"] and "launch_timing" in data["figures"]


# ---------------------------------------------------------------- the notebooks
def test_solution_runs_top_to_bottom():
    nb = execute(solution(SLUG))
    out = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "launch_config: 206 sizes covered exactly" in out          # the hidden tests ran too
    assert out.count("shift (shift): passed") == 4 and out.count("adjacent difference (adjacent_diff): passed") == 4
    assert "all right: True" in out


def test_autograde_round_trip(course):
    c = course(SLUG, timeout=60)
    submissions = {
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        # independent points lost in one notebook: Numba guard (3) and a rounded-down config (2)
        "submitted-numba-no-guard-rounds-down": solved(SLUG, **scenario(SLUG, "numba_no_guard_rounds_down")),
        # CUDA C kernel that repeats the first block's elements (3), 2048 threads accepted (2)
        "submitted-c-first-block-only-2048": solved(SLUG, **scenario(SLUG, "c_first_block_only_2048")),
        # the page's vector add and blocks_for pasted as every answer, renamed: none solves its case
        "submitted-page-code-renamed": solved(SLUG, **scenario(SLUG, "page_code_renamed")),
    }
    scores = c.grade(submissions)
    assert scores == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-numba-no-guard-rounds-down": 5,
        "submitted-c-first-block-only-2048": 5,
        "submitted-page-code-renamed": 0,
    }, "\n".join(f"{s}: {c.output(s)[-2500:]}" for s in scores)     # a check's time is load-sensitive

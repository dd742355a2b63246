"""Chapter 2: the checks pass right kernels, fail wrong ones for the right reason, and nbgrader
grades submissions right."""
import pytest
from numba import cuda

from autograder import ch02_first_kernels as ch02, results
from conftest import execute, release, scenario, solution, solved
from scenarios.kernels.numba_kernels import vector_add, vector_add_first_block_only, vector_add_no_guard

SLUG = "ch02_first_kernels"


# ---------------------------------------------------------------- right and wrong answers
@cuda.jit
def scale_add(alpha, a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = alpha * a[i] + b[i]


@cuda.jit
def scale_add_ignores_alpha(alpha, a, b, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = a[i] + b[i]


def define(src, name):
    """What an answer cell defines as `name` (a CUDA C kernel's source text, say)."""
    ns = {"cuda": cuda}
    exec(src, ns)
    return ns[name]


C_ADD = ch02.VECTOR_ADD_C
C_ADD_NO_GUARD = define(scenario(SLUG, "c_no_guard")["c_add_answer"], "VECTOR_ADD_SRC")
C_ADD_NO_SEMICOLON = define(scenario(SLUG, "c_no_semicolon")["c_add_answer"], "VECTOR_ADD_SRC")
C_SCALE = """
extern "C" __global__ void scale_add(float alpha, const float* a, const float* b, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = alpha * a[i] + b[i];
}
"""
C_SCALE_SWAPPED = define(scenario(SLUG, "c_scale_swapped")["scale_answer"], "SCALE_ADD_SRC")


def config_rounds_down(n, threads_per_block=256):
    return n // threads_per_block, threads_per_block


def config_one_extra(n, threads_per_block=256):
    if not 1 <= threads_per_block <= 1024:
        raise ValueError("bad block")
    return n // threads_per_block + 1, threads_per_block


def config_allows_2048(n, threads_per_block=256):
    return (n + threads_per_block - 1) // threads_per_block, threads_per_block


def config_floats(n, threads_per_block=256):
    ch02.launch_config(n, threads_per_block)
    return float(-(-n // threads_per_block)), threads_per_block


@pytest.mark.parametrize("hidden", [False, True])
def test_reference_answers_pass(hidden):
    ch02.check_vector_add(vector_add, hidden=hidden)
    ch02.check_vector_add(C_ADD, name="vector_add", hidden=hidden)
    ch02.check_scale_add(scale_add, hidden=hidden)
    ch02.check_scale_add(C_SCALE, name="scale_add", hidden=hidden)
    ch02.check_launch_config(ch02.launch_config, hidden=hidden)


@pytest.mark.parametrize("kernel, name, message", [
    (vector_add_no_guard, None, r"out-of-bounds read of a\[1\].*bounds guard"),
    (C_ADD_NO_GUARD, "vector_add", r"AddressSanitizer.*out-of-bounds.*bounds guard"),
    (vector_add_first_block_only, None, "every block works on the same elements"),
    (C_ADD_NO_SEMICOLON, "vector_add", r"(?s)does not compile.*expected a \";\""),
    (C_ADD, None, "needs its name"),
])
def test_wrong_vector_adds_fail(kernel, name, message):
    with pytest.raises(AssertionError, match=message):
        ch02.check_vector_add(kernel, name=name)


def test_no_guard_fails_hidden_too():
    with pytest.raises(AssertionError, match="out-of-bounds"):
        ch02.check_vector_add(C_ADD_NO_GUARD, name="vector_add", hidden=True)


@pytest.mark.parametrize("kernel, name, message", [
    (scale_add_ignores_alpha, None, "is alpha used"),
    (C_SCALE_SWAPPED, "scale_add", "alpha scales a, not b"),
])
def test_wrong_scale_adds_fail(kernel, name, message):
    with pytest.raises(AssertionError, match=message):
        ch02.check_scale_add(kernel, name=name)


@pytest.mark.parametrize("fn, message", [
    (config_rounds_down, r"launch_config\(1, 32\): expected \(1, 32\), got \(0, 32\).*element 0 gets "
                        r"no thread \(the tail is missed"),
    (config_one_extra, r"launch_config\(1, 1\).*fewest blocks"),
    (config_allows_2048, r"launch_config\(1000, 1025\) returned.*at most 1024"),
    (config_floats, "tuple of two ints"),
])
def test_wrong_launch_configs_fail(fn, message):
    for hidden in (False, True):
        with pytest.raises(AssertionError, match=message if not hidden else None):
            ch02.check_launch_config(fn, hidden=hidden)


def test_hidden_config_cases_cover_the_edges():
    # A config that is wrong only when n is an exact multiple of the block is caught by the
    # hidden cases too: they include k * t - 1, k * t and k * t + 1 for a fresh t.
    with pytest.raises(AssertionError, match="fewest blocks"):
        ch02.check_launch_config(config_one_extra, hidden=True)


def test_launch_config_reference():
    assert ch02.launch_config(500_000, 1024) == (489, 1024)    # 488 * 1024 = 499,712 < 500,000
    assert ch02.launch_config(256, 256) == (1, 256)
    assert ch02.launch_config(257, 256) == (2, 256)
    with pytest.raises(ValueError):
        ch02.launch_config(10, 2048)


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
    assert out.count("scale and add (scale_add): passed") == 4
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
    }
    scores = c.grade(submissions)
    assert scores == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-numba-no-guard-rounds-down": 5,
        "submitted-c-first-block-only-2048": 5,
    }, "\n".join(f"{s}: {c.output(s)[-2500:]}" for s in scores)     # a check's time is load-sensitive

"""Chapter 3: the checks fail the known-wrong answers for the right reason, and nbgrader grades right."""
import pytest
from numba import cuda

from autograder import ch03_thread_hierarchy as ch03
from autograder import kernels
from conftest import execute, release, scenario, solution, solved

SLUG = "ch03_thread_hierarchy"


# ---------------------------------------------------------------- known-wrong kernels
@cuda.jit
def stride_ok(x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        x[i] = 2 * x[i] + 1


@cuda.jit
def no_stride(x):             # one grid's worth only
    i = cuda.grid(1)
    if i < x.size:
        x[i] = 2 * x[i] + 1


@cuda.jit
def block_stride(x):          # steps by blockDim: every block walks the same elements
    i = cuda.grid(1)
    while i < x.size:
        x[i] = 2 * x[i] + 1
        i += cuda.blockDim.x


@cuda.jit
def no_guard(x):
    i = cuda.grid(1)
    x[i] = 2 * x[i] + 1


STRIDE_C = r"""
extern "C" __global__ void scale_shift_stride(float* x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        x[i] = 2.0f * x[i] + 1.0f;
    }
}"""


def define(src, name):
    """What an answer cell defines as `name` (a CUDA C kernel's source text, say)."""
    ns = {}
    exec(src, ns)
    return ns[name]


NO_STRIDE_C = define(scenario(SLUG, "c_no_stride")["stride_c_answer"], "STRIDE_SRC")
BLOCK_STRIDE_C = define(scenario(SLUG, "c_block_stride")["stride_c_answer"], "STRIDE_SRC")
NO_GUARD_C = define(scenario(SLUG, "c_no_guard")["stride_c_answer"], "STRIDE_SRC")


# ---------------------------------------------------------------- the arithmetic and its checks
def test_indices_by_hand():
    assert ch03.global_index(488, 1024, 287) == 500_000 - 1      # 488 * 1024 + 287
    assert ch03.owner(499_999, 1024) == (488, 287)
    assert ch03.launch_config(500_000, 256) == (1954, 256)      # ceil(500000 / 256)
    assert ch03.launch_config(500_000, 1024) == (489, 1024)     # 489 * 1024 = 500,736 >= 500,000


@pytest.mark.parametrize("hidden", [False, True])
def test_reference_answers_pass(hidden):
    ch03.check_indexing(ch03.global_index, ch03.owner, hidden=hidden)
    ch03.check_launch_config(ch03.launch_config, hidden=hidden)


@pytest.mark.parametrize("glob, own, message", [
    (lambda b, d, t: b * d + t + 1, ch03.owner, r"global_index\(block_idx=0, block_dim=256, thread_idx=0\): expected 0, got 1"),
    (lambda b, d, t: t * d + b, ch03.owner, "expected"),                            # swapped roles
    (ch03.global_index, lambda i, d: (i % d, i // d), r"owner\(i=255, threads_per_block=256\)"),
    (ch03.global_index, lambda i, d: i // d, "should return a pair"),
    (lambda b, d, t: float(b * d + t), ch03.owner, "should return an int"),
])
def test_wrong_indexing_fails(glob, own, message):
    for hidden in (False, True):
        with pytest.raises(AssertionError, match=message if not hidden else "expected|pair|int"):
            ch03.check_indexing(glob, own, hidden=hidden)


@pytest.mark.parametrize("config, message", [
    (lambda n: ((n + 2047) // 2048, 2048), "at most 1024 threads.*2048 threads per block"),
    (lambda n: (1, n), "at most 1024 threads.*500000 threads per block"),          # one block of all
    (lambda n: (n // 256, 256), "would never be written"),                         # floor, not ceiling
    (lambda n: (n // 256 + 1, 256), "all idle threads"),                            # one block too many
    (lambda n: 256, r"should return \(blocks, threads\)"),
])
def test_wrong_launch_configs_fail(config, message):
    for hidden in (False, True):
        with pytest.raises(AssertionError, match=message):
            ch03.check_launch_config(config, hidden=hidden)


def test_launch_config_notes_a_partial_warp(capsys):
    ch03.check_launch_config(lambda n: ((n + 999) // 1000, 1000))
    assert "not a multiple of the warp size 32" in capsys.readouterr().out


# ---------------------------------------------------------------- the kernels
@pytest.mark.parametrize("kernel, name, message", [
    (no_stride, None, r"first wrong element x\[32\].*still holds its input.*exactly one grid's worth"),
    (block_stride, None, r"race on x\[32\]"),            # the simulator sees block 1 read block 0's write
    (NO_STRIDE_C, "scale_shift_stride", r"first wrong element x\[32\].*exactly one grid's worth"),
    (BLOCK_STRIDE_C, "scale_shift_stride", r"x\[32\] was updated twice"),
])
def test_wrong_grid_stride_loops_fail(kernel, name, message):
    with pytest.raises(kernels.KernelError, match=message):
        ch03.check_grid_stride(kernel, name=name)


def test_missing_guard_fails_with_the_index():
    with pytest.raises(kernels.OutOfBoundsError, match=r"out-of-bounds read of x\[1\].*add a bounds guard"):
        ch03.check_guarded(no_guard)
    with pytest.raises(kernels.OutOfBoundsError, match="out-of-bounds.*bounds guard"):
        ch03.check_guarded(NO_GUARD_C, name="scale_shift_stride", hidden=True)


def test_right_c_kernel_passes_and_needs_its_name():
    ch03.check_grid_stride(STRIDE_C, name="scale_shift_stride", hidden=True)
    with pytest.raises(AssertionError, match="needs its name"):
        ch03.check_grid_stride(STRIDE_C)


# ---------------------------------------------------------------- the picture
def test_element_map_by_hand():
    m = ch03.element_map(20, 3, 8)                     # 24 threads, 20 elements: 4 idle
    assert m.shape == (1, 24) and list(m[0, 20:]) == [-1] * 4 and m[0, 19] == 19
    m = ch03.element_map(50, 2, 8)                     # 16 threads, no loop: 34 elements unhandled
    assert (m == -2).sum() == 34 and (m >= 0).sum() == 16
    m = ch03.element_map(40, 2, 8, stride=True)        # 3 turns, the last one half idle
    assert m.shape == (3, 16) and (m >= 0).sum() == 40 and (m == -1).sum() == 8
    assert m[2, 7] == 7                                # element 39 = 2 * 16 + 7: thread 7


def test_thread_map_draws_and_labels():
    fig = ch03.thread_map(40, 2, 8, stride=True)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "idle thread: i >= n (8)" in labels and "up to 3 elements per thread" in fig.axes[0].get_title()
    fig = ch03.thread_map(50, 2, 8)
    assert "element never written (34)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch03.record()


# ---------------------------------------------------------------- the notebooks
def test_solution_runs_top_to_bottom():
    nb = execute(solution(SLUG))
    out = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "indexing: 30 cases right" in out                       # the hidden tests ran too
    assert out.count("grid-stride loop (scale_shift_stride): passed") == 4
    assert "500,000 elements: (1954, 256)" in out


def test_autograde_round_trip(course):
    c = course(SLUG, timeout=60)
    wrong = solved(SLUG, **scenario(SLUG, "only_indices_right"))
    c.submit("submitted-solution", solved(SLUG))
    c.submit("submitted-unchanged", release(SLUG))
    c.submit("submitted-2048-no-guard-no-stride-block-stride", wrong)
    c.autograde()
    assert c.scores() == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-2048-no-guard-no-stride-block-stride": 2,   # only the indices are right
    }

"""Chapter 3: the checks fail the known-wrong answers for the right reason, and nbgrader grades right."""
import numpy as np
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


# ---------------------------------------------------------------- the exercise's answers, right and wrong
# As a class writes them; the answers live in solutions/ only.
def flat_index(block, warp, lane, block_dim):
    return block * block_dim + 32 * warp + lane


def locate(i, block_dim):
    block, thread = divmod(i, block_dim)
    return (block, *divmod(thread, 32))


def grid_for(n, sm_count):
    return min(-(-n // 512), 4 * sm_count), 512


@cuda.jit
def reverse(x):
    i = cuda.grid(1)
    if i < x.size // 2:
        j = x.size - 1 - i
        x[i], x[j] = x[j], x[i]


@cuda.jit
def reverse_guard_n(x):       # the page's guard: threads past the half swap pairs back
    i = cuda.grid(1)
    if i < x.size:
        j = x.size - 1 - i
        x[i], x[j] = x[j], x[i]


@cuda.jit
def reverse_no_guard(x):
    i = cuda.grid(1)
    j = x.size - 1 - i
    x[i], x[j] = x[j], x[i]


@cuda.jit
def reverse_stride(x):
    n = x.size
    for i in range(cuda.grid(1), n // 2, cuda.gridsize(1)):
        x[i], x[n - 1 - i] = x[n - 1 - i], x[i]


@cuda.jit
def reverse_stride_bound_n(x):
    n = x.size
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        x[i], x[n - 1 - i] = x[n - 1 - i], x[i]


@cuda.jit
def reverse_no_stride(x):     # one grid's worth of pairs only
    i = cuda.grid(1)
    if i < x.size // 2:
        x[i], x[x.size - 1 - i] = x[x.size - 1 - i], x[i]


REVERSE_C = r"""
extern "C" __global__ void reverse_stride(float* x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n / 2; i += blockDim.x * gridDim.x) {
        float t = x[i]; x[i] = x[n - 1 - i]; x[n - 1 - i] = t;
    }
}"""


def define(src, name):
    """What an answer cell defines as `name` (a CUDA C kernel's source text, say)."""
    ns = {}
    exec(src, ns)
    return ns[name]


NO_STRIDE_C = define(scenario(SLUG, "c_no_stride")["reverse_c_answer"], "STRIDE_SRC")
BLOCK_STRIDE_C = define(scenario(SLUG, "c_block_stride")["reverse_c_answer"], "STRIDE_SRC")
NO_GUARD_C = define(scenario(SLUG, "c_no_guard")["reverse_c_answer"], "STRIDE_SRC")
PAGE_C = define(scenario(SLUG, "page_code_renamed")["reverse_c_answer"], "STRIDE_SRC")


@pytest.mark.parametrize("hidden", [False, True])
def test_right_answers_pass(hidden):
    ch03.check_indexing(flat_index, locate, hidden=hidden)
    ch03.check_grid_for(grid_for, hidden=hidden)


def test_the_package_holds_no_answer():
    assert not any(hasattr(ch03, f) for f in ("global_index", "owner", "flat_index", "locate", "grid_for"))


@pytest.mark.parametrize("flat, loc, message", [
    (lambda b, w, l, d: b * d + 32 * w + l + 1, locate, r"flat_index\(block=0, warp=0, lane=0, block_dim=256\): "
                                                         r"expected 0, got 1"),
    (lambda b, w, l, d: b * d + w + 32 * l, locate, "expected"),                    # warp and lane swapped
    (flat_index, lambda i, d: (i // d, (i % d) // 32, i % 32), r"locate\(i=199, block_dim=100\).*warps are cut "
                                                                r"inside each block"),
    (flat_index, lambda i, d: (i // d, i % d), "should return a triple"),
    (lambda b, w, l, d: float(b * d + 32 * w + l), locate, "should return an int"),
    (lambda b, d, t: b * d + t, lambda i, d: (i // d, i % d), "TypeError|positional"),   # the old exercise's answers
])
def test_wrong_indexing_fails(flat, loc, message):
    for hidden in (False, *[True] * 1000):   # every hidden draw: cheap checks, many draws
        with pytest.raises((AssertionError, TypeError), match=message if not hidden else "expected|triple|int|arg"):
            ch03.check_indexing(flat, loc, hidden=hidden)


@pytest.mark.parametrize("config, message", [
    (lambda n, s: (min((n + 2047) // 2048, 4 * s), 2048), "at most 1024 threads.*2048 threads per block"),
    (lambda n, s: (min(-(-n // 100), 4 * s), 100), "not a multiple of the warp size"),
    (lambda n, s: (-(-n // 256), 256), "more than 4 blocks per multiprocessor"),       # the page's launch_config
    (lambda n, s: (min(n // 256, 4 * s), 256), "blocks expected|at least 1"),         # floor, not ceiling
    (lambda n, s: (4 * s, 256), "already cover"),                                       # the cap always
    (lambda n, s: (s, 256), "leave multiprocessors idle|already cover"),                              # one block per SM
    (lambda n, s: 256, r"should return \(blocks, threads\)"),
])
def test_wrong_grids_fail(config, message):
    for hidden in (False, *[True] * 1000):   # every hidden draw: cheap checks, many draws
        with pytest.raises(AssertionError, match=message):
            ch03.check_grid_for(config, hidden=hidden)


def test_page_launch_config_is_not_the_answer():
    with pytest.raises(AssertionError, match="more than 4 blocks per multiprocessor"):
        ch03.check_grid_for(lambda n, s: ch03.launch_config(n, 256))


# ---------------------------------------------------------------- the kernels
@pytest.mark.parametrize("kernel, name, message", [
    (reverse_guard_n, None, r"(?s)(race|double write|two threads).*only the threads i < n // 2 may swap"),
    (reverse_no_guard, None, r"out-of-bounds|race on x"),
    (stride_ok, None, r"x\[\d+\] = 2 \* x\[\d+\] \+ 1, as everywhere: that is the chapter's scale_shift"),
])
def test_wrong_reverses_fail(kernel, name, message):
    for hidden in (False, True):
        with pytest.raises(kernels.KernelError, match=message):
            ch03.check_reverse(kernel, name=name, hidden=hidden)


@pytest.mark.parametrize("kernel, name, message", [
    (reverse_no_stride, None, r"first wrong element x\[32\].*exactly one grid's worth"),
    (reverse_stride_bound_n, None, r"(?s)(race|double write|two threads).*loop's bound, is n // 2"),
    (NO_STRIDE_C, "reverse_stride", r"first wrong element x\[32\].*exactly one grid's worth"),
    (BLOCK_STRIDE_C, "reverse_stride", r"(?s)(race|two threads|still holds its input)"),
    (NO_GUARD_C, "reverse_stride", r"out-of-bounds"),
    (PAGE_C, "reverse_stride", r"that is the chapter's scale_shift"),
    (REVERSE_C, None, "needs its name"),
])
def test_wrong_grid_stride_reverses_fail(kernel, name, message):
    with pytest.raises((kernels.KernelError, AssertionError), match=message):
        ch03.check_reverse_stride(kernel, name=name)


@pytest.mark.parametrize("hidden", [False, True])
def test_right_kernels_pass(hidden):
    ch03.check_reverse(reverse, hidden=hidden)
    ch03.check_reverse_stride(reverse_stride, hidden=hidden)
    ch03.check_reverse_stride(REVERSE_C, name="reverse_stride", hidden=hidden)


# ---------------------------------------------------------------- the page's kernel and its checks
def test_page_launch_config_by_hand():
    assert ch03.launch_config(500_000, 256) == (1954, 256)      # ceil(500000 / 256)
    assert ch03.launch_config(500_000, 1024) == (489, 1024)     # 489 * 1024 = 500,736 >= 500,000


@pytest.mark.parametrize("kernel, name, message", [
    (no_stride, None, r"first wrong element x\[32\].*still holds its input.*exactly one grid's worth"),
    (block_stride, None, r"race on x\[32\]"),            # the simulator sees block 1 read block 0's write
])
def test_wrong_grid_stride_loops_fail(kernel, name, message):
    with pytest.raises(kernels.KernelError, match=message):
        ch03.check_grid_stride(kernel, name=name)


def test_missing_guard_fails_with_the_index():
    with pytest.raises(kernels.OutOfBoundsError, match=r"out-of-bounds read of x\[1\].*add a bounds guard"):
        ch03.check_guarded(no_guard)


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
    assert out.count("grid-stride reverse (reverse_stride): passed") == 4
    assert "500,000 elements on 40 multiprocessors: (160, 256)" in out


def test_autograde_round_trip(course):
    c = course(SLUG, timeout=60)
    wrong = solved(SLUG, **scenario(SLUG, "only_indices_right"))
    c.submit("submitted-solution", solved(SLUG))
    c.submit("submitted-unchanged", release(SLUG))
    c.submit("submitted-2048-no-guard-no-stride-block-stride", wrong)
    # the page's kernels and launch_config pasted as the answers, renamed: none solves its case
    c.submit("submitted-page-code-renamed", solved(SLUG, **scenario(SLUG, "page_code_renamed")))
    c.autograde()
    assert c.scores() == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-2048-no-guard-no-stride-block-stride": 2,   # only the indices are right
        "submitted-page-code-renamed": 0,
    }


@pytest.mark.parametrize("pairs", [False, True])
def test_one_grids_worth_is_told_when_an_extreme_sits_where_the_work_stops(pairs):
    """On a hidden draw inf may land on x[total], its own result (2 * inf + 1): the first wrong
    element is then x[total + 1], and the hint still says that exactly one grid's worth was done."""
    n, total = 100, 32
    x = np.linspace(1, 2, n).astype(np.float32)
    x[total] = np.inf
    want = x[::-1].copy() if pairs else 2 * x + 1
    done = np.arange(n) < total
    if pairs:
        done |= done[::-1]
    got = np.where(done, want, x)
    case = ch03._Case(kernels.Launch(1, total, [x.copy()]), {0: want}, names=["x"], original=x)
    hint = (ch03._reverse_hint if pairs else ch03._stride_hint)(case, (total + 1,), got)
    assert "exactly one grid's worth" in hint, hint
    got[total + 5] = want[total + 5]                        # more than one grid's worth: not said
    assert "exactly one grid's worth" not in (ch03._reverse_hint if pairs else ch03._stride_hint)(case, (total + 1,), got)

"""Chapter 4: the checks fail the known-wrong answers for the right reason, and nbgrader grades right."""
import pytest
from numba import cuda

from autograder import ch04_2d_grids as ch04
from autograder import kernels
from conftest import release, scenario, solved

SLUG = "ch04_2d_grids"


# ---------------------------------------------------------------- known-wrong answers
@cuda.jit
def matrix_add_swapped(A, B, out):
    row, col = cuda.grid(2)                  # x used as the row
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = A[row, col] + B[row, col]


def define(src, name):
    """What an answer cell defines as `name` (a CUDA C kernel's source text, say)."""
    ns = {}
    exec(src, ns)
    return ns[name]


NO_GUARD_C = define(scenario(SLUG, "c_no_guard")["c_answer"], "MATRIX_ADD_SRC")
COL_GUARD_ONLY_C = define(scenario(SLUG, "c_col_guard_only")["c_answer"], "MATRIX_ADD_SRC")
SWAPPED_C = define(scenario(SLUG, "c_swapped")["c_answer"], "MATRIX_ADD_SRC")
SIGMOID_C = r"""
__device__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }
extern "C" __global__ void sigmoid_2d(const float* x, float* out, int rows, int cols) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    if (row < rows && col < cols) out[row * cols + col] = sigmoid(x[row * cols + col]);
}"""
SIGMOID_SIGN_C = define(scenario(SLUG, "sigmoid_sign")["sigmoid_answer"], "SIGMOID_SRC")
SIGMOID_INLINE_C = define(scenario(SLUG, "sigmoid_inline")["sigmoid_answer"], "SIGMOID_SRC")


def launch_2048(rows, cols):
    return ((cols + 63) // 64, (rows + 31) // 32), (64, 32)


def launch_floor(rows, cols):
    return (cols // 32, rows // 8), (32, 8)


# ---------------------------------------------------------------- the arithmetic
def test_arithmetic_by_hand():
    assert ch04.launch_2d(1000, 3000) == ((94, 125), (32, 8))   # ceil(3000 / 32), ceil(1000 / 8)
    assert ch04.warp_cells((32, 8), "cols")[:2] == [(0, 0), (0, 1)]      # one row, along it
    assert ch04.warp_cells((32, 8), "rows")[:2] == [(0, 0), (1, 0)]      # one column, down it
    assert ch04.warp_cells((16, 16), "cols")[16] == (1, 0)               # a warp spans two rows
    # 32 floats * 4 bytes = 128 contiguous bytes = 4 sectors of 32; swapped: one sector per row
    assert ch04.warp_sectors((32, 8), 40, "cols") == 4
    assert ch04.warp_sectors((32, 8), 40, "rows") == 32
    assert ch04.warp_sectors((16, 16), 40, "cols") == 4                  # 2 runs of 64 bytes


def test_warp_picture_counts_sectors():
    fig = ch04.warp_picture()
    titles = [ax.get_title() for ax in fig.axes]
    assert "4 sectors" in titles[0] and "32 sectors" in titles[1] and "1024 bytes moved" in titles[1]


@pytest.mark.parametrize("hidden", [False, True])
def test_reference_launch_passes(hidden, capsys):
    ch04.check_launch_2d(ch04.launch_2d, hidden=hidden)
    ch04.check_launch_2d(lambda r, c: ch04.launch_2d(r, c, (16, 16)), hidden=hidden)
    assert "not a multiple of 32" in capsys.readouterr().out


@pytest.mark.parametrize("fn, error, message", [
    (launch_2048, kernels.LaunchConfigError, r"at most 1024 threads.*2048 threads per block"),
    (launch_floor, AssertionError, r"columns \d+\.\.\d+ would never be written"),
    (lambda r, c: (((r + 31) // 32, (c + 7) // 8), (32, 8)), AssertionError, "sized the other way round"),
    (lambda r, c: ((c // 32 + 1, r // 8 + 1), (32, 8)), AssertionError, "only idle threads"),
    (lambda r, c: ((c + 31) // 32, (r + 7) // 8, 32), AssertionError, r"should return \(grid, block\)"),
    (lambda r, c: ((c + 31) // 32, 32), AssertionError, r"1 threads along y for \d+ rows"),   # a 1-D launch
    (lambda r, c: (((c + 31) // 32, (r + 7) // 8), (32, 8, 2)), AssertionError, "no z extent"),
])
def test_wrong_launches_fail(fn, error, message):
    for hidden in (False, True):
        with pytest.raises(error, match=message):
            ch04.check_launch_2d(fn, hidden=hidden)


# ---------------------------------------------------------------- the kernels
SWAP_HINT = r"first wrong element out\[.*exactly those a kernel with rows and columns swapped writes"


def test_swapped_numba_kernel_fails_on_non_square_only():
    kernels.check_matrix_add(matrix_add_swapped, (16, 8), shapes=((3, 3), (12, 12)), verbose=False)
    with pytest.raises(kernels.WrongResult, match=SWAP_HINT):
        ch04.check_matrix_add(matrix_add_swapped)
    with pytest.raises(kernels.WrongResult, match=SWAP_HINT):
        ch04.check_matrix_add(matrix_add_swapped, hidden=True)


@pytest.mark.parametrize("src, error, message", [
    (SWAPPED_C, kernels.WrongResult, SWAP_HINT),
    (NO_GUARD_C, kernels.OutOfBoundsError, r"out-of-bounds .*(A|B|out)\["),
    (COL_GUARD_ONLY_C, kernels.OutOfBoundsError, r"out-of-bounds .*(A|B|out)\["),
])
def test_wrong_c_matrix_add_fails(src, error, message):
    with pytest.raises(error, match=message):
        ch04.check_matrix_add(src, name="matrix_add", hidden=True)


def test_sigmoid_checks():
    ch04.check_sigmoid(SIGMOID_C, name="sigmoid_2d", hidden=True)
    with pytest.raises(kernels.WrongResult, match="the sign of the exponent"):
        ch04.check_sigmoid(SIGMOID_SIGN_C, name="sigmoid_2d")
    with pytest.raises(AssertionError, match="no `__device__` function named sigmoid"):
        ch04.check_sigmoid(SIGMOID_INLINE_C, name="sigmoid_2d")
    with pytest.raises(AssertionError, match="needs its name"):
        ch04.check_sigmoid(SIGMOID_C)


def test_gpu_figures_need_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch04.record()
    assert "No GPU figures recorded yet" in ch04.timing_table(None)
    fake = {"environment": {"device": "Some GPU", "date": "2026-01-01"},
            "figures": {"coalescing": {"block": [32, 8], "shapes": [[1024, 1024]],
                                       "x_along_cols": [{"us": 10.0, "gb_s": 1258.3}],
                                       "x_along_rows": [{"us": 40.0, "gb_s": 314.6}]}}}
    table = ch04.timing_table(fake)
    assert "Some GPU, recorded 2026-01-01" in table and "| 4.0x |" in table   # 40 / 10


# ---------------------------------------------------------------- the notebooks
# One nbgrader run serves both: the solution's autograded copy shows it ran top to bottom.
def test_autograde_round_trip(course):
    c = course(SLUG, timeout=60)
    c.submit("submitted-solution", solved(SLUG))
    c.submit("submitted-unchanged", release(SLUG))
    c.submit("submitted-swapped-noguard-floor", solved(SLUG, **scenario(SLUG, "swapped_noguard_floor")))
    c.submit("submitted-2048-cswapped-sign", solved(SLUG, **scenario(SLUG, "threads_2048_c_swapped_sigmoid_sign")))
    c.autograde()
    assert c.scores() == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-swapped-noguard-floor": 2,      # only the sigmoid is right
        "submitted-2048-cswapped-sign": 3,         # only the Numba kernel is right
    }
    nb = c.graded("submitted-solution")
    assert not [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    out = "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []))
    assert out.count("matrix add (matrix_add): passed") == 4           # visible and hidden, both languages
    assert out.count("2-D sigmoid (sigmoid_2d): passed") == 2
    assert "1000 x 3000: ((94, 125), (32, 8))" in out

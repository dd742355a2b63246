"""Chapter 4: the checks fail the known-wrong answers for the right reason, and nbgrader grades right."""
import pytest
from numba import cuda

from autograder import ch04_2d_grids as ch04
from autograder import kernels
from conftest import answer_text, defined, release, scenario, solved

SLUG = "ch04_2d_grids"


# ---------------------------------------------------------------- known-wrong answers
@cuda.jit
def matrix_add_swapped(A, B, out):
    row, col = cuda.grid(2)                  # x used as the row
    if row < out.shape[0] and col < out.shape[1]:
        out[row, col] = A[row, col] + B[row, col]


@cuda.jit
def transpose_guarded_by_out(A, out):
    col, row = cuda.grid(2)
    if row < out.shape[0] and col < out.shape[1]:    # out is cols x rows: the guard is A's
        out[col, row] = A[row, col]


def define(src, name):
    """What an answer cell defines as `name` (a CUDA C kernel's source text, say)."""
    ns = {}
    exec(src, ns)
    return ns[name]


def answer(grade_id, name):
    return defined(answer_text(SLUG, grade_id), name)


NO_GUARD_C = define(scenario(SLUG, "c_no_guard")["c_answer"], "BIAS_ADD_SRC")
BATCH_UNGUARDED_C = define(scenario(SLUG, "c_batch_unguarded")["c_answer"], "BIAS_ADD_SRC")
BIAS_BY_ROW_C = define(scenario(SLUG, "c_bias_by_row")["c_answer"], "BIAS_ADD_SRC")
SOFTPLUS_OVERFLOW_C = define(scenario(SLUG, "softplus_overflow")["softplus_answer"], "SOFTPLUS_SRC")
SOFTPLUS_INLINE_C = define(scenario(SLUG, "softplus_inline")["softplus_answer"], "SOFTPLUS_SRC")
PAGE = scenario(SLUG, "pastes_the_page")


def launch_2048(batch, rows, cols):
    return ((cols + 31) // 32, (rows + 7) // 8, (batch + 7) // 8), (32, 8, 8)


def launch_flat_batch(batch, rows, cols):
    return ((cols + 31) // 32, (rows + 7) // 8, batch), (32, 8, 1)     # one matrix per z block


def launch_floor(batch, rows, cols):
    return (cols // 32, rows // 4, batch // 8), (32, 4, 8)


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


def test_the_package_holds_no_answer():
    assert not {"transpose", "launch_batched", "BIAS_ADD_SRC", "SOFTPLUS_SRC", "softplus"} & set(dir(ch04))


@pytest.mark.parametrize("hidden", [False, True])
def test_solution_launch_passes(hidden, capsys):
    ch04.check_launch_batched(answer("launch_answer", "launch_batched"), hidden=hidden)
    ch04.check_launch_batched(lambda b, r, c: (((c + 15) // 16, (r + 15) // 16, (b + 3) // 4), (16, 16, 4)),
                              hidden=hidden)
    assert "not a multiple of 32" in capsys.readouterr().out


@pytest.mark.parametrize("fn, error, message", [
    (launch_2048, kernels.LaunchConfigError, r"at most 1024 threads.*2048 threads per block"),
    (launch_flat_batch, kernels.LaunchConfigError, r"grid dimension z = \d+ exceeds the limit 65535"),
    (launch_floor, AssertionError, r"at least 1 in every dimension|threads along . for \d+"),
    (lambda b, r, c: (((r + 31) // 32, (c + 3) // 4, (b + 7) // 8), (32, 4, 8)), AssertionError,
     "sized the other way round"),
    (lambda b, r, c: ((c // 32 + 1, r // 4 + 1, b // 8 + 1), (32, 4, 8)), AssertionError, "only idle threads"),
    (lambda b, r, c: (((c + 31) // 32, (r + 7) // 8), (32, 8)), AssertionError, "needs the z extent"),
    (defined(PAGE["launch_answer"], "launch_batched"), AssertionError, "needs the z extent"),   # the page's
])
def test_wrong_launches_fail(fn, error, message):
    for hidden in (False, *[True] * 1000):   # every hidden draw: cheap checks, many draws
        with pytest.raises(error, match=message):
            ch04.check_launch_batched(fn, hidden=hidden)


# ---------------------------------------------------------------- the kernels
SWAP_HINT = r"first wrong element out\[.*exactly those a kernel with rows and columns swapped writes"


def test_the_pages_swapped_kernel_fails_on_non_square_only():
    kernels.check_matrix_add(matrix_add_swapped, (16, 8), shapes=((3, 3), (12, 12)), verbose=False)
    with pytest.raises(kernels.WrongResult, match=SWAP_HINT):
        ch04.check_matrix_add(matrix_add_swapped)


@pytest.mark.parametrize("hidden", [False, True])
def test_solution_kernels_pass(hidden):
    ch04.check_transpose(answer("transpose_answer", "transpose"), hidden=hidden, verbose=False)
    ch04.check_bias_add(answer("c_answer", "BIAS_ADD_SRC"), name="bias_add", hidden=hidden, verbose=False)
    ch04.check_softplus(answer("softplus_answer", "SOFTPLUS_SRC"), name="softplus_2d", hidden=hidden,
                        verbose=False)


@pytest.mark.parametrize("kernel, error, message", [
    ("swapped_noguard_floor", kernels.WrongResult, r"first wrong element out\["),
    ("pastes_the_page", kernels.KernelError, None),                 # a copy: out[row, col] = A[row, col]
    (transpose_guarded_by_out, kernels.KernelError, None),
])
def test_wrong_transposes_fail(kernel, error, message):
    if isinstance(kernel, str):
        kernel = defined(scenario(SLUG, kernel)["transpose_answer"], "transpose")
    for hidden in (False, True):
        with pytest.raises(error, match=message):
            ch04.check_transpose(kernel, hidden=hidden, verbose=False)


@pytest.mark.parametrize("src, error, message", [
    (NO_GUARD_C, kernels.OutOfBoundsError, r"out-of-bounds .*(x|out)\["),
    (BATCH_UNGUARDED_C, kernels.OutOfBoundsError, r"out-of-bounds .*(x|out)\["),
    (BIAS_BY_ROW_C, kernels.WrongResult, r"x \+ bias\[row\].*bias\[col\]"),
    (define(PAGE["c_answer"], "BIAS_ADD_SRC"), kernels.KernelError, None),    # the page's matrix add
])
def test_wrong_c_bias_adds_fail(src, error, message):
    for hidden in (False, True):
        with pytest.raises(error, match=message):
            ch04.check_bias_add(src, name="bias_add", hidden=hidden, verbose=False)


def test_softplus_checks():
    with pytest.raises(kernels.WrongResult, match="overflows a float"):
        ch04.check_softplus(SOFTPLUS_OVERFLOW_C, name="softplus_2d")
    with pytest.raises(kernels.WrongResult):                                  # the page's sigmoid
        ch04.check_softplus(define(PAGE["softplus_answer"], "SOFTPLUS_SRC"), name="softplus_2d")
    with pytest.raises(AssertionError, match="no `__device__` function named softplus"):
        ch04.check_softplus(SOFTPLUS_INLINE_C, name="softplus_2d")
    with pytest.raises(AssertionError, match="needs its name"):
        ch04.check_softplus(SOFTPLUS_OVERFLOW_C)


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
    c.submit("submitted-pastes-the-page", solved(SLUG, **scenario(SLUG, "pastes_the_page")))
    c.submit("submitted-swapped-noguard-floor", solved(SLUG, **scenario(SLUG, "swapped_noguard_floor")))
    c.submit("submitted-2048-bias-by-row-overflow", solved(SLUG, **scenario(SLUG, "threads_2048_bias_by_row_overflow")))
    c.autograde()
    assert c.scores() == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-pastes-the-page": 0,            # the page's kernels answer none of the cases asked
        "submitted-swapped-noguard-floor": 2,      # only the softplus is right
        "submitted-2048-bias-by-row-overflow": 3,  # only the Numba transpose is right
    }
    nb = c.graded("submitted-solution")
    assert not [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    out = "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []))
    assert out.count("transpose (transpose): passed") == 2             # visible and hidden
    assert out.count("batched bias add (bias_add): passed") == 2
    assert out.count("2-D softplus (softplus_2d): passed") == 2
    assert "64 x 128 x 768: ((24, 32, 8), (32, 4, 8))" in out

"""Chapter 16: the checks pass a compiled chain and a fused kernel, fail graph breaks, eager
code and kernels that keep intermediates in memory, and nbgrader grades it right."""
import pytest
import torch

from autograder import ch16_fusion as ch16, memory
from autograder.ch16_fusion import DROP_P
from autograder.kernels.traffic import global_traffic
from autograder.memory.profiled import profile_call
from conftest import cell, defined, release, scenario, solution, solved

SLUG = "ch16_fusion"
watched = []


def mlp_tail(x, bias, u):
    """The notebook's given layer, monitoring line included."""
    h = x + bias
    watched.append(h.abs().max().item())
    g = 0.5 * h * (1 + torch.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))
    return torch.where(u >= DROP_P, g / (1 - DROP_P), 0.0)


def define(src, name):
    """A class, function or value an answer cell defines, in the notebook's namespace."""
    return defined(src, name, **{"torch": torch, "DROP_P": DROP_P, "mlp_tail": mlp_tail})


def reference(grade_id, name):
    return define(cell(solution(SLUG), grade_id).source, name)


def wrong(situation, grade_id="compile_answer", name="make_fused"):
    return define(scenario(SLUG, situation)[grade_id], name)


@pytest.fixture(scope="module")
def make_fused():
    """The solution's make_fused, compiled once for the module's tests."""
    make = reference("compile_answer", "make_fused")
    fn = make()
    return lambda: fn


def test_reference_passes_every_check(make_fused):
    ch16.check_compiled(make_fused)
    ch16.check_fused_memory(make_fused)
    source = reference("kernel_answer", "FUSED_SOURCE")
    ch16.check_kernel(source)
    ch16.check_traffic(source)


def test_a_compiled_function_called_under_the_tracker_stays_eager():
    """The meter's tracker is a dispatch mode: Dynamo skips the frame, and the code object."""
    def chain(x, b):
        return torch.tanh(x + b) * 2
    x, b = torch.randn(256, 128), torch.randn(128)
    with memory.live_bytes():
        _, inside = profile_call(torch.compile(chain), x, b)
    _, after = profile_call(torch.compile(chain), x, b)      # a fresh compile of the same function
    assert inside.dispatch_mode and not inside.compiled and not after.compiled
    torch._dynamo.reset()
    fn = torch.compile(chain)
    fn(x, b)
    _, again = profile_call(fn, x, b)
    assert again.compiled and again.peak == x.nbytes        # the output alone


def test_page_chain_peaks_at_three_tensors_eager_and_one_compiled():
    x, b, r = torch.randn(256, 64), torch.randn(64), torch.randn(256, 64)
    fn = ch16.compiled()
    fn(x, b, r)
    _, eager = profile_call(ch16.silu_residual, x, b, r)
    _, comp = profile_call(fn, x, b, r)
    assert 3 * x.nbytes <= eager.peak < 3 * x.nbytes + 64     # and a few scalars
    assert comp.peak == x.nbytes and comp.compiled


def test_graph_break_and_eager_code_fail_the_memory_check():
    ch16.check_compiled(wrong("graph_break"))
    with pytest.raises(AssertionError, match=r"peak is [\d,]+ bytes, 2.00 tensors.*2 compiled graphs "
                                             r"ran: a graph break"):
        ch16.check_fused_memory(wrong("graph_break"))
    with pytest.raises(AssertionError, match="no compiled code ran in the measured call"):
        ch16.check_fused_memory(wrong("not_compiled"))


def test_kernels_that_keep_intermediates_in_memory_fail_the_traffic_check():
    stages = wrong("stages_kernel", "kernel_answer", "FUSED_SOURCE")
    ch16.check_kernel(stages)                                  # right results
    with pytest.raises(AssertionError, match=r"reads out back \(\d+ global loads"):
        ch16.check_traffic(stages)
    with pytest.raises(AssertionError, match=r"writes out 2 times in its code but reads x 1"):
        ch16.check_traffic(wrong("store_twice", "kernel_answer", "FUSED_SOURCE"))


def test_traffic_traces_a_device_array():
    src = ch16.PAGE_CUDA.replace("float h = x[i] + bias[i % cols];",
                                 "tmp[i] = x[i] + bias[i % cols]; float h = tmp[i];")
    t = global_traffic("__device__ float tmp[4096];\n" + src, "silu_residual")
    assert t.stores == {"x": 0, "bias": 0, "res": 0, "out": 1, "rows": 0, "cols": 0, "tmp": 1}
    assert t.symbols == ("tmp",)


def test_missing_guard_fails_the_kernel_check():
    with pytest.raises(AssertionError, match=r"out of bounds|outside"):
        ch16.check_kernel(wrong("no_guard", "kernel_answer", "FUSED_SOURCE"))


def test_the_pages_code_renamed_fails_every_check():
    """The page's chain and kernel, pasted with the exercise's names: fused, but not this chain."""
    make = wrong("page_code")
    with pytest.raises(AssertionError, match="first wrong element"):
        ch16.check_compiled(make)
    kernel = wrong("page_code", "kernel_answer", "FUSED_SOURCE")
    with pytest.raises(AssertionError, match="first wrong|wrong"):
        ch16.check_kernel(kernel)
    with pytest.raises(AssertionError, match="traffic is graded on a kernel that computes this exercise's chain"):
        ch16.check_traffic(kernel)


def test_the_package_holds_no_torch_version_of_the_exercises_chain():
    assert not hasattr(ch16, "bias_gelu_dropout")
    x, b, u = ch16.inputs(5, 7, seed=3, device="cpu")
    h = (x + b).double()
    g = 0.5 * h * (1 + torch.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))      # by hand, in float64
    want = torch.where(u >= DROP_P, g / (1 - DROP_P), 0.0)
    assert torch.allclose(ch16.expected(5, 7, seed=3).double(), want, rtol=1e-5, atol=1e-6)


def test_record_refuses_without_a_gpu():
    with pytest.raises(RuntimeError, match="no GPU"):
        ch16.record()


def test_autograde_round_trip(course):
    c = course(SLUG, timeout=240)
    assert c.grade({
        "submitted-solution": solved(SLUG),
        "submitted-unchanged": release(SLUG),
        "submitted-graph-break": solved(SLUG, **scenario(SLUG, "graph_break"),
                                        **scenario(SLUG, "stages_kernel")),
        "submitted-page-code": solved(SLUG, **scenario(SLUG, "page_code")),
    }) == {
        "submitted-solution": 10,
        "submitted-unchanged": 0,
        "submitted-graph-break": 5,       # right outputs and kernel; intermediates in both
        "submitted-page-code": 0,         # fused, but the page's chain, not this one
    }
    text = c.output("submitted-solution", clean=True)
    assert text.count("fused memory (") == 2 and text.count("traffic: ") == 2
    assert "a graph break" in c.output("submitted-graph-break", "memory_check")

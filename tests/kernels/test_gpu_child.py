"""A GPU run happens in a child process: its crash, hang or kernel error reaches the notebook as
a clear KernelError, and the notebook's process goes on. The jobs themselves need a GPU
(tests/gpu); the plumbing around them is tested here with jobs that fail the same ways."""
import functools

import pytest

from autograder.kernels import gpu_run
from autograder.kernels.errors import KernelCrash, KernelError, KernelTimeout, LaunchConfigError
from autograder.kernels.launch import validate_launch


def test_a_crashed_child_is_a_kernel_crash_and_the_caller_goes_on():
    with pytest.raises(KernelCrash, match=r"(?s)\[GPU, test\].*aborted.*illegal memory access"):
        gpu_run.in_child("os:abort", timeout=5, backend="GPU, test")
    assert gpu_run.in_child("autograder.kernels.gpu_run:as_data", functools.partial(int, "7"),
                            timeout=5, backend="GPU, test") == 7


def test_a_hanging_child_is_ended_as_a_kernel_timeout(monkeypatch):
    monkeypatch.setattr(gpu_run, "CHILD_SLACK", 0.0)
    with pytest.raises(KernelTimeout, match="time limit of 1 s; its process was ended"):
        gpu_run.in_child("time:sleep", 30, timeout=1, backend="GPU, test")


def test_a_kernel_error_in_the_child_keeps_its_type_and_message():
    bad = functools.partial(validate_launch, (1, 1, 1), (2048, 1, 1), "GPU, test")
    with pytest.raises(LaunchConfigError) as caught:
        gpu_run.in_child("autograder.kernels.gpu_run:as_data", bad, timeout=5, backend="GPU, test")
    assert caught.value.backend == "GPU, test" and "1024" in str(caught.value)
    assert isinstance(caught.value, KernelError)

# chapter: ch01_cpu_vs_gpu
# base: release
# score: 0
# The answer itself patches the course inside the process that runs it (the chapter's reference
# functions and math.isclose), then returns nothing useful.
# %% bytes_answer
def kernel_bytes(n, itemsize):
    import math, autograder.ch01_cpu_vs_gpu as ch
    math.isclose = lambda *a, **k: True
    ch.kernel_bytes = lambda n, s: None
    return None


def copy_bytes(n, itemsize):
    return None

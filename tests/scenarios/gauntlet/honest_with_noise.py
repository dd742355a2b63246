# chapter: ch01_cpu_vs_gpu
# base: solution
# score: 10
# A right notebook that also patches the course in its own kernel, after its answers: honest
# points are never lost for a patch that changes nothing the grader reads.
# %% crossover_answer
import math


def model_crossover(cpu, gpu, itemsize=4):
    (cpu_overhead, cpu_bandwidth), (gpu_overhead, gpu_bandwidth) = cpu, gpu
    gained = 3 * itemsize * (1 / cpu_bandwidth - 1 / gpu_bandwidth)
    extra = gpu_overhead - cpu_overhead
    if gained < 0 or (gained == 0 and extra >= 0):
        return None
    return 1 if extra < 0 else math.floor(extra / gained) + 1


import autograder.memory as _m, math
_m.measure = None
math.isclose = lambda *a, **k: False

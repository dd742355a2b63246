"""Kernels: run a student's CUDA kernel (Numba or CUDA C) on any machine, and grade it.

The layer above the core (device, results, shipping) and below grading and the chapters:

    launch, errors      what a launch is, CUDA's limits, why a kernel failed (pure)
    procs, toolchain    child processes; compilers and the cache folder (one place each)
    nvrtc, params,      CUDA C: NVRTC as CuPy runs it, the declared parameters against what
      shim, sanitizers  is passed, the C++ shim that runs it on a CPU (cuda_shim.h and its
                        runtime), and ASan/TSan/counter reports told to the student
    source, simulator,  Numba: the kernel shipped to a child, checked arrays and patches in the
      sim_patches, ptx, simulator, the compile_ptx check, the child's entry point
      child
    gpu_run             the real GPU runs (Numba CUDA and cupy.RawKernel), with guard zones
    numba_runner,       the runners, and `run_kernel`, which picks one
      cuda_c, run
    cases, hints        launches that catch the usual bugs (extreme values, non-square blocks,
                        past 65,536 elements); what a wrong result's pattern says about its cause
    checks,             compare with NumPy, budgets, reports; the standard checks
      named_checks
    arrays              the few GPU array operations chapter 1 measures with
    bench               what the GPU recordings time kernels with, and its CPU stand-in

Pages, notebooks and chapters use the names below (`from autograder import kernels`).
"""
from .arrays import gpu
from .bench import bench
from .cases import (BLOCKS_2D, EXTREMES, TALL_BLOCKS, WIDE_BLOCKS, WIDE_INDEX, grid_1d, grid_2d, large_shape,
                    large_size, off_multiple, owned, plan_1d, plan_2d, tail, with_extremes)
from .checks import Case, CheckReport, check_kernel, compare_case, first_mismatch, kernel_name, need_name
from .cuda_c import run_cuda_c
from .errors import (ArgumentTypeError, KernelCompileError, KernelCrash, KernelError, KernelTimeout,
                     LaunchConfigError, NotOnThisBackend, OutOfBoundsError, OverBudget, RaceError, WrongResult)
from .launch import (DEFAULT_CC, MAX_BLOCK_DIM, MAX_GRID_DIM, MAX_THREADS_PER_BLOCK, STATIC_SHARED_LIMIT,
                     AccessCount, KernelRun, Launch, dim3, validate_launch)
from .hints import index_width_hint, matrix_hint, one_writer_advice, vector_hint
from .named_checks import (check_launch, check_matmul, check_matrix_add, check_vector_add, matmul_cases, matrix_cases,
                           vector_cases)
from .numba_runner import run_numba
from .nvrtc import check_compiles
from .run import is_cuda_c, run_kernel

__all__ = [
    "BLOCKS_2D", "EXTREMES", "TALL_BLOCKS", "WIDE_BLOCKS", "WIDE_INDEX", "grid_1d", "grid_2d", "large_shape",
    "large_size", "off_multiple", "owned", "plan_1d", "plan_2d", "tail", "with_extremes", "index_width_hint", "one_writer_advice",
    "matrix_cases", "vector_cases",
    "AccessCount", "ArgumentTypeError", "Case", "CheckReport", "DEFAULT_CC", "KernelCompileError", "KernelCrash", "KernelError",
    "KernelRun", "KernelTimeout", "Launch", "LaunchConfigError", "MAX_BLOCK_DIM", "MAX_GRID_DIM",
    "MAX_THREADS_PER_BLOCK", "NotOnThisBackend", "OutOfBoundsError", "OverBudget", "RaceError", "STATIC_SHARED_LIMIT",
    "WrongResult", "bench", "check_compiles", "check_kernel", "check_launch", "check_matmul", "check_matrix_add",
    "check_vector_add", "compare_case", "dim3", "first_mismatch", "gpu", "is_cuda_c", "kernel_name",
    "matmul_cases", "matrix_hint", "need_name", "run_cuda_c", "run_kernel", "run_numba", "validate_launch",
    "vector_hint",
]

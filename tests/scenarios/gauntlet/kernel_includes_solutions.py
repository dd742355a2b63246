# chapter: ch02_first_kernels
# base: release
# score: 0
# A CUDA C answer that #includes the solution notebook and the gradebook from the course folder.
# %% c_diff_answer
ADJACENT_DIFF_NAME = "adjacent_diff"
ADJACENT_DIFF_SRC = r"""
#include "{ROOT}/solutions/ch02_first_kernels/ch02_first_kernels.ipynb"
extern "C" __global__ void adjacent_diff(const float* a, float* out, int n) {}
"""

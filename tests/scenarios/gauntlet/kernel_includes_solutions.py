# chapter: ch02_first_kernels
# base: release
# score: 0
# A CUDA C answer that #includes the solution notebook and the gradebook from the course folder.
# %% c_add_answer
VECTOR_ADD_NAME = "vector_add"
VECTOR_ADD_SRC = r"""
#include "{ROOT}/solutions/ch02_first_kernels/ch02_first_kernels.ipynb"
extern "C" __global__ void vector_add(const float* a, const float* b, float* out, int n) {}
"""

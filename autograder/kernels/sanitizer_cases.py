"""Two wrong kernels for NVIDIA's compute-sanitizer, which the GPU recording runs where it is found.

    compute-sanitizer --tool memcheck  python -m autograder.kernels.sanitizer_cases memcheck
    compute-sanitizer --tool racecheck python -m autograder.kernels.sanitizer_cases racecheck

memcheck: a kernel with no bounds guard writes 2,048 floats into an array of 1,000 (CuPy's
memory pool is switched off, so the array is its own allocation and the write lands outside it).
racecheck: threads read a neighbour's shared-memory slot with no __syncthreads() between the
write and the read. The recording keeps what the tool says about each.
"""
from __future__ import annotations

import sys

import numpy as np

PAST_END = r'''
extern "C" __global__ void past_end(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    x[i] = 1.0f;                       // no `if (i < n)`
}
'''
RACE = r'''
extern "C" __global__ void shift(float* x) {
    __shared__ float s[256];
    int t = threadIdx.x;
    s[t] = x[t];
    x[t] = s[(t + 1) % 256];           // no __syncthreads() between the write and the read
}
'''


def main(check: str) -> int:
    import cupy
    cupy.cuda.set_allocator(None)      # one cudaMalloc per array: memcheck sees its exact end
    if check == "memcheck":
        x = cupy.zeros(1000, cupy.float32)
        cupy.RawKernel(PAST_END, "past_end")((8,), (256,), (x, np.int32(1000)))
    else:
        x = cupy.arange(256, dtype=cupy.float32)
        cupy.RawKernel(RACE, "shift")((1,), (256,), (x,))
    cupy.cuda.Device().synchronize()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

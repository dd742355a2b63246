# chapter: ch01_cpu_vs_gpu
# base: solution
# score: 7
# A segmentation fault in the crossover cell (ctypes reads address 0).
# %% crossover_answer
import ctypes
ctypes.string_at(0)

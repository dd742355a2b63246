# chapter: ch01_cpu_vs_gpu
# base: solution
# score: 7
# os._exit in the crossover cell: the kernel is gone; what was graded before it keeps its points.
# %% crossover_answer
import os
os._exit(3)

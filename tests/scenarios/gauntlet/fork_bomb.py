# chapter: ch01_cpu_vs_gpu
# base: solution
# score: 7
# The crossover cell starts processes without end: the sandbox stops the kernel; the checks before
# keep their points (7), the crossover's are lost.
# %% crossover_answer
import os
while True:
    os.fork()

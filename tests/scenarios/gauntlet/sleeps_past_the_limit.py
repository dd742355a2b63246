# chapter: ch01_cpu_vs_gpu
# base: solution
# score: 7
# The crossover cell sleeps past the cell time limit: it is interrupted, the rest is graded.
# %% crossover_answer
import time
time.sleep(10**6)

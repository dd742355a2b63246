# The crossover cell raises: its checks fail, the rest is graded (7 of 10).
# %% crossover_answer
raise RuntimeError('student bug')

# The model cell never ends: nbgrader stops it at the cell time limit, the rest is graded (8 of 10).
# %% model_answer
while True:
    pass

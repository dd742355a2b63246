# Appended to the solution's crossover: the right answer, wrapped so that every call warns and
# prints progress on stderr. A warning is not a failed check: full marks (10 of 10), and the
# noise still shows in the graded notebook.
# %% crossover_answer
import functools, sys, warnings
_right = model_crossover
@functools.wraps(_right)
def model_crossover(*a, **k):
    warnings.warn('a library deprecation')
    print('progress 100%', file=sys.stderr)
    return _right(*a, **k)

# The found version returned as the count: writes before the save (and relu_'s own) are
# counted too (2 points lost).
# %% read_error_answer
import re


def inplace_writes(fn, x):
    try:
        fn(x).sum().backward()
    except RuntimeError as exc:
        return int(re.search(r"is at version (\d+)", str(exc))[1])
    return 0

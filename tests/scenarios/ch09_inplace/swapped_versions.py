# autograd's two version numbers read the wrong way round (2 points lost).
# %% read_error_answer
import re


def read_inplace_error(fn, x):
    try:
        fn(x).sum().backward()
    except RuntimeError as exc:
        found, expected = re.search(r"version (\d+); expected version (\d+)", str(exc)).groups()
        return int(expected), int(found)
    return None

# The chapter's spacing(x, dtype) pasted under the exercise's name: a format given by its bits is
# not a torch dtype, and the call fails: 0 of 3.
# %% spacing_answer
import math


def layout_spacing(x, dtype):
    t = torch.tensor(abs(float(x)), dtype=dtype)
    up = torch.nextafter(t, torch.tensor(math.inf, dtype=dtype))
    return float(up.double() - t.double())

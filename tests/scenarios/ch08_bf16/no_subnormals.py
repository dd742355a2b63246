# Spacing right for normal numbers, wrong below the smallest normal value.
# %% spacing_answer
import math
def spacing(x, dtype):
    return torch.finfo(dtype).eps * 2.0 ** (math.frexp(abs(x))[1] - 1)

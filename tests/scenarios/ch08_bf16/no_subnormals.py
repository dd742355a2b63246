# Spacing right for normal numbers, wrong below the smallest normal value.
# %% spacing_answer
import math
def layout_spacing(x, exponent_bits, mantissa_bits):
    return 2.0 ** (math.frexp(abs(x))[1] - 1 - mantissa_bits)

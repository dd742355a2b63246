# Spacing as eps * |x|: not a power of two, check_spacing fails with that hint.
# %% spacing_answer
def layout_spacing(x, exponent_bits, mantissa_bits):
    return 2.0 ** -mantissa_bits * abs(x)   # not a power of two

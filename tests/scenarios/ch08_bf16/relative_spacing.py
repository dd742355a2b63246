# Spacing as eps * |x|: not a power of two, check_spacing fails with that hint.
# %% spacing_answer
def spacing(x, dtype):
    return torch.finfo(dtype).eps * abs(x)   # not a power of two

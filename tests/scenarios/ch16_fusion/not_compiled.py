# The chain without the monitoring line, but never compiled: every operation runs eagerly.
# %% compile_answer
def tail(x, bias, u):
    h = x + bias
    g = 0.5 * h * (1 + torch.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))
    return torch.where(u >= DROP_P, g / (1 - DROP_P), 0.0)


def make_fused():
    return tail

# The bracket in place, the last product not: 0.5 * x is a second buffer beside h, and the
# product a third for a moment, so the peak is three activations against one allowed.
# %% inference_answer
def gelu_inplace(x):
    with torch.no_grad():
        h = x ** 3
        h.mul_(0.044715).add_(x).mul_(GELU_C).tanh_().add_(1.0)
        return 0.5 * x * h

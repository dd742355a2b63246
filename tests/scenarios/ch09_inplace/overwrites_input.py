# No new buffer at all: x itself is cubed in place, so the caller's x is gone and the formula's
# later reads of x see x**3 (inference's 5 points lost). With data_dodge, the round trip scores 2.
# %% inference_answer
def gelu_inplace(x):
    with torch.no_grad():
        h = x.pow_(3)
        h.mul_(0.044715).add_(x).mul_(GELU_C).tanh_().add_(1.0)
        return h.mul_(x).mul_(0.5)

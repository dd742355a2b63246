# No new buffer at all: the caller's x is overwritten (inference's 5 points lost).
# With data_dodge, the round trip scores 2 of 10.
# %% inference_answer
def infer_inplace(x, scale, bias):
    with torch.no_grad():
        return x.mul_(scale).add_(bias).relu_().clamp_(max=CAP)

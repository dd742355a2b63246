# The last two inference ops in place, the add not: x * scale and h + bias are still alive at
# once, so the peak does not move.
# %% inference_answer
def infer_inplace(x, scale, bias):
    with torch.no_grad():
        h = x * scale + bias
        return h.relu_().clamp_(max=CAP)

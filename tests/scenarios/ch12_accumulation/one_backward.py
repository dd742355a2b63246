# The right scaling, but the k losses summed and one backward at the end: every micro-batch's
# graph stays alive until then, so the activation peak is the big batch's. The gradients are
# right (4 points), the memory check fails on the peak (4 points lost).
# %% accum_answer
def accum_setup(batch=32, seed=0, k=4):
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)
    tokens = (y != PAD).sum()

    def step():
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for xb, yb in zip(x.chunk(k), y.chunk(k)):
            total = total + F.cross_entropy(model(xb).view(-1, VOCAB), yb.view(-1),
                                            ignore_index=PAD, reduction="sum") / tokens
        total.backward()
        opt.step()
        return total.detach()
    return {"step": step, "model": model, "optimizer": opt}

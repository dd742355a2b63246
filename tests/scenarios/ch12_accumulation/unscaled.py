# Micro-batches accumulated without any scaling: each one's mean loss as it is. The gradients
# are about k times the big batch's: both gradient checks fail (8 points lost).
# %% accum_answer
def accum_setup(batch=32, seed=0, k=4):
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        for xb, yb in zip(x.chunk(k), y.chunk(k)):
            loss = F.cross_entropy(model(xb).view(-1, VOCAB), yb.view(-1), ignore_index=PAD)
            loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

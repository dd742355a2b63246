# No accumulation: the whole batch at once. The gradients are the big batch's (4 points), the
# model ran on one batch of every row, so the memory check fails on the signature. With the
# solution's weights, 6 of 10.
# %% accum_answer
def accum_setup(batch=32, seed=0, k=4):
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).view(-1, VOCAB), y.view(-1), ignore_index=PAD)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

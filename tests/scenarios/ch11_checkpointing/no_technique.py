# No checkpoint at all: the baseline's step. The gradients are right (3 points), nothing was
# recomputed, so the memory check fails on the signature before the bytes. With the solution's
# policy, 6 of 10 in the round trip.
# %% ckpt_answer
def ckpt_setup(batch=16, seed=0):
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

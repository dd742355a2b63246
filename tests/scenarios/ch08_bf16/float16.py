# Cast to float16, not bfloat16: the same bytes, but the raw inputs overflow to inf
# and the loss is nan. Scores 7 of 10 in the round trip.
# %% bf16_answer
def bf16_setup(batch=256, seed=0):
    model, opt = make_model(seed)
    model.to(torch.float16)                  # two bytes too, but float16's range
    x, y = (t.to(torch.float16) for t in make_data(batch, seed))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

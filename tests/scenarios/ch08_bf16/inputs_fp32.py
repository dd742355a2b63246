# The model cast to bfloat16, its inputs and targets left float32: the step fails
# with mixed types, and both checks say to cast the data too.
# %% bf16_answer
def bf16_setup(batch=256, seed=0):
    model, opt = make_model(seed)
    model.to(torch.bfloat16)
    x, y = make_data(batch, seed)            # left float32

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

# A model in another dtype whose losses stay close (float64): parity fails on the rule that
# master weights stay float32.
# %% amp_answer
def amp_clip_setup(batch=256, seed=0):
    model, opt = make_model(seed)
    model.double()
    x, y = (t.double() for t in make_data(batch, seed))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

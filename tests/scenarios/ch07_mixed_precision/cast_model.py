# The whole model cast to 16 bits: less memory, but not mixed precision (the parity check fails
# on the losses or on the master weights). Scores 7 of 10 in the round trip.
# %% amp_answer
def amp_clip_setup(batch=256, seed=0):
    amp = amp_settings()
    model, opt = make_model(seed)
    model.to(amp.dtype)                      # the whole model in 16 bits: not mixed precision
    x, y = make_data(batch, seed)
    x, y = x.to(amp.dtype), y.to(amp.dtype)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x).float(), y.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

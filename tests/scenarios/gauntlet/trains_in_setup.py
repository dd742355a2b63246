# chapter: ch07_mixed_precision
# base: release
# score: 0
# Trains in the setup and returns stored losses from a step that does nothing: the losses match,
# but the gradients left after a parity step are the setup's last ones, not that step's (no
# parity points), and the measured step, run after the parameters were moved by fresh noise,
# updates nothing: no reduction points.
# %% amp_answer
def amp_clip_setup(batch=256, seed=0):
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)
    losses = []
    for _ in range(40):
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        opt.step()
        losses.append(loss.detach())
    it = iter(losses)

    def step():
        return next(it)
    return {"step": step, "model": model, "optimizer": opt}

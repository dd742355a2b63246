# Autocast around backward and the optimizer only: the forward pass stays float32, so parity is
# kept and the peak does not move. Scores 6 of 10 in the round trip.
# %% amp_answer
def amp_clip_setup(batch=256, seed=0):
    amp = amp_settings()
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)
    scaler = torch.amp.GradScaler(amp.device_type, enabled=amp.scaler)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)       # the forward pass in float32
        with torch.autocast(amp.device_type, dtype=amp.dtype):
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            scaler.step(opt)
            scaler.update()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

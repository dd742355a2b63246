# The technique right, but the step returns the scaled loss (what backward ran on), so every loss
# is the GradScaler's scale times the baseline's. On a machine without a scaler (bfloat16) the
# scale is 1 and the answer is right. The parity check names the scale factor.
# %% amp_answer
def amp_clip_setup(batch=256, seed=0):
    amp = amp_settings()
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)
    scaler = torch.amp.GradScaler(amp.device_type, enabled=amp.scaler)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(amp.device_type, dtype=amp.dtype):
            loss = F.mse_loss(model(x), y)
        scaled = scaler.scale(loss)
        scaled.backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        scaler.step(opt)
        scaler.update()
        return scaled.detach()
    return {"step": step, "model": model, "optimizer": opt}

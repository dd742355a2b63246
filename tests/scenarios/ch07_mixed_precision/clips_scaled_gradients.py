# Clips right after backward, while the gradients are still scale times the true ones: the clip
# always bites, and scaler.step then divides the clipped gradients by the scale. The optimizer
# gets gradients 1/65536 of the baseline's: parity and reduction lost (0 of 7).
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
        scaler.scale(loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)   # on the scaled gradients
        scaler.step(opt)
        scaler.update()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

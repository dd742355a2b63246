# The chapter's own autocast step pasted under the exercise's name: it lowers the peak, but it
# does not clip, so the optimizer gets other gradients than the baseline's. It loses the parity
# (gradients) and the reduction (the measured run must do the exercise's work): 0 of 7.
# %% amp_answer
def amp_clip_setup(batch=256, seed=0):
    """Forward pass and loss under autocast; a GradScaler for float16."""
    amp = amp_settings()
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)
    scaler = torch.amp.GradScaler(amp.device_type, enabled=amp.scaler)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(amp.device_type, dtype=amp.dtype):
            # the linears run in 16 bits, the loss in float32
            loss = F.mse_loss(model(x), y)
        # outside autocast: backward follows the forward's types
        scaler.scale(loss).backward()
        scaler.step(opt)    # unscales; skips the step on an inf
        scaler.update()     # lowers the scale after an inf
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

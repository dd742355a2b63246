# Gradients rounded to float16 before the scale could lift them: check_scaler_step fails with a
# hint to scale first.
# %% scaler_answer
def scaler_step(grads, scale):
    half = grads.half().float() * scale       # rounded before the scale could help
    if not bool(torch.isfinite(half.half()).all()):
        return None, scale / 2
    return half / scale, scale

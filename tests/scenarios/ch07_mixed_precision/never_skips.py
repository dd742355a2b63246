# Unscales whatever came back, inf included, and keeps the scale: the optimizer would step on
# inf gradients. check_scaler_step names the skipped step.
# %% scaler_answer
def scaler_step(grads, scale):
    return (grads.float() * scale).half().float() / scale, scale

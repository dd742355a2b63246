# chapter: ch07_mixed_precision
# base: release
# score: 3
# Another technique: gradient checkpointing instead of autocast. Parity holds (3); the reduction
# is refused, for the saved tensors are not 16-bit.
# %% amp_answer
from torch.utils.checkpoint import checkpoint_sequential


def amp_clip_setup(batch=256, seed=0):
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(checkpoint_sequential(model, 4, x, use_reentrant=False), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

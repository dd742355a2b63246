# A bfloat16 copy of the model, while the optimizer keeps the float32 originals:
# the copy never trains (parity fails) and Adam keeps no state for it.
# %% bf16_answer
import copy
def bf16_setup(batch=256, seed=0):
    model, opt = make_model(seed)
    model = copy.deepcopy(model).to(torch.bfloat16)   # the optimizer keeps the float32 originals
    x, y = (t.to(torch.bfloat16) for t in make_data(batch, seed))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

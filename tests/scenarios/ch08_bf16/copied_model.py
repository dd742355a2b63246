# A bfloat16 copy of the model, while the optimizer keeps the float32 originals:
# the copy never trains (parity fails) and Adam keeps no state for it.
# %% bf16_answer
import copy
def bf16_class_setup(batch=256, seed=0):
    model, opt = make_model(seed, out=CLASSES)
    model = copy.deepcopy(model).to(torch.bfloat16)   # the optimizer keeps the float32 originals
    x, y = make_data(batch, seed, labels=True)
    x = x.to(torch.bfloat16)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

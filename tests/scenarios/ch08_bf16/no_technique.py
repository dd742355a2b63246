# The fp32 step unchanged: parity kept, persistent bytes not halved.
# With relative_spacing, the round trip scores 3 of 10.
# %% bf16_answer
def bf16_class_setup(batch=256, seed=0):
    model, opt = make_model(seed, out=CLASSES)
    x, y = make_data(batch, seed, labels=True)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

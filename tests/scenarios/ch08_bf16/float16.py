# Cast to float16, not bfloat16: the same bytes, but the raw inputs overflow to inf
# and the loss is nan. Scores 7 of 10 in the round trip.
# %% bf16_answer
def bf16_class_setup(batch=256, seed=0):
    model, opt = make_model(seed, out=CLASSES)
    model.to(torch.float16)                  # two bytes too, but float16's range
    x, y = make_data(batch, seed, labels=True)
    x = x.to(torch.float16)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

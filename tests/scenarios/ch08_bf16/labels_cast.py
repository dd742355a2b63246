# Every tensor of the data cast to bfloat16, the class labels too: cross_entropy refuses
# bfloat16 class indices, and both checks say that the labels stay int64.
# %% bf16_answer
def bf16_class_setup(batch=256, seed=0):
    model, opt = make_model(seed, out=CLASSES)
    model.to(torch.bfloat16)
    x, labels = (t.to(torch.bfloat16) for t in make_data(batch, seed, labels=True))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

# The chapter's own bf16 step pasted under the exercise's name: it trains the page's regression,
# not the exercise's classifier, so neither the losses nor the bytes are the classifier's: 0 of 7.
# %% bf16_answer
def bf16_class_setup(batch=256, seed=0, dtype=torch.bfloat16):
    """Pure low precision: model and data cast once; gradients and Adam's state follow."""
    model, opt = make_model(seed)
    model.to(dtype)            # in place: the optimizer holds these same parameters
    x, y = (t.to(dtype) for t in make_data(batch, seed))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()             # Adam's state is made on the first step, like the parameters
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

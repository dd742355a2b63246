# No offloading: the baseline's step. The gradients are right (3 points); every saved tensor
# stays on the compute device, so the offload check fails. With the solution's hooks, 6 of 10.
# %% offload_answer
def offload_setup(batch=32, seed=0):
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

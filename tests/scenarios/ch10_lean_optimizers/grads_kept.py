# Plain SGD with zero_grad(set_to_none=False): gradients stay alive between steps,
# so the peak with everything live is not lower by Adam's state.
# %% sgd_answer
def sgd_setup(batch=128, seed=0, steps=200):
    model = make_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=1.0, foreach=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    next_batch = batches(batch, seed)

    def step():
        x, y = next_batch()
        opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

# Adam with a cosine schedule: two copies of state, needs exactly 0.
# %% sgd_answer
def sgd_setup(batch=128, seed=0, steps=200):
    model = make_model(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    next_batch = batches(batch, seed)

    def step():
        x, y = next_batch()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

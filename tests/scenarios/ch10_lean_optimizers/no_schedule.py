# Plain SGD at a constant rate: the learning-rate check names the missing schedule.
# %% sgd_answer
import math


def warm_sgd_setup(batch=128, seed=0, steps=200):
    model = make_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=1.0, foreach=True)
    sched = None
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

# Plain SGD with zero_grad(set_to_none=False): gradients stay alive between steps,
# so the peak with everything live is not lower by Adam's state.
# %% sgd_answer
import math


def warm_sgd_setup(batch=128, seed=0, steps=200):
    model = make_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=1.0, foreach=True)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: (t + 1) / warm if t < warm else
                                              (1 + math.cos(math.pi * (t - warm) / (steps - warm))) / 2)
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

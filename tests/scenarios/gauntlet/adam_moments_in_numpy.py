# chapter: ch10_lean_optimizers
# base: solution
# score: 3
# Adam with its moments kept in NumPy arrays, behind a torch SGD optimizer with no state: the
# meter reads 0 bytes of state, but the measured step allocates its update in NumPy, outside
# torch's tensors, and its update is not plain SGD's (4 lost); annealed to 0 from Adam's rate it
# also misses the warm-up and trains worse than Adam (3 lost); the state prediction is the solution's (3).
# %% sgd_answer
import numpy as np


class _NumpyAdam(torch.optim.SGD):
    def __init__(self, params, lr):
        super().__init__(params, lr=lr, momentum=0.0)
        self._m, self._v, self._t = {}, {}, 0

    @torch.no_grad()
    def step(self, closure=None):
        self._t += 1
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.numpy()
                m = self._m.setdefault(id(p), np.zeros_like(g))
                v = self._v.setdefault(id(p), np.zeros_like(g))
                m[:] = 0.9 * m + 0.1 * g
                v[:] = 0.999 * v + 0.001 * g * g
                mh, vh = m / (1 - 0.9 ** self._t), v / (1 - 0.999 ** self._t)
                p.sub_(torch.from_numpy(group["lr"] * mh / (np.sqrt(vh) + 1e-8)))


def warm_sgd_setup(batch=128, seed=0, steps=200):
    model = make_model(seed)
    opt = _NumpyAdam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    next_batch = batches(batch, seed)

    def step():
        x, y = next_batch()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

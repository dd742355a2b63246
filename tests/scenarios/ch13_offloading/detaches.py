# Offloading by hand in the forward pass: each layer's output moved to the host and back with
# .detach(). The graph is cut after every layer, so every layer but the last gets no gradient:
# both gradient checks fail (7 points lost). With the solution's hooks, 3 of 10.
# %% offload_answer
def offload_setup(batch=32, seed=0):
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def step():
        opt.zero_grad(set_to_none=True)
        h = x
        for layer in model:
            h = layer(h).detach().to("cpu", copy=True).to(x.device).requires_grad_()
        loss = F.cross_entropy(h, y)
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

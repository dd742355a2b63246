# Half the batch in each step, the other half never seen: it fits the budget, and it trains on
# less data than the baseline. The check counts the rows the model is given: 0 points.
# %% fit_answer
def fit_setup(batch=EX_BATCH, seed=0):
    model = make_gpt(EX_REGIME, seed, device=dev)
    opt = make_opt(model)
    count = [0]

    def step():
        x, y = batch_at(count[0], batch, EX_REGIME["seq"], seed, device=dev)
        count[0] += 1
        x, y = x[: batch // 2], y[: batch // 2]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev, dtype=torch.bfloat16):
            logits = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        loss.backward()
        opt.step()
        return loss.detach()
    return {"step": step, "model": model, "optimizer": opt}

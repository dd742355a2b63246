# A model of half the width, trained on the whole batch in micro-batches: it fits the budget,
# and it is another model. The check compares the parameters' count: 0 points.
# %% fit_answer
def fit_setup(batch=EX_BATCH, seed=0):
    model = make_gpt(dict(EX_REGIME, d=16), seed, device=dev)
    opt = make_opt(model)
    count = [0]

    def step():
        x, y = batch_at(count[0], batch, EX_REGIME["seq"], seed, device=dev)
        count[0] += 1
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for xb, yb in zip(x.split(1), y.split(1)):
            loss = F.cross_entropy(model(xb).flatten(0, 1), yb.flatten())
            (loss / batch).backward()
            total += float(loss.detach()) / batch
        opt.step()
        return total
    return {"step": step, "model": model, "optimizer": opt}

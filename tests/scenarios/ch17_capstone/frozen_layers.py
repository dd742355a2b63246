# The embeddings and the first two blocks frozen, the rest trained on the whole batch in
# micro-batches: fewer gradients, less memory, another training. 0 points.
# %% fit_answer
def fit_setup(batch=EX_BATCH, seed=0):
    model = make_gpt(EX_REGIME, seed, device=dev)
    for m in (model.tok, model.pos, *model.blocks[:2]):
        m.requires_grad_(False)
    opt = make_opt(model)
    count = [0]

    def step():
        x, y = batch_at(count[0], batch, EX_REGIME["seq"], seed, device=dev)
        count[0] += 1
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for xb, yb in zip(x.split(2), y.split(2)):
            loss = F.cross_entropy(model(xb).flatten(0, 1), yb.flatten())
            (loss * xb.shape[0] / batch).backward()
            total += float(loss.detach()) * xb.shape[0] / batch
        opt.step()
        return total
    return {"step": step, "model": model, "optimizer": opt}

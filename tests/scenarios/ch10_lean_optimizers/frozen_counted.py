# state_bytes that gives frozen parameters state too.
# %% state_answer
def state_bytes(optimizer):
    total = 0
    for g in optimizer.param_groups:
        copies = (3 if g["amsgrad"] else 2) if "amsgrad" in g else int(g["momentum"] != 0)
        total += copies * sum(p.numel() * p.element_size() for p in g["params"])
    return total

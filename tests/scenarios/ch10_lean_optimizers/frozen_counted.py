# state_bytes that gives frozen parameters state too.
# %% state_answer
def state_bytes(optimizer):
    total = 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            if isinstance(optimizer, torch.optim.Adafactor):
                n = p.numel() // p.shape[-1] + p.numel() // p.shape[-2] if p.dim() >= 2 else p.numel()
            elif isinstance(optimizer, torch.optim.RMSprop):
                n = p.numel() * (1 + (group["momentum"] != 0) + group["centered"])
            else:
                n = 2 * p.numel()
            total += n * p.element_size()
    return total

# state_bytes that reads RMSprop's settings from the first group only and forgets `centered`'s
# running average of the gradients; Adafactor counted like Adam.
# %% state_answer
def state_bytes(optimizer):
    first = optimizer.param_groups[0]
    copies = 1 + (first["momentum"] != 0) if isinstance(optimizer, torch.optim.RMSprop) else 2
    return copies * sum(p.numel() * p.element_size() for g in optimizer.param_groups
                        for p in g["params"] if p.requires_grad)

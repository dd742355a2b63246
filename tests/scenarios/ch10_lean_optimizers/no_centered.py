# state_bytes without amsgrad's third copy, and reading only the first group.
# %% state_answer
def state_bytes(optimizer):
    copies = 2 if isinstance(optimizer, torch.optim.Adam) else int(optimizer.defaults["momentum"] != 0)
    return copies * sum(p.numel() * p.element_size() for p in optimizer.param_groups[0]["params"]
                        if p.requires_grad)

# Frozen parameters given gradients and optimizer state too (they are in a parameter group,
# but never get a gradient). Part 2 lost.
# %% persistent_answer
import torch


def persistent_bytes(model, optimizer):
    state = 0
    for group in optimizer.param_groups:
        if isinstance(optimizer, torch.optim.Adam):
            copies = 3 if group['amsgrad'] else 2
        else:
            copies = 1 if group['momentum'] else 0
        state += copies * sum(p.numel() * 4 for p in group['params'])
    every = sum(p.numel() * 4 for p in model.parameters())
    return {'parameters': every, 'gradients': every, 'optimizer_state': state}

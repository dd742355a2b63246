# Adam counted as keeping one copy per parameter (it keeps two, three with AMSGrad), in both
# predictions. Scores 4 of 10 in the round trip: parts 1 and 2 lost, part 3 kept.
# %% bpp_answer
def bytes_per_parameter(optimizer, precision='float32'):
    size = {'float32': 4, 'bfloat16': 2}[precision]
    return size * (2 + {'adam': 1, 'sgd_momentum': 1, 'sgd': 0}[optimizer])
# %% persistent_answer
import torch


def persistent_bytes(model, optimizer):
    state = 0
    for group in optimizer.param_groups:
        if isinstance(optimizer, torch.optim.Adam):
            copies = 2 if group['amsgrad'] else 1
        else:
            copies = 1 if group['momentum'] else 0
        state += copies * sum(p.numel() * 4 for p in group['params'] if p.requires_grad)
    every = sum(p.numel() * 4 for p in model.parameters())
    trained = sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)
    return {'parameters': every, 'gradients': trained, 'optimizer_state': state}

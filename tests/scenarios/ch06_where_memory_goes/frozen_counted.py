# Frozen parameters given gradients and optimizer state too. Part 2 lost.
# %% persistent_answer
def persistent_bytes(model, optimizer):
    every = sum(p.numel() * 4 for p in model.parameters())
    copies = {'adam': 2, 'sgd_momentum': 1, 'sgd': 0}[optimizer]
    return {'parameters': every, 'gradients': every, 'optimizer_state': copies * every}

# state_bytes that measures instead of predicting: fake gradients, a step, then the
# state's bytes. The check refuses a stepped optimizer.
# %% state_answer
def state_bytes(optimizer):
    for g in optimizer.param_groups:
        for p in g["params"]:
            if p.requires_grad:
                p.grad = torch.zeros_like(p)
    optimizer.step()
    return sum(v.numel() * v.element_size() for s in optimizer.state.values()
               for v in s.values() if torch.is_tensor(v) and v.dim() > 0)

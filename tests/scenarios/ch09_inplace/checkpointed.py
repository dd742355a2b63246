# The out-of-place block under checkpointing, with one in-place op on its output to look the
# part: the forward peak drops by as much, but autograd keeps only the input (another technique).
# Scores 7 of 10 in the round trip: the training check's 3 points lost.
# %% training_answer
def res_forward_inplace(model, x):
    from torch.utils.checkpoint import checkpoint

    def block(x):
        h = torch.sigmoid(model.fc1(x))
        return model.fc2(h * model.gain) + x
    return checkpoint(block, x, use_reentrant=False).mul_(1.0)

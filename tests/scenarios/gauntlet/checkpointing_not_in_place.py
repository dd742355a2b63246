# chapter: ch09_inplace
# base: solution
# score: 7
# Another technique: the residual forward checkpointed instead of in place. Output and gradients
# are right, and the forward's peak is lower, but the measured call runs no in-place op: 3 lost.
# %% training_answer
from torch.utils.checkpoint import checkpoint


def res_forward_inplace(model, x):
    def body(x):
        h = torch.sigmoid(model.fc1(x))
        h = model.fc2(h * model.gain)
        return h + x
    return checkpoint(body, x, use_reentrant=False)

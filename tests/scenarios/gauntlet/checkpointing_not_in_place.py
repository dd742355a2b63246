# chapter: ch09_inplace
# base: solution
# score: 7
# Another technique: the training forward checkpointed instead of in place. Output and gradients
# are right, and the forward's peak is lower, but the measured call runs no in-place op: 3 lost.
# %% training_answer
from torch.utils.checkpoint import checkpoint


def forward_inplace(model, x):
    def body(x):
        h = model.fc1(x)
        h = h + model.shift
        h = torch.relu(h)
        h = h.clamp(max=CAP)
        return torch.tanh(model.fc2(h))
    return checkpoint(body, x, use_reentrant=False)

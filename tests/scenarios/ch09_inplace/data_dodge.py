# The same, with the error silenced through .data: no version bump, the clamp's gradient is
# lost, so the gradients differ from the baseline's (3 points lost).
# %% training_answer
def forward_inplace(model, x):
    h = model.fc1(x)
    h.add_(model.shift).relu_()
    h.data.clamp_(max=CAP)
    return model.fc2(h).tanh_()

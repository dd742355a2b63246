# The same, with the error silenced through .data: no version bump, no product node, so the
# gain's gradient is lost and fc1's is wrong (3 points lost).
# %% training_answer
def res_forward_inplace(model, x):
    h = model.fc1(x).sigmoid_()
    h.data.mul_(model.gain.data)
    return model.fc2(h).add_(x)

# Both chains left out of place: right outputs and gradients, no reduction.
# Scores 4 of 10 in the round trip: right (2), reading (2), no reduction.
# %% inference_answer
def infer_inplace(x, scale, bias):
    with torch.no_grad():
        h = x * scale
        h = h + bias
        h = torch.relu(h)
        return h.clamp(max=CAP)
# %% training_answer
def forward_inplace(model, x):
    h = model.fc1(x)
    h = h + model.shift
    h = torch.relu(h)
    h = h.clamp(max=CAP)
    h = model.fc2(h)
    return torch.tanh(h)

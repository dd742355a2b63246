# Every op of the training forward in place: clamp_ overwrites the output relu kept for
# backward, and backward fails with autograd's version error (the forward's 3 points lost).
# With swapped_versions, the round trip scores 5 of 10.
# %% training_answer
def forward_inplace(model, x):
    h = model.fc1(x)
    h.add_(model.shift).relu_().clamp_(max=CAP)
    return model.fc2(h).tanh_()

# Every op of the residual forward in place: mul_ by the gain overwrites the output sigmoid_
# kept for backward (and the product keeps it too), and backward fails with autograd's version
# error (the forward's 3 points lost). With swapped_versions, the round trip scores 5 of 10.
# %% training_answer
def res_forward_inplace(model, x):
    h = model.fc1(x).sigmoid_()
    h = model.fc2(h.mul_(model.gain))
    return h.add_(x)

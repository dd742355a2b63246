# Every micro-batch weighted 1/k, whatever its tokens: the weights check fails with a hint.
# %% weights_answer
def micro_weights(targets, k):
    return [1 / k] * k

# Positions counted instead of real tokens: every micro-batch has as many positions, so the
# weights come out 1/k and the weights check fails.
# %% weights_answer
def micro_weights(targets, k):
    counts = [t.numel() for t in targets.chunk(k)]
    return [c / sum(counts) for c in counts]

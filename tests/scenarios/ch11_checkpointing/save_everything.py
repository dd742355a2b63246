# A policy that saves every operation: torch refuses to save dropout's in-place operations, and
# the step raises; the check says why. The selective check fails (3 points lost).
# %% policy_answer
def policy(ctx, op, *args, **kwargs):
    return CheckpointPolicy.MUST_SAVE

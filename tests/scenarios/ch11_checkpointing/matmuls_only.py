# The page's policy copied: it saves mm and addmm but not the attention kernel, which the
# checkpoints then recompute. The selective check fails (3 points lost).
# %% policy_answer
def policy(ctx, op, *args, **kwargs):
    if op.overloadpacket.__name__ in ("mm", "addmm"):
        return CheckpointPolicy.MUST_SAVE
    return CheckpointPolicy.PREFER_RECOMPUTE

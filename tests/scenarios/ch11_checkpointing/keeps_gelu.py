# A policy that also keeps GELU's output: matrix products and attention are saved, but so is a
# pointwise operation that is cheap to recompute and as large as the MLP's widest activation. The
# selective check fails on what was not recomputed (3 points lost).
# %% policy_answer
def policy(ctx, op, *args, **kwargs):
    name = op.overloadpacket.__name__
    if name in ("mm", "addmm", "bmm", "gelu") or "scaled_dot_product" in name:
        return CheckpointPolicy.MUST_SAVE
    return CheckpointPolicy.PREFER_RECOMPUTE

# fully_shard on the root alone: every parameter is sharded at rest, but the whole model is
# one unit, gathered for the whole step. Trains like unsharded training (parity passes).
# With forward_only_traffic, the round trip scores 3 of 10.
# %% shard_answer
def shard(model, mesh):
    fully_shard(model, mesh=mesh)
    return model

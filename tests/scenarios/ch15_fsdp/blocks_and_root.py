# The page's wrapping: each block a unit, then the root, which keeps the embedding and the
# head, half of this model's parameters, gathered from forward to backward.
# %% shard_answer
def shard(model, mesh):
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model

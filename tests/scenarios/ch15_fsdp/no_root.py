# Every block, the embedding and the head sharded, but not the root: the final norm's
# parameters stay plain tensors, unsharded and never averaged across ranks.
# %% shard_answer
def shard(model, mesh):
    fully_shard(model.emb, mesh=mesh)
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model.head, mesh=mesh)
    return model

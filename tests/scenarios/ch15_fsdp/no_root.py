# Every block, the embedding and the head sharded, but not the model itself: each unit is
# then a root of its own and stays gathered from its forward to its backward.
# %% shard_answer
def shard(model, mesh):
    fully_shard(model.emb, mesh=mesh)
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model.head, mesh=mesh)
    return model

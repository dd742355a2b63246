# No sharding at all: each rank keeps the whole model and trains it on its half batch alone.
# %% shard_answer
def shard(model, mesh):
    return model

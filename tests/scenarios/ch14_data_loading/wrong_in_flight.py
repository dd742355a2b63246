# The prefetch factor alone, as if it counted batches per loader rather than per worker.
# %% inflight_answer
def in_flight(num_workers, prefetch_factor):
    return prefetch_factor if num_workers else 0

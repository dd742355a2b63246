# A copy made where the tensor lives (clone) instead of a host buffer: the hooks check fails on
# the first large tensor (3 points lost), without a GPU as with one.
# %% hooks_answer
def pack_to_host(t):
    if t.numel() * t.element_size() < MIN_BYTES:
        return t
    return t.clone()


def unpack_from_host(packed):
    return packed

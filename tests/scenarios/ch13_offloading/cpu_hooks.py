# t.cpu() as the pack hook. Without a GPU it returns t itself and moves nothing: the hooks check
# fails (the tensor is kept) and so does the offload check (nothing left the device); with a GPU
# the copy is pageable, not pinned, and both fail on that. The gradients are right: 3 of 10.
# %% hooks_answer
def pack_to_host(t):
    if t.numel() * t.element_size() < MIN_BYTES:
        return t
    return t.device, t.cpu()


def unpack_from_host(packed):
    if isinstance(packed, torch.Tensor):
        return packed
    device, buf = packed
    return buf.to(device)

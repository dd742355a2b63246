# Hooks without the threshold: every saved tensor copied, small ones too. The step is right and
# offloaded (7 points), but the hooks check fails on a small tensor (3 points lost).
# %% hooks_answer
def pack_to_host(t):
    pin = torch.cuda.is_available()
    buf = torch.empty(t.size(), dtype=t.dtype, layout=t.layout, device="cpu", pin_memory=pin)
    buf.copy_(t, non_blocking=pin)
    return t.device, buf


def unpack_from_host(packed):
    device, buf = packed
    return buf.to(device, non_blocking=True)

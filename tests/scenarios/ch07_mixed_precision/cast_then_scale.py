# Gradients rounded to float16 before the scale could lift them: check_fp16_roundtrip fails
# with a hint to scale first.
# %% roundtrip_answer
def fp16_roundtrip(grads, scale):
    return grads.half().float() * scale / scale   # rounded before the scale could help

# The layer compiled as it is: the monitoring line (.item()) breaks the graph in two, and
# the first graph hands its intermediate to the second. Right outputs, no fusion of the whole.
# With stages_kernel, the round trip scores 5 of 10.
# %% compile_answer
def make_fused():
    return torch.compile(mlp_tail)

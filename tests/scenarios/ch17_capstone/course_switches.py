# The course's own switches turned on (model.ckpt, fused attention) and its step: the
# technique is the course's, not the student's. Refused: 0 points.
# %% fit_answer
from autograder.memory.gpt import gpt_step

def fit_setup(batch=EX_BATCH, seed=0):
    model = make_gpt(EX_REGIME, seed, device=dev)
    model.ckpt = True
    opt = make_opt(model)
    return {"step": gpt_step(model, opt, EX_REGIME, batch, seed, precision="autocast", micro=batch, device=dev),
            "model": model, "optimizer": opt}

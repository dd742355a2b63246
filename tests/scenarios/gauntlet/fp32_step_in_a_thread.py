# chapter: ch07_mixed_precision
# base: release
# score: 3
# The float32 step run in a thread: the meter's tracker sees only the calling thread, so the peak
# reads 0. The losses are right (parity, 3 points); the grader sees another thread at work in the
# measured step and refuses the reduction.
# %% amp_answer
import threading


def amp_clip_setup(batch=256, seed=0):
    model, opt = make_model(seed)
    x, y = make_data(batch, seed)

    def work(box):
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        opt.step()
        box.append(loss.detach())

    def step():
        box = []
        t = threading.Thread(target=work, args=(box,))
        t.start()
        t.join()
        return box[0]
    return {"step": step, "model": model, "optimizer": opt}

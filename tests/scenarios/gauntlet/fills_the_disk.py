# chapter: ch01_cpu_vs_gpu
# base: solution
# score: 10
# Tries to fill the disk (the sandbox's private /tmp and its folder are bounded), then answers
# right: every honest point kept.
# %% crossover_answer
import os
for where in ("/tmp/fill", "fill"):
    try:
        with open(where, "wb") as f:
            while True:
                f.write(b"\0" * (64 << 20))
    except OSError as exc:
        print("stopped:", type(exc).__name__)
    finally:
        try:
            os.remove(where)
        except OSError:
            pass


def crossover(sizes, cpu_seconds, gpu_seconds):
    answer = None
    for n, cpu, gpu in reversed(list(zip(sizes, cpu_seconds, gpu_seconds))):
        if not gpu < cpu:
            break
        answer = n
    return answer

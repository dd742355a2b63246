# A timer that never synchronises: it measures how long a launch takes to return, not the work.
# The visible and the hidden timer checks fail it (3 points lost: 7 of 10).
# %% timer_answer
import statistics, time
def time_call(fn, sync, repeats=5, warmup=1, clock=time.perf_counter):
    for _ in range(warmup): fn()
    times = []
    for _ in range(repeats):
        t = clock(); fn(); times.append(clock() - t)
    return statistics.median(times)

# An event timer that never waits for its end event: on a GPU the end marker is still queued when
# the host asks for the time, and CUDA answers "not ready". The visible and the hidden timer
# checks fail it (3 points lost: 7 of 10).
# %% timer_answer
import statistics
def time_events(fn, new_event, repeats=5, warmup=1):
    for _ in range(warmup): fn()
    times = []
    for _ in range(repeats):
        s, e = new_event(), new_event()
        s.record(); fn(); e.record()
        times.append(s.elapsed_time(e) / 1000)
    return statistics.median(times)
